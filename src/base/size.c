/* size.c -- sizes in bytes as people write them (see size.h). */
#include "base/size.h"

#include <string.h>

#define FRACTION_DIGITS_MAX 9 /* 10^9 x 2^30 still fits in 64 bits */

int size_parse_bytes(const char *text, uint64_t *out)
{
    static const struct {
        const char *name;
        uint64_t bytes;
    } units[] = {{"B", 1},           {"KB", 1 << 10},  {"KiB", 1 << 10}, {"MB", 1 << 20},
                 {"MiB", 1 << 20},   {"GB", 1 << 30},  {"GiB", 1 << 30}};
    if (!text) return -1;
    const char *p = text;
    uint64_t whole = 0, fraction = 0, scale = 1;
    size_t digits = 0, fraction_digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (whole > SIZE_MAX_BYTES) return -1; /* stays below 2^64 / 10 */
        whole = whole * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, fraction_digits++) {
            if (fraction_digits == FRACTION_DIGITS_MAX) return -1;
            fraction = fraction * 10 + (uint64_t)(*p - '0');
            scale *= 10;
        }
    }
    if (digits + fraction_digits == 0) return -1; /* ".5KB" and "2." are sizes, "." is not */
    uint64_t unit = 0;
    if (!*p) unit = 1;
    for (size_t u = 0; *p && u < sizeof units / sizeof units[0]; u++)
        if (strcmp(p, units[u].name) == 0) unit = units[u].bytes;
    if (unit == 0 || whole > SIZE_MAX_BYTES / unit) return -1;
    uint64_t part = fraction * unit; /* below 10^9 x 2^30 */
    if (part % scale != 0) return -1; /* not whole bytes */
    uint64_t bytes = whole * unit + part / scale;
    if (bytes > SIZE_MAX_BYTES) return -1;
    *out = bytes;
    return 0;
}
