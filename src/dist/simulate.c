/* simulate.c -- N simulated workers on one loop, for measuring the master (see simulate.h).
 * Each speaks the worker protocol as `herd worker` does (a new connection per call, one
 * poll, one post at a time) and makes up its load: every second of an assignment becomes one
 * interval of `rps` successful requests with a spread of latencies. */
#include "dist/simulate.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mtime.h"
#include "dist/interval.h"
#include "dist/master.h"
#include "dist/task.h"
#include "http/client.h"
#include "http/url.h"
#include "stats/hist.h"

#define SIM_TICK_MS     20
#define SIM_PARTS       8
#define SIM_BATCH_MAX   64
#define SIM_POLL_WAIT   "5s"
#define SIM_RETRY_MS    500
#define SIM_DRAIN_MS    5000
#define SIM_CPU         0.05

/* One assignment a simulated worker runs. */
struct sim_part {
    bool used, ended;         /* ended: its final interval is queued */
    bool stopping;            /* cancelled, or the simulation ends: final interval next */
    char task_id[DIST_ID_MAX];
    int64_t id;
    uint64_t seq_base, next_seq;
    int64_t start_at_us;
    bool counted;             /* a request-count share; else a duration */
    uint64_t left;            /* counted: requests still to make */
    uint64_t seconds;         /* duration: seconds to run */
    uint64_t second;          /* the next second to post */
};

struct sim_queued {
    char task_id[DIST_ID_MAX];
    uint64_t seq;
    char *text;
    struct sim_queued *next;
};

enum sim_post_kind {
    SIM_POST_NONE = 0,  /* the post connection is free */
    SIM_POST_REGISTER,
    SIM_POST_INTERVALS,
    SIM_POST_HEARTBEAT,
};

struct sim;

struct sim_worker {
    struct sim *s;
    char id[DIST_WORKER_ID_MAX + 1];
    char region[64];
    char session[DIST_ID_MAX];
    struct http_client *poll_c, *post_c;
    struct buf poll_req, post_req; /* kept until answered */
    bool polling;
    enum sim_post_kind posting;
    size_t posted_n;               /* intervals in the post in flight */
    uint64_t post_sent_us;
    uint64_t next_beat_ms, retry_ms, poll_retry_ms;
    struct sim_part parts[SIM_PARTS];
    struct sim_queued *head, *tail;
};

struct sim {
    const struct dist_sim_options *o;
    uv_loop_t loop;
    uv_timer_t tick;
    struct sockaddr_storage addr;
    struct url url;
    char auth[320];
    struct sim_worker *w;
    struct dist_interval iv;
    struct hist *ack, *beat;
    struct dist_sim_result *res;
    uint64_t drain_end_ms;         /* 0: running */
    unsigned open_clients;
};

/* ---- requests ---- */

static int sim_format(struct sim *s, struct buf *b, const char *method, const char *path,
                      const char *body)
{
    buf_reset(b);
    size_t len = body ? strlen(body) : 0;
    return buf_printf(b, "%s %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                      method, path, s->url.authority, s->auth, len, body ? body : "");
}

static void on_post(struct http_client *c, int error, const struct http_client_response *res,
                    void *data);
static void on_poll(struct http_client *c, int error, const struct http_client_response *res,
                    void *data);
static void sim_pump(struct sim_worker *w);

static void sim_forget_session(struct sim_worker *w)
{
    w->session[0] = '\0';
    w->retry_ms = 0;
}

/* ---- intervals ---- */

static void sim_enqueue(struct sim_worker *w, struct sim_part *p, bool final, uint64_t count,
                        uint64_t not_sent)
{
    struct sim *s = w->s;
    struct dist_interval *iv = &s->iv;
    dist_interval_reset(iv);
    snprintf(iv->task_id, sizeof iv->task_id, "%s", p->task_id);
    snprintf(iv->worker_id, sizeof iv->worker_id, "%s", w->id);
    snprintf(iv->session, sizeof iv->session, "%s", w->session[0] ? w->session : "s-none");
    iv->seq = p->seq_base + p->next_seq++;
    uint64_t second = p->second ? p->second - (final ? 1 : 0) : 0;
    iv->second_us = (uint64_t)p->start_at_us + second * 1000000ULL;
    iv->final = final;
    iv->cpu = SIM_CPU;
    iv->counters.requests = count;
    iv->counters.by_class[COUNTER_OK] = count;
    iv->counters.bytes_in = count * 100;
    iv->counters.bytes_out = count * 80;
    iv->not_sent = not_sent;
    for (uint64_t i = 0; i < count; i++) /* 0.5 to 5.5 ms, spread evenly */
        hist_record(iv->hist, 500 + (i * 7919 + second * 104729) % 5000);
    if (final) {
        iv->elapsed_s = (double)p->second;
        iv->interrupted = p->stopping;
    }
    struct sim_queued *q = calloc(1, sizeof *q);
    char *text = dist_interval_text(iv);
    if (!q || !text) {
        free(q);
        free(text);
        return;
    }
    snprintf(q->task_id, sizeof q->task_id, "%s", p->task_id);
    q->seq = iv->seq;
    q->text = text;
    if (w->tail)
        w->tail->next = q;
    else
        w->head = q;
    w->tail = q;
}

/* Queues the seconds of w's parts that ended by now, and the final intervals due. */
static void sim_advance(struct sim_worker *w, int64_t now_us)
{
    unsigned rps = w->s->o->rps;
    for (int i = 0; i < SIM_PARTS; i++) {
        struct sim_part *p = &w->parts[i];
        if (!p->used || p->ended)
            continue;
        while (!p->stopping && now_us >= p->start_at_us + (int64_t)(p->second + 1) * 1000000) {
            uint64_t n = p->counted ? (p->left < rps ? p->left : rps) : rps;
            sim_enqueue(w, p, false, n, 0);
            p->second++;
            if (p->counted)
                p->left -= n;
            if ((p->counted && p->left == 0) || (!p->counted && p->second >= p->seconds))
                p->stopping = true;
        }
        if (p->stopping) { /* a cancelled count share: the rest was never sent */
            sim_enqueue(w, p, true, 0, p->counted ? p->left : 0);
            p->ended = true;
        }
    }
}

/* Drops the queued intervals the master acknowledged (or refused for good). */
static void sim_drop(struct sim_worker *w, size_t n)
{
    const char *task = w->head ? w->head->task_id : "";
    char keep[DIST_ID_MAX];
    snprintf(keep, sizeof keep, "%s", task);
    struct sim_queued **at = &w->head, *prev = NULL;
    while (*at && n > 0) {
        struct sim_queued *q = *at;
        if (strcmp(q->task_id, keep) != 0) {
            prev = q;
            at = &q->next;
            continue;
        }
        *at = q->next;
        if (w->tail == q)
            w->tail = prev;
        free(q->text);
        free(q);
        n--;
        w->s->res->intervals_acked++;
    }
    /* a part whose final interval is acknowledged is over */
    for (int i = 0; i < SIM_PARTS; i++) {
        struct sim_part *p = &w->parts[i];
        if (!p->used || !p->ended)
            continue;
        bool pending = false;
        for (struct sim_queued *q = w->head; q && !pending; q = q->next)
            pending = strcmp(q->task_id, p->task_id) == 0 &&
                      q->seq >> DIST_SEQ_PART_SHIFT == p->seq_base >> DIST_SEQ_PART_SHIFT;
        if (!pending)
            memset(p, 0, sizeof *p);
    }
}

/* ---- the post connection: registration, intervals, heartbeats, one at a time ---- */

static void sim_post(struct sim_worker *w, enum sim_post_kind kind, const char *path,
                     const char *body)
{
    struct sim *s = w->s;
    if (sim_format(s, &w->post_req, "POST", path, body) < 0)
        return;
    w->posting = kind;
    w->post_sent_us = mtime_now_us();
    if (http_client_send(w->post_c, w->post_req.data, w->post_req.len, on_post, w) < 0)
        w->posting = SIM_POST_NONE;
}

static void sim_register(struct sim_worker *w)
{
    json_t *running = json_array();
    for (int i = 0; i < SIM_PARTS; i++)
        if (w->parts[i].used)
            json_array_append_new(running, json_integer(w->parts[i].id));
    json_t *b = json_pack("{s:s,s:s,s:i,s:s,s:I,s:o}", "id", w->id, "region", w->region,
                          "cores", 1, "version", HERD_VERSION, "pid", (json_int_t)getpid(),
                          "running", running);
    char *text = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    if (text)
        sim_post(w, SIM_POST_REGISTER, "/api/v1/workers/register", text);
    free(text);
}

static void sim_post_intervals(struct sim_worker *w)
{
    struct buf body = {0};
    size_t n = 0;
    buf_printf(&body, "{\"intervals\":[");
    for (struct sim_queued *q = w->head; q && n < SIM_BATCH_MAX; q = q->next) {
        if (strcmp(q->task_id, w->head->task_id) != 0)
            continue;
        buf_printf(&body, "%s%s", n ? "," : "", q->text);
        n++;
    }
    buf_printf(&body, "]}");
    char path[160];
    snprintf(path, sizeof path, "/api/v1/workers/%s/intervals", w->id);
    w->posted_n = n;
    if (body.data)
        sim_post(w, SIM_POST_INTERVALS, path, body.data);
    buf_free(&body);
}

static void on_post(struct http_client *c, int error, const struct http_client_response *res,
                    void *data)
{
    struct sim_worker *w = data;
    struct sim *s = w->s;
    enum sim_post_kind kind = w->posting;
    uint64_t took = (uint64_t)(mtime_now_us() - w->post_sent_us);
    uint64_t now = mtime_now_ms();
    w->posting = SIM_POST_NONE;
    int status = error == HTTP_CLIENT_OK ? res->status : 0;
    json_t *j = status ? json_loads(res->body ? res->body : "", 0, NULL) : NULL;
    if (status == 404 || status == 410) {
        if (w->session[0])
            s->res->reregistrations++;
        sim_forget_session(w);
    }
    switch (kind) {
    case SIM_POST_REGISTER: {
        const char *session = json_string_value(json_object_get(j, "session"));
        if (status == 200 && session) {
            snprintf(w->session, sizeof w->session, "%s", session);
            s->res->registrations++;
        } else {
            if (status == 400 || status == 401)
                log_warn("%s: registration refused (%d)", w->id, status);
            w->retry_ms = now + SIM_RETRY_MS;
        }
        break;
    }
    case SIM_POST_INTERVALS:
        s->res->posts++;
        if (status == 200) {
            hist_record(s->ack, took ? took : 1);
            sim_drop(w, w->posted_n);
        } else {
            s->res->post_failures++;
            if (status == 400 || status == 409) {
                log_warn("%s: intervals refused (%d): %s", w->id, status,
                         json_string_value(json_object_get(j, "error")));
                sim_drop(w, w->posted_n);
            } else {
                w->retry_ms = now + SIM_RETRY_MS;
            }
        }
        break;
    case SIM_POST_HEARTBEAT:
        s->res->heartbeats++;
        if (status == 200)
            hist_record(s->beat, took ? took : 1);
        else
            s->res->heartbeat_failures++;
        break;
    case SIM_POST_NONE:
        break;
    }
    json_decref(j);
    (void)c;
    sim_pump(w);
}

/* ---- the poll connection ---- */

static void sim_take(struct sim_worker *w, const json_t *a)
{
    struct sim *s = w->s;
    const char *state = json_string_value(json_object_get(a, "state"));
    int64_t id = json_integer_value(json_object_get(a, "assignment_id"));
    if (state && strcmp(state, "cancel") == 0) {
        s->res->cancels++;
        for (int i = 0; i < SIM_PARTS; i++)
            if (w->parts[i].used && w->parts[i].id == id)
                w->parts[i].stopping = true;
        return;
    }
    if (!state || strcmp(state, "run") != 0)
        return;
    struct sim_part *p = NULL;
    for (int i = 0; i < SIM_PARTS; i++) {
        if (w->parts[i].used && w->parts[i].id == id)
            return; /* handed out twice: runs once */
        if (!w->parts[i].used && !p)
            p = &w->parts[i];
    }
    if (!p) {
        log_warn("%s: more than %d assignments at once; one ignored", w->id, SIM_PARTS);
        return;
    }
    struct dist_task t;
    dist_task_init(&t);
    char err[ERR_SIZE];
    if (dist_task_from_config(&t, json_object_get(a, "config"), err, sizeof err) < 0) {
        log_warn("%s: assignment config: %s", w->id, err);
        dist_task_free(&t);
        return;
    }
    const json_t *share = json_object_get(a, "share");
    memset(p, 0, sizeof *p);
    p->used = true;
    p->id = id;
    snprintf(p->task_id, sizeof p->task_id, "%s",
             json_string_value(json_object_get(a, "task_id")));
    p->seq_base = (uint64_t)json_integer_value(json_object_get(a, "seq_base"));
    p->start_at_us = json_integer_value(json_object_get(a, "start_at_us"));
    p->left = (uint64_t)json_integer_value(json_object_get(share, "requests"));
    p->counted = t.options.requests > 0;
    uint64_t d = t.options.duration_us ? t.options.duration_us : 10000000;
    p->seconds = (d + 999999) / 1000000;
    dist_task_free(&t);
    s->res->assignments++;
}

static void on_poll(struct http_client *c, int error, const struct http_client_response *res,
                    void *data)
{
    struct sim_worker *w = data;
    w->polling = false;
    int status = error == HTTP_CLIENT_OK ? res->status : 0;
    if (status == 200) {
        json_t *j = json_loads(res->body ? res->body : "", 0, NULL);
        sim_take(w, j);
        json_decref(j);
    } else {
        if (status == 404 || status == 410) {
            if (w->session[0])
                w->s->res->reregistrations++;
            sim_forget_session(w);
        }
        w->poll_retry_ms = mtime_now_ms() + SIM_RETRY_MS;
    }
    (void)c;
    sim_pump(w);
}

/* Starts whatever w can do now: register, poll, post intervals or a heartbeat. */
static void sim_pump(struct sim_worker *w)
{
    struct sim *s = w->s;
    uint64_t now = mtime_now_ms();
    char path[256];
    if (!w->session[0]) {
        if (w->posting == SIM_POST_NONE && now >= w->retry_ms && !s->drain_end_ms)
            sim_register(w);
        return;
    }
    if (!w->polling && now >= w->poll_retry_ms && !s->drain_end_ms) {
        snprintf(path, sizeof path, "/api/v1/workers/%s/assignment?session=%s&wait=" SIM_POLL_WAIT,
                 w->id, w->session);
        if (sim_format(s, &w->poll_req, "GET", path, NULL) == 0 &&
            http_client_send(w->poll_c, w->poll_req.data, w->poll_req.len, on_poll, w) == 0)
            w->polling = true;
    }
    if (w->posting != SIM_POST_NONE)
        return;
    if (w->head && now >= w->retry_ms) {
        sim_post_intervals(w);
    } else if (now >= w->next_beat_ms && !s->drain_end_ms) {
        w->next_beat_ms = now + 1000;
        char body[160];
        snprintf(body, sizeof body, "{\"session\":\"%s\",\"cpu\":%.2f}", w->session, SIM_CPU);
        snprintf(path, sizeof path, "/api/v1/workers/%s/heartbeat", w->id);
        sim_post(w, SIM_POST_HEARTBEAT, path, body);
    }
}

/* ---- the loop ---- */

static void on_client_closed(void *data)
{
    struct sim *s = data;
    s->open_clients--;
}

static void sim_close_all(struct sim *s)
{
    uv_timer_stop(&s->tick);
    uv_close((uv_handle_t *)&s->tick, NULL);
    for (unsigned i = 0; i < s->o->workers; i++) {
        struct sim_worker *w = &s->w[i];
        http_client_free(w->poll_c, on_client_closed, s);
        http_client_free(w->post_c, on_client_closed, s);
        w->poll_c = w->post_c = NULL;
    }
}

static void on_tick(uv_timer_t *t)
{
    struct sim *s = t->data;
    int64_t wall = mtime_wall_us();
    uint64_t now = mtime_now_ms();
    if (!s->drain_end_ms && load_stop_requested(s->o->stop)) {
        s->drain_end_ms = now + SIM_DRAIN_MS;
        for (unsigned i = 0; i < s->o->workers; i++)
            for (int k = 0; k < SIM_PARTS; k++)
                s->w[i].parts[k].stopping = true;
    }
    bool busy = false;
    for (unsigned i = 0; i < s->o->workers; i++) {
        struct sim_worker *w = &s->w[i];
        sim_advance(w, wall);
        sim_pump(w);
        busy = busy || w->head || w->posting == SIM_POST_INTERVALS;
    }
    if (s->drain_end_ms && (!busy || now >= s->drain_end_ms))
        sim_close_all(s);
}

int dist_sim_run(const struct dist_sim_options *o, struct dist_sim_result *res, char *err,
                 size_t errlen)
{
    memset(res, 0, sizeof *res);
    struct sim *s = calloc(1, sizeof *s);
    if (!s)
        return err_set(err, errlen, "out of memory");
    int rc = -1;
    s->o = o;
    s->res = res;
    bool loop_made = false;
    if (url_parse(&s->url, o->master_url, err, errlen) < 0 ||
        url_resolve(&s->url, &s->addr, err, errlen) < 0)
        goto out;
    if (o->token && o->token[0])
        snprintf(s->auth, sizeof s->auth, "Authorization: Bearer %.256s\r\n", o->token);
    s->w = calloc(o->workers, sizeof *s->w);
    s->ack = hist_new();
    s->beat = hist_new();
    if (!s->w || !s->ack || !s->beat || dist_interval_init(&s->iv) < 0 ||
        uv_loop_init(&s->loop) < 0) {
        err_set(err, errlen, "out of memory");
        goto out;
    }
    loop_made = true;
    struct http_client_opts copts;
    http_client_opts_default(&copts);
    copts.keep_body = true;
    copts.max_body_bytes = 1u << 20;
    copts.header_timeout_ms = 15000;
    copts.tls_verify = false;
    uint64_t now = mtime_now_ms();
    for (unsigned i = 0; i < o->workers; i++) {
        struct sim_worker *w = &s->w[i];
        w->s = s;
        snprintf(w->id, sizeof w->id, "%.40s-%u", o->id_prefix, i);
        snprintf(w->region, sizeof w->region, "%s", o->region ? o->region : "");
        w->next_beat_ms = now + 1000 * (uint64_t)i / o->workers; /* spread over a second */
        w->poll_c = http_client_new(&s->loop, (struct sockaddr *)&s->addr, &s->url, &copts, err,
                                    errlen);
        w->post_c = http_client_new(&s->loop, (struct sockaddr *)&s->addr, &s->url, &copts, err,
                                    errlen);
        if (!w->poll_c || !w->post_c) {
            if (w->poll_c)
                s->open_clients++;
            if (w->post_c)
                s->open_clients++;
            for (unsigned k = 0; k <= i; k++) {
                http_client_free(s->w[k].poll_c, on_client_closed, s);
                http_client_free(s->w[k].post_c, on_client_closed, s);
            }
            uv_run(&s->loop, UV_RUN_DEFAULT);
            goto out;
        }
        s->open_clients += 2;
    }
    uv_timer_init(&s->loop, &s->tick);
    s->tick.data = s;
    uv_timer_start(&s->tick, on_tick, SIM_TICK_MS, SIM_TICK_MS);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    res->ack_p50_us = hist_percentile(s->ack, 50);
    res->ack_p99_us = hist_percentile(s->ack, 99);
    res->ack_max_us = hist_percentile(s->ack, 100);
    res->heartbeat_p99_us = hist_percentile(s->beat, 99);
    rc = 0;
out:
    if (loop_made)
        uv_loop_close(&s->loop);
    if (s->w)
        for (unsigned i = 0; i < o->workers; i++) {
            buf_free(&s->w[i].poll_req);
            buf_free(&s->w[i].post_req);
            while (s->w[i].head) {
                struct sim_queued *q = s->w[i].head;
                s->w[i].head = q->next;
                free(q->text);
                free(q);
            }
        }
    free(s->w);
    hist_free(s->ack);
    hist_free(s->beat);
    dist_interval_free(&s->iv);
    free(s);
    return rc;
}
