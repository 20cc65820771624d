/* proxy.c -- the gateway's proxy threads: pick a node, pass the request on over a kept-alive
 * connection, stream the answer back, retry on another node when that is safe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "base/log.h"
#include "base/mtime.h"
#include "cluster/gateway_int.h"
#include "http/token.h"

#define POOL_IDLE_MAX     256   /* idle connections kept per node and thread */
#define POOL_IDLE_MS      15000 /* closed after this long unused (below the nodes' timeouts) */
#define BACKPRESSURE_HIGH (256 * 1024)
#define RETRY_MIN_PER_SEC 3 /* the budget never drops below this */
#define MAX_TRIED         16
#define RETRY_BUFFER      (64 * 1024)   /* a longer request body is streamed, not retried */
#define UPLOAD_HIGH       (1024 * 1024) /* node-bound bytes queued before the client waits */

const double gw_latency_bounds[GW_LATENCY_BUCKETS - 1] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                          0.1,   0.25,   0.5,   1,    2.5,   5};
const char *const gw_outcome_names[GW_OUTCOMES] = {"2xx",     "3xx",   "4xx",     "5xx",
                                                   "connect", "reset", "timeout", "other"};

/* One client request on its way through. */
struct gw_request {
    struct gw_thread *t;
    struct http_request *req;
    struct buf out; /* the request as sent upstream */
    struct gw_conn *conn;
    struct balancer *bal;              /* the route's balancer, or the thread's */
    const struct gateway_route *route; /* NULL: no route claims the path */
    int node;
    int attempts;
    int tried[MAX_TRIED];
    int tried_count;
    bool idempotent;
    bool stale_retried; /* sent again once on a new connection after a kept-alive one failed */
    bool reached;       /* a node took a connection for it (answered, reset, timed out) */
    int answered_status; /* the last status a node answered (a retried 5xx), or 0 */
    bool head_sent;
    bool discard; /* a retriable 5xx whose body is dropped */
    bool paused;
    /* a request body streamed in (the server's streaming route) */
    struct buf body;     /* held back until it ends or outgrows the retry buffer */
    bool body_chunked;   /* the client sent it chunked: passed on chunked */
    bool body_streaming; /* sent on as it comes: the request can no longer be retried */
    bool body_done;      /* the client's body ended */
    bool body_paused;    /* reading the client's body waits for the node to take what it has */
    int last_status;     /* the last node's status, or 0 */
    int last_error;      /* the last transport error, or 0 */
    uint64_t start_us;
    uint64_t attempt_us;
    struct gw_request *next_free;
};

static void proxy_attempt(struct gw_request *gr);
static void proxy_send(struct gw_request *gr, int node, bool attempt);

/* ---- pool ---- */

static void on_conn_freed(void *data)
{
    free(data);
}

static void conn_free(struct gw_conn *conn)
{
    http_client_free(conn->client, on_conn_freed, conn);
}

/* A new connection to node (not yet connected), or NULL when out of memory. */
static struct gw_conn *pool_new(struct gw_thread *t, int node)
{
    struct gw_upstream *u = &t->up[node];
    struct gw_conn *conn = calloc(1, sizeof *conn);
    if (!conn) return NULL;
    char err[128];
    conn->client = http_client_new(&t->loop, (const struct sockaddr *)&u->addr, NULL,
                                   &t->client_opts, err, sizeof err);
    if (!conn->client) {
        free(conn);
        return NULL;
    }
    conn->t = t;
    conn->node = node;
    conn->epoch = u->epoch;
    return conn;
}

/* An idle kept-alive connection to node, else a new one; NULL when out of memory. */
static struct gw_conn *pool_get(struct gw_thread *t, int node)
{
    struct gw_upstream *u = &t->up[node];
    struct gw_conn *conn = u->idle;
    if (!conn) return pool_new(t, node);
    u->idle = conn->next;
    u->idle_count--;
    conn->reused = true;
    return conn;
}

static void pool_put(struct gw_thread *t, struct gw_conn *conn)
{
    struct gw_upstream *u = &t->up[conn->node];
    if (t->stopping || u->idle_count >= POOL_IDLE_MAX || conn->epoch != u->epoch ||
        !http_client_connected(conn->client)) {
        conn_free(conn);
        return;
    }
    conn->idle_since_ms = uv_now(&t->loop);
    conn->next = u->idle;
    u->idle = conn;
    u->idle_count++;
}

static void pool_drop(struct gw_upstream *u)
{
    while (u->idle) {
        struct gw_conn *conn = u->idle;
        u->idle = conn->next;
        conn_free(conn);
    }
    u->idle_count = 0;
}

/* Closes connections idle for too long (the newest are at the head of each list). */
static void pool_sweep(struct gw_thread *t)
{
    uint64_t now = uv_now(&t->loop);
    for (size_t i = 0; i < balancer_count(&t->bal); i++) {
        struct gw_upstream *u = &t->up[i];
        struct gw_conn **link = &u->idle;
        while (*link && now - (*link)->idle_since_ms < POOL_IDLE_MS)
            link = &(*link)->next;
        while (*link) {
            struct gw_conn *conn = *link;
            *link = conn->next;
            u->idle_count--;
            conn_free(conn);
        }
    }
}

/* ---- the balancer's view of the registry ---- */

/* A slot's counters for the node that takes it over (in_flight stays: it counts down as
 * the old node's requests end). */
static void stats_reset(struct gw_node_stats *st)
{
    atomic_store_explicit(&st->requests, 0, memory_order_relaxed);
    for (int k = 0; k < GW_OUTCOMES; k++)
        atomic_store_explicit(&st->outcomes[k], 0, memory_order_relaxed);
    atomic_store_explicit(&st->retried, 0, memory_order_relaxed);
    atomic_store_explicit(&st->resent, 0, memory_order_relaxed);
    atomic_store_explicit(&st->latency_us, 0, memory_order_relaxed);
}

/* Builds the generation's shared schedules (every node, then each route's group) from the
 * registry, which the caller holds locked; each continues the rotation of the one it
 * replaces. On failure (out of memory) the old ones stay. */
static void schedules_build(struct gateway *gw, uint64_t generation)
{
    struct registry *reg = &gw->reg;
    struct balancer_node *nodes = malloc((reg->count ? reg->count : 1) * sizeof *nodes);
    if (!nodes) return;
    for (size_t r = 0; r <= gw->opts.route_count; r++) {
        const char *group = r > 0 ? gw->opts.routes[r - 1].group : NULL;
        for (size_t i = 0; i < reg->count; i++) {
            const struct registry_node *n = &reg->nodes[i];
            nodes[i] = (struct balancer_node){
                n->id, n->effective_weight < 1 ? 1 : n->effective_weight,
                registry_node_available(n) && (!group || strcmp(n->group, group) == 0)};
        }
        struct balancer_schedule *s =
            balancer_schedule_new(gw->opts.balance, nodes, reg->count, gw->schedules[r]);
        if (!s) break;
        balancer_schedule_release(gw->schedules[r]);
        gw->schedules[r] = s;
    }
    gw->schedules_generation = generation;
    free(nodes);
}

/* The thread moves to the registry's current generation: its balancers to the shared
 * schedules (built by the first thread to get there), its upstreams to the nodes' slots. */
static void resync(struct gw_thread *t)
{
    struct gateway *gw = t->gw;
    struct registry *reg = &gw->reg;
    pthread_mutex_lock(&reg->lock);
    t->generation = atomic_load_explicit(&reg->generation, memory_order_acquire);
    if (!gw->schedules[0] || gw->schedules_generation != t->generation)
        schedules_build(gw, t->generation);
    if (gw->schedules[0]) balancer_use(&t->bal, gw->schedules[0]);
    for (size_t r = 0; r < gw->opts.route_count; r++)
        if (gw->schedules[r + 1]) balancer_use(&t->route_bal[r], gw->schedules[r + 1]);
    for (size_t i = 0; i < reg->count; i++) {
        const struct registry_node *n = &reg->nodes[i];
        struct gw_upstream *u = &t->up[i];
        if (u->epoch != n->epoch) { /* the slot went to another node: start its view afresh */
            pool_drop(u);
            u->epoch = n->epoch;
            u->consecutive_failures = 0;
            stats_reset(&t->stats[i]);
        }
        memcpy(u->id, n->id, sizeof u->id); /* a node may be renamed in its slot */
        if (u->port != n->port || memcmp(&u->addr, &n->addr, sizeof u->addr) != 0 || n->removed) {
            pool_drop(u);
            u->addr = n->addr;
            u->port = n->port;
        }
    }
    pthread_mutex_unlock(&reg->lock);
}

void gw_schedules_free(struct gateway *gw)
{
    for (size_t r = 0; r <= GATEWAY_MAX_ROUTES; r++) {
        balancer_schedule_release(gw->schedules[r]);
        gw->schedules[r] = NULL;
    }
}

/* A node for this attempt that was not tried yet, or -1. The balancer leaves the tried ones
 * out itself, so a retry never moves the rotation of other requests. */
static int pick(struct gw_thread *t, struct gw_request *gr)
{
    if (atomic_load_explicit(&t->gw->reg.generation, memory_order_acquire) != t->generation)
        resync(t);
    const char *key = NULL;
    struct balancer *b = gr->bal;
    if (b->algorithm == BALANCE_HASH) {
        key = t->gw->opts.hash_header[0] ? http_request_header(gr->req, t->gw->opts.hash_header)
                                         : NULL;
        if (!key) key = gr->req->path;
    }
    return balancer_select(b, gr->tried, (size_t)gr->tried_count, key, key ? strlen(key) : 0);
}

/* ---- retries ---- */

static bool method_idempotent(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "PUT") == 0 ||
           strcmp(m, "DELETE") == 0 || strcmp(m, "OPTIONS") == 0 || strcmp(m, "TRACE") == 0;
}

static void budget_roll(struct gw_thread *t)
{
    uint64_t now = uv_now(&t->loop);
    if (now - t->window_start_ms >= 1000) {
        t->previous_requests = now - t->window_start_ms < 2000 ? t->window_requests : 0;
        t->window_requests = t->window_retries = 0;
        t->window_start_ms = now;
    }
}

/* May gr go to another node? Connect errors (nothing was sent) always may, up to one try per
 * node; the rest only for idempotent requests, within the retry budget. */
static bool may_retry(struct gw_request *gr, bool connect_error)
{
    struct gw_thread *t = gr->t;
    if (gr->tried_count >= MAX_TRIED || t->stopping || gr->body_streaming) return false;
    if (connect_error) return (size_t)gr->attempts < balancer_count(gr->bal);
    if (!gr->idempotent || gr->attempts > t->gw->opts.retries) return false;
    budget_roll(t);
    uint64_t base =
        t->window_requests > t->previous_requests ? t->window_requests : t->previous_requests;
    double allowed = t->gw->opts.retry_budget * (double)base + RETRY_MIN_PER_SEC;
    return (double)t->window_retries < allowed;
}

/* ---- passive checks ---- */

static void node_result(struct gw_thread *t, int node, uint32_t epoch, bool failed,
                        const char *what)
{
    struct gw_upstream *u = &t->up[node];
    if (epoch != u->epoch) return; /* the slot went to another node meanwhile */
    if (!failed) {
        u->consecutive_failures = 0;
        return;
    }
    int limit = t->gw->opts.eject_after;
    if (limit > 0 && ++u->consecutive_failures >= limit) {
        char why[96];
        snprintf(why, sizeof why, "%d consecutive failures, last: %s", u->consecutive_failures,
                 what);
        u->consecutive_failures = 0;
        registry_eject(&t->gw->reg, node, epoch, why);
    }
}

/* ---- the request ---- */

static void request_free(struct gw_request *gr)
{
    struct gw_thread *t = gr->t;
    gr->next_free = t->free_requests;
    t->free_requests = gr;
}

static enum gw_outcome status_outcome(int status)
{
    return status >= 500 ? GW_5XX : status >= 400 ? GW_4XX : status >= 300 ? GW_3XX : GW_2XX;
}

static enum gw_outcome error_outcome(int error)
{
    switch (error) {
    case HTTP_CLIENT_ECONNECT:
        return GW_ERR_CONNECT;
    case HTTP_CLIENT_ERESET:
        return GW_ERR_RESET;
    case HTTP_CLIENT_ETIMEOUT:
        return GW_ERR_TIMEOUT;
    default:
        return GW_ERR_OTHER;
    }
}

/* The client got its answer (status, or an abort): count it and recycle gr. */
static void request_done(struct gw_request *gr, enum gw_outcome outcome)
{
    struct gw_thread *t = gr->t;
    uint64_t us = mtime_now_us() - gr->start_us;
    gw_add(&t->answers[outcome], 1);
    gw_add(&t->latency_sum_us, us);
    size_t b = 0;
    while (b < GW_LATENCY_BUCKETS - 1 && (double)us / 1e6 > gw_latency_bounds[b])
        b++;
    gw_add(&t->latency_buckets[b], 1);
    request_free(gr);
}

/* The node an answer the gateway makes itself names (X-Herd-Node), so that clients tell the
 * gateway's own 503 "no node" from a node's answers and from the gateway's other failures. */
#define GW_NO_NODE "(no node)"
#define GW_ITSELF  "(gateway)"

static void respond_failure(struct gw_request *gr)
{
    char msg[160];
    int status;
    enum gw_outcome outcome;
    /* "no node" only when no node took a connection for it: none available, or every one
     * tried refused (503, as HAProxy). A node that answered or reset it was there. */
    bool no_node = !gr->reached;
    http_response_header(gr->req, gr->t->gw->opts.node_header, no_node ? GW_NO_NODE : GW_ITSELF);
    if (gr->answered_status) {
        status = gr->answered_status;
        snprintf(msg, sizeof msg, "a node answered %d and no other one could take it", status);
        outcome = GW_5XX;
    } else if (!no_node) {
        status = gr->last_error == HTTP_CLIENT_ETIMEOUT ? 504 : 502;
        outcome = error_outcome(gr->last_error);
        snprintf(msg, sizeof msg, "no answer from %d node%s: last error %s", gr->attempts,
                 gr->attempts == 1 ? "" : "s", http_client_error_name(gr->last_error));
    } else {
        /* 503 "no node": the body says what each node is and why (down: GET /health -> 404) */
        status = 503;
        outcome = gr->last_error ? error_outcome(gr->last_error) : GW_5XX;
        gw_add(&gr->t->no_node, 1);
        if (gr->last_error)
            snprintf(msg, sizeof msg, "no node took a connection (%d tried)", gr->attempts);
        else if (gr->route) /* the group's routes say which group is missing */
            snprintf(msg, sizeof msg, "no node of group '%s' is available", gr->route->group);
        else
            snprintf(msg, sizeof msg, "no node is available");
        json_t *body = gw_admin_unavailable(gr->t->gw, msg, gr->route ? gr->route->group : NULL);
        if (body && gr->route) {
            json_object_set_new(body, "group", json_string(gr->route->group));
            json_object_set_new(body, "route", json_string(gr->route->prefix));
        }
        if (body) {
            http_respond_json(gr->req, status, body);
            request_done(gr, outcome);
            return;
        }
    }
    http_respond_error(gr->req, status, msg);
    request_done(gr, outcome);
}

/* The elements of every Connection header of a message: each names a hop-by-hop header.
 * Split once per message (the first CONNECTION_ITEMS_MAX; the values are kept to look the
 * rest up in). */
#define CONNECTION_ITEMS_MAX 16
struct connection_lists {
    const char *values[HTTP_MAX_HEADERS];
    size_t count;
    struct {
        const char *name;
        size_t len;
    } items[CONNECTION_ITEMS_MAX];
    size_t item_count;
    bool overflow; /* more elements than items: look in values */
};

static void connection_add(struct connection_lists *lists, const char *name, const char *value)
{
    if (!http_name_eq(name, "Connection") || lists->count == HTTP_MAX_HEADERS) return;
    lists->values[lists->count++] = value;
    size_t len;
    for (const char *p = value, *item; (item = http_list_next(&p, &len)), len;) {
        if (lists->item_count == CONNECTION_ITEMS_MAX) {
            lists->overflow = true;
            return;
        }
        lists->items[lists->item_count].name = item;
        lists->items[lists->item_count++].len = len;
    }
}

/* Whether a Connection header lists name (of len bytes). */
static bool connection_lists_name(const struct connection_lists *lists, const char *name,
                                  size_t len)
{
    for (size_t i = 0; i < lists->item_count; i++)
        if (lists->items[i].len == len && strncasecmp(lists->items[i].name, name, len) == 0)
            return true;
    if (!lists->overflow) return false;
    size_t n;
    for (size_t i = 0; i < lists->count; i++)
        for (const char *p = lists->values[i], *item; (item = http_list_next(&p, &n)), n;)
            if (http_list_is(item, n, name)) return true;
    return false;
}

/* Whether header name stays with this hop: the fixed hop-by-hop headers and those a
 * Connection header lists, except Host, which a node needs and no Connection header takes
 * away (X-Forwarded-For is not asked here: the gateway passes the chain on and appends the
 * client, whatever Connection says). */
static bool hop_by_hop(const char *name, const struct connection_lists *lists)
{
    static const struct {
        const char *name;
        size_t len;
    } fixed[] = {
        {"Connection", 10}, {"Keep-Alive", 10}, {"Proxy-Connection", 16},
        {"Transfer-Encoding", 17}, {"TE", 2}, {"Trailer", 7}, {"Upgrade", 7},
        {"Content-Length", 14},
    };
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (fixed[i].len == len && http_name_eq(name, fixed[i].name)) return true;
    return lists->count > 0 && !http_name_eq(name, "Host") &&
           connection_lists_name(lists, name, len);
}

/* Appends "name: value\r\n". Returns 0 or -1. */
static int put_header(struct buf *b, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    if (buf_reserve(b, nl + vl + 4) < 0) return -1;
    memcpy(b->data + b->len, name, nl);
    b->data[b->len + nl] = ':';
    b->data[b->len + nl + 1] = ' ';
    memcpy(b->data + b->len + nl + 2, value, vl);
    memcpy(b->data + b->len + nl + 2 + vl, "\r\n", 3);
    b->len += nl + vl + 4;
    return 0;
}

/* Gives up gr's node connection: its answer is no longer wanted. */
static void upstream_drop(struct gw_request *gr)
{
    if (!gr->conn) return;
    struct gw_thread *t = gr->t;
    gw_add(&t->stats[gr->node].in_flight, (uint64_t)-1);
    balancer_on_result(gr->bal, gr->node, true);
    conn_free(gr->conn);
    gr->conn = NULL;
}

static void on_drain(void *data)
{
    struct gw_request *gr = data;
    if (gr->paused && gr->conn) {
        gr->paused = false;
        http_client_pause(gr->conn->client, false);
    }
}

/* Appends "Transfer-Encoding: CODINGS\r\n" when a node's answer applied codings besides
 * chunked (gzip, ...): the gateway frames the body anew (chunked or by length) and the codings
 * stay for the client to undo, as the answer's own "gzip, chunked" said. Returns 0 or -1. */
static int put_codings(struct buf *b, const struct http_client_header *headers, size_t count)
{
    bool any = false;
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (!http_name_eq(headers[i].name, "Transfer-Encoding")) continue;
        size_t len;
        for (const char *p = headers[i].value, *item;
             rc == 0 && (item = http_list_next(&p, &len), len);) {
            if (http_list_is(item, len, "chunked")) continue;
            rc = buf_append_str(b, any ? ", " : "Transfer-Encoding: ");
            if (rc == 0) rc = buf_append(b, item, len);
            any = true;
        }
    }
    return rc == 0 && any ? buf_append(b, "\r\n", 2) : rc;
}

static void on_head(struct http_client *c, const struct http_client_response *res,
                    const struct http_client_header *headers, size_t count, void *data)
{
    (void)c;
    struct gw_request *gr = data;
    struct gw_thread *t = gr->t;
    if (res->status >= 502 && res->status <= 504 && may_retry(gr, false)) {
        gr->discard = true; /* its body is dropped; the request goes to another node */
        return;
    }
    struct connection_lists lists = {.count = 0, .item_count = 0, .overflow = false};
    for (size_t i = 0; i < count; i++)
        connection_add(&lists, headers[i].name, headers[i].value);
    struct buf *b = &t->scratch;
    buf_reset(b);
    const struct gateway_opts *o = &t->gw->opts;
    bool named = !o->add_node_header; /* the answer names its node, or need not */
    for (size_t i = 0; i < count; i++)
        if (!hop_by_hop(headers[i].name, &lists)) {
            put_header(b, headers[i].name, headers[i].value);
            named |= http_name_eq(headers[i].name, o->node_header);
        }
    if (!named) /* a backend that knows nothing of herd: the gateway says who answered */
        put_header(b, o->node_header, t->up[gr->node].id);
    put_codings(b, headers, count);
    gr->head_sent = true;
    http_request_on_drain(gr->req, on_drain, gr);
    http_respond_start(gr->req, res->status, b->data ? b->data : "", b->len, res->content_length);
}

static void on_body(struct http_client *c, const char *at, size_t len, void *data)
{
    struct gw_request *gr = data;
    if (gr->discard || !gr->head_sent) return;
    long queued = http_respond_write(gr->req, at, len);
    if (queued < 0) { /* the client left: drop the node's connection and the request */
        upstream_drop(gr);
        gw_add(&gr->t->aborted, 1);
        http_respond_abort(gr->req);
        request_done(gr, GW_ERR_OTHER);
        return;
    }
    if (queued > BACKPRESSURE_HIGH && !gr->paused) {
        gr->paused = true;
        http_client_pause(c, true);
    }
}

static void on_done(struct http_client *c, int error, const struct http_client_response *res,
                    void *data)
{
    (void)c;
    struct gw_request *gr = data;
    struct gw_thread *t = gr->t;
    struct gw_conn *conn = gr->conn;
    int node = gr->node;
    struct gw_node_stats *st = &t->stats[node];
    gr->conn = NULL;
    gw_add(&st->in_flight, (uint64_t)-1);
    gw_add(&st->latency_us, mtime_now_us() - gr->attempt_us);
    bool ok = error == HTTP_CLIENT_OK && res->status < 500;
    balancer_on_result(gr->bal, node, ok);
    if (error == HTTP_CLIENT_OK) {
        gw_add(&st->outcomes[status_outcome(res->status)], 1);
        node_result(t, node, conn->epoch, res->status >= 500, "status 5xx");
        if (res->keep_alive && !(gr->body_streaming && !gr->body_done))
            pool_put(t, conn);
        else
            conn_free(conn);
        gr->reached = true;
        if (gr->discard) {
            gr->discard = false;
            gr->last_status = gr->answered_status = res->status;
            proxy_attempt(gr);
            return;
        }
        http_respond_end(gr->req);
        request_done(gr, status_outcome(res->status));
        return;
    }
    /* A kept-alive connection the node closed as the request went out (it ends idle
     * connections, or it is stopping): nothing was answered, so an idempotent request goes to
     * the same node again, once, on a new connection, as HAProxy and nginx do. A node that
     * went away then refuses it, and the request moves on. */
    bool stale = conn->reused && error == HTTP_CLIENT_ERESET && res->bytes_in == 0 &&
                 gr->idempotent && !gr->head_sent && !gr->stale_retried && !gr->body_streaming;
    uint32_t epoch = conn->epoch;
    conn_free(conn);
    if (stale) { /* not a failure of the node: counted apart (attempts = outcomes + resent) */
        gw_add(&st->resent, 1);
        gr->stale_retried = true;
        balancer_hold(gr->bal, node); /* the same attempt goes on */
        proxy_send(gr, node, false);
        return;
    }
    gw_add(&st->outcomes[error_outcome(error)], 1);
    node_result(t, node, epoch, true, http_client_error_name(error));
    gr->reached |= error != HTTP_CLIENT_ECONNECT;
    gr->last_error = error;
    gr->last_status = 0;
    if (gr->head_sent) { /* part of the answer is out: all that is left is to cut it */
        http_respond_abort(gr->req);
        request_done(gr, error_outcome(error));
        return;
    }
    if (may_retry(gr, error == HTTP_CLIENT_ECONNECT)) {
        proxy_attempt(gr);
        return;
    }
    respond_failure(gr);
}

/* Sends gr to node: a new attempt (counted, the node marked tried, a kept-alive connection
 * when there is one), or the same attempt again on a new connection. */
static void proxy_send(struct gw_request *gr, int node, bool attempt)
{
    struct gw_thread *t = gr->t;
    struct gw_conn *conn = attempt ? pool_get(t, node) : pool_new(t, node);
    if (!conn) {
        balancer_on_result(gr->bal, node, false);
        http_respond_error(gr->req, 500, "out of memory");
        request_done(gr, GW_ERR_OTHER);
        return;
    }
    struct gw_node_stats *st = &t->stats[node];
    if (attempt && gr->attempts > 0) {
        gw_add(&st->retried, 1);
        gw_add(&t->retries, 1);
        t->window_retries++;
    }
    if (attempt) {
        gr->attempts++;
        gr->tried[gr->tried_count++] = node;
    }
    gr->node = node;
    gr->conn = conn;
    gr->attempt_us = mtime_now_us();
    gw_add(&st->requests, 1);
    gw_add(&st->in_flight, 1);
    if (http_client_send_stream(conn->client, gr->out.data, gr->out.len, &t->stream_ops, on_done,
                                gr) < 0)
        on_done(conn->client, HTTP_CLIENT_EWRITE, &(struct http_client_response){0}, gr);
}

/* Sends gr to a node it has not tried; answers it when none is left. */
static void proxy_attempt(struct gw_request *gr)
{
    int node = pick(gr->t, gr);
    if (node < 0) {
        respond_failure(gr);
        return;
    }
    proxy_send(gr, node, true);
}

/* Writes the request head as it goes to a node, without framing headers or the blank line:
 * hop-by-hop headers out (those of every Connection header too), X-Forwarded-For in, and a
 * Host, the address the client reached, when the client sent none (HTTP/1.0). */
static int format_head(struct gw_request *gr)
{
    struct http_request *req = gr->req;
    struct buf *b = &gr->out;
    buf_reset(b);
    struct connection_lists lists = {.count = 0, .item_count = 0, .overflow = false};
    bool host = false, xff = false;
    for (size_t i = 0; i < req->header_count; i++) {
        connection_add(&lists, req->headers[i].name, req->headers[i].value);
        host |= http_name_eq(req->headers[i].name, "Host");
    }
    char peer[64] = "";
    http_request_peer(req, peer, sizeof peer);
    int rc = buf_append_str(b, req->method);
    if (rc == 0) rc = buf_append(b, " ", 1);
    if (rc == 0) rc = buf_append_str(b, req->path);
    if (rc == 0 && req->query[0]) rc = buf_append(b, "?", 1) || buf_append_str(b, req->query);
    if (rc == 0) rc = buf_append(b, " HTTP/1.1\r\n", 11);
    for (size_t i = 0; i < req->header_count && rc == 0; i++) {
        const struct http_header *h = &req->headers[i];
        if (http_name_eq(h->name, "X-Forwarded-For")) { /* one header at the end */
            xff = true;
            continue;
        }
        if (!hop_by_hop(h->name, &lists) && !http_name_eq(h->name, "Expect"))
            rc = put_header(b, h->name, h->value);
    }
    char local[80];
    if (rc == 0 && !host)
        rc = put_header(b, "Host", http_request_local(req, local, sizeof local) == 0 ? local
                                                                                  : "localhost");
    if (rc == 0 && (xff || peer[0])) { /* every X-Forwarded-For's chain, in order, then the client */
        const char *sep = "";
        rc = buf_append_str(b, "X-Forwarded-For: ");
        for (size_t i = 0; i < req->header_count && rc == 0; i++)
            if (http_name_eq(req->headers[i].name, "X-Forwarded-For")) {
                rc = buf_append_str(b, sep) || buf_append_str(b, req->headers[i].value);
                sep = ", ";
            }
        if (rc == 0 && peer[0]) rc = buf_append_str(b, sep) || buf_append_str(b, peer);
        if (rc == 0) rc = buf_append(b, "\r\n", 2);
    }
    return rc;
}

/* Ends the head with a Content-Length for a whole body and appends the body. */
static int finish_whole(struct gw_request *gr, const char *body, size_t len)
{
    const char *m = gr->req->method;
    int rc = 0;
    if (len > 0 || strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0)
        rc = buf_printf(&gr->out, "Content-Length: %zu\r\n", len);
    if (rc == 0) rc = buf_append(&gr->out, "\r\n", 2);
    if (rc == 0 && len) rc = buf_append(&gr->out, body, len);
    return rc;
}

/* Appends body bytes as they go to the node: a chunk when the client sent chunks. */
static int frame_body(struct gw_request *gr, struct buf *b, const char *at, size_t len)
{
    if (!gr->body_chunked) return buf_append(b, at, len);
    return buf_printf(b, "%zx\r\n", len) || buf_append(b, at, len) || buf_append(b, "\r\n", 2);
}

/* ---- streamed request bodies ---- */

static void on_upload_written(struct http_client *c, void *data)
{
    (void)c;
    struct gw_request *gr = data;
    if (gr->body_paused) {
        gr->body_paused = false;
        http_request_pause_body(gr->req, false);
    }
}

/* The body outgrew the retry buffer: the head and what came so far go to a node now, the
 * rest follows as it arrives. */
static void start_streaming(struct gw_request *gr)
{
    const char *cl = http_request_header(gr->req, "Content-Length");
    int rc = gr->body_chunked ? buf_append_str(&gr->out, "Transfer-Encoding: chunked\r\n")
                              : buf_printf(&gr->out, "Content-Length: %s\r\n", cl ? cl : "0");
    if (rc == 0) rc = buf_append(&gr->out, "\r\n", 2);
    if (rc == 0) rc = frame_body(gr, &gr->out, gr->body.data, gr->body.len);
    buf_reset(&gr->body);
    gr->body_streaming = true;
    if (rc < 0) {
        http_respond_error(gr->req, 500, "out of memory");
        request_done(gr, GW_ERR_OTHER);
        return;
    }
    proxy_attempt(gr);
}

static void on_client_body(struct http_request *req, const char *at, size_t len, void *data)
{
    (void)req;
    struct gw_request *gr = data;
    if (!gr->body_streaming) {
        if (buf_append(&gr->body, at, len) < 0) {
            http_respond_error(gr->req, 500, "out of memory");
            request_done(gr, GW_ERR_OTHER);
            return;
        }
        if (gr->body.len > RETRY_BUFFER) start_streaming(gr);
        return;
    }
    if (!gr->conn) return; /* the node already answered or failed: the rest is dropped */
    struct buf *b = &gr->t->scratch;
    buf_reset(b);
    long queued =
        frame_body(gr, b, at, len) < 0 ? -1 : http_client_write(gr->conn->client, b->data, b->len);
    if (queued > UPLOAD_HIGH && !gr->body_paused) {
        gr->body_paused = true;
        http_request_pause_body(gr->req, true);
    }
}

/* The client's connection failed before its answer (it left, its body broke off or came too
 * slowly, it took no output): the server ended the request, so gr lets go of the node and
 * is recycled; nothing may touch req after this. */
static void on_client_abort(struct http_request *req, void *data)
{
    (void)req;
    struct gw_request *gr = data;
    upstream_drop(gr);
    gw_add(&gr->t->aborted, 1);
    request_done(gr, GW_ERR_OTHER);
}

static void on_client_body_end(struct http_request *req, void *data)
{
    struct gw_request *gr = data;
    gr->body_done = true;
    if (gr->body_streaming) {
        if (gr->body_chunked && gr->conn) http_client_write(gr->conn->client, "0\r\n\r\n", 5);
        return;
    }
    if (finish_whole(gr, gr->body.data, gr->body.len) < 0) { /* short: retries stay possible */
        http_respond_error(req, 500, "out of memory");
        request_done(gr, GW_ERR_OTHER);
        return;
    }
    proxy_attempt(gr);
}

/* A node's control routes: fault injection, replication. Whoever may not change the gateway
 * may not reach them through it either. */
static bool control_path(const char *path)
{
    return strcmp(path, "/admin") == 0 || strncmp(path, "/admin/", 7) == 0 ||
           strncmp(path, "/api/v1/kv/", 11) == 0;
}

static void on_proxy(struct http_request *req, void *data)
{
    struct gw_thread *t = data;
    if (control_path(req->path) && !gw_admin_allowed(req, t, true)) return;
    struct gw_request *gr = t->free_requests;
    if (gr) {
        t->free_requests = gr->next_free;
    } else if (!(gr = calloc(1, sizeof *gr))) {
        http_respond_error(req, 500, "out of memory");
        return;
    }
    struct buf out = gr->out, body = gr->body;
    memset(gr, 0, sizeof *gr);
    gr->out = out;
    gr->body = body;
    gr->t = t;
    gr->req = req;
    gr->idempotent = method_idempotent(req->method);
    gr->start_us = req->start_us;
    gr->bal = &t->bal;
    size_t best = 0; /* the longest prefix wins */
    for (size_t r = 0; r < t->gw->opts.route_count; r++) {
        const struct gateway_route *rt = &t->gw->opts.routes[r];
        size_t len = strlen(rt->prefix);
        if (len > best && strncmp(req->path, rt->prefix, len) == 0) {
            best = len;
            gr->route = rt;
            gr->bal = &t->route_bal[r];
        }
    }
    gw_add(&t->requests, 1);
    budget_roll(t);
    t->window_requests++;
    http_request_on_abort(req, on_client_abort, gr);
    if (format_head(gr) < 0) {
        http_respond_error(req, 500, "out of memory");
        request_free(gr);
        return;
    }
    if (http_request_streaming(req)) { /* the body is on its way */
        const char *te = http_request_header(req, "Transfer-Encoding");
        gr->body_chunked = te != NULL;
        buf_reset(&gr->body);
        http_request_read_body(req, on_client_body, on_client_body_end, gr);
        return;
    }
    if (finish_whole(gr, req->body, req->body_len) < 0) {
        http_respond_error(req, 500, "out of memory");
        request_free(gr);
        return;
    }
    proxy_attempt(gr);
}

/* ---- the thread ---- */

static void on_tick(uv_timer_t *timer)
{
    struct gw_thread *t = timer->data;
    pool_sweep(t);
    gw_admin_wake_waiters(t, false);
}

static void on_server_down(void *data)
{
    struct gw_thread *t = data;
    for (size_t i = 0; i < balancer_count(&t->bal); i++)
        pool_drop(&t->up[i]);
    uv_close((uv_handle_t *)&t->wake, NULL);
    uv_close((uv_handle_t *)&t->tick, NULL);
}

static void on_wake(uv_async_t *async)
{
    struct gw_thread *t = async->data;
    if (atomic_load(&t->gw->stop) && !t->stopping) {
        t->stopping = true;
        gw_admin_wake_waiters(t, true);
        gw_admin_stop_registrations(t);
        uv_timer_stop(&t->tick);
        http_server_shutdown(t->srv, on_server_down, t);
        return;
    }
    gw_admin_wake_waiters(t, false);
}

int gw_thread_setup(struct gw_thread *t, struct gateway *gw, int index)
{
    const struct gateway_opts *o = &gw->opts;
    t->gw = gw;
    t->index = index;
    if (uv_loop_init(&t->loop) < 0) return -1;
    t->up = calloc(REGISTRY_MAX_NODES, sizeof *t->up);
    t->stats = calloc(REGISTRY_MAX_NODES, sizeof *t->stats);
    struct http_server_limits lim;
    http_server_limits_default(&lim);
    lim.max_body_bytes = o->max_body_bytes;
    uint64_t body_ms = o->body_timeout_us / 1000;
    lim.body_timeout_ms = body_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)body_ms;
    t->srv = http_server_new(&t->loop, &lim);
    if (!t->up || !t->stats || !t->srv) return -1;
    /* the run's seed, one stream per thread and balancer: a seed replays each thread's order */
    uint64_t streams = GATEWAY_MAX_ROUTES + 1;
    balancer_init(&t->bal, o->balance, o->seed, (uint64_t)index * streams);
    for (size_t r = 0; r < o->route_count; r++)
        balancer_init(&t->route_bal[r], o->balance, o->seed, (uint64_t)index * streams + r + 1);
    http_client_opts_default(&t->client_opts);
    t->client_opts.connect_timeout_ms = (uint32_t)(o->connect_timeout_us / 1000);
    t->client_opts.header_timeout_ms = (uint32_t)(o->response_timeout_us / 1000);
    t->client_opts.body_timeout_ms = (uint32_t)(o->response_timeout_us / 1000);
    t->stream_ops.on_head = on_head;
    t->stream_ops.on_body = on_body;
    t->stream_ops.on_written = on_upload_written;
    uv_async_init(&t->loop, &t->wake, on_wake);
    t->wake.data = t;
    uv_timer_init(&t->loop, &t->tick);
    t->tick.data = t;
    uv_timer_start(&t->tick, on_tick, 100, 100);
    gw_admin_routes(t);
    http_server_route_stream(t->srv, NULL, "*", on_proxy, t);
    http_server_set_reuse_port(t->srv, gw->opts.threads > 1);
    return 0;
}

void gw_thread_free(struct gw_thread *t)
{
    if (t->srv) http_server_free(t->srv);
    balancer_free(&t->bal);
    for (size_t r = 0; r < t->gw->opts.route_count; r++)
        balancer_free(&t->route_bal[r]);
    while (t->free_requests) {
        struct gw_request *gr = t->free_requests;
        t->free_requests = gr->next_free;
        buf_free(&gr->out);
        buf_free(&gr->body);
        free(gr);
    }
    buf_free(&t->scratch);
    free(t->up);
    free(t->stats);
}
