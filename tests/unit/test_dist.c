/* test_dist.c -- distributed mode's pure core: splits, interval documents, merging, task
 * configs and allowed targets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/interval.h"
#include "dist/master_metrics.h"
#include "dist/merge.h"
#include "dist/protocol.h"
#include "dist/split.h"
#include "dist/task.h"
#include "../support/harness.h"
#include "unit.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Log-uniform from 1 us to 1 s. */
static uint64_t random_latency(void)
{
    double u = (double)(next_random() >> 11) / 9007199254740992.0;
    return (uint64_t)exp(u * log(1e6));
}

/* ---- split ---- */

static void test_split_even_and_cores(void **state)
{
    (void)state;
    uint64_t parts[4];
    assert_int_equal(dist_split(10, NULL, 4, parts), 0);
    assert_true(parts[0] == 3 && parts[1] == 3 && parts[2] == 2 && parts[3] == 2);
    uint32_t cores[3] = {1, 2, 1};
    assert_int_equal(dist_split(10, cores, 3, parts), 0); /* 2.5, 5, 2.5: the tie to worker 0 */
    assert_true(parts[0] == 3 && parts[1] == 5 && parts[2] == 2);
    assert_int_equal(dist_split(5, NULL, 0, parts), -1);
    uint32_t zero[2] = {0, 0};
    assert_int_equal(dist_split(5, zero, 2, parts), -1);

    /* the seed's example: 1000 connections and 100000 requests over 4 workers */
    struct dist_share s[4];
    char err[256];
    assert_int_equal(dist_split_task(1000, 100000, 0, DIST_SPLIT_EVEN, NULL, 4, s, err, sizeof err), 4);
    for (int i = 0; i < 4; i++)
        assert_true(s[i].connections == 250 && s[i].requests == 25000 && s[i].rate_milli == 0);
}

static void test_split_zero_shares(void **state)
{
    (void)state;
    struct dist_share s[5];
    char err[256];
    /* 3 connections over 5 workers: the last two get nothing at all, the requests go to 3 */
    assert_int_equal(dist_split_task(3, 10, 0, DIST_SPLIT_EVEN, NULL, 5, s, err, sizeof err), 3);
    assert_true(dist_share_active(&s[0]) && dist_share_active(&s[2]));
    assert_false(dist_share_active(&s[3]) || dist_share_active(&s[4]));
    assert_true(s[3].requests == 0 && s[4].requests == 0);
    assert_int_equal(s[0].requests + s[1].requests + s[2].requests, 10);
    /* 2 requests, 4 connections: a worker with connections but no request is left out */
    assert_int_equal(dist_split_task(4, 2, 0, DIST_SPLIT_EVEN, NULL, 4, s, err, sizeof err), 2);
    assert_int_equal(s[0].connections + s[1].connections, 4);
    assert_int_equal(s[2].connections, 0);
    /* cores: a worker with 0 cores gets nothing */
    uint32_t cores[3] = {4, 0, 4};
    assert_int_equal(dist_split_task(8, 0, dist_rate_to_milli(100.5), DIST_SPLIT_CORES, cores, 3, s,
                                     err, sizeof err), 2);
    assert_int_equal(s[1].connections, 0);
    assert_int_equal(s[0].rate_milli + s[2].rate_milli, 100500);
    assert_int_equal(dist_split_task(0, 0, 0, DIST_SPLIT_EVEN, NULL, 3, s, err, sizeof err), -1);
    assert_non_null(strstr(err, "concurrency"));
}

/* Random totals and weights: the parts add up exactly and each is within 1 of its ideal. */
static void test_split_property(void **state)
{
    (void)state;
    uint64_t parts[64];
    uint32_t weights[64];
    for (int round = 0; round < 5000; round++) {
        size_t n = 1 + next_random() % 64;
        uint64_t total = round % 3 == 0 ? next_random() % 100 : next_random() % (1ULL << 50);
        uint64_t wsum = 0;
        for (size_t i = 0; i < n; i++) {
            weights[i] = (uint32_t)(next_random() % 129); /* 0 included */
            wsum += weights[i];
        }
        if (!wsum)
            weights[0] = 1, wsum = 1;
        bool even = round % 2;
        assert_int_equal(dist_split(total, even ? NULL : weights, n, parts), 0);
        uint64_t sum = 0;
        for (size_t i = 0; i < n; i++) {
            sum += parts[i];
            double ideal = even ? (double)total / (double)n
                                : (double)total * weights[i] / (double)wsum;
            assert_true(fabs((double)parts[i] - ideal) < 1.0 + ideal * 1e-12);
            if (!even && weights[i] == 0)
                assert_int_equal(parts[i], 0);
        }
        assert_int_equal(sum, total);
        /* the task split: every dimension adds up, active workers have some of each */
        struct dist_share s[64];
        char err[128];
        uint64_t conc = 1 + next_random() % 200, req = next_random() % 3 ? next_random() % 5000 : 0;
        if (req && req < conc)
            req = conc;
        uint64_t rate = next_random() % 2 ? 1 + next_random() % 100000 : 0;
        int active = dist_split_task(conc, req, rate, even ? DIST_SPLIT_EVEN : DIST_SPLIT_CORES,
                                     weights, n, s, err, sizeof err);
        assert_true(active >= 1);
        uint64_t c = 0, q = 0, r = 0;
        int counted = 0;
        for (size_t i = 0; i < n; i++) {
            c += s[i].connections, q += s[i].requests, r += s[i].rate_milli;
            if (dist_share_active(&s[i])) {
                counted++;
                assert_true(!req || s[i].requests);
                assert_true(!rate || s[i].rate_milli);
            } else {
                assert_true(s[i].requests == 0 && s[i].rate_milli == 0);
            }
        }
        assert_int_equal(counted, active);
        assert_int_equal(c, conc);
        assert_int_equal(q, req);
        assert_int_equal(r, rate);
    }
}

static void test_split_reassign(void **state)
{
    (void)state;
    /* 1000 requests over 3 workers; worker 1 is lost after 120 accounted for */
    struct dist_share s[3];
    char err[128];
    assert_int_equal(dist_split_task(3, 1000, 0, DIST_SPLIT_EVEN, NULL, 3, s, err, sizeof err), 3);
    uint64_t left = dist_unfinished(s[1].requests, 120);
    assert_int_equal(left, 333 - 120);
    uint64_t extra[2];
    assert_int_equal(dist_split_reassign(left, NULL, 2, extra), 0);
    assert_int_equal(s[0].requests + extra[0] + s[2].requests + extra[1] + 120, 1000);
    assert_int_equal(dist_unfinished(10, 12), 0);
    assert_int_equal(dist_rate_to_milli(0.001), 1);
    assert_true(dist_rate_from_milli(2500) == 2.5);
}

/* ---- intervals ---- */

static void fill_interval(struct dist_interval *iv, const char *worker, uint64_t seq,
                          uint64_t second_us, size_t samples, uint64_t scale)
{
    dist_interval_reset(iv);
    snprintf(iv->task_id, sizeof iv->task_id, "t-1");
    snprintf(iv->worker_id, sizeof iv->worker_id, "%s", worker);
    snprintf(iv->session, sizeof iv->session, "s-%s", worker);
    iv->seq = seq;
    iv->second_us = second_us;
    for (size_t i = 0; i < samples; i++) {
        hist_record(iv->hist, random_latency() * scale);
        counters_add(&iv->counters, i % 50 == 49 ? COUNTER_STATUS_5XX : COUNTER_OK);
    }
    iv->counters.bytes_in = samples * 100;
    iv->node_count = 2;
    snprintf(iv->nodes[0].name, LOAD_NODE_NAME, "api.1");
    snprintf(iv->nodes[1].name, LOAD_NODE_NAME, "api.2");
    iv->nodes[0].requests = samples / 2;
    iv->nodes[1].requests = samples - samples / 2;
    iv->nodes[1].failures = iv->counters.by_class[COUNTER_STATUS_5XX];
    iv->cpu = 0.5;
}

static void test_interval_round_trip(void **state)
{
    (void)state;
    struct dist_interval a, b;
    assert_int_equal(dist_interval_init(&a), 0);
    assert_int_equal(dist_interval_init(&b), 0);
    fill_interval(&a, "w1", 7, 1764500000000000ULL, 1000, 1);
    a.not_sent = 3;
    a.final = true;
    a.elapsed_s = 9.75;
    a.breaker_tripped = true;
    json_t *j = dist_interval_to_json(&a);
    assert_non_null(j);
    char err[512];
    assert_int_equal(dist_interval_from_json(&b, j, NULL, err, sizeof err), 0);
    assert_string_equal(b.worker_id, "w1");
    assert_int_equal(b.seq, 7);
    assert_int_equal(b.second_us, 1764500000000000ULL);
    assert_true(b.final && b.breaker_tripped && !b.interrupted && b.elapsed_s == 9.75);
    assert_memory_equal(&a.counters, &b.counters, sizeof a.counters);
    assert_int_equal(b.not_sent, 3);
    assert_int_equal(b.hist->total, 1000);
    assert_memory_equal(a.hist->counts, b.hist->counts, sizeof a.hist->counts);
    assert_int_equal(b.node_count, 2);
    assert_int_equal(b.nodes[1].failures, a.nodes[1].failures);
    assert_true(b.cpu == 0.5);
    /* an older worker's final interval: no statuses, connections or error */
    assert_int_equal(b.status_count, 0);
    assert_false(b.has_connections);
    assert_string_equal(b.error, "");

    /* the end state a newer worker adds */
    a.statuses[0] = (struct dist_status_count){200, 980};
    a.statuses[1] = (struct dist_status_count){500, 20};
    a.status_count = 2;
    a.has_connections = true;
    a.clients = 4;
    a.connects = 6;
    a.connections_peak = 3;
    dist_interval_set_error(&a, "cannot resolve 'gone.herd':\n\tNo address");
    assert_string_equal(a.error, "cannot resolve 'gone.herd':??No address");
    json_t *j2 = dist_interval_to_json(&a);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j2, "statuses"), "500")),
                     20);
    assert_int_equal(dist_interval_from_json(&b, j2, NULL, err, sizeof err), 0);
    assert_int_equal(b.status_count, 2);
    assert_true(b.statuses[0].code == 200 && b.statuses[0].count == 980);
    assert_true(b.statuses[1].code == 500 && b.statuses[1].count == 20);
    assert_true(b.has_connections && b.clients == 4 && b.connects == 6 &&
                b.connections_peak == 3);
    assert_string_equal(b.error, a.error);
    json_decref(j2);
    /* a long error is cut, marked, and still decodes */
    char longer[400];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    dist_interval_set_error(&a, longer);
    assert_int_equal(strlen(a.error), DIST_ERROR_MAX - 1);
    assert_string_equal(a.error + DIST_ERROR_MAX - 4, "...");
    j2 = dist_interval_to_json(&a);
    assert_int_equal(dist_interval_from_json(&b, j2, NULL, err, sizeof err), 0);
    json_decref(j2);
    a.status_count = 0;
    a.has_connections = false;
    a.error[0] = '\0';

    /* the body forms: one interval, or a list */
    char *text = json_dumps(j, JSON_COMPACT);
    char body[1 << 16];
    snprintf(body, sizeof body, "{\"intervals\": [%s, %s]}", text, text);
    json_t *list = dist_intervals_parse_body(body, strlen(body), &b, err, sizeof err);
    assert_non_null(list);
    assert_int_equal(json_array_size(list), 2);
    json_decref(list);
    list = dist_intervals_parse_body(text, strlen(text), &b, err, sizeof err);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    free(text);
    json_decref(j);
    dist_interval_free(&a);
    dist_interval_free(&b);
}

/* Sets key (a dotted path into j) to the JSON value text, or deletes it when text is NULL. */
static void set_path(json_t *j, const char *path, const char *text)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    char *dot = strchr(buf, '.');
    if (dot) {
        *dot = '\0';
        set_path(json_object_get(j, buf), dot + 1, text);
        return;
    }
    if (!text) {
        json_object_del(j, buf);
        return;
    }
    json_object_set_new(j, buf, json_loads(text, JSON_DECODE_ANY, NULL));
}

static void test_interval_bad_inputs(void **state)
{
    (void)state;
    static const struct {
        const char *path, *value, *message;
    } cases[] = {
        {"counters.ok", "1.5", "counters.ok: expected a whole number"},
        {"counters.ok", "\"3\"", "counters.ok: expected a whole number"},
        {"counters.ok", "-1", "counters.ok: -1 is out of range"},
        {"counters.ok", "5", "counters.requests: 100, but the classes"},
        {"counters.connect", NULL, "counters.connect: missing"},
        {"counters.extra", "1", "counters.extra: unknown field"},
        {"surprise", "1", "surprise: unknown field"},
        {"seq", "9007199254740993", "seq: 9007199254740993 is out of range"},
        {"task_id", "\"\"", "task_id: expected 1 to 63 characters"},
        {"worker_id", "\"a b\"", "worker_id: expected printable ASCII"},
        {"session", "\"0123456789012345678901234567890123456789012345678901234567890123\"",
         "session: expected 1 to 63"},
        {"final", "1", "final: expected true or false"},
        {"cpu", "1.5", "cpu: expected a number from 0 to 1"},
        {"hist", "\"!!\"", "hist:"},
        {"hist", "7", "hist: expected the encoded histogram"},
        {"nodes.api.1", NULL, NULL}, /* placeholder: node names with dots are set below */
        {"elapsed_s", "3", "elapsed_s: only a final interval"},
        {"statuses", "{\"200\": 1}", "statuses: only a final interval"},
        {"connections", "{\"clients\": 1, \"connects\": 1, \"peak\": 1}",
         "connections: only a final interval"},
        {"error", "\"boom\"", "error: only a final interval"},
        {"nodes", "[]", "nodes: expected an object"},
    };
    struct dist_interval iv;
    assert_int_equal(dist_interval_init(&iv), 0);
    fill_interval(&iv, "w1", 1, 1764500000000000ULL, 100, 1);
    json_t *good = dist_interval_to_json(&iv);
    char err[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!cases[i].message)
            continue;
        json_t *j = json_deep_copy(good);
        set_path(j, cases[i].path, cases[i].value);
        char body[1 << 16];
        char *text = json_dumps(j, JSON_COMPACT);
        snprintf(body, sizeof body, "{\"intervals\": [%s, %s, %s]}", text, text, text);
        /* the third one is bad: the message names it */
        char *good_text = json_dumps(good, JSON_COMPACT);
        snprintf(body, sizeof body, "{\"intervals\": [%s, %s, %s]}", good_text, good_text, text);
        free(good_text);
        free(text);
        json_t *list = dist_intervals_parse_body(body, strlen(body), &iv, err, sizeof err);
        if (list)
            fail_msg("case %zu (%s) was accepted", i, cases[i].path);
        char want[256];
        snprintf(want, sizeof want, "intervals[2].%s", cases[i].message);
        if (!strstr(err, want))
            fail_msg("case %zu: '%s' does not say '%s'", i, err, want);
        json_decref(j);
    }
    /* per node: failures beyond requests; more requests than counted */
    json_t *j = json_deep_copy(good);
    json_object_set_new(json_object_get(json_object_get(j, "nodes"), "api.1"), "failures",
                        json_integer(51));
    assert_int_equal(dist_interval_from_json(&iv, j, "intervals[0]", err, sizeof err), -1);
    assert_non_null(strstr(err, "intervals[0].nodes.api.1.failures: 51 is out of range"));
    json_decref(j);
    j = json_deep_copy(good);
    json_object_set_new(json_object_get(json_object_get(j, "nodes"), "api.1"), "requests",
                        json_integer(99));
    assert_int_equal(dist_interval_from_json(&iv, j, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "nodes: the nodes count 149 requests"));
    json_decref(j);
    /* a histogram with more latencies than requests */
    hist_record_n(iv.hist, 10, 5);
    fill_interval(&iv, "w1", 1, 1764500000000000ULL, 3, 1);
    hist_record_n(iv.hist, 10, 5);
    j = dist_interval_to_json(&iv);
    assert_int_equal(dist_interval_from_json(&iv, j, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "hist: holds 8 latencies, more than the 3"));
    json_decref(j);
    /* a final interval's statuses, connections and error, each bad */
    static const struct {
        const char *key, *value, *message;
    } end_cases[] = {
        {"statuses", "[]", "statuses: expected an object"},
        {"statuses", "{\"99\": 1}", "statuses.99: expected an HTTP status from 100 to 599"},
        {"statuses", "{\"600\": 1}", "statuses.600: expected an HTTP status"},
        {"statuses", "{\"2x0\": 1}", "statuses.2x0: expected an HTTP status"},
        {"statuses", "{\"+20\": 1}", "statuses.+20: expected an HTTP status"},
        {"statuses", "{\"200\": 0}", "statuses.200: 0: a status nothing answered with"},
        {"statuses", "{\"200\": -1}", "statuses.200: -1 is out of range"},
        {"statuses", "{\"200\": 1.5}", "statuses.200: expected a whole number"},
        {"connections", "{\"clients\": 1, \"connects\": 1}", "connections.peak: expected a whole"},
        {"connections", "{\"clients\": 1, \"connects\": 1, \"peak\": 1, \"x\": 1}",
         "connections.x: unknown field"},
        {"connections", "7", "connections: expected {"},
        {"error", "\"\"", "error: expected 1 to 199 characters"},
        {"error", "\"a\\nb\"", "error: expected printable ASCII"},
        {"error", "\"caf\\u00e9\"", "error: expected printable ASCII"},
        {"error", "3", "error: expected a string"},
    };
    for (size_t i = 0; i < sizeof end_cases / sizeof end_cases[0]; i++) {
        j = json_deep_copy(good);
        json_object_set_new(j, "final", json_true());
        json_object_set_new(j, "elapsed_s", json_real(1));
        set_path(j, end_cases[i].key, end_cases[i].value);
        assert_int_equal(dist_interval_from_json(&iv, j, NULL, err, sizeof err), -1);
        if (!strstr(err, end_cases[i].message))
            fail_msg("end case %zu: '%s' does not say '%s'", i, err, end_cases[i].message);
        json_decref(j);
    }
    /* at most DIST_STATUS_CODES_MAX statuses */
    j = json_deep_copy(good);
    json_object_set_new(j, "final", json_true());
    json_object_set_new(j, "elapsed_s", json_real(1));
    json_t *many = json_object();
    for (int code = 100; code <= 100 + DIST_STATUS_CODES_MAX; code++) {
        char key[8];
        snprintf(key, sizeof key, "%d", code);
        json_object_set_new(many, key, json_integer(1));
    }
    json_object_set_new(j, "statuses", many);
    assert_int_equal(dist_interval_from_json(&iv, j, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "statuses: 65 statuses, expected at most 64"));
    json_decref(j);
    /* a final interval without its elapsed time; bodies that are not intervals */
    j = json_deep_copy(good);
    json_object_set_new(j, "final", json_true());
    assert_int_equal(dist_interval_from_json(&iv, j, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "elapsed_s: missing"));
    json_decref(j);
    assert_null(dist_intervals_parse_body("{\"intervals\": []}", 17, &iv, err, sizeof err));
    assert_non_null(strstr(err, "intervals: expected a list of 1 to"));
    assert_null(dist_intervals_parse_body("[1]", 3, &iv, err, sizeof err));
    assert_non_null(strstr(err, "body: expected an interval"));
    assert_null(dist_intervals_parse_body("{\"a\":", 5, &iv, err, sizeof err));
    assert_non_null(strstr(err, "body: invalid JSON at line 1"));
    json_decref(good);
    dist_interval_free(&iv);
}

/* ---- merge ---- */

static void test_merge_histograms_exact(void **state)
{
    (void)state;
    enum { WORKERS = 5, SECONDS = 4 };
    struct hist *all = hist_new();
    struct dist_merge *m = dist_merge_new("t-1", 1764500000000000ULL);
    struct dist_interval iv;
    assert_int_equal(dist_interval_init(&iv), 0);
    char err[256];
    /* added out of order: second-major, workers reversed */
    for (int s = SECONDS - 1; s >= 0; s--)
        for (int w = WORKERS - 1; w >= 0; w--) {
            char id[8];
            snprintf(id, sizeof id, "w%d", w);
            /* jitter under half a second still lands in the same second */
            uint64_t jitter = (uint64_t)(w * 37000);
            fill_interval(&iv, id, (uint64_t)s, 1764500000000000ULL + (uint64_t)s * 1000000 + jitter,
                          200 + (size_t)(next_random() % 2000), (uint64_t)(w + 1));
            hist_merge(all, iv.hist);
            assert_int_equal(dist_merge_add(m, &iv, err, sizeof err), 0);
        }
    /* a repeat is refused and changes nothing */
    assert_int_equal(dist_merge_add(m, &iv, err, sizeof err), -1);
    assert_non_null(strstr(err, "already merged"));
    struct dist_task task;
    dist_task_init(&task);
    assert_int_equal(dist_task_from_text(&task, "t", "url: http://127.0.0.1:1/\nduration: 4s\n", 38,
                                         err, sizeof err), 0);
    struct dist_merge_meta meta = {.task = &task, .command = "master"};
    int passed = -1;
    json_t *doc = dist_merge_run_json(m, &meta, &passed, err, sizeof err);
    assert_non_null(doc);
    /* the merged histogram equals the histogram of all the samples, bucket by bucket */
    const char *enc = json_string_value(json_object_get(json_object_get(doc, "latency_ms"), "histogram"));
    struct hist *merged = hist_new();
    assert_int_equal(hist_decode(merged, enc, err, sizeof err), 0);
    assert_int_equal(merged->total, all->total);
    assert_int_equal(merged->min, all->min);
    assert_int_equal(merged->max, all->max);
    assert_int_equal(merged->sum, all->sum);
    assert_memory_equal(merged->counts, all->counts, sizeof all->counts);
    const double ps[] = {50, 90, 95, 99, 99.9};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        assert_int_equal(hist_percentile(merged, ps[i]), hist_percentile(all, ps[i]));
    json_t *totals = json_object_get(doc, "totals");
    assert_int_equal(json_integer_value(json_object_get(totals, "requests")), all->total);
    assert_int_equal(json_array_size(json_object_get(doc, "timeline")), SECONDS);
    assert_int_equal(json_array_size(json_object_get(doc, "workers")), WORKERS);
    assert_string_equal(json_string_value(json_object_get(doc, "schema")), "herd.run/1");
    json_t *nodes = json_object_get(doc, "nodes");
    assert_int_equal(json_array_size(nodes), 2);
    json_decref(doc);
    dist_task_free(&task);
    hist_free(merged);
    hist_free(all);
    dist_interval_free(&iv);
    dist_merge_free(m);
}

/* The value of the sample named series (name{labels}) in Prometheus text, or NAN when absent. */
static double sample_of(const char *text, const char *series)
{
    return harness_prom_sum(text, series, NULL);
}

/* /metrics of a task: its totals are the merge's (dist_merge_totals), the histogram's buckets
 * count exactly the latencies below each bound, the lag is the master's clock minus the end of
 * the second, every state is listed, labels are escaped, and the ended tasks kept are the last
 * MASTER_METRICS_ENDED. */
static void test_master_metrics_render(void **state)
{
    (void)state;
    enum { SAMPLES = 3000 };
    const uint64_t start = 1764500000000000ULL;
    struct dist_merge *m = dist_merge_new("t-1", start);
    struct dist_interval iv;
    assert_int_equal(dist_interval_init(&iv), 0);
    uint64_t *values = malloc(2 * SAMPLES * sizeof *values);
    size_t nv = 0;
    char err[256];
    struct master_metrics_worker w1 = {0}, w2 = {0};
    for (int w = 0; w < 2; w++) {
        fill_interval(&iv, w ? "w\"2\\" : "w1", 0, start, SAMPLES, 1);
        iv.not_sent = (uint64_t)w * 7;
        iv.dropped = 3;
        hist_reset(iv.hist);
        for (size_t i = 0; i < SAMPLES; i++) {
            /* on and next to the bounds (125 us << k), and anywhere */
            uint64_t v = i % 2 ? (UINT64_C(125) << (next_random() % 19)) - next_random() % 2
                               : random_latency() * 10;
            hist_record(iv.hist, v);
            values[nv++] = v;
        }
        assert_int_equal(dist_merge_add(m, &iv, err, sizeof err), 0);
        /* merged 1.25 s after its second began: 0.25 s after it ended */
        master_metrics_interval(w ? &w2 : &w1, &iv, (int64_t)(start + 1250000 + (uint64_t)w * 1000000));
    }
    struct dist_merge_totals totals;
    dist_merge_totals(m, &totals);
    assert_int_equal(totals.counters.requests, 2 * SAMPLES);
    assert_int_equal(totals.counters.by_class[COUNTER_STATUS_5XX], 2 * (SAMPLES / 50));
    assert_int_equal(totals.not_sent, 7);
    assert_int_equal(totals.dropped, 6);
    assert_int_equal(totals.latency->total, 2 * SAMPLES);

    struct master_metrics_task live;
    master_metrics_task_of(&live, "t-1", true, m);
    struct master_metrics_ended *ended = calloc(1, sizeof *ended);
    for (int i = 0; i < MASTER_METRICS_ENDED + 2; i++) {
        char id[16];
        snprintf(id, sizeof id, "t-e%d", i);
        master_metrics_task_ended(ended, id, m);
    }
    master_metrics_task_ended(ended, "t-1", m); /* live too: shown once, as live */
    struct master_metrics_worker_view workers[] = {
        {.id = "w1", .region = "eu", .state = "active", .cpu = 0.5, .numbers = &w1},
        {.id = "w\"2\\", .region = "u\ns", .state = "suspect", .cpu = 0.25, .numbers = &w2},
        {.id = "w3", .region = "", .state = "disconnected", .numbers = &(struct master_metrics_worker){0}},
    };
    struct master_metrics_view v = {.tasks = {[STORE_TASK_RUNNING] = 1, [STORE_TASK_COMPLETED] = 4},
                                    .workers = workers, .worker_count = 3, .tasks_live = &live,
                                    .task_live_count = 1, .ended = ended};
    struct buf b = {0};
    assert_int_equal(master_metrics_render(&v, &b), 0);
    const char *text = b.data;
    assert_true(sample_of(text, "herd_master_workers{state=\"active\"}") == 1);
    assert_true(sample_of(text, "herd_master_workers{state=\"suspect\"}") == 1);
    assert_true(sample_of(text, "herd_master_workers{state=\"lost\"}") == 0);
    assert_true(sample_of(text, "herd_master_workers{state=\"disconnected\"}") == 1);
    assert_true(sample_of(text, "herd_master_tasks{state=\"pending\"}") == 0);
    assert_true(sample_of(text, "herd_master_tasks{state=\"completed\"}") == 4);
    assert_true(sample_of(text, "herd_master_tasks{state=\"cancelled\"}") == 0);
    assert_true(sample_of(text, "herd_master_task_running{task=\"t-1\"}") == 1);
    assert_true(sample_of(text, "herd_master_task_requests_total{task=\"t-1\",outcome=\"5xx\"}") ==
                2 * (SAMPLES / 50));
    assert_true(sample_of(text, "herd_master_task_requests_total{task=\"t-1\",outcome=\"ok\"}") ==
                2 * (SAMPLES - SAMPLES / 50));
    assert_true(sample_of(text, "herd_master_task_not_sent_total{task=\"t-1\"}") == 7);
    assert_true(sample_of(text, "herd_master_task_dropped_total{task=\"t-1\"}") == 6);
    /* buckets: the latencies below each bound, counted from the raw values */
    double previous = 0;
    for (int k = 0; k < MASTER_METRICS_BOUNDS; k++) {
        char series[128], le[32];
        snprintf(le, sizeof le, "%g", (double)(UINT64_C(125) << k) / 1e6);
        snprintf(series, sizeof series,
                 "herd_master_task_latency_seconds_bucket{task=\"t-1\",le=\"%s\"}", le);
        uint64_t exact = 0;
        for (size_t i = 0; i < nv; i++)
            exact += values[i] < (UINT64_C(125) << k);
        double got = sample_of(text, series);
        if (got != (double)exact)
            fail_msg("%s: %g, the raw values say %llu", series, got, (unsigned long long)exact);
        assert_true(got >= previous);
        previous = got;
    }
    assert_true(sample_of(text, "herd_master_task_latency_seconds_bucket{task=\"t-1\",le=\"+Inf\"}") ==
                2 * SAMPLES);
    assert_true(sample_of(text, "herd_master_task_latency_seconds_count{task=\"t-1\"}") == 2 * SAMPLES);
    assert_true(fabs(sample_of(text, "herd_master_task_latency_seconds_sum{task=\"t-1\"}") -
                     (double)totals.latency->sum / 1e6) < 1e-5);
    /* the ended tasks kept: the last MASTER_METRICS_ENDED, t-1 shown once (live) */
    assert_true(isnan(sample_of(text, "herd_master_task_running{task=\"t-e0\"}")));
    assert_true(isnan(sample_of(text, "herd_master_task_running{task=\"t-e1\"}")));
    assert_true(isnan(sample_of(text, "herd_master_task_running{task=\"t-e2\"}")));
    for (int i = 3; i < MASTER_METRICS_ENDED + 2; i++) {
        char series[96];
        snprintf(series, sizeof series, "herd_master_task_running{task=\"t-e%d\"}", i);
        assert_true(sample_of(text, series) == 0);
    }
    const char *first = strstr(text, "herd_master_task_running{task=\"t-1\"}");
    assert_non_null(first);
    assert_null(strstr(first + 1, "herd_master_task_running{task=\"t-1\"}"));
    /* workers: escaped labels, lag = 0.25 s and 1.25 s, none before an interval */
    assert_true(sample_of(text, "herd_master_worker_requests_total{worker=\"w1\",region=\"eu\"}") ==
                SAMPLES);
    assert_true(sample_of(text, "herd_master_worker_failures_total{worker=\"w\\\"2\\\\\",region=\"u\\ns\"}") ==
                SAMPLES / 50);
    assert_true(sample_of(text, "herd_master_worker_interval_lag_seconds{worker=\"w1\",region=\"eu\"}") ==
                0.25);
    assert_true(sample_of(text, "herd_master_worker_interval_lag_max_seconds{worker=\"w\\\"2\\\\\",region=\"u\\ns\"}") ==
                1.25);
    assert_true(isnan(sample_of(text, "herd_master_worker_interval_lag_seconds{worker=\"w3\",region=\"\"}")));
    assert_true(sample_of(text, "herd_master_worker_intervals_total{worker=\"w3\",region=\"\"}") == 0);
    assert_true(sample_of(text, "herd_master_worker_cpu_ratio{worker=\"w1\",region=\"eu\"}") == 0.5);
    /* every family once, with its type; counters end in _total */
    assert_non_null(strstr(text, "# TYPE herd_master_task_latency_seconds histogram\n"));
    assert_non_null(strstr(text, "# TYPE herd_master_task_requests_total counter\n"));
    assert_non_null(strstr(text, "# TYPE herd_master_worker_interval_lag_seconds gauge\n"));
    buf_free(&b);
    free(ended);
    free(values);
    dist_interval_free(&iv);
    dist_merge_free(m);
}

/* Each worker's and each region's requests and failures per second of the task, exact from the
 * intervals: w0 (eu) posts seconds 0 and 2 (none in 1), w1 (eu) second 1 twice (two parts of
 * it, merged as one worker here), w2 (us) second 0 with failures; their sums per second are the
 * run's own timeline. */
static void test_merge_group_timelines(void **state)
{
    (void)state;
    const uint64_t t0 = 1000000000ULL;
    struct dist_merge *m = dist_merge_new("t-1", t0);
    struct dist_interval iv;
    assert_int_equal(dist_interval_init(&iv), 0);
    char err[256];
    assert_int_equal(dist_merge_worker(m, "w0", "eu", 1), 0);
    assert_int_equal(dist_merge_worker(m, "w1", "eu", 1), 0);
    assert_int_equal(dist_merge_worker(m, "w2", "us", 1), 0);
    const struct { const char *w; uint64_t seq, second; size_t samples; } posts[] = {
        {"w0", 0, 0, 100}, {"w0", 1, 2, 300}, {"w1", 0, 1, 50}, {"w1", 1, 1, 150},
        {"w2", 0, 0, 500},
    };
    for (size_t i = 0; i < sizeof posts / sizeof posts[0]; i++) {
        fill_interval(&iv, posts[i].w, posts[i].seq, t0 + posts[i].second * 1000000ULL,
                      posts[i].samples, 1);
        assert_int_equal(dist_merge_add(m, &iv, err, sizeof err), 0);
    }
    struct dist_task task;
    dist_task_init(&task);
    const char *cfg = "{\"url\": \"http://127.0.0.1:1/\", \"requests\": 1100}";
    assert_int_equal(dist_task_from_text(&task, "t", cfg, strlen(cfg), err, sizeof err), 0);
    struct dist_merge_meta meta = {.task = &task, .unjudged = true};
    int passed = -1;
    json_t *doc = dist_merge_run_json(m, &meta, &passed, err, sizeof err);
    assert_non_null(doc);
    /* fill_interval fails every 50th request (5xx) */
    const json_int_t want[3][2][3] = {
        {{100, 0, 300}, {2, 0, 6}}, {{0, 200, 0}, {0, 4, 0}}, {{500, 0, 0}, {10, 0, 0}}};
    json_t *workers = json_object_get(doc, "workers"), *regions = json_object_get(doc, "regions");
    for (size_t w = 0; w < 3; w++) {
        json_t *tl = json_object_get(json_array_get(workers, w), "timeline");
        for (size_t s = 0; s < 3; s++) {
            assert_int_equal(json_integer_value(json_array_get(json_object_get(tl, "requests"), s)),
                             want[w][0][s]);
            assert_int_equal(json_integer_value(json_array_get(json_object_get(tl, "failures"), s)),
                             want[w][1][s]);
        }
        assert_int_equal(json_array_size(json_object_get(tl, "requests")), 3);
    }
    assert_string_equal(json_string_value(json_object_get(json_array_get(regions, 0), "region")), "eu");
    json_t *eu = json_object_get(json_array_get(regions, 0), "timeline");
    json_t *us = json_object_get(json_array_get(regions, 1), "timeline");
    json_t *run = json_object_get(doc, "timeline");
    for (size_t s = 0; s < 3; s++) {
        json_int_t e = json_integer_value(json_array_get(json_object_get(eu, "requests"), s));
        json_int_t u = json_integer_value(json_array_get(json_object_get(us, "requests"), s));
        assert_int_equal(e, want[0][0][s] + want[1][0][s]);
        assert_int_equal(e + u, json_integer_value(json_object_get(json_array_get(run, s), "requests")));
        json_int_t ef = json_integer_value(json_array_get(json_object_get(eu, "failures"), s));
        json_int_t uf = json_integer_value(json_array_get(json_object_get(us, "failures"), s));
        assert_int_equal(ef + uf, json_integer_value(json_object_get(json_array_get(run, s), "failures")));
    }
    json_decref(doc);
    dist_task_free(&task);
    dist_interval_free(&iv);
    dist_merge_free(m);
}

/* The verdict comes from the merged histogram, never from averaged percentiles: two of three
 * workers pass "p99<100ms" and the mean of the three p99s passes too (1, 1 and 200 ms: 67 ms),
 * but 1.7% of all requests took 200 ms, so the merged p99 is 200 ms and the task fails. (All
 * three passing while the merge fails cannot happen: a merged tail share is a weighted mean of
 * the workers' shares.) */
static void test_merge_thresholds_on_merged(void **state)
{
    (void)state;
    struct dist_merge *m = dist_merge_new("t-1", 1000000000ULL);
    struct dist_interval iv;
    assert_int_equal(dist_interval_init(&iv), 0);
    char err[256];
    assert_int_equal(dist_merge_worker(m, "w0", "eu", 2), 0);
    assert_int_equal(dist_merge_worker(m, "w1", "eu", 2), 0);
    assert_int_equal(dist_merge_worker(m, "w2", "us", 4), 0);
    for (int w = 0; w < 3; w++) {
        char id[8];
        snprintf(id, sizeof id, "w%d", w);
        fill_interval(&iv, id, 0, 1000000000ULL, 0, 1);
        iv.node_count = 0;
        /* each: 1000 answers, 9 of them (0.9%) at 200 ms: its own p99 is fast */
        for (int i = 0; i < 1000; i++) {
            hist_record(iv.hist, i < 9 ? 200000 : 1000);
            counters_add(&iv.counters, COUNTER_OK);
        }
        iv.cpu = w == 2 ? 0.95 : 0.2;
        assert_int_equal(dist_merge_add(m, &iv, err, sizeof err), 0);
        assert_true(hist_percentile(iv.hist, 99) < 50000);
    }
    /* worker 2's slow second */
    fill_interval(&iv, "w2", 1, 1001000000ULL, 0, 1);
    iv.node_count = 0;
    for (int i = 0; i < 200; i++) {
        hist_record(iv.hist, 200000);
        counters_add(&iv.counters, COUNTER_OK);
    }
    for (int i = 0; i < 9900; i++) {
        hist_record(iv.hist, 1000);
        counters_add(&iv.counters, COUNTER_OK);
    }
    iv.cpu = 0.97;
    assert_int_equal(dist_merge_add(m, &iv, err, sizeof err), 0);
    fill_interval(&iv, "w2", 2, 1002000000ULL, 0, 1);
    iv.node_count = 0;
    iv.cpu = 0.9;
    iv.final = true;
    iv.elapsed_s = 3;
    iv.statuses[0] = (struct dist_status_count){200, 11000};
    iv.statuses[1] = (struct dist_status_count){503, 100};
    iv.status_count = 2;
    iv.has_connections = true;
    iv.clients = 8;
    iv.connects = 9;
    iv.connections_peak = 8;
    assert_int_equal(dist_merge_add(m, &iv, err, sizeof err), 0);
    fill_interval(&iv, "w2", 3, 1003000000ULL, 0, 1);
    iv.node_count = 0;
    iv.final = true;
    iv.elapsed_s = 1;
    assert_int_equal(dist_merge_add(m, &iv, err, sizeof err), -1);
    assert_non_null(strstr(err, "a second final interval"));
    fill_interval(&iv, "w9", 0, 1000000000ULL, 0, 1);
    snprintf(iv.task_id, sizeof iv.task_id, "t-2");
    assert_int_equal(dist_merge_add(m, &iv, err, sizeof err), -1);
    assert_non_null(strstr(err, "task_id"));

    struct dist_merge_worker_stats ws;
    assert_int_equal(dist_merge_worker_stats(m, "w2", &ws), 0);
    assert_true(ws.saturated && ws.final && ws.cpu_max == 0.97);
    assert_string_equal(ws.error, "");
    assert_int_equal(ws.accounted, 1000 + 10100);
    assert_int_equal(dist_merge_worker_stats(m, "w0", &ws), 0);
    assert_false(ws.saturated);
    assert_int_equal(dist_merge_requests(m), 3000 + 10100);

    struct dist_task task;
    dist_task_init(&task);
    const char *cfg = "{\"url\": \"http://127.0.0.1:1/\", \"requests\": 13100,"
                      " \"thresholds\": [\"p99<100ms\"]}";
    assert_int_equal(dist_task_from_text(&task, "t", cfg, strlen(cfg), err, sizeof err), 0);
    struct dist_merge_meta meta = {.task = &task};
    int passed = -1;
    json_t *doc = dist_merge_run_json(m, &meta, &passed, err, sizeof err);
    /* statuses and connections as the final intervals said (w0, w1 posted none) */
    assert_non_null(doc);
    json_t *codes = json_object_get(doc, "status_codes");
    assert_int_equal(json_object_size(codes), 2);
    assert_int_equal(json_integer_value(json_object_get(codes, "200")), 11000);
    assert_int_equal(json_integer_value(json_object_get(codes, "503")), 100);
    json_t *tot = json_object_get(doc, "totals");
    assert_int_equal(json_integer_value(json_object_get(tot, "connections")), 8);
    assert_int_equal(json_integer_value(json_object_get(tot, "reconnects")), 1);
    assert_int_equal(json_integer_value(json_object_get(tot, "connections_peak")), 8);
    assert_non_null(doc);
    assert_int_equal(passed, 0);
    assert_string_equal(json_string_value(json_object_get(doc, "verdict")), "fail");
    json_t *th = json_array_get(json_object_get(doc, "thresholds"), 0);
    assert_true(json_real_value(json_object_get(th, "actual")) > 100);
    double mean_p99 = 0;
    int passing = 0;
    for (size_t i = 0; i < 3; i++) {
        json_t *lat = json_object_get(json_array_get(json_object_get(doc, "workers"), i), "latency_ms");
        double p99 = json_real_value(json_object_get(lat, "p99"));
        mean_p99 += p99 / 3;
        passing += p99 < 100;
    }
    assert_int_equal(passing, 2);
    assert_true(mean_p99 < 100);
    json_t *regions = json_object_get(doc, "regions");
    assert_int_equal(json_array_size(regions), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(regions, 0), "region")), "eu");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(regions, 0), "workers")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(regions, 1), "requests")), 11100);
    json_t *w2 = json_array_get(json_object_get(doc, "workers"), 2);
    assert_true(json_is_true(json_object_get(w2, "saturated")));
    assert_null(json_object_get(doc, "latency_uncorrected_ms"));
    json_decref(doc);
    dist_task_free(&task);
    dist_interval_free(&iv);
    dist_merge_free(m);
}

/* A finished engine run as intervals: the seconds and the final one add up to its totals. */
static void test_interval_from_result(void **state)
{
    (void)state;
    struct load_result r;
    memset(&r, 0, sizeof r);
    assert_int_equal(load_stats_init(&r.total), 0);
    int node = load_stats_node(&r.total, "api.1");
    r.seconds = 2;
    r.timeline = calloc(2, sizeof *r.timeline);
    struct hist *h = hist_new();
    for (size_t s = 0; s < 2; s++) {
        hist_reset(h);
        for (int i = 0; i < 10; i++) {
            struct load_sample smp = {.cls = COUNTER_OK, .answered = true, .timed = true,
                                      .latency_us = 1000 + (uint64_t)i, .status = 200};
            load_stats_record(&r.total, NULL, node, &smp);
            hist_record(h, smp.latency_us);
            counters_add(&r.timeline[s].counters, COUNTER_OK);
        }
        r.timeline[s].node_requests[node] = 10;
        r.timeline[s].hist = hist_encode(h);
    }
    load_stats_record_unsent(&r.total, false, 5000000);
    r.total.scheduled = 21;
    r.elapsed_s = 2.5;
    r.clients = 3;
    r.connects = 5;
    r.connections_peak = 3;
    struct dist_interval iv, fin;
    assert_int_equal(dist_interval_init(&iv), 0);
    assert_int_equal(dist_interval_init(&fin), 0);
    char names[LOAD_MAX_NODES][LOAD_NODE_NAME], err[256];
    dist_result_node_names(&r, names);
    assert_int_equal(dist_interval_from_second(&iv, &r.timeline[1], (const char(*)[LOAD_NODE_NAME])names,
                                               r.total.node_count, 2000000, err, sizeof err), 0);
    assert_int_equal(iv.counters.requests, 10);
    assert_int_equal(iv.hist->total, 10);
    assert_string_equal(iv.nodes[0].name, "api.1");
    assert_int_equal(dist_interval_final(&fin, &r, 2000000, err, sizeof err), 0);
    assert_true(fin.final && fin.not_sent == 1 && fin.elapsed_s == 2.5);
    assert_int_equal(fin.counters.requests, 0);
    assert_int_equal(fin.hist->total, 1); /* the request never sent, at 5 s */
    assert_true(fin.hist->min >= 4990000);
    /* the whole run's statuses and connections, not only the rest's */
    assert_int_equal(fin.status_count, 1);
    assert_true(fin.statuses[0].code == 200 && fin.statuses[0].count == 20);
    assert_true(fin.has_connections && fin.clients == 3 && fin.connects == 5 &&
                fin.connections_peak == 3);
    snprintf(fin.task_id, sizeof fin.task_id, "t-1");
    snprintf(fin.worker_id, sizeof fin.worker_id, "w1");
    snprintf(fin.session, sizeof fin.session, "s-1");
    json_t *j = dist_interval_to_json(&fin);
    if (dist_interval_from_json(&iv, j, NULL, err, sizeof err) < 0)
        fail_msg("%s", err);
    json_decref(j);
    for (size_t s = 0; s < 2; s++)
        free(r.timeline[s].hist);
    free(r.timeline);
    load_stats_free(&r.total);
    hist_free(h);
    dist_interval_free(&iv);
    dist_interval_free(&fin);
}

/* ---- tasks ---- */

static void test_task_forms(void **state)
{
    (void)state;
    char err[512];
    struct dist_task t;
    /* the seed's example, as config_file text */
    const char *seed = "protocol: http\nconcurrency: 1000\nrequests: 100000\ntimeout: 10s\n"
                       "url: https://api.example.com/users\nmethod: POST\nheaders:\n"
                       "  Content-Type: application/json\nbody: '{\"test\":\"data\"}'\n"
                       "advanced:\n  enable_breaker: true\n  max_failures: 100\n  ramp_up: 60s\n"
                       "split: cores\nthresholds: [\"p99<20ms\"]\n";
    json_t *body = json_pack("{s:s}", "config_file", seed);
    dist_task_init(&t);
    assert_int_equal(dist_task_from_body(&t, body, err, sizeof err), 0);
    assert_int_equal(t.options.connections, 1000);
    assert_int_equal(t.options.requests, 100000);
    assert_int_equal(t.options.max_failures, 100);
    assert_int_equal(t.options.ramp_up_us, 60000000);
    assert_int_equal(t.split, DIST_SPLIT_CORES);
    assert_string_equal(t.options.method, "POST");
    assert_int_equal(t.options.threshold_count, 1);
    /* back to a config and read again: the same task */
    json_t *cfg = dist_task_to_config(&t);
    /* durations echo as the user wrote them, not in microseconds */
    assert_string_equal(json_string_value(json_object_get(cfg, "timeout")), "10s");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(cfg, "advanced"), "ramp_up")), "1m");
    struct dist_task u;
    dist_task_init(&u);
    assert_int_equal(dist_task_from_config(&u, cfg, err, sizeof err), 0);
    assert_int_equal(u.options.connections, 1000);
    assert_int_equal(u.options.requests, 100000);
    assert_int_equal(u.options.timeout_ms, 10000);
    assert_int_equal(u.options.max_failures, 100);
    assert_int_equal(u.options.ramp_up_us, 60000000);
    assert_int_equal(u.split, DIST_SPLIT_CORES);
    assert_string_equal(u.options.headers[0], "Content-Type: application/json");
    assert_string_equal(u.options.body, "{\"test\":\"data\"}");
    assert_string_equal(u.options.urls[0], "https://api.example.com/users");
    json_decref(cfg);
    dist_task_free(&u);
    dist_task_free(&t);
    json_decref(body);

    static const struct {
        const char *body, *message;
    } bad[] = {
        {"{\"config_file\": \"url: http://a/\\nconcurrency: many\\n\"}", "config_file:2:14: concurrency:"},
        {"{\"config_file\": \"url: http://a/\\nsplit: random\\n\"}", "config_file:2:8: split: 'random': expected even or cores"},
        {"{\"config_file\": \"url: [\"}", "config_file:2:1: invalid YAML"},
        {"{\"config_file\": \"concurrency: 5\\n\"}", "url: missing"},
        {"{\"config_file\": 5}", "config_file: expected the config's YAML or JSON text"},
        {"{\"config\": {\"url\": \"http://a/\", \"advanced\": {\"ramp_up\": \"soon\"}}}",
         "config.advanced.ramp_up:"},
        {"{\"config\": {\"url\": \"http://a/\", \"colour\": 1}}", "config.colour: unknown key 'colour'"},
        {"{\"config\": {\"url\": \"http://a/\", \"duration\": \"1s\", \"requests\": 5}}", "not both"},
        {"{\"config\": [1]}", "config: expected an object"},
        {"{\"config\": {}, \"config_file\": \"\"}", "not both"},
        {"{\"name\": 1}", "body: unknown field 'name'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *b = json_loads(bad[i].body, 0, NULL);
        assert_non_null(b);
        dist_task_init(&t);
        if (dist_task_from_body(&t, b, err, sizeof err) == 0)
            fail_msg("case %zu was accepted", i);
        if (!strstr(err, bad[i].message))
            fail_msg("case %zu: '%s' does not say '%s'", i, err, bad[i].message);
        dist_task_free(&t);
        json_decref(b);
    }
}

/* The bad-input catalogue's task bodies (docs/bad-input.md, "master (task bodies)"): what a
 * POST /api/v1/tasks body the master must refuse with 400 says. The master answers with
 * dist_task_from_body's message, so this is what a user reads. */
static void test_task_bad_input(void **state)
{
    (void)state;
    static const struct {
        const char *body, *message;
    } cases[] = {
        {"[]", "body: expected {\"config_file\": \"...\"} or {\"config\": {...}}"},
        {"{}", "body: expected {\"config_file\": \"...\"} or {\"config\": {...}}"},
        {"{\"config_file\": null}", "config_file: expected the config's YAML or JSON text"},
        {"{\"config_file\": \"\"}", "config_file:1:1: (top level): the file is empty"},
        {"{\"config_file\": \"url: http://a/\\n\\tconcurrency: 3\\n\"}", "config_file:2:"},
        {"{\"config_file\": \"{\\\"url\\\": \\\"http://a/\\\", \\\"concurrency\\\": 0}\"}",
         "config_file:1:37: concurrency: '0': expected a whole number from 1 to"},
        {"{\"config\": {\"url\": \"ftp://a/\"}}", "config.url:"},
        {"{\"config\": {\"url\": \"http://a/\", \"protocol\": \"grpc\"}}", "config.protocol:"},
        {"{\"config\": {\"url\": \"http://a/\", \"rate\": -5}}", "config.rate:"},
        {"{\"config\": {\"url\": \"http://a/\", \"timeout\": \"forever\"}}", "config.timeout:"},
        {"{\"config\": {\"url\": \"http://a/\", \"method\": \"GE T\"}}", "config.method:"},
        {"{\"config\": {\"url\": \"http://a/\", \"headers\": [\"X-A: 1\"]}}", "config.headers:"},
        {"{\"config\": {\"url\": \"http://a/\", \"headers\": {\"a:b\": \"c\"}}}",
         "config.headers.a:b: expected a header name without ':'"},
        {"{\"config\": {\"url\": \"http://a/\", \"headers\": {\"X-A\": \"1\\r\\nX-B: 2\"}}}",
         "line breaks are not allowed"},
        {"{\"config\": {\"url\": \"http://a/\", \"lb\": \"hash\"}}", "config.lb: 'hash' is not a balancer"},
        {"{\"config\": {\"url\": \"http://a/\", \"thresholds\": [\"p99 <\"]}}", "config.thresholds"},
        {"{\"config\": {\"url\": \"http://a/\", \"duration\": \"2s\", \"advanced\": {\"ramp_up\": \"5s\"}}}",
         "advanced.ramp_up: longer than the duration"},
        {"{\"config\": {\"url\": \"http://a/\", \"advanced\": {\"max_failures\": \"ten\"}}}",
         "config.advanced.max_failures:"},
        {"{\"config\": {\"urls\": []}}", "url: missing"},
    };
    char err[512];
    struct dist_task t;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *b = json_loads(cases[i].body, 0, NULL);
        if (!b) fail_msg("case %zu is not JSON", i);
        dist_task_init(&t);
        err[0] = '\0';
        if (dist_task_from_body(&t, b, err, sizeof err) == 0)
            fail_msg("case %zu (%s) was accepted", i, cases[i].body);
        if (!strstr(err, cases[i].message))
            fail_msg("case %zu: '%s' does not say '%s'", i, err, cases[i].message);
        dist_task_free(&t);
        json_decref(b);
    }
    /* a config_file text past 1 MiB */
    size_t big = DIST_TASK_TEXT_MAX + 1;
    char *text = malloc(big + 1);
    assert_non_null(text);
    memset(text, '#', big);
    text[big] = '\0';
    json_t *b = json_pack("{s:s}", "config_file", text);
    dist_task_init(&t);
    assert_int_equal(dist_task_from_body(&t, b, err, sizeof err), -1);
    assert_string_equal(err, "config_file: 1048577 bytes, expected at most 1048576");
    dist_task_free(&t);
    json_decref(b);
    free(text);
}

/* Found by fuzz_task: a header key holding ':' sent a header of another name, and two such
 * keys collapsed into one in the assignment's config; a header line past 1 KiB was cut and a
 * name past 255 bytes shortened on the way to the worker. Long headers now reach the worker
 * whole. */
static void test_task_headers_reach_the_worker(void **state)
{
    (void)state;
    char err[512], name[301], value[4001];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    json_t *body = json_pack("{s:{s:s, s:{s:s, s:s}}}", "config", "url", "http://a/", "headers",
                             name, value, "Cookie", "a=1; b=2");
    struct dist_task t, u;
    dist_task_init(&t);
    dist_task_init(&u);
    if (dist_task_from_body(&t, body, err, sizeof err) < 0) fail_msg("%s", err);
    assert_int_equal(t.options.header_count, 2);
    assert_int_equal(strlen(t.options.headers[0]), 300 + 2 + 4000);
    json_t *cfg = dist_task_to_config(&t);
    if (dist_task_from_config(&u, cfg, err, sizeof err) < 0) fail_msg("%s", err);
    assert_int_equal(u.options.header_count, 2);
    assert_string_equal(u.options.headers[0], t.options.headers[0]);
    assert_string_equal(u.options.headers[1], "Cookie: a=1; b=2");
    json_decref(cfg);
    json_decref(body);
    dist_task_free(&t);
    dist_task_free(&u);
    /* the fuzzer's input: two keys that were one header name */
    const char *yaml = "url: http://a/\nheaders:\n  ramp_up:: 200\n  ramp_up: 60s\n";
    dist_task_init(&t);
    assert_int_equal(dist_task_from_text(&t, "config_file", yaml, strlen(yaml), err, sizeof err), -1);
    assert_string_equal(err, "config_file:3:13: headers.ramp_up:: expected a header name without ':'");
    dist_task_free(&t);
}

static void test_task_allow_targets(void **state)
{
    (void)state;
    char err[256];
    struct dist_allow list[5];
    const char *entries[] = {"10.0.0.0/8", "fd00::/8", "api.example.com", "192.168.1.7", "[::1]"};
    for (int i = 0; i < 5; i++)
        assert_int_equal(dist_allow_parse(&list[i], entries[i], err, sizeof err), 0);
    assert_true(dist_allow_match(list, 5, "10.1.2.3"));
    assert_true(dist_allow_match(list, 5, "::ffff:10.9.9.9")); /* IPv4-mapped */
    assert_true(dist_allow_match(list, 5, "fd12:3456::1"));
    assert_true(dist_allow_match(list, 5, "API.example.com"));
    assert_true(dist_allow_match(list, 5, "192.168.1.7"));
    assert_true(dist_allow_match(list, 5, "::1"));
    assert_false(dist_allow_match(list, 5, "192.168.1.8"));
    assert_false(dist_allow_match(list, 5, "11.0.0.1"));
    assert_false(dist_allow_match(list, 5, "fe80::1"));
    assert_false(dist_allow_match(list, 5, "www.example.com"));
    assert_false(dist_allow_match(list, 5, "example.com"));
    assert_false(dist_allow_match(list, 5, "localhost")); /* never resolved */
    struct dist_allow odd;
    assert_int_equal(dist_allow_parse(&odd, "10.0.0.0/33", err, sizeof err), -1);
    assert_non_null(strstr(err, "prefix length must be 0 to 32"));
    assert_int_equal(dist_allow_parse(&odd, "host/8", err, sizeof err), -1);
    assert_int_equal(dist_allow_parse(&odd, "a b", err, sizeof err), -1);
    assert_int_equal(dist_allow_parse(&odd, "10.1.2.3/12", err, sizeof err), 0);
    assert_true(dist_allow_match(&odd, 1, "10.15.255.255"));
    assert_false(dist_allow_match(&odd, 1, "10.16.0.0"));

    struct dist_task t;
    dist_task_init(&t);
    const char *cfg = "urls: [\"http://10.0.0.5:8080/#weight=2\", \"http://[fd00::5]/x\", "
                      "\"https://evil.example.net/\"]\n";
    assert_int_equal(dist_task_from_text(&t, "c", cfg, strlen(cfg), err, sizeof err), 0);
    assert_int_equal(dist_task_check_targets(&t, list, 5, err, sizeof err), -1);
    assert_non_null(strstr(err, "urls[2]: host 'evil.example.net' is not an allowed target"));
    assert_int_equal(dist_task_check_targets(&t, list, 0, err, sizeof err), 0);
    dist_task_free(&t);
}

/* Register, heartbeat and details bodies: what they accept, and a message naming the field for
 * each kind of bad input. */
static void test_protocol_bodies(void **state)
{
    (void)state;
    char err[256];
    struct dist_register r;
    const char *good = "{\"id\": \"w1\", \"region\": \"eu\", \"cores\": 4, \"version\": \"0.1\", "
                       "\"pid\": 7, \"running\": [3, 4]}";
    assert_int_equal(dist_register_parse(&r, good, strlen(good), err, sizeof err), 0);
    assert_string_equal(r.id, "w1");
    assert_string_equal(r.region, "eu");
    assert_int_equal(r.cores, 4);
    assert_int_equal(r.running_count, 2);
    assert_int_equal(r.running[1], 4);
    const struct {
        const char *body, *needle;
    } bad_reg[] = {
        {"{\"id\": \"a b\"}", "id:"},
        {"{\"id\": \"a\\r\\nX-Evil: 1\"}", "id:"},
        {"{\"id\": \"x\", \"cores\": 0}", "cores:"},
        {"{\"id\": \"x\", \"cores\": 1.5}", "cores:"},
        {"{\"id\": \"x\", \"pid\": -1}", "pid:"},
        {"{\"id\": \"x\", \"region\": 3}", "region:"},
        {"{\"id\": \"x\", \"version\": \"\\u0001\"}", "version:"},
        {"{\"id\": \"x\", \"running\": [\"a\"]}", "running:"},
        {"{\"id\": \"x\", \"what\": 1}", "unknown field 'what'"},
        {"{\"id\": \"x\", \"id\": \"y\"}", "body:"},
        {"[1]", "body:"},
    };
    for (size_t i = 0; i < sizeof bad_reg / sizeof bad_reg[0]; i++) {
        assert_int_equal(dist_register_parse(&r, bad_reg[i].body, strlen(bad_reg[i].body), err,
                                             sizeof err), -1);
        if (!strstr(err, bad_reg[i].needle))
            fail_msg("%s: '%s' does not name '%s'", bad_reg[i].body, err, bad_reg[i].needle);
    }
    struct dist_heartbeat h;
    assert_int_equal(dist_heartbeat_parse(&h, "{\"session\": \"s1\", \"cpu\": 0.5}", strlen("{\"session\": \"s1\", \"cpu\": 0.5}"), err,
                                          sizeof err), 0);
    assert_true(h.has_cpu && h.cpu == 0.5);
    assert_int_equal(dist_heartbeat_parse(&h, "{\"cpu\": 0.5}", strlen("{\"cpu\": 0.5}"), err, sizeof err), -1);
    assert_non_null(strstr(err, "session:"));
    assert_int_equal(dist_heartbeat_parse(&h, "{\"session\": \"s\", \"cpu\": 2}", strlen("{\"session\": \"s\", \"cpu\": 2}"), err,
                                          sizeof err), -1);
    assert_non_null(strstr(err, "cpu:"));
    struct dist_details d;
    const char *det = "{\"task_id\": \"t-1\", \"details\": [{\"at_us\": 5, \"ok\": false, "
                      "\"status\": 500, \"class\": \"5xx\", \"latency_us\": 10, \"node\": \"api.1\", "
                      "\"error\": \"HTTP 500\"}]}";
    assert_int_equal(dist_details_parse(&d, det, strlen(det), err, sizeof err), 0);
    assert_int_equal(d.count, 1);
    assert_false(d.list[0].ok);
    assert_string_equal(d.list[0].node, "api.1");
    json_t *back = dist_details_to_json(&d);
    char *text = json_dumps(back, JSON_COMPACT);
    struct dist_details again;
    assert_int_equal(dist_details_parse(&again, text, strlen(text), err, sizeof err), 0);
    assert_int_equal(again.list[0].status, 500);
    free(text);
    json_decref(back);
    dist_details_free(&again);
    dist_details_free(&d);
    const struct {
        const char *body, *needle;
    } bad_det[] = {
        {"{\"details\": []}", "task_id:"},
        {"{\"task_id\": \"t\", \"details\": {}}", "details:"},
        {"{\"task_id\": \"t\", \"details\": [1]}", "details[0]"},
        {"{\"task_id\": \"t\", \"details\": [{\"at_us\": -1, \"ok\": true, \"status\": 200, "
         "\"class\": \"ok\", \"latency_us\": 1}]}", "details[0].at_us"},
        {"{\"task_id\": \"t\", \"details\": [{\"at_us\": 1, \"ok\": 1, \"status\": 200, "
         "\"class\": \"ok\", \"latency_us\": 1}]}", "details[0].ok"},
        {"{\"task_id\": \"t\", \"details\": [{\"at_us\": 1, \"ok\": true, \"status\": 1000, "
         "\"class\": \"ok\", \"latency_us\": 1}]}", "details[0].status"},
        {"{\"task_id\": \"t\", \"details\": [{\"at_us\": 1, \"ok\": true, \"status\": 200, "
         "\"class\": \"\", \"latency_us\": 1}]}", "details[0].class"},
        {"{\"task_id\": \"t\", \"details\": [{\"at_us\": 1, \"ok\": true, \"status\": 200, "
         "\"class\": \"ok\", \"latency_us\": 1, \"node\": \"a\\nb\"}]}", "details[0].node"},
        {"{\"task_id\": \"t\", \"details\": [{\"at_us\": 1, \"ok\": true, \"status\": 200, "
         "\"class\": \"ok\", \"latency_us\": 1, \"url\": \"/\"}]}", "unknown field 'url'"},
    };
    for (size_t i = 0; i < sizeof bad_det / sizeof bad_det[0]; i++) {
        assert_int_equal(dist_details_parse(&d, bad_det[i].body, strlen(bad_det[i].body), err,
                                            sizeof err), -1);
        assert_null(d.list);
        if (!strstr(err, bad_det[i].needle))
            fail_msg("%s: '%s' does not name '%s'", bad_det[i].body, err, bad_det[i].needle);
    }
}

int unit_dist(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_even_and_cores),
        cmocka_unit_test(test_split_zero_shares),
        cmocka_unit_test(test_split_property),
        cmocka_unit_test(test_split_reassign),
        cmocka_unit_test(test_interval_round_trip),
        cmocka_unit_test(test_interval_bad_inputs),
        cmocka_unit_test(test_interval_from_result),
        cmocka_unit_test(test_merge_histograms_exact),
        cmocka_unit_test(test_merge_thresholds_on_merged),
        cmocka_unit_test(test_master_metrics_render),
        cmocka_unit_test(test_merge_group_timelines),
        cmocka_unit_test(test_task_forms),
        cmocka_unit_test(test_task_bad_input),
        cmocka_unit_test(test_task_headers_reach_the_worker),
        cmocka_unit_test(test_task_allow_targets),
        cmocka_unit_test(test_protocol_bodies),
    };
    return cmocka_run_group_tests_name("dist", tests, NULL, NULL);
}
