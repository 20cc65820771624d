/* size.h -- sizes in bytes as people write them: one grammar for config files and flags. */
#ifndef HERD_BASE_SIZE_H
#define HERD_BASE_SIZE_H

#include <stdint.h>

#define SIZE_MAX_BYTES (UINT64_C(1) << 50) /* 1024 TB: above it a size is refused */

/* Parses a size into bytes: a decimal number alone ("65536": bytes) or followed by one unit,
 * B, KB, MB or GB (also KiB, MiB, GiB; 1 KB = 1024 B, as nginx and HAProxy count):
 * "512B", "64KB", "1.5MB", "1GB". Numbers are decimal, as in durations (".5MB", "2." too):
 * no sign, space, exponent or hex; a fraction must come to whole bytes ("0.5KB" is 512,
 * "1.5B" is refused). Returns 0, or -1 when the text is not a
 * size or is above SIZE_MAX_BYTES. */
int size_parse_bytes(const char *text, uint64_t *out);

#endif
