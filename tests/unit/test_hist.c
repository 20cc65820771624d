/* test_hist.c -- the log-linear histogram: accuracy, merge, encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <resolv.h>

#include "stats/counters.h"
#include "stats/hist.h"
#include "unit.h"

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t next_random(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Log-uniform from 1 us to 10 s: every bucket range gets exercised. */
static uint64_t random_latency(void)
{
    double u = (double)(next_random() >> 11) / 9007199254740992.0;
    return (uint64_t)exp(u * log(10e6));
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_index_mapping(void **state)
{
    (void)state;
    for (uint64_t v = 0; v < 5000; v++) {
        size_t i = hist_index_of(v);
        assert_true(hist_lowest_of(i) <= v);
        assert_true(v < hist_lowest_of(i) + hist_width_of(i));
    }
    for (int k = 0; k < 100000; k++) {
        uint64_t v = next_random() % HIST_MAX_VALUE;
        size_t i = hist_index_of(v);
        assert_true(i < HIST_COUNTS_LEN);
        assert_true(hist_lowest_of(i) <= v && v < hist_lowest_of(i) + hist_width_of(i));
        if (v >= 2048) /* three significant digits: a bucket is at most 1/1024 of its value */
            assert_true((double)hist_width_of(i) / (double)hist_lowest_of(i) <= 1.0 / 1024 + 1e-12);
    }
    assert_true(hist_index_of(HIST_MAX_VALUE) < HIST_COUNTS_LEN);
}

/* Counts below bounds that are bucket starts are exact: equal to counting the raw values. */
static void test_count_below_exact(void **state)
{
    (void)state;
    enum { N = 200000, BOUNDS = 19 };
    struct hist *h = hist_new();
    uint64_t *values = malloc(N * sizeof *values);
    uint64_t bounds[BOUNDS], below[BOUNDS];
    for (int k = 0; k < BOUNDS; k++)
        bounds[k] = UINT64_C(125) << k; /* 125 us .. 32.768 s: the master's /metrics bounds */
    for (size_t i = 0; i < N; i++) {
        /* every third value sits on a bound or just below it: the edges are where it matters */
        uint64_t b = bounds[next_random() % BOUNDS];
        values[i] = i % 3 == 0 ? b - next_random() % 2 : random_latency();
        hist_record(h, values[i]);
    }
    assert_int_equal(hist_count_below(h, bounds, BOUNDS, below), 0);
    for (int k = 0; k < BOUNDS; k++) {
        uint64_t exact = 0;
        for (size_t i = 0; i < N; i++)
            exact += values[i] < bounds[k];
        assert_int_equal(below[k], exact);
    }
    /* a bound inside a bucket (25 ms: buckets are 16 us wide there, 25000 is not a start), out
     * of order, or past the largest value is refused */
    uint64_t inside[] = {1000, 25000}, unordered[] = {2000, 1000}, past[] = {HIST_MAX_VALUE + 1};
    assert_int_equal(hist_count_below(h, inside, 2, below), -1);
    assert_int_equal(hist_count_below(h, unordered, 2, below), -1);
    assert_int_equal(hist_count_below(h, past, 1, below), -1);
    free(values);
    hist_free(h);
}

static void test_percentiles_million_samples(void **state)
{
    (void)state;
    const size_t n = 1000000;
    uint64_t *values = malloc(n * sizeof *values);
    struct hist *h = hist_new();
    assert_non_null(values);
    assert_non_null(h);
    for (size_t i = 0; i < n; i++) {
        values[i] = random_latency();
        hist_record(h, values[i]);
    }
    qsort(values, n, sizeof *values, cmp_u64);
    static const double ps[] = {1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99};
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        size_t rank = (size_t)ceil(ps[k] / 100.0 * (double)n);
        uint64_t exact = values[rank - 1];
        uint64_t got = hist_percentile(h, ps[k]);
        double rel = fabs((double)got - (double)exact) / (double)exact;
        if (exact >= 1000) /* below 1 ms the 1 us unit itself dominates; checked separately */
            assert_true(rel <= 0.001);
        else
            assert_true(llabs((long long)got - (long long)exact) <= 1);
    }
    assert_int_equal(hist_percentile(h, 100), values[n - 1]);
    assert_int_equal(hist_percentile(h, 0), values[0]);
    assert_int_equal(h->total, n);
    free(values);
    hist_free(h);
}

static void test_merge_equals_whole(void **state)
{
    (void)state;
    struct hist *whole = hist_new(), *parts[4], *merged = hist_new();
    for (int i = 0; i < 4; i++)
        parts[i] = hist_new();
    for (int i = 0; i < 200000; i++) {
        uint64_t v = random_latency();
        hist_record(whole, v);
        hist_record(parts[i % 4], v);
    }
    for (int i = 0; i < 4; i++)
        hist_merge(merged, parts[i]);
    assert_int_equal(merged->total, whole->total);
    assert_int_equal(merged->min, whole->min);
    assert_int_equal(merged->max, whole->max);
    assert_int_equal(merged->sum, whole->sum);
    assert_memory_equal(merged->counts, whole->counts, sizeof whole->counts);
    assert_int_equal(hist_percentile(merged, 99.9), hist_percentile(whole, 99.9));
    for (int i = 0; i < 4; i++)
        hist_free(parts[i]);
    hist_free(whole);
    hist_free(merged);
}

static void test_encode_roundtrip(void **state)
{
    (void)state;
    struct hist *h = hist_new(), *back = hist_new();
    char err[256];
    /* empty */
    char *text = hist_encode(h);
    assert_non_null(text);
    assert_int_equal(hist_decode(back, text, err, sizeof err), 0);
    assert_int_equal(back->total, 0);
    free(text);
    for (int i = 0; i < 50000; i++)
        hist_record(h, random_latency());
    hist_record(h, HIST_MAX_VALUE + 5); /* clamped */
    text = hist_encode(h);
    assert_non_null(text);
    assert_true(strlen(text) < 40000); /* run-length: far smaller than 23552 raw counts */
    assert_int_equal(hist_decode(back, text, err, sizeof err), 0);
    assert_int_equal(back->total, h->total);
    assert_int_equal(back->min, h->min);
    assert_int_equal(back->max, h->max);
    assert_int_equal(back->sum, h->sum);
    assert_int_equal(back->clamped, 1);
    assert_memory_equal(back->counts, h->counts, sizeof h->counts);
    /* corruptions are rejected with a message, and leave an empty histogram */
    assert_int_equal(hist_decode(back, "not base64!", err, sizeof err), -1);
    assert_non_null(strstr(err, "histogram"));
    assert_int_equal(back->total, 0);
    text[strlen(text) / 2] = '\0';
    size_t cut = strlen(text) & ~(size_t)3;
    text[cut] = '\0';
    assert_int_equal(hist_decode(back, text, err, sizeof err), -1);
    free(text);
    hist_free(h);
    hist_free(back);
}

/* The varints of words, base64-encoded as hist_encode writes them: a crafted encoding. Returns
 * a static string. */
static const char *crafted(const uint64_t *words, size_t n)
{
    static char text[512];
    unsigned char raw[256];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t v = words[i];
        do {
            raw[len] = (unsigned char)((v & 0x7f) | (v >> 7 ? 0x80 : 0));
            v >>= 7;
            len++;
        } while (v);
    }
    assert_true(b64_ntop(raw, len, text, sizeof text) > 0);
    return text;
}

/* Crafted encodings are refused with a message, without overflowing anything on the way
 * (a run of 2^63 empty buckets was a negation of INT64_MIN) and leave an empty histogram. */
static void test_decode_crafted(void **state)
{
    (void)state;
    const uint64_t I63 = UINT64_C(0x7fffffffffffffff);
    const struct {
        uint64_t words[12];
        size_t n;
        const char *message;
    } cases[] = {
        /* header: version, total, min, max, sum, clamped; then zigzag counts */
        {{1, 0, 0, 0, 0, 0, UINT64_MAX}, 7, "past the last bucket"},
        {{1, 0, 0, 0, 0, 0, UINT64_MAX - 2}, 7, "past the last bucket"},
        {{1, 0, 0, 0, 0, 0, 2 * (uint64_t)HIST_COUNTS_LEN + 1}, 7, "past the last bucket"},
        /* counts that wrap around to the header's total */
        {{1, 0, 0, 0, 0, 0, 2 * I63, 2 * I63, 4}, 9, "more than 2^64"},
        /* min and max not where the counts are */
        {{1, 1, 5, 5, 5, 0, 2 * 1000 - 1, 2}, 8, "min/max"},
        {{1, 2, 5, 900, 905, 0, 2 * 5 - 1, 2, 2}, 9, "min/max"},
        /* an empty histogram with a max, more clamped values than values */
        {{1, 0, 0, 7, 0, 0}, 6, "empty histogram"},
        {{1, 1, 5, 5, 5, 2, 2 * 5 - 1, 2}, 8, "clamped"},
        {{1, 2, 5, 5, 10, 0, 2 * 5 - 1, 2}, 8, "add up to 1, header says 2"},
        {{2}, 1, "version"},
        {{1, 0, 0}, 3, "truncated header"},
    };
    struct hist *h = hist_new();
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hist_record(h, 42);
        err[0] = '\0';
        if (hist_decode(h, crafted(cases[i].words, cases[i].n), err, sizeof err) != -1 ||
            !strstr(err, cases[i].message))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].message);
        assert_int_equal(h->total, 0);
        assert_int_equal(h->counts[hist_index_of(42)], 0);
    }
    /* a tenth varint byte holds only bit 63: more is an overlong number */
    assert_int_equal(hist_decode(h, "AQAAAAAA/////////////wE=", err, sizeof err), -1);
    assert_non_null(strstr(err, "overlong"));
    /* the same shapes, consistent, decode */
    const uint64_t good[] = {1, 2, 5, 900, 905, 0, 2 * 5 - 1, 2, 2 * (900 - 6) - 1, 2};
    assert_int_equal(hist_decode(h, crafted(good, 10), err, sizeof err), 0);
    assert_int_equal(h->total, 2);
    assert_int_equal(hist_percentile(h, 100), 900);
    hist_free(h);
}

static void test_empty_and_clamp(void **state)
{
    (void)state;
    struct hist *h = hist_new();
    assert_int_equal(hist_percentile(h, 99), 0);
    assert_true(hist_mean(h) == 0.0);
    hist_record(h, 7200000000ULL);
    assert_int_equal(h->clamped, 1);
    assert_int_equal(hist_percentile(h, 50), HIST_MAX_VALUE);
    hist_record_n(h, 10, 3);
    assert_int_equal(h->total, 4);
    assert_int_equal(hist_percentile(h, 50), 10);
    hist_free(h);
}

static void test_counters(void **state)
{
    (void)state;
    struct counters a = {0}, b = {0};
    counters_add(&a, COUNTER_OK);
    counters_add(&a, COUNTER_TIMEOUT);
    counters_add(&b, COUNTER_STATUS_5XX);
    b.bytes_in = 10;
    counters_merge(&a, &b);
    assert_int_equal(a.requests, 3);
    assert_int_equal(counters_failures(&a), 2);
    assert_int_equal(a.bytes_in, 10);
    assert_string_equal(counter_class_name(COUNTER_STATUS_5XX), "5xx");
}

int unit_hist(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_mapping),
        cmocka_unit_test(test_count_below_exact),
        cmocka_unit_test(test_percentiles_million_samples),
        cmocka_unit_test(test_merge_equals_whole),
        cmocka_unit_test(test_encode_roundtrip),
        cmocka_unit_test(test_decode_crafted),
        cmocka_unit_test(test_empty_and_clamp),
        cmocka_unit_test(test_counters),
    };
    return cmocka_run_group_tests_name("hist", tests, NULL, NULL);
}
