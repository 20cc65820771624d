/* clusterfile.c -- the cluster file (see clusterfile.h). */
#include "cluster/clusterfile.h"
#include "cluster/gateway.h"
#include "fault/netns.h"

#include <ctype.h>
#include <signal.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "conf/keys.h"

static const struct {
    const char *name;
    int sig;
} signals[] = {{"TERM", SIGTERM}, {"INT", SIGINT},   {"KILL", SIGKILL}, {"QUIT", SIGQUIT},
               {"HUP", SIGHUP},   {"USR1", SIGUSR1}, {"USR2", SIGUSR2}};

int cluster_signal_parse(const char *name)
{
    if (strncmp(name, "SIG", 3) == 0) name += 3;
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        if (strcmp(name, signals[i].name) == 0) return signals[i].sig;
    return -1;
}

const char *cluster_signal_name(int sig)
{
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        if (signals[i].sig == sig) return signals[i].name;
    return "?";
}

int cluster_group_port(const struct cluster_group *g, int index)
{
    if (g->ports) return index >= 1 && (size_t)index <= g->port_count ? g->ports[index - 1] : 0;
    return g->base_port ? g->base_port + index - 1 : 0;
}

bool cluster_group_in_netns(const struct cluster_group *g)
{
    return g->netns && netns_usable(NULL, 0);
}

void cluster_group_host(const struct cluster_group *g, int index, char *out, size_t size)
{
    if (cluster_group_in_netns(g))
        netns_replica_addr(g->base_port, index, out, size);
    else
        snprintf(out, size, "127.0.0.1");
}

char *cluster_expand(const char *text, const struct cluster_group *g, int index)
{
    struct buf b = {0};
    for (const char *p = text; *p;) {
        if (*p == '{') {
            char value[CLUSTER_NAME_MAX + 16];
            const char *close = strchr(p, '}');
            size_t n = close ? (size_t)(close - p - 1) : 0;
            value[0] = '\0';
            if (close && n == 4 && strncmp(p + 1, "port", 4) == 0)
                snprintf(value, sizeof value, "%d", cluster_group_port(g, index));
            else if (close && n == 7 && strncmp(p + 1, "node_id", 7) == 0)
                snprintf(value, sizeof value, "%s.%d", g->name, index);
            else if (close && n == 5 && strncmp(p + 1, "group", 5) == 0)
                snprintf(value, sizeof value, "%s", g->name);
            else if (close && n == 5 && strncmp(p + 1, "index", 5) == 0)
                snprintf(value, sizeof value, "%d", index);
            else
                close = NULL;
            if (close) {
                buf_append_str(&b, value);
                p = close + 1;
                continue;
            }
        }
        buf_append(&b, p, 1);
        p++;
    }
    if (!b.data) buf_append(&b, "", 0);
    return b.data;
}

struct cluster_group *cluster_spec_group(const struct cluster_spec *spec, const char *name)
{
    for (size_t i = 0; i < spec->group_count; i++)
        if (strcmp(spec->groups[i].name, name) == 0) return &spec->groups[i];
    return NULL;
}

static void group_free(struct cluster_group *g)
{
    free(g->listen_ports);
    free(g->command);
    free(g->ports);
    for (size_t i = 0; i < g->env_count; i++) {
        free(g->env[i].name);
        free(g->env[i].value);
    }
    free(g->env);
    for (size_t i = 0; i < g->depends_count; i++)
        free(g->depends_on[i]);
    free(g->depends_on);
}

void cluster_spec_free(struct cluster_spec *spec)
{
    for (size_t i = 0; i < spec->group_count; i++)
        group_free(&spec->groups[i]);
    free(spec->groups);
    memset(spec, 0, sizeof *spec);
}

static bool valid_name(const char *s)
{
    if (!*s || strlen(s) >= CLUSTER_NAME_MAX) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_') return false;
    return true;
}

/* A group as the file's defaults make it: one replica, GET /health, 10 s to be ready, never
 * restarted, SIGTERM with 10 s of grace. */
static void group_defaults(struct cluster_group *g, const char *name)
{
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", name);
    g->replicas = 1;
    g->health = CLUSTER_HEALTH_HTTP;
    snprintf(g->health_path, sizeof g->health_path, "/health");
    g->ready_timeout_us = 10000000;
    g->restart = CLUSTER_RESTART_NEVER;
    g->restart_backoff_us = 500000;
    g->stop_signal = SIGTERM;
    g->stop_grace_us = 10000000;
}

/* ---- a cluster section's keys (conf/keys.h: checked here, printed by `herd schema`) ---- */

static const char *const restart_policies[] = {"never", "on-failure", "always", NULL};
static const struct conf_key port_item = CONF_ITEM(CONF_K_INT, "a port");
static const struct conf_key env_item = CONF_ITEM(CONF_K_STRING | CONF_K_NUMBER | CONF_K_BOOL,
                                         "the variable's value");
static const struct conf_key group_name_item = CONF_ITEM(CONF_K_STRING, "a group's name");

static const struct conf_key group_keys[] = {
    CONF_KEY("command", CONF_K_STRING, "the program each replica runs", .required = true),
    CONF_KEY("replicas", CONF_K_INT, "how many (1)"),
    CONF_KEY("base_port", CONF_K_INT, "the first replica's port; the next ones count up"),
    CONF_KEY("ports", CONF_K_LIST, "one port per replica, in place of base_port", .item = &port_item),
    CONF_KEY("env", CONF_K_NAMED, "environment variables; {port}, {node_id}, {group}, {index} expand",
     .item = &env_item),
    CONF_KEY("health", CONF_K_STRING, "when a replica is ready: an HTTP path (/health), tcp or none"),
    CONF_KEY("ready_timeout", CONF_K_DURATION, "how long a replica may take to become ready (30s)"),
    CONF_KEY("restart", CONF_K_STRING, "restart policy (never)", .choices = restart_policies),
    CONF_KEY("restart_backoff", CONF_K_DURATION, "wait before a restart, doubling on repeats"),
    CONF_KEY("stop_signal", CONF_K_STRING, "the signal that stops a replica: TERM (default), INT, QUIT, "
                                   "HUP, USR1, USR2 or KILL"),
    CONF_KEY("stop_grace", CONF_K_DURATION, "time between the stop signal and SIGKILL (10s)"),
    CONF_KEY("drain", CONF_K_DURATION, "before a rollout, restart or scale-down stops a replica: out of "
                              "the gateway's rotation, then wait this long at most for its requests (0)"),
    CONF_KEY("depends_on", CONF_K_LIST, "groups started (and ready) before this one",
     .item = &group_name_item),
    CONF_KEY("netns", CONF_K_BOOL, "each replica in its own network namespace (root)"),
    CONF_KEYS_END,
};

static const struct conf_key group_item = CONF_ITEM(CONF_K_MAP, "a group of replicas",
                                           .members = group_keys);

const struct conf_key cluster_keys[] = {
    CONF_KEY("name", CONF_K_STRING, "the cluster's name"),
    CONF_KEY("groups", CONF_K_NAMED, "the groups of replicas to run, by name", .item = &group_item),
    CONF_KEY("gateway", CONF_K_MAP, "the herd gateway in front of the groups", .members = gateway_keys),
    CONF_KEYS_END,
};

const struct conf_key cluster_file_key = CONF_ITEM(CONF_K_MAP, "a herd cluster file",
                                          .members = cluster_keys);

static int parse_group(struct cluster_group *g, const struct conf_doc *doc,
                       const struct conf_node *n, char *err, size_t errlen)
{
    if (!valid_name(n->key))
        return conf_error(doc, n, err, errlen,
                          "group name '%s': expected letters, digits, '-' or '_' (at most %d)",
                          n->key, CLUSTER_NAME_MAX - 1);
    group_defaults(g, n->key);
    long long replicas = 1, base_port = 0;
    const struct conf_node *v;
    if (conf_check_members(doc, n, group_keys, err, errlen) < 0 ||
        conf_opt_int(doc, n, "replicas", 0, 10000, &replicas, err, errlen) < 0 ||
        conf_opt_int(doc, n, "base_port", 1, 65535, &base_port, err, errlen) < 0 ||
        conf_opt_duration_us(doc, n, "ready_timeout", 100000, 3600e6, &g->ready_timeout_us, err,
                             errlen) < 0 ||
        conf_opt_duration_us(doc, n, "restart_backoff", 0, 3600e6, &g->restart_backoff_us, err,
                             errlen) < 0 ||
        conf_opt_duration_us(doc, n, "stop_grace", 0, 3600e6, &g->stop_grace_us, err, errlen) < 0 ||
        conf_opt_duration_us(doc, n, "drain", 0, 3600e6, &g->drain_us, err, errlen) < 0 ||
        conf_opt_bool(doc, n, "netns", &g->netns, err, errlen) < 0)
        return -1;
    g->replicas = (int)replicas;
    g->base_port = (int)base_port;
    if (g->netns && !base_port)
        return conf_error(doc, conf_get(n, "netns"), err, errlen,
                          "a group in network namespaces needs base_port (its addresses come "
                          "from it)");
    if (g->netns && replicas > NETNS_MAX_REPLICAS)
        return conf_error(doc, conf_get(n, "replicas"), err, errlen,
                          "at most %d replicas in network namespaces", NETNS_MAX_REPLICAS);
    const char *s;
    v = conf_get(n, "command"); /* required: conf_check_members saw it */
    if (conf_to_string(doc, v, &s, err, errlen) < 0) return -1;
    if (!*s) return conf_error(doc, v, err, errlen, "empty command");
    if (!(g->command = strdup(s))) return err_set(err, errlen, "out of memory");
    if ((v = conf_get(n, "ports"))) {
        if (conf_expect_seq(doc, v, err, errlen) < 0) return -1;
        if (base_port) return conf_error(doc, v, err, errlen, "give base_port or ports, not both");
        g->ports = calloc(v->count ? v->count : 1, sizeof *g->ports);
        for (const struct conf_node *p = v->first; p; p = p->next) {
            long long port;
            if (conf_to_int(doc, p, 1, 65535, &port, err, errlen) < 0) return -1;
            g->ports[g->port_count++] = (int)port;
        }
        if (!conf_get(n, "replicas")) g->replicas = (int)g->port_count;
        if ((size_t)g->replicas > g->port_count)
            return conf_error(doc, v, err, errlen,
                              "%d replicas but %zu ports: give one port per replica", g->replicas,
                              g->port_count);
    }
    if (!g->base_port && !g->ports && strstr(g->command, "{port}"))
        return conf_error(doc, n, err, errlen,
                          "the command uses {port} but the group has no base_port or ports");
    if ((v = conf_get(n, "env"))) {
        if (conf_expect_map(doc, v, err, errlen) < 0) return -1;
        g->env = calloc(v->count ? v->count : 1, sizeof *g->env);
        for (const struct conf_node *e = v->first; e; e = e->next) {
            if (conf_to_string(doc, e, &s, err, errlen) < 0) return -1;
            if (!*e->key || strchr(e->key, '='))
                return conf_error(doc, e, err, errlen, "'%s' is not an environment variable name",
                                  e->key);
            g->env[g->env_count].name = strdup(e->key);
            g->env[g->env_count].value = strdup(s);
            g->env_count++;
        }
    }
    if ((v = conf_get(n, "health"))) {
        if (conf_to_string(doc, v, &s, err, errlen) < 0) return -1;
        if (strcmp(s, "tcp") == 0) {
            g->health = CLUSTER_HEALTH_TCP;
        } else if (strcmp(s, "none") == 0) {
            g->health = CLUSTER_HEALTH_NONE;
        } else if (s[0] == '/' && strlen(s) < sizeof g->health_path && !strpbrk(s, " \r\n")) {
            snprintf(g->health_path, sizeof g->health_path, "%s", s);
        } else {
            return conf_error(doc, v, err, errlen,
                              "'%s': expected an HTTP path such as /health, tcp, or none", s);
        }
    }
    if (g->health != CLUSTER_HEALTH_NONE && !g->base_port && !g->ports)
        return conf_error(
            doc, n, err, errlen,
            "a health check needs the replicas' ports: give base_port or ports (or health: none)");
    if ((v = conf_get(n, "restart"))) {
        if (conf_to_string(doc, v, &s, err, errlen) < 0) return -1;
        if (strcmp(s, "never") == 0)
            g->restart = CLUSTER_RESTART_NEVER;
        else if (strcmp(s, "on-failure") == 0)
            g->restart = CLUSTER_RESTART_ON_FAILURE;
        else if (strcmp(s, "always") == 0)
            g->restart = CLUSTER_RESTART_ALWAYS;
        else
            return conf_error(doc, v, err, errlen, "'%s': expected never, on-failure or always", s);
    }
    if ((v = conf_get(n, "stop_signal"))) {
        if (conf_to_string(doc, v, &s, err, errlen) < 0) return -1;
        if ((g->stop_signal = cluster_signal_parse(s)) < 0)
            return conf_error(doc, v, err, errlen,
                              "'%s': expected TERM, INT, QUIT, HUP, USR1, USR2 or KILL", s);
    }
    if ((v = conf_get(n, "depends_on"))) {
        if (conf_expect_seq(doc, v, err, errlen) < 0) return -1;
        g->depends_on = calloc(v->count ? v->count : 1, sizeof *g->depends_on);
        for (const struct conf_node *d = v->first; d; d = d->next) {
            if (conf_to_string(doc, d, &s, err, errlen) < 0) return -1;
            g->depends_on[g->depends_count++] = strdup(s);
        }
    }
    g->file_replicas = g->replicas;
    return 0;
}

static int parse_gateway(struct cluster_gateway *gw, const struct conf_doc *doc,
                         const struct conf_node *n, char *err, size_t errlen)
{
    struct gateway_opts o; /* read in full here so that `herd up` rejects a bad section */
    gateway_opts_default(&o);
    int rc = gateway_opts_from_conf(&o, doc, n, err, errlen);
    if (rc == 0) {
        gw->present = true;
        gw->port = o.port;
        snprintf(gw->host, sizeof gw->host, "%s", o.host);
        snprintf(gw->token, sizeof gw->token, "%s", o.token);
        snprintf(gw->balance, sizeof gw->balance, "%s", balancer_name(o.balance));
        gw->node = n;
    }
    gateway_opts_free(&o);
    return rc;
}

/* Orders groups so that each comes after the groups it depends on; fails on a cycle or an
 * unknown name. */
static int order_groups(struct cluster_spec *spec, const struct conf_doc *doc,
                        const struct conf_node *groups, char *err, size_t errlen)
{
    size_t n = spec->group_count, placed = 0;
    struct cluster_group *sorted = calloc(n ? n : 1, sizeof *sorted);
    bool *done = calloc(n ? n : 1, sizeof *done);
    for (size_t i = 0; i < n; i++)
        for (size_t d = 0; d < spec->groups[i].depends_count; d++) {
            const char *dep = spec->groups[i].depends_on[d];
            const struct conf_node *gn = conf_get(groups, spec->groups[i].name);
            if (!cluster_spec_group(spec, dep) || strcmp(dep, spec->groups[i].name) == 0) {
                free(sorted);
                free(done);
                return conf_error(doc, conf_get(gn, "depends_on"), err, errlen,
                                  "'%s' is not another group of this cluster", dep);
            }
        }
    while (placed < n) {
        bool progress = false;
        for (size_t i = 0; i < n; i++) {
            if (done[i]) continue;
            bool ready = true;
            for (size_t d = 0; d < spec->groups[i].depends_count && ready; d++)
                for (size_t j = 0; j < n; j++)
                    if (strcmp(spec->groups[j].name, spec->groups[i].depends_on[d]) == 0 &&
                        !done[j])
                        ready = false;
            if (ready) {
                done[i] = true;
                sorted[placed] = spec->groups[i];
                sorted[placed].order = (int)placed;
                placed++;
                progress = true;
            }
        }
        if (!progress) {
            for (size_t i = 0; i < n; i++)
                if (!done[i]) {
                    const struct conf_node *gn = conf_get(groups, spec->groups[i].name);
                    free(sorted);
                    free(done);
                    return conf_error(doc, conf_get(gn, "depends_on"), err, errlen,
                                      "dependency cycle: '%s' depends, through others, on itself",
                                      spec->groups[i].name);
                }
        }
    }
    free(spec->groups);
    spec->groups = sorted;
    free(done);
    return 0;
}

static int check_ports(const struct cluster_spec *spec, const struct conf_doc *doc,
                       const struct conf_node *groups, char *err, size_t errlen)
{
    for (size_t a = 0; a < spec->group_count; a++) {
        const struct cluster_group *ga = &spec->groups[a];
        for (int i = 1; i <= ga->replicas; i++) {
            int pa = cluster_group_port(ga, i);
            if (!pa) continue;
            if (pa > 65535)
                return conf_error(doc, conf_get(groups, ga->name), err, errlen,
                                  "replica %d would get port %d, above 65535", i, pa);
            for (size_t b = a; b < spec->group_count; b++) {
                const struct cluster_group *gb = &spec->groups[b];
                for (int j = (b == a ? i + 1 : 1); j <= gb->replicas; j++)
                    if (cluster_group_port(gb, j) == pa)
                        return conf_error(doc, conf_get(groups, gb->name), err, errlen,
                                          "port %d is given to both %s.%d and %s.%d", pa, ga->name,
                                          i, gb->name, j);
            }
            if (spec->gateway.present && pa == spec->gateway.port)
                return conf_error(doc, conf_get(groups, ga->name), err, errlen,
                                  "port %d is given to %s.%d and to the gateway", pa, ga->name, i);
        }
    }
    return 0;
}

int cluster_spec_parse(struct cluster_spec *spec, const struct conf_doc *doc,
                       const struct conf_node *section, char *err, size_t errlen)
{
    memset(spec, 0, sizeof *spec);
    snprintf(spec->name, sizeof spec->name, "herd");
    const char *name = NULL;
    const struct conf_node *groups, *gw;
    if (conf_check_members(doc, section, cluster_keys, err, errlen) < 0 ||
        conf_opt_string(doc, section, "name", &name, err, errlen) < 0)
        return -1;
    if (name) snprintf(spec->name, sizeof spec->name, "%s", name);
    /* a gateway alone, in front of nodes herd does not run, needs no group */
    bool gateway_only = conf_get(section, "gateway") != NULL;
    if (!(groups = conf_get(section, "groups")) && !gateway_only)
        return conf_error(doc, section, err, errlen,
                          "missing 'groups', the replicas to run (or a 'gateway:' section with "
                          "the nodes it balances)");
    if (groups && conf_expect_map(doc, groups, err, errlen) < 0) return -1;
    if (groups && groups->count == 0 && !gateway_only)
        return conf_error(doc, groups, err, errlen, "no group: expected at least one");
    spec->groups = calloc(groups && groups->count ? groups->count : 1, sizeof *spec->groups);
    if (!spec->groups) return err_set(err, errlen, "out of memory");
    for (const struct conf_node *g = groups ? groups->first : NULL; g; g = g->next) {
        if (conf_expect_map(doc, g, err, errlen) < 0 ||
            parse_group(&spec->groups[spec->group_count++], doc, g, err, errlen) < 0) {
            cluster_spec_free(spec);
            return -1;
        }
    }
    if (((gw = conf_get(section, "gateway")) &&
         (conf_expect_map(doc, gw, err, errlen) < 0 ||
          parse_gateway(&spec->gateway, doc, gw, err, errlen) < 0 ||
          (cluster_spec_group(spec, CLUSTER_GATEWAY_GROUP) &&
           conf_error(doc, conf_get(groups, CLUSTER_GATEWAY_GROUP), err, errlen,
                      "the name '%s' is taken by the gateway: rename the group",
                      CLUSTER_GATEWAY_GROUP)))) ||
        order_groups(spec, doc, groups, err, errlen) < 0 ||
        check_ports(spec, doc, groups, err, errlen) < 0) {
        cluster_spec_free(spec);
        return -1;
    }
    return 0;
}

int cluster_spec_load(struct cluster_spec *spec, struct conf_doc *doc, const char *path, char *err,
                      size_t errlen)
{
    memset(spec, 0, sizeof *spec);
    if (conf_load_file(doc, path, err, errlen) < 0) return -1;
    if (!doc->root) {
        conf_free(doc);
        return err_set(err, errlen,
                       "%s:1:1: (top level): the file is empty, expected a cluster (groups: ...)",
                       path);
    }
    const struct conf_node *section = doc->root;
    if (conf_expect_map(doc, section, err, errlen) < 0) {
        conf_free(doc);
        return -1;
    }
    const struct conf_node *inner = conf_get(doc->root, "cluster");
    if (inner) section = inner; /* a plan: its cluster section */
    if (conf_expect_map(doc, section, err, errlen) < 0 ||
        cluster_spec_parse(spec, doc, section, err, errlen) < 0) {
        conf_free(doc);
        return -1;
    }
    return 0;
}

int cluster_spec_add_gateway(struct cluster_spec *spec, const char *path, char *err, size_t errlen)
{
    char abs[PATH_MAX];
    if (!realpath(path, abs)) return err_set(err, errlen, "%s: %s", path, strerror(errno));
    struct cluster_group *groups = realloc(spec->groups, (spec->group_count + 1) * sizeof *groups);
    if (!groups) return err_set(err, errlen, "out of memory");
    spec->groups = groups;
    struct cluster_group *g = &groups[spec->group_count];
    group_defaults(g, CLUSTER_GATEWAY_GROUP);
    struct buf cmd = {0}; /* herd gateway -f 'PATH', quoted for /bin/sh */
    buf_append_str(&cmd, "herd gateway -f '");
    for (const char *p = abs; *p; p++)
        if (*p == '\'')
            buf_append_str(&cmd, "'\\''");
        else
            buf_append(&cmd, p, 1);
    buf_append_str(&cmd, "'");
    g->command = cmd.data;
    g->replicas = 1;
    g->ports = malloc(sizeof *g->ports);
    g->depends_on = calloc(spec->group_count ? spec->group_count : 1, sizeof *g->depends_on);
    if (!g->command || !g->ports || !g->depends_on) {
        group_free(g);
        return err_set(err, errlen, "out of memory");
    }
    g->ports[0] = spec->gateway.port;
    g->port_count = 1;
    g->file_replicas = 1;
    snprintf(g->health_path, sizeof g->health_path, "/api/v1/cluster/status");
    g->restart = CLUSTER_RESTART_ON_FAILURE;
    for (size_t i = 0; i < spec->group_count; i++) /* after the nodes: it checks them at once */
        g->depends_on[g->depends_count++] = strdup(spec->groups[i].name);
    g->order = (int)spec->group_count;
    spec->group_count++;
    return 0;
}
