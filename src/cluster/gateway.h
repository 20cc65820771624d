/* gateway.h -- `herd gateway`: a load-balancing HTTP gateway with a node registry, active and
 * passive health checks, retries within a budget, and an admin API (cluster status, nodes,
 * events, config sync, Prometheus metrics). */
#ifndef HERD_CLUSTER_GATEWAY_H
#define HERD_CLUSTER_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "balance/balancer.h"
#include "cluster/registry.h"
#include "conf/conf.h"
#include "conf/keys.h"

enum gateway_check {
    GATEWAY_CHECK_HTTP = 0, /* GET path answers 2xx */
    GATEWAY_CHECK_TCP,      /* the port accepts a connection */
    GATEWAY_CHECK_NONE,     /* no active checks: ejected nodes return after downinter */
};

#define GATEWAY_MAX_ROUTES 16

struct gateway_node_spec {
    char id[64];
    char group[64]; /* its cluster group, "" when none */
    char host[256];
    int port;
    int weight;
};

struct gateway_opts {
    char host[64];
    int port;
    enum balance_algorithm balance;
    char hash_header[64]; /* hash balancing: this header's value, "" for the path */
    uint64_t seed;        /* the balancers' random seed (with seed_set); else one per run */
    bool seed_set;
    int threads;
    struct gateway_route {
        char prefix[128]; /* a request path starting with it ... */
        char group[64];   /* ... goes to a node of this group (503 when none is up) */
    } routes[GATEWAY_MAX_ROUTES];
    size_t route_count;
    struct gateway_node_spec *nodes; /* static nodes: grown by gateway_opts_push_node only */
    size_t node_count;
    /* active checks (HAProxy's knobs) */
    enum gateway_check check;
    char check_path[256];
    uint64_t inter_us;     /* between checks of a healthy node */
    uint64_t fastinter_us; /* while a node is changing state */
    uint64_t downinter_us; /* between checks of a down node */
    uint64_t check_timeout_us;
    int rise, fall;
    /* passive checks */
    int eject_after;       /* consecutive connect errors or 5xx that eject a node; 0: off */
    uint64_t slowstart_us; /* ramp-up after readmission; 0: none */
    /* requests */
    int retries;         /* further attempts on other nodes */
    double retry_budget; /* retries allowed per request (budget of the last second) */
    uint64_t connect_timeout_us;
    uint64_t response_timeout_us; /* request sent -> response headers */
    size_t max_body_bytes;        /* request bodies (buffered, so idempotent ones can retry) */
    uint64_t body_timeout_us;     /* a client's request body, streamed ones too: then 408 */
    /* answers */
    char node_header[64]; /* names the node on answers; the gateway's own ones name it too */
    bool add_node_header; /* added to a node's answer that lacks it (a backend that knows
                           * nothing of herd), with the node's id */
    /* registry */
    uint64_t ttl_us;
    char token[128]; /* admin routes: required from anyone when set; else loopback only */
    struct registry_network allow_register[REGISTRY_MAX_NETWORKS]; /* none: loopback only */
    size_t allow_register_count;
};

/* Defaults: 127.0.0.1:9091, roundrobin, one thread per core, http check GET /health every
 * 1 s (fastinter 200 ms, downinter 500 ms, timeout 1 s, rise 2, fall 3), ejection after 3
 * consecutive failures, no slow start, 2 retries within a 20% budget, connect timeout 1 s,
 * response timeout 30 s, 1 MiB bodies, body timeout 10 s, TTL 10 s, node header X-Herd-Node
 * added to answers that lack it. */
void gateway_opts_default(struct gateway_opts *o);
void gateway_opts_free(struct gateway_opts *o);

/* The keys of a gateway section (conf/keys.h), NULL-terminated. */
extern const struct conf_key gateway_keys[];

/* Reads a cluster file's `gateway:` section over o. Returns 0, or -1 with
 * "FILE:LINE:COL: path: ..." in err. */
int gateway_opts_from_conf(struct gateway_opts *o, const struct conf_doc *doc,
                           const struct conf_node *section, char *err, size_t errlen);

/* Parses a static node "HOST:PORT[#weight=N]" or "ID=HOST:PORT[#weight=N]" and appends it.
 * Returns 0 or -1 with a message. */
int gateway_opts_add_node(struct gateway_opts *o, const char *text, char *err, size_t errlen);

/* Appends a node, in no group (the caller may set its group after). Returns 0 or -1
 * (duplicate id, message in err). */
int gateway_opts_push_node(struct gateway_opts *o, const char *id, const char *host, int port,
                           int weight, char *err, size_t errlen);

/* Adds a route "PREFIX=GROUP" (PREFIX starts with /). Returns 0 or -1 with a message. */
int gateway_opts_add_route(struct gateway_opts *o, const char *text, char *err, size_t errlen);

/* Whether name can be a header name (a token of at most 63 characters). */
bool gateway_header_name_valid(const char *name);

/* Parses a retry budget, "20%" or 0.2, into 0..1. Returns 0 or -1. */
int gateway_parse_budget(const char *text, double *out);

/* Runs the gateway until SIGINT/SIGTERM: gateway_open, one thread per proxy loop, active
 * checks and TTL expiry on the main thread. Returns 0, or 3 when it cannot listen (message
 * logged). */
int gateway_run(const struct gateway_opts *o);

/* A gateway in-process, without the threads, signals and active checks of gateway_run (tests
 * and fuzzing run its loops themselves). */
struct gateway;

/* Sets up the registry with o's static nodes and o->threads proxy threads listening on
 * o->host:o->port (0: a free port), each with its own loop that nothing runs yet. Returns the
 * gateway, or NULL with a message in err ("port N on HOST is already in use", a static node
 * that does not resolve). */
struct gateway *gateway_open(const struct gateway_opts *o, char *err, size_t errlen);

/* Proxy thread k's loop (0 <= k < o->threads), for one thread to uv_run: it serves until
 * gateway_stop, then uv_run returns once its in-flight requests ended. */
uv_loop_t *gateway_loop(struct gateway *gw, int thread);

/* The port the gateway listens on. */
int gateway_port(const struct gateway *gw);

/* Asks every proxy loop to stop (from any thread): no new connections, config long-polls
 * answered, in-flight requests finish, then each loop ends. */
void gateway_stop(struct gateway *gw);

/* Frees the gateway once every proxy loop has ended (or never ran). */
void gateway_close(struct gateway *gw);

#endif
