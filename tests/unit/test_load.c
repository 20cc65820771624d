/* test_load.c -- the load engine's pure parts: the schedule, coordinated-omission corrected
 * recording, balancers, thresholds, outcome classes, bench options. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "http/client.h"
#include "load/engine.h"
#include "load/options.h"
#include "load/stats.h"
#include "load/threshold.h"
#include "../support/harness.h"
#include "unit.h"

static uint64_t count_at_or_above(const struct hist *h, uint64_t value_us)
{
    uint64_t n = 0;
    for (size_t i = hist_index_of(value_us); i < HIST_COUNTS_LEN; i++)
        n += h->counts[i];
    return n;
}

/* A server that answers in 100 us, stalled from 5 s to 6 s; one connection sending on the
 * schedule of 1000 requests/s for 10 s, each request when both its time has come and the
 * previous answer is in (as wrk2 and herd's open model do). Corrected latency counts from
 * the intended time: the requests that should have gone out during the stall waited, so
 * about 5.5% of samples are above 500 ms. Uncorrected latency counts from the actual send:
 * only the one request caught in the stall shows it. */
static void test_coordinated_omission_correction(void **state)
{
    (void)state;
    struct load_stats s;
    assert_int_equal(load_stats_init(&s), 0);
    const double rate = 1000;
    const uint64_t service = 100000, stall_from = 5000000000ull, stall_to = 6000000000ull;
    uint64_t free_at = 0; /* when the connection can send again */
    const uint64_t n = 10000;
    for (uint64_t g = 0; g < n; g++) {
        uint64_t intended = load_schedule_ns(g, rate, 0);
        uint64_t sent = intended > free_at ? intended : free_at;
        uint64_t start = sent;
        if (start >= stall_from && start < stall_to)
            start = stall_to; /* the server does nothing during the stall */
        uint64_t done = start + service;
        free_at = done;
        struct load_sample smp = {.cls = COUNTER_OK, .status = 200, .answered = true, .timed = true,
                                  .latency_us = (done - intended) / 1000,
                                  .uncorrected_us = (done - sent) / 1000};
        load_stats_record(&s, NULL, -1, &smp);
    }
    assert_int_equal(s.latency->total, n);
    uint64_t corrected_slow = count_at_or_above(s.latency, 500000);
    uint64_t uncorrected_slow = count_at_or_above(s.uncorrected, 500000);
    /* requests intended in [5 s, 5 s + 0.5/0.9 s) wait more than 500 ms: 555 or 556 of them */
    assert_in_range(corrected_slow, 550, 560);
    assert_true(hist_percentile(s.latency, 99) >= 500000);
    assert_int_equal(uncorrected_slow, 1);
    assert_true(hist_percentile(s.uncorrected, 99) < 1000);
    load_stats_free(&s);
}

static void test_schedule(void **state)
{
    (void)state;
    assert_int_equal(load_schedule_ns(0, 1000, 0), 0);
    assert_int_equal(load_schedule_ns(1, 1000, 0), 1000000);
    assert_int_equal(load_schedule_ns(20000, 20000, 0), 1000000000ull);
    /* how many a schedule holds before its end: exactly rate x duration, ramp-up included */
    assert_int_equal(load_schedule_count(200, 0, 2000000000ull), 400);
    assert_int_equal(load_schedule_count(200, 2000000000ull, 3000000000ull), 400);
    assert_int_equal(load_schedule_count(333, 0, 1500000000ull), 500);
    assert_int_equal(load_schedule_count(0.5, 0, 1000000000ull), 1);
    /* ramp-up over 2 s to 100/s: 100 requests during the ramp, then 100/s */
    uint64_t ramp = 2000000000ull;
    assert_int_equal(load_schedule_ns(0, 100, ramp), 0);
    assert_true(load_schedule_ns(99, 100, ramp) < ramp);
    assert_true(load_schedule_ns(100, 100, ramp) >= ramp - 1);
    assert_int_equal(load_schedule_ns(200, 100, ramp), 3000000000ull);
    /* during the ramp the gaps shrink */
    uint64_t g1 = load_schedule_ns(11, 100, ramp) - load_schedule_ns(10, 100, ramp);
    uint64_t g2 = load_schedule_ns(91, 100, ramp) - load_schedule_ns(90, 100, ramp);
    assert_true(g1 > g2);
}

static void test_thresholds(void **state)
{
    (void)state;
    struct threshold t;
    char err[ERR_SIZE];
    struct load_summary s = {.requests = 1000, .failures = 2, .error_rate = 0.002, .rps = 1500,
                             .p99 = 19.5, .p999 = 40, .max = 50, .mean = 3};
    assert_int_equal(threshold_parse("p99<20ms", &t, err, sizeof err), 0);
    assert_true(threshold_check(&t, &s));
    assert_int_equal(threshold_parse("p99<19ms", &t, err, sizeof err), 0);
    assert_false(threshold_check(&t, &s));
    assert_int_equal(threshold_parse("p99.9<=0.04s", &t, err, sizeof err), 0);
    assert_true(threshold_check(&t, &s));
    assert_int_equal(threshold_parse("errors<0.1%", &t, err, sizeof err), 0);
    assert_false(threshold_check(&t, &s));
    assert_true(fabs(threshold_actual(&t, &s) - 0.002) < 1e-12);
    assert_int_equal(threshold_parse("errors<0.01", &t, err, sizeof err), 0);
    assert_true(threshold_check(&t, &s));
    assert_int_equal(threshold_parse("rps>1000", &t, err, sizeof err), 0);
    assert_true(threshold_check(&t, &s));
    assert_int_equal(threshold_parse("max < 49ms", &t, err, sizeof err), 0);
    assert_false(threshold_check(&t, &s));
    assert_int_equal(threshold_parse("max<0.049", &t, err, sizeof err), 0); /* bare: seconds */
    assert_false(threshold_check(&t, &s));
    assert_int_equal(threshold_parse("max<1", &t, err, sizeof err), 0);
    assert_true(threshold_check(&t, &s));
    assert_int_equal(threshold_parse("p99.9<1m30s", &t, err, sizeof err), 0);
    assert_true(fabs(t.value - 90000) < 1e-9);
    assert_int_equal(threshold_parse("failures==2", &t, err, sizeof err), 0);
    assert_true(threshold_check(&t, &s));
    assert_int_equal(threshold_parse("failures==3", &t, err, sizeof err), 0);
    assert_false(threshold_check(&t, &s));
    assert_int_equal(threshold_parse("failures<=2", &t, err, sizeof err), 0);
    assert_true(threshold_check(&t, &s));
    assert_int_equal(threshold_parse("p98<1ms", &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown metric"));
    /* a bad one shows a working threshold on its own metric */
    assert_int_equal(threshold_parse("p99=1ms", &t, err, sizeof err), -1);
    assert_string_equal(err, "'p99=1ms': expected METRIC OP VALUE such as p99<20ms (OP "
                             "one of < <= > >= ==)");
    assert_int_equal(threshold_parse("p99<fast", &t, err, sizeof err), -1);
    assert_int_equal(threshold_parse("p99<3min", &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "such as p99<20ms"));
    assert_int_equal(threshold_parse("errors<200%", &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "such as errors<0.1%"));
    assert_int_equal(threshold_parse("rps>10k", &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "such as rps>1000"));
    assert_int_equal(threshold_parse("failures<=1.5", &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "such as failures<=10"));
    assert_int_equal(threshold_parse("requests>=-1", &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "such as requests>=1000"));
    assert_int_equal(threshold_parse("rps>1e3", &t, err, sizeof err), -1); /* decimal only */
    assert_int_equal(threshold_parse("errors<=0.5", &t, err, sizeof err), 0); /* a fraction */
    assert_true(fabs(t.value - 0.5) < 1e-12);
}

static void test_classify(void **state)
{
    (void)state;
    assert_int_equal(load_classify(HTTP_CLIENT_OK, 200), COUNTER_OK);
    assert_int_equal(load_classify(HTTP_CLIENT_OK, 302), COUNTER_OK);
    assert_int_equal(load_classify(HTTP_CLIENT_OK, 404), COUNTER_STATUS_4XX);
    assert_int_equal(load_classify(HTTP_CLIENT_OK, 503), COUNTER_STATUS_5XX);
    assert_int_equal(load_classify(HTTP_CLIENT_ECONNECT, 0), COUNTER_CONNECT);
    assert_int_equal(load_classify(HTTP_CLIENT_ETIMEOUT, 0), COUNTER_TIMEOUT);
    assert_int_equal(load_classify(HTTP_CLIENT_ERESET, 0), COUNTER_RESET);
    assert_int_equal(load_classify(HTTP_CLIENT_EPROTOCOL, 0), COUNTER_READ);
    assert_int_equal(load_classify(HTTP_CLIENT_EWRITE, 0), COUNTER_WRITE);
}

static void test_request_format(void **state)
{
    (void)state;
    struct url u;
    char err[ERR_SIZE];
    size_t len;
    assert_int_equal(url_parse(&u, "http://[::1]:9091/kv/a?x=1", err, sizeof err), 0);
    char *hdrs[] = {"X-Test: 1"};
    char *r = load_format_request(&u, "PUT", hdrs, 1, "abc", 3, false, &len);
    assert_string_equal(r, "PUT /kv/a?x=1 HTTP/1.1\r\nHost: [::1]:9091\r\nUser-Agent: herd/" HERD_VERSION
                           "\r\nX-Test: 1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
    assert_int_equal(len, strlen(r));
    free(r);
    char *own_host[] = {"Host: example.test"};
    r = load_format_request(&u, "GET", own_host, 1, NULL, 0, true, &len);
    assert_null(strstr(r, "Host: [::1]"));
    assert_non_null(strstr(r, "Host: example.test\r\n"));
    assert_null(strstr(r, "Content-Length"));
    free(r);
}

static void test_options_config(void **state)
{
    (void)state;
    char err[ERR_SIZE];
    struct bench_options o;
    char *path = harness_temp_file(".yaml", "protocol: http\n"
                                            "concurrency: 20\n"
                                            "requests: 500\n"
                                            "timeout: 2s\n"
                                            "url: http://127.0.0.1:8080/users\n"
                                            "method: POST\n"
                                            "headers:\n"
                                            "  Content-Type: application/json\n"
                                            "body: '{\"test\":\"data\"}'\n"
                                            "advanced:\n"
                                            "  enable_breaker: true\n"
                                            "  max_failures: 100\n"
                                            "  ramp_up: 1s\n");
    bench_options_default(&o);
    assert_int_equal(bench_options_load(&o, path, err, sizeof err), 0);
    assert_int_equal(o.connections, 20);
    assert_int_equal(o.requests, 500);
    assert_int_equal(o.timeout_ms, 2000);
    assert_string_equal(o.method, "POST");
    assert_string_equal(o.headers[0], "Content-Type: application/json");
    assert_string_equal(o.body, "{\"test\":\"data\"}");
    assert_int_equal(o.max_failures, 100);
    assert_int_equal(o.ramp_up_us, 1000000);
    struct load_plan plan;
    assert_int_equal(bench_options_plan(&o, 2, &plan, err, sizeof err), 0);
    assert_int_equal(plan.threads, 2);
    assert_non_null(strstr(plan.targets[0].request, "POST /users HTTP/1.1\r\n"));
    bench_plan_free(&plan);
    bench_options_free(&o);
    unlink(path);
    free(path);

    static const struct {
        const char *text, *fragment;
    } bad[] = {
        {"concurrency: 0\n", ":1:14: concurrency: '0': expected a whole number from 1 to"},
        {"url: ftp://x\n", ":1:6: url: URL 'ftp://x': expected it to start with http://"},
        {"urls: http://a\n", ":1:7: urls: found a scalar, expected a list"},
        {"protocol: grpc\n", ":1:11: protocol: 'grpc' is not supported"},
        {"lb: fastest\n", ":1:5: lb: 'fastest' is not a balancer"},
        {"advanced:\n  breaker: on\n", ":2:3: advanced.breaker: unknown key 'breaker'"},
        {"advanced:\n  enable_breaker: yes\n", "needs advanced.max_failures"},
        {"thresholds: [p99<fast]\n", ":1:14: thresholds[0]: 'p99<fast': expected METRIC OP VALUE such as p99<20ms"},
        {"headers:\n  Bad Name: 1\n", ":2:13: headers.Bad Name: header 'Bad Name: 1'"},
        {"concurency: 5\n", ":1:1: concurency: unknown key 'concurency'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        path = harness_temp_file(".yaml", bad[i].text);
        bench_options_default(&o);
        int rc = bench_options_load(&o, path, err, sizeof err);
        bench_options_free(&o);
        unlink(path);
        free(path);
        if (rc != -1 || !strstr(err, bad[i].fragment))
            fail_msg("case %zu: rc %d, '%s' lacks '%s'", i, rc, err, bad[i].fragment);
    }
}

int unit_load(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coordinated_omission_correction),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_thresholds),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_request_format),
        cmocka_unit_test(test_options_config),
    };
    return cmocka_run_group_tests_name("load", tests, NULL, NULL);
}
