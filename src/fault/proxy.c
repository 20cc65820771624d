/* proxy.c -- the fault proxy: TCP relays that pass, delay, reset or swallow (see proxy.h). */
#include "fault/proxy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "base/err.h"
#include "base/loop_call.h"
#include "base/log.h"

#define READ_SIZE 65536
#define QUEUE_HIGH (1u << 20) /* a side's write queue above it: stop reading the other side */
#define HELD_MAX   (4u << 20) /* bytes a latency fault may hold per connection */
#define FP_NAME_MAX 64

struct fp_relay;

/* Bytes from the node held back by the latency fault. */
struct fp_chunk {
    uint64_t due_ms;
    size_t len;
    struct fp_chunk *next;
    char data[];
};

/* One client connection and its connection to the node. Each direction ends with a
 * half-close passed on (uv_shutdown, which waits for the queued writes): the connection is
 * closed once both directions ended, or at once (reset) on an error. */
struct fp_conn {
    struct fp_relay *relay;
    uv_tcp_t client, upstream;
    uv_connect_t connect;
    uv_shutdown_t client_shutdown, upstream_shutdown;
    uv_timer_t timer; /* the next held-back chunk */
    struct fp_chunk *held, *held_tail;
    size_t held_bytes;
    char *early; /* client bytes that came before the node connection */
    size_t early_len;
    bool upstream_open, upstream_ready, blackholed, closing;
    bool client_eof, upstream_eof;       /* a side sent its FIN (or the read ended) */
    bool client_shut, upstream_shut;     /* that FIN was passed on (shutdown asked) */
    bool client_reading, upstream_reading;
    int shutdowns_done;
    int open_handles;
    struct fp_conn *prev, *next;
};

struct fp_relay {
    struct fault_proxies *set;
    char name[FP_NAME_MAX];
    uv_tcp_t listener;
    struct sockaddr_in upstream;
    enum fault_proxy_mode mode;
    uint32_t latency_ms;
    struct fp_conn *conns;
};

struct fault_proxies {
    uv_loop_t loop;
    uv_thread_t thread;
    struct loop_call call; /* fault_proxies_set and the stop, on the proxies' thread */
    bool running;
    struct fp_relay **relays; /* each allocated once: libuv holds their handles */
    size_t count;
};

/* A change asked of the proxies' thread. */
struct fp_change {
    size_t relay;
    enum fault_proxy_mode mode;
    uint32_t latency_ms;
};

struct fp_write {
    uv_write_t req;
    struct fp_conn *conn;
    char data[];
};

/* ---- connections ---- */

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct fp_conn *c = h->data;
    if (--c->open_handles > 0) return;
    for (struct fp_chunk *k = c->held, *next; k; k = next) {
        next = k->next;
        free(k);
    }
    free(c->early);
    free(c);
}

static void conn_close(struct fp_conn *c, bool reset)
{
    if (c->closing) return;
    c->closing = true;
    struct fp_relay *r = c->relay;
    if (c->prev)
        c->prev->next = c->next;
    else
        r->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    if (reset && uv_tcp_close_reset(&c->client, on_conn_handle_closed) == 0) {
        /* closed with RST */
    } else {
        uv_close((uv_handle_t *)&c->client, on_conn_handle_closed);
    }
    if (c->upstream_open) {
        if (!reset || uv_tcp_close_reset(&c->upstream, on_conn_handle_closed) != 0)
            uv_close((uv_handle_t *)&c->upstream, on_conn_handle_closed);
    }
}

static void update_reading(struct fp_conn *c);

static void on_written(uv_write_t *req, int status)
{
    struct fp_write *w = req->data;
    struct fp_conn *c = w->conn;
    free(w);
    if (c->closing) return; /* cancelled by the close: c lives until its close callbacks */
    if (status < 0) {
        conn_close(c, true);
        return;
    }
    update_reading(c);
}

static void send_bytes(struct fp_conn *c, uv_tcp_t *to, const char *data, size_t len)
{
    struct fp_write *w = malloc(sizeof *w + len);
    if (!w) {
        conn_close(c, true); /* a byte dropped would corrupt the stream: reset instead */
        return;
    }
    memcpy(w->data, data, len);
    w->req.data = w;
    w->conn = c;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)to, &b, 1, on_written) < 0) {
        free(w);
        conn_close(c, true);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = malloc(READ_SIZE);
    buf->len = buf->base ? READ_SIZE : 0;
}

static void on_upstream_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct fp_conn *c = req->data;
    if (c->closing) return;
    if (status < 0 || ++c->shutdowns_done == 2) conn_close(c, status < 0);
}

/* Starts or stops reading tcp so that it reads when want says; *reading tracks which. */
static void reading_set(uv_tcp_t *tcp, bool *reading, bool want, uv_read_cb on_read)
{
    if (want == *reading) return;
    *reading = want;
    if (want)
        uv_read_start((uv_stream_t *)tcp, on_alloc, on_read);
    else
        uv_read_stop((uv_stream_t *)tcp);
}

/* Passes on each FIN once what came before it is written (and, from the node, no longer
 * held), and reads each side while the other side's queue (and the held bytes) are small. */
static void update_reading(struct fp_conn *c)
{
    if (c->closing) return;
    if (c->client_eof && c->upstream_ready && !c->upstream_shut) {
        c->upstream_shut = true;
        c->upstream_shutdown.data = c;
        if (uv_shutdown(&c->upstream_shutdown, (uv_stream_t *)&c->upstream, on_shutdown) < 0) {
            conn_close(c, true);
            return;
        }
    }
    if (c->upstream_eof && !c->held && !c->client_shut) {
        c->client_shut = true;
        c->client_shutdown.data = c;
        if (uv_shutdown(&c->client_shutdown, (uv_stream_t *)&c->client, on_shutdown) < 0) {
            conn_close(c, true);
            return;
        }
    }
    bool client = !c->client_eof &&
                  (c->blackholed || (c->upstream_ready ? c->upstream.write_queue_size < QUEUE_HIGH
                                                       : c->early_len < QUEUE_HIGH));
    bool upstream = c->upstream_ready && !c->upstream_eof && !c->blackholed &&
                    c->client.write_queue_size < QUEUE_HIGH && c->held_bytes < HELD_MAX;
    reading_set(&c->client, &c->client_reading, client, on_client_read);
    reading_set(&c->upstream, &c->upstream_reading, upstream, on_upstream_read);
}

static void flush_held(struct fp_conn *c)
{
    uint64_t now = uv_now(c->timer.loop);
    while (c->held && c->held->due_ms <= now && !c->closing) {
        struct fp_chunk *k = c->held;
        c->held = k->next;
        if (!c->held) c->held_tail = NULL;
        c->held_bytes -= k->len;
        send_bytes(c, &c->client, k->data, k->len);
        free(k);
    }
}

static void on_held_due(uv_timer_t *t)
{
    struct fp_conn *c = t->data;
    flush_held(c);
    if (c->closing) return;
    if (c->held)
        uv_timer_start(&c->timer, on_held_due, c->held->due_ms - uv_now(t->loop), 0);
    update_reading(c);
}

/* From the node to the client. */
static void on_upstream_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct fp_conn *c = s->data;
    struct fp_relay *r = c->relay;
    if (n < 0 && n != UV_EOF) {
        conn_close(c, true);
    } else if (n == UV_EOF) {
        c->upstream_eof = true;
    } else if (n > 0 && !c->closing && !c->blackholed) {
        if (r->mode == FAULT_PROXY_LATENCY || c->held) {
            struct fp_chunk *k = malloc(sizeof *k + (size_t)n);
            if (!k) {
                conn_close(c, true);
            } else {
                k->due_ms = uv_now(s->loop) + (r->mode == FAULT_PROXY_LATENCY ? r->latency_ms : 0);
                k->len = (size_t)n;
                k->next = NULL;
                memcpy(k->data, buf->base, (size_t)n);
                if (c->held_tail)
                    c->held_tail->next = k;
                else
                    c->held = k;
                c->held_tail = k;
                c->held_bytes += k->len;
                if (!uv_is_active((uv_handle_t *)&c->timer))
                    uv_timer_start(&c->timer, on_held_due, k->due_ms - uv_now(s->loop), 0);
            }
        } else {
            send_bytes(c, &c->client, buf->base, (size_t)n);
        }
    }
    free(buf->base);
    update_reading(c);
}

/* From the client to the node. */
static void on_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct fp_conn *c = s->data;
    if (n < 0 && (n != UV_EOF || c->blackholed)) {
        conn_close(c, n != UV_EOF);
    } else if (n == UV_EOF) {
        c->client_eof = true;
    } else if (n > 0 && !c->blackholed) {
        if (c->upstream_ready) {
            send_bytes(c, &c->upstream, buf->base, (size_t)n);
        } else {
            char *more = realloc(c->early, c->early_len + (size_t)n);
            if (!more) {
                conn_close(c, true);
            } else {
                memcpy(more + c->early_len, buf->base, (size_t)n);
                c->early = more;
                c->early_len += (size_t)n;
            }
        }
    }
    free(buf->base);
    update_reading(c);
}

static void on_upstream_connected(uv_connect_t *req, int status)
{
    struct fp_conn *c = req->data;
    if (c->closing) return;
    if (status < 0) { /* the node is down: the client sees its connection reset */
        conn_close(c, true);
        return;
    }
    c->upstream_ready = true;
    if (c->early_len) send_bytes(c, &c->upstream, c->early, c->early_len);
    free(c->early);
    c->early = NULL;
    c->early_len = 0;
    update_reading(c);
}

static void on_accept(uv_stream_t *server, int status)
{
    struct fp_relay *r = server->data;
    if (status < 0) return;
    struct fp_conn *c = calloc(1, sizeof *c);
    if (!c) return;
    c->relay = r;
    uv_tcp_init(server->loop, &c->client);
    uv_timer_init(server->loop, &c->timer);
    c->client.data = c->timer.data = c;
    c->open_handles = 2;
    c->next = r->conns;
    if (r->conns) r->conns->prev = c;
    r->conns = c;
    if (uv_accept(server, (uv_stream_t *)&c->client) < 0) {
        conn_close(c, false);
        return;
    }
    uv_tcp_nodelay(&c->client, 1);
    if (r->mode == FAULT_PROXY_RESET) {
        conn_close(c, true);
        return;
    }
    c->client_reading = true;
    uv_read_start((uv_stream_t *)&c->client, on_alloc, on_client_read);
    if (r->mode == FAULT_PROXY_BLACKHOLE) {
        c->blackholed = true; /* read and dropped; the node never hears of it */
        return;
    }
    uv_tcp_init(server->loop, &c->upstream);
    uv_tcp_nodelay(&c->upstream, 1);
    c->upstream.data = c;
    c->upstream_open = true;
    c->open_handles++;
    c->connect.data = c;
    if (uv_tcp_connect(&c->connect, &c->upstream, (const struct sockaddr *)&r->upstream,
                       on_upstream_connected) < 0)
        conn_close(c, true);
}

/* ---- modes ---- */

static void apply_mode(struct fp_relay *r, enum fault_proxy_mode mode, uint32_t latency_ms)
{
    enum fault_proxy_mode old = r->mode;
    r->mode = mode;
    r->latency_ms = latency_ms;
    struct fp_conn *next;
    for (struct fp_conn *c = r->conns; c; c = next) {
        next = c->next;
        if (mode == FAULT_PROXY_RESET || (old == FAULT_PROXY_BLACKHOLE && c->blackholed))
            conn_close(c, true);
        else if (mode == FAULT_PROXY_BLACKHOLE)
            c->blackholed = true;
    }
    log_info("fault proxy %s: %s", r->name,
             mode == FAULT_PROXY_PASS      ? "pass"
             : mode == FAULT_PROXY_LATENCY ? "latency"
             : mode == FAULT_PROXY_RESET   ? "reset"
                                           : "blackhole");
}

static void on_change(struct loop_call *lc, void *arg)
{
    struct fault_proxies *s = (struct fault_proxies *)((char *)lc - offsetof(struct fault_proxies, call));
    struct fp_change *ch = arg;
    apply_mode(s->relays[ch->relay], ch->mode, ch->latency_ms);
    loop_call_done(lc);
}

/* Closes every relay and the call's own handle: the loop then ends. */
static void close_all(struct fault_proxies *s)
{
    for (size_t i = 0; i < s->count; i++) {
        struct fp_relay *r = s->relays[i];
        while (r->conns)
            conn_close(r->conns, false);
        uv_close((uv_handle_t *)&r->listener, NULL);
    }
    loop_call_close(&s->call);
}

static void on_stop(struct loop_call *lc, void *arg)
{
    close_all(arg);
    loop_call_done(lc);
}

static void loop_main(void *arg)
{
    struct fault_proxies *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
}

/* ---- the set ---- */

struct fault_proxies *fault_proxies_new(void)
{
    struct fault_proxies *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    uv_loop_init(&s->loop);
    loop_call_init(&s->call, &s->loop);
    return s;
}

int fault_proxies_add(struct fault_proxies *s, const char *name, int listen_port, int upstream_port,
                      char *err, size_t errlen)
{
    struct fp_relay **more = realloc(s->relays, (s->count + 1) * sizeof *more);
    struct fp_relay *r = calloc(1, sizeof *r);
    if (more) s->relays = more;
    if (!more || !r) {
        free(r);
        return err_set(err, errlen, "out of memory");
    }
    s->relays[s->count] = r;
    r->set = s;
    snprintf(r->name, sizeof r->name, "%s", name);
    uv_ip4_addr("127.0.0.1", upstream_port, &r->upstream);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", listen_port, &addr);
    uv_tcp_init(&s->loop, &r->listener);
    r->listener.data = r;
    s->count++;
    int rc = uv_tcp_bind(&r->listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&r->listener, 511, on_accept);
    if (rc < 0)
        return err_set(err, errlen, "fault proxy for %s: cannot listen on 127.0.0.1:%d: %s", name,
                       listen_port, uv_strerror(rc));
    return 0;
}

int fault_proxies_start(struct fault_proxies *s, char *err, size_t errlen)
{
    if (uv_thread_create(&s->thread, loop_main, s) != 0)
        return err_set(err, errlen, "fault proxy: cannot start its thread");
    s->running = true;
    return 0;
}

int fault_proxies_set(struct fault_proxies *s, const char *name, enum fault_proxy_mode mode,
                      uint32_t latency_ms)
{
    size_t i = 0;
    while (s && i < s->count && strcmp(s->relays[i]->name, name) != 0)
        i++;
    if (!s || i == s->count || !s->running) return -1;
    struct fp_change ch = {i, mode, latency_ms};
    loop_call_run(&s->call, on_change, &ch);
    return 0;
}

int fault_proxy_mode_parse(const char *text, enum fault_proxy_mode *out)
{
    static const char *const names[] = {"pass", "latency", "reset", "blackhole"};
    for (int i = 0; i < 4; i++)
        if (strcmp(text, names[i]) == 0) {
            *out = (enum fault_proxy_mode)i;
            return 0;
        }
    return -1;
}

void fault_proxies_free(struct fault_proxies *s)
{
    if (!s) return;
    if (s->running) {
        loop_call_run(&s->call, on_stop, s);
        uv_thread_join(&s->thread);
    } else {
        close_all(s);
        uv_run(&s->loop, UV_RUN_DEFAULT);
    }
    uv_loop_close(&s->loop);
    loop_call_destroy(&s->call);
    for (size_t i = 0; i < s->count; i++)
        free(s->relays[i]);
    free(s->relays);
    free(s);
}
