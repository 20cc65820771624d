/* control.h -- the supervisor's HTTP API on a unix socket (.herd/control.sock), and the
 * blocking client the CLI verbs use.
 *
 *   GET  /status                    the cluster: phase, nodes (supervisor_status_json);
 *                                   ?brief=1: the phase alone
 *   POST /nodes/{id}/{action}       kill | stop | pause | resume | restart
 *   POST /groups/{group}/scale      {"replicas": N}
 *   POST /groups/{group}/restart    all at once
 *   POST /groups/{group}/rollout    one at a time, each ready before the next
 *   POST /shutdown                  stop every node, then the supervisor exits
 *
 * Mutating calls answer when the operation is over: 200 {"ok": true}, or 4xx/5xx
 * {"error": "..."} naming the node and the cause. */
#ifndef HERD_CLUSTER_CONTROL_H
#define HERD_CLUSTER_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "cluster/state.h"
#include "cluster/supervisor.h"

struct control;

#define CONTROL_REPLICAS_MAX 10000

/* Decodes a POST /groups/{group}/scale body ({"replicas": 0..CONTROL_REPLICAS_MAX}) into
 * *replicas. Returns 0, or -1 with the 400 answer's message in msg. */
int control_scale_decode(const char *body, size_t len, int *replicas, char *msg, size_t msglen);

/* Listens on the state directory's control.sock (a stale socket file is replaced). on_shutdown
 * runs when POST /shutdown arrives. Returns NULL when out of memory; when it cannot listen,
 * control_failed is true, err says why, and it must still be stopped. */
struct control *control_start(uv_loop_t *loop, struct supervisor *sup, const struct state_dir *st,
                              void (*on_shutdown)(void *data), void *data, char *err, size_t errlen);
bool control_failed(const struct control *ctl);

/* What GET /status reports besides the nodes: "starting", "ready", "failed", "stopping";
 * with a failure, its exit code and message. */
void control_set_phase(struct control *ctl, const char *phase, int exit_code, const char *error);

/* Closes the socket (removing the file); done runs once closed; then free the control. */
void control_stop(struct control *ctl, void (*done)(void *data), void *data);
void control_free(struct control *ctl);

/* CLI side: one request over the socket. Returns 0 with *status and a malloc'd *body (the
 * caller frees), or -1 with a message when no supervisor answers. */
int control_call(const struct state_dir *st, const char *method, const char *path,
                 const char *body, int timeout_ms, int *status, char **response, char *err,
                 size_t errlen);

/* The same over TCP to 127.0.0.1:port (the gateway's admin API, for herd status). */
int control_call_port(int port, const char *method, const char *path, const char *body,
                      int timeout_ms, int *status, char **response, char *err, size_t errlen);

#endif
