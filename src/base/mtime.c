/* mtime.c -- monotonic clock readings and wall-clock timestamps. */
#include "base/mtime.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "base/quantity.h"

uint64_t mtime_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t mtime_now_us(void)
{
    return mtime_now_ns() / 1000u;
}

uint64_t mtime_now_ms(void)
{
    return mtime_now_ns() / 1000000u;
}

int64_t mtime_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *mtime_wall_iso8601(char *out, size_t size)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return mtime_iso8601_of((int64_t)tv.tv_sec * 1000000 + tv.tv_usec, out, size);
}

char *mtime_iso8601_of(int64_t unix_us, char *out, size_t size)
{
    int64_t sec = unix_us >= 0 ? unix_us / 1000000 : (unix_us - 999999) / 1000000;
    struct timeval tv = {.tv_sec = (time_t)sec, .tv_usec = (suseconds_t)(unix_us - sec * 1000000)};
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    char base[32], zone[8];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    strftime(zone, sizeof zone, "%z", &tm); /* +0800 */
    snprintf(out, size, "%s.%06ld%.3s:%.2s", base, (long)tv.tv_usec, zone, zone + 3);
    return out;
}

char *mtime_http_date(char *out, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return out;
}

int mtime_parse_duration_us(const char *text, uint64_t *out_us)
{
    static const struct {
        const char *name;
        double us;
    } units[] = {{"us", 1}, {"ms", 1e3}, {"s", 1e6}, {"m", 60e6}, {"h", 3600e6}};
    if (!text || !*text) return -1;
    double total = 0;
    int parts = 0;
    const char *p = text;
    while (*p) {
        size_t span = quantity_decimal_span(p);
        if (span == 0) return -1;
        char *end;
        double v = strtod(p, &end);
        if (end != p + span || !isfinite(v)) return -1;
        size_t len = 0;
        while (isalpha((unsigned char)end[len]))
            len++;
        double scale = -1;
        if (len == 0 && !*end && parts == 0)
            scale = 1e6; /* a bare number alone: seconds */
        for (size_t u = 0; len && u < sizeof units / sizeof units[0]; u++)
            if (strlen(units[u].name) == len && strncmp(end, units[u].name, len) == 0)
                scale = units[u].us;
        if (scale < 0) return -1;
        total += v * scale;
        parts++;
        p = end + len;
    }
    if (total > 1e15) return -1;
    *out_us = (uint64_t)llround(total);
    return 0;
}
