/* check_concurrency.c -- closed-model (or open-model with rate) load for a duration, judged by
 * the plan's thresholds and, always, the success requirement. */
#include "plan/check.h"

#include <stdio.h>

#include <jansson.h>

#include "load/engine.h"
#include "load/run_json.h"
#include "load/threshold.h"

static const char *const none[] = {NULL};

const struct conf_key check_concurrency_keys[] = {
    CONF_KEY("connections", CONF_K_INT, "concurrent connections (50)"),
    CONF_KEY("duration", CONF_K_DURATION, "how long the load runs (10s)"),
    CONF_KEY("rate", CONF_K_NUMBER, "requests per second (open model); 0 or absent: as fast as possible"),
    CHECK_KEY_PATH("/"),
    CHECK_KEY_COMMON(none),
    CONF_KEYS_END,
};

static int parse(struct plan *p, struct plan_check *c, const struct conf_doc *doc,
                 const struct conf_node *body, const struct conf_node *e, char *err, size_t errlen)
{
    (void)p;
    long long connections;
    connections = 50;
    c->duration_us = 10000000;
    if (conf_check_members(doc, body, check_concurrency_keys, err, errlen) < 0 ||
        conf_opt_int(doc, body, "connections", 1, 100000, &connections, err, errlen) < 0 ||
        conf_opt_duration_us(doc, body, "duration", 100000, 3600000000ULL, &c->duration_us, err,
                             errlen) < 0 ||
        conf_opt_double(doc, body, "rate", 0, 10000000, &c->rate, err, errlen) < 0 ||
        plan_parse_path(c, doc, body, "/", err, errlen) < 0 ||
        (e && plan_parse_expect(c, doc, e, none, err, errlen) < 0))
        return -1;
    c->connections = (unsigned)connections;
    return 0;
}

static json_t *run(const struct check_env *env, const struct plan_check *c, json_t *expects,
                   bool *pass, char *err, size_t errlen)
{
    struct check_load l = {.connections = c->connections,
                           .duration_us = c->duration_us,
                           .rate = c->rate,
                           .window_us = CHECK_WINDOW_US};
    snprintf(l.url, sizeof l.url, "%s%s", c->target, c->path);
    struct load_result r;
    if (check_run_load(env, &l, &r, err, errlen) < 0) return NULL;
    struct load_summary s;
    load_summary_from(&r, &s);
    json_t *summary = load_summary_json(&r);
    json_t *nodes = json_array();
    const struct load_node *sorted[LOAD_MAX_NODES];
    for (size_t i = 0, n = load_nodes_by_name(&r, sorted); i < n; i++)
        json_array_append_new(nodes, json_pack("{s:s,s:I}", "node", sorted[i]->name, "requests",
                                               (json_int_t)sorted[i]->counters.requests));
    json_t *log = check_gateway_events(c->target);
    json_t *timeline = check_timeline_json(&r, log, NULL);
    json_decref(log);
    load_result_free(&r);
    bool ok = check_judge_thresholds(c, &s, expects);
    ok &= check_judge_success(c, &s, expects);
    *pass = ok;
    return json_pack("{s:i,s:f,s:f,s:o,s:o,s:o}", "connections", c->connections, "duration_s",
                     (double)c->duration_us / 1e6, "rate", c->rate, "summary", summary, "nodes",
                     nodes, "timeline", timeline);
}

const struct check_kind check_concurrency_kind = {"concurrency", parse, run};
