/* gateway_int.h -- what the gateway's files share: the gateway, its proxy threads, their
 * per-node upstream pools and counters. Not a public header. */
#ifndef HERD_CLUSTER_GATEWAY_INT_H
#define HERD_CLUSTER_GATEWAY_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "base/buf.h"
#include "balance/balancer.h"
#include "cluster/gateway.h"
#include "cluster/registry.h"
#include "http/client.h"
#include "http/server.h"

/* Prometheus latency buckets, seconds (the last one is +Inf). */
#define GW_LATENCY_BUCKETS 13
extern const double gw_latency_bounds[GW_LATENCY_BUCKETS - 1];

/* How a request to a node ended. */
enum gw_outcome {
    GW_2XX = 0,
    GW_3XX,
    GW_4XX,
    GW_5XX,
    GW_ERR_CONNECT,
    GW_ERR_RESET,
    GW_ERR_TIMEOUT,
    GW_ERR_OTHER, /* protocol, write */
    GW_OUTCOMES
};
extern const char *const gw_outcome_names[GW_OUTCOMES];

/* A thread's counters for one node. Only the owning thread writes them (relaxed stores);
 * the admin routes read them from any thread. */
struct gw_node_stats {
    _Atomic uint64_t requests;     /* attempts sent to the node */
    _Atomic uint64_t outcomes[GW_OUTCOMES];
    _Atomic uint64_t retried;      /* attempts that were retries of a failure elsewhere */
    _Atomic uint64_t resent;       /* attempts sent again on a new connection (a kept-alive
                                    * one was closed unanswered): not in outcomes */
    _Atomic uint64_t latency_us;   /* sum over completed attempts */
    _Atomic uint64_t in_flight;
};

struct gw_thread;

/* One kept-alive connection to a node. */
struct gw_conn {
    struct http_client *client;
    struct gw_thread *t;
    int node;
    uint32_t epoch; /* of the node's slot when it was opened (see registry.h) */
    bool reused; /* taken from the idle pool: the node may have closed it meanwhile */
    uint64_t idle_since_ms;
    struct gw_conn *next;
};

/* A thread's view of one node: its address and idle connections. */
struct gw_upstream {
    char id[REGISTRY_ID_MAX]; /* the node's, for the node header of answers that lack it */
    struct sockaddr_storage addr;
    int port;
    uint32_t epoch; /* of the registry slot this view was built from */
    struct gw_conn *idle;
    size_t idle_count;
    int consecutive_failures; /* passive checks */
};

/* A config long-poll waiting for a newer version. */
struct gw_waiter {
    struct http_request *req;
    uint64_t version;
    uint64_t deadline_ms;
    struct gw_waiter *next;
};

struct gw_request;
struct gw_registration;
struct gateway;

struct gw_thread {
    struct gateway *gw;
    int index;
    uv_loop_t loop;
    uv_thread_t tid;
    uv_async_t wake; /* stop, or the config changed */
    uv_timer_t tick;
    struct http_server *srv;
    struct balancer bal; /* every node: requests no route claims */
    struct balancer route_bal[GATEWAY_MAX_ROUTES]; /* per route: only its group's nodes */
    uint64_t generation; /* of the registry the balancers were built from */
    struct gw_upstream *up;
    struct gw_node_stats *stats;  /* REGISTRY_MAX_NODES */
    struct http_client_opts client_opts;
    struct http_client_stream stream_ops;
    /* client-side totals */
    _Atomic uint64_t requests, retries, no_node, aborted;
    _Atomic uint64_t answers[GW_OUTCOMES];
    _Atomic uint64_t latency_buckets[GW_LATENCY_BUCKETS];
    _Atomic uint64_t latency_sum_us;
    /* retry budget over the current and the previous second */
    uint64_t window_start_ms, window_requests, window_retries, previous_requests;
    struct gw_request *free_requests;
    struct gw_waiter *waiters;
    struct gw_registration *registering; /* registrations whose host name is resolving */
    size_t registering_count;
    struct buf scratch;
    bool stopping;
};

struct gateway {
    struct gateway_opts opts;
    struct registry reg;
    struct gw_thread *threads;
    int thread_count;
    int port; /* bound */
    _Atomic bool stop;
    /* the balancers' shared schedules of one registry generation (every node, then one per
     * route), under reg.lock; each thread holds references to the ones it uses */
    struct balancer_schedule *schedules[GATEWAY_MAX_ROUTES + 1];
    uint64_t schedules_generation;
};

/* proxy.c: a thread's proxy and admin routes on its loop, which the caller runs. */
int gw_thread_setup(struct gw_thread *t, struct gateway *gw, int index);
/* Frees what setup allocated, once the thread's loop has ended. */
void gw_thread_free(struct gw_thread *t);
/* Releases the gateway's references to the shared schedules, once every thread is freed. */
void gw_schedules_free(struct gateway *gw);

/* admin.c */
void gw_admin_routes(struct gw_thread *t);
void gw_admin_wake_waiters(struct gw_thread *t, bool all);
/* The gateway stops: registrations still resolving get 503 now. */
void gw_admin_stop_registrations(struct gw_thread *t);
/* Nodes a 503 "no node" lists with their reasons; the rest are counted in more_nodes. */
#define GW_UNAVAILABLE_LISTED 32

/* The body of a 503 "no node": {"error": message, "nodes": {ID: "down: GET /health -> 404",
 * ...}, "more_nodes": N (beyond GW_UNAVAILABLE_LISTED), "hint": ...} over every node, or only
 * group's (NULL: all). Returns a new object (NULL when out of memory). Takes the registry's
 * lock. */
json_t *gw_admin_unavailable(struct gateway *gw, const char *message, const char *group);

/* Whether req may use the admin API (change: it alters something): loopback clients, or
 * with --token only requests carrying it for changes (anyone's for everything). Otherwise
 * answers 401 or 403 itself and returns false. */
bool gw_admin_allowed(struct http_request *req, struct gw_thread *t, bool change);

/* Relaxed counter helpers: one writer per counter. */
static inline void gw_add(_Atomic uint64_t *v, uint64_t n)
{
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline uint64_t gw_get(_Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

#endif
