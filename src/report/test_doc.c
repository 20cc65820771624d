/* test_doc.c -- renders a test document ("herd.test/1", from `herd test`): the terminal
 * summary, Markdown, and JUnit XML (one test case per check). */
#include <stdio.h>
#include <string.h>

#include "report/report_util.h"

static void xml_escape(FILE *out, const char *s)
{
    report_html_escape(out, s); /* the same five characters matter in XML */
}

static const char *mark(const char *verdict)
{
    return strcmp(verdict, "pass") == 0 ? "PASS" : strcmp(verdict, "fail") == 0 ? "FAIL" : "ERROR";
}

/* One line per expectation: "  [PASS] p99 <20ms (actual 3.1)". */
static void expectations_text(FILE *out, const json_t *check, const char *indent, bool md)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(check, "expectations"), i, e)
    {
        bool pass = json_is_true(json_object_get(e, "pass"));
        char actual[32] = "not seen";
        if (!json_is_null(json_object_get(e, "actual")))
            snprintf(actual, sizeof actual, "%.6g", report_num(e, "actual"));
        if (md)
            fprintf(out, "| %s | %s | %s |\n", pass ? "✅ pass" : "❌ fail", report_str(e, "expect"),
                    actual);
        else
            fprintf(out, "%s[%s] %s (actual %s)\n", indent, pass ? "PASS" : "FAIL",
                    report_str(e, "expect"), actual);
    }
}

int report_test_text(const json_t *doc, FILE *out)
{
    fprintf(out, "\nherd test: %s (%s), target %s, %.1f s\n\n", report_str(doc, "name"),
            report_str(doc, "plan"), report_str(doc, "target"), report_num(doc, "duration_s"));
    fprintf(out, "  %-24s %-13s %-7s %9s\n", "CHECK", "KIND", "VERDICT", "SECONDS");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "checks"), i, c)
    {
        fprintf(out, "  %-24s %-13s %-7s %9.2f\n", report_str(c, "name"), report_str(c, "kind"),
                mark(report_str(c, "verdict")), report_num(c, "duration_s"));
        if (*report_str(c, "error")) fprintf(out, "      error: %s\n", report_str(c, "error"));
        expectations_text(out, c, "      ", false);
        size_t k;
        json_t *n;
        json_array_foreach(report_get(c, "measures.nodes"), k, n)
        {
            if (json_object_get(n, "expected_share"))
                fprintf(out, "      %-18s %8.0f requests  %6.2f%% (expected %.2f%%)\n",
                        report_str(n, "node"), report_num(n, "requests"),
                        100 * report_num(n, "share"), 100 * report_num(n, "expected_share"));
        }
    }
    fprintf(out, "\n  verdict: %s\n", mark(report_str(doc, "verdict")));
    return 0;
}

/* A measured time in ms, or "not seen" (null). */
static const char *ms_text(const json_t *c, const char *path, char *buf, size_t size)
{
    json_t *v = report_get(c, path);
    if (!json_is_number(v)) return "not seen";
    snprintf(buf, size, "%.1f ms", json_number_value(v));
    return buf;
}

static void failover_md(FILE *out, const json_t *c)
{
    char a[32], b[32];
    fprintf(out, "| fault | node | failed (in flight / sent after) | detection | failover | rejoin "
                 "| req/s before / during | p99 before / during |\n"
                 "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    fprintf(out,
            "| %s at %.2f s | %s | %.0f (%.0f / %.0f) | %s (%s) | %.0f ms | %s | %.0f / %.0f "
            "| %.2f / %.2f ms |\n",
            report_str(c, "measures.fault"), report_num(c, "measures.fault_at_s"),
            report_str(c, "measures.node"), report_num(c, "measures.failed_requests"),
            report_num(c, "measures.failed_in_flight_at_fault"),
            report_num(c, "measures.failed_sent_after_fault"),
            ms_text(c, "measures.detection_ms", a, sizeof a), report_str(c, "measures.detected_by"),
            report_num(c, "measures.failover_ms"), ms_text(c, "measures.rejoin_ms", b, sizeof b),
            report_num(c, "measures.rps_before"), report_num(c, "measures.rps_during_fault"),
            report_num(c, "measures.latency_impact.baseline.p99_ms"),
            report_num(c, "measures.latency_impact.fault.p99_ms"));
}

static void consistency_md(FILE *out, const json_t *c)
{
    char a[32];
    fprintf(out,
            "%.0f keys written at %.0f/s (%.0f acknowledged, %.0f failed); convergence p50 "
            "%.3f ms, p99 %.3f ms, max %.3f ms; %.0f never converged\n\n",
            report_num(c, "measures.keys"), report_num(c, "measures.rate"),
            report_num(c, "measures.writes.acknowledged"), report_num(c, "measures.writes.failed"),
            report_num(c, "measures.convergence_ms.p50"),
            report_num(c, "measures.convergence_ms.p99"),
            report_num(c, "measures.convergence_ms.max"), report_num(c, "measures.unconverged"));
    fprintf(out,
            "| node | converged | missing | p50 ms | p99 ms | max ms | max lag ms | reads | "
            "read errors |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    size_t k;
    json_t *n;
    json_array_foreach(report_get(c, "measures.nodes"), k, n)
        fprintf(out, "| %s | %.0f | %.0f | %.3f | %.3f | %.3f | %.1f | %.0f | %.0f |\n",
                report_str(n, "node"), report_num(n, "converged"), report_num(n, "unconverged"),
                report_num(n, "p50"), report_num(n, "p99"), report_num(n, "max"),
                report_num(n, "max_lag_ms"), report_num(n, "reads"), report_num(n, "read_errors"));
    if (report_get(c, "measures.fault"))
        fprintf(out, "\n%s of %s at %.2f s, undone at %.2f s; it held every key again %s after\n",
                report_str(c, "measures.fault.fault"), report_str(c, "measures.fault.node"),
                report_num(c, "measures.fault.at_s"),
                report_num(c, "measures.fault.recovered_at_s"),
                ms_text(c, "measures.fault.catch_up_ms", a, sizeof a));
}

int report_test_markdown(const json_t *doc, FILE *out)
{
    fprintf(out, "# herd test: %s\n\n", report_str(doc, "name"));
    fprintf(out, "- plan: `%s`\n- target: %s\n- started: %s, %.1f s\n- verdict: **%s**\n\n",
            report_str(doc, "plan"), report_str(doc, "target"), report_str(doc, "started_at"),
            report_num(doc, "duration_s"), mark(report_str(doc, "verdict")));
    fprintf(out, "| check | kind | verdict | seconds |\n| --- | --- | --- | ---: |\n");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "checks"), i, c)
        fprintf(out, "| %s | %s | %s | %.2f |\n", report_str(c, "name"), report_str(c, "kind"),
                strcmp(report_str(c, "verdict"), "pass") == 0 ? "✅ pass"
                                                              : "❌ "
                                                                "fail",
                report_num(c, "duration_s"));
    json_array_foreach(json_object_get(doc, "checks"), i, c)
    {
        fprintf(out, "\n## %s\n\n", report_str(c, "name"));
        if (*report_str(c, "error")) fprintf(out, "Error: %s\n\n", report_str(c, "error"));
        if (json_array_size(json_object_get(c, "expectations"))) {
            fprintf(out, "| result | expectation | measured |\n| --- | --- | ---: |\n");
            expectations_text(out, c, "", true);
            fputc('\n', out);
        }
        json_t *rows = report_get(c, "measures.nodes");
        if (json_array_size(rows) && json_object_get(json_array_get(rows, 0), "expected_share")) {
            fprintf(out, "| node | requests | share | expected |\n| --- | ---: | ---: | ---: |\n");
            size_t k;
            json_t *n;
            json_array_foreach(rows, k, n)
                fprintf(out, "| %s | %.0f | %.2f%% | %.2f%% |\n", report_str(n, "node"),
                        report_num(n, "requests"), 100 * report_num(n, "share"),
                        100 * report_num(n, "expected_share"));
            fprintf(out, "\nmax deviation %.2f%%, chi-square %.3f, p-value %.4f (%s)\n",
                    100 * report_num(c, "measures.max_deviation"),
                    report_num(c, "measures.chi_square"), report_num(c, "measures.p_value"),
                    report_str(c, "measures.algorithm"));
        }
        json_t *eps = report_get(c, "measures.endpoints");
        if (json_array_size(eps)) {
            fprintf(out,
                    "| endpoint | success | p50 ms | mean ms |\n| --- | ---: | ---: | ---: |\n");
            size_t k;
            json_t *e;
            json_array_foreach(eps, k, e)
                fprintf(out, "| %s | %.1f%% | %.3f | %.3f |\n", report_str(e, "endpoint"),
                        100 * report_num(e, "success"), report_num(e, "summary.p50_ms"),
                        report_num(e, "summary.mean_ms"));
        }
        if (strcmp(report_str(c, "kind"), "consistency") == 0) consistency_md(out, c);
        if (strcmp(report_str(c, "kind"), "failover") == 0) failover_md(out, c);
        json_t *s = report_get(c, "measures.summary");
        if (s && !json_array_size(eps))
            fprintf(out, "\n%.0f requests, %.0f failed, %.0f req/s, p50 %.3f ms, p99 %.3f ms\n",
                    report_num(s, "requests"), report_num(s, "failures"), report_num(s, "rps"),
                    report_num(s, "p50_ms"), report_num(s, "p99_ms"));
    }
    return 0;
}

int report_test_junit(const json_t *doc, FILE *out)
{
    size_t i, failures = 0, errors = 0;
    json_t *c;
    json_t *checks = json_object_get(doc, "checks");
    json_array_foreach(checks, i, c)
    {
        const char *v = report_str(c, "verdict");
        failures += strcmp(v, "fail") == 0;
        errors += strcmp(v, "error") == 0;
    }
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    fprintf(out, "  <testsuite name=\"");
    xml_escape(out, report_str(doc, "name"));
    fprintf(out, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" time=\"%.3f\" timestamp=\"",
            json_array_size(checks), failures, errors, report_num(doc, "duration_s"));
    xml_escape(out, report_str(doc, "started_at"));
    fprintf(out, "\">\n");
    json_array_foreach(checks, i, c)
    {
        fprintf(out, "    <testcase classname=\"herd.%s\" name=\"", report_str(c, "kind"));
        xml_escape(out, report_str(c, "name"));
        fprintf(out, "\" time=\"%.3f\">\n", report_num(c, "duration_s"));
        const char *v = report_str(c, "verdict");
        if (strcmp(v, "error") == 0) {
            fprintf(out, "      <error message=\"");
            xml_escape(out, report_str(c, "error"));
            fprintf(out, "\"/>\n");
        } else if (strcmp(v, "fail") == 0) {
            fprintf(out, "      <failure message=\"expectations not met\">");
            size_t k;
            json_t *e;
            json_array_foreach(json_object_get(c, "expectations"), k, e)
            {
                if (json_is_true(json_object_get(e, "pass"))) continue;
                char line[256];
                snprintf(line, sizeof line, "%s (actual %.6g)\n", report_str(e, "expect"),
                         report_num(e, "actual"));
                xml_escape(out, line);
            }
            fprintf(out, "</failure>\n");
        }
        fprintf(out, "    </testcase>\n");
    }
    fprintf(out, "  </testsuite>\n</testsuites>\n");
    return 0;
}
