/* kv_log.h -- when the demo node's KV store applied what: a ring of the last applies (key,
 * version, origin, local sequence number, wall-clock time) and, per origin (the node where a
 * write was made), the newest write of that node applied here. A check running in another
 * process times replication by these stamps rather than by how fast it can read the keys
 * (GET /api/v1/kv/log and /api/v1/kv/status). Memory is bounded: the ring keeps the last
 * `capacity` applies, and at most KV_LOG_ORIGINS_MAX origins are tracked. */
#ifndef HERD_NODE_KV_LOG_H
#define HERD_NODE_KV_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/kv.h"

#define KV_LOG_CAPACITY    1024 /* applies the node keeps */
#define KV_LOG_ORIGINS_MAX 256

/* One change applied here: a local write or delete, or a peer's that won. */
struct kv_log_record {
    uint64_t seq;       /* the local sequence number the change took */
    uint64_t version;   /* the write's Lamport version */
    int64_t applied_us; /* wall clock, microseconds since the Unix epoch */
    bool deleted;       /* a delete (tombstone) */
    char key[KV_KEY_MAX];
    char origin[KV_ORIGIN_MAX];
};

/* The newest write (highest version) of one origin applied here. */
struct kv_log_origin {
    char id[KV_ORIGIN_MAX];
    uint64_t version;
    uint64_t seq;       /* the local sequence number its apply took */
    int64_t applied_us; /* when it was applied */
    uint64_t applies;   /* changes of this origin applied here */
};

struct kv_log {
    struct kv_log_record *ring;
    size_t capacity;
    size_t count;   /* records held, <= capacity */
    size_t next;    /* where the next record goes */
    uint64_t total; /* applies recorded since the start */
    struct kv_log_origin *origins;
    size_t origin_count, origin_room;
    uint64_t untracked; /* applies of origins past KV_LOG_ORIGINS_MAX */
};

/* A log keeping the last capacity (>= 1) applies. Returns 0, or -1 when out of memory.
 * kv_log_free releases what it holds. */
int kv_log_init(struct kv_log *log, size_t capacity);
void kv_log_free(struct kv_log *log);

/* Records that e (its key, version, origin, seq and deleted flag as they are now) was applied
 * at applied_us. Never fails: the oldest record gives way; an origin that finds no room in
 * the table (full, or out of memory) is counted in untracked only. */
void kv_log_add(struct kv_log *log, const struct kv_entry *e, int64_t applied_us);

/* The i-th oldest record held (i < log->count), owned by the log and overwritten by later
 * adds. */
const struct kv_log_record *kv_log_get(const struct kv_log *log, size_t i);

/* The table entry of origin, or NULL when none of its writes was applied here (or it is not
 * tracked). Owned by the log. */
const struct kv_log_origin *kv_log_origin(const struct kv_log *log, const char *origin);

#endif
