/* counters.c -- request outcome counters. */
#include "stats/counters.h"

void counters_merge(struct counters *dst, const struct counters *src)
{
    dst->requests += src->requests;
    for (int i = 0; i < COUNTER_CLASSES; i++)
        dst->by_class[i] += src->by_class[i];
    dst->bytes_in += src->bytes_in;
    dst->bytes_out += src->bytes_out;
}

const char *counter_class_name(enum counter_class cls)
{
    static const char *const names[COUNTER_CLASSES] = {
        "ok", "connect", "timeout", "reset", "read", "write", "5xx", "4xx", "assertion", "unanswered"};
    return (unsigned)cls < COUNTER_CLASSES ? names[cls] : "?";
}
