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

#include "dist/merge.h"
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
        {"md", "1000000000000000019884624838656 threads"},
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

/* ---- a distributed task's document ---- */

#define TASK_START_US 1764500000000000ULL

/* One second of a worker: requests answers (every fail_every-th a 5xx; 0: none) of latency_us
 * (every 100th ten times slower), over nodes api.1 and api.2, at cpu. */
static void add_second(struct dist_merge *m, struct dist_interval *iv, const char *worker,
                       uint64_t seq, uint64_t offset_us, int requests, int fail_every,
                       uint64_t latency_us, double cpu, bool final)
{
    dist_interval_reset(iv);
    snprintf(iv->task_id, sizeof iv->task_id, "t-report");
    snprintf(iv->worker_id, sizeof iv->worker_id, "%s", worker);
    snprintf(iv->session, sizeof iv->session, "s-%s", worker);
    iv->seq = seq;
    iv->second_us = TASK_START_US + seq * 1000000 + offset_us;
    uint64_t failed = 0;
    for (int i = 0; i < requests; i++) {
        hist_record(iv->hist, i % 100 == 99 ? latency_us * 10 : latency_us + (uint64_t)(i % 7));
        bool bad = fail_every && i % fail_every == fail_every - 1;
        counters_add(&iv->counters, bad ? COUNTER_STATUS_5XX : COUNTER_OK);
        failed += bad;
    }
    iv->node_count = 2;
    snprintf(iv->nodes[0].name, LOAD_NODE_NAME, "api.1");
    snprintf(iv->nodes[1].name, LOAD_NODE_NAME, "api.2");
    iv->nodes[0].requests = (uint64_t)requests / 2;
    iv->nodes[1].requests = (uint64_t)requests - (uint64_t)requests / 2;
    iv->nodes[1].failures = failed;
    iv->cpu = cpu;
    iv->final = final;
    iv->elapsed_s = final ? (double)seq + 1 : 0;
    if (final) {
        /* the whole part's statuses and connections (its seconds were all alike) */
        iv->statuses[iv->status_count++] = (struct dist_status_count){200, (seq + 1) * ((uint64_t)requests - failed)};
        if (failed)
            iv->statuses[iv->status_count++] = (struct dist_status_count){500, (seq + 1) * failed};
        iv->has_connections = true;
        iv->clients = 10;
        iv->connects = 12;
        iv->connections_peak = 10;
    }
    char err[256];
    if (dist_merge_add(m, iv, err, sizeof err) < 0)
        fail_msg("%s seq %llu: %s", worker, (unsigned long long)seq, err);
}

/* The run document of a task over 2 regions and 3 workers, built with the merge the master
 * uses: bj-1 (beijing) runs 3 s at 1000/s, 2 ms; bj-2 (beijing) starts 12 ms late and is
 * saturated (CPU 95% for 3 s), 600/s, 20 ms, 1 in 50 a 5xx; sh-1 (shanghai) sends one second
 * and is lost. Thresholds p99<50ms (holds) and errors<0.5% (fails on the merged result). */
static json_t *distributed_doc(void)
{
    struct dist_merge *m = dist_merge_new("t-report", TASK_START_US);
    struct dist_interval iv;
    assert_non_null(m);
    assert_int_equal(dist_interval_init(&iv), 0);
    assert_int_equal(dist_merge_worker(m, "bj-1", "beijing", 4), 0);
    assert_int_equal(dist_merge_worker(m, "bj-2", "beijing", 2), 0);
    assert_int_equal(dist_merge_worker(m, "sh-1", "shanghai", 4), 0);
    for (uint64_t s = 0; s < 3; s++) {
        add_second(m, &iv, "bj-1", s, 0, 1000, 0, 2000, 0.4, s == 2);
        add_second(m, &iv, "bj-2", s, 12000, 600, 50, 20000, 0.95, s == 2);
    }
    add_second(m, &iv, "sh-1", 0, 3000, 800, 0, 5000, 0.3, false);
    assert_int_equal(dist_merge_worker_lost(m, "sh-1"), 0);

    struct dist_task task;
    dist_task_init(&task);
    char err[256];
    const char *cfg = "{\"url\": \"http://127.0.0.1:8081/\", \"requests\": 6000, \"concurrency\": 30,"
                      " \"thresholds\": [\"p99<50ms\", \"errors<0.5%\"]}";
    if (dist_task_from_text(&task, "config_file", cfg, strlen(cfg), err, sizeof err) < 0)
        fail_msg("%s", err);
    struct dist_merge_meta meta = {.task = &task, .command = "master"};
    int passed = -1;
    json_t *doc = dist_merge_run_json(m, &meta, &passed, err, sizeof err);
    if (!doc) fail_msg("%s", err);
    assert_int_equal(passed, 0);
    dist_task_free(&task);
    dist_interval_free(&iv);
    dist_merge_free(m);
    return doc;
}

static char *rendered_doc(const json_t *doc, const char *format)
{
    char *out = NULL, err[256];
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (report_render(doc, format, f, err, sizeof err) < 0) fail_msg("%s: %s", format, err);
    fclose(f);
    return out;
}

/* The line of text holding needle, into line (for messages and per-row checks). */
static const char *line_of(const char *text, const char *needle, char *line, size_t size)
{
    const char *at = strstr(text, needle);
    if (!at) return NULL;
    const char *start = at, *end = strchr(at, '\n');
    while (start > text && start[-1] != '\n') start--;
    snprintf(line, size, "%.*s", (int)(end ? end - start : (long)strlen(start)), start);
    return line;
}

static void expect_in(const char *format, const char *out, const char *needle)
{
    if (!strstr(out, needle)) fail_msg("%s: no '%s' in:\n%s", format, needle, out);
}

/* What a user reads of a distributed task in each format: the seed's summary (total,
 * success, failed, duration, QPS, by region), the per-region and per-worker tables with
 * percentiles, the saturated and the lost worker marked, and the failed threshold. */
static void test_report_distributed(void **state)
{
    (void)state;
    json_t *doc = distributed_doc();
    /* 3000 + 1800 + 800 requests, 36 of bj-2's failed */
    char line[512];

    char *text = rendered_doc(doc, "text");
    expect_in("text", text, "Distributed task: 3 workers in 2 regions, started within 12.0 ms");
    /* the first line says what ran the load: the workers, not one process's threads */
    expect_in("text", text, " model, 3 workers, ");
    expect_in("text", text, "Total Requests : 5600\n");
    expect_in("text", text, "Total Success  : 5564 (99.36%)\n");
    expect_in("text", text, "Total Failed   : 36 (0.64%)\n");
    expect_in("text", text, "Total Not Sent : 0 (0.00%)\n");
    expect_in("text", text, "Total Duration : 3.01 s\n");
    expect_in("text", text, "By Region:\n    beijing  : 4800 requests, QPS: 1593.63\n"
                            "    shanghai : 800 requests, QPS: 265.60\n");
    assert_non_null(line_of(text, " bj-2 ", line, sizeof line));
    if (!strstr(line, "95% SATURATED") || !strstr(line, " done") || !strstr(line, " 1800 ") ||
        !strstr(line, " 12.0 "))
        fail_msg("text: bj-2's row: %s", line);
    assert_non_null(line_of(text, " sh-1 ", line, sizeof line));
    if (!strstr(line, " LOST") || !strstr(line, " 800 ") || !strstr(line, "14.3%"))
        fail_msg("text: sh-1's row: %s", line);
    assert_non_null(strstr(text, "Per region"));
    assert_non_null(line_of(strstr(text, "Per region"), " shanghai ", line, sizeof line));
    if (!strstr(line, " 1 ") || !strstr(line, " 800 ")) fail_msg("text: shanghai's row: %s", line);
    expect_in("text", text, "  SATURATED: the worker's CPU was at or above 90% of its cores for 3 s or more,");
    expect_in("text", text, "LOST: the master stopped hearing from the worker");
    expect_in("text", text, "Threshold FAIL errors<0.5% (actual 0.6429%)");
    /* statuses and connections from the final intervals (the lost sh-1 posted none) */
    expect_in("text", text, "  Status codes   200: 4764 500: 36\n");
    expect_in("text", text, "  Connections    20 opened (4 reconnects); at most 20 at once");
    free(text);

    char *md = rendered_doc(doc, "md");
    expect_in("md", md, "## Distributed task");
    expect_in("md", md, "| 5600 | 5564 (99.36%) | 36 (0.64%) | 0 (0.00%) | 3.01 | 1859.23 |");
    expect_in("md", md, "| region | workers | requests | share |");
    expect_in("md", md, "| beijing | 2 | 4800 | 85.7% | 4764 | 36 | 0 |");
    expect_in("md", md, "| worker | requests | share | ok | failed | not sent |");
    assert_non_null(line_of(md, "| bj-2 |", line, sizeof line));
    if (!strstr(line, "| **95% SATURATED** |") || !strstr(line, "| done |"))
        fail_msg("md: bj-2's row: %s", line);
    assert_non_null(line_of(md, "| sh-1 |", line, sizeof line));
    if (!strstr(line, "| **LOST** |")) fail_msg("md: sh-1's row: %s", line);
    /* per-node latencies are not posted: "-", not 0.000 */
    expect_in("md", md, "| 0 | - | - |\n");
    expect_in("md", md, "| 200 | 4764 |\n| 500 | 36 |\n");
    assert_null(strstr(md, "Not reported by the workers"));
    expect_in("md", md, "| 5600 | 5564 | 36 | 0 | 0 | 0.643% | 1859.2 | 20 | 4 |");
    free(md);

    char *html = rendered_doc(doc, "html");
    expect_in("html", html, "<section id=\"distributed\">");
    expect_in("html", html, "<div id=\"workers\"><table><tr><th>worker</th>");
    expect_in("html", html, "<td class=\"flag\">95% SATURATED</td>");
    expect_in("html", html, "<td class=\"flag\">LOST</td>");
    expect_in("html", html, "<td>shanghai</td><td>1</td><td>800</td><td>14.3%</td>");
    expect_in("html", html, "data-chart=\"groups\" data-source=\"workers\"");
    expect_in("html", html, "data-chart=\"groups\" data-source=\"regions\"");
    expect_in("html", html, "</td><td>-</td><td>-</td></tr>");
    free(html);

    char *csv = rendered_doc(doc, "csv");
    expect_in("csv", csv, "\nall,3.012,\"region:beijing\",4800,4764,36,");
    expect_in("csv", csv, "\nall,1.000,\"worker:sh-1 LOST\",800,800,0,");
    expect_in("csv", csv, "\nall,3.000,\"worker:bj-2 SATURATED\",1800,1764,36,");
    free(csv);

    char *junit = rendered_doc(doc, "junit");
    expect_in("junit", junit, "<testsuite name=\"herd master\" tests=\"3\" failures=\"1\" errors=\"0\"");
    expect_in("junit", junit, "<testcase classname=\"herd.threshold\" name=\"p99&lt;50ms\"");
    expect_in("junit", junit, "<failure message=\"errors&lt;0.5% (actual 0.6429%)\"/>");
    expect_in("junit", junit, "<property name=\"region.shanghai\" value=\"1 workers, 800 requests");
    assert_non_null(line_of(junit, "<property name=\"worker.sh-1\"", line, sizeof line));
    if (!strstr(line, "region shanghai") || !strstr(line, ", LOST\"")) fail_msg("junit: %s", line);
    assert_non_null(line_of(junit, "<property name=\"worker.bj-2\"", line, sizeof line));
    if (!strstr(line, "CPU max 95%, SATURATED\"")) fail_msg("junit: %s", line);
    expect_in("junit", junit, "<system-out>");
    expect_in("junit", junit, "Total QPS      : 1859.23");
    free(junit);

    /* a run of one machine has none of it */
    json_object_del(doc, "workers");
    json_object_del(doc, "regions");
    text = rendered_doc(doc, "text");
    assert_null(strstr(text, "Distributed"));
    assert_null(strstr(text, "Total Requests"));
    free(text);
    html = rendered_doc(doc, "html");
    assert_null(strstr(html, "id=\"distributed\""));
    free(html);
    json_decref(doc);
}

/* A task whose only worker could not run its share (its name did not resolve): the final
 * interval's error in the per-worker state, the task's message and the junit failure; the
 * Totals and Distributed tables agree (0 failed, 100 not sent); a fail verdict. Then the same
 * task while it runs: no verdict yet, in every format. */
static void test_report_worker_error(void **state)
{
    (void)state;
    struct dist_merge *m = dist_merge_new("t-report", TASK_START_US);
    struct dist_interval iv;
    assert_non_null(m);
    assert_int_equal(dist_interval_init(&iv), 0);
    assert_int_equal(dist_merge_worker(m, "r0-1", "r0", 2), 0);
    snprintf(iv.task_id, sizeof iv.task_id, "t-report");
    snprintf(iv.worker_id, sizeof iv.worker_id, "r0-1");
    snprintf(iv.session, sizeof iv.session, "s-1");
    iv.second_us = TASK_START_US;
    iv.final = true;
    iv.not_sent = 100;
    dist_interval_set_error(&iv, "cannot resolve 'gone.herd': Name or service not known");
    char err[256];
    if (dist_merge_add(m, &iv, err, sizeof err) < 0) fail_msg("%s", err);
    struct dist_task task;
    dist_task_init(&task);
    const char *cfg = "{\"url\": \"http://gone.herd:8081/\", \"requests\": 100}";
    if (dist_task_from_text(&task, "config_file", cfg, strlen(cfg), err, sizeof err) < 0)
        fail_msg("%s", err);
    struct dist_merge_meta meta = {.task = &task, .command = "master"};
    int passed = -1;
    json_t *doc = dist_merge_run_json(m, &meta, &passed, err, sizeof err);
    if (!doc) fail_msg("%s", err);
    assert_int_equal(passed, 0);
    assert_string_equal(json_string_value(json_object_get(doc, "verdict")), "fail");
    json_object_set_new(doc, "task", json_pack("{s:s, s:s}", "id", "t-report", "message",
                                               "worker r0-1 could not run its share: cannot "
                                               "resolve 'gone.herd': Name or service not known"));
    char line[512];
    char *text = rendered_doc(doc, "text");
    expect_in("text", text, "Outcomes       100 scheduled = ok 0 + failed 0 + not sent 100");
    expect_in("text", text, "Total Failed   : 0 (0.00%)\n");
    expect_in("text", text, "Total Not Sent : 100 (100.00%)\n");
    expect_in("text", text, "  Task: worker r0-1 could not run its share: cannot resolve 'gone.herd'");
    assert_non_null(strstr(text, "Per worker"));
    assert_non_null(line_of(strstr(text, "Per worker"), " r0-1 ", line, sizeof line));
    if (!strstr(line, " error: cannot resolve 'gone.herd': Name or service not known"))
        fail_msg("text: r0-1's row: %s", line);
    expect_in("text", text, "  Connections    0 opened (0 reconnects)");
    assert_null(strstr(text, "not reported by the workers")); /* nothing was answered */
    free(text);
    char *md = rendered_doc(doc, "md");
    expect_in("md", md, "## Verdict: ❌ fail");
    expect_in("md", md, "Task: worker r0-1 could not run its share");
    expect_in("md", md, "| **error: cannot resolve 'gone.herd': Name or service not known** |");
    expect_in("md", md, "| 100 | 0 (0.00%) | 0 (0.00%) | 100 (100.00%) |");
    free(md);
    char *html = rendered_doc(doc, "html");
    expect_in("html", html, "<td class=\"flag\">error: cannot resolve ");
    free(html);
    char *junit = rendered_doc(doc, "junit");
    expect_in("junit", junit, "<failure message=\"worker r0-1 could not run its share: cannot "
                              "resolve ");
    expect_in("junit", junit, "<property name=\"task.message\"");
    free(junit);
    json_decref(doc);

    /* while it runs: not judged, whatever the numbers say so far */
    meta.unjudged = true;
    doc = dist_merge_run_json(m, &meta, &passed, err, sizeof err);
    if (!doc) fail_msg("%s", err);
    assert_true(json_is_null(json_object_get(doc, "verdict")));
    md = rendered_doc(doc, "md");
    expect_in("md", md, "## Verdict: ⏳ not judged yet");
    free(md);
    html = rendered_doc(doc, "html");
    expect_in("html", html, "Verdict: not judged yet</h2>");
    free(html);
    text = rendered_doc(doc, "text");
    expect_in("text", text, "Verdict        not judged yet");
    assert_null(strstr(text, "No request succeeded"));
    free(text);
    junit = rendered_doc(doc, "junit");
    expect_in("junit", junit, "failures=\"0\"");
    expect_in("junit", junit, "<property name=\"verdict\" value=\"not judged yet\"/>");
    free(junit);
    json_decref(doc);
    dist_task_free(&task);
    dist_interval_free(&iv);
    dist_merge_free(m);
}

/* The browser test's document (tests/e2e/distributed-run.json) is one that dist_merge writes
 * today: the same keys at the top and in each worker and region. HERD_WRITE_E2E_FIXTURE=1
 * writes it anew. */
static void test_report_distributed_fixture(void **state)
{
    (void)state;
    const char *path = HERD_SOURCE_DIR "/tests/e2e/distributed-run.json";
    json_t *doc = distributed_doc();
    if (getenv("HERD_WRITE_E2E_FIXTURE"))
        assert_int_equal(json_dump_file(doc, path, JSON_INDENT(1) | JSON_REAL_PRECISION(9)), 0);
    json_error_t jerr;
    json_t *fixture = json_load_file(path, 0, &jerr);
    if (!fixture) fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
    static const char *const groups[] = {"", "workers", "regions"};
    for (size_t g = 0; g < 3; g++) {
        json_t *a = g ? json_array_get(json_object_get(doc, groups[g]), 0) : doc;
        json_t *b = g ? json_array_get(json_object_get(fixture, groups[g]), 0) : fixture;
        const char *key;
        json_t *v;
        json_object_foreach(a, key, v)
            if (!json_object_get(b, key)) fail_msg("%s: no '%s' in %s", path, key, *groups[g] ? groups[g] : "the document");
        json_object_foreach(b, key, v)
            if (!json_object_get(a, key)) fail_msg("%s: '%s' in %s is no longer written", path, key, *groups[g] ? groups[g] : "the document");
    }
    json_decref(fixture);
    json_decref(doc);
}

int unit_report(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_large_counts),
        cmocka_unit_test(test_report_actual_plain),
        cmocka_unit_test(test_report_junit_escapes),
        cmocka_unit_test(test_report_compare),
        cmocka_unit_test(test_report_distributed),
        cmocka_unit_test(test_report_worker_error),
        cmocka_unit_test(test_report_distributed_fixture),
    };
    return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
