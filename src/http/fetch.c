/* fetch.c -- one synchronous HTTP request (see fetch.h). */
#include "http/fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "base/buf.h"
#include "base/err.h"
#include "http/client.h"
#include "http/url.h"

struct fetch {
    int error, status;
    bool done, cancelled;
    char *body;
};

static void on_cancel(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    struct fetch *f = h->data;
    f->cancelled = true;
    uv_poll_stop(h);
}

static void on_answer(struct http_client *c, int error, const struct http_client_response *res,
                      void *data)
{
    (void)c;
    struct fetch *f = data;
    f->done = true;
    f->error = error;
    f->status = res->status;
    if (error == HTTP_CLIENT_OK && res->body) f->body = strdup(res->body);
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

int http_fetch_until(const char *base_url, const char *method, const char *path,
                     const char *headers, const char *body, int timeout_ms, int cancel_fd,
                     int *status, char **response, char *err, size_t errlen)
{
    *response = NULL;
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
    if (body)
        buf_printf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n", body_len);
    buf_append(&req, "\r\n", 2);
    if (body) buf_append(&req, body, body_len);
    if (!req.data) return err_set(err, errlen, "out of memory");
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct http_client_opts o;
    http_client_opts_default(&o);
    o.connect_timeout_ms = o.header_timeout_ms = o.body_timeout_ms = (uint32_t)timeout_ms;
    o.keep_body = true;
    o.max_body_bytes = 64u << 20;
    o.tls_verify = false;
    struct fetch f = {0};
    uv_poll_t cancel;
    bool watching = cancel_fd >= 0 && uv_poll_init(&loop, &cancel, cancel_fd) == 0;
    if (watching) {
        cancel.data = &f;
        uv_poll_start(&cancel, UV_READABLE, on_cancel);
    }
    struct http_client *c = http_client_new(&loop, (struct sockaddr *)&addr, &u, &o, err, errlen);
    int rc = -1;
    if (c && http_client_send(c, req.data, req.len, on_answer, &f) == 0) {
        while (!f.done && !f.cancelled && uv_run(&loop, UV_RUN_ONCE)) {
        }
        if (!f.done && f.cancelled) {
            err_set(err, errlen, "%s%s: cancelled", base_url, path);
        } else if (f.done && f.error == HTTP_CLIENT_OK) {
            *status = f.status;
            *response = f.body ? f.body : strdup("");
            f.body = NULL;
            rc = 0;
        } else {
            err_set(err, errlen, "%s%s: %s", base_url, path,
                    f.done ? http_client_error_name(f.error) : "no answer");
        }
    }
    free(f.body);
    if (c) http_client_free(c, NULL, NULL);
    if (watching) uv_close((uv_handle_t *)&cancel, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    buf_free(&req);
    return rc;
}
