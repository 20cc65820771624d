/* test_bench.c -- `herd bench` against three real `herd node` replicas: exact request counts,
 * exact round-robin shares that match what each node counted, timeouts, thresholds and the
 * breaker with their exit codes, the open model, report files, and bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "../support/harness.h"
#include "integration.h"

struct trio {
    pid_t pids[3];
    int ports[3];
    char urls[3][96];
};

static int setup(void **state)
{
    struct trio *t = calloc(1, sizeof *t);
    for (int i = 0; i < 3; i++) {
        t->ports[i] = harness_free_port();
        char port[16], id[16];
        snprintf(port, sizeof port, "%d", t->ports[i]);
        snprintf(id, sizeof id, "api.%d", i + 1);
        char *argv[] = {(char *)harness_herd_bin(), "node", "--port", port, "--id", id, "--log-level", "warn", NULL};
        t->pids[i] = harness_spawn(argv, NULL, NULL);
        snprintf(t->urls[i], sizeof t->urls[i], "http://127.0.0.1:%d", t->ports[i]);
    }
    for (int i = 0; i < 3; i++)
        if (!harness_wait_http(t->ports[i], "/health", 5000))
            return -1;
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct trio *t = *state;
    for (int i = 0; t && i < 3; i++) {
        kill(t->pids[i], SIGTERM);
        harness_wait(t->pids[i], 5000);
    }
    free(t);
    return 0;
}

/* True once the node on port has answered more than n requests other than these status
 * requests: its count went past before (node_total's, read earlier) by more than n plus the
 * status requests made since, counted in *calls (start it at 1: the one that read before). */
static bool node_served_more(int port, long long before, long long n, int *calls)
{
    return harness_node_total(port) - (*calls)++ > before + n;
}

static json_t *run_json(char *const args[], int expect_exit, char **err_out)
{
    char *out = NULL, *err = NULL;
    int code = harness_herd(args, 60000, &out, &err);
    if (code != expect_exit)
        fail_msg("herd bench exited %d, expected %d; stderr: %s", code, expect_exit, err);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    if (!j)
        fail_msg("stdout is not JSON (%s): %.200s", jerr.text, out);
    free(out);
    if (err_out)
        *err_out = err;
    else
        free(err);
    return j;
}

static json_t *node_entry(json_t *run, const char *name)
{
    return harness_json_find(json_object_get(run, "nodes"), "name", name);
}

static long long jint(json_t *obj, const char *a, const char *b)
{
    json_t *v = json_object_get(obj, a);
    if (b)
        v = json_object_get(v, b);
    return (long long)json_number_value(v);
}

/* Checks scheduled = ok + failed by class (unanswered included) + not sent + dropped. */
static void assert_accounted(json_t *run)
{
    json_t *t = json_object_get(run, "totals");
    long long failed_by_class = 0;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(t, "errors"), k, v)
        failed_by_class += json_integer_value(v);
    assert_int_equal(jint(t, "requests", NULL), jint(t, "ok", NULL) + failed_by_class);
    assert_int_equal(jint(t, "scheduled", NULL), jint(t, "requests", NULL) + jint(t, "not_sent", NULL) +
                                                     jint(t, "dropped", NULL));
    assert_int_equal(jint(t, "failures", NULL), jint(t, "scheduled", NULL) - jint(t, "ok", NULL));
}

static void test_exact_request_count(void **state)
{
    struct trio *t = *state;
    char url[128];
    snprintf(url, sizeof url, "%s/health", t->urls[0]);
    long long before = harness_node_total(t->ports[0]);
    char *args[] = {"bench", "-n", "1000", "-c", "10", "-q", "-o", "json", url, NULL};
    json_t *run = run_json(args, 0, NULL);
    assert_int_equal(jint(run, "totals", "requests"), 1000);
    assert_int_equal(jint(run, "totals", "ok"), 1000);
    assert_int_equal(jint(run, "status_codes", "200"), 1000);
    assert_string_equal(json_string_value(json_object_get(run, "schema")), "herd.run/1");
    assert_string_equal(json_string_value(json_object_get(run, "verdict")), "pass");
    assert_true(json_array_size(json_object_get(run, "timeline")) >= 1);
    json_decref(run);
    /* the node counted them too: 1000, plus the status request before */
    assert_int_equal(harness_node_total(t->ports[0]), before + 1 + 1000);
}

static void test_roundrobin_thirds_match_nodes(void **state)
{
    struct trio *t = *state;
    char u[3][128];
    long long before[3];
    for (int i = 0; i < 3; i++) {
        snprintf(u[i], sizeof u[i], "%s/echo", t->urls[i]);
        before[i] = harness_node_total(t->ports[i]);
    }
    char *args[] = {"bench", "-n", "999", "-c", "9", "-t", "2", "--lb", "roundrobin", "-q",
                    "-o", "json", u[0], u[1], u[2], NULL};
    json_t *run = run_json(args, 0, NULL);
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "api.%d", i + 1);
        json_t *n = node_entry(run, name);
        assert_non_null(n);
        assert_int_equal(jint(n, "requests", NULL), 333);
        /* what the bench says each node served is what the node counted */
        assert_int_equal(harness_node_total(t->ports[i]), before[i] + 1 + 333);
    }
    json_decref(run);
}

/* random balancing with a seed: the same seed makes the same choices (two threads, each
 * with its own stream of the seed), the seed is in the run's JSON; without one, a seed is
 * drawn and printed in the summary. */
static void test_seed_replays_random(void **state)
{
    struct trio *t = *state;
    char u[3][128];
    for (int i = 0; i < 3; i++)
        snprintf(u[i], sizeof u[i], "%s/echo", t->urls[i]);
    long long counts[2][3];
    for (int r = 0; r < 2; r++) {
        char *args[] = {"bench", "-n", "300", "-c", "4", "-t", "2", "--lb", "random", "--seed",
                        "7", "-q", "-o", "json", u[0], u[1], u[2], NULL};
        json_t *run = run_json(args, 0, NULL);
        assert_int_equal(jint(run, "config", "seed"), 7);
        assert_string_equal(json_string_value(json_object_get(json_object_get(run, "config"), "lb")),
                            "random");
        for (int i = 0; i < 3; i++) {
            char name[16];
            snprintf(name, sizeof name, "api.%d", i + 1);
            counts[r][i] = jint(node_entry(run, name), "requests", NULL);
        }
        json_decref(run);
    }
    assert_int_equal(counts[0][0] + counts[0][1] + counts[0][2], 300);
    for (int i = 0; i < 3; i++)
        assert_int_equal(counts[0][i], counts[1][i]);
    char *args[] = {"bench", "-n", "30", "-c", "2", "--lb", "random", "-q", u[0], u[1], NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(harness_herd(args, 60000, &out, &err), 0);
    const char *seen = strstr(out ? out : "", "balancer random, seed ");
    if (!seen) fail_msg("no seed in the summary: %s", out);
    assert_true(isdigit((unsigned char)seen[strlen("balancer random, seed ")]));
    free(out);
    free(err);
}

static void test_weights(void **state)
{
    struct trio *t = *state;
    char a[128], b[128];
    snprintf(a, sizeof a, "%s/health#weight=3", t->urls[0]);
    snprintf(b, sizeof b, "%s/health", t->urls[1]);
    char *args[] = {"bench", "-n", "400", "-c", "4", "-q", "-o", "json", a, b, NULL};
    json_t *run = run_json(args, 0, NULL);
    assert_int_equal(jint(node_entry(run, "api.1"), "requests", NULL), 300);
    assert_int_equal(jint(node_entry(run, "api.2"), "requests", NULL), 100);
    json_decref(run);
}

static void test_timeouts_are_counted(void **state)
{
    struct trio *t = *state;
    char url[128];
    snprintf(url, sizeof url, "%s/delay?ms=1500", t->urls[1]);
    char *args[] = {"bench", "-n", "4", "-c", "2", "--timeout", "300ms", "-q", "-o", "json", url, NULL};
    char *err = NULL;
    json_t *run = run_json(args, 1, &err); /* nothing succeeded: exit 1, saying so */
    assert_non_null(strstr(err, "no request succeeded"));
    free(err);
    assert_int_equal(jint(run, "totals", "scheduled"), 4);
    assert_int_equal(jint(run, "totals", "requests"), 4);
    assert_int_equal(jint(json_object_get(run, "totals"), "errors", "timeout"), 4);
    assert_int_equal(jint(run, "totals", "ok"), 0);
    /* each timed out after waiting 300 ms: that wait is their latency, not nothing */
    assert_int_equal(jint(run, "latency_ms", "samples"), 4);
    assert_true(json_number_value(json_object_get(json_object_get(run, "latency_ms"), "p50")) >= 290);
    json_decref(run);
}

static void test_thresholds_exit_codes(void **state)
{
    struct trio *t = *state;
    char url[128];
    snprintf(url, sizeof url, "%s/health", t->urls[2]);
    char *pass[] = {"bench", "-n", "200", "-c", "4", "-q", "--threshold", "p99<60s",
                    "--threshold", "errors<1%", "--threshold", "requests>=200", url, NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(harness_herd(pass, 30000, &out, &err), 0);
    assert_non_null(strstr(out, "Threshold ok   p99<60s"));
    free(out);
    free(err);
    char *fail[] = {"bench", "-n", "200", "-c", "4", "-q", "--threshold", "p50<0.001ms",
                    "--threshold", "errors<1%", url, NULL};
    assert_int_equal(harness_herd(fail, 30000, &out, &err), 1);
    assert_non_null(strstr(err, "threshold failed: p50<0.001ms"));
    assert_null(strstr(err, "errors<1%"));
    free(out);
    free(err);
}

static void test_breaker_stops_the_run(void **state)
{
    struct trio *t = *state;
    char url[128];
    snprintf(url, sizeof url, "%s/status/500", t->urls[0]);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    char *args[] = {"bench", "-d", "20s", "-c", "2", "--max-failures", "25", "-q", "-o", "json", url, NULL};
    char *err = NULL;
    json_t *run = run_json(args, 1, &err);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_true(b.tv_sec - a.tv_sec < 10); /* stopped long before the 20 s */
    assert_non_null(strstr(err, "circuit breaker"));
    free(err);
    assert_true(json_is_true(json_object_get(json_object_get(run, "breaker"), "tripped")));
    long long failures = jint(run, "totals", "failures");
    /* once the count reaches 25 no connection sends again: at most what the other connection
     * had in flight then comes on top */
    if (failures < 25 || failures > 25 + 2 - 1)
        fail_msg("the breaker let %lld failures through, expected 25..26", failures);
    assert_int_equal(jint(json_object_get(run, "totals"), "errors", "5xx"), failures);
    assert_string_equal(json_string_value(json_object_get(run, "verdict")), "fail");
    json_decref(run);
    /* the open model: the breaker ends the schedule early, and what it did not send is
     * counted as not sent: 100/s for 3 s is 300 scheduled, whatever the breaker did */
    char *open[] = {"bench", "-R", "100", "-d", "3s", "--max-failures", "5", "-q", "-o", "json",
                    url, NULL};
    run = run_json(open, 1, NULL);
    assert_int_equal(jint(run, "totals", "scheduled"), 300);
    assert_accounted(run);
    /* sent: the 5 failures, and what was in flight on the other connections when the fifth
     * came (at most one each); the rest of the schedule was not sent */
    long long sent = jint(run, "totals", "requests");
    if (sent < 5 || sent > 5 + jint(run, "totals", "connections_peak") - 1)
        fail_msg("%lld sent with %lld connections after a breaker of 5", sent,
                 jint(run, "totals", "connections_peak"));
    assert_int_equal(jint(run, "totals", "not_sent"), 300 - sent);
    json_decref(run);
}

static void test_open_model(void **state)
{
    struct trio *t = *state;
    char url[128];
    snprintf(url, sizeof url, "%s/health", t->urls[0]);
    long long before = harness_node_total(t->ports[0]);
    char *args[] = {"bench", "-R", "200", "-d", "2s", "-c", "4", "-q", "-o", "json", url, NULL};
    json_t *run = run_json(args, 0, NULL);
    /* the schedule ends the run, not a timer: 200/s for 2 s is 400, every time, each of them
     * accounted for; every one sent was answered with success (unless the machine held one
     * past the end, then it is "unanswered"), and the node counted each one herd sent */
    assert_int_equal(jint(run, "totals", "scheduled"), 400);
    assert_accounted(run);
    long long sent = jint(run, "totals", "requests");
    assert_true(sent > 0);
    assert_int_equal(jint(run, "totals", "ok") + jint(run, "totals", "in_flight_at_end"), sent);
    assert_true(harness_wait_until(harness_node_total(t->ports[0]) == before + 1 + sent, 5000));
    assert_string_equal(json_string_value(json_object_get(json_object_get(run, "config"), "model")), "open");
    assert_non_null(json_object_get(run, "latency_uncorrected_ms"));
    assert_int_equal(jint(run, "totals", "dropped"), 0);
    json_decref(run);
}

static void test_report_files(void **state)
{
    struct trio *t = *state;
    char url[128];
    snprintf(url, sizeof url, "%s/health", t->urls[0]);
    static const struct {
        const char *ext, *fragment;
    } kinds[] = {
        {".html", "<!DOCTYPE html>"}, {".md", "| api.1 |"}, {".csv", "second,length_s,node,requests"},
        {".json", "\"schema\": \"herd.run/1\""},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        char *path = harness_temp_file(kinds[i].ext, "");
        char *args[] = {"bench", "-n", "100", "-c", "2", "-q", "--out", path, url, NULL};
        char *out = NULL;
        assert_int_equal(harness_herd(args, 30000, &out, NULL), 0);
        assert_non_null(strstr(out, "Latency (ms)")); /* the summary still goes to stdout */
        free(out);
        FILE *f = fopen(path, "r");
        char buf[65536] = "";
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        buf[n] = '\0';
        if (f)
            fclose(f);
        unlink(path);
        free(path);
        if (!strstr(buf, kinds[i].fragment))
            fail_msg("%s report lacks '%s'", kinds[i].ext, kinds[i].fragment);
    }
}

static void test_bad_input_exits_2(void **state)
{
    struct trio *t = *state;
    char url[128];
    snprintf(url, sizeof url, "%s/health", t->urls[0]);
    char *cfg = harness_temp_file(".yaml", "url: http://127.0.0.1:1/\nconcurency: 3\n");
    static const struct {
        const char *args[8];
        const char *fragment;
    } cases[] = {
        {{"-c", "0", NULL}, "--connections '0': expected a whole number from 1"},
        {{"-d", "soon", NULL}, "--duration 'soon': expected a duration"},
        {{"-R", "-5", NULL}, "--rate '-5'"},
        {{"--lb", "fastest", NULL}, "--lb 'fastest'"},
        {{"--lb", "hash", NULL}, "--lb 'hash'"},
        {{"--seed", "x", NULL}, "--seed 'x': expected a whole number"},
        {{"-H", "NoColon", NULL}, "header 'NoColon': expected 'Name: value'"},
        {{"--threshold", "p98<1ms", NULL}, "unknown metric"},
        {{"-o", "pdf", NULL}, "--output 'pdf'"},
        {{"-n", "10", "-d", "1s", NULL}, "not both"},
        {{"--bogus", NULL}, "unknown option '--bogus'"},
        {{"-c", "5", "--bogus", NULL}, "unknown option '--bogus'"}, /* after a good flag */
        {{"-m", "GE T", NULL}, "method 'GE T'"},
        {{"--body-file", "/nonexistent", NULL}, "--body-file '/nonexistent'"},
        {{"-c", NULL}, "needs a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *args[16] = {"bench"};
        size_t n = 1;
        for (size_t k = 0; cases[i].args[k]; k++)
            args[n++] = (char *)cases[i].args[k];
        if (strcmp(cases[i].args[0], "-c") != 0 || cases[i].args[1])
            args[n++] = url;
        args[n] = NULL;
        char *err = NULL;
        int code = harness_herd(args, 10000, NULL, &err);
        if (code != 2 || !strstr(err, cases[i].fragment))
            fail_msg("case %zu: exit %d, stderr '%s', expected 2 and '%s'", i, code, err, cases[i].fragment);
        free(err);
    }
    char *err = NULL;
    char *no_url[] = {"bench", "-n", "1", NULL};
    assert_int_equal(harness_herd(no_url, 10000, NULL, &err), 2);
    assert_non_null(strstr(err, "no URL given"));
    free(err);
    char *ftp[] = {"bench", "ftp://127.0.0.1/", NULL};
    assert_int_equal(harness_herd(ftp, 10000, NULL, &err), 2);
    assert_non_null(strstr(err, "expected it to start with http://"));
    free(err);
    char *bad_cfg[] = {"bench", "--config", cfg, NULL};
    assert_int_equal(harness_herd(bad_cfg, 10000, NULL, &err), 2);
    assert_non_null(strstr(err, ":2:1: concurency: unknown key 'concurency'"));
    assert_non_null(strstr(err, cfg));
    free(err);
    unlink(cfg);
    free(cfg);
}

static void test_config_file_run(void **state)
{
    struct trio *t = *state;
    char text[512];
    snprintf(text, sizeof text,
             "protocol: http\nconcurrency: 5\nrequests: 50\ntimeout: 2s\nurl: %s/kv/cfg\n"
             "method: PUT\nheaders:\n  Content-Type: text/plain\nbody: from-config\n", t->urls[2]);
    char *cfg = harness_temp_file(".yaml", text);
    char *args[] = {"bench", "--config", cfg, "-q", "-o", "json", NULL};
    json_t *run = run_json(args, 0, NULL);
    assert_int_equal(jint(run, "totals", "requests"), 50);
    assert_int_equal(jint(run, "status_codes", "201") + jint(run, "status_codes", "200"), 50);
    json_decref(run);
    char out[4096];
    const char *body;
    assert_int_equal(harness_get(t->ports[2], "/kv/cfg", out, sizeof out, &body), 200);
    assert_string_equal(body, "from-config");
    unlink(cfg);
    free(cfg);
}

static void test_keepalive_off_and_ramp_up(void **state)
{
    struct trio *t = *state;
    char url[128];
    snprintf(url, sizeof url, "%s/health", t->urls[0]);
    /* without keep-alive every request opens its own connection */
    char *nokeep[] = {"bench", "-n", "50", "-c", "2", "--no-keepalive", "-q", "-o", "json", url, NULL};
    json_t *run = run_json(nokeep, 0, NULL);
    assert_int_equal(jint(run, "totals", "requests"), 50);
    assert_int_equal(jint(run, "totals", "ok"), 50);
    assert_int_equal(jint(run, "totals", "connects"), 50);
    json_decref(run);
    /* the open model's rate rises over the ramp: 2 s to 400/s sends 400, then 1 s at 400/s:
     * 800 scheduled, exactly */
    char *ramp[] = {"bench", "-R", "400", "--ramp-up", "2s", "-d", "3s", "-q", "-o", "json", url, NULL};
    run = run_json(ramp, 0, NULL);
    assert_int_equal(jint(run, "totals", "scheduled"), 800);
    assert_accounted(run);
    /* the first second's sends are a quarter of the ramp's (100), the second's three quarters
     * (300). The timeline counts answers by when they came: none before its send, so the
     * first second holds at most 100 and the first two at most 400 (+5: the tick that closes
     * a second may come a little late); a stall of the machine moves answers later, so the
     * lower bounds allow one of 200 ms. A flat rate would put 400 in the first second, a
     * linear one 200. */
    json_t *tl = json_object_get(run, "timeline");
    long long first = jint(json_array_get(tl, 0), "requests", NULL);
    long long second = jint(json_array_get(tl, 1), "requests", NULL);
    if (first < 60 || first > 105 || first + second < 320 || first + second > 405 ||
        second < 2 * first)
        fail_msg("the ramp's first seconds answered %lld and %lld, expected about 100 and 300",
                 first, second);
    json_decref(run);
}

static void test_sigint_stops_with_a_report(void **state)
{
    struct trio *t = *state;
    char url[128];
    snprintf(url, sizeof url, "%s/health", t->urls[1]);
    char *out_path = harness_temp_file(".json", "");
    char *argv[] = {(char *)harness_herd_bin(), "bench", "-d", "30s", "-c", "4", "-q", "-o", "json", url, NULL};
    long long before = harness_node_total(t->ports[1]);
    int calls = 1;
    pid_t pid = harness_spawn_io(argv, NULL, out_path, "/dev/null");
    assert_true(harness_wait_until(node_served_more(t->ports[1], before, 0, &calls), 30000));
    kill(pid, SIGINT); /* it is sending: its handler is in place */
    int status = harness_wait(pid, 10000);
    assert_true(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    json_t *run = json_load_file(out_path, 0, NULL);
    assert_non_null(run);
    assert_true(json_is_true(json_object_get(run, "interrupted")));
    assert_true(json_number_value(json_object_get(run, "elapsed_s")) < 10);
    assert_true(jint(run, "totals", "requests") > 0);
    /* stopped by the user: the schedule ends there, nothing counted as failed or unsent */
    assert_int_equal(jint(run, "totals", "failures"), 0);
    assert_int_equal(jint(run, "totals", "not_sent"), 0);
    assert_int_equal(jint(run, "totals", "scheduled"), jint(run, "totals", "requests"));
    json_decref(run);
    unlink(out_path);
    free(out_path);
}

/* A node killed mid-run: its failures (no answer, so no X-Herd-Node) are counted under the
 * name that URL answered with, not under a bare address. */
static void test_failures_counted_for_the_last_named_node(void **state)
{
    (void)state;
    int port = harness_free_port();
    char portarg[16], url[96];
    snprintf(portarg, sizeof portarg, "%d", port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/health", port);
    char *node[] = {(char *)harness_herd_bin(), "node", "--port", portarg, "--id", "doomed.1",
                    "--log-level", "warn", NULL};
    pid_t pid = harness_spawn(node, NULL, NULL);
    assert_true(harness_wait_http(port, "/health", 5000));
    char *out_path = harness_temp_file(".json", "");
    char *argv[] = {(char *)harness_herd_bin(), "bench", "-d", "2s", "-c", "2", "--timeout", "500ms",
                    "-q", "-o", "json", url, NULL};
    long long before = harness_node_total(port);
    int calls = 1;
    pid_t bench = harness_spawn_io(argv, NULL, out_path, "/dev/null");
    /* more than 2 served: one of the 2 connections sent again, so it had an answer, which
     * named the node; the bench goes on for 2 s */
    assert_true(harness_wait_until(node_served_more(port, before, 2, &calls), 30000));
    kill(pid, SIGKILL);
    harness_wait(pid, 5000);
    assert_true(harness_wait(bench, 15000) >= 0);
    json_t *run = json_load_file(out_path, 0, NULL);
    assert_non_null(run);
    assert_int_equal(json_array_size(json_object_get(run, "nodes")), 1);
    json_t *n = node_entry(run, "doomed.1");
    assert_non_null(n);
    assert_true(jint(n, "ok", NULL) > 0);
    assert_true(jint(n, "failures", NULL) > 0);
    assert_int_equal(jint(n, "failures", NULL), jint(run, "totals", "failures"));
    json_decref(run);
    unlink(out_path);
    free(out_path);
}

/* -n smaller than the thread count: the threads with no share end at once (they used to run
 * without a limit and never stop); the node saw exactly N. */
static void test_fewer_requests_than_threads(void **state)
{
    struct trio *t = *state;
    char url[128];
    snprintf(url, sizeof url, "%s/echo", t->urls[1]);
    static const char *const counts[][2] = {{"1", "2"}, {"3", "4"}};
    for (size_t i = 0; i < 2; i++) {
        long long before = harness_node_total(t->ports[1]);
        char *args[] = {"bench", "-n", (char *)counts[i][0], "-t", (char *)counts[i][1], "-c", "8",
                        "-q", "-o", "json", url, NULL};
        json_t *run = run_json(args, 0, NULL);
        long long n = atoll(counts[i][0]);
        assert_int_equal(jint(run, "totals", "scheduled"), n);
        assert_int_equal(jint(run, "totals", "ok"), n);
        assert_accounted(run);
        assert_int_equal(harness_node_total(t->ports[1]), before + 1 + n);
        json_decref(run);
    }
}

/* A backlog still queued at the end is "not sent", a failure: 400 scheduled over 5
 * connections to a 100 ms answer can only answer about 100; errors<1% must fail. */
static void test_backlog_left_at_the_end_is_accounted(void **state)
{
    struct trio *t = *state;
    char url[128];
    snprintf(url, sizeof url, "%s/delay?ms=100", t->urls[2]);
    long long before = harness_node_total(t->ports[2]);
    char *args[] = {"bench", "-R", "200", "-d", "2s", "-c", "5", "--max-connections", "5",
                    "--threshold", "errors<1%", "-q", "-o", "json", url, NULL};
    json_t *run = run_json(args, 1, NULL);
    assert_int_equal(jint(run, "totals", "scheduled"), 400);
    assert_accounted(run);
    long long ok = jint(run, "totals", "ok");
    assert_true(jint(run, "totals", "not_sent") > 0);
    assert_int_equal(jint(run, "totals", "not_sent"), 400 - jint(run, "totals", "requests"));
    /* what the node answered is what herd counted as sent and ended */
    assert_int_equal(harness_node_total(t->ports[2]), before + 1 + jint(run, "totals", "requests"));
    json_t *th = json_array_get(json_object_get(run, "thresholds"), 0);
    assert_false(json_is_true(json_object_get(th, "pass")));
    assert_true(json_number_value(json_object_get(th, "actual")) >= (400.0 - (double)ok) / 400 - 1e-9);
    json_decref(run);
}

/* A target that stops answering (SIGSTOP at 1 s of a 3 s open-model run): every scheduled
 * request is accounted for, those held are failures ("unanswered"), and the corrected latency
 * of the held ones runs to the end: the p99 is at least the stall, not the fast answers. The
 * node, resumed after the run, counts every request herd sent: ok + unanswered. */
static void test_stalled_target_is_not_fast(void **state)
{
    (void)state;
    int port = harness_free_port();
    char portarg[16], url[96];
    snprintf(portarg, sizeof portarg, "%d", port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", port);
    char *node[] = {(char *)harness_herd_bin(), "node", "--port", portarg, "--log-level", "warn", NULL};
    pid_t pid = harness_spawn(node, NULL, NULL);
    assert_true(harness_wait_http(port, "/health", 5000));
    long long before = harness_node_total(port);
    char *out_path = harness_temp_file(".json", "");
    char *argv[] = {(char *)harness_herd_bin(), "bench", "-R", "100", "-d", "3s", "--timeout", "60s",
                    "--max-connections", "20", "--threshold", "p99<20ms", "-q", "-o", "json", url, NULL};
    pid_t bench = harness_spawn_io(argv, NULL, out_path, "/dev/null");
    /* the subject: the target stops during the run, at whatever moment of it (the bench needs
     * its start-up, so this is before its 3 s are over); what is asserted below holds for any */
    harness_pause_ms(1000);
    kill(pid, SIGSTOP);
    int code = harness_wait(bench, 30000);
    kill(pid, SIGCONT);
    json_t *run = json_load_file(out_path, 0, NULL);
    unlink(out_path);
    free(out_path);
    assert_non_null(run);
    assert_true(WIFEXITED(code) && WEXITSTATUS(code) == 1); /* p99<20ms fails */
    assert_int_equal(jint(run, "totals", "scheduled"), 300);
    assert_accounted(run);
    long long unanswered = jint(json_object_get(run, "totals"), "errors", "unanswered");
    assert_true(unanswered > 0);
    assert_int_equal(unanswered, jint(run, "totals", "in_flight_at_end"));
    assert_true(jint(run, "totals", "ok") < 200);
    /* about 2 s of 3 s stalled: the p90 waited for most of a second at least */
    assert_true(json_number_value(json_object_get(json_object_get(run, "latency_ms"), "p90")) >= 500);
    /* the node, resumed, answers what it held: it saw ok + unanswered (+1: the status) */
    long long want = before + 1 + jint(run, "totals", "ok") + unanswered, seen = -1;
    int calls = 0; /* each status request before is counted too */
    harness_wait_until((seen = harness_node_total(port) - calls++) == want, 5000);
    assert_int_equal(seen, want);
    json_decref(run);
    kill(pid, SIGTERM);
    harness_wait(pid, 5000);
}

/* A dead port: nothing succeeded, exit 1, no latency pretended, and nothing written. */
static void test_dead_port_exits_1(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", harness_free_port());
    char *args[] = {"bench", "-n", "50", "-c", "2", "--threshold", "p99<20ms", "-q", "-o", "json",
                    url, NULL};
    char *err = NULL;
    json_t *run = run_json(args, 1, &err);
    assert_non_null(strstr(err, "no request succeeded"));
    assert_non_null(strstr(err, "p99<20ms (actual no samples)"));
    free(err);
    assert_int_equal(jint(run, "totals", "scheduled"), 50);
    assert_int_equal(jint(json_object_get(run, "totals"), "errors", "connect"), 50);
    assert_int_equal(jint(run, "totals", "bytes_out"), 0);
    assert_int_equal(jint(run, "latency_ms", "samples"), 0);
    json_t *th = json_array_get(json_object_get(run, "thresholds"), 0);
    assert_true(json_is_null(json_object_get(th, "actual")));
    assert_string_equal(json_string_value(json_object_get(run, "verdict")), "fail");
    json_decref(run);
}

/* An output path that cannot be written is refused before any load: exit 2 naming the path and
 * why, and the node (its own counter) saw no request. */
static void test_bad_out_path_sends_nothing(void **state)
{
    struct trio *t = *state;
    char url[128];
    snprintf(url, sizeof url, "%s/echo", t->urls[0]);
    static const struct {
        const char *path, *why;
    } cases[] = {
        {"/etc/passwd/x.json", "/etc/passwd: Not a directory"}, /* under a regular file */
        {"/proc/herd-report.json", "/proc: cannot create a file there"},
        {"/tmp", "is a directory, expected a file name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long long before = harness_node_total(t->ports[0]);
        assert_true(before >= 0);
        char *args[] = {"bench", "-n", "50", "-c", "2", "--out", (char *)cases[i].path, url, NULL};
        char *err = NULL;
        int code = harness_herd(args, 10000, NULL, &err);
        char expect[256];
        snprintf(expect, sizeof expect, "--out '%s': cannot write the report there", cases[i].path);
        if (code != 2 || !strstr(err, expect) || !strstr(err, cases[i].why))
            fail_msg("case %zu: exit %d, stderr '%s', expected 2, '%s' and '%s'", i, code, err,
                     expect, cases[i].why);
        free(err);
        /* the status requests themselves: the one that read before, and this one */
        long long after = harness_node_total(t->ports[0]);
        if (after - before > 1)
            fail_msg("case %zu: the node answered %lld requests during a refused run", i,
                     after - before - 1);
    }
}

#define NGINX "/usr/sbin/nginx"

/* TLS sessions against Debian's nginx, which logs for each request whether its connection
 * resumed a session ($ssl_session_reused: "r" or "."): a new connection for each of 200
 * requests over 4 connections. By default herd resumes (as wrk does) and its count of full and
 * resumed handshakes is nginx's, request for request; with --tls-reuse off every handshake is
 * a full one, as nginx saw. */
static void test_tls_sessions_resumed_as_the_server_saw(void **state)
{
    (void)state;
    if (access(NGINX, X_OK) != 0) {
        printf("  skipped: %s is not installed (apt-get install nginx-light)\n", NGINX);
        skip();
    }
    char dir[] = "/tmp/herd-tls-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cert[256], key[256], conf[4096], path[300], log[300];
    assert_int_equal(harness_self_signed_cert(dir, cert, key, sizeof cert), 0);
    int port = harness_free_port();
    snprintf(log, sizeof log, "%s/access.log", dir);
    snprintf(conf, sizeof conf,
             "worker_processes 1;\ndaemon off;\nmaster_process off;\nerror_log %s/error.log;\n"
             "pid %s/nginx.pid;\nevents { worker_connections 256; }\n"
             "http {\n  access_log off;\n  log_format tls '$ssl_session_reused';\n"
             "  server {\n    listen 127.0.0.1:%d ssl;\n    ssl_certificate %s;\n"
             "    ssl_certificate_key %s;\n    ssl_session_cache shared:HERD:1m;\n"
             "    access_log %s tls;\n    location / { return 200 \"ok\\n\"; }\n  }\n}\n",
             dir, dir, port, cert, key, log);
    snprintf(path, sizeof path, "%s/nginx.conf", dir);
    FILE *f = fopen(path, "w");
    fputs(conf, f);
    fclose(f);
    char *argv[] = {NGINX, "-e", "stderr", "-p", dir, "-c", path, NULL};
    pid_t nginx = harness_spawn(argv, NULL, NULL);
    for (int i = 0; i < 100 && !harness_port_open(port); i++)
        harness_pause_ms(50);
    assert_true(harness_port_open(port));
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/", port);
    const char *reuse[] = {"on", "off"};
    for (int k = 0; k < 2; k++) {
        f = fopen(log, "w"); /* nginx appends: each run starts empty */
        fclose(f);
        char *args[] = {"bench", "-k", "--no-keepalive", "-c", "4", "-t", "2", "-n", "200",
                        "--tls-reuse", (char *)reuse[k], "-o", "json", url, NULL};
        json_t *run = run_json(args, 0, NULL);
        json_t *tls = json_object_get(run, "tls");
        long long full = jint(tls, "full", NULL), resumed = jint(tls, "resumed", NULL);
        long long r = 0, dot = 0; /* nginx writes a line after its answer: wait for all 200 */
        for (long end = harness_now_ms() + 5000; r + dot < 200 && harness_now_ms() < end;) {
            char *text = harness_slurp(log);
            r = dot = 0;
            for (char *line = text; *line; line += strcspn(line, "\n") + (line[strcspn(line, "\n")] != 0)) {
                r += line[0] == 'r';
                dot += line[0] == '.';
            }
            free(text);
            if (r + dot < 200) harness_pause_ms(20);
        }
        printf("  --tls-reuse %s: herd %lld full, %lld resumed; nginx %lld new, %lld reused\n",
               reuse[k], full, resumed, dot, r);
        assert_int_equal(jint(run, "totals", "ok"), 200);
        assert_int_equal(full + resumed, 200);
        assert_int_equal(full, dot);
        assert_int_equal(resumed, r);
        if (k == 0)
            assert_true(resumed >= 200 - 4); /* each connection's first handshake is full */
        else
            assert_int_equal(resumed, 0);
        json_decref(run);
    }
    kill(nginx, SIGTERM);
    harness_wait(nginx, 5000);
    char rm[64];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    if (system(rm) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int integration_bench(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_request_count),
        cmocka_unit_test(test_roundrobin_thirds_match_nodes),
        cmocka_unit_test(test_seed_replays_random),
        cmocka_unit_test(test_weights),
        cmocka_unit_test(test_timeouts_are_counted),
        cmocka_unit_test(test_thresholds_exit_codes),
        cmocka_unit_test(test_breaker_stops_the_run),
        cmocka_unit_test(test_open_model),
        cmocka_unit_test(test_report_files),
        cmocka_unit_test(test_bad_input_exits_2),
        cmocka_unit_test(test_bad_out_path_sends_nothing),
        cmocka_unit_test(test_config_file_run),
        cmocka_unit_test(test_keepalive_off_and_ramp_up),
        cmocka_unit_test(test_sigint_stops_with_a_report),
        cmocka_unit_test(test_failures_counted_for_the_last_named_node),
        cmocka_unit_test(test_fewer_requests_than_threads),
        cmocka_unit_test(test_backlog_left_at_the_end_is_accounted),
        cmocka_unit_test(test_stalled_target_is_not_fast),
        cmocka_unit_test(test_dead_port_exits_1),
        cmocka_unit_test(test_tls_sessions_resumed_as_the_server_saw),
    };
    return cmocka_run_group_tests_name("bench", tests, setup, teardown);
}
