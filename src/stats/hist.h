/* hist.h -- mergeable log-linear latency histogram (HdrHistogram-style).
 *
 * Values are microseconds from 0 to HIST_MAX_VALUE (1 hour); larger values are clamped and
 * counted in `clamped`. Three significant digits: within one bucket, values differ by at most
 * 1/1024 of their magnitude. Fixed memory, O(1) record, exact bucket-wise merge. */
#ifndef HERD_STATS_HIST_H
#define HERD_STATS_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_SUB_BUCKET_HALF_BITS 10
#define HIST_SUB_BUCKET_HALF      (1u << HIST_SUB_BUCKET_HALF_BITS) /* 1024 */
#define HIST_BUCKETS              22                                /* 2047 << 21 > 1 h in us */
#define HIST_COUNTS_LEN           ((HIST_BUCKETS + 1) * HIST_SUB_BUCKET_HALF)
#define HIST_MAX_VALUE            UINT64_C(3600000000)

struct hist {
    uint64_t total;   /* number of values recorded */
    uint64_t min;     /* exact smallest value (UINT64_MAX when empty) */
    uint64_t max;     /* exact largest value */
    uint64_t sum;     /* sum of values, for the mean */
    uint64_t clamped; /* values above HIST_MAX_VALUE, recorded as HIST_MAX_VALUE */
    uint64_t counts[HIST_COUNTS_LEN];
};

/* Allocates an empty histogram (about 190 KB). Returns NULL when out of memory; free with
 * hist_free. */
struct hist *hist_new(void);
void hist_free(struct hist *h);
void hist_reset(struct hist *h);

/* Records one value, or `count` equal values. */
void hist_record(struct hist *h, uint64_t value);
void hist_record_n(struct hist *h, uint64_t value, uint64_t count);

/* Adds every count of src into dst. */
void hist_merge(struct hist *dst, const struct hist *src);

/* Takes part's counts out of h (part holds a subset of h's values, e.g. h merged from part
 * and others; a count part has beyond h's is taken as h's). min and max become the bounds of
 * the first and last bucket left, within h's exact min and max; the sum and clamped count
 * drop by part's. */
void hist_subtract(struct hist *h, const struct hist *part);

/* Value at percentile p (0..100): the middle of the bucket that holds the p-th value,
 * clamped to the exact min and max. 0 when empty. */
uint64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);

/* Counts the values below each of bounds[0..n) (us, ascending) into below[0..n), exactly: a
 * bound must be where a bucket starts (hist_lowest_of(hist_index_of(bound)) == bound), so that
 * no bucket holds values on both sides of it. Returns 0, or -1 when a bound is not a bucket's
 * start, is above HIST_MAX_VALUE, or the bounds are not ascending (below is then left
 * unspecified). */
int hist_count_below(const struct hist *h, const uint64_t *bounds, size_t n, uint64_t *below);

/* Encodes into a NUL-terminated base64 string (varint run-length of the counts). Returns a
 * malloc'd string the caller frees, or NULL when out of memory. */
char *hist_encode(const struct hist *h);

/* Decodes a hist_encode string into h (overwritten). Returns 0, or -1 with a message in err
 * (and h empty) when the text is not a valid encoding: any varint over 64 bits, counts past the
 * last bucket or adding up to more than 2^64 or to another total than the header's, min or max
 * outside the first or last counted bucket, more clamped values than values. */
int hist_decode(struct hist *h, const char *text, char *err, size_t errlen);

/* Internal index mapping, exposed for tests. */
size_t hist_index_of(uint64_t value);
uint64_t hist_lowest_of(size_t index);
uint64_t hist_width_of(size_t index);

#endif
