/* test_misc.c -- base helpers, the node's KV store and its apply log, reading a replication
 * peer's answer, the node's fault knobs, and when the supervisor's checks run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mtime.h"
#include "base/quantity.h"
#include "base/size.h"
#include "cluster/supervisor.h"
#include "http/prom.h"
#include "node/kv.h"
#include "node/kv_log.h"
#include "node/node.h"
#include "node/repl.h"
#include "unit.h"

/* Prometheus text: label values escape \, " and newline, and are cut before an escape that
 * would not fit; HELP text escapes \ and newline. */
static void test_prom_text(void **state)
{
    (void)state;
    char out[64];
    prom_label_escape("a\"b\\c\nd", out, sizeof out);
    assert_string_equal(out, "a\\\"b\\\\c\\nd");
    prom_label_escape("\"\"\"", out, 7); /* 2 * 3 + 1 */
    assert_string_equal(out, "\\\"\\\"\\\"");
    prom_label_escape("\"\"\"", out, 6);
    assert_string_equal(out, "\\\"\\\"");
    prom_label_escape("plain", out, sizeof out);
    assert_string_equal(out, "plain");
    struct buf b = {0};
    assert_int_equal(prom_family(&b, "x_total", "counter", "a \\ b\nc"), 0);
    assert_string_equal(b.data, "# HELP x_total a \\\\ b\\nc\n# TYPE x_total counter\n");
    buf_free(&b);
}

static void test_durations(void **state)
{
    (void)state;
    uint64_t us;
    assert_int_equal(mtime_parse_duration_us("250ms", &us), 0);
    assert_int_equal(us, 250000);
    assert_int_equal(mtime_parse_duration_us("1.5s", &us), 0);
    assert_int_equal(us, 1500000);
    assert_int_equal(mtime_parse_duration_us("2m", &us), 0);
    assert_int_equal(us, 120000000);
    assert_int_equal(mtime_parse_duration_us("40", &us), 0); /* a bare number: seconds */
    assert_int_equal(us, 40000000);
    assert_int_equal(mtime_parse_duration_us("0.5", &us), 0);
    assert_int_equal(us, 500000);
    assert_int_equal(mtime_parse_duration_us("1m30s", &us), 0);
    assert_int_equal(us, 90000000);
    assert_int_equal(mtime_parse_duration_us("1h2m3s4ms", &us), 0);
    assert_int_equal(us, 3723004000ULL);
    assert_int_equal(mtime_parse_duration_us("1m30", &us), -1); /* a unit after the first */
    assert_int_equal(mtime_parse_duration_us("2d", &us), -1);
    assert_int_equal(mtime_parse_duration_us("7us", &us), 0);
    assert_int_equal(us, 7);
    assert_int_equal(mtime_parse_duration_us("5 s", &us), -1);
    assert_int_equal(mtime_parse_duration_us("-1s", &us), -1);
    assert_int_equal(mtime_parse_duration_us("s", &us), -1);
    assert_int_equal(mtime_parse_duration_us("", &us), -1);
    /* decimal numbers only: strtod's exponents and hex are not durations (fuzz: "4e-9" was 0 s,
     * "0x10s" 16 s) */
    static const char *const not_durations[] = {"4e-9", "1e3",  "1e3ms", "1.5e3s", "0x10s",
                                                "0x1p4", "1..5s", ".",     ".s",     "1.2.3s",
                                                "+1s",   "1s ",   "9999999999999999h"};
    for (size_t i = 0; i < sizeof not_durations / sizeof not_durations[0]; i++)
        if (mtime_parse_duration_us(not_durations[i], &us) != -1)
            fail_msg("'%s' read as %llu us", not_durations[i], (unsigned long long)us);
    assert_int_equal(mtime_parse_duration_us(".5s", &us), 0);
    assert_int_equal(us, 500000);
    assert_int_equal(mtime_parse_duration_us("2.", &us), 0);
    assert_int_equal(us, 2000000);
    assert_int_equal(mtime_parse_duration_us("0001.250ms", &us), 0);
    assert_int_equal(us, 1250);
}

static void test_sizes(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t bytes;
    } good[] = {{"65536", 65536},      {"0", 0},           {"512B", 512},
                {"64KB", 65536},       {"64KiB", 65536},   {"1.5MB", 1572864},
                {"1GB", 1073741824},   {"2GiB", 2147483648ULL}, {"0.5KB", 512},
                {".5MB", 524288},      {"2.", 2},          {"007KB", 7168},
                {"1024GB", 1ULL << 40}, {"1048576GB", 1ULL << 50}};
    uint64_t v;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (size_parse_bytes(good[i].text, &v) != 0) fail_msg("'%s' refused", good[i].text);
        if (v != good[i].bytes)
            fail_msg("'%s' read as %llu, not %llu", good[i].text, (unsigned long long)v,
                     (unsigned long long)good[i].bytes);
    }
    static const char *const bad[] = {"",     "KB",    ".",        "1.5B",   "0.1KB", "-1",
                                      "+1",   "1e3",   "0x10",     "1 KB",   "1KB ",  "1kb",
                                      "1TB",  "1K",    "1.2.3MB",  "1..5MB", "1048577GB",
                                      "1.0000000001GB", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (size_parse_bytes(bad[i], &v) != -1)
            fail_msg("'%s' read as %llu bytes", bad[i], (unsigned long long)v);
}

static void test_percentages(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        double fraction;
    } good[] = {{"0.1%", 0.001}, {"50%", 0.5}, {"100%", 1}, {"0%", 0}, {".5%", 0.005},
                {"0.001", 0.001}, {"1", 1}, {"150%", 1.5}};
    double v;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (quantity_parse_percent(good[i].text, &v) != 0) fail_msg("'%s' refused", good[i].text);
        if (fabs(v - good[i].fraction) > 1e-12)
            fail_msg("'%s' read as %g, not %g", good[i].text, v, good[i].fraction);
    }
    static const char *const bad[] = {"", "%", "five%", "5 %", "5%%", "-5%", "+5%", "1e2%",
                                      "0x10%", "5x", "5%x", "nan%", "inf"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (quantity_parse_percent(bad[i], &v) != -1) fail_msg("'%s' read as %g", bad[i], v);
}

/* Every kind of quantity says what it expected the same way, with an example. */
static void test_quantity_messages(void **state)
{
    (void)state;
    char err[ERR_SIZE];
    uint64_t u;
    double d;
    assert_int_equal(quantity_read_duration("5x", 0, UINT64_MAX, &u, err, sizeof err), -1);
    assert_string_equal(err, "'5x': expected a duration such as 500ms, 2s, 1m30s");
    assert_int_equal(quantity_read_duration("0", 1000, 3600000000ULL, &u, err, sizeof err), -1);
    assert_string_equal(err, "'0': expected a duration from 1ms to 1h");
    assert_int_equal(quantity_read_duration("10", 1000, 3600000000ULL, &u, err, sizeof err), 0);
    assert_int_equal(u, 10000000); /* a bare number: seconds, as wrk's -d 10 */
    assert_int_equal(quantity_read_size("5x", 0, UINT64_MAX, &u, err, sizeof err), -1);
    assert_string_equal(err, "'5x': expected a size such as 64KB, 1MB, 1GB");
    assert_int_equal(quantity_read_size("2GB", 0, 1 << 30, &u, err, sizeof err), -1);
    assert_string_equal(err, "'2GB': expected a size from 0B to 1GB");
    assert_int_equal(quantity_read_percent("5x", 0, 1, &d, err, sizeof err), -1);
    assert_string_equal(err, "'5x': expected a percentage such as 0.1%");
    assert_int_equal(quantity_read_percent("120%", 0, 1, &d, err, sizeof err), -1);
    assert_string_equal(err, "'120%': expected a percentage from 0% to 100%");
    assert_int_equal(quantity_read_number("1e3", 0, 1e6, &d, err, sizeof err), -1);
    assert_string_equal(err, "'1e3': expected a number from 0 to 1000000");
    assert_int_equal(quantity_read_number("2.5", 0, 10, &d, err, sizeof err), 0);
    assert_true(d == 2.5);
    char text[32];
    static const struct {
        uint64_t us;
        const char *text;
    } durations[] = {{0, "0s"},           {7, "7us"},           {1500, "1.5ms"},
                     {250000, "250ms"},   {90000000, "90s"},    {120000000, "2m"},
                     {3600000000ULL, "1h"}, {365ULL * 86400000000ULL, "8760h"}};
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
        assert_string_equal(quantity_format_duration(durations[i].us, text, sizeof text),
                            durations[i].text);
        /* what it writes reads back as the same duration */
        assert_int_equal(mtime_parse_duration_us(text, &u), 0);
        assert_int_equal(u, durations[i].us);
    }
    /* exact compounds, for configs written back: every value reads back as itself (the
     * rounded form above would write 1234567 us as 1234.57ms) */
    static const struct {
        uint64_t us;
        const char *text;
    } exact[] = {{0, "0s"},         {10000000, "10s"}, {90000000, "1m30s"},
                 {1234567, "1s234ms567us"}, {3600000005ULL, "1h5us"}, {1500, "1ms500us"}};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        assert_string_equal(quantity_format_duration_exact(exact[i].us, text, sizeof text),
                            exact[i].text);
    srand(7);
    for (int i = 0; i < 10000; i++) {
        uint64_t us = ((uint64_t)rand() << 20 ^ (uint64_t)rand()) % (400ULL * 86400000000ULL);
        assert_int_equal(mtime_parse_duration_us(quantity_format_duration_exact(us, text, sizeof text), &u), 0);
        assert_int_equal(u, us);
    }
    /* counts: digits only, in range, one message */
    uint64_t n;
    char cerr[128];
    assert_int_equal(quantity_read_count("65535", 0, 65535, &n, cerr, sizeof cerr), 0);
    assert_int_equal(n, 65535);
    static const char *const bad_counts[] = {"", "-1", "+1", "1.5", "1e3", " 1", "1 ", "0x10",
                                             "65536", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad_counts / sizeof bad_counts[0]; i++) {
        assert_int_equal(quantity_read_count(bad_counts[i], 0, 65535, &n, cerr, sizeof cerr), -1);
        char want[128];
        snprintf(want, sizeof want, "'%s': expected a whole number from 0 to 65535",
                 bad_counts[i]);
        assert_string_equal(cerr, want);
    }
    assert_string_equal(quantity_format_size(65536, text, sizeof text), "64KB");
    assert_string_equal(quantity_format_size(1000, text, sizeof text), "1000B");
    assert_string_equal(quantity_format_size(3ULL << 30, text, sizeof text), "3GB");
}

static void test_buf(void **state)
{
    (void)state;
    struct buf b = {0};
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%d,", i);
    assert_int_equal(b.len, strlen(b.data));
    buf_consume(&b, 4);
    assert_memory_equal(b.data, "2,3,", 4);
    buf_free(&b);
    assert_null(b.data);
}

static void test_log_levels(void **state)
{
    (void)state;
    enum log_level l;
    assert_int_equal(log_level_parse("debug", &l), 0);
    assert_int_equal(l, LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("loud", &l), -1);
}

static void test_kv(void **state)
{
    (void)state;
    struct kv_store kv;
    assert_int_equal(kv_init(&kv, "a"), 0);
    int created;
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_non_null(kv_put(&kv, key, key, strlen(key), &created));
        assert_true(created);
    }
    assert_int_equal(kv.count, 1000);
    const struct kv_entry *e = kv_put(&kv, "k5", "new", 3, &created);
    assert_false(created);
    assert_int_equal(e->seq, 1001);
    e = kv_get(&kv, "k5");
    assert_string_equal(e->value, "new");
    assert_int_equal(kv_get(&kv, "k999")->seq, 1000);
    assert_int_equal(kv_delete(&kv, "k5"), 1002);
    assert_null(kv_get(&kv, "k5"));
    assert_int_equal(kv_delete(&kv, "k5"), 0);
    assert_int_equal(kv.count, 999);
    /* the change list: k5's delete is the last change, k0 the first */
    assert_string_equal(kv_changes_since(&kv, 0)->key, "k0");
    assert_string_equal(kv_changes_since(&kv, 1001)->key, "k5");
    assert_true(kv_changes_since(&kv, 1001)->deleted);
    assert_null(kv_changes_since(&kv, 1002));
    kv_free(&kv);
}

/* A replicated change that breaks a limit is refused whole (KV_EINVAL): the store, its
 * clock and its sequence numbers stay as they were. */
static void test_kv_apply_limits(void **state)
{
    (void)state;
    struct kv_store kv;
    assert_int_equal(kv_init(&kv, "a"), 0);
    char long_key[KV_KEY_MAX + 1], long_origin[KV_ORIGIN_MAX + 1];
    memset(long_key, 'k', KV_KEY_MAX);
    long_key[KV_KEY_MAX] = '\0';
    memset(long_origin, 'o', KV_ORIGIN_MAX);
    long_origin[KV_ORIGIN_MAX] = '\0';
    char *big = calloc(1, KV_VALUE_MAX + 1);
    assert_int_equal(kv_apply(&kv, "k", "v", 1, false, 10, "b"), 1);
    assert_int_equal(kv_apply(&kv, "k", "v", 1, false, 0, "b"), KV_EINVAL);
    assert_int_equal(kv_apply(&kv, "k", "v", 1, false, INT64_MAX, "b"), KV_EINVAL);
    assert_int_equal(kv_apply(&kv, "k", "v", 1, false, KV_VERSION_MAX + 1, "b"), KV_EINVAL);
    assert_int_equal(kv_apply(&kv, "k", "v", 1, false, 10 + KV_VERSION_AHEAD + 1, "b"),
                     KV_EINVAL);
    assert_int_equal(kv_apply(&kv, "", "v", 1, false, 11, "b"), KV_EINVAL);
    assert_int_equal(kv_apply(&kv, long_key, "v", 1, false, 11, "b"), KV_EINVAL);
    assert_int_equal(kv_apply(&kv, "k", "v", 1, false, 11, ""), KV_EINVAL);
    assert_int_equal(kv_apply(&kv, "k", "v", 1, false, 11, long_origin), KV_EINVAL);
    assert_int_equal(kv_apply(&kv, "k", big, KV_VALUE_MAX + 1, false, 11, "b"), KV_EINVAL);
    assert_int_equal(kv.clock, 10);
    assert_int_equal(kv.seq, 1);
    assert_int_equal(kv.entries, 1);
    /* the limits themselves are fine: older versions, a full-size value, the furthest step */
    assert_int_equal(kv_apply(&kv, "k", "v", 1, false, 5, "b"), 0);
    long_key[KV_KEY_MAX - 1] = '\0';
    assert_int_equal(kv_apply(&kv, long_key, big, KV_VALUE_MAX, false, 11, "b"), 1);
    assert_int_equal(kv_apply(&kv, "k2", "v", 1, false, 11 + KV_VERSION_AHEAD, "b"), 1);
    assert_int_equal(kv.clock, 11 + KV_VERSION_AHEAD);
    free(big);
    kv_free(&kv);
}

/* Three stores that receive the same replicated writes in different orders agree. */
static void test_kv_replication_converges(void **state)
{
    (void)state;
    struct kv_store s[3];
    const char *names[] = {"n1", "n2", "n3"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(kv_init(&s[i], names[i]), 0);
    int created;
    /* concurrent writes of the same key on n1 and n2 (both version 1): origin breaks the tie */
    const struct kv_entry *w1 = kv_put(&s[0], "k", "one", 3, &created);
    const struct kv_entry *w2 = kv_put(&s[1], "k", "two", 3, &created);
    assert_int_equal(w1->version, 1);
    assert_int_equal(w2->version, 1);
    assert_int_equal(kv_apply(&s[2], "k", "two", 3, false, 1, "n2"), 1);
    assert_int_equal(kv_apply(&s[2], "k", "one", 3, false, 1, "n1"), 0);
    assert_int_equal(kv_apply(&s[0], "k", "two", 3, false, 1, "n2"), 1);
    assert_int_equal(kv_apply(&s[1], "k", "one", 3, false, 1, "n1"), 0);
    for (int i = 0; i < 3; i++)
        assert_string_equal(kv_get(&s[i], "k")->value, "two");
    /* the same write twice changes nothing */
    uint64_t seq = s[2].seq;
    assert_int_equal(kv_apply(&s[2], "k", "two", 3, false, 1, "n2"), 0);
    assert_int_equal(s[2].seq, seq);
    /* a write made after seeing version 1 wins everywhere, even where it arrives first */
    const struct kv_entry *w3 = kv_put(&s[2], "k", "three", 5, &created);
    assert_int_equal(w3->version, 2);
    assert_int_equal(kv_apply(&s[0], "k", "three", 5, false, 2, "n3"), 1);
    assert_string_equal(kv_get(&s[0], "k")->value, "three");
    /* a delete replicates as a tombstone and beats the older value */
    uint64_t deleted_at = kv_delete(&s[0], "k");
    assert_int_equal(deleted_at, s[0].seq);
    const struct kv_entry *t = kv_changes_since(&s[0], s[0].seq - 1);
    assert_true(t->deleted);
    assert_int_equal(t->version, 3);
    assert_int_equal(kv_apply(&s[1], "k", "", 0, true, 3, "n1"), 1);
    assert_null(kv_get(&s[1], "k"));
    assert_int_equal(s[1].count, 0);
    assert_int_equal(kv_apply(&s[1], "k", "three", 5, false, 2, "n3"), 0);
    assert_null(kv_get(&s[1], "k"));
    /* a replicated write of an unknown key that loses leaves nothing behind */
    assert_int_equal(kv_apply(&s[1], "old", "x", 1, true, 1, "n9"), 1);
    assert_null(kv_get(&s[1], "old"));
    assert_true(s[1].clock >= 3);
    for (int i = 0; i < 3; i++)
        kv_free(&s[i]);
}

/* The apply log: every change applied (local writes and deletes, replicated writes that won),
 * oldest first, stamped with the wall clock; a ring that keeps the last ones; per origin the
 * newest write applied. */
static void test_kv_apply_log(void **state)
{
    (void)state;
    struct kv_store kv;
    assert_int_equal(kv_init(&kv, "a"), 0);
    assert_int_equal(kv.log->capacity, KV_LOG_CAPACITY);
    int64_t before = mtime_wall_us();
    int created;
    assert_non_null(kv_put(&kv, "k1", "x", 1, &created));              /* seq 1, a v1 */
    assert_int_equal(kv_apply(&kv, "k2", "y", 1, false, 5, "b"), 1);   /* seq 2, b v5 */
    assert_int_equal(kv_apply(&kv, "k2", "old", 3, false, 4, "c"), 0); /* loses: not logged */
    assert_int_equal(kv_delete(&kv, "k1"), 3);                         /* seq 3, a v6 */
    int64_t after = mtime_wall_us();
    const struct kv_log *log = kv.log;
    assert_int_equal(log->count, 3);
    assert_int_equal(log->total, 3);
    const char *keys[] = {"k1", "k2", "k1"}, *origins[] = {"a", "b", "a"};
    uint64_t versions[] = {1, 5, 6};
    int64_t last = before;
    for (size_t i = 0; i < 3; i++) {
        const struct kv_log_record *r = kv_log_get(log, i);
        assert_int_equal(r->seq, i + 1);
        assert_string_equal(r->key, keys[i]);
        assert_string_equal(r->origin, origins[i]);
        assert_int_equal(r->version, versions[i]);
        assert_int_equal(r->deleted, i == 2);
        assert_true(r->applied_us >= last && r->applied_us <= after);
        last = r->applied_us;
    }
    /* the entry carries the stamp of its last change */
    assert_int_equal(kv_lookup(&kv, "k1")->applied_us, kv_log_get(log, 2)->applied_us);
    assert_true(kv_lookup(&kv, "k1")->deleted);
    assert_null(kv_lookup(&kv, "never"));
    /* per origin: the newest version applied, its seq and stamp, how many */
    const struct kv_log_origin *a = kv_log_origin(log, "a"), *b = kv_log_origin(log, "b");
    assert_int_equal(a->version, 6);
    assert_int_equal(a->seq, 3);
    assert_int_equal(a->applies, 2);
    assert_int_equal(a->applied_us, kv_log_get(log, 2)->applied_us);
    assert_int_equal(b->version, 5);
    assert_int_equal(b->applies, 1);
    assert_null(kv_log_origin(log, "c"));
    kv_free(&kv);

    /* the bound: a ring of 4 keeps the last 4, oldest first */
    struct kv_log small;
    assert_int_equal(kv_log_init(&small, 4), 0);
    struct kv_entry e = {.key = "k", .version = 0, .origin = "o"};
    for (uint64_t i = 1; i <= 10; i++) {
        e.seq = e.version = i;
        kv_log_add(&small, &e, (int64_t)i * 1000);
    }
    assert_int_equal(small.count, 4);
    assert_int_equal(small.total, 10);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(kv_log_get(&small, i)->seq, 7 + i);
        assert_int_equal(kv_log_get(&small, i)->applied_us, (int64_t)(7 + i) * 1000);
    }
    assert_int_equal(kv_log_origin(&small, "o")->version, 10);
    /* origins past the table's bound are counted, not tracked */
    for (int i = 0; i < KV_LOG_ORIGINS_MAX + 5; i++) {
        snprintf(e.origin, sizeof e.origin, "n%d", i);
        kv_log_add(&small, &e, 0);
    }
    assert_int_equal(small.origin_count, KV_LOG_ORIGINS_MAX);
    assert_int_equal(small.untracked, 6);
    assert_null(kv_log_origin(&small, "n260"));
    kv_log_free(&small);
}

/* A peer's answer: what won is applied, what is malformed is stepped over and named, a change
 * without a sane seq stops the reading there, a new epoch starts over. */
static void test_repl_apply_answer(void **state)
{
    (void)state;
    struct kv_store kv;
    assert_int_equal(kv_init(&kv, "a"), 0);
    struct repl_cursor cur = {0};
    struct repl_batch b;
    const char *answer =
        "{\"node_id\": \"b\", \"epoch\": 7, \"seq\": 4, \"changes\": ["
        "{\"seq\": 1, \"key\": \"k\", \"value\": \"dg==\", \"version\": 1, \"origin\": \"b\"},"
        "{\"seq\": 2, \"key\": \"\", \"value\": \"dg==\", \"version\": 2, \"origin\": \"b\"},"
        "{\"seq\": 3, \"key\": \"k\", \"deleted\": true, \"version\": 3, \"origin\": \"b\"},"
        "{\"seq\": 3, \"key\": \"j\", \"value\": \"dg==\", \"version\": 4, \"origin\": \"b\"}]}";
    assert_int_equal(repl_apply_answer(&kv, &cur, 200, answer, &b), -1);
    assert_int_equal(b.count, 4);
    assert_int_equal(b.applied, 2);
    assert_int_equal(b.rejected, 1);
    assert_false(b.restarted);
    assert_string_equal(b.first_rejected, "seq 2: key: 0 bytes, expected 1 to 255");
    assert_string_equal(b.why, "change 3: seq: expected a number above 3");
    assert_int_equal(cur.epoch, 7);
    assert_int_equal(cur.since, 3);
    assert_string_equal(cur.node_id, "b");
    assert_int_equal(kv.seq, 2); /* the rejected change took no sequence number */
    assert_true(kv_lookup(&kv, "k")->deleted);
    assert_null(kv_lookup(&kv, "j"));
    /* the peer restarted: read from its start, the older write loses to what is held */
    assert_int_equal(repl_apply_answer(&kv, &cur, 200,
                                       "{\"node_id\": \"b\", \"epoch\": 8, \"changes\": [{\"seq\": 1, "
                                       "\"key\": \"k\", \"value\": \"\", \"version\": 1, "
                                       "\"origin\": \"b\"}]}",
                                       &b),
                     0);
    assert_true(b.restarted);
    assert_int_equal(b.applied, 0);
    assert_int_equal(cur.since, 1);
    /* not a change list: nothing moves */
    assert_int_equal(repl_apply_answer(&kv, &cur, 503, "{}", &b), -1);
    assert_string_equal(b.why, "status 503, not a change list");
    assert_int_equal(repl_apply_answer(&kv, &cur, 200, "<html>", &b), -1);
    assert_string_equal(b.why, "status 200, not a change list");
    assert_int_equal(cur.epoch, 8);
    assert_int_equal(kv.seq, 2);
    kv_free(&kv);
}

/* POST /admin/fault: the fields given replace the current ones; a bad one changes nothing. */
static void test_node_fault_decode(void **state)
{
    (void)state;
    struct node_fault f = {.error_status = 500};
    char msg[300];
    const char *body = "{\"latency_ms\": 20, \"error_rate\": 0.5}";
    assert_int_equal(node_fault_decode(body, strlen(body), &f, msg, sizeof msg), 0);
    assert_int_equal(f.latency_ms, 20);
    assert_true(f.error_rate == 0.5);
    assert_int_equal(f.error_status, 500);
    static const char *const bad[][2] = {
        {"{\"error_status\": 503, \"latency_ms\": 60001}", "latency_ms: expected an integer"},
        {"{\"error_rate\": 1.5}", "error_rate: expected a number from 0 to 1"},
        {"{\"error_status\": 399}", "error_status: expected an integer from 400 to 599"},
        {"{\"latency\": 1}", "body: unknown field 'latency', expected latency_ms, error_rate or error_status"},
        {"[]", "body: expected a JSON object"},
        {"{", "body: invalid JSON at line 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(node_fault_decode(bad[i][0], strlen(bad[i][0]), &f, msg, sizeof msg), -1);
        assert_non_null(strstr(msg, bad[i][1]));
        assert_int_equal(f.latency_ms, 20);
        assert_int_equal(f.error_status, 500);
    }
}

/* The supervisor's periodic checks of 10,000 replicas: every 100 ms of their (10 s) interval
 * gets about its share (100) of them, never all at once; a replica keeps its phase from one
 * check to the next. Readiness checks back off from 100 ms and are spread by id too. */
static void test_supervisor_checks_spread(void **state)
{
    (void)state;
    assert_int_equal(supervisor_check_interval_ms(3), 1000);
    assert_int_equal(supervisor_check_interval_ms(1000), 1000);
    assert_int_equal(supervisor_check_interval_ms(10000), 10000);
    const uint64_t interval = supervisor_check_interval_ms(10000), now = 123456789;
    int per_100ms[100] = {0};
    for (int i = 1; i <= 10000; i++) {
        char id[32];
        snprintf(id, sizeof id, "api.%d", i);
        uint64_t delay = supervisor_check_delay_ms(id, now, interval);
        assert_in_range(delay, 1, interval);
        assert_int_equal(supervisor_check_delay_ms(id, now + delay, interval), interval);
        per_100ms[delay * 100 / (interval + 1)]++;
    }
    for (int b = 0; b < 100; b++)
        if (per_100ms[b] < 50 || per_100ms[b] > 200)
            fail_msg("%d of 10000 checks fall in the 100 ms from %d ms (expected 50 to 200)",
                     per_100ms[b], b * 100);
    int first[5] = {0}; /* the first readiness checks of 10,000 replicas started together */
    for (int i = 1; i <= 10000; i++) {
        char id[32];
        snprintf(id, sizeof id, "api.%d", i);
        uint64_t delay = supervisor_ready_delay_ms(id, 0, 10000);
        assert_in_range(delay, 75, 125);
        first[(delay - 75) * 5 / 51]++;
    }
    for (int b = 0; b < 5; b++)
        assert_in_range(first[b], 1000, 3000);
    /* backing off up to 1 s with a few replicas, to 5 s with 10,000 (2,000 checks a second) */
    assert_in_range(supervisor_ready_delay_ms("api.1", 40, 3), 750, 1250);
    assert_in_range(supervisor_ready_delay_ms("api.1", 40, 10000), 3750, 6250);
    assert_true(supervisor_ready_delay_ms("api.1", 3, 3) > supervisor_ready_delay_ms("api.1", 0, 3));
}

int unit_misc(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prom_text),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_percentages),
        cmocka_unit_test(test_quantity_messages),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_log_levels),
        cmocka_unit_test(test_kv),
        cmocka_unit_test(test_kv_replication_converges),
        cmocka_unit_test(test_kv_apply_limits),
        cmocka_unit_test(test_kv_apply_log),
        cmocka_unit_test(test_repl_apply_answer),
        cmocka_unit_test(test_node_fault_decode),
        cmocka_unit_test(test_supervisor_checks_spread),
    };
    return cmocka_run_group_tests_name("misc", tests, NULL, NULL);
}
