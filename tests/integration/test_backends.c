/* test_backends.c -- the gateway in front of backends herd did not write
 * (tests/support/plain_backend.c: no node header, 404 on /health, a request counter at
 * /count): a gateway-only cluster file, the node header the gateway adds, the 503 that says
 * why no node is available, and `herd scale` beyond the file's count. The backends' own
 * counters are the independent observer of what the gateway's header claims. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "../support/harness.h"
#include "integration.h"

#define BACKENDS 3

struct be {
    char dir[64];   /* state directory and cluster file */
    char file[128];
    char sdir[160]; /* --state-dir=... */
    int base;       /* backends at base+1.., the gateway at base */
    pid_t backends[BACKENDS];
    pid_t gateway;
    bool up; /* herd up ran: teardown runs herd down */
};

static pid_t spawn_backend(int port)
{
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    char *argv[] = {(char *)harness_plain_backend_bin(), p, NULL};
    return harness_spawn(argv, NULL, NULL);
}

static int setup(void **state)
{
    struct be *b = calloc(1, sizeof *b);
    snprintf(b->dir, sizeof b->dir, "/tmp/herd-be-XXXXXX");
    if (!mkdtemp(b->dir)) return -1;
    snprintf(b->file, sizeof b->file, "%s/herd.yaml", b->dir);
    snprintf(b->sdir, sizeof b->sdir, "--state-dir=%s/state", b->dir);
    b->base = harness_free_ports(6);
    *state = b;
    return b->base > 0 ? 0 : -1;
}

/* With three plain backends on base+1..base+3 running. */
static int setup_backends(void **state)
{
    if (setup(state) < 0) return -1;
    struct be *b = *state;
    for (int i = 0; i < BACKENDS; i++)
        b->backends[i] = spawn_backend(b->base + 1 + i);
    for (int i = 0; i < BACKENDS; i++)
        if (!harness_wait_http(b->base + 1 + i, "/", 5000)) return -1;
    return 0;
}

static int teardown(void **state)
{
    struct be *b = *state;
    if (b->up) {
        char *down[] = {"down", b->sdir, NULL};
        harness_herd(down, 30000, NULL, NULL);
    }
    harness_kill_all();
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", b->dir);
    if (system(cmd) != 0) {
        /* a leftover temporary directory is harmless */
    }
    free(b);
    return 0;
}

static void write_file(struct be *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    FILE *f = fopen(b->file, "w");
    assert_non_null(f);
    vfprintf(f, fmt, ap);
    fclose(f);
    va_end(ap);
}

/* The gateway-only file: the three backends as static nodes b1..b3, plus extra lines. */
static void write_gateway_only(struct be *b, const char *extra)
{
    write_file(b,
               "gateway:\n  port: %d\n  threads: 1\n%s"
               "  nodes: [\"b1=127.0.0.1:%d\", \"b2=127.0.0.1:%d\", \"b3=127.0.0.1:%d\"]\n",
               b->base, extra, b->base + 1, b->base + 2, b->base + 3);
}

static void herd_up(struct be *b)
{
    char *up[] = {"up", "-d", "-f", b->file, b->sdir, NULL};
    char *out = NULL, *err = NULL;
    int rc = harness_herd(up, 60000, &out, &err);
    b->up = true;
    if (rc != 0) fail_msg("herd up: exit %d\n%s%s", rc, out ? out : "", err ? err : "");
    free(out);
    free(err);
}

/* The backend's own count of the requests it answered (GET /count), or -1. */
static long backend_count(int port)
{
    char buf[1024];
    const char *body;
    if (harness_get(port, "/count", buf, sizeof buf, &body) != 200) return -1;
    return strtol(body, NULL, 10);
}

/* GET path through the gateway: the status, with the value of header name in who ("" when
 * absent). */
static int get_named(int port, const char *path, const char *name, char *who, size_t size)
{
    char buf[8192], want[80];
    const char *body;
    int status = harness_get(port, path, buf, sizeof buf, &body);
    who[0] = '\0';
    snprintf(want, sizeof want, "\r\n%s: ", name);
    char *h = strstr(buf, want);
    if (status > 0 && h && h < body) {
        h += strlen(want);
        snprintf(who, size, "%.*s", (int)strcspn(h, "\r"), h);
    }
    return status;
}

/* What the gateway on port says of node id (GET /api/v1/cluster/nodes): its state in out,
 * "" when it does not know it. Returns false when the gateway did not answer. */
static bool gateway_node_state(int port, const char *id, char *out, size_t size)
{
    char buf[65536];
    const char *body;
    out[0] = '\0';
    if (harness_get(port, "/api/v1/cluster/nodes", buf, sizeof buf, &body) != 200) return false;
    json_t *j = json_loads(body, 0, NULL);
    json_t *n = json_object_get(json_object_get(j, "nodes"), id);
    snprintf(out, size, "%s", n ? json_string_value(json_object_get(n, "state")) : "");
    json_decref(j);
    return true;
}

static bool gateway_node_up(int port, const char *id)
{
    char state[32];
    return gateway_node_state(port, id, state, sizeof state) && strcmp(state, "up") == 0;
}

static bool gateway_knows(int port, const char *id)
{
    char state[32];
    return !gateway_node_state(port, id, state, sizeof state) || state[0];
}

/* A gateway-only file launches the gateway alone; the answers of backends that send no node
 * header get one from the gateway, and what each backend counted is what the client saw. */
static void test_gateway_only_file_and_node_header(void **state)
{
    struct be *b = *state;
    write_gateway_only(b, "  balance: roundrobin\n  health: /\n");
    herd_up(b);
    for (int i = 1; i <= BACKENDS; i++) {
        char id[8];
        snprintf(id, sizeof id, "b%d", i);
        assert_true(harness_wait_until(gateway_node_up(b->base, id), 10000));
    }
    /* herd status shows the gateway it runs, and the nodes it does not run as the gateway sees
     * them */
    char *status[] = {"status", b->sdir, NULL};
    char *out = NULL, line[64];
    assert_int_equal(harness_herd(status, 10000, &out, NULL), 0);
    assert_non_null(strstr(out, "gateway.1"));
    snprintf(line, sizeof line, "127.0.0.1:%d", b->base + 2);
    char *b2 = strstr(out, "\nb2 ");
    assert_non_null(b2);
    assert_true(strstr(b2, line) && strstr(b2, line) < strchr(b2 + 1, '\n'));
    assert_true(strstr(b2, " up\n") == strchr(b2 + 1, '\n') - 3);
    free(out);
    long seen[BACKENDS] = {0};
    char who[64];
    for (int r = 0; r < 300; r++) {
        assert_int_equal(get_named(b->base, "/work", "X-Herd-Node", who, sizeof who), 200);
        assert_true(who[0] == 'b' && who[1] >= '1' && who[1] <= '0' + BACKENDS && !who[2]);
        seen[who[1] - '1']++;
    }
    for (int i = 0; i < BACKENDS; i++) {
        assert_int_equal(backend_count(b->base + 1 + i), seen[i]); /* the backend's own word */
        assert_int_equal(seen[i], 100); /* round robin over one thread: exact */
    }
}

/* `herd gateway --config FILE [--health PATH]` on the file (a health flag overrides it). */
static void start_gateway(struct be *b, const char *health)
{
    char *args[] = {(char *)harness_herd_bin(), "gateway", "--config", b->file, "--log-level",
                    "warn", health ? "--health" : NULL, (char *)health, NULL};
    b->gateway = harness_spawn(args, NULL, NULL);
}

/* SIGTERM to the gateway: it exits cleanly. */
static void stop_gateway(struct be *b)
{
    kill(b->gateway, SIGTERM);
    int status = harness_wait(b->gateway, 20000);
    assert_true(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* node_header names the header; add_node_header: false leaves answers as the backend made
 * them. */
static void test_node_header_configurable(void **state)
{
    struct be *b = *state;
    write_gateway_only(b, "  health: /\n  node_header: X-Backend\n");
    start_gateway(b, NULL);
    assert_true(harness_wait_until(gateway_node_up(b->base, "b1"), 10000));
    char who[64];
    assert_int_equal(get_named(b->base, "/work", "X-Backend", who, sizeof who), 200);
    assert_true(who[0] == 'b');
    assert_int_equal(get_named(b->base, "/work", "X-Herd-Node", who, sizeof who), 200);
    assert_string_equal(who, "");
    stop_gateway(b);
    write_gateway_only(b, "  health: /\n  add_node_header: false\n");
    start_gateway(b, NULL);
    assert_true(harness_wait_until(gateway_node_up(b->base, "b1"), 10000));
    assert_int_equal(get_named(b->base, "/work", "X-Herd-Node", who, sizeof who), 200);
    assert_string_equal(who, "");
}

/* GET /work through the gateway answers 503 whose body names every node's reason. */
static bool no_node_says_why(int port, char *body_out, size_t size)
{
    char buf[16384];
    const char *body;
    if (harness_get(port, "/work", buf, sizeof buf, &body) != 503) return false;
    snprintf(body_out, size, "%s", body);
    return true;
}

/* Backends without /health: the default check takes them down, and the 503 says so, node by
 * node; pointed at /, the same gateway serves. */
static void test_no_node_says_why(void **state)
{
    struct be *b = *state;
    write_gateway_only(b, "  health: {inter: 100ms, fastinter: 50ms, downinter: 100ms}\n");
    start_gateway(b, NULL);
    char body[16384];
    assert_true(harness_wait_until(no_node_says_why(b->base, body, sizeof body), 10000));
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "no node is available");
    json_t *nodes = json_object_get(j, "nodes");
    assert_int_equal(json_object_size(nodes), BACKENDS);
    for (int i = 1; i <= BACKENDS; i++) {
        char id[8];
        snprintf(id, sizeof id, "b%d", i);
        assert_string_equal(json_string_value(json_object_get(nodes, id)),
                            "down: GET /health -> 404");
    }
    assert_non_null(strstr(json_string_value(json_object_get(j, "hint")), "--health /"));
    json_decref(j);
    stop_gateway(b);
    /* a backend that is gone says so too */
    kill(b->backends[2], SIGKILL);
    harness_wait(b->backends[2], 5000);
    start_gateway(b, "/");
    assert_true(harness_wait_until(gateway_node_up(b->base, "b1"), 10000));
    char who[64];
    assert_int_equal(get_named(b->base, "/work", "X-Herd-Node", who, sizeof who), 200);
    assert_true(strcmp(who, "b1") == 0 || strcmp(who, "b2") == 0);
    char buf[8192];
    const char *nodes_body;
    assert_true(harness_wait_until(!gateway_node_up(b->base, "b3"), 10000));
    assert_int_equal(harness_get(b->base, "/api/v1/cluster/nodes/b3", buf, sizeof buf, &nodes_body),
                     200);
    assert_non_null(strstr(nodes_body, "GET / -> connection refused"));
}

/* herd scale beyond the file's count: the new replicas take traffic through the gateway
 * (their own counters say so), and scaled back they leave it. */
static void test_scale_beyond_the_file(void **state)
{
    struct be *b = *state;
    write_file(b,
               "groups:\n  web:\n    command: %s {port}\n    replicas: 2\n    base_port: %d\n"
               "    health: /\n"
               "gateway:\n  port: %d\n  threads: 1\n"
               "  health: {path: /, inter: 200ms, fastinter: 50ms, downinter: 100ms}\n",
               harness_plain_backend_bin(), b->base + 1, b->base);
    herd_up(b);
    char *scale_up[] = {"scale", "web=4", b->sdir, NULL};
    assert_int_equal(harness_herd(scale_up, 60000, NULL, NULL), 0);
    assert_true(harness_wait_until(gateway_node_up(b->base, "web.3"), 10000));
    assert_true(harness_wait_until(gateway_node_up(b->base, "web.4"), 10000));
    long seen[4] = {0};
    char who[64];
    for (int r = 0; r < 40; r++) {
        assert_int_equal(get_named(b->base, "/work", "X-Herd-Node", who, sizeof who), 200);
        assert_true(strncmp(who, "web.", 4) == 0 && who[4] >= '1' && who[4] <= '4');
        seen[who[4] - '1']++;
    }
    for (int i = 0; i < 4; i++) {
        assert_true(seen[i] > 0);
        assert_int_equal(backend_count(b->base + 1 + i), seen[i]);
    }
    char *scale_down[] = {"scale", "web=2", b->sdir, NULL};
    assert_int_equal(harness_herd(scale_down, 60000, NULL, NULL), 0);
    assert_true(harness_wait_until(!gateway_knows(b->base, "web.4"), 10000));
    assert_false(gateway_knows(b->base, "web.3"));
    for (int r = 0; r < 20; r++) {
        assert_int_equal(get_named(b->base, "/work", "X-Herd-Node", who, sizeof who), 200);
        assert_true(strcmp(who, "web.1") == 0 || strcmp(who, "web.2") == 0);
    }
}

/* The scaling check on backends without /health (the gateway's default check): the step that
 * waits for its replicas in the gateway fails naming each one and the gateway's reason. */
static void test_scaling_says_which_replica_and_why(void **state)
{
    struct be *b = *state;
    write_file(b,
               "name: plain scaling\ncluster:\n  groups:\n"
               "    web: {command: \"%s {port}\", replicas: 1, base_port: %d, health: /}\n"
               "  gateway: {port: %d, threads: 1, health: {fastinter: 50ms, downinter: 100ms}}\n"
               "checks:\n  - scaling: {group: web, replicas: [1, 2], duration: 1s, connections: 1,"
               " path: /work}\n"
               "report: {dir: %s/reports, formats: [json]}\n",
               harness_plain_backend_bin(), b->base + 1, b->base, b->dir);
    char *args[] = {"test", b->file, NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(harness_herd(args, 120000, &out, &err), 1);
    if (!strstr(out, "web.2 never became healthy in the gateway: down: GET /health -> 404"))
        fail_msg("herd test printed:\n%s%s", out, err);
    free(out);
    free(err);
}

int integration_backends(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gateway_only_file_and_node_header, setup_backends,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_header_configurable, setup_backends, teardown),
        cmocka_unit_test_setup_teardown(test_no_node_says_why, setup_backends, teardown),
        cmocka_unit_test_setup_teardown(test_scale_beyond_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scaling_says_which_replica_and_why, setup, teardown),
    };
    return cmocka_run_group_tests_name("backends", tests, NULL, NULL);
}
