/* markdown.c -- a run as a Markdown report: every verdict is a measured one. */
#include <string.h>

#include "report/report_util.h"

int report_markdown(const json_t *run, FILE *out)
{
    json_t *cfg = report_get(run, "config"), *t = report_get(run, "totals");
    size_t i;
    json_t *v;
    fprintf(out, "# herd %s report\n\n", report_str(run, "command"));
    fprintf(out, "- started %s, ended %s, %.2f s\n", report_str(run, "started_at"),
            report_str(run, "ended_at"), report_num(run, "elapsed_s"));
    char side[64];
    fprintf(out, "- %s model, %s, %.0f connections", report_str(cfg, "model"),
            report_load_side(run, side, sizeof side), report_num(cfg, "connections"));
    if (strcmp(report_str(cfg, "model"), "open") == 0)
        fprintf(out, ", %.0f requests/s", report_num(cfg, "rate"));
    fprintf(out, ", balancer %s\n", report_str(cfg, "lb"));
    json_array_foreach(report_get(cfg, "urls"), i, v)
        fprintf(out, "- target `%s %s` (weight %.0f)\n", report_str(cfg, "method"), report_str(v, "url"),
                report_num(v, "weight"));
    fprintf(out, "- herd %s on %s, %.0f cores, %s %s\n\n", report_str(run, "tool.version"),
            report_str(run, "environment.hostname"), report_num(run, "environment.cores"),
            report_str(run, "environment.os"), report_str(run, "environment.kernel"));

    const char *verdict = report_verdict(run);
    fprintf(out, "## Verdict: %s\n\n", strcmp(verdict, "pass") == 0   ? "✅ pass"
                                       : strcmp(verdict, "fail") == 0 ? "❌ fail"
                                                                      : "⏳ not judged yet (the task runs)");
    json_t *ths = report_get(run, "thresholds");
    if (json_array_size(ths) > 0) {
        fprintf(out, "| threshold | actual | result |\n| --- | ---: | --- |\n");
        json_array_foreach(ths, i, v) {
            char actual[64];
            fprintf(out, "| `%s` | %s | %s |\n", report_str(v, "expr"),
                    report_actual(v, report_str(v, "expr"), actual, sizeof actual),
                    json_is_null(report_get(v, "pass"))   ? "-"
                    : json_is_true(report_get(v, "pass")) ? "✅"
                                                          : "❌");
        }
        fputc('\n', out);
    }
    if (json_is_true(report_get(run, "breaker.tripped")))
        fprintf(out, "The circuit breaker tripped after %.0f failures at %.2f s.\n\n",
                report_num(run, "breaker.max_failures"), report_num(run, "breaker.at_s"));

    fprintf(out, "## Totals\n\n| scheduled | ok | failed | not sent | dropped | error rate | requests/s | connections | reconnects |\n"
                 "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    fprintf(out, "| %.0f | %.0f | %.0f | %.0f | %.0f | %.3f%% | %.1f | %.0f | %.0f |\n\n",
            report_num(t, "scheduled"), report_num(t, "ok"),
            report_num(t, "requests") - report_num(t, "ok"), report_num(t, "not_sent"),
            report_num(t, "dropped"), 100 * report_num(t, "error_rate"), report_num(t, "rps"),
            report_num(t, "connections"), report_num(t, "reconnects"));
    fprintf(out, "| error class | count |\n| --- | ---: |\n");
    for (int k = 0; report_error_classes[k]; k++) {
        char key[32];
        snprintf(key, sizeof key, "errors.%s", report_error_classes[k]);
        fprintf(out, "| %s | %.0f |\n", report_error_classes[k], report_num(t, key));
    }
    fprintf(out, "\n## Latency (ms)\n\n| | p50 | p75 | p90 | p95 | p99 | p99.9 | max | mean |\n"
                 "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    static const char *const which[][2] = {{"latency_ms", "measured"},
                                           {"latency_uncorrected_ms", "uncorrected"}};
    for (int k = 0; k < 2; k++) {
        json_t *l = report_get(run, which[k][0]);
        if (!l)
            continue;
        fprintf(out, "| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", which[k][1],
                report_num(l, "p50"), report_num(l, "p75"), report_num(l, "p90"), report_num(l, "p95"),
                report_num(l, "p99"), report_num(l, "p99.9"), report_num(l, "max"), report_num(l, "mean"));
    }
    struct doc d = {.out = out, .html = false};
    report_dist_doc(&d, run);
    fprintf(out, "\n## Per node\n\n| node | requests | share | ok | failed | p50 ms | p99 ms |\n"
                 "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    json_array_foreach(report_get(run, "nodes"), i, v) {
        char p50[16], p99[16];
        report_node_latency_cells(v, p50, p99);
        fprintf(out, "| %s | %.0f | %.2f%% | %.0f | %.0f | %s | %s |\n", report_str(v, "name"),
                report_num(v, "requests"), 100 * report_num(v, "share"), report_num(v, "ok"),
                report_num(v, "failures"), p50, p99);
    }
    fprintf(out, "\n## Status codes\n\n| status | count |\n| --- | ---: |\n");
    const char *code;
    json_object_foreach(report_get(run, "status_codes"), code, v)
        fprintf(out, "| %s | %.0f |\n", code, json_number_value(v));
    if (json_object_size(report_get(run, "status_codes")) == 0 && report_distributed(run) &&
        report_num(t, "requests") > 0)
        fprintf(out, "\nNot reported by the workers (an older herd worker; `GET /api/details` has "
                     "a sample).\n");
    fprintf(out, "\n## Timeline\n\n| second | requests | failures | requests/s | p50 ms | p99 ms | max ms |\n"
                 "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    json_array_foreach(report_get(run, "timeline"), i, v)
        fprintf(out, "| %.0f | %.0f | %.0f | %.1f | %.3f | %.3f | %.3f |\n", report_num(v, "t"),
                report_num(v, "requests"), report_num(v, "failures"), report_num(v, "rps"),
                report_num(v, "latency_ms.p50"), report_num(v, "latency_ms.p99"), report_num(v, "latency_ms.max"));
    return 0;
}
