/* test_balancer.c -- the gateway's balancers: exact and smooth round robin, random by
 * chi-square, weights, leastconn and p2c prefer idle nodes, consistent hashing moves only the
 * keys of a node that leaves, unavailable nodes are never chosen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cluster/balancer.h"
#include "unit.h"

static void add_nodes(struct balancer *b, const int *weights, int n)
{
    for (int i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof id, "api.%d", i + 1);
        assert_int_equal(balancer_add(b, id, weights ? weights[i] : 1), i);
    }
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

static void test_roundrobin_smooth_and_exact(void **state)
{
    (void)state;
    struct balancer b;
    balancer_init(&b, BALANCE_ROUNDROBIN, 1);
    add_nodes(&b, (int[]){5, 1, 1}, 3);
    static const int order[] = {0, 0, 1, 0, 2, 0, 0}; /* a a b a c a a, as nginx */
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < 7; k++) {
            int n = balancer_select(&b, NULL, 0);
            assert_int_equal(n, order[k]);
            balancer_on_result(&b, n, true);
        }
    balancer_free(&b);
    /* equal weights: exact thirds */
    balancer_init(&b, BALANCE_ROUNDROBIN, 1);
    add_nodes(&b, NULL, 3);
    size_t counts[3] = {0};
    for (int k = 0; k < 3000; k++)
        counts[balancer_select(&b, NULL, 0)]++;
    assert_int_equal(counts[0], 1000);
    assert_int_equal(counts[1], 1000);
    assert_int_equal(counts[2], 1000);
    /* a node marked down gets nothing; the others share exactly */
    balancer_set(&b, 1, 1, false);
    memset(counts, 0, sizeof counts);
    for (int k = 0; k < 1000; k++)
        counts[balancer_select(&b, NULL, 0)]++;
    assert_int_equal(counts[1], 0);
    assert_int_equal(counts[0], 500);
    assert_int_equal(counts[2], 500);
    balancer_free(&b);
}

static void test_random_and_weighted(void **state)
{
    (void)state;
    enum { N = 30000 };
    struct balancer b;
    balancer_init(&b, BALANCE_RANDOM, 12345);
    add_nodes(&b, (int[]){9, 1, 1}, 3); /* random ignores weights */
    size_t counts[3] = {0};
    for (int k = 0; k < N; k++)
        counts[balancer_select(&b, NULL, 0)]++;
    /* passes at p >= 0.01: chi-square with 2 degrees of freedom below 9.21 */
    assert_true(chi_square(counts, (double[]){1 / 3.0, 1 / 3.0, 1 / 3.0}, 3, N) < 9.21);
    balancer_free(&b);
    balancer_init(&b, BALANCE_WEIGHTED, 777);
    add_nodes(&b, (int[]){3, 1, 1}, 3);
    memset(counts, 0, sizeof counts);
    for (int k = 0; k < N; k++)
        counts[balancer_select(&b, NULL, 0)]++;
    assert_true(chi_square(counts, (double[]){0.6, 0.2, 0.2}, 3, N) < 9.21);
    /* a weight change is honoured at once */
    balancer_set(&b, 0, 1, true);
    memset(counts, 0, sizeof counts);
    for (int k = 0; k < N; k++)
        counts[balancer_select(&b, NULL, 0)]++;
    assert_true(chi_square(counts, (double[]){1 / 3.0, 1 / 3.0, 1 / 3.0}, 3, N) < 9.21);
    balancer_free(&b);
}

static void test_leastconn_and_p2c_prefer_idle(void **state)
{
    (void)state;
    struct balancer b;
    balancer_init(&b, BALANCE_LEASTCONN, 1);
    add_nodes(&b, NULL, 3);
    int a = balancer_select(&b, NULL, 0), c = balancer_select(&b, NULL, 0);
    int idle = 3 - a - c; /* the one not chosen yet */
    assert_int_equal(balancer_select(&b, NULL, 0), idle);
    balancer_on_result(&b, a, true);
    assert_int_equal(balancer_select(&b, NULL, 0), a); /* a is idle again */
    balancer_free(&b);
    /* p2c: with one node busy by 100, it is almost never picked */
    balancer_init(&b, BALANCE_P2C, 99);
    add_nodes(&b, NULL, 3);
    for (int k = 0; k < 100; k++)
        b.nodes[0].in_flight++;
    size_t counts[3] = {0};
    for (int k = 0; k < 3000; k++) {
        int n = balancer_select(&b, NULL, 0);
        counts[n]++;
        balancer_on_result(&b, n, true);
    }
    assert_int_equal(counts[0], 0); /* two distinct candidates: the busy one always loses */
    assert_true(counts[1] > 1000 && counts[2] > 1000);
    balancer_free(&b);
}

static void test_consistent_hash_moves_only_the_leavers_keys(void **state)
{
    (void)state;
    enum { KEYS = 20000, NODES = 5 };
    static int before[KEYS];
    struct balancer b;
    balancer_init(&b, BALANCE_HASH, 1);
    add_nodes(&b, NULL, NODES);
    size_t counts[NODES] = {0};
    char key[32];
    for (int k = 0; k < KEYS; k++) {
        int len = snprintf(key, sizeof key, "user-%d", k);
        before[k] = balancer_select(&b, key, (size_t)len);
        counts[before[k]]++;
        /* the same key always lands on the same node */
        assert_int_equal(balancer_select(&b, key, (size_t)len), before[k]);
    }
    for (int i = 0; i < NODES; i++) /* spread: each within 30% of a fifth */
        assert_in_range(counts[i], KEYS / NODES * 7 / 10, KEYS / NODES * 13 / 10);
    balancer_set(&b, 2, 1, false); /* api.3 leaves */
    int moved = 0, wrongly = 0;
    for (int k = 0; k < KEYS; k++) {
        int len = snprintf(key, sizeof key, "user-%d", k);
        int now = balancer_select(&b, key, (size_t)len);
        assert_true(now != 2);
        if (now != before[k]) {
            moved++;
            wrongly += before[k] != 2;
        }
    }
    assert_int_equal(wrongly, 0);           /* only api.3's keys moved... */
    assert_true(moved <= KEYS / NODES * 13 / 10); /* ...about 1/N of them */
    balancer_set(&b, 2, 1, true); /* it comes back: its keys return */
    for (int k = 0; k < KEYS; k++) {
        int len = snprintf(key, sizeof key, "user-%d", k);
        assert_int_equal(balancer_select(&b, key, (size_t)len), before[k]);
    }
    balancer_free(&b);
}

static void test_none_available(void **state)
{
    (void)state;
    for (int algo = BALANCE_ROUNDROBIN; algo <= BALANCE_HASH; algo++) {
        struct balancer b;
        balancer_init(&b, (enum balance_algorithm)algo, 3);
        assert_int_equal(balancer_select(&b, "k", 1), -1); /* empty */
        add_nodes(&b, NULL, 2);
        balancer_set(&b, 0, 1, false);
        balancer_set(&b, 1, 1, false);
        assert_int_equal(balancer_select(&b, "k", 1), -1);
        balancer_set(&b, 1, 1, true);
        assert_int_equal(balancer_select(&b, "k", 1), 1);
        balancer_free(&b);
    }
    enum balance_algorithm a;
    assert_int_equal(balancer_parse("p2c", &a), 0);
    assert_int_equal(a, BALANCE_P2C);
    assert_int_equal(balancer_parse("fastest", &a), -1);
    struct balancer b;
    balancer_init(&b, BALANCE_ROUNDROBIN, 1);
    assert_int_equal(balancer_add(&b, "x", 0), -1);
    assert_int_equal(balancer_add(&b, "x", 1001), -1);
    balancer_free(&b);
}

int unit_balancer(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundrobin_smooth_and_exact),
        cmocka_unit_test(test_random_and_weighted),
        cmocka_unit_test(test_leastconn_and_p2c_prefer_idle),
        cmocka_unit_test(test_consistent_hash_moves_only_the_leavers_keys),
        cmocka_unit_test(test_none_available),
    };
    return cmocka_run_group_tests_name("balancer", tests, NULL, NULL);
}
