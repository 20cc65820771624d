/* member.c -- a node's membership of a gateway's cluster (see member.h). */
#include "node/member.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "http/client.h"
#include "http/url.h"

#define RETRY_FIRST_MS     200
#define RETRY_MAX_MS       5000
#define LONG_POLL_WAIT     "25s"
#define LONG_POLL_TIMEOUT  35000
#define FORWARD_TIMEOUT_MS 2000
#define LEAVE_TIMEOUT_MS   500
/* the heartbeat period a gateway asks for is held to this range (its ttl is 100 ms..24 h and
 * it asks for a third of it); none given: the default */
#define HEARTBEAT_MIN_MS     10
#define HEARTBEAT_MAX_MS     60000
#define HEARTBEAT_DEFAULT_MS 1000

struct member {
    uv_loop_t *loop;
    struct url url;
    struct sockaddr_storage addr;
    char node_id[128];
    char host[64];
    char token[128];
    char group[64];
    int port, weight;
    struct http_client *reg_client; /* register, heartbeat, deregister: one at a time */
    struct http_client *cfg_client; /* the config long-poll */
    uv_timer_t timer;               /* next register or heartbeat */
    uv_timer_t cfg_timer;           /* next config poll after a failure */
    bool registered;
    bool stopping;
    uint64_t heartbeat_ms;
    uint64_t backoff_ms;
    uint64_t config_version;
    char *config;
    int open; /* handles and clients not yet closed */
    void (*done)(void *data);
    void *done_data;
    struct buf req;
};

static void schedule(struct member *m, uint64_t ms);

/* Formats a request to the gateway into m->req (or another buffer). */
static void format_request(const struct member *m, struct buf *b, const char *method,
                           const char *path, const char *body)
{
    buf_reset(b);
    buf_printf(b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: herd-node\r\n", method, path,
               m->url.authority);
    if (m->token[0]) buf_printf(b, "Authorization: Bearer %s\r\n", m->token);
    if (body)
        buf_printf(b, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                   strlen(body), body);
    else
        buf_append_str(b, "\r\n");
}

static struct http_client *client_new(struct member *m, uint32_t timeout_ms, bool keep_body)
{
    struct http_client_opts o;
    http_client_opts_default(&o);
    o.connect_timeout_ms = timeout_ms < 2000 ? timeout_ms : 2000;
    o.header_timeout_ms = o.body_timeout_ms = timeout_ms;
    o.keep_body = keep_body;
    char err[128];
    return http_client_new(m->loop, (struct sockaddr *)&m->addr, NULL, &o, err, sizeof err);
}

static void release(struct member *m)
{
    if (--m->open > 0) return;
    void (*done)(void *) = m->done;
    void *data = m->done_data;
    buf_free(&m->req);
    free(m->config);
    free(m);
    if (done) done(data);
}

static void on_handle_closed(uv_handle_t *h)
{
    release(h->data);
}

static void on_client_freed(void *data)
{
    release(data);
}

/* ---- register and heartbeat ---- */

static void on_registered(struct http_client *c, int error, const struct http_client_response *res,
                          void *data)
{
    (void)c;
    struct member *m = data;
    if (error == HTTP_CLIENT_OK && res->status == 201) {
        json_t *j = json_loads(res->body ? res->body : "", 0, NULL);
        json_int_t hb = json_integer_value(json_object_get(j, "heartbeat_ms"));
        json_decref(j);
        m->heartbeat_ms = hb <= 0                 ? HEARTBEAT_DEFAULT_MS
                          : hb < HEARTBEAT_MIN_MS ? HEARTBEAT_MIN_MS
                          : hb > HEARTBEAT_MAX_MS ? HEARTBEAT_MAX_MS
                                                  : (uint64_t)hb;
        if (!m->registered) log_info("registered with %s", m->url.authority);
        m->registered = true;
        m->backoff_ms = RETRY_FIRST_MS;
        schedule(m, m->heartbeat_ms);
        return;
    }
    if (error == HTTP_CLIENT_OK)
        log_warn("registration refused by %s: status %d %s", m->url.authority, res->status,
                 res->body ? res->body : "");
    schedule(m, m->backoff_ms);
    m->backoff_ms = m->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : m->backoff_ms * 2;
}

static void send_register(struct member *m)
{
    const char *host = m->host[0] && strcmp(m->host, "0.0.0.0") != 0 && strcmp(m->host, "::") != 0
                           ? m->host
                           : NULL;
    json_t *body =
        json_pack("{s:s,s:s?,s:i,s:i,s:{s:s,s:s},s:s?}", "node_id", m->node_id, "host", host,
                  "port", m->port, "weight", m->weight, "metadata", "service", "herd-node",
                  "version", HERD_VERSION, "group", m->group[0] ? m->group : NULL);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    format_request(m, &m->req, "POST", "/api/v1/cluster/register", text ? text : "{}");
    free(text);
    http_client_send(m->reg_client, m->req.data, m->req.len, on_registered, m);
}

static void on_heartbeat(struct http_client *c, int error, const struct http_client_response *res,
                         void *data)
{
    (void)c;
    struct member *m = data;
    if (error == HTTP_CLIENT_OK && res->status == 200) {
        schedule(m, m->heartbeat_ms);
        return;
    }
    if (error == HTTP_CLIENT_OK && res->status == 404) { /* the gateway forgot us: again */
        log_info("the gateway no longer knows this node: registering again");
        m->registered = false;
        send_register(m);
        return;
    }
    schedule(m, m->heartbeat_ms); /* unreachable: keep trying at the same pace */
}

static void on_timer(uv_timer_t *t)
{
    struct member *m = t->data;
    if (m->stopping) return;
    if (!m->registered) {
        send_register(m);
        return;
    }
    char path[256];
    snprintf(path, sizeof path, "/api/v1/cluster/nodes/%s/heartbeat", m->node_id);
    format_request(m, &m->req, "PUT", path, "{}");
    http_client_send(m->reg_client, m->req.data, m->req.len, on_heartbeat, m);
}

static void schedule(struct member *m, uint64_t ms)
{
    if (!m->stopping) uv_timer_start(&m->timer, on_timer, ms, 0);
}

/* ---- config long-poll ---- */

static void poll_config(struct member *m);

static void on_cfg_timer(uv_timer_t *t)
{
    poll_config(t->data);
}

static void on_config(struct http_client *c, int error, const struct http_client_response *res,
                      void *data)
{
    (void)c;
    struct member *m = data;
    if (m->stopping) return;
    json_t *j = error == HTTP_CLIENT_OK && res->status == 200 && res->body
                    ? json_loads(res->body, 0, NULL)
                    : NULL;
    json_t *version = json_object_get(j, "version"), *config = json_object_get(j, "config");
    if (!json_is_integer(version) || !json_is_object(config)) {
        json_decref(j);
        uv_timer_start(&m->cfg_timer, on_cfg_timer, 1000, 0);
        return;
    }
    uint64_t v = (uint64_t)json_integer_value(version);
    if (v != m->config_version) {
        char *text = json_dumps(config, JSON_COMPACT);
        if (text) {
            free(m->config);
            m->config = text;
            m->config_version = v;
            log_info("config version %llu", (unsigned long long)v);
        }
    }
    json_decref(j);
    poll_config(m);
}

static void poll_config(struct member *m)
{
    if (m->stopping) return;
    char path[128];
    snprintf(path, sizeof path, "/api/v1/cluster/config?version=%llu&wait=%s",
             (unsigned long long)m->config_version, LONG_POLL_WAIT);
    struct buf b = {0};
    format_request(m, &b, "GET", path, NULL);
    http_client_send(m->cfg_client, b.data, b.len, on_config, m);
    buf_free(&b);
}

/* ---- forwarding a view ---- */

struct forward {
    struct http_request *req;
    void (*fallback)(struct http_request *req, void *data);
    void *data;
};

static void on_forward_freed(void *data)
{
    free(data);
}

static void on_forwarded(struct http_client *c, int error, const struct http_client_response *res,
                         void *data)
{
    struct forward *f = data;
    if (error == HTTP_CLIENT_OK && res->status == 200 && !res->body_truncated)
        http_respond(f->req, 200, "application/json", res->body, res->body_len);
    else
        f->fallback(f->req, f->data);
    http_client_free(c, on_forward_freed, f);
}

void member_forward(struct member *m, const char *path, struct http_request *req,
                    void (*fallback)(struct http_request *req, void *data), void *data)
{
    struct forward *f = calloc(1, sizeof *f);
    struct http_client *c = f ? client_new(m, FORWARD_TIMEOUT_MS, true) : NULL;
    if (!c) {
        free(f);
        fallback(req, data);
        return;
    }
    *f = (struct forward){req, fallback, data};
    struct buf b = {0};
    format_request(m, &b, "GET", path, NULL);
    http_client_send(c, b.data, b.len, on_forwarded, f);
    buf_free(&b);
}

/* ---- life ---- */

struct member *member_start(uv_loop_t *loop, const struct member_config *cfg, char *err,
                            size_t errlen)
{
    struct member *m = calloc(1, sizeof *m);
    if (!m) {
        err_set(err, errlen, "out of memory");
        return NULL;
    }
    m->loop = loop;
    if (url_parse(&m->url, cfg->manager_url, err, errlen) < 0 ||
        url_resolve(&m->url, &m->addr, err, errlen) < 0) {
        free(m);
        return NULL;
    }
    if (m->url.tls) {
        err_set(err, errlen, "cluster manager: https is not supported, use http://");
        free(m);
        return NULL;
    }
    snprintf(m->node_id, sizeof m->node_id, "%s", cfg->node_id);
    snprintf(m->host, sizeof m->host, "%s", cfg->host ? cfg->host : "");
    snprintf(m->token, sizeof m->token, "%s", cfg->token ? cfg->token : "");
    snprintf(m->group, sizeof m->group, "%s", cfg->group ? cfg->group : "");
    m->port = cfg->port;
    m->weight = cfg->weight;
    m->config = strdup("{}");
    m->backoff_ms = RETRY_FIRST_MS;
    m->reg_client = client_new(m, 2000, true);
    m->cfg_client = client_new(m, LONG_POLL_TIMEOUT, true);
    if (!m->config || !m->reg_client || !m->cfg_client) {
        err_set(err, errlen, "out of memory");
        http_client_free(m->reg_client, NULL, NULL);
        http_client_free(m->cfg_client, NULL, NULL);
        free(m->config);
        free(m);
        return NULL;
    }
    uv_timer_init(loop, &m->timer);
    uv_timer_init(loop, &m->cfg_timer);
    m->timer.data = m->cfg_timer.data = m;
    m->open = 4;
    uv_timer_start(&m->timer, on_timer, 0, 0);
    poll_config(m);
    return m;
}

static void close_all(struct member *m)
{
    http_client_free(m->reg_client, on_client_freed, m);
    http_client_free(m->cfg_client, on_client_freed, m);
    uv_close((uv_handle_t *)&m->timer, on_handle_closed);
    uv_close((uv_handle_t *)&m->cfg_timer, on_handle_closed);
}

static void on_left(struct http_client *c, int error, const struct http_client_response *res,
                    void *data)
{
    (void)c;
    (void)error;
    (void)res;
    close_all(data);
}

void member_stop(struct member *m, void (*done)(void *data), void *data)
{
    m->stopping = true;
    m->done = done;
    m->done_data = data;
    uv_timer_stop(&m->timer);
    uv_timer_stop(&m->cfg_timer);
    if (!m->registered) {
        close_all(m);
        return;
    }
    /* a fresh client: the registration one may be mid-heartbeat */
    http_client_free(m->reg_client, on_client_freed, m);
    m->open++;
    m->reg_client = client_new(m, LEAVE_TIMEOUT_MS, false);
    if (!m->reg_client) {
        m->open--;
        close_all(m);
        return;
    }
    char path[256];
    snprintf(path, sizeof path, "/api/v1/cluster/nodes/%s", m->node_id);
    format_request(m, &m->req, "DELETE", path, NULL);
    m->registered = false;
    http_client_send(m->reg_client, m->req.data, m->req.len, on_left, m);
}

bool member_registered(const struct member *m)
{
    return m->registered;
}

uint64_t member_config_version(const struct member *m)
{
    return m->config_version;
}

const char *member_config(const struct member *m)
{
    return m->config;
}
