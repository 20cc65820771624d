/* kv_log.c -- the KV store's apply log: a ring of records and a table of origins (see
 * kv_log.h). */
#include "node/kv_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kv_log_init(struct kv_log *log, size_t capacity)
{
    memset(log, 0, sizeof *log);
    log->capacity = capacity ? capacity : 1;
    /* untouched pages of a large calloc cost nothing until the ring fills them */
    log->ring = calloc(log->capacity, sizeof *log->ring);
    return log->ring ? 0 : -1;
}

void kv_log_free(struct kv_log *log)
{
    free(log->ring);
    free(log->origins);
    memset(log, 0, sizeof *log);
}

/* The table entry for origin, added when there is room; NULL when not tracked. */
static struct kv_log_origin *origin_slot(struct kv_log *log, const char *origin)
{
    struct kv_log_origin *o = (struct kv_log_origin *)kv_log_origin(log, origin);
    if (o) return o;
    if (log->origin_count == KV_LOG_ORIGINS_MAX) return NULL;
    if (log->origin_count == log->origin_room) {
        size_t room = log->origin_room ? log->origin_room * 2 : 8;
        if (room > KV_LOG_ORIGINS_MAX) room = KV_LOG_ORIGINS_MAX;
        struct kv_log_origin *grown = realloc(log->origins, room * sizeof *grown);
        if (!grown) return NULL;
        log->origins = grown;
        log->origin_room = room;
    }
    o = &log->origins[log->origin_count++];
    memset(o, 0, sizeof *o);
    snprintf(o->id, sizeof o->id, "%s", origin);
    return o;
}

void kv_log_add(struct kv_log *log, const struct kv_entry *e, int64_t applied_us)
{
    struct kv_log_record *r = &log->ring[log->next];
    r->seq = e->seq;
    r->version = e->version;
    r->applied_us = applied_us;
    r->deleted = e->deleted;
    snprintf(r->key, sizeof r->key, "%s", e->key);
    snprintf(r->origin, sizeof r->origin, "%s", e->origin);
    log->next = (log->next + 1) % log->capacity;
    if (log->count < log->capacity) log->count++;
    log->total++;
    struct kv_log_origin *o = origin_slot(log, e->origin);
    if (!o) {
        log->untracked++;
        return;
    }
    o->applies++;
    if (e->version >= o->version) {
        o->version = e->version;
        o->seq = e->seq;
        o->applied_us = applied_us;
    }
}

const struct kv_log_record *kv_log_get(const struct kv_log *log, size_t i)
{
    size_t oldest = (log->next + log->capacity - log->count) % log->capacity;
    return &log->ring[(oldest + i) % log->capacity];
}

const struct kv_log_origin *kv_log_origin(const struct kv_log *log, const char *origin)
{
    for (size_t i = 0; i < log->origin_count; i++)
        if (strcmp(log->origins[i].id, origin) == 0) return &log->origins[i];
    return NULL;
}
