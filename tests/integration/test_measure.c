/* test_measure.c -- herd test's numbers against observers that did not compute them: the
 * gateway's /metrics (requests and answers, per node), process state sampled from /proc every
 * 2 ms (when a SIGSTOP and SIGCONT really landed), the fault proxy's configured delay; and
 * the verdicts a user must see: a 404 path fails every check saying why, Ctrl-C interrupts
 * with exit 130 and leaves no replica; and HAProxy's own log for a cluster herd did not
 * launch. */
#define _GNU_SOURCE /* timegm, memmem, strptime */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cluster/state.h"
#include "../support/harness.h"
#include "integration.h"

struct mt {
    char dir[64];
    int base; /* nodes at base..base+2, the gateway (or HAProxy) at base+3, its stats at base+4 */
};

static int setup(void **state)
{
    struct mt *t = calloc(1, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "/tmp/herd-measure-XXXXXX");
    if (!mkdtemp(t->dir)) return -1;
    t->base = harness_free_ports(5);
    *state = t;
    return t->base > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    struct mt *t = *state;
    harness_kill_all();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", t->dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", t->dir);
    free(t);
    return 0;
}

static char *write_plan(struct mt *t, const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/plan.yaml", t->dir);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static json_t *load_report(struct mt *t)
{
    char path[128];
    snprintf(path, sizeof path, "%s/reports/run.json", t->dir);
    return json_load_file(path, 0, NULL);
}

static json_t *check_named(json_t *doc, const char *name)
{
    return harness_json_find(json_object_get(doc, "checks"), "name", name);
}

static double num(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (b) v = json_object_get(v, b);
    return json_number_value(v);
}

/* The value of the Prometheus sample whose line starts with name_and_labels, or -1. */
static long long metric(const char *text, const char *name_and_labels)
{
    size_t n = strlen(name_and_labels);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, name_and_labels, n) == 0 && p[n] == ' ') return atoll(p + n + 1);
    return -1;
}

/* Writes text as the plan and runs herd test on it (-q unless verbose) with its reports in the
 * test's folder. Returns its run.json (NULL when it wrote none), with the exit code in *rc
 * and what it printed (stdout, then stderr) in *out, which the caller frees. */
static json_t *run_plan(struct mt *t, const char *text, bool verbose, int *rc, char **out)
{
    char reports[128];
    snprintf(reports, sizeof reports, "--report-dir=%s/reports", t->dir);
    char *plan = write_plan(t, text);
    char *quiet[] = {"test", "-q", plan, reports, NULL}, *loud[] = {"test", plan, reports, NULL};
    char *o = NULL, *e = NULL;
    *rc = harness_herd(verbose ? loud : quiet, 90000, &o, &e);
    size_t n = strlen(o ? o : "") + strlen(e ? e : "") + 2;
    *out = malloc(n);
    snprintf(*out, n, "%s\n%s", o ? o : "", e ? e : "");
    free(o);
    free(e);
    return load_report(t);
}

static char *get_metrics(int port)
{
    char *out = malloc(1 << 16);
    const char *body;
    if (harness_get(port, "/metrics", out, 1 << 16, &body) != 200) {
        free(out);
        return NULL;
    }
    memmove(out, body, strlen(body) + 1);
    return out;
}

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Samples /proc/PID/stat every 2 ms: when the process first showed 'T' (stopped) and when it
 * first showed anything else after that, on the wall clock. */
struct sampler {
    pid_t pid;
    atomic_bool stop;
    long long stopped_ms, resumed_ms;
    pthread_t thread;
};

static char proc_state(pid_t pid)
{
    char st;
    return harness_proc_stat(pid, &st, NULL, NULL) ? st : '?';
}

static void *sample(void *arg)
{
    struct sampler *s = arg;
    while (!atomic_load(&s->stop)) {
        char st = proc_state(s->pid);
        long long now = wall_ms();
        if (st == 'T' && s->stopped_ms < 0) s->stopped_ms = now;
        if (st != 'T' && s->stopped_ms >= 0 && s->resumed_ms < 0) s->resumed_ms = now;
        harness_pause_ms(2); /* the sampling step: the subject */
    }
    return NULL;
}

/* How many nodes the gateway on host:port has up (its first checks passed), or -1. */
static int gateway_nodes_up(const char *host, int port)
{
    static char out[1 << 16];
    const char *body;
    if (harness_get_at(host, port, "/api/v1/cluster/nodes", out, sizeof out, &body) != 200)
        return -1;
    json_t *j = json_loads(body, 0, NULL);
    const char *id;
    json_t *n;
    int up = 0;
    json_object_foreach(json_object_get(j, "nodes"), id, n)
        up += strcmp(json_string_value(json_object_get(n, "state")) ?: "", "up") == 0;
    json_decref(j);
    return up;
}

/* Three nodes (api.1..3) and a gateway on host, balancing by balance, that the test starts
 * itself (threads 1, a node's answer within 300 ms or a retry elsewhere, active checks every
 * 100 ms, no passive ejection). */
static void start_cluster(struct mt *t, pid_t pids[3], const char *host, const char *balance)
{
    char port[16], id[16], gw_port[16], nodes[3][64];
    for (int i = 0; i < 3; i++) {
        snprintf(port, sizeof port, "%d", t->base + i);
        snprintf(id, sizeof id, "api.%d", i + 1);
        snprintf(nodes[i], sizeof nodes[i], "api.%d=127.0.0.1:%d", i + 1, t->base + i);
        char *argv[] = {(char *)harness_herd_bin(), "node", "--port", port, "--id", id,
                        "--log-level", "warn", NULL};
        pids[i] = harness_spawn(argv, NULL, NULL);
    }
    snprintf(gw_port, sizeof gw_port, "%d", t->base + 3);
    char *gw[] = {(char *)harness_herd_bin(), "gateway", "--host", (char *)host, "--balance",
                  (char *)balance, "--port", gw_port, "--threads", "1", "--node", nodes[0],
                  "--node", nodes[1], "--node", nodes[2], "--timeout", "300ms", "--retry-budget",
                  "100%", "--inter", "100ms", "--fastinter", "100ms", "--downinter", "100ms",
                  "--check-timeout", "100ms", "--rise", "1", "--eject-after", "0",
                  "--log-level", "warn", NULL};
    harness_spawn(gw, NULL, NULL);
    for (int i = 0; i < 3; i++) assert_true(harness_wait_http(t->base + i, "/health", 5000));
    if (!harness_wait_until(gateway_nodes_up(host, t->base + 3) == 3, 10000))
        fail_msg("the gateway on %s port %d never had its 3 nodes up", host, t->base + 3);
}

/* api.2 paused by the user's commands (exec: kill -STOP, then kill -CONT after 1.5 s) while
 * 200 requests/s go through a gateway herd did not launch. The pause and the resume herd
 * reports are when /proc saw them happen; what herd counted is what the gateway counted. */
static void test_pause_against_proc_and_gateway_metrics(void **state)
{
    struct mt *t = *state;
    pid_t pids[3];
    start_cluster(t, pids, "127.0.0.1", "roundrobin");
    char *before = get_metrics(t->base + 3);
    assert_non_null(before);
    char text[2048];
    snprintf(text, sizeof text,
             "name: observers\n"
             "target: http://127.0.0.1:%d\n"
             "checks:\n"
             "  - failover: {fault: exec, exec: \"kill -STOP %d\", recover: \"kill -CONT %d\",\n"
             "               node: api.2, rate: 200, duration: 4s, at: 1s, restart_after: 1500ms,\n"
             "               path: /echo}\n",
             t->base + 3, (int)pids[1], (int)pids[1]);
    char reports[128];
    snprintf(reports, sizeof reports, "--report-dir=%s/reports", t->dir);
    char *args[] = {"test", "-q", write_plan(t, text), reports, NULL};
    struct sampler s = {.pid = pids[1], .stopped_ms = -1, .resumed_ms = -1};
    atomic_init(&s.stop, false);
    pthread_create(&s.thread, NULL, sample, &s);
    char *out = NULL, *err = NULL;
    int rc = harness_herd(args, 60000, &out, &err);
    atomic_store(&s.stop, true);
    pthread_join(s.thread, NULL);
    if (rc != 0) fail_msg("herd test exited %d: %s %s", rc, out, err);
    char *after = get_metrics(t->base + 3);
    assert_non_null(after);
    json_t *doc = load_report(t);
    json_t *m = json_object_get(check_named(doc, "failover"), "measures");
    assert_non_null(m);
    /* the fault and the recovery, against /proc (herd runs /bin/sh, which takes a moment) */
    double fault = num(m, "fault_at_epoch_ms", NULL);
    double resumed = num(json_array_get(json_object_get(m, "nodes"), 0), "recovered_at_epoch_ms", NULL);
    printf("  pause: herd %.0f, /proc %lld (%+.0f ms); resume: herd %.0f, /proc %lld (%+.0f ms)\n",
           fault, s.stopped_ms, (double)s.stopped_ms - fault, resumed, s.resumed_ms,
           (double)s.resumed_ms - resumed);
    assert_true(s.stopped_ms > 0 && s.resumed_ms > 0);
    /* herd stamps the moment it runs the command, so /proc never sees it earlier (5 ms: the
     * sampler's step and the clocks); /bin/sh then needs a moment, more on a loaded machine
     * (seen: 2-3 ms idle), never as long as the 1.5 s pause */
    double stop_late = (double)s.stopped_ms - fault, resume_late = (double)s.resumed_ms - resumed;
    if (stop_late < -5 || stop_late >= 1000 || resume_late < -5 || resume_late >= 1000)
        fail_msg("pause at %.0f (proc %lld), resume at %.0f (proc %lld)", fault, s.stopped_ms,
                 resumed, s.resumed_ms);
    /* rejoin runs from the resume to a success of api.2 sent after it: never before /proc saw
     * the resume */
    double rejoin = num(m, "rejoin_ms", NULL);
    assert_true(json_is_number(json_object_get(m, "rejoin_ms")));
    assert_true(resumed + rejoin + 5 >= (double)s.resumed_ms);
    /* counts: exactly what the gateway counted */
    json_t *sum = json_object_get(m, "summary");
    long long requests = metric(after, "herd_gateway_requests_total") -
                         metric(before, "herd_gateway_requests_total");
    long long ok = metric(after, "herd_gateway_responses_total{outcome=\"2xx\"}") -
                   metric(before, "herd_gateway_responses_total{outcome=\"2xx\"}");
    printf("  requests: herd %.0f, gateway %lld; ok: herd %.0f, gateway %lld\n",
           num(sum, "requests", NULL), requests, num(sum, "succeeded", NULL), ok);
    assert_int_equal((long long)num(sum, "scheduled", NULL), 800);
    assert_int_equal((long long)num(sum, "requests", NULL), requests);
    assert_int_equal((long long)num(sum, "succeeded", NULL), ok);
    assert_int_equal((long long)num(m, "failed_requests", NULL),
                     (long long)num(sum, "failures", NULL));
    /* per node: the successes herd saw each node serve are the gateway's 2xx to that node */
    json_t *nodes = json_object_get(json_object_get(m, "timeline"), "nodes");
    for (int i = 1; i <= 3; i++) {
        char name[16], key[96];
        snprintf(name, sizeof name, "api.%d", i);
        snprintf(key, sizeof key, "herd_gateway_node_requests_total{node=\"%s\",outcome=\"2xx\"}",
                 name);
        long long herd = 0;
        size_t k;
        json_t *v;
        json_array_foreach(json_object_get(nodes, name), k, v) herd += json_integer_value(v);
        long long gw = metric(after, key) - metric(before, key);
        printf("  %s: herd %lld, gateway %lld\n", name, herd, gw);
        assert_int_equal(herd, gw);
    }
    json_decref(doc);
    free(before);
    free(after);
    free(out);
    free(err);
}

/* A 200 ms latency fault (the fault proxy) on one node of three in the closed model: the
 * requests sent while it lasted include that node's, so the fault window's p95 is at least
 * the delay, while the baseline's is fast. */
static void test_latency_fault_closed_model(void **state)
{
    struct mt *t = *state;
    char text[2048];
    snprintf(text, sizeof text,
             "name: latency\n"
             "cluster:\n"
             "  groups:\n"
             "    api: {command: herd node --log-level warn, replicas: 3, base_port: %d}\n"
             "  gateway: {port: %d, threads: 1}\n"
             "checks:\n"
             "  - failover: {fault: latency, latency: 200ms, node: api.2, connections: 6,\n"
             "               duration: 4s, at: 1s, restart_after: 2s, path: /echo}\n",
             t->base, t->base + 3);
    int rc;
    char *out;
    json_t *doc = run_plan(t, text, false, &rc, &out);
    if (rc != 0) fail_msg("herd test exited %d: %s", rc, out);
    json_t *impact =
        json_object_get(json_object_get(check_named(doc, "failover"), "measures"), "latency_impact");
    double base = num(json_object_get(impact, "baseline"), "p95_ms", NULL);
    double fault = num(json_object_get(impact, "fault"), "p95_ms", NULL);
    printf("  p95 before %.2f ms, during %.2f ms\n", base, fault);
    assert_true(fault >= 190);
    assert_true(base < 190); /* the delay came with the fault, not before */
    json_decref(doc);
    free(out);
}

/* Every check that loads a path nobody serves fails, and says what the requests got. */
static void test_404_path_fails_every_check(void **state)
{
    struct mt *t = *state;
    char text[2048];
    snprintf(text, sizeof text,
             "name: nothing here\n"
             "cluster:\n"
             "  groups:\n"
             "    api: {command: herd node --log-level warn, replicas: 2, base_port: %d}\n"
             "  gateway: {port: %d, threads: 1}\n"
             "checks:\n"
             "  - connectivity: {probes: 3, path: /nope}\n"
             "  - distribution: {requests: 30, path: /nope}\n"
             "  - concurrency: {connections: 2, duration: 500ms, path: /nope,\n"
             "                  expect: {p99: \"<1s\"}}\n"
             "  - failover: {fault: none, rate: 50, duration: 1s, path: /nope}\n"
             "  - scaling: {group: api, replicas: [1, 2], connections: 2, duration: 500ms,\n"
             "              path: /nope}\n",
             t->base, t->base + 3);
    int rc;
    char *out;
    json_t *doc = run_plan(t, text, true, &rc, &out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "failed requests got: 404"));
    /* the path they went to, and what to do about it */
    assert_non_null(strstr(out, "(path /nope: give the check a path: the target serves)"));
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "checks"), i, c)
    {
        const char *verdict = json_string_value(json_object_get(c, "verdict"));
        if (strcmp(verdict, "fail") != 0)
            fail_msg("%s: %s on a 404 path", json_string_value(json_object_get(c, "name")), verdict);
        assert_true(json_integer_value(json_object_get(json_object_get(c, "failed_by"), "404")) > 0);
        assert_string_equal(json_string_value(json_object_get(c, "path")), "/nope");
    }
    assert_int_equal(json_array_size(json_object_get(doc, "checks")), 5);
    char path[160];
    snprintf(path, sizeof path, "%s/reports/run.junit.xml", t->dir);
    FILE *f = fopen(path, "r");
    char junit[65536] = "";
    if (f) {
        size_t n = fread(junit, 1, sizeof junit - 1, f);
        junit[n] = '\0';
        fclose(f);
    }
    assert_non_null(strstr(junit, "failed requests got: 404"));
    json_decref(doc);
    free(out);
}

/* The pid of node id of the cluster whose state is in DIR/state, or 0. */
static pid_t node_pid(struct mt *t, const char *id)
{
    struct state_dir st;
    snprintf(st.root, sizeof st.root, "%s/state", t->dir);
    struct state_pid *pids;
    size_t count;
    pid_t pid = 0;
    if (state_pid_list(&st, &pids, &count) < 0) return 0;
    for (size_t i = 0; i < count; i++)
        if (strcmp(pids[i].id, id) == 0 && proc_is(pids[i].pid, pids[i].starttime)) pid = pids[i].pid;
    free(pids);
    return pid;
}

/* Ctrl-C into a failover (api.2 paused, never resumed by the plan), twice: herd test
 * stops the load at once, marks the check interrupted, skips the next, stops the cluster (the
 * paused replica too), writes the reports and exits 130; nothing answers on the cluster's
 * ports. */
static void test_sigint_interrupts_a_failover(void **state)
{
    struct mt *t = *state;
    char text[2048];
    snprintf(text, sizeof text,
             "name: interrupted\n"
             "cluster:\n"
             "  groups:\n"
             "    api: {command: herd node --log-level warn, replicas: 3, base_port: %d}\n"
             "  gateway: {port: %d, threads: 1}\n"
             "checks:\n"
             "  - failover: {fault: pause, node: api.2, rate: 100, duration: 30s, at: 1s, path: /echo}\n"
             "  - concurrency: {connections: 2, duration: 1s}\n",
             t->base, t->base + 3);
    char reports[128], out_path[128], err_path[128], state_arg[128];
    snprintf(reports, sizeof reports, "--report-dir=%s/reports", t->dir);
    snprintf(out_path, sizeof out_path, "%s/out", t->dir);
    snprintf(err_path, sizeof err_path, "%s/err", t->dir);
    snprintf(state_arg, sizeof state_arg, "--state-dir=%s/state", t->dir);
    char *argv[] = {(char *)harness_herd_bin(), "test", write_plan(t, text), reports, state_arg,
                    NULL};
    pid_t pid = harness_spawn_io(argv, NULL, out_path, err_path);
    /* into the failover: api.2 is paused (stopped, in /proc) */
    if (!harness_wait_until(proc_state(node_pid(t, "api.2")) == 'T', 60000))
        fail_msg("api.2 was never paused; herd test's output is in %s", err_path);
    long long t0 = harness_now_ms();
    kill(pid, SIGINT);
    harness_pause_ms(100);
    kill(pid, SIGINT); /* a second one (timeout(1) and CI runners send two): still a report */
    int status = harness_wait(pid, 30000);
    long long took = harness_now_ms() - t0;
    printf("  herd test ended %lld ms after SIGINT\n", took);
    assert_true(status != -1);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 130);
    for (int i = 0; i < 4; i++)
        if (harness_port_open(t->base + i)) fail_msg("port %d still answers", t->base + i);
    json_t *doc = load_report(t);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "verdict")), "interrupted");
    json_t *fo = check_named(doc, "failover");
    assert_string_equal(json_string_value(json_object_get(fo, "verdict")), "interrupted");
    /* judged on nothing: no PASS from the partial data, one failing "ran to its end" */
    json_t *ex = json_object_get(fo, "expectations");
    assert_int_equal(json_array_size(ex), 1);
    assert_false(json_is_true(json_object_get(json_array_get(ex, 0), "pass")));
    assert_string_equal(
        json_string_value(json_object_get(check_named(doc, "concurrency"), "verdict")), "skip");
    /* the load stopped at once, not after its 30 s */
    double ran = num(check_named(doc, "failover"), "duration_s", NULL);
    assert_true(ran < 10);
    json_decref(doc);
}

/* The split of the failed requests by each request's own send time does not move with where
 * the fault falls in a 100 ms window: a node killed at 2000, 2005 and 2050 ms under a closed
 * loop of 4 connections, each waiting 300 ms for its answer (answers fall near 1.8 s and 2.1 s,
 * never at the kill), had exactly 4 requests in flight (one per connection: the observer is
 * the connection count). */
static void test_in_flight_at_the_fault_does_not_move(void **state)
{
    struct mt *t = *state;
    char text[2048];
    snprintf(text, sizeof text,
             "name: split\n"
             "cluster:\n"
             "  groups:\n"
             "    api: {command: herd node --log-level warn, replicas: 1, base_port: %d}\n"
             "target: http://127.0.0.1:%d\n"
             "checks:\n"
             "  - failover: {fault: kill, node: api.1, connections: 4, duration: 3s, at: 2000ms,\n"
             "               restart_after: 500ms, path: \"/delay?ms=300\",\n"
             "               expect: {errors: \"<100%%\"}}\n"
             "  - failover: {fault: kill, node: api.1, connections: 4, duration: 3s, at: 2005ms,\n"
             "               restart_after: 500ms, path: \"/delay?ms=300\",\n"
             "               expect: {errors: \"<100%%\"}}\n"
             "  - failover: {fault: kill, node: api.1, connections: 4, duration: 3s, at: 2050ms,\n"
             "               restart_after: 500ms, path: \"/delay?ms=300\",\n"
             "               expect: {errors: \"<100%%\"}}\n",
             t->base, t->base);
    int rc;
    char *out;
    json_t *doc = run_plan(t, text, false, &rc, &out);
    if (!doc) fail_msg("herd test exited %d: %s", rc, out);
    static const char *const names[] = {"failover", "failover#2", "failover#3"};
    for (int i = 0; i < 3; i++) {
        json_t *m = json_object_get(check_named(doc, names[i]), "measures");
        long long in_flight = (long long)num(m, "failed_in_flight_at_fault", NULL);
        printf("  fault at %.3f s: %lld in flight, %lld sent after\n", num(m, "fault_at_s", NULL),
               in_flight, (long long)num(m, "failed_sent_after_fault", NULL));
        assert_int_equal(in_flight, 4);
        assert_true(num(m, "failed_sent_after_fault", NULL) > 0); /* refused until the restart */
    }
    json_decref(doc);
    free(out);
}

/* A group whose restart policy brings a killed replica back (on-failure, 200 ms backoff)
 * before the plan's restart_after (2 s): herd measures from that restart, says so, and does
 * not kill the restarted node again (the gateway never sees it go down a second time). */
static void test_restart_by_policy(void **state)
{
    struct mt *t = *state;
    char text[2048];
    snprintf(text, sizeof text,
             "name: policy\n"
             "cluster:\n"
             "  groups:\n"
             "    api: {command: herd node --log-level warn, replicas: 3, base_port: %d,\n"
             "          restart: on-failure, restart_backoff: 200ms}\n"
             "  gateway: {port: %d, threads: 1, health: {inter: 100ms, fastinter: 100ms,\n"
             "            downinter: 100ms, timeout: 100ms, rise: 1}}\n"
             "checks:\n"
             "  - failover: {fault: kill, node: api.2, rate: 200, duration: 4s, at: 1s,\n"
             "               restart_after: 2s, path: /echo}\n",
             t->base, t->base + 3);
    int rc;
    char *out;
    json_t *doc = run_plan(t, text, false, &rc, &out);
    if (!doc) fail_msg("herd test exited %d: %s", rc, out);
    json_t *m = json_object_get(check_named(doc, "failover"), "measures");
    json_t *n = json_array_get(json_object_get(m, "nodes"), 0);
    const char *by = json_string_value(json_object_get(n, "recovered_by"));
    double fault = num(m, "fault_at_epoch_ms", NULL), back = num(n, "recovered_at_epoch_ms", NULL);
    printf("  recovered by %s, %.0f ms after the kill; rejoin %.1f ms\n", by ? by : "?",
           back - fault, num(m, "rejoin_ms", NULL));
    assert_non_null(by);
    assert_string_equal(by, "restart policy");
    /* the backoff (200 ms), before the plan's restart_after (2 s) */
    assert_true(back - fault >= 150 && back - fault < 2000);
    assert_true(json_is_number(json_object_get(m, "rejoin_ms")));
    /* after its restart the node went down no more: herd did not kill it again */
    double back_s = num(n, "recovered_at_s", NULL);
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(json_object_get(m, "timeline"), "events"), i, ev)
    {
        const char *what = json_string_value(json_object_get(ev, "event"));
        const char *node = json_string_value(json_object_get(ev, "node"));
        double at = json_number_value(json_object_get(ev, "t_s"));
        if (strcmp(node, "api.2") == 0 && strcmp(what, "down") == 0 && at > back_s + 0.3)
            fail_msg("api.2 went down again at %.3f s (restarted at %.3f s)", at, back_s);
    }
    json_decref(doc);
    free(out);
}

/* A fault that fails on one of its nodes (api.2 was stopped by the check before, so it cannot
 * be paused) undoes itself on those already faulted: api.1, paused first, is resumed, and the
 * probes after it reach api.1 (a paused process would hold them). */
static void test_partial_fault_is_undone(void **state)
{
    struct mt *t = *state;
    char text[2048];
    snprintf(text, sizeof text,
             "name: partial\n"
             "cluster:\n"
             "  groups:\n"
             "    api: {command: herd node --log-level warn, replicas: 3, base_port: %d}\n"
             "  gateway: {port: %d, threads: 1}\n"
             "checks:\n"
             "  - failover: {fault: stop, node: api.2, rate: 50, duration: 1s, at: 500ms}\n"
             "  - failover: {fault: pause, node: [api.1, api.2], rate: 50, duration: 1s, at: 500ms}\n"
             "  - connectivity: {probes: 3}\n",
             t->base, t->base + 3);
    int rc;
    char *out;
    json_t *doc = run_plan(t, text, false, &rc, &out);
    assert_non_null(doc);
    json_t *second = check_named(doc, "failover#2");
    printf("  second check: %s: %s\n", json_string_value(json_object_get(second, "verdict")),
           json_string_value(json_object_get(second, "error")));
    assert_string_equal(json_string_value(json_object_get(second, "verdict")), "error");
    json_t *api1 = harness_json_find(
        json_object_get(json_object_get(check_named(doc, "connectivity"), "measures"), "endpoints"),
        "endpoint", "api.1");
    assert_non_null(api1);
    assert_true(json_number_value(json_object_get(api1, "success")) == 1.0);
    json_decref(doc);
    free(out);
}

/* herd test says where its temporary state and logs are, removes them at the end, and keeps
 * them with --keep-state. */
static void test_temporary_state_dir(void **state)
{
    struct mt *t = *state;
    char text[1024];
    snprintf(text, sizeof text,
             "name: state\n"
             "cluster:\n"
             "  groups:\n"
             "    api: {command: herd node --log-level warn, replicas: 1, base_port: %d}\n"
             "target: http://127.0.0.1:%d\n"
             "checks:\n"
             "  - connectivity: {probes: 1}\n",
             t->base, t->base);
    char reports[128];
    snprintf(reports, sizeof reports, "--report-dir=%s/reports", t->dir);
    const char *plan = write_plan(t, text);
    for (int keep = 0; keep < 2; keep++) {
        char *args[] = {"test", (char *)plan, reports, keep ? "--keep-state" : NULL, NULL};
        char *out = NULL, *err = NULL;
        assert_int_equal(harness_herd(args, 60000, &out, &err), 0);
        char dir[128] = "";
        const char *at = strstr(err, "state and logs in ");
        assert_non_null(at);
        sscanf(at + strlen("state and logs in "), "%127s", dir);
        assert_true(strncmp(dir, "/tmp/herd-test-", 15) == 0);
        char logs[160];
        snprintf(logs, sizeof logs, "%s/logs", dir);
        bool there = access(logs, F_OK) == 0;
        printf("  %s: %s\n", dir, there ? "kept" : "removed");
        assert_true(there == (keep == 1));
        if (there) {
            char cmd[200];
            snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
            if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
        }
        free(out);
        free(err);
    }
}

/* An environment's gateway is read at its own address: a gateway on [::1] (nothing on
 * 127.0.0.1 at that port) balancing at random is judged as random, which herd can only know
 * from that gateway's status. */
static void test_environment_read_at_its_own_host(void **state)
{
    struct mt *t = *state;
    pid_t pids[3];
    start_cluster(t, pids, "::1", "random");
    assert_false(harness_port_open(t->base + 3)); /* not on 127.0.0.1 */
    char text[1024];
    snprintf(text, sizeof text,
             "name: v6\n"
             "environments: {v6: \"http://[::1]:%d\"}\n"
             "checks:\n"
             "  - distribution: {environment: v6, requests: 600, path: /echo}\n",
             t->base + 3);
    int rc;
    char *out;
    json_t *doc = run_plan(t, text, false, &rc, &out);
    if (!doc) fail_msg("herd test exited %d: %s", rc, out);
    json_t *m = json_object_get(check_named(doc, "distribution"), "measures");
    printf("  algorithm %s, %lld counted\n", json_string_value(json_object_get(m, "algorithm")),
           (long long)num(m, "counted", NULL));
    assert_string_equal(json_string_value(json_object_get(m, "algorithm")), "random");
    assert_int_equal((long long)num(m, "counted", NULL), 600);
    json_decref(doc);
    free(out);
}

/* The processes whose command line is exactly argv (NUL-separated in /proc/PID/cmdline) and
 * which are not zombies: how many, and the first one's pid in *first (0: none). */
static int find_processes(const char *const argv[], pid_t *first)
{
    char want[256];
    size_t len = 0;
    for (size_t i = 0; argv[i]; i++) {
        size_t n = strlen(argv[i]) + 1;
        memcpy(want + len, argv[i], n);
        len += n;
    }
    static pid_t pids[65536];
    size_t count = harness_proc_list(pids, sizeof pids / sizeof pids[0]);
    int found = 0;
    *first = 0;
    for (size_t i = 0; i < count; i++) {
        char path[64], buf[256];
        snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pids[i]);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        if (n == len && memcmp(buf, want, len) == 0 && proc_state(pids[i]) != 'Z')
            if (found++ == 0) *first = pids[i];
    }
    return found;
}

static int count_processes(const char *const argv[])
{
    pid_t first;
    return find_processes(argv, &first);
}

/* A demo node on t->base, up. */
static void start_node(struct mt *t)
{
    char port[16];
    snprintf(port, sizeof port, "%d", t->base);
    char *node[] = {(char *)harness_herd_bin(), "node", "--port", port, "--log-level", "warn", NULL};
    harness_spawn(node, NULL, NULL);
    assert_true(harness_wait_http(t->base, "/health", 5000));
}

/* An exec fault's command that runs too long is killed with everything it started: the shell
 * and its background child, its whole process group. */
static void test_exec_timeout_kills_its_group(void **state)
{
    struct mt *t = *state;
    start_node(t);
    /* the commands' sleeps are told apart from any other test's (another run of this one on
     * the machine included) by a length that names this process */
    char seconds[2][32], exec[2][96];
    for (int i = 0; i < 2; i++) {
        snprintf(seconds[i], sizeof seconds[i], "%d%d.5", 300 + i, (int)getpid());
        snprintf(exec[i], sizeof exec[i], "sleep %s & sleep %s", seconds[i], seconds[i]);
    }
    const char *const sleeper[] = {"sleep", seconds[0], NULL}, *const sleeper2[] = {"sleep", seconds[1], NULL};
    char text[1024];
    snprintf(text, sizeof text,
             "name: slow exec\n"
             "target: http://127.0.0.1:%d\n"
             "checks:\n"
             "  - failover: {fault: exec, exec: \"%s\", exec_timeout: 1s,\n"
             "               node: x, rate: 20, duration: 3s, at: 500ms}\n",
             t->base, exec[0]);
    int rc;
    char *out;
    json_t *doc = run_plan(t, text, false, &rc, &out);
    assert_non_null(doc);
    const char *error = json_string_value(json_object_get(check_named(doc, "failover"), "error"));
    printf("  %s\n", error ? error : "(no error)");
    assert_non_null(error);
    assert_non_null(strstr(error, "still running after 1.0 s, killed"));
    assert_true(harness_wait_until(count_processes(sleeper) == 0, 2000));
    json_decref(doc);
    free(out);
    /* and a SIGINT does not wait for it: the command's group goes at once, exit 130 */
    snprintf(text, sizeof text,
             "name: slow exec\n"
             "target: http://127.0.0.1:%d\n"
             "checks:\n"
             "  - failover: {fault: exec, exec: \"%s\", node: x,\n"
             "               rate: 20, duration: 3s, at: 500ms}\n",
             t->base, exec[1]);
    char reports[128], outp[128];
    snprintf(reports, sizeof reports, "--report-dir=%s/reports", t->dir);
    snprintf(outp, sizeof outp, "%s/int.out", t->dir);
    char *argv[] = {(char *)harness_herd_bin(), "test", write_plan(t, text), reports, NULL};
    pid_t pid = harness_spawn_io(argv, NULL, outp, outp);
    /* during the exec: both its sleeps run */
    assert_true(harness_wait_until(count_processes(sleeper2) == 2, 60000));
    long t0 = harness_now_ms();
    kill(pid, SIGINT);
    int status = harness_wait(pid, 30000);
    long took = harness_now_ms() - t0;
    printf("  exit after SIGINT during the exec: %ld ms\n", took);
    assert_true(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 130);
    assert_true(took < 10000); /* not the 60 s exec_timeout */
    assert_true(harness_wait_until(count_processes(sleeper2) == 0, 2000));
}

/* An exec fault's recover command that starts a daemon in the background (a killed server
 * started again) must not hold herd's output open, or `herd test plan | tee log` never ends:
 * the daemon's descriptors (read from /proc) are the command's own output file and
 * /dev/null, and what the commands printed is in the check's log and its Markdown report. */
static void test_exec_output_is_captured(void **state)
{
    struct mt *t = *state;
    start_node(t);
    char seconds[32];
    snprintf(seconds, sizeof seconds, "%d%d.5", 302, (int)getpid());
    const char *const daemon[] = {"sleep", seconds, NULL};
    char text[1024];
    snprintf(text, sizeof text,
             "name: exec output\n"
             "target: http://127.0.0.1:%d\n"
             "checks:\n"
             "  - failover: {fault: exec, exec: \"echo breaking x; echo oops >&2\",\n"
             "               recover: \"echo healed x; sleep %s &\", node: x, rate: 20,\n"
             "               duration: 2s, at: 500ms, restart_after: 500ms}\n"
             "report: {formats: [json, md, junit]}\n",
             t->base, seconds);
    int rc;
    char *out;
    json_t *doc = run_plan(t, text, false, &rc, &out);
    pid_t pid;
    find_processes(daemon, &pid);
    assert_true(pid > 0); /* the recover command's daemon outlives herd test */
    char fds[3][256];
    for (int fd = 0; fd < 3; fd++) {
        char link[64];
        snprintf(link, sizeof link, "/proc/%d/fd/%d", (int)pid, fd);
        ssize_t n = readlink(link, fds[fd], sizeof fds[fd] - 1);
        fds[fd][n > 0 ? n : 0] = 0;
        printf("  daemon fd %d: %s\n", fd, fds[fd]);
    }
    kill(pid, SIGKILL);
    assert_string_equal(fds[0], "/dev/null");
    assert_non_null(strstr(fds[1], "/herd-exec-"));
    assert_non_null(strstr(fds[2], "/herd-exec-"));
    assert_non_null(doc);
    json_t *log = json_object_get(check_named(doc, "failover"), "log");
    assert_int_equal(json_array_size(log), 2);
    json_t *fault = json_array_get(log, 0), *recovery = json_array_get(log, 1);
    assert_string_equal(json_string_value(json_object_get(fault, "step")), "fault");
    assert_string_equal(json_string_value(json_object_get(fault, "output")), "breaking x\noops\n");
    assert_string_equal(json_string_value(json_object_get(recovery, "step")), "recovery");
    assert_string_equal(json_string_value(json_object_get(recovery, "output")), "healed x\n");
    assert_null(strstr(out, "\nhealed x\n")); /* its output is not on herd's own */
    char path[160];
    snprintf(path, sizeof path, "%s/reports/run.md", t->dir);
    char *md = harness_slurp(path);
    assert_non_null(strstr(md, "The recovery command `echo healed x; sleep"));
    assert_non_null(strstr(md, "```\nhealed x\n```"));
    free(md);
    json_decref(doc);
    free(out);
}

/* Nodes are listed by name, numbers compared as numbers (web1, web2, web10), in the
 * distribution and the concurrency checks' tables, whatever order the gateway
 * lists them in (web10, web2, web1 here) or the load met them in. */
static void test_nodes_in_name_order(void **state)
{
    struct mt *t = *state;
    const char *ids[] = {"web10", "web2", "web1"};
    char nodes[3][64];
    for (int i = 0; i < 3; i++) {
        char port[16];
        snprintf(port, sizeof port, "%d", t->base + i);
        char *argv[] = {(char *)harness_herd_bin(), "node", "--port", port, "--id", (char *)ids[i],
                        "--log-level", "warn", NULL};
        harness_spawn(argv, NULL, NULL);
        assert_true(harness_wait_http(t->base + i, "/health", 5000));
        snprintf(nodes[i], sizeof nodes[i], "%s=127.0.0.1:%d", ids[i], t->base + i);
    }
    char gw_port[16];
    snprintf(gw_port, sizeof gw_port, "%d", t->base + 3);
    char *gw[] = {(char *)harness_herd_bin(), "gateway", "--port", gw_port, "--node", nodes[0],
                  "--node", nodes[1], "--node", nodes[2], "--threads", "1", NULL};
    harness_spawn(gw, NULL, NULL);
    assert_true(harness_wait_http(t->base + 3, "/api/v1/cluster/status", 5000));
    char text[512];
    snprintf(text, sizeof text,
             "name: order\n"
             "target: http://127.0.0.1:%d\n"
             "checks:\n"
             "  - distribution: {requests: 300, connections: 3}\n"
             "  - concurrency: {connections: 3, duration: 1s}\n",
             t->base + 3);
    int rc;
    char *out;
    json_t *doc = run_plan(t, text, false, &rc, &out);
    assert_non_null(doc);
    json_t *m = json_object_get(check_named(doc, "distribution"), "measures");
    json_t *rows = json_object_get(m, "nodes");
    json_t *summary = json_object_get(json_object_get(check_named(doc, "concurrency"), "measures"), "nodes");
    const char *want[] = {"web1", "web2", "web10"};
    assert_int_equal(json_array_size(rows), 3);
    assert_int_equal(json_array_size(summary), 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(json_string_value(json_object_get(json_array_get(rows, i), "node")), want[i]);
        assert_string_equal(json_string_value(json_object_get(json_array_get(summary, i), "node")), want[i]);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, i), "requests")), 100);
    }
    assert_int_equal(rc, 0);
    json_decref(doc);
    free(out);
}

/* ---- clusters herd did not launch, behind a balancer herd does not run: Debian's HAProxy in
 * front of three demo nodes started here, a plan whose exec fault kills one by its pid file and
 * whose recover starts it again in the background. What herd measures is held against
 * HAProxy's own log (ISO timestamps with microseconds): the moments it marked the server down
 * and up again. ---- */

#define HAPROXY "/usr/sbin/haproxy"

/* The wall time (ms since the epoch) of the first line of HAProxy's log at or after since_ms
 * that holds what ("Server web/web2 is DOWN"), or -1. Lines read "2026-11-30T17:37:45.519312+00:00
 * Server web/web2 is DOWN, ...". */
static double log_time(const char *log, const char *what, double since_ms)
{
    for (const char *line = log; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        struct tm tm = {0};
        const char *rest = strptime(line, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!rest || *rest != '.') continue;
        char *end;
        double fraction = strtod(rest, &end);
        if (strncmp(end, "+00:00 ", 7) != 0) continue;
        size_t len = strcspn(line, "\n");
        double at = (double)timegm(&tm) * 1000 + fraction * 1000;
        if (at >= since_ms && memmem(line, len, what, strlen(what))) return at;
    }
    return -1;
}

/* HAProxy (round robin, health checks every 100 ms, fall 2, no retries: a request it sends to
 * the dead node fails) in front of web1..web3. The distribution is exact thirds, listed by
 * name; after the kill, detection from HAProxy's stats CSV (`balancer:`) is no earlier than
 * the DOWN its log shows and within a few polls of it; what the clients saw (the first request
 * after the last one the dead node cost) matches that same DOWN; the balancer's readmission
 * follows the UP in its log; and `herd test`'s output is not held open by the restarted node. */
static void test_haproxy_detection(void **state)
{
    struct mt *t = *state;
    if (access(HAPROXY, X_OK) != 0) {
        printf("  skipped: %s is not installed (apt-get install haproxy)\n", HAPROXY);
        skip();
    }
    char pidfile[128], port[16];
    snprintf(pidfile, sizeof pidfile, "%s/web2.pid", t->dir);
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(port, sizeof port, "%d", t->base + i);
        snprintf(id, sizeof id, "web%d", i + 1);
        char *argv[] = {(char *)harness_herd_bin(), "node", "--port", port, "--id", id,
                        "--log-level", "warn", NULL};
        pid_t pid = harness_spawn(argv, NULL, NULL);
        assert_true(pid > 0 && harness_wait_http(t->base + i, "/health", 5000));
        if (i == 1) {
            FILE *f = fopen(pidfile, "w");
            fprintf(f, "%d\n", (int)pid);
            fclose(f);
        }
    }
    char cfg[2048], cfg_path[128], log_path[128];
    snprintf(cfg, sizeof cfg,
             "global\n  log stdout format iso local0\n"
             "defaults\n  mode http\n  log global\n  retries 0\n  timeout connect 1s\n"
             "  timeout client 10s\n  timeout server 10s\n"
             "frontend fe\n  bind 127.0.0.1:%d\n  default_backend web\n"
             "frontend stats\n  bind 127.0.0.1:%d\n  stats enable\n  stats uri /stats\n"
             "backend web\n  balance roundrobin\n"
             "  server web1 127.0.0.1:%d check inter 100ms fall 2 rise 1\n"
             "  server web2 127.0.0.1:%d check inter 100ms fall 2 rise 1\n"
             "  server web3 127.0.0.1:%d check inter 100ms fall 2 rise 1\n",
             t->base + 3, t->base + 4, t->base, t->base + 1, t->base + 2);
    snprintf(cfg_path, sizeof cfg_path, "%s/haproxy.cfg", t->dir);
    snprintf(log_path, sizeof log_path, "%s/haproxy.log", t->dir);
    FILE *f = fopen(cfg_path, "w");
    fputs(cfg, f);
    fclose(f);
    char *hx[] = {HAPROXY, "-db", "-f", cfg_path, NULL};
    assert_true(harness_spawn_io(hx, NULL, log_path, log_path) > 0);
    assert_true(harness_wait_http(t->base + 3, "/health", 5000));
    char plan[2048], plan_path[128], reports[160];
    snprintf(plan, sizeof plan,
             "name: haproxy in front\n"
             "target: http://127.0.0.1:%d\n"
             "checks:\n"
             "  - distribution: {requests: 300, connections: 3}\n"
             "  - failover: {fault: exec, exec: \"kill -9 $(cat %s)\",\n"
             "               recover: \"%s node --port %d --id web2 --log-level warn & echo $! > %s\",\n"
             "               node: web2, rate: 200, duration: 4s, at: 1s, restart_after: 1500ms,\n"
             "               balancer: {stats: \"http://127.0.0.1:%d/stats;csv\", server: \"web/{node}\"},\n"
             "               expect: {errors: \"<50%%\", detection: \"<2s\"}}\n",
             t->base + 3, pidfile, harness_herd_bin(), t->base + 1, pidfile, t->base + 4);
    snprintf(plan_path, sizeof plan_path, "%s/plan.yaml", t->dir);
    f = fopen(plan_path, "w");
    fputs(plan, f);
    fclose(f);
    snprintf(reports, sizeof reports, "--report-dir=%s/reports", t->dir);
    char *args[] = {"test", "-q", plan_path, reports, NULL}, *out = NULL, *err = NULL;
    int rc = harness_herd(args, 90000, &out, &err);
    char path[192];
    snprintf(path, sizeof path, "%s/reports/run.json", t->dir);
    json_t *doc = json_load_file(path, 0, NULL);
    if (rc != 0 || !doc) fail_msg("herd test exited %d: %s%s", rc, out, err);
    json_t *checks = json_object_get(doc, "checks");
    /* exact thirds, by name */
    json_t *rows = json_object_get(json_object_get(json_array_get(checks, 0), "measures"), "nodes");
    for (size_t i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof name, "web%zu", i + 1);
        json_t *row = json_array_get(rows, i);
        assert_string_equal(json_string_value(json_object_get(row, "node")), name);
        assert_int_equal(json_integer_value(json_object_get(row, "requests")), 100);
    }
    json_t *c = json_array_get(checks, 1), *m = json_object_get(c, "measures");
    json_t *n = harness_json_find(json_object_get(m, "nodes"), "node", "web2");
    assert_non_null(n);
    double fault = (double)json_integer_value(json_object_get(m, "fault_at_epoch_ms"));
    double detection = json_number_value(json_object_get(m, "detection_ms"));
    double clients = json_number_value(json_object_get(n, "detection_clients_ms"));
    double readmitted = json_number_value(json_object_get(n, "balancer_readmitted_ms"));
    double recovered = (double)json_integer_value(json_object_get(n, "recovered_at_epoch_ms"));
    char *log = harness_slurp(log_path);
    double down = log_time(log, "Server web/web2 is DOWN", fault);
    double up = log_time(log, "Server web/web2 is UP", recovered);
    free(log);
    printf("  HAProxy: DOWN %.1f ms after the fault, UP %.1f ms after the recovery\n",
           down - fault, up - recovered);
    printf("  herd: detection %.1f ms (%s), by the clients %.1f ms, readmitted %.1f ms; "
           "%lld failed requests\n",
           detection, json_string_value(json_object_get(m, "detected_by")), clients, readmitted,
           (long long)json_integer_value(json_object_get(m, "failed_requests")));
    assert_true(down > 0 && up > 0);
    assert_string_equal(json_string_value(json_object_get(m, "detected_by")), "balancer");
    /* a poll sees the DOWN after HAProxy logged it (1 ms: the log's and our clocks' rounding),
     * at most a few polls later on a loaded machine */
    assert_true(fault + detection >= down - 1);
    assert_true(fault + detection <= down + 500);
    assert_true(recovered + readmitted >= up - 1);
    assert_true(recovered + readmitted <= up + 500);
    /* the clients: requests to web2 failed until HAProxy marked it down; the first request
     * after the last of them is within a few requests (5 ms apart) of that DOWN */
    assert_true(json_integer_value(json_object_get(m, "failed_requests")) > 0);
    assert_true(isfinite(clients));
    assert_true(fabs(fault + clients - down) <= 100);
    assert_string_equal(json_string_value(json_object_get(c, "verdict")), "pass");
    char *pid = harness_slurp(pidfile); /* the node the recover command started */
    if (atoi(pid) > 1) kill(atoi(pid), SIGKILL);
    free(pid);
    json_decref(doc);
    free(out);
    free(err);
}

/* The balancer's status page named wrong (a page that is not there): the check cannot pass on
 * it; detection is not measured, and the measures say why. */
static void test_balancer_status_unreadable(void **state)
{
    struct mt *t = *state;
    char port[16];
    snprintf(port, sizeof port, "%d", t->base);
    char *argv[] = {(char *)harness_herd_bin(), "node", "--port", port, "--id", "web1",
                    "--log-level", "warn", NULL};
    assert_true(harness_spawn(argv, NULL, NULL) > 0 && harness_wait_http(t->base, "/health", 5000));
    char plan[1024], plan_path[128], reports[160];
    /* the demo node has no /metrics: every poll gets a 404 */
    snprintf(plan, sizeof plan,
             "name: unreadable balancer\n"
             "target: http://127.0.0.1:%d\n"
             "checks:\n"
             "  - failover: {fault: exec, exec: \"true\", node: web1, rate: 50, duration: 1s,\n"
             "               balancer: {metrics: \"http://127.0.0.1:%d/metrics\",\n"
             "                          down: 'haproxy_server_status{server=\"{node}\"} == 1'},\n"
             "               expect: {detection: \"<1s\"}}\n",
             t->base, t->base);
    snprintf(plan_path, sizeof plan_path, "%s/plan.yaml", t->dir);
    FILE *f = fopen(plan_path, "w");
    fputs(plan, f);
    fclose(f);
    snprintf(reports, sizeof reports, "--report-dir=%s/reports", t->dir);
    char *args[] = {"test", "-q", plan_path, reports, NULL}, *out = NULL, *err = NULL;
    int rc = harness_herd(args, 60000, &out, &err);
    assert_int_equal(rc, 1);
    char path[192];
    snprintf(path, sizeof path, "%s/reports/run.json", t->dir);
    json_t *doc = json_load_file(path, 0, NULL);
    assert_non_null(doc);
    json_t *m = json_object_get(json_array_get(json_object_get(doc, "checks"), 0), "measures");
    assert_true(json_is_null(json_object_get(m, "detection_ms")));
    json_t *b = json_object_get(m, "balancer");
    assert_true(json_integer_value(json_object_get(b, "polls")) > 0);
    assert_non_null(strstr(json_string_value(json_object_get(b, "last_error")), "answered 404"));
    json_decref(doc);
    free(out);
    free(err);
}

int integration_measure(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pause_against_proc_and_gateway_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latency_fault_closed_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_flight_at_the_fault_does_not_move, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_by_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_fault_is_undone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_temporary_state_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_environment_read_at_its_own_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_timeout_kills_its_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_output_is_captured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nodes_in_name_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_haproxy_detection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_balancer_status_unreadable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_404_path_fails_every_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigint_interrupts_a_failover, setup, teardown),
    };
    return cmocka_run_group_tests_name("measure", tests, NULL, NULL);
}
