/* member.h -- a node's membership of a gateway's cluster (CLUSTER_MANAGER_URL): registers,
 * heartbeats (registering again when the gateway forgot it), follows the gateway's config by
 * long-poll, and fetches the gateway's cluster view so every node shows the whole cluster. */
#ifndef HERD_NODE_MEMBER_H
#define HERD_NODE_MEMBER_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "http/server.h"

struct member;

struct member_config {
    const char *manager_url; /* http://HOST:PORT of the gateway */
    const char *token;       /* the gateway's admin token, or "" */
    const char *node_id;
    const char *host; /* advertised address; "" or 0.0.0.0: the gateway uses the peer's */
    int port;
    int weight;
    const char *group; /* the cluster group (HERD_GROUP), or NULL */
};

/* Starts on loop (registration begins at once). Returns NULL with a message in err. */
struct member *member_start(uv_loop_t *loop, const struct member_config *cfg, char *err,
                            size_t errlen);

/* Deregisters (best effort, at most 500 ms), closes everything, then calls done(data) and
 * frees the member. */
void member_stop(struct member *m, void (*done)(void *data), void *data);

bool member_registered(const struct member *m);
uint64_t member_config_version(const struct member *m);
/* The config last received (JSON object text, "{}" before any). */
const char *member_config(const struct member *m);

/* Answers req with the gateway's answer to GET path (an admin view); when the gateway cannot
 * be reached, calls fallback(req, data) instead. */
void member_forward(struct member *m, const char *path, struct http_request *req,
                    void (*fallback)(struct http_request *req, void *data), void *data);

#endif
