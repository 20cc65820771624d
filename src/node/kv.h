/* kv.h -- the demo node's key-value store: string keys, byte values, a sequence number per
 * write (the basis for replication). */
#ifndef HERD_NODE_KV_H
#define HERD_NODE_KV_H

#include <stddef.h>
#include <stdint.h>

#define KV_KEY_MAX 256

struct kv_entry {
    char *key;
    char *value; /* NUL-terminated copy; value_len excludes the NUL */
    size_t value_len;
    uint64_t seq; /* the store's sequence number at this entry's last write */
    struct kv_entry *next;
};

struct kv_store {
    struct kv_entry **slots;
    size_t slot_count;
    size_t count;
    uint64_t seq; /* last sequence number given out */
};

/* All return 0, or -1 when out of memory. kv_free releases everything. */
int kv_init(struct kv_store *kv);
void kv_free(struct kv_store *kv);

/* The entry for key, or NULL. Owned by the store; valid until the next write. */
const struct kv_entry *kv_get(const struct kv_store *kv, const char *key);

/* Stores a copy of value under key. *created tells whether the key is new. Returns the
 * entry, or NULL when out of memory. */
const struct kv_entry *kv_put(struct kv_store *kv, const char *key, const void *value, size_t len,
                              int *created);

/* Removes key. Returns the sequence number of the delete, or 0 when the key was absent. */
uint64_t kv_delete(struct kv_store *kv, const char *key);

#endif
