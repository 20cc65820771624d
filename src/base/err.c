/* err.c -- caller-supplied error messages. */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>

int err_set(char *err, size_t size, const char *fmt, ...)
{
    if (err && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, size, fmt, ap);
        va_end(ap);
    }
    return -1;
}
