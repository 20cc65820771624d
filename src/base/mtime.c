/* mtime.c -- monotonic clock readings and wall-clock timestamps. */
#include "base/mtime.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

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
    if (!text || !*text) return -1;
    char *end;
    double v = strtod(text, &end);
    if (end == text || !isfinite(v) || v < 0) return -1;
    double scale;
    if (*end == '\0' || strcmp(end, "ms") == 0)
        scale = 1e3;
    else if (strcmp(end, "us") == 0)
        scale = 1;
    else if (strcmp(end, "s") == 0)
        scale = 1e6;
    else if (strcmp(end, "m") == 0)
        scale = 60e6;
    else if (strcmp(end, "h") == 0)
        scale = 3600e6;
    else
        return -1;
    double us = v * scale;
    if (us > 1e15) return -1;
    *out_us = (uint64_t)llround(us);
    return 0;
}
