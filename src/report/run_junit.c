/* run_junit.c -- a bench run or a distributed task as JUnit XML, for CI systems: a test case
 * per threshold and one for the run itself (a request succeeded, the breaker held); a
 * distributed task's workers and regions as properties and its summary as system-out. */
#include <stdlib.h>
#include <string.h>

#include "report/report_util.h"

static void property(FILE *out, const char *name, const char *value)
{
    fputs("      <property name=\"", out);
    report_xml_escape(out, name);
    fputs("\" value=\"", out);
    report_xml_escape(out, value);
    fputs("\"/>\n", out);
}

/* A group's line: "1000 requests, 990 ok, 10 failed, 33.3 req/s, p50 1.000 ms, p99 ...";
 * failed as in the tables (sent and failed), ", N not sent" when some never were. */
static void group_text(char *buf, size_t size, const json_t *g)
{
    double unsent = report_num(g, "not_sent") + report_num(g, "dropped");
    int n = snprintf(buf, size, "%.0f requests, %.0f ok, %.0f failed, %.2f req/s",
                     report_num(g, "requests"), report_num(g, "ok"),
                     report_num(g, "requests") - report_num(g, "ok"), report_num(g, "rps"));
    if (n > 0 && (size_t)n < size && unsent > 0)
        n += snprintf(buf + n, size - (size_t)n, ", %.0f not sent", unsent);
    if (n > 0 && (size_t)n < size && report_num(g, "latency_ms.samples") > 0)
        snprintf(buf + n, size - (size_t)n, ", p50 %.3f ms, p99 %.3f ms, max %.3f ms",
                 report_num(g, "latency_ms.p50"), report_num(g, "latency_ms.p99"),
                 report_num(g, "latency_ms.max"));
}

static void properties(FILE *out, const json_t *run)
{
    char name[160], value[1024], line[400];
    size_t i;
    json_t *v;
    fputs("    <properties>\n", out);
    property(out, "command", report_str(run, "command"));
    property(out, "verdict", report_verdict(run));
    if (*report_str(run, "task.message"))
        property(out, "task.message", report_str(run, "task.message"));
    if (report_distributed(run)) {
        snprintf(value, sizeof value, "%.1f", report_num(run, "start_spread_ms"));
        property(out, "start_spread_ms", value);
        json_array_foreach(report_get(run, "regions"), i, v) {
            snprintf(name, sizeof name, "region.%s", report_str(v, "region"));
            group_text(line, sizeof line, v);
            snprintf(value, sizeof value, "%.0f workers, %s", report_num(v, "workers"), line);
            property(out, name, value);
        }
        json_array_foreach(report_get(run, "workers"), i, v) {
            snprintf(name, sizeof name, "worker.%s", report_str(v, "id"));
            group_text(line, sizeof line, v);
            bool lost = json_is_true(report_get(v, "lost")),
                 saturated = json_is_true(report_get(v, "saturated"));
            snprintf(value, sizeof value, "region %s, %s, CPU max %.0f%%%s%s%s%s",
                     *report_str(v, "region") ? report_str(v, "region") : "(none)", line,
                     100 * report_num(v, "cpu_max"), lost ? ", LOST" : "",
                     saturated ? ", SATURATED" : "", *report_str(v, "error") ? ", error: " : "",
                     report_str(v, "error"));
            property(out, name, value);
        }
    }
    fputs("    </properties>\n", out);
}

/* What the run's own test case failed on, or NULL: a worker could not run its share, no
 * request succeeded, the breaker tripped; nothing while a task runs (not judged yet). */
static const char *run_failure(const json_t *run, char *buf, size_t size)
{
    if (json_is_null(report_get(run, "verdict")))
        return NULL;
    size_t i;
    json_t *w;
    json_array_foreach(report_get(run, "workers"), i, w)
        if (*report_str(w, "error")) {
            snprintf(buf, size, "worker %s could not run its share: %s", report_str(w, "id"),
                     report_str(w, "error"));
            return buf;
        }
    if (json_is_true(report_get(run, "breaker.tripped")))
        return "the circuit breaker tripped: the run stopped";
    if (report_num(run, "totals.ok") == 0)
        return "no request succeeded: nothing was measured";
    return NULL;
}

int report_run_junit(const json_t *run, FILE *out)
{
    json_t *ths = report_get(run, "thresholds"), *th;
    size_t i, failures = 0;
    json_array_foreach(ths, i, th)
        failures += json_is_false(report_get(th, "pass"));
    char reason[512];
    const char *why = run_failure(run, reason, sizeof reason);
    bool interrupted = json_is_true(report_get(run, "interrupted"));
    failures += why != NULL;
    double elapsed = report_num(run, "elapsed_s");
    char suite[160];
    snprintf(suite, sizeof suite, "herd %s", report_str(run, "command"));
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"", out);
    report_xml_escape(out, suite);
    fprintf(out, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%d\" skipped=\"0\" time=\"%.3f\" "
                 "timestamp=\"",
            json_array_size(ths) + 1, failures, interrupted, elapsed);
    report_xml_escape(out, report_str(run, "started_at"));
    fputs("\">\n", out);
    properties(out, run);

    fprintf(out, "    <testcase classname=\"herd.run\" name=\"the run\" time=\"%.3f\">\n", elapsed);
    if (interrupted)
        fputs("      <error message=\"interrupted: stopped early by a signal\"/>\n", out);
    else if (why) {
        fputs("      <failure message=\"", out);
        report_xml_escape(out, why);
        fputs("\"/>\n", out);
    }
    fputs("    </testcase>\n", out);
    json_array_foreach(ths, i, th) {
        const char *expr = report_str(th, "expr");
        fputs("    <testcase classname=\"herd.threshold\" name=\"", out);
        report_xml_escape(out, expr);
        fprintf(out, "\" time=\"%.3f\">\n", elapsed);
        if (json_is_false(report_get(th, "pass"))) {
            char actual[64], line[512];
            report_actual(th, expr, actual, sizeof actual);
            snprintf(line, sizeof line, "%s (actual %s)", expr, actual);
            fputs("      <failure message=\"", out);
            report_xml_escape(out, line);
            fputs("\"/>\n", out);
        }
        fputs("    </testcase>\n", out);
    }
    if (report_distributed(run)) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f)
            return -1;
        report_dist_text(run, f);
        fclose(f);
        fputs("    <system-out>", out);
        report_xml_escape(out, text ? text : "");
        fputs("</system-out>\n", out);
        free(text);
    }
    fputs("  </testsuite>\n</testsuites>\n", out);
    return 0;
}
