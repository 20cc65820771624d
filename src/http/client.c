/* client.c -- one HTTP/1.1 client connection, plain or TLS (see client.h). */
#include "http/client.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <llhttp.h>

#include "base/buf.h"
#include "base/err.h"
#include "http/tls.h"

#define CLIENT_READ_BUFFER (256 * 1024)

/* connect -> (handshake) -> wait for headers -> body -> idle (connected) -> wait ... */
enum client_state {
    CLIENT_DISCONNECTED = 0, /* no socket; the next send connects */
    CLIENT_CONNECTING,       /* TCP connect in progress */
    CLIENT_HANDSHAKE,        /* TLS handshake in progress */
    CLIENT_WAITING,          /* request sent, waiting for the response headers */
    CLIENT_BODY,             /* headers in, reading the body */
    CLIENT_IDLE,             /* connected, no request */
    CLIENT_CLOSING,          /* socket closing; a send waits for it */
};

struct http_client;

/* Plain vs TLS bytes: write plaintext out, feed ciphertext in (STYLE: a small table). */
struct client_transport {
    int (*write)(struct http_client *c, const char *data, size_t len);
    int (*feed)(struct http_client *c, const char *data, size_t len);
};

struct http_client {
    uv_loop_t *loop;
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_timer_t timer;
    struct sockaddr_storage addr;
    struct http_client_opts opts;
    const struct client_transport *transport;
    enum client_state state;
    uint64_t deadline_ms; /* loop time at which the current phase times out; 0: none */
    uint64_t timer_due_ms; /* loop time the armed timer fires at */
    size_t capture_len;   /* strlen(opts.capture_header) */
    llhttp_t parser;
    bool tcp_open;          /* tcp handle initialized and not yet closed */
    bool reconnect_pending; /* a send arrived while the socket was closing */
    bool head_request;
    bool complete; /* the parser saw the end of the response */
    bool no_reuse; /* the answer was broken in a way that makes its connection unusable */
    bool freeing;
    int handles_open;
    uint64_t connects;
    int connect_error; /* libuv's error of the last failed connect, 0: none or timed out */
    /* the request in progress */
    struct buf pending; /* request bytes not yet written (waiting for connect/handshake) */
    http_client_cb cb;
    void *cb_data;
    struct http_client_response res;
    struct buf body;
    char field[64];
    size_t field_len;
    bool field_seen; /* a byte of the current header name came */
    /* streaming: every header kept in head, NUL-terminated, spans as offsets */
    const struct http_client_stream *stream;
    struct buf head;
    size_t head_spans[HTTP_CLIENT_MAX_HEADERS][2];
    size_t head_count;
    bool in_field;
    bool paused;
    bool capturing;
    size_t captured_len;
    /* TLS */
    SSL *ssl;
    BIO *rbio, *wbio;
    bool tls;
    bool tls_done;
    char tls_error[200]; /* why the last handshake failed */
    SSL_SESSION *session;   /* the last connection's, resumed by the next (opts.tls_reuse) */
    uint64_t handshake_ns;  /* when the handshake began */
    char server_name[URL_HOST_MAX];
    bool server_name_is_ip;
    void (*closed_fn)(void *data);
    void *closed_data;
};

/* Reads are consumed inside the read callback (llhttp and OpenSSL copy what they keep), so
 * one buffer per loop thread serves every connection: 10,000 clients cost no 160 MB. It is
 * large because it costs one per thread: a 1 MB answer is about 6 reads and 6 writes through the
 * gateway rather than 142 of each (strace; the gateway's 1 MB answers to 50 clients went from
 * 0.72x to 2.12x HAProxy's requests/s, bench/gateway_vs_haproxy.sh). */
static _Thread_local char read_buffer[CLIENT_READ_BUFFER];

struct client_write {
    uv_write_t req;
    size_t len;
    char data[];
};

static void client_fail(struct http_client *c, int error);
static void client_on_eof(struct http_client *c, bool clean);
static void client_close_socket(struct http_client *c);

void http_client_opts_default(struct http_client_opts *o)
{
    memset(o, 0, sizeof *o);
    o->connect_timeout_ms = 5000;
    o->header_timeout_ms = 30000;
    o->body_timeout_ms = 30000;
    o->max_body_bytes = 1 << 20;
    o->tls_verify = true;
    o->tls_reuse = true;
}

int http_client_connect_error(const struct http_client *c)
{
    return c->connect_error;
}

const char *http_client_error_name(int error)
{
    switch (error) {
    case HTTP_CLIENT_OK:
        return "ok";
    case HTTP_CLIENT_ECONNECT:
        return "connect";
    case HTTP_CLIENT_ETIMEOUT:
        return "timeout";
    case HTTP_CLIENT_ERESET:
        return "reset";
    case HTTP_CLIENT_EPROTOCOL:
        return "protocol";
    case HTTP_CLIENT_EWRITE:
        return "write";
    case HTTP_CLIENT_ETLS:
        return "tls";
    default:
        return "?";
    }
}

/* ---- raw socket writes ---- */

static void on_raw_written(uv_write_t *req, int status)
{
    struct client_write *w = (struct client_write *)req;
    struct http_client *c = req->data;
    free(w);
    if (status < 0 && status != UV_ECANCELED && c->state != CLIENT_CLOSING &&
        c->state != CLIENT_DISCONNECTED) {
        client_fail(c, HTTP_CLIENT_EWRITE);
        return;
    }
    if (status == 0 && c->stream && c->stream->on_written && !c->freeing &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0)
        c->stream->on_written(c, c->cb_data);
}

static int raw_write(struct http_client *c, const char *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == UV_EAGAIN || n == UV_ENOSYS) n = 0;
    if (n < 0) return -1;
    if ((size_t)n == len) return 0;
    struct client_write *w = malloc(sizeof *w + len - (size_t)n);
    if (!w) return -1;
    w->len = len - (size_t)n;
    memcpy(w->data, data + n, w->len);
    w->req.data = c;
    b = uv_buf_init(w->data, (unsigned)w->len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_raw_written) < 0) {
        free(w);
        return -1;
    }
    return 0;
}

/* ---- response parsing ---- */

static void start_phase(struct http_client *c, enum client_state state, uint32_t timeout_ms);
static void stop_phase(struct http_client *c);

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct http_client *c = p->data;
    /* a name is a token (a node's "Bad Name" or ": v" would reach the gateway's clients);
     * llhttp refuses every other byte that is not a token's in an answer's header name, a
     * space it lets through (test_http_server's llhttp_header_names pins that down) */
    if (memchr(at, ' ', len)) return -1;
    c->field_seen |= len > 0;
    if (c->stream) {
        if (!c->in_field) {
            if (c->head_count == HTTP_CLIENT_MAX_HEADERS) return -1;
            c->head_spans[c->head_count][0] = c->head.len;
            c->in_field = true;
        }
        if (buf_append(&c->head, at, len) < 0) return -1;
    }
    if (!c->capture_len) return 0; /* the name is kept only to match the captured header */
    size_t room = sizeof c->field - 1 - c->field_len;
    size_t n = len < room ? len : room;
    memcpy(c->field + c->field_len, at, n);
    c->field_len += n;
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct http_client *c = p->data;
    if (!c->field_seen) return -1; /* an empty name */
    c->field_seen = false;
    if (c->stream) {
        c->in_field = false;
        if (buf_append(&c->head, "", 1) < 0) return -1;
        c->head_spans[c->head_count][1] = c->head.len;
    }
    c->field[c->field_len] = '\0';
    c->capturing = c->field_len == c->capture_len && c->capture_len &&
                   strcasecmp(c->field, c->opts.capture_header) == 0;
    c->field_len = 0;
    if (c->capturing) c->captured_len = 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct http_client *c = p->data;
    if (c->stream && buf_append(&c->head, at, len) < 0) return -1;
    if (!c->capturing) return 0;
    size_t room = sizeof c->res.captured - 1 - c->captured_len;
    size_t n = len < room ? len : room;
    memcpy(c->res.captured + c->captured_len, at, n);
    c->captured_len += n;
    c->res.captured[c->captured_len] = '\0';
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct http_client *c = p->data;
    c->capturing = false;
    if (c->stream) {
        if (buf_append(&c->head, "", 1) < 0) return -1;
        c->head_count++;
    }
    return 0;
}

/* Hands every header to the stream's on_head. */
static void deliver_head(struct http_client *c)
{
    struct http_client_header h[HTTP_CLIENT_MAX_HEADERS];
    for (size_t i = 0; i < c->head_count; i++) {
        h[i].name = c->head.data + c->head_spans[i][0];
        h[i].value = c->head.data + c->head_spans[i][1];
    }
    c->stream->on_head(c, &c->res, h, c->head_count, c->cb_data);
}

static int on_headers_complete(llhttp_t *p)
{
    struct http_client *c = p->data;
    c->res.status = p->status_code;
    /* a status HTTP does not have, or a switch of protocols nobody asked for (the gateway
     * passes no Upgrade on): not an answer to relay */
    if (p->status_code < 100 || p->status_code > 599 || p->status_code == 101) return -1;
    if (p->status_code >= 100 && p->status_code < 200) {
        buf_reset(&c->head); /* interim answer: the real one follows */
        c->head_count = 0;
        return 0;
    }
    c->res.content_length = (p->flags & F_CONTENT_LENGTH) ? (int64_t)p->content_length : -1;
    start_phase(c, CLIENT_BODY, c->opts.body_timeout_ms);
    if (c->stream) {
        deliver_head(c);
        if (c->freeing || c->state != CLIENT_BODY) return -1;
    }
    /* no body after a 204 or 304, whatever its Content-Length says (RFC 9110 6.4.1); a 204
     * that announces one is broken, so its connection is not used again */
    if (p->status_code == 204 && (p->flags & (F_CONTENT_LENGTH | F_CHUNKED)) &&
        (p->content_length > 0 || (p->flags & F_CHUNKED)))
        c->no_reuse = true;
    return c->head_request || p->status_code == 204 || p->status_code == 304 ? 1 : 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct http_client *c = p->data;
    c->res.body_len += len;
    if (c->stream) {
        c->stream->on_body(c, at, len, c->cb_data);
        return c->freeing || c->state != CLIENT_BODY ? -1 : 0;
    }
    if (c->opts.keep_body) {
        size_t room =
            c->opts.max_body_bytes > c->body.len ? c->opts.max_body_bytes - c->body.len : 0;
        if (len > room) {
            c->res.body_truncated = true;
            len = room;
        }
        if (len && buf_append(&c->body, at, len) < 0) return -1;
    }
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct http_client *c = p->data;
    if (p->status_code >= 100 && p->status_code < 200 && p->status_code != 101) {
        c->res.status = 0;
        return 0;
    }
    c->res.keep_alive = llhttp_should_keep_alive(p) && !c->no_reuse;
    c->complete = true;
    return HPE_PAUSED;
}

static const llhttp_settings_t client_settings = {
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Hands the finished response to the callback; the client is ready for the next request. */
static void client_deliver(struct http_client *c)
{
    stop_phase(c);
    if (buf_append(&c->body, "", 0) == 0 && c->opts.keep_body) c->res.body = c->body.data;
    http_client_cb cb = c->cb;
    void *data = c->cb_data;
    c->cb = NULL;
    c->stream = NULL;
    if (c->res.keep_alive) {
        c->state = CLIENT_IDLE;
    } else {
        client_close_socket(c);
    }
    struct http_client_response res = c->res;
    if (cb) cb(c, HTTP_CLIENT_OK, &res, data);
}

/* Parses plaintext response bytes. Returns 0, or -1 after failing the request. */
static int client_parse(struct http_client *c, const char *data, size_t len)
{
    if (c->state != CLIENT_WAITING && c->state != CLIENT_BODY) {
        client_close_socket(c); /* bytes nobody asked for: the connection is not reusable */
        return -1;
    }
    llhttp_errno_t e = llhttp_execute(&c->parser, data, len);
    if (e == HPE_PAUSED && c->complete) {
        client_deliver(c);
        return 0;
    }
    if (e != HPE_OK) {
        client_fail(c, HTTP_CLIENT_EPROTOCOL);
        return -1;
    }
    return 0;
}

/* ---- transports ---- */

static int plain_write(struct http_client *c, const char *data, size_t len)
{
    return raw_write(c, data, len);
}

static int plain_feed(struct http_client *c, const char *data, size_t len)
{
    return client_parse(c, data, len);
}

static const struct client_transport plain_transport = {plain_write, plain_feed};

static const struct tls_api *ssl; /* OpenSSL, loaded with the first TLS client */
static SSL_CTX *tls_ctx_verify, *tls_ctx_noverify;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_init_contexts(void)
{
    if (!(ssl = tls_api_get(NULL, 0)))
        return;
    tls_ctx_verify = ssl->SSL_CTX_new(ssl->TLS_client_method());
    tls_ctx_noverify = ssl->SSL_CTX_new(ssl->TLS_client_method());
    if (tls_ctx_verify) {
        ssl->SSL_CTX_set_default_verify_paths(tls_ctx_verify);
        ssl->SSL_CTX_set_verify(tls_ctx_verify, SSL_VERIFY_PEER, NULL);
    }
    if (tls_ctx_noverify) ssl->SSL_CTX_set_verify(tls_ctx_noverify, SSL_VERIFY_NONE, NULL);
    /* the tickets a TLS 1.3 server sends after the handshake become the connection's session
     * only with a client cache: what the next connection resumes (OpenSSL's own cache is not
     * consulted: each connection slot keeps its last session, as wrk does) */
    SSL_CTX *both[] = {tls_ctx_verify, tls_ctx_noverify};
    for (int i = 0; i < 2; i++)
        if (both[i])
            ssl->SSL_CTX_ctrl(both[i], SSL_CTRL_SET_SESS_CACHE_MODE,
                              SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE, NULL);
}

static int tls_flush(struct http_client *c)
{
    char tmp[16384];
    while (ssl->BIO_ctrl_pending(c->wbio) > 0) {
        int n = ssl->BIO_read(c->wbio, tmp, sizeof tmp);
        if (n <= 0) break;
        if (raw_write(c, tmp, (size_t)n) < 0) return -1;
    }
    return 0;
}

static int tls_write(struct http_client *c, const char *data, size_t len)
{
    if (!c->tls_done) /* sent once the handshake completes */
        return buf_append(&c->pending, data, len);
    while (len > 0) {
        int n = ssl->SSL_write(c->ssl, data, (int)len);
        if (n <= 0) return -1;
        data += n;
        len -= (size_t)n;
    }
    return tls_flush(c);
}

/* Says why the handshake failed: the certificate check's verdict, else OpenSSL's error. */
static void tls_note_error(struct http_client *c)
{
    long verify = ssl->SSL_get_verify_result(c->ssl);
    unsigned long e = ssl->ERR_get_error();
    char why[160] = "";
    if (e)
        ssl->ERR_error_string_n(e, why, sizeof why);
    ssl->ERR_clear_error(); /* the thread's queue: nothing for the next connection */
    if (verify != X509_V_OK)
        snprintf(c->tls_error, sizeof c->tls_error, "certificate verify failed (%s)",
                 ssl->X509_verify_cert_error_string(verify));
    else
        snprintf(c->tls_error, sizeof c->tls_error, "handshake failed%s%s%s", why[0] ? " (" : "",
                 why, why[0] ? ")" : "");
}

const char *http_client_tls_error(const struct http_client *c)
{
    return c->tls_error;
}

static int tls_handshake(struct http_client *c)
{
    int rc = ssl->SSL_do_handshake(c->ssl);
    if (tls_flush(c) < 0) {
        client_fail(c, HTTP_CLIENT_EWRITE);
        return -1;
    }
    if (rc != 1) {
        int e = ssl->SSL_get_error(c->ssl, rc);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
        tls_note_error(c);
        client_fail(c, HTTP_CLIENT_ETLS);
        return -1;
    }
    c->tls_done = true;
    c->res.tls_handshake = true;
    c->res.tls_resumed = ssl->SSL_session_reused(c->ssl) == 1;
    uint64_t took_us = (uv_hrtime() - c->handshake_ns) / 1000;
    c->res.tls_handshake_us = took_us < UINT32_MAX ? (uint32_t)took_us : UINT32_MAX;
    start_phase(c, CLIENT_WAITING, c->opts.header_timeout_ms);
    struct buf req = c->pending;
    c->pending = (struct buf){0};
    int wrc = tls_write(c, req.data, req.len);
    if (wrc == 0) c->res.bytes_out += req.len;
    buf_free(&req);
    if (wrc < 0) {
        client_fail(c, HTTP_CLIENT_EWRITE);
        return -1;
    }
    return 0;
}

static int tls_feed(struct http_client *c, const char *data, size_t len)
{
    if (ssl->BIO_write(c->rbio, data, (int)len) != (int)len) {
        client_fail(c, HTTP_CLIENT_ETLS);
        return -1;
    }
    if (!c->tls_done) return tls_handshake(c);
    char plain[16384];
    for (;;) {
        int n = ssl->SSL_read(c->ssl, plain, sizeof plain);
        if (n > 0) {
            if (client_parse(c, plain, (size_t)n) < 0) return -1;
            if (c->state != CLIENT_WAITING && c->state != CLIENT_BODY) return 0;
            continue;
        }
        int e = ssl->SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ) return tls_flush(c);
        if (e == SSL_ERROR_ZERO_RETURN) {
            client_on_eof(c, true);
            return -1;
        }
        client_fail(c, HTTP_CLIENT_ETLS);
        return -1;
    }
}

static const struct client_transport tls_transport = {tls_write, tls_feed};

static int tls_start(struct http_client *c)
{
    SSL_CTX *ctx = c->opts.tls_verify ? tls_ctx_verify : tls_ctx_noverify;
    c->ssl = ssl->SSL_new(ctx);
    c->rbio = ssl->BIO_new(ssl->BIO_s_mem());
    c->wbio = ssl->BIO_new(ssl->BIO_s_mem());
    if (!c->ssl || !c->rbio || !c->wbio) {
        ssl->BIO_free(c->rbio);
        ssl->BIO_free(c->wbio);
        return -1;
    }
    ssl->SSL_set_bio(c->ssl, c->rbio, c->wbio);
    ssl->SSL_set_connect_state(c->ssl);
    if (c->opts.tls_reuse && c->session) ssl->SSL_set_session(c->ssl, c->session);
    c->handshake_ns = uv_hrtime();
    if (!c->server_name_is_ip) ssl->SSL_ctrl(c->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, c->server_name);
    if (c->opts.tls_verify) {
        if (c->server_name_is_ip)
            ssl->X509_VERIFY_PARAM_set1_ip_asc(ssl->SSL_get0_param(c->ssl), c->server_name);
        else
            ssl->SSL_set1_host(c->ssl, c->server_name);
    }
    c->tls_done = false;
    return 0;
}

static void tls_end(struct http_client *c)
{
    if (c->ssl && c->tls_done && c->opts.tls_reuse) { /* kept for the next connection */
        SSL_SESSION *s = ssl->SSL_get1_session(c->ssl); /* with the ticket read since, TLS 1.3 */
        if (s && ssl->SSL_SESSION_is_resumable(s)) {
            if (c->session) ssl->SSL_SESSION_free(c->session);
            c->session = s;
        } else if (s) {
            ssl->SSL_SESSION_free(s);
        }
        /* a connection freed without a shutdown has its session marked not resumable (OpenSSL
         * takes it for a broken one); a server's close after "Connection: close" is not */
        ssl->SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
    if (c->ssl) ssl->SSL_free(c->ssl); /* frees the BIOs too */
    c->ssl = NULL;
    c->rbio = c->wbio = NULL;
    c->tls_done = false;
}

/* ---- connection life ---- */

/* Phase timeouts are lazy: a phase only stores its deadline; the timer, once armed, is
 * re-armed when it fires early instead of on every request (no timer-heap work per request). */
static void on_timer(uv_timer_t *t)
{
    struct http_client *c = t->data;
    if (c->deadline_ms == 0)
        return; /* no phase running: stay disarmed */
    uint64_t now = uv_now(c->loop);
    if (now < c->deadline_ms) {
        c->timer_due_ms = c->deadline_ms;
        uv_timer_start(&c->timer, on_timer, c->deadline_ms - now, 0);
        return;
    }
    c->deadline_ms = 0;
    client_fail(c, c->state == CLIENT_CONNECTING || c->state == CLIENT_HANDSHAKE
                       ? HTTP_CLIENT_ECONNECT
                       : HTTP_CLIENT_ETIMEOUT);
}

static void start_phase(struct http_client *c, enum client_state state, uint32_t timeout_ms)
{
    c->state = state;
    c->deadline_ms = timeout_ms ? uv_now(c->loop) + timeout_ms : 0;
    /* steady state: deadlines only move later, so the armed timer stays as it is */
    if (c->deadline_ms &&
        (!uv_is_active((uv_handle_t *)&c->timer) || c->deadline_ms < c->timer_due_ms)) {
        c->timer_due_ms = c->deadline_ms;
        uv_timer_start(&c->timer, on_timer, timeout_ms, 0);
    }
}

static void stop_phase(struct http_client *c)
{
    c->deadline_ms = 0; /* the timer, if armed, fires once more and finds nothing to do */
}

static void maybe_finish_free(struct http_client *c)
{
    if (!c->freeing || c->handles_open > 0) return;
    void (*fn)(void *) = c->closed_fn;
    void *data = c->closed_data;
    if (c->session) ssl->SSL_SESSION_free(c->session);
    buf_free(&c->pending);
    buf_free(&c->body);
    buf_free(&c->head);
    free(c);
    if (fn) fn(data);
}

static void do_connect(struct http_client *c);

static void on_tcp_closed(uv_handle_t *h)
{
    struct http_client *c = h->data;
    c->handles_open--;
    c->tcp_open = false;
    c->paused = false;
    tls_end(c);
    if (c->freeing) {
        maybe_finish_free(c);
        return;
    }
    c->state = CLIENT_DISCONNECTED;
    if (c->reconnect_pending) {
        c->reconnect_pending = false;
        do_connect(c);
    }
}

static void client_close_socket(struct http_client *c)
{
    stop_phase(c);
    if (c->tcp_open && !uv_is_closing((uv_handle_t *)&c->tcp)) {
        c->state = CLIENT_CLOSING;
        uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
    } else if (!c->tcp_open) {
        c->state = CLIENT_DISCONNECTED;
    }
}

/* Ends the request in progress with error, closing the connection first. */
static void client_fail(struct http_client *c, int error)
{
    http_client_cb cb = c->cb;
    void *data = c->cb_data;
    c->cb = NULL;
    c->stream = NULL;
    buf_reset(&c->pending);
    client_close_socket(c);
    if (cb) {
        struct http_client_response res = c->res;
        cb(c, error, &res, data);
    }
}

/* The server closed (clean: an orderly EOF or TLS close_notify). A body that runs to the
 * end of the connection is complete then; any other request in progress was cut short. */
static void client_on_eof(struct http_client *c, bool clean)
{
    if (clean && c->state == CLIENT_BODY) {
        llhttp_finish(&c->parser); /* runs on_message_complete when the body ends at EOF */
        if (c->complete) {
            c->res.keep_alive = false;
            client_deliver(c);
            return;
        }
    }
    if (c->state == CLIENT_WAITING || c->state == CLIENT_BODY || c->state == CLIENT_HANDSHAKE)
        client_fail(c, c->state == CLIENT_HANDSHAKE ? HTTP_CLIENT_ETLS : HTTP_CLIENT_ERESET);
    else
        client_close_socket(c); /* an idle connection closed by the server */
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    (void)h;
    *b = uv_buf_init(read_buffer, sizeof read_buffer);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct http_client *c = s->data;
    if (nread > 0) {
        c->res.bytes_in += (size_t)nread;
        c->transport->feed(c, b->base, (size_t)nread);
        return;
    }
    if (nread == 0) return;
    client_on_eof(c, nread == UV_EOF);
}

static void on_connected(uv_connect_t *req, int status)
{
    struct http_client *c = req->data;
    if (c->state != CLIENT_CONNECTING) return; /* timed out or freed meanwhile */
    if (status < 0) {
        c->connect_error = status;
        client_fail(c, HTTP_CLIENT_ECONNECT);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
        client_fail(c, HTTP_CLIENT_ECONNECT);
        return;
    }
    if (c->tls) {
        c->state = CLIENT_HANDSHAKE; /* the connect timer keeps running through the handshake */
        if (tls_start(c) < 0) {
            client_fail(c, HTTP_CLIENT_ETLS);
            return;
        }
        tls_handshake(c);
        return;
    }
    start_phase(c, CLIENT_WAITING, c->opts.header_timeout_ms);
    struct buf req_bytes = c->pending;
    c->pending = (struct buf){0};
    int rc = plain_write(c, req_bytes.data, req_bytes.len);
    if (rc == 0) c->res.bytes_out += req_bytes.len;
    buf_free(&req_bytes);
    if (rc < 0) client_fail(c, HTTP_CLIENT_EWRITE);
}

static void do_connect(struct http_client *c)
{
    uv_tcp_init(c->loop, &c->tcp);
    c->tcp.data = c;
    c->tcp_open = true;
    c->handles_open++;
    c->connects++;
    c->connect_req.data = c;
    c->connect_error = 0;
    start_phase(c, CLIENT_CONNECTING, c->opts.connect_timeout_ms);
    int rc =
        uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&c->addr, on_connected);
    if (rc < 0) c->connect_error = rc;
    if (rc < 0) client_fail(c, HTTP_CLIENT_ECONNECT);
}

struct http_client *http_client_new(uv_loop_t *loop, const struct sockaddr *addr,
                                    const struct url *url, const struct http_client_opts *opts,
                                    char *err, size_t errlen)
{
    struct http_client *c = calloc(1, sizeof *c);
    if (!c) {
        err_set(err, errlen, "out of memory");
        return NULL;
    }
    c->loop = loop;
    memcpy(&c->addr, addr,
           addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    if (opts)
        c->opts = *opts;
    else
        http_client_opts_default(&c->opts);
    c->capture_len = c->opts.capture_header ? strlen(c->opts.capture_header) : 0;
    c->transport = &plain_transport;
    if (url && url->tls) {
        pthread_once(&tls_once, tls_init_contexts);
        if (!tls_ctx_verify || !tls_ctx_noverify) {
            free(c);
            if (!tls_api_get(err, errlen))
                return NULL; /* the message says why OpenSSL did not load */
            err_set(err, errlen, "TLS: cannot create an OpenSSL context");
            return NULL;
        }
        c->tls = true;
        c->transport = &tls_transport;
        snprintf(c->server_name, sizeof c->server_name, "%s", url->host);
        struct in6_addr a;
        c->server_name_is_ip = url->ipv6 || inet_pton(AF_INET, url->host, &a) == 1;
    }
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->handles_open = 1;
    return c;
}

int http_client_send(struct http_client *c, const char *request, size_t len, http_client_cb cb,
                     void *data)
{
    return http_client_send_stream(c, request, len, NULL, cb, data);
}

int http_client_send_stream(struct http_client *c, const char *request, size_t len,
                            const struct http_client_stream *stream, http_client_cb cb, void *data)
{
    if (c->cb || c->freeing) return -1;
    c->cb = cb;
    c->cb_data = data;
    c->stream = stream;
    buf_reset(&c->head);
    c->head_count = 0;
    c->in_field = false;
    memset(&c->res, 0, sizeof c->res);
    c->res.content_length = -1;
    if (c->paused) http_client_pause(c, false);
    buf_reset(&c->body);
    c->complete = false;
    c->no_reuse = false;
    c->field_seen = false;
    c->field_len = 0;
    c->captured_len = 0;
    c->capturing = false;
    c->head_request = len >= 5 && memcmp(request, "HEAD ", 5) == 0;
    /* strict, as the server's: keep-alive follows every Connection header of the answer */
    llhttp_init(&c->parser, HTTP_RESPONSE, &client_settings);
    c->parser.data = c;
    switch (c->state) {
    case CLIENT_IDLE:
        start_phase(c, CLIENT_WAITING, c->opts.header_timeout_ms);
        if (c->transport->write(c, request, len) < 0)
            client_fail(c, HTTP_CLIENT_EWRITE);
        else
            c->res.bytes_out += len;
        return 0;
    case CLIENT_CLOSING:
        buf_reset(&c->pending);
        if (buf_append(&c->pending, request, len) < 0) return -1;
        c->reconnect_pending = true;
        return 0;
    default: /* disconnected */
        buf_reset(&c->pending);
        if (buf_append(&c->pending, request, len) < 0) return -1;
        do_connect(c);
        return 0;
    }
}

long http_client_write(struct http_client *c, const char *data, size_t len)
{
    if (!c->cb || c->freeing) return -1;
    switch (c->state) {
    case CLIENT_WAITING:
    case CLIENT_BODY:
        if (c->transport->write(c, data, len) < 0) {
            client_fail(c, HTTP_CLIENT_EWRITE);
            return -1;
        }
        c->res.bytes_out += len;
        return (long)uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
    case CLIENT_IDLE:
        return -1;
    default: /* connecting, handshaking or reconnecting: goes out after the head */
        if (buf_append(&c->pending, data, len) < 0) return -1;
        return (long)c->pending.len;
    }
}

void http_client_pause(struct http_client *c, bool paused)
{
    if (paused == c->paused || !c->tcp_open || uv_is_closing((uv_handle_t *)&c->tcp)) return;
    c->paused = paused;
    if (paused)
        uv_read_stop((uv_stream_t *)&c->tcp);
    else
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

bool http_client_connected(const struct http_client *c)
{
    return c->state == CLIENT_IDLE;
}

size_t http_client_bytes_out(const struct http_client *c)
{
    return c->res.bytes_out;
}

uint64_t http_client_connects(const struct http_client *c)
{
    return c->connects;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct http_client *c = h->data;
    c->handles_open--;
    maybe_finish_free(c);
}

void http_client_free(struct http_client *c, void (*closed)(void *data), void *data)
{
    if (!c) return;
    c->freeing = true;
    c->cb = NULL;
    c->stream = NULL;
    c->reconnect_pending = false;
    c->closed_fn = closed;
    c->closed_data = data;
    if (c->tcp_open && !uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}
