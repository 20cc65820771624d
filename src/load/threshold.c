/* threshold.c -- pass/fail expressions over a run's summary. */
#include "load/threshold.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mtime.h"

static const struct {
    const char *name;
    enum threshold_metric metric;
} metrics[] = {
    {"p99.9", THRESHOLD_P999}, {"p50", THRESHOLD_P50},        {"p75", THRESHOLD_P75},
    {"p90", THRESHOLD_P90},    {"p95", THRESHOLD_P95},        {"p99", THRESHOLD_P99},
    {"max", THRESHOLD_MAX},    {"mean", THRESHOLD_MEAN},      {"errors", THRESHOLD_ERRORS},
    {"rps", THRESHOLD_RPS},    {"failures", THRESHOLD_FAILURES}, {"requests", THRESHOLD_REQUESTS},
};

static bool is_latency(enum threshold_metric m)
{
    return m <= THRESHOLD_MEAN;
}

int threshold_parse(const char *text, struct threshold *out, char *err, size_t errlen)
{
    static const char accepted[] =
        "expected METRIC OP VALUE, e.g. p99<20ms, errors<0.1%, rps>1000 (metrics: p50 p75 p90 "
        "p95 p99 p99.9 max mean errors rps failures requests; ops: < <= > >= ==)";
    memset(out, 0, sizeof *out);
    if (strlen(text) >= sizeof out->text)
        return err_set(err, errlen, "threshold '%.40s...': too long", text);
    snprintf(out->text, sizeof out->text, "%s", text);
    size_t i;
    const char *p = NULL;
    for (i = 0; i < sizeof metrics / sizeof metrics[0]; i++) {
        size_t n = strlen(metrics[i].name);
        if (strncmp(text, metrics[i].name, n) == 0 && !isalnum((unsigned char)text[n]) &&
            text[n] != '.') {
            p = text + n;
            out->metric = metrics[i].metric;
            break;
        }
    }
    if (!p)
        return err_set(err, errlen, "threshold '%s': unknown metric, %s", text, accepted);
    while (*p == ' ')
        p++;
    size_t op_len = threshold_op_parse(p, &out->op);
    if (!op_len)
        return err_set(err, errlen, "threshold '%s': missing comparison, %s", text, accepted);
    p += op_len;
    while (*p == ' ')
        p++;
    char *end;
    double v = strtod(p, &end);
    if (end == p || !isfinite(v) || v < 0)
        return err_set(err, errlen, "threshold '%s': missing or bad number, %s", text, accepted);
    if (is_latency(out->metric)) {
        uint64_t us;
        if (mtime_parse_duration_us(p, &us) < 0)
            return err_set(err, errlen,
                           "threshold '%s': expected a duration such as 20ms, 1.5s or 1m30s (a "
                           "bare number is seconds)",
                           text);
        v = (double)us / 1000;
    } else if (out->metric == THRESHOLD_ERRORS) {
        if (strcmp(end, "%") == 0)
            v /= 100;
        else if (*end)
            return err_set(err, errlen, "threshold '%s': errors take a percentage (0.1%%) or a fraction (0.001)", text);
        if (v > 1)
            return err_set(err, errlen, "threshold '%s': errors above 100%%", text);
    } else if (*end) {
        return err_set(err, errlen, "threshold '%s': unexpected '%s' after the number", text, end);
    }
    out->value = v;
    return 0;
}

double threshold_actual(const struct threshold *t, const struct load_summary *s)
{
    switch (t->metric) {
    case THRESHOLD_P50: return s->p50;
    case THRESHOLD_P75: return s->p75;
    case THRESHOLD_P90: return s->p90;
    case THRESHOLD_P95: return s->p95;
    case THRESHOLD_P99: return s->p99;
    case THRESHOLD_P999: return s->p999;
    case THRESHOLD_MAX: return s->max;
    case THRESHOLD_MEAN: return s->mean;
    case THRESHOLD_ERRORS: return s->error_rate;
    case THRESHOLD_RPS: return s->rps;
    case THRESHOLD_FAILURES: return (double)s->failures;
    case THRESHOLD_REQUESTS: return (double)s->requests;
    }
    return 0;
}

size_t threshold_op_parse(const char *text, enum threshold_op *op)
{
    static const struct {
        const char *text;
        enum threshold_op op;
    } ops[] = {{"<=", THRESHOLD_LE}, {">=", THRESHOLD_GE}, {"==", THRESHOLD_EQ},
               {"<", THRESHOLD_LT},  {">", THRESHOLD_GT}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t n = strlen(ops[i].text);
        if (strncmp(text, ops[i].text, n) == 0) {
            *op = ops[i].op;
            return n;
        }
    }
    return 0;
}

bool threshold_op_holds(enum threshold_op op, double actual, double value)
{
    if (isnan(actual))
        return false;
    switch (op) {
    case THRESHOLD_LT: return actual < value;
    case THRESHOLD_LE: return actual <= value;
    case THRESHOLD_GT: return actual > value;
    case THRESHOLD_GE: return actual >= value;
    case THRESHOLD_EQ: return actual == value;
    }
    return false;
}

bool threshold_check(const struct threshold *t, const struct load_summary *s)
{
    return threshold_op_holds(t->op, threshold_actual(t, s), t->value);
}

void load_summary_from(const struct load_result *r, struct load_summary *s)
{
    const struct hist *h = r->total.latency;
    const struct load_stats *t = &r->total;
    memset(s, 0, sizeof *s);
    s->requests = t->counters.requests;
    s->scheduled = t->scheduled;
    s->succeeded = t->counters.by_class[COUNTER_OK];
    s->failures = s->scheduled > s->succeeded ? s->scheduled - s->succeeded : 0;
    s->error_rate = s->scheduled ? (double)s->failures / (double)s->scheduled : NAN;
    s->rps = r->elapsed_s > 0 ? (double)s->requests / r->elapsed_s : s->scheduled ? 0 : NAN;
    s->ok_rps = r->elapsed_s > 0 ? (double)s->succeeded / r->elapsed_s : s->scheduled ? 0 : NAN;
    if (!h->total) {
        s->p50 = s->p75 = s->p90 = s->p95 = s->p99 = s->p999 = s->max = s->min = s->mean = NAN;
        return;
    }
    s->p50 = (double)hist_percentile(h, 50) / 1000;
    s->p75 = (double)hist_percentile(h, 75) / 1000;
    s->p90 = (double)hist_percentile(h, 90) / 1000;
    s->p95 = (double)hist_percentile(h, 95) / 1000;
    s->p99 = (double)hist_percentile(h, 99) / 1000;
    s->p999 = (double)hist_percentile(h, 99.9) / 1000;
    s->max = (double)h->max / 1000;
    s->min = (double)h->min / 1000;
    s->mean = hist_mean(h) / 1000;
}
