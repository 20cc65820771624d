/* fetch.c -- one synchronous HTTP request (see fetch.h). */
#include "http/fetch.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uv.h>

#include "base/buf.h"
#include "base/err.h"
#include "http/client.h"
#include "http/url.h"

struct fetch {
    int error, status;
    bool done, truncated, cancelled;
    size_t max_body;
    struct buf body, headers;
};

static void on_cancel(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    struct fetch *f = h->data;
    f->cancelled = true;
    uv_poll_stop(h);
}

static void on_head(struct http_client *c, const struct http_client_response *res,
                    const struct http_client_header *headers, size_t count, void *data)
{
    (void)c;
    (void)res;
    struct fetch *f = data;
    for (size_t i = 0; i < count; i++) {
        size_t at = f->headers.len;
        buf_printf(&f->headers, "%s: %s\n", headers[i].name, headers[i].value);
        for (char *n = f->headers.data ? f->headers.data + at : NULL; n && *n && *n != ':'; n++)
            *n = (char)tolower((unsigned char)*n);
    }
}

static void on_body_piece(struct http_client *c, const char *at, size_t len, void *data)
{
    (void)c;
    struct fetch *f = data;
    size_t room = f->max_body > f->body.len ? f->max_body - f->body.len : 0;
    if (len > room) {
        f->truncated = true;
        len = room;
    }
    if (len) buf_append(&f->body, at, len);
}

static void on_answer(struct http_client *c, int error, const struct http_client_response *res,
                      void *data)
{
    (void)c;
    struct fetch *f = data;
    f->done = true;
    f->error = error;
    f->status = res->status;
}

int http_fetch(const char *base_url, const char *method, const char *path, const char *body,
               int timeout_ms, int *status, char **response, char *err, size_t errlen)
{
    return http_fetch_with(base_url, method, path, NULL, body, timeout_ms, status, response, err,
                           errlen);
}

int http_fetch_with(const char *base_url, const char *method, const char *path,
                    const char *headers, const char *body, int timeout_ms, int *status,
                    char **response, char *err, size_t errlen)
{
    return http_fetch_until(base_url, method, path, headers, body, timeout_ms, -1, status,
                            response, err, errlen);
}

static int fetch_run(const char *base_url, const char *method, const char *path,
                     const char *headers, const char *body, int timeout_ms, size_t max_body,
                     int cancel_fd, struct http_fetch_answer *a, char *err, size_t errlen);

int http_fetch_until(const char *base_url, const char *method, const char *path,
                     const char *headers, const char *body, int timeout_ms, int cancel_fd,
                     int *status, char **response, char *err, size_t errlen)
{
    struct http_fetch_answer a;
    *response = NULL;
    if (fetch_run(base_url, method, path, headers, body, timeout_ms, 64u << 20, cancel_fd, &a,
                  err, errlen) < 0)
        return -1;
    *status = a.status;
    *response = a.body;
    a.body = NULL;
    http_fetch_answer_free(&a);
    return 0;
}

void http_fetch_answer_free(struct http_fetch_answer *a)
{
    free(a->body);
    free(a->headers);
    a->body = a->headers = NULL;
}

int http_fetch_full(const char *base_url, const char *method, const char *path,
                    const char *headers, const char *body, int timeout_ms, size_t max_body,
                    struct http_fetch_answer *a, char *err, size_t errlen)
{
    return fetch_run(base_url, method, path, headers, body, timeout_ms, max_body, -1, a, err,
                     errlen);
}

/* http_fetch_full, given up when cancel_fd (-1: none) becomes readable. */
static int fetch_run(const char *base_url, const char *method, const char *path,
                     const char *headers, const char *body, int timeout_ms, size_t max_body,
                     int cancel_fd, struct http_fetch_answer *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    struct url u;
    struct sockaddr_storage addr;
    if (url_parse(&u, base_url, err, errlen) < 0 || url_resolve(&u, &addr, err, errlen) < 0)
        return -1;
    struct buf req = {0};
    size_t body_len = body ? strlen(body) : 0;
    buf_printf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, path,
               u.authority);
    if (headers)
        buf_printf(&req, "%s", headers);
    bool typed = false; /* the caller's own Content-Type line replaces the default */
    for (const char *l = headers; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : "")
        typed |= strncasecmp(l, "content-type:", 13) == 0;
    if (body && !typed)
        buf_printf(&req, "Content-Type: application/json\r\n");
    if (body) buf_printf(&req, "Content-Length: %zu\r\n", body_len);
    buf_append(&req, "\r\n", 2);
    if (body) buf_append(&req, body, body_len);
    if (!req.data) return err_set(err, errlen, "out of memory");
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct http_client_opts o;
    http_client_opts_default(&o);
    o.connect_timeout_ms = o.header_timeout_ms = o.body_timeout_ms = (uint32_t)timeout_ms;
    o.tls_verify = false;
    static const struct http_client_stream stream = {.on_head = on_head, .on_body = on_body_piece};
    struct fetch f = {.max_body = max_body};
    uv_poll_t cancel;
    bool watching = cancel_fd >= 0 && uv_poll_init(&loop, &cancel, cancel_fd) == 0;
    if (watching) {
        cancel.data = &f;
        uv_poll_start(&cancel, UV_READABLE, on_cancel);
    }
    uint64_t start = uv_hrtime();
    struct http_client *c = http_client_new(&loop, (struct sockaddr *)&addr, &u, &o, err, errlen);
    int rc = -1;
    if (c && http_client_send_stream(c, req.data, req.len, &stream, on_answer, &f) == 0) {
        while (!f.done && !f.cancelled && uv_run(&loop, UV_RUN_ONCE)) {
        }
        if (!f.done && f.cancelled) {
            err_set(err, errlen, "%s%s: cancelled", base_url, path);
        } else if (f.done && f.error == HTTP_CLIENT_OK) {
            a->latency_ms = (double)(uv_hrtime() - start) / 1e6;
            a->status = f.status;
            a->body_len = f.body.len;
            a->body = f.body.data ? f.body.data : strdup("");
            a->headers = f.headers.data ? f.headers.data : strdup("");
            a->truncated = f.truncated;
            f.body.data = f.headers.data = NULL;
            rc = 0;
        } else {
            err_set(err, errlen, "%s%s: %s", base_url, path,
                    f.done ? http_client_error_name(f.error) : "no answer");
        }
    }
    buf_free(&f.body);
    buf_free(&f.headers);
    if (c) http_client_free(c, NULL, NULL);
    if (watching) uv_close((uv_handle_t *)&cancel, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    buf_free(&req);
    return rc;
}
