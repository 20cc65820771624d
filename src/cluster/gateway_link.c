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

/* One admin API call waiting its turn. */
struct link_call {
    char *request; /* the whole HTTP request */
    size_t len;
    char what[96]; /* for the log: "adding api.4" */
    struct link_call *next;
};

struct gateway_link {
    uv_loop_t *loop;
    const struct cluster_spec *spec;
    struct sockaddr_storage addr;
    struct link_call *head, *tail;
    struct http_client *client; /* the call in progress, or NULL */
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
    else
        log_info("gateway: %s", c->what);
    http_client_free(client, on_client_closed, NULL);
    l->client = NULL;
    l->head = c->next;
    if (!l->head) l->tail = NULL;
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
        o.max_body_bytes = 1024;
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
        call_free(c);
    }
}

/* Queues "METHOD PATH" with body (may be NULL). */
static void link_call(struct gateway_link *l, const char *method, const char *path,
                      const char *body, const char *what)
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
        return;
    }
    c->request = b.data;
    c->len = b.len;
    snprintf(c->what, sizeof c->what, "%s", what);
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
    if (body) link_call(l, "POST", "/api/v1/cluster/nodes", body, what);
    free(body);
}

void gateway_link_remove(struct gateway_link *l, const struct cluster_group *g, int index)
{
    if (!gateway_link_needed(l, g, index)) return;
    char path[CLUSTER_NAME_MAX + 64], what[128];
    snprintf(path, sizeof path, "/api/v1/cluster/nodes/%s.%d", g->name, index);
    snprintf(what, sizeof what, "removed %s.%d (scaled down)", g->name, index);
    link_call(l, "DELETE", path, NULL, what);
}

void gateway_link_free(struct gateway_link *l)
{
    if (!l) return;
    if (l->client) http_client_free(l->client, on_client_closed, NULL);
    while (l->head) {
        struct link_call *c = l->head;
        l->head = c->next;
        call_free(c);
    }
    free(l);
}
