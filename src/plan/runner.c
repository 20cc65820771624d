/* runner.c -- runs a test plan (see runner.h). */
#define _GNU_SOURCE /* nftw */
#include "plan/runner.h"
#include "plan/check.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ftw.h>
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
#include "base/loop_call.h"
#include "base/mtime.h"
#include "cluster/control.h"
#include "cluster/supervisor.h"
#include "fault/netns.h"
#include "fault/proxy.h"
#include "http/client.h"
#include "http/url.h"
#include "load/engine.h"
#include "load/options.h"
#include "load/progress.h"
#include "load/run_json.h"
#include "load/threshold.h"
#include "stats/hist.h"

/* ---- the cluster, supervised on its own loop thread ---- */

/* A node action asked of the supervisor's thread (a fault), and its outcome. */
struct cluster_call {
    struct cluster_run *c;
    struct loop_call *lc;
    char id[64];
    char action[16]; /* a node action, or "scale" or "rollout" (id: the group) */
    int replicas;
    int status;
    char error[256];
    json_t *result; /* "status": the supervisor's view (supervisor_status_json) */
};

struct cluster_run {
    uv_loop_t loop;
    uv_async_t stop;
    struct loop_call act; /* node actions, scale, status: on the supervisor's thread */
    struct loop_call feed; /* the live display's reads of the gateway: apart, never in the way
                            * of a fault or a recovery the check asks for */
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
    loop_call_close(&c->act);
    loop_call_close(&c->feed);
    supervisor_shutdown(c->sup, on_down, c);
}

static void on_acted(struct supervisor *sup, int status, const char *error, void *data)
{
    (void)sup;
    struct cluster_call *call = data;
    call->status = status;
    snprintf(call->error, sizeof call->error, "%s", error ? error : "");
    loop_call_done(call->lc);
}

/* On the supervisor's thread: starts the asked action; on_acted ends the call. */
static void on_act(struct loop_call *lc, void *arg)
{
    struct cluster_call *call = arg;
    struct cluster_run *c = call->c;
    call->lc = lc;
    if (strcmp(call->action, "status") == 0) {
        call->result = supervisor_status_json(c->sup);
        loop_call_done(lc);
        return;
    }
    int rc = strcmp(call->action, "scale") == 0
                 ? supervisor_scale(c->sup, call->id, call->replicas, on_acted, call, call->error,
                                    sizeof call->error)
             : strcmp(call->action, "rollout") == 0
                 ? supervisor_restart_group(c->sup, call->id, true, on_acted, call, call->error,
                                            sizeof call->error)
                 : supervisor_node_action(c->sup, call->id, call->action, on_acted, call,
                                          call->error, sizeof call->error);
    if (rc < 0) {
        call->status = 3;
        loop_call_done(lc);
    }
}

/* Hands call to the supervisor's thread and waits until it is answered. */
static void cluster_call_run(struct cluster_run *c, struct cluster_call *call)
{
    call->c = c;
    loop_call_run(&c->act, on_act, call);
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

/* Adds every "failed_by" object found in j (a check's measures, at any depth: each load's
 * summary) into into. */
static void collect_failed_by(const json_t *j, json_t *into)
{
    const char *key;
    json_t *v;
    size_t i;
    if (json_is_array(j)) {
        json_array_foreach(j, i, v) collect_failed_by(v, into);
        return;
    }
    json_object_foreach((json_t *)j, key, v)
    {
        if (strcmp(key, "failed_by") != 0) {
            collect_failed_by(v, into);
            continue;
        }
        const char *what;
        json_t *n;
        json_object_foreach(v, what, n)
        {
            json_int_t had = json_integer_value(json_object_get(into, what));
            json_object_set_new(into, what, json_integer(had + json_integer_value(n)));
        }
    }
}

/* The temporary state directory of this run ("" when the user named one). */
static char state_tmp[64];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path); /* what cannot go stays; the rest still goes */
    return 0;
}

/* Removes dir and everything below it. */
static void remove_tree(const char *dir)
{
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Starts the plan's cluster and waits until it is ready. Returns 0, or 3 with a message. */
static int cluster_start(struct cluster_run *c, struct plan *p, const struct plan_run_opts *o,
                         char *err, size_t errlen)
{
    const char *root = o->state_dir;
    if (!root) {
        snprintf(state_tmp, sizeof state_tmp, "/tmp/herd-test-XXXXXX");
        if (!mkdtemp(state_tmp)) {
            state_tmp[0] = '\0';
            return err_set(err, errlen, "cannot create a state directory"), 3;
        }
        root = state_tmp;
    }
    if (!o->quiet)
        fprintf(stderr, "herd test: state and logs in %s%s\n", root,
                root == state_tmp && !o->keep_state ? " (removed at the end; --keep-state keeps it)"
                                                    : "");
    if (state_open(&c->st, root, err, errlen) < 0) return 3;
    if (p->cluster.gateway.present &&
        cluster_spec_add_gateway(&p->cluster, p->path, err, errlen) < 0)
        return 3;
    struct supervisor_opts so = {.self_exe = o->self_exe,
                                 .interrupt = o->stop ? &o->stop->requested : NULL};
    uv_loop_init(&c->loop);
    c->sup = supervisor_new(&c->loop, &p->cluster, &c->st, &so);
    if (!c->sup) return err_set(err, errlen, "out of memory"), 3;
    uv_async_init(&c->loop, &c->stop, on_stop);
    loop_call_init(&c->act, &c->loop);
    loop_call_init(&c->feed, &c->loop);
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
    loop_call_destroy(&c->act);
    loop_call_destroy(&c->feed);
}

/* ---- what the checks share ---- */

/* What the live display shows each second of a check's load: the second, then the events the
 * plan's own gateway logged since (a node down, up, ejected, readmitted) as they happen. The
 * gateway is read on the supervisor's loop (one kept-alive connection, asynchronously: the
 * supervisor is not held up), so the display's thread opens and closes no descriptor of its
 * own while the supervisor opens its log files. */
struct live_feed {
    struct progress *pg;
    struct cluster_run *cluster; /* whose loop reads the gateway; NULL: no gateway events */
    struct url url;
    struct sockaddr_storage addr;
    json_int_t seen;             /* the gateway's last event already shown, or not this load's */
    /* on the supervisor's thread, during a call */
    struct http_client *client;
    struct loop_call *lc;
    char request[512];
    size_t request_len;
    char *body;       /* the answer's, malloc'd; NULL when none came */
    bool closing;     /* the call frees the client instead */
};

static void on_feed_answer(struct http_client *c, int error, const struct http_client_response *res,
                           void *data)
{
    (void)c;
    struct live_feed *f = data;
    if (error == HTTP_CLIENT_OK && res->status == 200 && res->body) f->body = strdup(res->body);
    loop_call_done(f->lc);
}

/* On the supervisor's thread: sends f's request (connecting the first time), or frees the
 * client. */
static void on_feed_call(struct loop_call *lc, void *arg)
{
    struct live_feed *f = arg;
    f->lc = lc;
    if (f->closing) {
        if (f->client) http_client_free(f->client, NULL, NULL);
        f->client = NULL;
        loop_call_done(lc);
        return;
    }
    if (!f->client) {
        struct http_client_opts o;
        http_client_opts_default(&o);
        o.connect_timeout_ms = o.header_timeout_ms = o.body_timeout_ms = 500;
        o.keep_body = true;
        o.tls_verify = false;
        char err[256];
        f->client = http_client_new(&f->cluster->loop, (struct sockaddr *)&f->addr, &f->url, &o,
                                    err, sizeof err);
    }
    if (!f->client || http_client_send(f->client, f->request, f->request_len, on_feed_answer, f) < 0)
        loop_call_done(lc);
}

/* The gateway's events after f->seen (all of them when ask_all), a new array or NULL; f->seen
 * becomes its last. */
static json_t *live_feed_events(struct live_feed *f, bool ask_all)
{
    int n = snprintf(f->request, sizeof f->request,
                     "GET /api/v1/cluster/events?since=%lld HTTP/1.1\r\nHost: %s\r\n\r\n",
                     ask_all ? 0LL : (long long)f->seen, f->url.authority);
    f->request_len = n > 0 && (size_t)n < sizeof f->request ? (size_t)n : 0;
    f->body = NULL;
    if (f->request_len) loop_call_run(&f->cluster->feed, on_feed_call, f);
    json_t *j = f->body ? json_loads(f->body, 0, NULL) : NULL;
    free(f->body);
    f->body = NULL;
    json_t *events = json_incref(json_object_get(j, "events"));
    if (json_is_integer(json_object_get(j, "last")))
        f->seen = json_integer_value(json_object_get(j, "last"));
    json_decref(j);
    return events;
}

static void on_live_second(const struct load_progress *p, void *data)
{
    struct live_feed *f = data;
    progress_on_second(p, f->pg);
    if (!f->cluster) return;
    json_t *events = live_feed_events(f, false), *e;
    size_t i;
    int64_t now_ms = check_wall_ms();
    json_array_foreach(events, i, e)
    {
        const char *detail = json_string_value(json_object_get(e, "detail"));
        double ago_s = (double)(now_ms - json_integer_value(json_object_get(e, "ts_ms"))) / 1000;
        progress_event(f->pg, ago_s > 0 ? ago_s : 0, "gateway: %s %s%s%s",
                       json_string_value(json_object_get(e, "node")),
                       json_string_value(json_object_get(e, "event")), detail && *detail ? ": " : "",
                       detail ? detail : "");
    }
    json_decref(events);
}

/* Readies f for a load of env to url: the display, and the gateway's events when the plan
 * launched its gateway (url then reaches it). */
static void live_feed_start(struct live_feed *f, const struct check_env *env, const char *url)
{
    char err[256];
    if (!f->pg || !env->p->has_cluster || !env->p->cluster.gateway.present ||
        url_parse(&f->url, url, err, sizeof err) < 0 ||
        url_resolve(&f->url, &f->addr, err, sizeof err) < 0)
        return;
    f->cluster = env->cluster;
    json_decref(live_feed_events(f, true)); /* what came before the load is not shown */
}

static void live_feed_end(struct live_feed *f)
{
    if (!f->cluster) return;
    f->closing = true;
    loop_call_run(&f->cluster->feed, on_feed_call, f);
}

int check_run_load(const struct check_env *env, const struct check_load *l, struct load_result *r,
                   char *err, size_t errlen)
{
    struct bench_options bo;
    bench_options_default(&bo);
    bo.requests = l->requests;
    bo.connections = l->connections;
    bo.duration_us = l->duration_us;
    bo.rate = l->rate;
    bo.timeout_ms = 5000;
    struct load_plan lp;
    int rc = -1;
    if (bench_options_add_url(&bo, l->url, err, errlen) == 0 &&
        (!l->method || bench_options_set_method(&bo, l->method, err, errlen) == 0) &&
        bench_options_plan(&bo, env->cores, &lp, err, errlen) == 0) {
        lp.window_us = l->window_us;
        lp.origin_ns = l->origin_ns;
        lp.max_records = l->max_records;
        lp.stop = env->stop;
        struct live_feed feed = {.pg = l->unseen ? NULL : env->progress};
        if (feed.pg) progress_load(feed.pg, (double)lp.duration_us / 1e6, lp.requests);
        live_feed_start(&feed, env, l->url);
        rc = load_run(&lp, r, feed.pg ? on_live_second : NULL, &feed, err, errlen);
        live_feed_end(&feed);
        bench_plan_free(&lp);
    }
    bench_options_free(&bo);
    if (rc == 0 && r->interrupted) *env->interrupted = true;
    return rc;
}

void check_event(const struct check_env *env, const char *fmt, ...)
{
    if (!env->progress) return;
    va_list ap;
    va_start(ap, fmt);
    progress_eventv(env->progress, 0, fmt, ap);
    va_end(ap);
}

static void load_job_main(void *arg)
{
    struct check_load_job *j = arg;
    j->rc = check_run_load(j->env, &j->load, &j->r, j->err, sizeof j->err);
}

void check_load_start(struct check_load_job *j)
{
    uv_thread_create(&j->thread, load_job_main, j);
}

int check_load_join(struct check_load_job *j)
{
    uv_thread_join(&j->thread);
    return j->rc;
}

bool check_wait_until(const struct check_env *env, uint64_t ns)
{
    for (uint64_t now = uv_hrtime(); now < ns; now = uv_hrtime()) {
        if (load_stop_requested(env->stop)) return false;
        uint64_t step = ns - now < 10000000 ? ns - now : 10000000; /* look again every 10 ms */
        usleep((useconds_t)(step / 1000));
    }
    return !load_stop_requested(env->stop);
}

json_t *check_expectation_why(const char *text, double actual, bool pass, const char *why)
{
    json_t *e = json_pack("{s:s,s:o,s:b}", "expect", text, "actual",
                          isfinite(actual) ? json_real(actual) : json_null(), "pass", pass);
    if (!isfinite(actual)) json_object_set_new(e, "why", json_string(why));
    return e;
}

json_t *check_expectation(const char *text, double actual, bool pass)
{
    return check_expectation_why(text, actual, pass, "not measured");
}

bool check_judge_thresholds(const struct plan_check *c, const struct load_summary *s, json_t *list)
{
    bool all = true;
    for (size_t i = 0; i < c->threshold_count; i++) {
        bool ok = threshold_check(&c->thresholds[i], s);
        json_array_append_new(list, check_expectation_why(c->thresholds[i].text,
                                                          threshold_actual(&c->thresholds[i], s),
                                                          ok, "no samples"));
        all &= ok;
    }
    return all;
}

bool check_judge_success(const struct plan_check *c, const struct load_summary *s, json_t *list)
{
    bool own = false; /* the plan's own requirement replaces the default */
    for (size_t i = 0; i < c->threshold_count; i++)
        own |= c->thresholds[i].metric == THRESHOLD_ERRORS;
    for (size_t i = 0; i < c->bound_count; i++)
        own |= strcmp(c->bounds[i].key, "success") == 0 ||
               strcmp(c->bounds[i].key, "failed_requests") == 0;
    bool ok = s->succeeded > 0;
    if (!own) {
        struct threshold t;
        char err[128];
        threshold_parse(CHECK_DEFAULT_SUCCESS, &t, err, sizeof err);
        bool met = threshold_check(&t, s);
        json_array_append_new(list, check_expectation_why(t.text, threshold_actual(&t, s), met,
                                                          "nothing was scheduled"));
        ok &= met;
    }
    if (s->succeeded == 0)
        json_array_append_new(list, check_expectation("a request succeeded", 0, false));
    return ok;
}

bool check_judge_bound(const struct plan_check *c, const char *key, double actual, json_t *list)
{
    bool all = true;
    for (size_t i = 0; i < c->bound_count; i++) {
        if (strcmp(c->bounds[i].key, key) != 0) continue;
        char text[128];
        snprintf(text, sizeof text, "%s %s", key, c->bounds[i].text);
        bool ok = isfinite(actual) && plan_bound_check(&c->bounds[i], actual);
        json_array_append_new(list, check_expectation(text, actual, ok));
        all &= ok;
    }
    return all;
}

/* ---- the run ---- */


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
    bool interrupted = false;
    /* the live display goes where herd test's other progress lines go: stderr, so stdout
     * holds only the verdicts and the reports' paths */
    struct progress *pg = o->quiet ? NULL : progress_new(stderr, isatty(STDERR_FILENO));
    struct check_env env = {p, o, cores > 0 ? (unsigned)cores : 1, &cr, proxies, o->stop,
                            &interrupted, pg, NULL};
    json_t *checks = json_array();
    bool all = true;
    int rc = 0;
    for (size_t i = 0; i < p->check_count; i++) {
        const struct plan_check *c = &p->checks[i];
        if (interrupted || load_stop_requested(o->stop)) { /* the rest is not run */
            interrupted = true;
            json_array_append_new(checks, json_pack("{s:s,s:s,s:i,s:s,s:f,s:[],s:{},s:s}", "name",
                                                    c->name, "kind", plan_check_kind_name(c->kind),
                                                    "line", c->line, "verdict", "skip",
                                                    "duration_s", 0.0, "expectations", "measures",
                                                    "skipped", "the run was interrupted"));
            continue;
        }
        if (!o->quiet) fprintf(stderr, "herd test: %s ...\n", c->name);
        if (pg) progress_phase(pg, c->name);
        uint64_t c0 = mtime_now_us();
        json_t *expects = json_array();
        bool pass = false;
        char cerr[512] = "", why[256];
        json_t *measures = NULL;
        const char *verdict;
        env.log = json_array();
        bool skip = strcmp(c->fault, "partition") == 0 && !netns_usable(why, sizeof why);
        if (skip) {
            /* skipped, with the reason, rather than failed or faked */
            snprintf(cerr, sizeof cerr, "skipped: the partition fault cannot run here: %s", why);
            verdict = "skip";
        } else {
            measures = check_kinds[c->kind]->run(&env, c, expects, &pass, cerr, sizeof cerr);
            interrupted |= load_stop_requested(o->stop);
            /* a check cut short is judged on nothing: interrupted, never a pass */
            verdict = interrupted ? "interrupted" : measures ? (pass ? "pass" : "fail") : "error";
            all &= measures && pass && !interrupted;
            if (interrupted) { /* what partial data would say is not a verdict */
                json_array_clear(expects);
                json_array_append_new(expects, check_expectation_why("the check ran to its end",
                                                                     NAN, false, "interrupted"));
            }
        }
        json_array_append_new(
            checks, json_pack("{s:s,s:s,s:i,s:s,s:f,s:o,s:o,s:s?,s:s?}", "name", c->name, "kind",
                              plan_check_kind_name(c->kind), "line", c->line, "verdict", verdict,
                              "duration_s", (double)(mtime_now_us() - c0) / 1e6, "expectations",
                              expects, "measures", measures ? measures : json_object(), "error",
                              measures || skip ? NULL : cerr, "environment",
                              c->environment[0] ? c->environment : NULL));
        json_t *entry = json_array_get(checks, json_array_size(checks) - 1);
        if (skip) json_object_set_new(entry, "skipped", json_string(cerr + 9));
        if (json_array_size(env.log)) json_object_set(entry, "log", env.log);
        json_decref(env.log);
        env.log = NULL;
        if (c->path[0]) json_object_set_new(entry, "path", json_string(c->path));
        json_t *failed_by = json_object(); /* what the check's failed requests got, all loads */
        if (measures) collect_failed_by(measures, failed_by);
        json_object_set_new(entry, "failed_by", failed_by);
        if (!o->quiet)
            fprintf(stderr, "herd test: %s: %s%s%s\n", c->name, verdict, measures ? "" : ": ",
                    measures ? "" : cerr);
    }
    progress_free(pg);
    if (p->has_cluster) {
        if (!o->quiet) fprintf(stderr, "herd test: stopping the cluster\n");
        cluster_stop(&cr);
        fault_proxies_free(proxies);
    }
    if (!all) rc = 1;
    if (state_tmp[0] && !o->keep_state) {
        remove_tree(state_tmp);
    }
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
    json_object_set_new(*out, "verdict",
                        json_string(interrupted ? "interrupted" : all ? "pass" : "fail"));
    if (interrupted) json_object_set_new(*out, "interrupted", json_true());
    return rc;
}
