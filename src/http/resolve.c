/* resolve.c -- host name lookups that never block a loop (see resolve.h). */
#include "http/resolve.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/* Freed once both have let go of it: the lookup came back from the pool, the timer closed. */
struct resolve {
    uv_getaddrinfo_t lookup;
    uv_timer_t timer;
    resolve_cb cb; /* NULL once called or cancelled */
    void *data;
    bool lookup_done;
    bool timer_closed;
};

static void maybe_free(struct resolve *r)
{
    if (r->lookup_done && r->timer_closed) free(r);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct resolve *r = h->data;
    r->timer_closed = true;
    maybe_free(r);
}

/* Stops the clock and takes the callback away, so that it runs once at most. */
static resolve_cb settle(struct resolve *r)
{
    resolve_cb cb = r->cb;
    r->cb = NULL;
    if (!uv_is_closing((uv_handle_t *)&r->timer)) uv_close((uv_handle_t *)&r->timer, on_timer_closed);
    return cb;
}

static void on_lookup(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct resolve *r = req->data;
    r->lookup_done = true;
    resolve_cb cb = settle(r);
    if (cb) cb(status == 0 && !res ? UV_EAI_NONAME : status, res, r->data);
    uv_freeaddrinfo(res);
    maybe_free(r);
}

static void on_timeout(uv_timer_t *timer)
{
    struct resolve *r = timer->data;
    resolve_cb cb = settle(r);
    uv_cancel((uv_req_t *)&r->lookup); /* still queued: it ends now; running: when it returns */
    if (cb) cb(UV_ETIMEDOUT, NULL, r->data);
}

struct resolve *resolve_start(uv_loop_t *loop, const char *host, int port, uint32_t timeout_ms,
                              resolve_cb cb, void *data, int *error)
{
    struct resolve *r = calloc(1, sizeof *r);
    if (!r) {
        *error = UV_ENOMEM;
        return NULL;
    }
    r->cb = cb;
    r->data = data;
    r->lookup.data = r;
    r->timer.data = r;
    uv_timer_init(loop, &r->timer);
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc = uv_getaddrinfo(loop, &r->lookup, on_lookup, host, service, &hints);
    if (rc < 0) {
        *error = rc;
        r->lookup_done = true;
        settle(r); /* freed when the timer has closed */
        return NULL;
    }
    uv_timer_start(&r->timer, on_timeout, timeout_ms, 0);
    return r;
}

void resolve_cancel(struct resolve *r)
{
    settle(r);
    uv_cancel((uv_req_t *)&r->lookup);
}
