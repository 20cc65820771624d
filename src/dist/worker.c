/* worker.c -- `herd worker`: register, long-poll, run shares, post intervals (see worker.h). */
#include "dist/worker.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mtime.h"
#include "dist/interval.h"
#include "dist/master.h"
#include "dist/protocol.h"
#include "dist/split.h"
#include "dist/task.h"
#include "http/fetch.h"
#include "load/options.h"

#define POLL_WAIT      "5s"
#define POLL_TIMEOUT   15000
#define CALL_TIMEOUT   10000
#define BATCH_MAX      64
#define FLUSH_MS       10000
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000
#define DETAIL_FAILURES  10000 /* per part: every failure up to this many */
#define DETAIL_SUCCESSES 1000  /* per part: a uniform sample of the successes */
#define DETAIL_CHUNK     5000  /* details per post */
#define DETAIL_TRY_MS    30000 /* how long a part's details are offered to an absent master */
#define RUNS_MAX         64    /* assignments run at once (a master can hand out no more) */

/* An interval waiting for its acknowledgement. */
struct queued {
    char task_id[DIST_ID_MAX];
    uint64_t seq;
    bool final;
    int64_t assignment_id;
    char *text;
    struct queued *next;
};

/* One assignment being run. */
struct run {
    struct worker *w;
    int64_t id;
    char task_id[DIST_ID_MAX];
    uint64_t seq_base, next_seq;
    json_t *config;
    struct dist_share share;
    int64_t start_at_us;     /* the master's clock */
    int64_t origin_us;       /* the run's start, the master's clock */
    bool *posted;            /* timeline seconds already posted */
    size_t posted_cap;
    struct dist_interval iv;
    struct load_stop stop;
    pthread_t thread;
    bool finished;           /* the thread is done (joinable) */
    bool final_acked;        /* the master has the final interval: no longer "running" */
    struct run *next;
};

struct worker {
    struct dist_worker_options o;
    char base[512];
    char headers[400];
    unsigned cores;
    pthread_mutex_t lock; /* everything below */
    pthread_cond_t cond;
    pthread_mutex_t reg_lock; /* one registration at a time */
    char session[64];
    int64_t offset_us, best_rtt_us;
    double cpu;
    struct queued *head, *tail;
    size_t queued, dropped;
    struct run *runs;
    bool quit;
    char refused[ERR_SIZE]; /* a registration refused: the worker ends */
};

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- calls to the master ---- */

/* One call; notes the clock offset from an answer's now_us when its round trip is the
 * shortest yet. Returns 0 with *status and *resp (parsed JSON or NULL; the caller decrefs),
 * or -1 when no answer came. */
/* One call to the master (cancel_fd: see http_fetch_until). Returns 0 with the answer's status
 * and JSON, or -1. */
static int call_until(struct worker *w, const char *method, const char *path, const char *body,
                      int timeout_ms, int cancel_fd, int *status, json_t **resp)
{
    char err[ERR_SIZE];
    char *text = NULL;
    *resp = NULL;
    int64_t t0 = mtime_wall_us();
    if (http_fetch_until(w->base, method, path, w->headers, body, timeout_ms, cancel_fd, status,
                         &text, err, sizeof err) < 0) {
        log_debug("%s %s: %s", method, path, err);
        return -1;
    }
    int64_t t1 = mtime_wall_us();
    *resp = json_loads(text, 0, NULL);
    free(text);
    json_t *now = json_object_get(*resp, "now_us");
    if (json_is_integer(now)) {
        pthread_mutex_lock(&w->lock);
        if (t1 - t0 <= w->best_rtt_us) {
            w->best_rtt_us = t1 - t0;
            w->offset_us = json_integer_value(now) - (t0 + t1) / 2;
        }
        pthread_mutex_unlock(&w->lock);
    }
    return 0;
}

static int call(struct worker *w, const char *method, const char *path, const char *body,
                int timeout_ms, int *status, json_t **resp)
{
    return call_until(w, method, path, body, timeout_ms, -1, status, resp);
}

static const char *error_of(const json_t *resp)
{
    const char *e = json_string_value(json_object_get(resp, "error"));
    return e ? e : "(no message)";
}

/* Registers unless the session is no longer stale (another thread registered since it was
 * read). Returns 0, -1 to retry later, or DIST_WORKER_EREFUSED. */
static int reg(struct worker *w, const char *stale)
{
    pthread_mutex_lock(&w->reg_lock);
    pthread_mutex_lock(&w->lock);
    bool due = strcmp(w->session, stale) == 0;
    json_t *running = json_array();
    for (struct run *r = w->runs; r; r = r->next)
        if (!r->final_acked)
            json_array_append_new(running, json_integer(r->id));
    pthread_mutex_unlock(&w->lock);
    int rc = 0;
    if (due) {
        json_t *b = json_pack("{s:s,s:s,s:i,s:s,s:I,s:o}", "id", w->o.id, "region",
                              w->o.region ? w->o.region : "", "cores", (int)w->cores, "version",
                              HERD_VERSION, "pid", (json_int_t)getpid(), "running", running);
        running = NULL;
        char *body = json_dumps(b, JSON_COMPACT);
        json_decref(b);
        int status = 0;
        json_t *resp;
        rc = -1;
        if (body && call(w, "POST", "/api/v1/workers/register", body, CALL_TIMEOUT, &status,
                         &resp) == 0) {
            const char *session = json_string_value(json_object_get(resp, "session"));
            if (status == 200 && session) {
                pthread_mutex_lock(&w->lock);
                snprintf(w->session, sizeof w->session, "%s", session);
                pthread_mutex_unlock(&w->lock);
                log_info("registered with %s as %s (session %s)", w->base, w->o.id, session);
                rc = 0;
            } else if (status == 400 || status == 401 || status == 403) {
                pthread_mutex_lock(&w->lock);
                snprintf(w->refused, sizeof w->refused, "the master refused the registration "
                         "(%d): %s", status, error_of(resp));
                pthread_mutex_unlock(&w->lock);
                rc = DIST_WORKER_EREFUSED;
            } else {
                log_warn("register: %d %s", status, error_of(resp));
            }
            json_decref(resp);
        }
        free(body);
    }
    json_decref(running);
    pthread_mutex_unlock(&w->reg_lock);
    return rc;
}

static void session_copy(struct worker *w, char *out, size_t size)
{
    pthread_mutex_lock(&w->lock);
    snprintf(out, size, "%s", w->session);
    pthread_mutex_unlock(&w->lock);
}

/* ---- the interval queue ---- */

static void enqueue(struct worker *w, struct run *r, struct dist_interval *iv)
{
    pthread_mutex_lock(&w->lock);
    snprintf(iv->session, sizeof iv->session, "%s", w->session[0] ? w->session : "s-none");
    iv->cpu = w->cpu;
    pthread_mutex_unlock(&w->lock);
    snprintf(iv->task_id, sizeof iv->task_id, "%s", r->task_id);
    snprintf(iv->worker_id, sizeof iv->worker_id, "%s", w->o.id);
    iv->seq = r->seq_base + r->next_seq++;
    json_t *j = dist_interval_to_json(iv);
    struct queued *q = calloc(1, sizeof *q);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    if (!q || !text) {
        free(q);
        free(text);
        log_error("out of memory: interval %" PRIu64 " of task %s lost", iv->seq, r->task_id);
        return;
    }
    snprintf(q->task_id, sizeof q->task_id, "%s", r->task_id);
    q->seq = iv->seq;
    q->final = iv->final;
    q->assignment_id = r->id;
    q->text = text;
    pthread_mutex_lock(&w->lock);
    if (w->queued >= w->o.buffer_max) { /* bounded: the oldest non-final goes */
        struct queued **at = &w->head, *prev = NULL;
        while (*at && (*at)->final) {
            prev = *at;
            at = &(*at)->next;
        }
        if (*at) {
            struct queued *old = *at;
            *at = old->next;
            if (w->tail == old)
                w->tail = prev;
            free(old->text);
            free(old);
            w->queued--;
            if (w->dropped++ % 100 == 0)
                log_warn("%zu unacknowledged intervals dropped so far: the master has been "
                         "away longer than the buffer (%zu intervals) holds", w->dropped,
                         w->o.buffer_max);
        }
    }
    if (w->tail)
        w->tail->next = q;
    else
        w->head = q;
    w->tail = q;
    w->queued++;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* ---- CPU use of this process ---- */

/* utime + stime of this process in clock ticks, or -1. */
static long long cpu_ticks(void)
{
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return -1;
    char line[1024];
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    char *p = ok ? strrchr(line, ')') : NULL; /* the name may hold spaces */
    unsigned long long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

/* ---- the poster thread: intervals and heartbeats, never on a load thread ---- */

static void acked(struct worker *w, const char *task_id, const json_t *seqs)
{
    pthread_mutex_lock(&w->lock);
    struct queued **at = &w->head, *prev = NULL;
    while (*at) {
        struct queued *q = *at;
        bool hit = false;
        for (size_t i = 0; i < json_array_size(seqs) && !hit; i++)
            hit = strcmp(q->task_id, task_id) == 0 &&
                  (uint64_t)json_integer_value(json_array_get(seqs, i)) == q->seq;
        if (!hit) {
            prev = q;
            at = &q->next;
            continue;
        }
        if (q->final)
            for (struct run *r = w->runs; r; r = r->next)
                if (r->id == q->assignment_id)
                    r->final_acked = true;
        *at = q->next;
        if (w->tail == q)
            w->tail = prev;
        free(q->text);
        free(q);
        w->queued--;
    }
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* Drops the first n queued intervals (refused by the master: resending cannot help). */
static void drop_first(struct worker *w, size_t n)
{
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < n && w->head; i++) {
        struct queued *q = w->head;
        if (q->final)
            for (struct run *r = w->runs; r; r = r->next)
                if (r->id == q->assignment_id)
                    r->final_acked = true;
        w->head = q->next;
        if (!w->head)
            w->tail = NULL;
        free(q->text);
        free(q);
        w->queued--;
    }
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void *poster_main(void *arg)
{
    struct worker *w = arg;
    uint64_t next_beat = 0, retry_at = 0, backoff = BACKOFF_MIN_MS, flush_end = 0;
    long long ticks0 = cpu_ticks();
    uint64_t cpu_at = mtime_now_ms();
    char path[256], session[64];
    for (;;) {
        pthread_mutex_lock(&w->lock);
        for (;;) {
            uint64_t now = mtime_now_ms();
            if (w->quit && !flush_end)
                flush_end = now + FLUSH_MS;
            if (w->quit && (!w->head || now >= flush_end))
                break;
            if (now >= next_beat || (w->head && now >= retry_at))
                break;
            uint64_t until = next_beat;
            if (w->head && retry_at < until)
                until = retry_at;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t wait = until > now ? until - now : 0;
            if (wait > 1000)
                wait = 1000;
            ts.tv_sec += (time_t)(wait / 1000);
            ts.tv_nsec += (long)(wait % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&w->cond, &w->lock, &ts);
        }
        if (w->quit && (!w->head || mtime_now_ms() >= flush_end)) {
            if (w->head)
                log_warn("%zu intervals not acknowledged at exit: the master does not have them",
                         w->queued);
            pthread_mutex_unlock(&w->lock);
            break;
        }
        /* a batch: the first intervals of the oldest's task */
        struct buf body = {0};
        char task[DIST_ID_MAX] = "";
        size_t n = 0;
        if (w->head && mtime_now_ms() >= retry_at) {
            snprintf(task, sizeof task, "%s", w->head->task_id);
            buf_printf(&body, "{\"intervals\":[");
            for (struct queued *q = w->head; q && n < BATCH_MAX; q = q->next) {
                if (strcmp(q->task_id, task) != 0)
                    continue;
                buf_printf(&body, "%s%s", n ? "," : "", q->text);
                n++;
            }
            buf_printf(&body, "]}");
        }
        snprintf(session, sizeof session, "%s", w->session);
        pthread_mutex_unlock(&w->lock);
        int status;
        json_t *resp;
        if (n > 0 && body.data) {
            snprintf(path, sizeof path, "/api/v1/workers/%s/intervals", w->o.id);
            if (!session[0]) {
                reg(w, session);
                retry_at = mtime_now_ms() + backoff;
            } else if (call(w, "POST", path, body.data, CALL_TIMEOUT, &status, &resp) < 0 ||
                       status >= 500 || status == 401) {
                if (status == 401)
                    log_warn("intervals: %s", error_of(resp));
                retry_at = mtime_now_ms() + backoff;
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
                json_decref(resp);
            } else if (status == 200 && json_is_array(json_object_get(resp, "acked"))) {
                acked(w, task, json_object_get(resp, "acked"));
                backoff = BACKOFF_MIN_MS;
                retry_at = 0;
                json_decref(resp);
            } else if (status == 200) { /* not the master's answer: a proxy, a wrong URL */
                log_warn("intervals: an answer without 'acked'; retried");
                retry_at = mtime_now_ms() + backoff;
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
                json_decref(resp);
            } else if (status == 410 || status == 404) {
                json_decref(resp);
                if (reg(w, session) < 0)
                    retry_at = mtime_now_ms() + backoff;
            } else { /* 400, 409: the master will never take these */
                log_error("intervals of task %s refused (%d): %s; dropped", task, status,
                          error_of(resp));
                json_decref(resp);
                drop_first(w, n);
            }
        }
        buf_free(&body);
        uint64_t now = mtime_now_ms();
        if (now >= next_beat) {
            long long ticks = cpu_ticks();
            double secs = (double)(now - cpu_at) / 1000;
            double cpu = 0;
            if (ticks >= 0 && ticks0 >= 0 && secs > 0)
                cpu = (double)(ticks - ticks0) / (double)sysconf(_SC_CLK_TCK) / secs / w->cores;
            cpu = cpu < 0 ? 0 : cpu > 1 ? 1 : cpu;
            ticks0 = ticks;
            cpu_at = now;
            pthread_mutex_lock(&w->lock);
            w->cpu = cpu;
            pthread_mutex_unlock(&w->lock);
            next_beat = now + 1000;
            if (session[0]) {
                snprintf(path, sizeof path, "/api/v1/workers/%s/heartbeat", w->o.id);
                char hb[160];
                snprintf(hb, sizeof hb, "{\"session\":\"%s\",\"cpu\":%.4f}", session, cpu);
                if (call(w, "POST", path, hb, CALL_TIMEOUT, &status, &resp) == 0) {
                    if (status == 410 || status == 404)
                        reg(w, session);
                    json_decref(resp);
                }
            }
        }
    }
    return NULL;
}

/* ---- running an assignment ---- */

static bool mark_posted(struct run *r, size_t i)
{
    if (i >= r->posted_cap) {
        size_t cap = r->posted_cap ? r->posted_cap * 2 : 64;
        while (cap <= i)
            cap *= 2;
        bool *p = realloc(r->posted, cap * sizeof *p);
        if (!p)
            return false;
        memset(p + r->posted_cap, 0, (cap - r->posted_cap) * sizeof *p);
        r->posted = p;
        r->posted_cap = cap;
    }
    r->posted[i] = true;
    return true;
}

static bool was_posted(const struct run *r, size_t i)
{
    return i < r->posted_cap && r->posted[i];
}

/* The engine's second just ended (on the thread that runs load_run): posted now when every
 * load thread handed it in, else at the end from the timeline. */
static void on_second(const struct load_progress *p, void *data)
{
    struct run *r = data;
    size_t i = p->second - 1;
    if (!p->last || !p->last->hist)
        return;
    char err[ERR_SIZE];
    dist_interval_reset(&r->iv);
    if (dist_interval_from_second(&r->iv, p->last, p->node_names, p->node_count,
                                  (uint64_t)r->origin_us + i * 1000000ULL, err, sizeof err) < 0 ||
        !mark_posted(r, i))
        return;
    enqueue(r->w, r, &r->iv);
}

/* Posts the details of a finished part (on its run thread, never a load thread): in chunks,
 * retried while the master is away for up to DETAIL_TRY_MS (less once the worker stops). */
static void details_post(struct worker *w, struct run *r, const struct load_result *res)
{
    struct dist_details d;
    if (dist_details_from_run(&d, res, r->origin_us) < 0) {
        log_error("task %s: out of memory for its details", r->task_id);
        return;
    }
    snprintf(d.task_id, sizeof d.task_id, "%s", r->task_id);
    char path[256];
    snprintf(path, sizeof path, "/api/v1/workers/%s/details", w->o.id);
    uint64_t give_up = mtime_now_ms() + DETAIL_TRY_MS;
    unsigned backoff = BACKOFF_MIN_MS;
    size_t all = d.count;
    struct dist_detail *list = d.list;
    for (size_t at = 0; at < all;) {
        struct dist_details chunk = d;
        chunk.list = list + at;
        chunk.count = all - at < DETAIL_CHUNK ? all - at : DETAIL_CHUNK;
        json_t *j = dist_details_to_json(&chunk);
        char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!body) {
            log_error("task %s: out of memory for its details", r->task_id);
            break;
        }
        int status = 0;
        json_t *resp = NULL;
        int rc = call(w, "POST", path, body, CALL_TIMEOUT, &status, &resp);
        free(body);
        if (rc == 0 && status == 200) {
            at += chunk.count;
            backoff = BACKOFF_MIN_MS;
        } else if (rc == 0 && status >= 400 && status < 500 && status != 401 && status != 404 &&
                   status != 410) {
            log_error("task %s: details refused (%d): %s; dropped", r->task_id, status,
                      error_of(resp));
            json_decref(resp);
            break;
        } else {
            if (rc == 0 && (status == 404 || status == 410)) {
                char session[64];
                session_copy(w, session, sizeof session);
                reg(w, session);
            }
            if (mtime_now_ms() >= give_up || load_stop_requested(w->o.stop)) {
                log_warn("task %s: %zu details not delivered: the master did not take them",
                         r->task_id, all - at);
                json_decref(resp);
                break;
            }
            sleep_ms(backoff);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
        }
        json_decref(resp);
    }
    d.list = list;
    d.count = all;
    dist_details_free(&d);
}

static void *run_main(void *arg)
{
    struct run *r = arg;
    struct worker *w = r->w;
    char err[ERR_SIZE] = "";
    struct dist_task t;
    dist_task_init(&t);
    struct load_plan plan;
    bool planned = false;
    struct load_result res;
    int rc = -1;
    if (dist_task_from_config(&t, r->config, err, sizeof err) == 0) {
        t.options.connections = (unsigned)r->share.connections;
        t.options.requests = r->share.requests;
        t.options.rate = dist_rate_from_milli(r->share.rate_milli);
        planned = bench_options_plan(&t.options, w->cores, &plan, err, sizeof err) == 0;
    }
    if (planned) {
        /* the common start, on the master's clock */
        for (;;) {
            pthread_mutex_lock(&w->lock);
            int64_t now = mtime_wall_us() + w->offset_us;
            pthread_mutex_unlock(&w->lock);
            if (now >= r->start_at_us || load_stop_requested(&r->stop))
                break;
            int64_t left = (r->start_at_us - now) / 1000;
            sleep_ms(left > 20 ? 20 : left > 0 ? (unsigned)left : 1);
        }
        plan.stop = &r->stop;
        plan.detail_failures = DETAIL_FAILURES;
        plan.detail_successes = DETAIL_SUCCESSES;
        pthread_mutex_lock(&w->lock);
        r->origin_us = mtime_wall_us() + w->offset_us;
        plan.origin_ns = mtime_now_ns();
        pthread_mutex_unlock(&w->lock);
        log_info("task %s: assignment %" PRId64 " runs (%" PRIu64 " connections, %" PRIu64
                 " requests, %.3f/s)", r->task_id, r->id, r->share.connections, r->share.requests,
                 dist_rate_from_milli(r->share.rate_milli));
        rc = load_run(&plan, &res, on_second, r, err, sizeof err);
    }
    if (rc == 0) {
        char names[LOAD_MAX_NODES][LOAD_NODE_NAME];
        dist_result_node_names(&res, names);
        for (size_t i = 0; i < res.seconds; i++) {
            if (was_posted(r, i))
                continue;
            dist_interval_reset(&r->iv);
            if (dist_interval_from_second(&r->iv, &res.timeline[i],
                                          (const char(*)[LOAD_NODE_NAME])names,
                                          res.total.node_count,
                                          (uint64_t)r->origin_us + i * 1000000ULL, err,
                                          sizeof err) == 0)
                enqueue(w, r, &r->iv);
        }
        details_post(w, r, &res);
        dist_interval_reset(&r->iv);
        size_t last = res.seconds ? res.seconds - 1 : 0;
        if (dist_interval_final(&r->iv, &res, (uint64_t)r->origin_us + last * 1000000ULL, err,
                                sizeof err) == 0)
            enqueue(w, r, &r->iv);
        else
            log_error("task %s: the final interval: %s", r->task_id, err);
        log_info("task %s: assignment %" PRId64 " ended: %" PRIu64 " requests%s", r->task_id, r->id,
                 res.total.counters.requests, res.interrupted ? " (stopped)" : "");
        load_result_free(&res);
    } else {
        /* nothing ran: the final interval says so, so that the master accounts the share */
        log_error("task %s: assignment %" PRId64 " cannot run: %s", r->task_id, r->id, err);
        dist_interval_reset(&r->iv);
        r->iv.final = true;
        r->iv.not_sent = r->share.requests; /* not interrupted: nothing stopped it, it never ran */
        dist_interval_set_error(&r->iv, err[0] ? err : "the share could not run");
        pthread_mutex_lock(&w->lock);
        r->iv.second_us = (uint64_t)(mtime_wall_us() + w->offset_us);
        pthread_mutex_unlock(&w->lock);
        if (r->iv.second_us < (uint64_t)r->start_at_us)
            r->iv.second_us = (uint64_t)r->start_at_us;
        enqueue(w, r, &r->iv);
    }
    if (planned)
        bench_plan_free(&plan);
    dist_task_free(&t);
    pthread_mutex_lock(&w->lock);
    r->finished = true;
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static void run_free(struct run *r)
{
    json_decref(r->config);
    free(r->posted);
    dist_interval_free(&r->iv);
    load_stop_close(&r->stop);
    free(r);
}

/* A whole number in [0, max] at key of o. */
static bool whole_at(const json_t *o, const char *key, uint64_t max)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) >= 0 &&
           (uint64_t)json_integer_value(v) <= max;
}

/* Why a "run" answer cannot be an assignment, or NULL: a master that answers garbage must
 * not make this worker run something it did not mean (the config is checked when it runs). */
static const char *assignment_problem(const json_t *a)
{
    const char *tid = json_string_value(json_object_get(a, "task_id"));
    const json_t *share = json_object_get(a, "share");
    if (!tid || !tid[0] || strlen(tid) >= DIST_ID_MAX)
        return "task_id";
    if (!whole_at(a, "assignment_id", DIST_COUNT_MAX) || !whole_at(a, "seq_base", DIST_COUNT_MAX))
        return "assignment_id or seq_base";
    if (!json_is_object(json_object_get(a, "config")))
        return "config";
    if (!json_is_object(share) || !whole_at(share, "connections", 1000000) ||
        !whole_at(share, "requests", DIST_COUNT_MAX) ||
        !whole_at(share, "rate_milli", DIST_COUNT_MAX))
        return "share";
    if (!whole_at(a, "start_at_us", DIST_COUNT_MAX))
        return "start_at_us";
    return NULL;
}

/* Starts assignment a (a poll's answer). Returns 0 or -1. */
static int run_start(struct worker *w, const json_t *a)
{
    const char *bad = assignment_problem(a);
    if (bad) {
        log_warn("the master's assignment has no valid %s: ignored", bad);
        return -1;
    }
    int64_t id = json_integer_value(json_object_get(a, "assignment_id"));
    size_t runs = 0;
    pthread_mutex_lock(&w->lock);
    for (struct run *r = w->runs; r; r = r->next, runs++)
        if (r->id == id) {
            pthread_mutex_unlock(&w->lock);
            return 0; /* handed out twice: runs once */
        }
    pthread_mutex_unlock(&w->lock);
    if (runs >= RUNS_MAX) {
        log_warn("assignment %" PRId64 " ignored: %zu are running already", id, runs);
        return -1;
    }
    bool stop_made = false;
    const json_t *share = json_object_get(a, "share");
    const char *task_id = json_string_value(json_object_get(a, "task_id"));
    struct run *r = calloc(1, sizeof *r);
    if (!r || !task_id)
        goto fail;
    r->w = w;
    r->id = id;
    snprintf(r->task_id, sizeof r->task_id, "%s", task_id);
    r->seq_base = (uint64_t)json_integer_value(json_object_get(a, "seq_base"));
    r->config = json_incref(json_object_get(a, "config"));
    r->share.connections = (uint64_t)json_integer_value(json_object_get(share, "connections"));
    r->share.requests = (uint64_t)json_integer_value(json_object_get(share, "requests"));
    r->share.rate_milli = (uint64_t)json_integer_value(json_object_get(share, "rate_milli"));
    r->start_at_us = json_integer_value(json_object_get(a, "start_at_us"));
    if (dist_interval_init(&r->iv) < 0)
        goto fail;
    if (load_stop_init(&r->stop) < 0)
        goto fail;
    stop_made = true;
    pthread_mutex_lock(&w->lock);
    r->next = w->runs;
    w->runs = r;
    pthread_mutex_unlock(&w->lock);
    if (pthread_create(&r->thread, NULL, run_main, r) != 0) {
        pthread_mutex_lock(&w->lock);
        w->runs = r->next;
        pthread_mutex_unlock(&w->lock);
        goto fail;
    }
    return 0;
fail:
    log_error("cannot start an assignment of task %s", task_id ? task_id : "?");
    if (r) {
        if (stop_made)
            load_stop_close(&r->stop);
        json_decref(r->config);
        free(r->posted);
        dist_interval_free(&r->iv);
        free(r);
    }
    return -1;
}

/* Joins and frees the runs whose thread ended and whose final interval the master has. */
static void runs_reap(struct worker *w, bool all)
{
    for (;;) {
        struct run *done = NULL;
        pthread_mutex_lock(&w->lock);
        for (struct run **at = &w->runs; *at; at = &(*at)->next)
            if ((*at)->finished && ((*at)->final_acked || all)) {
                done = *at;
                *at = done->next;
                break;
            }
        pthread_mutex_unlock(&w->lock);
        if (!done)
            return;
        pthread_join(done->thread, NULL);
        run_free(done);
    }
}

static void runs_stop(struct worker *w, int64_t id, bool all)
{
    pthread_mutex_lock(&w->lock);
    for (struct run *r = w->runs; r; r = r->next)
        if (all || r->id == id)
            load_stop_request(&r->stop);
    pthread_mutex_unlock(&w->lock);
}

/* Waits ms, or less when the worker is asked to stop. */
static void nap(struct worker *w, unsigned ms)
{
    for (unsigned t = 0; t < ms && !load_stop_requested(w->o.stop); t += 50)
        sleep_ms(50);
}

int dist_worker_run(const struct dist_worker_options *o, char *err, size_t errlen)
{
    struct worker *w = calloc(1, sizeof *w);
    if (!w)
        return err_set(err, errlen, "out of memory");
    w->o = *o;
    if (!w->o.buffer_max)
        w->o.buffer_max = DIST_WORKER_BUFFER_DEFAULT;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    w->cores = o->cores ? o->cores : cores > 0 ? (unsigned)cores : 1;
    snprintf(w->base, sizeof w->base, "%s", o->master_url);
    size_t bl = strlen(w->base);
    while (bl > 0 && w->base[bl - 1] == '/')
        w->base[--bl] = '\0';
    if (o->token && o->token[0])
        snprintf(w->headers, sizeof w->headers, "Authorization: Bearer %s\r\n", o->token);
    w->best_rtt_us = INT64_MAX;
    pthread_mutex_init(&w->lock, NULL);
    pthread_mutex_init(&w->reg_lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    pthread_t poster;
    if (pthread_create(&poster, NULL, poster_main, w) != 0) {
        free(w);
        return err_set(err, errlen, "cannot start the poster thread");
    }
    int rc = 0;
    unsigned backoff = BACKOFF_MIN_MS;
    char session[64], path[512];
    while (!load_stop_requested(o->stop)) {
        runs_reap(w, false);
        session_copy(w, session, sizeof session);
        if (!session[0]) {
            int r = reg(w, "");
            if (r == DIST_WORKER_EREFUSED) {
                rc = r;
                break;
            }
            if (r < 0) {
                nap(w, backoff);
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            }
            continue;
        }
        snprintf(path, sizeof path, "/api/v1/workers/%s/assignment?session=%s&wait=" POLL_WAIT,
                 o->id, session);
        int status;
        json_t *a;
        /* the long poll ends at a stop (SIGTERM: kubectl delete pod, a scale-down): the loads
         * stop at once and their last intervals go out, while the grace lasts */
        if (call_until(w, "GET", path, NULL, POLL_TIMEOUT, o->stop ? o->stop->fd : -1, &status,
                       &a) < 0) {
            nap(w, backoff);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        backoff = BACKOFF_MIN_MS;
        const char *state = json_string_value(json_object_get(a, "state"));
        if (status == 410 || status == 404) {
            if (reg(w, session) == DIST_WORKER_EREFUSED) {
                json_decref(a);
                rc = DIST_WORKER_EREFUSED;
                break;
            }
        } else if (status != 200 || !state) {
            log_warn("poll: %d %s", status, error_of(a));
            nap(w, 1000);
        } else if (strcmp(state, "run") == 0) {
            if (run_start(w, a) < 0)
                nap(w, 1000);
        } else if (strcmp(state, "cancel") == 0) {
            log_info("task %s: assignment %" PRId64 " cancelled",
                     json_string_value(json_object_get(a, "task_id")),
                     (int64_t)json_integer_value(json_object_get(a, "assignment_id")));
            runs_stop(w, json_integer_value(json_object_get(a, "assignment_id")), false);
        }
        json_decref(a);
    }
    /* graceful end: loads stop, their last intervals go out, then the poster ends */
    runs_stop(w, 0, true);
    pthread_mutex_lock(&w->lock);
    for (struct run *r = w->runs; r; r = r->next) {
        pthread_mutex_unlock(&w->lock);
        pthread_join(r->thread, NULL);
        pthread_mutex_lock(&w->lock);
        r->finished = true;
    }
    w->quit = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(poster, NULL);
    while (w->runs) {
        struct run *r = w->runs;
        w->runs = r->next;
        run_free(r);
    }
    while (w->head) {
        struct queued *q = w->head;
        w->head = q->next;
        free(q->text);
        free(q);
    }
    if (rc == DIST_WORKER_EREFUSED)
        err_set(err, errlen, "%s", w->refused);
    pthread_mutex_destroy(&w->lock);
    pthread_mutex_destroy(&w->reg_lock);
    pthread_cond_destroy(&w->cond);
    free(w);
    return rc;
}
