/* lb.c -- client-side choice of a target per request. */
#include "load/lb.h"

#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"roundrobin", "random", "weighted", "leastconn"};

int lb_parse(const char *name, enum lb_algorithm *out)
{
    for (int i = 0; i <= LB_LEASTCONN; i++)
        if (strcmp(name, names[i]) == 0)
            return *out = (enum lb_algorithm)i, 0;
    return -1;
}

const char *lb_name(enum lb_algorithm algorithm)
{
    return (unsigned)algorithm <= LB_LEASTCONN ? names[algorithm] : "?";
}

static uint64_t next_random(struct lb *lb)
{
    uint64_t x = lb->rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    lb->rng = x;
    return x * 2685821657736338717ULL;
}

/* nginx's smooth weighted round robin, run for one whole cycle (sum of weights picks). */
static int build_cycle(struct lb *lb)
{
    uint64_t total = 0;
    for (size_t i = 0; i < lb->count; i++)
        total += (uint64_t)lb->weights[i];
    if (total > 1000000)
        return -1;
    lb->cycle = malloc(total * sizeof *lb->cycle);
    long long *current = calloc(lb->count, sizeof *current);
    if (!lb->cycle || !current) {
        free(current);
        return -1;
    }
    for (size_t k = 0; k < total; k++) {
        size_t best = 0;
        for (size_t i = 0; i < lb->count; i++) {
            current[i] += lb->weights[i];
            if (current[i] > current[best])
                best = i;
        }
        current[best] -= (long long)total;
        lb->cycle[k] = (uint32_t)best;
    }
    free(current);
    lb->cycle_len = total;
    return 0;
}

int lb_init(struct lb *lb, enum lb_algorithm algorithm, const int *weights, size_t count,
            uint64_t seed)
{
    memset(lb, 0, sizeof *lb);
    lb->algorithm = algorithm;
    lb->count = count;
    lb->rng = seed | 1;
    lb->weights = malloc(count * sizeof *lb->weights);
    lb->in_flight = calloc(count, sizeof *lb->in_flight);
    if (!count || !lb->weights || !lb->in_flight)
        goto fail;
    for (size_t i = 0; i < count; i++) {
        if (weights && weights[i] <= 0)
            goto fail;
        lb->weights[i] = weights ? weights[i] : 1;
        lb->total_weight += (uint64_t)lb->weights[i];
    }
    if (algorithm == LB_ROUNDROBIN && build_cycle(lb) < 0)
        goto fail;
    return 0;
fail:
    lb_free(lb);
    return -1;
}

void lb_free(struct lb *lb)
{
    free(lb->weights);
    free(lb->cycle);
    free(lb->in_flight);
    memset(lb, 0, sizeof *lb);
}

size_t lb_select(struct lb *lb, uint64_t seq)
{
    size_t pick = 0;
    switch (lb->algorithm) {
    case LB_ROUNDROBIN:
        pick = lb->cycle[seq % lb->cycle_len];
        break;
    case LB_RANDOM:
        pick = (size_t)(next_random(lb) % lb->count);
        break;
    case LB_WEIGHTED: {
        uint64_t r = next_random(lb) % lb->total_weight;
        while (r >= (uint64_t)lb->weights[pick])
            r -= (uint64_t)lb->weights[pick++];
        break;
    }
    case LB_LEASTCONN: {
        size_t start = lb->rotation++ % lb->count;
        pick = start;
        for (size_t k = 1; k < lb->count; k++) {
            size_t i = (start + k) % lb->count;
            /* fewest in flight relative to weight: a / wa < b / wb */
            if (lb->in_flight[i] * (uint64_t)lb->weights[pick] <
                lb->in_flight[pick] * (uint64_t)lb->weights[i])
                pick = i;
        }
        break;
    }
    }
    lb->in_flight[pick]++;
    return pick;
}

void lb_on_result(struct lb *lb, size_t target, bool ok)
{
    (void)ok;
    if (target < lb->count && lb->in_flight[target] > 0)
        lb->in_flight[target]--;
}
