/* node.c -- `herd node`, the demo service: health, cluster view, KV store, fault knobs. */
#include "node/node.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mtime.h"
#include "conf/conf.h"
#include "http/json_body.h"
#include "http/url.h"
#include "node/kv.h"
#include "node/member.h"
#include "node/repl.h"

struct node;
typedef void (*node_handler_fn)(struct node *n, struct http_request *req);

struct node_route {
    struct node *node;
    node_handler_fn fn;
    bool admin;   /* fault knobs do not apply */
    bool guarded; /* steers the node or reads its replication: the cluster token, when set */
};

struct node {
    struct node_config cfg;
    uv_loop_t *loop;
    struct http_server *srv;
    struct kv_store kv;
    struct node_fault fault;
    uint64_t rng;
    char started_at[40];
    /* counters of every answer the node gave */
    uint64_t total, succeeded, failed, latency_sum_us;
    /* /health body, rebuilt at most once a second */
    struct buf health;
    struct buf root; /* GET /'s answer, made at the first one */
    uint64_t health_sec;
    size_t health_kv_count;
    struct member *member; /* with a cluster manager */
    struct repl *repl;     /* KV replication */
    struct node_route routes[24];
    size_t route_count;
    size_t delayed; /* timers in flight */
    void (*stopped_fn)(void *data);
    void *stopped_data;
    bool stopping;
};

/* One answer held back by /delay or the latency fault. */
struct node_delay {
    uv_timer_t timer;
    struct node *node;
    struct http_request *req;
    node_handler_fn then; /* NULL: answer 200 {"delayed_ms": ...} */
    uint64_t ms;
};

/* ---- configuration ---- */

void node_config_default(struct node_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->host, sizeof cfg->host, "127.0.0.1");
    cfg->port = 8080;
    snprintf(cfg->cluster_id, sizeof cfg->cluster_id, "herd-cluster");
    snprintf(cfg->node_header, sizeof cfg->node_header, "X-Herd-Node");
    cfg->weight = 100;
    cfg->stop_grace_us = 30 * 1000000ull;
    cfg->log_level = LOG_LEVEL_INFO;
    http_server_limits_default(&cfg->limits);
}

static int copy_string(const struct conf_doc *doc, const struct conf_node *map, const char *key,
                       char *dst, size_t size, char *err, size_t errlen)
{
    const struct conf_node *n = conf_get(map, key);
    const char *s;
    if (!n) return 0;
    if (conf_to_string(doc, n, &s, err, errlen) < 0) return -1;
    if (strlen(s) >= size)
        return conf_error(doc, n, err, errlen, "longer than %zu characters", size - 1);
    snprintf(dst, size, "%s", s);
    return 0;
}

static int load_limits(const struct conf_doc *doc, const struct conf_node *m,
                       struct http_server_limits *lim, char *err, size_t errlen)
{
    static const char *const keys[] = {"max_header_bytes", "max_body_bytes",  "max_output_bytes",
                                       "header_timeout",   "body_timeout",    "idle_timeout",
                                       "write_timeout",    "max_connections", NULL};
    uint64_t hb = lim->max_header_bytes, bb = lim->max_body_bytes, ob = lim->max_output_bytes;
    long long mc = lim->max_connections;
    uint64_t ht = lim->header_timeout_ms * 1000ull, bt = lim->body_timeout_ms * 1000ull,
             it = lim->idle_timeout_ms * 1000ull, wt = lim->write_timeout_ms * 1000ull;
    if (conf_check_keys(doc, m, keys, err, errlen) < 0 ||
        conf_opt_size(doc, m, "max_header_bytes", 256, 1 << 20, &hb, err, errlen) < 0 ||
        conf_opt_size(doc, m, "max_body_bytes", 0, 1 << 30, &bb, err, errlen) < 0 ||
        conf_opt_size(doc, m, "max_output_bytes", 4096, 1 << 30, &ob, err, errlen) < 0 ||
        conf_opt_int(doc, m, "max_connections", 1, 1 << 20, &mc, err, errlen) < 0 ||
        conf_opt_duration_us(doc, m, "header_timeout", 1000, 3600e6, &ht, err, errlen) < 0 ||
        conf_opt_duration_us(doc, m, "body_timeout", 1000, 3600e6, &bt, err, errlen) < 0 ||
        conf_opt_duration_us(doc, m, "idle_timeout", 1000, 3600e6, &it, err, errlen) < 0 ||
        conf_opt_duration_us(doc, m, "write_timeout", 0, 3600e6, &wt, err, errlen) < 0)
        return -1;
    const struct conf_node *w = conf_get(m, "write_timeout");
    if (w && wt > 0 && wt < 1000) /* 0 is "none"; anything else counts in whole milliseconds */
        return conf_error(doc, w, err, errlen,
                          "'%s': expected a duration of 0 (none) or from 1ms to 1h", w->value);
    lim->max_header_bytes = (size_t)hb;
    lim->max_body_bytes = (size_t)bb;
    lim->max_output_bytes = (size_t)ob;
    lim->max_connections = (uint32_t)mc;
    lim->header_timeout_ms = (uint32_t)(ht / 1000);
    lim->body_timeout_ms = (uint32_t)(bt / 1000);
    lim->idle_timeout_ms = (uint32_t)(it / 1000);
    lim->write_timeout_ms = (uint32_t)(wt / 1000);
    return 0;
}

/* peers: "IP:PORT,..." or a list of "IP:PORT". */
static int load_peers(const struct conf_doc *doc, const struct conf_node *n,
                      struct node_config *cfg, char *err, size_t errlen)
{
    struct buf list = {0};
    const char *s;
    char why[ERR_SIZE];
    int rc = 0;
    if (n->type == CONF_SEQ) {
        for (const struct conf_node *item = n->first; item && rc == 0; item = item->next) {
            if (conf_to_string(doc, item, &s, err, errlen) < 0)
                rc = -1;
            else if (repl_peers_check(s, why, sizeof why) < 0 || strchr(s, ','))
                rc = conf_error(doc, item, err, errlen, "expected IP:PORT (127.0.0.1:8081)");
            else
                buf_printf(&list, "%s%s", list.len ? "," : "", s);
        }
    } else if (conf_to_string(doc, n, &s, err, errlen) < 0) {
        rc = -1;
    } else if (repl_peers_check(s, why, sizeof why) < 0) {
        rc = conf_error(doc, n, err, errlen, "%s", why + strlen("peers: "));
    } else {
        buf_append_str(&list, s);
    }
    if (rc == 0 && list.len >= sizeof cfg->peers)
        rc = conf_error(doc, n, err, errlen, "longer than %zu characters", sizeof cfg->peers - 1);
    if (rc == 0) snprintf(cfg->peers, sizeof cfg->peers, "%s", list.data ? list.data : "");
    buf_free(&list);
    return rc;
}

int node_config_load(struct node_config *cfg, const char *path, char *err, size_t errlen)
{
    static const char *const keys[] = {
        "port",        "host",   "node_id",   "cluster_manager_url", "cluster_token", "cluster_id",
        "node_header", "weight", "log_level", "stop_grace",          "limits",        "peers",
        "peers_file",  NULL};
    struct conf_doc doc;
    if (conf_load_file(&doc, path, err, errlen) < 0) return -1;
    int rc = -1;
    const struct conf_node *root = doc.root, *n;
    long long port = cfg->port, weight = cfg->weight;
    if (!root) {
        err_set(err, errlen, "%s:1:1: (top level): the file is empty, expected a mapping", path);
        goto out;
    }
    if (conf_check_keys(&doc, root, keys, err, errlen) < 0 ||
        conf_opt_int(&doc, root, "port", 0, 65535, &port, err, errlen) < 0 ||
        conf_opt_int(&doc, root, "weight", 0, 100, &weight, err, errlen) < 0 ||
        copy_string(&doc, root, "cluster_token", cfg->cluster_token, sizeof cfg->cluster_token, err,
                    errlen) < 0 ||
        copy_string(&doc, root, "host", cfg->host, sizeof cfg->host, err, errlen) < 0 ||
        copy_string(&doc, root, "node_id", cfg->node_id, sizeof cfg->node_id, err, errlen) < 0 ||
        copy_string(&doc, root, "cluster_manager_url", cfg->cluster_manager_url,
                    sizeof cfg->cluster_manager_url, err, errlen) < 0 ||
        copy_string(&doc, root, "cluster_id", cfg->cluster_id, sizeof cfg->cluster_id, err,
                    errlen) < 0 ||
        copy_string(&doc, root, "node_header", cfg->node_header, sizeof cfg->node_header, err,
                    errlen) < 0 ||
        copy_string(&doc, root, "peers_file", cfg->peers_file, sizeof cfg->peers_file, err,
                    errlen) < 0 ||
        conf_opt_duration_us(&doc, root, "stop_grace", 0, 3600e6, &cfg->stop_grace_us, err,
                             errlen) < 0)
        goto out;
    if ((n = conf_get(root, "log_level"))) {
        const char *s;
        if (conf_to_string(&doc, n, &s, err, errlen) < 0) goto out;
        if (log_level_parse(s, &cfg->log_level) < 0) {
            conf_error(&doc, n, err, errlen,
                       "'%s' is not a log level, expected error, warn, info or debug", s);
            goto out;
        }
    }
    if ((n = conf_get(root, "peers")) && load_peers(&doc, n, cfg, err, errlen) < 0) goto out;
    if ((n = conf_get(root, "limits")) && load_limits(&doc, n, &cfg->limits, err, errlen) < 0)
        goto out;
    if ((n = conf_get(root, "host"))) {
        struct sockaddr_storage a;
        if (uv_ip4_addr(cfg->host, 0, (struct sockaddr_in *)&a) != 0 &&
            uv_ip6_addr(cfg->host, 0, (struct sockaddr_in6 *)&a) != 0) {
            conf_error(&doc, n, err, errlen,
                       "'%s' is not an IP address, expected e.g. 127.0.0.1 or ::1", cfg->host);
            goto out;
        }
    }
    cfg->port = (int)port;
    cfg->weight = (int)weight;
    rc = 0;
out:
    conf_free(&doc);
    return rc;
}

int node_config_env(struct node_config *cfg, char *err, size_t errlen)
{
    const char *v;
    if ((v = getenv("SERVER_PORT")) && *v) {
        char *end;
        errno = 0;
        long port = strtol(v, &end, 10);
        if (*end || errno || port < 0 || port > 65535)
            return err_set(err, errlen, "SERVER_PORT='%s': expected a port from 0 to 65535", v);
        cfg->port = (int)port;
    }
    if ((v = getenv("HERD_ADVERTISE_PORT")) && *v) {
        char *end;
        errno = 0;
        long port = strtol(v, &end, 10);
        if (*end || errno || port < 1 || port > 65535)
            return err_set(err, errlen, "HERD_ADVERTISE_PORT='%s': expected a port from 1 to 65535",
                           v);
        cfg->advertise_port = (int)port;
    }
    if ((v = getenv("HERD_HOST")) && *v) { /* set by the supervisor in a network namespace */
        if (strlen(v) >= sizeof cfg->host) return err_set(err, errlen, "HERD_HOST: too long");
        snprintf(cfg->host, sizeof cfg->host, "%s", v);
    }
    if ((v = getenv("NODE_ID")) && *v) {
        if (strlen(v) >= sizeof cfg->node_id)
            return err_set(err, errlen, "NODE_ID: longer than %zu characters",
                           sizeof cfg->node_id - 1);
        snprintf(cfg->node_id, sizeof cfg->node_id, "%s", v);
    }
    static const char *const token_vars[] = {"CLUSTER_TOKEN", "HERD_TOKEN"};
    for (size_t i = 0; i < 2; i++) {
        if (!(v = getenv(token_vars[i])) || !*v) continue;
        if (strlen(v) >= sizeof cfg->cluster_token)
            return err_set(err, errlen, "%s: longer than %zu characters", token_vars[i],
                           sizeof cfg->cluster_token - 1);
        if (i == 1 && getenv("CLUSTER_TOKEN") && *getenv("CLUSTER_TOKEN") &&
            strcmp(v, getenv("CLUSTER_TOKEN")) != 0)
            return err_set(err, errlen, "HERD_TOKEN and CLUSTER_TOKEN differ: set one of them");
        snprintf(cfg->cluster_token, sizeof cfg->cluster_token, "%s", v);
    }
    if ((v = getenv("HERD_PEERS")) && *v) {
        if (strlen(v) >= sizeof cfg->peers) return err_set(err, errlen, "HERD_PEERS: too long");
        if (repl_peers_check(v, err, errlen) < 0) return -1;
        snprintf(cfg->peers, sizeof cfg->peers, "%s", v);
    }
    if ((v = getenv("HERD_PEERS_FILE")) && *v) { /* set by the supervisor */
        if (strlen(v) >= sizeof cfg->peers_file)
            return err_set(err, errlen, "HERD_PEERS_FILE: longer than %zu characters",
                           sizeof cfg->peers_file - 1);
        snprintf(cfg->peers_file, sizeof cfg->peers_file, "%s", v);
    }
    if ((v = getenv("CLUSTER_MANAGER_URL")) && *v) {
        if (strlen(v) >= sizeof cfg->cluster_manager_url)
            return err_set(err, errlen, "CLUSTER_MANAGER_URL: too long");
        snprintf(cfg->cluster_manager_url, sizeof cfg->cluster_manager_url, "%s", v);
    }
    return 0;
}

int node_config_finish(struct node_config *cfg, char *err, size_t errlen)
{
    if (cfg->cluster_manager_url[0]) {
        struct url u;
        char uerr[ERR_SIZE];
        if (url_parse(&u, cfg->cluster_manager_url, uerr, sizeof uerr) < 0)
            return err_set(err, errlen, "cluster manager: %s", uerr);
    }
    if (repl_peers_check(cfg->peers, err, errlen) < 0) return -1;
    for (const char *p = cfg->node_id; *p; p++)
        if ((unsigned char)*p < 0x21 || *p == 0x7f)
            return err_set(err, errlen,
                           "node id '%s': spaces and control characters are not allowed",
                           cfg->node_id);
    for (const char *p = cfg->cluster_token; *p; p++)
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
            return err_set(err, errlen,
                           "cluster token: expected printable ASCII without spaces (1 to %zu "
                           "characters)",
                           sizeof cfg->cluster_token - 1);
    if (!cfg->node_header[0] || strpbrk(cfg->node_header, " :\r\n\t"))
        return err_set(err, errlen, "node header '%s': expected a header name such as X-Herd-Node",
                       cfg->node_header);
    return 0;
}

/* ---- helpers ---- */

static double rng_uniform(struct node *n)
{
    /* xorshift64*: plenty for picking which answers a fault replaces. */
    n->rng ^= n->rng >> 12;
    n->rng ^= n->rng << 25;
    n->rng ^= n->rng >> 27;
    return (double)((n->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static double average_ms(const struct node *n)
{
    return n->total ? (double)n->latency_sum_us / (double)n->total / 1000.0 : 0.0;
}

static double success_rate(const struct node *n)
{
    return n->total ? 100.0 * (double)n->succeeded / (double)n->total : 100.0;
}

static bool cluster_enabled(const struct node *n)
{
    return n->cfg.cluster_manager_url[0] != '\0';
}

/* ---- handlers ---- */

static void rebuild_health(struct node *n)
{
    char now[40];
    mtime_wall_iso8601(now, sizeof now);
    json_t *j = json_pack(
        "{s:b, s:s, s:s, s:s, s:s, s:s, s:{s:{s:b}, s:{s:b, s:I}, s:{s:b, s:b, s:s?}}}", "status",
        1, "mode", cluster_enabled(n) ? "cluster" : "standalone", "version", HERD_VERSION,
        "timestamp", now, "started_at", n->started_at, "node_id", n->cfg.node_id, "checks", "http",
        "status", 1, "kv", "status", 1, "keys", (json_int_t)n->kv.count, "cluster", "enabled",
        cluster_enabled(n), "registered", n->member && member_registered(n->member), "manager",
        cluster_enabled(n) ? n->cfg.cluster_manager_url : NULL);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) return;
    buf_reset(&n->health);
    buf_append_str(&n->health, text);
    buf_append(&n->health, "\n", 1);
    free(text);
}

static void on_health(struct node *n, struct http_request *req)
{
    uint64_t sec = uv_now(n->loop) / 1000;
    if (n->health.len == 0 || sec != n->health_sec || n->kv.count != n->health_kv_count) {
        rebuild_health(n);
        n->health_sec = sec;
        n->health_kv_count = n->kv.count;
    }
    http_respond(req, 200, "application/json", n->health.data, n->health.len);
}

/* GET /: the node names itself and its routes, so that a first request with the default path
 * (herd bench URL, a check's path: /) gets a 200. */
static void on_root(struct node *n, struct http_request *req)
{
    if (n->root.len == 0) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:[s,s,s,s,s,s]}", "node_id", n->cfg.node_id,
                              "service", "herd-node", "version", HERD_VERSION, "routes",
                              "GET /health", "ANY /echo", "ANY /delay?ms=N",
                              "GET /status/CODE", "GET|PUT|DELETE /kv/KEY",
                              "GET /api/v1/cluster/status");
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!text || buf_append_str(&n->root, text) < 0) {
            free(text);
            http_respond_error(req, 503, "out of memory");
            return;
        }
        free(text);
    }
    http_respond(req, 200, "application/json", n->root.data, n->root.len);
}

static void local_status(struct http_request *req, void *data)
{
    struct node *n = data;
    char now[40];
    mtime_wall_iso8601(now, sizeof now);
    http_respond_json(req, 200,
                      json_pack("{s:b, s:{s:s, s:i, s:i, s:i, s:I, s:I, s:I, s:f, s:s}}", "enabled",
                                cluster_enabled(n), "status", "cluster_id", n->cfg.cluster_id,
                                "total_nodes", 1, "active_nodes", 1, "failed_nodes", 0,
                                "total_requests", (json_int_t)n->total, "successful_requests",
                                (json_int_t)n->succeeded, "failed_requests", (json_int_t)n->failed,
                                "average_response_time", average_ms(n), "last_updated", now));
}

static void local_nodes(struct http_request *req, void *data)
{
    struct node *n = data;
    char now[40];
    mtime_wall_iso8601(now, sizeof now);
    json_t *entry = json_pack(
        "{s:{s:s, s:s, s:i, s:i, s:s, s:{s:s, s:s, s:s}}, s:s, s:I, s:f, s:f}", "config", "node_id",
        n->cfg.node_id, "host", n->cfg.host, "port",
        n->cfg.advertise_port ? n->cfg.advertise_port : node_port(n), "weight", n->cfg.weight,
        "status", n->stopping ? "draining" : "active", "metadata", "mode",
        cluster_enabled(n) ? "cluster" : "standalone", "service", "herd-node", "version",
        HERD_VERSION, "last_seen", now, "connections", (json_int_t)http_server_connections(n->srv),
        "response_time", average_ms(n), "success_rate", success_rate(n));
    json_t *nodes = json_object();
    json_object_set_new(nodes, n->cfg.node_id, entry);
    http_respond_json(req, 200, json_pack("{s:o}", "nodes", nodes));
}

/* With a gateway, the cluster views are the gateway's (every node sees every node); on its
 * own, or when the gateway does not answer, the node shows itself. */
static void on_cluster_status(struct node *n, struct http_request *req)
{
    if (n->member)
        member_forward(n->member, "/api/v1/cluster/status", req, local_status, n);
    else
        local_status(req, n);
}

static void on_cluster_nodes(struct node *n, struct http_request *req)
{
    if (n->member)
        member_forward(n->member, "/api/v1/cluster/nodes", req, local_nodes, n);
    else
        local_nodes(req, n);
}

/* The config the gateway synced to this node (version 0, {} without a gateway). */
static void on_cluster_config(struct node *n, struct http_request *req)
{
    json_t *config = json_loads(n->member ? member_config(n->member) : "{}", 0, NULL);
    http_respond_json(req, 200,
                      json_pack("{s:I,s:o}", "version",
                                (json_int_t)(n->member ? member_config_version(n->member) : 0),
                                "config", config ? config : json_object()));
}

/* Length of the valid UTF-8 sequence at s (at most len bytes), or 0 when it is not one
 * (overlong forms, surrogates and code points past U+10FFFF are not). */
static size_t utf8_sequence(const unsigned char *s, size_t len)
{
    size_t n;
    uint32_t cp;
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1fu;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0fu;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07u;
    else
        return 0;
    if (len < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* True when text is valid UTF-8 (what JSON strings, and so the replication stream, carry). */
static bool utf8_valid(const char *text)
{
    size_t len = strlen(text), n;
    for (size_t i = 0; i < len; i += n)
        if (!(n = utf8_sequence((const unsigned char *)text + i, len - i))) return false;
    return true;
}

/* True when the request's key is one the store can hold; otherwise answers 414 (longer than
 * KV_KEY_MAX - 1 bytes) or 400 (a NUL byte, %00, or not UTF-8) and returns false. */
static bool key_ok(struct http_request *req)
{
    char why[64];
    if (strlen(req->params[0]) >= KV_KEY_MAX) {
        snprintf(why, sizeof why, "key: longer than %d bytes", KV_KEY_MAX - 1);
        http_respond_error(req, 414, why);
        return false;
    }
    if (strstr(req->path, "%00")) {
        http_respond_error(req, 400, "key: NUL bytes (%00) are not allowed");
        return false;
    }
    if (!utf8_valid(req->params[0])) {
        http_respond_error(req, 400, "key: expected UTF-8 (after %-decoding)");
        return false;
    }
    return true;
}

static void on_kv_get(struct node *n, struct http_request *req)
{
    if (!key_ok(req)) return;
    const struct kv_entry *e = kv_get(&n->kv, req->params[0]);
    if (!e) {
        http_respond_error(req, 404, "no such key");
        return;
    }
    char seq[24];
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)e->seq);
    http_response_header(req, "X-Herd-Seq", seq);
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)e->version);
    http_response_header(req, "X-Herd-Version", seq);
    http_respond(req, 200, "application/octet-stream", e->value, e->value_len);
}

static void on_kv_put(struct node *n, struct http_request *req)
{
    if (!key_ok(req)) return;
    if (req->body_len > KV_VALUE_MAX) {
        char why[64];
        snprintf(why, sizeof why, "value: larger than %u bytes", KV_VALUE_MAX);
        http_respond_error(req, 413, why);
        return;
    }
    int created;
    const struct kv_entry *e = kv_put(&n->kv, req->params[0], req->body, req->body_len, &created);
    if (!e) {
        http_respond_error(req, 500, "out of memory");
        return;
    }
    http_respond_json(req, created ? 201 : 200,
                      json_pack("{s:s, s:I, s:I, s:s, s:I}", "key", e->key, "seq",
                                (json_int_t)e->seq, "version", (json_int_t)e->version, "origin",
                                e->origin, "size", (json_int_t)e->value_len));
    if (n->repl) repl_changed(n->repl);
}

static void on_kv_delete(struct node *n, struct http_request *req)
{
    if (!key_ok(req)) return;
    uint64_t seq = kv_delete(&n->kv, req->params[0]);
    if (!seq) {
        http_respond_error(req, 404, "no such key");
        return;
    }
    http_respond_json(req, 200,
                      json_pack("{s:s, s:I}", "key", req->params[0], "seq", (json_int_t)seq));
    if (n->repl) repl_changed(n->repl);
}

static void on_kv_changes(struct node *n, struct http_request *req)
{
    if (n->repl)
        repl_serve_changes(n->repl, req);
    else
        http_respond_error(req, 503, "stopping");
}

static void on_kv_status(struct node *n, struct http_request *req)
{
    if (n->repl)
        repl_serve_status(n->repl, req);
    else
        http_respond_error(req, 503, "stopping");
}

static void on_kv_log(struct node *n, struct http_request *req)
{
    if (n->repl)
        repl_serve_log(n->repl, req);
    else
        http_respond_error(req, 503, "stopping");
}

/* text as a JSON string, each byte that is not part of valid UTF-8 replaced by U+FFFD (what
 * a client sent is described, never refused). Returns a new reference, NULL when out of
 * memory. */
static json_t *json_text(const char *text)
{
    size_t len = strlen(text);
    json_t *j = json_stringn(text, len);
    if (j) return j;
    struct buf fixed = {0};
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_sequence(s + i, len - i);
        if (n)
            buf_append(&fixed, text + i, n);
        else
            buf_append(&fixed, "\xef\xbf\xbd", 3);
        i += n ? n : 1;
    }
    j = fixed.data ? json_stringn(fixed.data, fixed.len) : NULL;
    buf_free(&fixed);
    return j;
}

static void on_echo(struct node *n, struct http_request *req)
{
    json_t *headers = json_object();
    for (size_t i = 0; headers && i < req->header_count; i++) {
        json_t *name = json_text(req->headers[i].name);
        if (name)
            json_object_set_new(headers, json_string_value(name), json_text(req->headers[i].value));
        json_decref(name);
    }
    /* "o" and "o?" steal their references even when json_pack fails */
    json_t *j = json_pack("{s:s, s:s, s:o?, s:o?, s:o?, s:I}", "node_id", n->cfg.node_id, "method",
                          req->method, "path", json_text(req->path), "query", json_text(req->query),
                          "headers", headers, "body_bytes", (json_int_t)req->body_len);
    json_t *body = json_stringn(req->body, req->body_len); /* NULL unless valid UTF-8 */
    if (j && body)
        json_object_set_new(j, "body", body);
    else
        json_decref(body);
    http_respond_json(req, 200, j);
}

static void on_status(struct node *n, struct http_request *req)
{
    char *end;
    long code = strtol(req->params[0], &end, 10);
    if (*end || code < 200 || code > 599) {
        http_respond_error(req, 400, "status: expected a number from 200 to 599");
        return;
    }
    http_respond_json(req, (int)code,
                      json_pack("{s:i, s:s}", "status", (int)code, "node_id", n->cfg.node_id));
}

static void delay_closed(uv_handle_t *h)
{
    struct node_delay *d = h->data;
    d->node->delayed--;
    free(d);
}

static void delay_fired(uv_timer_t *t)
{
    struct node_delay *d = t->data;
    http_request_on_abort(d->req, NULL, NULL); /* d goes; what answers now sets its own */
    if (d->then)
        d->then(d->node, d->req);
    else
        http_respond_json(d->req, 200,
                          json_pack("{s:I, s:s}", "delayed_ms", (json_int_t)d->ms, "node_id",
                                    d->node->cfg.node_id));
    uv_close((uv_handle_t *)&d->timer, delay_closed);
}

/* The client reset the connection while its answer was held: the answer is dropped. */
static void delay_aborted(struct http_request *req, void *data)
{
    (void)req;
    struct node_delay *d = data;
    uv_timer_stop(&d->timer);
    uv_close((uv_handle_t *)&d->timer, delay_closed);
}

static void answer_later(struct node *n, struct http_request *req, uint64_t ms,
                         node_handler_fn then)
{
    struct node_delay *d = calloc(1, sizeof *d);
    if (!d) {
        http_respond_error(req, 503, "out of memory");
        return;
    }
    d->node = n;
    d->req = req;
    d->then = then;
    d->ms = ms;
    uv_timer_init(n->loop, &d->timer);
    d->timer.data = d;
    n->delayed++;
    http_request_on_abort(req, delay_aborted, d);
    uv_timer_start(&d->timer, delay_fired, ms, 0);
}

static void on_delay(struct node *n, struct http_request *req)
{
    char text[32];
    char *end;
    if (http_request_query(req, "ms", text, sizeof text) < 0) {
        http_respond_error(req, 400, "ms: missing, expected /delay?ms=MILLISECONDS");
        return;
    }
    long ms = strtol(text, &end, 10);
    if (end == text || *end || ms < 0 || ms > NODE_MAX_DELAY_MS) {
        http_respond_error(req, 400, "ms: expected a whole number from 0 to 60000");
        return;
    }
    answer_later(n, req, (uint64_t)ms, NULL);
}

static json_t *fault_json(const struct node *n)
{
    return json_pack("{s:i, s:f, s:i}", "latency_ms", (int)n->fault.latency_ms, "error_rate",
                     n->fault.error_rate, "error_status", n->fault.error_status);
}

static void on_fault_get(struct node *n, struct http_request *req)
{
    http_respond_json(req, 200, fault_json(n));
}

static void on_fault_clear(struct node *n, struct http_request *req)
{
    n->fault = (struct node_fault){.error_status = 500};
    log_info("fault cleared");
    http_respond_json(req, 200, fault_json(n));
}

int node_fault_decode(const char *body, size_t len, struct node_fault *fault, char *msg,
                      size_t msglen)
{
    static const char *const keys[] = {"latency_ms", "error_rate", "error_status", NULL};
    json_t *j = json_body_object(body, len, keys, msg, msglen);
    if (!j) return -1;
    struct node_fault f = *fault;
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        if (strcmp(key, "latency_ms") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > NODE_MAX_DELAY_MS) {
                snprintf(msg, msglen, "latency_ms: expected an integer from 0 to 60000");
                goto bad;
            }
            f.latency_ms = (uint32_t)json_integer_value(v);
        } else if (strcmp(key, "error_rate") == 0) {
            if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1) {
                snprintf(msg, msglen, "error_rate: expected a number from 0 to 1");
                goto bad;
            }
            f.error_rate = json_number_value(v);
        } else if (strcmp(key, "error_status") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 400 || json_integer_value(v) > 599) {
                snprintf(msg, msglen, "error_status: expected an integer from 400 to 599");
                goto bad;
            }
            f.error_status = (int)json_integer_value(v);
        }
    }
    json_decref(j);
    *fault = f;
    return 0;
bad:
    json_decref(j);
    return -1;
}

/* POST /admin/fault: the fields given replace the current ones (node_fault_decode). */
static void on_fault_set(struct node *n, struct http_request *req)
{
    char msg[300];
    if (node_fault_decode(req->body, req->body_len, &n->fault, msg, sizeof msg) < 0) {
        http_respond_error(req, 400, msg);
        return;
    }
    log_info("fault set: latency %u ms, error rate %.3f (status %d)", n->fault.latency_ms,
             n->fault.error_rate, n->fault.error_status);
    http_respond_json(req, 200, fault_json(n));
}

/* True when the request carries the cluster token ("Authorization: Bearer TOKEN", the
 * scheme in any case) or none is set; otherwise answers 401 and returns false. */
static bool authorized(struct node *n, struct http_request *req)
{
    const char *token = n->cfg.cluster_token;
    if (!token[0]) return true;
    if (http_request_bearer_is(req, token)) return true;
    const char *auth = http_request_header(req, "Authorization");
    http_response_header(req, "WWW-Authenticate", "Bearer");
    http_respond_error(req, 401,
                       auth ? "wrong token (expected Authorization: Bearer CLUSTER_TOKEN)"
                            : "this route needs the cluster token (Authorization: Bearer TOKEN)");
    return false;
}

/* Every route enters here: the token where one is needed, fault knobs, then the handler. */
static void node_entry(struct http_request *req, void *data)
{
    struct node_route *r = data;
    struct node *n = r->node;
    if (r->guarded && !authorized(n, req)) return;
    if (!r->admin && n->fault.error_rate > 0 && rng_uniform(n) < n->fault.error_rate) {
        http_respond_error(req, n->fault.error_status, "injected fault");
        return;
    }
    if (!r->admin && n->fault.latency_ms > 0) {
        answer_later(n, req, n->fault.latency_ms, r->fn);
        return;
    }
    r->fn(n, req);
}

static void on_finish(const struct http_request *req, int status, uint64_t duration_us, void *data)
{
    (void)req;
    struct node *n = data;
    n->total++;
    if (status < 400)
        n->succeeded++;
    else
        n->failed++;
    n->latency_sum_us += duration_us;
}

/* How a route is reached (see struct node_route). */
enum node_route_kind {
    ROUTE_PUBLIC = 0, /* everyone; fault knobs apply */
    ROUTE_ADMIN,      /* everyone; fault knobs do not apply (observation) */
    ROUTE_GUARDED,    /* the cluster token when set; fault knobs do not apply */
};

static int add_route(struct node *n, const char *method, const char *pattern, node_handler_fn fn,
                     enum node_route_kind kind)
{
    if (n->route_count == sizeof n->routes / sizeof n->routes[0]) return -1;
    struct node_route *r = &n->routes[n->route_count++];
    *r = (struct node_route){
        .node = n, .fn = fn, .admin = kind != ROUTE_PUBLIC, .guarded = kind == ROUTE_GUARDED};
    return http_server_route(n->srv, method, pattern, node_entry, r);
}

/* ---- life cycle ---- */

static void free_failed_node(void *data)
{
    node_free(data);
}

struct node *node_start(uv_loop_t *loop, const struct node_config *cfg, int *uv_status, char *err,
                        size_t errlen)
{
    *uv_status = 0;
    struct node *n = calloc(1, sizeof *n);
    if (!n) {
        err_set(err, errlen, "out of memory");
        return NULL;
    }
    n->cfg = *cfg;
    n->loop = loop;
    n->fault.error_status = 500;
    n->rng = mtime_now_ns() | 1;
    mtime_wall_iso8601(n->started_at, sizeof n->started_at);
    if (kv_init(&n->kv, cfg->node_id) < 0 || !(n->srv = http_server_new(loop, &cfg->limits))) {
        err_set(err, errlen, "out of memory");
        kv_free(&n->kv);
        free(n);
        return NULL;
    }
    http_server_on_finish(n->srv, on_finish, n);
    int rc = 0;
    rc |= add_route(n, "GET", "/", on_root, ROUTE_PUBLIC);
    rc |= add_route(n, "GET", "/health", on_health, ROUTE_PUBLIC);
    rc |= add_route(n, "GET", "/api/v1/cluster/status", on_cluster_status, ROUTE_PUBLIC);
    rc |= add_route(n, "GET", "/api/v1/cluster/nodes", on_cluster_nodes, ROUTE_PUBLIC);
    rc |= add_route(n, "GET", "/api/v1/cluster/config", on_cluster_config, ROUTE_PUBLIC);
    rc |= add_route(n, "GET", "/kv/{key}", on_kv_get, ROUTE_PUBLIC);
    rc |= add_route(n, "PUT", "/kv/{key}", on_kv_put, ROUTE_PUBLIC);
    rc |= add_route(n, "DELETE", "/kv/{key}", on_kv_delete, ROUTE_PUBLIC);
    rc |= add_route(n, "GET", "/api/v1/kv/changes", on_kv_changes, ROUTE_GUARDED);
    rc |= add_route(n, "GET", "/api/v1/kv/status", on_kv_status, ROUTE_ADMIN);
    rc |= add_route(n, "GET", "/api/v1/kv/log", on_kv_log, ROUTE_ADMIN);
    rc |= add_route(n, NULL, "/echo", on_echo, ROUTE_PUBLIC);
    rc |= add_route(n, NULL, "/delay", on_delay, ROUTE_PUBLIC); /* any method, as httpbin */
    rc |= add_route(n, NULL, "/status/{code}", on_status, ROUTE_PUBLIC);
    rc |= add_route(n, "GET", "/admin/fault", on_fault_get, ROUTE_GUARDED);
    rc |= add_route(n, "POST", "/admin/fault", on_fault_set, ROUTE_GUARDED);
    rc |= add_route(n, "DELETE", "/admin/fault", on_fault_clear, ROUTE_GUARDED);
    rc |= http_server_add_header(n->srv, cfg->node_header, cfg->node_id);
    if (rc != 0) {
        err_set(err, errlen, "cannot set up routes");
        goto fail;
    }
    rc = http_server_listen(n->srv, cfg->host, cfg->port, err, errlen);
    if (rc < 0) {
        *uv_status = rc;
        goto fail;
    }
    int public_port = cfg->advertise_port ? cfg->advertise_port : node_port(n);
    if (!(n->repl = repl_start(loop, &n->kv, cfg->peers, cfg->peers_file, cfg->host, public_port,
                               cfg->cluster_token, err, errlen)))
        goto fail;
    if (cluster_enabled(n)) {
        struct member_config mc = {.manager_url = cfg->cluster_manager_url,
                                   .token = cfg->cluster_token,
                                   .node_id = cfg->node_id,
                                   .host = cfg->host,
                                   .port = public_port,
                                   .weight = cfg->weight,
                                   .group = getenv("HERD_GROUP")};
        if (!(n->member = member_start(loop, &mc, err, errlen))) goto fail;
    }
    return n;
fail:
    node_stop(n, free_failed_node, n);
    return NULL;
}

int node_port(const struct node *n)
{
    return http_server_port(n->srv);
}

struct http_server *node_server(struct node *n)
{
    return n->srv;
}

static void on_server_stopped(void *data)
{
    struct node *n = data;
    if (n->stopped_fn) n->stopped_fn(n->stopped_data);
}

static void on_replication_stopped(void *data)
{
    struct node *n = data;
    http_server_shutdown(n->srv, on_server_stopped, n);
}

/* Leaving: deregister first (the gateway stops sending before we stop serving), then answer
 * the peers' long-polls and stop replicating, then let in-flight requests finish. */
static void on_left_cluster(void *data)
{
    struct node *n = data;
    struct repl *r = n->repl;
    n->repl = NULL;
    if (r)
        repl_stop(r, on_replication_stopped, n);
    else
        on_replication_stopped(n);
}

void node_stop(struct node *n, void (*done)(void *data), void *data)
{
    if (n->stopping) return;
    n->stopping = true;
    n->stopped_fn = done;
    n->stopped_data = data;
    struct member *m = n->member;
    n->member = NULL;
    if (m)
        member_stop(m, on_left_cluster, n);
    else
        on_left_cluster(n);
}

void node_free(struct node *n)
{
    if (!n) return;
    http_server_free(n->srv);
    kv_free(&n->kv);
    buf_free(&n->health);
    buf_free(&n->root);
    free(n);
}
