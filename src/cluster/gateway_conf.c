/* gateway_conf.c -- the gateway's options: defaults, the cluster file's `gateway:` section,
 * static node specs. */
#include "cluster/gateway.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "cluster/registry.h"

void gateway_opts_default(struct gateway_opts *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->host, sizeof o->host, "127.0.0.1");
    o->port = 9091;
    o->balance = BALANCE_ROUNDROBIN;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    o->threads = cores > 0 ? (int)cores : 1;
    o->check = GATEWAY_CHECK_HTTP;
    snprintf(o->check_path, sizeof o->check_path, "/health");
    o->inter_us = 1000000;
    o->fastinter_us = 200000;
    o->downinter_us = 500000;
    o->check_timeout_us = 1000000;
    o->rise = 2;
    o->fall = 3;
    o->eject_after = 3;
    o->retries = 2;
    o->retry_budget = 0.2;
    o->connect_timeout_us = 1000000;
    o->response_timeout_us = 30000000;
    o->max_body_bytes = 1 << 20;
    o->body_timeout_us = 10000000;
    o->ttl_us = 10000000;
    snprintf(o->node_header, sizeof o->node_header, "X-Herd-Node");
    o->add_node_header = true;
}

bool gateway_header_name_valid(const char *name)
{
    static const char specials[] = "!#$%&'*+-.^_`|~";
    size_t len = strlen(name);
    if (len == 0 || len >= sizeof ((struct gateway_opts *)0)->node_header) return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(specials, *p)) return false;
    return true;
}

void gateway_opts_free(struct gateway_opts *o)
{
    free(o->nodes);
    o->nodes = NULL;
    o->node_count = 0;
}

int gateway_opts_push_node(struct gateway_opts *o, const char *id, const char *host, int port,
                           int weight, char *err, size_t errlen)
{
    if (strlen(id) >= sizeof o->nodes[0].id || strlen(host) >= sizeof o->nodes[0].host)
        return err_set(err, errlen, "node '%s': id or host too long", id);
    for (size_t i = 0; i < o->node_count; i++)
        if (strcmp(o->nodes[i].id, id) == 0)
            return err_set(err, errlen, "node '%s' is given twice", id);
    struct gateway_node_spec *n = realloc(o->nodes, (o->node_count + 1) * sizeof *n);
    if (!n) return err_set(err, errlen, "out of memory");
    o->nodes = n;
    n = &o->nodes[o->node_count++];
    memset(n, 0, sizeof *n); /* no group until the caller gives one */
    snprintf(n->id, sizeof n->id, "%s", id);
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    n->weight = weight;
    return 0;
}

int gateway_opts_add_node(struct gateway_opts *o, const char *text, char *err, size_t errlen)
{
    char buf[512], id[64] = "", *addr = buf;
    if (snprintf(buf, sizeof buf, "%s", text) >= (int)sizeof buf)
        return err_set(err, errlen, "'%s' is too long", text);
    int weight = 1;
    char group[64] = "";
    char *hash = strchr(buf, '#');
    if (hash) { /* #weight=N,group=G */
        *hash = '\0';
        for (char *save = NULL, *opt = strtok_r(hash + 1, ",", &save); opt;
             opt = strtok_r(NULL, ",", &save)) {
            char *end;
            if (strncmp(opt, "weight=", 7) == 0) {
                long w = strtol(opt + 7, &end, 10); /* range-checked before the cast */
                if (*end || end == opt + 7 || w < 0 || w > REGISTRY_WEIGHT_MAX)
                    return err_set(err, errlen, "'%s': weight=N with N 0..%d", text,
                                   REGISTRY_WEIGHT_MAX);
                weight = (int)w;
            } else if (strncmp(opt, "group=", 6) == 0 && opt[6] && strlen(opt + 6) < sizeof group) {
                memcpy(group, opt + 6, strlen(opt + 6) + 1);
            } else {
                return err_set(err, errlen, "'%s': expected HOST:PORT#weight=N,group=G", text);
            }
        }
    }
    char *eq = strchr(buf, '=');
    if (eq) {
        *eq = '\0';
        if (strlen(buf) >= sizeof id || !buf[0])
            return err_set(err, errlen, "'%s': a node id is 1 to %zu characters", text,
                           sizeof id - 1);
        memcpy(id, buf, strlen(buf) + 1);
        addr = eq + 1;
    }
    char *colon = strrchr(addr, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || colon == addr || *end || port < 1 || port > 65535)
        return err_set(err, errlen, "'%s': expected HOST:PORT (port 1..65535)", text);
    *colon = '\0';
    char *host = addr;
    if (host[0] == '[') { /* [::1]:8080 */
        size_t len = strlen(host);
        if (len < 3 || host[len - 1] != ']')
            return err_set(err, errlen, "'%s': an IPv6 address goes in brackets", text);
        host[len - 1] = '\0';
        host++;
    }
    if (!id[0] && (size_t)snprintf(id, sizeof id, "%.40s:%ld", host, port) >= sizeof id)
        return err_set(err, errlen, "'%s': host too long", text);
    if (gateway_opts_push_node(o, id, host, (int)port, weight, err, errlen) < 0) return -1;
    memcpy(o->nodes[o->node_count - 1].group, group, sizeof group);
    return 0;
}

static int parse_health(struct gateway_opts *o, const struct conf_doc *doc,
                        const struct conf_node *h, char *err, size_t errlen)
{
    const char *s;
    if (h->type == CONF_SCALAR) {
        if (conf_to_string(doc, h, &s, err, errlen) < 0) return -1;
        if (strcmp(s, "none") == 0)
            o->check = GATEWAY_CHECK_NONE;
        else if (strcmp(s, "tcp") == 0)
            o->check = GATEWAY_CHECK_TCP;
        else if (s[0] == '/' && strlen(s) < sizeof o->check_path)
            snprintf(o->check_path, sizeof o->check_path, "%s", s);
        else
            return conf_error(doc, h, err, errlen, "expected an HTTP path (/health), tcp or none");
        return 0;
    }
    static const char *const keys[] = {"type",   "path", "inter",       "fastinter", "downinter",
                                       "timeout", "rise", "fall",        "eject_after",
                                       "slowstart", NULL};
    const char *type = NULL, *path = NULL;
    long long rise = o->rise, fall = o->fall, eject = o->eject_after;
    if (conf_expect_map(doc, h, err, errlen) < 0 || conf_check_keys(doc, h, keys, err, errlen) < 0 ||
        conf_opt_string(doc, h, "type", &type, err, errlen) < 0 ||
        conf_opt_string(doc, h, "path", &path, err, errlen) < 0 ||
        conf_opt_duration_us(doc, h, "inter", 10000, 3600000000ULL, &o->inter_us, err, errlen) < 0 ||
        conf_opt_duration_us(doc, h, "fastinter", 10000, 3600000000ULL, &o->fastinter_us, err,
                             errlen) < 0 ||
        conf_opt_duration_us(doc, h, "downinter", 10000, 3600000000ULL, &o->downinter_us, err,
                             errlen) < 0 ||
        conf_opt_duration_us(doc, h, "timeout", 1000, 600000000ULL, &o->check_timeout_us, err,
                             errlen) < 0 ||
        conf_opt_int(doc, h, "rise", 1, 100, &rise, err, errlen) < 0 ||
        conf_opt_int(doc, h, "fall", 1, 100, &fall, err, errlen) < 0 ||
        conf_opt_int(doc, h, "eject_after", 0, 1000000, &eject, err, errlen) < 0 ||
        conf_opt_duration_us(doc, h, "slowstart", 0, 3600000000ULL, &o->slowstart_us, err,
                             errlen) < 0)
        return -1;
    if (type) {
        if (strcmp(type, "http") == 0)
            o->check = GATEWAY_CHECK_HTTP;
        else if (strcmp(type, "tcp") == 0)
            o->check = GATEWAY_CHECK_TCP;
        else if (strcmp(type, "none") == 0)
            o->check = GATEWAY_CHECK_NONE;
        else
            return conf_error(doc, conf_get(h, "type"), err, errlen, "expected http, tcp or none");
    }
    if (path) {
        if (path[0] != '/' || strlen(path) >= sizeof o->check_path)
            return conf_error(doc, conf_get(h, "path"), err, errlen,
                              "expected an HTTP path starting with /");
        snprintf(o->check_path, sizeof o->check_path, "%s", path);
    }
    o->rise = (int)rise;
    o->fall = (int)fall;
    o->eject_after = (int)eject;
    return 0;
}

static int add_route(struct gateway_opts *o, const char *prefix, const char *group, char *err,
                     size_t errlen)
{
    if (o->route_count == GATEWAY_MAX_ROUTES)
        return err_set(err, errlen, "at most %d routes", GATEWAY_MAX_ROUTES);
    if (prefix[0] != '/' || strlen(prefix) >= sizeof o->routes[0].prefix || strpbrk(prefix, " \r\n"))
        return err_set(err, errlen, "route '%s': the prefix is a path starting with /", prefix);
    if (!group[0] || strlen(group) >= sizeof o->routes[0].group)
        return err_set(err, errlen, "route '%s': expected a group name", prefix);
    for (size_t i = 0; i < o->route_count; i++)
        if (strcmp(o->routes[i].prefix, prefix) == 0)
            return err_set(err, errlen, "route '%s' is given twice", prefix);
    struct gateway_route *r = &o->routes[o->route_count++];
    snprintf(r->prefix, sizeof r->prefix, "%s", prefix);
    snprintf(r->group, sizeof r->group, "%s", group);
    return 0;
}

int gateway_opts_add_route(struct gateway_opts *o, const char *text, char *err, size_t errlen)
{
    const char *eq = strchr(text, '=');
    char prefix[256];
    if (!eq || (size_t)(eq - text) >= sizeof prefix)
        return err_set(err, errlen, "'%s': expected PREFIX=GROUP, e.g. /api/=api", text);
    snprintf(prefix, sizeof prefix, "%.*s", (int)(eq - text), text);
    return add_route(o, prefix, eq + 1, err, errlen);
}

/* "20%" or 0.2 */
int gateway_parse_budget(const char *text, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text) return -1;
    if (*end == '%' && end[1] == '\0')
        v /= 100;
    else if (*end)
        return -1;
    if (!(v >= 0 && v <= 1)) return -1;
    *out = v;
    return 0;
}

static int parse_retries(struct gateway_opts *o, const struct conf_doc *doc,
                         const struct conf_node *r, char *err, size_t errlen)
{
    long long attempts = o->retries;
    if (r->type == CONF_SCALAR) {
        if (conf_to_int(doc, r, 0, 10, &attempts, err, errlen) < 0) return -1;
        o->retries = (int)attempts;
        return 0;
    }
    static const char *const keys[] = {"attempts", "budget", NULL};
    const char *budget = NULL;
    if (conf_expect_map(doc, r, err, errlen) < 0 || conf_check_keys(doc, r, keys, err, errlen) < 0 ||
        conf_opt_int(doc, r, "attempts", 0, 10, &attempts, err, errlen) < 0 ||
        conf_opt_string(doc, r, "budget", &budget, err, errlen) < 0)
        return -1;
    if (budget && gateway_parse_budget(budget, &o->retry_budget) < 0)
        return conf_error(doc, conf_get(r, "budget"), err, errlen,
                          "expected a share of requests: 20%% or 0.2");
    o->retries = (int)attempts;
    return 0;
}

static int parse_nodes(struct gateway_opts *o, const struct conf_doc *doc,
                       const struct conf_node *seq, char *err, size_t errlen)
{
    if (conf_expect_seq(doc, seq, err, errlen) < 0) return -1;
    char msg[256];
    for (const struct conf_node *n = seq->first; n; n = n->next) {
        const char *s;
        if (n->type == CONF_SCALAR) {
            if (conf_to_string(doc, n, &s, err, errlen) < 0) return -1;
            if (gateway_opts_add_node(o, s, msg, sizeof msg) < 0)
                return conf_error(doc, n, err, errlen, "%s", msg);
            continue;
        }
        static const char *const keys[] = {"id", "address", "weight", "group", NULL};
        const char *id = NULL, *address = NULL, *group = NULL;
        long long weight = 1;
        if (conf_expect_map(doc, n, err, errlen) < 0 ||
            conf_check_keys(doc, n, keys, err, errlen) < 0 ||
            conf_opt_string(doc, n, "id", &id, err, errlen) < 0 ||
            conf_opt_string(doc, n, "address", &address, err, errlen) < 0 ||
            conf_opt_int(doc, n, "weight", 0, REGISTRY_WEIGHT_MAX, &weight, err, errlen) < 0 ||
            conf_opt_string(doc, n, "group", &group, err, errlen) < 0)
            return -1;
        if (group && (!group[0] || strpbrk(group, ",# ") || strlen(group) >= 64))
            return conf_error(doc, conf_get(n, "group"), err, errlen, "expected a group name");
        if (!address)
            return conf_error(doc, n, err, errlen, "a node needs an address: HOST:PORT");
        char text[512];
        snprintf(text, sizeof text, "%s%s%s#weight=%lld%s%s", id ? id : "", id ? "=" : "", address,
                 weight, group ? ",group=" : "", group ? group : "");
        if (gateway_opts_add_node(o, text, msg, sizeof msg) < 0)
            return conf_error(doc, conf_get(n, "address"), err, errlen, "%s", msg);
    }
    return 0;
}

/* allow_register: [CIDR, ...] (or one CIDR): the networks nodes may register from, in place
 * of loopback only. */
static int parse_allow_register(struct gateway_opts *o, const struct conf_doc *doc,
                                const struct conf_node *v, char *err, size_t errlen)
{
    const struct conf_node *one = v->type == CONF_SCALAR ? v : NULL;
    if (!one && conf_expect_seq(doc, v, err, errlen) < 0) return -1;
    if (!one && v->count == 0)
        return conf_error(doc, v, err, errlen,
                          "expected at least one network (leave the key out for loopback only)");
    o->allow_register_count = 0;
    for (const struct conf_node *c = one ? one : v->first; c; c = one ? NULL : c->next) {
        const char *s;
        char why[160];
        if (conf_to_string(doc, c, &s, err, errlen) < 0) return -1;
        if (o->allow_register_count == REGISTRY_MAX_NETWORKS)
            return conf_error(doc, c, err, errlen, "%d networks at most", REGISTRY_MAX_NETWORKS);
        if (registry_network_parse(s, &o->allow_register[o->allow_register_count], why,
                                   sizeof why) < 0)
            return conf_error(doc, c, err, errlen, "%s", why);
        o->allow_register_count++;
    }
    return 0;
}

int gateway_opts_from_conf(struct gateway_opts *o, const struct conf_doc *doc,
                           const struct conf_node *n, char *err, size_t errlen)
{
    static const char *const keys[] = {"port",    "host",        "balance",         "hash_header",
                                       "threads", "nodes",       "health",          "retries",
                                       "token",   "ttl",         "connect_timeout", "timeout",
                                       "max_body", "routes",     "body_timeout",
                                       "allow_register", "node_header", "add_node_header",
                                       NULL};
    long long port = o->port, threads = o->threads;
    uint64_t max_body = o->max_body_bytes;
    const char *host = NULL, *balance = NULL, *hash_header = NULL, *token = NULL,
               *node_header = NULL;
    const struct conf_node *v;
    if (conf_expect_map(doc, n, err, errlen) < 0 || conf_check_keys(doc, n, keys, err, errlen) < 0 ||
        conf_opt_int(doc, n, "port", 1, 65535, &port, err, errlen) < 0 ||
        conf_opt_string(doc, n, "host", &host, err, errlen) < 0 ||
        conf_opt_string(doc, n, "balance", &balance, err, errlen) < 0 ||
        conf_opt_string(doc, n, "hash_header", &hash_header, err, errlen) < 0 ||
        conf_opt_int(doc, n, "threads", 1, 256, &threads, err, errlen) < 0 ||
        conf_opt_string(doc, n, "token", &token, err, errlen) < 0 ||
        conf_opt_duration_us(doc, n, "ttl", 100000, 86400000000ULL, &o->ttl_us, err, errlen) < 0 ||
        conf_opt_duration_us(doc, n, "connect_timeout", 1000, 600000000ULL, &o->connect_timeout_us,
                             err, errlen) < 0 ||
        conf_opt_duration_us(doc, n, "timeout", 1000, 3600000000ULL, &o->response_timeout_us, err,
                             errlen) < 0 ||
        conf_opt_duration_us(doc, n, "body_timeout", 1000, 3600000000ULL, &o->body_timeout_us,
                             err, errlen) < 0 ||
        conf_opt_size(doc, n, "max_body", 0, 1 << 30, &max_body, err, errlen) < 0 ||
        conf_opt_string(doc, n, "node_header", &node_header, err, errlen) < 0 ||
        conf_opt_bool(doc, n, "add_node_header", &o->add_node_header, err, errlen) < 0)
        return -1;
    if (node_header) {
        if (!gateway_header_name_valid(node_header))
            return conf_error(doc, conf_get(n, "node_header"), err, errlen,
                              "expected a header name such as X-Herd-Node (letters, digits, '-')");
        snprintf(o->node_header, sizeof o->node_header, "%s", node_header);
    }
    if (host) {
        if (strlen(host) >= sizeof o->host)
            return conf_error(doc, conf_get(n, "host"), err, errlen, "expected an IP address");
        snprintf(o->host, sizeof o->host, "%s", host);
    }
    if (balance && balancer_parse(balance, &o->balance) < 0)
        return conf_error(doc, conf_get(n, "balance"), err, errlen,
                          "expected roundrobin, random, weighted, leastconn, p2c or hash");
    if (hash_header) {
        if (strlen(hash_header) >= sizeof o->hash_header || strpbrk(hash_header, ": \r\n"))
            return conf_error(doc, conf_get(n, "hash_header"), err, errlen,
                              "expected a header name");
        snprintf(o->hash_header, sizeof o->hash_header, "%s", hash_header);
    }
    if (token) {
        if (!token[0] || strlen(token) >= sizeof o->token)
            return conf_error(doc, conf_get(n, "token"), err, errlen, "expected 1..127 characters");
        snprintf(o->token, sizeof o->token, "%s", token);
    }
    o->port = (int)port;
    o->threads = (int)threads;
    o->max_body_bytes = (size_t)max_body;
    if ((v = conf_get(n, "health")) && parse_health(o, doc, v, err, errlen) < 0) return -1;
    if ((v = conf_get(n, "retries")) && parse_retries(o, doc, v, err, errlen) < 0) return -1;
    if ((v = conf_get(n, "nodes")) && parse_nodes(o, doc, v, err, errlen) < 0) return -1;
    if ((v = conf_get(n, "allow_register")) && parse_allow_register(o, doc, v, err, errlen) < 0)
        return -1;
    if ((v = conf_get(n, "routes"))) { /* {"/api/": api, ...} */
        if (conf_expect_map(doc, v, err, errlen) < 0) return -1;
        for (const struct conf_node *r = v->first; r; r = r->next) {
            const char *group;
            char msg[256];
            if (conf_to_string(doc, r, &group, err, errlen) < 0) return -1;
            if (add_route(o, r->key, group, msg, sizeof msg) < 0)
                return conf_error(doc, r, err, errlen, "%s", msg);
        }
    }
    return 0;
}
