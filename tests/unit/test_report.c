/* test_report.c -- the report renderers and `herd report --compare` on documents that herd
 * did not write itself: numbers past any int, strings XML forbids, checks named twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "report/report.h"
#include "unit.h"

/* doc rendered in format, as a malloc'd string. */
static char *rendered(const char *doc_text, const char *format)
{
    json_t *doc = json_loads(doc_text, 0, NULL);
    assert_non_null(doc);
    char *out = NULL, err[256];
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assert_int_equal(report_render(doc, format, f, err, sizeof err), 0);
    fclose(f);
    json_decref(doc);
    return out;
}

/* A count too large for an int is printed as the number it is (it was cast to int: undefined
 * behaviour, and a garbage count in the report). */
static void test_report_large_counts(void **state)
{
    (void)state;
    const char *doc = "{\"schema\": \"herd.run/1\", \"config\": {\"model\": \"open\", \"threads\": "
                      "1e30, \"connections\": -3e20, \"max_connections\": 5e9, \"urls\": "
                      "[{\"url\": \"http://h/\", \"weight\": 4e12}]}, \"environment\": {\"cores\": 1e19}}";
    static const char *const formats[][2] = {
        {"text", "1000000000000000019884624838656 threads"}, {"text", "(weight 4000000000000)"},
        {"text", "(at most 5000000000)"}, {"md", "-300000000000000000000 connections"},
        {"md", "10000000000000000000 cores"}, {"html", "weight 4000000000000"}};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        char *out = rendered(doc, formats[i][0]);
        if (!strstr(out, formats[i][1])) fail_msg("%s: no '%s' in %s", formats[i][0], formats[i][1], out);
        free(out);
    }
}

/* An expectation's actual value is written in its unit without an exponent, at most 4
 * significant digits below 1000 (a p99 of 12.345 s against "<20ms" was "1.234e+04 ms"). */
static void test_report_actual_plain(void **state)
{
    (void)state;
    static const struct {
        const char *expect;
        double actual;
        const char *text;
    } cases[] = {
        {"p99 <20ms", 12345.0, "12345 ms"},      {"rejoin <3s", 120.5, "0.1205 s"},
        {"detection <1s", 65, "0.065 s"},        {"errors <0.1%", 0.00001234, "0.001234%"},
        {"errors <0.1%", 0.0000001, "0.00001%"}, {"failed_requests <=0", 66, "66"},
        {"requests >1000", 1234567, "1234567"},  {"efficiency >0.8", 0.9312345, "0.9312"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *e = json_pack("{s:f}", "actual", cases[i].actual);
        char buf[64];
        const char *got = report_actual(e, cases[i].expect, buf, sizeof buf);
        if (strcmp(got, cases[i].text) != 0)
            fail_msg("%s: actual %g written '%s', expected '%s'", cases[i].expect, cases[i].actual,
                     got, cases[i].text);
        json_decref(e);
    }
}

/* The JUnit file stays well-formed XML: the kind is escaped like the name, and characters XML
 * forbids (control characters, U+FFFF) become U+FFFD. */
static void test_report_junit_escapes(void **state)
{
    (void)state;
    char *out = rendered("{\"schema\": \"herd.test/1\", \"name\": \"t\\u0007\", \"checks\": [{\"name\": "
                         "\"x\\u0001y\\uffff\", \"kind\": \"a\\\"b<c\", \"verdict\": \"error\", "
                         "\"error\": \"tab\\tok\\u001b\"}]}",
                         "junit");
    assert_non_null(strstr(out, "<testsuite name=\"t\xef\xbf\xbd\""));
    assert_non_null(strstr(out, "classname=\"herd.a&quot;b&lt;c\" name=\"x\xef\xbf\xbdy\xef\xbf\xbd\""));
    assert_non_null(strstr(out, "<error message=\"tab\tok\xef\xbf\xbd\"/>"));
    assert_null(strchr(out, '\x01'));
    assert_null(strchr(out, '\x1b'));
    free(out);
}

/* Compared checks are matched by name, the n-th of a name with the n-th: a document compared
 * with itself has no regression, even with a name twice. */
static int compare(const char *a_text, const char *b_text, char *err, size_t errlen)
{
    json_t *a = json_loads(a_text, 0, NULL), *b = json_loads(b_text, 0, NULL);
    assert_non_null(a);
    assert_non_null(b);
    FILE *devnull = fopen("/dev/null", "w");
    int n = report_compare(a, b, "old.json", "new.json", 0.1, devnull, err, errlen);
    fclose(devnull);
    json_decref(a);
    json_decref(b);
    return n;
}

static void test_report_compare(void **state)
{
    (void)state;
    char err[256];
    const char *twice = "{\"schema\": \"herd.test/1\", \"checks\": ["
                        "{\"name\": \"h\", \"verdict\": \"pass\", \"measures\": {\"rejoin_ms\": 100}},"
                        "{\"name\": \"h\", \"verdict\": \"fail\", \"measures\": {\"rejoin_ms\": null}}]}";
    const char *swapped = "{\"schema\": \"herd.test/1\", \"checks\": ["
                          "{\"name\": \"h\", \"verdict\": \"fail\", \"measures\": {\"rejoin_ms\": null}},"
                          "{\"name\": \"h\", \"verdict\": \"pass\", \"measures\": {\"rejoin_ms\": 100}}]}";
    assert_int_equal(compare(twice, twice, err, sizeof err), 0);
    assert_int_equal(compare(twice, swapped, err, sizeof err), 2); /* verdict, rejoin measured */
    assert_int_equal(compare(swapped, twice, err, sizeof err), 2);
    const char *one = "{\"schema\": \"herd.test/1\", \"checks\": [{\"name\": \"h\"}]}";
    /* the first h lost its measure and its pass; the second ran no more */
    assert_int_equal(compare(twice, one, err, sizeof err), 3);
    assert_int_equal(compare(one, "{\"schema\": \"herd.run/1\"}", err, sizeof err), -1);
    assert_string_equal(err, "old.json is herd.test/1 but new.json is herd.run/1: compare like "
                             "with like");
}

int unit_report(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_large_counts),
        cmocka_unit_test(test_report_actual_plain),
        cmocka_unit_test(test_report_junit_escapes),
        cmocka_unit_test(test_report_compare),
    };
    return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
