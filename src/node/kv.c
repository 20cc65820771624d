/* kv.c -- the demo node's key-value store (chained hash table, FNV-1a). */
#include "node/kv.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_key(const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

int kv_init(struct kv_store *kv)
{
    memset(kv, 0, sizeof *kv);
    kv->slot_count = 64;
    kv->slots = calloc(kv->slot_count, sizeof *kv->slots);
    return kv->slots ? 0 : -1;
}

void kv_free(struct kv_store *kv)
{
    for (size_t i = 0; i < kv->slot_count; i++) {
        struct kv_entry *next;
        for (struct kv_entry *e = kv->slots[i]; e; e = next) {
            next = e->next;
            free(e->key);
            free(e->value);
            free(e);
        }
    }
    free(kv->slots);
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
    return *find_link(kv, key);
}

static void grow(struct kv_store *kv)
{
    size_t n = kv->slot_count * 2;
    struct kv_entry **slots = calloc(n, sizeof *slots);
    if (!slots) return; /* keep the longer chains */
    for (size_t i = 0; i < kv->slot_count; i++) {
        struct kv_entry *next;
        for (struct kv_entry *e = kv->slots[i]; e; e = next) {
            next = e->next;
            size_t j = hash_key(e->key) & (n - 1);
            e->next = slots[j];
            slots[j] = e;
        }
    }
    free(kv->slots);
    kv->slots = slots;
    kv->slot_count = n;
}

const struct kv_entry *kv_put(struct kv_store *kv, const char *key, const void *value, size_t len,
                              int *created)
{
    char *copy = malloc(len + 1);
    if (!copy) return NULL;
    memcpy(copy, value, len);
    copy[len] = '\0';
    struct kv_entry **link = find_link(kv, key);
    struct kv_entry *e = *link;
    *created = e == NULL;
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e || !(e->key = strdup(key))) {
            free(e);
            free(copy);
            return NULL;
        }
        *link = e;
        kv->count++;
    } else {
        free(e->value);
    }
    e->value = copy;
    e->value_len = len;
    e->seq = ++kv->seq;
    if (kv->count > kv->slot_count) grow(kv);
    return e;
}

uint64_t kv_delete(struct kv_store *kv, const char *key)
{
    struct kv_entry **link = find_link(kv, key);
    struct kv_entry *e = *link;
    if (!e) return 0;
    *link = e->next;
    free(e->key);
    free(e->value);
    free(e);
    kv->count--;
    return ++kv->seq;
}
