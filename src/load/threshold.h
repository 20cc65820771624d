/* threshold.h -- pass/fail expressions over a run's summary: "p99<20ms", "errors<0.1%",
 * "rps>1000", "mean<=5ms", "p99.9<1s", "max<2s", "failures<=10", "requests>=1000",
 * "failures==0". Latencies take the one duration grammar (mtime_parse_duration_us: a bare
 * number is seconds). */
#ifndef HERD_LOAD_THRESHOLD_H
#define HERD_LOAD_THRESHOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "load/engine.h"

enum threshold_metric {
    THRESHOLD_P50 = 0,
    THRESHOLD_P75,
    THRESHOLD_P90,
    THRESHOLD_P95,
    THRESHOLD_P99,
    THRESHOLD_P999,
    THRESHOLD_MAX,
    THRESHOLD_MEAN,
    THRESHOLD_ERRORS,   /* failed share of requests, 0..1 */
    THRESHOLD_RPS,
    THRESHOLD_FAILURES, /* count */
    THRESHOLD_REQUESTS, /* count */
};

enum threshold_op { THRESHOLD_LT = 0, THRESHOLD_LE, THRESHOLD_GT, THRESHOLD_GE, THRESHOLD_EQ };

/* What a threshold's or a plan expectation's value is, and so how it is written. */
enum threshold_unit {
    THRESHOLD_UNIT_DURATION = 0, /* "20ms", "1.5s", a bare number of seconds: kept in ms */
    THRESHOLD_UNIT_PERCENT,      /* "0.1%", or a fraction "0.001": kept as a fraction */
    THRESHOLD_UNIT_COUNT,        /* a whole number: "0", "1000" */
    THRESHOLD_UNIT_NUMBER,       /* a decimal number: "0.8", "1000" */
    THRESHOLD_UNIT_SIZE,         /* "64MB", "1GB", a bare number of bytes: kept in MB */
};

/* Parses a value written in unit's grammar (base/quantity.h; a percentage at most 100%) into
 * *out, in the unit the comment above names. Returns 0, or -1 when text is not one. */
int threshold_value_parse(const char *text, enum threshold_unit unit, double *out);

/* Reads the operator at the start of text ("<=", ">=", "==", "<", ">") into op. Returns its
 * length, or 0 when there is none. */
size_t threshold_op_parse(const char *text, enum threshold_op *op);

/* actual OP value; never true for NAN. */
bool threshold_op_holds(enum threshold_op op, double actual, double value);

struct threshold {
    char text[96]; /* as the user wrote it */
    enum threshold_metric metric;
    enum threshold_op op;
    double value; /* latencies in ms, errors as a fraction, counts and rps as they are */
};

/* The numbers a run is judged by. Latencies in ms, from the merged histogram; a number with
 * nothing to measure (no latency sample, nothing scheduled) is NAN, which no threshold passes.
 * scheduled = succeeded + failures; failures count every request that did not succeed:
 * failed by class (unanswered included), not sent, dropped. */
struct load_summary {
    uint64_t scheduled, requests, succeeded, failures; /* requests: those that ended */
    double error_rate;      /* failures / scheduled */
    double rps, ok_rps;     /* ended requests, successes: per second of the run */
    double p50, p75, p90, p95, p99, p999, max, mean, min;
};

/* The unit of a metric's value, and a working example of a threshold on it ("<20ms" for
 * the latencies, "<0.1%" errors, ">1000" rps, "<=10" failures, ">=1000" requests). */
enum threshold_unit threshold_metric_unit(enum threshold_metric metric);
const char *threshold_metric_example(enum threshold_metric metric);

/* The metric named name ("p99", "errors"). Returns 0, or -1 when it is none. */
int threshold_metric_parse(const char *name, enum threshold_metric *out);

/* Parses one expression. Returns 0, or -1 with a message that shows a working example for
 * the metric ("'p99<fast': expected METRIC OP VALUE such as p99<20ms"). */
int threshold_parse(const char *text, struct threshold *out, char *err, size_t errlen);

/* The value of the threshold's metric in s: NAN when there is no sample to measure it by. */
double threshold_actual(const struct threshold *t, const struct load_summary *s);

/* True when s meets t; never when the value is not measured (NAN: "no samples"). */
bool threshold_check(const struct threshold *t, const struct load_summary *s);

/* Fills s from a finished run. */
void load_summary_from(const struct load_result *r, struct load_summary *s);

#endif
