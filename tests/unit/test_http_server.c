/* test_http_server.c -- the HTTP server's request handling, in process: a server on a loop
 * in a second thread, raw bytes from blocking sockets in the test thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llhttp.h>
#include <uv.h>

#include "base/err.h"
#include "http/server.h"
#include "http/token.h"
#include "../support/harness.h"
#include "unit.h"

struct fixture {
    uv_loop_t loop;
    uv_async_t stop;
    struct http_server *srv;
    pthread_t thread;
    int port;
};

static void on_hello(struct http_request *req, void *data)
{
    (void)data;
    http_respond(req, 200, "text/plain", "hello\n", 6);
}

static void on_param(struct http_request *req, void *data)
{
    (void)data;
    char body[512], q[64] = "-";
    http_request_query(req, "q", q, sizeof q);
    int n = snprintf(body, sizeof body, "%s|%s|%s", req->params[0], req->params[1], q);
    http_respond(req, 200, "text/plain", body, (size_t)n);
}

static void on_body_len(struct http_request *req, void *data)
{
    (void)data;
    char body[64];
    int n =
        snprintf(body, sizeof body, "%zu:%s", req->body_len, req->body_len < 32 ? req->body : "");
    http_response_header(req, "X-Seen", "yes");
    http_respond(req, 200, "text/plain", body, (size_t)n);
}

static void on_stopped(void *data)
{
    (void)data;
}

static void on_stop(uv_async_t *a)
{
    struct fixture *f = a->data;
    http_server_shutdown(f->srv, on_stopped, f);
    uv_close((uv_handle_t *)a, NULL);
}

static void *loop_thread(void *arg)
{
    struct fixture *f = arg;
    uv_run(&f->loop, UV_RUN_DEFAULT);
    return NULL;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct http_server_limits lim;
    char err[ERR_SIZE];
    http_server_limits_default(&lim);
    lim.max_header_bytes = 1024;
    lim.max_body_bytes = 100;
    lim.header_timeout_ms = 300;
    uv_loop_init(&f->loop);
    f->srv = http_server_new(&f->loop, &lim);
    http_server_route(f->srv, "GET", "/hello", on_hello, NULL);
    http_server_route(f->srv, "GET", "/p/{a}/x/{b}", on_param, NULL);
    http_server_route(f->srv, "POST", "/body", on_body_len, NULL);
    http_server_add_header(f->srv, "X-Herd-Node", "t1");
    if (http_server_listen(f->srv, "127.0.0.1", 0, err, sizeof err) < 0) return -1;
    f->port = http_server_port(f->srv);
    uv_async_init(&f->loop, &f->stop, on_stop);
    f->stop.data = f;
    pthread_create(&f->thread, NULL, loop_thread, f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    uv_async_send(&f->stop);
    pthread_join(f->thread, NULL);
    uv_loop_close(&f->loop);
    http_server_free(f->srv);
    free(f);
    return 0;
}

/* Sends raw on a new connection and reads `responses` answers. */
static size_t raw(struct fixture *f, const char *request, int responses, char *out, size_t size)
{
    int fd = harness_connect(f->port, 3000);
    assert_true(fd >= 0);
    assert_int_equal(harness_send(fd, request, strlen(request)), 0);
    size_t n = harness_read_responses(fd, responses, out, size);
    close(fd);
    return n;
}

static void test_basic_and_headers(void **state)
{
    struct fixture *f = *state;
    char out[4096];
    raw(f, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 1, out, sizeof out);
    assert_int_equal(harness_status(out), 200);
    assert_non_null(strstr(out, "X-Herd-Node: t1\r\n"));
    assert_non_null(strstr(out, "Content-Length: 6\r\n"));
    assert_non_null(strstr(out, "\r\n\r\nhello\n"));
    assert_null(strstr(out, "Connection: close"));
    raw(f, "GET /nope HTTP/1.1\r\n\r\n", 1, out, sizeof out);
    assert_int_equal(harness_status(out), 404);
    raw(f, "DELETE /hello HTTP/1.1\r\n\r\n", 1, out, sizeof out);
    assert_int_equal(harness_status(out), 405);
    /* a HEAD answer has Content-Length but no body: read until the server closes */
    raw(f, "HEAD /hello HTTP/1.1\r\nConnection: close\r\n\r\n", 0, out, sizeof out);
    assert_int_equal(harness_status(out), 200);
    assert_non_null(strstr(out, "Content-Length: 6\r\n"));
    assert_null(strstr(out, "hello\n"));
}

static void test_params_and_query(void **state)
{
    struct fixture *f = *state;
    char out[4096];
    raw(f, "GET /p/a%20b/x/c?z=1&q=v%2Fw HTTP/1.1\r\n\r\n", 1, out, sizeof out);
    assert_int_equal(harness_status(out), 200);
    assert_non_null(strstr(out, "\r\n\r\na b|c|v/w"));
    raw(f, "GET /p/a/x/b/extra HTTP/1.1\r\n\r\n", 1, out, sizeof out);
    assert_int_equal(harness_status(out), 404);
    raw(f, "GET /p/%zz/x/b HTTP/1.1\r\n\r\n", 1, out, sizeof out);
    assert_int_equal(harness_status(out), 400); /* not 404: no catch-all route may take it */
    assert_non_null(strstr(out, "%-escape"));
}

static void test_pipelining_in_order(void **state)
{
    struct fixture *f = *state;
    char out[8192];
    const char *reqs = "GET /hello HTTP/1.1\r\n\r\n"
                       "POST /body HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                       "GET /p/1/x/2 HTTP/1.1\r\n\r\n";
    size_t n = raw(f, reqs, 3, out, sizeof out);
    assert_int_equal(harness_count_responses(out, n), 3);
    char *a = strstr(out, "hello\n"), *b = strstr(out, "3:abc"), *c = strstr(out, "1|2|-");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_true(a < b && b < c);
}

static void test_byte_by_byte(void **state)
{
    struct fixture *f = *state;
    const char *req = "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    int fd = harness_connect(f->port, 3000);
    for (const char *p = req; *p; p++) {
        assert_int_equal(harness_send(fd, p, 1), 0);
        usleep(200); /* the subject: bytes that come apart */
    }
    char out[2048];
    harness_read_responses(fd, 1, out, sizeof out);
    close(fd);
    assert_int_equal(harness_status(out), 200);
    assert_non_null(strstr(out, "5:hello"));
    assert_non_null(strstr(out, "X-Seen: yes"));
}

static void test_chunked_body(void **state)
{
    struct fixture *f = *state;
    char out[2048];
    raw(f,
        "POST /body HTTP/1.1\r\nTransfer-Encoding: "
        "chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
        1, out, sizeof out);
    assert_int_equal(harness_status(out), 200);
    assert_non_null(strstr(out, "7:abcdefg"));
    /* a chunked body over the limit */
    raw(f,
        "POST /body HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxx"
        "\r\n0\r\n\r\n",
        1, out, sizeof out);
    assert_int_equal(harness_status(out), 413);
}

static void test_limits(void **state)
{
    struct fixture *f = *state;
    char out[4096], big[3000];
    raw(f, "POST /body HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 1, out, sizeof out);
    assert_int_equal(harness_status(out), 413);
    assert_non_null(strstr(out, "Connection: close"));
    memset(big, 'a', sizeof big);
    char req[4096];
    snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nX-Big: %.*s\r\n\r\n", 1500, big);
    raw(f, req, 1, out, sizeof out);
    assert_int_equal(harness_status(out), 431);
    snprintf(req, sizeof req, "GET /%.*s HTTP/1.1\r\n\r\n", 1500, big);
    raw(f, req, 1, out, sizeof out);
    assert_int_equal(harness_status(out), 414);
    /* too many headers */
    char many[4096] = "GET /hello HTTP/1.1\r\n";
    for (int i = 0; i < 70; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "H%d: v\r\n", i);
    strcat(many, "\r\n");
    raw(f, many, 1, out, sizeof out);
    assert_int_equal(harness_status(out), 431);
}

static void test_malformed_then_keeps_serving(void **state)
{
    struct fixture *f = *state;
    char out[4096];
    static const char *const bad[] = {
        "GARBAGE\r\n\r\n",
        "GET /hello HTTP/9.9\r\n\r\n",
        "GET /hello HTTP/1.1\r\nBad Header\r\n\r\n",
        "GET /hello HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        "POST /body HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET /he\x01llo HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        raw(f, bad[i], 1, out, sizeof out);
        if (harness_status(out) != 400) fail_msg("request %zu: expected 400, got: %.80s", i, out);
        assert_non_null(strstr(out, "Connection: close"));
    }
    raw(f, "GET /hello HTTP/1.1\r\n\r\n", 1, out, sizeof out);
    assert_int_equal(harness_status(out), 200);
}

static void test_keepalive_rules(void **state)
{
    struct fixture *f = *state;
    char out[4096];
    /* HTTP/1.0 without keep-alive: answered, then closed */
    size_t n = raw(f, "GET /hello HTTP/1.0\r\n\r\n", 0, out, sizeof out);
    assert_true(n > 0);
    assert_non_null(strstr(out, "Connection: close"));
    /* HTTP/1.0 asking for keep-alive gets it */
    raw(f, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1, out, sizeof out);
    assert_non_null(strstr(out, "Connection: keep-alive"));
    /* HTTP/1.1 Connection: close: the server closes after the answer (read to EOF) */
    n = raw(f, "GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n", 0, out, sizeof out);
    assert_int_equal(harness_count_responses(out, n), 1);
    /* Expect: 100-continue */
    raw(f, "POST /body HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nok", 2, out,
        sizeof out);
    assert_int_equal(harness_status(out), 100);
    assert_non_null(strstr(out, "2:ok"));
}

static void test_slow_headers_timeout(void **state)
{
    struct fixture *f = *state;
    int fd = harness_connect(f->port, 3000);
    assert_int_equal(harness_send(fd, "GET /hello HTTP/1.1\r\nX-Slow: ", 29), 0);
    char out[2048];
    size_t n = harness_read_responses(fd, 0, out, sizeof out); /* until the server closes */
    close(fd);
    assert_true(n > 0);
    assert_int_equal(harness_status(out), 408);
    raw(f, "GET /hello HTTP/1.1\r\n\r\n", 1, out, sizeof out);
    assert_int_equal(harness_status(out), 200);
}

static void test_percent_decode(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(http_percent_decode("a%2Fb+c", 7, out, sizeof out), 5);
    assert_string_equal(out, "a/b c");
    assert_int_equal(http_percent_decode("%2", 2, out, sizeof out), -1);
    assert_int_equal(http_percent_decode("%g0", 3, out, sizeof out), -1);
    assert_int_equal(http_percent_decode("0123456789abcdefgh", 18, out, sizeof out), -1);
}

/* A header name is a token: every byte a token does not have gets 400, every one it has is
 * served (the server relies on llhttp for all but the space). */
static void test_header_name_bytes(void **state)
{
    struct fixture *f = *state;
    char out[4096], req[128];
    for (int b = 1; b < 256; b++) {
        if (b == ':' || b == '\r' || b == '\n') continue;
        snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nA%cb: v\r\n\r\n", b);
        raw(f, req, 1, out, sizeof out);
        int want = http_tchar((unsigned char)b) ? 200 : 400;
        if (harness_status(out) != want)
            fail_msg("byte %d in a header name: expected %d, got: %.80s", b, want, out);
    }
}

/* The client and the server check only for a space in a header name: llhttp refuses every
 * other byte a token does not have, in answers as in requests. Pins that down for the
 * packaged version (a newer llhttp that lets more through fails here, not in production). */
static void test_llhttp_header_names(void **state)
{
    (void)state;
    llhttp_settings_t settings;
    llhttp_settings_init(&settings);
    for (int type = HTTP_REQUEST; type <= HTTP_RESPONSE; type++)
        for (int b = 1; b < 256; b++) {
            if (b == ':' || b == '\r' || b == '\n') continue;
            char msg[128];
            int n = snprintf(msg, sizeof msg, "%sA%cb: v\r\nContent-Length: 0\r\n\r\n",
                             type == HTTP_REQUEST ? "GET / HTTP/1.1\r\n" : "HTTP/1.1 200 OK\r\n",
                             b);
            llhttp_t p;
            llhttp_init(&p, (llhttp_type_t)type, &settings);
            bool accepted = llhttp_execute(&p, msg, (size_t)n) == HPE_OK;
            if (accepted != (http_tchar((unsigned char)b) || b == ' '))
                fail_msg("llhttp (%s) %s byte %d in a header name",
                         type == HTTP_REQUEST ? "request" : "answer",
                         accepted ? "accepts" : "refuses", b);
        }
}

int unit_http_server(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_and_headers),
        cmocka_unit_test(test_params_and_query),
        cmocka_unit_test(test_pipelining_in_order),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_malformed_then_keeps_serving),
        cmocka_unit_test(test_keepalive_rules),
        cmocka_unit_test(test_slow_headers_timeout),
        cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_header_name_bytes),
        cmocka_unit_test(test_llhttp_header_names),
    };
    return cmocka_run_group_tests_name("http_server", tests, setup, teardown);
}
