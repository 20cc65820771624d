/* html.c -- a bench run as one self-contained HTML page: its tables, and charts of
 * throughput, failures, per-node requests and latency per second (drawn by the page frame's
 * uPlot, page.c). */
#include <string.h>

#include "report/report_util.h"

static void cell(FILE *out, const char *tag, const char *text)
{
    fprintf(out, "<%s>", tag);
    report_html_escape(out, text);
    fprintf(out, "</%s>", tag);
}

int report_html(const json_t *run, FILE *out)
{
    json_t *cfg = report_get(run, "config"), *t = report_get(run, "totals");
    const char *verdict = report_verdict(run);
    bool pass = strcmp(verdict, "pass") == 0;
    size_t i;
    json_t *v;
    report_page_begin(out, "herd report");
    fprintf(out, "<h1>herd %s report</h1>\n<p>", report_str(run, "command"));
    report_html_escape(out, report_str(run, "started_at"));
    char side[64];
    fprintf(out, " &middot; %.2f s &middot; %s model, %s, %.0f connections &middot; balancer %s</p>\n",
            report_num(run, "elapsed_s"), report_str(cfg, "model"),
            report_load_side(run, side, sizeof side), report_num(cfg, "connections"),
            report_str(cfg, "lb"));
    fputs("<ul>", out);
    json_array_foreach(report_get(cfg, "urls"), i, v) {
        fputs("<li><code>", out);
        report_html_escape(out, report_str(cfg, "method"));
        fputc(' ', out);
        report_html_escape(out, report_str(v, "url"));
        fprintf(out, "</code> weight %.0f</li>", report_num(v, "weight"));
    }
    fprintf(out, "</ul>\n<h2 class=\"%s\" id=\"verdict\">Verdict: %s</h2>\n",
            pass ? "pass" : strcmp(verdict, "fail") == 0 ? "fail" : "pending", verdict);
    json_t *ths = report_get(run, "thresholds");
    if (json_array_size(ths) > 0) {
        fputs("<table id=\"thresholds\"><tr><th>threshold</th><th>actual</th><th>result</th></tr>\n", out);
        json_array_foreach(ths, i, v) {
            const char *result = report_threshold_result(v);
            bool ok = strcmp(result, "FAIL") != 0;
            fputs("<tr>", out);
            cell(out, "td", report_str(v, "expr"));
            char actual[64];
            cell(out, "td", report_actual(v, report_str(v, "expr"), actual, sizeof actual));
            fprintf(out, "<td class=\"%s\">%s</td></tr>\n", ok ? "pass" : "fail",
                    strcmp(result, "ok") == 0 ? "pass" : result);
        }
        fputs("</table>\n", out);
    }
    fputs("<h2>Totals</h2>\n<table id=\"totals\"><tr><th>scheduled</th><th>ok</th><th>failed</th>"
          "<th>not sent</th><th>dropped</th><th>error rate</th><th>requests/s</th><th>connections</th>"
          "<th>reconnects</th></tr>\n", out);
    fprintf(out, "<tr><td>%.0f</td><td>%.0f</td><td>%.0f</td><td>%.0f</td><td>%.0f</td><td>%.3f%%</td>"
                 "<td>%.1f</td><td>%.0f</td><td>%.0f</td></tr></table>\n",
            report_num(t, "scheduled"), report_num(t, "ok"),
            report_num(t, "requests") - report_num(t, "ok"), report_num(t, "not_sent"),
            report_num(t, "dropped"), 100 * report_num(t, "error_rate"), report_num(t, "rps"),
            report_num(t, "connections"), report_num(t, "reconnects"));
    fputs("<table id=\"errors\"><tr>", out);
    for (int k = 0; report_error_classes[k]; k++)
        cell(out, "th", report_error_classes[k]);
    fputs("</tr><tr>", out);
    for (int k = 0; report_error_classes[k]; k++) {
        char key[32];
        snprintf(key, sizeof key, "errors.%s", report_error_classes[k]);
        fprintf(out, "<td>%.0f</td>", report_num(t, key));
    }
    fputs("</tr></table>\n<h2>Latency (ms)</h2>\n<table id=\"latency\"><tr><th></th><th>p50</th><th>p75</th>"
          "<th>p90</th><th>p95</th><th>p99</th><th>p99.9</th><th>max</th><th>mean</th></tr>\n", out);
    static const char *const which[][2] = {{"latency_ms", "measured"}, {"latency_uncorrected_ms", "uncorrected"}};
    for (int k = 0; k < 2; k++) {
        json_t *l = report_get(run, which[k][0]);
        if (l)
            fprintf(out, "<tr><td>%s</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%.3f</td>"
                         "<td>%.3f</td><td>%.3f</td><td>%.3f</td></tr>\n",
                    which[k][1], report_num(l, "p50"), report_num(l, "p75"), report_num(l, "p90"),
                    report_num(l, "p95"), report_num(l, "p99"), report_num(l, "p99.9"), report_num(l, "max"),
                    report_num(l, "mean"));
    }
    fputs("</table>\n", out);
    struct doc d = {.out = out, .html = true};
    report_dist_doc(&d, run);
    fputs("<h2>Per node</h2>\n<table id=\"nodes\"><tr><th>node</th><th>requests</th><th>share</th>"
          "<th>ok</th><th>failed</th><th>p50 ms</th><th>p99 ms</th></tr>\n", out);
    json_array_foreach(report_get(run, "nodes"), i, v) {
        fputs("<tr>", out);
        cell(out, "td", report_str(v, "name"));
        char p50[16], p99[16];
        report_node_latency_cells(v, p50, p99);
        fprintf(out, "<td>%.0f</td><td>%.2f%%</td><td>%.0f</td><td>%.0f</td><td>%s</td><td>%s</td></tr>\n",
                report_num(v, "requests"), 100 * report_num(v, "share"), report_num(v, "ok"),
                report_num(v, "failures"), p50, p99);
    }
    fputs("</table>\n<h2>Over time</h2>\n", out);
    report_page_chart(out, "traffic", "timeline", "requests and failures per second");
    report_page_chart(out, "nodes", "timeline", "requests per second by node");
    report_page_chart(out, "latency", "timeline", "latency per second (ms)");
    return report_page_end(out, run);
}
