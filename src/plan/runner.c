/* runner.c -- runs a test plan (see runner.h). */
#include "plan/runner.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mtime.h"
#include "cluster/control.h"
#include "cluster/supervisor.h"
#include "load/engine.h"
#include "load/options.h"
#include "load/threshold.h"

/* ---- the cluster, supervised on its own loop thread ---- */

struct cluster_run {
    uv_loop_t loop;
    uv_async_t stop;
    uv_thread_t thread;
    uv_sem_t up;
    struct supervisor *sup;
    struct state_dir st;
    int up_status;
    char up_error[512];
};

static void on_up(struct supervisor *sup, int status, const char *error, void *data)
{
    (void)sup;
    struct cluster_run *c = data;
    c->up_status = status;
    snprintf(c->up_error, sizeof c->up_error, "%s", error ? error : "");
    uv_sem_post(&c->up);
}

static void on_down(struct supervisor *sup, int status, const char *error, void *data)
{
    (void)sup;
    (void)status;
    (void)error;
    struct cluster_run *c = data;
    uv_close((uv_handle_t *)&c->stop, NULL);
}

static void on_stop(uv_async_t *a)
{
    struct cluster_run *c = a->data;
    supervisor_shutdown(c->sup, on_down, c);
}

static void cluster_main(void *arg)
{
    struct cluster_run *c = arg;
    supervisor_up(c->sup, on_up, c);
    uv_run(&c->loop, UV_RUN_DEFAULT);
}

/* Starts the plan's cluster and waits until it is ready. Returns 0, or 3 with a message. */
static int cluster_start(struct cluster_run *c, struct plan *p, const struct plan_run_opts *o,
                         char *err, size_t errlen)
{
    char dir[256];
    const char *root = o->state_dir;
    if (!root) {
        snprintf(dir, sizeof dir, "/tmp/herd-test-XXXXXX");
        if (!mkdtemp(dir)) return err_set(err, errlen, "cannot create a state directory"), 3;
        root = dir;
    }
    if (state_open(&c->st, root, err, errlen) < 0) return 3;
    if (p->cluster.gateway.present &&
        cluster_spec_add_gateway(&p->cluster, p->path, err, errlen) < 0)
        return 3;
    struct supervisor_opts so = {.self_exe = o->self_exe};
    uv_loop_init(&c->loop);
    c->sup = supervisor_new(&c->loop, &p->cluster, &c->st, &so);
    if (!c->sup) return err_set(err, errlen, "out of memory"), 3;
    uv_async_init(&c->loop, &c->stop, on_stop);
    c->stop.data = c;
    uv_sem_init(&c->up, 0);
    uv_thread_create(&c->thread, cluster_main, c);
    uv_sem_wait(&c->up);
    if (c->up_status != 0) { /* the supervisor stopped what it started */
        err_set(err, errlen, "the cluster did not start: %s (logs in %s/logs)", c->up_error,
                c->st.root);
        return 3;
    }
    return 0;
}

static void cluster_stop(struct cluster_run *c)
{
    uv_async_send(&c->stop);
    uv_thread_join(&c->thread);
    supervisor_free(c->sup);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_loop_close(&c->loop);
    uv_sem_destroy(&c->up);
}

/* ---- statistics ---- */

/* Upper regularized incomplete gamma Q(s, x): series below s + 1, continued fraction above. */
static double gamma_q(double s, double x)
{
    if (x <= 0) return 1.0;
    double lg = lgamma(s);
    if (x < s + 1) {
        double sum = 1.0 / s, term = sum;
        for (int n = 1; n < 1000; n++) {
            term *= x / (s + n);
            sum += term;
            if (fabs(term) < fabs(sum) * 1e-15) break;
        }
        return 1.0 - sum * exp(-x + s * log(x) - lg);
    }
    double b = x + 1 - s, c = 1e300, d = 1 / b, h = d; /* Lentz */
    for (int i = 1; i < 1000; i++) {
        double an = -i * (i - s);
        b += 2;
        d = an * d + b;
        if (fabs(d) < 1e-300) d = 1e-300;
        c = b + an / c;
        if (fabs(c) < 1e-300) c = 1e-300;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-15) break;
    }
    return exp(-x + s * log(x) - lg) * h;
}

double plan_chi2_p_value(double chi2, int dof)
{
    return dof > 0 ? gamma_q(dof / 2.0, chi2 / 2.0) : 1.0;
}

/* ---- checks ---- */

struct check_env {
    struct plan *p;
    const struct plan_run_opts *o;
    unsigned cores;
};

/* Runs one load with bench's options. Returns 0 or -1 with a message. */
static int run_load(const struct check_env *env, const char *url, uint64_t requests,
                    unsigned connections, uint64_t duration_us, double rate,
                    struct load_result *r, char *err, size_t errlen)
{
    struct bench_options bo;
    bench_options_default(&bo);
    bo.requests = requests;
    bo.connections = connections;
    bo.duration_us = duration_us;
    bo.rate = rate;
    bo.timeout_ms = 5000;
    struct load_plan lp;
    int rc = -1;
    if (bench_options_add_url(&bo, url, err, errlen) == 0 &&
        bench_options_plan(&bo, env->cores, &lp, err, errlen) == 0) {
        rc = load_run(&lp, r, NULL, NULL, err, errlen);
        bench_plan_free(&lp);
    }
    bench_options_free(&bo);
    return rc;
}

static json_t *expectation(const char *text, double actual, bool pass)
{
    return json_pack("{s:s,s:f,s:b}", "expect", text, "actual", actual, "pass", pass);
}

/* Judges s against the check's load thresholds; appends to list. Returns true when all pass. */
static bool judge_thresholds(const struct plan_check *c, const struct load_summary *s, json_t *list)
{
    bool all = true;
    for (size_t i = 0; i < c->threshold_count; i++) {
        bool ok = threshold_check(&c->thresholds[i], s);
        json_array_append_new(list, expectation(c->thresholds[i].text,
                                                threshold_actual(&c->thresholds[i], s), ok));
        all &= ok;
    }
    return all;
}

static bool judge_bound(const struct plan_check *c, const char *key, double actual, json_t *list)
{
    bool all = true;
    for (size_t i = 0; i < c->bound_count; i++) {
        if (strcmp(c->bounds[i].key, key) != 0) continue;
        char text[128];
        snprintf(text, sizeof text, "%s %s", key, c->bounds[i].text);
        bool ok = plan_bound_check(&c->bounds[i], actual);
        json_array_append_new(list, expectation(text, actual, ok));
        all &= ok;
    }
    return all;
}

static json_t *summary_json(const struct load_summary *s)
{
    return json_pack("{s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "requests", (json_int_t)s->requests,
                     "failures", (json_int_t)s->failures, "error_rate", s->error_rate, "rps",
                     s->rps, "p50_ms", s->p50, "p95_ms", s->p95, "p99_ms", s->p99, "max_ms",
                     s->max, "mean_ms", s->mean);
}

/* Probes one endpoint; appends {endpoint, url, success, summary, expectations, pass} to
 * endpoints and its expectations to expects. Returns 0, or -1 with a message. */
static int probe(const struct check_env *env, const struct plan_check *c, const char *name,
                 const char *url, json_t *endpoints, json_t *expects, bool *pass, char *err,
                 size_t errlen)
{
    struct load_result r;
    if (run_load(env, url, (uint64_t)c->probes, 1, 0, 0, &r, err, errlen) < 0) return -1;
    struct load_summary s;
    load_summary_from(&r, &s);
    load_result_free(&r);
    double success = s.requests ? 1.0 - s.error_rate : 0.0;
    json_t *list = json_array();
    bool ok = judge_bound(c, "success", success, list) & judge_thresholds(c, &s, list);
    *pass &= ok;
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) { /* "api.1: success >=100%" in the check's list */
        char text[192];
        snprintf(text, sizeof text, "%s: %s", name, json_string_value(json_object_get(e, "expect")));
        json_array_append_new(expects, json_pack("{s:s,s:O,s:O}", "expect", text, "actual",
                                                 json_object_get(e, "actual"), "pass",
                                                 json_object_get(e, "pass")));
    }
    json_array_append_new(endpoints, json_pack("{s:s,s:s,s:f,s:o,s:o,s:b}", "endpoint", name,
                                               "url", url, "success", success, "summary",
                                               summary_json(&s), "expectations", list, "pass", ok));
    return 0;
}

/* Endpoints to probe: every replica the plan launched (not the gateway), then the target. The
 * check's expectations list names each endpoint's. */
static json_t *check_connectivity(const struct check_env *env, const struct plan_check *c,
                                  json_t *expects, bool *pass, char *err, size_t errlen)
{
    json_t *endpoints = json_array();
    struct plan *p = env->p;
    char url[1100], name[128];
    *pass = true;
    for (size_t g = 0; p->has_cluster && g < p->cluster.group_count; g++) {
        const struct cluster_group *grp = &p->cluster.groups[g];
        if (strcmp(grp->name, CLUSTER_GATEWAY_GROUP) == 0 || (!grp->base_port && !grp->ports))
            continue;
        for (int i = 1; i <= grp->replicas; i++) {
            snprintf(url, sizeof url, "http://127.0.0.1:%d%s", cluster_group_port(grp, i), c->path);
            snprintf(name, sizeof name, "%s.%d", grp->name, i);
            if (probe(env, c, name, url, endpoints, expects, pass, err, errlen) < 0) {
                json_decref(endpoints);
                return NULL;
            }
        }
    }
    snprintf(url, sizeof url, "%s%s", p->target, c->path);
    if (probe(env, c, "target", url, endpoints, expects, pass, err, errlen) < 0) {
        json_decref(endpoints);
        return NULL;
    }
    return json_pack("{s:i,s:o}", "probes", c->probes, "endpoints", endpoints);
}

/* What the target's gateway says of its balancing: algorithm and each node's weight. */
static json_t *gateway_view(const char *target)
{
    struct url u;
    char err[256];
    if (url_parse(&u, target, err, sizeof err) < 0) return NULL;
    int status;
    char *body = NULL;
    json_t *st = NULL, *nodes = NULL;
    if (control_call_port(u.port, "GET", "/api/v1/cluster/status", NULL, 2000, &status, &body, err,
                          sizeof err) == 0 && status == 200)
        st = json_loads(body, 0, NULL);
    free(body);
    body = NULL;
    if (st && control_call_port(u.port, "GET", "/api/v1/cluster/nodes", NULL, 2000, &status, &body,
                                err, sizeof err) == 0 && status == 200)
        nodes = json_loads(body, 0, NULL);
    free(body);
    json_t *balance = json_object_get(json_object_get(st, "gateway"), "balance");
    json_t *threads = json_object_get(json_object_get(st, "gateway"), "threads");
    json_t *view = balance && nodes ? json_pack("{s:O,s:I,s:O}", "balance", balance, "threads",
                                                threads ? json_integer_value(threads) : 1,
                                                "nodes", json_object_get(nodes, "nodes"))
                                    : NULL;
    json_decref(st);
    json_decref(nodes);
    return view;
}

static json_t *check_distribution(const struct check_env *env, const struct plan_check *c,
                                  json_t *expects, bool *pass, char *err, size_t errlen)
{
    json_t *view = gateway_view(env->p->target);
    const char *algorithm = c->algorithm[0] ? c->algorithm
                            : view ? json_string_value(json_object_get(view, "balance"))
                                   : "roundrobin";
    char url[1100];
    snprintf(url, sizeof url, "%s%s", env->p->target, c->path);
    struct load_result r;
    if (run_load(env, url, c->requests, c->connections, 0, 0, &r, err, errlen) < 0) {
        json_decref(view);
        return NULL;
    }
    /* expected shares: the gateway's nodes that take requests, by weight when weighted */
    struct {
        const char *name;
        double weight;
        uint64_t count;
    } n[LOAD_MAX_NODES];
    size_t k = 0;
    const char *id;
    json_t *node;
    json_object_foreach(json_object_get(view, "nodes"), id, node) {
        if (k == LOAD_MAX_NODES) break;
        const char *state = json_string_value(json_object_get(node, "state"));
        if (state && strcmp(state, "up") != 0) continue;
        n[k].name = id;
        n[k].weight = (double)json_integer_value(
            json_object_get(json_object_get(node, "config"), "weight"));
        n[k].count = 0;
        k++;
    }
    uint64_t ok = r.total.counters.by_class[COUNTER_OK];
    for (size_t i = 0; i < r.total.node_count; i++) { /* nodes that answered */
        size_t j = 0;
        while (j < k && strcmp(n[j].name, r.total.nodes[i].name) != 0) j++;
        if (j == k && k < LOAD_MAX_NODES) {
            n[k].name = r.total.nodes[i].name;
            n[k].weight = 1;
            k++;
        }
        if (j < k) n[j].count = r.total.nodes[i].counters.by_class[COUNTER_OK];
    }
    bool weighted = strcmp(algorithm, "weighted") == 0 || strcmp(algorithm, "roundrobin") == 0;
    double wsum = 0;
    for (size_t j = 0; j < k; j++) wsum += weighted && n[j].weight > 0 ? n[j].weight : 1;
    double chi2 = 0, max_dev = 0, max_off = 0;
    json_t *rows = json_array();
    for (size_t j = 0; j < k; j++) {
        double share = weighted && n[j].weight > 0 ? n[j].weight / wsum : 1.0 / wsum;
        double expected = share * (double)ok;
        double off = fabs((double)n[j].count - expected);
        double dev = expected > 0 ? off / expected : 0;
        if (expected > 0) chi2 += off * off / expected;
        if (dev > max_dev) max_dev = dev;
        if (off > max_off) max_off = off;
        json_array_append_new(rows, json_pack("{s:s,s:I,s:f,s:f,s:f}", "node", n[j].name,
                                              "requests", (json_int_t)n[j].count, "share",
                                              ok ? (double)n[j].count / (double)ok : 0.0,
                                              "expected_share", share, "deviation", dev));
    }
    double p_value = plan_chi2_p_value(chi2, (int)k - 1);
    struct load_summary s;
    load_summary_from(&r, &s);
    load_result_free(&r);
    /* the verdict knows the algorithm unless the plan set its own bounds */
    bool verdict = judge_thresholds(c, &s, expects);
    if (c->bound_count > 0) {
        verdict &= judge_bound(c, "max_deviation", max_dev, expects);
        verdict &= judge_bound(c, "p_value", p_value, expects);
    } else if (strcmp(algorithm, "roundrobin") == 0) {
        /* exact per gateway thread: within one request per node and thread */
        double threads = (double)json_integer_value(json_object_get(view, "threads"));
        if (threads < 1) threads = 1;
        char text[128];
        snprintf(text, sizeof text, "roundrobin: every node within %.0f request%s of its share",
                 threads, threads > 1 ? "s" : "");
        bool exact = max_off <= threads;
        json_array_append_new(expects, expectation(text, max_off, exact));
        verdict &= exact;
    } else if (strcmp(algorithm, "random") == 0 || strcmp(algorithm, "weighted") == 0) {
        bool fits = p_value >= 0.01;
        json_array_append_new(expects, expectation("chi-square p_value >= 0.01", p_value, fits));
        verdict &= fits;
    } else { /* leastconn, p2c, hash follow load or keys, not shares: every node must serve */
        bool all = k > 0;
        for (size_t j = 0; j < k; j++) all &= n[j].count > 0;
        json_array_append_new(expects, expectation("every node served requests", all, all));
        verdict &= all;
    }
    if (s.failures > 0) {
        json_array_append_new(expects, expectation("no failed request", (double)s.failures, false));
        verdict = false;
    }
    *pass = verdict;
    json_t *out = json_pack("{s:s,s:I,s:o,s:f,s:f,s:f,s:o}", "algorithm", algorithm, "requests",
                            (json_int_t)c->requests, "nodes", rows, "max_deviation", max_dev,
                            "chi_square", chi2, "p_value", p_value, "summary", summary_json(&s));
    json_decref(view);
    return out;
}

static json_t *check_concurrency(const struct check_env *env, const struct plan_check *c,
                                 json_t *expects, bool *pass, char *err, size_t errlen)
{
    char url[1100];
    snprintf(url, sizeof url, "%s%s", env->p->target, c->path);
    struct load_result r;
    if (run_load(env, url, 0, c->connections, c->duration_us, c->rate, &r, err, errlen) < 0)
        return NULL;
    struct load_summary s;
    load_summary_from(&r, &s);
    json_t *nodes = json_array();
    for (size_t i = 0; i < r.total.node_count; i++)
        json_array_append_new(nodes, json_pack("{s:s,s:I}", "node", r.total.nodes[i].name,
                                               "requests",
                                               (json_int_t)r.total.nodes[i].counters.requests));
    load_result_free(&r);
    *pass = judge_thresholds(c, &s, expects) && s.requests > 0;
    return json_pack("{s:i,s:f,s:f,s:o,s:o}", "connections", c->connections, "duration_s",
                     (double)c->duration_us / 1e6, "rate", c->rate, "summary", summary_json(&s),
                     "nodes", nodes);
}

/* ---- the run ---- */

int plan_run(struct plan *p, const struct plan_run_opts *o, void **out, char *err, size_t errlen)
{
    *out = NULL;
    struct cluster_run cr;
    memset(&cr, 0, sizeof cr);
    char started[40], ended[40];
    mtime_wall_iso8601(started, sizeof started);
    uint64_t t0 = mtime_now_us();
    if (p->has_cluster) {
        if (!o->quiet) fprintf(stderr, "herd test: starting the cluster\n");
        int rc = cluster_start(&cr, p, o, err, errlen);
        if (rc != 0) {
            if (cr.sup) cluster_stop(&cr);
            return rc;
        }
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    struct check_env env = {p, o, cores > 0 ? (unsigned)cores : 1};
    json_t *checks = json_array();
    bool all = true;
    int rc = 0;
    for (size_t i = 0; i < p->check_count; i++) {
        const struct plan_check *c = &p->checks[i];
        if (!o->quiet) fprintf(stderr, "herd test: %s ...\n", c->name);
        uint64_t c0 = mtime_now_us();
        json_t *expects = json_array();
        bool pass = false;
        json_t *measures = NULL;
        char cerr[512] = "";
        switch (c->kind) {
        case PLAN_CONNECTIVITY:
            measures = check_connectivity(&env, c, expects, &pass, cerr, sizeof cerr);
            break;
        case PLAN_DISTRIBUTION:
            measures = check_distribution(&env, c, expects, &pass, cerr, sizeof cerr);
            break;
        case PLAN_CONCURRENCY:
            measures = check_concurrency(&env, c, expects, &pass, cerr, sizeof cerr);
            break;
        }
        const char *verdict = measures ? (pass ? "pass" : "fail") : "error";
        all &= measures && pass;
        json_array_append_new(
            checks, json_pack("{s:s,s:s,s:i,s:s,s:f,s:o,s:o,s:s?}", "name", c->name, "kind",
                              plan_check_kind_name(c->kind), "line", c->line, "verdict", verdict,
                              "duration_s", (double)(mtime_now_us() - c0) / 1e6, "expectations",
                              expects, "measures", measures ? measures : json_object(), "error",
                              measures ? NULL : cerr));
        if (!o->quiet) fprintf(stderr, "herd test: %s: %s%s%s\n", c->name, verdict,
                               measures ? "" : ": ", measures ? "" : cerr);
    }
    if (p->has_cluster) {
        if (!o->quiet) fprintf(stderr, "herd test: stopping the cluster\n");
        cluster_stop(&cr);
    }
    if (!all) rc = 1;
    mtime_wall_iso8601(ended, sizeof ended);
    *out = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:f,s:s,s:b,s:o}", "schema", "herd.test/1", "tool",
                     "herd " HERD_VERSION, "name", p->name, "plan", p->path, "started_at", started,
                     "ended_at", ended, "duration_s", (double)(mtime_now_us() - t0) / 1e6,
                     "target", p->target, "cluster_launched", p->has_cluster, "checks", checks);
    json_object_set_new(*out, "verdict", json_string(all ? "pass" : "fail"));
    return rc;
}
