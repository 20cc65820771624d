/* check_consistency.c -- the consistency check: keys written through the target at a steady
 * rate, each node read directly until it answers every written value; convergence time per
 * key and node, and, with a fault on a node during the writes, how long that node takes to
 * catch up once it is back (DESIGN section 6).
 *
 * Catch-up is timed by the node's own clock when it can tell (herd node's apply log: each
 * write's answer names its version and origin, and GET /api/v1/kv/status?key=K says when the
 * node applied K), else by the reads, which see it only at their own pace.
 *
 * One libuv loop on its own thread: a writer (one connection to the target), one reader per
 * node (one kept-alive connection each) cycling through the keys that node does not yet hold,
 * and after the recovery a probe asking the faulted node what it applied. The runner's thread
 * injects the fault and its recovery meanwhile. */
#include "plan/check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mtime.h"
#include "cluster/clusterfile.h"
#include "http/client.h"
#include "http/url.h"

#define READ_TIMEOUT_MS  500
#define WRITE_TIMEOUT_MS 5000
#define RETRY_MS         10
#define PASS_PAUSE_MS    2 /* after a pass over a node's missing keys that did not end it */
#define PROBE_POLL_MS    5 /* between questions to the faulted node about its applies */
#define MAX_ORIGINS      64
#define ORIGIN_MAX       128

/* How the faulted node's catch-up is measured. */
enum catch_up_source {
    CATCH_UP_NONE = 0, /* no fault, or not recovered yet */
    CATCH_UP_PROBING,  /* asking the node when it applied each origin's last write before R */
    CATCH_UP_NODE,     /* done: every such write was seen applied, by the node's clock */
    CATCH_UP_READS,    /* the node cannot tell: the reads measure it */
};

/* Per origin (the node a write landed on), its last write acknowledged before the recovery;
 * the faulted node holds every write made before R once it applied each of these. */
struct cons_target {
    uint32_t key;
    uint64_t version;
    int origin;         /* index into the run's origins */
    int64_t applied_us; /* wall clock, by the faulted node (0: not seen yet) */
};

struct cons_run;

struct cons_reader {
    struct cons_run *run;
    char name[80]; /* "api.2" or the URL */
    struct url url;
    struct sockaddr_storage addr;
    struct http_client *client;
    uv_timer_t timer;
    uint32_t *pending; /* keys this node does not answer yet */
    size_t count, cursor;
    uint8_t *is_pending;
    uint64_t *seen_ns;        /* per key: first answer with the written value (0: never) */
    uint64_t *recheck_ns;     /* the faulted node: the same, after its recovery */
    char node_id[ORIGIN_MAX]; /* from X-Herd-Node, to find an exec fault's node among URLs */
    bool busy, rechecking;
    uint64_t reads, errors;
    struct buf req;
};

struct cons_run {
    uv_loop_t loop;
    const struct plan_check *c;
    struct url target;
    struct sockaddr_storage target_addr;
    struct http_client *writer;
    uv_timer_t write_timer, deadline;
    uv_async_t recovered;
    uint64_t begin_ns;
    uint64_t *ack_ns;  /* per key: when the write was acknowledged (0: not, or failed) */
    uint64_t *version; /* per key: the version its answer named (0: none) */
    uint8_t *origin;   /* per key: 1 + index into origins of the node that took it (0: none) */
    char origins[MAX_ORIGINS][ORIGIN_MAX];
    int origin_count;
    uint64_t next_key, acked, failed_writes;
    bool writes_done, expect_recovery, recovery_seen;
    struct cons_reader readers[PLAN_MAX_NODES];
    size_t reader_count;
    int faulted;             /* the reader of the faulted node, or -1 */
    uint64_t recover_ns;     /* set by the runner's thread before it wakes `recovered` */
    int64_t recover_wall_us; /* the same moment by the wall clock */
    enum catch_up_source source;
    char source_note[256]; /* why the reads measure it */
    struct cons_target targets[MAX_ORIGINS];
    int target_count, target_next;
    struct http_client *probe; /* to the faulted node, after the recovery */
    uv_timer_t probe_timer;
    uv_poll_t stop_poll; /* the run's stop request (SIGINT/SIGTERM): the writes end at once */
    bool stop_polled;
    struct buf preq;
    char prefix[48];
    struct buf wreq;
    bool closing;
};

static void key_name(const struct cons_run *run, uint64_t i, char *out, size_t size)
{
    snprintf(out, size, "%s-%llu", run->prefix, (unsigned long long)i);
}

static void key_value(const struct cons_run *run, uint64_t i, char *out, size_t size)
{
    snprintf(out, size, "%s-value-%llu", run->prefix, (unsigned long long)i);
}

/* "METHOD /kv/{key}" with the key in, as a request for host. */
static void format_request(struct buf *b, const char *method, const char *path_tmpl,
                           const char *key, const struct url *u, const char *body)
{
    const char *brace = strstr(path_tmpl, "{key}");
    buf_reset(b);
    buf_printf(b, "%s %.*s%s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: herd-test\r\n", method,
               (int)(brace - path_tmpl), path_tmpl, key, brace + 5, u->authority);
    if (body)
        buf_printf(b, "Content-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s", strlen(body),
                   body);
    else
        buf_append_str(b, "\r\n");
}

static void finish(struct cons_run *run)
{
    if (run->closing) return;
    run->closing = true;
    uv_close((uv_handle_t *)&run->write_timer, NULL);
    uv_close((uv_handle_t *)&run->deadline, NULL);
    uv_close((uv_handle_t *)&run->recovered, NULL);
    uv_close((uv_handle_t *)&run->probe_timer, NULL);
    if (run->stop_polled) uv_close((uv_handle_t *)&run->stop_poll, NULL);
    http_client_free(run->writer, NULL, NULL);
    if (run->probe) http_client_free(run->probe, NULL, NULL);
    for (size_t i = 0; i < run->reader_count; i++) {
        struct cons_reader *r = &run->readers[i];
        uv_close((uv_handle_t *)&r->timer, NULL);
        http_client_free(r->client, NULL, NULL);
    }
}

/* Done when every write was made, the recovery (if any) happened and the faulted node's
 * catch-up is measured, and every node holds every acknowledged key. */
static void maybe_finish(struct cons_run *run)
{
    if (!run->writes_done || (run->expect_recovery && !run->recovery_seen) ||
        run->source == CATCH_UP_PROBING)
        return;
    for (size_t i = 0; i < run->reader_count; i++)
        if (run->readers[i].count) return;
    finish(run);
}

/* ---- readers ---- */

static void reader_next(struct cons_reader *r);

static void on_reader_timer(uv_timer_t *t)
{
    reader_next(t->data);
}

static void reader_add(struct cons_reader *r, uint32_t key)
{
    if (r->is_pending[key]) return;
    r->is_pending[key] = 1;
    r->pending[r->count++] = key;
    if (!r->busy && !uv_is_active((uv_handle_t *)&r->timer)) reader_next(r);
}

static void on_read(struct http_client *c, int error, const struct http_client_response *res,
                    void *data)
{
    (void)c;
    struct cons_reader *r = data;
    struct cons_run *run = r->run;
    r->busy = false;
    if (run->closing) return;
    r->reads++;
    if (error != HTTP_CLIENT_OK) {
        r->errors++;
        uv_timer_start(&r->timer, on_reader_timer, RETRY_MS, 0);
        return;
    }
    if (!r->node_id[0]) snprintf(r->node_id, sizeof r->node_id, "%s", res->captured);
    uint32_t key = r->pending[r->cursor];
    char want[96];
    key_value(run, key, want, sizeof want);
    if (res->status == 200 && res->body && strcmp(res->body, want) == 0) {
        uint64_t now = uv_hrtime();
        if (!r->seen_ns[key])
            r->seen_ns[key] = now;
        else if (r->rechecking)
            r->recheck_ns[key] = now;
        r->is_pending[key] = 0;
        r->pending[r->cursor] = r->pending[--r->count];
        if (!r->count) {
            maybe_finish(run);
            return;
        }
    } else {
        r->cursor++;
    }
    if (r->cursor >= r->count) { /* a pass ended with keys still missing: breathe */
        r->cursor = 0;
        uv_timer_start(&r->timer, on_reader_timer, PASS_PAUSE_MS, 0);
        return;
    }
    reader_next(r);
}

static void reader_next(struct cons_reader *r)
{
    struct cons_run *run = r->run;
    if (run->closing || r->busy || r->count == 0) return;
    if (r->cursor >= r->count) r->cursor = 0;
    char key[64];
    key_name(run, r->pending[r->cursor], key, sizeof key);
    format_request(&r->req, run->c->read_method, run->c->read_path, key, &r->url, NULL);
    r->busy = true;
    if (http_client_send(r->client, r->req.data, r->req.len, on_read, r) < 0) r->busy = false;
}

/* ---- the writer ---- */

static void write_next(struct cons_run *run);

static void on_write_timer(uv_timer_t *t)
{
    write_next(t->data);
}

static void schedule_write(struct cons_run *run)
{
    if (run->next_key >= run->c->requests) {
        run->writes_done = true;
        maybe_finish(run);
        return;
    }
    uint64_t due = run->begin_ns + (uint64_t)((double)run->next_key / run->c->rate * 1e9);
    uint64_t now = uv_hrtime();
    uv_timer_start(&run->write_timer, on_write_timer, due > now ? (due - now) / 1000000 : 0, 0);
}

/* The origin's index + 1, added when new; 0 when the table is full. */
static uint8_t origin_index(struct cons_run *run, const char *origin)
{
    for (int i = 0; i < run->origin_count; i++)
        if (strcmp(run->origins[i], origin) == 0) return (uint8_t)(i + 1);
    if (run->origin_count == MAX_ORIGINS || strlen(origin) >= ORIGIN_MAX) return 0;
    snprintf(run->origins[run->origin_count], ORIGIN_MAX, "%s", origin);
    return (uint8_t)++run->origin_count;
}

/* herd node answers a write with its version and origin ({"key","seq","version","origin"});
 * other servers leave both unknown, and the reads time the catch-up. */
static void note_version(struct cons_run *run, uint64_t key, const struct http_client_response *res)
{
    json_t *j = res->body ? json_loads(res->body, 0, NULL) : NULL;
    json_t *version = json_object_get(j, "version");
    const char *origin = json_string_value(json_object_get(j, "origin"));
    if (json_is_integer(version) && json_integer_value(version) > 0 && origin && origin[0]) {
        run->origin[key] = origin_index(run, origin);
        if (run->origin[key]) run->version[key] = (uint64_t)json_integer_value(version);
    }
    json_decref(j);
}

static void on_written(struct http_client *c, int error, const struct http_client_response *res,
                       void *data)
{
    (void)c;
    struct cons_run *run = data;
    if (run->closing) return;
    uint64_t key = run->next_key++;
    if (error == HTTP_CLIENT_OK && res->status >= 200 && res->status < 300) {
        run->ack_ns[key] = uv_hrtime();
        run->acked++;
        note_version(run, key, res);
        for (size_t i = 0; i < run->reader_count; i++)
            reader_add(&run->readers[i], (uint32_t)key);
    } else {
        run->failed_writes++;
    }
    schedule_write(run);
}

static void write_next(struct cons_run *run)
{
    char key[64], value[96];
    key_name(run, run->next_key, key, sizeof key);
    key_value(run, run->next_key, value, sizeof value);
    format_request(&run->wreq, run->c->write_method, run->c->write_path, key, &run->target, value);
    if (http_client_send(run->writer, run->wreq.data, run->wreq.len, on_written, run) < 0)
        schedule_write(run);
}

/* ---- the faulted node's own account of its catch-up ---- */

static void probe_next(struct cons_run *run);

static void on_probe_timer(uv_timer_t *t)
{
    probe_next(t->data);
}

static void use_reads(struct cons_run *run, const char *why)
{
    run->source = CATCH_UP_READS;
    snprintf(run->source_note, sizeof run->source_note, "%s", why);
}

/* The node's answer to GET /api/v1/kv/status?key=K for the target being asked about: applied
 * (the key holds that write or a newer one), not yet, or it cannot tell. */
static void on_probe(struct http_client *c, int error, const struct http_client_response *res,
                     void *data)
{
    (void)c;
    struct cons_run *run = data;
    if (run->closing) return;
    if (error != HTTP_CLIENT_OK || res->status >= 500) { /* not back yet, or draining: again */
        uv_timer_start(&run->probe_timer, on_probe_timer, PROBE_POLL_MS, 0);
        return;
    }
    json_t *j = res->status == 200 && res->body ? json_loads(res->body, 0, NULL) : NULL;
    json_t *entry = json_object_get(j, "entry");
    if (!json_is_object(json_object_get(j, "origins")) || !entry) {
        char why[160];
        snprintf(why, sizeof why,
                 "%s does not report its applies (GET /api/v1/kv/status?key=: status %d)",
                 run->readers[run->faulted].name, res->status);
        json_decref(j);
        use_reads(run, why);
        maybe_finish(run);
        return;
    }
    struct cons_target *t = &run->targets[run->target_next];
    json_t *version = json_object_get(entry, "version"),
           *at = json_object_get(entry, "applied_at_us");
    const char *origin = json_string_value(json_object_get(entry, "origin"));
    uint64_t v = (uint64_t)json_integer_value(version);
    bool applied =
        json_is_integer(version) && json_is_integer(at) && origin &&
        (v > t->version || (v == t->version && strcmp(origin, run->origins[t->origin]) >= 0));
    if (applied) t->applied_us = json_integer_value(at);
    json_decref(j);
    if (!applied) {
        uv_timer_start(&run->probe_timer, on_probe_timer, PROBE_POLL_MS, 0);
        return;
    }
    if (++run->target_next == run->target_count) {
        run->source = CATCH_UP_NODE;
        maybe_finish(run);
        return;
    }
    probe_next(run);
}

/* Asks the faulted node about the next target's key (the keys are the check's own names, which
 * need no %-encoding). */
static void probe_next(struct cons_run *run)
{
    if (run->closing) return;
    const struct cons_reader *r = &run->readers[run->faulted];
    char key[64];
    key_name(run, run->targets[run->target_next].key, key, sizeof key);
    buf_reset(&run->preq);
    buf_printf(&run->preq,
               "GET /api/v1/kv/status?key=%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: herd-test\r\n\r\n",
               key, r->url.authority);
    if (http_client_send(run->probe, run->preq.data, run->preq.len, on_probe, run) < 0)
        uv_timer_start(&run->probe_timer, on_probe_timer, PROBE_POLL_MS, 0);
}

/* The targets: per origin, its last write acknowledged before R. Starts the probe, or says
 * why the reads measure the catch-up. */
static void probe_start(struct cons_run *run)
{
    bool unnamed = false;
    for (uint64_t k = 0; k < run->next_key; k++) {
        if (!run->ack_ns[k] || run->ack_ns[k] >= run->recover_ns) continue;
        if (!run->origin[k]) {
            unnamed = true;
            continue;
        }
        int o = run->origin[k] - 1, i = 0;
        while (i < run->target_count && run->targets[i].origin != o)
            i++;
        run->targets[i] =
            (struct cons_target){.key = (uint32_t)k, .version = run->version[k], .origin = o};
        if (i == run->target_count) run->target_count++;
    }
    if (unnamed) {
        use_reads(run, "some writes' answers named no version and origin (not herd node), or "
                       "they landed on more than 64 nodes");
        return;
    }
    if (!run->target_count) {
        use_reads(run, "no write was acknowledged before the recovery");
        return;
    }
    const struct cons_reader *r = &run->readers[run->faulted];
    struct http_client_opts o;
    http_client_opts_default(&o);
    o.connect_timeout_ms = o.header_timeout_ms = o.body_timeout_ms = READ_TIMEOUT_MS;
    o.keep_body = true;
    o.max_body_bytes = 1 << 20;
    char err[256];
    run->probe = http_client_new(&run->loop, (const struct sockaddr *)&r->addr, &r->url, &o, err,
                                 sizeof err);
    if (!run->probe) {
        use_reads(run, err);
        return;
    }
    run->source = CATCH_UP_PROBING;
    probe_next(run);
}

/* ---- fault recovery and the deadline ---- */

/* The faulted node among nodes given by URL: the one named by its URL or its X-Herd-Node. */
static int find_faulted(const struct cons_run *run)
{
    for (size_t i = 0; i < run->reader_count; i++)
        if (strcmp(run->readers[i].name, run->c->nodes[0]) == 0 ||
            strcmp(run->readers[i].node_id, run->c->nodes[0]) == 0)
            return (int)i;
    return -1;
}

/* The faulted node is back: read every key it held again (a restarted node starts empty and
 * must catch up from its peers), and ask it when it applied the last writes made before. */
static void on_recovered(uv_async_t *a)
{
    struct cons_run *run = a->data;
    if (run->closing || run->recovery_seen) return;
    run->recovery_seen = true;
    if (run->faulted < 0 && run->c->node_url_count) run->faulted = find_faulted(run);
    if (run->faulted >= 0) {
        struct cons_reader *r = &run->readers[run->faulted];
        r->rechecking = true;
        for (uint64_t k = 0; k < run->next_key; k++)
            if (run->ack_ns[k]) reader_add(r, (uint32_t)k);
        probe_start(run);
    }
    maybe_finish(run);
}

static void on_deadline(uv_timer_t *t)
{
    finish(t->data);
}

static void on_stop_asked(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    uv_poll_stop(p); /* the eventfd stays readable for the runs after */
    finish(p->data);
}

/* ---- setup and measures ---- */

static int add_reader(struct cons_run *run, const char *name, const char *url, char *err,
                      size_t errlen)
{
    struct cons_reader *r = &run->readers[run->reader_count];
    size_t n = run->c->requests;
    snprintf(r->name, sizeof r->name, "%s", name);
    if (url_parse(&r->url, url, err, errlen) < 0 || url_resolve(&r->url, &r->addr, err, errlen) < 0)
        return -1;
    r->pending = calloc(n, sizeof *r->pending);
    r->is_pending = calloc(n, 1);
    r->seen_ns = calloc(n, sizeof *r->seen_ns);
    r->recheck_ns = calloc(n, sizeof *r->recheck_ns);
    struct http_client_opts o;
    http_client_opts_default(&o);
    o.connect_timeout_ms = o.header_timeout_ms = o.body_timeout_ms = READ_TIMEOUT_MS;
    o.keep_body = true;
    o.max_body_bytes = 4096;
    o.capture_header = "X-Herd-Node";
    r->run = run;
    run->reader_count++; /* freed by the caller from here on */
    if (!r->pending || !r->is_pending || !r->seen_ns || !r->recheck_ns) {
        err_set(err, errlen, "out of memory");
        return -1;
    }
    r->client = http_client_new(&run->loop, (struct sockaddr *)&r->addr, &r->url, &o, err, errlen);
    if (!r->client) return -1;
    uv_timer_init(&run->loop, &r->timer);
    r->timer.data = r;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, size_t n, double p)
{
    if (!n) return NAN;
    size_t i = (size_t)ceil(p / 100 * (double)n);
    return sorted[i ? i - 1 : 0];
}

static json_t *spread_json(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return json_pack("{s:o,s:o,s:o}", "p50", n ? json_real(percentile(v, n, 50)) : json_null(),
                     "p99", n ? json_real(percentile(v, n, 99)) : json_null(), "max",
                     n ? json_real(v[n - 1]) : json_null());
}

/* How the faulted node caught up: catch_up_source ("node apply log" or "reads", with
 * catch_up_note saying why not the node's), catch_up_reads_ms (reads_ms: the reads' view, <0
 * when they never saw it), recovered_wall_us (R by the wall clock) and catch_up_writes (per
 * origin its last write acknowledged before R and when the node applied it, by its clock).
 * Sets *catch_up_ms (the first source's, <0 when not seen). Returns a new object. */
static json_t *catch_up_json(const struct cons_run *run, double reads_ms, double *catch_up_ms)
{
    json_t *writes = json_array();
    int64_t last = 0;
    for (int i = 0; i < run->target_count; i++) {
        const struct cons_target *t = &run->targets[i];
        char key[64];
        key_name(run, t->key, key, sizeof key);
        json_array_append_new(
            writes, json_pack("{s:s,s:I,s:s,s:o}", "key", key, "version", (json_int_t)t->version,
                              "origin", run->origins[t->origin], "applied_at_us",
                              t->applied_us ? json_integer(t->applied_us) : json_null()));
        if (t->applied_us > last) last = t->applied_us;
    }
    bool by_node = run->source == CATCH_UP_NODE || run->source == CATCH_UP_PROBING;
    if (run->source == CATCH_UP_NODE)
        *catch_up_ms =
            last > run->recover_wall_us ? (double)(last - run->recover_wall_us) / 1e3 : 0;
    else
        *catch_up_ms = by_node ? -1 : reads_ms; /* still probing at the deadline: not seen */
    json_t *out =
        json_pack("{s:s,s:o,s:I,s:o}", "catch_up_source", by_node ? "node apply log" : "reads",
                  "catch_up_reads_ms", reads_ms >= 0 ? json_real(reads_ms) : json_null(),
                  "recovered_wall_us", (json_int_t)run->recover_wall_us, "catch_up_writes", writes);
    const char *note = run->source_note[0] ? run->source_note
                       : run->faulted < 0  ? "the faulted node is not among the nodes read"
                                           : NULL;
    if (note && !by_node) json_object_set_new(out, "catch_up_note", json_string(note));
    return out;
}

static void cons_main(void *arg)
{
    struct cons_run *run = arg;
    schedule_write(run);
    uv_run(&run->loop, UV_RUN_DEFAULT);
}

static void free_run(struct cons_run *run)
{
    for (size_t i = 0; i < run->reader_count; i++) {
        struct cons_reader *r = &run->readers[i];
        free(r->pending);
        free(r->is_pending);
        free(r->seen_ns);
        free(r->recheck_ns);
        buf_free(&r->req);
    }
    buf_free(&run->wreq);
    buf_free(&run->preq);
    free(run->ack_ns);
    free(run->version);
    free(run->origin);
    free(run);
}

/* Sets up the loop, the readers and the writer. Returns 0, or -1 with a message (then the
 * caller frees with teardown_failed). */
static int setup(struct cons_run *run, const struct check_env *env, const struct plan_check *c,
                 char *err, size_t errlen)
{
    if (url_parse(&run->target, c->target, err, errlen) < 0 ||
        url_resolve(&run->target, &run->target_addr, err, errlen) < 0)
        return -1;
    char url[160], name[80];
    if (c->node_url_count) {
        for (size_t i = 0; i < c->node_url_count; i++)
            if (add_reader(run, c->node_urls[i], c->node_urls[i], err, errlen) < 0) return -1;
    } else {
        const struct cluster_group *g = cluster_spec_group(&env->p->cluster, c->group);
        for (int i = 1; g && i <= g->replicas && run->reader_count < PLAN_MAX_NODES; i++) {
            char host[40];
            cluster_group_host(g, i, host, sizeof host);
            snprintf(url, sizeof url, "http://%s:%d", host, cluster_group_port(g, i));
            snprintf(name, sizeof name, "%s.%d", g->name, i);
            if (add_reader(run, name, url, err, errlen) < 0) return -1;
            if (c->fault[0] && strcmp(name, c->nodes[0]) == 0)
                run->faulted = (int)run->reader_count - 1;
        }
    }
    struct http_client_opts o;
    http_client_opts_default(&o);
    o.header_timeout_ms = o.body_timeout_ms = WRITE_TIMEOUT_MS;
    o.keep_body = true; /* herd node names the write's version and origin */
    o.max_body_bytes = 4096;
    if (!(run->writer = http_client_new(&run->loop, (struct sockaddr *)&run->target_addr,
                                        &run->target, &o, err, errlen)))
        return -1;
    uv_timer_init(&run->loop, &run->write_timer);
    uv_timer_init(&run->loop, &run->deadline);
    uv_timer_init(&run->loop, &run->probe_timer);
    uv_async_init(&run->loop, &run->recovered, on_recovered);
    run->write_timer.data = run->deadline.data = run->recovered.data = run->probe_timer.data = run;
    run->expect_recovery = c->fault[0] != 0;
    uv_timer_start(&run->deadline, on_deadline, (c->duration_us + c->settle_us) / 1000, 0);
    if (env->stop && uv_poll_init(&run->loop, &run->stop_poll, env->stop->fd) == 0) {
        run->stop_polled = true;
        run->stop_poll.data = run;
        uv_poll_start(&run->stop_poll, UV_READABLE, on_stop_asked);
    }
    return 0;
}

static void teardown_failed(struct cons_run *run)
{
    for (size_t i = 0; i < run->reader_count; i++) {
        struct cons_reader *r = &run->readers[i];
        if (r->client) {
            uv_close((uv_handle_t *)&r->timer, NULL);
            http_client_free(r->client, NULL, NULL);
        }
    }
    uv_run(&run->loop, UV_RUN_DEFAULT);
    uv_loop_close(&run->loop);
    free_run(run);
}

static const char *const own[] = {"converge", "catch_up", "unconverged", "failed_writes", NULL};
static const struct conf_key node_url = CONF_ITEM(CONF_K_STRING, "a node's base URL");

const struct conf_key check_consistency_keys[] = {
    CONF_KEY("write", CONF_K_STRING, "the write request, \"PUT /kv/{key}\""),
    CONF_KEY("read_each_node", CONF_K_STRING, "the read sent to every node, \"GET /kv/{key}\""),
    CONF_KEY("group", CONF_K_STRING, "the group whose nodes are read"),
    CONF_KEY("nodes", CONF_K_LIST, "the nodes' base URLs (a cluster herd did not launch)",
     .item = &node_url),
    CONF_KEY("keys", CONF_K_INT, "keys written (200)"),
    CONF_KEY("rate", CONF_K_NUMBER, "writes per second (200)"),
    CONF_KEY("settle", CONF_K_DURATION, "how long reads go on after the last write (10s)"),
    CHECK_KEYS_FAULT,
    CONF_KEY("at", CONF_K_DURATION, "when the fault is injected, from the first write"),
    CONF_KEY("restart_after", CONF_K_DURATION, "when the node is brought back, from the fault"),
    CONF_KEY("converge", CONF_K_STRING, "a bound on the time until every node has a write, \"<1s\""),
    CHECK_KEY_COMMON(own),
    CONF_KEYS_END,
};

static int parse(struct plan *p, struct plan_check *c, const struct conf_doc *doc,
                 const struct conf_node *body, const struct conf_node *expect, char *err,
                 size_t errlen)
{
    (void)expect; /* read below with the other keys */
    const struct conf_node *e = conf_get(body, "expect"), *conv = conf_get(body, "converge");
    long long count = 200;
    const char *group = NULL, *fault = "none";
    c->rate = 200;
    c->settle_us = 10000000;
    if (conf_check_members(doc, body, check_consistency_keys, err, errlen) < 0 ||
        plan_parse_request_template(doc, body, "write", "PUT /kv/{key}", c->write_method,
                                    sizeof c->write_method, c->write_path, sizeof c->write_path,
                                    err, errlen) < 0 ||
        plan_parse_request_template(doc, body, "read_each_node", "GET /kv/{key}", c->read_method,
                                    sizeof c->read_method, c->read_path, sizeof c->read_path, err,
                                    errlen) < 0 ||
        conf_opt_string(doc, body, "group", &group, err, errlen) < 0 ||
        conf_opt_int(doc, body, "keys", 1, 1000000, &count, err, errlen) < 0 ||
        conf_opt_double(doc, body, "rate", 1, 100000, &c->rate, err, errlen) < 0 ||
        conf_opt_duration_us(doc, body, "settle", 100000, 600000000ULL, &c->settle_us, err,
                             errlen) < 0 ||
        conf_opt_string(doc, body, "fault", &fault, err, errlen) < 0 ||
        (e && plan_parse_expect(c, doc, e, own, err, errlen) < 0))
        return -1;
    c->requests = (uint64_t)count;
    c->duration_us = (uint64_t)((double)count / c->rate * 1e6); /* the writes' span */
    if (conv) { /* converge: "<1s" at the top, as in the plan format's example */
        const char *text;
        if (conf_to_string(doc, conv, &text, err, errlen) < 0) return -1;
        struct plan_bound *b = &c->bounds[c->bound_count];
        if (c->bound_count == PLAN_MAX_EXPECT || plan_parse_bound("converge", text, b) < 0)
            return conf_error(doc, conv, err, errlen, "expected a bound such as \"<1s\"");
        snprintf(b->key, sizeof b->key, "converge");
        c->bound_count++;
    }
    plan_default_bound(c, "unconverged", "<=0"); /* every write arrives */
    const struct conf_node *nodes = conf_get(body, "nodes");
    if (nodes) {
        if (conf_expect_seq(doc, nodes, err, errlen) < 0) return -1;
        for (const struct conf_node *x = nodes->first; x; x = x->next) {
            const char *u;
            struct url parsed;
            char uerr[256];
            if (c->node_url_count == PLAN_MAX_NODES)
                return conf_error(doc, x, err, errlen, "at most %d nodes", PLAN_MAX_NODES);
            if (conf_to_string(doc, x, &u, err, errlen) < 0) return -1;
            if (strlen(u) >= sizeof c->node_urls[0] || url_parse(&parsed, u, uerr, sizeof uerr) < 0)
                return conf_error(doc, x, err, errlen,
                                  "expected a node's base URL, e.g. "
                                  "http://127.0.0.1:8081");
            snprintf(c->node_urls[c->node_url_count++], sizeof c->node_urls[0], "%s", u);
        }
    } else if (!p->has_cluster) {
        return conf_error(doc, body, err, errlen,
                          "missing 'nodes': the base URLs of the nodes to read (the plan "
                          "launches no cluster to take them from)");
    }
    if (group || !nodes) {
        const struct cluster_group *g = NULL;
        if (!p->has_cluster)
            return conf_error(doc, conf_get(body, "group"), err, errlen,
                              "'group' needs the plan's cluster; give 'nodes' instead");
        for (size_t i = 0; !group && i < p->cluster.group_count; i++)
            if (strcmp(p->cluster.groups[i].name, CLUSTER_GATEWAY_GROUP) != 0)
                group = p->cluster.groups[i].name;
        if (!group || !(g = cluster_spec_group(&p->cluster, group)) ||
            cluster_group_port(g, 1) == 0)
            return conf_error(doc, group ? conf_get(body, "group") : body, err, errlen,
                              "expected 'group', a group of the plan's cluster with ports");
        snprintf(c->group, sizeof c->group, "%s", group);
    }
    if (strcmp(fault, "none") == 0) return 0;
    if (plan_parse_fault(c, doc, body, fault, err, errlen) < 0 ||
        plan_parse_timing(c, doc, body, 1, UINT64_MAX, err, errlen) < 0 ||
        plan_parse_fault_nodes(p, c, doc, body, false, err, errlen) < 0)
        return -1;
    if (!c->restart_after_us)
        return conf_error(doc, conf_get(body, "restart_after"), err, errlen,
                          "the faulted node must come back to catch up: expected a duration");
    return 0;
}

static json_t *run(const struct check_env *env, const struct plan_check *c, json_t *expects,
                   bool *pass, char *err, size_t errlen)
{
    struct cons_run *run = calloc(1, sizeof *run);
    if (!run || !(run->ack_ns = calloc(c->requests, sizeof *run->ack_ns)) ||
        !(run->version = calloc(c->requests, sizeof *run->version)) ||
        !(run->origin = calloc(c->requests, sizeof *run->origin))) {
        if (run) free_run(run);
        err_set(err, errlen, "out of memory");
        return NULL;
    }
    run->c = c;
    run->faulted = -1;
    snprintf(run->prefix, sizeof run->prefix, "herd-%d-%llu", (int)getpid(),
             (unsigned long long)(uv_hrtime() / 1000000));
    uv_loop_init(&run->loop);
    if (setup(run, env, c, err, errlen) < 0) {
        teardown_failed(run);
        return NULL;
    }

    /* the writes and reads run on their own thread; the fault is injected from here */
    run->begin_ns = uv_hrtime();
    uv_thread_t tid;
    uv_thread_create(&tid, cons_main, run);
    uint64_t fault_ns = 0;
    char fault_err[512] = "", recover_err[512] = "";
    int fault_rc = 0, recover_rc = 0;
    if (c->fault[0] && check_wait_until(env, run->begin_ns + c->at_us * 1000)) {
        fault_ns = uv_hrtime();
        fault_rc = check_fault_inject(env, c, fault_err, sizeof fault_err);
        check_wait_until(env, fault_ns + c->restart_after_us * 1000); /* interrupted: now */
        /* R, the recovery, is when it is asked for (as in failover): the faulted node's reader
         * starts reading everything again at once, so catch-up includes the restart itself */
        run->recover_ns = uv_hrtime();
        run->recover_wall_us = mtime_wall_us();
        uv_async_send(&run->recovered);
        if (fault_rc == 0)
            recover_rc = check_fault_recover(env, c, recover_err, sizeof recover_err);
    }
    uv_thread_join(&tid);
    uv_run(&run->loop, UV_RUN_DEFAULT); /* the close callbacks */
    uv_loop_close(&run->loop);

    /* convergence per key and node: from the acknowledgement, or for the faulted node and a
     * key written while it was down, from its recovery */
    size_t pairs = 0, missing = 0, n = c->requests;
    double *all = calloc(n * run->reader_count + 1, sizeof *all);
    double *one = calloc(n + 1, sizeof *one);
    double reads_ms = -1; /* catch-up as the reads saw it */
    json_t *nodes = json_array();
    for (size_t i = 0; all && one && i < run->reader_count; i++) {
        struct cons_reader *r = &run->readers[i];
        bool faulted = (int)i == run->faulted;
        size_t k = 0, node_missing = 0;
        double max_lag_ms = 0; /* acknowledgement -> held here, whatever the fault */
        for (uint64_t key = 0; key < n; key++) {
            if (!run->ack_ns[key]) continue;
            uint64_t ack = run->ack_ns[key], seen = r->seen_ns[key], start = ack;
            if (faulted && ack >= fault_ns && ack < run->recover_ns) start = run->recover_ns;
            if (faulted && ack < run->recover_ns) {
                /* written before the recovery: when did the node hold it again? (a key it
                 * held before the fault was read again after the recovery) */
                uint64_t again = ack < fault_ns ? (r->recheck_ns[key]        ? r->recheck_ns[key]
                                                   : seen >= run->recover_ns ? seen
                                                                             : 0)
                                                : seen;
                if (!again) {
                    node_missing++;
                    continue;
                }
                double ms = again > run->recover_ns ? (double)(again - run->recover_ns) / 1e6 : 0;
                if (ms > reads_ms) reads_ms = ms;
            }
            if (!seen) {
                node_missing++;
                continue;
            }
            one[k++] = all[pairs++] = seen > start ? (double)(seen - start) / 1e6 : 0;
            if (seen > ack && (double)(seen - ack) / 1e6 > max_lag_ms)
                max_lag_ms = (double)(seen - ack) / 1e6;
        }
        missing += node_missing;
        json_t *spread = spread_json(one, k);
        json_object_set_new(spread, "node", json_string(r->name));
        json_object_set_new(spread, "converged", json_integer((json_int_t)k));
        json_object_set_new(spread, "unconverged", json_integer((json_int_t)node_missing));
        json_object_set_new(spread, "max_lag_ms", json_real(max_lag_ms));
        json_object_set_new(spread, "reads", json_integer((json_int_t)r->reads));
        json_object_set_new(spread, "read_errors", json_integer((json_int_t)r->errors));
        json_array_append_new(nodes, spread);
    }
    json_t *convergence = all ? spread_json(all, pairs) : json_null();
    double max_ms = pairs && all ? all[pairs - 1] : INFINITY;
    free(one);
    free(all);

    bool ok = check_judge_bound(c, "converge", max_ms, expects);
    ok &= check_judge_bound(c, "unconverged", (double)missing, expects);
    ok &= check_judge_bound(c, "failed_writes", (double)run->failed_writes, expects);
    if (run->acked == 0) {
        json_array_append_new(expects, check_expectation("some write was acknowledged", 0, false));
        ok = false;
    }
    json_t *out = json_pack(
        "{s:s,s:s,s:I,s:f,s:{s:I,s:I,s:I},s:o,s:o}", "write", c->write_path, "read_each_node",
        c->read_path, "keys", (json_int_t)c->requests, "rate", c->rate, "writes", "attempted",
        (json_int_t)run->next_key, "acknowledged", (json_int_t)run->acked, "failed",
        (json_int_t)run->failed_writes, "convergence_ms", convergence, "nodes", nodes);
    json_object_set_new(out, "unconverged", json_integer((json_int_t)missing));
    if (c->fault[0]) {
        double catch_up_ms;
        json_t *how = catch_up_json(run, reads_ms, &catch_up_ms);
        ok &= check_judge_bound(c, "catch_up", catch_up_ms >= 0 ? catch_up_ms : INFINITY, expects);
        if (fault_rc < 0 || recover_rc < 0) {
            json_array_append_new(expects,
                                  check_expectation("the fault was injected and undone", 0, false));
            ok = false;
        }
        json_t *f = json_pack("{s:s,s:s,s:f,s:f,s:o}", "fault", c->fault, "node", c->nodes[0],
                              "at_s", (double)(fault_ns - run->begin_ns) / 1e9, "recovered_at_s",
                              (double)(run->recover_ns - run->begin_ns) / 1e9, "catch_up_ms",
                              catch_up_ms >= 0 ? json_real(catch_up_ms) : json_null());
        json_object_update(f, how);
        json_decref(how);
        if (fault_err[0] || recover_err[0])
            json_object_set_new(f, "error", json_string(fault_err[0] ? fault_err : recover_err));
        json_object_set_new(out, "fault", f);
    }
    *pass = ok;
    free_run(run);
    return out;
}

const struct check_kind check_consistency_kind = {"consistency", parse, run};
