/* master.c -- `herd master`: REST API, worker protocol, scheduling, liveness, reassignment,
 * merging; state in the store (see master.h, docs/distributed.md). */
#include "dist/master.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mtime.h"
#include "dist/interval.h"
#include "dist/master_metrics.h"
#include "dist/master_web.h"
#include "dist/merge.h"
#include "dist/protocol.h"
#include "dist/split.h"
#include "http/json_body.h"
#include "http/prom.h"
#include "http/server.h"
#include "report/report.h"
#include "store/store.h"

#define TICK_MS          200
#define POLL_WAIT_MAX_MS 30000
#define POLL_WAIT_DEF_MS 25000
#define START_DELAY_US   1000000 /* a task starts this long after /start: workers poll first */
#define REASSIGN_DELAY_US 500000
#define BODY_MAX         (16u << 20)
#define FUTURE_SLACK_US  60000000 /* clocks disagree: an interval's second may be this far off */
#define SEEN_FLUSH_MS    1000 /* workers' last calls go to the store at most this often */
#define RATE_STALE_US    3000000 /* a worker's latest second older than this: it does nothing */

/* One assignment (a worker's part of a task) as the master tracks it. */
struct m_part {
    int64_t id;
    char worker[STORE_NAME_SIZE];
    unsigned k;               /* its place among the worker's parts of the task */
    char name[STORE_NAME_SIZE]; /* the merge's name: ID, or ID#k for k > 0 (fits DIST_ID_MAX) */
    struct dist_share share;
    int64_t start_at_us;
    enum store_assignment_state state;
    bool delivered;           /* the worker got it (in this master's life or before) */
    bool cancel_due, cancel_sent; /* the worker is to stop it */
    char reassigned_from[STORE_NAME_SIZE];
};

/* A task that runs, or was cancelled and waits for its workers' last intervals. */
struct m_task {
    char id[STORE_ID_SIZE];
    enum store_task_state state;
    struct dist_task task;
    json_t *config;            /* what an assignment carries */
    struct dist_merge *merge;
    int64_t start_us;
    struct m_part *parts;
    size_t part_count, part_cap;
    char *message;             /* notes: losses, reassignments */
    struct m_task *next;
};

struct m_worker {
    char id[STORE_NAME_SIZE];
    char region[STORE_NAME_SIZE];
    unsigned cores;
    char version[STORE_NAME_SIZE];
    int64_t pid;
    char session[STORE_ID_SIZE];
    bool registered;           /* in this master's life */
    uint64_t last_seen_ms;     /* monotonic */
    enum store_worker_state state;
    double cpu;
    struct master_metrics_worker metrics; /* for GET /metrics */
    int64_t rate_second_us;    /* its latest second (an interval's second_us) and, over the */
    uint64_t rate_requests, rate_failures; /* intervals of its parts in it, what ended, failed */
    struct http_request *poll; /* a held long-poll */
    uint64_t poll_deadline_ms;
    int64_t seen_us;           /* the last call (wall clock), not yet in the store when dirty */
    bool seen_dirty, lost_due;
    struct m_worker *next;
};

/* An interval post waiting for the commit at the end of the loop turn. */
struct m_post {
    struct http_request *req;
    char worker[STORE_NAME_SIZE];
    char task_id[DIST_ID_MAX];
    json_t *list;
    struct m_post *next;
};

struct dist_master {
    struct dist_master_options opt;
    size_t worker_count;
    uint64_t last_tick_ms;     /* a long gap: this process was paused, not its workers */
    char token[256];
    uv_loop_t *loop;
    struct http_server *srv;
    struct store *st;
    uv_timer_t tick;
    uint64_t seen_flush_ms;
    uv_check_t group;          /* after each loop turn's reads: commits the posts it queued */
    struct m_post *posts, **posts_tail;
    struct m_task *tasks;
    struct m_worker *workers;
    struct dist_interval scratch;
    struct master_metrics_ended ended; /* the tasks that ended last, for GET /metrics */
    struct master_web *web;    /* the dashboard at / and its event stream */
    bool stopping;
    void (*done)(void *data);
    void *done_data;
    int closing;
};

void dist_master_options_default(struct dist_master_options *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8080;
    o->db_path = "herd.db";
    o->suspect_after_ms = 3000;
    o->lost_after_ms = 10000;
    o->detail_rows = 11000;
    o->max_workers = 10000;
}

/* ---- small helpers ---- */

static void note(struct m_task *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends a sentence to the task's message. */
static void note(struct m_task *t, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t old = t->message ? strlen(t->message) : 0;
    char *m = realloc(t->message, old + strlen(line) + 3);
    if (!m)
        return;
    if (old)
        strcpy(m + old, "; ");
    else
        m[0] = '\0';
    strcat(m, line);
    t->message = m;
}

static bool loopback_peer(const char *peer)
{
    return strncmp(peer, "127.", 4) == 0 || strcmp(peer, "::1") == 0 ||
           strncmp(peer, "::ffff:127.", 11) == 0;
}

/* The token rule: changes and worker calls need the token when one is set; reads need it from
 * other hosts than loopback. Answers 401 and returns false when refused. */
static bool allowed(struct dist_master *m, struct http_request *req, bool change)
{
    if (!m->token[0])
        return true;
    if (!change) {
        char peer[64] = "";
        if (http_request_peer(req, peer, sizeof peer) == 0 && loopback_peer(peer))
            return true;
    }
    if (http_request_bearer_is(req, m->token))
        return true;
    http_response_header(req, "WWW-Authenticate", "Bearer");
    http_respond_error(req, 401, "missing or wrong token (Authorization: Bearer TOKEN)");
    return false;
}

static void respond_store_error(struct dist_master *m, struct http_request *req)
{
    log_error("store: %s", store_error(m->st));
    http_respond_error(req, 500, "the master's store failed; see its log");
}

static struct m_task *task_find(struct dist_master *m, const char *id)
{
    for (struct m_task *t = m->tasks; t; t = t->next)
        if (strcmp(t->id, id) == 0)
            return t;
    return NULL;
}

static struct m_worker *worker_find(struct dist_master *m, const char *id)
{
    for (struct m_worker *w = m->workers; w; w = w->next)
        if (strcmp(w->id, id) == 0)
            return w;
    return NULL;
}

static struct m_worker *worker_add(struct dist_master *m, const char *id)
{
    struct m_worker *w = worker_find(m, id);
    if (w)
        return w;
    w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    m->worker_count++;
    snprintf(w->id, sizeof w->id, "%s", id);
    w->last_seen_ms = mtime_now_ms();
    /* kept in id order, as the store lists them */
    struct m_worker **at = &m->workers;
    while (*at && strcmp((*at)->id, id) < 0)
        at = &(*at)->next;
    w->next = *at;
    *at = w;
    return w;
}

static bool worker_alive(const struct m_worker *w)
{
    return w && w->registered && w->state != STORE_WORKER_LOST;
}

static const char *worker_state_name(enum store_worker_state s)
{
    return s == STORE_WORKER_ACTIVE ? "active" : s == STORE_WORKER_SUSPECT ? "suspect" : "lost";
}

static const char *part_state_name(enum store_assignment_state s)
{
    static const char *const names[] = {"pending", "running", "done", "lost", "reassigned",
                                        "cancelled"};
    return (unsigned)s < 6 ? names[s] : "?";
}

static void task_free(struct m_task *t)
{
    if (!t)
        return;
    dist_task_free(&t->task);
    json_decref(t->config);
    dist_merge_free(t->merge);
    free(t->parts);
    free(t->message);
    free(t);
}

static void task_unlink(struct dist_master *m, struct m_task *t)
{
    for (struct m_task **at = &m->tasks; *at; at = &(*at)->next)
        if (*at == t) {
            *at = t->next;
            return;
        }
}

/* Adds a part to t (in memory; the caller stores it). Returns it, or NULL. */
static struct m_part *part_add(struct m_task *t, const struct store_assignment *a)
{
    if (t->part_count == t->part_cap) {
        size_t cap = t->part_cap ? t->part_cap * 2 : 8;
        struct m_part *p = realloc(t->parts, cap * sizeof *p);
        if (!p)
            return NULL;
        t->parts = p;
        t->part_cap = cap;
    }
    struct m_part *p = &t->parts[t->part_count];
    memset(p, 0, sizeof *p);
    p->id = a->id;
    snprintf(p->worker, sizeof p->worker, "%s", a->worker_id);
    for (size_t i = 0; i < t->part_count; i++)
        if (strcmp(t->parts[i].worker, p->worker) == 0)
            p->k++;
    if (p->k == 0)
        snprintf(p->name, sizeof p->name, "%s", p->worker);
    else
        snprintf(p->name, sizeof p->name, "%.60s#%u", p->worker, p->k);
    p->share.connections = (uint64_t)a->connections;
    p->share.requests = (uint64_t)a->requests;
    p->share.rate_milli = (uint64_t)a->rate_milli;
    p->start_at_us = a->start_at_us;
    p->state = a->state;
    p->delivered = a->state != STORE_ASSIGNMENT_PENDING;
    snprintf(p->reassigned_from, sizeof p->reassigned_from, "%s", a->reassigned_from);
    t->part_count++;
    return p;
}

static struct m_part *part_of_seq(struct m_task *t, const char *worker, uint64_t seq)
{
    unsigned k = (unsigned)(seq >> DIST_SEQ_PART_SHIFT);
    for (size_t i = 0; i < t->part_count; i++)
        if (t->parts[i].k == k && strcmp(t->parts[i].worker, worker) == 0)
            return &t->parts[i];
    return NULL;
}

static bool part_open(const struct m_part *p)
{
    return p->state == STORE_ASSIGNMENT_PENDING || p->state == STORE_ASSIGNMENT_RUNNING;
}

/* Declares part p's merge name with its worker's region and cores. */
static void merge_declare(struct dist_master *m, struct m_task *t, const struct m_part *p)
{
    struct m_worker *w = worker_find(m, p->worker);
    dist_merge_worker(t->merge, p->name, w ? w->region : "", w ? w->cores : 0);
    if (p->k)
        dist_merge_worker_part_of(t->merge, p->name, p->worker);
}

/* ---- answering a worker's poll ---- */

static json_t *idle_answer(void)
{
    return json_pack("{s:I,s:s}", "now_us", (json_int_t)mtime_wall_us(), "state", "idle");
}

/* What worker w is to do next: a part to run, or one to stop. Marks it handed out. Returns a
 * new answer, or NULL when nothing is due (or on a store failure, logged). */
static json_t *next_for_worker(struct dist_master *m, struct m_worker *w)
{
    for (struct m_task *t = m->tasks; t; t = t->next)
        for (size_t i = 0; i < t->part_count; i++) {
            struct m_part *p = &t->parts[i];
            if (strcmp(p->worker, w->id) != 0)
                continue;
            if (p->state == STORE_ASSIGNMENT_PENDING && t->state == STORE_TASK_RUNNING) {
                if (store_assignment_set_state(m->st, p->id, STORE_ASSIGNMENT_RUNNING) < 0) {
                    log_error("store: %s", store_error(m->st));
                    return NULL;
                }
                p->state = STORE_ASSIGNMENT_RUNNING;
                p->delivered = true;
                return json_pack("{s:I,s:s,s:s,s:I,s:I,s:O,s:{s:I,s:I,s:I},s:I}", "now_us",
                                 (json_int_t)mtime_wall_us(), "state", "run", "task_id", t->id,
                                 "assignment_id", (json_int_t)p->id, "seq_base",
                                 (json_int_t)((uint64_t)p->k << DIST_SEQ_PART_SHIFT), "config",
                                 t->config, "share", "connections",
                                 (json_int_t)p->share.connections, "requests",
                                 (json_int_t)p->share.requests, "rate_milli",
                                 (json_int_t)p->share.rate_milli, "start_at_us",
                                 (json_int_t)p->start_at_us);
            }
            if (p->cancel_due && !p->cancel_sent && p->delivered) {
                p->cancel_sent = true;
                return json_pack("{s:I,s:s,s:s,s:I}", "now_us", (json_int_t)mtime_wall_us(),
                                 "state", "cancel", "task_id", t->id, "assignment_id",
                                 (json_int_t)p->id);
            }
        }
    return NULL;
}

static void on_poll_abort(struct http_request *req, void *data)
{
    struct m_worker *w = data;
    if (w->poll == req)
        w->poll = NULL;
}

/* Answers worker w's held poll when something is due for it. */
static void wake(struct dist_master *m, struct m_worker *w)
{
    if (!w || !w->poll)
        return;
    json_t *a = next_for_worker(m, w);
    if (!a)
        return;
    struct http_request *req = w->poll;
    w->poll = NULL;
    http_respond_json(req, 200, a);
}

static void wake_task(struct dist_master *m, struct m_task *t)
{
    for (size_t i = 0; i < t->part_count; i++)
        wake(m, worker_find(m, t->parts[i].worker));
}

/* ---- the end of a task ---- */

/* The task's run document from its merge, judged (a verdict) only when the task ends: while
 * it runs its verdict is null. Returns a new reference or NULL (logged). */
static json_t *task_document(struct m_task *t, bool judged, int *passed)
{
    char err[ERR_SIZE];
    char cmd[] = "master";
    char *argv[] = {cmd, NULL};
    struct dist_merge_meta meta = {.task = &t->task, .command = "master", .argc = 1, .argv = argv,
                                   .unjudged = !judged};
    json_t *doc = dist_merge_run_json(t->merge, &meta, passed, err, sizeof err);
    if (!doc) {
        log_error("task %s: cannot build its report: %s", t->id, err);
        return NULL;
    }
    json_object_set_new(doc, "task", json_pack("{s:s,s:s}", "id", t->id, "message",
                                               t->message ? t->message : ""));
    return doc;
}

/* Ends t in state: the document stored with the message, the state set, t freed. */
static void task_finish(struct dist_master *m, struct m_task *t, enum store_task_state state)
{
    int passed = 0;
    json_t *doc = task_document(t, true, &passed);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (store_begin(m->st) < 0 ||
        store_task_set_result(m->st, t->id, text, t->message ? t->message : "") < 0 ||
        store_task_set_state(m->st, t->id, state, mtime_wall_us()) < 0 || store_commit(m->st) < 0) {
        log_error("task %s: cannot store its end: %s", t->id, store_error(m->st));
        store_rollback(m->st);
    } else {
        log_info("task %s %s (%s)%s%s", t->id, store_task_state_name(state),
                 passed ? "pass" : "fail", t->message ? ": " : "", t->message ? t->message : "");
    }
    free(text);
    master_metrics_task_ended(&m->ended, t->id, t->merge);
    task_unlink(m, t);
    task_free(t);
}

/* Ends t when none of its parts is still open: completed, or failed when no part that ended
 * could run its share (each final interval carried an error: the name did not resolve...). */
static void task_check_done(struct dist_master *m, struct m_task *t)
{
    size_t done = 0, errors = 0;
    for (size_t i = 0; i < t->part_count; i++) {
        if (part_open(&t->parts[i]))
            return;
        if (t->parts[i].state != STORE_ASSIGNMENT_DONE)
            continue;
        struct dist_merge_worker_stats s = {0};
        done++;
        errors += dist_merge_worker_stats(t->merge, t->parts[i].name, &s) == 0 && s.error[0];
    }
    enum store_task_state state = t->state;
    if (state == STORE_TASK_RUNNING) {
        state = done > 0 && errors == done ? STORE_TASK_FAILED : STORE_TASK_COMPLETED;
        if (state == STORE_TASK_FAILED)
            note(t, "no worker could run its share");
    }
    task_finish(m, t, state);
}

/* Part p of t posted its final interval iv: when it says the part could not run, the task's
 * message says why (the report's per-worker state shows it too, from the merge). */
static void part_final(struct m_task *t, const struct m_part *p, const struct dist_interval *iv)
{
    char line[STORE_NAME_SIZE + DIST_ERROR_MAX + 64];
    if (!iv->error[0])
        return;
    snprintf(line, sizeof line, "worker %s could not run its share: %s", p->name, iv->error);
    if (t->message && strstr(t->message, line))
        return; /* read back from the store after a restart: said already */
    log_warn("task %s: %s", t->id, line);
    note(t, "%s", line);
}

/* Stops every open part of t (cancel or failure): pending ones are cancelled, running ones
 * are told to stop and end with their final interval. */
static void task_stop_parts(struct dist_master *m, struct m_task *t)
{
    for (size_t i = 0; i < t->part_count; i++) {
        struct m_part *p = &t->parts[i];
        if (p->state == STORE_ASSIGNMENT_PENDING) {
            if (store_assignment_set_state(m->st, p->id, STORE_ASSIGNMENT_CANCELLED) >= 0)
                p->state = STORE_ASSIGNMENT_CANCELLED;
        } else if (p->state == STORE_ASSIGNMENT_RUNNING) {
            p->cancel_due = true;
        }
    }
    wake_task(m, t);
}

/* ---- losing a worker ---- */

/* Parts lost[0..n) of task t are given up (their worker was lost, restarted without them, or
 * stopped before their end: then never back to it). A request-count task's unfinished requests
 * go to the workers that remain, a duration task's loss is recorded. */
static void parts_lost(struct dist_master *m, struct m_task *t, struct m_part **lost, size_t n,
                       const char *why, bool stopping)
{
    if (n == 0)
        return;
    char wid[STORE_NAME_SIZE];
    snprintf(wid, sizeof wid, "%s", lost[0]->worker);
    uint64_t unfinished = 0, rate = 0, conns = 0;
    for (size_t i = 0; i < n; i++) {
        struct dist_merge_worker_stats s = {0};
        dist_merge_worker_stats(t->merge, lost[i]->name, &s);
        dist_merge_worker_lost(t->merge, lost[i]->name);
        unfinished += dist_unfinished(lost[i]->share.requests, s.accounted);
        rate += lost[i]->share.rate_milli;
        conns += lost[i]->share.connections;
        if (lost[i]->delivered)
            lost[i]->cancel_due = true; /* should it come back, it stops */
    }
    bool counted = t->task.options.requests > 0;
    enum store_assignment_state to = counted ? STORE_ASSIGNMENT_REASSIGNED : STORE_ASSIGNMENT_LOST;
    if (!counted || unfinished == 0 || t->state != STORE_TASK_RUNNING) {
        for (size_t i = 0; i < n; i++)
            if (store_assignment_set_state(m->st, lost[i]->id, to) >= 0)
                lost[i]->state = to;
        if (!counted)
            note(t, "worker %s %s at %.1f s: its share (%" PRIu64 " connections) stopped then",
                 wid, why, (double)(mtime_wall_us() - t->start_us) / 1e6, conns);
        else
            note(t, "worker %s %s; nothing of its share was left to reassign", wid, why);
        log_warn("task %s: worker %s %s", t->id, wid, why);
        task_check_done(m, t);
        return;
    }
    /* the receivers: the task's other workers that are alive, else any alive worker */
    struct m_worker *recv[256];
    size_t nr = 0;
    for (int pass = 0; pass < 2 && nr == 0; pass++)
        for (struct m_worker *w = m->workers; w && nr < 256; w = w->next) {
            if (!worker_alive(w) || w->state != STORE_WORKER_ACTIVE)
                continue;
            bool in_task = false;
            for (size_t i = 0; i < t->part_count && !in_task; i++)
                in_task = strcmp(t->parts[i].worker, w->id) == 0;
            if (pass == 0 && !in_task)
                continue;
            if (strcmp(w->id, wid) == 0 && (stopping || !w->registered))
                continue;
            recv[nr++] = w;
        }
    if (nr == 0) {
        for (size_t i = 0; i < n; i++)
            if (store_assignment_set_state(m->st, lost[i]->id, STORE_ASSIGNMENT_LOST) >= 0)
                lost[i]->state = STORE_ASSIGNMENT_LOST;
        note(t, "worker %s %s with %" PRIu64 " requests unfinished, and no worker was left to "
                "take them", wid, why, unfinished);
        log_warn("task %s failed: worker %s %s, no worker left", t->id, wid, why);
        task_stop_parts(m, t);
        bool open = false;
        for (size_t i = 0; i < t->part_count; i++)
            open = open || part_open(&t->parts[i]);
        if (!open) {
            task_finish(m, t, STORE_TASK_FAILED);
        } else {
            /* the others finish what they send; the task then ends as failed */
            t->state = STORE_TASK_FAILED;
            store_task_set_state(m->st, t->id, STORE_TASK_FAILED, mtime_wall_us());
        }
        return;
    }
    uint64_t extra[256], rates[256];
    uint32_t weights[256];
    for (size_t i = 0; i < nr; i++)
        weights[i] = recv[i]->cores ? recv[i]->cores : 1;
    bool by_cores = t->task.split == DIST_SPLIT_CORES;
    if (dist_split_reassign(unfinished, by_cores ? weights : NULL, nr, extra) < 0 ||
        (rate && dist_split(rate, NULL, nr, rates) < 0)) {
        log_error("task %s: cannot split %" PRIu64 " requests", t->id, unfinished);
        return;
    }
    char list[1024] = "";
    size_t len = 0;
    if (store_begin(m->st) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (store_assignment_set_state(m->st, lost[i]->id, STORE_ASSIGNMENT_REASSIGNED) < 0)
            goto fail;
    int64_t start = mtime_wall_us() + REASSIGN_DELAY_US;
    struct store_assignment made[256];
    size_t made_n = 0;
    for (size_t i = 0; i < nr; i++) {
        if (extra[i] == 0)
            continue;
        struct store_assignment a = {0};
        snprintf(a.task_id, sizeof a.task_id, "%s", t->id);
        snprintf(a.worker_id, sizeof a.worker_id, "%s", recv[i]->id);
        uint64_t c = conns / nr ? conns / nr : 1;
        a.connections = (int64_t)(c < extra[i] ? c : extra[i]);
        a.requests = (int64_t)extra[i];
        a.rate_milli = rate ? (int64_t)(rates[i] > 1000 ? rates[i] : 1000) : 0;
        a.start_at_us = start;
        a.state = STORE_ASSIGNMENT_PENDING;
        snprintf(a.reassigned_from, sizeof a.reassigned_from, "%s", wid);
        if (store_assignment_put(m->st, &a) < 0)
            goto fail;
        made[made_n++] = a;
    }
    if (store_commit(m->st) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        lost[i]->state = STORE_ASSIGNMENT_REASSIGNED;
    /* lost[] points into t->parts, which part_add may move: nothing uses it below */
    for (size_t i = 0; i < made_n; i++) {
        struct m_part *p = part_add(t, &made[i]);
        if (p)
            merge_declare(m, t, p);
        if (len < sizeof list - 80)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s (%" PRId64 ")",
                                    i ? ", " : "", made[i].worker_id, made[i].requests);
    }
    note(t, "worker %s %s: its %" PRIu64 " unfinished requests were reassigned to %s", wid, why,
         unfinished, list);
    log_warn("task %s: worker %s %s; %" PRIu64 " requests reassigned to %s", t->id, wid, why,
             unfinished, list);
    for (size_t i = 0; i < nr; i++)
        wake(m, recv[i]);
    return;
fail:
    log_error("task %s: cannot reassign: %s", t->id, store_error(m->st));
    store_rollback(m->st);
}

/* Worker w's open parts in every task are lost (why: "lost", "restarted"); keep[] lists the
 * assignment ids it still runs (a re-registration), which are not. */
static void worker_parts_lost(struct dist_master *m, struct m_worker *w, const int64_t *keep,
                              size_t keep_n, bool pending_too, const char *why)
{
    struct m_task *next;
    for (struct m_task *t = m->tasks; t; t = next) {
        next = t->next; /* parts_lost may end and free t */
        struct m_part *lost[64];
        size_t n = 0;
        for (size_t i = 0; i < t->part_count && n < 64; i++) {
            struct m_part *p = &t->parts[i];
            if (strcmp(p->worker, w->id) != 0 || !part_open(p))
                continue;
            if (p->state == STORE_ASSIGNMENT_PENDING && !pending_too)
                continue;
            bool kept = false;
            for (size_t j = 0; j < keep_n && !kept; j++)
                kept = keep[j] == p->id;
            if (!kept)
                lost[n++] = p;
        }
        parts_lost(m, t, lost, n, why, false);
    }
}

/* ---- liveness ---- */

static void on_tick(uv_timer_t *timer)
{
    struct dist_master *m = timer->data;
    uint64_t now = mtime_now_ms();
    uint64_t gap = m->last_tick_ms && now > m->last_tick_ms ? now - m->last_tick_ms : 0;
    m->last_tick_ms = now;
    if (gap > TICK_MS * 5) { /* stopped (SIGSTOP, a frozen VM): what it did not hear is its own
                              * silence, so no worker is blamed for it */
        log_warn("the master was paused for %.1f s: its workers' silence restarts now",
                 (double)gap / 1000);
        for (struct m_worker *w = m->workers; w; w = w->next)
            if (w->last_seen_ms + gap < now)
                w->last_seen_ms += gap;
            else
                w->last_seen_ms = now;
    }
    bool flush = now >= m->seen_flush_ms;
    if (flush)
        m->seen_flush_ms = now + SEEN_FLUSH_MS;
    /* the tick's writes (states, last calls) are one transaction: one fsync, not one each */
    bool open = false;
    for (struct m_worker *w = m->workers; w; w = w->next) {
        if (w->poll && now >= w->poll_deadline_ms) {
            struct http_request *req = w->poll;
            w->poll = NULL;
            http_respond_json(req, 200, idle_answer());
        }
        uint64_t silent = now > w->last_seen_ms ? now - w->last_seen_ms : 0;
        if (w->poll)
            silent = 0; /* a held poll is a live connection */
        bool suspect = w->state == STORE_WORKER_ACTIVE && silent >= m->opt.suspect_after_ms;
        bool lost = w->state != STORE_WORKER_LOST && silent >= m->opt.lost_after_ms;
        if (!suspect && !lost && !(flush && w->seen_dirty))
            continue;
        if (!open)
            open = store_begin(m->st) == 0;
        if (flush && w->seen_dirty) {
            store_worker_seen(m->st, w->id, w->seen_us);
            w->seen_dirty = false;
        }
        if (suspect) {
            w->state = STORE_WORKER_SUSPECT;
            store_worker_set_state(m->st, w->id, w->state);
            log_warn("worker %s suspect: silent %.1f s", w->id, (double)silent / 1000);
        }
        if (lost) {
            w->state = STORE_WORKER_LOST;
            w->registered = false;
            w->lost_due = true;
            store_worker_set_state(m->st, w->id, w->state);
            log_warn("worker %s lost: silent %.1f s", w->id, (double)silent / 1000);
        }
    }
    if (open && store_commit(m->st) < 0)
        log_error("store: %s", store_error(m->st));
    for (struct m_worker *w = m->workers; w; w = w->next)
        if (w->lost_due) {
            w->lost_due = false;
            worker_parts_lost(m, w, NULL, 0, true, "lost");
        }
}

/* A call from worker w: it is alive. */
static void worker_seen(struct dist_master *m, struct m_worker *w)
{
    w->last_seen_ms = mtime_now_ms();
    if (w->state != STORE_WORKER_ACTIVE) {
        if (w->state == STORE_WORKER_SUSPECT)
            log_info("worker %s active again", w->id);
        w->state = STORE_WORKER_ACTIVE;
    }
    /* written by the tick: a write (and an fsync) per call would bound the workers a master
     * takes by its disk */
    w->seen_us = mtime_wall_us();
    w->seen_dirty = true;
}

/* The worker a protocol call names, registered in this master's life with the session the
 * call gives (session NULL: not checked). Answers 404/410 and returns NULL otherwise. */
static struct m_worker *protocol_worker(struct dist_master *m, struct http_request *req,
                                        const char *id, const char *session)
{
    struct m_worker *w = worker_find(m, id);
    if (!w) {
        http_respond_error(req, 404, "unknown worker: register first");
        return NULL;
    }
    if (!w->registered || (session && strcmp(session, w->session) != 0)) {
        http_respond_error(req, 410, "this session is not current (the master restarted, or "
                                     "the worker was lost): register again");
        return NULL;
    }
    worker_seen(m, w);
    return w;
}

struct assigned {
    const char *worker;
    uint64_t part;  /* the part asked for (seq >> DIST_SEQ_PART_SHIFT), or UINT64_MAX: any */
    unsigned k;     /* the worker's parts seen so far */
    bool found;
};

static int note_assigned(const struct store_assignment *a, void *arg)
{
    struct assigned *as = arg;
    if (strcmp(a->worker_id, as->worker) != 0)
        return 0;
    if (as->part == UINT64_MAX || as->part == as->k)
        as->found = true;
    as->k++;
    return 0;
}

/* Whether worker has an assignment in task task_id (part: the one numbered so among the
 * worker's parts of the task, UINT64_MAX: any). Returns 1, 0, or -1 on a store failure. */
static int worker_assigned(struct dist_master *m, const char *task_id, const char *worker,
                           uint64_t part)
{
    struct m_task *t = task_find(m, task_id);
    if (t) {
        for (size_t i = 0; i < t->part_count; i++)
            if (strcmp(t->parts[i].worker, worker) == 0 &&
                (part == UINT64_MAX || t->parts[i].k == part))
                return 1;
        return 0;
    }
    struct assigned as = {.worker = worker, .part = part};
    if (store_assignment_list(m->st, task_id, note_assigned, &as) < 0)
        return -1;
    return as.found;
}

/* Makes room for one more worker when the table is full: the longest-silent worker that is
 * lost or not registered in this master's life, holds no poll and has no open part goes
 * (from the store too when no assignment names it). Returns true when there is room. */
static bool worker_room(struct dist_master *m)
{
    if (m->worker_count < m->opt.max_workers)
        return true;
    struct m_worker **victim = NULL;
    for (struct m_worker **at = &m->workers; *at; at = &(*at)->next) {
        struct m_worker *w = *at;
        if ((w->registered && w->state != STORE_WORKER_LOST) || w->poll)
            continue;
        bool open = false;
        for (struct m_task *t = m->tasks; t && !open; t = t->next)
            for (size_t i = 0; i < t->part_count && !open; i++)
                open = part_open(&t->parts[i]) && strcmp(t->parts[i].worker, w->id) == 0;
        if (!open && (!victim || w->last_seen_ms < (*victim)->last_seen_ms))
            victim = at;
    }
    if (!victim)
        return false;
    struct m_worker *w = *victim;
    *victim = w->next;
    m->worker_count--;
    if (store_worker_forget(m->st, w->id) < 0)
        log_warn("store: %s", store_error(m->st));
    log_info("worker %s forgotten: the table holds %zu workers", w->id, m->opt.max_workers);
    free(w);
    return true;
}

/* ---- worker protocol ---- */

static void on_register(struct http_request *req, void *data)
{
    struct dist_master *m = data;
    if (!allowed(m, req, true))
        return;
    char err[ERR_SIZE];
    struct dist_register rb;
    if (dist_register_parse(&rb, req->body, req->body_len, err, sizeof err) < 0) {
        http_respond_error(req, 400, err);
        return;
    }
    const char *id = rb.id;
    const int64_t *keep = rb.running;
    size_t keep_n = rb.running_count;
    struct store_worker sw = {0};
    snprintf(sw.id, sizeof sw.id, "%s", id);
    snprintf(sw.region, sizeof sw.region, "%s", rb.region);
    snprintf(sw.version, sizeof sw.version, "%s", rb.version);
    sw.cores = rb.cores;
    sw.pid = rb.pid;
    sw.registered_us = mtime_wall_us();
    if (!worker_find(m, id) && !worker_room(m)) {
        char msg[160];
        snprintf(msg, sizeof msg, "the master holds %zu workers, none of them lost: try again "
                 "later", m->opt.max_workers);
        http_respond_error(req, 503, msg);
        return;
    }
    struct m_worker *w = worker_add(m, id);
    if (!w || store_worker_register(m->st, &sw) < 0) {
        respond_store_error(m, req);
        return;
    }
    bool again = w->registered || w->session[0];
    snprintf(w->region, sizeof w->region, "%s", sw.region);
    snprintf(w->version, sizeof w->version, "%s", sw.version);
    w->cores = (unsigned)sw.cores;
    w->pid = sw.pid;
    snprintf(w->session, sizeof w->session, "%s", sw.session);
    w->registered = true;
    w->state = STORE_WORKER_ACTIVE;
    w->last_seen_ms = mtime_now_ms();
    log_info("worker %s registered (region '%s', %u cores, session %s%s)", w->id, w->region,
             w->cores, w->session, again ? ", again" : "");
    /* its regions may have changed: the merges learn them */
    for (struct m_task *t = m->tasks; t; t = t->next)
        for (size_t i = 0; i < t->part_count; i++)
            if (strcmp(t->parts[i].worker, w->id) == 0)
                merge_declare(m, t, &t->parts[i]);
    /* what it was running and no longer runs (it restarted) is lost; a pending part stays */
    worker_parts_lost(m, w, keep, keep_n, false, "restarted");
    http_respond_json(req, 200, json_pack("{s:s,s:s,s:I}", "id", w->id, "session", w->session,
                                          "now_us", (json_int_t)mtime_wall_us()));
    if (w->poll) { /* an old poll of this id: answered, the new session polls again */
        struct http_request *old = w->poll;
        w->poll = NULL;
        http_respond_json(old, 200, idle_answer());
    }
}

static void on_assignment(struct http_request *req, void *data)
{
    struct dist_master *m = data;
    if (!allowed(m, req, true))
        return;
    char session[STORE_ID_SIZE + 8] = "", wait[32] = "";
    if (http_request_query(req, "session", session, sizeof session) < 0) {
        http_respond_error(req, 400, "session: expected the session of the registration");
        return;
    }
    uint64_t wait_ms = POLL_WAIT_DEF_MS;
    if (http_request_query(req, "wait", wait, sizeof wait) >= 0) {
        uint64_t us;
        if (mtime_parse_duration_us(wait, &us) < 0 || us > POLL_WAIT_MAX_MS * 1000ULL) {
            http_respond_error(req, 400, "wait: expected a duration up to 30s");
            return;
        }
        wait_ms = us / 1000;
    }
    struct m_worker *w = protocol_worker(m, req, req->params[0], session);
    if (!w)
        return;
    json_t *a = next_for_worker(m, w);
    if (a || wait_ms == 0) {
        http_respond_json(req, 200, a ? a : idle_answer());
        return;
    }
    if (w->poll) {
        struct http_request *old = w->poll;
        w->poll = NULL;
        http_respond_json(old, 200, idle_answer());
    }
    w->poll = req;
    w->poll_deadline_ms = mtime_now_ms() + wait_ms;
    http_request_on_abort(req, on_poll_abort, w);
}

static void on_heartbeat(struct http_request *req, void *data)
{
    struct dist_master *m = data;
    if (!allowed(m, req, true))
        return;
    char err[ERR_SIZE];
    struct dist_heartbeat hb;
    if (dist_heartbeat_parse(&hb, req->body, req->body_len, err, sizeof err) < 0) {
        http_respond_error(req, 400, err);
        return;
    }
    struct m_worker *w = protocol_worker(m, req, req->params[0], hb.session);
    if (w) {
        if (hb.has_cpu)
            w->cpu = hb.cpu;
        http_respond_json(req, 200, json_pack("{s:I}", "now_us", (json_int_t)mtime_wall_us()));
    }
}

struct put_batch {
    struct dist_master *m;
    struct m_task *task; /* NULL: a task no longer running (stored, not merged) */
    const char *worker;
    json_t *list;
    int *stored;         /* per interval: 1 stored, 0 already there */
    char err[ERR_SIZE];
};

static int put_all(struct store *st, void *arg)
{
    struct put_batch *b = arg;
    struct dist_interval *iv = &b->m->scratch;
    for (size_t i = 0; i < json_array_size(b->list); i++) {
        json_t *j = json_array_get(b->list, i);
        if (dist_interval_from_json(iv, j, NULL, b->err, sizeof b->err) < 0)
            return -1;
        char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text)
            return -1;
        struct store_interval s = {.task_id = iv->task_id, .worker_id = iv->worker_id,
                                   .seq = (int64_t)iv->seq, .session = iv->session,
                                   .second_us = (int64_t)iv->second_us, .final = iv->final,
                                   .requests = (int64_t)iv->counters.requests, .body = text};
        int rc = store_interval_put(st, &s);
        free(text);
        if (rc == STORE_CONFLICT) {
            snprintf(b->err, sizeof b->err, "intervals[%zu]: seq %" PRIu64 " of worker %s in "
                     "task %s was acknowledged with another body", i, iv->seq, iv->worker_id,
                     iv->task_id);
            return STORE_CONFLICT;
        }
        if (rc < 0)
            return -1;
        b->stored[i] = rc;
        if (iv->final && b->task) {
            struct m_part *p = part_of_seq(b->task, iv->worker_id, iv->seq);
            if (p && p->state == STORE_ASSIGNMENT_RUNNING &&
                store_assignment_set_state(st, p->id, STORE_ASSIGNMENT_DONE) < 0)
                return -1;
        }
    }
    return 0;
}

static void on_intervals(struct http_request *req, void *data)
{
    struct dist_master *m = data;
    if (!allowed(m, req, true))
        return;
    const char *wid = req->params[0];
    char err[ERR_SIZE];
    json_t *list = dist_intervals_parse_body(req->body, req->body_len, &m->scratch, err, sizeof err);
    if (!list) {
        http_respond_error(req, 400, err);
        return;
    }
    struct m_worker *w = protocol_worker(m, req, wid, NULL);
    if (!w) {
        json_decref(list);
        return;
    }
    /* one task per post; every interval this worker's, each of a part the task has */
    const char *task_id = NULL;
    struct m_task *t = NULL;
    int status = 0;
    for (size_t i = 0; i < json_array_size(list) && !status; i++) {
        json_t *j = json_array_get(list, i);
        const char *tid = json_string_value(json_object_get(j, "task_id"));
        const char *iw = json_string_value(json_object_get(j, "worker_id"));
        uint64_t seq = (uint64_t)json_integer_value(json_object_get(j, "seq"));
        if (strcmp(iw, wid) != 0) {
            snprintf(err, sizeof err, "intervals[%zu].worker_id: '%s' is not worker '%s'", i, iw,
                     wid);
            status = 400;
        } else if (task_id && strcmp(tid, task_id) != 0) {
            snprintf(err, sizeof err, "intervals[%zu].task_id: one post carries one task's "
                     "intervals", i);
            status = 400;
        } else if (!task_id) {
            task_id = tid;
            t = task_find(m, tid);
            struct store_task st = {0};
            int found = t ? 1 : store_task_get(m->st, tid, &st);
            store_task_clear(&st);
            if (found < 0) {
                status = 500;
                snprintf(err, sizeof err, "the master's store failed");
            } else if (found == 0) {
                snprintf(err, sizeof err, "intervals[%zu].task_id: no task '%s'", i, tid);
                status = 404;
            }
        }
        /* a task no longer (or not yet) running: its stored assignments decide */
        if (!status && !t) {
            int a = worker_assigned(m, tid, wid, seq >> DIST_SEQ_PART_SHIFT);
            if (a < 0) {
                status = 500;
                snprintf(err, sizeof err, "the master's store failed");
            } else if (a == 0) {
                snprintf(err, sizeof err, "intervals[%zu].seq: worker %s has no assignment "
                         "%" PRIu64 " in task %s", i, wid, seq >> DIST_SEQ_PART_SHIFT, tid);
                status = 400;
            }
        }
        /* a second ends before it is posted: one far ahead of the master's clock is a lie
         * that would stretch the task's timeline (and its memory) up to a year */
        uint64_t second = (uint64_t)json_integer_value(json_object_get(j, "second_us"));
        if (!status && second > (uint64_t)mtime_wall_us() + FUTURE_SLACK_US) {
            snprintf(err, sizeof err, "intervals[%zu].second_us: %" PRIu64 " is in the future "
                     "(the master's clock is %" PRId64 ")", i, second, mtime_wall_us());
            status = 400;
        }
        if (!status && t && second + FUTURE_SLACK_US < (uint64_t)t->start_us) {
            snprintf(err, sizeof err, "intervals[%zu].second_us: %" PRIu64 " is before the "
                     "task's start (%" PRId64 ")", i, second, t->start_us);
            status = 400;
        }
        if (!status && t && !part_of_seq(t, wid, seq)) {
            snprintf(err, sizeof err, "intervals[%zu].seq: worker %s has no assignment %" PRIu64
                     " in task %s", i, wid, seq >> DIST_SEQ_PART_SHIFT, t->id);
            status = 400;
        }
    }
    if (status) {
        json_decref(list);
        http_respond_error(req, status, err);
        return;
    }
    /* stored and acknowledged with the loop turn's other posts (on_group) */
    struct m_post *post = calloc(1, sizeof *post);
    if (!post) {
        json_decref(list);
        http_respond_error(req, 500, "out of memory");
        return;
    }
    post->req = req;
    snprintf(post->worker, sizeof post->worker, "%s", wid);
    snprintf(post->task_id, sizeof post->task_id, "%s", task_id);
    post->list = list;
    *m->posts_tail = post;
    m->posts_tail = &post->next;
}

/* Whether part p of t ended (final interval iv) before its share of a request-count task: its
 * worker was interrupted (SIGTERM: `kubectl delete pod`, a scale-down) while the task runs and
 * the master did not ask it to stop, so its unfinished requests must go to another worker, or
 * the task would end short and still pass. */
static bool part_stopped_short(const struct m_task *t, const struct m_part *p,
                               const struct dist_interval *iv)
{
    if (!iv->interrupted || iv->error[0] || p->cancel_due || t->state != STORE_TASK_RUNNING ||
        t->task.options.requests == 0)
        return false;
    struct dist_merge_worker_stats s = {0};
    return dist_merge_worker_stats(t->merge, p->name, &s) == 0 &&
           dist_unfinished(p->share.requests, s.accounted) > 0;
}

/* Interval iv of worker w was merged: its CPU use, and its latest second's numbers. */
static void worker_rate_add(struct m_worker *w, const struct dist_interval *iv)
{
    w->cpu = iv->cpu;
    if ((int64_t)iv->second_us < w->rate_second_us)
        return;
    if ((int64_t)iv->second_us > w->rate_second_us) {
        w->rate_second_us = (int64_t)iv->second_us;
        w->rate_requests = w->rate_failures = 0;
    }
    w->rate_requests += iv->counters.requests;
    w->rate_failures += counters_failures(&iv->counters);
}

/* Answers post p after its intervals were committed (status 200) or refused, and merges the
 * new ones into its task; a part whose worker stopped short has its rest reassigned. Returns
 * true when one of them was a final interval. */
static bool post_answer(struct dist_master *m, struct m_post *p, int status, const int *stored,
                        const char *why)
{
    if (status == 409) {
        http_respond_error(p->req, 409, why);
        return false;
    }
    if (status != 200) {
        if (why[0])
            log_error("intervals of %s: %s", p->worker, why);
        respond_store_error(m, p->req);
        return false;
    }
    struct m_task *t = task_find(m, p->task_id);
    struct m_worker *w = worker_find(m, p->worker);
    char err[ERR_SIZE];
    json_t *acked = json_array();
    bool any_final = false;
    int64_t stopped_short[16]; /* parts whose worker stopped before their share (SIGTERM) */
    size_t short_n = 0;
    for (size_t i = 0; i < json_array_size(p->list); i++) {
        json_t *j = json_array_get(p->list, i);
        json_array_append_new(acked, json_integer(json_integer_value(json_object_get(j, "seq"))));
        if (!t || !stored[i])
            continue;
        if (dist_interval_from_json(&m->scratch, j, NULL, err, sizeof err) < 0)
            continue;
        struct m_part *part = part_of_seq(t, p->worker, m->scratch.seq);
        if (!part)
            continue;
        snprintf(m->scratch.worker_id, sizeof m->scratch.worker_id, "%.63s", part->name);
        if (dist_merge_add(t->merge, &m->scratch, err, sizeof err) < 0)
            log_warn("task %s: interval %" PRIu64 " of %s not merged: %s", t->id,
                     m->scratch.seq, p->worker, err);
        else if (w)
            master_metrics_interval(&w->metrics, &m->scratch, mtime_wall_us());
        if (w)
            worker_rate_add(w, &m->scratch);
        if (m->scratch.final && part->state == STORE_ASSIGNMENT_RUNNING) {
            part_final(t, part, &m->scratch);
            part->state = STORE_ASSIGNMENT_DONE;
            any_final = true;
            if (part_stopped_short(t, part, &m->scratch) && short_n < 16)
                stopped_short[short_n++] = part->id;
        }
    }
    http_respond_json(p->req, 200, json_pack("{s:o,s:I}", "acked", acked, "now_us",
                                             (json_int_t)mtime_wall_us()));
    /* their unfinished requests go to the others, as a lost worker's (t may end here) */
    for (size_t i = 0; i < short_n && (t = task_find(m, p->task_id)); i++)
        for (size_t k = 0; k < t->part_count; k++)
            if (t->parts[k].id == stopped_short[i]) {
                struct m_part *lost = &t->parts[k];
                parts_lost(m, t, &lost, 1, "stopped before the end of its share", true);
                break;
            }
    return any_final;
}

/* After the reads of a loop turn: the interval posts it queued are stored in one transaction
 * (one fsync for all of them, however many workers posted), each post a savepoint of its own
 * so that one refused post (409) leaves the others; then every post is answered. */
static void on_group(uv_check_t *h)
{
    struct dist_master *m = h->data;
    struct m_post *posts = m->posts;
    if (!posts)
        return;
    m->posts = NULL;
    m->posts_tail = &m->posts;
    size_t count = 0;
    for (struct m_post *p = posts; p; p = p->next)
        count++;
    int *status = calloc(count, sizeof *status);
    int **stored = calloc(count, sizeof *stored);
    char (*why)[ERR_SIZE] = calloc(count, sizeof *why);
    bool open = status && stored && why && store_begin(m->st) == 0;
    size_t i = 0;
    for (struct m_post *p = posts; open && p; p = p->next, i++) {
        stored[i] = calloc(json_array_size(p->list), sizeof *stored[i]);
        struct put_batch b = {.m = m, .task = task_find(m, p->task_id), .worker = p->worker,
                              .list = p->list, .stored = stored[i]};
        int rc = stored[i] && store_part_begin(m->st) == 0 ? put_all(m->st, &b) : -1;
        if (store_part_end(m->st, rc >= 0) < 0 && rc >= 0)
            rc = -1;
        status[i] = rc == STORE_CONFLICT ? 409 : rc < 0 ? 500 : 200;
        snprintf(why[i], ERR_SIZE, "%s", b.err);
    }
    if (open && store_commit(m->st) < 0)
        for (i = 0; i < count; i++)
            status[i] = status[i] == 200 ? 500 : status[i];
    bool *final = calloc(count, sizeof *final);
    i = 0;
    for (struct m_post *p = posts; p; p = p->next, i++) {
        if (!status || !stored || !why)
            http_respond_error(p->req, 500, "out of memory");
        else if (post_answer(m, p, open ? status[i] : 500, stored[i], open ? why[i] : "") && final)
            final[i] = true;
    }
    i = 0;
    for (struct m_post *p = posts, *next; p; p = next, i++) {
        next = p->next;
        struct m_task *t = final && final[i] ? task_find(m, p->task_id) : NULL;
        if (t) /* a task ends when its last part's final interval is in */
            task_check_done(m, t);
        if (stored)
            free(stored[i]);
        json_decref(p->list);
        free(p);
    }
    free(final);
    free(status);
    free(stored);
    free(why);
    master_web_nudge(m->web); /* the dashboards see the new seconds now */
}

/* ---- REST API: tasks ---- */

static void on_task_create(struct http_request *req, void *data)
{
    struct dist_master *m = data;
    if (!allowed(m, req, true))
        return;
    static const char *const keys[] = {"config_file", "config", NULL};
    char err[ERR_SIZE];
    json_t *b = json_body_object(req->body, req->body_len, keys, err, sizeof err);
    if (!b) {
        http_respond_error(req, 400, err);
        return;
    }
    struct dist_task t;
    dist_task_init(&t);
    json_t *config = NULL;
    char *text = NULL;
    if (dist_task_from_body(&t, b, err, sizeof err) < 0 ||
        dist_task_check_targets(&t, m->opt.allow, m->opt.allow_count, err, sizeof err) < 0) {
        http_respond_error(req, 400, err);
        goto out;
    }
    config = dist_task_to_config(&t);
    text = config ? json_dumps(config, JSON_COMPACT) : NULL;
    char id[STORE_ID_SIZE];
    if (!text || store_task_create(m->st, text, mtime_wall_us(), id) < 0) {
        respond_store_error(m, req);
        goto out;
    }
    log_info("task %s created (%s)", id, t.options.urls[0]);
    http_respond_json(req, 201, json_pack("{s:s,s:s}", "task_id", id, "message",
                                          "task created; POST /api/v1/tasks/{id}/start starts it"));
out:
    free(text);
    json_decref(config);
    dist_task_free(&t);
    json_decref(b);
}

/* Reads an array of worker ids or a region from a start body into ids/region. Returns 0, or
 * -1 with a message. */
static int start_selection(const json_t *b, json_t **ids, const char **region, char *err,
                           size_t errlen)
{
    *ids = NULL;
    *region = NULL;
    const char *const id_keys[] = {"slave_ids", "worker_ids"};
    const char *const region_keys[] = {"slave_region", "region"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(b, id_keys[i]);
        if (!v)
            continue;
        if (*ids)
            return err_set(err, errlen, "%s: give slave_ids or worker_ids, not both", id_keys[i]);
        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 4096)
            return err_set(err, errlen, "%s: expected an array of 1 to 4096 worker ids",
                           id_keys[i]);
        for (size_t k = 0; k < json_array_size(v); k++)
            if (!json_is_string(json_array_get(v, k)))
                return err_set(err, errlen, "%s[%zu]: expected a worker id (a string)",
                               id_keys[i], k);
        *ids = v;
    }
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(b, region_keys[i]);
        if (!v)
            continue;
        if (*region || *ids)
            return err_set(err, errlen, "%s: give worker ids or a region, not both",
                           region_keys[i]);
        if (!json_is_string(v) || !json_string_value(v)[0])
            return err_set(err, errlen, "%s: expected a region name", region_keys[i]);
        *region = json_string_value(v);
    }
    return 0;
}

/* The stored task the route's {id} names, into st (the caller clears it). False when it
 * answered instead: 404 for an unknown task, 500 when the store failed. */
static bool route_task(struct dist_master *m, struct http_request *req, struct store_task *st)
{
    int found = store_task_get(m->st, req->params[0], st);
    if (found < 0)
        respond_store_error(m, req);
    else if (found == 0)
        http_respond_error(req, 404, "no such task");
    return found > 0;
}

static void on_task_start(struct http_request *req, void *data)
{
    struct dist_master *m = data;
    if (!allowed(m, req, true))
        return;
    static const char *const keys[] = {"slave_ids", "worker_ids", "slave_region", "region", NULL};
    char err[ERR_SIZE];
    json_t *b = req->body_len ? json_body_object(req->body, req->body_len, keys, err, sizeof err)
                              : json_object();
    if (!b) {
        http_respond_error(req, 400, err);
        return;
    }
    json_t *ids;
    const char *region;
    struct store_task st = {0};
    struct m_task *t = NULL;
    struct m_worker *chosen[4096];
    size_t n = 0;
    if (start_selection(b, &ids, &region, err, sizeof err) < 0) {
        http_respond_error(req, 400, err);
        goto out;
    }
    if (!route_task(m, req, &st))
        goto out;
    if (st.state != STORE_TASK_PENDING) {
        snprintf(err, sizeof err, "task %s is %s: only a pending task starts", st.id,
                 store_task_state_name(st.state));
        http_respond_error(req, 409, err);
        goto out;
    }
    if (ids) {
        for (size_t i = 0; i < json_array_size(ids); i++) {
            const char *id = json_string_value(json_array_get(ids, i));
            struct m_worker *w = worker_find(m, id);
            if (!worker_alive(w) || w->state != STORE_WORKER_ACTIVE) {
                snprintf(err, sizeof err, "worker '%s' is %s", id,
                         w ? (w->registered ? worker_state_name(w->state) : "not connected")
                           : "unknown");
                http_respond_error(req, 409, err);
                goto out;
            }
            bool twice = false;
            for (size_t k = 0; k < n; k++)
                twice = twice || chosen[k] == w;
            if (!twice)
                chosen[n++] = w;
        }
    } else {
        for (struct m_worker *w = m->workers; w && n < 4096; w = w->next)
            if (worker_alive(w) && w->state == STORE_WORKER_ACTIVE &&
                (!region || strcmp(w->region, region) == 0))
                chosen[n++] = w;
        if (n == 0) {
            snprintf(err, sizeof err, "no active worker%s%s%s", region ? " in region '" : "",
                     region ? region : "", region ? "'" : "");
            http_respond_error(req, 409, err);
            goto out;
        }
    }
    t = calloc(1, sizeof *t);
    if (!t)
        goto oom;
    snprintf(t->id, sizeof t->id, "%s", st.id);
    dist_task_init(&t->task);
    json_t *cfg = json_loads(st.config, 0, NULL);
    if (!cfg || dist_task_from_config(&t->task, cfg, err, sizeof err) < 0) {
        json_decref(cfg);
        log_error("task %s: its stored config does not read back: %s", t->id, err);
        http_respond_error(req, 500, "the task's stored config does not read back");
        goto out;
    }
    t->config = cfg;
    const struct bench_options *o = &t->task.options;
    uint32_t cores[4096];
    struct dist_share shares[4096];
    for (size_t i = 0; i < n; i++)
        cores[i] = chosen[i]->cores;
    uint64_t conns = o->connections ? o->connections : 10;
    if (dist_split_task(conns, o->requests, dist_rate_to_milli(o->rate), t->task.split, cores, n,
                        shares, err, sizeof err) < 0) {
        http_respond_error(req, 409, err);
        goto out;
    }
    t->start_us = mtime_wall_us() + START_DELAY_US;
    t->merge = dist_merge_new(t->id, (uint64_t)t->start_us);
    if (!t->merge)
        goto oom;
    t->state = STORE_TASK_RUNNING;
    json_t *sel = ids ? json_pack("{s:O}", "worker_ids", ids)
                      : region ? json_pack("{s:s}", "region", region) : json_object();
    char *sel_text = sel ? json_dumps(sel, JSON_COMPACT) : NULL;
    json_decref(sel);
    if (store_begin(m->st) < 0)
        goto store_fail;
    size_t active = 0;
    for (size_t i = 0; i < n; i++) {
        if (!dist_share_active(&shares[i]))
            continue;
        struct store_assignment a = {0};
        snprintf(a.task_id, sizeof a.task_id, "%s", t->id);
        snprintf(a.worker_id, sizeof a.worker_id, "%s", chosen[i]->id);
        a.connections = (int64_t)shares[i].connections;
        a.requests = (int64_t)shares[i].requests;
        a.rate_milli = (int64_t)shares[i].rate_milli;
        a.start_at_us = t->start_us;
        a.state = STORE_ASSIGNMENT_PENDING;
        if (store_assignment_put(m->st, &a) < 0 || !part_add(t, &a)) {
            free(sel_text);
            goto store_fail;
        }
        merge_declare(m, t, &t->parts[t->part_count - 1]);
        active++;
    }
    if (store_task_set_selection(m->st, t->id, sel_text ? sel_text : "{}") < 0 ||
        store_task_set_state(m->st, t->id, STORE_TASK_RUNNING, mtime_wall_us()) < 0 ||
        store_commit(m->st) < 0) {
        free(sel_text);
        goto store_fail;
    }
    free(sel_text);
    t->next = m->tasks;
    m->tasks = t;
    log_info("task %s started on %zu workers", t->id, active);
    char msg[128];
    snprintf(msg, sizeof msg, "task started on %zu worker%s", active, active == 1 ? "" : "s");
    http_respond_json(req, 200, json_pack("{s:s,s:s,s:s}", "task_id", t->id, "message", msg,
                                          "state", "running"));
    wake_task(m, t);
    t = NULL;
    goto out;
store_fail:
    store_rollback(m->st);
    respond_store_error(m, req);
    goto out;
oom:
    http_respond_error(req, 500, "out of memory");
out:
    task_free(t);
    store_task_clear(&st);
    json_decref(b);
}

static void on_task_cancel(struct http_request *req, void *data)
{
    struct dist_master *m = data;
    if (!allowed(m, req, true))
        return;
    struct store_task st = {0};
    if (!route_task(m, req, &st))
        return;
    struct m_task *t = task_find(m, st.id);
    if (st.state != STORE_TASK_PENDING && !(t && t->state == STORE_TASK_RUNNING)) {
        char err[128];
        snprintf(err, sizeof err, "task %s is %s: only a pending or running task is cancelled",
                 st.id, store_task_state_name(st.state));
        http_respond_error(req, 409, err);
        store_task_clear(&st);
        return;
    }
    if (store_task_set_state(m->st, st.id, STORE_TASK_CANCELLED, mtime_wall_us()) < 0) {
        respond_store_error(m, req);
        store_task_clear(&st);
        return;
    }
    log_info("task %s cancelled", st.id);
    http_respond_json(req, 200, json_pack("{s:s,s:s,s:s}", "task_id", st.id, "message",
                                          "task cancelled", "state", "cancelled"));
    store_task_clear(&st);
    if (t) {
        t->state = STORE_TASK_CANCELLED;
        note(t, "cancelled");
        task_stop_parts(m, t);
        task_check_done(m, t);
    }
}

struct parts_json {
    json_t *list;
};

static int add_assignment(const struct store_assignment *a, void *arg)
{
    struct parts_json *pj = arg;
    json_array_append_new(pj->list,
                          json_pack("{s:I,s:s,s:s,s:I,s:I,s:f,s:I,s:s}", "id", (json_int_t)a->id,
                                    "worker_id", a->worker_id, "state", part_state_name(a->state),
                                    "connections", (json_int_t)a->connections, "requests",
                                    (json_int_t)a->requests, "rate",
                                    dist_rate_from_milli((uint64_t)a->rate_milli), "start_at_us",
                                    (json_int_t)a->start_at_us, "reassigned_from",
                                    a->reassigned_from));
    return 0;
}

/* Copies the summary keys of a run document into out. */
static void add_summary(json_t *out, const json_t *doc)
{
    static const char *const keys[] = {"totals", "latency_ms", "verdict", "thresholds", "workers",
                                       "regions", "start_spread_ms", "nodes", NULL};
    for (int i = 0; keys[i]; i++) {
        json_t *v = json_object_get(doc, keys[i]);
        if (v)
            json_object_set(out, keys[i], v);
    }
}

static json_t *task_json(struct dist_master *m, const struct store_task *st, bool full)
{
    struct m_task *t = task_find(m, st->id);
    json_t *cfg = json_loads(st->config, 0, NULL);
    json_t *url = json_object_get(cfg, "url");
    if (!url) {
        json_t *urls = json_object_get(cfg, "urls");
        url = json_array_get(urls, 0);
    }
    json_t *j = json_pack("{s:s,s:s,s:I,s:I,s:I,s:s,s:O*}", "task_id", st->id, "state",
                          store_task_state_name(t ? t->state : st->state), "created_us",
                          (json_int_t)st->created_us, "started_us", (json_int_t)st->started_us,
                          "ended_us", (json_int_t)st->ended_us, "message",
                          t && t->message ? t->message : st->message ? st->message : "", "url",
                          url);
    if (full && j) {
        json_object_set(j, "config", cfg);
        struct parts_json pj = {json_array()};
        store_assignment_list(m->st, st->id, add_assignment, &pj);
        json_object_set_new(j, "assignments", pj.list);
        json_t *doc = NULL;
        int passed = 0;
        if (t)
            doc = task_document(t, false, &passed);
        else if (st->result)
            doc = json_loads(st->result, 0, NULL);
        if (doc) {
            add_summary(j, doc);
            json_t *totals = json_object_get(doc, "totals");
            uint64_t done = (uint64_t)json_integer_value(json_object_get(totals, "requests"));
            json_t *cfgreq = json_object_get(cfg, "requests");
            json_t *progress = json_pack("{s:I,s:f}", "requests", (json_int_t)done,
                                         "elapsed_s",
                                         st->started_us ? (double)((st->ended_us ? st->ended_us
                                                                                 : mtime_wall_us()) -
                                                                   st->started_us) / 1e6
                                                        : 0.0);
            if (json_is_integer(cfgreq) && json_integer_value(cfgreq) > 0)
                json_object_set(progress, "of", cfgreq);
            json_object_set_new(j, "progress", progress);
            json_decref(doc);
        }
    }
    json_decref(cfg);
    return j;
}

struct task_list {
    struct dist_master *m;
    json_t *list;
};

static int add_task(const struct store_task *st, void *arg)
{
    struct task_list *tl = arg;
    json_t *j = task_json(tl->m, st, false);
    if (j)
        json_array_append_new(tl->list, j);
    return 0;
}

static void on_task_list(struct http_request *req, void *data)
{
    struct dist_master *m = data;
    if (!allowed(m, req, false))
        return;
    struct task_list tl = {m, json_array()};
    if (store_task_list(m->st, 1000, add_task, &tl) < 0) {
        json_decref(tl.list);
        respond_store_error(m, req);
        return;
    }
    http_respond_json(req, 200, json_pack("{s:o}", "tasks", tl.list));
}

static void on_task_get(struct http_request *req, void *data)
{
    struct dist_master *m = data;
    if (!allowed(m, req, false))
        return;
    struct store_task st = {0};
    if (!route_task(m, req, &st))
        return;
    json_t *j = task_json(m, &st, true);
    store_task_clear(&st);
    if (j)
        http_respond_json(req, 200, j);
    else
        http_respond_error(req, 500, "out of memory");
}

static void on_task_report(struct http_request *req, void *data)
{
    struct dist_master *m = data;
    if (!allowed(m, req, false))
        return;
    char format[16] = "json";
    if (http_request_query(req, "format", format, sizeof format) == 0 ||
        !report_format_known(format)) {
        http_respond_error(req, 400, "format: expected json, md, html, junit, csv or text");
        return;
    }
    struct store_task st = {0};
    if (!route_task(m, req, &st))
        return;
    struct m_task *t = task_find(m, st.id);
    int passed = 0;
    json_t *doc = t ? task_document(t, false, &passed) : st.result ? json_loads(st.result, 0, NULL) : NULL;
    store_task_clear(&st);
    if (!doc) {
        http_respond_error(req, 409, "the task has no report yet (it has not started)");
        return;
    }
    char *text = NULL;
    size_t len = 0;
    char err[ERR_SIZE];
    FILE *f = open_memstream(&text, &len);
    int rc = f ? report_render(doc, format, f, err, sizeof err) : -1;
    if (f)
        fclose(f);
    json_decref(doc);
    if (rc < 0) {
        free(text);
        http_respond_error(req, 500, f ? err : "out of memory");
        return;
    }
    const char *type = strcmp(format, "json") == 0    ? "application/json"
                       : strcmp(format, "html") == 0  ? "text/html; charset=utf-8"
                       : strcmp(format, "junit") == 0 ? "application/xml"
                       : strcmp(format, "csv") == 0   ? "text/csv"
                       : strcmp(format, "md") == 0    ? "text/markdown; charset=utf-8"
                                                      : "text/plain; charset=utf-8";
    http_respond(req, 200, type, text, len);
    free(text);
}

/* ---- GET /metrics (rendered by master_metrics.c) ---- */

/* A worker's state as GET /api/v1/workers names it. */
static const char *worker_state_shown(const struct m_worker *w)
{
    if (w->registered)
        return worker_state_name(w->state);
    return w->state == STORE_WORKER_LOST ? "lost" : "disconnected";
}

static void on_metrics(struct http_request *req, void *data)
{
    struct dist_master *m = data;
    if (!allowed(m, req, false))
        return;
    struct master_metrics_view v = {.ended = &m->ended};
    size_t live = 0;
    for (struct m_task *t = m->tasks; t; t = t->next)
        live++;
    struct master_metrics_worker_view *workers = calloc(m->worker_count + 1, sizeof *workers);
    struct master_metrics_task *tasks = calloc(live + 1, sizeof *tasks);
    struct buf b = {0};
    if (!workers || !tasks)
        goto oom;
    if (store_task_count_states(m->st, v.tasks) < 0) {
        respond_store_error(m, req);
        goto out;
    }
    for (struct m_worker *w = m->workers; w && v.worker_count < m->worker_count; w = w->next)
        workers[v.worker_count++] = (struct master_metrics_worker_view){
            .id = w->id, .region = w->region, .state = worker_state_shown(w), .cpu = w->cpu,
            .numbers = &w->metrics};
    for (struct m_task *t = m->tasks; t; t = t->next)
        master_metrics_task_of(&tasks[v.task_live_count++], t->id,
                               t->state == STORE_TASK_RUNNING, t->merge);
    v.workers = workers;
    v.tasks_live = tasks;
    if (master_metrics_render(&v, &b) < 0)
        goto oom;
    http_respond(req, 200, PROM_CONTENT_TYPE, b.data, b.len);
    goto out;
oom:
    http_respond_error(req, 500, "out of memory");
out:
    buf_free(&b);
    free(tasks);
    free(workers);
}

/* ---- REST API: workers, details ---- */

/* The workers as GET /api/v1/workers lists them; with silent_s unless for_events (it changes
 * at every look, the event stream sends changes only). NULL when out of memory. */
static json_t *workers_json(struct dist_master *m, bool for_events)
{
    json_t *list = json_array();
    uint64_t now = mtime_now_ms();
    int64_t wall = mtime_wall_us();
    for (struct m_worker *w = m->workers; w && list; w = w->next) {
        json_t *tasks = json_array();
        for (struct m_task *t = m->tasks; t; t = t->next)
            for (size_t i = 0; i < t->part_count; i++)
                if (strcmp(t->parts[i].worker, w->id) == 0 && part_open(&t->parts[i])) {
                    json_array_append_new(tasks, json_string(t->id));
                    break;
                }
        const char *state = worker_state_shown(w);
        /* requests/s and failures/s: its latest second, while that is recent */
        bool recent = w->rate_second_us && wall - w->rate_second_us <= RATE_STALE_US;
        json_t *j = json_pack("{s:s,s:s,s:i,s:s,s:I,s:s,s:f,s:I,s:I,s:o,s:o}", "id", w->id,
                              "region", w->region, "cores", (int)w->cores, "version", w->version,
                              "pid", (json_int_t)w->pid, "state", state, "cpu", w->cpu, "qps",
                              (json_int_t)(recent ? w->rate_requests : 0), "errors_per_s",
                              (json_int_t)(recent ? w->rate_failures : 0), "qps_second_us",
                              recent ? json_integer(w->rate_second_us) : json_null(), "tasks",
                              tasks);
        if (j && !for_events)
            json_object_set_new(j, "silent_s", json_real((double)(now - w->last_seen_ms) / 1000));
        if (!j || json_array_append_new(list, j) < 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

static void on_workers(struct http_request *req, void *data)
{
    struct dist_master *m = data;
    if (!allowed(m, req, false))
        return;
    json_t *list = workers_json(m, false);
    if (!list) {
        http_respond_error(req, 500, "out of memory");
        return;
    }
    http_respond_json(req, 200, json_pack("{s:o}", "workers", list));
}

/* ---- the dashboard's event stream ---- */

/* What a state event says (docs/api-reference.md): the workers, and the running tasks with
 * their requests so far. NULL when out of memory. */
static json_t *web_state(void *data)
{
    struct dist_master *m = data;
    json_t *tasks = json_array();
    for (struct m_task *t = m->tasks; t && tasks; t = t->next)
        if (json_array_append_new(tasks, json_pack("{s:s,s:s,s:I,s:I}", "id", t->id, "state",
                                                   store_task_state_name(t->state), "start_us",
                                                   (json_int_t)t->start_us, "requests",
                                                   (json_int_t)dist_merge_requests(t->merge))) < 0) {
            json_decref(tasks);
            tasks = NULL;
        }
    json_t *workers = workers_json(m, true);
    if (!tasks || !workers) {
        json_decref(tasks);
        json_decref(workers);
        return NULL;
    }
    return json_pack("{s:o,s:o}", "workers", workers, "tasks", tasks);
}

/* GET /api/v1/events: text/event-stream of state events (master_web.h). */
static void on_events(struct http_request *req, void *data)
{
    struct dist_master *m = data;
    if (allowed(m, req, false))
        master_web_stream(m->web, req);
}

static int add_detail(const struct store_detail *d, void *arg)
{
    json_array_append_new(arg, json_pack("{s:I,s:s,s:s,s:I,s:b,s:i,s:s,s:f,s:s,s:s}", "id",
                                         (json_int_t)d->id, "task_id", d->task_id, "slave_id",
                                         d->worker_id, "at_us", (json_int_t)d->at_us, "ok", d->ok,
                                         "status", d->status, "class", d->class, "latency_ms",
                                         (double)d->latency_us / 1000, "node", d->node, "error",
                                         d->error));
    return 0;
}

static void on_details(struct http_request *req, void *data)
{
    struct dist_master *m = data;
    if (!allowed(m, req, false))
        return;
    char worker[DIST_ID_MAX] = "", task[DIST_ID_MAX] = "", status[16] = "all", num[32];
    struct store_detail_query q = {.limit = 100};
    if (http_request_query(req, "slave_id", worker, sizeof worker) < 0)
        http_request_query(req, "worker_id", worker, sizeof worker);
    http_request_query(req, "task_id", task, sizeof task);
    http_request_query(req, "status", status, sizeof status);
    q.task_id = task[0] ? task : NULL;
    q.worker_id = worker[0] ? worker : NULL;
    if (strcmp(status, "all") == 0)
        q.filter = STORE_DETAIL_ALL;
    else if (strcmp(status, "success") == 0)
        q.filter = STORE_DETAIL_SUCCESS;
    else if (strcmp(status, "failed") == 0)
        q.filter = STORE_DETAIL_FAILED;
    else {
        http_respond_error(req, 400, "status: expected all, success or failed");
        return;
    }
    const char *names[] = {"offset", "limit"};
    int64_t *vals[] = {&q.offset, &q.limit};
    for (int i = 0; i < 2; i++) {
        if (http_request_query(req, names[i], num, sizeof num) < 0)
            continue;
        char *end;
        long long v = strtoll(num, &end, 10);
        if (end == num || *end || v < (i ? 1 : 0) || v > (i ? 10000 : (1LL << 53))) {
            http_respond_error(req, 400, i ? "limit: expected a whole number from 1 to 10000"
                                           : "offset: expected a whole number from 0");
            return;
        }
        *vals[i] = v;
    }
    json_t *list = json_array();
    int64_t total = store_detail_count(m->st, &q);
    if (total < 0 || store_detail_list(m->st, &q, add_detail, list) < 0) {
        json_decref(list);
        respond_store_error(m, req);
        return;
    }
    http_respond_json(req, 200, json_pack("{s:I,s:I,s:I,s:o}", "total", (json_int_t)total, "offset",
                                          (json_int_t)q.offset, "limit", (json_int_t)q.limit,
                                          "details", list));
}

/* POST /api/v1/workers/{id}/details {"task_id", "details": [{at_us, ok, status, class,
 * latency_us, node, error}]}: a worker's bounded sample of single requests of a task it was
 * given a part of. */
static void on_details_post(struct http_request *req, void *data)
{
    struct dist_master *m = data;
    if (!allowed(m, req, true))
        return;
    char err[ERR_SIZE];
    struct dist_details d;
    if (dist_details_parse(&d, req->body, req->body_len, err, sizeof err) < 0) {
        http_respond_error(req, 400, err);
        return;
    }
    struct m_worker *w = protocol_worker(m, req, req->params[0], NULL);
    if (!w) {
        dist_details_free(&d);
        return;
    }
    struct store_task st = {0};
    int found = store_task_get(m->st, d.task_id, &st);
    store_task_clear(&st);
    int assigned = found > 0 ? worker_assigned(m, d.task_id, w->id, UINT64_MAX) : 0;
    if (found < 0 || assigned < 0) {
        dist_details_free(&d);
        respond_store_error(m, req);
        return;
    }
    if (found == 0 || assigned == 0) {
        snprintf(err, sizeof err, found == 0 ? "task_id: no task '%s'"
                                             : "task_id: worker %s has no assignment in task %s",
                 found == 0 ? d.task_id : w->id, d.task_id);
        http_respond_error(req, found == 0 ? 404 : 400, err);
        dist_details_free(&d);
        return;
    }
    struct store_detail *rows = d.count ? calloc(d.count, sizeof *rows) : NULL;
    if (d.count && !rows) {
        dist_details_free(&d);
        http_respond_error(req, 500, "out of memory");
        return;
    }
    for (size_t i = 0; i < d.count; i++) {
        const struct dist_detail *x = &d.list[i];
        rows[i] = (struct store_detail){.task_id = d.task_id, .worker_id = w->id,
                                        .at_us = x->at_us, .ok = x->ok, .status = x->status,
                                        .class = x->class, .latency_us = x->latency_us,
                                        .node = x->node, .error = x->error};
    }
    int kept = store_detail_put_many(m->st, rows, d.count, m->opt.detail_rows);
    free(rows);
    dist_details_free(&d);
    if (kept < 0) {
        respond_store_error(m, req);
        return;
    }
    http_respond_json(req, 200, json_pack("{s:I}", "kept", (json_int_t)kept));
}

/* ---- starting: the tasks that were running ---- */

static int load_part(const struct store_assignment *a, void *arg)
{
    return part_add(arg, a) ? 0 : -1;
}

struct recover {
    struct dist_master *m;
    struct m_task *t;
    char err[ERR_SIZE];
};

static int merge_stored(const struct store_interval *iv, void *arg)
{
    struct recover *r = arg;
    struct dist_master *m = r->m;
    json_t *j = json_loads(iv->body, 0, NULL);
    if (!j || dist_interval_from_json(&m->scratch, j, NULL, r->err, sizeof r->err) < 0) {
        log_warn("task %s: a stored interval does not read back: %s", r->t->id, r->err);
        json_decref(j);
        return 0;
    }
    json_decref(j);
    struct m_part *p = part_of_seq(r->t, iv->worker_id, (uint64_t)iv->seq);
    if (!p)
        return 0;
    snprintf(m->scratch.worker_id, sizeof m->scratch.worker_id, "%.63s", p->name);
    if (dist_merge_add(r->t->merge, &m->scratch, r->err, sizeof r->err) < 0)
        log_warn("task %s: interval not merged: %s", r->t->id, r->err);
    if (iv->final)
        part_final(r->t, p, &m->scratch);
    if (iv->final && p->state == STORE_ASSIGNMENT_RUNNING) {
        p->state = STORE_ASSIGNMENT_DONE;
        store_assignment_set_state(m->st, p->id, STORE_ASSIGNMENT_DONE);
    }
    return 0;
}

struct running_ids {
    char ids[256][STORE_ID_SIZE];
    size_t n;
};

static int note_running(const struct store_task *st, void *arg)
{
    struct running_ids *r = arg;
    if (st->state == STORE_TASK_RUNNING && r->n < 256)
        snprintf(r->ids[r->n++], STORE_ID_SIZE, "%s", st->id);
    return 0;
}

static int load_worker(const struct store_worker *sw, void *arg)
{
    struct dist_master *m = arg;
    struct m_worker *w = worker_add(m, sw->id);
    if (!w)
        return -1;
    snprintf(w->region, sizeof w->region, "%s", sw->region);
    snprintf(w->version, sizeof w->version, "%s", sw->version);
    w->cores = (unsigned)sw->cores;
    w->pid = sw->pid;
    w->state = sw->state == STORE_WORKER_LOST ? STORE_WORKER_LOST : STORE_WORKER_ACTIVE;
    w->registered = false; /* its session ended with the last master: it registers again */
    return 0;
}

static int recover(struct dist_master *m, char *err, size_t errlen)
{
    if (store_worker_list(m->st, load_worker, m) < 0)
        return err_set(err, errlen, "%s", store_error(m->st));
    struct running_ids *r = calloc(1, sizeof *r);
    if (!r || store_task_list(m->st, 0, note_running, r) < 0) {
        free(r);
        return err_set(err, errlen, "%s", r ? store_error(m->st) : "out of memory");
    }
    for (size_t i = 0; i < r->n; i++) {
        struct store_task st = {0};
        if (store_task_get(m->st, r->ids[i], &st) <= 0)
            continue;
        struct m_task *t = calloc(1, sizeof *t);
        char msg[ERR_SIZE] = "the stored config is not JSON";
        if (!t)
            break;
        snprintf(t->id, sizeof t->id, "%s", st.id);
        t->state = STORE_TASK_RUNNING;
        dist_task_init(&t->task);
        t->config = json_loads(st.config, 0, NULL);
        if (st.message && st.message[0])
            t->message = strdup(st.message);
        store_task_clear(&st);
        if (!t->config || dist_task_from_config(&t->task, t->config, msg, sizeof msg) < 0 ||
            store_assignment_list(m->st, t->id, load_part, t) < 0) {
            log_error("task %s cannot be resumed: %s", t->id, msg);
            task_free(t);
            continue;
        }
        t->start_us = t->part_count ? t->parts[0].start_at_us : mtime_wall_us();
        t->merge = dist_merge_new(t->id, (uint64_t)t->start_us);
        if (!t->merge) {
            task_free(t);
            break;
        }
        for (size_t k = 0; k < t->part_count; k++) {
            merge_declare(m, t, &t->parts[k]);
            if (t->parts[k].state == STORE_ASSIGNMENT_LOST ||
                t->parts[k].state == STORE_ASSIGNMENT_REASSIGNED)
                dist_merge_worker_lost(t->merge, t->parts[k].name);
        }
        struct recover rc = {.m = m, .t = t};
        store_interval_list(m->st, t->id, merge_stored, &rc);
        t->next = m->tasks;
        m->tasks = t;
        log_info("task %s resumed: %zu assignments, %" PRIu64 " requests so far", t->id,
                 t->part_count, dist_merge_requests(t->merge));
    }
    free(r);
    /* a resumed task whose parts all ended while the master was away ends now */
    struct m_task *next;
    for (struct m_task *t = m->tasks; t; t = next) {
        next = t->next;
        task_check_done(m, t);
    }
    return 0;
}

/* ---- the server ---- */

int dist_master_start(struct dist_master **out, uv_loop_t *loop,
                      const struct dist_master_options *o, char *err, size_t errlen)
{
    *out = NULL;
    struct dist_master *m = calloc(1, sizeof *m);
    if (!m) {
        err_set(err, errlen, "out of memory");
        return DIST_MASTER_ERUNTIME;
    }
    m->opt = *o;
    m->loop = loop;
    m->posts_tail = &m->posts;
    if (o->token)
        snprintf(m->token, sizeof m->token, "%s", o->token);
    if (dist_interval_init(&m->scratch) < 0) {
        free(m);
        err_set(err, errlen, "out of memory");
        return DIST_MASTER_ERUNTIME;
    }
    int rc = DIST_MASTER_ERUNTIME;
    if (store_open(o->db_path, &m->st, err, errlen) < 0) {
        rc = DIST_MASTER_EINPUT;
        goto fail;
    }
    if (recover(m, err, errlen) < 0)
        goto fail;
    struct http_server_limits lim;
    http_server_limits_default(&lim);
    lim.max_body_bytes = BODY_MAX;
    lim.idle_timeout_ms = 120000;
    m->srv = http_server_new(loop, &lim);
    m->web = m->srv ? master_web_new(loop, web_state, m) : NULL;
    if (!m->web || master_web_routes(m->web, m->srv) < 0) {
        err_set(err, errlen, "out of memory");
        goto fail;
    }
    static const struct {
        const char *method, *pattern;
        http_handler_fn fn;
    } routes[] = {
        {"GET", "/metrics", on_metrics},
        {"POST", "/api/v1/tasks", on_task_create},
        {"GET", "/api/v1/tasks", on_task_list},
        {"GET", "/api/v1/tasks/{id}", on_task_get},
        {"POST", "/api/v1/tasks/{id}/start", on_task_start},
        {"POST", "/api/v1/tasks/{id}/cancel", on_task_cancel},
        {"GET", "/api/v1/tasks/{id}/report", on_task_report},
        {"GET", "/api/v1/workers", on_workers},
        {"POST", "/api/v1/workers/register", on_register},
        {"GET", "/api/v1/workers/{id}/assignment", on_assignment},
        {"POST", "/api/v1/workers/{id}/intervals", on_intervals},
        {"POST", "/api/v1/workers/{id}/heartbeat", on_heartbeat},
        {"POST", "/api/v1/workers/{id}/details", on_details_post},
        {"GET", "/api/details", on_details},
        {"GET", "/api/v1/events", on_events},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (http_server_route(m->srv, routes[i].method, routes[i].pattern, routes[i].fn, m) < 0) {
            err_set(err, errlen, "out of memory");
            goto fail;
        }
    int lrc = http_server_listen(m->srv, o->host, o->port, err, errlen);
    if (lrc < 0)
        goto fail;
    uv_timer_init(loop, &m->tick);
    m->tick.data = m;
    uv_timer_start(&m->tick, on_tick, TICK_MS, TICK_MS);
    uv_check_init(loop, &m->group);
    m->group.data = m;
    uv_check_start(&m->group, on_group);
    *out = m;
    return 0;
fail:
    if (m->srv) {
        http_server_free(m->srv);
        m->srv = NULL;
    }
    dist_master_free(m);
    return rc;
}

int dist_master_port(const struct dist_master *m)
{
    return http_server_port(m->srv);
}

static void stopped_one(struct dist_master *m)
{
    if (--m->closing == 0 && m->done)
        m->done(m->done_data);
}

static void on_server_down(void *data)
{
    stopped_one(data);
}

static void on_tick_closed(uv_handle_t *h)
{
    stopped_one(h->data);
}

void dist_master_stop(struct dist_master *m, void (*done)(void *data), void *data)
{
    if (m->stopping)
        return;
    m->stopping = true;
    m->done = done;
    m->done_data = data;
    for (struct m_worker *w = m->workers; w; w = w->next)
        if (w->poll) {
            struct http_request *req = w->poll;
            w->poll = NULL;
            http_respond_json(req, 200, idle_answer());
        }
    on_group(&m->group); /* the posts read in this turn are stored and answered first */
    m->closing = 4;
    master_web_stop(m->web, on_server_down, m); /* its streams end before the server's */
    uv_timer_stop(&m->tick);
    uv_close((uv_handle_t *)&m->tick, on_tick_closed);
    uv_check_stop(&m->group);
    uv_close((uv_handle_t *)&m->group, on_tick_closed);
    http_server_shutdown(m->srv, on_server_down, m);
}

void dist_master_free(struct dist_master *m)
{
    if (!m)
        return;
    if (m->srv)
        http_server_free(m->srv);
    master_web_free(m->web);
    while (m->posts) { /* a master freed without stopping: nobody is answered */
        struct m_post *p = m->posts;
        m->posts = p->next;
        json_decref(p->list);
        free(p);
    }
    while (m->tasks) {
        struct m_task *t = m->tasks;
        m->tasks = t->next;
        task_free(t);
    }
    while (m->workers) {
        struct m_worker *w = m->workers;
        m->workers = w->next;
        free(w);
    }
    dist_interval_free(&m->scratch);
    store_close(m->st);
    free(m);
}
