/* split.c -- exact splits over workers: largest remainder, ties to the earlier worker. */
#include "dist/split.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"

struct remainder {
    uint64_t rem;
    size_t index;
};

/* Largest remainder first; equal remainders in worker order. */
static int by_remainder(const void *a, const void *b)
{
    const struct remainder *x = a, *y = b;
    if (x->rem != y->rem)
        return x->rem > y->rem ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

int dist_split(uint64_t total, const uint32_t *weights, size_t n, uint64_t *parts)
{
    if (n == 0)
        return -1;
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += weights ? weights[i] : 1;
    if (sum == 0 || sum > UINT32_MAX)
        return -1;
    struct remainder *rems = malloc(n * sizeof *rems);
    if (!rems)
        return -1;
    uint64_t given = 0;
    for (size_t i = 0; i < n; i++) {
        /* total < 2^64 and weight < 2^32: the product fits in 128 bits */
        unsigned __int128 scaled = (unsigned __int128)total * (weights ? weights[i] : 1);
        parts[i] = (uint64_t)(scaled / sum);
        rems[i] = (struct remainder){(uint64_t)(scaled % sum), i};
        given += parts[i];
    }
    uint64_t left = total - given; /* < n: each part lost less than one unit */
    qsort(rems, n, sizeof *rems, by_remainder);
    for (uint64_t k = 0; k < left; k++)
        parts[rems[k].index]++;
    free(rems);
    return 0;
}

bool dist_share_active(const struct dist_share *s)
{
    return s->connections > 0;
}

uint64_t dist_rate_to_milli(double rate)
{
    if (!(rate > 0))
        return 0;
    return (uint64_t)(rate * 1000.0 + 0.5);
}

double dist_rate_from_milli(uint64_t milli)
{
    return (double)milli / 1000.0;
}

uint64_t dist_unfinished(uint64_t share_requests, uint64_t accounted)
{
    return accounted >= share_requests ? 0 : share_requests - accounted;
}

int dist_split_reassign(uint64_t unfinished, const uint32_t *weights, size_t n, uint64_t *extra)
{
    return dist_split(unfinished, weights, n, extra);
}

int dist_split_task(uint64_t concurrency, uint64_t requests, uint64_t rate_milli,
                    enum dist_split_mode mode, const uint32_t *cores, size_t n,
                    struct dist_share *shares, char *err, size_t errlen)
{
    if (n == 0)
        return err_set(err, errlen, "no worker to split the task over");
    if (concurrency == 0)
        return err_set(err, errlen, "concurrency: expected at least 1 connection");
    uint32_t *weights = malloc(n * sizeof *weights);
    uint64_t *parts = malloc(n * sizeof *parts);
    int active = -1;
    if (!weights || !parts) {
        err_set(err, errlen, "out of memory");
        goto out;
    }
    size_t count = 0;
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        weights[i] = mode == DIST_SPLIT_CORES ? cores[i] : 1;
        count += weights[i] > 0;
        sum += weights[i];
    }
    if (sum > UINT32_MAX) {
        err_set(err, errlen, "split: more than 2^32 cores (or workers) in all");
        goto out;
    }
    if (count == 0) {
        err_set(err, errlen, "split: cores: every worker reports 0 cores");
        goto out;
    }
    /* Each pass leaves out the workers that got 0 of something the task has; a pass that
     * leaves out nobody is final. At least one worker keeps something of each total. */
    for (;;) {
        memset(shares, 0, n * sizeof *shares);
        if (dist_split(concurrency, weights, n, parts) < 0)
            goto oom;
        for (size_t i = 0; i < n; i++)
            shares[i].connections = parts[i];
        if (requests) {
            if (dist_split(requests, weights, n, parts) < 0)
                goto oom;
            for (size_t i = 0; i < n; i++)
                shares[i].requests = parts[i];
        }
        if (rate_milli) {
            if (dist_split(rate_milli, weights, n, parts) < 0)
                goto oom;
            for (size_t i = 0; i < n; i++)
                shares[i].rate_milli = parts[i];
        }
        size_t dropped = 0;
        for (size_t i = 0; i < n; i++) {
            if (!weights[i])
                continue;
            if (!shares[i].connections || (requests && !shares[i].requests) ||
                (rate_milli && !shares[i].rate_milli)) {
                weights[i] = 0;
                dropped++;
            }
        }
        count -= dropped;
        if (!dropped)
            break;
    }
    active = (int)count;
    goto out;
oom:
    err_set(err, errlen, "out of memory");
out:
    free(weights);
    free(parts);
    return active;
}
