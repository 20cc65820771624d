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
    uint32_t *avail; /* the available nodes' numbers, ascending: draws and leastconn's heap */
    size_t avail_len;
    uint64_t *avail_weights; /* weighted: the weights of avail[0..j] summed, for each j */
    bool uniform; /* every available node has the same weight */
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

/* A class of round robin nodes that share one (scaled) weight: within it nginx's order takes
 * the members in turn, by node number, so the class is its members and how many picks it
 * had. */
struct weight_class {
    uint64_t weight;
    const uint32_t *members; /* node numbers, ascending */
    size_t size;
    uint64_t picks;
};

struct weighted_node {
    uint64_t weight;
    uint32_t node;
};

static int cmp_weighted_node(const void *x, const void *y)
{
    const struct weighted_node *a = x, *b = y;
    if (a->weight != b->weight) return a->weight < b->weight ? -1 : 1;
    return a->node < b->node ? -1 : a->node > b->node;
}

/* One cycle of nginx's smooth weighted round robin over the available nodes, with weights
 * divided by their gcd (the same order, once) and scaled down when still too long.
 *
 * nginx adds each node's weight to its `current` at every step, takes the first node (by
 * number) with the highest, and takes the cycle's length off the winner's. After k steps a
 * node picked p times has current k*w - len*p, so nodes of one weight differ only by their
 * picks, and they are taken in turn: it is enough to compare, at each step, the next member
 * of every weight class. That is the same order in O(length x distinct weights) instead of
 * O(length x nodes): 10,000 nodes of one weight cost 10,000 steps of one comparison. */
static int cycle_build(struct balancer_schedule *s)
{
    uint64_t total = 0, divisor = 0;
    for (size_t i = 0; i < s->count; i++)
        if (s->slots[i].available) {
            total += (uint64_t)s->slots[i].weight;
            divisor = gcd(divisor, (uint64_t)s->slots[i].weight);
        }
    if (!total) return 0;
    struct weighted_node *sorted = malloc(s->avail_len * sizeof *sorted);
    uint32_t *members = malloc(s->avail_len * sizeof *members);
    struct weight_class *classes = malloc(s->avail_len * sizeof *classes);
    if (!sorted || !members || !classes) goto fail;
    uint64_t len = 0;
    for (size_t j = 0; j < s->avail_len; j++) {
        uint32_t i = s->avail[j];
        uint64_t w = (uint64_t)s->slots[i].weight / divisor;
        if (total / divisor > BALANCER_CYCLE_MAX) {
            w = w * BALANCER_CYCLE_MAX / (total / divisor);
            if (w < 1) w = 1;
        }
        sorted[j] = (struct weighted_node){w, i};
        len += w;
    }
    qsort(sorted, s->avail_len, sizeof *sorted, cmp_weighted_node);
    size_t class_count = 0;
    for (size_t j = 0; j < s->avail_len; j++) {
        members[j] = sorted[j].node;
        if (!class_count || classes[class_count - 1].weight != sorted[j].weight)
            classes[class_count++] = (struct weight_class){sorted[j].weight, &members[j], 0, 0};
        classes[class_count - 1].size++;
    }
    s->cycle = malloc(len * sizeof *s->cycle);
    if (!s->cycle) goto fail;
    for (uint64_t k = 1; k <= len; k++) {
        struct weight_class *best = NULL;
        int64_t best_current = 0;
        uint32_t best_node = 0;
        for (size_t c = 0; c < class_count; c++) {
            struct weight_class *wc = &classes[c];
            uint32_t node = wc->members[wc->picks % wc->size];
            int64_t current = (int64_t)(k * wc->weight) - (int64_t)(len * (wc->picks / wc->size));
            if (!best || current > best_current || (current == best_current && node < best_node)) {
                best = wc;
                best_current = current;
                best_node = node;
            }
        }
        best->picks++;
        s->cycle[k - 1] = best_node;
        s->slots[best_node].in_cycle++;
    }
    s->cycle_len = (size_t)len;
    free(sorted);
    free(members);
    free(classes);
    return 0;
fail:
    free(sorted);
    free(members);
    free(classes);
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
    s->avail = malloc((count ? count : 1) * sizeof *s->avail);
    if (!s->avail) goto fail;
    s->uniform = true;
    for (size_t i = 0; i < count; i++)
        if (nodes[i].available) {
            s->uniform &= !s->avail_len || nodes[i].weight == nodes[s->avail[0]].weight;
            s->avail[s->avail_len++] = (uint32_t)i;
        }
    if (algorithm == BALANCE_WEIGHTED) {
        s->avail_weights = malloc((s->avail_len ? s->avail_len : 1) * sizeof *s->avail_weights);
        if (!s->avail_weights) goto fail;
        uint64_t sum = 0;
        for (size_t j = 0; j < s->avail_len; j++)
            s->avail_weights[j] = sum += (uint64_t)s->slots[s->avail[j]].weight;
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
    free(s->avail);
    free(s->avail_weights);
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

/* Draws give up after this many tried nodes in a row and count instead (a request that tried
 * most of a small schedule). */
#define DRAWS_MAX 64

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

/* How many available nodes the request has not tried: O(tried^2), never O(nodes). */
static size_t untried(const struct balancer_schedule *s, const int *tried, size_t tried_count)
{
    size_t gone = 0;
    for (size_t k = 0; k < tried_count; k++) {
        int node = tried[k];
        if (node < 0 || (size_t)node >= s->count || !s->slots[node].available ||
            in_tried(tried, k, (size_t)node))
            continue; /* not available, or counted already */
        gone++;
    }
    return s->avail_len - gone;
}

/* ---- leastconn's heap: this balancer's available nodes, least loaded at the root ---- */

#define HEAP_NONE UINT32_MAX

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

/* The heap's order: less loaded first; of two as loaded, the one picked longer ago (HAProxy's
 * leastconn queues a server behind its equals the same way), so ties go round. */
static bool heap_before(const struct balancer *b, uint32_t x, uint32_t y)
{
    if (less_loaded(b, x, y)) return true;
    if (less_loaded(b, y, x)) return false;
    if (b->picked[x] != b->picked[y]) return b->picked[x] < b->picked[y];
    return x < y;
}

static void heap_place(struct balancer *b, size_t at, uint32_t node)
{
    b->heap[at] = node;
    b->heap_pos[node] = (uint32_t)at;
}

static void heap_up(struct balancer *b, size_t at)
{
    uint32_t node = b->heap[at];
    while (at > 0 && heap_before(b, node, b->heap[(at - 1) / 2])) {
        heap_place(b, at, b->heap[(at - 1) / 2]);
        at = (at - 1) / 2;
    }
    heap_place(b, at, node);
}

static void heap_down(struct balancer *b, size_t at)
{
    uint32_t node = b->heap[at];
    for (;;) {
        size_t child = 2 * at + 1;
        if (child >= b->heap_len) break;
        if (child + 1 < b->heap_len && heap_before(b, b->heap[child + 1], b->heap[child]))
            child++;
        if (!heap_before(b, b->heap[child], node)) break;
        heap_place(b, at, b->heap[child]);
        at = child;
    }
    heap_place(b, at, node);
}

/* The first untried node of the heap's order. A tried node's children may hold it, an
 * untried one's cannot beat their parent: the walk goes down through tried nodes only, and
 * sees at most 2 x tried + 1 of them. */
static void heap_best_untried(const struct balancer *b, size_t at, const int *tried,
                              size_t tried_count, int *best)
{
    if (at >= b->heap_len) return;
    uint32_t node = b->heap[at];
    if (!in_tried(tried, tried_count, node)) {
        if (*best < 0 || heap_before(b, node, (uint32_t)*best)) *best = (int)node;
        return;
    }
    heap_best_untried(b, 2 * at + 1, tried, tried_count, best);
    heap_best_untried(b, 2 * at + 2, tried, tried_count, best);
}

/* ---- leastconn's buckets: the same order when every node has one weight, in O(1) ---- */

#define BUCKETS_FIRST 64

static void bucket_unlink(struct balancer *b, uint32_t node)
{
    size_t c = b->heap_pos[node];
    uint32_t prev = b->bucket_prev[node], next = b->bucket_next[node];
    if (prev != HEAP_NONE)
        b->bucket_next[prev] = next;
    else
        b->bucket_head[c] = next;
    if (next != HEAP_NONE)
        b->bucket_prev[next] = prev;
    else
        b->bucket_tail[c] = prev;
}

static void bucket_append(struct balancer *b, uint32_t node, size_t c)
{
    b->bucket_next[node] = HEAP_NONE;
    b->bucket_prev[node] = b->bucket_tail[c];
    if (b->bucket_tail[c] != HEAP_NONE)
        b->bucket_next[b->bucket_tail[c]] = node;
    else
        b->bucket_head[c] = node;
    b->bucket_tail[c] = node;
    b->heap_pos[node] = (uint32_t)c;
}

/* The bucket of a count in flight, grown to hold it; out of memory, the counts past the last
 * bucket share it (still a valid pick, only not the exact least among them). */
static size_t bucket_of(struct balancer *b, uint64_t load)
{
    if (load >= b->bucket_cap) {
        size_t cap = b->bucket_cap ? b->bucket_cap : BUCKETS_FIRST;
        while (cap <= load)
            cap *= 2;
        uint32_t *head = realloc(b->bucket_head, cap * sizeof *head);
        if (head) b->bucket_head = head;
        uint32_t *tail = head ? realloc(b->bucket_tail, cap * sizeof *tail) : NULL;
        if (tail) {
            b->bucket_tail = tail;
            for (size_t c = b->bucket_cap; c < cap; c++)
                b->bucket_head[c] = b->bucket_tail[c] = HEAP_NONE;
            b->bucket_cap = cap;
        }
    }
    return load < b->bucket_cap ? (size_t)load : b->bucket_cap - 1;
}

/* node's count in flight changed: to the end of its new bucket */
static void bucket_move(struct balancer *b, uint32_t node)
{
    size_t to = bucket_of(b, b->in_flight[node]);
    if (!b->bucket_cap) return; /* no bucket could be made: left where it is */
    bucket_unlink(b, node);
    bucket_append(b, node, to);
    if (to < b->bucket_min) b->bucket_min = to;
    while (b->bucket_head[b->bucket_min] == HEAP_NONE && b->bucket_min < to)
        b->bucket_min++;
}

static void bucket_build(struct balancer *b)
{
    const struct balancer_schedule *s = b->schedule;
    for (size_t c = 0; c < b->bucket_cap; c++)
        b->bucket_head[c] = b->bucket_tail[c] = HEAP_NONE;
    b->bucket_min = SIZE_MAX;
    for (size_t j = 0; j < s->avail_len; j++) {
        uint32_t node = s->avail[j];
        size_t c = bucket_of(b, b->in_flight[node]);
        if (!b->bucket_cap) { /* out of memory: the heap will do */
            b->buckets = false;
            return;
        }
        bucket_append(b, node, c);
        if (c < b->bucket_min) b->bucket_min = c;
    }
    if (b->bucket_min == SIZE_MAX) b->bucket_min = 0;
}

/* The first untried node from the lowest bucket up: passes over tried nodes and empty
 * buckets only. */
static int bucket_best_untried(const struct balancer *b, const int *tried, size_t tried_count)
{
    for (size_t c = b->bucket_min; c < b->bucket_cap; c++)
        for (uint32_t node = b->bucket_head[c]; node != HEAP_NONE; node = b->bucket_next[node])
            if (!in_tried(tried, tried_count, node)) return (int)node;
    return -1;
}

/* Refills the heap, or the buckets, with the schedule's available nodes (a new
 * generation). */
static void heap_build(struct balancer *b)
{
    const struct balancer_schedule *s = b->schedule;
    for (size_t i = 0; i < b->in_flight_len; i++)
        b->heap_pos[i] = HEAP_NONE;
    b->heap_len = s->avail_len;
    b->buckets = s->uniform;
    if (b->buckets) bucket_build(b);
    if (b->buckets) return;
    for (size_t j = 0; j < s->avail_len; j++)
        heap_place(b, j, s->avail[j]);
    for (size_t j = b->heap_len / 2; j-- > 0;)
        heap_down(b, j);
}

/* ---- taking and ending ---- */

static int take(struct balancer *b, int node)
{
    if (node < 0 || (size_t)node >= b->in_flight_len) return node;
    b->in_flight[node]++;
    if (b->heap && b->heap_pos[node] != HEAP_NONE) {
        if (b->buckets) {
            bucket_move(b, (uint32_t)node);
        } else {
            b->picked[node] = ++b->picks;
            heap_down(b, b->heap_pos[node]);
        }
    }
    return node;
}

static void release(struct balancer *b, int node, bool ok)
{
    (void)ok;
    if (node < 0 || (size_t)node >= b->in_flight_len || b->in_flight[node] == 0) return;
    b->in_flight[node]--;
    if (b->heap && b->heap_pos[node] != HEAP_NONE) {
        if (b->buckets)
            bucket_move(b, (uint32_t)node);
        else
            heap_up(b, b->heap_pos[node]);
    }
}

/* The k-th node (0-based) that may take the request, or -1: the slow way, O(nodes), for the
 * few requests that tried most of the nodes. */
static int nth_eligible(const struct balancer_schedule *s, size_t k, const int *tried,
                        size_t tried_count)
{
    for (size_t i = 0; i < s->count; i++)
        if (eligible(s, i, tried, tried_count) && k-- == 0) return (int)i;
    return -1;
}

/* One available node drawn uniformly (weighted: in proportion to the weights). */
static uint32_t draw(struct balancer *b, bool weighted)
{
    const struct balancer_schedule *s = b->schedule;
    if (!weighted) return s->avail[next_random(b) % s->avail_len];
    uint64_t r = next_random(b) % s->avail_weights[s->avail_len - 1];
    size_t lo = 0, hi = s->avail_len - 1; /* the first whose running sum passes r */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->avail_weights[mid] > r)
            hi = mid;
        else
            lo = mid + 1;
    }
    return s->avail[lo];
}

/* A node drawn as draw does among those not tried and not `other` (-1: none), or -1 when
 * DRAWS_MAX draws all hit one of them. A draw that hits a left-out node is drawn again, so the
 * nodes left keep their shares exactly. */
static int draw_untried(struct balancer *b, bool weighted, const int *tried, size_t tried_count,
                        int other)
{
    for (int k = 0; k < DRAWS_MAX; k++) {
        uint32_t node = draw(b, weighted);
        if ((int)node != other && !in_tried(tried, tried_count, node)) return (int)node;
    }
    return -1;
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
    /* a retry: the cycle with the tried nodes left out, on the retries' own counter: a
     * position of a tried node is passed over, so the nodes left take the retries in the
     * cycle's order and proportions */
    if (!untried(s, tried, tried_count)) return -1;
    for (size_t k = 0; k <= s->cycle_len; k++) {
        uint64_t at = atomic_fetch_add_explicit(&s->retry_next, 1, memory_order_relaxed);
        uint32_t node = s->cycle[at % s->cycle_len];
        if (!in_tried(tried, tried_count, node)) return take(b, (int)node);
    }
    return -1; /* not reached: an untried node holds a position */
}

/* random and weighted: rejection draws, or the slow count when they keep missing */
static int select_drawn(struct balancer *b, bool weighted, const int *tried, size_t tried_count)
{
    const struct balancer_schedule *s = b->schedule;
    size_t left = untried(s, tried, tried_count);
    if (!left) return -1;
    int node = draw_untried(b, weighted, tried, tried_count, -1);
    if (node >= 0) return take(b, node);
    if (!weighted) return take(b, nth_eligible(s, (size_t)(next_random(b) % left), tried, tried_count));
    uint64_t total = 0;
    for (size_t i = 0; i < s->count; i++)
        if (eligible(s, i, tried, tried_count)) total += (uint64_t)s->slots[i].weight;
    uint64_t r = next_random(b) % total;
    for (size_t i = 0; i < s->count; i++) {
        if (!eligible(s, i, tried, tried_count)) continue;
        if (r < (uint64_t)s->slots[i].weight) return take(b, (int)i);
        r -= (uint64_t)s->slots[i].weight;
    }
    return -1;
}

static int select_random(struct balancer *b, const int *tried, size_t tried_count,
                         const char *key, size_t key_len)
{
    (void)key;
    (void)key_len;
    return select_drawn(b, false, tried, tried_count);
}

static int select_weighted(struct balancer *b, const int *tried, size_t tried_count,
                           const char *key, size_t key_len)
{
    (void)key;
    (void)key_len;
    return select_drawn(b, true, tried, tried_count);
}

static int select_leastconn(struct balancer *b, const int *tried, size_t tried_count,
                            const char *key, size_t key_len)
{
    (void)key;
    (void)key_len;
    if (!b->heap_len) return -1;
    if (b->buckets)
        return take(b, tried_count ? bucket_best_untried(b, tried, tried_count)
                                   : (int)b->bucket_head[b->bucket_min]);
    if (!tried_count) return take(b, (int)b->heap[0]);
    int best = -1;
    heap_best_untried(b, 0, tried, tried_count, &best);
    return take(b, best);
}

static int select_p2c(struct balancer *b, const int *tried, size_t tried_count, const char *key,
                      size_t key_len)
{
    (void)key;
    (void)key_len;
    const struct balancer_schedule *s = b->schedule;
    size_t left = untried(s, tried, tried_count);
    if (left == 0) return -1;
    if (left == 1) return take(b, nth_eligible(s, 0, tried, tried_count));
    /* two distinct candidates: the second is drawn from the others */
    int first, second;
    if (!tried_count) {
        size_t k1 = (size_t)(next_random(b) % left);
        size_t k2 = (size_t)(next_random(b) % (left - 1));
        if (k2 >= k1) k2++;
        first = (int)s->avail[k1];
        second = (int)s->avail[k2];
    } else {
        first = draw_untried(b, false, tried, tried_count, -1);
        second = first >= 0 ? draw_untried(b, false, tried, tried_count, first) : -1;
        if (second < 0) { /* most of the nodes were tried: count them out */
            size_t k1 = (size_t)(next_random(b) % left);
            size_t k2 = (size_t)(next_random(b) % (left - 1));
            if (k2 >= k1) k2++;
            first = nth_eligible(s, k1, tried, tried_count);
            second = nth_eligible(s, k2, tried, tried_count);
        }
    }
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
        size_t n = s->count, was = b->in_flight_len;
        uint64_t *grown = realloc(b->in_flight, n * sizeof *grown);
        if (!grown) return -1;
        b->in_flight = grown;
        memset(grown + was, 0, (n - was) * sizeof *grown);
        if (b->algorithm == BALANCE_LEASTCONN) {
            uint32_t *heap = realloc(b->heap, n * sizeof *heap);
            if (heap) b->heap = heap;
            uint32_t *pos = heap ? realloc(b->heap_pos, n * sizeof *pos) : NULL;
            if (pos) b->heap_pos = pos;
            uint64_t *picked = pos ? realloc(b->picked, n * sizeof *picked) : NULL;
            if (picked) b->picked = picked;
            uint32_t *next = picked ? realloc(b->bucket_next, n * sizeof *next) : NULL;
            if (next) b->bucket_next = next;
            uint32_t *prev = next ? realloc(b->bucket_prev, n * sizeof *prev) : NULL;
            if (!prev) return -1; /* in_flight grew: harmless, its tail is zero */
            b->bucket_prev = prev;
            memset(picked + was, 0, (n - was) * sizeof *picked);
        }
        b->in_flight_len = n;
    }
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    balancer_schedule_release(b->schedule);
    b->schedule = s;
    if (b->algorithm == BALANCE_LEASTCONN && b->heap) heap_build(b);
    return 0;
}

void balancer_free(struct balancer *b)
{
    balancer_schedule_release(b->schedule);
    free(b->in_flight);
    free(b->heap);
    free(b->heap_pos);
    free(b->picked);
    free(b->bucket_head);
    free(b->bucket_tail);
    free(b->bucket_next);
    free(b->bucket_prev);
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
