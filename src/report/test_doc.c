/* test_doc.c -- renders a test document ("herd.test/1", from `herd test`): the terminal
 * summary, Markdown, and JUnit XML (one test case per check). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_util.h"

static const char *mark(const char *verdict)
{
    return strcmp(verdict, "pass") == 0   ? "PASS"
           : strcmp(verdict, "fail") == 0 ? "FAIL"
           : strcmp(verdict, "skip") == 0 ? "SKIP"
           : strcmp(verdict, "interrupted") == 0 ? "INTERRUPTED"
                                          : "ERROR";
}

/* A verdict in a table: marked for Markdown; plain in HTML, whose cells colour it. */
static const char *verdict_mark(const struct doc *d, const char *verdict)
{
    if (d->html) return verdict;
    return strcmp(verdict, "pass") == 0   ? "✅ pass"
           : strcmp(verdict, "fail") == 0 ? "❌ fail"
           : strcmp(verdict, "skip") == 0 ? "⏭ skip"
           : strcmp(verdict, "interrupted") == 0 ? "⏹ interrupted"
                                          : "❌ error";
}

/* An expectation's measured value as text, in its unit (report_actual). */
static const char *expect_actual(const json_t *e, char *buf, size_t size)
{
    return report_actual(e, report_str(e, "expect"), buf, size);
}

/* What a check's failed requests got ("404 x1000, connect x3"), with the path they were sent
 * to when the check names it ("(path /health)"; a 404 adds what to do), or "" when none
 * failed. */
static const char *failed_by_text(const json_t *check, char *buf, size_t size)
{
    buf[0] = '\0';
    const char *what;
    json_t *n;
    json_object_foreach(json_object_get(check, "failed_by"), what, n)
    {
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s x%lld", len ? ", " : "", what,
                 (long long)json_integer_value(n));
    }
    const char *path = json_string_value(json_object_get(check, "path"));
    size_t len = strlen(buf);
    if (len && path)
        snprintf(buf + len, size - len, " (path %s%s)", path,
                 json_object_get(json_object_get(check, "failed_by"), "404")
                     ? ": give the check a path: the target serves"
                     : "");
    return buf;
}

/* What a TCP endpoint's failed connections got ("Connection refused x3"), or "" when none
 * failed. */
static const char *refused_text(const json_t *endpoint, char *buf, size_t size)
{
    buf[0] = '\0';
    const char *what;
    json_t *n;
    json_object_foreach(json_object_get(endpoint, "refused_by"), what, n)
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%s x%lld", buf[0] ? ", " : "", what,
                 (long long)json_integer_value(n));
    return buf;
}

/* One line per expectation: "  [PASS] p99 <20ms (actual 3.1)". */
static void expectations_text(FILE *out, const json_t *check, const char *indent)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(check, "expectations"), i, e)
    {
        char actual[64];
        fprintf(out, "%s[%s] %s (actual %s)\n", indent,
                json_is_true(json_object_get(e, "pass")) ? "PASS" : "FAIL",
                report_str(e, "expect"), expect_actual(e, actual, sizeof actual));
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
        if (*report_str(c, "skipped")) fprintf(out, "      skipped: %s\n", report_str(c, "skipped"));
        size_t l;
        json_t *e;
        json_array_foreach(json_object_get(c, "log"), l, e)
            if (!json_is_true(json_object_get(e, "ok")) || *report_str(e, "output"))
                fprintf(out, "      %s command `%s`: %s (output in the report)\n",
                        report_str(e, "step"), report_str(e, "command"),
                        json_is_true(json_object_get(e, "ok")) ? "ok" : "failed");
        expectations_text(out, c, "      ");
        size_t r;
        json_t *ep;
        char refused[256];
        json_array_foreach(report_get(c, "measures.endpoints"), r, ep)
            if (*refused_text(ep, refused, sizeof refused))
                fprintf(out, "      %s (%s): %s\n", report_str(ep, "endpoint"),
                        report_str(ep, "url"), refused);
        json_t *row;
        json_array_foreach(report_get(c, "measures.requests"), r, row)
        { /* parity: each difference and unstable path on a line of its own */
            size_t k, m;
            json_t *res, *x;
            json_array_foreach(json_object_get(row, "results"), k, res)
            {
                json_array_foreach(json_object_get(res, "differences"), m, x)
                    fprintf(out, "      %s: %s\n", report_str(row, "request"), report_str(x, "line"));
                json_array_foreach(json_object_get(res, "unstable"), m, x)
                    fprintf(out, "      %s: unstable: %s\n", report_str(row, "request"),
                            report_str(x, "line"));
            }
        }
        char why[512];
        if (*failed_by_text(c, why, sizeof why))
            fprintf(out, "      failed requests got: %s\n", why);
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

static void failover_table(struct doc *d, const json_t *c)
{
    char a[32], b[32];
    doc_table(d, "fault|node|>failed (in flight / sent after)|>detection|>failover|>rejoin"
                 "|>req/s before / during|>p99 before / during");
    doc_row(d, "%s at %.2f s|%s|%.0f (%.0f / %.0f)|%s (%s)|%.0f ms|%s|%.0f / %.0f|%.2f / %.2f ms",
            report_str(c, "measures.fault"), report_num(c, "measures.fault_at_s"),
            report_str(c, "measures.node"), report_num(c, "measures.failed_requests"),
            report_num(c, "measures.failed_in_flight_at_fault"),
            report_num(c, "measures.failed_sent_after_fault"),
            ms_text(c, "measures.detection_ms", a, sizeof a), report_str(c, "measures.detected_by"),
            report_num(c, "measures.failover_ms"), ms_text(c, "measures.rejoin_ms", b, sizeof b),
            report_num(c, "measures.rps_before"), report_num(c, "measures.rps_during_fault"),
            report_num(c, "measures.latency_impact.baseline.p99_ms"),
            report_num(c, "measures.latency_impact.fault.p99_ms"));
    doc_table_end(d);
    json_t *balancer = report_get(c, "measures.balancer");
    if (balancer && report_num(balancer, "failed_polls") > 0)
        doc_para(d, "The balancer's status page %s: %.0f polls, %.0f of them failed or lacked the node; "
                    "the last: %s.",
                 report_str(balancer, "url"), report_num(balancer, "polls"),
                 report_num(balancer, "failed_polls"), report_str(balancer, "last_error"));
    if (!strcmp(report_str(c, "measures.detected_by"), "clients") &&
        !json_is_number(report_get(c, "measures.detection_ms")))
        doc_para(d, "Detection was not seen: the target is not herd's gateway (no event log), and "
                    "the clients saw no failure the balancer stopped (one that retries hides "
                    "them). Name the balancer's status page in the check (balancer: {stats: URL} "
                    "or {metrics: URL, down: CONDITION}) to measure it.");
    json_t *nodes = report_get(c, "measures.nodes");
    if (json_array_size(nodes) < 2) return;
    doc_table(d, "faulted node|>detection|>rejoin");
    size_t k;
    json_t *n;
    json_array_foreach(nodes, k, n)
        doc_row(d, "%s|%s (%s)|%s", report_str(n, "node"), ms_text(n, "detection_ms", a, sizeof a),
                report_str(n, "detected_by"), ms_text(n, "rejoin_ms", b, sizeof b));
    doc_table_end(d);
}

static void rollout_table(struct doc *d, const json_t *c)
{
    char a[32];
    json_t *classes = report_get(c, "measures.failed_by_class");
    char by[256] = "";
    const char *key;
    json_t *v;
    json_object_foreach(classes, key, v)
        snprintf(by + strlen(by), sizeof by - strlen(by), "%s%s %lld", by[0] ? ", " : " (",
                 key, (long long)json_integer_value(v));
    if (by[0]) snprintf(by + strlen(by), sizeof by - strlen(by), ")");
    doc_table(d, "group|>replicas|>drain|>rollout|>failed|>fewest in rotation|>p99 before / during");
    doc_row(d, "%s at %.2f s|%.0f|%.0f ms|%s|%.0f%s|%.0f (clients saw %.0f)|%.2f / %.2f ms",
            report_str(c, "measures.group"), report_num(c, "measures.rollout_at_s"),
            report_num(c, "measures.replicas"), report_num(c, "measures.drain_ms"),
            ms_text(c, "measures.rollout_ms", a, sizeof a),
            report_num(c, "measures.failed_requests"), by, report_num(c, "measures.min_serving"),
            report_num(c, "measures.min_answering"),
            report_num(c, "measures.latency_impact.before.p99_ms"),
            report_num(c, "measures.latency_impact.rollout.p99_ms"));
    doc_table_end(d);
    doc_table(d, "replica|>left at s|>back at s|>away ms|>new process at s");
    size_t k;
    json_t *n;
    json_array_foreach(report_get(c, "measures.nodes"), k, n)
        doc_row(d, "%s|%.3f|%.3f|%.0f|%.3f", report_str(n, "node"), report_num(n, "left_at_s"),
                report_num(n, "back_at_s"), report_num(n, "away_ms"),
                report_num(n, "started_at_s"));
    doc_table_end(d);
}

static void consistency_table(struct doc *d, const json_t *c)
{
    char a[32];
    doc_para(d,
             "%.0f keys written at %.0f/s (%.0f acknowledged, %.0f failed); convergence p50 "
             "%.3f ms, p99 %.3f ms, max %.3f ms; %.0f never converged",
             report_num(c, "measures.keys"), report_num(c, "measures.rate"),
             report_num(c, "measures.writes.acknowledged"), report_num(c, "measures.writes.failed"),
             report_num(c, "measures.convergence_ms.p50"),
             report_num(c, "measures.convergence_ms.p99"),
             report_num(c, "measures.convergence_ms.max"), report_num(c, "measures.unconverged"));
    doc_table(d, "node|>converged|>missing|>p50 ms|>p99 ms|>max ms|>max lag ms|>reads|>read errors");
    size_t k;
    json_t *n;
    json_array_foreach(report_get(c, "measures.nodes"), k, n)
        doc_row(d, "%s|%.0f|%.0f|%.3f|%.3f|%.3f|%.1f|%.0f|%.0f", report_str(n, "node"),
                report_num(n, "converged"), report_num(n, "unconverged"), report_num(n, "p50"),
                report_num(n, "p99"), report_num(n, "max"), report_num(n, "max_lag_ms"),
                report_num(n, "reads"), report_num(n, "read_errors"));
    doc_table_end(d);
    if (!report_get(c, "measures.fault")) return;
    char b[32], when[192];
    snprintf(when, sizeof when, "%s of %s at %.2f s, undone at %.2f s",
             report_str(c, "measures.fault.fault"), report_str(c, "measures.fault.node"),
             report_num(c, "measures.fault.at_s"), report_num(c, "measures.fault.recovered_at_s"));
    if (strcmp(report_str(c, "measures.fault.catch_up_source"), "node apply log") == 0)
        doc_para(d,
                 "%s; caught up %s after (by its own apply log it had then applied every write "
                 "made before; the reads saw it after %s)",
                 when, ms_text(c, "measures.fault.catch_up_ms", a, sizeof a),
                 ms_text(c, "measures.fault.catch_up_reads_ms", b, sizeof b));
    else
        doc_para(d, "%s; caught up %s after (the reads saw it hold every key again%s%s)", when,
                 ms_text(c, "measures.fault.catch_up_ms", a, sizeof a),
                 report_get(c, "measures.fault.catch_up_note") ? ": " : "",
                 report_str(c, "measures.fault.catch_up_note"));
}

static void hotplug_table(struct doc *d, const json_t *c)
{
    char a[32];
    doc_table(d, "group|>stopped at|>started at|>group failures (503)|>other failures|>rejoin");
    doc_row(d, "%s|%.2f s|%.2f s|%.0f (%.0f)|%.0f|%s", report_str(c, "measures.group"),
            report_num(c, "measures.stopped_at_s"), report_num(c, "measures.started_at_s"),
            report_num(c, "measures.group_failures"), report_num(c, "measures.group_503"),
            report_num(c, "measures.other_failures"), ms_text(c, "measures.rejoin_ms", a, sizeof a));
    doc_table_end(d);
}

static void scaling_table(struct doc *d, const json_t *c)
{
    doc_table(d, "replicas|>req/s|>efficiency|>p99 ms|>failures|gateway saw all");
    size_t k;
    json_t *s;
    json_array_foreach(report_get(c, "measures.steps"), k, s)
        doc_row(d, "%.0f|%.1f|%.3f|%.3f|%.0f|%s", report_num(s, "replicas"), report_num(s, "rps"),
                report_num(s, "efficiency"), report_num(s, "summary.p99_ms"),
                report_num(s, "summary.failures"),
                json_is_true(report_get(s, "gateway_saw_all")) ? "yes" : "no");
    doc_table_end(d);
}

static void capacity_table(struct doc *d, const json_t *c)
{
    doc_para(d, "%s grew to %.0f replicas; it stopped on %s: %s", report_str(c, "measures.group"),
             report_num(c, "measures.nodes_reached"), report_str(c, "measures.broke.reason"),
             report_str(c, "measures.broke.detail"));
    doc_table(d, "replicas|>ready|>launch ms|>RSS MB|>RSS per node MB|>largest MB|>health p50 ms"
                 "|>health p99 ms|>failed probes");
    size_t k;
    json_t *s;
    json_array_foreach(report_get(c, "measures.steps"), k, s)
        doc_row(d, "%.0f|%.0f|%.0f|%.1f|%.2f|%.2f|%.3f|%.3f|%.0f of %.0f",
                report_num(s, "replicas"), report_num(s, "running"), report_num(s, "launch_ms"),
                report_num(s, "rss_mb"), report_num(s, "rss_per_node_mb"),
                report_num(s, "rss_max_mb"), report_num(s, "health.p50_ms"),
                report_num(s, "health.p99_ms"), report_num(s, "health.failed"),
                report_num(s, "health.probes"));
    doc_table_end(d);
}

/* A parity result's status cell: "200", "exit 1", or "no answer". */
static const char *parity_status(const json_t *res, char *buf, size_t size)
{
    json_t *st = json_object_get(res, "status"), *ex = json_object_get(res, "exit_status");
    if (json_is_integer(st))
        snprintf(buf, size, "%lld", (long long)json_integer_value(st));
    else if (json_is_integer(ex))
        snprintf(buf, size, "exit %lld", (long long)json_integer_value(ex));
    else
        snprintf(buf, size, "no answer");
    return buf;
}

/* Each difference's line of list (measures' "differences" or "unstable"), one a line, into a
 * new string the caller frees; NULL when there is none. */
static char *parity_lines(const json_t *list)
{
    size_t i, len = 0;
    json_t *d;
    json_array_foreach(list, i, d)
        len += strlen(report_str(d, "line")) + 1;
    char *text = len ? malloc(len + 1) : NULL;
    if (!text) return NULL;
    text[0] = '\0';
    json_array_foreach(list, i, d)
    {
        strcat(text, report_str(d, "line"));
        strcat(text, "\n");
    }
    return text;
}

/* The strings of list joined by ", " into buf. */
static const char *joined(const json_t *list, char *buf, size_t size)
{
    size_t i;
    json_t *v;
    buf[0] = '\0';
    json_array_foreach(list, i, v)
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? ", " : "",
                 json_is_string(v) ? json_string_value(v) : "?");
    return buf;
}

/* The matrix request x environment (status, and whether it matches the baseline), then each
 * mismatch's and each unstable answer's paths. */
static void parity_table(struct doc *d, const json_t *c)
{
    const json_t *envs = report_get(c, "measures.environments");
    char header[1200] = "request";
    size_t i, k;
    json_t *e, *row, *res;
    json_array_foreach(envs, i, e)
        snprintf(header + strlen(header), sizeof header - strlen(header), "|%s",
                 json_string_value(e));
    char compared[256], ignored[1200];
    doc_para(d, "baseline %s; compared: %s%s%s; each request sent %.0f time(s) to each "
             "environment; %.0f mismatch(es), %.0f unstable answer(s)",
             report_str(c, "measures.baseline"),
             joined(report_get(c, "measures.compare"), compared, sizeof compared),
             json_array_size(report_get(c, "measures.ignore")) ? "; left out: " : "",
             joined(report_get(c, "measures.ignore"), ignored, sizeof ignored),
             report_num(c, "measures.repeat"),
             report_num(c, "measures.mismatches"), report_num(c, "measures.unstable"));
    doc_table(d, header);
    json_array_foreach(report_get(c, "measures.requests"), i, row)
    {
        char line[1600], status[32];
        snprintf(line, sizeof line, "%s", report_str(row, "request"));
        json_array_foreach(envs, k, e)
        {
            const json_t *found = NULL;
            size_t r;
            json_array_foreach(json_object_get(row, "results"), r, res)
                if (strcmp(report_str(res, "environment"), json_string_value(e)) == 0) found = res;
            const char *verdict = found ? report_str(found, "verdict") : "";
            snprintf(line + strlen(line), sizeof line - strlen(line), "|%s%s %s",
                     strcmp(verdict, "mismatch") == 0 ? "!" : "",
                     found ? parity_status(found, status, sizeof status) : "-", verdict);
        }
        doc_row(d, "%s", line);
    }
    doc_table_end(d);
    json_array_foreach(report_get(c, "measures.requests"), i, row)
        json_array_foreach(json_object_get(row, "results"), k, res)
        {
            static const char *const lists[] = {"differences", "unstable"};
            for (size_t l = 0; l < 2; l++) {
                char *text = parity_lines(json_object_get(res, lists[l]));
                if (!text) continue;
                if (l == 0)
                    doc_para(d, "%s: %s differs from %s:", report_str(row, "request"),
                             report_str(res, "environment"), report_str(c, "measures.baseline"));
                else
                    doc_para(d, "%s: %s is unstable (its answers changed between calls):",
                             report_str(row, "request"), report_str(res, "environment"));
                doc_pre(d, text);
                free(text);
            }
        }
}

/* The charts of a check with a load timeline (HTML only). */
static void check_charts(struct doc *d, const json_t *c, size_t index)
{
    static const struct {
        const char *key, *label;
    } lines[] = {{"timeline", ""}, {"other_timeline", " (the other groups)"}};
    for (size_t i = 0; d->html && i < sizeof lines / sizeof lines[0]; i++) {
        if (!report_get(c, "measures") || !json_object_get(report_get(c, "measures"), lines[i].key))
            continue;
        char source[96], title[128];
        snprintf(source, sizeof source, "checks.%zu.measures.%s", index, lines[i].key);
        snprintf(title, sizeof title, "requests and failures per second%s", lines[i].label);
        report_page_chart(d->out, "traffic", source, title);
        snprintf(title, sizeof title, "successes per second by node%s", lines[i].label);
        report_page_chart(d->out, "nodes", source, title);
        snprintf(title, sizeof title, "latency per second (ms)%s", lines[i].label);
        report_page_chart(d->out, "latency", source, title);
    }
}

/* Everything after the title, for Markdown and HTML alike. */
static void test_body(struct doc *d, const json_t *doc)
{
    const char *verdict = report_str(doc, "verdict");
    bool pass = strcmp(verdict, "pass") == 0;
    doc_para(d, "plan %s, target %s, started %s, %.1f s", report_str(doc, "plan"),
             report_str(doc, "target"), report_str(doc, "started_at"), report_num(doc, "duration_s"));
    if (d->html)
        fprintf(d->out, "<h2 id=\"verdict\" class=\"%s\">Verdict: %s</h2>\n", pass ? "pass" : "fail",
                mark(verdict));
    else
        fprintf(d->out, "Verdict: **%s**\n\n", mark(verdict));
    doc_table(d, "check|kind|verdict|>seconds");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "checks"), i, c)
        doc_row(d, "%s|%s|%s|%.2f", report_str(c, "name"), report_str(c, "kind"),
                verdict_mark(d, report_str(c, "verdict")), report_num(c, "duration_s"));
    doc_table_end(d);
    json_array_foreach(json_object_get(doc, "checks"), i, c)
    {
        const char *kind = report_str(c, "kind");
        if (d->html) fprintf(d->out, "<section class=\"check\" id=\"check-%zu\">\n", i);
        if (strcmp(report_str(c, "name"), kind) == 0)
            doc_heading(d, 2, "%s: %s", kind, mark(report_str(c, "verdict")));
        else
            doc_heading(d, 2, "%s (%s): %s", report_str(c, "name"), kind,
                        mark(report_str(c, "verdict")));
        if (*report_str(c, "error")) doc_para(d, "Error: %s", report_str(c, "error"));
        if (*report_str(c, "skipped")) doc_para(d, "Skipped: %s", report_str(c, "skipped"));
        size_t l;
        json_t *run;
        json_array_foreach(json_object_get(c, "log"), l, run)
        {
            const char *output = report_str(run, "output");
            bool ok = json_is_true(json_object_get(run, "ok"));
            doc_para(d, "The %s command `%s` %s%s after %.2f s%s", report_str(run, "step"),
                     report_str(run, "command"), ok ? "exited 0" : "failed: ",
                     ok ? "" : report_str(run, "error"), report_num(run, "took_s"),
                     *output ? ", printing:" : ", printing nothing.");
            if (*output) doc_pre(d, output);
        }
        char why[512];
        if (*failed_by_text(c, why, sizeof why)) doc_para(d, "Failed requests got: %s", why);
        if (json_array_size(json_object_get(c, "expectations"))) {
            doc_table(d, "result|expectation|>measured");
            size_t k;
            json_t *e;
            json_array_foreach(json_object_get(c, "expectations"), k, e)
            {
                char actual[64];
                doc_row(d, "%s|%s|%s", verdict_mark(d, json_is_true(json_object_get(e, "pass")) ? "pass" : "fail"),
                        report_str(e, "expect"), expect_actual(e, actual, sizeof actual));
            }
            doc_table_end(d);
        }
        json_t *rows = report_get(c, "measures.nodes");
        if (json_array_size(rows) && json_object_get(json_array_get(rows, 0), "expected_share")) {
            doc_table(d, "node|>requests|>share|>expected");
            size_t k;
            json_t *n;
            json_array_foreach(rows, k, n)
                doc_row(d, "%s|%.0f|%.2f%%|%.2f%%", report_str(n, "node"), report_num(n, "requests"),
                        100 * report_num(n, "share"), 100 * report_num(n, "expected_share"));
            doc_table_end(d);
            doc_para(d, "max deviation %.2f%%, chi-square %.3f, p-value %.4f (%s)",
                     100 * report_num(c, "measures.max_deviation"),
                     report_num(c, "measures.chi_square"), report_num(c, "measures.p_value"),
                     report_str(c, "measures.algorithm"));
            if (d->html) {
                char source[64];
                snprintf(source, sizeof source, "checks.%zu.measures.nodes", i);
                report_page_chart(d->out, "shares", source, "share of requests by node");
            }
        }
        json_t *eps = report_get(c, "measures.endpoints");
        if (json_array_size(eps)) {
            doc_table(d, "endpoint|>success|>p50 ms|>mean ms");
            size_t k;
            json_t *e;
            json_array_foreach(eps, k, e)
            {
                bool tcp = strcmp(report_str(e, "protocol"), "tcp") == 0; /* connect times */
                doc_row(d, "%s%s|%.1f%%|%.3f|%.3f", report_str(e, "endpoint"),
                        tcp ? " (TCP connect)" : "", 100 * report_num(e, "success"),
                        report_num(e, tcp ? "connect_ms.p50" : "summary.p50_ms"),
                        report_num(e, tcp ? "connect_ms.mean" : "summary.mean_ms"));
            }
            doc_table_end(d);
            char refused[256];
            json_array_foreach(eps, k, e)
                if (*refused_text(e, refused, sizeof refused))
                    doc_para(d, "%s (%s): %s", report_str(e, "endpoint"), report_str(e, "url"),
                             refused);
        }
        if (strcmp(kind, "consistency") == 0) consistency_table(d, c);
        if (strcmp(kind, "failover") == 0) failover_table(d, c);
        if (strcmp(kind, "rollout") == 0) rollout_table(d, c);
        if (strcmp(kind, "hotplug") == 0) hotplug_table(d, c);
        if (strcmp(kind, "scaling") == 0) scaling_table(d, c);
        if (strcmp(kind, "parity") == 0) parity_table(d, c);
        if (strcmp(kind, "capacity") == 0) {
            capacity_table(d, c);
            if (d->html) {
                char source[64];
                snprintf(source, sizeof source, "checks.%zu.measures.steps", i);
                report_page_chart(d->out, "capacity", source,
                                  "memory per node and health latency by replicas");
            }
        }
        json_t *s = report_get(c, "measures.summary");
        if (s && !json_array_size(eps))
            doc_para(d, "%.0f requests, %.0f failed, %.0f req/s, p50 %.3f ms, p99 %.3f ms",
                     report_num(s, "requests"), report_num(s, "failures"), report_num(s, "rps"),
                     report_num(s, "p50_ms"), report_num(s, "p99_ms"));
        check_charts(d, c, i);
        if (d->html) fputs("</section>\n", d->out);
    }
}

int report_test_markdown(const json_t *doc, FILE *out)
{
    struct doc d = {.out = out, .html = false};
    fprintf(out, "# herd test: %s\n\n", report_str(doc, "name"));
    test_body(&d, doc);
    return 0;
}

int report_test_html(const json_t *doc, FILE *out)
{
    struct doc d = {.out = out, .html = true};
    char title[256];
    snprintf(title, sizeof title, "herd test: %s", report_str(doc, "name"));
    report_page_begin(out, title);
    doc_heading(&d, 1, "%s", title);
    test_body(&d, doc);
    return report_page_end(out, doc);
}

/* A parity check judged on its answers has one test case per request (the requests in
 * measures), any other check one. */
static const json_t *junit_requests(const json_t *c)
{
    const char *v = report_str(c, "verdict");
    const json_t *rows = report_get(c, "measures.requests");
    bool judged = strcmp(v, "pass") == 0 || strcmp(v, "fail") == 0;
    return judged && strcmp(report_str(c, "kind"), "parity") == 0 && json_array_size(rows)
               ? rows
               : NULL;
}

/* One test case per parity request: a failure lists the paths that differ. */
static void junit_parity(FILE *out, const json_t *c, const json_t *rows)
{
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        double seconds = 0;
        size_t k, m;
        json_t *res, *x;
        json_array_foreach(json_object_get(row, "results"), k, res)
            seconds += (report_num(res, "latency_ms") + report_num(res, "took_ms")) / 1000;
        fprintf(out, "    <testcase classname=\"herd.parity.");
        report_xml_escape(out, report_str(c, "name"));
        fprintf(out, "\" name=\"");
        report_xml_escape(out, report_str(row, "request"));
        fprintf(out, "\" time=\"%.3f\">\n", seconds);
        if (!json_is_true(json_object_get(row, "pass"))) {
            fprintf(out, "      <failure message=\"answers differ from the baseline's\">");
            json_array_foreach(json_object_get(row, "results"), k, res)
                json_array_foreach(json_object_get(res, "differences"), m, x)
                {
                    report_xml_escape(out, report_str(x, "line"));
                    report_xml_escape(out, "\n");
                }
            fprintf(out, "</failure>\n");
        }
        fprintf(out, "    </testcase>\n");
    }
}

int report_test_junit(const json_t *doc, FILE *out)
{
    size_t i, failures = 0, errors = 0, skipped = 0, tests = 0;
    json_t *c;
    json_t *checks = json_object_get(doc, "checks");
    json_array_foreach(checks, i, c)
    {
        const json_t *rows = junit_requests(c);
        if (rows) {
            size_t k;
            json_t *row;
            json_array_foreach(rows, k, row)
                failures += !json_is_true(json_object_get(row, "pass"));
            tests += json_array_size(rows);
            continue;
        }
        tests++;
        const char *v = report_str(c, "verdict");
        failures += strcmp(v, "fail") == 0;
        errors += strcmp(v, "error") == 0 || strcmp(v, "interrupted") == 0;
        skipped += strcmp(v, "skip") == 0;
    }
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    fprintf(out, "  <testsuite name=\"");
    report_xml_escape(out, report_str(doc, "name"));
    fprintf(out,
            "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"%.3f\" "
            "timestamp=\"",
            tests, failures, errors, skipped, report_num(doc, "duration_s"));
    report_xml_escape(out, report_str(doc, "started_at"));
    fprintf(out, "\">\n");
    json_array_foreach(checks, i, c)
    {
        if (junit_requests(c)) {
            junit_parity(out, c, junit_requests(c));
            continue;
        }
        fprintf(out, "    <testcase classname=\"herd.");
        report_xml_escape(out, report_str(c, "kind"));
        fprintf(out, "\" name=\"");
        report_xml_escape(out, report_str(c, "name"));
        fprintf(out, "\" time=\"%.3f\">\n", report_num(c, "duration_s"));
        const char *v = report_str(c, "verdict");
        if (strcmp(v, "skip") == 0) {
            fprintf(out, "      <skipped message=\"");
            report_xml_escape(out, report_str(c, "skipped"));
            fprintf(out, "\"/>\n");
        } else if (strcmp(v, "interrupted") == 0) {
            fprintf(out, "      <error message=\"interrupted: stopped by a signal, judged on nothing\"/>\n");
        } else if (strcmp(v, "error") == 0) {
            fprintf(out, "      <error message=\"");
            report_xml_escape(out, report_str(c, "error"));
            fprintf(out, "\"/>\n");
        } else if (strcmp(v, "fail") == 0) {
            fprintf(out, "      <failure message=\"expectations not met\">");
            size_t k;
            json_t *e;
            json_array_foreach(json_object_get(c, "expectations"), k, e)
            {
                if (json_is_true(json_object_get(e, "pass"))) continue;
                char line[256], actual[64];
                snprintf(line, sizeof line, "%s (actual %s)\n", report_str(e, "expect"),
                         expect_actual(e, actual, sizeof actual));
                report_xml_escape(out, line);
            }
            char why[512], line[560];
            if (*failed_by_text(c, why, sizeof why)) {
                snprintf(line, sizeof line, "failed requests got: %s\n", why);
                report_xml_escape(out, line);
            }
            fprintf(out, "</failure>\n");
        }
        if (json_array_size(json_object_get(c, "log"))) { /* what the check's commands printed */
            fputs("      <system-out>", out);
            size_t l;
            json_t *e;
            json_array_foreach(json_object_get(c, "log"), l, e)
            {
                char line[1200];
                snprintf(line, sizeof line, "%s command `%s`: %s\n", report_str(e, "step"),
                         report_str(e, "command"),
                         json_is_true(json_object_get(e, "ok")) ? "exited 0" : report_str(e, "error"));
                report_xml_escape(out, line);
                report_xml_escape(out, report_str(e, "output"));
            }
            fputs("</system-out>\n", out);
        }
        fprintf(out, "    </testcase>\n");
    }
    fprintf(out, "  </testsuite>\n</testsuites>\n");
    return 0;
}
