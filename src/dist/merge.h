/* merge.h -- a task's intervals, from any workers in any order, merged into one timeline by
 * absolute second: counters and histograms added (percentiles only ever from merged
 * histograms), totals, per node, per worker, per region; the task's run document in
 * `herd bench`'s shape, judged by the task's thresholds on the merged result
 * (docs/distributed.md, "Merging"). No I/O, no threads: the caller serialises calls. */
#ifndef HERD_DIST_MERGE_H
#define HERD_DIST_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "dist/interval.h"
#include "dist/task.h"

/* A worker is saturated when its CPU use was at least DIST_SATURATED_CPU (of all its cores)
 * in at least DIST_SATURATED_SECONDS consecutive seconds: its numbers may understate what
 * the target could take. */
#define DIST_SATURATED_CPU     0.9
#define DIST_SATURATED_SECONDS 3

struct dist_merge;

/* One worker's numbers so far. */
struct dist_merge_worker_stats {
    uint64_t intervals;      /* accepted intervals */
    uint64_t accounted;      /* requests ended + not sent + dropped: what its share used up */
    uint64_t requests, ok;   /* ended requests, successes */
    uint64_t first_second_us; /* its first interval's start (its actual start); 0 before one */
    double cpu_max;
    bool saturated, final, lost;
    char error[DIST_ERROR_MAX]; /* why its part could not run (its final interval), or "" */
};

/* A new merge for task_id whose seconds count from start_us (the assignment's start_at_us,
 * Unix us): an interval lands in second round((second_us - start_us) / 1 s), so workers' clock
 * jitter under half a second does not split a second. Returns NULL when out of memory. */
struct dist_merge *dist_merge_new(const char *task_id, uint64_t start_us);
void dist_merge_free(struct dist_merge *m);

/* Declares a worker (id, region, cores; region "" when none), before or after its intervals:
 * the per-region table groups by it. A second call updates region and cores. Returns 0, or -1
 * when out of memory. */
int dist_merge_worker(struct dist_merge *m, const char *id, const char *region, unsigned cores);

/* Marks id (declared) as a later part of worker (a share reassigned to it): it is listed in
 * `workers` with `part_of`, but is not one more worker in its region's count, and its start
 * is not in `start_spread_ms`. Returns 0, or -1 when id is unknown. */
int dist_merge_worker_part_of(struct dist_merge *m, const char *id, const char *worker);

/* Marks a worker lost (the master stopped hearing from it; shown in the document). Returns 0,
 * or -1 when the worker is unknown. */
int dist_merge_worker_lost(struct dist_merge *m, const char *id);

/* Adds one interval (checked by dist_interval_from_json). Returns 0, or -1 with a message
 * when it belongs to another task, its (worker, seq) was added before (the store makes posts
 * idempotent; a repeat here is refused, never counted twice), a worker's second final
 * interval, it starts more than half a second before start_us or more than a year after, or
 * out of memory. Nothing is changed on -1. */
int dist_merge_add(struct dist_merge *m, const struct dist_interval *iv, char *err, size_t errlen);

/* A worker's numbers so far. Returns 0, or -1 when the worker is unknown. */
int dist_merge_worker_stats(const struct dist_merge *m, const char *id,
                            struct dist_merge_worker_stats *out);

/* Requests ended, over every worker so far. */
uint64_t dist_merge_requests(const struct dist_merge *m);

/* A task's totals so far, over every worker. */
struct dist_merge_totals {
    struct counters counters;   /* ended requests, by class; bytes */
    uint64_t not_sent, dropped; /* scheduled, never sent (from the final intervals) */
    const struct hist *latency; /* every latency merged so far: borrowed from the merge, valid
                                 * until its next dist_merge_add or dist_merge_free */
};

/* Fills *out with the task's totals so far. */
void dist_merge_totals(const struct dist_merge *m, struct dist_merge_totals *out);

/* What the run document is built with besides the merge. */
struct dist_merge_meta {
    const struct dist_task *task; /* the task's config and thresholds */
    const char *command;          /* "master" or "bench" */
    int argc;
    char **argv;
    bool unjudged;                /* the task still runs: no verdict yet (verdict and each
                                   * threshold's pass are null, *passed 0) */
};

/* The task's run document (docs/run-json.md): the same shape as `herd bench`'s, from the
 * merged totals, timeline and nodes, so every report renders it, plus `workers`, `regions`
 * (each with `timeline`: {requests, failures}, per second of the task's timeline, exact sums
 * of the intervals) and `start_spread_ms`. The verdict comes from the task's thresholds evaluated on the merged
 * result (load_run_json), and is fail when a part could not run (a worker's `error`); null
 * while meta->unjudged. Returns a new reference and sets *passed, or NULL with a message
 * (out of memory, a task whose URLs do not parse). */
json_t *dist_merge_run_json(const struct dist_merge *m, const struct dist_merge_meta *meta,
                            int *passed, char *err, size_t errlen);

#endif
