/* master_metrics.h -- the master's GET /metrics in Prometheus text (docs/api-reference.md,
 * "The master's /metrics"): what it keeps between scrapes (per worker: intervals, requests,
 * failures and interval lag; the tasks that ended last) and the rendering. Internal to
 * src/dist: master.c fills a view from its tables; no I/O, the master's loop thread only. */
#ifndef HERD_DIST_MASTER_METRICS_H
#define HERD_DIST_MASTER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "dist/interval.h"
#include "dist/merge.h"
#include "store/store.h"

/* Tasks that ended in this master's life and stay in /metrics (their final counts), so that
 * a scrape after the end still sees what the last seconds added. */
#define MASTER_METRICS_ENDED 8

/* The latency histogram's bounds: 125 us * 2^k for k = 0..18 (0.000125 s to 32.768 s), each
 * where a bucket of the log-linear histogram starts, so the counts below them are exact. */
#define MASTER_METRICS_BOUNDS 19

/* A worker's numbers since this master started, kept with its entry. */
struct master_metrics_worker {
    uint64_t intervals;          /* intervals merged into a running task */
    uint64_t requests, failures; /* their ended requests; those not ok */
    int64_t lag_us, lag_max_us;  /* interval lag (below): the last one, the largest; valid once
                                  * intervals > 0 */
};

/* One task's series. */
struct master_metrics_task {
    char id[2 * DIST_ID_MAX + 1]; /* escaped as a label value */
    bool running;                 /* in the running state (not ended, not cancelled) */
    struct counters counters;     /* ended requests by class */
    uint64_t not_sent, dropped;
    uint64_t below[MASTER_METRICS_BOUNDS]; /* latencies below each bound */
    uint64_t latencies, latency_sum_us;    /* every latency recorded, their sum */
};

/* The tasks that ended last, oldest first from `first`. Zeroed is empty. */
struct master_metrics_ended {
    struct master_metrics_task tasks[MASTER_METRICS_ENDED];
    size_t count, first;
};

/* Counts interval iv of worker w, merged at now_us (Unix us, the master's clock). Its interval
 * lag is now_us - (iv->second_us + 1 s): from the end of the second it covers (dated on the
 * master's clock by the worker's offset) to the master having it stored and merged. */
void master_metrics_interval(struct master_metrics_worker *w, const struct dist_interval *iv,
                             int64_t now_us);

/* Fills *t with task id's numbers so far from its merge. */
void master_metrics_task_of(struct master_metrics_task *t, const char *id, bool running,
                            const struct dist_merge *merge);

/* Keeps task id's final numbers (its merge, as it ends), in place of the oldest kept when
 * MASTER_METRICS_ENDED are. */
void master_metrics_task_ended(struct master_metrics_ended *e, const char *id,
                               const struct dist_merge *merge);

/* A worker as /metrics shows it. The strings are borrowed. */
struct master_metrics_worker_view {
    const char *id, *region;
    const char *state; /* "active", "suspect", "lost" or "disconnected" */
    double cpu;        /* its last CPU use, 0..1 of all its cores */
    const struct master_metrics_worker *numbers;
};

/* Everything one scrape shows; borrowed. */
struct master_metrics_view {
    uint64_t tasks[STORE_TASK_STATES]; /* tasks by state (the store's count) */
    const struct master_metrics_worker_view *workers;
    size_t worker_count;
    const struct master_metrics_task *tasks_live; /* the tasks the master merges now */
    size_t task_live_count;
    const struct master_metrics_ended *ended;
};

/* Appends the Prometheus text (version 0.0.4) of v to out. Returns 0, or -1 when out of
 * memory. */
int master_metrics_render(const struct master_metrics_view *v, struct buf *out);

#endif
