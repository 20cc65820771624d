/* runner.c -- runs a test plan (see runner.h). */
#include "plan/runner.h"
#include "plan/check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <jansson.h>
#include <uv.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mtime.h"
#include "cluster/control.h"
#include "cluster/supervisor.h"
#include "fault/netns.h"
#include "fault/proxy.h"
#include "load/engine.h"
#include "load/options.h"
#include "load/threshold.h"
#include "stats/hist.h"

/* ---- the cluster, supervised on its own loop thread ---- */

/* A node action asked of the supervisor's thread (a fault), and its outcome. */
struct cluster_call {
    char id[64];
    char action[16]; /* a node action, or "scale" (id: the group) */
    int replicas;
    int status;
    char error[256];
    json_t *result; /* "status": the supervisor's view (supervisor_status_json) */
};

struct cluster_run {
    uv_loop_t loop;
    uv_async_t stop;
    uv_async_t act;
    uv_sem_t acted;
    struct cluster_call *call;
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
    uv_close((uv_handle_t *)&c->act, NULL);
    supervisor_shutdown(c->sup, on_down, c);
}

static void on_acted(struct supervisor *sup, int status, const char *error, void *data)
{
    (void)sup;
    struct cluster_run *c = data;
    c->call->status = status;
    snprintf(c->call->error, sizeof c->call->error, "%s", error ? error : "");
    uv_sem_post(&c->acted);
}

static void on_act(uv_async_t *a)
{
    struct cluster_run *c = a->data;
    struct cluster_call *call = c->call;
    if (strcmp(call->action, "status") == 0) {
        call->result = supervisor_status_json(c->sup);
        uv_sem_post(&c->acted);
        return;
    }
    int rc = strcmp(call->action, "scale") == 0
                 ? supervisor_scale(c->sup, call->id, call->replicas, on_acted, c, call->error,
                                    sizeof call->error)
                 : supervisor_node_action(c->sup, call->id, call->action, on_acted, c, call->error,
                                          sizeof call->error);
    if (rc < 0) {
        call->status = 3;
        uv_sem_post(&c->acted);
    }
}

/* Hands call to the supervisor's thread and waits until it is answered. */
static void cluster_call_run(struct cluster_run *c, struct cluster_call *call)
{
    c->call = call;
    uv_async_send(&c->act);
    uv_sem_wait(&c->acted);
    c->call = NULL;
}

/* Asks the supervisor (on its thread) for a node action and waits for its outcome. Returns
 * 0, or -1 with the supervisor's message. */
int check_cluster_act(struct cluster_run *c, const char *id, const char *action, int replicas,
                      char *err, size_t errlen)
{
    struct cluster_call call = {.status = 0, .replicas = replicas};
    snprintf(call.id, sizeof call.id, "%s", id);
    snprintf(call.action, sizeof call.action, "%s", action);
    cluster_call_run(c, &call);
    if (call.status != 0) return err_set(err, errlen, "%s %s: %s", action, id, call.error);
    return 0;
}

json_t *check_cluster_status(struct cluster_run *c)
{
    struct cluster_call call = {.action = "status"};
    cluster_call_run(c, &call);
    return call.result;
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
    uv_async_init(&c->loop, &c->act, on_act);
    c->stop.data = c->act.data = c;
    uv_sem_init(&c->up, 0);
    uv_sem_init(&c->acted, 0);
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
    uv_sem_destroy(&c->acted);
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

/* Runs one load with bench's options. Returns 0 or -1 with a message. */
/* Outcomes are also counted in windows this long: DESIGN section 6's 100 ms, for the
 * failover measurements and the report's charts. */
#define CHECK_WINDOW_US 100000

static int run_load_windows(const struct check_env *env, const char *url, uint64_t requests,
                            unsigned connections, uint64_t duration_us, double rate,
                            uint64_t window_us, struct load_result *r, char *err, size_t errlen);

static int run_load(const struct check_env *env, const char *url, uint64_t requests,
                    unsigned connections, uint64_t duration_us, double rate, struct load_result *r,
                    char *err, size_t errlen)
{
    return run_load_windows(env, url, requests, connections, duration_us, rate, 0, r, err, errlen);
}

static int run_load_windows(const struct check_env *env, const char *url, uint64_t requests,
                            unsigned connections, uint64_t duration_us, double rate,
                            uint64_t window_us, struct load_result *r, char *err, size_t errlen)
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
        lp.window_us = window_us;
        rc = load_run(&lp, r, NULL, NULL, err, errlen);
        bench_plan_free(&lp);
    }
    bench_options_free(&bo);
    return rc;
}

/* actual: the measured value; not finite when it was never seen (null in the document) */
json_t *check_expectation(const char *text, double actual, bool pass)
{
    return json_pack("{s:s,s:o,s:b}", "expect", text, "actual",
                     isfinite(actual) ? json_real(actual) : json_null(), "pass", pass);
}

/* Judges s against the check's load thresholds; appends to list. Returns true when all pass. */
static bool judge_thresholds(const struct plan_check *c, const struct load_summary *s, json_t *list)
{
    bool all = true;
    for (size_t i = 0; i < c->threshold_count; i++) {
        bool ok = threshold_check(&c->thresholds[i], s);
        json_array_append_new(list, check_expectation(c->thresholds[i].text,
                                                      threshold_actual(&c->thresholds[i], s), ok));
        all &= ok;
    }
    return all;
}

bool check_judge_bound(const struct plan_check *c, const char *key, double actual, json_t *list)
{
    bool all = true;
    for (size_t i = 0; i < c->bound_count; i++) {
        if (strcmp(c->bounds[i].key, key) != 0) continue;
        char text[128];
        snprintf(text, sizeof text, "%s %s", key, c->bounds[i].text);
        bool ok = plan_bound_check(&c->bounds[i], actual);
        json_array_append_new(list, check_expectation(text, actual, ok));
        all &= ok;
    }
    return all;
}

static json_t *summary_json(const struct load_summary *s)
{
    return json_pack("{s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "requests", (json_int_t)s->requests,
                     "failures", (json_int_t)s->failures, "error_rate", s->error_rate, "rps",
                     s->rps, "p50_ms", s->p50, "p95_ms", s->p95, "p99_ms", s->p99, "max_ms", s->max,
                     "mean_ms", s->mean);
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
    bool ok = check_judge_bound(c, "success", success, list) & judge_thresholds(c, &s, list);
    *pass &= ok;
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    { /* "api.1: success >=100%" in the check's list */
        char text[192];
        snprintf(text, sizeof text, "%s: %s", name,
                 json_string_value(json_object_get(e, "expect")));
        json_array_append_new(expects, json_pack("{s:s,s:O,s:O}", "expect", text, "actual",
                                                 json_object_get(e, "actual"), "pass",
                                                 json_object_get(e, "pass")));
    }
    json_array_append_new(endpoints, json_pack("{s:s,s:s,s:f,s:o,s:o,s:b}", "endpoint", name, "url",
                                               url, "success", success, "summary", summary_json(&s),
                                               "expectations", list, "pass", ok));
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
            char host[40];
            cluster_group_host(grp, i, host, sizeof host);
            snprintf(url, sizeof url, "http://%s:%d%s", host, cluster_group_port(grp, i), c->path);
            snprintf(name, sizeof name, "%s.%d", grp->name, i);
            if (probe(env, c, name, url, endpoints, expects, pass, err, errlen) < 0) {
                json_decref(endpoints);
                return NULL;
            }
        }
    }
    /* the target, or every environment when the plan has several and the check names none */
    bool all = p->env_count && !c->environment[0];
    for (size_t e = 0; e < (all ? p->env_count : 1); e++) {
        snprintf(url, sizeof url, "%s%s", all ? p->envs[e].url : c->target, c->path);
        const char *what = all ? p->envs[e].name : c->environment[0] ? c->environment : "target";
        if (probe(env, c, what, url, endpoints, expects, pass, err, errlen) < 0) {
            json_decref(endpoints);
            return NULL;
        }
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
                          sizeof err) == 0 &&
        status == 200)
        st = json_loads(body, 0, NULL);
    free(body);
    body = NULL;
    if (st &&
        control_call_port(u.port, "GET", "/api/v1/cluster/nodes", NULL, 2000, &status, &body, err,
                          sizeof err) == 0 &&
        status == 200)
        nodes = json_loads(body, 0, NULL);
    free(body);
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

static json_t *check_distribution(const struct check_env *env, const struct plan_check *c,
                                  json_t *expects, bool *pass, char *err, size_t errlen)
{
    json_t *view = gateway_view(c->target);
    const char *algorithm = c->algorithm[0] ? c->algorithm
                            : view          ? json_string_value(json_object_get(view, "balance"))
                                            : "roundrobin";
    char url[1100];
    snprintf(url, sizeof url, "%s%s", c->target, c->path);
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
    json_object_foreach(json_object_get(view, "nodes"), id, node)
    {
        if (k == LOAD_MAX_NODES) break;
        const char *state = json_string_value(json_object_get(node, "state"));
        if (state && strcmp(state, "up") != 0) continue;
        n[k].name = id;
        n[k].weight =
            (double)json_integer_value(json_object_get(json_object_get(node, "config"), "weight"));
        n[k].count = 0;
        k++;
    }
    uint64_t ok = r.total.counters.by_class[COUNTER_OK];
    for (size_t i = 0; i < r.total.node_count; i++) { /* nodes that answered */
        size_t j = 0;
        while (j < k && strcmp(n[j].name, r.total.nodes[i].name) != 0)
            j++;
        if (j == k && k < LOAD_MAX_NODES) {
            n[k].name = r.total.nodes[i].name;
            n[k].weight = 1;
            k++;
        }
        if (j < k) n[j].count = r.total.nodes[i].counters.by_class[COUNTER_OK];
    }
    bool weighted = strcmp(algorithm, "weighted") == 0 || strcmp(algorithm, "roundrobin") == 0;
    double wsum = 0;
    for (size_t j = 0; j < k; j++)
        wsum += weighted && n[j].weight > 0 ? n[j].weight : 1;
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
        verdict &= check_judge_bound(c, "max_deviation", max_dev, expects);
        verdict &= check_judge_bound(c, "p_value", p_value, expects);
    } else if (strcmp(algorithm, "roundrobin") == 0) {
        /* exact per gateway thread: within one request per node and thread */
        double threads = (double)json_integer_value(json_object_get(view, "threads"));
        if (threads < 1) threads = 1;
        char text[128];
        snprintf(text, sizeof text, "roundrobin: every node within %.0f request%s of its share",
                 threads, threads > 1 ? "s" : "");
        bool exact = max_off <= threads;
        json_array_append_new(expects, check_expectation(text, max_off, exact));
        verdict &= exact;
    } else if (strcmp(algorithm, "random") == 0 || strcmp(algorithm, "weighted") == 0) {
        bool fits = p_value >= 0.01;
        json_array_append_new(expects,
                              check_expectation("chi-square p_value >= 0.01", p_value, fits));
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
    snprintf(url, sizeof url, "%s%s", c->target, c->path);
    struct load_result r;
    if (run_load_windows(env, url, 0, c->connections, c->duration_us, c->rate, CHECK_WINDOW_US, &r,
                         err, errlen) < 0)
        return NULL;
    struct load_summary s;
    load_summary_from(&r, &s);
    json_t *nodes = json_array();
    for (size_t i = 0; i < r.total.node_count; i++)
        json_array_append_new(nodes,
                              json_pack("{s:s,s:I}", "node", r.total.nodes[i].name, "requests",
                                        (json_int_t)r.total.nodes[i].counters.requests));
    json_t *log = check_gateway_events(c->target);
    json_t *timeline = check_timeline_json(&r, log, NULL);
    json_decref(log);
    load_result_free(&r);
    *pass = judge_thresholds(c, &s, expects) && s.requests > 0;
    return json_pack("{s:i,s:f,s:f,s:o,s:o,s:o}", "connections", c->connections, "duration_s",
                     (double)c->duration_us / 1e6, "rate", c->rate, "summary", summary_json(&s),
                     "nodes", nodes, "timeline", timeline);
}

/* ---- failover ---- */


struct load_job {
    const struct check_env *env;
    char url[1100];
    const struct plan_check *c;
    struct load_result r;
    int rc;
    char err[256];
};

static void load_job_main(void *arg)
{
    struct load_job *j = arg;
    j->rc = run_load_windows(j->env, j->url, 0, j->c->connections, j->c->duration_us, j->c->rate,
                             CHECK_WINDOW_US, &j->r, j->err, sizeof j->err);
}

void check_sleep_until(uint64_t ns)
{
    uint64_t now = uv_hrtime();
    if (ns > now) usleep((useconds_t)((ns - now) / 1000));
}

/* The first event of kind (one of kinds, comma-separated) for node at or after since_ms in
 * a gateway's log (check_gateway_events; may be NULL): its time, or -1. */
static int64_t gateway_event(const json_t *events, const char *node, const char *kinds,
                             int64_t since_ms, char *kind_out, size_t kind_size)
{
    int64_t found = -1;
    size_t i;
    json_t *e;
    char want[64];
    snprintf(want, sizeof want, ",%s,", kinds);
    json_array_foreach(events, i, e)
    {
        int64_t ts = json_integer_value(json_object_get(e, "ts_ms"));
        const char *kind = json_string_value(json_object_get(e, "event"));
        const char *who = json_string_value(json_object_get(e, "node"));
        char k[24];
        snprintf(k, sizeof k, ",%s,", kind ? kind : "");
        if (ts >= since_ms && who && strcmp(who, node) == 0 && strstr(want, k)) {
            found = ts;
            snprintf(kind_out, kind_size, "%s", kind);
            break;
        }
    }
    return found;
}

/* Merges the per-second histograms of the seconds before from_s (baseline) and of those
 * overlapping [from_s, to_s) (the fault): {baseline: {p95_ms, p99_ms}, fault: {...}}. */
static json_t *latency_impact(const struct load_result *r, double from_s, double to_s)
{
    struct hist *base = hist_new(), *fault = hist_new(), *one = hist_new();
    json_t *out = NULL;
    if (base && fault && one) {
        for (size_t i = 0; i < r->seconds; i++) {
            const char *text = r->timeline[i].hist;
            char err[128];
            if (!text || hist_decode(one, text, err, sizeof err) < 0) continue;
            if ((double)i + 1 <= from_s)
                hist_merge(base, one);
            else if ((double)i < to_s)
                hist_merge(fault, one);
        }
        out = json_pack("{s:{s:f,s:f},s:{s:f,s:f}}", "baseline", "p95_ms",
                        (double)hist_percentile(base, 95) / 1000, "p99_ms",
                        (double)hist_percentile(base, 99) / 1000, "fault", "p95_ms",
                        (double)hist_percentile(fault, 95) / 1000, "p99_ms",
                        (double)hist_percentile(fault, 99) / 1000);
    }
    hist_free(base);
    hist_free(fault);
    hist_free(one);
    return out ? out : json_null();
}

const char *check_recovery_action(const char *fault)
{
    if (strcmp(fault, "partition") == 0) return "heal";
    return strcmp(fault, "pause") == 0 ? "resume" : plan_fault_proxied(fault) ? "pass" : "restart";
}

static int proxy_set(const struct check_env *env, const struct plan_check *c, const char *node,
                     const char *mode, char *err, size_t errlen)
{
    enum fault_proxy_mode m;
    if (fault_proxy_mode_parse(mode, &m) < 0 ||
        fault_proxies_set(env->proxies, node, m, c->latency_ms) < 0)
        return err_set(err, errlen, "%s: no fault proxy in front of it", node);
    return 0;
}

/* Cuts replica node ("api.2") off (its link down) or lets it back (up). Returns 0, or -1
 * with a message. */
static int partition_set(const struct check_env *env, const char *node, bool up, char *err,
                         size_t errlen)
{
    int index;
    const struct cluster_group *g = plan_replica(env->p, node, &index);
    if (!g || !cluster_group_in_netns(g))
        return err_set(err, errlen, "%s: not in a network namespace", node);
    return netns_replica_link(g->base_port, index, up, err, errlen);
}

#define EXEC_TIMEOUT_MS 60000

extern char **environ;

/* Runs the exec fault's command (/bin/sh -c) to its end, at most a minute (then it is killed).
 * Returns 0 when it exited 0, else -1 with a message. */
static int run_command(const char *cmd, char *err, size_t errlen)
{
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    pid_t pid;
    if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) != 0)
        return err_set(err, errlen, "exec `%s`: cannot start /bin/sh", cmd);
    int status = 0;
    for (int waited = 0; waitpid(pid, &status, WNOHANG) == 0; waited += 10) {
        if (waited >= EXEC_TIMEOUT_MS) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return err_set(err, errlen, "exec `%s`: still running after %d s, killed", cmd,
                           EXEC_TIMEOUT_MS / 1000);
        }
        usleep(10000);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    if (WIFEXITED(status))
        return err_set(err, errlen, "exec `%s`: exited %d", cmd, WEXITSTATUS(status));
    return err_set(err, errlen, "exec `%s`: killed by signal %d", cmd, WTERMSIG(status));
}

/* Does action (the fault, or what undoes it) to each of the check's nodes; the exec fault
 * runs its command once. On an error the other nodes are still acted on; the first error is
 * returned. */
static int fault_act(const struct check_env *env, const struct plan_check *c, bool inject,
                     char *err, size_t errlen)
{
    if (strcmp(c->fault, "exec") == 0)
        return run_command(inject ? c->exec_cmd : c->recover_cmd, err, errlen);
    int rc = 0;
    for (size_t i = 0; i < c->node_count; i++) {
        char one[512];
        int r;
        if (plan_fault_proxied(c->fault))
            r = proxy_set(env, c, c->nodes[i], inject ? c->fault : "pass", one, sizeof one);
        else if (strcmp(c->fault, "partition") == 0)
            r = partition_set(env, c->nodes[i], !inject, one, sizeof one);
        else
            r = check_cluster_act(env->cluster, c->nodes[i],
                                  inject ? c->fault : check_recovery_action(c->fault), 0, one,
                                  sizeof one);
        if (r < 0 && rc == 0) rc = err_set(err, errlen, "%s", one);
    }
    return rc;
}

int check_fault_inject(const struct check_env *env, const struct plan_check *c, char *err,
                       size_t errlen)
{
    return fault_act(env, c, true, err, errlen);
}

int check_fault_recover(const struct check_env *env, const struct plan_check *c, char *err,
                        size_t errlen)
{
    return fault_act(env, c, false, err, errlen);
}

/* From from_ms (on the load's clock) to the start of the first window in which node served
 * a success (0 when within from_ms's own window), or -1 when it never did. */
static double first_success_ms(const struct load_result *r, const char *node, double from_ms)
{
    const struct load_windows *w = &r->windows;
    double win_ms = (double)w->window_us / 1000.0;
    size_t k = 0;
    while (k < r->total.node_count && strcmp(r->total.nodes[k].name, node) != 0)
        k++;
    if (k == r->total.node_count || !w->node_ok[k]) return -1;
    for (size_t i = (size_t)(from_ms / win_ms); i < w->count; i++)
        if (w->node_ok[k][i]) return fmax(0, (double)i * win_ms - from_ms);
    return -1;
}

static json_t *check_failover(const struct check_env *env, const struct plan_check *c,
                              json_t *expects, bool *pass, char *err, size_t errlen)
{
    struct load_job job = {.env = env, .c = c};
    snprintf(job.url, sizeof job.url, "%s%s", c->target, c->path);
    uint64_t begin = uv_hrtime();
    uv_thread_t tid;
    uv_thread_create(&tid, load_job_main, &job);
    check_sleep_until(begin + c->at_us * 1000);
    uint64_t fault_ns = uv_hrtime();
    int64_t fault_wall = check_wall_ms();
    char fault_err[512] = "";
    int fault_rc = c->fault[0] ? check_fault_inject(env, c, fault_err, sizeof fault_err) : 0;
    uint64_t recover_ns = 0;
    char recover_err[512] = "";
    if (fault_rc == 0 && c->restart_after_us) {
        check_sleep_until(fault_ns + c->restart_after_us * 1000);
        recover_ns = uv_hrtime();
        if (check_fault_recover(env, c, recover_err, sizeof recover_err) < 0) recover_ns = 0;
    }
    uv_thread_join(&tid);
    if (job.rc < 0) {
        err_set(err, errlen, "load: %s", job.err);
        return NULL;
    }
    if (fault_rc < 0) {
        load_result_free(&job.r);
        err_set(err, errlen, "the fault could not be injected: %s", fault_err);
        return NULL;
    }
    struct load_result *r = &job.r;
    struct load_windows *w = &r->windows;
    double win_ms = (double)w->window_us / 1000.0;
    double fault_at_ms = (double)(fault_ns - r->start_ns) / 1e6;
    size_t f = (size_t)(fault_at_ms / win_ms);
    /* failed requests: all, those in flight at the fault, those sent after it */
    uint64_t failed = 0, after = 0, sent_after = 0, before_req = 0, during_req = 0;
    for (size_t i = 0; i < w->count; i++) {
        failed += w->failures[i];
        if (i >= f) {
            after += w->failures[i];
            sent_after += w->failures_sent[i];
        }
    }
    /* failover time: from the fault to the start of the first window after which the
     * success rate stays at or above the baseline */
    double failover_ms = 0;
    for (size_t i = f; i < w->count; i++) {
        if (w->requests[i] == 0) continue;
        double ok = 1.0 - (double)w->failures[i] / (double)w->requests[i];
        if (ok < c->baseline) failover_ms = (double)(i + 1) * win_ms - fault_at_ms;
    }
    if (failover_ms < 0) failover_ms = 0;
    double recover_at_ms = recover_ns ? (double)(recover_ns - r->start_ns) / 1e6 : 0;
    /* throughput before the fault and while it lasted */
    size_t end = recover_ns ? (size_t)(recover_at_ms / win_ms) : w->count;
    for (size_t i = 0; i < w->count; i++) {
        if (i < f) before_req += w->requests[i];
        if (i >= f && i < end) during_req += w->requests[i];
    }
    double fault_span_ms =
        recover_ns ? recover_at_ms - fault_at_ms : r->elapsed_s * 1000 - fault_at_ms;
    double rps_before = fault_at_ms > 0 ? (double)before_req / (fault_at_ms / 1000) : 0;
    double rps_during = fault_span_ms > 0 ? (double)during_req / (fault_span_ms / 1000) : 0;
    /* per faulted node: detection (the gateway's event log) and rejoin; the check's are the
     * last node's, and not seen when one node's was not */
    json_t *log = check_gateway_events(c->target), *per_node = json_array();
    double detection_ms = c->node_count ? 0 : -1, rejoin_ms = c->node_count ? 0 : -1;
    char kind[24] = "";
    for (size_t n = 0; n < c->node_count; n++) {
        char its_kind[24] = "";
        int64_t detected = gateway_event(log, c->nodes[n], "ejected,down", fault_wall,
                                         its_kind, sizeof its_kind);
        double its_detection = detected >= 0 ? (double)(detected - fault_wall) : -1;
        double its_rejoin = recover_ns ? first_success_ms(r, c->nodes[n], recover_at_ms) : -1;
        if (detection_ms >= 0 && (its_detection < 0 || its_detection >= detection_ms)) {
            detection_ms = its_detection;
            snprintf(kind, sizeof kind, "%s", its_kind);
        }
        if (rejoin_ms >= 0 && (its_rejoin < 0 || its_rejoin > rejoin_ms)) rejoin_ms = its_rejoin;
        json_t *one = json_pack("{s:s,s:o,s:s}", "node", c->nodes[n], "detection_ms",
                                its_detection >= 0 ? json_real(its_detection) : json_null(),
                                "detected_by", its_kind);
        if (c->restart_after_us)
            json_object_set_new(one, "rejoin_ms",
                                its_rejoin >= 0 ? json_real(its_rejoin) : json_null());
        json_array_append_new(per_node, one);
    }
    /* latency impact: p95/p99 of the seconds before the fault vs the seconds it lasted */
    json_t *impact = latency_impact(r, fault_at_ms / 1000,
                                    (recover_ns ? recover_at_ms : r->elapsed_s * 1000) / 1000);
    json_t *marks = json_array();
    for (size_t n = 0; n < c->node_count; n++) {
        json_array_append_new(marks, check_mark(fault_at_ms / 1000, c->fault, c->nodes[n]));
        if (recover_ns)
            json_array_append_new(marks, check_mark(recover_at_ms / 1000,
                                                    check_recovery_action(c->fault), c->nodes[n]));
    }
    json_t *timeline = check_timeline_json(r, log, marks);
    json_decref(log);
    char names[PLAN_MAX_FAULT_NODES * 64] = "";
    for (size_t n = 0; n < c->node_count; n++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", n ? "," : "",
                 c->nodes[n]);
    struct load_summary s;
    load_summary_from(r, &s);
    load_result_free(r);
    bool ok = judge_thresholds(c, &s, expects);
    ok &= check_judge_bound(c, "failed_requests", (double)failed, expects);
    ok &= check_judge_bound(c, "failover", failover_ms, expects);
    /* an expectation on what was never seen fails: measured as infinity */
    ok &= check_judge_bound(c, "detection", detection_ms >= 0 ? detection_ms : INFINITY, expects);
    ok &= check_judge_bound(c, "rejoin", rejoin_ms >= 0 ? rejoin_ms : INFINITY, expects);
    if (c->restart_after_us && !recover_ns) {
        json_array_append_new(expects, check_expectation("the node was restarted", 0, false));
        ok = false;
    }
    *pass = ok;
    json_t *out = json_pack(
        "{s:s,s:s,s:f,s:I,s:I,s:I,s:f,s:f,s:f,s:f,s:o}", "fault", c->fault[0] ? c->fault : "none",
        "node", names,
        "fault_at_s", fault_at_ms / 1000, "failed_requests", (json_int_t)failed,
        "failed_in_flight_at_fault", (json_int_t)(after - sent_after), "failed_sent_after_fault",
        (json_int_t)sent_after, "failover_ms", failover_ms, "rps_before", rps_before,
        "rps_during_fault", rps_during, "baseline", c->baseline, "summary", summary_json(&s));
    json_object_set_new(out, "nodes", per_node);
    json_object_set_new(out, "latency_impact", impact);
    json_object_set_new(out, "timeline", timeline);
    json_object_set_new(out, "detection_ms",
                        detection_ms >= 0 ? json_real(detection_ms) : json_null());
    json_object_set_new(out, "detected_by", json_string(kind));
    if (c->restart_after_us) {
        json_object_set_new(out, "recovered_at_s", json_real(recover_at_ms / 1000));
        json_object_set_new(out, "rejoin_ms", rejoin_ms >= 0 ? json_real(rejoin_ms) : json_null());
        if (recover_err[0]) json_object_set_new(out, "recovery_error", json_string(recover_err));
    }
    return out;
}

/* ---- scaling ---- */

bool check_gateway_wait_group(const char *target, const char *group, int want)
{
    struct url u;
    char err[256];
    if (url_parse(&u, target, err, sizeof err) < 0) return false;
    size_t plen = strlen(group);
    for (int tries = 0; tries < 400; tries++) {
        int status, up = 0;
        char *body = NULL;
        if (control_call_port(u.port, "GET", "/api/v1/cluster/nodes", NULL, 2000, &status, &body,
                              err, sizeof err) == 0 &&
            status == 200) {
            json_t *j = json_loads(body, 0, NULL);
            const char *id;
            json_t *n;
            json_object_foreach(json_object_get(j, "nodes"), id, n)
            {
                const char *state = json_string_value(json_object_get(n, "state"));
                if (strncmp(id, group, plen) == 0 && id[plen] == '.' && state &&
                    strcmp(state, "up") == 0)
                    up++;
            }
            json_decref(j);
        }
        free(body);
        if (up == want) return true;
        usleep(50000);
    }
    return false;
}

static json_t *check_scaling(const struct check_env *env, const struct plan_check *c,
                             json_t *expects, bool *pass, char *err, size_t errlen)
{
    const struct cluster_group *g = cluster_spec_group(&env->p->cluster, c->group);
    int original = g->replicas;
    char url[1100];
    snprintf(url, sizeof url, "%s%s", c->target, c->path);
    json_t *steps = json_array();
    double first_rps = 0, efficiency = NAN;
    int first_n = c->steps[0];
    *pass = true;
    for (size_t i = 0; i < c->step_count; i++) {
        int n = c->steps[i];
        char serr[512];
        if (check_cluster_act(env->cluster, c->group, "scale", n, serr, sizeof serr) < 0) {
            err_set(err, errlen, "scale %s to %d: %s", c->group, n, serr);
            json_decref(steps);
            return NULL;
        }
        bool seen = check_gateway_wait_group(c->target, c->group, n);
        struct load_result r;
        if (run_load(env, url, 0, c->connections, c->duration_us, 0, &r, err, errlen) < 0) {
            json_decref(steps);
            return NULL;
        }
        struct load_summary s;
        load_summary_from(&r, &s);
        load_result_free(&r);
        if (i == 0) first_rps = s.rps;
        double eff = first_rps > 0 ? (s.rps / first_rps) / ((double)n / first_n) : 0;
        if (i > 0) efficiency = eff;
        json_array_append_new(steps, json_pack("{s:i,s:b,s:f,s:f,s:o}", "replicas", n,
                                               "gateway_saw_all", seen, "rps", s.rps, "efficiency",
                                               eff, "summary", summary_json(&s)));
        if (!seen) {
            json_array_append_new(expects,
                                  check_expectation("the gateway saw every replica up", n, false));
            *pass = false;
        }
        *pass &= judge_thresholds(c, &s, expects);
    }
    char serr[512];
    if (check_cluster_act(env->cluster, c->group, "scale", original, serr, sizeof serr) == 0)
        check_gateway_wait_group(c->target, c->group, original);
    *pass &= check_judge_bound(c, "efficiency", efficiency, expects);
    return json_pack("{s:s,s:o,s:f}", "group", c->group, "steps", steps, "efficiency", efficiency);
}

/* ---- hotplug ---- */

static json_t *check_hotplug(const struct check_env *env, const struct plan_check *c,
                             json_t *expects, bool *pass, char *err, size_t errlen)
{
    const struct cluster_group *g = cluster_spec_group(&env->p->cluster, c->group);
    int original = g->replicas;
    struct load_job jobs[2] = {{.env = env, .c = c}, {.env = env, .c = c}};
    snprintf(jobs[0].url, sizeof jobs[0].url, "%s%s", c->target, c->path);
    snprintf(jobs[1].url, sizeof jobs[1].url, "%s%s", c->target, c->other_path);
    uint64_t begin = uv_hrtime();
    uv_thread_t tids[2];
    for (int i = 0; i < 2; i++)
        uv_thread_create(&tids[i], load_job_main, &jobs[i]);
    check_sleep_until(begin + c->at_us * 1000);
    uint64_t stop_ns = uv_hrtime();
    char serr[512] = "", rerr[512] = "";
    int stop_rc = check_cluster_act(env->cluster, c->group, "scale", 0, serr, sizeof serr);
    check_sleep_until(stop_ns + c->restart_after_us * 1000);
    uint64_t start_ns = uv_hrtime();
    int start_rc = check_cluster_act(env->cluster, c->group, "scale", original, rerr, sizeof rerr);
    for (int i = 0; i < 2; i++)
        uv_thread_join(&tids[i]);
    if (jobs[0].rc < 0 || jobs[1].rc < 0) {
        err_set(err, errlen, "load: %s", jobs[0].rc < 0 ? jobs[0].err : jobs[1].err);
        if (jobs[0].rc == 0) load_result_free(&jobs[0].r);
        if (jobs[1].rc == 0) load_result_free(&jobs[1].r);
        return NULL;
    }
    struct load_result *gr = &jobs[0].r, *orr = &jobs[1].r;
    uint64_t group_503 = gr->total.counters.by_class[COUNTER_STATUS_5XX];
    uint64_t group_failed = counters_failures(&gr->total.counters);
    uint64_t other_failed = counters_failures(&orr->total.counters);
    /* rejoin: from the start of the group to the first window its path answered a success */
    double win_ms = (double)gr->windows.window_us / 1000.0;
    double start_at_ms = (double)(start_ns - gr->start_ns) / 1e6, rejoin_ms = -1;
    for (size_t i = (size_t)(start_at_ms / win_ms); i < gr->windows.count; i++)
        if (gr->windows.requests[i] > gr->windows.failures[i]) {
            rejoin_ms = (double)i * win_ms - start_at_ms;
            if (rejoin_ms < 0) rejoin_ms = 0;
            break;
        }
    double stop_s = (double)(stop_ns - gr->start_ns) / 1e9, start_s = start_at_ms / 1000;
    json_t *timelines[2], *log = check_gateway_events(c->target);
    for (int i = 0; i < 2; i++) {
        json_t *marks = json_array();
        json_array_append_new(marks, check_mark(stop_s, "stop group", c->group));
        json_array_append_new(marks, check_mark(start_s, "start group", c->group));
        timelines[i] = check_timeline_json(&jobs[i].r, log, marks);
    }
    json_decref(log);
    struct load_summary gs, os;
    load_summary_from(gr, &gs);
    load_summary_from(orr, &os);
    load_result_free(gr);
    load_result_free(orr);
    bool ok = stop_rc == 0 && start_rc == 0;
    if (stop_rc != 0 || start_rc != 0)
        json_array_append_new(
            expects, check_expectation("the group was stopped and started again", 0, false));
    ok &= check_judge_bound(c, "other_failures", (double)other_failed, expects);
    ok &= check_judge_bound(c, "rejoin", rejoin_ms >= 0 ? rejoin_ms : INFINITY, expects);
    /* while the group was away its route must have said so: 503, not resets or timeouts */
    bool clear = group_failed == group_503;
    char text[160];
    snprintf(text, sizeof text, "the group's path failed only with 503 (%llu of %llu failures)",
             (unsigned long long)group_503, (unsigned long long)group_failed);
    json_array_append_new(expects,
                          check_expectation(text, (double)(group_failed - group_503), clear));
    ok &= clear;
    *pass = ok;
    json_t *out = json_pack(
        "{s:s,s:s,s:s,s:f,s:f,s:I,s:I,s:I,s:o,s:o}", "group", c->group, "path", c->path,
        "other_path", c->other_path, "stopped_at_s", (double)(stop_ns - begin) / 1e9,
        "started_at_s", (double)(start_ns - begin) / 1e9, "group_503", (json_int_t)group_503,
        "group_failures", (json_int_t)group_failed, "other_failures", (json_int_t)other_failed,
        "group_summary", summary_json(&gs), "other_summary", summary_json(&os));
    json_object_set_new(out, "rejoin_ms", rejoin_ms >= 0 ? json_real(rejoin_ms) : json_null());
    json_object_set_new(out, "timeline", timelines[0]);
    json_object_set_new(out, "other_timeline", timelines[1]);
    if (serr[0] || rerr[0]) json_object_set_new(out, "error", json_string(serr[0] ? serr : rerr));
    return out;
}

/* ---- the run ---- */

static const check_fn check_fns[] = {
    [PLAN_CONNECTIVITY] = check_connectivity, [PLAN_DISTRIBUTION] = check_distribution,
    [PLAN_CONCURRENCY] = check_concurrency,   [PLAN_FAILOVER] = check_failover,
    [PLAN_SCALING] = check_scaling,           [PLAN_HOTPLUG] = check_hotplug,
    [PLAN_CONSISTENCY] = check_consistency,   [PLAN_CAPACITY] = check_capacity,
};
_Static_assert(sizeof check_fns / sizeof check_fns[0] == PLAN_CAPACITY + 1,
               "every check kind has its function");

/* A port free on loopback now (the kernel's choice), or 0. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

/* Puts a relay on the public port of each replica of g, which listens on a free port
 * instead. Returns 0, or -1 with a message. */
static int proxy_group(struct fault_proxies *fp, struct cluster_group *g, char *err,
                       size_t errlen)
{
    if (!(g->listen_ports = calloc((size_t)g->replicas, sizeof *g->listen_ports)))
        return err_set(err, errlen, "out of memory");
    g->listen_port_count = (size_t)g->replicas;
    for (int k = 1; k <= g->replicas; k++) {
        char name[CLUSTER_NAME_MAX + 16];
        snprintf(name, sizeof name, "%s.%d", g->name, k);
        g->listen_ports[k - 1] = free_port();
        if (fault_proxies_add(fp, name, cluster_group_port(g, k), g->listen_ports[k - 1], err,
                              errlen) < 0)
            return -1;
    }
    return 0;
}

/* For every group a proxied fault (latency, reset, blackhole) hits: each replica listens on a
 * free port and a relay stands on its public port. Returns the relays (NULL when no check
 * needs them) and 0, or 3 with a message. */
static int proxies_start(struct plan *p, struct fault_proxies **out, char *err, size_t errlen)
{
    *out = NULL;
    struct fault_proxies *fp = NULL;
    for (size_t i = 0; i < p->check_count; i++) {
        const struct plan_check *c = &p->checks[i];
        for (size_t n = 0; c->fault[0] && plan_fault_proxied(c->fault) && n < c->node_count; n++) {
            struct cluster_group *g = (struct cluster_group *)plan_replica(p, c->nodes[n], NULL);
            if (!g || g->listen_ports) continue;
            if (!fp && !(fp = fault_proxies_new())) return err_set(err, errlen, "out of memory"), 3;
            if (proxy_group(fp, g, err, errlen) < 0) {
                fault_proxies_free(fp);
                return 3;
            }
        }
    }
    if (fp && fault_proxies_start(fp, err, errlen) < 0) {
        fault_proxies_free(fp);
        return 3;
    }
    *out = fp;
    return 0;
}

int plan_run(struct plan *p, const struct plan_run_opts *o, void **out, char *err, size_t errlen)
{
    *out = NULL;
    struct cluster_run cr;
    memset(&cr, 0, sizeof cr);
    char started[40], ended[40];
    mtime_wall_iso8601(started, sizeof started);
    uint64_t t0 = mtime_now_us();
    struct fault_proxies *proxies = NULL;
    if (p->has_cluster) {
        if (!o->quiet) fprintf(stderr, "herd test: starting the cluster\n");
        int rc = proxies_start(p, &proxies, err, errlen);
        if (rc == 0) rc = cluster_start(&cr, p, o, err, errlen);
        if (rc != 0) {
            if (cr.sup) cluster_stop(&cr);
            fault_proxies_free(proxies);
            return rc;
        }
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    struct check_env env = {p, o, cores > 0 ? (unsigned)cores : 1, &cr, proxies};
    json_t *checks = json_array();
    bool all = true;
    int rc = 0;
    for (size_t i = 0; i < p->check_count; i++) {
        const struct plan_check *c = &p->checks[i];
        if (!o->quiet) fprintf(stderr, "herd test: %s ...\n", c->name);
        uint64_t c0 = mtime_now_us();
        json_t *expects = json_array();
        bool pass = false;
        char cerr[512] = "", why[256];
        json_t *measures = NULL;
        const char *verdict;
        bool skip = strcmp(c->fault, "partition") == 0 && !netns_usable(why, sizeof why);
        if (skip) {
            /* skipped, with the reason, rather than failed or faked */
            snprintf(cerr, sizeof cerr, "skipped: the partition fault cannot run here: %s", why);
            verdict = "skip";
        } else {
            measures = check_fns[c->kind](&env, c, expects, &pass, cerr, sizeof cerr);
            verdict = measures ? (pass ? "pass" : "fail") : "error";
            all &= measures && pass;
        }
        json_array_append_new(
            checks, json_pack("{s:s,s:s,s:i,s:s,s:f,s:o,s:o,s:s?,s:s?}", "name", c->name, "kind",
                              plan_check_kind_name(c->kind), "line", c->line, "verdict", verdict,
                              "duration_s", (double)(mtime_now_us() - c0) / 1e6, "expectations",
                              expects, "measures", measures ? measures : json_object(), "error",
                              measures || skip ? NULL : cerr, "environment",
                              c->environment[0] ? c->environment : NULL));
        if (skip) json_object_set_new(json_array_get(checks, i), "skipped", json_string(cerr + 9));
        if (!o->quiet)
            fprintf(stderr, "herd test: %s: %s%s%s\n", c->name, verdict, measures ? "" : ": ",
                    measures ? "" : cerr);
    }
    if (p->has_cluster) {
        if (!o->quiet) fprintf(stderr, "herd test: stopping the cluster\n");
        cluster_stop(&cr);
        fault_proxies_free(proxies);
    }
    if (!all) rc = 1;
    mtime_wall_iso8601(ended, sizeof ended);
    *out = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:f,s:s,s:b,s:o}", "schema", "herd.test/1", "tool",
                     "herd " HERD_VERSION, "name", p->name, "plan", p->path, "started_at", started,
                     "ended_at", ended, "duration_s", (double)(mtime_now_us() - t0) / 1e6, "target",
                     p->target, "cluster_launched", p->has_cluster, "checks", checks);
    if (p->env_count) {
        json_t *envs = json_object();
        for (size_t e = 0; e < p->env_count; e++)
            json_object_set_new(envs, p->envs[e].name, json_string(p->envs[e].url));
        json_object_set_new(*out, "environments", envs);
    }
    json_object_set_new(*out, "verdict", json_string(all ? "pass" : "fail"));
    return rc;
}
