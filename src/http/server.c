/* server.c -- HTTP/1.1 server on one libuv loop (see server.h). */
#include "http/server.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <jansson.h>
#include <llhttp.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mtime.h"
#include "http/token.h"

#define LINGER_MS         2000
#define READ_BUFFER_SIZE  16384

struct route {
    char *method; /* NULL: any */
    char *pattern;
    http_handler_fn fn;
    void *data;
    bool stream; /* the handler gets the request at its headers; the body follows */
    struct route *next;
};

struct http_server {
    uv_loop_t *loop;
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe; /* a unix socket (http_server_listen_unix) */
    } listener;
    bool unix_socket;
    uv_timer_t closer; /* never started: closed last, its close callback reports "stopped" */
    struct http_server_limits lim;
    struct route *routes, *routes_tail;
    struct buf common_headers; /* "Name: value\r\n" lines sent on every answer */
    http_finish_fn finish_fn;
    void *finish_data;
    struct http_conn *conns; /* doubly linked list of open connections */
    size_t conn_count;
    bool listening;
    bool stopping;
    void (*stopped_fn)(void *data);
    void *stopped_data;
    uint64_t date_sec;
    char date[40];
    int port;
    bool reuse_port;
    bool stream_routes; /* some route takes its bodies streamed */
};

/* A connection's life: IDLE -> READING (first byte) -> HANDLING (request complete) -> IDLE
 * (answered; keep-alive) ... and LINGER after an answer that closes it: output flushed and
 * write side shut, input discarded until the client closes or the linger deadline. Each
 * phase sets the read timer on entry (stopped or re-set on exit); the write timer runs while
 * a write is in flight, whatever the phase. */
enum conn_state {
    CONN_IDLE = 0, /* between requests: the idle timeout runs once the output is out */
    CONN_READING,  /* a request has begun: the header, then body, timeout runs */
    CONN_HANDLING, /* the handler owns the request; later requests wait; the body timeout
                    * runs while a streamed body is still coming (paused with it) */
    CONN_LINGER,   /* closing politely: the linger timeout runs */
};

struct http_conn {
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } handle; /* as the listener: TCP or a unix socket */
    struct http_server *srv;
    struct http_conn *prev, *next;
    llhttp_t parser;
    enum conn_state state;
    uv_timer_t read_timer;  /* the phase's timeout: idle, header, body or linger */
    uint64_t deadline_ms;   /* ... when it ends, in loop time (0: no timeout) */
    uv_timer_t write_timer; /* a write in flight that the client does not take */
    int handles_open;       /* of handle and the two timers; the connection is freed at 0 */
    uint64_t body_left_ms;  /* of a paused streamed body's timeout */
    struct http_request req;
    struct buf head;  /* URL and headers, each NUL-terminated */
    struct buf body;  /* request body */
    struct buf extra; /* per-answer headers */
    struct buf out;   /* answers not yet handed to the kernel */
    struct buf wbuf;  /* the bytes of the uv_write in flight */
    uv_write_t write_req;
    uv_shutdown_t shutdown_req;
    size_t header_spans[HTTP_MAX_HEADERS][2]; /* name and value offsets into head */
    size_t header_count;
    size_t url_len;
    int error_status; /* a limit hit while parsing: 408, 413, 414 or 431 */
    int http_minor;
    bool keep_alive;
    bool in_field;
    bool responded;
    bool writing;
    bool close_after_write;
    bool closing;
    bool reading;
    bool processing;
    bool peer_gone;
    char peer[48];    /* the client's address, looked up once per connection */
    /* a request body streamed to its handler (http_server_route_stream) */
    bool stream_in;   /* this request's body goes to the handler as it arrives */
    bool body_done;   /* ... and has ended */
    bool dispatched;  /* the handler has had the request since its headers */
    bool body_paused; /* the handler asked to stop reading the body for now */
    http_body_fn body_fn;
    http_body_end_fn body_end_fn;
    void *body_data;
    bool streaming;   /* a streamed answer is under way (http_respond_start) */
    int stream_status;
    bool chunked_out; /* ... and its body is sent chunked */
    void (*drain_fn)(void *data);
    void *drain_data;
    http_abort_fn abort_fn; /* told when the connection fails before the answer */
    void *abort_data;
    char param_buf[1024];
    bool bad_escape;        /* the path matched a route but a parameter did not %-decode */
    size_t rstart, rend; /* unparsed bytes in rbuf */
    char rbuf[READ_BUFFER_SIZE];
};

static void conn_process(struct http_conn *c);
static void conn_close(struct http_conn *c);
struct route;
static struct route *route_find(struct http_conn *c, bool *path_known);
static void conn_flush(struct http_conn *c);
static void update_reading(struct http_conn *c);

void http_server_limits_default(struct http_server_limits *lim)
{
    lim->max_header_bytes = 8192;
    lim->max_body_bytes = 1 << 20;
    lim->header_timeout_ms = 10000;
    lim->body_timeout_ms = 10000;
    lim->idle_timeout_ms = 60000;
    lim->write_timeout_ms = 60000;
    lim->max_connections = 65536;
    lim->max_output_bytes = 1 << 20;
}

const char *http_status_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Status";
    }
}

int http_percent_decode(const char *src, size_t len, char *dst, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = src[i];
        if (ch == '%') {
            if (i + 2 >= len) return -1;
            if (!isxdigit((unsigned char)src[i + 1]) || !isxdigit((unsigned char)src[i + 2]))
                return -1;
            char hex[3] = {src[i + 1], src[i + 2], 0};
            ch = (char)strtol(hex, NULL, 16);
            i += 2;
        } else if (ch == '+') {
            ch = ' ';
        }
        if (o + 1 >= size) return -1;
        dst[o++] = ch;
    }
    if (size == 0) return -1;
    dst[o] = '\0';
    return (int)o;
}

/* ---- llhttp callbacks: collect the request into the connection's buffers ---- */

static void on_read_timeout(uv_timer_t *timer);

/* Answer bytes not yet handed to the kernel. */
static size_t conn_queued(const struct http_conn *c)
{
    return c->out.len + (c->writing ? c->wbuf.len : 0);
}

/* Above the output limit no further request is read or parsed, so a client that sends and
 * never reads holds at most the limit and one answer. */
static bool conn_output_full(const struct http_conn *c)
{
    return conn_queued(c) > c->srv->lim.max_output_bytes;
}

/* May the parser go on: a streamed body for its handler, or the next request? */
static bool conn_may_parse(const struct http_conn *c)
{
    if (c->state == CONN_LINGER || c->close_after_write) return false;
    if (c->state == CONN_HANDLING) return c->stream_in && !c->body_done;
    return !conn_output_full(c);
}

/* Arms the read timer for ms from now. */
static void phase_timer_arm(struct http_conn *c, uint64_t ms)
{
    uv_timer_start(&c->read_timer, on_read_timeout, ms, 0);
    /* the deadline is never past the timer as armed (the fuzz build shortens every timer) */
    uint64_t due = uv_now(c->srv->loop) + uv_timer_get_due_in(&c->read_timer);
    if (due < c->deadline_ms) c->deadline_ms = due;
}

/* Enters a phase: its timeout_ms (0: none) replaces the previous phase's. Lazily: a request
 * goes through three phases, and a timer heap operation for each was a tenth of the gateway's
 * instructions per request with a thousand connections. The timer runs until the earliest
 * deadline set since it was armed; when it fires early, on_read_timeout arms it again for the
 * deadline in force, so a timer moves only about once per timeout, not per phase. */
static void phase_timer_set(struct http_conn *c, uint64_t timeout_ms)
{
    if (timeout_ms == 0) {
        c->deadline_ms = 0;
        return;
    }
    c->deadline_ms = uv_now(c->srv->loop) + timeout_ms;
    if (!uv_is_active((uv_handle_t *)&c->read_timer) ||
        uv_timer_get_due_in(&c->read_timer) > timeout_ms)
        phase_timer_arm(c, timeout_ms);
}

/* What is left of the phase's timeout, in ms (0: none, or past). */
static uint64_t phase_left_ms(const struct http_conn *c)
{
    uint64_t now = uv_now(c->srv->loop);
    return c->deadline_ms > now ? c->deadline_ms - now : 0;
}

static int limit_hit(struct http_conn *c, int status)
{
    c->error_status = status;
    return -1;
}

static int on_message_begin(llhttp_t *p)
{
    struct http_conn *c = p->data;
    c->state = CONN_READING;
    phase_timer_set(c, c->srv->lim.header_timeout_ms);
    buf_reset(&c->head);
    buf_reset(&c->body);
    c->header_count = 0;
    c->url_len = 0;
    c->in_field = false;
    c->error_status = 0;
    c->stream_in = c->body_done = c->dispatched = c->body_paused = false;
    c->body_fn = NULL;
    c->body_end_fn = NULL;
    c->abort_fn = NULL;
    return 0;
}

static int head_append(struct http_conn *c, const char *at, size_t len, int status)
{
    if (c->head.len + len > c->srv->lim.max_header_bytes) return limit_hit(c, status);
    return buf_append(&c->head, at, len) < 0 ? limit_hit(c, 500) : 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    return head_append(p->data, at, len, 414);
}

static int on_url_complete(llhttp_t *p)
{
    struct http_conn *c = p->data;
    c->url_len = c->head.len;
    return head_append(c, "", 1, 414);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    if (!c->in_field) {
        if (c->header_count == HTTP_MAX_HEADERS) return limit_hit(c, 431);
        c->header_spans[c->header_count][0] = c->head.len;
        c->in_field = true;
    }
    return head_append(c, at, len, 431);
}

static int on_header_field_complete(llhttp_t *p)
{
    struct http_conn *c = p->data;
    if (!c->in_field) { /* an empty name is rejected by llhttp; keep the spans sane anyway */
        if (c->header_count == HTTP_MAX_HEADERS) return limit_hit(c, 431);
        c->header_spans[c->header_count][0] = c->head.len;
    }
    c->in_field = false;
    /* a name is a token: no space, no empty name (the packaged llhttp lets both through and
     * refuses every other byte a token does not have: test_http_server's
     * llhttp_header_names pins that down) */
    size_t from = c->header_spans[c->header_count][0], to = c->head.len;
    if (from == to || memchr(c->head.data + from, ' ', to - from)) return limit_hit(c, 400);
    int rc = head_append(c, "", 1, 431);
    c->header_spans[c->header_count][1] = c->head.len;
    return rc;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    return head_append(p->data, at, len, 431);
}

static int on_header_value_complete(llhttp_t *p)
{
    struct http_conn *c = p->data;
    int rc = head_append(c, "", 1, 431);
    c->header_count++;
    return rc;
}

static int on_headers_complete(llhttp_t *p)
{
    struct http_conn *c = p->data;
    struct http_request *r = &c->req;
    memset(r, 0, sizeof *r);
    r->conn = c;
    char *path = c->head.data;
    char *q = memchr(path, '?', c->url_len);
    if (q) {
        *q = '\0';
        r->query = q + 1;
    } else {
        r->query = "";
    }
    r->path = path;
    for (size_t i = 0; i < c->header_count; i++) {
        r->headers[i].name = c->head.data + c->header_spans[i][0];
        r->headers[i].value = c->head.data + c->header_spans[i][1];
    }
    r->header_count = c->header_count;
    /* one Host at most (RFC 9112 3.2): two would let a proxy and a node see different hosts */
    bool host_seen = false;
    for (size_t i = 0; i < r->header_count; i++) {
        if (strcasecmp(r->headers[i].name, "Host") != 0) continue;
        if (host_seen) return limit_hit(c, 400);
        host_seen = true;
    }
    /* chunked is the one transfer coding understood (RFC 9112 6.1: 501 for the others); a
     * gzip before it would reach a handler, or a node behind the gateway, undecoded */
    for (size_t i = 0; i < r->header_count; i++) {
        if (strcasecmp(r->headers[i].name, "Transfer-Encoding") != 0) continue;
        size_t len;
        for (const char *v = r->headers[i].value, *item; (item = http_list_next(&v, &len)), len;)
            if (!http_list_is(item, len, "chunked")) return limit_hit(c, 501);
    }
    r->method = llhttp_method_name((llhttp_method_t)p->method);
    r->head = p->method == HTTP_HEAD;
    r->start_us = mtime_now_us();
    c->http_minor = p->http_minor;
    bool has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0);
    struct route *rt = has_body && c->srv->stream_routes ? route_find(c, NULL) : NULL;
    if (rt && rt->stream) { /* no size limit: the handler passes the body on as it comes */
        c->stream_in = true;
        c->dispatched = true;
        c->keep_alive = llhttp_should_keep_alive(p);
        r->body = "";
        const char *expect = http_request_header(r, "Expect");
        if (expect && strcasecmp(expect, "100-continue") == 0 && p->http_minor >= 1)
            buf_append_str(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
        c->state = CONN_HANDLING;
        c->responded = false;
        phase_timer_set(c, c->srv->lim.body_timeout_ms); /* the streamed body's deadline */
        rt->fn(r, rt->data);
        return 0;
    }
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > c->srv->lim.max_body_bytes)
        return limit_hit(c, 413);
    phase_timer_set(c, c->srv->lim.body_timeout_ms);
    const char *expect = http_request_header(r, "Expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 && p->http_minor >= 1) {
        buf_append_str(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
        conn_flush(c);
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    if (c->stream_in) {
        if (c->body_fn && !c->responded) c->body_fn(&c->req, at, len, c->body_data);
        return 0;
    }
    if (c->body.len + len > c->srv->lim.max_body_bytes) return limit_hit(c, 413);
    return buf_append(&c->body, at, len) < 0 ? limit_hit(c, 500) : 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct http_conn *c = p->data;
    if (c->stream_in) {
        c->body_done = true;
        c->keep_alive = llhttp_should_keep_alive(p);
        http_body_end_fn end = c->body_end_fn;
        c->body_fn = NULL;
        c->body_end_fn = NULL;
        if (c->state == CONN_HANDLING) phase_timer_set(c, 0); /* the body phase is over */
        if (end && !c->responded) end(&c->req, c->body_data);
        return HPE_PAUSED;
    }
    if (buf_append(&c->body, "", 0) < 0) /* makes body.data a NUL-terminated string */
        return limit_hit(c, 500);
    c->req.body = c->body.data;
    c->req.body_len = c->body.len;
    c->keep_alive = llhttp_should_keep_alive(p);
    return HPE_PAUSED; /* one request at a time: the loop in conn_process dispatches it */
}

static const llhttp_settings_t parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- answers ---- */

const char *http_request_header(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->header_count; i++)
        if (strcasecmp(req->headers[i].name, name) == 0) return req->headers[i].value;
    return NULL;
}

int http_request_query(const struct http_request *req, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);
    const char *p = req->query;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        if (klen == nlen && memcmp(p, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : p + plen;
            return http_percent_decode(v, (size_t)(p + plen - v), out, size);
        }
        p = amp ? amp + 1 : NULL;
    }
    return -1;
}

bool http_request_bearer_is(const struct http_request *req, const char *token)
{
    const char *auth = http_request_header(req, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer", 6) != 0 || (auth[6] != ' ' && auth[6] != '\t'))
        return false;
    const char *given = auth + 7;
    given += strspn(given, " \t");
    size_t given_len = strlen(given), len = strlen(token);
    unsigned char diff = given_len != len;
    for (size_t i = 0; i < len; i++)
        diff |= (unsigned char)(token[i] ^ (i < given_len ? given[i] : 0));
    return diff == 0;
}

bool http_request_aborted(const struct http_request *req)
{
    return req->conn->peer_gone;
}

int http_response_header(struct http_request *req, const char *name, const char *value)
{
    struct http_conn *c = req->conn;
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) return -1;
    return buf_printf(&c->extra, "%s: %s\r\n", name, value);
}

static const char *server_date(struct http_server *srv)
{
    uint64_t sec = uv_now(srv->loop) / 1000;
    if (sec != srv->date_sec || !srv->date[0]) {
        srv->date_sec = sec;
        mtime_http_date(srv->date, sizeof srv->date);
    }
    return srv->date;
}

static void write_answer(struct http_conn *c, int status, const char *content_type,
                         const void *body, size_t len, bool send_body)
{
    struct http_server *srv = c->srv;
    bool close = !c->keep_alive || srv->stopping || c->error_status;
    bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
    if (buf_reserve(&c->out, 256 + srv->common_headers.len + c->extra.len + len) < 0) {
        conn_close(c);
        return;
    }
    struct buf *o = &c->out;
    int n = snprintf(o->data + o->len, o->cap - o->len,
                     "HTTP/1.1 %d %s\r\nServer: herd\r\nDate: %s\r\n", status,
                     http_status_reason(status), server_date(srv));
    o->len += (size_t)n;
    buf_append(o, srv->common_headers.data, srv->common_headers.len);
    buf_append(o, c->extra.data, c->extra.len);
    if (!no_body) {
        n = snprintf(o->data + o->len, o->cap - o->len,
                     "Content-Type: %s\r\nContent-Length: %zu\r\n",
                     content_type ? content_type : "text/plain", len);
        o->len += (size_t)n;
    }
    if (close)
        buf_append_str(o, "Connection: close\r\n");
    else if (c->http_minor == 0)
        buf_append_str(o, "Connection: keep-alive\r\n");
    buf_append(o, "\r\n", 2);
    if (send_body && !no_body) buf_append(o, body, len);
    buf_reset(&c->extra);
    if (close) c->close_after_write = true;
}

/* The answer to the current request is queued: the connection goes on to the next one. */
static void answer_done(struct http_conn *c, int status)
{
    struct http_request *req = &c->req;
    c->body_fn = NULL;
    c->body_end_fn = NULL;
    c->abort_fn = NULL;
    if (c->srv->finish_fn)
        c->srv->finish_fn(req, status, mtime_now_us() - req->start_us, c->srv->finish_data);
    c->state = CONN_IDLE;
    phase_timer_set(c, c->srv->lim.idle_timeout_ms);
    if (!c->processing) /* answered later, from a timer or another callback */
        conn_process(c);
}

void http_respond(struct http_request *req, int status, const char *content_type, const void *body,
                  size_t len)
{
    struct http_conn *c = req->conn;
    if (c->responded || c->streaming || c->state != CONN_HANDLING) return;
    c->responded = true;
    if (status < 200 || status > 599) status = 500;
    if (c->stream_in && !c->body_done) c->keep_alive = false; /* the rest of the body: dropped */
    write_answer(c, status, content_type, body, len, !req->head);
    answer_done(c, status);
}

int http_respond_start(struct http_request *req, int status, const char *headers, size_t len,
                       int64_t content_length)
{
    struct http_conn *c = req->conn;
    if (c->responded || c->streaming || c->state != CONN_HANDLING) return -1;
    if (status < 200 || status > 599) status = 502;
    bool no_body = status == 204 || status == 304 || req->head;
    if (c->stream_in && !c->body_done) c->keep_alive = false;
    c->streaming = true;
    c->chunked_out = !no_body && content_length < 0 && c->http_minor >= 1;
    c->stream_status = status;
    bool close = !c->keep_alive || c->srv->stopping || (!no_body && content_length < 0 && !c->chunked_out);
    struct buf *o = &c->out;
    char line[64]; /* "HTTP/1.1 200 OK\r\n" without printf: this runs per proxied answer */
    const char *reason = http_status_reason(status);
    size_t rl = strlen(reason) < 40 ? strlen(reason) : 40;
    memcpy(line, "HTTP/1.1 ", 9);
    line[9] = (char)('0' + status / 100);
    line[10] = (char)('0' + status / 10 % 10);
    line[11] = (char)('0' + status % 10);
    line[12] = ' ';
    memcpy(line + 13, reason, rl);
    memcpy(line + 13 + rl, "\r\n", 2);
    if (buf_append(o, line, 15 + rl) < 0 || buf_append(o, headers, len) < 0 ||
        buf_append(o, c->srv->common_headers.data, c->srv->common_headers.len) < 0 ||
        buf_append(o, c->extra.data, c->extra.len) < 0) {
        conn_close(c);
        return 0;
    }
    buf_reset(&c->extra);
    if (c->chunked_out)
        buf_append_str(o, "Transfer-Encoding: chunked\r\n");
    else if (content_length >= 0 && status != 204 && status != 304) {
        char digits[24], *d = digits + sizeof digits;
        uint64_t v = (uint64_t)content_length;
        do
            *--d = (char)('0' + v % 10);
        while ((v /= 10) > 0);
        buf_append_str(o, "Content-Length: ");
        buf_append(o, d, (size_t)(digits + sizeof digits - d));
        buf_append(o, "\r\n", 2);
    }
    if (close)
        buf_append_str(o, "Connection: close\r\n");
    else if (c->http_minor == 0)
        buf_append_str(o, "Connection: keep-alive\r\n");
    buf_append(o, "\r\n", 2);
    if (close) c->close_after_write = true;
    return 0; /* goes out with the first body bytes or the end: one write for small answers */
}


long http_respond_write(struct http_request *req, const void *data, size_t len)
{
    struct http_conn *c = req->conn;
    if (!c->streaming || c->closing) return -1;
    if (len == 0 || req->head) return (long)conn_queued(c);
    int rc = 0;
    if (c->chunked_out) rc = buf_printf(&c->out, "%zx\r\n", len);
    if (rc == 0) rc = buf_append(&c->out, data, len);
    if (rc == 0 && c->chunked_out) rc = buf_append(&c->out, "\r\n", 2);
    if (rc < 0) {
        conn_close(c);
        return -1;
    }
    conn_flush(c);
    return c->closing ? -1 : (long)conn_queued(c);
}

void http_respond_end(struct http_request *req)
{
    struct http_conn *c = req->conn;
    if (!c->streaming) return;
    if (c->chunked_out && !req->head) buf_append_str(&c->out, "0\r\n\r\n");
    c->streaming = false;
    c->drain_fn = NULL;
    c->responded = true;
    answer_done(c, c->stream_status);
}

/* Ends the request without an answer: no callback of the handler's runs after this; status
 * goes to the finish callback. The caller closes the connection. */
static void request_end(struct http_conn *c, int status)
{
    c->streaming = false;
    c->drain_fn = NULL;
    c->body_fn = NULL;
    c->body_end_fn = NULL;
    c->abort_fn = NULL;
    c->responded = true;
    c->state = CONN_IDLE;
    if (c->srv->finish_fn)
        c->srv->finish_fn(&c->req, status, mtime_now_us() - c->req.start_us, c->srv->finish_data);
}

void http_respond_abort(struct http_request *req)
{
    struct http_conn *c = req->conn;
    if (c->responded) return;
    request_end(c, 502);
    conn_close(c);
}

void http_request_on_drain(struct http_request *req, void (*fn)(void *data), void *data)
{
    req->conn->drain_fn = fn;
    req->conn->drain_data = data;
}

void http_request_on_abort(struct http_request *req, http_abort_fn fn, void *data)
{
    req->conn->abort_fn = fn;
    req->conn->abort_data = data;
}

/* The connection failed (the client left, a bad or late body, a write that failed or timed
 * out) while a handler owns the request: with an abort callback, the request ends here, as
 * status for the finish callback, and the handler is told; without one, the request stays
 * until the handler answers (conn_release waits). Called from I/O and timer callbacks only,
 * never from inside a call the handler made, so the handler is not re-entered. */
static void request_abort(struct http_conn *c, int status)
{
    if (c->state != CONN_HANDLING || c->responded || !c->abort_fn) return;
    http_abort_fn fn = c->abort_fn;
    void *data = c->abort_data;
    c->peer_gone = true;
    request_end(c, status);
    fn(&c->req, data);
}

static int peer_name(struct http_conn *c)
{
    struct sockaddr_storage sa;
    int len = sizeof sa;
    if (c->srv->unix_socket) {
        snprintf(c->peer, sizeof c->peer, "unix");
        return 0;
    }
    if (uv_tcp_getpeername(&c->handle.tcp, (struct sockaddr *)&sa, &len) < 0) return -1;
    if (sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&sa;
        if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
            return inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], c->peer, sizeof c->peer) ? 0 : -1;
        return uv_ip6_name(a6, c->peer, sizeof c->peer);
    }
    return uv_ip4_name((const struct sockaddr_in *)&sa, c->peer, sizeof c->peer);
}

int http_request_local(const struct http_request *req, char *out, size_t size)
{
    struct http_conn *c = req->conn;
    struct sockaddr_storage sa;
    int len = sizeof sa;
    char ip[INET6_ADDRSTRLEN];
    if (c->srv->unix_socket ||
        uv_tcp_getsockname(&c->handle.tcp, (struct sockaddr *)&sa, &len) < 0)
        return -1;
    if (sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&sa;
        if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr)) {
            if (!inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], ip, sizeof ip)) return -1;
            return snprintf(out, size, "%s:%d", ip, ntohs(a6->sin6_port)) < (int)size ? 0 : -1;
        }
        if (uv_ip6_name(a6, ip, sizeof ip) < 0) return -1;
        return snprintf(out, size, "[%s]:%d", ip, ntohs(a6->sin6_port)) < (int)size ? 0 : -1;
    }
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)&sa;
    if (uv_ip4_name(a4, ip, sizeof ip) < 0) return -1;
    return snprintf(out, size, "%s:%d", ip, ntohs(a4->sin_port)) < (int)size ? 0 : -1;
}

int http_request_peer(const struct http_request *req, char *out, size_t size)
{
    struct http_conn *c = req->conn;
    if (!c->peer[0] && peer_name(c) < 0) {
        c->peer[0] = '\0';
        return -1;
    }
    size_t len = strnlen(c->peer, sizeof c->peer);
    if (size == 0) return -1;
    if (len >= size) len = size - 1;
    memcpy(out, c->peer, len); /* once per proxied request: no snprintf */
    out[len] = '\0';
    return 0;
}

void http_respond_json(struct http_request *req, int status, void *json)
{
    json_t *j = json;
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(j);
    if (!text) {
        http_respond(req, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    size_t len = strlen(text);
    struct buf body = {0};
    buf_append(&body, text, len);
    buf_append(&body, "\n", 1);
    free(text);
    http_respond(req, status, "application/json", body.data, body.len);
    buf_free(&body);
}

void http_respond_error(struct http_request *req, int status, const char *message)
{
    http_respond_json(req, status, json_pack("{s:s}", "error", message));
}

/* A protocol error or a limit: a handler's request ends (request_abort), the client gets
 * status, then the connection closes; at once when an answer was already under way or the
 * handler keeps its request. */
static void conn_fail(struct http_conn *c, int status)
{
    bool answer_started = c->streaming;
    request_abort(c, status);
    if (answer_started || (c->state == CONN_HANDLING && !c->responded)) {
        conn_close(c);
        return;
    }
    char body[128];
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}\n", http_status_reason(status));
    c->error_status = status;
    c->keep_alive = false;
    buf_reset(&c->extra);
    write_answer(c, status, "application/json", body, (size_t)n, true);
    c->state = CONN_LINGER;
    phase_timer_set(c, LINGER_MS);
    c->rstart = c->rend = 0;
}

/* ---- connection I/O ---- */

/* The closer is the server's last handle: once it is closed, the server is stopped. */
static void on_closer_closed(uv_handle_t *h)
{
    struct http_server *srv = h->data;
    void (*fn)(void *) = srv->stopped_fn;
    srv->stopped_fn = NULL;
    if (fn) fn(srv->stopped_data);
}

static void server_close_last(struct http_server *srv)
{
    if (!uv_is_closing((uv_handle_t *)&srv->closer))
        uv_close((uv_handle_t *)&srv->closer, on_closer_closed);
}

/* The close callback of each of a connection's three handles: the last one frees it. */
static void on_conn_closed(uv_handle_t *h)
{
    struct http_conn *c = h->data;
    struct http_server *srv = c->srv;
    if (--c->handles_open > 0) return;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    srv->conn_count--;
    buf_free(&c->head);
    buf_free(&c->body);
    buf_free(&c->extra);
    buf_free(&c->out);
    buf_free(&c->wbuf);
    free(c);
    if (srv->stopping && srv->conn_count == 0) server_close_last(srv);
}

/* Closes the handle unless a handler still owns the request: then the close waits for its
 * answer (http_respond -> conn_process), so the request never dangles. */
static void conn_release(struct http_conn *c)
{
    if (c->state == CONN_HANDLING && !c->responded) return;
    if (uv_is_closing((uv_handle_t *)&c->handle)) return;
    uv_close((uv_handle_t *)&c->handle, on_conn_closed);
    uv_close((uv_handle_t *)&c->read_timer, on_conn_closed);
    uv_close((uv_handle_t *)&c->write_timer, on_conn_closed);
}

static void conn_close(struct http_conn *c)
{
    c->closing = true;
    c->peer_gone = true;
    conn_release(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status;
}

/* After the last answer of a closing connection went out. */
static void conn_finish(struct http_conn *c)
{
    if (c->state != CONN_LINGER) {
        c->state = CONN_LINGER;
        phase_timer_set(c, LINGER_MS);
    }
    if (c->peer_gone || uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->handle, on_shutdown) < 0)
        conn_close(c);
}

/* The connection failed under an I/O or timer callback: the handler's request ends too. */
static void conn_drop(struct http_conn *c, int status)
{
    request_abort(c, status);
    conn_close(c);
}

/* Goes on after output drained: pipelined requests held back by the output limit are
 * parsed, reading resumes. */
static void conn_resume(struct http_conn *c)
{
    if (c->state == CONN_IDLE)
        conn_process(c);
    else
        update_reading(c);
}

static void on_write(uv_write_t *wr, int status)
{
    struct http_conn *c = wr->data;
    c->writing = false;
    buf_reset(&c->wbuf);
    uv_timer_stop(&c->write_timer);
    if (status < 0) {
        conn_drop(c, 499);
        return;
    }
    conn_flush(c);
    if (c->closing) {
        conn_drop(c, 499);
        return;
    }
    if (c->writing || c->out.len > 0) {
        if (!conn_output_full(c)) conn_resume(c);
        return;
    }
    if (c->streaming && c->drain_fn) {
        c->drain_fn(c->drain_data);
    } else if (c->close_after_write && c->state != CONN_HANDLING) {
        conn_finish(c);
    } else if (c->state == CONN_IDLE) {
        phase_timer_set(c, c->srv->lim.idle_timeout_ms); /* idle from now on */
        conn_resume(c);
    } else {
        update_reading(c);
    }
}

static void on_write_timeout(uv_timer_t *timer)
{
    struct http_conn *c = timer->data;
    if (c->closing) return;
    log_debug("http: a client took no output for %u ms: closed", c->srv->lim.write_timeout_ms);
    conn_drop(c, 408);
}

static void conn_flush(struct http_conn *c)
{
    if (c->writing || c->out.len == 0 || c->closing) return;
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    int n = uv_try_write((uv_stream_t *)&c->handle, &b, 1);
    if (n == UV_EAGAIN || n == UV_ENOSYS) n = 0;
    if (n < 0) {
        conn_close(c);
        return;
    }
    buf_consume(&c->out, (size_t)n);
    if (c->out.len == 0) return;
    struct buf tmp = c->wbuf; /* swap: out keeps collecting while wbuf is written */
    c->wbuf = c->out;
    c->out = tmp;
    buf_reset(&c->out);
    c->writing = true;
    c->write_req.data = c;
    b = uv_buf_init(c->wbuf.data, (unsigned)c->wbuf.len);
    if (uv_write(&c->write_req, (uv_stream_t *)&c->handle, &b, 1, on_write) < 0) {
        c->writing = false;
        conn_close(c);
        return;
    }
    if (c->srv->lim.write_timeout_ms)
        uv_timer_start(&c->write_timer, on_write_timeout, c->srv->lim.write_timeout_ms, 0);
}

/* 1: path matches pattern (params filled), 0: it does not, -1: it would but a parameter has a
 * bad %-escape (or does not fit). */
static int route_match(const char *pattern, const char *path, struct http_conn *c)
{
    struct http_request *r = &c->req;
    size_t used = 0;
    r->param_count = 0;
    const char *p = pattern, *s = path;
    while (*p) {
        if (*p == '*') return 1;
        if (*p == '{') {
            const char *close = strchr(p, '}');
            size_t seg = strcspn(s, "/");
            if (!close || seg == 0 || r->param_count == HTTP_MAX_PARAMS) return 0;
            char *dst = c->param_buf + used;
            int n = http_percent_decode(s, seg, dst, sizeof c->param_buf - used);
            if (n < 0) return -1;
            r->params[r->param_count++] = dst;
            used += (size_t)n + 1;
            s += seg;
            p = close + 1;
            continue;
        }
        if (*p != *s) return 0;
        p++;
        s++;
    }
    return *s == '\0';
}

/* The route for the current request, or NULL (*path_known: a route has the path but not
 * the method; c->bad_escape: a route has the path but a parameter does not decode, so no
 * catch-all route may take it). Fills the request's params. */
static struct route *route_find(struct http_conn *c, bool *path_known)
{
    struct http_request *r = &c->req;
    const char *method = r->head ? "GET" : r->method;
    c->bad_escape = false;
    for (struct route *rt = c->srv->routes; rt; rt = rt->next) {
        int m = route_match(rt->pattern, r->path, c);
        if (m < 0) {
            c->bad_escape = true;
            return NULL;
        }
        if (m == 0) continue;
        if (path_known) *path_known = true;
        if (rt->method && strcmp(rt->method, method) != 0) continue;
        return rt;
    }
    return NULL;
}

static void conn_dispatch(struct http_conn *c)
{
    struct http_request *r = &c->req;
    c->state = CONN_HANDLING;
    phase_timer_set(c, 0);
    c->responded = false;
    bool path_known = false;
    struct route *rt = route_find(c, &path_known);
    if (rt) {
        rt->fn(r, rt->data);
        return;
    }
    if (c->bad_escape)
        http_respond_error(r, 400, "bad %-escape in the path (expected %XX, two hex digits)");
    else if (path_known)
        http_respond_error(r, 405, "method not allowed for this path");
    else
        http_respond_error(r, 404, "no such route");
}

/* Parses what is buffered, dispatching complete requests one at a time, then writes. */
static void conn_process(struct http_conn *c)
{
    if (c->closing) {
        request_abort(c, 499);
        conn_release(c);
        return;
    }
    c->processing = true;
    for (;;) {
        while (conn_may_parse(c) && c->rstart < c->rend) {
            const char *start = c->rbuf + c->rstart;
            llhttp_errno_t e = llhttp_execute(&c->parser, start, c->rend - c->rstart);
            if (e == HPE_OK) {
                c->rstart = c->rend = 0;
                break;
            }
            if (e == HPE_PAUSED) {
                c->rstart = (size_t)(llhttp_get_error_pos(&c->parser) - c->rbuf);
                llhttp_resume(&c->parser);
                if (c->dispatched) { /* a streamed body ended: its handler has the request */
                    c->dispatched = false;
                    continue;
                }
                conn_dispatch(c);
                if (c->closing) break;
                continue;
            }
            log_debug("http: bad request: %s", llhttp_get_error_reason(&c->parser));
            conn_fail(c, c->error_status ? c->error_status : 400);
            break;
        }
        if (c->closing || c->rstart == c->rend) break;
        conn_flush(c); /* requests held back by the output limit go on if the kernel took it */
        if (c->closing || c->writing || !conn_may_parse(c)) break;
    }
    c->processing = false;
    if (c->closing) {
        request_abort(c, 499);
        conn_release(c);
        return;
    }
    if (c->rstart == c->rend) c->rstart = c->rend = 0;
    if (c->peer_gone && c->state != CONN_HANDLING)
        c->close_after_write = true; /* the client half-closed: answer what it sent, then close */
    conn_flush(c);
    if (c->closing) {
        request_abort(c, 499);
        conn_release(c);
        return;
    }
    if (c->close_after_write && !c->writing && c->out.len == 0 && c->state != CONN_HANDLING)
        conn_finish(c);
    else if (c->srv->stopping && c->state == CONN_IDLE && c->rstart == c->rend && !c->writing &&
             c->out.len == 0)
        conn_close(c);
    if (!c->closing) update_reading(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct http_conn *c = h->data;
    if (c->rstart > 0 && c->rstart < c->rend) {
        memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
        c->rend -= c->rstart;
        c->rstart = 0;
    }
    buf->base = c->rbuf + c->rend;
    buf->len = sizeof c->rbuf - c->rend;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct http_conn *c = s->data;
    if (nread == 0) return;
    if (nread < 0) {
        c->peer_gone = true;
        bool body_lost = c->stream_in && !c->body_done; /* it will never be complete */
        if (c->state == CONN_HANDLING && !c->responded && nread == UV_EOF && !body_lost) {
            uv_read_stop(s); /* a half-close: the answer still goes out if it can */
            c->reading = false;
            return;
        }
        conn_drop(c, 499);
        return;
    }
    if (c->state == CONN_LINGER) {
        c->rstart = c->rend = 0;
        return;
    }
    c->rend += (size_t)nread;
    if (c->state == CONN_HANDLING && !(c->stream_in && !c->body_done)) {
        update_reading(c); /* pipelined: parsed once the current answer is out */
        return;
    }
    conn_process(c);
}

static void update_reading(struct http_conn *c)
{
    bool body_in = c->state == CONN_HANDLING && c->stream_in && !c->body_done;
    bool want = c->rend < sizeof c->rbuf && !c->peer_gone &&
                (body_in ? !c->body_paused : !conn_output_full(c));
    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read) == 0) c->reading = true;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->handle);
        c->reading = false;
    }
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct http_server *srv = listener->data;
    if (status < 0) {
        log_warn("http: accept failed: %s", uv_strerror(status));
        return;
    }
    struct http_conn *c = calloc(1, sizeof *c);
    if (!c) return;
    c->srv = srv;
    uv_timer_init(srv->loop, &c->read_timer);
    uv_timer_init(srv->loop, &c->write_timer);
    c->read_timer.data = c;
    c->write_timer.data = c;
    c->handles_open = 3;
    if (srv->unix_socket)
        uv_pipe_init(srv->loop, &c->handle.pipe, 0);
    else
        uv_tcp_init(srv->loop, &c->handle.tcp);
    c->handle.tcp.data = c;
    c->next = srv->conns;
    if (srv->conns) srv->conns->prev = c;
    srv->conns = c;
    srv->conn_count++;
    if (uv_accept(listener, (uv_stream_t *)&c->handle) < 0 ||
        srv->conn_count > srv->lim.max_connections || srv->stopping) {
        conn_close(c);
        return;
    }
    if (!srv->unix_socket)
        uv_tcp_nodelay(&c->handle.tcp, 1);
    /* llhttp's strict defaults, no lenient flag ever set: a second Content-Length, one with
     * Transfer-Encoding, a Transfer-Encoding not ending in chunked are errors (400), and
     * keep-alive follows every Connection header (a close in any of them closes) */
    llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
    c->parser.data = c;
    c->state = CONN_IDLE;
    phase_timer_set(c, srv->lim.idle_timeout_ms);
    update_reading(c);
}

static void on_read_timeout(uv_timer_t *timer)
{
    struct http_conn *c = timer->data;
    if (c->closing || c->deadline_ms == 0) return;
    uint64_t left = phase_left_ms(c);
    if (left > 0) { /* the phase changed since the timer was armed: its own deadline */
        phase_timer_arm(c, left);
        return;
    }
    c->deadline_ms = 0;
    switch (c->state) {
    case CONN_IDLE:
        if (c->writing || c->out.len > 0) return; /* the write timer watches the answer */
        conn_close(c);
        break;
    case CONN_READING:  /* the header or the body came too slowly */
    case CONN_HANDLING: /* a streamed body did not end in time */
        conn_fail(c, 408);
        conn_process(c);
        break;
    case CONN_LINGER:
        conn_close(c);
        break;
    }
}

/* ---- server ---- */

struct http_server *http_server_new(uv_loop_t *loop, const struct http_server_limits *lim)
{
    struct http_server *srv = calloc(1, sizeof *srv);
    if (!srv) return NULL;
    srv->loop = loop;
    if (lim)
        srv->lim = *lim;
    else
        http_server_limits_default(&srv->lim);
    uv_timer_init(loop, &srv->closer);
    srv->closer.data = srv;
    return srv;
}

void http_server_free(struct http_server *srv)
{
    if (!srv) return;
    struct route *next;
    for (struct route *r = srv->routes; r; r = next) {
        next = r->next;
        free(r->method);
        free(r->pattern);
        free(r);
    }
    buf_free(&srv->common_headers);
    free(srv);
}

int http_server_route(struct http_server *srv, const char *method, const char *pattern,
                      http_handler_fn handler, void *data)
{
    struct route *r = calloc(1, sizeof *r);
    if (!r) return -1;
    r->method = method ? strdup(method) : NULL;
    r->pattern = strdup(pattern);
    r->fn = handler;
    r->data = data;
    if (!r->pattern || (method && !r->method)) {
        free(r->method);
        free(r->pattern);
        free(r);
        return -1;
    }
    if (srv->routes_tail)
        srv->routes_tail->next = r;
    else
        srv->routes = r;
    srv->routes_tail = r;
    return 0;
}

int http_server_route_stream(struct http_server *srv, const char *method, const char *pattern,
                             http_handler_fn handler, void *data)
{
    if (http_server_route(srv, method, pattern, handler, data) < 0) return -1;
    srv->routes_tail->stream = true;
    srv->stream_routes = true;
    return 0;
}

bool http_request_streaming(const struct http_request *req)
{
    return req->conn->stream_in && !req->conn->body_done;
}

void http_request_read_body(struct http_request *req, http_body_fn on_data,
                            http_body_end_fn on_end, void *data)
{
    struct http_conn *c = req->conn;
    c->body_fn = on_data;
    c->body_end_fn = on_end;
    c->body_data = data;
}

void http_request_pause_body(struct http_request *req, bool paused)
{
    struct http_conn *c = req->conn;
    if (c->body_paused == paused) return;
    c->body_paused = paused;
    if (c->closing) return;
    if (c->state == CONN_HANDLING && c->stream_in && !c->body_done) {
        /* the wait is the handler's, not the client's: the body timeout stops meanwhile */
        if (paused) {
            /* 0: no timeout; else at least 1 (a deadline already past ends at once) */
            uint64_t left = phase_left_ms(c);
            c->body_left_ms = c->deadline_ms == 0 ? 0 : left ? left : 1;
            phase_timer_set(c, 0);
        } else {
            phase_timer_set(c, c->body_left_ms);
        }
    }
    update_reading(c);
}

int http_server_add_header(struct http_server *srv, const char *name, const char *value)
{
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) return -1;
    return buf_printf(&srv->common_headers, "%s: %s\r\n", name, value);
}

void http_server_on_finish(struct http_server *srv, http_finish_fn fn, void *data)
{
    srv->finish_fn = fn;
    srv->finish_data = data;
}

void http_server_set_reuse_port(struct http_server *srv, bool on)
{
    srv->reuse_port = on;
}

/* libuv (1.44) has no SO_REUSEPORT flag: make the socket here and hand it over. */
static int bind_reuse_port(uv_tcp_t *tcp, const struct sockaddr *addr)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return uv_translate_sys_error(errno);
    int one = 1;
    socklen_t len = addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                : sizeof(struct sockaddr_in);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 || bind(fd, addr, len) < 0) {
        int rc = uv_translate_sys_error(errno);
        close(fd);
        return rc;
    }
    int rc = uv_tcp_open(tcp, fd);
    if (rc < 0) close(fd);
    return rc;
}

int http_port_check_free(const char *host, int port, char *err, size_t errlen)
{
    struct sockaddr_storage addr;
    int rc = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr)
                               : uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (rc < 0) return err_set(err, errlen, "'%s' is not an IP address to listen on", host);
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return err_set(err, errlen, "cannot make a socket: %s", strerror(errno));
    int one = 1; /* a socket in TIME_WAIT does not hold the port; a listener does */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    socklen_t len = addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                               : sizeof(struct sockaddr_in);
    rc = bind(fd, (struct sockaddr *)&addr, len);
    int e = errno;
    close(fd);
    if (rc == 0) return 0;
    if (e == EADDRINUSE) return err_set(err, errlen, "port %d on %s is already in use", port, host);
    return err_set(err, errlen, "cannot listen on %s port %d: %s", host, port, strerror(e));
}

int http_server_listen(struct http_server *srv, const char *host, int port, char *err,
                       size_t errlen)
{
    struct sockaddr_storage addr;
    int rc = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr)
                               : uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (rc < 0) {
        err_set(err, errlen, "'%s' is not an IP address to listen on", host);
        return rc;
    }
    uv_tcp_init(srv->loop, &srv->listener.tcp);
    srv->listener.tcp.data = srv;
    srv->listening = true;
    if (srv->reuse_port)
        rc = bind_reuse_port(&srv->listener.tcp, (const struct sockaddr *)&addr);
    else
        rc = uv_tcp_bind(&srv->listener.tcp, (const struct sockaddr *)&addr, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&srv->listener, 4096, on_connection);
    if (rc < 0) {
        if (rc == UV_EADDRINUSE)
            err_set(err, errlen, "port %d on %s is already in use", port, host);
        else
            err_set(err, errlen, "cannot listen on %s port %d: %s", host, port, uv_strerror(rc));
        return rc;
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&srv->listener.tcp, (struct sockaddr *)&bound, &len);
    srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)&bound)->sin_port);
    return 0;
}

int http_server_listen_unix(struct http_server *srv, const char *path, char *err, size_t errlen)
{
    srv->unix_socket = true;
    uv_pipe_init(srv->loop, &srv->listener.pipe, 0);
    srv->listener.pipe.data = srv;
    srv->listening = true;
    int rc = uv_pipe_bind(&srv->listener.pipe, path);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&srv->listener, 128, on_connection);
    if (rc < 0) {
        err_set(err, errlen, "cannot listen on %s: %s", path, uv_strerror(rc));
        return rc;
    }
    return 0;
}

int http_server_port(const struct http_server *srv)
{
    return srv->port;
}

size_t http_server_connections(const struct http_server *srv)
{
    return srv->conn_count;
}

void http_server_shutdown(struct http_server *srv, void (*done)(void *data), void *data)
{
    if (srv->stopping) return;
    srv->stopping = true;
    srv->stopped_fn = done;
    srv->stopped_data = data;
    if (srv->listening && !uv_is_closing((uv_handle_t *)&srv->listener))
        uv_close((uv_handle_t *)&srv->listener, NULL);
    struct http_conn *next;
    for (struct http_conn *c = srv->conns; c; c = next) {
        next = c->next;
        if (c->state == CONN_IDLE && !c->writing && c->out.len == 0) conn_close(c);
    }
    if (srv->conn_count == 0) server_close_last(srv);
}
