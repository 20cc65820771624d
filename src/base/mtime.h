/* mtime.h -- monotonic clock readings and wall-clock timestamps. */
#ifndef HERD_BASE_MTIME_H
#define HERD_BASE_MTIME_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic time since an arbitrary origin. */
uint64_t mtime_now_ns(void);
uint64_t mtime_now_us(void);
uint64_t mtime_now_ms(void);

/* The wall clock (CLOCK_REALTIME) in microseconds since the Unix epoch: for times that another
 * process on the machine compares with its own (the monotonic clock's origin is not shared). */
int64_t mtime_wall_us(void);

/* Writes local wall-clock time as RFC 3339 with microseconds ("2025-09-20T00:15:26.842371+08:00")
 * into out (at least 40 bytes). Returns out. */
char *mtime_wall_iso8601(char *out, size_t size);

/* The same for a given wall-clock time (Unix microseconds). Returns out. */
char *mtime_iso8601_of(int64_t unix_us, char *out, size_t size);

/* Writes the current time as an IMF-fixdate for the HTTP Date header (30 bytes). Returns out. */
char *mtime_http_date(char *out, size_t size);

/* Parses a duration into microseconds: one grammar for flags, plans, cluster files and
 * thresholds (DESIGN section 9): "500us", "20ms", "1.5s", "2m", "1h", compounds such as "1m30s"
 * or "1h2m", and a bare number alone meaning seconds ("2", "0.5"). Numbers are decimal: no
 * sign, space, exponent ("1e3") or hex ("0x10"). Returns 0, or -1 when the text is not a
 * duration or is above 1e15 us. */
int mtime_parse_duration_us(const char *text, uint64_t *out_us);

#endif
