/* kv.h -- the demo node's key-value store: string keys, byte values, and what replication
 * needs. Every write carries a version (a Lamport clock) and the id of the node that made it;
 * the larger (version, origin) wins, so nodes that saw the same writes in any order agree.
 * Every change applied here, local or replicated, gets the next local sequence number and
 * moves to the end of the change list, which peers read from where they stopped. Deletes
 * leave a tombstone so that they replicate too. Every change applied is also stamped with the
 * wall clock and recorded in the store's apply log (kv_log.h). */
#ifndef HERD_NODE_KV_H
#define HERD_NODE_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KV_KEY_MAX    256        /* a key is 1 to KV_KEY_MAX - 1 bytes */
#define KV_ORIGIN_MAX 128        /* a node id is 1 to KV_ORIGIN_MAX - 1 bytes */
#define KV_VALUE_MAX  (1u << 20) /* bytes in a value */
/* Versions a store accepts: at most KV_VERSION_MAX (JSON numbers stay exact, and the clock
 * can never wrap), and at most KV_VERSION_AHEAD past the largest version seen, so that one
 * forged change cannot push every later write to the end of the range. A cluster would need
 * 2^40 writes that a node missed to pass it legitimately. */
#define KV_VERSION_MAX   ((uint64_t)1 << 53)
#define KV_VERSION_AHEAD ((uint64_t)1 << 40)
#define KV_EINVAL        (-2) /* kv_apply: the change breaks a limit above */

struct kv_log;

struct kv_entry {
    char *key;
    char *value; /* NUL-terminated copy; value_len excludes the NUL; "" for a tombstone */
    size_t value_len;
    bool deleted;
    uint64_t version;             /* Lamport clock of the write that made this value */
    char origin[KV_ORIGIN_MAX];   /* node id of that write */
    uint64_t seq;                 /* local sequence number of the last change */
    int64_t applied_us;           /* wall clock (us since the epoch) of that change */
    struct kv_entry *next;        /* hash chain */
    struct kv_entry *prev_change; /* the change list, in seq order */
    struct kv_entry *next_change;
};

struct kv_store {
    struct kv_entry **slots;
    size_t slot_count;
    size_t entries; /* including tombstones */
    size_t count;   /* live keys */
    uint64_t seq;   /* last local sequence number given out */
    uint64_t clock; /* largest version seen */
    char self[KV_ORIGIN_MAX];
    struct kv_entry *first_change, *last_change;
    struct kv_log *log; /* every change applied, with its time (kv_log.h) */
};

/* self names this node in the versions it gives out; the apply log keeps the last
 * KV_LOG_CAPACITY changes. Return 0, or -1 when out of memory. kv_free releases everything. */
int kv_init(struct kv_store *kv, const char *self);
void kv_free(struct kv_store *kv);

/* The live entry for key, or NULL (absent or deleted). Owned by the store; valid until the
 * next write. */
const struct kv_entry *kv_get(const struct kv_store *kv, const char *key);

/* The entry for key, tombstones included (deleted set), or NULL when the key was never
 * applied here. Owned by the store; valid until the next write. */
const struct kv_entry *kv_lookup(const struct kv_store *kv, const char *key);

/* A local write: stores a copy of value under key with a new version. *created tells whether
 * the key was not live before. Returns the entry, or NULL when out of memory. */
const struct kv_entry *kv_put(struct kv_store *kv, const char *key, const void *value, size_t len,
                              int *created);

/* A local delete. Returns the sequence number of the change, or 0 when the key was not live. */
uint64_t kv_delete(struct kv_store *kv, const char *key);

/* A replicated write (deleted: a delete). Returns 1 when it won and was applied, 0 when the
 * store already holds this or a newer version, KV_EINVAL when it breaks a limit (key 1..255
 * bytes, value at most KV_VALUE_MAX bytes, origin 1..127 bytes, version from 1 to
 * KV_VERSION_MAX and at most KV_VERSION_AHEAD past kv->clock; nothing changes), -1 when out of
 * memory. */
int kv_apply(struct kv_store *kv, const char *key, const void *value, size_t len, bool deleted,
             uint64_t version, const char *origin);

/* The first change with seq > since (NULL: none); walk on with ->next_change. */
const struct kv_entry *kv_changes_since(const struct kv_store *kv, uint64_t since);

#endif
