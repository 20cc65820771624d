/* err.h -- caller-supplied error messages: every parser and setup call fills one. */
#ifndef HERD_BASE_ERR_H
#define HERD_BASE_ERR_H

#include <stddef.h>

/* Room for one message; callers keep one on the stack and pass it down. */
#define ERR_SIZE 512

/* Formats a message into err (size bytes; err may be NULL). Returns -1, so a parser can
 * `return err_set(err, size, "...")`. */
int err_set(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
