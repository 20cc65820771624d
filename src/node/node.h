/* node.h -- `herd node`, the demo service: health, cluster view, KV store, fault knobs. */
#ifndef HERD_NODE_NODE_H
#define HERD_NODE_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "base/log.h"
#include "http/server.h"

#define NODE_ID_MAX       128
#define NODE_MAX_DELAY_MS 60000 /* /delay?ms= and the latency fault, at most */

/* The fault knobs (POST /admin/fault). */
struct node_fault {
    uint32_t latency_ms; /* 0..NODE_MAX_DELAY_MS, added before every answer but the admin routes */
    double error_rate;   /* 0..1: share of answers replaced by error_status */
    int error_status;    /* 400..599 */
};

struct node_config {
    char node_id[NODE_ID_MAX]; /* "" until resolved: then "node-<port>" */
    char host[64];             /* address to listen on */
    int port;                  /* 0: any free port */
    int advertise_port;        /* the port others reach it by (a proxy's); 0: port */
    char cluster_manager_url[512];
    /* the cluster token (env CLUSTER_TOKEN or HERD_TOKEN): sent to the gateway and to peers,
     * and asked of callers of /admin/fault and /api/v1/kv/changes; "": none, all open */
    char cluster_token[128];
    char cluster_id[64];
    char node_header[64];  /* header naming this node on every answer */
    char peers[2048];      /* KV replication peers: "IP:PORT,..." (env HERD_PEERS) */
    char peers_file[1024]; /* more of them, re-read when it changes (env HERD_PEERS_FILE) */
    int weight;
    uint64_t stop_grace_us; /* SIGTERM: how long in-flight requests may take */
    enum log_level log_level;
    struct http_server_limits limits;
};

/* Fills the defaults: 127.0.0.1:8080, weight 100 (0..100), header X-Herd-Node, 30 s grace. */
void node_config_default(struct node_config *cfg);

/* Reads a YAML/JSON config file over cfg. Returns 0, or -1 with "FILE:LINE:COL: key: ..."
 * in err. Keys: port, host, node_id, cluster_manager_url, cluster_token, cluster_id, node_header,
 * weight, peers (a list or "IP:PORT,..."), peers_file, log_level, stop_grace,
 * limits{max_header_bytes, max_body_bytes, max_output_bytes (sizes: 65536, 64KB, 1MB),
 * header_timeout, body_timeout, idle_timeout, write_timeout (durations; write_timeout 0: none),
 * max_connections}. */
int node_config_load(struct node_config *cfg, const char *path, char *err, size_t errlen);

/* Applies SERVER_PORT, NODE_ID, CLUSTER_MANAGER_URL, CLUSTER_TOKEN (or HERD_TOKEN; set both
 * and they must agree), HERD_PEERS, HERD_PEERS_FILE from the environment. Returns 0 or -1 with a
 * message naming the variable. */
int node_config_env(struct node_config *cfg, char *err, size_t errlen);

/* Checks cross-field rules (the manager URL parses, the peers are IP:PORT, the token is
 * printable ASCII without spaces, ...). Returns 0 or -1 with a message. */
int node_config_finish(struct node_config *cfg, char *err, size_t errlen);

/* Decodes a POST /admin/fault body ({"latency_ms": 0..60000, "error_rate": 0..1,
 * "error_status": 400..599}, each optional) over *fault: the fields it names replace those of
 * *fault. Returns 0, or -1 with the 400 answer's message in msg (the field and what it
 * expected), *fault then unchanged. */
int node_fault_decode(const char *body, size_t len, struct node_fault *fault, char *msg,
                      size_t msglen);

struct node;

/* Starts a node on loop: listens and serves. Returns the node, or NULL with a message in err;
 * *uv_status gets the libuv error (UV_EADDRINUSE, ...) when listening failed. After a failure
 * the loop must run once more (uv_run) to release what was set up. */
struct node *node_start(uv_loop_t *loop, const struct node_config *cfg, int *uv_status, char *err,
                        size_t errlen);

/* The port the node listens on. */
int node_port(const struct node *n);

/* The node's HTTP server, owned by the node: a program that embeds a node may add routes of
 * its own (http_server_route) before the loop runs; the node's routes match first. */
struct http_server *node_server(struct node *n);

/* Graceful stop: no new connections, in-flight requests finish, then done(data) runs and
 * every handle of the node is closed. Free with node_free after the loop has run. */
void node_stop(struct node *n, void (*done)(void *data), void *data);
void node_free(struct node *n);

#endif
