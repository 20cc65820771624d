/* kv.c -- the demo node's key-value store (chained hash table, FNV-1a; see kv.h). */
#include "node/kv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mtime.h"
#include "node/kv_log.h"

static uint64_t hash_key(const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

int kv_init(struct kv_store *kv, const char *self)
{
    memset(kv, 0, sizeof *kv);
    snprintf(kv->self, sizeof kv->self, "%s", self);
    kv->slot_count = 64;
    kv->slots = calloc(kv->slot_count, sizeof *kv->slots);
    kv->log = malloc(sizeof *kv->log);
    if (!kv->slots || !kv->log || kv_log_init(kv->log, KV_LOG_CAPACITY) < 0) {
        free(kv->log);
        free(kv->slots);
        memset(kv, 0, sizeof *kv);
        return -1;
    }
    return 0;
}

void kv_free(struct kv_store *kv)
{
    struct kv_entry *next;
    for (struct kv_entry *e = kv->first_change; e; e = next) {
        next = e->next_change;
        free(e->key);
        free(e->value);
        free(e);
    }
    free(kv->slots);
    if (kv->log) kv_log_free(kv->log);
    free(kv->log);
    memset(kv, 0, sizeof *kv);
}

static struct kv_entry **find_link(const struct kv_store *kv, const char *key)
{
    struct kv_entry **link = &kv->slots[hash_key(key) & (kv->slot_count - 1)];
    while (*link && strcmp((*link)->key, key) != 0)
        link = &(*link)->next;
    return link;
}

const struct kv_entry *kv_get(const struct kv_store *kv, const char *key)
{
    const struct kv_entry *e = *find_link(kv, key);
    return e && !e->deleted ? e : NULL;
}

const struct kv_entry *kv_lookup(const struct kv_store *kv, const char *key)
{
    return *find_link(kv, key);
}

static void grow(struct kv_store *kv)
{
    size_t n = kv->slot_count * 2;
    struct kv_entry **slots = calloc(n, sizeof *slots);
    if (!slots) return; /* keep the longer chains */
    for (struct kv_entry *e = kv->first_change; e; e = e->next_change) {
        size_t j = hash_key(e->key) & (n - 1);
        e->next = slots[j];
        slots[j] = e;
    }
    free(kv->slots);
    kv->slots = slots;
    kv->slot_count = n;
}

static void unlink_change(struct kv_store *kv, struct kv_entry *e)
{
    if (e->prev_change)
        e->prev_change->next_change = e->next_change;
    else
        kv->first_change = e->next_change;
    if (e->next_change)
        e->next_change->prev_change = e->prev_change;
    else
        kv->last_change = e->prev_change;
    e->prev_change = e->next_change = NULL;
}

/* Gives e the next sequence number and moves it to the end of the change list. */
static void record_change(struct kv_store *kv, struct kv_entry *e)
{
    if (e->seq) unlink_change(kv, e);
    e->seq = ++kv->seq;
    e->prev_change = kv->last_change;
    if (kv->last_change)
        kv->last_change->next_change = e;
    else
        kv->first_change = e;
    kv->last_change = e;
}

/* The entry for key, created (as a tombstone with version 0) when absent; NULL on OOM. */
static struct kv_entry *lookup_or_add(struct kv_store *kv, const char *key)
{
    struct kv_entry **link = find_link(kv, key);
    if (*link) return *link;
    struct kv_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->key = strdup(key)) || !(e->value = strdup(""))) {
        if (e) free(e->key);
        free(e);
        return NULL;
    }
    e->deleted = true;
    *link = e;
    kv->entries++;
    return e;
}

/* Replaces e's value; the caller then records the change. Returns 0 or -1 (OOM). */
static int set_value(struct kv_store *kv, struct kv_entry *e, const void *value, size_t len,
                     bool deleted, uint64_t version, const char *origin)
{
    char *copy = malloc(deleted ? 1 : len + 1);
    if (!copy) return -1;
    if (!deleted) memcpy(copy, value, len);
    copy[deleted ? 0 : len] = '\0';
    free(e->value);
    e->value = copy;
    e->value_len = deleted ? 0 : len;
    if (e->deleted && !deleted) kv->count++;
    if (!e->deleted && deleted) kv->count--;
    e->deleted = deleted;
    e->version = version;
    snprintf(e->origin, sizeof e->origin, "%s", origin);
    if (version > kv->clock) kv->clock = version;
    record_change(kv, e);
    e->applied_us = mtime_wall_us();
    kv_log_add(kv->log, e, e->applied_us);
    if (kv->entries > kv->slot_count) grow(kv);
    return 0;
}

/* The new entry when added but not set: keep the table free of version-0 ghosts. */
static void drop_if_ghost(struct kv_store *kv, struct kv_entry *e)
{
    if (e->version != 0) return;
    struct kv_entry **link = find_link(kv, e->key);
    *link = e->next;
    kv->entries--;
    free(e->key);
    free(e->value);
    free(e);
}

const struct kv_entry *kv_put(struct kv_store *kv, const char *key, const void *value, size_t len,
                              int *created)
{
    struct kv_entry *e = lookup_or_add(kv, key);
    if (!e) return NULL;
    *created = e->deleted;
    if (set_value(kv, e, value, len, false, kv->clock + 1, kv->self) < 0) {
        drop_if_ghost(kv, e);
        return NULL;
    }
    return e;
}

uint64_t kv_delete(struct kv_store *kv, const char *key)
{
    struct kv_entry *e = *find_link(kv, key);
    if (!e || e->deleted) return 0;
    if (set_value(kv, e, NULL, 0, true, kv->clock + 1, kv->self) < 0) return 0;
    return e->seq;
}

int kv_apply(struct kv_store *kv, const char *key, const void *value, size_t len, bool deleted,
             uint64_t version, const char *origin)
{
    size_t key_len = strlen(key), origin_len = strlen(origin);
    if (key_len == 0 || key_len >= KV_KEY_MAX || origin_len == 0 || origin_len >= KV_ORIGIN_MAX ||
        (!deleted && len > KV_VALUE_MAX) || version == 0 || version > KV_VERSION_MAX ||
        (version > kv->clock && version - kv->clock > KV_VERSION_AHEAD))
        return KV_EINVAL;
    if (version > kv->clock) kv->clock = version; /* Lamport: later local writes win */
    struct kv_entry *e = lookup_or_add(kv, key);
    if (!e) return -1;
    int order = version < e->version ? -1 : version > e->version ? 1 : strcmp(origin, e->origin);
    if (order <= 0) {
        drop_if_ghost(kv, e);
        return 0;
    }
    if (set_value(kv, e, value, len, deleted, version, origin) < 0) {
        drop_if_ghost(kv, e);
        return -1;
    }
    return 1;
}

const struct kv_entry *kv_changes_since(const struct kv_store *kv, uint64_t since)
{
    const struct kv_entry *e = kv->last_change;
    if (!e || e->seq <= since) return NULL;
    while (e->prev_change && e->prev_change->seq > since)
        e = e->prev_change;
    return e;
}
