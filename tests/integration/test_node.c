/* test_node.c -- the real `herd node` process: every endpoint, bad requests, limits,
 * timeouts, and a SIGTERM that loses no in-flight request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../support/harness.h"
#include "integration.h"

struct node_proc {
    pid_t pid;
    int port;
    char *config;
};

/* Starts `herd node` with a config file giving short timeouts and small limits. */
static int setup(void **state)
{
    struct node_proc *n = calloc(1, sizeof *n);
    n->port = harness_free_port();
    n->config = harness_temp_file(".yaml", "cluster_id: test-cluster\n"
                                           "limits:\n"
                                           "  max_header_bytes: 2048\n"
                                           "  max_body_bytes: 4096\n"
                                           "  header_timeout: 1s\n");
    char port[16];
    snprintf(port, sizeof port, "%d", n->port);
    char *argv[] = {(char *)harness_herd_bin(),
                    "node",
                    "--port",
                    port,
                    "--id",
                    "api.1",
                    "--config",
                    n->config,
                    "--log-level",
                    "warn",
                    NULL};
    n->pid = harness_spawn(argv, NULL, NULL);
    if (n->pid < 0 || !harness_wait_http(n->port, "/health", 5000)) return -1;
    *state = n;
    return 0;
}

static int teardown(void **state)
{
    struct node_proc *n = *state;
    if (n) {
        kill(n->pid, SIGKILL);
        harness_wait(n->pid, 5000);
        unlink(n->config);
        free(n->config);
        free(n);
    }
    return 0;
}

/* Sends one request; returns status, parses a JSON body into *json when asked. */
static int request(int port, const char *method, const char *path, const char *body, char *out,
                   size_t size, json_t **json)
{
    char req[8192];
    snprintf(
        req, sizeof req,
        "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
        method, path, body ? strlen(body) : 0, body ? body : "");
    int status = harness_exchange(port, req, out, size);
    if (json) {
        const char *b = strstr(out, "\r\n\r\n");
        *json = b ? json_loads(b + 4, 0, NULL) : NULL;
    }
    return status;
}

static void test_health_and_node_header(void **state)
{
    struct node_proc *n = *state;
    char out[8192];
    json_t *j;
    assert_int_equal(request(n->port, "GET", "/health", NULL, out, sizeof out, &j), 200);
    assert_non_null(strstr(out, "X-Herd-Node: api.1\r\n"));
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "status")));
    assert_string_equal(json_string_value(json_object_get(j, "mode")), "standalone");
    assert_string_equal(json_string_value(json_object_get(j, "node_id")), "api.1");
    assert_non_null(json_string_value(json_object_get(j, "version")));
    assert_non_null(json_string_value(json_object_get(j, "timestamp")));
    assert_true(json_is_object(json_object_get(j, "checks")));
    json_decref(j);
    /* GET /, the default path of herd bench and of every check: 200, naming the node and its
     * routes; twice, the same (made once) */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(request(n->port, "GET", "/", NULL, out, sizeof out, &j), 200);
        assert_string_equal(json_string_value(json_object_get(j, "node_id")), "api.1");
        assert_string_equal(json_string_value(json_array_get(json_object_get(j, "routes"), 0)),
                            "GET /health");
        json_decref(j);
    }
    assert_int_equal(request(n->port, "POST", "/", "x", out, sizeof out, NULL), 405);
}

static void test_cluster_views(void **state)
{
    struct node_proc *n = *state;
    char out[8192];
    json_t *j;
    assert_int_equal(request(n->port, "GET", "/status/404", NULL, out, sizeof out, NULL), 404);
    assert_int_equal(request(n->port, "GET", "/api/v1/cluster/status", NULL, out, sizeof out, &j),
                     200);
    json_t *st = json_object_get(j, "status");
    assert_non_null(st);
    assert_string_equal(json_string_value(json_object_get(st, "cluster_id")), "test-cluster");
    assert_int_equal(json_integer_value(json_object_get(st, "total_nodes")), 1);
    assert_int_equal(json_integer_value(json_object_get(st, "active_nodes")), 1);
    assert_int_equal(json_integer_value(json_object_get(st, "failed_nodes")), 0);
    json_int_t total = json_integer_value(json_object_get(st, "total_requests"));
    json_int_t ok = json_integer_value(json_object_get(st, "successful_requests"));
    json_int_t failed = json_integer_value(json_object_get(st, "failed_requests"));
    assert_true(total >= 2);
    assert_int_equal(total, ok + failed);
    assert_true(failed >= 1); /* the 404 above */
    assert_true(json_is_number(json_object_get(st, "average_response_time")));
    assert_non_null(json_string_value(json_object_get(st, "last_updated")));
    json_decref(j);
    /* the counters count every answer: one more request, one more in total */
    assert_int_equal(request(n->port, "GET", "/api/v1/cluster/status", NULL, out, sizeof out, &j),
                     200);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "status"), "total_requests")),
        total + 1);
    json_decref(j);

    assert_int_equal(request(n->port, "GET", "/api/v1/cluster/nodes", NULL, out, sizeof out, &j),
                     200);
    json_t *me = json_object_get(json_object_get(j, "nodes"), "api.1");
    assert_non_null(me);
    json_t *cfg = json_object_get(me, "config");
    assert_string_equal(json_string_value(json_object_get(cfg, "node_id")), "api.1");
    assert_int_equal(json_integer_value(json_object_get(cfg, "port")), n->port);
    assert_int_equal(json_integer_value(json_object_get(cfg, "weight")), 100);
    assert_string_equal(json_string_value(json_object_get(cfg, "status")), "active");
    assert_true(json_is_object(json_object_get(cfg, "metadata")));
    assert_non_null(json_string_value(json_object_get(me, "last_seen")));
    assert_true(json_integer_value(json_object_get(me, "connections")) >= 1);
    assert_true(json_is_number(json_object_get(me, "success_rate")));
    json_decref(j);
}

static void test_kv(void **state)
{
    struct node_proc *n = *state;
    char out[8192];
    json_t *j;
    assert_int_equal(request(n->port, "GET", "/kv/color", NULL, out, sizeof out, NULL), 404);
    assert_int_equal(request(n->port, "PUT", "/kv/color", "blue", out, sizeof out, &j), 201);
    json_int_t seq1 = json_integer_value(json_object_get(j, "seq"));
    assert_true(seq1 >= 1);
    assert_int_equal(json_integer_value(json_object_get(j, "size")), 4);
    json_decref(j);
    assert_int_equal(request(n->port, "PUT", "/kv/color", "green", out, sizeof out, &j), 200);
    assert_int_equal(json_integer_value(json_object_get(j, "seq")), seq1 + 1);
    json_decref(j);
    assert_int_equal(request(n->port, "GET", "/kv/color", NULL, out, sizeof out, NULL), 200);
    assert_non_null(strstr(out, "\r\n\r\ngreen"));
    char seqhdr[64];
    snprintf(seqhdr, sizeof seqhdr, "X-Herd-Seq: %lld\r\n", (long long)seq1 + 1);
    assert_non_null(strstr(out, seqhdr));
    assert_int_equal(request(n->port, "PUT", "/kv/a%2Fb", "x", out, sizeof out, NULL), 201);
    assert_int_equal(request(n->port, "GET", "/kv/a%2Fb", NULL, out, sizeof out, NULL), 200);
    assert_int_equal(request(n->port, "DELETE", "/kv/color", NULL, out, sizeof out, NULL), 200);
    assert_int_equal(request(n->port, "GET", "/kv/color", NULL, out, sizeof out, NULL), 404);
    assert_int_equal(request(n->port, "DELETE", "/kv/color", NULL, out, sizeof out, NULL), 404);
}

static long long wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The apply log: GET /api/v1/kv/log lists the last 1024 changes applied, oldest first, each
 * with its key, version, origin, seq and wall-clock time; status shows the newest write per
 * origin and, with ?key=, that key's entry; bad arguments get 400 and the node keeps
 * serving. */
static void test_kv_apply_log(void **state)
{
    struct node_proc *n = *state;
    size_t size = 1 << 20;
    char *out = malloc(size), path[128], body[32];
    json_t *j;
    assert_int_equal(request(n->port, "GET", "/api/v1/kv/status", NULL, out, size, &j), 200);
    long long seq0 = json_integer_value(json_object_get(j, "seq"));
    json_decref(j);
    long long start = wall_us();
    for (int i = 0; i < 1030; i++) {
        snprintf(path, sizeof path, "/kv/log-%d", i);
        snprintf(body, sizeof body, "v%d", i);
        assert_true(request(n->port, "PUT", path, body, out, size, NULL) == 201);
    }
    assert_int_equal(request(n->port, "DELETE", "/kv/log-0", NULL, out, size, NULL), 200);
    long long end = wall_us();
    /* the ring holds the last 1024 of the 1031 changes, oldest first */
    assert_int_equal(request(n->port, "GET", "/api/v1/kv/log", NULL, out, size, &j), 200);
    assert_int_equal(json_integer_value(json_object_get(j, "capacity")), 1024);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), seq0 + 1031);
    assert_int_equal(json_integer_value(json_object_get(j, "first_seq")), seq0 + 1031 - 1023);
    assert_false(json_is_true(json_object_get(j, "more")));
    json_t *entries = json_object_get(j, "entries");
    assert_int_equal(json_array_size(entries), 1024);
    long long last_at = start;
    for (size_t i = 0; i < 1024; i++) {
        json_t *e = json_array_get(entries, i);
        long long seq = seq0 + 1031 - 1023 + (long long)i;
        assert_int_equal(json_integer_value(json_object_get(e, "seq")), seq);
        assert_int_equal(json_integer_value(json_object_get(e, "version")), seq);
        assert_string_equal(json_string_value(json_object_get(e, "origin")), "api.1");
        long long at = json_integer_value(json_object_get(e, "applied_at_us"));
        if (at < last_at || at > end) fail_msg("entry %zu applied at %lld, not in order", i, at);
        last_at = at;
        if (i < 1023) {
            snprintf(path, sizeof path, "log-%lld", seq - seq0 - 1);
            assert_string_equal(json_string_value(json_object_get(e, "key")), path);
            assert_false(json_is_true(json_object_get(e, "deleted")));
        }
    }
    json_t *del = json_array_get(entries, 1023);
    assert_string_equal(json_string_value(json_object_get(del, "key")), "log-0");
    assert_true(json_is_true(json_object_get(del, "deleted")));
    json_decref(j);
    /* filters: since, limit (more), key */
    snprintf(path, sizeof path, "/api/v1/kv/log?since=%lld&limit=2", seq0 + 1028);
    assert_int_equal(request(n->port, "GET", path, NULL, out, size, &j), 200);
    entries = json_object_get(j, "entries");
    assert_int_equal(json_array_size(entries), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(entries, 0), "seq")),
                     seq0 + 1029);
    assert_true(json_is_true(json_object_get(j, "more")));
    json_decref(j);
    assert_int_equal(
        request(n->port, "GET", "/api/v1/kv/log?key=log-1029&origin=api.1", NULL, out, size, &j),
        200);
    entries = json_object_get(j, "entries");
    assert_int_equal(json_array_size(entries), 1);
    long long at1029 =
        json_integer_value(json_object_get(json_array_get(entries, 0), "applied_at_us"));
    json_decref(j);
    /* status: per origin the newest write; ?key= the key's entry, tombstones too */
    assert_int_equal(request(n->port, "GET", "/api/v1/kv/status?key=log-1029", NULL, out, size, &j),
                     200);
    json_t *o = json_object_get(json_object_get(j, "origins"), "api.1");
    assert_int_equal(json_integer_value(json_object_get(o, "version")), seq0 + 1031);
    assert_int_equal(json_integer_value(json_object_get(o, "seq")), seq0 + 1031);
    assert_true(json_integer_value(json_object_get(o, "applies")) >= 1031);
    json_t *entry = json_object_get(j, "entry");
    assert_int_equal(json_integer_value(json_object_get(entry, "applied_at_us")), at1029);
    assert_string_equal(json_string_value(json_object_get(entry, "origin")), "api.1");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "apply_log"), "held")),
                     1024);
    json_decref(j);
    assert_int_equal(request(n->port, "GET", "/api/v1/kv/status?key=log-0", NULL, out, size, &j),
                     200);
    assert_true(json_is_true(json_object_get(json_object_get(j, "entry"), "deleted")));
    json_decref(j);
    assert_int_equal(request(n->port, "GET", "/api/v1/kv/status?key=nothing", NULL, out, size, &j),
                     200);
    assert_true(json_is_null(json_object_get(j, "entry")));
    json_decref(j);
    const char *bad[] = {
        "/api/v1/kv/log?since=x",    "/api/v1/kv/log?since=-1", "/api/v1/kv/log?limit=0",
        "/api/v1/kv/log?limit=1025", "/api/v1/kv/log?key=",     "/api/v1/kv/log?key=%zz",
        "/api/v1/kv/log?origin=",    "/api/v1/kv/status?key=",  "/api/v1/kv/status?key=%4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (request(n->port, "GET", bad[i], NULL, out, size, NULL) != 400)
            fail_msg("%s: expected 400", bad[i]);
    char longkey[400] = "/api/v1/kv/status?key=";
    memset(longkey + strlen(longkey), 'k', 300);
    assert_int_equal(request(n->port, "GET", longkey, NULL, out, size, NULL), 400);
    assert_int_equal(request(n->port, "GET", "/health", NULL, out, size, NULL), 200);
    free(out);
}

static void test_echo_delay_status(void **state)
{
    struct node_proc *n = *state;
    char out[8192];
    json_t *j;
    assert_int_equal(request(n->port, "POST", "/echo?x=1", "ping", out, sizeof out, &j), 200);
    assert_string_equal(json_string_value(json_object_get(j, "method")), "POST");
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/echo");
    assert_string_equal(json_string_value(json_object_get(j, "query")), "x=1");
    assert_string_equal(json_string_value(json_object_get(j, "body")), "ping");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "headers"), "Host")),
                        "127.0.0.1");
    json_decref(j);
    long t0 = harness_now_ms();
    assert_int_equal(request(n->port, "GET", "/delay?ms=250", NULL, out, sizeof out, NULL), 200);
    long took = harness_now_ms() - t0;
    assert_true(took >= 240);
    assert_int_equal(request(n->port, "GET", "/delay?ms=abc", NULL, out, sizeof out, NULL), 400);
    assert_non_null(strstr(out, "ms: expected"));
    assert_int_equal(request(n->port, "GET", "/delay", NULL, out, sizeof out, NULL), 400);
    assert_int_equal(request(n->port, "GET", "/delay?ms=600000", NULL, out, sizeof out, NULL), 400);
    assert_int_equal(request(n->port, "GET", "/status/503", NULL, out, sizeof out, NULL), 503);
    assert_int_equal(request(n->port, "POST", "/status/201", "", out, sizeof out, NULL), 201);
    assert_int_equal(request(n->port, "GET", "/status/99", NULL, out, sizeof out, NULL), 400);
    assert_int_equal(request(n->port, "GET", "/status/2x0", NULL, out, sizeof out, NULL), 400);
    assert_int_equal(request(n->port, "GET", "/no/such/route", NULL, out, sizeof out, NULL), 404);
}

static void test_fault_knobs(void **state)
{
    struct node_proc *n = *state;
    char out[8192];
    json_t *j;
    /* every answer but the admin routes fails while error_rate is 1 */
    assert_int_equal(request(n->port, "POST", "/admin/fault",
                             "{\"error_rate\": 1, \"error_status\": 503}", out, sizeof out, &j),
                     200);
    assert_true(json_real_value(json_object_get(j, "error_rate")) == 1.0);
    json_decref(j);
    for (int i = 0; i < 5; i++)
        assert_int_equal(request(n->port, "GET", "/health", NULL, out, sizeof out, NULL), 503);
    assert_int_equal(request(n->port, "GET", "/admin/fault", NULL, out, sizeof out, NULL), 200);
    /* latency replaces the error */
    assert_int_equal(request(n->port, "POST", "/admin/fault",
                             "{\"error_rate\": 0, \"latency_ms\": 300}", out, sizeof out, NULL),
                     200);
    long t0 = harness_now_ms();
    assert_int_equal(request(n->port, "GET", "/health", NULL, out, sizeof out, NULL), 200);
    assert_true(harness_now_ms() - t0 >= 290);
    /* half the answers fail (with the 503 set above) at error_rate 0.5: 200 requests, a
     * binomial far from 0 and 200 */
    assert_int_equal(request(n->port, "POST", "/admin/fault",
                             "{\"error_rate\": 0.5, \"latency_ms\": 0}", out, sizeof out, NULL),
                     200);
    int failures = 0;
    for (int i = 0; i < 200; i++)
        failures += request(n->port, "GET", "/echo", NULL, out, sizeof out, NULL) == 503;
    assert_in_range(failures, 50, 150);
    assert_int_equal(request(n->port, "DELETE", "/admin/fault", NULL, out, sizeof out, NULL), 200);
    assert_int_equal(request(n->port, "GET", "/echo", NULL, out, sizeof out, NULL), 200);
    /* bad bodies name the field and change nothing */
    static const struct {
        const char *body, *fragment;
    } bad[] = {
        {"{\"error_rate\": 2}", "error_rate: expected a number from 0 to 1"},
        {"{\"latency_ms\": -5}", "latency_ms: expected an integer"},
        {"{\"latency_ms\": \"5\"}", "latency_ms: expected an integer"},
        {"{\"error_status\": 200}", "error_status: expected an integer from 400 to 599"},
        {"{\"bogus\": 1}", "body: unknown field 'bogus', expected latency_ms"},
        {"{\"error_rate\": ", "body: invalid JSON at line 1"},
        {"[1]", "body: expected a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(
            request(n->port, "POST", "/admin/fault", bad[i].body, out, sizeof out, NULL), 400);
        if (!strstr(out, bad[i].fragment))
            fail_msg("body %s: answer lacks '%s': %s", bad[i].body, bad[i].fragment, out);
    }
    assert_int_equal(request(n->port, "GET", "/admin/fault", NULL, out, sizeof out, &j), 200);
    assert_int_equal(json_integer_value(json_object_get(j, "latency_ms")), 0);
    assert_true(json_real_value(json_object_get(j, "error_rate")) == 0.0);
    json_decref(j);
}

static void test_bad_requests_keep_serving(void **state)
{
    struct node_proc *n = *state;
    char out[8192], big[4096];
    assert_int_equal(harness_exchange(n->port, "NOT HTTP AT ALL\r\n\r\n", out, sizeof out), 400);
    assert_int_equal(harness_exchange(n->port, "GET / HTTP/1.1\r\nHost x\r\n\r\n", out, sizeof out),
                     400);
    memset(big, 'h', sizeof big);
    char req[8192];
    snprintf(req, sizeof req, "GET /health HTTP/1.1\r\nX-Big: %.*s\r\n\r\n", 3000, big);
    assert_int_equal(harness_exchange(n->port, req, out, sizeof out), 431);
    snprintf(req, sizeof req, "PUT /kv/big HTTP/1.1\r\nContent-Length: 5000\r\n\r\n");
    assert_int_equal(harness_exchange(n->port, req, out, sizeof out), 413);
    /* slow headers: the node gives up after header_timeout (1 s) with 408 */
    int fd = harness_connect(n->port, 5000);
    long t0 = harness_now_ms();
    assert_int_equal(harness_send(fd, "GET /health HTTP/1.1\r\nX-Slow: 1", 31), 0);
    size_t len = harness_read_responses(fd, 0, out, sizeof out);
    long took = harness_now_ms() - t0;
    close(fd);
    assert_true(len > 0);
    assert_int_equal(harness_status(out), 408);
    assert_in_range(took, 900, 3000);
    /* still serving */
    assert_int_equal(harness_get(n->port, "/health", out, sizeof out, NULL), 200);
}

static void test_keepalive_and_pipelining(void **state)
{
    struct node_proc *n = *state;
    int fd = harness_connect(n->port, 5000);
    char out[16384];
    const char *three =
        "GET /health HTTP/1.1\r\n\r\nGET /status/202 HTTP/1.1\r\n\r\nGET /echo HTTP/1.1\r\n\r\n";
    assert_int_equal(harness_send(fd, three, strlen(three)), 0);
    size_t len = harness_read_responses(fd, 3, out, sizeof out);
    assert_int_equal(harness_count_responses(out, len), 3);
    /* the same connection serves more */
    assert_int_equal(harness_send(fd, "GET /health HTTP/1.1\r\n\r\n", 24), 0);
    len = harness_read_responses(fd, 1, out, sizeof out);
    assert_int_equal(harness_status(out), 200);
    close(fd);
}

/* A "close" in any Connection header, not only the first, ends the connection once the
 * answer is out; "keep-alive" in two of them keeps it. Two Host headers are a 400. */
static void test_connection_close_in_any_header(void **state)
{
    struct node_proc *n = *state;
    char out[8192];
    int fd = harness_connect(n->port, 5000);
    assert_true(fd >= 0);
    static const char kept[] = "GET /health HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n"
                               "Connection: keep-alive\r\n\r\n";
    assert_int_equal(harness_send(fd, kept, sizeof kept - 1), 0);
    harness_read_responses(fd, 1, out, sizeof out);
    assert_int_equal(harness_status(out), 200);
    assert_null(strstr(out, "Connection: close"));
    static const char closed[] = "GET /health HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n"
                                 "Connection: close\r\n\r\n";
    assert_int_equal(harness_send(fd, closed, sizeof closed - 1), 0);
    size_t len = harness_read_responses(fd, 1, out, sizeof out);
    assert_int_equal(harness_count_responses(out, len), 1);
    assert_int_equal(harness_status(out), 200);
    assert_non_null(strstr(out, "Connection: close"));
    char more;
    assert_int_equal(recv(fd, &more, 1, 0), 0); /* the node closed it */
    close(fd);
    assert_int_equal(harness_exchange(n->port,
                                      "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                                      out, sizeof out),
                     400);
    assert_int_equal(harness_get(n->port, "/health", out, sizeof out, NULL), 200);
}

/* SIGTERM while requests are in flight: every one of them gets its answer, then exit 0. */
struct inflight {
    int port;
    atomic_int *sent; /* requests written so far, of all the threads */
    int status;
};

static void *delayed_request(void *arg)
{
    struct inflight *f = arg;
    static const char req[] = "GET /delay?ms=1500 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    char out[4096];
    int fd = harness_connect(f->port, 10000);
    if (fd < 0) return NULL;
    if (harness_send(fd, req, sizeof req - 1) == 0) {
        atomic_fetch_add(f->sent, 1);
        if (harness_read_responses(fd, 1, out, sizeof out) > 0) f->status = harness_status(out);
    }
    close(fd);
    return NULL;
}

/* True when n requests were written and the node has read each of them (their connections
 * hold nothing unread): every one is in its handler. */
static bool all_taken(int port, atomic_int *sent, int n)
{
    int unread;
    return atomic_load(sent) == n && harness_tcp_accepted(port, &unread) == n && unread == 0;
}

/* A node with the default limits on a free port (*port), answering /health. */
static pid_t spawn_default_node(int *port)
{
    *port = harness_free_port();
    char portarg[16];
    snprintf(portarg, sizeof portarg, "%d", *port);
    char *argv[] = {
        (char *)harness_herd_bin(), "node", "--port", portarg, "--log-level", "warn", NULL};
    pid_t pid = harness_spawn(argv, NULL, NULL);
    assert_true(harness_wait_http(*port, "/health", 5000));
    return pid;
}

static void test_sigterm_finishes_inflight(void **state)
{
    (void)state;
    int port;
    pid_t pid = spawn_default_node(&port);
    enum { N = 20 };
    struct inflight reqs[N];
    pthread_t threads[N];
    atomic_int sent;
    atomic_init(&sent, 0);
    for (int i = 0; i < N; i++) {
        reqs[i] = (struct inflight){.port = port, .sent = &sent, .status = -1};
        pthread_create(&threads[i], NULL, delayed_request, &reqs[i]);
    }
    /* all 20 are waiting on their 1.5 s delay */
    if (!harness_wait_until(all_taken(port, &sent, N), 10000))
        fail_msg("%d of %d requests sent, %d connections accepted", atomic_load(&sent), N,
                 harness_tcp_accepted(port, NULL));
    assert_int_equal(kill(pid, SIGTERM), 0);
    /* no new connections once stopping, while the node still runs to answer the 20 */
    assert_true(harness_wait_until(!harness_port_open(port), 5000));
    char st;
    assert_true(harness_proc_stat(pid, &st, NULL, NULL) && st != 'Z');
    for (int i = 0; i < N; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < N; i++)
        assert_int_equal(reqs[i].status, 200);
    int status = harness_wait(pid, 5000);
    assert_true(status >= 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Reads complete answers from fd (each with a Content-Length) until want came whole, the
 * peer closed or a read timed out. Returns how many were 200 with a body of body_len bytes. */
static int count_answers(int fd, int want, size_t body_len)
{
    size_t cap = 1 << 20, have = 0, skip = 0;
    char *b = malloc(cap + 1);
    int good = 0, seen = 0;
    while (seen < want || skip > 0) {
        ssize_t n = recv(fd, b + have, cap - have, 0);
        if (n <= 0) break;
        have += (size_t)n;
        for (;;) { /* consume what is complete: a body being skipped, then heads */
            size_t s = skip < have ? skip : have;
            memmove(b, b + s, have - s);
            have -= s;
            skip -= s;
            if (skip > 0) break;
            b[have] = '\0';
            char *end = strstr(b, "\r\n\r\n");
            if (!end) break;
            const char *cl = strstr(b, "Content-Length: ");
            size_t len = cl && cl < end ? strtoul(cl + 16, NULL, 10) : 0;
            if (harness_status(b) == 200 && len == body_len) good++;
            seen++;
            skip = (size_t)(end + 4 - b) + len;
        }
    }
    free(b);
    return good;
}

/* Stores a value of size bytes ('v's) at /kv/big. */
static void put_big_value(int port, size_t size)
{
    char *put = malloc(size + 256), out[4096];
    int n = snprintf(put, 256, "PUT /kv/big HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                               "Content-Length: %zu\r\n\r\n", size);
    memset(put + n, 'v', size);
    put[n + size] = '\0';
    assert_int_equal(harness_exchange(port, put, out, sizeof out), 201);
    free(put);
}

/* A client that pipelines 300 GETs of a 1 MB value and reads nothing: the node stops reading
 * while a connection's output is over its limit (1 MiB), so its resident memory stays within
 * 64 MB of where it was (it grew by the 300 MB of answers before), another client is served
 * meanwhile, and once the client reads, every answer comes, in full. */
static void test_pipelined_without_reading_stays_bounded(void **state)
{
    (void)state;
    int port;
    pid_t pid = spawn_default_node(&port);
    size_t big = 1000000;
    char out[4096];
    put_big_value(port, big);
    static const char get[] = "GET /kv/big HTTP/1.1\r\nHost: t\r\n\r\n";
    int fd = harness_connect(port, 5000);
    assert_true(fd >= 0);
    assert_int_equal(harness_send(fd, get, sizeof get - 1), 0);
    assert_int_equal(count_answers(fd, 1, big), 1); /* the buffers have their working size */
    long before = harness_rss_kb(pid);
    assert_true(before > 0);
    enum { PIPELINED = 300 };
    char *reqs = malloc(PIPELINED * (sizeof get - 1));
    for (int i = 0; i < PIPELINED; i++) memcpy(reqs + i * (sizeof get - 1), get, sizeof get - 1);
    size_t total = PIPELINED * (sizeof get - 1), sent = 0;
    ssize_t w;
    harness_wait_until( /* as much as the kernel takes */
        (w = send(fd, reqs + sent, total - sent, MSG_DONTWAIT | MSG_NOSIGNAL),
         sent += w > 0 ? (size_t)w : 0, sent == total),
        5000);
    free(reqs);
    const char *body;
    assert_int_equal(harness_get(port, "/health", out, sizeof out, &body), 200);
    long peak = before;
    /* the subject: the node's memory, sampled over 1.5 s with the answers unread */
    for (long end = harness_now_ms() + 1500; harness_now_ms() < end; harness_pause_ms(50)) {
        long rss = harness_rss_kb(pid);
        if (rss > peak) peak = rss;
    }
    print_message("node RSS %ld kB before, %ld kB at most with %d answers unread\n", before, peak,
                  PIPELINED);
    assert_true(peak - before < 64 * 1024);
    assert_int_equal(sent, total);
    assert_int_equal(count_answers(fd, PIPELINED, big), PIPELINED);
    close(fd);
    kill(pid, SIGTERM);
    int status = harness_wait(pid, 5000);
    assert_true(status >= 0 && WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- bounded memory ---- */

/* Starts a node with the default limits (1 MiB bodies) on port; extra environment in env.
 * ASan's quarantine of freed memory is kept small so that RSS shows what is really held. */
static pid_t start_plain_node(int port, char *const extra_env[], const char *flag,
                              const char *value)
{
    static char asan[512];
    const char *old = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%squarantine_size_mb=8", old ? old : "",
             old && *old ? ":" : "");
    char *env[8] = {asan};
    for (size_t i = 0; extra_env && extra_env[i] && i < 6; i++)
        env[i + 1] = extra_env[i];
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    char *argv[] = {(char *)harness_herd_bin(),
                    "node",
                    "--port",
                    p,
                    "--log-level",
                    "warn",
                    (char *)flag,
                    (char *)value,
                    NULL};
    pid_t pid = harness_spawn(argv, env, NULL);
    return pid > 0 && harness_wait_http(port, "/health", 5000) ? pid : -1;
}

/* A node started with config text (its limits), default otherwise; *config gets the file's
 * path (the caller unlinks and frees it). */
static pid_t start_configured_node(int port, const char *yaml, char **config)
{
    *config = harness_temp_file(".yaml", yaml);
    return start_plain_node(port, NULL, "--config", *config);
}

/* A connection that pipelines `count` GETs of /kv/big (1 MB, stored first) and reads nothing
 * (a 4 KB receive buffer). Returns the socket. */
static int pipeline_big_gets(int port, int count)
{
    put_big_value(port, 1000000);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    static const char get[] = "GET /kv/big HTTP/1.1\r\nHost: t\r\n\r\n";
    for (int i = 0; i < count; i++) assert_int_equal(harness_send(fd, get, sizeof get - 1), 0);
    return fd;
}

/* The node's own count of its answers (total_requests in its status), the polls of this
 * count left out (*polls counts them). */
static long long node_total(int port, int *polls)
{
    char out[8192];
    json_t *j;
    long long v = -1;
    if (request(port, "GET", "/api/v1/cluster/status", NULL, out, sizeof out, &j) == 200)
        v = (long long)json_integer_value(
                json_object_get(json_object_get(j, "status"), "total_requests")) - *polls;
    (*polls)++;
    json_decref(j);
    return v;
}

/* Answers the node gave once they stop coming (no change over 500 ms; at most 10 s). */
static long long answers_settled(int port)
{
    int polls = 0;
    long long last = -2, same = 0, v = -1;
    for (long until = harness_now_ms() + 10000; same < 5 && harness_now_ms() < until;
         usleep(100000)) {
        v = node_total(port, &polls);
        same = v == last ? same + 1 : 0;
        last = v;
    }
    return v;
}

/* limits.max_output_bytes from the config file: a client that pipelines 100 GETs of a 1 MB
 * value and reads nothing gets at most what the kernel's buffers hold and one answer more
 * from a node with 64KB, and 48 more from one with 48MB (the node's own count of answers);
 * the 64KB node's memory stays where it was, it serves another client meanwhile, and once
 * the client reads, all 100 answers come. */
static void test_output_limit_from_config(void **state)
{
    (void)state;
    char *small_cfg, *large_cfg, out[4096];
    int small_port = harness_free_port(), large_port = harness_free_port();
    pid_t small = start_configured_node(small_port, "limits:\n  max_output_bytes: 64KB\n",
                                        &small_cfg);
    pid_t large = start_configured_node(large_port, "limits:\n  max_output_bytes: 48MB\n",
                                        &large_cfg);
    assert_true(small > 0 && large > 0);
    int polls = 0;
    long long small_before = node_total(small_port, &polls);
    long rss_before = harness_rss_kb(small);
    int small_fd = pipeline_big_gets(small_port, 100);
    long long small_answers = answers_settled(small_port) - small_before - 1; /* and the PUT */
    long rss_after = harness_rss_kb(small);
    polls = 0;
    long long large_before = node_total(large_port, &polls);
    int large_fd = pipeline_big_gets(large_port, 100);
    long long large_answers = answers_settled(large_port) - large_before - 1;
    print_message("answers given to a client that reads nothing: %lld (64KB), %lld (48MB); "
                  "RSS %ld kB -> %ld kB (64KB)\n",
                  small_answers, large_answers, rss_before, rss_after);
    assert_true(small_answers >= 1 && small_answers < 20);
    assert_true(large_answers >= small_answers + 40);
    assert_true(rss_after - rss_before < 32 * 1024);
    assert_int_equal(harness_get(small_port, "/health", out, sizeof out, NULL), 200);
    assert_int_equal(count_answers(small_fd, 100, 1000000), 100);
    assert_int_equal(count_answers(large_fd, 100, 1000000), 100);
    close(small_fd);
    close(large_fd);
    pid_t both[] = {small, large};
    for (int i = 0; i < 2; i++) {
        kill(both[i], SIGTERM);
        int st = harness_wait(both[i], 5000);
        assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    char *cfgs[] = {small_cfg, large_cfg};
    for (int i = 0; i < 2; i++) {
        unlink(cfgs[i]);
        free(cfgs[i]);
    }
}

/* The node's open connections (the one asking included). */
static long long node_connections(int port)
{
    char out[8192];
    json_t *j;
    long long v = -1;
    if (request(port, "GET", "/api/v1/cluster/nodes", NULL, out, sizeof out, &j) == 200)
        v = (long long)json_integer_value(json_object_get(
            json_object_get(json_object_get(j, "nodes"), "api.1"), "connections"));
    json_decref(j);
    return v;
}

/* limits.write_timeout from the config file: a client that takes none of its answers for 1 s
 * loses its connection (the node's count of connections drops to the one asking; with the
 * default 60 s it would stay), gets only what was already on its way, then the end; the
 * node serves others throughout. */
static void test_write_timeout_from_config(void **state)
{
    (void)state;
    char *cfg, out[4096];
    int port = harness_free_port();
    pid_t pid = start_configured_node(port, "node_id: api.1\nlimits:\n  write_timeout: 1s\n",
                                      &cfg);
    assert_true(pid > 0);
    int fd = pipeline_big_gets(port, 100);
    assert_int_equal(harness_get(port, "/health", out, sizeof out, NULL), 200);
    long long conns = -1;
    harness_wait_until((conns = node_connections(port)) == 1, 10000);
    assert_int_equal(conns, 1);
    int got = count_answers(fd, 100, 1000000);
    print_message("answers before the write timeout closed the connection: %d of 100\n", got);
    assert_true(got < 100);
    close(fd);
    assert_int_equal(harness_get(port, "/health", out, sizeof out, NULL), 200);
    kill(pid, SIGTERM);
    int st = harness_wait(pid, 5000);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    unlink(cfg);
    free(cfg);
}

/* Clients that reset their connections while their answers are held (/delay for 60 s) are let
 * go at once: the node's connections drop to the one asking within seconds, not after the
 * 60 s, and SIGTERM then stops the node at once (nothing in flight). */
static void test_reset_while_held_lets_go(void **state)
{
    (void)state;
    int port = harness_free_port();
    pid_t pid = start_plain_node(port, NULL, "--id", "api.1");
    assert_true(pid > 0);
    enum { HELD = 10 };
    int fds[HELD];
    const char *req = "GET /delay?ms=60000 HTTP/1.1\r\nHost: t\r\n\r\n";
    for (int i = 0; i < HELD; i++) {
        fds[i] = harness_connect(port, 2000);
        assert_true(fds[i] >= 0);
        assert_int_equal(harness_send(fds[i], req, strlen(req)), 0);
    }
    long long conns = -1;
    harness_wait_until((conns = node_connections(port)) == HELD + 1, 10000);
    assert_int_equal(conns, HELD + 1); /* all held, and the one asking */
    for (int i = 0; i < HELD; i++) {
        struct linger reset = {1, 0};
        setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        close(fds[i]);
    }
    harness_wait_until((conns = node_connections(port)) == 1, 10000);
    assert_int_equal(conns, 1);
    kill(pid, SIGTERM);
    int st = harness_wait(pid, 10000);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* /echo with a query that is not UTF-8 and a 1 MiB body, 200 times: every answer is 200 and
 * describes the request (bad bytes as U+FFFD), and the node's RSS stays bounded (it grew by
 * the body's copy, 200 MB, when the description failed). */
static void test_echo_bad_utf8_bounded(void **state)
{
    (void)state;
    int port = harness_free_port();
    pid_t pid = start_plain_node(port, NULL, NULL, NULL);
    assert_true(pid > 0);
    size_t body_len = (1u << 20) - 4096, size = 3u << 20;
    char *req = malloc(body_len + 512), *out = malloc(size);
    int head = snprintf(req, 512,
                        "POST /echo?q=\xff\xfe%%ff HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "X-Bad: \xc3\x28\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n",
                        body_len);
    memset(req + head, 'a', body_len);
    req[head + (int)body_len] = '\0';
    long before = 0;
    for (int i = 0; i < 200; i++) {
        if (i == 10) before = harness_rss_kb(pid); /* after the first buffers were allocated */
        assert_int_equal(harness_exchange(port, req, out, size), 200);
    }
    long after = harness_rss_kb(pid);
    json_t *j = json_loads(strstr(out, "\r\n\r\n") + 4, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "query")),
                        "q=\xef\xbf\xbd\xef\xbf\xbd%ff");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "headers"), "X-Bad")),
                        "\xef\xbf\xbd(");
    assert_int_equal(json_integer_value(json_object_get(j, "body_bytes")), (json_int_t)body_len);
    assert_int_equal(json_string_length(json_object_get(j, "body")), body_len);
    json_decref(j);
    print_message("echo: RSS %ld KiB after 10 requests, %ld KiB after 200\n", before, after);
    assert_true(before > 0 && after > 0);
    assert_true(after - before < 48 * 1024);
    free(req);
    free(out);
    kill(pid, SIGTERM);
    int st = harness_wait(pid, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- replication between three nodes ---- */

static pid_t start_peer(int port, const char *id, const char *peers)
{
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    char *argv[] = {(char *)harness_herd_bin(),
                    "node",
                    "--port",
                    p,
                    "--id",
                    (char *)id,
                    "--log-level",
                    "warn",
                    peers ? "--peers" : NULL,
                    (char *)peers,
                    NULL};
    pid_t pid = harness_spawn(argv, NULL, NULL);
    return pid > 0 && harness_wait_http(port, "/health", 5000) ? pid : -1;
}

/* Polls GET /kv/key on port until it answers value (NULL: 404), for up to ms. */
static bool wait_value(int port, const char *key, const char *value, int ms)
{
    char path[300], out[4096];
    snprintf(path, sizeof path, "/kv/%s", key);
    const char *body = NULL;
    int status;
    return harness_wait_until(
        (status = harness_get(port, path, out, sizeof out, &body),
         value ? status == 200 && body && strcmp(body, value) == 0 : status == 404),
        ms);
}

static void test_replication_catches_up(void **state)
{
    (void)state;
    int base = harness_free_ports(3);
    char peers_a[64], peers_b[32], out[8192], key[32], value[32];
    snprintf(peers_a, sizeof peers_a, "127.0.0.1:%d,127.0.0.1:%d", base + 1, base + 2);
    snprintf(peers_b, sizeof peers_b, "127.0.0.1:%d", base);
    pid_t a = start_peer(base, "a", peers_a), b = start_peer(base + 1, "b", peers_b),
          c = start_peer(base + 2, "c", peers_b); /* c reads a only; b's writes relay through a */
    assert_true(a > 0 && b > 0 && c > 0);
    assert_int_equal(request(base, "PUT", "/kv/first", "1", out, sizeof out, NULL), 201);
    for (int i = 0; i < 3; i++)
        assert_true(wait_value(base + i, "first", "1", 5000));
    /* c paused: writes on a and b go on; after SIGCONT c resumes from where it stopped */
    kill(c, SIGSTOP);
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "/kv/k%d", i);
        snprintf(value, sizeof value, "v%d", i);
        assert_true(request(base + i % 2, "PUT", key, value, out, sizeof out, NULL) == 201);
    }
    assert_int_equal(request(base + 1, "DELETE", "/kv/first", NULL, out, sizeof out, NULL), 200);
    assert_true(wait_value(base, "k199", "v199", 5000)); /* b's write reached a */
    kill(c, SIGCONT);
    assert_true(wait_value(base + 2, "k198", "v198", 5000));
    assert_true(wait_value(base + 2, "k199", "v199", 5000));
    assert_true(wait_value(base + 2, "first", NULL, 5000));
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "k%d", i);
        snprintf(value, sizeof value, "v%d", i);
        assert_true(wait_value(base + 2, key, value, 100));
    }
    json_t *j;
    assert_int_equal(request(base + 2, "GET", "/api/v1/kv/status", NULL, out, sizeof out, &j), 200);
    assert_int_equal(json_integer_value(json_object_get(j, "keys")), 200);
    assert_int_equal(json_array_size(json_object_get(j, "peers")), 1);
    json_t *peer = harness_json_find(json_object_get(j, "peers"), "peer", peers_b);
    assert_non_null(peer);
    assert_string_equal(json_string_value(json_object_get(peer, "node_id")), "a");
    /* c's apply log: the writes of a and b, each stamped when c applied it */
    json_t *origins = json_object_get(j, "origins");
    assert_true(json_integer_value(json_object_get(json_object_get(origins, "a"), "applies")) >=
                100);
    assert_true(json_integer_value(json_object_get(json_object_get(origins, "b"), "applies")) >=
                101);
    json_decref(j);
    assert_int_equal(request(base + 2, "GET", "/api/v1/kv/log?key=k199", NULL, out, sizeof out, &j),
                     200);
    json_t *k199 = json_array_get(json_object_get(j, "entries"), 0);
    assert_string_equal(json_string_value(json_object_get(k199, "origin")), "b");
    assert_true(json_integer_value(json_object_get(k199, "applied_at_us")) > 0);
    json_decref(j);
    /* a killed and started again with an empty store: it reads its peers from the start */
    kill(a, SIGKILL);
    harness_wait(a, 5000);
    a = start_peer(base, "a", peers_a);
    assert_true(a > 0);
    assert_true(wait_value(base, "k0", "v0", 5000));
    assert_true(wait_value(base, "k199", "v199", 5000));
    assert_true(wait_value(base, "first", NULL, 100));
    /* a write on the new a reaches c, which now reads the new a */
    assert_int_equal(request(base, "PUT", "/kv/after", "restart", out, sizeof out, NULL), 201);
    assert_true(wait_value(base + 2, "after", "restart", 5000));
    /* malformed long-poll arguments: 400, and the node keeps serving */
    assert_int_equal(
        request(base, "GET", "/api/v1/kv/changes?since=x", NULL, out, sizeof out, NULL), 400);
    assert_int_equal(
        request(base, "GET", "/api/v1/kv/changes?wait=forever", NULL, out, sizeof out, NULL), 400);
    char *big = malloc(1 << 20);
    assert_int_equal(request(base, "GET", "/api/v1/kv/changes?since=0", NULL, big, 1 << 20, &j),
                     200);
    free(big);
    assert_true(json_array_size(json_object_get(j, "changes")) >= 201);
    json_decref(j);
    pid_t all[] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        kill(all[i], SIGTERM);
        int st = harness_wait(all[i], 5000);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
}

/* Keys are 1 to 255 bytes of UTF-8 (%-decoded): a longer one gets 414 on every method, a NUL
 * byte or bytes that are not UTF-8 400;
 * values are at most 1 MiB: a larger one gets 413 even where the server takes larger bodies.
 * The node keeps serving, and what was refused was not stored. */
static void test_kv_limits(void **state)
{
    (void)state;
    char *config = harness_temp_file(".yaml", "limits:\n  max_body_bytes: 2097152\n");
    int port = harness_free_port();
    pid_t pid = start_plain_node(port, NULL, "--config", config);
    assert_true(pid > 0);
    size_t size = 3u << 20;
    char *out = malloc(size), *req = malloc(size), key[1024], path[1100];
    memset(key, 'a', 256);
    key[255] = '\0';
    snprintf(path, sizeof path, "/kv/%s", key);
    assert_int_equal(request(port, "PUT", path, "v", out, 8192, NULL), 201);
    assert_int_equal(request(port, "GET", path, NULL, out, 8192, NULL), 200);
    assert_int_equal(request(port, "DELETE", path, NULL, out, 8192, NULL), 200);
    snprintf(path, sizeof path, "/kv/%sa", key); /* 256 bytes */
    static const char *const methods[] = {"PUT", "GET", "DELETE"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(request(port, methods[i], path, "v", out, 8192, NULL), 414);
        assert_non_null(strstr(out, "key: longer than 255 bytes"));
    }
    /* %-encoded: 255 decoded bytes fit, 256 do not */
    char *p = path + snprintf(path, sizeof path, "/kv/");
    for (int i = 0; i < 255; i++)
        p += sprintf(p, "%%%02X", 'b');
    assert_int_equal(request(port, "PUT", path, "v", out, 8192, NULL), 201);
    strcat(path, "%62");
    assert_int_equal(request(port, "PUT", path, "v", out, 8192, NULL), 414);
    assert_int_equal(request(port, "PUT", "/kv/a%00b", "v", out, 8192, NULL), 400);
    assert_non_null(strstr(out, "key: NUL bytes"));
    assert_int_equal(request(port, "PUT", "/kv/a%FFb", "v", out, 8192, NULL), 400);
    assert_non_null(strstr(out, "key: expected UTF-8"));
    assert_int_equal(request(port, "PUT", "/kv/caf%C3%A9", "v", out, 8192, NULL), 201);
    assert_int_equal(request(port, "GET", "/kv/a", NULL, out, 8192, NULL), 404);
    /* values: exactly 1 MiB is stored, one byte more is 413 */
    for (size_t len = 1u << 20; len <= (1u << 20) + 1; len++) {
        int head = snprintf(req, 256,
                            "PUT /kv/big HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                            "Content-Length: %zu\r\n\r\n",
                            len);
        memset(req + head, 'x', len);
        req[(size_t)head + len] = '\0';
        int status = harness_exchange(port, req, out, size);
        assert_int_equal(status, len == 1u << 20 ? 201 : 413);
    }
    assert_non_null(strstr(out, "value: larger than 1048576 bytes"));
    const char *body = NULL;
    assert_int_equal(harness_get(port, "/kv/big", out, size, &body), 200);
    assert_int_equal(strlen(body), 1u << 20); /* the 1 MiB value, not the refused one */
    assert_int_equal(harness_get(port, "/health", out, size, NULL), 200);
    free(out);
    free(req);
    kill(pid, SIGTERM);
    int st = harness_wait(pid, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    unlink(config);
    free(config);
}

/* ---- hostile peers and callers ---- */

/* A replication peer that answers every poll at once, with one good change and five bad ones
 * after the asker's `since`: a version of 2^63-1, a value that is not base64, a 300-byte key,
 * "deleted": "yes", no value. Counts the polls, keeps the last Authorization header. */
struct fake_peer {
    int fd, port;
    atomic_int polls;
    atomic_bool stop, saw_port; /* saw_port: a poll asked to be adopted (port=) */
    char auth[128];
    pthread_mutex_t lock;
    pthread_t thread;
};

static void fake_peer_answer(int c, unsigned long long since)
{
    char body[4096], head[256], big_key[301];
    memset(big_key, 'k', 300);
    big_key[300] = '\0';
    unsigned long long s = since;
    int len = snprintf(
        body, sizeof body,
        "{\"node_id\":\"fake\",\"epoch\":7,\"seq\":%llu,\"more\":false,\"changes\":["
        "{\"seq\":%llu,\"key\":\"good%llu\",\"value\":\"b2s=\",\"deleted\":false,\"version\":%llu,"
        "\"origin\":\"fake\"},"
        "{\"seq\":%llu,\"key\":\"forged\",\"value\":\"eA==\",\"deleted\":false,"
        "\"version\":9223372036854775807,\"origin\":\"fake\"},"
        "{\"seq\":%llu,\"key\":\"notb64\",\"value\":\"!!!\",\"version\":5,\"origin\":\"fake\"},"
        "{\"seq\":%llu,\"key\":\"%s\",\"value\":\"\",\"version\":5,\"origin\":\"fake\"},"
        "{\"seq\":%llu,\"key\":\"del\",\"deleted\":\"yes\",\"version\":5,\"origin\":\"fake\"},"
        "{\"seq\":%llu,\"key\":\"novalue\",\"version\":5,\"origin\":\"fake\"}]}",
        s + 6, s + 1, s + 1, s + 1, s + 2, s + 3, s + 4, big_key, s + 5, s + 6);
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                      "Connection: close\r\n\r\n",
                      len);
    if (write(c, head, (size_t)hl) < 0 || write(c, body, (size_t)len) < 0) perror("fake peer");
}

static void *fake_peer_main(void *arg)
{
    struct fake_peer *f = arg;
    while (!atomic_load(&f->stop)) {
        int c = accept(f->fd, NULL, NULL);
        if (c < 0) continue; /* SO_RCVTIMEO: look at stop again */
        struct timeval tv = {1, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char buf[4096];
        size_t have = 0;
        ssize_t n;
        while (have < sizeof buf - 1 && (n = read(c, buf + have, sizeof buf - 1 - have)) > 0) {
            have += (size_t)n;
            buf[have] = '\0';
            if (strstr(buf, "\r\n\r\n")) break;
        }
        const char *since = have ? strstr(buf, "since=") : NULL;
        if (since) {
            atomic_fetch_add(&f->polls, 1);
            if (strstr(buf, "&port=")) atomic_store(&f->saw_port, true);
            const char *auth = strstr(buf, "\r\nAuthorization: ");
            pthread_mutex_lock(&f->lock);
            if (auth) sscanf(auth + 17, "%127[^\r]", f->auth);
            pthread_mutex_unlock(&f->lock);
            fake_peer_answer(c, strtoull(since + 6, NULL, 10));
        }
        close(c);
    }
    return NULL;
}

static void fake_peer_start(struct fake_peer *f)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->lock, NULL);
    f->fd = harness_listen(&f->port);
    assert_true(f->fd >= 0);
    pthread_create(&f->thread, NULL, fake_peer_main, f);
}

static void fake_peer_stop(struct fake_peer *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    close(f->fd);
    pthread_mutex_destroy(&f->lock);
}

/* A peer serving malformed and forged changes: the good ones are applied, the bad ones
 * stepped over and counted, the polls back off (a handful in 3 s, not thousands), the forged
 * version does not move the clock, the polls carry the token, and the node keeps serving. */
static void test_replication_rejects_bad_changes(void **state)
{
    (void)state;
    struct fake_peer f;
    fake_peer_start(&f);
    char peers[32], out[8192];
    snprintf(peers, sizeof peers, "127.0.0.1:%d", f.port);
    int port = harness_free_port();
    char *env[] = {"HERD_PEERS", NULL};
    char peers_env[48];
    snprintf(peers_env, sizeof peers_env, "HERD_PEERS=%s", peers);
    env[0] = peers_env;
    pid_t pid = start_plain_node(port, env, "--token", "s3cret");
    assert_true(pid > 0);
    assert_true(harness_wait_until(atomic_load(&f.polls) > 0, 5000));
    long t0 = harness_now_ms();
    int polls0 = atomic_load(&f.polls);
    harness_pause_ms(3000); /* the subject: how often it polls in 3 s */
    int polls = atomic_load(&f.polls) - polls0;
    long took = harness_now_ms() - t0;
    print_message("fake peer: %d polls in %ld ms\n", polls, took);
    assert_in_range(polls, 1, 15);
    assert_int_equal(harness_get(port, "/kv/good1", out, sizeof out, NULL), 200);
    assert_int_equal(harness_get(port, "/kv/forged", out, sizeof out, NULL), 404);
    assert_int_equal(harness_get(port, "/kv/notb64", out, sizeof out, NULL), 404);
    assert_int_equal(harness_get(port, "/kv/novalue", out, sizeof out, NULL), 404);
    json_t *j;
    assert_int_equal(request(port, "GET", "/api/v1/kv/status", NULL, out, sizeof out, &j), 200);
    json_t *peer = harness_json_find(json_object_get(j, "peers"), "peer", peers);
    assert_non_null(peer);
    json_int_t rejected = json_integer_value(json_object_get(peer, "rejected"));
    json_int_t applied = json_integer_value(json_object_get(peer, "applied"));
    assert_true(rejected >= 5 && rejected == 5 * applied);
    assert_non_null(strstr(json_string_value(json_object_get(peer, "last_error")), "seq "));
    assert_true(json_integer_value(json_object_get(j, "clock")) < 1000);
    json_decref(j);
    /* a local write still gets a small version, which peers accept */
    assert_int_equal(request(port, "PUT", "/kv/mine", "1", out, sizeof out, &j), 201);
    assert_true(json_integer_value(json_object_get(j, "version")) < 1000);
    json_decref(j);
    pthread_mutex_lock(&f.lock);
    assert_string_equal(f.auth, "Bearer s3cret");
    pthread_mutex_unlock(&f.lock);
    assert_false(atomic_load(&f.saw_port));
    kill(pid, SIGTERM);
    int st = harness_wait(pid, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    fake_peer_stop(&f);
}

/* A request with one extra header line (may be NULL); returns the status. */
static int request_with(int port, const char *method, const char *path, const char *header,
                        const char *body, char *out, size_t size)
{
    char req[4096];
    snprintf(req, sizeof req,
             "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%sConnection: close\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             method, path, header ? header : "", header ? "\r\n" : "", body ? strlen(body) : 0,
             body ? body : "");
    return harness_exchange(port, req, out, size);
}

/* With a cluster token, replication and the fault knobs need it ("Bearer" in any case, the
 * token compared whole); observation stays open. Without one, a caller naming a port is
 * never adopted as a peer: nothing connects to that port. */
static void test_token_and_no_learning(void **state)
{
    (void)state;
    char out[8192];
    int port = harness_free_port();
    char *env[] = {"HERD_TOKEN=s3cret", NULL};
    pid_t pid = start_plain_node(port, env, NULL, NULL);
    assert_true(pid > 0);
    static const struct {
        const char *method, *path, *header, *body;
        int status;
    } cases[] = {
        {"GET", "/api/v1/kv/changes?since=0", NULL, NULL, 401},
        {"GET", "/api/v1/kv/changes?since=0", "Authorization: Bearer wrong", NULL, 401},
        {"GET", "/api/v1/kv/changes?since=0", "Authorization: Bearer s3cre", NULL, 401},
        {"GET", "/api/v1/kv/changes?since=0", "Authorization: Bearer s3cretX", NULL, 401},
        {"GET", "/api/v1/kv/changes?since=0", "Authorization: Basic s3cret", NULL, 401},
        {"GET", "/api/v1/kv/changes?since=0", "Authorization: s3cret", NULL, 401},
        {"GET", "/api/v1/kv/changes?since=0", "Authorization: Bearer s3cret", NULL, 200},
        {"GET", "/api/v1/kv/changes?since=0", "Authorization: bEARER s3cret", NULL, 200},
        {"POST", "/admin/fault", NULL, "{\"error_rate\": 1}", 401},
        {"DELETE", "/admin/fault", "Authorization: Bearer nope", NULL, 401},
        {"GET", "/admin/fault", NULL, NULL, 401},
        {"GET", "/health", NULL, NULL, 200}, /* the fault above was not set */
        {"GET", "/api/v1/kv/status", NULL, NULL, 200},
        {"GET", "/api/v1/kv/log", NULL, NULL, 200},
        {"PUT", "/kv/k", NULL, "v", 201},
        {"GET", "/admin/fault", "Authorization: Bearer s3cret", NULL, 200},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int status = request_with(port, cases[i].method, cases[i].path, cases[i].header,
                                  cases[i].body, out, sizeof out);
        if (status != cases[i].status)
            fail_msg("%s %s (%s): %d, expected %d: %s", cases[i].method, cases[i].path,
                     cases[i].header ? cases[i].header : "no token", status, cases[i].status, out);
        if (status == 401) {
            assert_non_null(strstr(out, "WWW-Authenticate: Bearer\r\n"));
            assert_non_null(strstr(out, "token"));
        }
    }
    kill(pid, SIGTERM);
    harness_wait(pid, 10000);

    /* no token: a caller that names a port is not adopted */
    struct fake_peer f;
    fake_peer_start(&f);
    port = harness_free_port();
    pid = start_plain_node(port, NULL, NULL, NULL);
    assert_true(pid > 0);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/kv/changes?since=0&port=%d", f.port);
    assert_int_equal(request_with(port, "GET", path, NULL, NULL, out, sizeof out), 200);
    /* the subject, an absence: a learned peer would have been polled within 50 ms */
    harness_pause_ms(1500);
    assert_int_equal(atomic_load(&f.polls), 0);
    json_t *j;
    assert_int_equal(request(port, "GET", "/api/v1/kv/status", NULL, out, sizeof out, &j), 200);
    assert_int_equal(json_array_size(json_object_get(j, "peers")), 0);
    json_decref(j);
    kill(pid, SIGTERM);
    int st = harness_wait(pid, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    fake_peer_stop(&f);
}

static void test_bad_peers(void **state)
{
    (void)state;
    char *err = NULL;
    char *args[] = {"node", "--port", "0", "--peers", "localhost:80", NULL};
    assert_int_equal(harness_herd(args, 5000, NULL, &err), 2);
    assert_non_null(strstr(err, "peers: \"localhost:80\": expected IP:PORT"));
    free(err);
}

/* ---- a peers file, re-read when it changes ---- */

static void write_file(const char *path, const char *text)
{
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
}

/* True when GET /api/v1/kv/status on port shows exactly the peers want ("" none, else one
 * "IP:PORT") and its peers_file.error holds error ("" none). */
static bool peers_file_shows(int port, const char *want, const char *error, char *out,
                             size_t size)
{
    json_t *j = NULL;
    if (request(port, "GET", "/api/v1/kv/status", NULL, out, size, &j) != 200) return false;
    json_t *peers = json_object_get(j, "peers");
    const char *peer = json_string_value(json_object_get(json_array_get(peers, 0), "peer"));
    const char *why = json_string_value(json_object_get(json_object_get(j, "peers_file"), "error"));
    bool ok = why && strstr(why, error) && (error[0] || !why[0]) &&
              (want[0] ? json_array_size(peers) == 1 && peer && strcmp(peer, want) == 0
                       : json_array_size(peers) == 0);
    json_decref(j);
    return ok;
}

/* Polls GET /api/v1/kv/status on port until its peers are exactly want ("" none, else one
 * "IP:PORT") and its peers_file.error holds error ("" none), for up to ms. */
static bool wait_peers_file(int port, const char *want, const char *error, int ms, char *out,
                            size_t size)
{
    return harness_wait_until(peers_file_shows(port, want, error, out, size), ms);
}

static void test_peers_file_reread(void **state)
{
    (void)state;
    int base = harness_free_ports(2);
    char *file = harness_temp_file(".peers", "# no peer yet\n");
    char peer_b[32], text[128], out[8192], port_a[16];
    snprintf(peer_b, sizeof peer_b, "127.0.0.1:%d", base + 1);
    snprintf(port_a, sizeof port_a, "%d", base);
    pid_t b = start_peer(base + 1, "b", NULL);
    char *argv[] = {(char *)harness_herd_bin(),
                    "node",
                    "--port",
                    port_a,
                    "--id",
                    "a",
                    "--log-level",
                    "warn",
                    "--peers-file",
                    file,
                    NULL};
    pid_t a = harness_spawn(argv, NULL, NULL);
    assert_true(a > 0 && b > 0 && harness_wait_http(base, "/health", 5000));
    assert_true(wait_peers_file(base, "", "", 5000, out, sizeof out));
    assert_int_equal(request(base + 1, "PUT", "/kv/k", "v1", out, sizeof out, NULL), 201);

    /* the file names b: a reads it, from its start */
    snprintf(text, sizeof text, "# b\n  %s  # the other node\n\n", peer_b);
    write_file(file, text);
    assert_true(wait_peers_file(base, peer_b, "", 10000, out, sizeof out));
    assert_true(wait_value(base, "k", "v1", 10000));

    /* a file that does not parse leaves the peers as they were, and says why */
    write_file(file, "# broken\nnot-an-address\n");
    if (!wait_peers_file(base, peer_b, ":2: peers: \"not-an-address\": expected IP:PORT", 10000,
                         out, sizeof out))
        fail_msg("status after a bad peers file: %s", out);
    assert_int_equal(request(base + 1, "PUT", "/kv/k", "v2", out, sizeof out, NULL), 200);
    assert_true(wait_value(base, "k", "v2", 10000));

    /* b no longer listed: dropped, and its writes stay away */
    write_file(file, "\n");
    assert_true(wait_peers_file(base, "", "", 10000, out, sizeof out));
    assert_int_equal(request(base + 1, "PUT", "/kv/k", "v3", out, sizeof out, NULL), 200);
    harness_pause_ms(500); /* the subject, an absence: v3 would have come within it */
    assert_true(wait_value(base, "k", "v2", 100));

    kill(a, SIGTERM);
    int st = harness_wait(a, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    kill(b, SIGKILL);
    harness_wait(b, 5000);

    /* one that does not parse at start is an error */
    write_file(file, "127.0.0.1:1\n127.0.0.1:99999\n");
    char *err = NULL;
    char *args[] = {"node", "--port", "0", "--peers-file", file, NULL};
    assert_int_equal(harness_herd(args, 5000, NULL, &err), 2);
    if (!strstr(err, ":2: peers: \"127.0.0.1:99999\": expected IP:PORT"))
        fail_msg("stderr: %s", err);
    free(err);
    unlink(file);
    free(file);
}

int integration_node(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_and_node_header),
        cmocka_unit_test(test_cluster_views),
        cmocka_unit_test(test_kv),
        cmocka_unit_test(test_kv_apply_log),
        cmocka_unit_test(test_echo_delay_status),
        cmocka_unit_test(test_fault_knobs),
        cmocka_unit_test(test_bad_requests_keep_serving),
        cmocka_unit_test(test_keepalive_and_pipelining),
        cmocka_unit_test(test_connection_close_in_any_header),
    };
    const struct CMUnitTest alone[] = {
        cmocka_unit_test(test_sigterm_finishes_inflight),
        cmocka_unit_test(test_pipelined_without_reading_stays_bounded),
        cmocka_unit_test(test_echo_bad_utf8_bounded),
        cmocka_unit_test(test_reset_while_held_lets_go),
        cmocka_unit_test(test_output_limit_from_config),
        cmocka_unit_test(test_write_timeout_from_config),
        cmocka_unit_test(test_kv_limits),
        cmocka_unit_test(test_replication_catches_up),
        cmocka_unit_test(test_replication_rejects_bad_changes),
        cmocka_unit_test(test_token_and_no_learning),
        cmocka_unit_test(test_bad_peers),
        cmocka_unit_test(test_peers_file_reread),
    };
    return cmocka_run_group_tests_name("node", tests, setup, teardown) +
           cmocka_run_group_tests_name("node_sigterm", alone, NULL, NULL);
}
