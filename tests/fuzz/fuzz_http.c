/* fuzz_http.c -- what the HTTP fuzz targets share: a loopback client, the loops run in
 * between, the answers checked with llhttp, and the wrappers that bound time and network. */
#define _GNU_SOURCE /* unshare */
#include "fuzz_http.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <llhttp.h>

#include "fuzz_util.h"

#define MAX_LOOPS    4
#define MAX_ALLOWED  8
#define POLL_MAX_MS  5    /* a poll waits at most this long for the loops or the client */
#define OUTPUT_SHOWN 2048 /* answer bytes a failure prints */
/* loop steps the servers get with a part of the input before the client resets: they read
 * it and start on it */
#define ABORT_STEPS 8

static uv_loop_t *loops[MAX_LOOPS];
static size_t loop_count;

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

void fuzz_client_from_byte(uint8_t mode, size_t len, struct fuzz_client *client)
{
    static const size_t slices[4] = {0, 1, 7, 64};
    client->end = (enum fuzz_client_end)(mode & 3);
    client->slice = slices[(mode >> 2) & 3];
    client->send_len = len;
    if (client->end == FUZZ_END_ABORT && len > 0)
        client->send_len = len * ((mode >> 4) & 7) / 8; /* 0/8 .. 7/8: always short of len */
}

bool fuzz_net_private(void)
{
    if (unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "fuzz: no network namespace of its own (%s): on the shared loopback\n",
                strerror(errno));
        return false;
    }
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) abort();
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) abort(); /* 127.0.0.1 comes with it */
    close(fd);
    return true;
}

void fuzz_loops_set(uv_loop_t **set, size_t count)
{
    if (count > MAX_LOOPS) abort();
    memcpy(loops, set, count * sizeof *set);
    loop_count = count;
    signal(SIGPIPE, SIG_IGN); /* writes to a reset connection fail with EPIPE instead */
}

/* Waits (at most max_ms) until a loop or fd has something to do, then runs each loop once. */
static void loops_step(int fd, short events, int max_ms)
{
    struct pollfd p[MAX_LOOPS + 1];
    nfds_t n = 0;
    int timeout = max_ms;
    for (size_t i = 0; i < loop_count; i++) {
        if (!uv_loop_alive(loops[i])) continue;
        int t = uv_backend_timeout(loops[i]);
        if (t >= 0 && t < timeout) timeout = t;
        p[n++] = (struct pollfd){.fd = uv_backend_fd(loops[i]), .events = POLLIN};
    }
    if (fd >= 0) p[n++] = (struct pollfd){.fd = fd, .events = events};
    if (n > 0 && timeout > 0) poll(p, n, timeout);
    for (size_t i = 0; i < loop_count; i++)
        uv_run(loops[i], UV_RUN_NOWAIT);
}

bool fuzz_loops_run_until(bool (*done)(void *arg), void *arg, uint64_t ms)
{
    uint64_t deadline = now_ms() + ms;
    for (;;) {
        if (done(arg)) return true;
        uint64_t now = now_ms();
        if (now >= deadline) return false;
        loops_step(-1, 0, deadline - now < POLL_MAX_MS ? (int)(deadline - now) : POLL_MAX_MS);
    }
}

/* ---- what was sent: the requests, as the server's parser splits them ---- */

struct request_scan {
    bool *head; /* per request: a HEAD (its answer has no body) */
    size_t cap;
    size_t count; /* complete requests */
};

static int scan_on_headers_complete(llhttp_t *p)
{
    struct request_scan *s = p->data;
    if (s->count < s->cap) s->head[s->count] = p->method == HTTP_HEAD;
    return 0;
}

static int scan_on_message_complete(llhttp_t *p)
{
    struct request_scan *s = p->data;
    s->count++;
    return HPE_PAUSED; /* as the server: one request at a time, then resume */
}

static void scan_requests(struct request_scan *s, const uint8_t *data, size_t len)
{
    static const llhttp_settings_t settings = {
        .on_headers_complete = scan_on_headers_complete,
        .on_message_complete = scan_on_message_complete,
    };
    s->cap = len / 16 + 2; /* the shortest request ("GET / HTTP/1.1\r\n\r\n") has 18 bytes */
    s->head = calloc(s->cap, sizeof *s->head);
    if (!s->head) abort();
    s->count = 0;
    llhttp_t p;
    llhttp_init(&p, HTTP_REQUEST, &settings);
    p.data = s;
    const char *at = (const char *)data;
    size_t left = len;
    while (left > 0) {
        if (llhttp_execute(&p, at, left) != HPE_PAUSED) break;
        const char *pos = llhttp_get_error_pos(&p);
        left -= (size_t)(pos - at);
        at = pos;
        llhttp_resume(&p);
    }
}

/* ---- what came back: HTTP/1.1 answers ---- */

struct answer_check {
    llhttp_t parser;
    const struct request_scan *requests;
    size_t answers;      /* final answers begun */
    bool ignoring;       /* after the headers of a closing answer to HEAD: whether a body
                          * follows (an error answer has one) is not told by its headers */
    const char *failure; /* a broken property a callback found */
    const struct fuzz_answer_watch *watch;
    bool seen[FUZZ_WATCH_MAX];
    char name[64]; /* the header name being read (longer ones are not watched) */
    size_t name_len;
    char shown[OUTPUT_SHOWN + 1];
    size_t shown_len;
};

static int check_on_message_begin(llhttp_t *p)
{
    struct answer_check *c = p->data;
    memset(c->seen, 0, sizeof c->seen);
    c->name_len = 0;
    return 0;
}

static int check_on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct answer_check *c = p->data;
    if (c->name_len + len < sizeof c->name) memcpy(c->name + c->name_len, at, len);
    c->name_len += len;
    return 0;
}

static int check_on_header_field_complete(llhttp_t *p)
{
    struct answer_check *c = p->data;
    if (c->watch && c->name_len < sizeof c->name) {
        c->name[c->name_len] = '\0';
        for (size_t i = 0; c->watch->headers[i]; i++)
            if (strcasecmp(c->name, c->watch->headers[i]) == 0) c->seen[i] = true;
    }
    c->name_len = 0;
    return 0;
}

static int check_on_headers_complete(llhttp_t *p)
{
    struct answer_check *c = p->data;
    if (p->status_code < 200) return 0; /* 100 Continue: no body, the answer follows */
    if (c->watch) c->watch->on_answer(p->status_code, c->seen, c->watch->arg);
    if (p->http_major != 1 || p->http_minor != 1) {
        c->failure = "an answer that is not HTTP/1.1";
        return -1;
    }
    size_t index = c->answers++;
    if (c->answers > c->requests->count + 1) {
        c->failure = "more answers than requests (plus one error answer)";
        return -1;
    }
    if (index < c->requests->cap && c->requests->head[index]) {
        if (p->flags & F_CONNECTION_CLOSE) { /* (its framing does not matter: no body) */
            c->ignoring = true;
            return HPE_PAUSED;
        }
        return 1; /* no body */
    }
    return 0;
}

static void check_fail(struct answer_check *c, const char *what, const char *why)
{
    char text[256 + OUTPUT_SHOWN];
    snprintf(text, sizeof text, "%s\nanswers so far:\n%s", why ? why : "", c->shown);
    fuzz_fail(what, text);
}

static void check_feed(struct answer_check *c, const char *at, size_t len)
{
    if (c->shown_len < OUTPUT_SHOWN) {
        size_t n = len < OUTPUT_SHOWN - c->shown_len ? len : OUTPUT_SHOWN - c->shown_len;
        memcpy(c->shown + c->shown_len, at, n);
        c->shown_len += n;
        c->shown[c->shown_len] = '\0';
    }
    if (c->ignoring) return;
    llhttp_errno_t e = llhttp_execute(&c->parser, at, len);
    if (c->failure) check_fail(c, c->failure, NULL);
    if (e == HPE_PAUSED && c->ignoring) return;
    if (e != HPE_OK)
        check_fail(c, "the answers are not well-formed HTTP/1.1",
                   llhttp_get_error_reason(&c->parser));
}

/* The server closed the connection: the last answer must be whole, unless it is chunked (a
 * streamed answer whose source failed: a request body that never ended) or cut_ok. */
static void check_end(struct answer_check *c, bool cut_ok)
{
    if (c->ignoring) return;
    bool chunked = c->parser.flags & F_CHUNKED; /* of an answer under way */
    llhttp_errno_t e = llhttp_finish(&c->parser);
    if (c->failure) check_fail(c, c->failure, NULL);
    if (e != HPE_OK && !cut_ok && !chunked)
        check_fail(c, "the server closed the connection in the middle of an answer",
                   llhttp_get_error_reason(&c->parser));
}

/* ---- the exchange ---- */

/* A non-blocking socket connected to 127.0.0.1:port; close() resets it. The connect is
 * waited for here (libFuzzer's signals interrupt a blocking one). */
static int connect_loopback(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) abort();
    struct linger reset = {.l_onoff = 1, .l_linger = 0}; /* close() sends a reset */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) return fd;
    if (errno != EINPROGRESS && errno != EINTR)
        fuzz_fail("cannot connect to the server under test", strerror(errno));
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    uint64_t deadline = now_ms() + 1000;
    while (poll(&p, 1, 100) <= 0)
        if (now_ms() > deadline) fuzz_fail("cannot connect to the server under test", "timeout");
    int error = 0;
    socklen_t len = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0 || error != 0)
        fuzz_fail("cannot connect to the server under test", strerror(error));
    return fd;
}

void fuzz_http_exchange(int port, const uint8_t *data, const struct fuzz_client *client,
                        bool cut_ok, const struct fuzz_answer_watch *watch, struct fuzz_exchange *x)
{
    static const llhttp_settings_t settings = {
        .on_message_begin = check_on_message_begin,
        .on_header_field = check_on_header_field,
        .on_header_field_complete = check_on_header_field_complete,
        .on_headers_complete = check_on_headers_complete,
    };
    memset(x, 0, sizeof *x);
    struct request_scan scan;
    scan_requests(&scan, data, client->send_len);
    struct answer_check *check = calloc(1, sizeof *check);
    if (!check) abort();
    llhttp_init(&check->parser, HTTP_RESPONSE, &settings);
    check->parser.data = check;
    check->requests = &scan;
    check->watch = watch;

    int fd = connect_loopback(port);

    size_t sent = 0;
    bool shut = false, eof = false;
    int grace = -1; /* FUZZ_END_ABORT: loop steps left before the reset */
    uint64_t deadline = now_ms() + FUZZ_EXCHANGE_MS;
    static char buf[65536];
    for (;;) {
        if (sent < client->send_len) {
            size_t n = client->send_len - sent;
            if (client->slice && n > client->slice) n = client->slice;
            ssize_t w = send(fd, data + sent, n, MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                sent = client->send_len; /* the server is gone: read what it said */
        }
        if (sent == client->send_len && !shut) {
            shut = true;
            if (client->end == FUZZ_END_ABORT) grace = ABORT_STEPS;
            if (client->end == FUZZ_END_HALF_CLOSE) shutdown(fd, SHUT_WR);
        }
        for (;;) {
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r > 0) {
                x->bytes_in += (size_t)r;
                check_feed(check, buf, (size_t)r);
                continue;
            }
            if (r == 0) {
                eof = x->server_closed = true;
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                x->server_closed = true; /* a reset: what was in flight may be lost */
            }
            break;
        }
        if (x->server_closed) break;
        if (client->end == FUZZ_END_ABORT_READING && x->bytes_in > 0) break;
        if (grace == 0) break;
        uint64_t now = now_ms();
        if (now >= deadline) break;
        int wait = deadline - now < POLL_MAX_MS ? (int)(deadline - now) : POLL_MAX_MS;
        if (grace > 0) {
            grace--;
            wait = 1;
        }
        loops_step(fd, (short)(POLLIN | (sent < client->send_len ? POLLOUT : 0)), wait);
    }
    if (eof) check_end(check, cut_ok);
    close(fd);
    x->requests = scan.count;
    x->answers = check->answers;
    if (getenv("HERD_FUZZ_SHOW")) /* reproducing an input: what the server said */
        fprintf(stderr, "--- %zu requests sent (%zu bytes), %zu answers, %s:\n%s\n---\n",
                x->requests, sent, x->answers,
                eof                ? "the server closed"
                : x->server_closed ? "the server reset"
                                   : "client left",
                check->shown);
    free(scan.head);
    free(check);
}

/* ---- the wrappers: time and network bounded ---- */

int __wrap_uv_timer_start(uv_timer_t *handle, uv_timer_cb cb, uint64_t timeout, uint64_t repeat)
{
    if (timeout > FUZZ_TIMER_MAX_MS) timeout = FUZZ_TIMER_MAX_MS;
    if (repeat > FUZZ_TIMER_MAX_MS) repeat = FUZZ_TIMER_MAX_MS;
    return __real_uv_timer_start(handle, cb, timeout, repeat);
}

static int allowed_ports[MAX_ALLOWED];
static size_t allowed_count;

void fuzz_connect_allow(int port)
{
    if (allowed_count == MAX_ALLOWED) abort();
    allowed_ports[allowed_count++] = port;
}

/* A loopback port bound and never listened on: connections to it are refused. */
static int refusing_port(void)
{
    static int port;
    if (port) return port;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* kept open for the process */
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        abort();
    port = ntohs(a.sin_port);
    return port;
}

int __wrap_uv_tcp_connect(uv_connect_t *req, uv_tcp_t *handle, const struct sockaddr *addr,
                          uv_connect_cb cb)
{
    const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
    if (addr->sa_family == AF_INET && in->sin_addr.s_addr == htonl(INADDR_LOOPBACK))
        for (size_t i = 0; i < allowed_count; i++)
            if (ntohs(in->sin_port) == allowed_ports[i])
                return __real_uv_tcp_connect(req, handle, addr, cb);
    struct sockaddr_in refused = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)refusing_port())};
    refused.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return __real_uv_tcp_connect(req, handle, (const struct sockaddr *)&refused, cb);
}

int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res)
{
    (void)node;
    (void)service;
    (void)hints;
    *res = NULL;
    return EAI_NONAME;
}
