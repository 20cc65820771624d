/* test_client.c -- the HTTP client: keep-alive against a real `herd node`, chunked and
 * EOF-delimited bodies, timeouts, resets and garbage from a scripted peer, refused
 * connections, and TLS against `openssl s_server`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "base/err.h"
#include "http/client.h"
#include "http/url.h"
#include "../support/harness.h"
#include "integration.h"

/* ---- a scripted peer: accepts one connection, reads a request, writes `reply`, then
 * closes (or holds the connection open for hold_ms first) ---- */
struct peer {
    int listen_fd;
    int port;
    const char *reply;
    int hold_ms;
    pthread_t thread;
};

static void *peer_main(void *arg)
{
    struct peer *p = arg;
    int fd = accept(p->listen_fd, NULL, NULL);
    if (fd < 0) return NULL;
    char buf[4096];
    size_t len = 0;
    while (len < sizeof buf - 1) { /* read the request head */
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0) break;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n")) break;
    }
    if (p->reply) harness_send(fd, p->reply, strlen(p->reply));
    if (p->hold_ms) harness_pause_ms(p->hold_ms); /* the subject: a peer that keeps it open */
    close(fd);
    return NULL;
}

static void peer_start(struct peer *p, const char *reply, int hold_ms)
{
    p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(p->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(p->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(p->listen_fd, 4), 0);
    getsockname(p->listen_fd, (struct sockaddr *)&a, &len);
    p->port = ntohs(a.sin_port);
    p->reply = reply;
    p->hold_ms = hold_ms;
    pthread_create(&p->thread, NULL, peer_main, p);
}

static void peer_stop(struct peer *p)
{
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
}

/* ---- driving the client on a private loop ---- */
struct outcome {
    int done;
    int error;
    int status;
    char body[4096];
    size_t body_len;
    char captured[128];
};

static void on_result(struct http_client *c, int error, const struct http_client_response *res,
                      void *data)
{
    (void)c;
    struct outcome *o = data;
    o->done++;
    o->error = error;
    o->status = res->status;
    o->body_len = res->body_len;
    snprintf(o->captured, sizeof o->captured, "%s", res->captured);
    if (res->body) snprintf(o->body, sizeof o->body, "%s", res->body);
}

struct session {
    uv_loop_t loop;
    struct http_client *client;
};

static void session_open(struct session *s, const char *url_text, struct http_client_opts *opts)
{
    struct url u;
    struct sockaddr_storage addr;
    char err[ERR_SIZE];
    uv_loop_init(&s->loop);
    assert_int_equal(url_parse(&u, url_text, err, sizeof err), 0);
    assert_int_equal(url_resolve(&u, &addr, err, sizeof err), 0);
    s->client = http_client_new(&s->loop, (struct sockaddr *)&addr, &u, opts, err, sizeof err);
    assert_non_null(s->client);
}

static void session_send(struct session *s, const char *request, struct outcome *o)
{
    memset(o, 0, sizeof *o);
    assert_int_equal(http_client_send(s->client, request, strlen(request), on_result, o), 0);
    while (!o->done)
        uv_run(&s->loop, UV_RUN_ONCE);
}

static void session_close(struct session *s)
{
    http_client_free(s->client, NULL, NULL);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&s->loop), 0);
}

static struct http_client_opts keep_body_opts(void)
{
    struct http_client_opts o;
    http_client_opts_default(&o);
    o.keep_body = true;
    o.capture_header = "X-Herd-Node";
    o.connect_timeout_ms = 2000;
    o.header_timeout_ms = 2000;
    o.body_timeout_ms = 2000;
    return o;
}

static void test_keepalive_against_node(void **state)
{
    (void)state;
    int port = harness_free_port();
    char portarg[16], url[64];
    snprintf(portarg, sizeof portarg, "%d", port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    char *argv[] = {(char *)harness_herd_bin(),
                    "node",
                    "--port",
                    portarg,
                    "--id",
                    "c.1",
                    "--log-level",
                    "warn",
                    NULL};
    pid_t pid = harness_spawn(argv, NULL, NULL);
    assert_true(harness_wait_http(port, "/health", 5000));

    struct http_client_opts o = keep_body_opts();
    struct session s;
    struct outcome out;
    session_open(&s, url, &o);
    session_send(&s, "PUT /kv/k HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", &out);
    assert_int_equal(out.error, HTTP_CLIENT_OK);
    assert_int_equal(out.status, 201);
    assert_string_equal(out.captured, "c.1");
    for (int i = 0; i < 3; i++) {
        session_send(&s, "GET /kv/k HTTP/1.1\r\nHost: x\r\n\r\n", &out);
        assert_int_equal(out.error, HTTP_CLIENT_OK);
        assert_int_equal(out.status, 200);
        assert_string_equal(out.body, "abc");
    }
    session_send(&s, "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n", &out);
    assert_int_equal(out.status, 200);
    assert_int_equal(out.body_len, 0);
    assert_int_equal(http_client_connects(s.client), 1); /* one connection for all five */
    assert_true(http_client_connected(s.client));
    /* the server closes the connection: the next request reconnects by itself */
    session_send(&s, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &out);
    assert_int_equal(out.status, 200);
    session_send(&s, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", &out);
    assert_int_equal(out.status, 200);
    assert_int_equal(http_client_connects(s.client), 2);
    /* a timeout on a slow answer */
    session_send(&s, "GET /delay?ms=3000 HTTP/1.1\r\nHost: x\r\n\r\n", &out);
    assert_int_equal(out.error, HTTP_CLIENT_ETIMEOUT);
    session_close(&s);
    kill(pid, SIGTERM);
    assert_true(harness_wait(pid, 5000) >= 0);
}

static void run_scripted(const char *reply, int hold_ms, struct outcome *out)
{
    struct peer p;
    peer_start(&p, reply, hold_ms);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", p.port);
    struct http_client_opts o = keep_body_opts();
    o.header_timeout_ms = 300;
    o.body_timeout_ms = 300;
    struct session s;
    session_open(&s, url, &o);
    session_send(&s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", out);
    session_close(&s);
    peer_stop(&p);
}

static void test_chunked_and_eof_bodies(void **state)
{
    (void)state;
    struct outcome out;
    run_scripted("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Herd-Node: p1\r\n\r\n"
                 "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                 0, &out);
    assert_int_equal(out.error, HTTP_CLIENT_OK);
    assert_string_equal(out.body, "hello world");
    assert_string_equal(out.captured, "p1");
    run_scripted("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", 0, &out);
    assert_int_equal(out.error, HTTP_CLIENT_OK);
    assert_string_equal(out.body, "until the end");
    run_scripted("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 0, &out);
    assert_int_equal(out.error, HTTP_CLIENT_OK);
    assert_int_equal(out.status, 204);
}

static void test_failures_are_classified(void **state)
{
    (void)state;
    struct outcome out;
    run_scripted(NULL, 1000, &out); /* never answers */
    assert_int_equal(out.error, HTTP_CLIENT_ETIMEOUT);
    run_scripted("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..", 0, &out);
    assert_int_equal(out.error, HTTP_CLIENT_ERESET);
    run_scripted("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nstalls", 1000, &out);
    assert_int_equal(out.error, HTTP_CLIENT_ETIMEOUT);
    run_scripted(NULL, 0, &out); /* closes without a byte */
    assert_int_equal(out.error, HTTP_CLIENT_ERESET);
    run_scripted("SMTP ready\r\n\r\n", 0, &out);
    assert_int_equal(out.error, HTTP_CLIENT_EPROTOCOL);
    /* nothing listens: connect error */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", harness_free_port());
    struct http_client_opts o = keep_body_opts();
    struct session s;
    session_open(&s, url, &o);
    session_send(&s, "GET / HTTP/1.1\r\n\r\n", &out);
    assert_int_equal(out.error, HTTP_CLIENT_ECONNECT);
    assert_string_equal(http_client_error_name(out.error), "connect");
    session_close(&s);
}

static void test_tls(void **state)
{
    (void)state;
    char dir[] = "/tmp/herd-tls-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cert[256], key[256];
    assert_int_equal(harness_self_signed_cert(dir, cert, key, sizeof cert), 0);
    int port = harness_free_port();
    char accept_arg[16];
    snprintf(accept_arg, sizeof accept_arg, "%d", port);
    char *argv[] = {
        "/usr/bin/openssl", "s_server", "-accept", accept_arg, "-cert", cert, "-key", key, "-www",
        "-quiet",           NULL};
    pid_t pid = harness_spawn(argv, NULL, "/dev/null");
    assert_true(harness_wait_until(harness_port_open(port), 10000));

    char url[64];
    snprintf(url, sizeof url, "https://localhost:%d/", port);
    struct outcome out;
    struct session s;
    /* self-signed: verification fails */
    struct http_client_opts o = keep_body_opts();
    session_open(&s, url, &o);
    session_send(&s, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", &out);
    assert_int_equal(out.error, HTTP_CLIENT_ETLS);
    session_close(&s);
    /* without verification (curl -k): a real answer over TLS */
    o.tls_verify = false;
    session_open(&s, url, &o);
    session_send(&s, "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n", &out);
    assert_int_equal(out.error, HTTP_CLIENT_OK);
    assert_int_equal(out.status, 200);
    assert_non_null(strstr(out.body, "s_server"));
    session_close(&s);

    kill(pid, SIGTERM);
    harness_wait(pid, 5000);
    unlink(cert);
    unlink(key);
    rmdir(dir);
}

int integration_client(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keepalive_against_node),
        cmocka_unit_test(test_chunked_and_eof_bodies),
        cmocka_unit_test(test_failures_are_classified),
        cmocka_unit_test(test_tls),
    };
    return cmocka_run_group_tests_name("client", tests, NULL, NULL);
}
