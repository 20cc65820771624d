/* supervisor.h -- runs a cluster's replicas on one libuv loop: spawns them (uv_spawn, each in
 * its own session so a signal reaches its whole process group), logs their output (per node
 * in .herd/logs, stdout and stderr through one pipe, and prefixed on the terminal in the
 * foreground), waits for readiness (HTTP health path, TCP connect, or none; a connection per
 * check, the checks of many replicas spread over time), restarts by policy with backoff,
 * stops them with the stop signal then SIGKILL after the grace, and scales, restarts and
 * rolls groups. Replicas never outlive the supervisor, even when it is SIGKILLed
 * (cluster/lifeline.h).
 *
 * Operations complete asynchronously through a sup_done_fn. The test runner drives the same
 * calls in process; the CLI verbs reach them through the control socket (control.h). */
#ifndef HERD_CLUSTER_SUPERVISOR_H
#define HERD_CLUSTER_SUPERVISOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "cluster/clusterfile.h"
#include "cluster/state.h"

enum sup_state {
    SUP_STARTING = 0, /* spawned, not ready yet */
    SUP_READY,        /* its health check passed */
    SUP_PAUSED,       /* SIGSTOP'ed by herd pause */
    SUP_STOPPING,     /* stop signal sent, waiting for it to exit */
    SUP_STOPPED,      /* stopped by herd: stays down until restarted */
    SUP_BACKOFF,      /* exited; restarting after a delay */
    SUP_EXITED,       /* exited by itself; not restarted (policy) */
    SUP_FAILED,       /* could not start or never became ready */
};

const char *sup_state_name(enum sup_state state);

struct supervisor_opts {
    const char *self_exe;  /* the herd binary: commands that start with "herd" run it, and every
                            * replica is started through it (`herd __exec`, lifeline.h) */
    bool log_to_terminal;  /* foreground: "api.2 | line" on stdout */
    bool color;
    const atomic_bool *interrupt; /* NULL, or set (a signal): a rollout or group restart in
                                   * progress ends after the replicas it is on, as an error */
};

struct supervisor;

/* status: 0 when the operation succeeded (error "" or a note: "api.1 is already paused"),
 * else an exit code (2 bad request, 3 runtime) with error saying which node and why. */
typedef void (*sup_done_fn)(struct supervisor *sup, int status, const char *error, void *data);

/* Creates a supervisor for spec (borrowed: it must outlive the supervisor; scale changes its
 * groups' replica counts). Returns NULL when out of memory. */
struct supervisor *supervisor_new(uv_loop_t *loop, struct cluster_spec *spec,
                                  const struct state_dir *st, const struct supervisor_opts *opts);

/* Starts every group in dependency order, each group's replicas at once, waiting for all
 * to be ready before the next group. On a failure, stops what was started and reports it. */
void supervisor_up(struct supervisor *sup, sup_done_fn done, void *data);

/* Acts on one node: "kill" (SIGKILL; the restart policy applies), "stop" (stop signal,
 * stays down), "pause" (SIGSTOP), "resume" (SIGCONT), "restart" (stop, start, wait ready).
 * Stopping a stopped node, pausing a paused one or resuming a running one succeeds at once
 * with a note as done's error ("api.1 is already paused").
 * Returns 0 when started (done is called later), or -1 with a message (unknown node or
 * action, or not possible in its state) and done not called. */
int supervisor_node_action(struct supervisor *sup, const char *id, const char *action,
                           sup_done_fn done, void *data, char *err, size_t errlen);

/* Sets group's replica count: new replicas are started and waited for; extra ones (highest
 * index first) are stopped and removed. Returns 0 or -1 with a message. */
int supervisor_scale(struct supervisor *sup, const char *group, int replicas, sup_done_fn done,
                     void *data, char *err, size_t errlen);

/* Restarts a whole group: at once, or rolling (one replica at a time, each ready before the
 * next, so at most one is down). Returns 0 or -1 with a message. */
int supervisor_restart_group(struct supervisor *sup, const char *group, bool rolling,
                             sup_done_fn done, void *data, char *err, size_t errlen);

/* Stops every node (stop signal, SIGKILL after the grace), then done. */
void supervisor_shutdown(struct supervisor *sup, sup_done_fn done, void *data);

/* The cluster as JSON (jansson json_t *, new reference): nodes with pid, port, state,
 * uptime, restarts, time to ready, health, RSS. */
void *supervisor_status_json(struct supervisor *sup);

/* When the supervisor's checks run (pure functions, for the tests). A ready replica is checked
 * every supervisor_check_interval_ms(replicas) ms: 1000 up to 1000 replicas, then longer so
 * that all of them together make 1000 checks a second. Its checks fall on its own phase of
 * the interval (a hash of its id): supervisor_check_delay_ms returns the ms from now_ms to
 * its next one, 1 to interval_ms. A starting replica's readiness check number attempt (0 the
 * first) comes supervisor_ready_delay_ms ms after the one before: 100 ms, 1.5 times longer
 * each time up to 1 s (or longer past 2,000 replicas, so that they make 2,000 readiness checks a
 * second together: 5 s at 10,000), give or take a quarter by id. */
uint64_t supervisor_check_interval_ms(size_t replicas);
uint64_t supervisor_check_delay_ms(const char *id, uint64_t now_ms, uint64_t interval_ms);
uint64_t supervisor_ready_delay_ms(const char *id, unsigned attempt, size_t replicas);

/* Frees the supervisor; call after shutdown completed and the loop ran its close callbacks.
 * Run the loop again afterwards (until it has no handle left): the guard of the replicas'
 * process groups exits then, and its exit is collected there. */
void supervisor_free(struct supervisor *sup);

#endif
