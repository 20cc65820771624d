/* balancer.h -- which node gets the next request: the one balancer module of herd, used by the
 * gateway and by `herd bench --lb` alike, behind one {select, on_result} interface (h2o's
 * balancer.h, HAProxy's lb_* family).
 *
 * Two halves:
 * - a schedule: one generation of the node set (weights, availability, ids), built once and
 *   shared read-only by every thread, with the round robin cycle, the hash ring and two atomic
 *   counters. It is reference counted: a thread that moves to a newer generation releases
 *   the old one, and the last to leave frees it, so no reader ever sees it freed.
 * - a balancer: one per thread (or per user), holding a reference to the schedule it uses, its
 *   own random generator and its own requests in flight per node. Nothing in it is shared.
 *
 * Nodes are numbered by the caller (the gateway's registry slots, bench's targets) and keep
 * their number from one generation to the next. select is told which nodes this request
 * already tried (as h2o does) and never returns one of them.
 *
 * Round robin is exact across threads: the schedule holds one cycle of nginx's smooth
 * weighted order (length = the sum of the weights after dividing by their gcd; when that is
 * still over BALANCER_CYCLE_MAX the weights are scaled down to fit, each kept >= 1, so the
 * shares are then exact only to about 1/BALANCER_CYCLE_MAX), and a request's first pick is
 * position counter++ modulo the cycle, whatever thread takes it. A retry does not take a
 * position: it has its own counter and walks the cycle with the tried nodes left out, so the
 * nodes left share the retries in proportion too, and the first picks of every other request
 * stay in their exact rotation.
 *
 * Cost per select, whatever the number of nodes: round robin O(1) (a retry: O(tried) plus the
 * tried nodes' positions it passes over); leastconn O(1) when the available nodes share one
 * weight, else O(log nodes) (buckets or a heap per balancer, see struct balancer); random, p2c O(1) and weighted O(log nodes) (draws over the schedule's
 * list of available nodes; a draw that hits a tried node is drawn again, up to 64 times, then
 * the nodes are counted out: O(nodes) for a request that tried most of a small set); hash
 * O(log points). Building a schedule is O(nodes), plus O(cycle x distinct weights) for round
 * robin and O(points log points) for hash: paid once per generation, under the registry's
 * lock, not per request. */
#ifndef HERD_BALANCE_BALANCER_H
#define HERD_BALANCE_BALANCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BALANCER_CYCLE_MAX 65536 /* round robin cycle positions, at most (see above) */
#define BALANCER_SEED_MAX  9007199254740991ULL /* 2^53 - 1: exact in any JSON reader */

enum balance_algorithm {
    BALANCE_ROUNDROBIN = 0, /* smooth weighted round robin (nginx), one cycle for all threads */
    BALANCE_RANDOM,         /* uniform over the available nodes */
    BALANCE_WEIGHTED,       /* random in proportion to the weights */
    BALANCE_LEASTCONN,      /* fewest requests in flight (this thread's) per unit of weight */
    BALANCE_P2C,            /* power of two choices: two at random, the less loaded */
    BALANCE_HASH,           /* consistent hash of a key (header or path) on a ring */
};

/* One node as the caller describes it to a new schedule. */
struct balancer_node {
    const char *id; /* names its points on the hash ring (copied into hashes, not kept) */
    int weight;     /* >= 1 */
    bool available; /* takes new requests */
};

struct balancer_schedule;

struct balancer;

struct balancer_ops {
    /* The node for a request that already tried tried[0..tried_count) (NULL when none), key
     * the hash input (may be NULL), or -1 when no node is left. Counts it as in flight. */
    int (*select)(struct balancer *b, const int *tried, size_t tried_count, const char *key,
                  size_t key_len);
    /* The request sent to node ended (ok: answered without a 5xx). */
    void (*on_result)(struct balancer *b, int node, bool ok);
};

struct balancer {
    const struct balancer_ops *ops;
    enum balance_algorithm algorithm;
    struct balancer_schedule *schedule; /* referenced; NULL until balancer_use */
    uint64_t rng;
    uint64_t *in_flight; /* per node number, this balancer's own */
    size_t in_flight_len;
    /* leastconn: the schedule's available nodes in a binary heap, least in flight per unit
     * of weight at the root, ties to the one picked longest ago; rebuilt by balancer_use,
     * moved by one node per select and on_result (O(log nodes)) */
    uint32_t *heap;
    size_t heap_len;
    uint32_t *heap_pos; /* per node number: its place in heap (its bucket with buckets),
                         * UINT32_MAX when not available */
    uint64_t *picked;   /* per node number: `picks` when it was last picked */
    uint64_t picks;
    /* leastconn when every available node has one weight (the usual case), in place of the
     * heap: a list of nodes per count in flight, each in the order its nodes entered it (ties
     * go round), the lowest non-empty one at bucket_min: O(1) per select and on_result */
    bool buckets;
    uint32_t *bucket_head, *bucket_tail; /* per count; counts past the last share it */
    size_t bucket_cap, bucket_min;
    uint32_t *bucket_next, *bucket_prev; /* per node number */
};

/* Parses "roundrobin", "random", "weighted", "leastconn", "p2c", "hash". Returns 0 or -1. */
int balancer_parse(const char *name, enum balance_algorithm *out);
/* Every algorithm's name, in enum order, NULL-terminated (the key tables' choices). */
extern const char *const balancer_names[];
/* The name balancer_parse takes, "?" for a value out of range. */
const char *balancer_name(enum balance_algorithm algorithm);

/* A seed for a run that was given none, 0..BALANCER_SEED_MAX: from the kernel's random
 * source (the clock and the process id when that fails). Print it, so that the run can be
 * replayed with it. */
uint64_t balancer_seed_random(void);

/* Builds one generation of count nodes (numbered 0..count-1). previous (may be NULL): the
 * generation it replaces, whose counters it continues, so that a rebuild of the same nodes
 * goes on with the rotation instead of starting it over. Returns the schedule with one
 * reference held by the caller, or NULL when out of memory or a weight is below 1. */
struct balancer_schedule *balancer_schedule_new(enum balance_algorithm algorithm,
                                                const struct balancer_node *nodes, size_t count,
                                                const struct balancer_schedule *previous);
/* Drops one reference; the last frees it. NULL is ignored. Any thread may call it. */
void balancer_schedule_release(struct balancer_schedule *s);
/* Nodes in the schedule. */
size_t balancer_schedule_count(const struct balancer_schedule *s);
/* The hash ring's points (0 for the other algorithms): in proportion to the nodes' weights,
 * 40 per unit of weight, more when the lightest node would have fewer than 160, fewer when
 * the ring would pass 2^17 (each node keeps one). For tests. */
size_t balancer_schedule_ring(const struct balancer_schedule *s);
/* The round robin cycle: its length and the node at position i (i < length); length 0 for
 * the other algorithms. For tests and for the docs' examples. */
size_t balancer_schedule_cycle(const struct balancer_schedule *s, size_t i, int *node);

/* Sets up an empty balancer. seed and stream make its random generator: the same pair gives
 * the same choices; give each thread of a run the run's seed and its own stream. */
void balancer_init(struct balancer *b, enum balance_algorithm algorithm, uint64_t seed,
                   uint64_t stream);
/* Moves b to schedule s (taking a reference to it, releasing the one it held). What is in
 * flight stays counted by node number. Returns 0, or -1 when out of memory (b keeps its old
 * schedule). s must have been built for b's algorithm. */
int balancer_use(struct balancer *b, struct balancer_schedule *s);
/* Releases b's schedule and frees what b holds. */
void balancer_free(struct balancer *b);

/* Nodes in b's schedule (0 before balancer_use). */
size_t balancer_count(const struct balancer *b);
/* Whether node takes new requests in b's schedule. */
bool balancer_available(const struct balancer *b, int node);
/* Counts one more request in flight on node without choosing it (the same attempt sent
 * again on a new connection). */
void balancer_hold(struct balancer *b, int node);

static inline int balancer_select(struct balancer *b, const int *tried, size_t tried_count,
                                  const char *key, size_t key_len)
{
    return b->schedule ? b->ops->select(b, tried, tried_count, key, key_len) : -1;
}

static inline void balancer_on_result(struct balancer *b, int node, bool ok)
{
    b->ops->on_result(b, node, ok);
}

#endif
