/* run_json.c -- a finished run as the canonical run document. */
#define _GNU_SOURCE /* strverscmp */
#include "load/run_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <jansson.h>

static json_t *errors_json(const struct counters *c)
{
    json_t *j = json_object();
    for (int i = COUNTER_CONNECT; i < COUNTER_CLASSES; i++)
        json_object_set_new(j, counter_class_name((enum counter_class)i),
                            json_integer((json_int_t)c->by_class[i]));
    return j;
}

/* A number, or null when it could not be measured (NAN). */
static json_t *measured(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static double ms(uint64_t us)
{
    return (double)us / 1000.0;
}

void *load_latency_json(const struct hist *h, int with_hist)
{
    if (!h->total)
        return json_pack("{s:i}", "samples", 0);
    json_t *j = json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "samples",
                          (json_int_t)h->total, "min", ms(h->min), "p50", ms(hist_percentile(h, 50)),
                          "p75", ms(hist_percentile(h, 75)), "p90", ms(hist_percentile(h, 90)),
                          "p95", ms(hist_percentile(h, 95)), "p99", ms(hist_percentile(h, 99)),
                          "p99.9", ms(hist_percentile(h, 99.9)), "max", ms(h->max), "mean",
                          hist_mean(h) / 1000.0);
    if (j && with_hist) {
        char *enc = hist_encode(h);
        if (enc)
            json_object_set_new(j, "histogram", json_string(enc));
        free(enc);
    }
    return j;
}

static json_t *environment_json(void)
{
    struct utsname u;
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    uname(&u);
    return json_pack("{s:s, s:i, s:s, s:s, s:s}", "hostname", host, "cores",
                     (int)sysconf(_SC_NPROCESSORS_ONLN), "os", u.sysname, "kernel", u.release,
                     "machine", u.machine);
}

static json_t *config_json(const struct load_plan *plan)
{
    json_t *urls = json_array();
    for (size_t i = 0; i < plan->target_count; i++) {
        const struct load_target *t = &plan->targets[i];
        char url[URL_HOST_MAX + URL_PATH_MAX + 32];
        snprintf(url, sizeof url, "%s://%s%s", t->url.tls ? "https" : "http", t->url.authority,
                 t->url.path);
        json_array_append_new(urls, json_pack("{s:s, s:i}", "url", url, "weight", t->weight));
    }
    const char *req = plan->targets[0].request;
    size_t method_len = strcspn(req, " ");
    json_t *j = json_pack(
        "{s:s, s:o, s:s, s:I, s:s#, s:i, s:i, s:f, s:I, s:f, s:f, s:i, s:s, s:I}", "model",
        plan->rate > 0 ? "open" : "closed", "urls", urls, "lb", balancer_name(plan->lb), "seed",
        (json_int_t)plan->seed, "method", req,
        (int)method_len, "threads", (int)plan->threads, "connections", (int)plan->connections,
        "duration_s", (double)plan->duration_us / 1e6, "requests", (json_int_t)plan->requests,
        "rate", plan->rate, "ramp_up_s", (double)plan->ramp_up_us / 1e6, "timeout_ms",
        (int)plan->timeout_ms, "node_header", plan->node_header, "max_failures",
        (json_int_t)plan->max_failures);
    if (j && plan->rate > 0)
        json_object_set_new(j, "max_connections", json_integer(plan->max_connections));
    return j;
}

static int by_name(const void *a, const void *b)
{
    const struct load_node *x = *(const struct load_node *const *)a;
    const struct load_node *y = *(const struct load_node *const *)b;
    return strverscmp(x->name, y->name);
}

size_t load_nodes_by_name(const struct load_result *r, const struct load_node **sorted)
{
    for (size_t i = 0; i < r->total.node_count; i++)
        sorted[i] = &r->total.nodes[i];
    qsort(sorted, r->total.node_count, sizeof sorted[0], by_name);
    return r->total.node_count;
}

/* Nodes in name order (load_nodes_by_name). */
static json_t *nodes_json(const struct load_result *r)
{
    json_t *arr = json_array();
    uint64_t total = r->total.counters.requests;
    const struct load_node *sorted[LOAD_MAX_NODES];
    load_nodes_by_name(r, sorted);
    for (size_t i = 0; i < r->total.node_count; i++) {
        const struct load_node *n = sorted[i];
        json_t *lat = load_latency_json(n->latency, 0);
        json_array_append_new(
            arr, json_pack("{s:s, s:I, s:I, s:I, s:f, s:o, s:o}", "name", n->name, "requests",
                           (json_int_t)n->counters.requests, "ok",
                           (json_int_t)n->counters.by_class[COUNTER_OK], "failures",
                           (json_int_t)counters_failures(&n->counters), "share",
                           total ? (double)n->counters.requests / (double)total : 0.0, "errors",
                           errors_json(&n->counters), "latency_ms", lat));
    }
    return arr;
}

static json_t *timeline_json(const struct load_result *r)
{
    json_t *arr = json_array();
    for (size_t s = 0; s < r->seconds; s++) {
        const struct load_second *e = &r->timeline[s];
        double length = 1.0;
        if (s + 1 == r->seconds && r->elapsed_s > (double)s && r->elapsed_s < (double)(s + 1))
            length = r->elapsed_s - (double)s; /* the last, partial second */
        json_t *nodes = json_object();
        for (size_t i = 0; i < r->total.node_count; i++)
            if (e->node_requests[i])
                json_object_set_new(nodes, r->total.nodes[i].name,
                                    json_integer((json_int_t)e->node_requests[i]));
        json_t *entry = json_pack(
            "{s:I, s:f, s:I, s:I, s:I, s:o, s:I, s:f, s:{s:f, s:f, s:f, s:f}, s:o}", "t",
            (json_int_t)(s + 1), "length_s", length, "requests", (json_int_t)e->counters.requests,
            "ok", (json_int_t)e->counters.by_class[COUNTER_OK], "failures",
            (json_int_t)counters_failures(&e->counters), "errors", errors_json(&e->counters),
            "bytes_in", (json_int_t)e->counters.bytes_in, "rps",
            length > 0 ? (double)e->counters.requests / length : 0.0, "latency_ms", "p50",
            ms(e->p50_us), "p90", ms(e->p90_us), "p99", ms(e->p99_us), "max", ms(e->max_us),
            "nodes", nodes);
        if (entry && e->hist)
            json_object_set_new(entry, "histogram", json_string(e->hist));
        json_array_append_new(arr, entry);
    }
    return arr;
}

void *load_run_json(const struct load_plan *plan, const struct load_result *r,
                    const struct run_meta *meta, int *passed)
{
    struct load_summary s;
    load_summary_from(r, &s);
    const struct counters *c = &r->total.counters;
    json_t *argv = json_array();
    for (int i = 0; i < meta->argc; i++)
        json_array_append_new(argv, json_string(meta->argv[i]));
    json_t *status = json_object();
    for (int code = 0; code < LOAD_STATUS_MAX; code++) {
        if (!r->total.status[code])
            continue;
        char key[8];
        snprintf(key, sizeof key, "%d", code);
        json_object_set_new(status, key, json_integer((json_int_t)r->total.status[code]));
    }
    json_t *thresholds = json_array();
    int all_pass = !r->breaker_tripped;
    for (size_t i = 0; i < meta->threshold_count; i++) {
        const struct threshold *t = &meta->thresholds[i];
        int ok = threshold_check(t, &s);
        all_pass &= ok;
        double actual = threshold_actual(t, &s);
        json_t *th = json_pack("{s:s, s:o, s:b}", "expr", t->text, "actual", measured(actual),
                               "pass", ok);
        if (isnan(actual))
            json_object_set_new(th, "why", json_string("no samples"));
        json_array_append_new(thresholds, th);
    }
    /* no request succeeded: nothing was measured, whatever the thresholds say (wrk: "unable
     * to connect") */
    all_pass &= s.succeeded > 0;
    *passed = all_pass;
    /* scheduled = ok + failures; failures = failed by class (requests - ok) + not_sent + dropped */
    json_t *totals = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:I}",
        "scheduled", (json_int_t)r->total.scheduled, "requests", (json_int_t)c->requests, "ok",
        (json_int_t)c->by_class[COUNTER_OK], "failures", (json_int_t)s.failures, "not_sent",
        (json_int_t)r->total.not_sent, "dropped", (json_int_t)r->total.dropped, "error_rate",
        measured(s.error_rate), "rps", measured(s.rps), "bytes_in", (json_int_t)c->bytes_in,
        "bytes_out", (json_int_t)c->bytes_out, "errors", errors_json(c), "connections",
        (json_int_t)r->clients, "connects", (json_int_t)r->connects, "reconnects",
        (json_int_t)(r->connects > r->clients ? r->connects - r->clients : 0), "connections_peak",
        (json_int_t)r->connections_peak, "backlog_max", (json_int_t)r->backlog_max,
        "in_flight_at_end", (json_int_t)c->by_class[COUNTER_UNANSWERED]);
    json_t *doc = json_pack(
        "{s:s, s:{s:s, s:s}, s:s, s:o, s:o, s:s, s:s, s:f, s:o, s:o, s:o, s:o, s:o, s:o, s:[], "
        "s:{s:I, s:b, s:f}, s:b, s:o, s:s}",
        "schema", "herd.run/1", "tool", "name", "herd", "version", HERD_VERSION, "command",
        meta->command, "argv", argv, "environment", environment_json(), "started_at",
        r->started_at, "ended_at", r->ended_at, "elapsed_s", r->elapsed_s, "config",
        config_json(plan), "totals", totals, "latency_ms", load_latency_json(r->total.latency, 1),
        "status_codes", status, "nodes", nodes_json(r), "timeline", timeline_json(r), "events",
        "breaker", "max_failures", (json_int_t)plan->max_failures, "tripped",
        r->breaker_tripped, "at_s", r->breaker_at_s, "interrupted", r->interrupted,
        "thresholds", thresholds, "verdict", all_pass ? "pass" : "fail");
    if (doc && plan->rate > 0)
        json_object_set_new(doc, "latency_uncorrected_ms", load_latency_json(r->total.uncorrected, 1));
    if (doc && r->total.tls_full + r->total.tls_resumed > 0) /* https: how it connected */
        json_object_set_new(
            doc, "tls",
            json_pack("{s:b,s:I,s:I,s:I,s:o}", "reuse", plan->tls_reuse, "handshakes",
                      (json_int_t)(r->total.tls_full + r->total.tls_resumed), "full",
                      (json_int_t)r->total.tls_full, "resumed", (json_int_t)r->total.tls_resumed,
                      "handshake_ms", load_latency_json(r->total.tls_handshake, 1)));
    return doc;
}

void *load_summary_json(const struct load_result *r)
{
    struct load_summary s;
    load_summary_from(r, &s);
    json_t *failed_by = json_object();
    for (int code = 400; code < LOAD_STATUS_MAX; code++) {
        if (!r->total.status[code])
            continue;
        char key[8];
        snprintf(key, sizeof key, "%d", code);
        json_object_set_new(failed_by, key, json_integer((json_int_t)r->total.status[code]));
    }
    for (int i = COUNTER_CONNECT; i < COUNTER_CLASSES; i++) {
        uint64_t n = r->total.counters.by_class[i];
        if (n && i != COUNTER_STATUS_4XX && i != COUNTER_STATUS_5XX)
            json_object_set_new(failed_by, counter_class_name((enum counter_class)i),
                                json_integer((json_int_t)n));
    }
    if (r->total.not_sent)
        json_object_set_new(failed_by, "not_sent", json_integer((json_int_t)r->total.not_sent));
    if (r->total.dropped)
        json_object_set_new(failed_by, "dropped", json_integer((json_int_t)r->total.dropped));
    json_t *j = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o}", "scheduled",
                          (json_int_t)s.scheduled, "requests", (json_int_t)s.requests, "succeeded",
                          (json_int_t)s.succeeded, "failures", (json_int_t)s.failures, "not_sent",
                          (json_int_t)r->total.not_sent, "dropped", (json_int_t)r->total.dropped,
                          "error_rate", measured(s.error_rate), "rps", measured(s.rps), "ok_rps",
                          measured(s.ok_rps));
    json_object_set_new(j, "p50_ms", measured(s.p50));
    json_object_set_new(j, "p95_ms", measured(s.p95));
    json_object_set_new(j, "p99_ms", measured(s.p99));
    json_object_set_new(j, "max_ms", measured(s.max));
    json_object_set_new(j, "mean_ms", measured(s.mean));
    json_object_set_new(j, "failed_by", failed_by);
    return j;
}
