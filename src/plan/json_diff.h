/* json_diff.h -- two JSON answers compared for parity: their structure (keys, types, array
 * elements' shapes) and, when asked, their values, with paths left out by patterns; each
 * difference a JSON path with both values shortened. */
#ifndef HERD_PLAN_JSON_DIFF_H
#define HERD_PLAN_JSON_DIFF_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* A value shown in a difference is cut to this many characters (with "..."). */
#define JSON_DIFF_VALUE_MAX 40

/* What to compare: ignore holds ignore_count patterns, "a.b", "checks.*.latency_ms",
 * "$.items[0].id", "items[*].ts": dot- or bracket-separated steps from the root, each a key,
 * an index or * (any key or index); a matched path is left out with all below it. values:
 * compare scalars' values and arrays' lengths too (body), not only the structure (schema). */
struct json_diff_opts {
    const char *const *ignore;
    size_t ignore_count;
    bool values;
};

/* True when pattern is a usable ignore pattern (steps as above, none empty). */
bool json_diff_pattern_valid(const char *pattern);

/* Compares a (the baseline) with b; appends {path, a, b, why} (the values shortened text,
 * "(absent)" for a missing key; why one of "type differs", "value differs", "length
 * differs", "key absent") to out for the
 * first max differences ("too deep to compare" past 64 levels, unless equal). Returns how
 * many differences there are in all (may exceed max; SIZE_MAX when out of memory). */
size_t json_diff_compare(const json_t *a, const json_t *b, const struct json_diff_opts *o,
                         json_t *out, size_t max);

/* v as a short text (compact JSON, cut at JSON_DIFF_VALUE_MAX with "...") into buf. */
const char *json_diff_value_text(const json_t *v, char *buf, size_t size);

/* A difference from json_diff_compare as one line: `$.data.items[0].price: 12.5 (local) vs
 * "12.5" (staging): type differs`, into buf. */
const char *json_diff_line(const json_t *d, const char *name_a, const char *name_b, char *buf,
                           size_t size);

#endif
