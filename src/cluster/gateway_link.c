/* gateway_link.c -- the supervisor adds and removes scaled replicas at its gateway (see
 * gateway_link.h). */
#include "cluster/gateway_link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/log.h"
#include "cluster/registry.h"
#include "http/client.h"

#define LINK_TIMEOUT_MS 5000
#define LINK_BODY_MAX (64 * 1024) /* one node's JSON, with its metadata */
#define DRAIN_POLL_MS 20

struct gateway_link;

/* What a call's answer goes to (status 0: no answer), besides the log. */
typedef void (*link_answer_fn)(struct gateway_link *l, int status, const char *body, void *data);

/* One admin API call waiting its turn. */
struct link_call {
    char *request; /* the whole HTTP request */
    size_t len;
    char what[96]; /* for the log: "adding api.4" */
    bool quiet;    /* a poll: not logged when it works */
    link_answer_fn answer;
    void *data;
    struct link_call *next;
};

/* A replica waited for: drained (its in-progress count polled until 0) or admitted (its state
 * polled until up and active), until the deadline. */
struct link_drain {
    uv_timer_t timer;
    struct gateway_link *link;
    bool admit;                     /* waiting for it in rotation, not for it idle */
    char id[CLUSTER_NAME_MAX + 16];
    uint64_t deadline_ms;
    void (*done)(void *data);
    void *data;
    struct link_drain *next;
};

struct gateway_link {
    uv_loop_t *loop;
    const struct cluster_spec *spec;
    struct sockaddr_storage addr;
    struct link_call *head, *tail;
    struct http_client *client; /* the call in progress, or NULL */
    struct link_drain *drains;  /* in progress */
};

static void link_next(struct gateway_link *l);

struct gateway_link *gateway_link_new(uv_loop_t *loop, const struct cluster_spec *spec)
{
    if (!spec->gateway.present) return NULL;
    struct gateway_link *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->loop = loop;
    l->spec = spec;
    /* it listens on its host; on every address means on loopback too */
    const char *host = spec->gateway.host[0] ? spec->gateway.host : "127.0.0.1";
    if (strcmp(host, "0.0.0.0") == 0) host = "127.0.0.1";
    if (strcmp(host, "::") == 0) host = "::1";
    if (registry_address_literal(host, spec->gateway.port, &l->addr) < 0)
        registry_address_literal("127.0.0.1", spec->gateway.port, &l->addr);
    return l;
}

bool gateway_link_is_gateway(const struct gateway_link *l, const struct cluster_group *g)
{
    return l && strcmp(g->name, CLUSTER_GATEWAY_GROUP) == 0;
}

bool gateway_link_needed(const struct gateway_link *l, const struct cluster_group *g, int index)
{
    return l && !gateway_link_is_gateway(l, g) && index > g->file_replicas;
}

static void on_client_closed(void *data)
{
    (void)data;
}

static void call_free(struct link_call *c)
{
    free(c->request);
    free(c);
}

static void on_call_done(struct http_client *client, int error,
                         const struct http_client_response *res, void *data)
{
    struct gateway_link *l = data;
    struct link_call *c = l->head;
    if (error != HTTP_CLIENT_OK)
        log_warn("gateway: %s: %s error (it adds what it lacks once it is up again)", c->what,
                 http_client_error_name(error));
    else if (res->status >= 300 && res->status != 404) /* 404: a node already gone */
        log_warn("gateway: %s: %d %.200s", c->what, res->status, res->body ? res->body : "");
    else if (!c->quiet)
        log_info("gateway: %s", c->what);
    http_client_free(client, on_client_closed, NULL);
    l->client = NULL;
    l->head = c->next;
    if (!l->head) l->tail = NULL;
    if (c->answer)
        c->answer(l, error == HTTP_CLIENT_OK ? res->status : 0,
                  error == HTTP_CLIENT_OK && res->body ? res->body : "", c->data);
    call_free(c);
    link_next(l);
}

/* Starts the call at the head of the queue, unless one is in progress. */
static void link_next(struct gateway_link *l)
{
    while (l->head && !l->client) {
        struct http_client_opts o;
        http_client_opts_default(&o);
        o.connect_timeout_ms = o.header_timeout_ms = o.body_timeout_ms = LINK_TIMEOUT_MS;
        o.keep_body = true;
        o.max_body_bytes = LINK_BODY_MAX;
        l->client = http_client_new(l->loop, (struct sockaddr *)&l->addr, NULL, &o, NULL, 0);
        if (l->client &&
            http_client_send(l->client, l->head->request, l->head->len, on_call_done, l) == 0)
            return;
        log_warn("gateway: %s: out of memory", l->head->what);
        if (l->client) http_client_free(l->client, on_client_closed, NULL);
        l->client = NULL;
        struct link_call *c = l->head;
        l->head = c->next;
        if (!l->head) l->tail = NULL;
        if (c->answer) c->answer(l, 0, "", c->data);
        call_free(c);
    }
}

/* Queues "METHOD PATH" with body (may be NULL); its answer goes to answer(data) when not NULL
 * (status 0 when there was none). A call whose what starts with '~' is a poll: logged only
 * when it fails. */
static void link_call(struct gateway_link *l, const char *method, const char *path,
                      const char *body, const char *what, link_answer_fn answer, void *data)
{
    struct link_call *c = calloc(1, sizeof *c);
    struct buf b = {0};
    size_t body_len = body ? strlen(body) : 0;
    buf_printf(&b, "%s %s HTTP/1.1\r\nHost: herd-supervisor\r\nConnection: close\r\n", method,
               path);
    if (l->spec->gateway.token[0])
        buf_printf(&b, "Authorization: Bearer %s\r\n", l->spec->gateway.token);
    if (body) buf_printf(&b, "Content-Type: application/json\r\n");
    buf_printf(&b, "Content-Length: %zu\r\n\r\n%s", body_len, body ? body : "");
    if (!c || !b.data) {
        log_warn("gateway: %s: out of memory", what);
        free(c);
        buf_free(&b);
        if (answer) answer(l, 0, "", data);
        return;
    }
    c->answer = answer;
    c->data = data;
    c->request = b.data;
    c->len = b.len;
    c->quiet = what[0] == '~';
    snprintf(c->what, sizeof c->what, "%s", what + c->quiet);
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    link_next(l);
}

void gateway_link_add(struct gateway_link *l, const struct cluster_group *g, int index)
{
    if (!gateway_link_needed(l, g, index)) return;
    char id[CLUSTER_NAME_MAX + 16], host[64], what[128];
    snprintf(id, sizeof id, "%s.%d", g->name, index);
    cluster_group_host(g, index, host, sizeof host);
    json_t *j = json_pack("{s:s,s:s,s:i,s:s}", "node_id", id, "host", host, "port",
                          cluster_group_port(g, index), "group", g->name);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    snprintf(what, sizeof what, "added %s (scaled beyond the file's %d)", id, g->file_replicas);
    if (body) link_call(l, "POST", "/api/v1/cluster/nodes", body, what, NULL, NULL);
    free(body);
}

void gateway_link_remove(struct gateway_link *l, const struct cluster_group *g, int index)
{
    if (!gateway_link_needed(l, g, index)) return;
    char path[CLUSTER_NAME_MAX + 64], what[128];
    snprintf(path, sizeof path, "/api/v1/cluster/nodes/%s.%d", g->name, index);
    snprintf(what, sizeof what, "removed %s.%d (scaled down)", g->name, index);
    link_call(l, "DELETE", path, NULL, what, NULL, NULL);
}

/* ---- drain ---- */

static void drain_closed(uv_handle_t *h)
{
    free(h->data);
}

/* The drain is over: off the list, its timer closed, done called. */
static void drain_end(struct link_drain *d)
{
    for (struct link_drain **p = &d->link->drains; *p; p = &(*p)->next)
        if (*p == d) {
            *p = d->next;
            break;
        }
    void (*done)(void *) = d->done;
    void *data = d->data;
    uv_close((uv_handle_t *)&d->timer, drain_closed);
    done(data);
}

static void on_drain_poll(uv_timer_t *t);

/* The node's JSON: done when nothing is in progress there (drain) or it is in rotation
 * (admit), else poll again until the deadline. */
static void on_drain_count(struct gateway_link *l, int status, const char *body, void *data)
{
    (void)l;
    struct link_drain *d = data;
    json_t *j = status == 200 ? json_loads(body, 0, NULL) : NULL;
    json_t *count = json_object_get(j, "connections");
    long long in_progress = json_is_integer(count) ? (long long)json_integer_value(count) : -1;
    const char *state = json_string_value(json_object_get(j, "state"));
    const char *admin = json_string_value(json_object_get(j, "admin"));
    bool admitted = state && admin && !strcmp(state, "up") && !strcmp(admin, "active");
    json_decref(j);
    if ((d->admit ? admitted : in_progress == 0) || status == 0 || status == 404) {
        drain_end(d);
        return;
    }
    if (uv_now(d->link->loop) >= d->deadline_ms) {
        if (d->admit)
            log_warn("gateway: %s was not back in rotation by the end of its ready timeout", d->id);
        else
            log_warn("gateway: %s still had %lld requests in progress at the end of its drain",
                     d->id, in_progress);
        drain_end(d);
        return;
    }
    uv_timer_start(&d->timer, on_drain_poll, DRAIN_POLL_MS, 0);
}

static void on_drain_poll(uv_timer_t *t)
{
    struct link_drain *d = t->data;
    char path[CLUSTER_NAME_MAX + 64], what[128];
    snprintf(path, sizeof path, "/api/v1/cluster/nodes/%s", d->id);
    snprintf(what, sizeof what, "~requests in progress at %s", d->id);
    link_call(d->link, "GET", path, NULL, what, on_drain_count, d);
}

/* The drain state was set: wait for the requests in progress, unless the gateway lacks it. */
static void on_drain_set(struct gateway_link *l, int status, const char *body, void *data)
{
    (void)l;
    (void)body;
    struct link_drain *d = data;
    if (status == 200)
        on_drain_poll(&d->timer);
    else
        drain_end(d);
}

/* PUT state of replica index of g; answer as link_call. */
static void set_admin_state(struct gateway_link *l, const struct cluster_group *g, int index,
                            const char *state, link_answer_fn answer, void *data)
{
    char path[CLUSTER_NAME_MAX + 64], what[128], body[64];
    snprintf(path, sizeof path, "/api/v1/cluster/nodes/%s.%d", g->name, index);
    snprintf(what, sizeof what, "%s %s.%d", state, g->name, index);
    snprintf(body, sizeof body, "{\"state\": \"%s\"}", state);
    link_call(l, "PUT", path, body, what, answer, data);
}

/* A wait for replica index of g (see struct link_drain), or NULL when there is nothing to
 * wait for (done called). */
static struct link_drain *wait_new(struct gateway_link *l, const struct cluster_group *g,
                                   int index, bool admit, uint64_t timeout_us,
                                   void (*done)(void *data), void *data)
{
    struct link_drain *d = l && !gateway_link_is_gateway(l, g) ? calloc(1, sizeof *d) : NULL;
    if (!d) {
        done(data);
        return NULL;
    }
    d->link = l;
    d->admit = admit;
    snprintf(d->id, sizeof d->id, "%s.%d", g->name, index);
    d->deadline_ms = uv_now(l->loop) + timeout_us / 1000;
    d->done = done;
    d->data = data;
    uv_timer_init(l->loop, &d->timer);
    d->timer.data = d;
    d->next = l->drains;
    l->drains = d;
    return d;
}

void gateway_link_drain(struct gateway_link *l, const struct cluster_group *g, int index,
                        uint64_t timeout_us, void (*done)(void *data), void *data)
{
    struct link_drain *d = wait_new(l, g, index, false, timeout_us, done, data);
    if (d) set_admin_state(l, g, index, "drain", on_drain_set, d);
}

void gateway_link_wait_admitted(struct gateway_link *l, const struct cluster_group *g, int index,
                                uint64_t timeout_us, void (*done)(void *data), void *data)
{
    struct link_drain *d = wait_new(l, g, index, true, timeout_us, done, data);
    if (d) on_drain_poll(&d->timer);
}

void gateway_link_activate(struct gateway_link *l, const struct cluster_group *g, int index)
{
    if (l && !gateway_link_is_gateway(l, g)) set_admin_state(l, g, index, "active", NULL, NULL);
}

void gateway_link_free(struct gateway_link *l)
{
    if (!l) return;
    while (l->drains) { /* the supervisor is gone: nothing waits for them any more */
        struct link_drain *d = l->drains;
        l->drains = d->next;
        uv_close((uv_handle_t *)&d->timer, drain_closed);
    }
    if (l->client) http_client_free(l->client, on_client_closed, NULL);
    while (l->head) {
        struct link_call *c = l->head;
        l->head = c->next;
        call_free(c);
    }
    free(l);
}
