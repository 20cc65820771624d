/* threshold.c -- pass/fail expressions over a run's summary. */
#include "load/threshold.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/mtime.h"
#include "base/quantity.h"
#include "base/size.h"

static const struct {
    const char *name;
    enum threshold_metric metric;
    enum threshold_unit unit;
    const char *example;
} metrics[] = {
    {"p99.9", THRESHOLD_P999, THRESHOLD_UNIT_DURATION, "<50ms"},
    {"p50", THRESHOLD_P50, THRESHOLD_UNIT_DURATION, "<10ms"},
    {"p75", THRESHOLD_P75, THRESHOLD_UNIT_DURATION, "<15ms"},
    {"p90", THRESHOLD_P90, THRESHOLD_UNIT_DURATION, "<20ms"},
    {"p95", THRESHOLD_P95, THRESHOLD_UNIT_DURATION, "<20ms"},
    {"p99", THRESHOLD_P99, THRESHOLD_UNIT_DURATION, "<20ms"},
    {"max", THRESHOLD_MAX, THRESHOLD_UNIT_DURATION, "<1s"},
    {"mean", THRESHOLD_MEAN, THRESHOLD_UNIT_DURATION, "<10ms"},
    {"errors", THRESHOLD_ERRORS, THRESHOLD_UNIT_PERCENT, "<0.1%"},
    {"rps", THRESHOLD_RPS, THRESHOLD_UNIT_NUMBER, ">1000"},
    {"failures", THRESHOLD_FAILURES, THRESHOLD_UNIT_COUNT, "<=10"},
    {"requests", THRESHOLD_REQUESTS, THRESHOLD_UNIT_COUNT, ">=1000"},
};

#define METRIC_COUNT (sizeof metrics / sizeof metrics[0])

static size_t metric_index(enum threshold_metric metric)
{
    size_t i = 0;
    while (i < METRIC_COUNT - 1 && metrics[i].metric != metric)
        i++;
    return i;
}

enum threshold_unit threshold_metric_unit(enum threshold_metric metric)
{
    return metrics[metric_index(metric)].unit;
}

const char *threshold_metric_example(enum threshold_metric metric)
{
    return metrics[metric_index(metric)].example;
}

int threshold_metric_parse(const char *name, enum threshold_metric *out)
{
    for (size_t i = 0; i < METRIC_COUNT; i++)
        if (strcmp(name, metrics[i].name) == 0) {
            *out = metrics[i].metric;
            return 0;
        }
    return -1;
}

int threshold_value_parse(const char *text, enum threshold_unit unit, double *out)
{
    uint64_t whole;
    double v;
    switch (unit) {
    case THRESHOLD_UNIT_DURATION:
        if (mtime_parse_duration_us(text, &whole) < 0) return -1;
        *out = (double)whole / 1000;
        return 0;
    case THRESHOLD_UNIT_SIZE:
        if (size_parse_bytes(text, &whole) < 0) return -1;
        *out = (double)whole / (1 << 20);
        return 0;
    case THRESHOLD_UNIT_PERCENT:
        if (quantity_parse_percent(text, &v) < 0 || v > 1) return -1;
        break;
    case THRESHOLD_UNIT_COUNT:
        if (quantity_parse_number(text, &v) < 0 || v != floor(v)) return -1;
        break;
    case THRESHOLD_UNIT_NUMBER:
        if (quantity_parse_number(text, &v) < 0) return -1;
        break;
    default:
        return -1;
    }
    *out = v;
    return 0;
}

int threshold_parse(const char *text, struct threshold *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (strlen(text) >= sizeof out->text)
        return err_set(err, errlen, "'%.40s...': too long, expected a threshold such as p99<20ms", text);
    snprintf(out->text, sizeof out->text, "%s", text);
    size_t i;
    const char *p = NULL;
    for (i = 0; i < METRIC_COUNT; i++) {
        size_t n = strlen(metrics[i].name);
        if (strncmp(text, metrics[i].name, n) == 0 && !isalnum((unsigned char)text[n]) &&
            text[n] != '.') {
            p = text + n;
            out->metric = metrics[i].metric;
            break;
        }
    }
    if (!p)
        return err_set(err, errlen,
                       "'%s': unknown metric, expected METRIC OP VALUE such as "
                       "p99<20ms, errors<0.1%%, rps>1000 (metrics: p50 p75 p90 p95 p99 p99.9 max "
                       "mean errors rps failures requests; ops: < <= > >= ==)",
                       text);
    while (*p == ' ')
        p++;
    size_t op_len = threshold_op_parse(p, &out->op);
    p += op_len;
    while (*p == ' ')
        p++;
    if (!op_len || threshold_value_parse(p, metrics[i].unit, &out->value) < 0)
        return err_set(err, errlen,
                       "'%s': expected METRIC OP VALUE such as %s%s (OP one of < <= > "
                       ">= ==)",
                       text, metrics[i].name, metrics[i].example);
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
