/* quantity.h -- quantities as people write them in flags, plans, cluster files and thresholds:
 * the decimal numbers durations (mtime.h) and sizes (size.h) are made of, percentages, and the
 * one message style every reader of a quantity uses ("'5x': expected a duration such as 500ms,
 * 2s, 1m30s"). The grammar is docs/plan-reference.md's "Quantities". */
#ifndef HERD_BASE_QUANTITY_H
#define HERD_BASE_QUANTITY_H

#include <stddef.h>
#include <stdint.h>

/* What each kind of quantity looks like, for messages: "expected " QUANTITY_DURATION. */
#define QUANTITY_DURATION "a duration such as 500ms, 2s, 1m30s"
#define QUANTITY_SIZE     "a size such as 64KB, 1MB, 1GB"
#define QUANTITY_PERCENT  "a percentage such as 0.1%"
#define QUANTITY_NUMBER   "a number such as 1000 or 0.5"

/* The length of the decimal number at the start of text: digits with at most one '.', at
 * least one digit ("12", "1.5", ".5", "2."). No sign, space, exponent or hex, which strtod
 * would take. 0 when text does not start with one. */
size_t quantity_decimal_span(const char *text);

/* Parses text, a decimal number and nothing else (quantity_decimal_span), into *out. Returns 0,
 * or -1 when it is not one or is not finite. */
int quantity_parse_number(const char *text, double *out);

/* Parses a percentage into a fraction: "0.1%" is 0.001, "50%" is 0.5; a bare decimal number is
 * already a fraction ("0.001"). Returns 0, or -1 when the text is not one of these. */
int quantity_parse_percent(const char *text, double *out_fraction);

/* Readers with the message: each parses text, checks it lies in [min, max] and returns 0 with
 * the value in *out, or -1 with "'TEXT': expected a duration such as 500ms, 2s, 1m30s" (or
 * "'TEXT': expected a duration from 1ms to 1h" when out of range) in err. Callers put the
 * flag ("--timeout ") or the file position before it. Durations in microseconds, sizes in
 * bytes, percentages as fractions (min, max too: 0 to 1 is 0% to 100%). */
int quantity_read_duration(const char *text, uint64_t min_us, uint64_t max_us, uint64_t *out_us,
                           char *err, size_t errlen);
int quantity_read_size(const char *text, uint64_t min, uint64_t max, uint64_t *out, char *err,
                       size_t errlen);
int quantity_read_percent(const char *text, double min, double max, double *out, char *err,
                          size_t errlen);
/* A plain decimal number (a rate, a ratio) within [min, max]: "'TEXT': expected a number
 * from MIN to MAX". */
int quantity_read_number(const char *text, double min, double max, double *out, char *err,
                         size_t errlen);

/* A whole number (a count: connections, requests, a port, a seed) within [min, max]: decimal
 * digits only (no sign, space, fraction or exponent), "'TEXT': expected a whole number from
 * MIN to MAX" otherwise. */
int quantity_read_count(const char *text, uint64_t min, uint64_t max, uint64_t *out, char *err,
                        size_t errlen);

/* Writes a duration as the grammar reads it, in its largest exact unit ("1h", "90s", "250ms",
 * "7us"; "1.5ms" when none is exact) into out. Returns out. */
char *quantity_format_duration(uint64_t us, char *out, size_t size);

/* Writes us exactly, as a compound the duration grammar reads back to the same value: "10s",
 * "1m30s", "1s250ms", "2h5us"; "0s" for 0. For configs written back (a task's config handed
 * to a worker); messages use quantity_format_duration. Returns out. */
char *quantity_format_duration_exact(uint64_t us, char *out, size_t size);

/* Writes a size in its largest exact unit ("1GB", "64KB", "100B") into out. Returns out. */
char *quantity_format_size(uint64_t bytes, char *out, size_t size);

#endif
