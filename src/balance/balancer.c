/* balancer.c -- the balancers behind one {select, on_result} interface (see balancer.h). */
#include "balance/balancer.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#define RING_POINTS_PER_WEIGHT 40  /* virtual nodes per unit of weight (weight 100: 4000) */
#define RING_POINTS_MIN        160 /* the lightest node's, when the ring has room */
/* the whole ring, at most (and 1 point per node): a generation's build hashes and sorts every
 * point under the registry's lock (1000 nodes of the gateway's weight 1000 would be 40M) */
#define RING_POINTS_MAX (1u << 17)

struct ring_point {
    uint64_t hash;
    uint32_t node;
};

struct balancer_slot {
    int weight;
    bool available;
    uint32_t in_cycle; /* round robin: its positions in one cycle */
};

struct balancer_schedule {
    alignas(64) _Atomic uint64_t next; /* first picks taken: the rotation's position */
    alignas(64) _Atomic uint64_t retry_next; /* retries taken */
    _Atomic unsigned refs;
    enum balance_algorithm algorithm;
    size_t count;
    struct balancer_slot *slots;
    uint32_t *cycle; /* round robin: one cycle of node numbers */
    size_t cycle_len;
    struct ring_point *ring; /* hash: every node's points, available or not, by hash */
    size_t ring_len;
};

const char *const balancer_names[] = {"roundrobin", "random", "weighted", "leastconn",
                                      "p2c",        "hash",   NULL};

int balancer_parse(const char *name, enum balance_algorithm *out)
{
    for (int i = 0; i <= BALANCE_HASH; i++)
        if (strcmp(name, balancer_names[i]) == 0) return *out = (enum balance_algorithm)i, 0;
    return -1;
}

const char *balancer_name(enum balance_algorithm algorithm)
{
    return (unsigned)algorithm <= BALANCE_HASH ? balancer_names[algorithm] : "?";
}

/* ---- random numbers and hashes ---- */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t balancer_seed_random(void)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = splitmix64((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec) ^
               (uint64_t)getpid();
    }
    return seed & BALANCER_SEED_MAX;
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

/* ---- the schedule ---- */

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

/* One cycle of nginx's smooth weighted round robin over the available nodes, with weights
 * divided by their gcd (the same order, once) and scaled down when still too long. */
static int cycle_build(struct balancer_schedule *s)
{
    uint64_t total = 0, divisor = 0;
    for (size_t i = 0; i < s->count; i++)
        if (s->slots[i].available) {
            total += (uint64_t)s->slots[i].weight;
            divisor = gcd(divisor, (uint64_t)s->slots[i].weight);
        }
    if (!total) return 0;
    uint64_t *weight = calloc(s->count, sizeof *weight);
    int64_t *current = calloc(s->count, sizeof *current);
    if (!weight || !current) goto fail;
    uint64_t len = 0;
    for (size_t i = 0; i < s->count; i++) {
        if (!s->slots[i].available) continue;
        uint64_t w = (uint64_t)s->slots[i].weight / divisor;
        if (total / divisor > BALANCER_CYCLE_MAX) {
            w = w * BALANCER_CYCLE_MAX / (total / divisor);
            if (w < 1) w = 1;
        }
        weight[i] = w;
        len += w;
    }
    s->cycle = malloc(len * sizeof *s->cycle);
    if (!s->cycle) goto fail;
    for (uint64_t k = 0; k < len; k++) {
        size_t best = s->count;
        for (size_t i = 0; i < s->count; i++) {
            if (!weight[i]) continue;
            current[i] += (int64_t)weight[i];
            if (best == s->count || current[i] > current[best]) best = i;
        }
        current[best] -= (int64_t)len;
        s->cycle[k] = (uint32_t)best;
        s->slots[best].in_cycle++;
    }
    s->cycle_len = (size_t)len;
    free(weight);
    free(current);
    return 0;
fail:
    free(weight);
    free(current);
    return -1;
}

static int cmp_point(const void *x, const void *y)
{
    const struct ring_point *a = x, *b = y;
    return a->hash < b->hash ? -1 : a->hash > b->hash;
}

/* Points per unit of weight, as num / den: RING_POINTS_PER_WEIGHT, more when the lightest
 * node would have fewer than RING_POINTS_MIN, fewer when the whole ring would pass
 * RING_POINTS_MAX; a node's points stay in proportion to its weight either way. */
struct ring_scale {
    uint64_t num, den;
};

static struct ring_scale ring_scale(const struct balancer_node *nodes, size_t count)
{
    uint64_t total = 0, lightest = UINT64_MAX;
    for (size_t i = 0; i < count; i++) {
        total += (uint64_t)nodes[i].weight;
        if ((uint64_t)nodes[i].weight < lightest) lightest = (uint64_t)nodes[i].weight;
    }
    struct ring_scale scale = {RING_POINTS_PER_WEIGHT, 1};
    if (count && lightest * RING_POINTS_PER_WEIGHT < RING_POINTS_MIN)
        scale = (struct ring_scale){RING_POINTS_MIN, lightest};
    if (total * scale.num / scale.den > RING_POINTS_MAX)
        scale = (struct ring_scale){RING_POINTS_MAX, total};
    return scale;
}

static size_t ring_points(int weight, struct ring_scale scale)
{
    uint64_t n = (uint64_t)weight * scale.num / scale.den;
    return n ? (size_t)n : 1;
}

/* Every node, available or not, keeps its points: a node that leaves takes only its own keys
 * with it, and they come back when it returns. */
static int ring_build(struct balancer_schedule *s, const struct balancer_node *nodes)
{
    struct ring_scale scale = ring_scale(nodes, s->count);
    size_t points = 0;
    for (size_t i = 0; i < s->count; i++)
        points += ring_points(nodes[i].weight, scale);
    s->ring = malloc((points ? points : 1) * sizeof *s->ring);
    if (!s->ring) return -1;
    size_t k = 0;
    for (size_t i = 0; i < s->count; i++)
        for (size_t v = 0, n = ring_points(nodes[i].weight, scale); v < n; v++) {
            char label[96];
            int len = snprintf(label, sizeof label, "%s#%zu", nodes[i].id ? nodes[i].id : "", v);
            if (len >= (int)sizeof label) len = (int)sizeof label - 1;
            s->ring[k++] = (struct ring_point){hash64(label, (size_t)len), (uint32_t)i};
        }
    qsort(s->ring, k, sizeof *s->ring, cmp_point);
    s->ring_len = k;
    return 0;
}

struct balancer_schedule *balancer_schedule_new(enum balance_algorithm algorithm,
                                                const struct balancer_node *nodes, size_t count,
                                                const struct balancer_schedule *previous)
{
    struct balancer_schedule *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->algorithm = algorithm;
    s->count = count;
    atomic_init(&s->refs, 1);
    atomic_init(&s->next, previous ? atomic_load(&previous->next) : 0);
    atomic_init(&s->retry_next, previous ? atomic_load(&previous->retry_next) : 0);
    s->slots = calloc(count ? count : 1, sizeof *s->slots);
    if (!s->slots) goto fail;
    for (size_t i = 0; i < count; i++) {
        if (nodes[i].weight < 1) goto fail;
        s->slots[i] = (struct balancer_slot){nodes[i].weight, nodes[i].available, 0};
    }
    if (algorithm == BALANCE_ROUNDROBIN && cycle_build(s) < 0) goto fail;
    if (algorithm == BALANCE_HASH && ring_build(s, nodes) < 0) goto fail;
    return s;
fail:
    balancer_schedule_release(s);
    return NULL;
}

void balancer_schedule_release(struct balancer_schedule *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
    free(s->slots);
    free(s->cycle);
    free(s->ring);
    free(s);
}

size_t balancer_schedule_count(const struct balancer_schedule *s)
{
    return s->count;
}

size_t balancer_schedule_ring(const struct balancer_schedule *s)
{
    return s->ring_len;
}

size_t balancer_schedule_cycle(const struct balancer_schedule *s, size_t i, int *node)
{
    if (node && i < s->cycle_len) *node = (int)s->cycle[i];
    return s->cycle_len;
}

/* ---- choosing ---- */

static bool in_tried(const int *tried, size_t tried_count, size_t node)
{
    for (size_t k = 0; k < tried_count; k++)
        if (tried[k] == (int)node) return true;
    return false;
}

static bool eligible(const struct balancer_schedule *s, size_t node, const int *tried,
                     size_t tried_count)
{
    return s->slots[node].available && !in_tried(tried, tried_count, node);
}

static int take(struct balancer *b, int node)
{
    if (node >= 0 && (size_t)node < b->in_flight_len) b->in_flight[node]++;
    return node;
}

static void release(struct balancer *b, int node, bool ok)
{
    (void)ok;
    if (node >= 0 && (size_t)node < b->in_flight_len && b->in_flight[node] > 0)
        b->in_flight[node]--;
}

static int select_roundrobin(struct balancer *b, const int *tried, size_t tried_count,
                             const char *key, size_t key_len)
{
    (void)key;
    (void)key_len;
    struct balancer_schedule *s = b->schedule;
    if (!s->cycle_len) return -1;
    if (!tried_count) {
        uint64_t at = atomic_fetch_add_explicit(&s->next, 1, memory_order_relaxed);
        return take(b, (int)s->cycle[at % s->cycle_len]);
    }
    /* a retry: the cycle with the tried nodes left out, on the retries' own counter */
    uint64_t left = 0;
    for (size_t i = 0; i < s->count; i++)
        if (eligible(s, i, tried, tried_count)) left += s->slots[i].in_cycle;
    if (!left) return -1;
    uint64_t k = atomic_fetch_add_explicit(&s->retry_next, 1, memory_order_relaxed) % left;
    for (size_t p = 0; p < s->cycle_len; p++) {
        uint32_t node = s->cycle[p];
        if (eligible(s, node, tried, tried_count) && k-- == 0) return take(b, (int)node);
    }
    return -1;
}

/* The k-th node (0-based) that may take the request, or -1. */
static int nth_eligible(const struct balancer_schedule *s, size_t k, const int *tried,
                        size_t tried_count)
{
    for (size_t i = 0; i < s->count; i++)
        if (eligible(s, i, tried, tried_count) && k-- == 0) return (int)i;
    return -1;
}

static size_t count_eligible(const struct balancer_schedule *s, const int *tried,
                             size_t tried_count)
{
    size_t n = 0;
    for (size_t i = 0; i < s->count; i++)
        n += eligible(s, i, tried, tried_count);
    return n;
}

static int select_random(struct balancer *b, const int *tried, size_t tried_count,
                         const char *key, size_t key_len)
{
    (void)key;
    (void)key_len;
    size_t n = count_eligible(b->schedule, tried, tried_count);
    if (!n) return -1;
    return take(b, nth_eligible(b->schedule, (size_t)(next_random(b) % n), tried, tried_count));
}

static int select_weighted(struct balancer *b, const int *tried, size_t tried_count,
                           const char *key, size_t key_len)
{
    (void)key;
    (void)key_len;
    const struct balancer_schedule *s = b->schedule;
    uint64_t total = 0;
    for (size_t i = 0; i < s->count; i++)
        if (eligible(s, i, tried, tried_count)) total += (uint64_t)s->slots[i].weight;
    if (!total) return -1;
    uint64_t r = next_random(b) % total;
    for (size_t i = 0; i < s->count; i++) {
        if (!eligible(s, i, tried, tried_count)) continue;
        if (r < (uint64_t)s->slots[i].weight) return take(b, (int)i);
        r -= (uint64_t)s->slots[i].weight;
    }
    return -1;
}

static uint64_t load_of(const struct balancer *b, size_t node)
{
    return node < b->in_flight_len ? b->in_flight[node] : 0;
}

/* node x is less loaded than node y: in_flight / weight compared without division */
static bool less_loaded(const struct balancer *b, size_t x, size_t y)
{
    const struct balancer_slot *sl = b->schedule->slots;
    return load_of(b, x) * (uint64_t)sl[y].weight < load_of(b, y) * (uint64_t)sl[x].weight;
}

static int select_leastconn(struct balancer *b, const int *tried, size_t tried_count,
                            const char *key, size_t key_len)
{
    (void)key;
    (void)key_len;
    const struct balancer_schedule *s = b->schedule;
    int best = -1;
    size_t start = s->count ? b->rotation++ % s->count : 0; /* ties go round */
    for (size_t k = 0; k < s->count; k++) {
        size_t i = (start + k) % s->count;
        if (eligible(s, i, tried, tried_count) && (best < 0 || less_loaded(b, i, (size_t)best)))
            best = (int)i;
    }
    return take(b, best);
}

static int select_p2c(struct balancer *b, const int *tried, size_t tried_count, const char *key,
                      size_t key_len)
{
    (void)key;
    (void)key_len;
    const struct balancer_schedule *s = b->schedule;
    size_t n = count_eligible(s, tried, tried_count);
    if (n < 2) return take(b, nth_eligible(s, 0, tried, tried_count));
    /* two distinct candidates: the second is drawn from the others */
    size_t k1 = (size_t)(next_random(b) % n);
    size_t k2 = (size_t)(next_random(b) % (n - 1));
    if (k2 >= k1) k2++;
    int first = nth_eligible(s, k1, tried, tried_count);
    int second = nth_eligible(s, k2, tried, tried_count);
    return take(b, less_loaded(b, (size_t)second, (size_t)first) ? second : first);
}

static int select_hash(struct balancer *b, const int *tried, size_t tried_count, const char *key,
                       size_t key_len)
{
    const struct balancer_schedule *s = b->schedule;
    if (!s->ring_len) return -1;
    uint64_t h = hash64(key ? key : "", key ? key_len : 0);
    size_t lo = 0, hi = s->ring_len; /* first point at or after h, wrapping */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->ring[mid].hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = 0; k < s->ring_len; k++) { /* on past the points of nodes left out */
        uint32_t node = s->ring[(lo + k) % s->ring_len].node;
        if (eligible(s, node, tried, tried_count)) return take(b, (int)node);
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

/* ---- the per-thread balancer ---- */

void balancer_init(struct balancer *b, enum balance_algorithm algorithm, uint64_t seed,
                   uint64_t stream)
{
    memset(b, 0, sizeof *b);
    b->algorithm = algorithm;
    b->ops = &ops[(unsigned)algorithm <= BALANCE_HASH ? algorithm : BALANCE_ROUNDROBIN];
    b->rng = splitmix64(seed ^ splitmix64(stream)) | 1; /* xorshift must not start at 0 */
}

int balancer_use(struct balancer *b, struct balancer_schedule *s)
{
    if (s->count > b->in_flight_len) {
        uint64_t *grown = realloc(b->in_flight, s->count * sizeof *grown);
        if (!grown) return -1;
        memset(grown + b->in_flight_len, 0, (s->count - b->in_flight_len) * sizeof *grown);
        b->in_flight = grown;
        b->in_flight_len = s->count;
    }
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    balancer_schedule_release(b->schedule);
    b->schedule = s;
    return 0;
}

void balancer_free(struct balancer *b)
{
    balancer_schedule_release(b->schedule);
    free(b->in_flight);
    memset(b, 0, sizeof *b);
}

size_t balancer_count(const struct balancer *b)
{
    return b->schedule ? b->schedule->count : 0;
}

bool balancer_available(const struct balancer *b, int node)
{
    return b->schedule && node >= 0 && (size_t)node < b->schedule->count &&
           b->schedule->slots[node].available;
}

void balancer_hold(struct balancer *b, int node)
{
    take(b, node);
}
