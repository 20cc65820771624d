/* engine.c -- the load engine (see engine.h). */
#include "load/engine.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <uv.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mtime.h"
#include "http/client.h"

#define NS_PER_S      1000000000ull
#define DRAIN_MAX_MS  2000 /* after the end, answers in flight get at most this long */
#define BACKLOG_SECS  10   /* open model: sends may wait this many seconds' worth */

struct load_worker;

/* A connection slot: one virtual user. It keeps one client per target it has used, so that
 * a request can go to any target and still reuse a kept-alive connection. */
struct load_conn {
    struct load_worker *w;
    struct http_client **clients; /* [target_count], created on first use */
    size_t target;                /* of the request in flight */
    uint64_t intended_ns, sent_ns;
    uint64_t start_at_ns; /* closed model with ramp-up: when this slot starts */
    bool busy, started;
    struct load_conn *next_idle;
};

struct load_engine {
    const struct load_plan *plan;
    struct load_result *result;
    pthread_mutex_t lock; /* timeline and totals; taken once per thread per second */
    struct load_worker *workers;
    unsigned worker_count;
    struct balancer_schedule *schedule; /* the targets, shared by the threads' balancers */
    unsigned workers_done;
    uint64_t start_ns;
    atomic_bool stop;
    atomic_bool interrupted; /* the stop came from plan->stop, not the breaker */
    atomic_uint_fast64_t failures;
    uint64_t origin_ns; /* the records' origin */
    uv_loop_t loop;
    uv_timer_t tick;
    uv_poll_t stop_poll; /* plan->stop's eventfd */
    bool stop_poll_open;
    uv_async_t done_async;
    uint64_t planned_end_ns; /* open model: when the schedule ends (0: unknown) */
    load_progress_fn progress;
    void *progress_data;
    size_t shown;                            /* seconds shown by the progress callback */
    uint64_t shown_requests, shown_failures; /* cumulative over those seconds */
    uint64_t shown_node_requests[LOAD_MAX_NODES];
    char shown_node_names[LOAD_MAX_NODES][LOAD_NODE_NAME]; /* copied under the lock */
    size_t timeline_cap;
};

struct load_worker {
    struct load_engine *eng;
    unsigned id;
    pthread_t thread;
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t tick, pace, deadline; /* pace: the closed model's ramp-up */
    int pace_fd;                     /* open model: a timerfd armed at the next send, to the ns */
    uv_poll_t pace_poll;
    bool pace_poll_open;
    struct load_conn *conns;
    unsigned conn_count, conn_cap;
    struct load_conn *idle;
    struct balancer lb;
    struct load_stats stats;
    struct load_interval interval;
    int *target_node; /* per target: the node index its answers last named, or -1 */
    bool *target_mixed; /* per target: its answers named several nodes (a balancer) */
    struct http_client_opts client_opts;
    uint64_t quota;  /* with has_quota: requests (or open-model sends) this thread makes */
    bool has_quota;
    uint64_t issued; /* closed model: requests sent; open model: schedule slots used */
    uint64_t in_flight;
    uint64_t *backlog; /* open model: intended times waiting for a free connection */
    size_t backlog_cap, backlog_head, backlog_len;
    uint64_t backlog_max;
    size_t ticks;
    uint64_t last_answer_ns, stop_ns;
    bool stopping, finished;
    struct load_windows win; /* by this thread's node numbering */
    struct load_record *records; /* by this thread's node numbering until merged */
    size_t record_count, record_cap, record_max;
    bool records_truncated;
    struct load_record *fail_kept, *ok_kept; /* plan->detail_*: allocated at the start */
    size_t fail_count, fail_cap, ok_count, ok_cap;
    uint64_t fail_seen, ok_seen, sample_state; /* sample_state: the reservoir's xorshift */
};

/* ---- pure helpers ---- */

uint64_t load_schedule_ns(uint64_t g, double rate, uint64_t ramp_ns)
{
    double ramp_s = (double)ramp_ns / 1e9;
    double ramp_count = rate * ramp_s / 2; /* requests sent during the ramp: area of a triangle */
    double t;
    if (ramp_ns > 0 && (double)g < ramp_count)
        t = sqrt(2.0 * ramp_s * (double)g / rate);
    else
        t = ramp_s + ((double)g - (ramp_ns > 0 ? ramp_count : 0)) / rate;
    return (uint64_t)(t * 1e9);
}

uint64_t load_schedule_count(double rate, uint64_t ramp_ns, uint64_t duration_ns)
{
    if (rate <= 0 || duration_ns == 0)
        return 0;
    uint64_t lo = 0, hi = 1; /* the first g whose send is at or after the end */
    while (load_schedule_ns(hi, rate, ramp_ns) < duration_ns && hi < (1ULL << 62))
        hi *= 2;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (load_schedule_ns(mid, rate, ramp_ns) < duration_ns)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

enum counter_class load_classify(int client_error, int status)
{
    switch (client_error) {
    case HTTP_CLIENT_OK:
        break;
    case HTTP_CLIENT_ECONNECT:
    case HTTP_CLIENT_ETLS:
        return COUNTER_CONNECT;
    case HTTP_CLIENT_ETIMEOUT:
        return COUNTER_TIMEOUT;
    case HTTP_CLIENT_EPROTOCOL:
        return COUNTER_READ;
    case HTTP_CLIENT_EWRITE:
        return COUNTER_WRITE;
    default:
        return COUNTER_RESET;
    }
    if (status >= 500)
        return COUNTER_STATUS_5XX;
    if (status >= 400)
        return COUNTER_STATUS_4XX;
    return COUNTER_OK;
}

char *load_format_request(const struct url *url, const char *method, char *const headers[],
                          size_t header_count, const char *body, size_t body_len, bool keepalive,
                          size_t *len)
{
    struct buf b = {0};
    bool has_host = false, has_agent = false;
    for (size_t i = 0; i < header_count; i++) {
        has_host |= strncasecmp(headers[i], "Host:", 5) == 0;
        has_agent |= strncasecmp(headers[i], "User-Agent:", 11) == 0;
    }
    buf_printf(&b, "%s %s HTTP/1.1\r\n", method, url->path);
    if (!has_host)
        buf_printf(&b, "Host: %s\r\n", url->authority);
    if (!has_agent)
        buf_printf(&b, "User-Agent: herd/%s\r\n", HERD_VERSION);
    for (size_t i = 0; i < header_count; i++)
        buf_printf(&b, "%s\r\n", headers[i]);
    if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
        strcmp(method, "PATCH") == 0)
        buf_printf(&b, "Content-Length: %zu\r\n", body ? body_len : 0);
    if (!keepalive)
        buf_append_str(&b, "Connection: close\r\n");
    buf_append(&b, "\r\n", 2);
    if (body)
        buf_append(&b, body, body_len);
    if (!b.data)
        return NULL;
    *len = b.len;
    return b.data;
}

/* ---- per-second merging (engine side, under the lock) ---- */

static struct load_second *second_entry(struct load_engine *eng, size_t second)
{
    struct load_result *r = eng->result;
    if (second > eng->timeline_cap) {
        size_t cap = eng->timeline_cap ? eng->timeline_cap * 2 : 64;
        while (cap < second)
            cap *= 2;
        struct load_second *t = realloc(r->timeline, cap * sizeof *t);
        if (!t)
            return NULL;
        memset(t + eng->timeline_cap, 0, (cap - eng->timeline_cap) * sizeof *t);
        r->timeline = t;
        eng->timeline_cap = cap;
    }
    if (second > r->seconds)
        r->seconds = second;
    return &r->timeline[second - 1];
}

static void second_close(struct load_second *e)
{
    if (!e->open_hist)
        return;
    e->p50_us = hist_percentile(e->open_hist, 50);
    e->p90_us = hist_percentile(e->open_hist, 90);
    e->p99_us = hist_percentile(e->open_hist, 99);
    e->max_us = e->open_hist->total ? e->open_hist->max : 0;
    e->hist = hist_encode(e->open_hist);
    hist_free(e->open_hist);
    e->open_hist = NULL;
}

/* Hands a worker's interval for `second` to the timeline. */
static void engine_take_interval(struct load_engine *eng, struct load_worker *w, size_t second)
{
    struct load_interval *iv = &w->interval;
    pthread_mutex_lock(&eng->lock);
    struct load_second *e = second_entry(eng, second);
    if (e && !e->hist && (e->open_hist || (e->open_hist = hist_new()))) {
        counters_merge(&e->counters, &iv->counters);
        hist_merge(e->open_hist, iv->latency);
        for (size_t i = 0; i < w->stats.node_count; i++) {
            if (!iv->node_requests[i])
                continue;
            int g = load_stats_node(&eng->result->total, w->stats.nodes[i].name);
            if (g >= 0) {
                e->node_requests[g] += iv->node_requests[i];
                e->node_failures[g] += iv->node_failures[i];
            }
        }
        if (++e->reports == eng->worker_count)
            second_close(e);
    }
    pthread_mutex_unlock(&eng->lock);
    load_interval_reset(iv);
}

/* ---- the worker's requests ---- */

static void worker_stop_issuing(struct load_worker *w);
static void worker_check_done(struct load_worker *w);
static void conn_issue(struct load_conn *c, uint64_t intended_ns);

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

/* The node a request to target ended on: the one its answer names; without an answer (or a
 * name), the node this target's answers always named, else the target itself (a balancer in
 * front of several nodes: which one held the request is not known). */
static int node_of_answer(struct load_worker *w, size_t target, const char *name)
{
    int cached = w->target_node[target];
    if (name[0]) {
        if (cached < 0 || strcmp(w->stats.nodes[cached].name, name) != 0) {
            w->target_mixed[target] |= cached >= 0;
            cached = w->target_node[target] = load_stats_node(&w->stats, name);
        }
        return cached;
    }
    if (cached >= 0 && !w->target_mixed[target])
        return cached;
    return load_stats_node(&w->stats, w->eng->plan->targets[target].name);
}

static void engine_request_stop(struct load_engine *eng)
{
    atomic_store(&eng->stop, true);
    for (unsigned i = 0; i < eng->worker_count; i++)
        uv_async_send(&eng->workers[i].wake);
}

/* ---- fine windows ---- */

static int windows_init(struct load_windows *lw, uint64_t window_us, size_t count)
{
    memset(lw, 0, sizeof *lw);
    lw->window_us = window_us;
    lw->requests = calloc(count, sizeof *lw->requests);
    lw->failures = calloc(count, sizeof *lw->failures);
    if (!lw->requests || !lw->failures) return -1;
    lw->count = count;
    return 0;
}

static void windows_free(struct load_windows *lw)
{
    free(lw->requests);
    free(lw->failures);
    for (size_t i = 0; i < LOAD_MAX_NODES; i++) free(lw->node_ok[i]);
    memset(lw, 0, sizeof *lw);
}

/* Windows for the run: its duration and 10 s of drain (or 10 minutes for a request count),
 * at most 100,000. */
static size_t windows_needed(const struct load_plan *plan)
{
    uint64_t span = (plan->duration_us ? plan->duration_us : 600000000ULL) + 10000000ULL;
    uint64_t n = span / plan->window_us + 1;
    return n < 100000 ? (size_t)n : 100000;
}

static size_t window_of(const struct load_windows *lw, uint64_t ns, uint64_t start_ns)
{
    size_t i = ns > start_ns ? (size_t)((ns - start_ns) / 1000 / lw->window_us) : 0;
    return i < lw->count ? i : lw->count - 1;
}

static void windows_record(struct load_worker *w, int node, const struct load_sample *s,
                           uint64_t now)
{
    struct load_windows *lw = &w->win;
    size_t i = window_of(lw, now, w->eng->start_ns);
    lw->requests[i]++;
    if (s->cls != COUNTER_OK) {
        lw->failures[i]++;
        return;
    }
    if (node < 0 || node >= LOAD_MAX_NODES) return;
    if (!lw->node_ok[node] && !(lw->node_ok[node] = calloc(lw->count, sizeof(uint32_t)))) return;
    lw->node_ok[node][i]++;
}

/* Adds a thread's windows into the result's (caller holds the engine lock; the thread's
 * stats are merged already, so its node names are in the result). */
static void windows_merge(struct load_result *r, struct load_worker *w)
{
    struct load_windows *dst = &r->windows, *src = &w->win;
    for (size_t i = 0; i < src->count && i < dst->count; i++) {
        dst->requests[i] += src->requests[i];
        dst->failures[i] += src->failures[i];
    }
    for (size_t n = 0; n < w->stats.node_count; n++) {
        if (!src->node_ok[n]) continue;
        size_t k = 0;
        while (k < r->total.node_count && strcmp(r->total.nodes[k].name, w->stats.nodes[n].name) != 0)
            k++;
        if (k == r->total.node_count || k >= LOAD_MAX_NODES) continue;
        if (!dst->node_ok[k] && !(dst->node_ok[k] = calloc(dst->count, sizeof(uint32_t)))) continue;
        for (size_t i = 0; i < src->count && i < dst->count; i++)
            dst->node_ok[k][i] += src->node_ok[n][i];
    }
}

/* Keeps rec among the details (plan->detail_*): every failure while there is room, a
 * reservoir sample of the successes. No allocation, a few instructions per request. */
static void detail_keep(struct load_worker *w, const struct load_record *rec)
{
    if (rec->cls != COUNTER_OK) {
        w->fail_seen++;
        if (w->fail_count < w->fail_cap)
            w->fail_kept[w->fail_count++] = *rec;
        return;
    }
    uint64_t n = w->ok_seen++;
    if (!w->ok_cap)
        return;
    if (w->ok_count < w->ok_cap) {
        w->ok_kept[w->ok_count++] = *rec;
        return;
    }
    uint64_t x = w->sample_state; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    w->sample_state = x;
    uint64_t j = x % (n + 1);
    if (j < w->ok_cap)
        w->ok_kept[j] = *rec;
}

/* Keeps the record of one ended request (with plan->max_records, plan->detail_*). */
static void record_keep(struct load_worker *w, int node, uint8_t cls, int status,
                        uint64_t intended_ns, uint64_t sent_ns, uint64_t end_ns)
{
    if (!w->record_max && !w->fail_cap && !w->ok_cap)
        return;
    uint64_t origin = w->eng->origin_ns;
    struct load_record rec = {
        .intended_us = ((int64_t)intended_ns - (int64_t)origin) / 1000,
        .sent_us = ((int64_t)sent_ns - (int64_t)origin) / 1000,
        .end_us = ((int64_t)end_ns - (int64_t)origin) / 1000,
        .node = node >= 0 ? (uint32_t)node : 0,
        .status = (uint16_t)(status > 0 && status < 65536 ? status : 0),
        .cls = cls,
    };
    if (w->fail_cap || w->ok_cap)
        detail_keep(w, &rec);
    if (!w->record_max)
        return;
    if (w->record_count == w->record_cap) {
        size_t cap = w->record_cap ? w->record_cap * 2 : 4096;
        if (cap > w->record_max)
            cap = w->record_max;
        struct load_record *r = cap > w->record_cap ? realloc(w->records, cap * sizeof *r) : NULL;
        if (!r) {
            w->records_truncated = true;
            return;
        }
        w->records = r;
        w->record_cap = cap;
    }
    w->records[w->record_count++] = rec;
}

/* Appends a thread's details to the result's, node numbers made the result's (caller holds
 * the engine lock; the thread's stats are merged already). */
static void details_merge(struct load_result *r, struct load_worker *w)
{
    r->detail_failures_seen += w->fail_seen;
    r->detail_successes_seen += w->ok_seen;
    size_t n = w->fail_count + w->ok_count;
    if (!n)
        return;
    struct load_record *all = realloc(r->details, (r->detail_count + n) * sizeof *all);
    if (!all)
        return;
    r->details = all;
    uint32_t map[LOAD_MAX_NODES];
    for (size_t k = 0; k < w->stats.node_count; k++) {
        int g = load_stats_node(&r->total, w->stats.nodes[k].name);
        map[k] = g >= 0 ? (uint32_t)g : 0;
    }
    for (size_t i = 0; i < n; i++) {
        struct load_record rec = i < w->fail_count ? w->fail_kept[i] : w->ok_kept[i - w->fail_count];
        bool sent = rec.cls < COUNTER_CLASSES;
        rec.node = sent && rec.node < w->stats.node_count ? map[rec.node] : UINT32_MAX;
        all[r->detail_count++] = rec;
    }
}

/* Appends a thread's records to the result's, its node numbers made the result's (caller
 * holds the engine lock; the thread's stats are merged already). */
static void records_merge(struct load_result *r, struct load_worker *w)
{
    r->records_truncated |= w->records_truncated;
    if (!w->record_count)
        return;
    struct load_record *all = realloc(r->records, (r->record_count + w->record_count) * sizeof *all);
    if (!all) {
        r->records_truncated = true;
        return;
    }
    r->records = all;
    uint32_t map[LOAD_MAX_NODES];
    for (size_t n = 0; n < w->stats.node_count; n++) {
        int k = load_stats_node(&r->total, w->stats.nodes[n].name);
        map[n] = k >= 0 ? (uint32_t)k : 0;
    }
    for (size_t i = 0; i < w->record_count; i++) {
        struct load_record rec = w->records[i];
        bool sent = rec.cls < COUNTER_CLASSES;
        rec.node = sent && rec.node < w->stats.node_count ? map[rec.node] : UINT32_MAX;
        all[r->record_count++] = rec;
    }
}

static void on_answer(struct http_client *client, int error, const struct http_client_response *res,
                      void *data)
{
    struct load_conn *c = data;
    struct load_worker *w = c->w;
    struct load_engine *eng = w->eng;
    const struct load_plan *plan = eng->plan;
    uint64_t now = now_ns();
    c->busy = false;
    w->in_flight--;
    w->last_answer_ns = now;
    struct load_sample s = {
        .cls = load_classify(error, res->status),
        .status = error == HTTP_CLIENT_OK ? res->status : 0,
        .answered = error == HTTP_CLIENT_OK,
        /* a request that timed out waited all that time: its latency counts, or a target
         * that stops answering would look fast whenever the timeout is short */
        .timed = error == HTTP_CLIENT_OK || error == HTTP_CLIENT_ETIMEOUT,
        .latency_us = (now - c->intended_ns) / 1000,
        .uncorrected_us = (now - c->sent_ns) / 1000,
        .bytes_in = res->bytes_in,
        .bytes_out = res->bytes_out,
        .tls_handshake = res->tls_handshake,
        .tls_resumed = res->tls_resumed,
        .tls_handshake_us = res->tls_handshake_us,
    };
    if (error == HTTP_CLIENT_ETLS && !eng->result->tls_error[0]) { /* rare: once a connection */
        pthread_mutex_lock(&eng->lock);
        if (!eng->result->tls_error[0])
            snprintf(eng->result->tls_error, sizeof eng->result->tls_error, "%s",
                     http_client_tls_error(client));
        pthread_mutex_unlock(&eng->lock);
    }
    int node = node_of_answer(w, c->target, error == HTTP_CLIENT_OK ? res->captured : "");
    load_stats_record(&w->stats, &w->interval, node, &s);
    if (w->win.count) windows_record(w, node, &s, now);
    record_keep(w, node, (uint8_t)s.cls, s.status, c->intended_ns, c->sent_ns, now);
    balancer_on_result(&w->lb, (int)c->target, s.cls == COUNTER_OK);
    if (s.cls != COUNTER_OK && plan->max_failures) {
        uint64_t n = atomic_fetch_add(&eng->failures, 1) + 1;
        if (n == plan->max_failures) {
            pthread_mutex_lock(&eng->lock);
            eng->result->breaker_tripped = true;
            eng->result->breaker_at_s = (double)(now - eng->start_ns) / 1e9;
            pthread_mutex_unlock(&eng->lock);
            engine_request_stop(eng);
        }
        /* past the count too: the thread that reached it may not have told the others yet */
        if (n >= plan->max_failures) worker_stop_issuing(w);
    }
    if (w->finished)
        return;
    if (plan->rate > 0) {
        if (w->backlog_len > 0 && !w->stopping) {
            uint64_t intended = w->backlog[w->backlog_head];
            w->backlog_head = (w->backlog_head + 1) % w->backlog_cap;
            w->backlog_len--;
            conn_issue(c, intended);
        } else {
            c->next_idle = w->idle;
            w->idle = c;
        }
    } else {
        conn_issue(c, now);
    }
    worker_check_done(w);
}

/* True once the failures reached plan->max_failures (when set), even before the thread whose
 * answer reached it has asked every thread to stop. */
static bool breaker_reached(struct load_engine *eng)
{
    uint64_t max = eng->plan->max_failures;
    return max && atomic_load(&eng->failures) >= max;
}

static bool closed_quota_left(const struct load_worker *w)
{
    return !w->has_quota || w->issued < w->quota;
}

/* Sends the slot's next request, numbered by the thread's count; closed model: unless the
 * thread is stopping or its quota is used. */
static void conn_issue(struct load_conn *c, uint64_t intended_ns)
{
    struct load_worker *w = c->w;
    const struct load_plan *plan = w->eng->plan;
    bool closed = plan->rate <= 0;
    if (!w->stopping && (atomic_load_explicit(&w->eng->stop, memory_order_relaxed) ||
                         breaker_reached(w->eng)))
        worker_stop_issuing(w); /* the breaker tripped on another thread: not one more send */
    if (w->stopping || (closed && !closed_quota_left(w)))
        return;
    if (closed)
        w->issued++;
    int chosen = balancer_select(&w->lb, NULL, 0, NULL, 0); /* one rotation for all threads */
    if (chosen < 0) {
        w->stats.not_sent++;
        worker_stop_issuing(w);
        return;
    }
    size_t t = (size_t)chosen;
    if (!c->clients[t]) {
        char err[ERR_SIZE];
        c->clients[t] = http_client_new(&w->loop, (struct sockaddr *)&plan->targets[t].addr,
                                        &plan->targets[t].url, &w->client_opts, err, sizeof err);
        if (!c->clients[t]) {
            balancer_on_result(&w->lb, chosen, false);
            w->stats.not_sent++;
            worker_stop_issuing(w);
            return;
        }
    }
    c->target = t;
    c->intended_ns = intended_ns;
    c->sent_ns = now_ns();
    c->busy = true;
    c->started = true;
    w->in_flight++;
    if (http_client_send(c->clients[t], plan->targets[t].request, plan->targets[t].request_len,
                         on_answer, c) < 0) {
        c->busy = false;
        w->in_flight--;
        w->stats.not_sent++;
        balancer_on_result(&w->lb, chosen, false);
    }
}

static struct load_conn *conn_new(struct load_worker *w)
{
    if (w->conn_count == w->conn_cap)
        return NULL;
    struct load_conn *c = &w->conns[w->conn_count];
    c->clients = calloc(w->eng->plan->target_count, sizeof *c->clients);
    if (!c->clients)
        return NULL;
    c->w = w;
    w->conn_count++;
    return c;
}

/* Open model: one scheduled send, intended at intended_ns. */
static void dispatch(struct load_worker *w, uint64_t intended_ns)
{
    struct load_conn *c = w->idle;
    if (c) {
        w->idle = c->next_idle;
        conn_issue(c, intended_ns);
        return;
    }
    if ((c = conn_new(w))) {
        conn_issue(c, intended_ns);
        return;
    }
    if (w->backlog_len == w->backlog_cap) {
        /* never answered: its latency is at least the end of the schedule (or now) minus
         * its intended send time */
        uint64_t end = w->eng->planned_end_ns > now_ns() ? w->eng->planned_end_ns : now_ns();
        load_stats_record_unsent(&w->stats, true, (end - intended_ns) / 1000);
        record_keep(w, -1, LOAD_RECORD_DROPPED, 0, intended_ns, intended_ns, now_ns());
        return;
    }
    w->backlog[(w->backlog_head + w->backlog_len) % w->backlog_cap] = intended_ns;
    w->backlog_len++;
    if (w->backlog_len > w->backlog_max)
        w->backlog_max = w->backlog_len;
}

/* Closed model with ramp-up: starts the slots whose time has come (every 10 ms). */
static void on_ramp(uv_timer_t *t)
{
    struct load_worker *w = t->data;
    uint64_t now = now_ns();
    bool waiting = false;
    for (unsigned i = 0; i < w->conn_count; i++) {
        struct load_conn *c = &w->conns[i];
        if (c->started)
            continue;
        if (c->start_at_ns <= now)
            conn_issue(c, now);
        else
            waiting = true;
    }
    if (!waiting)
        uv_timer_stop(t);
    worker_check_done(w);
}

/* Open model: sends everything that is due, then arms the timerfd at the next intended send
 * time (absolute, CLOCK_MONOTONIC like uv_hrtime), so sends leave on time to within the
 * loop's latency rather than libuv's 1 ms timer granularity. */
static void open_pace(struct load_worker *w)
{
    struct load_engine *eng = w->eng;
    const struct load_plan *plan = eng->plan;
    uint64_t ramp_ns = plan->ramp_up_us * 1000;
    uint64_t now = now_ns();
    while (!w->stopping) {
        if (w->has_quota && w->issued >= w->quota)
            break;
        uint64_t g = w->id + w->issued * eng->worker_count;
        uint64_t intended = eng->start_ns + load_schedule_ns(g, plan->rate, ramp_ns);
        /* the schedule ends the run, not a timer: every slot before the end is sent */
        if (plan->duration_us && intended >= eng->start_ns + plan->duration_us * 1000) {
            worker_stop_issuing(w);
            break;
        }
        if (intended > now) {
            struct itimerspec its = {.it_value = {.tv_sec = (time_t)(intended / NS_PER_S),
                                                  .tv_nsec = (long)(intended % NS_PER_S)}};
            timerfd_settime(w->pace_fd, TFD_TIMER_ABSTIME, &its, NULL);
            break;
        }
        w->issued++;
        dispatch(w, intended);
        now = now_ns();
    }
    worker_check_done(w);
}

static void on_pace_fd(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    struct load_worker *w = p->data;
    uint64_t expirations;
    if (read(w->pace_fd, &expirations, sizeof expirations) < 0) {
        /* EAGAIN: woken without an expiry; the schedule is checked all the same */
    }
    open_pace(w);
}

/* ---- worker life ---- */

static void on_tick(uv_timer_t *t);

static void arm_tick(struct load_worker *w)
{
    uint64_t next = w->eng->start_ns + (w->ticks + 1) * NS_PER_S;
    uint64_t now = now_ns();
    uint64_t ms = next > now ? (next - now + 999999) / 1000000 : 0;
    uv_timer_start(&w->tick, on_tick, ms, 0);
}

static void on_tick(uv_timer_t *t)
{
    struct load_worker *w = t->data;
    w->ticks++;
    engine_take_interval(w->eng, w, w->ticks);
    arm_tick(w);
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* At the end of the thread's run, accounts for every scheduled request that did not end:
 * those in flight are failures (unanswered) whose latency runs to now; sends waiting in the
 * backlog, and the quota's rest, were never sent. */
static void account_unfinished(struct load_worker *w)
{
    uint64_t now = now_ns();
    if (w->in_flight > 0 || w->backlog_len > 0)
        w->last_answer_ns = now; /* the run lasted until these were given up */
    for (unsigned i = 0; i < w->conn_count; i++) {
        struct load_conn *c = &w->conns[i];
        if (!c->busy)
            continue;
        struct load_sample s = {.cls = COUNTER_UNANSWERED, .timed = true,
                                .latency_us = (now - c->intended_ns) / 1000,
                                .uncorrected_us = (now - c->sent_ns) / 1000,
                                .bytes_out = http_client_bytes_out(c->clients[c->target])};
        int node = node_of_answer(w, c->target, "");
        load_stats_record(&w->stats, &w->interval, node, &s);
        if (w->win.count) windows_record(w, node, &s, now);
        record_keep(w, node, COUNTER_UNANSWERED, 0, c->intended_ns, c->sent_ns, now);
        c->busy = false;
    }
    w->in_flight = 0;
    for (; w->backlog_len > 0; w->backlog_len--) {
        uint64_t intended = w->backlog[w->backlog_head];
        w->backlog_head = (w->backlog_head + 1) % w->backlog_cap;
        load_stats_record_unsent(&w->stats, false, (now - intended) / 1000);
        record_keep(w, -1, LOAD_RECORD_NOT_SENT, 0, intended, intended, now);
    }
    /* the schedule is the plan's, even when the breaker ended it early (the rest was not
     * sent): the quota, or in the open model every slot before the end of the duration. A run
     * the user stopped ends its schedule there. */
    bool interrupted = atomic_load(&w->eng->interrupted);
    uint64_t planned = w->has_quota && !interrupted ? w->quota : w->issued;
    const struct load_plan *plan = w->eng->plan;
    if (!w->has_quota && !interrupted && plan->rate > 0 && plan->duration_us) {
        uint64_t all = load_schedule_count(plan->rate, plan->ramp_up_us * 1000,
                                           plan->duration_us * 1000);
        unsigned T = w->eng->worker_count;
        uint64_t mine = all > w->id ? (all - w->id + T - 1) / T : 0;
        if (mine > planned)
            planned = mine;
    }
    w->stats.scheduled = planned;
    if (w->issued < planned)
        w->stats.not_sent += planned - w->issued;
}

static void worker_finish(struct load_worker *w)
{
    if (w->finished)
        return;
    w->finished = true;
    struct load_engine *eng = w->eng;
    struct load_result *r = eng->result;
    account_unfinished(w);
    engine_take_interval(eng, w, w->ticks + 1); /* the last, partial second */
    uint64_t clients = 0, connects = 0;
    for (unsigned i = 0; i < w->conn_count; i++) {
        struct load_conn *c = &w->conns[i];
        for (size_t t = 0; t < eng->plan->target_count; t++) {
            if (!c->clients[t])
                continue;
            clients++;
            connects += http_client_connects(c->clients[t]);
            http_client_free(c->clients[t], NULL, NULL);
            c->clients[t] = NULL;
        }
    }
    pthread_mutex_lock(&eng->lock);
    load_stats_merge(&r->total, &w->stats);
    if (w->win.count) windows_merge(r, w);
    records_merge(r, w);
    details_merge(r, w);
    r->clients += clients;
    r->connects += connects;
    r->connections_peak += w->conn_count;
    r->backlog_max += w->backlog_max;
    eng->workers_done++;
    pthread_mutex_unlock(&eng->lock);
    close_handle((uv_handle_t *)&w->wake);
    close_handle((uv_handle_t *)&w->tick);
    close_handle((uv_handle_t *)&w->pace);
    close_handle((uv_handle_t *)&w->deadline);
    if (w->pace_poll_open)
        close_handle((uv_handle_t *)&w->pace_poll);
    uv_async_send(&eng->done_async);
}

static void on_drain_over(uv_timer_t *t)
{
    worker_finish(t->data);
}

static void worker_stop_issuing(struct load_worker *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    w->stop_ns = now_ns();
    uv_timer_stop(&w->pace);
    if (w->pace_poll_open)
        uv_poll_stop(&w->pace_poll);
    uint32_t drain = w->eng->plan->timeout_ms < DRAIN_MAX_MS ? w->eng->plan->timeout_ms : DRAIN_MAX_MS;
    if (w->in_flight > 0)
        uv_timer_start(&w->deadline, on_drain_over, drain, 0);
}

static void worker_check_done(struct load_worker *w)
{
    if (w->finished || w->in_flight > 0)
        return;
    if (!w->stopping && w->has_quota && w->issued >= w->quota)
        worker_stop_issuing(w);
    if (w->stopping)
        worker_finish(w);
}

static void on_duration_over(uv_timer_t *t)
{
    struct load_worker *w = t->data;
    worker_stop_issuing(w);
    worker_check_done(w);
}

static void on_wake(uv_async_t *a)
{
    struct load_worker *w = a->data;
    if (atomic_load(&w->eng->stop)) {
        worker_stop_issuing(w);
        worker_check_done(w);
    }
}

static void *worker_main(void *arg)
{
    struct load_worker *w = arg;
    struct load_engine *eng = w->eng;
    const struct load_plan *plan = eng->plan;
    uint64_t now = now_ns();
    arm_tick(w);
    if (plan->duration_us && plan->rate <= 0) { /* the open model ends by its schedule */
        uint64_t end = eng->start_ns + plan->duration_us * 1000;
        uv_timer_start(&w->deadline, on_duration_over, end > now ? (end - now) / 1000000 : 0, 0);
    }
    if (atomic_load(&eng->stop)) {
        worker_stop_issuing(w);
    } else if (plan->rate > 0) {
        uv_poll_start(&w->pace_poll, UV_READABLE, on_pace_fd);
        open_pace(w);
    } else {
        bool ramp = false;
        for (unsigned i = 0; i < w->conn_count; i++) {
            if (w->conns[i].start_at_ns <= now)
                conn_issue(&w->conns[i], now_ns());
            else
                ramp = true;
        }
        if (ramp)
            uv_timer_start(&w->pace, on_ramp, 10, 10);
    }
    worker_check_done(w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    return NULL;
}

static int worker_init(struct load_engine *eng, struct load_worker *w, unsigned id, char *err,
                       size_t errlen)
{
    const struct load_plan *plan = eng->plan;
    unsigned T = eng->worker_count;
    w->eng = eng;
    w->id = id;
    if (plan->window_us && windows_init(&w->win, plan->window_us, windows_needed(plan)) < 0)
        return err_set(err, errlen, "out of memory");
    unsigned share = plan->connections / T + (id < plan->connections % T);
    if (share == 0)
        share = 1;
    w->conn_cap = share;
    if (plan->rate > 0) {
        unsigned cap = plan->max_connections / T + (id < plan->max_connections % T);
        w->conn_cap = cap > share ? cap : share;
        double per_thread = plan->rate / T;
        w->backlog_cap = (size_t)(per_thread * BACKLOG_SECS) + 1024;
        w->backlog = malloc(w->backlog_cap * sizeof *w->backlog);
    }
    w->record_max = plan->max_records / T + 1;
    if (!plan->max_records)
        w->record_max = 0;
    if (plan->detail_failures) {
        w->fail_cap = plan->detail_failures / T + (id < plan->detail_failures % T);
        w->fail_kept = w->fail_cap ? malloc(w->fail_cap * sizeof *w->fail_kept) : NULL;
        if (!w->fail_kept)
            w->fail_cap = 0;
    }
    if (plan->detail_successes) {
        w->ok_cap = plan->detail_successes / T + (id < plan->detail_successes % T);
        w->ok_kept = w->ok_cap ? malloc(w->ok_cap * sizeof *w->ok_kept) : NULL;
        if (!w->ok_kept)
            w->ok_cap = 0;
    }
    w->sample_state = (plan->seed ^ 0x9e3779b97f4a7c15ULL) + id * 0x2545f4914f6cdd1dULL;
    if (!w->sample_state)
        w->sample_state = 1;
    if (plan->requests) { /* a thread may get none (-n 1 on two threads) */
        w->has_quota = true;
        w->quota = plan->requests / T + (id < plan->requests % T);
    }
    w->conns = calloc(w->conn_cap, sizeof *w->conns);
    w->target_node = malloc(plan->target_count * sizeof *w->target_node);
    w->target_mixed = calloc(plan->target_count, sizeof *w->target_mixed);
    balancer_init(&w->lb, plan->lb, plan->seed, id); /* the run's seed, a stream per thread */
    if (!w->conns || !w->target_node || !w->target_mixed || (plan->rate > 0 && !w->backlog) ||
        load_stats_init(&w->stats) < 0 || load_interval_init(&w->interval) < 0 ||
        balancer_use(&w->lb, eng->schedule) < 0)
        return err_set(err, errlen, "out of memory");
    for (size_t t = 0; t < plan->target_count; t++)
        w->target_node[t] = -1;
    http_client_opts_default(&w->client_opts);
    w->client_opts.connect_timeout_ms = plan->timeout_ms;
    w->client_opts.header_timeout_ms = plan->timeout_ms;
    w->client_opts.body_timeout_ms = plan->timeout_ms;
    w->client_opts.capture_header = plan->node_header;
    w->client_opts.tls_verify = plan->tls_verify;
    w->client_opts.tls_reuse = plan->tls_reuse;
    /* closed model: the slots exist from the start, staggered over the ramp-up */
    if (plan->rate <= 0) {
        for (unsigned i = 0; i < share; i++) {
            struct load_conn *c = conn_new(w);
            if (!c)
                return err_set(err, errlen, "out of memory");
            uint64_t global = id + (uint64_t)i * T; /* the slot's number across threads */
            c->start_at_ns = eng->start_ns +
                             (plan->connections ? plan->ramp_up_us * 1000 * global / plan->connections : 0);
        }
    } else {
        for (unsigned i = 0; i < share; i++) { /* open model: the first slots wait idle */
            struct load_conn *c = conn_new(w);
            if (!c)
                return err_set(err, errlen, "out of memory");
            c->next_idle = w->idle;
            w->idle = c;
        }
    }
    uv_loop_init(&w->loop);
    uv_async_init(&w->loop, &w->wake, on_wake);
    uv_timer_init(&w->loop, &w->tick);
    uv_timer_init(&w->loop, &w->pace);
    uv_timer_init(&w->loop, &w->deadline);
    w->wake.data = w->tick.data = w->pace.data = w->deadline.data = w;
    if (plan->rate > 0) {
        w->pace_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (w->pace_fd < 0 || uv_poll_init(&w->loop, &w->pace_poll, w->pace_fd) < 0)
            return err_set(err, errlen, "cannot create the pacing timer");
        w->pace_poll.data = w;
        w->pace_poll_open = true;
    }
    return 0;
}

static void worker_free(struct load_worker *w)
{
    windows_free(&w->win);
    if (w->loop.data == w) {
        close_handle((uv_handle_t *)&w->wake); /* a worker that never ran still has them */
        close_handle((uv_handle_t *)&w->tick);
        close_handle((uv_handle_t *)&w->pace);
        close_handle((uv_handle_t *)&w->deadline);
        if (w->pace_poll_open)
            close_handle((uv_handle_t *)&w->pace_poll);
        uv_run(&w->loop, UV_RUN_DEFAULT); /* finish closing the clients */
        uv_loop_close(&w->loop);
    }
    for (unsigned i = 0; i < w->conn_count; i++)
        free(w->conns[i].clients);
    free(w->conns);
    free(w->target_node);
    free(w->target_mixed);
    free(w->records);
    free(w->fail_kept);
    free(w->ok_kept);
    free(w->backlog);
    if (w->pace_fd > 0)
        close(w->pace_fd);
    balancer_free(&w->lb);
    load_stats_free(&w->stats);
    load_interval_free(&w->interval);
}

/* ---- the engine's own loop: progress, SIGINT, completion ---- */

static void show_progress(struct load_engine *eng, size_t upto)
{
    struct load_result *r = eng->result;
    for (;;) {
        struct load_second copy;
        struct load_progress p = {0};
        pthread_mutex_lock(&eng->lock); /* workers grow the timeline under it */
        if (eng->shown >= upto || eng->shown >= r->seconds) {
            pthread_mutex_unlock(&eng->lock);
            break;
        }
        struct load_second *e = &r->timeline[eng->shown];
        copy = *e;
        if (e->open_hist) { /* a slow thread has not reported yet: show what is in */
            copy.p50_us = hist_percentile(e->open_hist, 50);
            copy.p99_us = hist_percentile(e->open_hist, 99);
            copy.max_us = e->open_hist->total ? e->open_hist->max : 0;
        }
        eng->shown_requests += e->counters.requests;
        eng->shown_failures += counters_failures(&e->counters);
        for (int i = 0; i < LOAD_MAX_NODES; i++)
            eng->shown_node_requests[i] += e->node_requests[i];
        memcpy(p.node_requests, eng->shown_node_requests, sizeof p.node_requests);
        p.node_count = r->total.node_count;
        for (size_t i = 0; i < p.node_count; i++)
            memcpy(eng->shown_node_names[i], r->total.nodes[i].name, LOAD_NODE_NAME);
        p.node_names = (const char(*)[LOAD_NODE_NAME])eng->shown_node_names;
        eng->shown++;
        p.second = eng->shown;
        p.elapsed_s = (double)(now_ns() - eng->start_ns) / 1e9;
        p.last = &copy;
        p.requests = eng->shown_requests;
        p.failures = eng->shown_failures;
        pthread_mutex_unlock(&eng->lock);
        if (eng->progress)
            eng->progress(&p, eng->progress_data);
    }
}

static void on_engine_tick(uv_timer_t *t)
{
    struct load_engine *eng = t->data;
    uint64_t elapsed = now_ns() - eng->start_ns;
    size_t complete = (size_t)(elapsed / NS_PER_S); /* seconds fully behind us */
    if (complete > 0)
        show_progress(eng, complete);
    uint64_t next = eng->start_ns + (complete + 1) * NS_PER_S + 50000000ull; /* +50 ms: reports are in */
    uint64_t now = now_ns();
    uv_timer_start(t, on_engine_tick, next > now ? (next - now) / 1000000 : 0, 0);
}

static void on_stop_asked(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    struct load_engine *eng = p->data;
    uv_poll_stop(p); /* the eventfd stays readable: later runs given it see it too */
    eng->result->interrupted = true;
    atomic_store(&eng->interrupted, true);
    engine_request_stop(eng);
}

int load_stop_init(struct load_stop *s)
{
    atomic_init(&s->requested, false);
    s->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return s->fd < 0 ? -1 : 0;
}

void load_stop_request(struct load_stop *s)
{
    uint64_t one = 1;
    atomic_store(&s->requested, true);
    if (write(s->fd, &one, sizeof one) < 0) {
        /* EAGAIN: the counter is full, so it is readable already */
    }
}

bool load_stop_requested(const struct load_stop *s)
{
    return s && atomic_load(&((struct load_stop *)s)->requested);
}

void load_stop_close(struct load_stop *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

static void on_worker_done(uv_async_t *a)
{
    struct load_engine *eng = a->data;
    pthread_mutex_lock(&eng->lock);
    bool all = eng->workers_done == eng->worker_count;
    pthread_mutex_unlock(&eng->lock);
    if (!all)
        return;
    close_handle((uv_handle_t *)&eng->tick);
    if (eng->stop_poll_open)
        close_handle((uv_handle_t *)&eng->stop_poll);
    close_handle((uv_handle_t *)&eng->done_async);
}

/* The balancer's schedule over the plan's targets, shared by every thread. Returns 0 or -1. */
static int engine_schedule(struct load_engine *eng, char *err, size_t errlen)
{
    const struct load_plan *plan = eng->plan;
    struct balancer_node *nodes = calloc(plan->target_count, sizeof *nodes);
    if (!nodes) return err_set(err, errlen, "out of memory");
    for (size_t t = 0; t < plan->target_count; t++)
        nodes[t] = (struct balancer_node){plan->targets[t].name, plan->targets[t].weight, true};
    eng->schedule = balancer_schedule_new(plan->lb, nodes, plan->target_count, NULL);
    free(nodes);
    return eng->schedule ? 0 : err_set(err, errlen, "cannot set up the balancer (a weight below 1?)");
}

int load_run(const struct load_plan *plan, struct load_result *result, load_progress_fn progress,
             void *data, char *err, size_t errlen)
{
    memset(result, 0, sizeof *result);
    if (plan->target_count == 0 || plan->threads == 0)
        return err_set(err, errlen, "nothing to run: no target or no thread");
    struct load_engine eng = {.plan = plan, .result = result, .progress = progress,
                              .progress_data = data};
    eng.worker_count = plan->threads;
    eng.workers = calloc(eng.worker_count, sizeof *eng.workers);
    if (!eng.workers || load_stats_init(&result->total) < 0) {
        free(eng.workers);
        load_stats_free(&result->total);
        return err_set(err, errlen, "out of memory");
    }
    if (plan->window_us && windows_init(&result->windows, plan->window_us, windows_needed(plan)) < 0) {
        free(eng.workers);
        load_result_free(result);
        return err_set(err, errlen, "out of memory");
    }
    pthread_mutex_init(&eng.lock, NULL);
    atomic_init(&eng.stop, false);
    atomic_init(&eng.interrupted, false);
    atomic_init(&eng.failures, 0);
    eng.start_ns = now_ns(); /* the common origin of schedules, ticks and deadlines */
    result->start_ns = eng.start_ns;
    eng.origin_ns = plan->origin_ns ? plan->origin_ns : eng.start_ns;
    result->started_us = ((int64_t)eng.start_ns - (int64_t)eng.origin_ns) / 1000;
    if (plan->rate > 0 && plan->duration_us)
        eng.planned_end_ns = eng.start_ns + plan->duration_us * 1000;
    else if (plan->rate > 0 && plan->requests)
        eng.planned_end_ns =
            eng.start_ns + load_schedule_ns(plan->requests - 1, plan->rate, plan->ramp_up_us * 1000);
    if (plan->stop && load_stop_requested(plan->stop)) {
        result->interrupted = true;
        atomic_store(&eng.interrupted, true);
        atomic_store(&eng.stop, true); /* the threads end before their first send */
    }
    int rc = engine_schedule(&eng, err, errlen);
    unsigned started = 0;
    for (unsigned i = 0; i < eng.worker_count && rc == 0; i++) {
        rc = worker_init(&eng, &eng.workers[i], i, err, errlen);
        if (rc == 0)
            eng.workers[i].loop.data = &eng.workers[i];
    }
    uv_loop_init(&eng.loop);
    uv_timer_init(&eng.loop, &eng.tick);
    uv_async_init(&eng.loop, &eng.done_async, on_worker_done);
    eng.tick.data = eng.stop_poll.data = eng.done_async.data = &eng;
    if (plan->stop && uv_poll_init(&eng.loop, &eng.stop_poll, plan->stop->fd) == 0)
        eng.stop_poll_open = true;
    if (rc == 0) {
        mtime_wall_iso8601(result->started_at, sizeof result->started_at);
        if (eng.stop_poll_open)
            uv_poll_start(&eng.stop_poll, UV_READABLE, on_stop_asked);
        for (; started < eng.worker_count; started++) {
            struct load_worker *w = &eng.workers[started];
            if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
                err_set(err, errlen, "cannot start thread %u", started);
                rc = -1;
                break;
            }
        }
        if (rc < 0) {
            engine_request_stop(&eng);
            pthread_mutex_lock(&eng.lock);
            eng.worker_count = started; /* wait only for the threads that run */
            pthread_mutex_unlock(&eng.lock);
        }
        if (started > 0) {
            uv_timer_start(&eng.tick, on_engine_tick, 1050, 0);
            uv_run(&eng.loop, UV_RUN_DEFAULT);
        }
        for (unsigned i = 0; i < started; i++)
            pthread_join(eng.workers[i].thread, NULL);
        uint64_t end = eng.start_ns;
        for (unsigned i = 0; i < started; i++) {
            struct load_worker *w = &eng.workers[i];
            uint64_t last = w->last_answer_ns > w->stop_ns ? w->last_answer_ns : w->stop_ns;
            if (last > end)
                end = last;
        }
        result->elapsed_s = (double)(end - eng.start_ns) / 1e9;
        uint64_t sends_ended = eng.start_ns;
        for (unsigned i = 0; i < started; i++)
            if (eng.workers[i].stop_ns > sends_ended)
                sends_ended = eng.workers[i].stop_ns;
        result->sends_ended_us = ((int64_t)sends_ended - (int64_t)eng.origin_ns) / 1000;
        mtime_wall_iso8601(result->ended_at, sizeof result->ended_at);
        for (size_t s = 0; s < result->seconds; s++)
            second_close(&result->timeline[s]);
        show_progress(&eng, result->seconds);
    }
    close_handle((uv_handle_t *)&eng.tick);
    if (eng.stop_poll_open)
        close_handle((uv_handle_t *)&eng.stop_poll);
    close_handle((uv_handle_t *)&eng.done_async);
    uv_run(&eng.loop, UV_RUN_DEFAULT);
    uv_loop_close(&eng.loop);
    for (unsigned i = 0; i < plan->threads; i++)
        worker_free(&eng.workers[i]);
    free(eng.workers);
    balancer_schedule_release(eng.schedule);
    pthread_mutex_destroy(&eng.lock);
    if (rc < 0)
        load_result_free(result);
    return rc;
}

void load_result_free(struct load_result *result)
{
    free(result->records);
    free(result->details);
    windows_free(&result->windows);
    for (size_t s = 0; s < result->seconds; s++) {
        free(result->timeline[s].hist);
        hist_free(result->timeline[s].open_hist);
    }
    free(result->timeline);
    load_stats_free(&result->total);
    memset(result, 0, sizeof *result);
}
