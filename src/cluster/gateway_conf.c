/* gateway_conf.c -- the gateway's options: defaults, the cluster file's `gateway:` section,
 * static node specs. */
#include "cluster/gateway.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/quantity.h"
#include "cluster/registry.h"
#include "conf/keys.h"

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
    char why[128];
    if (registry_id_check(id, why, sizeof why) < 0)
        return err_set(err, errlen, "node '%s': %s", id, why);
    for (size_t i = 0; i < o->node_count; i++)
        if (strcmp(o->nodes[i].id, id) == 0)
            return err_set(err, errlen, "node '%s' is given twice", id);
    if (o->node_count >= REGISTRY_MAX_NODES)
        return err_set(err, errlen, "node '%s': the gateway holds %d nodes at most", id,
                       REGISTRY_MAX_NODES);
    /* the array doubles when its count reaches a power of two: 10,000 nodes, 12 reallocs */
    struct gateway_node_spec *n = o->nodes;
    if (o->node_count == 0 || (o->node_count >= 8 && !(o->node_count & (o->node_count - 1)))) {
        n = realloc(o->nodes, (o->node_count < 8 ? 8 : 2 * o->node_count) * sizeof *n);
        if (!n) return err_set(err, errlen, "out of memory");
    }
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

/* ---- the gateway section's keys (conf/keys.h: checked here, printed by `herd schema`) ---- */

static const char *const check_types[] = {"http", "tcp", "none", NULL};

static const struct conf_key health_keys[] = {
    CONF_KEY("type", CONF_K_STRING, "http (default with a path), tcp or none", .choices = check_types),
    CONF_KEY("path", CONF_K_STRING, "the HTTP path checked, /health"),
    CONF_KEY("inter", CONF_K_DURATION, "time between checks of a node that is up (2s)"),
    CONF_KEY("fastinter", CONF_K_DURATION, "time between checks while a node is going down or up"),
    CONF_KEY("downinter", CONF_K_DURATION, "time between checks of a node that is down"),
    CONF_KEY("timeout", CONF_K_DURATION, "a check without an answer by then failed (1s)"),
    CONF_KEY("rise", CONF_K_INT, "consecutive passed checks that bring a node up (2)"),
    CONF_KEY("fall", CONF_K_INT, "consecutive failed checks that take a node down (3)"),
    CONF_KEY("eject_after", CONF_K_INT, "consecutive failures of real requests that eject a node (3)"),
    CONF_KEY("slowstart", CONF_K_DURATION, "a readmitted node's weight ramps up over this time (0s)"),
    CONF_KEYS_END,
};

static const struct conf_key retries_keys[] = {
    CONF_KEY("attempts", CONF_K_INT, "retries of a request on other nodes (2)"),
    CONF_KEY("budget", CONF_K_PERCENT, "retries may not exceed this share of requests: 20% or 0.2"),
    CONF_KEYS_END,
};

static const struct conf_key node_keys[] = {
    CONF_KEY("id", CONF_K_STRING, "the node's id (default: its address)"),
    CONF_KEY("address", CONF_K_STRING, "HOST:PORT", .required = true),
    CONF_KEY("weight", CONF_K_INT, "its share in weighted balancing (1)"),
    CONF_KEY("group", CONF_K_STRING, "the group it serves, for routes"),
    CONF_KEYS_END,
};

static const struct conf_key node_item = CONF_ITEM(CONF_K_STRING | CONF_K_MAP, "ID=HOST:PORT, HOST:PORT, or {id, address, weight, group}",
    .members = node_keys);
static const struct conf_key network_item = CONF_ITEM(CONF_K_STRING, "a network, 10.0.0.0/8");
static const struct conf_key route_item = CONF_ITEM(CONF_K_STRING, "the group serving the prefix");

const struct conf_key gateway_keys[] = {
    CONF_KEY("port", CONF_K_INT, "the port it listens on (9091)"),
    CONF_KEY("host", CONF_K_STRING, "the address it listens on (127.0.0.1)"),
    CONF_KEY("balance", CONF_K_STRING, "the balancing algorithm (roundrobin)", .choices = balancer_names),
    CONF_KEY("hash_header", CONF_K_STRING, "balance: hash keys on this header (else the path)"),
    CONF_KEY("threads", CONF_K_INT, "proxy threads (the number of cores)"),
    CONF_KEY("nodes", CONF_K_LIST, "static nodes, besides those that register", .item = &node_item),
    CONF_KEY("health", CONF_K_STRING | CONF_K_MAP, "active checks: a path, tcp, none, or their settings",
     .members = health_keys),
    CONF_KEY("retries", CONF_K_INT | CONF_K_MAP, "retries on other nodes: a count, or {attempts, budget}",
     .members = retries_keys),
    CONF_KEY("token", CONF_K_STRING, "bearer token required by the mutating admin routes"),
    CONF_KEY("ttl", CONF_K_DURATION, "a registered node without a heartbeat for this long is removed"),
    CONF_KEY("connect_timeout", CONF_K_DURATION, "time to connect to a node"),
    CONF_KEY("timeout", CONF_K_DURATION, "time for a node's answer to begin"),
    CONF_KEY("max_body", CONF_K_SIZE, "largest request body accepted"),
    CONF_KEY("routes", CONF_K_NAMED, "path prefix to group: {\"/api/\": api}", .item = &route_item),
    CONF_KEY("body_timeout", CONF_K_DURATION, "time for a request body to arrive"),
    CONF_KEY("allow_register", CONF_K_STRING | CONF_K_LIST,
     "networks nodes may register from (default loopback only)", .item = &network_item),
    CONF_KEY("seed", CONF_K_INT, "the balancers' random seed (default: a new one each run)"),
    CONF_KEY("node_header", CONF_K_STRING, "the header naming the node in answers (X-Herd-Node)"),
    CONF_KEY("add_node_header", CONF_K_BOOL,
             "add node_header to answers that lack it, with the node's id (true)"),
    CONF_KEYS_END,
};

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
    const char *type = NULL, *path = NULL;
    long long rise = o->rise, fall = o->fall, eject = o->eject_after;
    if (conf_check_members(doc, h, health_keys, err, errlen) < 0 ||
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

/* "20%" or 0.2 (quantity_parse_percent), at most all of them */
int gateway_parse_budget(const char *text, double *out)
{
    double v;
    if (quantity_parse_percent(text, &v) < 0 || v > 1) return -1;
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
    if (conf_check_members(doc, r, retries_keys, err, errlen) < 0 ||
        conf_opt_int(doc, r, "attempts", 0, 10, &attempts, err, errlen) < 0 ||
        conf_opt_percent(doc, r, "budget", 0, 1, &o->retry_budget, err, errlen) < 0)
        return -1;
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
        const char *id = NULL, *address = NULL, *group = NULL;
        long long weight = 1;
        if (conf_check_members(doc, n, node_keys, err, errlen) < 0 ||
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
    long long port = o->port, threads = o->threads, seed = -1;
    uint64_t max_body = o->max_body_bytes;
    const char *host = NULL, *balance = NULL, *hash_header = NULL, *token = NULL,
               *node_header = NULL;
    const struct conf_node *v;
    if (conf_check_members(doc, n, gateway_keys, err, errlen) < 0 ||
        conf_opt_int(doc, n, "port", 1, 65535, &port, err, errlen) < 0 ||
        conf_opt_string(doc, n, "host", &host, err, errlen) < 0 ||
        conf_opt_string(doc, n, "balance", &balance, err, errlen) < 0 ||
        conf_opt_string(doc, n, "hash_header", &hash_header, err, errlen) < 0 ||
        conf_opt_int(doc, n, "threads", 1, 256, &threads, err, errlen) < 0 ||
        conf_opt_int(doc, n, "seed", 0, (long long)BALANCER_SEED_MAX, &seed, err, errlen) < 0 ||
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
    if (seed >= 0) {
        o->seed = (uint64_t)seed;
        o->seed_set = true;
    }
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
