/* text.c -- the terminal summary of a run, in the spirit of wrk's, with more percentiles,
 * outcomes, per-node shares and threshold verdicts. */
#include <string.h>

#include "report/report_util.h"

static const char *const percentiles[] = {"p50", "p75", "p90", "p95", "p99", "p99.9", "max", "mean", NULL};

static void latency_row(const json_t *run, const char *label, const char *key, FILE *out)
{
    json_t *lat = report_get(run, key);
    if (!lat)
        return;
    fprintf(out, "  %-14s", label);
    if (report_num(lat, "samples") == 0) {
        fprintf(out, " no samples: no request got an answer\n");
        return;
    }
    for (int i = 0; percentiles[i]; i++)
        fprintf(out, " %9.3f", report_num(lat, percentiles[i]));
    fputc('\n', out);
}

static void bytes(double b, char *out, size_t size)
{
    if (b >= 1e9)
        snprintf(out, size, "%.2f GB", b / 1e9);
    else if (b >= 1e6)
        snprintf(out, size, "%.2f MB", b / 1e6);
    else if (b >= 1e3)
        snprintf(out, size, "%.2f kB", b / 1e3);
    else
        snprintf(out, size, "%.0f B", b);
}

int report_text(const json_t *run, FILE *out)
{
    json_t *cfg = report_get(run, "config");
    bool open = strcmp(report_str(cfg, "model"), "open") == 0;
    char side[64];
    fprintf(out, "herd %s: %s model, %s, %.0f connections", report_str(run, "command"),
            report_str(cfg, "model"), report_load_side(run, side, sizeof side),
            report_num(cfg, "connections"));
    if (open)
        fprintf(out, " (at most %.0f), %.0f requests/s", report_num(cfg, "max_connections"),
                report_num(cfg, "rate"));
    fprintf(out, ", %.2f s\n", report_num(run, "elapsed_s"));
    size_t i;
    json_t *u;
    json_array_foreach(report_get(cfg, "urls"), i, u) {
        fprintf(out, "  %s %s", report_str(cfg, "method"), report_str(u, "url"));
        if (report_num(u, "weight") != 1)
            fprintf(out, " (weight %.0f)", report_num(u, "weight"));
        fputc('\n', out);
    }
    if (json_array_size(report_get(cfg, "urls")) > 1 && json_is_integer(report_get(cfg, "seed")))
        fprintf(out, "  balancer %s, seed %lld (--seed replays its choices)\n", report_str(cfg, "lb"),
                (long long)json_integer_value(report_get(cfg, "seed")));
    fprintf(out, "\n  %-14s", "Latency (ms)");
    for (int k = 0; percentiles[k]; k++)
        fprintf(out, " %9s", percentiles[k]);
    fputc('\n', out);
    latency_row(run, open ? "corrected" : "", "latency_ms", out);
    if (open)
        latency_row(run, "uncorrected", "latency_uncorrected_ms", out);

    json_t *t = report_get(run, "totals");
    char in[32], sent[32];
    bytes(report_num(t, "bytes_in"), in, sizeof in);
    bytes(report_num(t, "bytes_out"), sent, sizeof sent);
    fprintf(out, "\n  Requests       %.0f ended in %.2f s, %.2f/s; %s read, %s sent\n",
            report_num(t, "requests"), report_num(run, "elapsed_s"), report_num(t, "rps"), in, sent);
    /* every scheduled request is accounted for */
    fprintf(out, "  Outcomes       %.0f scheduled = ok %.0f + failed %.0f + not sent %.0f + dropped %.0f"
                 " (%.3f%% not ok)\n",
            report_num(t, "scheduled"), report_num(t, "ok"),
            report_num(t, "requests") - report_num(t, "ok"), report_num(t, "not_sent"),
            report_num(t, "dropped"), 100 * report_num(t, "error_rate"));
    fprintf(out, "  Status codes  ");
    const char *code;
    json_t *count;
    json_object_foreach(report_get(run, "status_codes"), code, count)
        fprintf(out, " %s: %.0f", code, json_number_value(count));
    if (json_object_size(report_get(run, "status_codes")) == 0 && report_distributed(run) &&
        report_num(t, "requests") > 0)
        fprintf(out, " not reported by the workers (an older herd worker; GET /api/details has a "
                     "sample)");
    fprintf(out, "\n  Errors        ");
    for (int k = 0; report_error_classes[k]; k++) {
        char key[32];
        snprintf(key, sizeof key, "errors.%s", report_error_classes[k]);
        fprintf(out, " %s %.0f%s", report_error_classes[k], report_num(t, key),
                report_error_classes[k + 1] ? "," : "\n");
    }
    fprintf(out, "  Connections    %.0f opened (%.0f reconnects)", report_num(t, "connections"),
            report_num(t, "reconnects"));
    if (report_distributed(run))
        fprintf(out, "; at most %.0f at once (the workers' peaks added)",
                report_num(t, "connections_peak"));
    if (open && !report_distributed(run))
        fprintf(out, "; slots %.0f, backlog at most %.0f, dropped sends %.0f",
                report_num(t, "connections_peak"), report_num(t, "backlog_max"), report_num(t, "dropped"));
    fputc('\n', out);
    json_t *tls = report_get(run, "tls");
    if (tls)
        fprintf(out, "  TLS            %.0f handshakes: %.0f full, %.0f resumed (--tls-reuse %s); "
                     "handshake p50 %.3f ms, p99 %.3f ms\n",
                report_num(tls, "handshakes"), report_num(tls, "full"), report_num(tls, "resumed"),
                json_is_true(json_object_get(tls, "reuse")) ? "on" : "off",
                report_num(tls, "handshake_ms.p50"), report_num(tls, "handshake_ms.p99"));
    if (report_num(t, "ok") == 0 && !json_is_null(report_get(run, "verdict")))
        fprintf(out, "\n  No request succeeded: nothing was measured\n");
    if (json_is_null(report_get(run, "verdict")))
        fprintf(out, "\n  Verdict        not judged yet: the task runs\n");

    json_t *nodes = report_get(run, "nodes");
    if (json_array_size(nodes) > 0) {
        fprintf(out, "\n  %-24s %10s %8s %10s %8s %9s %9s\n", "Node", "requests", "share", "ok",
                "failed", "p50 ms", "p99 ms");
        json_t *n;
        json_array_foreach(nodes, i, n) {
            fprintf(out, "  %-24s %10.0f %7.2f%% %10.0f %8.0f", report_str(n, "name"),
                    report_num(n, "requests"), 100 * report_num(n, "share"), report_num(n, "ok"),
                    report_num(n, "failures"));
            char p50[16], p99[16];
            report_node_latency_cells(n, p50, p99);
            fprintf(out, " %9s %9s\n", p50, p99);
        }
    }
    report_dist_text(run, out);
    if (json_is_true(report_get(run, "breaker.tripped")))
        fprintf(out, "\n  Circuit breaker tripped after %.0f failures, at %.2f s: the run stopped\n",
                report_num(run, "breaker.max_failures"), report_num(run, "breaker.at_s"));
    if (json_is_true(report_get(run, "interrupted")))
        fprintf(out, "\n  Interrupted: the run was stopped early\n");
    json_t *ths = report_get(run, "thresholds"), *th;
    if (json_array_size(ths) > 0) {
        fputc('\n', out);
        json_array_foreach(ths, i, th) {
            char actual[64];
            report_actual(th, report_str(th, "expr"), actual, sizeof actual);
            fprintf(out, "  Threshold %-4s %s (actual %s)\n", report_threshold_result(th),
                    report_str(th, "expr"), actual);
        }
    }
    return 0;
}
