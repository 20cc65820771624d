/* merge.c -- intervals into one timeline by absolute second; the task's run document. */
#include "dist/merge.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mtime.h"
#include "load/run_json.h"

#define SECOND_US     1000000ULL
#define MAX_SECONDS   (366ULL * 86400) /* a task's seconds: a year at most */

struct merge_second {
    struct counters counters;
    uint64_t not_sent, dropped;
    char *hist; /* the merged histogram of the second, encoded; NULL while none came */
    uint64_t node_requests[LOAD_MAX_NODES], node_failures[LOAD_MAX_NODES];
};

struct merge_worker {
    char id[DIST_ID_MAX], region[DIST_ID_MAX];
    char part_of[DIST_ID_MAX]; /* a later part (a reassigned share): its worker's id, else "" */
    unsigned cores;
    struct counters counters;
    uint64_t not_sent, dropped;
    struct hist *latency;
    uint64_t *seqs; /* accepted seqs, ascending */
    size_t seq_count, seq_cap;
    uint64_t *hot;  /* seconds (indices) with cpu >= DIST_SATURATED_CPU, in arrival order */
    size_t hot_count, hot_cap;
    uint64_t *second_requests, *second_failures; /* by the merge's second index */
    size_t second_cap, failures_cap;
    uint64_t first_second_us, end_us; /* earliest start; latest second_us + 1 s */
    double cpu_max, elapsed_s;
    bool final, lost, breaker_tripped, interrupted;
    char error[DIST_ERROR_MAX]; /* why its part could not run, from its final interval */
};

struct dist_merge {
    char task_id[DIST_ID_MAX];
    uint64_t start_us;
    struct merge_second *seconds;
    size_t second_count, second_cap;
    struct merge_worker **workers;
    size_t worker_count, worker_cap;
    char node_names[LOAD_MAX_NODES][LOAD_NODE_NAME];
    uint64_t node_requests[LOAD_MAX_NODES], node_failures[LOAD_MAX_NODES];
    size_t node_count;
    struct counters counters;
    uint64_t not_sent, dropped;
    uint64_t status[LOAD_STATUS_MAX]; /* from the final intervals */
    uint64_t clients, connects, connections_peak; /* sums over the final intervals */
    struct hist *latency, *scratch;
};

/* Grows *array (of size elements) to hold at least want. Returns 0 or -1. */
static int reserve(void **array, size_t *cap, size_t want, size_t size)
{
    if (want <= *cap)
        return 0;
    size_t next = *cap ? *cap * 2 : 16;
    while (next < want)
        next *= 2;
    void *p = realloc(*array, next * size);
    if (!p)
        return -1;
    memset((char *)p + *cap * size, 0, (next - *cap) * size);
    *array = p;
    *cap = next;
    return 0;
}

struct dist_merge *dist_merge_new(const char *task_id, uint64_t start_us)
{
    struct dist_merge *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    snprintf(m->task_id, sizeof m->task_id, "%s", task_id);
    m->start_us = start_us;
    m->latency = hist_new();
    m->scratch = hist_new();
    if (!m->latency || !m->scratch) {
        dist_merge_free(m);
        return NULL;
    }
    return m;
}

static void worker_free(struct merge_worker *w)
{
    if (!w)
        return;
    hist_free(w->latency);
    free(w->seqs);
    free(w->hot);
    free(w->second_requests);
    free(w->second_failures);
    free(w);
}

void dist_merge_free(struct dist_merge *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->second_count; i++)
        free(m->seconds[i].hist);
    free(m->seconds);
    for (size_t i = 0; i < m->worker_count; i++)
        worker_free(m->workers[i]);
    free(m->workers);
    hist_free(m->latency);
    hist_free(m->scratch);
    free(m);
}

static struct merge_worker *worker_find(const struct dist_merge *m, const char *id)
{
    for (size_t i = 0; i < m->worker_count; i++)
        if (strcmp(m->workers[i]->id, id) == 0)
            return m->workers[i];
    return NULL;
}

static struct merge_worker *worker_add(struct dist_merge *m, const char *id)
{
    struct merge_worker *w = worker_find(m, id);
    if (w)
        return w;
    if (reserve((void **)&m->workers, &m->worker_cap, m->worker_count + 1, sizeof *m->workers) < 0)
        return NULL;
    w = calloc(1, sizeof *w);
    if (!w || !(w->latency = hist_new())) {
        worker_free(w);
        return NULL;
    }
    snprintf(w->id, sizeof w->id, "%s", id);
    m->workers[m->worker_count++] = w;
    return w;
}

int dist_merge_worker(struct dist_merge *m, const char *id, const char *region, unsigned cores)
{
    struct merge_worker *w = worker_add(m, id);
    if (!w)
        return -1;
    snprintf(w->region, sizeof w->region, "%s", region ? region : "");
    w->cores = cores;
    return 0;
}

int dist_merge_worker_part_of(struct dist_merge *m, const char *id, const char *worker)
{
    struct merge_worker *w = worker_find(m, id);
    if (!w)
        return -1;
    snprintf(w->part_of, sizeof w->part_of, "%s", worker);
    return 0;
}

int dist_merge_worker_lost(struct dist_merge *m, const char *id)
{
    struct merge_worker *w = worker_find(m, id);
    if (!w)
        return -1;
    w->lost = true;
    return 0;
}

/* Index of seq in w->seqs, or where it would go (*found tells). */
static size_t seq_position(const struct merge_worker *w, uint64_t seq, bool *found)
{
    size_t lo = 0, hi = w->seq_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->seqs[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < w->seq_count && w->seqs[lo] == seq;
    return lo;
}

/* The merge's index of node name; a new name takes the next index, LOAD_OTHER_NODES the
 * last one when the table is full. extra counts names taken by this interval so far (not yet
 * in the table). */
static size_t node_index(const struct dist_merge *m, const char *name, char (*pending)[LOAD_NODE_NAME],
                         size_t *pending_count)
{
    for (size_t i = 0; i < m->node_count; i++)
        if (strcmp(m->node_names[i], name) == 0)
            return i;
    for (size_t i = 0; i < *pending_count; i++)
        if (strcmp(pending[i], name) == 0)
            return m->node_count + i;
    size_t next = m->node_count + *pending_count;
    if (next >= LOAD_MAX_NODES - 1 && strcmp(name, LOAD_OTHER_NODES) != 0)
        return node_index(m, LOAD_OTHER_NODES, pending, pending_count);
    snprintf(pending[*pending_count], LOAD_NODE_NAME, "%s", name);
    (*pending_count)++;
    return next;
}

int dist_merge_add(struct dist_merge *m, const struct dist_interval *iv, char *err, size_t errlen)
{
    if (strcmp(iv->task_id, m->task_id) != 0)
        return err_set(err, errlen, "task_id: '%s' is not task '%s'", iv->task_id, m->task_id);
    if (iv->second_us + SECOND_US / 2 < m->start_us)
        return err_set(err, errlen, "second_us: %llu is before the task's start (%llu)",
                       (unsigned long long)iv->second_us, (unsigned long long)m->start_us);
    uint64_t k = (iv->second_us + SECOND_US / 2 - m->start_us) / SECOND_US;
    if (k >= MAX_SECONDS)
        return err_set(err, errlen, "second_us: more than a year after the task's start");
    struct merge_worker *w = worker_find(m, iv->worker_id);
    bool found = false;
    size_t at = 0;
    if (w) {
        at = seq_position(w, iv->seq, &found);
        if (found)
            return err_set(err, errlen, "worker '%s' seq %llu: already merged", iv->worker_id,
                           (unsigned long long)iv->seq);
        if (iv->final && w->final)
            return err_set(err, errlen, "worker '%s' seq %llu: a second final interval",
                           iv->worker_id, (unsigned long long)iv->seq);
    }
    /* everything that can fail, before anything changes */
    char pending[LOAD_MAX_NODES][LOAD_NODE_NAME];
    size_t pending_count = 0, map[LOAD_MAX_NODES];
    for (size_t i = 0; i < iv->node_count; i++)
        map[i] = node_index(m, iv->nodes[i].name, pending, &pending_count);
    if ((!w && !(w = worker_add(m, iv->worker_id))) ||
        reserve((void **)&w->seqs, &w->seq_cap, w->seq_count + 1, sizeof *w->seqs) < 0 ||
        reserve((void **)&w->hot, &w->hot_cap, w->hot_count + 1, sizeof *w->hot) < 0 ||
        reserve((void **)&m->seconds, &m->second_cap, k + 1, sizeof *m->seconds) < 0 ||
        reserve((void **)&w->second_requests, &w->second_cap, k + 1, sizeof (uint64_t)) < 0 ||
        reserve((void **)&w->second_failures, &w->failures_cap, k + 1, sizeof (uint64_t)) < 0)
        return err_set(err, errlen, "out of memory");
    struct merge_second *s = &m->seconds[k];
    char *hist = NULL;
    if (iv->hist->total) {
        char msg[ERR_SIZE];
        hist_reset(m->scratch);
        if (s->hist && hist_decode(m->scratch, s->hist, msg, sizeof msg) < 0)
            return err_set(err, errlen, "the merged histogram of second %llu: %s",
                           (unsigned long long)k, msg);
        hist_merge(m->scratch, iv->hist);
        if (!(hist = hist_encode(m->scratch)))
            return err_set(err, errlen, "out of memory");
    }
    /* commit */
    if (hist) {
        free(s->hist);
        s->hist = hist;
    }
    if (k + 1 > m->second_count)
        m->second_count = k + 1;
    for (size_t i = 0; i < pending_count; i++)
        memcpy(m->node_names[m->node_count + i], pending[i], LOAD_NODE_NAME);
    m->node_count += pending_count;
    counters_merge(&s->counters, &iv->counters);
    s->not_sent += iv->not_sent;
    s->dropped += iv->dropped;
    for (size_t i = 0; i < iv->node_count; i++) {
        s->node_requests[map[i]] += iv->nodes[i].requests;
        s->node_failures[map[i]] += iv->nodes[i].failures;
        m->node_requests[map[i]] += iv->nodes[i].requests;
        m->node_failures[map[i]] += iv->nodes[i].failures;
    }
    counters_merge(&m->counters, &iv->counters);
    m->not_sent += iv->not_sent;
    m->dropped += iv->dropped;
    hist_merge(m->latency, iv->hist);

    memmove(&w->seqs[at + 1], &w->seqs[at], (w->seq_count - at) * sizeof *w->seqs);
    w->seqs[at] = iv->seq;
    w->seq_count++;
    counters_merge(&w->counters, &iv->counters);
    w->not_sent += iv->not_sent;
    w->dropped += iv->dropped;
    w->second_requests[k] += iv->counters.requests;
    w->second_failures[k] += counters_failures(&iv->counters);
    hist_merge(w->latency, iv->hist);
    if (!w->first_second_us || iv->second_us < w->first_second_us)
        w->first_second_us = iv->second_us;
    if (iv->second_us + SECOND_US > w->end_us)
        w->end_us = iv->second_us + SECOND_US;
    if (iv->cpu > w->cpu_max)
        w->cpu_max = iv->cpu;
    if (iv->cpu >= DIST_SATURATED_CPU)
        w->hot[w->hot_count++] = k;
    if (iv->final) {
        w->final = true;
        w->elapsed_s = iv->elapsed_s;
        w->breaker_tripped = iv->breaker_tripped;
        w->interrupted = iv->interrupted;
        memcpy(w->error, iv->error, sizeof w->error);
        for (size_t i = 0; i < iv->status_count; i++)
            if (iv->statuses[i].code < LOAD_STATUS_MAX)
                m->status[iv->statuses[i].code] += iv->statuses[i].count;
        m->clients += iv->clients;
        m->connects += iv->connects;
        m->connections_peak += iv->connections_peak;
    }
    return 0;
}

static int by_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* DIST_SATURATED_SECONDS consecutive hot seconds (the worker's intervals of one second
 * count once). */
static bool saturated(struct merge_worker *w)
{
    if (w->hot_count == 0)
        return false; /* hot is NULL then, which qsort must not get */
    qsort(w->hot, w->hot_count, sizeof *w->hot, by_u64);
    size_t run = 0;
    for (size_t i = 0; i < w->hot_count; i++) {
        if (i && w->hot[i] == w->hot[i - 1])
            continue;
        run = i && w->hot[i] == w->hot[i - 1] + 1 ? run + 1 : 1;
        if (run >= DIST_SATURATED_SECONDS)
            return true;
    }
    return false;
}

static uint64_t accounted(const struct merge_worker *w)
{
    return w->counters.requests + w->not_sent + w->dropped;
}

int dist_merge_worker_stats(const struct dist_merge *m, const char *id,
                            struct dist_merge_worker_stats *out)
{
    struct merge_worker *w = worker_find(m, id);
    if (!w)
        return -1;
    *out = (struct dist_merge_worker_stats){
        .intervals = w->seq_count,
        .accounted = accounted(w),
        .requests = w->counters.requests,
        .ok = w->counters.by_class[COUNTER_OK],
        .first_second_us = w->first_second_us,
        .cpu_max = w->cpu_max,
        .saturated = saturated(w), /* only reorders w->hot */
        .final = w->final,
        .lost = w->lost,
    };
    memcpy(out->error, w->error, sizeof out->error);
    return 0;
}

uint64_t dist_merge_requests(const struct dist_merge *m)
{
    return m->counters.requests;
}

void dist_merge_totals(const struct dist_merge *m, struct dist_merge_totals *out)
{
    *out = (struct dist_merge_totals){.counters = m->counters, .not_sent = m->not_sent,
                                      .dropped = m->dropped, .latency = m->latency};
}

/* ---- the run document ---- */

/* A worker's end: its start plus its elapsed time once final, else its last second's end. */
static uint64_t worker_end_us(const struct merge_worker *w)
{
    if (w->final && w->elapsed_s > 0)
        return w->first_second_us + (uint64_t)(w->elapsed_s * 1e6);
    return w->end_us;
}

static json_t *measured(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* {requests, ok, failures, not_sent, dropped, error_rate, rps, latency_ms} of a group. */
static json_t *group_json(const struct counters *c, uint64_t not_sent, uint64_t dropped,
                          const struct hist *latency, double elapsed_s)
{
    uint64_t scheduled = c->requests + not_sent + dropped, ok = c->by_class[COUNTER_OK];
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o}", "requests",
                     (json_int_t)c->requests, "ok", (json_int_t)ok, "failures",
                     (json_int_t)(scheduled - ok), "not_sent", (json_int_t)not_sent, "dropped",
                     (json_int_t)dropped, "error_rate",
                     measured(scheduled ? (double)(scheduled - ok) / (double)scheduled : NAN),
                     "rps", measured(elapsed_s > 0 ? (double)c->requests / elapsed_s : NAN),
                     "latency_ms", (json_t *)load_latency_json(latency, 0));
}

/* {requests: [...], failures: [...]}: per second of the merge (as the run's timeline), the
 * sums over workers (count of them in group) of the requests that ended in the second and of
 * those that failed; a worker with no interval in a second adds 0. */
static json_t *group_timeline_json(const struct dist_merge *m, struct merge_worker *const *group,
                                   size_t count)
{
    json_t *req = json_array(), *fail = json_array();
    for (size_t s = 0; s < m->second_count && req && fail; s++) {
        uint64_t r = 0, f = 0;
        for (size_t i = 0; i < count; i++)
            if (s < group[i]->second_cap) {
                r += group[i]->second_requests[s];
                f += group[i]->second_failures[s];
            }
        if (json_array_append_new(req, json_integer((json_int_t)r)) < 0 ||
            json_array_append_new(fail, json_integer((json_int_t)f)) < 0)
            break;
    }
    json_t *out = req && fail && json_array_size(req) == m->second_count
                      ? json_pack("{s:O,s:O}", "requests", req, "failures", fail)
                      : NULL;
    json_decref(req);
    json_decref(fail);
    return out;
}

static json_t *workers_json(const struct dist_merge *m, uint64_t begin_us)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < m->worker_count && arr; i++) {
        struct merge_worker *w = m->workers[i];
        double elapsed = w->seq_count ? (double)(worker_end_us(w) - w->first_second_us) / 1e6 : 0;
        json_t *j = group_json(&w->counters, w->not_sent, w->dropped, w->latency, elapsed);
        json_t *more = json_pack(
            "{s:s, s:s, s:i, s:I, s:b, s:b, s:b, s:f, s:o, s:f, s:b}", "id", w->id, "region",
            w->region, "cores", (int)w->cores, "intervals", (json_int_t)w->seq_count, "final",
            w->final, "lost", w->lost, "saturated", saturated(w), "cpu_max", w->cpu_max,
            "start_offset_ms",
            w->seq_count ? json_real((double)(w->first_second_us - begin_us) / 1e3) : json_null(),
            "elapsed_s", elapsed, "breaker_tripped", w->breaker_tripped);
        if (!j || !more || json_object_update(more, j) < 0) {
            json_decref(j);
            json_decref(more);
            json_decref(arr);
            return NULL;
        }
        json_decref(j);
        json_t *tl = group_timeline_json(m, &m->workers[i], 1);
        if (!tl || json_object_set_new(more, "timeline", tl) < 0) {
            json_decref(more);
            json_decref(arr);
            return NULL;
        }
        if (w->part_of[0])
            json_object_set_new(more, "part_of", json_string(w->part_of));
        if (w->error[0])
            json_object_set_new(more, "error", json_string(w->error));
        json_array_append_new(arr, more);
    }
    return arr;
}

static int by_region(const void *a, const void *b)
{
    const struct merge_worker *x = *(const struct merge_worker *const *)a;
    const struct merge_worker *y = *(const struct merge_worker *const *)b;
    return strcmp(x->region, y->region);
}

/* Regions by name ("" for workers without one), each merged from its workers' histograms. */
static json_t *regions_json(const struct dist_merge *m, double elapsed_s)
{
    json_t *arr = json_array();
    struct merge_worker **sorted = malloc((m->worker_count + 1) * sizeof *sorted);
    struct hist *h = hist_new();
    if (!arr || !sorted || !h)
        goto fail;
    memcpy(sorted, m->workers, m->worker_count * sizeof *sorted);
    qsort(sorted, m->worker_count, sizeof *sorted, by_region);
    for (size_t i = 0; i < m->worker_count;) {
        struct counters c = {0};
        uint64_t not_sent = 0, dropped = 0;
        size_t j = i, workers = 0;
        hist_reset(h);
        for (; j < m->worker_count && strcmp(sorted[j]->region, sorted[i]->region) == 0; j++) {
            counters_merge(&c, &sorted[j]->counters);
            not_sent += sorted[j]->not_sent;
            dropped += sorted[j]->dropped;
            hist_merge(h, sorted[j]->latency);
            workers += !sorted[j]->part_of[0];
        }
        json_t *g = group_json(&c, not_sent, dropped, h, elapsed_s);
        json_t *tl = group_timeline_json(m, &sorted[i], j - i);
        if (!g || !tl) {
            json_decref(g);
            json_decref(tl);
            goto fail;
        }
        json_object_set_new(g, "timeline", tl);
        json_object_set_new(g, "region", json_string(sorted[i]->region));
        json_object_set_new(g, "workers", json_integer((json_int_t)workers));
        json_array_append_new(arr, g);
        i = j;
    }
    free(sorted);
    hist_free(h);
    return arr;
fail:
    free(sorted);
    hist_free(h);
    json_decref(arr);
    return NULL;
}

/* The merged result in the engine's shape, for load_run_json. Borrowed: the seconds' encoded
 * histograms (free the timeline array only). Returns 0 or -1 when out of memory. */
static int merged_result(const struct dist_merge *m, struct load_result *r, uint64_t *begin_us)
{
    memset(r, 0, sizeof *r);
    if (load_stats_init(&r->total) < 0)
        return -1;
    r->total.counters = m->counters;
    r->total.not_sent = m->not_sent;
    r->total.dropped = m->dropped;
    r->total.scheduled = m->counters.requests + m->not_sent + m->dropped;
    memcpy(r->total.status, m->status, sizeof r->total.status);
    r->clients = m->clients;
    r->connects = m->connects;
    r->connections_peak = m->connections_peak;
    hist_merge(r->total.latency, m->latency);
    for (size_t i = 0; i < m->node_count; i++) {
        int n = load_stats_node(&r->total, m->node_names[i]);
        if (n < 0)
            return -1;
        struct counters *c = &r->total.nodes[n].counters;
        c->requests += m->node_requests[i];
        c->by_class[COUNTER_OK] += m->node_requests[i] - m->node_failures[i];
    }
    uint64_t begin = UINT64_MAX, end = 0;
    for (size_t i = 0; i < m->worker_count; i++) {
        const struct merge_worker *w = m->workers[i];
        if (!w->seq_count)
            continue;
        if (w->first_second_us < begin)
            begin = w->first_second_us;
        if (worker_end_us(w) > end)
            end = worker_end_us(w);
        r->breaker_tripped |= w->breaker_tripped;
        r->interrupted |= w->interrupted;
    }
    if (begin == UINT64_MAX)
        begin = end = m->start_us;
    *begin_us = begin;
    r->elapsed_s = (double)(end - begin) / 1e6;
    mtime_iso8601_of((int64_t)begin, r->started_at, sizeof r->started_at);
    mtime_iso8601_of((int64_t)end, r->ended_at, sizeof r->ended_at);
    r->seconds = m->second_count;
    r->timeline = calloc(m->second_count ? m->second_count : 1, sizeof *r->timeline);
    if (!r->timeline)
        return -1;
    for (size_t s = 0; s < m->second_count; s++) {
        const struct merge_second *ms = &m->seconds[s];
        struct load_second *e = &r->timeline[s];
        e->counters = ms->counters;
        e->hist = ms->hist;
        hist_reset(m->scratch);
        if (ms->hist && hist_decode(m->scratch, ms->hist, NULL, 0) == 0 && m->scratch->total) {
            e->p50_us = hist_percentile(m->scratch, 50);
            e->p90_us = hist_percentile(m->scratch, 90);
            e->p99_us = hist_percentile(m->scratch, 99);
            e->max_us = m->scratch->max;
        }
        for (size_t i = 0; i < m->node_count; i++) {
            e->node_requests[i] = ms->node_requests[i];
            e->node_failures[i] = ms->node_failures[i];
        }
    }
    return 0;
}

json_t *dist_merge_run_json(const struct dist_merge *m, const struct dist_merge_meta *meta,
                            int *passed, char *err, size_t errlen)
{
    struct load_plan plan;
    struct load_result r;
    uint64_t begin_us = 0;
    json_t *doc = NULL;
    if (bench_options_describe(&meta->task->options, 0, &plan, err, errlen) < 0)
        return NULL;
    if (merged_result(m, &r, &begin_us) < 0) {
        err_set(err, errlen, "out of memory");
        goto out;
    }
    /* the plan says what the whole task asked for */
    plan.rate = meta->task->options.rate;
    struct run_meta rm = {
        .command = meta->command ? meta->command : "master",
        .argc = meta->argc,
        .argv = meta->argv,
        .thresholds = meta->task->options.thresholds,
        .threshold_count = meta->task->options.threshold_count,
    };
    doc = load_run_json(&plan, &r, &rm, passed);
    json_t *workers = doc ? workers_json(m, begin_us) : NULL;
    json_t *regions = doc ? regions_json(m, r.elapsed_s) : NULL;
    if (!doc || !workers || !regions) {
        json_decref(workers);
        json_decref(regions);
        json_decref(doc);
        doc = NULL;
        err_set(err, errlen, "out of memory");
        goto out;
    }
    /* intervals carry the corrected latency only */
    json_object_del(doc, "latency_uncorrected_ms");
    /* how far apart the workers started; a reassigned share starts when the loss is seen */
    double spread = 0;
    for (size_t i = 0; i < m->worker_count; i++)
        if (m->workers[i]->seq_count && !m->workers[i]->part_of[0] &&
            (double)(m->workers[i]->first_second_us - begin_us) / 1e3 > spread)
            spread = (double)(m->workers[i]->first_second_us - begin_us) / 1e3;
    json_object_set_new(doc, "start_spread_ms", json_real(spread));
    /* a share that could not run is load the task did not make: never a pass */
    for (size_t i = 0; i < m->worker_count; i++)
        if (m->workers[i]->error[0]) {
            *passed = 0;
            json_object_set_new(doc, "verdict", json_string("fail"));
        }
    if (meta->unjudged) {
        /* no verdict before the end: a task's first second (0 requests) is not a failure */
        size_t i;
        json_t *th;
        *passed = 0;
        json_object_set_new(doc, "verdict", json_null());
        json_array_foreach(json_object_get(doc, "thresholds"), i, th)
            json_object_set_new(th, "pass", json_null());
    }
    json_object_set_new(doc, "workers", workers);
    json_object_set_new(doc, "regions", regions);
out:
    free(r.timeline);
    load_stats_free(&r.total);
    bench_plan_free(&plan);
    return doc;
}
