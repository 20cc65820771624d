/* test_balancer.c -- the one balancer module, every algorithm through {select, on_result}:
 * nginx's smooth order, round robin exact across threads hammering one schedule, retries that
 * leave the rotation alone, the tried set, random by chi-square and replayable by seed,
 * weights, leastconn and p2c prefer idle nodes, consistent hashing moves only the keys of a
 * node that leaves, a rebuilt generation goes on with the rotation; with thousands of nodes,
 * round robin's cycle is nginx's order (against nginx's own loop), exact over the available
 * nodes, leastconn's heap picks a least loaded node (against a count over every node), and
 * no algorithm picks a down or tried node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance/balancer.h"
#include "unit.h"

#define MAX_NODES 8

static char ids[MAX_NODES][16];

/* A schedule over n nodes named api.1.. with weights (NULL: all 1), available unless down[i]. */
static struct balancer_schedule *schedule(enum balance_algorithm a, const int *weights,
                                          const bool *down, int n,
                                          const struct balancer_schedule *previous)
{
    struct balancer_node nodes[MAX_NODES];
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "api.%d", i + 1);
        nodes[i] = (struct balancer_node){ids[i], weights ? weights[i] : 1, !(down && down[i])};
    }
    struct balancer_schedule *s = balancer_schedule_new(a, nodes, (size_t)n, previous);
    assert_non_null(s);
    return s;
}

/* b set up over s; the caller's reference to s is handed to b. */
static void start(struct balancer *b, enum balance_algorithm a, struct balancer_schedule *s,
                  uint64_t seed)
{
    balancer_init(b, a, seed, 0);
    assert_int_equal(balancer_use(b, s), 0);
    balancer_schedule_release(s);
}

static int pick(struct balancer *b)
{
    int n = balancer_select(b, NULL, 0, NULL, 0);
    balancer_on_result(b, n, true);
    return n;
}

/* chi-square statistic of counts against expected shares */
static double chi_square(const size_t *counts, const double *shares, int n, size_t total)
{
    double chi = 0;
    for (int i = 0; i < n; i++) {
        double e = shares[i] * (double)total;
        chi += pow((double)counts[i] - e, 2) / e;
    }
    return chi;
}

static void test_roundrobin_smooth_order(void **state)
{
    (void)state;
    struct balancer b;
    /* nginx's smooth order for {5,1,1}: a a b a c a a, cycle after cycle */
    static const int expect[] = {0, 0, 1, 0, 2, 0, 0};
    start(&b, BALANCE_ROUNDROBIN,
          schedule(BALANCE_ROUNDROBIN, (int[]){5, 1, 1}, NULL, 3, NULL), 1);
    for (int k = 0; k < 21; k++)
        assert_int_equal(pick(&b), expect[k % 7]);
    balancer_free(&b);
    /* weights with a common divisor: the same cycle, once */
    struct balancer_schedule *s = schedule(BALANCE_ROUNDROBIN, (int[]){50, 10, 10}, NULL, 3, NULL);
    assert_int_equal(balancer_schedule_cycle(s, 0, NULL), 7);
    for (size_t k = 0; k < 7; k++) {
        int node = -1;
        balancer_schedule_cycle(s, k, &node);
        assert_int_equal(node, expect[k]);
    }
    balancer_schedule_release(s);
    /* huge weights are scaled down to a bounded cycle, every node still in it */
    s = schedule(BALANCE_ROUNDROBIN, (int[]){1000000007, 999999937, 1}, NULL, 3, NULL);
    size_t len = balancer_schedule_cycle(s, 0, NULL);
    assert_true(len <= BALANCER_CYCLE_MAX + 3);
    bool seen[3] = {false};
    for (size_t k = 0; k < len; k++) {
        int node = -1;
        balancer_schedule_cycle(s, k, &node);
        seen[node] = true;
    }
    assert_true(seen[0] && seen[1] && seen[2]);
    balancer_schedule_release(s);
    /* a node that is not available has no place in the cycle */
    start(&b, BALANCE_ROUNDROBIN,
          schedule(BALANCE_ROUNDROBIN, NULL, (bool[]){false, true, false}, 3, NULL), 1);
    for (int k = 0; k < 10; k++)
        assert_int_equal(pick(&b), k % 2 == 0 ? 0 : 2);
    balancer_free(&b);
}

struct hammer {
    struct balancer_schedule *s;
    uint64_t seed;
    size_t picks;
    size_t counts[MAX_NODES];
};

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;
    struct balancer b;
    balancer_init(&b, BALANCE_ROUNDROBIN, 1, h->seed);
    if (balancer_use(&b, h->s) < 0) return NULL;
    for (size_t k = 0; k < h->picks; k++)
        h->counts[pick(&b)]++;
    balancer_free(&b);
    return NULL;
}

/* Two threads, each with its own balancer over one schedule, select at once: together they
 * follow the cycle exactly, whatever the interleaving. */
static void test_roundrobin_exact_across_threads(void **state)
{
    (void)state;
    int weights[] = {3, 2, 1};
    struct balancer_schedule *s = schedule(BALANCE_ROUNDROBIN, weights, NULL, 3, NULL);
    struct hammer h[2] = {{s, 1, 30001, {0}}, {s, 2, 30000, {0}}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &h[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    /* 60001 picks: 10000 whole cycles of 6, then the cycle's first position */
    int first = -1;
    balancer_schedule_cycle(s, 0, &first);
    for (int i = 0; i < 3; i++)
        assert_int_equal(h[0].counts[i] + h[1].counts[i],
                         (size_t)weights[i] * 10000 + (i == first));
    balancer_schedule_release(s);
}

/* A node refuses connections: each request that drew it is retried on another, and the live
 * nodes still get exactly half each; the first picks keep their rotation. */
static void test_retry_leaves_the_rotation_alone(void **state)
{
    (void)state;
    struct balancer b;
    start(&b, BALANCE_ROUNDROBIN, schedule(BALANCE_ROUNDROBIN, NULL, NULL, 3, NULL), 1);
    size_t served[3] = {0};
    for (int k = 0; k < 300; k++) {
        int tried[3], n = 0;
        int node = balancer_select(&b, NULL, 0, NULL, 0);
        assert_int_equal(node, k % 3); /* retries never moved the rotation */
        while (node == 2) {            /* api.3 is dead */
            balancer_on_result(&b, node, false);
            tried[n++] = node;
            node = balancer_select(&b, tried, (size_t)n, NULL, 0);
            assert_true(node >= 0);
        }
        balancer_on_result(&b, node, true);
        served[node]++;
    }
    assert_int_equal(served[0], 150);
    assert_int_equal(served[1], 150);
    assert_int_equal(served[2], 0);
    balancer_free(&b);
}

/* Every algorithm leaves out the nodes the request tried, and has none left when it tried all. */
static void test_tried_nodes_are_skipped(void **state)
{
    (void)state;
    for (int a = BALANCE_ROUNDROBIN; a <= BALANCE_HASH; a++) {
        struct balancer b;
        start(&b, (enum balance_algorithm)a,
              schedule((enum balance_algorithm)a, NULL, NULL, 3, NULL), 5);
        for (int k = 0; k < 50; k++) {
            char key[16];
            int len = snprintf(key, sizeof key, "k%d", k);
            int node = balancer_select(&b, (int[]){0, 2}, 2, key, (size_t)len);
            assert_int_equal(node, 1);
            balancer_on_result(&b, node, true);
            assert_int_equal(balancer_select(&b, (int[]){1, 0, 2}, 3, key, (size_t)len), -1);
        }
        balancer_free(&b);
    }
}

static void test_random_and_weighted(void **state)
{
    (void)state;
    struct balancer b;
    size_t counts[3] = {0};
    start(&b, BALANCE_RANDOM, schedule(BALANCE_RANDOM, NULL, NULL, 3, NULL), 12345);
    for (int k = 0; k < 30000; k++)
        counts[pick(&b)]++;
    /* chi-square with 2 degrees of freedom: below 13.8 with probability 0.999 */
    assert_true(chi_square(counts, (double[]){1 / 3.0, 1 / 3.0, 1 / 3.0}, 3, 30000) < 13.8);
    balancer_free(&b);
    memset(counts, 0, sizeof counts);
    start(&b, BALANCE_WEIGHTED, schedule(BALANCE_WEIGHTED, (int[]){6, 3, 1}, NULL, 3, NULL), 777);
    for (int k = 0; k < 30000; k++)
        counts[pick(&b)]++;
    assert_true(chi_square(counts, (double[]){0.6, 0.3, 0.1}, 3, 30000) < 13.8);
    balancer_free(&b);
    /* an unavailable node gets nothing */
    start(&b, BALANCE_WEIGHTED,
          schedule(BALANCE_WEIGHTED, (int[]){6, 3, 1}, (bool[]){true, false, true}, 3, NULL), 7);
    for (int k = 0; k < 1000; k++)
        assert_int_equal(pick(&b), 1);
    balancer_free(&b);
}

/* The same seed replays the same choices; another seed makes other ones. */
static void test_seed_replays(void **state)
{
    (void)state;
    for (int a = BALANCE_RANDOM; a <= BALANCE_WEIGHTED; a++) {
        int runs[3][200];
        uint64_t seeds[3] = {42, 42, 43};
        for (int r = 0; r < 3; r++) {
            struct balancer b;
            start(&b, (enum balance_algorithm)a,
                  schedule((enum balance_algorithm)a, (int[]){1, 2, 3, 4}, NULL, 4, NULL),
                  seeds[r]);
            for (int k = 0; k < 200; k++)
                runs[r][k] = pick(&b);
            balancer_free(&b);
        }
        assert_memory_equal(runs[0], runs[1], sizeof runs[0]);
        assert_memory_not_equal(runs[0], runs[2], sizeof runs[0]);
    }
    /* a per-run seed: two draws differ, and fit in a JSON number */
    uint64_t x = balancer_seed_random(), y = balancer_seed_random();
    assert_true(x != y);
    assert_true(x <= BALANCER_SEED_MAX && y <= BALANCER_SEED_MAX);
}

static void test_leastconn_and_p2c_prefer_idle(void **state)
{
    (void)state;
    struct balancer b;
    start(&b, BALANCE_LEASTCONN, schedule(BALANCE_LEASTCONN, NULL, NULL, 3, NULL), 1);
    int a = balancer_select(&b, NULL, 0, NULL, 0), c = balancer_select(&b, NULL, 0, NULL, 0);
    int idle = 3 - a - c; /* the one with nothing in flight */
    assert_int_equal(balancer_select(&b, NULL, 0, NULL, 0), idle);
    balancer_on_result(&b, a, true);
    assert_int_equal(balancer_select(&b, NULL, 0, NULL, 0), a); /* a is idle again */
    balancer_free(&b);
    /* weights: twice the weight, twice the requests in flight before it looks as loaded */
    start(&b, BALANCE_LEASTCONN, schedule(BALANCE_LEASTCONN, (int[]){2, 1}, NULL, 2, NULL), 1);
    size_t held[2] = {0};
    for (int k = 0; k < 30; k++)
        held[balancer_select(&b, NULL, 0, NULL, 0)]++;
    assert_int_equal(held[0], 20);
    assert_int_equal(held[1], 10);
    balancer_free(&b);
    /* p2c: one node holds many requests; of any two drawn, the other wins */
    start(&b, BALANCE_P2C, schedule(BALANCE_P2C, NULL, NULL, 3, NULL), 99);
    for (int k = 0; k < 10; k++)
        balancer_hold(&b, 0);
    for (int k = 0; k < 300; k++) {
        int n = balancer_select(&b, NULL, 0, NULL, 0);
        assert_true(n == 1 || n == 2);
        balancer_on_result(&b, n, true);
    }
    balancer_free(&b);
}

static void test_consistent_hash_moves_only_the_leavers_keys(void **state)
{
    (void)state;
    enum { KEYS = 2000 };
    static int before[KEYS];
    struct balancer b;
    start(&b, BALANCE_HASH, schedule(BALANCE_HASH, NULL, NULL, 5, NULL), 1);
    size_t per_node[5] = {0};
    for (int k = 0; k < KEYS; k++) {
        char key[32];
        int len = snprintf(key, sizeof key, "/users/%d", k);
        before[k] = balancer_select(&b, NULL, 0, key, (size_t)len);
        balancer_on_result(&b, before[k], true);
        per_node[before[k]]++;
        assert_int_equal(balancer_select(&b, NULL, 0, key, (size_t)len), before[k]); /* stable */
        balancer_on_result(&b, before[k], true);
    }
    for (int i = 0; i < 5; i++)
        assert_true(per_node[i] > KEYS / 10); /* every node holds a fair part of the keys */
    /* api.3 leaves: a new generation without it */
    struct balancer_schedule *s =
        schedule(BALANCE_HASH, NULL, (bool[]){false, false, true, false, false}, 5, b.schedule);
    assert_int_equal(balancer_use(&b, s), 0);
    balancer_schedule_release(s);
    for (int k = 0; k < KEYS; k++) {
        char key[32];
        int len = snprintf(key, sizeof key, "/users/%d", k);
        int now = balancer_select(&b, NULL, 0, key, (size_t)len);
        balancer_on_result(&b, now, true);
        if (before[k] == 2)
            assert_int_not_equal(now, 2); /* its keys went elsewhere */
        else
            assert_int_equal(now, before[k]); /* nobody else's moved */
    }
    /* it comes back: its keys return */
    s = schedule(BALANCE_HASH, NULL, NULL, 5, b.schedule);
    assert_int_equal(balancer_use(&b, s), 0);
    balancer_schedule_release(s);
    for (int k = 0; k < KEYS; k++) {
        char key[32];
        int len = snprintf(key, sizeof key, "/users/%d", k);
        assert_int_equal(balancer_select(&b, NULL, 0, key, (size_t)len), before[k]);
        balancer_on_result(&b, before[k], true);
    }
    balancer_free(&b);
}

/* The ring stays small whatever the nodes' weights: the gateway passes weights up to 1000 (x10
 * for slow start) and builds a generation's ring under the registry's lock, so 1000 nodes
 * would have made 40M points (seconds, 640 MB) at every node up or down. The shares of the
 * keys still follow the weights. */
static void test_hash_ring_is_bounded(void **state)
{
    (void)state;
    static struct balancer_node nodes[1000];
    static char names[1000][16];
    for (size_t i = 0; i < 1000; i++) {
        snprintf(names[i], sizeof names[i], "api.%zu", i + 1);
        nodes[i] = (struct balancer_node){names[i], i < 500 ? 1000 : 500, true};
    }
    struct balancer_schedule *s = balancer_schedule_new(BALANCE_HASH, nodes, 1000, NULL);
    assert_non_null(s);
    size_t ring = balancer_schedule_ring(s);
    printf("  1000 nodes of weight 1000 and 500: %zu points on the ring\n", ring);
    assert_true(ring <= (1u << 17) + 1000);
    struct balancer b;
    start(&b, BALANCE_HASH, s, 1);
    size_t heavy = 0, keys = 100000;
    for (size_t k = 0; k < keys; k++) {
        char key[32];
        int len = snprintf(key, sizeof key, "/users/%zu", k);
        int node = balancer_select(&b, NULL, 0, key, (size_t)len);
        balancer_on_result(&b, node, true);
        heavy += node < 500;
    }
    printf("  keys on the heavier half: %.1f%%\n", 100.0 * (double)heavy / (double)keys);
    assert_true(heavy > keys * 60 / 100 && heavy < keys * 73 / 100); /* 2/3 */
    balancer_free(&b);
    /* a weight no node set could have asks for no more */
    nodes[0].weight = 2147483647;
    s = balancer_schedule_new(BALANCE_HASH, nodes, 2, NULL);
    assert_non_null(s);
    assert_true(balancer_schedule_ring(s) <= (1u << 17) + 2);
    balancer_schedule_release(s);
}

/* A rebuilt generation (a weight changed elsewhere, a node came back) goes on with the
 * rotation where the old one was; the old one lives while a balancer still uses it. */
static void test_generations(void **state)
{
    (void)state;
    struct balancer b1, b2;
    struct balancer_schedule *s1 = schedule(BALANCE_ROUNDROBIN, NULL, NULL, 3, NULL);
    balancer_init(&b1, BALANCE_ROUNDROBIN, 1, 0);
    balancer_init(&b2, BALANCE_ROUNDROBIN, 1, 1);
    assert_int_equal(balancer_use(&b1, s1), 0);
    assert_int_equal(balancer_use(&b2, s1), 0);
    assert_int_equal(pick(&b1), 0);
    assert_int_equal(pick(&b2), 1);
    struct balancer_schedule *s2 = schedule(BALANCE_ROUNDROBIN, NULL, NULL, 3, s1);
    balancer_schedule_release(s1); /* b1 and b2 still hold it */
    assert_int_equal(balancer_use(&b1, s2), 0);
    assert_int_equal(pick(&b1), 2); /* the rotation went on */
    assert_int_equal(pick(&b2), 2); /* b2, still on the old generation, is served by it */
    balancer_free(&b2);              /* the old generation is freed here (ASan watches) */
    assert_int_equal(pick(&b1), 0);
    balancer_schedule_release(s2);
    balancer_free(&b1);
}

/* ---- many nodes: the structures that make a pick cost the same for 3 nodes or 10,000 ---- */

static uint64_t test_rng = 88172645463325252ULL;

static uint64_t test_random(void)
{
    test_rng ^= test_rng << 13; /* xorshift64: the test's own, not the balancer's */
    test_rng ^= test_rng >> 7;
    test_rng ^= test_rng << 17;
    return test_rng;
}

/* n nodes named n1.., with the given weights and availability (NULL: all 1 / all up). */
static struct balancer_schedule *big_schedule(enum balance_algorithm a, const int *weights,
                                              const bool *up, size_t n,
                                              const struct balancer_schedule *previous)
{
    struct balancer_node *nodes = calloc(n ? n : 1, sizeof *nodes);
    char(*names)[24] = calloc(n ? n : 1, sizeof *names);
    assert_non_null(nodes);
    assert_non_null(names);
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "n%zu", i + 1);
        nodes[i] = (struct balancer_node){names[i], weights ? weights[i] : 1, up ? up[i] : true};
    }
    struct balancer_schedule *s = balancer_schedule_new(a, nodes, n, previous);
    free(nodes);
    free(names);
    assert_non_null(s);
    return s;
}

/* nginx's smooth weighted round robin as nginx writes it, a step over every node per pick:
 * the reference the schedule's faster build must match position for position. */
static void nginx_order(const uint64_t *weight, size_t n, uint64_t len, uint32_t *out)
{
    int64_t *current = calloc(n, sizeof *current);
    assert_non_null(current);
    for (uint64_t k = 0; k < len; k++) {
        size_t best = n;
        for (size_t i = 0; i < n; i++) {
            if (!weight[i]) continue;
            current[i] += (int64_t)weight[i];
            if (best == n || current[i] > current[best]) best = i;
        }
        current[best] -= (int64_t)len;
        out[k] = (uint32_t)best;
    }
    free(current);
}

static void test_roundrobin_cycle_is_nginx_order(void **state)
{
    (void)state;
    for (int round = 0; round < 200; round++) {
        size_t n = 1 + test_random() % 40;
        int weights[40];
        bool up[40];
        uint64_t reduced[40], len = 0, g = 0;
        for (size_t i = 0; i < n; i++) {
            weights[i] = 1 + (int)(test_random() % (round % 3 == 0 ? 3 : 12));
            up[i] = test_random() % 5 != 0;
        }
        for (size_t i = 0; i < n; i++)
            if (up[i]) {
                uint64_t a = g, b = (uint64_t)weights[i];
                while (b) { uint64_t r = a % b; a = b; b = r; }
                g = a;
            }
        for (size_t i = 0; i < n; i++) {
            reduced[i] = up[i] ? (uint64_t)weights[i] / g : 0;
            len += reduced[i];
        }
        struct balancer_schedule *s = big_schedule(BALANCE_ROUNDROBIN, weights, up, n, NULL);
        assert_int_equal(balancer_schedule_cycle(s, 0, NULL), len);
        uint32_t expect[40 * 12];
        if (len) nginx_order(reduced, n, len, expect);
        for (size_t k = 0; k < len; k++) {
            int node = -1;
            balancer_schedule_cycle(s, k, &node);
            assert_int_equal(node, expect[k]);
        }
        balancer_schedule_release(s);
    }
}

/* 10,000 nodes, some down, weights 1 to 3: whole cycles give each available node exactly its
 * weight's share, the others nothing; a retry never lands on a tried node. */
static void test_roundrobin_exact_over_10000(void **state)
{
    (void)state;
    enum { N = 10000 };
    int *weights = calloc(N, sizeof *weights);
    bool *up = calloc(N, sizeof *up);
    size_t *counts = calloc(N, sizeof *counts);
    assert_true(weights && up && counts);
    size_t len = 0;
    for (size_t i = 0; i < N; i++) {
        weights[i] = 1 + (int)(i % 3);
        up[i] = i % 7 != 3; /* down, drained or ejected: the gateway marks them unavailable */
        if (up[i]) len += (size_t)weights[i];
    }
    struct balancer b;
    start(&b, BALANCE_ROUNDROBIN, big_schedule(BALANCE_ROUNDROBIN, weights, up, N, NULL), 1);
    assert_int_equal(balancer_schedule_cycle(b.schedule, 0, NULL), len);
    for (size_t k = 0; k < 3 * len; k++)
        counts[pick(&b)]++;
    for (size_t i = 0; i < N; i++)
        assert_int_equal(counts[i], up[i] ? 3 * (size_t)weights[i] : 0);
    for (int k = 0; k < 1000; k++) {
        int tried[4] = {(int)(test_random() % N), (int)(test_random() % N), 0, 1};
        int node = balancer_select(&b, tried, 4, NULL, 0);
        assert_true(node >= 0 && up[node]);
        assert_true(node != tried[0] && node != tried[1] && node != 0 && node != 1);
        balancer_on_result(&b, node, true);
    }
    /* a new generation with every third node drained: they leave the rotation */
    for (size_t i = 0; i < N; i += 3)
        up[i] = false;
    struct balancer_schedule *s2 = big_schedule(BALANCE_ROUNDROBIN, weights, up, N, b.schedule);
    assert_int_equal(balancer_use(&b, s2), 0);
    balancer_schedule_release(s2);
    len = balancer_schedule_cycle(s2, 0, NULL);
    memset(counts, 0, N * sizeof *counts);
    for (size_t k = 0; k < len; k++)
        counts[pick(&b)]++;
    for (size_t i = 0; i < N; i++)
        assert_int_equal(counts[i], up[i] ? (size_t)weights[i] : 0);
    balancer_free(&b);
    free(weights);
    free(up);
    free(counts);
}

/* The least loaded available untried node by a count over every node: what the heap must
 * give. Returns the best ratio's node set as a flag per node. */
static bool is_least_loaded(const uint64_t *held, const int *weights, const bool *up, size_t n,
                            const int *tried, size_t tried_count, int node)
{
    for (size_t i = 0; i < n; i++) {
        bool was_tried = false;
        for (size_t k = 0; k < tried_count; k++)
            was_tried |= tried[k] == (int)i;
        if (!up[i] || was_tried) continue;
        /* i strictly less loaded than node: held[i]/w[i] < held[node]/w[node] */
        if (held[i] * (uint64_t)weights[node] < held[node] * (uint64_t)weights[i]) return false;
    }
    return true;
}

/* 2,000 nodes with weights (then with one weight), some unavailable, requests that start and
 * end at random: every
 * pick is a node with the fewest requests in flight per unit of weight (counted here, apart
 * from the balancer), never an unavailable or tried one; a node that comes back gets the next
 * requests (it has none in flight); ties go round. */
static void test_leastconn_picks_a_least_loaded_node(void **state)
{
    (void)state;
    enum { N = 2000 };
    int *weights = calloc(N, sizeof *weights);
    bool *up = calloc(N, sizeof *up);
    uint64_t *held = calloc(N, sizeof *held);
    int *open = calloc(20000, sizeof *open);
    assert_true(weights && up && held && open);
    struct balancer b;
    /* pass 0: weights 1 to 4 (the heap); pass 1: one weight for all (the buckets) */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < N; i++) {
            weights[i] = pass ? 3 : 1 + (int)(test_random() % 4);
            up[i] = test_random() % 10 != 0;
        }
        memset(held, 0, N * sizeof *held);
        start(&b, BALANCE_LEASTCONN, big_schedule(BALANCE_LEASTCONN, weights, up, N, NULL), 1);
        size_t open_count = 0;
        for (int k = 0; k < 40000; k++) {
            if (open_count && (open_count >= 20000 || test_random() % 3 == 0)) {
                size_t at = test_random() % open_count;
                int node = open[at];
                open[at] = open[--open_count];
                held[node]--;
                balancer_on_result(&b, node, true);
                continue;
            }
            int tried[3] = {(int)(test_random() % N), (int)(test_random() % N),
                            (int)(test_random() % N)};
            size_t tried_count = test_random() % 4;
            int node = balancer_select(&b, tried_count ? tried : NULL, tried_count, NULL, 0);
            assert_true(node >= 0 && node < N && up[node]);
            for (size_t t = 0; t < tried_count; t++)
                assert_true(node != tried[t]);
            assert_true(is_least_loaded(held, weights, up, N, tried, tried_count, node));
            held[node]++;
            open[open_count++] = node;
            if (k == 20000) { /* a generation: some nodes leave, others come back */
                for (size_t i = 0; i < N; i += 5)
                    up[i] = !up[i];
                struct balancer_schedule *s =
                    big_schedule(BALANCE_LEASTCONN, weights, up, N, b.schedule);
                assert_int_equal(balancer_use(&b, s), 0);
                balancer_schedule_release(s);
            }
        }
        balancer_free(&b);
    }
    /* ties go round: with nothing held, picks visit every node once before any twice */
    start(&b, BALANCE_LEASTCONN, big_schedule(BALANCE_LEASTCONN, NULL, NULL, 1000, NULL), 1);
    memset(held, 0, N * sizeof *held);
    for (int k = 0; k < 3000; k++)
        held[pick(&b)]++;
    for (size_t i = 0; i < 1000; i++)
        assert_int_equal(held[i], 3);
    balancer_free(&b);
    free(weights);
    free(up);
    free(held);
    free(open);
}

/* random, weighted, p2c and hash over 5,000 nodes, most down: never a down or tried node. */
static void test_draws_skip_down_and_tried_nodes(void **state)
{
    (void)state;
    enum { N = 5000 };
    bool *up = calloc(N, sizeof *up);
    int *weights = calloc(N, sizeof *weights);
    assert_true(up && weights);
    for (size_t i = 0; i < N; i++) {
        up[i] = i % 100 == 7 || i % 100 == 42 || i == 4999;
        weights[i] = 1 + (int)(i % 5);
    }
    enum balance_algorithm algorithms[] = {BALANCE_RANDOM, BALANCE_WEIGHTED, BALANCE_P2C,
                                           BALANCE_HASH};
    for (size_t a = 0; a < 4; a++) {
        struct balancer b;
        start(&b, algorithms[a], big_schedule(algorithms[a], weights, up, N, NULL), 9);
        for (int k = 0; k < 2000; k++) {
            char key[16];
            int len = snprintf(key, sizeof key, "k%d", k);
            int tried[2] = {7, 42};
            int node = balancer_select(&b, tried, (size_t)(k % 3), key, (size_t)len);
            assert_true(node >= 0 && up[node]);
            assert_true(k % 3 < 1 || node != 7);
            assert_true(k % 3 < 2 || node != 42);
            balancer_on_result(&b, node, true);
        }
        /* one node left untried: every algorithm finds it */
        struct balancer_schedule *s = big_schedule(algorithms[a], weights,
                                                   (bool[]){true, false, true, true}, 4, NULL);
        assert_int_equal(balancer_use(&b, s), 0);
        balancer_schedule_release(s);
        assert_int_equal(balancer_select(&b, (int[]){0, 2}, 2, "x", 1), 3);
        balancer_free(&b);
    }
    free(up);
    free(weights);
}

static void test_none_available_and_bad_input(void **state)
{
    (void)state;
    for (int a = BALANCE_ROUNDROBIN; a <= BALANCE_HASH; a++) {
        struct balancer b;
        balancer_init(&b, (enum balance_algorithm)a, 3, 0);
        assert_int_equal(balancer_select(&b, NULL, 0, "k", 1), -1); /* no schedule yet */
        struct balancer_schedule *s = schedule((enum balance_algorithm)a, NULL, NULL, 0, NULL);
        assert_int_equal(balancer_use(&b, s), 0);
        balancer_schedule_release(s);
        assert_int_equal(balancer_select(&b, NULL, 0, "k", 1), -1); /* empty */
        s = schedule((enum balance_algorithm)a, NULL, (bool[]){true, true}, 2, NULL);
        assert_int_equal(balancer_use(&b, s), 0);
        balancer_schedule_release(s);
        assert_int_equal(balancer_select(&b, NULL, 0, "k", 1), -1); /* all down */
        s = schedule((enum balance_algorithm)a, NULL, (bool[]){true, false}, 2, NULL);
        assert_int_equal(balancer_use(&b, s), 0);
        balancer_schedule_release(s);
        assert_int_equal(balancer_select(&b, NULL, 0, "k", 1), 1);
        assert_true(balancer_available(&b, 1) && !balancer_available(&b, 0));
        assert_int_equal(balancer_count(&b), 2);
        balancer_free(&b);
    }
    enum balance_algorithm a;
    assert_int_equal(balancer_parse("p2c", &a), 0);
    assert_int_equal(a, BALANCE_P2C);
    assert_string_equal(balancer_name(BALANCE_HASH), "hash");
    assert_int_equal(balancer_parse("fastest", &a), -1);
    struct balancer_node bad[] = {{"x", 0, true}};
    assert_null(balancer_schedule_new(BALANCE_ROUNDROBIN, bad, 1, NULL));
}

int unit_balancer(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundrobin_smooth_order),
        cmocka_unit_test(test_roundrobin_exact_across_threads),
        cmocka_unit_test(test_retry_leaves_the_rotation_alone),
        cmocka_unit_test(test_tried_nodes_are_skipped),
        cmocka_unit_test(test_random_and_weighted),
        cmocka_unit_test(test_seed_replays),
        cmocka_unit_test(test_leastconn_and_p2c_prefer_idle),
        cmocka_unit_test(test_consistent_hash_moves_only_the_leavers_keys),
        cmocka_unit_test(test_hash_ring_is_bounded),
        cmocka_unit_test(test_generations),
        cmocka_unit_test(test_none_available_and_bad_input),
        cmocka_unit_test(test_roundrobin_cycle_is_nginx_order),
        cmocka_unit_test(test_roundrobin_exact_over_10000),
        cmocka_unit_test(test_leastconn_picks_a_least_loaded_node),
        cmocka_unit_test(test_draws_skip_down_and_tried_nodes),
    };
    return cmocka_run_group_tests_name("balancer", tests, NULL, NULL);
}
