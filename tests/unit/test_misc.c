/* test_misc.c -- base helpers and the node's KV store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mtime.h"
#include "node/kv.h"
#include "unit.h"

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
    assert_int_equal(mtime_parse_duration_us("40", &us), 0);
    assert_int_equal(us, 40000);
    assert_int_equal(mtime_parse_duration_us("7us", &us), 0);
    assert_int_equal(us, 7);
    assert_int_equal(mtime_parse_duration_us("5 s", &us), -1);
    assert_int_equal(mtime_parse_duration_us("-1s", &us), -1);
    assert_int_equal(mtime_parse_duration_us("s", &us), -1);
    assert_int_equal(mtime_parse_duration_us("", &us), -1);
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
    assert_int_equal(kv_init(&kv), 0);
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
    kv_free(&kv);
}

int unit_misc(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_log_levels),
        cmocka_unit_test(test_kv),
    };
    return cmocka_run_group_tests_name("misc", tests, NULL, NULL);
}
