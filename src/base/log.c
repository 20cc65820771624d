/* log.c -- leveled logging to stderr with a process tag. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/mtime.h"

static enum log_level current_level = LOG_LEVEL_INFO;
static char current_tag[64] = "herd";

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_setup(enum log_level level, const char *tag)
{
    current_level = level;
    if (tag) snprintf(current_tag, sizeof current_tag, "%s", tag);
}

int log_level_parse(const char *name, enum log_level *out)
{
    for (int i = 0; i <= LOG_LEVEL_DEBUG; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

enum log_level log_level_get(void)
{
    return current_level;
}

void log_write(enum log_level level, const char *fmt, ...)
{
    if (level > current_level) return;
    char when[40];
    mtime_wall_iso8601(when, sizeof when);
    char line[2048];
    int n = snprintf(line, sizeof line, "%s %-5s %s: ", when, level_names[level], current_tag);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line) vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}
