/* plan.c -- reading and validating a test plan (see plan.h and docs/plan-reference.md). */
#include "plan/plan.h"
#include "plan/check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mtime.h"
#include "base/quantity.h"
#include "cluster/clusterfile.h"
#include "conf/keys.h"
#include "http/url.h"

const struct check_kind *const check_kinds[PLAN_CHECK_KINDS] = {
    [PLAN_CONNECTIVITY] = &check_connectivity_kind, [PLAN_DISTRIBUTION] = &check_distribution_kind,
    [PLAN_CONCURRENCY] = &check_concurrency_kind,   [PLAN_FAILOVER] = &check_failover_kind,
    [PLAN_SCALING] = &check_scaling_kind,           [PLAN_HOTPLUG] = &check_hotplug_kind,
    [PLAN_CONSISTENCY] = &check_consistency_kind,   [PLAN_CAPACITY] = &check_capacity_kind,
    [PLAN_ROLLOUT] = &check_rollout_kind,
    [PLAN_PARITY] = &check_parity_kind,
};

/* ---- the plan's keys (conf/keys.h: checked here, printed by `herd schema plan`) ---- */

const char *const check_fault_names[] = {"kill",      "stop", "pause",     "latency", "reset",
                                         "blackhole", "exec", "partition", "none",    NULL};
const struct conf_key check_node_item = CONF_ITEM(CONF_K_STRING, "a node, api.2");

static const struct conf_key check_table[] = {
    CONF_KEY("connectivity", CONF_K_MAP | CONF_K_EMPTY, "every node and the target answer",
     .members = check_connectivity_keys),
    CONF_KEY("distribution", CONF_K_MAP | CONF_K_EMPTY, "how evenly requests spread over the nodes",
     .members = check_distribution_keys),
    CONF_KEY("concurrency", CONF_K_MAP | CONF_K_EMPTY, "latency and errors under many connections",
     .members = check_concurrency_keys),
    CONF_KEY("failover", CONF_K_MAP | CONF_K_EMPTY, "a node breaks under load: failures, detection, rejoin",
     .members = check_failover_keys),
    CONF_KEY("scaling", CONF_K_MAP, "throughput at several replica counts", .members = check_scaling_keys),
    CONF_KEY("hotplug", CONF_K_MAP, "a group leaves and comes back while the others serve",
     .members = check_hotplug_keys),
    CONF_KEY("consistency", CONF_K_MAP | CONF_K_EMPTY, "writes reach every node, also after a fault",
     .members = check_consistency_keys),
    CONF_KEY("capacity", CONF_K_MAP, "how many nodes fit", .members = check_capacity_keys),
    CONF_KEY("rollout", CONF_K_MAP, "a rolling update under load: failed requests, replicas in rotation",
     .members = check_rollout_keys),
    CONF_KEY("parity", CONF_K_MAP, "the same requests to every environment, answers compared",
     .members = check_parity_keys),
    CONF_KEYS_END,
};

static const struct conf_key check_item = CONF_ITEM(CONF_K_MAP, "a check: one key, its kind",
                                           .members = check_table, .one_member = true);
static const struct conf_key url_item = CONF_ITEM(CONF_K_STRING, "a base URL, http://HOST:PORT");
static const char *const format_names[] = {"json", "md", "html", "junit", NULL};
static const struct conf_key format_item = CONF_ITEM(CONF_K_STRING, "a report format",
                                            .choices = format_names);

static const struct conf_key report_keys[] = {
    CONF_KEY("dir", CONF_K_STRING, "where the reports go (reports)"),
    CONF_KEY("formats", CONF_K_LIST, "which reports (all four)", .item = &format_item),
    CONF_KEYS_END,
};

static const struct conf_key plan_keys[] = {
    CONF_KEY("name", CONF_K_STRING, "the plan's name, in its reports"),
    CONF_KEY("cluster", CONF_K_MAP, "a cluster to launch for the checks (a cluster file's content)",
     .members = cluster_keys),
    CONF_KEY("target", CONF_K_STRING, "the base URL the checks load, http://HOST:PORT"),
    CONF_KEY("environments", CONF_K_NAMED, "several targets by name", .item = &url_item),
    CONF_KEY("checks", CONF_K_LIST, "the list of checks to run", .item = &check_item, .required = true),
    CONF_KEY("report", CONF_K_MAP, "where the reports go and which", .members = report_keys),
    CONF_KEYS_END,
};

const struct conf_key plan_file_key = CONF_ITEM(CONF_K_MAP, "a herd test plan", .members = plan_keys);

const char *plan_check_kind_name(enum plan_check_kind kind)
{
    return (unsigned)kind < PLAN_CHECK_KINDS ? check_kinds[kind]->name : "?";
}

bool plan_bound_check(const struct plan_bound *b, double actual)
{
    return threshold_op_holds(b->op, actual, b->value);
}

/* The checks' own measures: how each is written, and a working expectation on it for the
 * message that refuses a bad one. Durations are in ms, percentages fractions, sizes MB. */
static const struct {
    const char *key;
    enum threshold_unit unit;
    const char *example; /* as YAML writes it: "\"<500ms\"" or a bare 0 */
} own_measures[] = {
    {"success", THRESHOLD_UNIT_PERCENT, "\">=99%\""},
    {"max_deviation", THRESHOLD_UNIT_PERCENT, "\"<5%\""},
    {"p_value", THRESHOLD_UNIT_NUMBER, "\">=0.01\""},
    {"efficiency", THRESHOLD_UNIT_NUMBER, "\">0.8\""},
    {"failed_requests", THRESHOLD_UNIT_COUNT, "0"},
    {"other_failures", THRESHOLD_UNIT_COUNT, "0"},
    {"unconverged", THRESHOLD_UNIT_COUNT, "0"},
    {"failed_writes", THRESHOLD_UNIT_COUNT, "0"},
    {"nodes", THRESHOLD_UNIT_COUNT, "\">=10\""},
    {"detection", THRESHOLD_UNIT_DURATION, "\"<500ms\""},
    {"failover", THRESHOLD_UNIT_DURATION, "\"<1s\""},
    {"rejoin", THRESHOLD_UNIT_DURATION, "\"<2s\""},
    {"converge", THRESHOLD_UNIT_DURATION, "\"<1s\""},
    {"catch_up", THRESHOLD_UNIT_DURATION, "\"<5s\""},
    {"health_p99", THRESHOLD_UNIT_DURATION, "\"<100ms\""},
    {"rss_per_node", THRESHOLD_UNIT_SIZE, "\"<64MB\""},
    {"mismatches", THRESHOLD_UNIT_COUNT, "0"},
    {"unstable", THRESHOLD_UNIT_COUNT, "0"},
};

/* The index of key in own_measures, or -1. */
static int own_measure(const char *key)
{
    for (size_t i = 0; i < sizeof own_measures / sizeof own_measures[0]; i++)
        if (strcmp(own_measures[i].key, key) == 0) return (int)i;
    return -1;
}

int plan_parse_bound(const char *key, const char *text, struct plan_bound *b)
{
    const char *p = text;
    size_t op_len = threshold_op_parse(p, &b->op);
    if (!op_len) b->op = THRESHOLD_EQ; /* KEY: VALUE is equality */
    p += op_len;
    while (*p == ' ')
        p++;
    int m = own_measure(key);
    if (m >= 0) {
        if (threshold_value_parse(p, own_measures[m].unit, &b->value) < 0) return -1;
    } else { /* a measure not listed: whichever unit reads it */
        static const enum threshold_unit any[] = {THRESHOLD_UNIT_NUMBER, THRESHOLD_UNIT_PERCENT,
                                                  THRESHOLD_UNIT_SIZE, THRESHOLD_UNIT_DURATION};
        size_t u = 0;
        while (u < sizeof any / sizeof any[0] && threshold_value_parse(p, any[u], &b->value) < 0)
            u++;
        if (u == sizeof any / sizeof any[0]) return -1;
    }
    snprintf(b->text, sizeof b->text, "%s%s", op_len ? "" : "== ", text);
    return 0;
}

/* "'x5': expected OP VALUE such as detection: "<500ms" (...)": example is a working value for
 * the expectation's key, as YAML writes it. */
static int bad_expectation(const struct conf_doc *doc, const struct conf_node *m, const char *value,
                           const char *example, char *err, size_t errlen)
{
    return conf_error(doc, m, err, errlen,
                      "'%s': expected OP VALUE such as %s: %s (OP one of == < <= > >=; none: ==)",
                      value, m->key, example);
}

/* KEY: VALUE without OP is equality, which holds for a count (failed_requests: 0) or a
 * percentage (errors: 0) but never for a measured duration, number or size (p99: 20ms would
 * fail at 1.4ms): refused, with the bound the user most likely meant. */
static int bare_measured(const struct conf_doc *doc, const struct conf_node *m, const char *value,
                         enum threshold_unit unit, char *err, size_t errlen)
{
    enum threshold_op op;
    double parsed;
    if (threshold_op_parse(value, &op) ||
        (unit != THRESHOLD_UNIT_DURATION && unit != THRESHOLD_UNIT_NUMBER &&
         unit != THRESHOLD_UNIT_SIZE) ||
        threshold_value_parse(value, unit, &parsed) < 0) /* a bad value: its own message */
        return 0;
    const char *what = unit == THRESHOLD_UNIT_DURATION ? "duration"
                       : unit == THRESHOLD_UNIT_SIZE   ? "size"
                                                       : "number";
    /* a bare number of seconds, shown with its unit: p99: 20 is 20 s, not 20 ms */
    bool seconds = unit == THRESHOLD_UNIT_DURATION && strspn(value, "0123456789.") == strlen(value);
    return conf_error(doc, m, err, errlen,
                      "'%s' means == %s%s (no OP), which a measured %s almost never is: write "
                      "%s: \"<%s%s\" (OP one of == < <= > >=)",
                      value, value, seconds ? "s" : "", what, m->key, value, seconds ? "s" : "");
}

/* expect: {KEY: "OP VALUE"}: load metrics become thresholds, the check's own keys bounds. A
 * bad value is refused with a working expectation for its key: "'x5': expected OP VALUE such
 * as detection: "<500ms"". */
int plan_parse_expect(struct plan_check *c, const struct conf_doc *doc, const struct conf_node *e,
                        const char *const own[], char *err, size_t errlen)
{
    if (conf_expect_map(doc, e, err, errlen) < 0) return -1;
    for (const struct conf_node *m = e->first; m; m = m->next) {
        const char *v;
        if (conf_to_string(doc, m, &v, err, errlen) < 0) return -1;
        enum threshold_metric metric;
        bool load = threshold_metric_parse(m->key, &metric) == 0, mine = false;
        for (const char *const *k = own; *k && !mine; k++)
            mine = strcmp(*k, m->key) == 0;
        int own_index = own_measure(m->key);
        if ((load || (mine && own_index >= 0)) &&
            bare_measured(doc, m, v,
                          load ? threshold_metric_unit(metric) : own_measures[own_index].unit,
                          err, errlen) < 0)
            return -1;
        if (load) {
            char text[128], msg[256];
            enum threshold_op op; /* KEY: VALUE is equality */
            const char *shown_op = threshold_op_parse(v, &op) ? "" : "== ";
            snprintf(text, sizeof text, "%s%s%s", m->key, shown_op, v);
            if (c->threshold_count == PLAN_MAX_EXPECT)
                return conf_error(doc, m, err, errlen, "at most %d expectations",
                                  PLAN_MAX_EXPECT);
            struct threshold *t = &c->thresholds[c->threshold_count];
            if (threshold_parse(text, t, msg, sizeof msg) < 0) {
                char example[64];
                snprintf(example, sizeof example, "\"%s\"", threshold_metric_example(metric));
                return bad_expectation(doc, m, v, example, err, errlen);
            }
            snprintf(t->text, sizeof t->text, "%s %s%s", m->key, shown_op, v);
            c->threshold_count++;
        } else if (mine) {
            if (c->bound_count == PLAN_MAX_EXPECT)
                return conf_error(doc, m, err, errlen, "at most %d expectations",
                                  PLAN_MAX_EXPECT);
            struct plan_bound *b = &c->bounds[c->bound_count];
            if (plan_parse_bound(m->key, v, b) < 0)
                return bad_expectation(doc, m, v,
                                       own_index < 0 ? "\">=1\"" : own_measures[own_index].example,
                                       err, errlen);
            snprintf(b->key, sizeof b->key, "%s", m->key);
            c->bound_count++;
        } else {
            char allowed[512] = ""; /* the check's own measures, then the load metrics */
            const char *const *lists[] = {own, conf_load_metrics};
            for (size_t l = 0; l < 2; l++)
                for (const char *const *k = lists[l]; *k; k++)
                    snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s%s",
                             allowed[0] ? ", " : "", *k);
            return conf_error(doc, m, err, errlen,
                              "unknown expectation '%s', expected one of: %s", m->key, allowed);
        }
    }
    return 0;
}

int plan_parse_path(struct plan_check *c, const struct conf_doc *doc,
                      const struct conf_node *body, const char *def, char *err, size_t errlen)
{
    const char *path = def;
    if (conf_opt_string(doc, body, "path", &path, err, errlen) < 0) return -1;
    if (path[0] != '/' || strlen(path) >= sizeof c->path || strpbrk(path, " \r\n"))
        return conf_error(doc, conf_get(body, "path"), err, errlen,
                          "expected a request path starting with / (no spaces)");
    snprintf(c->path, sizeof c->path, "%s", path);
    return 0;
}

/* The timing of a check that breaks something under load: duration (at least min_us), at
 * (default a third of it) and restart_after (default restart_def_us, or a third of the
 * duration when that is UINT64_MAX); the fault and the recovery must fall within the load. */
int plan_parse_timing(struct plan_check *c, const struct conf_doc *doc,
                        const struct conf_node *body, uint64_t min_us, uint64_t restart_def_us,
                        char *err, size_t errlen)
{
    if (conf_opt_duration_us(doc, body, "duration", min_us, 3600000000ULL, &c->duration_us, err,
                             errlen) < 0 ||
        conf_opt_duration_us(doc, body, "at", 0, 3600000000ULL, &c->at_us, err, errlen) < 0 ||
        conf_opt_duration_us(doc, body, "restart_after", 0, 3600000000ULL, &c->restart_after_us,
                             err, errlen) < 0)
        return -1;
    if (!conf_get(body, "at")) c->at_us = c->duration_us / 3;
    if (!conf_get(body, "restart_after"))
        c->restart_after_us = restart_def_us == UINT64_MAX ? c->duration_us / 3 : restart_def_us;
    if (c->at_us >= c->duration_us || c->at_us + c->restart_after_us >= c->duration_us) {
        char at[32], restart[32], duration[32];
        quantity_format_duration(c->at_us, at, sizeof at);
        quantity_format_duration(c->restart_after_us, restart, sizeof restart);
        quantity_format_duration(c->duration_us, duration, sizeof duration);
        if (c->at_us >= c->duration_us)
            return conf_error(doc, body, err, errlen,
                              "the fault (at: %s) must come before the end of the load (duration: "
                              "%s): lengthen duration or move it earlier",
                              at, duration);
        return conf_error(doc, body, err, errlen,
                          "the recovery (restart_after: %s%s, after the fault at %s) must come "
                          "before the end of the load (duration: %s): lengthen duration or "
                          "shorten them",
                          restart, conf_get(body, "restart_after") ? "" : " by default", at,
                          duration);
    }
    return 0;
}

bool plan_fault_proxied(const char *fault)
{
    return strcmp(fault, "latency") == 0 || strcmp(fault, "reset") == 0 ||
           strcmp(fault, "blackhole") == 0;
}

const struct conf_key check_balancer_keys[] = {
    CONF_KEY("stats", CONF_K_STRING, "HAProxy's stats CSV: http://HOST:PORT/stats;csv"),
    CONF_KEY("server", CONF_K_STRING, "with stats: BACKEND/SERVER, {node} the node's name (*/{node})"),
    CONF_KEY("metrics", CONF_K_STRING, "a Prometheus page: http://HOST:PORT/metrics"),
    CONF_KEY("down", CONF_K_STRING,
     "with metrics: SERIES{LABEL=\"V\"} OP NUMBER, true when the node is down ({node}: its name)"),
    CONF_KEY("interval", CONF_K_DURATION, "between two polls (50ms)"),
    CONF_KEYS_END,
};

int plan_parse_balancer(struct plan_check *c, const struct conf_doc *doc,
                        const struct conf_node *body, char *err, size_t errlen)
{
    const struct conf_node *b = conf_get(body, "balancer");
    if (!b) return 0;
    const char *stats = NULL, *server = NULL, *metrics = NULL, *down = NULL;
    struct balancer_source *s = &c->balancer;
    memset(s, 0, sizeof *s);
    s->interval_us = BALANCER_WATCH_DEFAULT_INTERVAL_US;
    if (conf_check_members(doc, b, check_balancer_keys, err, errlen) < 0 ||
        conf_opt_string(doc, b, "stats", &stats, err, errlen) < 0 ||
        conf_opt_string(doc, b, "server", &server, err, errlen) < 0 ||
        conf_opt_string(doc, b, "metrics", &metrics, err, errlen) < 0 ||
        conf_opt_string(doc, b, "down", &down, err, errlen) < 0 ||
        conf_opt_duration_us(doc, b, "interval", 10000, 10000000, &s->interval_us, err, errlen) < 0)
        return -1;
    if (!stats == !metrics)
        return conf_error(doc, b, err, errlen,
                          "expected either stats (HAProxy's stats CSV URL) or metrics (a "
                          "Prometheus page URL with down)");
    if (stats && down)
        return conf_error(doc, conf_get(b, "down"), err, errlen, "down goes with metrics, not stats");
    if (metrics && server)
        return conf_error(doc, conf_get(b, "server"), err, errlen,
                          "server goes with stats; with metrics, name the node in down");
    if (metrics && !down)
        return conf_error(doc, b, err, errlen,
                          "metrics needs down, the condition true when the node is down, such as "
                          "'haproxy_server_status{server=\"{node}\",state=\"DOWN\"} == 1'");
    const char *url = stats ? stats : metrics;
    const char *too_long = strlen(url) >= sizeof s->url                 ? (stats ? "stats" : "metrics")
                           : server && strlen(server) >= sizeof s->server ? "server"
                           : down && strlen(down) >= sizeof s->down       ? "down"
                                                                          : NULL;
    if (too_long) return conf_error(doc, conf_get(b, too_long), err, errlen, "too long");
    snprintf(s->url, sizeof s->url, "%s", url);
    s->metrics = metrics != NULL;
    snprintf(s->server, sizeof s->server, "%s", server ? server : "*/{node}");
    snprintf(s->down, sizeof s->down, "%s", down ? down : "");
    char why[512];
    if (balancer_source_check(s, why, sizeof why) < 0) {
        const char *key = stats ? (strstr(why, "BACKEND") ? "server" : "stats")
                                : (strstr(why, "status page") ? "metrics" : "down");
        return conf_error(doc, conf_get(b, key), err, errlen, "%s", why);
    }
    c->has_balancer = true;
    return 0;
}

/* fault (kill, stop, pause, latency, reset, blackhole) and, for latency, `latency`. */
int plan_parse_fault(struct plan_check *c, const struct conf_doc *doc,
                       const struct conf_node *body, const char *fault, char *err, size_t errlen)
{
    const char *const *k = check_fault_names; /* "none" is the callers' */
    while (*k && strcmp(*k, fault) != 0)
        k++;
    if (!*k)
        return conf_error(doc, conf_get(body, "fault"), err, errlen,
                          "'%s': expected kill, stop, pause, latency, reset, blackhole, partition "
                          "or exec",
                          fault);
    snprintf(c->fault, sizeof c->fault, "%s", fault);
    uint64_t latency_us = 200000;
    if (conf_opt_duration_us(doc, body, "latency", 1000, 60000000, &latency_us, err, errlen) < 0)
        return -1;
    if (conf_get(body, "latency") && strcmp(fault, "latency") != 0)
        return conf_error(doc, conf_get(body, "latency"), err, errlen,
                          "only the latency fault takes a latency");
    c->latency_ms = (uint32_t)(latency_us / 1000);
    const char *cmd = NULL, *recover = NULL;
    if (conf_opt_string(doc, body, "exec", &cmd, err, errlen) < 0 ||
        conf_opt_string(doc, body, "recover", &recover, err, errlen) < 0)
        return -1;
    if (strcmp(fault, "exec") != 0) {
        if (cmd || recover || conf_get(body, "exec_timeout"))
            return conf_error(doc, conf_get(body, cmd ? "exec" : recover ? "recover" : "exec_timeout"),
                              err, errlen, "only the exec fault runs commands");
        return 0;
    }
    if (!cmd || !cmd[0])
        return conf_error(doc, body, err, errlen,
                          "the exec fault needs 'exec', the shell command that breaks the node");
    if (strlen(cmd) >= sizeof c->exec_cmd || (recover && strlen(recover) >= sizeof c->recover_cmd))
        return conf_error(doc,
                          conf_get(body, strlen(cmd) >= sizeof c->exec_cmd ? "exec" : "recover"),
                          err, errlen, "longer than %zu characters", sizeof c->exec_cmd - 1);
    c->exec_timeout_us = 60000000;
    if (conf_opt_duration_us(doc, body, "exec_timeout", 100000, 3600000000ULL, &c->exec_timeout_us,
                             err, errlen) < 0)
        return -1;
    snprintf(c->exec_cmd, sizeof c->exec_cmd, "%s", cmd);
    snprintf(c->recover_cmd, sizeof c->recover_cmd, "%s", recover ? recover : "");
    return 0;
}

/* "PUT /kv/{key}": a method and a path holding {key}. */
int plan_parse_request_template(const struct conf_doc *doc, const struct conf_node *body,
                                  const char *key, const char *def, char *method,
                                  size_t method_size, char *path, size_t path_size, char *err,
                                  size_t errlen)
{
    const char *text = def;
    if (conf_opt_string(doc, body, key, &text, err, errlen) < 0) return -1;
    size_t m = strcspn(text, " ");
    const char *rest = text + m;
    while (*rest == ' ')
        rest++;
    const char *brace = strstr(rest, "{key}");
    if (m == 0 || m >= method_size || rest[0] != '/' || !brace || strstr(brace + 5, "{key}") ||
        strlen(rest) >= path_size || strpbrk(rest, " \r\n"))
        return conf_error(doc, conf_get(body, key), err, errlen,
                          "expected METHOD /path/{key}, e.g. \"%s\"", def);
    snprintf(method, method_size, "%.*s", (int)m, text);
    snprintf(path, path_size, "%s", rest);
    return 0;
}

/* Adds name to the check's faulted nodes: 0, or -1 with a message at where. */
static int add_fault_node(struct plan_check *c, const struct conf_doc *doc,
                          const struct conf_node *where, const char *name, char *err,
                          size_t errlen)
{
    if (!name[0] || strlen(name) >= sizeof c->nodes[0])
        return conf_error(doc, where, err, errlen, "expected a node name");
    for (size_t i = 0; i < c->node_count; i++)
        if (strcmp(c->nodes[i], name) == 0)
            return conf_error(doc, where, err, errlen, "'%s' is named twice", name);
    if (c->node_count == PLAN_MAX_FAULT_NODES)
        return conf_error(doc, where, err, errlen, "at most %d nodes", PLAN_MAX_FAULT_NODES);
    snprintf(c->nodes[c->node_count++], sizeof c->nodes[0], "%s", name);
    return 0;
}

const struct cluster_group *plan_replica(const struct plan *p, const char *name, int *index)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return NULL;
    char group[CLUSTER_NAME_MAX];
    snprintf(group, sizeof group, "%.*s", (int)(dot - name), name);
    const struct cluster_group *g = cluster_spec_group(&p->cluster, group);
    char *end;
    long i = strtol(dot + 1, &end, 10);
    if (!g || end == dot + 1 || *end || i < 1 || i > g->replicas) return NULL;
    if (index) *index = (int)i;
    return g;
}

/* group + share ("50%") or count: the group's last replicas, at least one, never all of
 * them (a whole group away is the hotplug check). */
static int parse_fault_share(const struct plan *p, struct plan_check *c,
                             const struct conf_doc *doc, const struct conf_node *body, char *err,
                             size_t errlen)
{
    const char *group = NULL;
    const struct conf_node *share = conf_get(body, "share");
    long long count = 0;
    if (conf_opt_string(doc, body, "group", &group, err, errlen) < 0 ||
        conf_opt_int(doc, body, "count", 1, PLAN_MAX_FAULT_NODES, &count, err, errlen) < 0)
        return -1;
    const struct cluster_group *g = group ? cluster_spec_group(&p->cluster, group) : NULL;
    if (!g || strcmp(group, CLUSTER_GATEWAY_GROUP) == 0)
        return conf_error(doc, group ? conf_get(body, "group") : body, err, errlen,
                          "expected 'node' (api.2, or a list), or 'group' (a group of the plan's "
                          "cluster) with 'share' or 'count'");
    if (!share == !count)
        return conf_error(doc, body, err, errlen,
                          "with 'group', give one of 'share' (50%%) or 'count' (2)");
    if (share) {
        double fraction = 0;
        if (conf_to_percent(doc, share, 0.01, 1, &fraction, err, errlen) < 0)
            return -1;
        count = (long long)(fraction * g->replicas + 0.5);
        if (count < 1) count = 1;
    }
    if (count >= g->replicas)
        return conf_error(doc, conf_get(body, share ? "share" : "count"), err, errlen,
                          "%lld of %d replicas is the whole group %s: leave one up (or use the "
                          "hotplug check)",
                          count, g->replicas, group);
    for (int i = g->replicas - (int)count + 1; i <= g->replicas; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.%d", group, i);
        if (add_fault_node(c, doc, body, name, err, errlen) < 0) return -1;
    }
    return 0;
}

/* The faulted nodes: `node` (one name, or a list), or `group` with `share` or `count` (when
 * several may be; consistency faults one node). The exec fault names any node (the gateway's
 * node id); the others name replicas of the plan's cluster. Call after plan_parse_fault and
 * plan_parse_timing. */
int plan_parse_fault_nodes(struct plan *p, struct plan_check *c, const struct conf_doc *doc,
                             const struct conf_node *body, bool several, char *err,
                             size_t errlen)
{
    bool exec = strcmp(c->fault, "exec") == 0;
    if (!exec && !p->has_cluster)
        return conf_error(doc, body, err, errlen,
                          "the %s fault needs the plan's cluster (herd injects it through its "
                          "supervisor); for a cluster herd did not launch use fault: exec",
                          c->fault);
    const struct conf_node *node = conf_get(body, "node");
    if (!node && several && !exec && conf_get(body, "group")) {
        if (parse_fault_share(p, c, doc, body, err, errlen) < 0) return -1;
    } else if (node && node->type == CONF_SEQ && several) {
        if (node->count == 0) return conf_error(doc, node, err, errlen, "expected node names");
        for (const struct conf_node *x = node->first; x; x = x->next) {
            const char *name;
            if (conf_to_string(doc, x, &name, err, errlen) < 0 ||
                add_fault_node(c, doc, x, name, err, errlen) < 0)
                return -1;
        }
    } else {
        const char *name;
        if (!node)
            return conf_error(doc, body, err, errlen,
                              exec ? "expected 'node', the id the gateway and X-Herd-Node know "
                                     "it by"
                                   : "missing 'node', the replica to fault (api.2)");
        if (conf_to_string(doc, node, &name, err, errlen) < 0 ||
            add_fault_node(c, doc, node, name, err, errlen) < 0)
            return -1;
    }
    for (size_t i = 0; !exec && i < c->node_count; i++) {
        const struct conf_node *where = node && node->type == CONF_SEQ ? node->first : node;
        for (size_t k = 0; where && k < i; k++)
            where = where->next;
        if (!where) where = body;
        const struct cluster_group *g = plan_replica(p, c->nodes[i], NULL);
        if (!g)
            return conf_error(doc, where, err, errlen,
                              "'%s' is not a replica of the plan's cluster (GROUP.INDEX)",
                              c->nodes[i]);
        if (strcmp(c->fault, "partition") == 0 && !g->netns)
            return conf_error(doc, where, err, errlen,
                              "the partition fault cuts a replica's network namespace: give "
                              "group %s netns: true (root only)",
                              g->name);
        if (plan_fault_proxied(c->fault) && g->netns)
            return conf_error(doc, where, err, errlen,
                              "the %s fault goes through the fault proxy on 127.0.0.1, which "
                              "group %s in network namespaces does not use",
                              c->fault, g->name);
    }
    if (exec && c->restart_after_us && !c->recover_cmd[0])
        return conf_error(doc, conf_get(body, "restart_after"), err, errlen,
                          "restart_after needs 'recover', the command that undoes the fault");
    return 0;
}

void plan_default_bound(struct plan_check *c, const char *key, const char *text)
{
    for (size_t i = 0; i < c->bound_count; i++)
        if (strcmp(c->bounds[i].key, key) == 0) return;
    if (c->bound_count == PLAN_MAX_EXPECT ||
        plan_parse_bound(key, text, &c->bounds[c->bound_count]) < 0)
        return;
    snprintf(c->bounds[c->bound_count].key, sizeof c->bounds[0].key, "%s", key);
    c->bound_count++;
}

/* A base URL for the checks: http://HOST:PORT, without a trailing slash, into out. */
static int parse_base_url(const struct conf_doc *doc, const struct conf_node *node,
                          const char *text, char *out, size_t size, char *err, size_t errlen)
{
    struct url u;
    char uerr[256];
    if (strncmp(text, "http://", 7) != 0 || strlen(text) >= size ||
        url_parse(&u, text, uerr, sizeof uerr) < 0)
        return conf_error(doc, node, err, errlen,
                          "expected the base URL the checks load, http://HOST:PORT");
    snprintf(out, size, "%s", text);
    size_t len = strlen(out);
    if (len > 7 && out[len - 1] == '/') out[len - 1] = '\0';
    return 0;
}

/* environments: {NAME: URL, ...} */
static int parse_environments(struct plan *p, const struct conf_doc *doc,
                              const struct conf_node *v, char *err, size_t errlen)
{
    if (conf_expect_map(doc, v, err, errlen) < 0) return -1;
    if (v->count == 0) return conf_error(doc, v, err, errlen, "expected NAME: URL pairs");
    for (const struct conf_node *e = v->first; e; e = e->next) {
        const char *url;
        if (p->env_count == PLAN_MAX_ENVS)
            return conf_error(doc, e, err, errlen, "at most %d environments", PLAN_MAX_ENVS);
        if (!e->key[0] || strlen(e->key) >= sizeof p->envs[0].name)
            return conf_error(doc, e, err, errlen, "expected a short environment name");
        struct plan_env *env = &p->envs[p->env_count];
        if (conf_to_string(doc, e, &url, err, errlen) < 0 ||
            parse_base_url(doc, e, url, env->url, sizeof env->url, err, errlen) < 0)
            return -1;
        snprintf(env->name, sizeof env->name, "%s", e->key);
        p->env_count++;
    }
    return 0;
}

static int parse_check(struct plan *p, struct plan_check *c, const struct conf_doc *doc,
                       const struct conf_node *item, char *err, size_t errlen)
{
    if (conf_expect_map(doc, item, err, errlen) < 0) return -1;
    if (item->count != 1)
        return conf_error(
            doc, item, err, errlen,
            "a check is one key, its kind: connectivity, distribution, concurrency, failover, "
            "scaling, hotplug, consistency, capacity or parity");
    const struct conf_node *body = item->first;
    int kind = -1;
    for (int k = 0; k < PLAN_CHECK_KINDS; k++)
        if (strcmp(body->key, check_kinds[k]->name) == 0) kind = k;
    if (kind < 0)
        return conf_error(doc, body, err, errlen,
                          "unknown check '%s', expected connectivity, distribution, concurrency, "
                          "failover, scaling, hotplug, consistency, capacity or parity",
                          body->key);
    c->kind = (enum plan_check_kind)kind;
    c->line = body->key_line;
    snprintf(c->name, sizeof c->name, "%s", body->key);
    for (size_t i = 0; i < p->check_count; i++) /* repeated kinds: connectivity#2 */
        if (strcmp(p->checks[i].name, c->name) == 0) {
            snprintf(c->name, sizeof c->name, "%s#%zu", body->key, p->check_count + 1);
            break;
        }
    if (body->type == CONF_SCALAR && body->value && !body->value[0]) /* "- connectivity:" */
        body = NULL;
    static const struct conf_node empty = {.type = CONF_MAP};
    if (!body) body = &empty;
    if (conf_expect_map(doc, body, err, errlen) < 0) return -1;
    const char *environment = NULL;
    if (conf_opt_string(doc, body, "environment", &environment, err, errlen) < 0) return -1;
    snprintf(c->target, sizeof c->target, "%s", p->target);
    if (environment) {
        size_t k = 0;
        while (k < p->env_count && strcmp(p->envs[k].name, environment) != 0)
            k++;
        if (k == p->env_count)
            return conf_error(doc, conf_get(body, "environment"), err, errlen,
                              "'%s' is not one of the plan's environments", environment);
        snprintf(c->environment, sizeof c->environment, "%s", environment);
        snprintf(c->target, sizeof c->target, "%s", p->envs[k].url);
    }
    const struct check_kind *k = check_kinds[c->kind];
    return k->parse(p, c, doc, body, conf_get(body, "expect"), err, errlen);
}

static int parse_report(struct plan *p, const struct conf_doc *doc, const struct conf_node *r,
                        char *err, size_t errlen)
{
    const char *dir = p->report_dir;
    if (conf_check_members(doc, r, report_keys, err, errlen) < 0 ||
        conf_opt_string(doc, r, "dir", &dir, err, errlen) < 0)
        return -1;
    if (!dir[0] || strlen(dir) >= sizeof p->report_dir)
        return conf_error(doc, conf_get(r, "dir"), err, errlen, "expected a directory");
    memmove(p->report_dir, dir, strlen(dir) + 1);
    const struct conf_node *f = conf_get(r, "formats");
    if (!f) return 0;
    if (conf_expect_seq(doc, f, err, errlen) < 0) return -1;
    p->formats = 0;
    for (const struct conf_node *x = f->first; x; x = x->next) {
        const char *s;
        if (conf_to_string(doc, x, &s, err, errlen) < 0) return -1;
        unsigned bit = plan_format_bit(s);
        if (!bit) return conf_error(doc, x, err, errlen, "'%s': expected json, md, html or junit", s);
        p->formats |= bit;
    }
    return 0;
}

unsigned plan_format_bit(const char *name)
{
    static const struct {
        const char *name;
        unsigned bit;
    } formats[] = {{"json", PLAN_JSON}, {"md", PLAN_MD}, {"junit", PLAN_JUNIT}, {"html", PLAN_HTML}};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (strcmp(name, formats[i].name) == 0) return formats[i].bit;
    return 0;
}

int plan_load(struct plan *p, const char *path, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    snprintf(p->path, sizeof p->path, "%s", path);
    snprintf(p->report_dir, sizeof p->report_dir, "reports");
    p->formats = PLAN_FORMATS_ALL;
    if (conf_load_file(&p->doc, path, err, errlen) < 0) return -1;
    const struct conf_doc *doc = &p->doc;
    const struct conf_node *root = doc->root, *v;
    const char *name = "plan", *target = "";
    if (!root) {
        err_set(err, errlen, "%s:1:1: the plan is empty, expected name, cluster, target, checks",
                path);
        goto fail;
    }
    if (conf_check_members(doc, root, plan_keys, err, errlen) < 0 ||
        conf_opt_string(doc, root, "name", &name, err, errlen) < 0 ||
        conf_opt_string(doc, root, "target", &target, err, errlen) < 0)
        goto fail;
    snprintf(p->name, sizeof p->name, "%s", name);
    if ((v = conf_get(root, "cluster"))) {
        if (conf_expect_map(doc, v, err, errlen) < 0 ||
            cluster_spec_parse(&p->cluster, doc, v, err, errlen) < 0)
            goto fail;
        p->has_cluster = true;
    }
    if ((v = conf_get(root, "environments")) && parse_environments(p, doc, v, err, errlen) < 0)
        goto fail;
    if (target[0]) {
        if (parse_base_url(doc, conf_get(root, "target"), target, p->target, sizeof p->target,
                           err, errlen) < 0)
            goto fail;
    } else if (p->has_cluster && p->cluster.gateway.present) {
        snprintf(p->target, sizeof p->target, "http://127.0.0.1:%d", p->cluster.gateway.port);
    } else if (p->env_count) { /* the first environment */
        snprintf(p->target, sizeof p->target, "%s", p->envs[0].url);
    } else {
        conf_error(doc, root, err, errlen,
                   "no target: give target: http://HOST:PORT, environments: {NAME: URL}, or a "
                   "cluster with a gateway");
        goto fail;
    }
    v = conf_get(root, "checks"); /* required: it is there */
    if (conf_expect_seq(doc, v, err, errlen) < 0) goto fail;
    if (v->count == 0) {
        conf_error(doc, v, err, errlen, "no check: expected at least one");
        goto fail;
    }
    p->checks = calloc(v->count, sizeof *p->checks);
    if (!p->checks) {
        err_set(err, errlen, "out of memory");
        goto fail;
    }
    for (const struct conf_node *c = v->first; c; c = c->next) {
        if (parse_check(p, &p->checks[p->check_count], doc, c, err, errlen) < 0) {
            free(p->checks[p->check_count].parity); /* not counted: plan_free misses it */
            goto fail;
        }
        p->check_count++;
    }
    if ((v = conf_get(root, "report")) && parse_report(p, doc, v, err, errlen) < 0) goto fail;
    return 0;
fail:
    plan_free(p);
    return -1;
}

void plan_free(struct plan *p)
{
    if (p->has_cluster) cluster_spec_free(&p->cluster);
    for (size_t i = 0; p->checks && i < p->check_count; i++)
        free(p->checks[i].parity);
    free(p->checks);
    conf_free(&p->doc);
    memset(p, 0, sizeof *p);
}
