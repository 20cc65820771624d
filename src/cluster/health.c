/* health.c -- the gateway's active checks (HAProxy's inter/fastinter/downinter, rise/fall,
 * timeout): one timer per node on the gateway's main loop; an HTTP check is a fresh
 * connection with GET path, a TCP check a connect. Verdicts go to the registry. */
#include "cluster/health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mtime.h"
#include "http/client.h"

struct health_check {
    struct health *h;
    int index;
    uint32_t epoch; /* the slot's epoch when the running check started */
    uv_timer_t timer;
    struct http_client *client; /* HTTP check in progress */
    uv_tcp_t tcp;                /* TCP check in progress */
    uv_connect_t connect_req;
    bool tcp_busy;
    int handles; /* timer + TCP socket open */
    bool running;
    bool closing;
    uint64_t started_us;
};

static void schedule(struct health_check *c);

static void finish(struct health_check *c, bool ok, const char *why)
{
    c->running = false;
    double ms = (double)(mtime_now_us() - c->started_us) / 1000.0;
    registry_check_result(c->h->reg, c->index, c->epoch, ok, ms, why);
    schedule(c);
}

static void on_http_freed(void *data)
{
    (void)data;
}

static void on_http_done(struct http_client *client, int error,
                         const struct http_client_response *res, void *data)
{
    struct health_check *c = data;
    char why[160], outcome[64];
    bool ok = error == HTTP_CLIENT_OK && res->status >= 200 && res->status < 400;
    int sys = http_client_connect_error(client);
    /* what a newcomer acts on: "GET /health -> 404" says to point the check elsewhere */
    if (error == HTTP_CLIENT_OK)
        snprintf(outcome, sizeof outcome, "%d", res->status);
    else if (error == HTTP_CLIENT_ECONNECT)
        snprintf(outcome, sizeof outcome, "%s", sys ? uv_strerror(sys) : "connect timeout");
    else if (error == HTTP_CLIENT_ETIMEOUT)
        snprintf(outcome, sizeof outcome, "no answer within %llu ms",
                 (unsigned long long)c->h->timeout_ms);
    else
        snprintf(outcome, sizeof outcome, "%s error", http_client_error_name(error));
    snprintf(why, sizeof why, "GET %.40s -> %s", c->h->path, outcome);
    c->client = NULL;
    http_client_free(client, on_http_freed, NULL);
    finish(c, ok, ok ? "" : why);
}

static void check_release(struct health_check *c)
{
    if (!c->closing || c->handles > 0) return;
    free(c);
}

static void on_tcp_closed(uv_handle_t *handle)
{
    struct health_check *c = handle->data;
    c->tcp_busy = false;
    c->handles--;
    check_release(c);
}

static void on_tcp_connected(uv_connect_t *req, int status)
{
    struct health_check *c = req->data;
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
    if (!c->running || c->closing) return; /* timed out meanwhile */
    char why[96];
    snprintf(why, sizeof why, "connect -> %s", status < 0 ? uv_strerror(status) : "");
    finish(c, status == 0, status == 0 ? "" : why);
}

/* The check's own deadline for TCP (HTTP checks time themselves). */
static void on_tcp_timeout(struct health_check *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
    finish(c, false, "connect -> timeout");
}

static void on_timer(uv_timer_t *timer)
{
    struct health_check *c = timer->data;
    struct health *h = c->h;
    if (c->running) { /* only TCP checks run the timer as their deadline */
        on_tcp_timeout(c);
        return;
    }
    struct registry *reg = h->reg;
    pthread_mutex_lock(&reg->lock);
    struct registry_node *n = &reg->nodes[c->index];
    bool skip = n->removed || n->admin == REGISTRY_MAINT;
    struct sockaddr_storage addr = n->addr;
    c->epoch = n->epoch;
    char host[256];
    snprintf(host, sizeof host, "%s", n->host);
    pthread_mutex_unlock(&reg->lock);
    if (skip) {
        schedule(c);
        return;
    }
    c->running = true;
    c->started_us = mtime_now_us();
    if (h->type == GATEWAY_CHECK_NONE) { /* an ejected node returns after downinter */
        finish(c, true, "");
        return;
    }
    if (h->type == GATEWAY_CHECK_TCP) {
        if (c->tcp_busy) { /* the last socket is still closing */
            c->running = false;
            schedule(c);
            return;
        }
        uv_tcp_init(timer->loop, &c->tcp);
        c->tcp.data = c;
        c->tcp_busy = true;
        c->handles++;
        c->connect_req.data = c;
        if (uv_tcp_connect(&c->connect_req, &c->tcp, (struct sockaddr *)&addr, on_tcp_connected) < 0) {
            uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
            finish(c, false, "connect -> failed");
            return;
        }
        uv_timer_start(&c->timer, on_timer, h->timeout_ms, 0);
        return;
    }
    struct http_client_opts o;
    http_client_opts_default(&o);
    o.connect_timeout_ms = o.header_timeout_ms = o.body_timeout_ms = (uint32_t)h->timeout_ms;
    char err[128];
    c->client = http_client_new(timer->loop, (struct sockaddr *)&addr, NULL, &o, err, sizeof err);
    if (!c->client) {
        finish(c, false, err);
        return;
    }
    char req[512];
    int len = snprintf(req, sizeof req,
                       "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: herd-gateway-check\r\n"
                       "Connection: close\r\n\r\n",
                       h->path, host);
    http_client_send(c->client, req, (size_t)len, on_http_done, c);
}

/* The interval before n's next check: inter when steady, fastinter while the node changes
 * state (ejected by the passive checks included), downinter down. The caller holds the
 * registry's lock. */
static uint64_t interval_ms(const struct health *h, const struct registry_node *n)
{
    if (h->type == GATEWAY_CHECK_NONE) return n->ejected ? h->downinter_ms : h->inter_ms;
    if (!n->up) return n->check_ok > 0 ? h->fastinter_ms : h->downinter_ms;
    if (n->ejected || n->check_fail > 0) return h->fastinter_ms;
    return h->inter_ms;
}

static void schedule(struct health_check *c)
{
    struct health *h = c->h;
    if (h->stopping || c->closing) return;
    struct registry *reg = h->reg;
    pthread_mutex_lock(&reg->lock);
    uint64_t ms = interval_ms(h, &reg->nodes[c->index]);
    pthread_mutex_unlock(&reg->lock);
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

void health_init(struct health *h, uv_loop_t *loop, struct registry *reg,
                 const struct gateway_opts *o)
{
    memset(h, 0, sizeof *h);
    h->loop = loop;
    h->reg = reg;
    h->type = o->check;
    snprintf(h->path, sizeof h->path, "%s", o->check_path);
    h->inter_ms = o->inter_us / 1000;
    h->fastinter_ms = o->fastinter_us / 1000;
    h->downinter_ms = o->downinter_us / 1000;
    h->timeout_ms = o->check_timeout_us / 1000;
}

void health_sync(struct health *h)
{
    if (h->stopping) return;
    struct registry *reg = h->reg;
    pthread_mutex_lock(&reg->lock);
    size_t count = reg->count;
    uint64_t generation = atomic_load_explicit(&reg->generation, memory_order_acquire);
    pthread_mutex_unlock(&reg->lock);
    if (count > h->count) {
        struct health_check **more = realloc(h->checks, count * sizeof *more);
        if (!more) return;
        h->checks = more;
    }
    /* a node whose state changed since its check was scheduled (ejected by the proxy threads)
     * is checked at its new pace, not at the end of a steady inter; every such change moves
     * the generation, so a tick that sees none costs nothing for 10,000 nodes */
    if (generation != h->generation) {
        h->generation = generation;
        pthread_mutex_lock(&reg->lock);
        for (size_t i = 0; i < h->count; i++) {
            struct health_check *c = h->checks[i];
            if (c->running || c->closing || !uv_is_active((uv_handle_t *)&c->timer)) continue;
            uint64_t ms = interval_ms(h, &reg->nodes[c->index]);
            if (uv_timer_get_due_in(&c->timer) > ms) uv_timer_start(&c->timer, on_timer, ms, 0);
        }
        pthread_mutex_unlock(&reg->lock);
    }
    size_t first = h->count, batch = count - first;
    for (; h->count < count; h->count++) {
        struct health_check *c = calloc(1, sizeof *c);
        if (!c) break;
        c->h = h;
        c->index = (int)h->count;
        uv_timer_init(h->loop, &c->timer);
        c->timer.data = c;
        c->handles = 1;
        h->checks[h->count] = c;
        /* the first check of a lone new node goes at once (a node that is not there is found
         * out quickly); a batch is spread over the interval its nodes start with */
        pthread_mutex_lock(&reg->lock);
        uint64_t window = interval_ms(h, &reg->nodes[c->index]);
        pthread_mutex_unlock(&reg->lock);
        uint64_t delay = window * (h->count - first) / batch;
        uv_timer_start(&c->timer, on_timer,
                       h->type == GATEWAY_CHECK_NONE ? h->inter_ms + delay : delay, 0);
    }
}

static void on_check_closed(uv_handle_t *handle)
{
    struct health_check *c = handle->data;
    c->handles--;
    check_release(c);
}

void health_stop(struct health *h)
{
    h->stopping = true;
    for (size_t i = 0; i < h->count; i++) {
        struct health_check *c = h->checks[i];
        c->closing = true;
        if (c->client) {
            http_client_free(c->client, on_http_freed, NULL);
            c->client = NULL;
        }
        if (c->tcp_busy && !uv_is_closing((uv_handle_t *)&c->tcp))
            uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
        uv_close((uv_handle_t *)&c->timer, on_check_closed);
    }
    free(h->checks);
    h->checks = NULL;
    h->count = 0;
}
