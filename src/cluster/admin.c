/* admin.c -- the gateway's admin API: cluster status and nodes (the seeds' JSON shapes),
 * registration and heartbeats, operator changes, the event log, config sync with long-poll,
 * and Prometheus metrics. Served by every proxy thread; state lives in the registry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>

#include <jansson.h>

#include "base/mtime.h"
#include "cluster/admin_body.h"
#include "cluster/gateway_int.h"
#include "http/prom.h"
#include "http/resolve.h"

#define LONG_POLL_DEFAULT_MS 30000
#define LONG_POLL_MAX_MS     300000
#define GW_RESOLVE_TIMEOUT_MS 5000 /* a registration's host name lookup */
#define GW_RESOLVING_MAX      64   /* lookups in progress per proxy thread */

static void iso_time(int64_t wall_ms, char *out, size_t size)
{
    time_t sec = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, size - n, ".%03dZ", (int)(wall_ms % 1000));
}

static bool loopback(const char *ip)
{
    return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0 || strcmp(ip, "unix") == 0;
}

/* Admin routes answer loopback clients, or anyone with the token when one is set; with a
 * token, changes need it from everyone. Answers 401/403 and returns false otherwise. */
bool gw_admin_allowed(struct http_request *req, struct gw_thread *t, bool change)
{
    const char *token = t->gw->opts.token;
    char peer[64] = "";
    http_request_peer(req, peer, sizeof peer);
    if (!token[0]) {
        if (loopback(peer)) return true;
        http_respond_error(req, 403, "the admin API answers loopback clients only (no --token)");
        return false;
    }
    if (!change && loopback(peer)) return true;
    if (http_request_bearer_is(req, token)) return true;
    http_response_header(req, "WWW-Authenticate", "Bearer");
    http_respond_error(req, 401, "missing or wrong token (Authorization: Bearer TOKEN)");
    return false;
}

/* Sums node i's counters over every thread. */
static void node_totals(struct gateway *gw, size_t i, struct gw_node_stats *sum)
{
    memset(sum, 0, sizeof *sum);
    for (int k = 0; k < gw->thread_count; k++) {
        struct gw_node_stats *s = &gw->threads[k].stats[i];
        gw_add(&sum->requests, gw_get(&s->requests));
        gw_add(&sum->retried, gw_get(&s->retried));
        gw_add(&sum->resent, gw_get(&s->resent));
        gw_add(&sum->latency_us, gw_get(&s->latency_us));
        gw_add(&sum->in_flight, gw_get(&s->in_flight));
        for (int o = 0; o < GW_OUTCOMES; o++)
            gw_add(&sum->outcomes[o], gw_get(&s->outcomes[o]));
    }
}

static uint64_t node_failures(struct gw_node_stats *s)
{
    uint64_t f = 0;
    for (int o = GW_5XX; o < GW_OUTCOMES; o++) f += gw_get(&s->outcomes[o]);
    return f;
}

static json_t *node_json(struct gateway *gw, size_t i)
{
    const struct registry_node *n = &gw->reg.nodes[i];
    struct gw_node_stats s;
    node_totals(gw, i, &s);
    uint64_t done = 0;
    for (int o = 0; o < GW_OUTCOMES; o++) done += gw_get(&s.outcomes[o]);
    uint64_t failed = node_failures(&s);
    char seen[40];
    iso_time(n->last_seen_wall_ms, seen, sizeof seen);
    json_t *meta = n->metadata ? json_loads(n->metadata, 0, NULL) : NULL;
    const char *state = registry_node_state(n);
    json_t *j = json_pack(
        "{s:{s:s,s:s,s:i,s:i,s:s,s:o},s:s,s:s,s:s,s:b,s:b,s:i,s:s,s:s,s:I,s:f,s:f,s:I,s:I,s:I,"
        "s:{s:f,s:s,s:i,s:i},s:s}",
        "config", "node_id", n->id, "host", n->host, "port", n->port, "weight", n->weight,
        "status", strcmp(state, "up") == 0 ? "active" : state, "metadata",
        meta ? meta : json_object(), "state", state, "admin", registry_admin_name(n->admin),
        "source", registry_source_name(n->source), "up", n->up, "ejected",
        n->ejected, "effective_weight", n->effective_weight, "last_seen", seen, "address",
        n->host, "connections", (json_int_t)gw_get(&s.in_flight), "response_time",
        done ? (double)gw_get(&s.latency_us) / (double)done / 1000.0 : 0.0, "success_rate",
        done ? 100.0 * (double)(done - failed) / (double)done : 100.0, "requests",
        (json_int_t)gw_get(&s.requests), "failures", (json_int_t)failed, "retried",
        (json_int_t)gw_get(&s.retried), "check", "duration_ms", n->check_ms, "error",
        n->check_error, "passes", n->check_ok, "failures", n->check_fail, "group", n->group);
    char why[160];
    if (j) json_object_set_new(j, "resent", json_integer((json_int_t)gw_get(&s.resent)));
    if (j)
        json_object_set_new(j, "reason",
                            json_string(registry_node_reason(n, gw->reg.rise, why, sizeof why)));
    char ip[INET6_ADDRSTRLEN] = "";
    const void *raw = n->addr.ss_family == AF_INET6
                          ? (const void *)&((const struct sockaddr_in6 *)&n->addr)->sin6_addr
                          : (const void *)&((const struct sockaddr_in *)&n->addr)->sin_addr;
    if (j && (n->addr.ss_family == AF_INET || n->addr.ss_family == AF_INET6) &&
        inet_ntop(n->addr.ss_family, raw, ip, sizeof ip))
        json_object_set_new(j, "ip", json_string(ip)); /* where a host name resolved to */
    return j;
}

json_t *gw_admin_unavailable(struct gateway *gw, const char *message, const char *group)
{
    struct registry *reg = &gw->reg;
    json_t *nodes = json_object();
    size_t listed = 0, more = 0;
    bool not_found = false;
    char why[160];
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->count; i++) {
        const struct registry_node *n = &reg->nodes[i];
        if (n->removed || (group && strcmp(n->group, group) != 0)) continue;
        not_found |= !n->up && strstr(n->check_error, " -> 404") != NULL;
        if (listed == GW_UNAVAILABLE_LISTED) {
            more++;
            continue;
        }
        json_object_set_new(nodes, n->id, json_string(registry_node_reason(n, reg->rise, why,
                                                                           sizeof why)));
        listed++;
    }
    pthread_mutex_unlock(&reg->lock);
    json_t *j = json_pack("{s:s,s:o}", "error", message, "nodes", nodes);
    if (j && more) json_object_set_new(j, "more_nodes", json_integer((json_int_t)more));
    if (j && not_found)
        json_object_set_new(
            j, "hint",
            json_string("the health check gets 404: check a path the nodes serve (gateway: "
                        "health: /, or herd gateway --health /)"));
    if (j && !listed)
        json_object_set_new(j, "hint",
                            json_string("the gateway has no node: give it some (gateway: nodes:, "
                                        "--node) or let them register"));
    return j;
}

static void on_nodes(struct http_request *req, void *data)
{
    struct gw_thread *t = data;
    if (!gw_admin_allowed(req, t, false)) return;
    struct registry *reg = &t->gw->reg;
    json_t *nodes = json_object();
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->count; i++)
        if (!reg->nodes[i].removed) json_object_set_new(nodes, reg->nodes[i].id, node_json(t->gw, i));
    pthread_mutex_unlock(&reg->lock);
    http_respond_json(req, 200, json_pack("{s:o}", "nodes", nodes));
}

static int find_node(struct registry *reg, const char *id)
{
    for (size_t i = 0; i < reg->count; i++)
        if (strcmp(reg->nodes[i].id, id) == 0 && !reg->nodes[i].removed) return (int)i;
    return -1;
}

static void on_node(struct http_request *req, void *data)
{
    struct gw_thread *t = data;
    if (!gw_admin_allowed(req, t, false)) return;
    struct registry *reg = &t->gw->reg;
    pthread_mutex_lock(&reg->lock);
    int i = find_node(reg, req->params[0]);
    json_t *j = i >= 0 ? node_json(t->gw, (size_t)i) : NULL;
    pthread_mutex_unlock(&reg->lock);
    if (!j)
        http_respond_error(req, 404, "no such node");
    else
        http_respond_json(req, 200, j);
}

static void on_status(struct http_request *req, void *data)
{
    struct gw_thread *t = data;
    if (!gw_admin_allowed(req, t, false)) return;
    struct gateway *gw = t->gw;
    struct registry *reg = &gw->reg;
    uint64_t total = 0, failed = 0, latency = 0, retries = 0;
    for (int k = 0; k < gw->thread_count; k++) {
        struct gw_thread *th = &gw->threads[k];
        for (int o = 0; o < GW_OUTCOMES; o++) {
            uint64_t v = gw_get(&th->answers[o]);
            total += v;
            if (o >= GW_5XX) failed += v;
        }
        latency += gw_get(&th->latency_sum_us);
        retries += gw_get(&th->retries);
    }
    int nodes = 0, active = 0, failing = 0;
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->count; i++) {
        const struct registry_node *n = &reg->nodes[i];
        if (n->removed) continue;
        nodes++;
        if (registry_node_available(n))
            active++;
        else if (!n->up || n->ejected)
            failing++;
    }
    uint64_t version = reg->config_version;
    pthread_mutex_unlock(&reg->lock);
    char now[40];
    mtime_wall_iso8601(now, sizeof now);
    http_respond_json(
        req, 200,
        json_pack("{s:b,s:{s:s,s:i,s:i,s:i,s:I,s:I,s:I,s:f,s:s},s:{s:s,s:I,s:i,s:I,s:I,s:i}}",
                  "enabled", 1, "status", "cluster_id", "herd", "total_nodes", nodes,
                  "active_nodes", active, "failed_nodes", failing, "total_requests",
                  (json_int_t)total, "successful_requests", (json_int_t)(total - failed),
                  "failed_requests", (json_int_t)failed, "average_response_time",
                  total ? (double)latency / (double)total / 1000.0 : 0.0, "last_updated", now,
                  "gateway", "balance", balancer_name(gw->opts.balance), "seed",
                  (json_int_t)gw->opts.seed, "threads",
                  gw->thread_count, "retries", (json_int_t)retries, "config_version",
                  (json_int_t)version, "port", gw->port));
}

/* ---- registration ---- */

/* Answers a body a decoder refused (rc: -1 or ADMIN_BODY_ENOMEM). */
static void refuse_body(struct http_request *req, int rc, const char *msg)
{
    http_respond_error(req, rc == ADMIN_BODY_ENOMEM ? 500 : 400, msg);
}

/* A registration: what the body asked for, kept while its host name resolves. */
struct gw_registration {
    struct gw_thread *t;
    struct http_request *req;
    struct resolve *lookup;
    char id[REGISTRY_ID_MAX];
    char host[REGISTRY_HOST_MAX];
    char group[ADMIN_GROUP_MAX];
    bool has_group;
    int port, weight;
    enum registry_source source; /* registered (POST /register) or added (POST /nodes) */
    char *metadata; /* JSON text or NULL */
    struct gw_registration *next; /* the thread's registrations resolving */
};

static void registration_free(struct gw_registration *g)
{
    free(g->metadata);
    free(g);
}

/* Takes g off its thread's list of registrations resolving. */
static void registration_unlink(struct gw_registration *g)
{
    struct gw_thread *t = g->t;
    for (struct gw_registration **link = &t->registering; *link; link = &(*link)->next)
        if (*link == g) {
            *link = g->next;
            t->registering_count--;
            return;
        }
}

/* Answers a registration: rc is registry_add's. */
static void registration_answer(struct gw_registration *g, struct http_request *req, int rc,
                                const char *err)
{
    struct gw_thread *t = g->t;
    if (rc >= 0 && g->has_group) registry_set_group(&t->gw->reg, rc, g->group);
    if (rc < 0)
        http_respond_error(req, 400, err);
    else if (g->source == REGISTRY_ADDED) /* no heartbeats to give */
        http_respond_json(req, 201, json_pack("{s:s,s:s}", "node_id", g->id, "source", "added"));
    else
        http_respond_json(req, 201,
                          json_pack("{s:s,s:I,s:I}", "node_id", g->id, "ttl_ms",
                                    (json_int_t)t->gw->reg.ttl_ms, "heartbeat_ms",
                                    (json_int_t)(t->gw->reg.ttl_ms / 3)));
}

static void on_registration_resolved(int status, const struct addrinfo *addrs, void *data)
{
    struct gw_registration *g = data;
    struct http_request *req = g->req;
    registration_unlink(g);
    char err[320];
    if (status == 0) {
        int rc = registry_add_resolved(&g->t->gw->reg, g->id, g->host, addrs, g->port, g->weight,
                                       g->source, g->metadata, err, sizeof err);
        registration_answer(g, req, rc, err);
    } else if (status == UV_ETIMEDOUT) {
        snprintf(err, sizeof err, "host '%s': no answer from the resolver within %d ms", g->host,
                 GW_RESOLVE_TIMEOUT_MS);
        http_respond_error(req, 504, err);
    } else {
        snprintf(err, sizeof err, "cannot resolve host '%s': %s", g->host, uv_strerror(status));
        http_respond_error(req, 400, err);
    }
    registration_free(g);
}

/* The client left while its host name resolved: the answer is dropped with it. */
static void on_registration_abort(struct http_request *req, void *data)
{
    (void)req;
    struct gw_registration *g = data;
    resolve_cancel(g->lookup);
    registration_unlink(g);
    registration_free(g);
}

void gw_admin_stop_registrations(struct gw_thread *t)
{
    while (t->registering) {
        struct gw_registration *g = t->registering;
        resolve_cancel(g->lookup);
        registration_unlink(g);
        http_respond_error(g->req, 503, "the gateway is stopping");
        registration_free(g);
    }
}

/* Registers g's node, at once for an IP address, else once its name resolves on the thread
 * pool (the proxy thread goes on meanwhile); answers the request either way; takes g. */
static void registration_start(struct gw_registration *g, struct http_request *req)
{
    struct gw_thread *t = g->t;
    struct sockaddr_storage literal;
    char err[320];
    if (registry_address_literal(g->host, g->port, &literal) == 0) {
        int rc = registry_add(&t->gw->reg, g->id, g->host, g->port, g->weight, g->source,
                              g->metadata, err, sizeof err);
        registration_answer(g, req, rc, err);
        registration_free(g);
        return;
    }
    if (t->stopping || t->registering_count >= GW_RESOLVING_MAX) {
        http_respond_error(req, 503,
                           t->stopping ? "the gateway is stopping"
                                       : "too many registrations are resolving host names: "
                                         "try again");
        registration_free(g);
        return;
    }
    int error = 0;
    g->req = req;
    g->lookup = resolve_start(&t->loop, g->host, g->port, GW_RESOLVE_TIMEOUT_MS,
                              on_registration_resolved, g, &error);
    if (!g->lookup) {
        snprintf(err, sizeof err, "cannot resolve host '%s': %s", g->host, uv_strerror(error));
        http_respond_error(req, 400, err);
        registration_free(g);
        return;
    }
    g->next = t->registering;
    t->registering = g;
    t->registering_count++;
    http_request_on_abort(req, on_registration_abort, g);
}

/* POST /register (a node registers itself) and POST /nodes (an operator, or herd scale, adds
 * a node that stays until deleted): the same body. */
static void registration_request(struct http_request *req, struct gw_thread *t,
                                 enum registry_source source)
{
    if (!gw_admin_allowed(req, t, true)) return;
    struct admin_register r;
    char msg[256];
    int rc = admin_register_decode(req->body, req->body_len, &r, msg, sizeof msg);
    if (rc < 0) {
        refuse_body(req, rc, msg);
        return;
    }
    struct gw_registration *g = calloc(1, sizeof *g);
    if (!g) {
        admin_register_free(&r);
        http_respond_error(req, 500, "out of memory");
        return;
    }
    g->t = t;
    g->source = source;
    snprintf(g->id, sizeof g->id, "%s", r.node_id);
    if (r.host)
        snprintf(g->host, sizeof g->host, "%s", r.host);
    else if (http_request_peer(req, g->host, sizeof g->host) < 0)
        snprintf(g->host, sizeof g->host, "127.0.0.1");
    g->port = r.port;
    g->weight = r.weight;
    g->has_group = r.has_group;
    snprintf(g->group, sizeof g->group, "%s", r.group);
    g->metadata = r.metadata; /* g takes it */
    r.metadata = NULL;
    admin_register_free(&r);
    registration_start(g, req);
}

static void on_register(struct http_request *req, void *data)
{
    registration_request(req, data, REGISTRY_REGISTERED);
}

static void on_node_add(struct http_request *req, void *data)
{
    registration_request(req, data, REGISTRY_ADDED);
}

static void on_heartbeat(struct http_request *req, void *data)
{
    struct gw_thread *t = data;
    if (!gw_admin_allowed(req, t, true)) return;
    if (registry_heartbeat(&t->gw->reg, req->params[0]) < 0) {
        http_respond_error(req, 404, "unknown node: register again");
        return;
    }
    http_respond_json(req, 200, json_pack("{s:s,s:I}", "node_id", req->params[0], "ttl_ms",
                                          (json_int_t)t->gw->reg.ttl_ms));
}

static void on_deregister(struct http_request *req, void *data)
{
    struct gw_thread *t = data;
    if (!gw_admin_allowed(req, t, true)) return;
    if (registry_remove(&t->gw->reg, req->params[0], "deregistered") < 0)
        http_respond_error(req, 404, "no such node");
    else
        http_respond(req, 204, NULL, NULL, 0);
}

static void on_node_update(struct http_request *req, void *data)
{
    struct gw_thread *t = data;
    if (!gw_admin_allowed(req, t, true)) return;
    struct admin_update u;
    char msg[256];
    if (admin_update_decode(req->body, req->body_len, &u, msg, sizeof msg) < 0) {
        http_respond_error(req, 400, msg);
        return;
    }
    if (registry_set(&t->gw->reg, req->params[0], u.weight, u.has_state ? &u.state : NULL) < 0) {
        http_respond_error(req, 404, "no such node");
        return;
    }
    on_node(req, data);
}

/* ---- events ---- */

static void on_events(struct http_request *req, void *data)
{
    struct gw_thread *t = data;
    if (!gw_admin_allowed(req, t, false)) return;
    char arg[64], node[REGISTRY_ID_MAX] = "";
    uint64_t since = 0;
    if (http_request_query(req, "since", arg, sizeof arg) >= 0) {
        char *end;
        since = strtoull(arg, &end, 10);
        if (!arg[0] || *end) {
            http_respond_error(req, 400, "since: expected an event sequence number");
            return;
        }
    }
    if (http_request_query(req, "node", node, sizeof node) < 0) node[0] = '\0';
    struct registry *reg = &t->gw->reg;
    json_t *list = json_array();
    pthread_mutex_lock(&reg->lock);
    uint64_t last = reg->event_seq;
    uint64_t first = last > REGISTRY_MAX_EVENTS ? last - REGISTRY_MAX_EVENTS + 1 : 1;
    if (since + 1 > first) first = since + 1;
    for (uint64_t s = first; s <= last; s++) {
        const struct registry_event *e = &reg->events[(s - 1) % REGISTRY_MAX_EVENTS];
        if (node[0] && strcmp(node, e->node) != 0) continue;
        char when[40];
        iso_time(e->wall_ms, when, sizeof when);
        json_array_append_new(list, json_pack("{s:I,s:s,s:I,s:s,s:s,s:s}", "seq", (json_int_t)e->seq,
                                              "time", when, "ts_ms", (json_int_t)e->wall_ms, "node",
                                              e->node, "event", e->kind, "detail", e->detail));
    }
    pthread_mutex_unlock(&reg->lock);
    http_respond_json(req, 200, json_pack("{s:o,s:I}", "events", list, "last", (json_int_t)last));
}

/* ---- config sync ---- */

static void respond_config(struct http_request *req, struct registry *reg)
{
    pthread_mutex_lock(&reg->lock);
    json_t *config = json_loads(reg->config, 0, NULL);
    uint64_t version = reg->config_version;
    pthread_mutex_unlock(&reg->lock);
    http_respond_json(req, 200, json_pack("{s:I,s:o}", "version", (json_int_t)version, "config",
                                          config ? config : json_object()));
}

static uint64_t config_version(struct registry *reg)
{
    pthread_mutex_lock(&reg->lock);
    uint64_t v = reg->config_version;
    pthread_mutex_unlock(&reg->lock);
    return v;
}

static void on_config_get(struct http_request *req, void *data)
{
    struct gw_thread *t = data;
    if (!gw_admin_allowed(req, t, false)) return;
    char arg[64];
    if (http_request_query(req, "version", arg, sizeof arg) < 0) {
        respond_config(req, &t->gw->reg);
        return;
    }
    char *end;
    uint64_t version = strtoull(arg, &end, 10);
    if (!arg[0] || *end) {
        http_respond_error(req, 400, "version: expected the version you have");
        return;
    }
    uint64_t wait_us = LONG_POLL_DEFAULT_MS * 1000ULL;
    if (http_request_query(req, "wait", arg, sizeof arg) >= 0 &&
        (mtime_parse_duration_us(arg, &wait_us) < 0 || wait_us > LONG_POLL_MAX_MS * 1000ULL)) {
        http_respond_error(req, 400, "wait: expected a duration up to 300s (30s, 500ms)");
        return;
    }
    if (config_version(&t->gw->reg) != version || t->stopping || wait_us == 0) {
        respond_config(req, &t->gw->reg);
        return;
    }
    struct gw_waiter *w = calloc(1, sizeof *w);
    if (!w) {
        http_respond_error(req, 500, "out of memory");
        return;
    }
    w->req = req;
    w->version = version;
    w->deadline_ms = uv_now(&t->loop) + wait_us / 1000;
    w->next = t->waiters;
    t->waiters = w;
}

static void on_config_put(struct http_request *req, void *data)
{
    struct gw_thread *t = data;
    if (!gw_admin_allowed(req, t, true)) return;
    char *text, msg[256];
    int rc = admin_config_decode(req->body, req->body_len, &text, msg, sizeof msg);
    if (rc < 0) {
        refuse_body(req, rc, msg);
        return;
    }
    uint64_t version = registry_config_put(&t->gw->reg, text);
    free(text);
    for (int k = 0; k < t->gw->thread_count; k++)
        uv_async_send(&t->gw->threads[k].wake);
    http_respond_json(req, 200, json_pack("{s:I}", "version", (json_int_t)version));
}

void gw_admin_wake_waiters(struct gw_thread *t, bool all)
{
    if (!t->waiters) return;
    uint64_t version = config_version(&t->gw->reg), now = uv_now(&t->loop);
    struct gw_waiter **link = &t->waiters;
    while (*link) {
        struct gw_waiter *w = *link;
        if (all || w->version != version || now >= w->deadline_ms ||
            http_request_aborted(w->req)) {
            *link = w->next;
            respond_config(w->req, &t->gw->reg);
            free(w);
            continue;
        }
        link = &w->next;
    }
}

/* ---- metrics ---- */

static void on_metrics(struct http_request *req, void *data)
{
    struct gw_thread *t = data;
    if (!gw_admin_allowed(req, t, false)) return;
    struct gateway *gw = t->gw;
    struct registry *reg = &gw->reg;
    struct buf b = {0};
    uint64_t answers[GW_OUTCOMES] = {0}, buckets[GW_LATENCY_BUCKETS] = {0}, sum = 0, requests = 0,
             retries = 0, no_node = 0, aborted = 0;
    for (int k = 0; k < gw->thread_count; k++) {
        struct gw_thread *th = &gw->threads[k];
        for (int o = 0; o < GW_OUTCOMES; o++) answers[o] += gw_get(&th->answers[o]);
        for (int i = 0; i < GW_LATENCY_BUCKETS; i++) buckets[i] += gw_get(&th->latency_buckets[i]);
        sum += gw_get(&th->latency_sum_us);
        requests += gw_get(&th->requests);
        retries += gw_get(&th->retries);
        no_node += gw_get(&th->no_node);
        aborted += gw_get(&th->aborted);
    }
    buf_printf(&b, "# HELP herd_gateway_requests_total Client requests received.\n"
                   "# TYPE herd_gateway_requests_total counter\n"
                   "herd_gateway_requests_total %llu\n",
               (unsigned long long)requests);
    buf_printf(&b, "# HELP herd_gateway_responses_total Client requests answered, by outcome.\n"
                   "# TYPE herd_gateway_responses_total counter\n");
    for (int o = 0; o < GW_OUTCOMES; o++)
        buf_printf(&b, "herd_gateway_responses_total{outcome=\"%s\"} %llu\n", gw_outcome_names[o],
                   (unsigned long long)answers[o]);
    buf_printf(&b,
               "# HELP herd_gateway_retries_total Attempts sent to another node after a failure.\n"
               "# TYPE herd_gateway_retries_total counter\nherd_gateway_retries_total %llu\n"
               "# HELP herd_gateway_no_node_total Requests answered 503: no node available.\n"
               "# TYPE herd_gateway_no_node_total counter\nherd_gateway_no_node_total %llu\n"
               "# HELP herd_gateway_client_aborts_total Clients that left mid-request.\n"
               "# TYPE herd_gateway_client_aborts_total counter\n"
               "herd_gateway_client_aborts_total %llu\n",
               (unsigned long long)retries, (unsigned long long)no_node,
               (unsigned long long)aborted);
    buf_printf(&b, "# HELP herd_gateway_request_duration_seconds Client request duration.\n"
                   "# TYPE herd_gateway_request_duration_seconds histogram\n");
    uint64_t cumulative = 0, count = 0;
    for (int i = 0; i < GW_LATENCY_BUCKETS; i++) count += buckets[i];
    for (int i = 0; i < GW_LATENCY_BUCKETS - 1; i++) {
        cumulative += buckets[i];
        buf_printf(&b, "herd_gateway_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                   gw_latency_bounds[i], (unsigned long long)cumulative);
    }
    buf_printf(&b,
               "herd_gateway_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
               "herd_gateway_request_duration_seconds_sum %.6f\n"
               "herd_gateway_request_duration_seconds_count %llu\n",
               (unsigned long long)count, (double)sum / 1e6, (unsigned long long)count);
    static const char *const node_help =
        "# HELP herd_gateway_node_up 1 when the node takes requests.\n"
        "# TYPE herd_gateway_node_up gauge\n"
        "# HELP herd_gateway_node_weight The node's configured weight.\n"
        "# TYPE herd_gateway_node_weight gauge\n"
        "# HELP herd_gateway_node_in_flight Requests in progress at the node.\n"
        "# TYPE herd_gateway_node_in_flight gauge\n"
        "# HELP herd_gateway_node_requests_total Attempts sent to the node, by outcome.\n"
        "# TYPE herd_gateway_node_requests_total counter\n"
        "# HELP herd_gateway_node_resent_total Attempts sent again on a new connection: a "
        "kept-alive one was closed unanswered.\n"
        "# TYPE herd_gateway_node_resent_total counter\n";
    buf_append_str(&b, node_help);
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->count; i++) {
        const struct registry_node *n = &reg->nodes[i];
        if (n->removed) continue;
        struct gw_node_stats s;
        node_totals(gw, i, &s);
        char id[REGISTRY_ID_MAX * 2 + 1];
        prom_label_escape(n->id, id, sizeof id);
        buf_printf(&b, "herd_gateway_node_up{node=\"%s\",state=\"%s\"} %d\n", id,
                   registry_node_state(n), registry_node_available(n) ? 1 : 0);
        buf_printf(&b, "herd_gateway_node_weight{node=\"%s\"} %d\n", id, n->weight);
        buf_printf(&b, "herd_gateway_node_in_flight{node=\"%s\"} %llu\n", id,
                   (unsigned long long)gw_get(&s.in_flight));
        for (int o = 0; o < GW_OUTCOMES; o++)
            buf_printf(&b, "herd_gateway_node_requests_total{node=\"%s\",outcome=\"%s\"} %llu\n",
                       id, gw_outcome_names[o], (unsigned long long)gw_get(&s.outcomes[o]));
        buf_printf(&b, "herd_gateway_node_resent_total{node=\"%s\"} %llu\n", id,
                   (unsigned long long)gw_get(&s.resent));
    }
    pthread_mutex_unlock(&reg->lock);
    http_respond(req, 200, PROM_CONTENT_TYPE, b.data, b.len);
    buf_free(&b);
}

void gw_admin_routes(struct gw_thread *t)
{
    struct http_server *s = t->srv;
    http_server_route(s, "GET", "/api/v1/cluster/status", on_status, t);
    http_server_route(s, "GET", "/api/v1/cluster/nodes", on_nodes, t);
    http_server_route(s, "POST", "/api/v1/cluster/nodes", on_node_add, t);
    http_server_route(s, "POST", "/api/v1/cluster/register", on_register, t);
    http_server_route(s, "PUT", "/api/v1/cluster/nodes/{id}/heartbeat", on_heartbeat, t);
    http_server_route(s, "GET", "/api/v1/cluster/nodes/{id}", on_node, t);
    http_server_route(s, "PUT", "/api/v1/cluster/nodes/{id}", on_node_update, t);
    http_server_route(s, "DELETE", "/api/v1/cluster/nodes/{id}", on_deregister, t);
    http_server_route(s, "GET", "/api/v1/cluster/events", on_events, t);
    http_server_route(s, "GET", "/api/v1/cluster/config", on_config_get, t);
    http_server_route(s, "PUT", "/api/v1/cluster/config", on_config_put, t);
    http_server_route(s, "GET", "/metrics", on_metrics, t);
}
