/* log.h -- leveled logging to stderr with a process tag. */
#ifndef HERD_BASE_LOG_H
#define HERD_BASE_LOG_H

enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG,
};

/* Sets the minimum level written and the tag that prefixes each line (copied). */
void log_setup(enum log_level level, const char *tag);

/* Parses "error|warn|info|debug" into *out. Returns 0, or -1 for an unknown name. */
int log_level_parse(const char *name, enum log_level *out);

enum log_level log_level_get(void);

/* Writes one line "TIME LEVEL tag: message" when level is enabled. */
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_write(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_level_get() >= LOG_LEVEL_DEBUG) log_write(LOG_LEVEL_DEBUG, __VA_ARGS__);           \
    } while (0)

#endif
