/* counters.h -- request outcome counters, by failure class (DESIGN section 5). */
#ifndef HERD_STATS_COUNTERS_H
#define HERD_STATS_COUNTERS_H

#include <stdint.h>

enum counter_class {
    COUNTER_OK = 0,     /* a response judged successful */
    COUNTER_CONNECT,    /* could not connect */
    COUNTER_TIMEOUT,    /* a phase timed out */
    COUNTER_RESET,      /* connection reset, or closed by the server before the answer was complete */
    COUNTER_READ,       /* the answer could not be read: not valid HTTP */
    COUNTER_WRITE,      /* the request could not be written */
    COUNTER_STATUS_5XX, /* server error status */
    COUNTER_STATUS_4XX, /* client error status */
    COUNTER_ASSERTION,  /* a response that failed a check */
    COUNTER_UNANSWERED, /* sent, and still without an answer when the run ended */
    COUNTER_CLASSES
};

struct counters {
    uint64_t requests; /* every request that ended, whatever the outcome */
    uint64_t by_class[COUNTER_CLASSES];
    uint64_t bytes_in;
    uint64_t bytes_out;
};

/* Counts one ended request of class c. */
static inline void counters_add(struct counters *c, enum counter_class cls)
{
    c->requests++;
    c->by_class[cls]++;
}

static inline uint64_t counters_failures(const struct counters *c)
{
    return c->requests - c->by_class[COUNTER_OK];
}

/* Adds src into dst. */
void counters_merge(struct counters *dst, const struct counters *src);

/* Short stable name of a class ("ok", "connect", "timeout", "reset", "read", "write", "5xx",
 * "4xx", "assertion", "unanswered"). */
const char *counter_class_name(enum counter_class cls);

#endif
