/* check_distribution.c -- N requests through the target, each node's share of the answers
 * judged by what its balancer promises: round robin exact (within one request per node,
 * whatever the gateway's threads: they share one rotation), random and weighted by a
 * chi-square test, the others by every node serving. Nothing counted is a failure, never an
 * even split of zero. */
#define _GNU_SOURCE /* strverscmp */
#include "plan/check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "balance/balancer.h"
#include "load/engine.h"
#include "load/run_json.h"
#include "load/threshold.h"
#include "plan/measure.h"

/* What the target's gateway says of its balancing: algorithm, threads and nodes; NULL when
 * the target is not a herd gateway. */
static json_t *gateway_view(const char *target)
{
    json_t *st = check_gateway_get(target, "/api/v1/cluster/status");
    json_t *nodes = st ? check_gateway_get(target, "/api/v1/cluster/nodes") : NULL;
    json_t *balance = json_object_get(json_object_get(st, "gateway"), "balance");
    json_t *threads = json_object_get(json_object_get(st, "gateway"), "threads");
    json_t *view = balance && nodes ? json_pack("{s:O,s:I,s:O}", "balance", balance, "threads",
                                                threads ? json_integer_value(threads) : 1, "nodes",
                                                json_object_get(nodes, "nodes"))
                                    : NULL;
    json_decref(st);
    json_decref(nodes);
    return view;
}

struct share_node {
    const char *name;
    double weight;
    uint64_t count;
};

static int share_node_by_name(const void *a, const void *b)
{
    return strverscmp(((const struct share_node *)a)->name, ((const struct share_node *)b)->name);
}

/* The nodes that take requests (the gateway's up nodes, by weight), and any other that
 * answered, each with its successful answers, in name order (web1, web2, web3; api.2 before
 * api.10). Returns how many. */
static size_t count_nodes(const json_t *view, const struct load_result *r, struct share_node *n)
{
    size_t k = 0;
    const char *id;
    json_t *node;
    json_object_foreach(json_object_get(view, "nodes"), id, node)
    {
        if (k == LOAD_MAX_NODES) break;
        const char *state = json_string_value(json_object_get(node, "state"));
        if (state && strcmp(state, "up") != 0) continue;
        json_t *w = json_object_get(json_object_get(node, "config"), "weight");
        n[k++] = (struct share_node){id, w ? (double)json_integer_value(w) : 1, 0};
    }
    for (size_t i = 0; i < r->total.node_count; i++) {
        size_t j = 0;
        while (j < k && strcmp(n[j].name, r->total.nodes[i].name) != 0)
            j++;
        if (j == k && k < LOAD_MAX_NODES)
            n[k++] = (struct share_node){r->total.nodes[i].name, 1, 0};
        if (j < k) n[j].count = r->total.nodes[i].counters.by_class[COUNTER_OK];
    }
    qsort(n, k, sizeof n[0], share_node_by_name);
    return k;
}

static const char *const own[] = {"max_deviation", "p_value", NULL};

const struct conf_key check_distribution_keys[] = {
    CONF_KEY("requests", CONF_K_INT, "requests sent (3000)"),
    CONF_KEY("connections", CONF_K_INT, "over this many connections (10)"),
    CHECK_KEY_PATH("/"),
    CONF_KEY("algorithm", CONF_K_STRING, "what the verdict assumes (default: the gateway's)",
     .choices = balancer_names),
    CHECK_KEY_COMMON(own),
    CONF_KEYS_END,
};

static int parse(struct plan *p, struct plan_check *c, const struct conf_doc *doc,
                 const struct conf_node *body, const struct conf_node *e, char *err, size_t errlen)
{
    (void)p;
    long long requests = 3000, connections = 10;
    const char *algorithm = "";
    if (conf_check_members(doc, body, check_distribution_keys, err, errlen) < 0 ||
        conf_opt_int(doc, body, "requests", 1, 100000000, &requests, err, errlen) < 0 ||
        conf_opt_int(doc, body, "connections", 1, 10000, &connections, err, errlen) < 0 ||
        conf_opt_string(doc, body, "algorithm", &algorithm, err, errlen) < 0 ||
        plan_parse_path(c, doc, body, "/", err, errlen) < 0 ||
        (e && plan_parse_expect(c, doc, e, own, err, errlen) < 0))
        return -1;
    enum balance_algorithm a;
    if (algorithm[0] && balancer_parse(algorithm, &a) < 0)
        return conf_error(doc, conf_get(body, "algorithm"), err, errlen,
                          "expected roundrobin, random, weighted, leastconn, p2c or hash");
    c->requests = (uint64_t)requests;
    c->connections = (unsigned)connections;
    snprintf(c->algorithm, sizeof c->algorithm, "%s", algorithm);
    return 0;
}

static json_t *run(const struct check_env *env, const struct plan_check *c, json_t *expects,
                   bool *pass, char *err, size_t errlen)
{
    json_t *view = gateway_view(c->target);
    const char *algorithm = c->algorithm[0] ? c->algorithm
                            : view          ? json_string_value(json_object_get(view, "balance"))
                                            : "roundrobin";
    struct check_load l = {.requests = c->requests, .connections = c->connections};
    snprintf(l.url, sizeof l.url, "%s%s", c->target, c->path);
    struct load_result r;
    if (check_run_load(env, &l, &r, err, errlen) < 0) {
        json_decref(view);
        return NULL;
    }
    struct share_node n[LOAD_MAX_NODES];
    size_t k = count_nodes(view, &r, n);
    bool weighted = strcmp(algorithm, "weighted") == 0 || strcmp(algorithm, "roundrobin") == 0;
    uint64_t counts[LOAD_MAX_NODES];
    double weights[LOAD_MAX_NODES], wsum = 0;
    for (size_t j = 0; j < k; j++) {
        counts[j] = n[j].count;
        weights[j] = weighted && n[j].weight > 0 ? n[j].weight : 1;
        wsum += weights[j];
    }
    struct measure_shares m;
    uint64_t counted = measure_shares(counts, weights, k, &m);
    json_t *rows = json_array();
    for (size_t j = 0; j < k; j++) {
        double share = weights[j] / wsum, expected = share * (double)counted;
        double dev = expected > 0 ? fabs((double)n[j].count - expected) / expected : NAN;
        json_t *row = json_pack(
            "{s:s,s:I,s:f,s:f}", "node", n[j].name, "requests", (json_int_t)n[j].count, "share",
            counted ? (double)n[j].count / (double)counted : 0.0, "expected_share", share);
        json_object_set_new(row, "deviation", isfinite(dev) ? json_real(dev) : json_null());
        json_array_append_new(rows, row);
    }
    struct load_summary s;
    load_summary_from(&r, &s);
    json_t *summary = load_summary_json(&r);
    load_result_free(&r);
    /* the verdict knows the algorithm unless the plan set its own bounds */
    bool verdict = check_judge_thresholds(c, &s, expects);
    if (counted == 0) {
        json_array_append_new(expects,
                              check_expectation_why("answers to count", NAN, false, "no samples"));
        verdict = false;
    } else if (c->bound_count > 0) {
        verdict &= check_judge_bound(c, "max_deviation", m.max_deviation, expects);
        verdict &= check_judge_bound(c, "p_value", m.p_value, expects);
    } else if (strcmp(algorithm, "roundrobin") == 0) {
        /* one rotation for every gateway thread: exact within one request per node */
        bool exact = m.max_off <= 1;
        json_array_append_new(
            expects, check_expectation("roundrobin: every node within 1 request of its share",
                                       m.max_off, exact));
        verdict &= exact;
    } else if (strcmp(algorithm, "random") == 0 || strcmp(algorithm, "weighted") == 0) {
        bool fits = m.p_value >= 0.01;
        json_array_append_new(expects,
                              check_expectation("chi-square p_value >= 0.01", m.p_value, fits));
        verdict &= fits;
    } else { /* leastconn, p2c, hash follow load or keys, not shares: every node must serve */
        bool all = k > 0;
        for (size_t j = 0; j < k; j++)
            all &= n[j].count > 0;
        json_array_append_new(expects, check_expectation("every node served requests", all, all));
        verdict &= all;
    }
    if (s.failures > 0) {
        json_array_append_new(expects,
                              check_expectation("no failed request", (double)s.failures, false));
        verdict = false;
    }
    *pass = verdict;
    json_t *out = json_pack("{s:s,s:I,s:I,s:o}", "algorithm", algorithm, "requests",
                            (json_int_t)c->requests, "counted", (json_int_t)counted, "nodes", rows);
    json_object_set_new(out, "max_deviation",
                        isfinite(m.max_deviation) ? json_real(m.max_deviation) : json_null());
    json_object_set_new(out, "chi_square", isfinite(m.chi2) ? json_real(m.chi2) : json_null());
    json_object_set_new(out, "p_value", isfinite(m.p_value) ? json_real(m.p_value) : json_null());
    json_object_set_new(out, "summary", summary);
    json_decref(view);
    return out;
}

const struct check_kind check_distribution_kind = {"distribution", parse, run};
