/* master_metrics.c -- the master's GET /metrics: per-worker numbers, ended tasks, rendering. */
#include "dist/master_metrics.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "http/prom.h"
#include "stats/hist.h"

#define SECOND_US 1000000
#define LABEL_MAX (2 * STORE_NAME_SIZE + 1) /* an escaped id or region */

static const uint64_t bounds_us[MASTER_METRICS_BOUNDS] = {
    125,    250,    500,    1000,    2000,    4000,    8000,    16000,    32000,   64000,
    128000, 256000, 512000, 1024000, 2048000, 4096000, 8192000, 16384000, 32768000};

static const char *const worker_states[] = {"active", "suspect", "lost", "disconnected"};

void master_metrics_interval(struct master_metrics_worker *w, const struct dist_interval *iv,
                             int64_t now_us)
{
    int64_t lag = now_us - (int64_t)(iv->second_us + SECOND_US);
    w->requests += iv->counters.requests;
    w->failures += counters_failures(&iv->counters);
    w->lag_us = lag;
    if (w->intervals == 0 || lag > w->lag_max_us) w->lag_max_us = lag;
    w->intervals++;
}

void master_metrics_task_of(struct master_metrics_task *t, const char *id, bool running,
                            const struct dist_merge *merge)
{
    struct dist_merge_totals totals;
    dist_merge_totals(merge, &totals);
    memset(t, 0, sizeof *t);
    prom_label_escape(id, t->id, sizeof t->id);
    t->running = running;
    t->counters = totals.counters;
    t->not_sent = totals.not_sent;
    t->dropped = totals.dropped;
    t->latencies = totals.latency->total;
    t->latency_sum_us = totals.latency->sum;
    /* the bounds are bucket starts (a unit test checks it): this cannot fail */
    hist_count_below(totals.latency, bounds_us, MASTER_METRICS_BOUNDS, t->below);
}

void master_metrics_task_ended(struct master_metrics_ended *e, const char *id,
                               const struct dist_merge *merge)
{
    size_t at = (e->first + e->count) % MASTER_METRICS_ENDED;
    if (e->count == MASTER_METRICS_ENDED)
        e->first = (e->first + 1) % MASTER_METRICS_ENDED;
    else
        e->count++;
    master_metrics_task_of(&e->tasks[at], id, false, merge);
}

/* ---- rendering ---- */

/* The i-th task shown: the live ones, then the ended ones (oldest first) that are not live
 * too. NULL past the end. */
static const struct master_metrics_task *task_at(const struct master_metrics_view *v, size_t i)
{
    if (i < v->task_live_count) return &v->tasks_live[i];
    for (size_t k = 0, shown = v->task_live_count; v->ended && k < v->ended->count; k++) {
        const struct master_metrics_task *t =
            &v->ended->tasks[(v->ended->first + k) % MASTER_METRICS_ENDED];
        bool live = false;
        for (size_t j = 0; j < v->task_live_count && !live; j++)
            live = strcmp(v->tasks_live[j].id, t->id) == 0;
        if (live) continue;
        if (shown++ == i) return t;
    }
    return NULL;
}

/* worker="ID",region="R" of worker view w into out (LABEL_MAX * 2 + 32 bytes). */
static void worker_labels(const struct master_metrics_worker_view *w, char *out, size_t size)
{
    char id[LABEL_MAX], region[LABEL_MAX];
    prom_label_escape(w->id, id, sizeof id);
    prom_label_escape(w->region ? w->region : "", region, sizeof region);
    snprintf(out, size, "worker=\"%s\",region=\"%s\"", id, region);
}

static int render_states(const struct master_metrics_view *v, struct buf *b)
{
    uint64_t workers[4] = {0};
    for (size_t i = 0; i < v->worker_count; i++)
        for (size_t s = 0; s < 4; s++)
            if (strcmp(v->workers[i].state, worker_states[s]) == 0) workers[s]++;
    int rc = prom_family(b, "herd_master_workers", "gauge",
                         "Workers the master knows, by state (disconnected: known from the "
                         "store, not registered with this master process yet).");
    for (size_t s = 0; s < 4 && rc == 0; s++)
        rc = buf_printf(b, "herd_master_workers{state=\"%s\"} %" PRIu64 "\n", worker_states[s],
                        workers[s]);
    if (rc == 0)
        rc = prom_family(b, "herd_master_tasks", "gauge", "Tasks in the master's store, by state.");
    for (int s = 0; s < STORE_TASK_STATES && rc == 0; s++)
        rc = buf_printf(b, "herd_master_tasks{state=\"%s\"} %" PRIu64 "\n",
                        store_task_state_name((enum store_task_state)s), v->tasks[s]);
    return rc;
}

static int render_tasks(const struct master_metrics_view *v, struct buf *b)
{
    const struct master_metrics_task *t;
    int rc = prom_family(b, "herd_master_task_running", "gauge",
                         "1 while the task runs; 0 once it ended or was cancelled (shown: the "
                         "tasks the master merges, and the last ones that ended).");
    for (size_t i = 0; rc == 0 && (t = task_at(v, i)); i++)
        rc = buf_printf(b, "herd_master_task_running{task=\"%s\"} %d\n", t->id, t->running);
    if (rc == 0)
        rc = prom_family(b, "herd_master_task_requests_total", "counter",
                         "The task's ended requests, merged from every worker, by outcome (ok or "
                         "the failure's class).");
    for (size_t i = 0; rc == 0 && (t = task_at(v, i)); i++)
        for (int c = 0; c < COUNTER_CLASSES && rc == 0; c++)
            rc = buf_printf(b,
                            "herd_master_task_requests_total{task=\"%s\",outcome=\"%s\"} "
                            "%" PRIu64 "\n",
                            t->id, counter_class_name((enum counter_class)c),
                            t->counters.by_class[c]);
    static const struct {
        const char *name, *help;
        size_t offset;
    } unsent[] = {
        {"herd_master_task_not_sent_total",
         "The task's requests never sent: still waiting for a connection at the end, or cut by "
         "the circuit breaker.",
         offsetof(struct master_metrics_task, not_sent)},
        {"herd_master_task_dropped_total",
         "The task's open-model sends refused because the backlog was full.",
         offsetof(struct master_metrics_task, dropped)},
    };
    for (size_t f = 0; f < 2 && rc == 0; f++) {
        rc = prom_family(b, unsent[f].name, "counter", unsent[f].help);
        for (size_t i = 0; rc == 0 && (t = task_at(v, i)); i++)
            rc = buf_printf(b, "%s{task=\"%s\"} %" PRIu64 "\n", unsent[f].name, t->id,
                            *(const uint64_t *)((const char *)t + unsent[f].offset));
    }
    if (rc == 0)
        rc = prom_family(b, "herd_master_task_latency_seconds", "histogram",
                         "The task's latencies (from the intended send), merged from every "
                         "worker; exact counts below each bound.");
    for (size_t i = 0; rc == 0 && (t = task_at(v, i)); i++) {
        for (int k = 0; k < MASTER_METRICS_BOUNDS && rc == 0; k++)
            rc = buf_printf(b,
                            "herd_master_task_latency_seconds_bucket{task=\"%s\",le=\"%g\"} "
                            "%" PRIu64 "\n",
                            t->id, (double)bounds_us[k] / 1e6, t->below[k]);
        if (rc == 0)
            rc = buf_printf(b,
                            "herd_master_task_latency_seconds_bucket{task=\"%s\",le=\"+Inf\"} "
                            "%" PRIu64 "\n"
                            "herd_master_task_latency_seconds_sum{task=\"%s\"} %.6f\n"
                            "herd_master_task_latency_seconds_count{task=\"%s\"} %" PRIu64 "\n",
                            t->id, t->latencies, t->id, (double)t->latency_sum_us / 1e6, t->id,
                            t->latencies);
    }
    return rc;
}

/* The per-worker families: one value of each worker's a family. */
enum worker_value { W_INTERVALS, W_REQUESTS, W_FAILURES, W_LAG, W_LAG_MAX, W_CPU, W_VALUES };

static int render_workers(const struct master_metrics_view *v, struct buf *b)
{
    static const struct {
        const char *name, *type, *help;
    } families[W_VALUES] = {
        {"herd_master_worker_intervals_total", "counter",
         "Intervals of the worker merged into a running task since this master started."},
        {"herd_master_worker_requests_total", "counter", "Ended requests in those intervals."},
        {"herd_master_worker_failures_total", "counter",
         "Ended requests in those intervals that were not ok."},
        {"herd_master_worker_interval_lag_seconds", "gauge",
         "The last interval's lag: from the end of the second it covers to the master having "
         "it stored and merged."},
        {"herd_master_worker_interval_lag_max_seconds", "gauge",
         "The largest interval lag since this master started."},
        {"herd_master_worker_cpu_ratio", "gauge",
         "The worker process's last reported CPU use, a share of all its cores."},
    };
    char labels[2 * LABEL_MAX + 32];
    int rc = 0;
    for (int f = 0; f < W_VALUES && rc == 0; f++) {
        rc = prom_family(b, families[f].name, families[f].type, families[f].help);
        for (size_t i = 0; i < v->worker_count && rc == 0; i++) {
            const struct master_metrics_worker_view *w = &v->workers[i];
            const struct master_metrics_worker *n = w->numbers;
            bool lag = f == W_LAG || f == W_LAG_MAX;
            if (lag && n->intervals == 0) continue; /* no interval yet: no lag to show */
            worker_labels(w, labels, sizeof labels);
            switch (f) {
            case W_INTERVALS:
            case W_REQUESTS:
            case W_FAILURES:
                rc = buf_printf(b, "%s{%s} %" PRIu64 "\n", families[f].name, labels,
                                f == W_INTERVALS  ? n->intervals
                                : f == W_REQUESTS ? n->requests
                                                  : n->failures);
                break;
            default:
                rc = buf_printf(
                    b, "%s{%s} %.6f\n", families[f].name, labels,
                    f == W_CPU ? w->cpu : (double)(f == W_LAG ? n->lag_us : n->lag_max_us) / 1e6);
            }
        }
    }
    return rc;
}

int master_metrics_render(const struct master_metrics_view *v, struct buf *out)
{
    if (render_states(v, out) < 0 || render_tasks(v, out) < 0 || render_workers(v, out) < 0)
        return -1;
    return 0;
}
