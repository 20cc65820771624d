/* split.h -- exact splits of a task's concurrency, requests and rate over its workers, and of
 * a lost worker's unfinished requests over the workers that remain (docs/distributed.md). */
#ifndef HERD_DIST_SPLIT_H
#define HERD_DIST_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dist_split_mode {
    DIST_SPLIT_EVEN = 0, /* equal parts; the first total % n workers get one more */
    DIST_SPLIT_CORES,    /* in proportion to each worker's cores (largest remainder) */
};

/* One worker's part of a task. A worker whose connections are 0 gets no assignment
 * (dist_share_active); its requests and rate are then 0 too. */
struct dist_share {
    uint64_t connections;
    uint64_t requests;   /* 0 when the task has no request count (a duration task) */
    uint64_t rate_milli; /* millirequests per second; 0 in the closed model */
};

/* Splits total into n integers parts[0..n) that add up to total exactly. weights NULL: even
 * (the first total % n parts get one more). Else part i is total * weights[i] / sum(weights)
 * rounded down, and the remaining units (fewer than n) go one each to the largest remainders,
 * ties to the earlier index: each part is within 1 of its ideal share, and a weight of 0 gets
 * 0. Returns 0, or -1 when n is 0, the weights add up to 0 or more than 2^32, or out of
 * memory (parts then untouched). */
int dist_split(uint64_t total, const uint32_t *weights, size_t n, uint64_t *parts);

/* Splits a task over n workers into shares[0..n): concurrency (at least 1), requests (0: a
 * duration task) and rate_milli (0: closed model) each add up exactly over the workers. mode
 * EVEN ignores cores; CORES weighs each worker by cores[i] (a worker with 0 cores gets
 * nothing). A worker that would get 0 connections, or 0 of the task's requests or rate while
 * the task has some, is left out (its share all 0) and the task split again over the others,
 * so every active worker has something of each to do. Returns the number of active workers
 * (at least 1), or -1 with a message in err (n 0, concurrency 0, all cores 0, out of memory). */
int dist_split_task(uint64_t concurrency, uint64_t requests, uint64_t rate_milli,
                    enum dist_split_mode mode, const uint32_t *cores, size_t n,
                    struct dist_share *shares, char *err, size_t errlen);

/* True when the share has work: the worker gets an assignment. */
bool dist_share_active(const struct dist_share *s);

/* A rate in requests per second as millirequests per second (rounded to the nearest), and
 * back. Rates are at most BENCH_RATE_MAX (1e8), so the product fits. */
uint64_t dist_rate_to_milli(double rate);
double dist_rate_from_milli(uint64_t milli);

/* The requests a lost worker did not finish: its share minus what its acknowledged intervals
 * accounted for (ended, not sent, dropped), never below 0. */
uint64_t dist_unfinished(uint64_t share_requests, uint64_t accounted);

/* Splits a lost worker's unfinished requests over the n workers that remain (by weights, NULL
 * for even, as dist_split) into extra[0..n), each to be added to that worker's requests, so
 * the task's total is still reached exactly once. Returns 0 or -1 as dist_split. */
int dist_split_reassign(uint64_t unfinished, const uint32_t *weights, size_t n, uint64_t *extra);

#endif
