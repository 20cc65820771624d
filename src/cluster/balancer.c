/* balancer.c -- the gateway's balancers (see balancer.h). */
#include "cluster/balancer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RING_POINTS_PER_WEIGHT 40 /* virtual nodes per unit of weight (weight 100: 4000) */
#define RING_POINTS_MIN        160

static const char *const names[] = {"roundrobin", "random", "weighted", "leastconn", "p2c", "hash"};

int balancer_parse(const char *name, enum balance_algorithm *out)
{
    for (int i = 0; i <= BALANCE_HASH; i++)
        if (strcmp(name, names[i]) == 0)
            return *out = (enum balance_algorithm)i, 0;
    return -1;
}

const char *balancer_name(enum balance_algorithm algorithm)
{
    return (unsigned)algorithm <= BALANCE_HASH ? names[algorithm] : "?";
}

static uint64_t next_random(struct balancer *b)
{
    uint64_t x = b->rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    b->rng = x;
    return x * 2685821657736338717ULL;
}

static uint64_t hash64(const void *data, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a, then a final mix for spread */
    for (const unsigned char *p = data; len--; p++)
        h = (h ^ *p) * 1099511628211ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static int take(struct balancer *b, int node)
{
    if (node >= 0)
        b->nodes[node].in_flight++;
    return node;
}

static void release(struct balancer *b, int node, bool ok)
{
    (void)ok;
    if (node >= 0 && (size_t)node < b->count && b->nodes[node].in_flight > 0)
        b->nodes[node].in_flight--;
}

static int select_roundrobin(struct balancer *b, const char *key, size_t len)
{
    (void)key;
    (void)len;
    long long total = 0;
    int best = -1;
    for (size_t i = 0; i < b->count; i++) {
        struct balancer_node *n = &b->nodes[i];
        if (!n->available)
            continue;
        n->current += n->weight;
        total += n->weight;
        if (best < 0 || n->current > b->nodes[best].current)
            best = (int)i;
    }
    if (best >= 0)
        b->nodes[best].current -= total;
    return take(b, best);
}

static int select_random(struct balancer *b, const char *key, size_t len)
{
    (void)key;
    (void)len;
    size_t available = 0;
    for (size_t i = 0; i < b->count; i++)
        available += b->nodes[i].available;
    if (!available)
        return -1;
    size_t k = (size_t)(next_random(b) % available);
    for (size_t i = 0; i < b->count; i++)
        if (b->nodes[i].available && k-- == 0)
            return take(b, (int)i);
    return -1;
}

static int select_weighted(struct balancer *b, const char *key, size_t len)
{
    (void)key;
    (void)len;
    uint64_t total = 0;
    for (size_t i = 0; i < b->count; i++)
        if (b->nodes[i].available)
            total += (uint64_t)b->nodes[i].weight;
    if (!total)
        return -1;
    uint64_t r = next_random(b) % total;
    for (size_t i = 0; i < b->count; i++) {
        if (!b->nodes[i].available)
            continue;
        if (r < (uint64_t)b->nodes[i].weight)
            return take(b, (int)i);
        r -= (uint64_t)b->nodes[i].weight;
    }
    return -1;
}

/* a is less loaded than b: in_flight / weight compared without division */
static bool less_loaded(const struct balancer_node *a, const struct balancer_node *b)
{
    return a->in_flight * (uint64_t)b->weight < b->in_flight * (uint64_t)a->weight;
}

static int select_leastconn(struct balancer *b, const char *key, size_t len)
{
    (void)key;
    (void)len;
    int best = -1;
    size_t start = b->count ? b->rotation++ % b->count : 0; /* ties go round */
    for (size_t k = 0; k < b->count; k++) {
        size_t i = (start + k) % b->count;
        if (b->nodes[i].available && (best < 0 || less_loaded(&b->nodes[i], &b->nodes[best])))
            best = (int)i;
    }
    return take(b, best);
}

/* The k-th available node (0-based), or -1. */
static int nth_available(const struct balancer *b, size_t k)
{
    for (size_t i = 0; i < b->count; i++)
        if (b->nodes[i].available && k-- == 0)
            return (int)i;
    return -1;
}

static int select_p2c(struct balancer *b, const char *key, size_t len)
{
    (void)key;
    (void)len;
    size_t available = 0;
    for (size_t i = 0; i < b->count; i++)
        available += b->nodes[i].available;
    if (available < 2)
        return take(b, nth_available(b, 0));
    /* two distinct candidates: the second is drawn from the others */
    size_t k1 = (size_t)(next_random(b) % available);
    size_t k2 = (size_t)(next_random(b) % (available - 1));
    if (k2 >= k1)
        k2++;
    int first = nth_available(b, k1), second = nth_available(b, k2);
    return take(b, less_loaded(&b->nodes[second], &b->nodes[first]) ? second : first);
}

static int cmp_point(const void *x, const void *y)
{
    const struct balancer_point *a = x, *b = y;
    return a->hash < b->hash ? -1 : a->hash > b->hash;
}

/* Every node, available or not, keeps its points: a node that leaves takes only its own
 * keys with it, and they come back when it returns. */
static void ring_build(struct balancer *b)
{
    size_t points = 0;
    for (size_t i = 0; i < b->count; i++) {
        size_t n = (size_t)b->nodes[i].weight * RING_POINTS_PER_WEIGHT;
        points += n < RING_POINTS_MIN ? RING_POINTS_MIN : n;
    }
    struct balancer_point *ring = realloc(b->ring, (points ? points : 1) * sizeof *ring);
    if (!ring)
        return;
    b->ring = ring;
    size_t k = 0;
    for (size_t i = 0; i < b->count; i++) {
        size_t n = (size_t)b->nodes[i].weight * RING_POINTS_PER_WEIGHT;
        if (n < RING_POINTS_MIN)
            n = RING_POINTS_MIN;
        for (size_t v = 0; v < n; v++) {
            char label[96];
            int len = snprintf(label, sizeof label, "%s#%zu", b->nodes[i].id, v);
            ring[k].hash = hash64(label, (size_t)len);
            ring[k].node = (uint32_t)i;
            k++;
        }
    }
    qsort(ring, k, sizeof *ring, cmp_point);
    b->ring_len = k;
    b->ring_stale = false;
}

static int select_hash(struct balancer *b, const char *key, size_t len)
{
    if (b->ring_stale)
        ring_build(b);
    if (!b->ring_len)
        return -1;
    uint64_t h = hash64(key ? key : "", key ? len : 0);
    size_t lo = 0, hi = b->ring_len; /* first point at or after h, wrapping */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (b->ring[mid].hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = 0; k < b->ring_len; k++) { /* skip the points of unavailable nodes */
        uint32_t node = b->ring[(lo + k) % b->ring_len].node;
        if (b->nodes[node].available)
            return take(b, (int)node);
    }
    return -1;
}

static const struct balancer_ops ops[] = {
    [BALANCE_ROUNDROBIN] = {select_roundrobin, release},
    [BALANCE_RANDOM] = {select_random, release},
    [BALANCE_WEIGHTED] = {select_weighted, release},
    [BALANCE_LEASTCONN] = {select_leastconn, release},
    [BALANCE_P2C] = {select_p2c, release},
    [BALANCE_HASH] = {select_hash, release},
};

void balancer_init(struct balancer *b, enum balance_algorithm algorithm, uint64_t seed)
{
    memset(b, 0, sizeof *b);
    b->algorithm = algorithm;
    b->ops = &ops[algorithm];
    b->rng = seed | 1;
}

void balancer_free(struct balancer *b)
{
    free(b->nodes);
    free(b->ring);
    memset(b, 0, sizeof *b);
}

int balancer_add(struct balancer *b, const char *id, int weight)
{
    if (weight < 1 || weight > 1000 || strlen(id) >= sizeof b->nodes[0].id)
        return -1;
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        struct balancer_node *grown = realloc(b->nodes, cap * sizeof *grown);
        if (!grown)
            return -1;
        b->nodes = grown;
        b->cap = cap;
    }
    struct balancer_node *n = &b->nodes[b->count];
    memset(n, 0, sizeof *n);
    snprintf(n->id, sizeof n->id, "%s", id);
    n->weight = weight;
    n->available = true;
    b->ring_stale = true;
    return (int)b->count++;
}

void balancer_rename(struct balancer *b, int node, const char *id)
{
    if (node < 0 || (size_t)node >= b->count) return;
    struct balancer_node *n = &b->nodes[node];
    if (strcmp(n->id, id) == 0) return;
    snprintf(n->id, sizeof n->id, "%s", id);
    n->current = 0;
    b->ring_stale = true;
}

void balancer_set(struct balancer *b, int node, int weight, bool available)
{
    if (node < 0 || (size_t)node >= b->count || weight < 1 || weight > 1000)
        return;
    struct balancer_node *n = &b->nodes[node];
    if (n->weight != weight)
        b->ring_stale = true;
    n->weight = weight;
    if (n->available != available)
        n->current = 0; /* a returning node starts the smooth rotation afresh */
    n->available = available;
}
