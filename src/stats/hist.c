/* hist.c -- mergeable log-linear latency histogram. */
#include "stats/hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <resolv.h>

#include "base/buf.h"
#include "base/err.h"

#define SUB_BUCKET_MASK  ((uint64_t)(2 * HIST_SUB_BUCKET_HALF - 1))
#define ENCODING_VERSION 1

struct hist *hist_new(void)
{
    struct hist *h = malloc(sizeof *h);
    if (h) hist_reset(h);
    return h;
}

void hist_free(struct hist *h)
{
    free(h);
}

void hist_reset(struct hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

size_t hist_index_of(uint64_t value)
{
    /* Bucket b holds sub-bucket indexes 1024..2047 at a resolution of 2^b. */
    unsigned magnitude = 64u - (unsigned)__builtin_clzll(value | SUB_BUCKET_MASK);
    unsigned bucket = magnitude - (HIST_SUB_BUCKET_HALF_BITS + 1);
    uint64_t sub = value >> bucket;
    return ((size_t)(bucket + 1) << HIST_SUB_BUCKET_HALF_BITS) +
           (size_t)(sub - HIST_SUB_BUCKET_HALF);
}

static void index_split(size_t index, unsigned *bucket, uint64_t *sub)
{
    long b = (long)(index >> HIST_SUB_BUCKET_HALF_BITS) - 1;
    uint64_t s = (index & (HIST_SUB_BUCKET_HALF - 1)) + HIST_SUB_BUCKET_HALF;
    if (b < 0) {
        s -= HIST_SUB_BUCKET_HALF;
        b = 0;
    }
    *bucket = (unsigned)b;
    *sub = s;
}

uint64_t hist_lowest_of(size_t index)
{
    unsigned bucket;
    uint64_t sub;
    index_split(index, &bucket, &sub);
    return sub << bucket;
}

uint64_t hist_width_of(size_t index)
{
    unsigned bucket;
    uint64_t sub;
    index_split(index, &bucket, &sub);
    return UINT64_C(1) << bucket;
}

void hist_record_n(struct hist *h, uint64_t value, uint64_t count)
{
    if (count == 0) return;
    if (value > HIST_MAX_VALUE) {
        value = HIST_MAX_VALUE;
        h->clamped += count;
    }
    h->counts[hist_index_of(value)] += count;
    h->total += count;
    h->sum += value * count;
    if (value < h->min) h->min = value;
    if (value > h->max) h->max = value;
}

void hist_record(struct hist *h, uint64_t value)
{
    hist_record_n(h, value, 1);
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    if (src->total == 0) return;
    for (size_t i = 0; i < HIST_COUNTS_LEN; i++)
        dst->counts[i] += src->counts[i];
    dst->total += src->total;
    dst->sum += src->sum;
    dst->clamped += src->clamped;
    if (src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
}

void hist_subtract(struct hist *h, const struct hist *part)
{
    if (part->total == 0) return;
    uint64_t total = 0;
    size_t first = HIST_COUNTS_LEN, last = 0;
    for (size_t i = 0; i < HIST_COUNTS_LEN; i++) {
        h->counts[i] -= part->counts[i] < h->counts[i] ? part->counts[i] : h->counts[i];
        if (!h->counts[i]) continue;
        total += h->counts[i];
        if (first == HIST_COUNTS_LEN) first = i;
        last = i;
    }
    h->total = total;
    h->sum = part->sum < h->sum ? h->sum - part->sum : 0;
    h->clamped = part->clamped < h->clamped ? h->clamped - part->clamped : 0;
    if (!total) {
        h->min = UINT64_MAX;
        h->max = 0;
        h->sum = h->clamped = 0;
        return;
    }
    uint64_t lo = hist_lowest_of(first), hi = hist_lowest_of(last) + hist_width_of(last) - 1;
    h->min = lo > h->min ? lo : h->min;
    h->max = hi < h->max ? hi : h->max;
    if (h->clamped > total) h->clamped = total;
}

int hist_count_below(const struct hist *h, const uint64_t *bounds, size_t n, uint64_t *below)
{
    size_t i = 0;
    uint64_t sum = 0;
    for (size_t k = 0; k < n; k++) {
        if (bounds[k] > HIST_MAX_VALUE || (k && bounds[k] <= bounds[k - 1])) return -1;
        size_t end = hist_index_of(bounds[k]);
        if (hist_lowest_of(end) != bounds[k]) return -1;
        for (; i < end; i++)
            sum += h->counts[i];
        below[k] = sum;
    }
    return 0;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
    if (h->total == 0) return 0;
    if (p <= 0) return h->min;
    if (p >= 100) return h->max;
    uint64_t target = (uint64_t)ceil(p / 100.0 * (double)h->total);
    if (target == 0) target = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_COUNTS_LEN; i++) {
        seen += h->counts[i];
        if (seen >= target) {
            uint64_t v = hist_lowest_of(i) + hist_width_of(i) / 2;
            if (v < h->min) v = h->min;
            if (v > h->max) v = h->max;
            return v;
        }
    }
    return h->max;
}

double hist_mean(const struct hist *h)
{
    return h->total ? (double)h->sum / (double)h->total : 0.0;
}

/* Encoding: varints of version, total, min, max, sum, clamped, then the counts as zigzag
 * varints where a negative number -k stands for k empty buckets; trailing zeros omitted. */

static int put_varint(struct buf *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) tmp[n] |= 0x80;
        n++;
    } while (v);
    return buf_append(b, tmp, n);
}

static int put_zigzag(struct buf *b, int64_t v)
{
    return put_varint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

char *hist_encode(const struct hist *h)
{
    struct buf raw = {0};
    int rc = put_varint(&raw, ENCODING_VERSION);
    rc |= put_varint(&raw, h->total);
    rc |= put_varint(&raw, h->total ? h->min : 0);
    rc |= put_varint(&raw, h->max);
    rc |= put_varint(&raw, h->sum);
    rc |= put_varint(&raw, h->clamped);
    size_t last = 0;
    for (size_t i = 0; i < HIST_COUNTS_LEN; i++)
        if (h->counts[i]) last = i + 1;
    for (size_t i = 0; i < last && rc == 0;) {
        if (h->counts[i] == 0) {
            size_t run = 0;
            while (i < last && h->counts[i] == 0) {
                run++;
                i++;
            }
            rc |= put_zigzag(&raw, -(int64_t)run);
        } else {
            rc |= put_zigzag(&raw, (int64_t)h->counts[i]);
            i++;
        }
    }
    char *out = NULL;
    if (rc == 0) {
        size_t size = 4 * ((raw.len + 2) / 3) + 1;
        out = malloc(size);
        if (out && b64_ntop((const unsigned char *)raw.data, raw.len, out, size) < 0) {
            free(out);
            out = NULL;
        }
    }
    buf_free(&raw);
    return out;
}

struct reader {
    const unsigned char *p, *end;
};

/* A varint of at most 64 bits: a tenth byte may hold only the top bit. */
static int get_varint(struct reader *r, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return -1;
        unsigned char c = *r->p++;
        if (shift == 63 && (c & 0x7e)) return -1;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

int hist_decode(struct hist *h, const char *text, char *err, size_t errlen)
{
    size_t len = strlen(text);
    hist_reset(h);
    if (len == 0 || len % 4 != 0)
        return err_set(err, errlen, "histogram: not base64 (length %zu)", len);
    unsigned char *raw = malloc(len / 4 * 3 + 1);
    if (!raw)
        return err_set(err, errlen, "histogram: out of memory");
    int n = b64_pton(text, raw, len / 4 * 3 + 1);
    if (n < 0) {
        free(raw);
        return err_set(err, errlen, "histogram: not base64");
    }
    struct reader r = {raw, raw + n};
    uint64_t version, total, min, max, sum, clamped;
    int rc = -1;
    hist_reset(h);
    if (get_varint(&r, &version) || version != ENCODING_VERSION) {
        err_set(err, errlen, "histogram: unknown encoding version");
        goto done;
    }
    if (get_varint(&r, &total) || get_varint(&r, &min) || get_varint(&r, &max) ||
        get_varint(&r, &sum) || get_varint(&r, &clamped)) {
        err_set(err, errlen, "histogram: truncated header");
        goto done;
    }
    size_t i = 0, first = HIST_COUNTS_LEN, last = 0;
    uint64_t counted = 0;
    while (r.p < r.end) {
        uint64_t z;
        if (get_varint(&r, &z)) {
            err_set(err, errlen, "histogram: truncated or overlong counts");
            goto done;
        }
        /* zigzag: an even z is the count z/2, an odd z a run of (z+1)/2 empty buckets; read
         * in unsigned arithmetic, as no int64_t can negate the largest run */
        if (z & 1) {
            uint64_t run = (z >> 1) + 1;
            if (run > HIST_COUNTS_LEN - i) {
                err_set(err, errlen, "histogram: counts run past the last bucket");
                goto done;
            }
            i += (size_t)run;
        } else {
            uint64_t count = z >> 1;
            if (i >= HIST_COUNTS_LEN) {
                err_set(err, errlen, "histogram: counts run past the last bucket");
                goto done;
            }
            if (count > UINT64_MAX - counted) {
                err_set(err, errlen, "histogram: counts add up to more than 2^64");
                goto done;
            }
            if (count) {
                if (first == HIST_COUNTS_LEN) first = i;
                last = i;
            }
            h->counts[i++] = count;
            counted += count;
        }
    }
    if (counted != total) {
        err_set(err, errlen, "histogram: counts add up to %llu, header says %llu",
                (unsigned long long)counted, (unsigned long long)total);
        goto done;
    }
    if (total && (min > max || max > HIST_MAX_VALUE || hist_index_of(min) != first ||
                  hist_index_of(max) != last)) {
        err_set(err, errlen, "histogram: min/max out of range or not in the first/last bucket");
        goto done;
    }
    if (!total && (min || max || sum || clamped)) {
        err_set(err, errlen, "histogram: an empty histogram with a min, max, sum or clamped count");
        goto done;
    }
    if (clamped > total) {
        err_set(err, errlen, "histogram: more clamped values than values");
        goto done;
    }
    h->total = total;
    h->min = total ? min : UINT64_MAX;
    h->max = max;
    h->sum = sum;
    h->clamped = clamped;
    rc = 0;
done:
    if (rc < 0) hist_reset(h);
    free(raw);
    return rc;
}
