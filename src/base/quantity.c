/* quantity.c -- quantities as people write them, and how a bad one is reported (quantity.h). */
#include "base/quantity.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#include "base/err.h"
#include "base/mtime.h"
#include "base/size.h"

size_t quantity_decimal_span(const char *text)
{
    size_t digits = strspn(text, "0123456789"), span = digits;
    if (text[span] == '.') {
        size_t fraction = strspn(text + span + 1, "0123456789");
        digits += fraction;
        span += 1 + fraction;
    }
    return digits ? span : 0;
}

int quantity_parse_number(const char *text, double *out)
{
    if (!text) return -1;
    size_t span = quantity_decimal_span(text);
    if (span == 0 || text[span]) return -1;
    double v = strtod(text, NULL);
    if (!isfinite(v)) return -1;
    *out = v;
    return 0;
}

int quantity_parse_percent(const char *text, double *out_fraction)
{
    if (!text) return -1;
    size_t span = quantity_decimal_span(text);
    if (span == 0) return -1;
    double v = strtod(text, NULL);
    if (strcmp(text + span, "%") == 0)
        v /= 100;
    else if (text[span])
        return -1;
    if (!isfinite(v)) return -1;
    *out_fraction = v;
    return 0;
}

/* A quantity counted in whole units (microseconds, bytes), and how it is named in messages. */
struct whole_kind {
    const char *name;     /* "duration" */
    const char *expected; /* QUANTITY_DURATION */
    int (*parse)(const char *text, uint64_t *out);
    char *(*format)(uint64_t value, char *out, size_t size);
};

static int read_whole(const struct whole_kind *k, const char *text, uint64_t min, uint64_t max,
                      uint64_t *out, char *err, size_t errlen)
{
    uint64_t v;
    if (k->parse(text, &v) < 0) return err_set(err, errlen, "'%s': expected %s", text, k->expected);
    if (v < min || v > max) {
        char lo[32], hi[32];
        return err_set(err, errlen, "'%s': expected a %s from %s to %s", text, k->name,
                       k->format(min, lo, sizeof lo), k->format(max, hi, sizeof hi));
    }
    *out = v;
    return 0;
}

int quantity_read_duration(const char *text, uint64_t min_us, uint64_t max_us, uint64_t *out_us,
                           char *err, size_t errlen)
{
    static const struct whole_kind duration = {"duration", QUANTITY_DURATION,
                                               mtime_parse_duration_us, quantity_format_duration};
    return read_whole(&duration, text, min_us, max_us, out_us, err, errlen);
}

int quantity_read_size(const char *text, uint64_t min, uint64_t max, uint64_t *out, char *err,
                       size_t errlen)
{
    static const struct whole_kind size = {"size", QUANTITY_SIZE, size_parse_bytes,
                                           quantity_format_size};
    return read_whole(&size, text, min, max, out, err, errlen);
}

/* v as the grammar writes numbers: decimal, never an exponent ("10000000", "0.001"), at most
 * 6 decimals with trailing zeros dropped. */
static const char *plain_number(double v, char *out, size_t size)
{
    if (v == (double)(long long)v && v > -1e15 && v < 1e15) {
        snprintf(out, size, "%lld", (long long)v);
        return out;
    }
    snprintf(out, size, "%.6f", v);
    char *end = out + strlen(out) - 1;
    while (end > out && *end == '0')
        *end-- = '\0';
    if (*end == '.') *end = '\0';
    return out;
}

int quantity_read_percent(const char *text, double min, double max, double *out, char *err,
                          size_t errlen)
{
    double v;
    if (quantity_parse_percent(text, &v) < 0)
        return err_set(err, errlen, "'%s': expected %s", text, QUANTITY_PERCENT);
    if (v < min || v > max)
    {
        char lo[32], hi[32];
        return err_set(err, errlen, "'%s': expected a percentage from %s%% to %s%%", text,
                       plain_number(min * 100, lo, sizeof lo), plain_number(max * 100, hi, sizeof hi));
    }
    *out = v;
    return 0;
}

int quantity_read_number(const char *text, double min, double max, double *out, char *err,
                         size_t errlen)
{
    double v;
    if (quantity_parse_number(text, &v) < 0 || v < min || v > max) {
        char lo[32], hi[32];
        return err_set(err, errlen, "'%s': expected a number from %s to %s", text,
                       plain_number(min, lo, sizeof lo), plain_number(max, hi, sizeof hi));
    }
    *out = v;
    return 0;
}

int quantity_read_count(const char *text, uint64_t min, uint64_t max, uint64_t *out, char *err,
                        size_t errlen)
{
    uint64_t v = 0;
    size_t digits = strspn(text, "0123456789");
    bool ok = digits > 0 && text[digits] == '\0';
    for (size_t i = 0; ok && i < digits; i++) {
        ok = v <= (UINT64_MAX - (uint64_t)(text[i] - '0')) / 10;
        v = v * 10 + (uint64_t)(text[i] - '0');
    }
    if (!ok || v < min || v > max)
        return err_set(err, errlen, "'%s': expected a whole number from %" PRIu64 " to %" PRIu64,
                       text, min, max);
    *out = v;
    return 0;
}

char *quantity_format_duration(uint64_t us, char *out, size_t size)
{
    static const struct {
        const char *name;
        uint64_t us;
    } units[] = {{"h", 3600000000u}, {"m", 60000000u}, {"s", 1000000u}, {"ms", 1000u}};
    if (us == 0) {
        snprintf(out, size, "0s");
        return out;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (us >= units[i].us && us % units[i].us == 0) {
            snprintf(out, size, "%" PRIu64 "%s", us / units[i].us, units[i].name);
            return out;
        }
    if (us >= 1000)
        snprintf(out, size, "%gms", (double)us / 1000);
    else
        snprintf(out, size, "%" PRIu64 "us", us);
    return out;
}

char *quantity_format_duration_exact(uint64_t us, char *out, size_t size)
{
    static const struct {
        const char *name;
        uint64_t us;
    } units[] = {{"h", 3600000000u}, {"m", 60000000u}, {"s", 1000000u}, {"ms", 1000u}, {"us", 1u}};
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof units / sizeof units[0] && len < size; i++) {
        uint64_t n = us / units[i].us;
        us %= units[i].us;
        if (n)
            len += (size_t)snprintf(out + len, size - len, "%" PRIu64 "%s", n, units[i].name);
    }
    if (!out[0]) snprintf(out, size, "0s");
    return out;
}

char *quantity_format_size(uint64_t bytes, char *out, size_t size)
{
    static const struct {
        const char *name;
        uint64_t bytes;
    } units[] = {{"GB", 1u << 30}, {"MB", 1u << 20}, {"KB", 1u << 10}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (bytes >= units[i].bytes && bytes % units[i].bytes == 0) {
            snprintf(out, size, "%" PRIu64 "%s", bytes / units[i].bytes, units[i].name);
            return out;
        }
    snprintf(out, size, "%" PRIu64 "B", bytes);
    return out;
}
