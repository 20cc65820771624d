/* test_gateway.c -- `herd gateway` in front of three real `herd node` replicas, loaded by
 * `herd bench`: distribution per algorithm, SIGKILL under load costs zero failed GETs and is
 * logged, readmission after a restart, drain and weights, registration with heartbeats and
 * TTL expiry, config sync to every node, malformed requests, POST never replayed, metrics,
 * bad flags. */
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
#include <unistd.h>

#include <jansson.h>

#include "../support/harness.h"
#include "integration.h"

struct gw {
    int base;      /* nodes at base, base+1, base+2; the gateway at base+3 */
    pid_t nodes[3];
    pid_t gateway;
    char url[64]; /* http://127.0.0.1:GATEWAY */
};

static pid_t spawn_node(struct gw *g, int i, const char *manager)
{
    char port[16], id[16], env[128];
    snprintf(port, sizeof port, "%d", g->base + i);
    snprintf(id, sizeof id, "api.%d", i + 1);
    snprintf(env, sizeof env, "CLUSTER_MANAGER_URL=%s", manager ? manager : "");
    char *argv[] = {(char *)harness_herd_bin(), "node", "--port", port, "--id", id,
                    "--log-level", "warn", NULL};
    char *envp[] = {env, NULL};
    return harness_spawn(argv, manager ? envp : NULL, NULL);
}

/* Starts the gateway on base+3 with the three nodes as static nodes (unless registered) and
 * extra flags (NULL-terminated). */
static void spawn_gateway(struct gw *g, bool static_nodes, ...)
{
    char *argv[48];
    size_t n = 0;
    static char port[16], nodes[3][64];
    argv[n++] = (char *)harness_herd_bin();
    argv[n++] = "gateway";
    snprintf(port, sizeof port, "%d", g->base + 3);
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--log-level";
    argv[n++] = "warn";
    for (int i = 0; static_nodes && i < 3; i++) {
        snprintf(nodes[i], sizeof nodes[i], "api.%d=127.0.0.1:%d", i + 1, g->base + i);
        argv[n++] = "--node";
        argv[n++] = nodes[i];
    }
    va_list ap;
    va_start(ap, static_nodes);
    for (char *a; (a = va_arg(ap, char *)) && n < 46;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    g->gateway = harness_spawn(argv, NULL, NULL);
    snprintf(g->url, sizeof g->url, "http://127.0.0.1:%d", g->base + 3);
    assert_true(harness_wait_http(g->base + 3, "/api/v1/cluster/status", 5000));
}

static int setup(void **state)
{
    struct gw *g = calloc(1, sizeof *g);
    g->base = harness_free_ports(4);
    *state = g;
    return g->base > 0 ? 0 : -1;
}

static int setup_nodes(void **state)
{
    if (setup(state) < 0) return -1;
    struct gw *g = *state;
    for (int i = 0; i < 3; i++) g->nodes[i] = spawn_node(g, i, NULL);
    for (int i = 0; i < 3; i++)
        if (!harness_wait_http(g->base + i, "/health", 5000)) return -1;
    return 0;
}

/* SIGTERM, then the exit status: 0 when it stopped cleanly (a sanitizer report or a leak
 * makes it non-zero). A stop takes milliseconds; the deadline is for a loaded machine, and
 * what the process waits in is printed when it passes. */
static int stop(pid_t pid)
{
    if (pid <= 0 || kill(pid, SIGTERM) != 0) return 0;
    int status = harness_wait(pid, 20000);
    if (status < 0) harness_describe_threads(pid);
    return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int teardown(void **state)
{
    struct gw *g = *state;
    int rc = stop(g->gateway);
    if (rc != 0) fprintf(stderr, "the gateway did not stop cleanly: %d\n", rc);
    for (int i = 0; i < 3; i++) stop(g->nodes[i]);
    harness_kill_all();
    free(g);
    return rc == 0 ? 0 : -1;
}

/* herd bench ARGS... -q -o json URL: the run document. */
static json_t *bench(const char *url, ...)
{
    char *args[32];
    size_t n = 0;
    args[n++] = "bench";
    va_list ap;
    va_start(ap, url);
    for (char *a; (a = va_arg(ap, char *)) && n < 26;)
        args[n++] = a;
    va_end(ap);
    args[n++] = "-q";
    args[n++] = "-o";
    args[n++] = "json";
    args[n++] = (char *)url;
    args[n] = NULL;
    char *out = NULL, *err = NULL;
    int code = harness_herd(args, 60000, &out, &err);
    json_t *j = json_loads(out ? out : "", 0, NULL);
    if (code != 0 || !j) fail_msg("herd bench exited %d: %s", code, err);
    free(out);
    free(err);
    return j;
}

/* Requests node name served in a bench run. */
static long long served(json_t *run, const char *name)
{
    json_t *n = harness_json_find(json_object_get(run, "nodes"), "name", name);
    return n ? (long long)json_integer_value(json_object_get(n, "requests")) : 0;
}

static long long total(json_t *run, const char *key)
{
    return (long long)json_integer_value(json_object_get(json_object_get(run, "totals"), key));
}

/* A request with a body; returns the status, the body into body (may be NULL). */
static int call(int port, const char *method, const char *path, const char *json, char *out,
                size_t size)
{
    char req[2048];
    snprintf(req, sizeof req,
             "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             method, path, json ? strlen(json) : 0, json ? json : "");
    return harness_exchange(port, req, out, size);
}

static json_t *get_json(int port, const char *path)
{
    static char out[1 << 17];
    const char *body;
    if (harness_get(port, path, out, sizeof out, &body) != 200) return NULL;
    return json_loads(body, 0, NULL);
}

/* True when the gateway's event log holds event kind for node. */
static bool has_event(int port, const char *node, const char *kind)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/cluster/events?node=%s", node);
    json_t *j = get_json(port, path);
    bool found = j && harness_json_find(json_object_get(j, "events"), "event", kind);
    json_decref(j);
    return found;
}

/* True once the gateway's event log holds event kind for node (polled up to timeout_ms). */
static bool wait_event(int port, const char *node, const char *kind, int timeout_ms)
{
    return harness_wait_until(has_event(port, node, kind), timeout_ms);
}

/* The gateway's state word for a node ("up", "down", ...), "" when absent. */
static void node_state(int port, const char *id, char *out, size_t size)
{
    json_t *j = get_json(port, "/api/v1/cluster/nodes");
    json_t *n = json_object_get(json_object_get(j, "nodes"), id);
    snprintf(out, size, "%s", n ? json_string_value(json_object_get(n, "state")) : "");
    json_decref(j);
}

/* True when the gateway's state word for node id is want. */
static bool node_in_state(int port, const char *id, const char *want)
{
    char s[32];
    node_state(port, id, s, sizeof s);
    return strcmp(s, want) == 0;
}

/* The requests the gateway answered with success so far. */
static long long gateway_successes(int port)
{
    json_t *st = get_json(port, "/api/v1/cluster/status");
    long long n =
        json_integer_value(json_object_get(json_object_get(st, "status"), "successful_requests"));
    json_decref(st);
    return n;
}

static size_t node_count(int port)
{
    json_t *j = get_json(port, "/api/v1/cluster/nodes");
    size_t n = json_object_size(json_object_get(j, "nodes"));
    json_decref(j);
    return n;
}

/* ---- tests ---- */

static void test_roundrobin_exact(void **state)
{
    struct gw *g = *state;
    spawn_gateway(g, true, "--threads", "1", NULL);
    char url[96];
    snprintf(url, sizeof url, "%s/echo", g->url);
    json_t *run = bench(url, "-n", "3000", "-c", "6", NULL);
    assert_int_equal(total(run, "failed"), 0);
    assert_int_equal(served(run, "api.1"), 1000);
    assert_int_equal(served(run, "api.2"), 1000);
    assert_int_equal(served(run, "api.3"), 1000);
    json_decref(run);
    /* the gateway counted them too */
    json_t *st = get_json(g->base + 3, "/api/v1/cluster/status");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "status"),
                                                        "successful_requests")),
                     3000);
    json_decref(st);
}

/* ---- what the nodes themselves counted ---- */

/* Every request a node finished (its own total_requests), before the read that asks. */
static long long node_total(int port)
{
    json_t *st = get_json(port, "/api/v1/cluster/status");
    long long n = json_integer_value(json_object_get(json_object_get(st, "status"),
                                                     "total_requests"));
    json_decref(st);
    return st ? n : -1;
}

/* The nodes' counters from a baseline on: each read of a node's status is a request it counts
 * too, so the reads made so far are taken off. */
struct node_counts {
    long long base[3], reads[3];
};

static void counts_start(struct gw *g, struct node_counts *c)
{
    for (int i = 0; i < 3; i++) {
        c->base[i] = g->nodes[i] > 0 ? node_total(g->base + i) : 0;
        c->reads[i] = 1;
    }
}

/* Whether the requests each live node counted since counts_start (into out) add up to want. */
static bool counts_add_up(struct gw *g, struct node_counts *c, long long want, long long out[3])
{
    long long sum = 0;
    for (int i = 0; i < 3; i++) {
        out[i] = 0;
        if (g->nodes[i] <= 0) continue;
        out[i] = node_total(g->base + i) - c->base[i] - c->reads[i];
        c->reads[i]++;
        sum += out[i];
    }
    return sum == want;
}

/* Requests each live node counted since counts_start, once they add up to want (a node counts
 * a request as its answer goes out, a moment after the client may have it). */
static void counts_wait(struct gw *g, struct node_counts *c, long long want, long long out[3])
{
    if (!harness_wait_until(counts_add_up(g, c, want, out), 5000))
        fail_msg("the nodes counted %lld + %lld + %lld requests, expected %lld in all", out[0],
                 out[1], out[2], want);
}

/* n requests one after another, each on its own connection (so they land on every gateway
 * thread): all answered 200. */
static void sequential_gets(struct gw *g, int n)
{
    char out[4096];
    for (int k = 0; k < n; k++) {
        int status = harness_get(g->base + 3, "/echo", out, sizeof out, NULL);
        if (status != 200) fail_msg("request %d: status %d", k, status);
    }
}

/* Round robin is one rotation for all the gateway's threads: 300 requests, sequential on
 * fresh connections or concurrent on several, are exactly 100 per node by the nodes' own
 * counters. */
static void test_roundrobin_exact_across_threads(void **state)
{
    struct gw *g = *state;
    spawn_gateway(g, true, "--threads", "2", "--health", "none", NULL);
    struct node_counts c;
    long long got[3];
    counts_start(g, &c);
    sequential_gets(g, 300);
    counts_wait(g, &c, 300, got);
    for (int i = 0; i < 3; i++)
        if (got[i] != 100) fail_msg("sequential: api.%d served %lld of 300", i + 1, got[i]);
    counts_start(g, &c);
    char url[96];
    snprintf(url, sizeof url, "%s/echo", g->url);
    json_t *run = bench(url, "-n", "300", "-c", "6", "--threads", "3", NULL);
    assert_int_equal(total(run, "failed"), 0);
    json_decref(run);
    counts_wait(g, &c, 300, got);
    for (int i = 0; i < 3; i++)
        if (got[i] != 100) fail_msg("concurrent: api.%d served %lld of 300", i + 1, got[i]);
}

/* A node that refuses connections: every request that drew it goes to another node, and
 * those retries do not move the rotation: the two live nodes serve exactly half each. */
static void test_retries_leave_the_rotation_alone(void **state)
{
    struct gw *g = *state;
    kill(g->nodes[2], SIGKILL);
    harness_wait(g->nodes[2], 5000);
    g->nodes[2] = 0;
    spawn_gateway(g, true, "--threads", "2", "--health", "none", "--eject-after", "0", NULL);
    struct node_counts c;
    long long got[3];
    counts_start(g, &c);
    sequential_gets(g, 300);
    counts_wait(g, &c, 300, got);
    assert_int_equal(got[0], 150);
    assert_int_equal(got[1], 150);
    /* the gateway did retry: api.3 took its third of the first attempts, refused each */
    json_t *st = get_json(g->base + 3, "/api/v1/cluster/status");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "gateway"), "retries")),
                     100);
    json_decref(st);
}

/* The balancers' seed: given, it is what the gateway reports; not given, one is drawn per run
 * and reported. */
static void test_seed_is_reported(void **state)
{
    struct gw *g = *state;
    spawn_gateway(g, true, "--balance", "random", "--seed", "12345", NULL);
    json_t *st = get_json(g->base + 3, "/api/v1/cluster/status");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "gateway"), "seed")),
                     12345);
    json_decref(st);
    assert_int_equal(stop(g->gateway), 0);
    spawn_gateway(g, true, "--balance", "random", NULL);
    st = get_json(g->base + 3, "/api/v1/cluster/status");
    assert_true(json_is_integer(json_object_get(json_object_get(st, "gateway"), "seed")));
    json_decref(st);
}

static void test_other_algorithms(void **state)
{
    struct gw *g = *state;
    static const char *const algorithms[] = {"random", "weighted", "leastconn", "p2c"};
    char url[96];
    for (size_t a = 0; a < 4; a++) {
        spawn_gateway(g, true, "--balance", algorithms[a], "--threads", "2", NULL);
        snprintf(url, sizeof url, "%s/echo", g->url);
        json_t *run = bench(url, "-n", "3000", "-c", "6", NULL);
        assert_int_equal(total(run, "failed"), 0);
        for (int i = 1; i <= 3; i++) {
            char id[16];
            snprintf(id, sizeof id, "api.%d", i);
            long long n = served(run, id);
            if (n < 600 || n > 1400) /* 1000 expected; chance and idleness move it a little */
                fail_msg("%s: %s served %lld of 3000", algorithms[a], id, n);
        }
        json_decref(run);
        assert_int_equal(stop(g->gateway), 0);
    }
    /* hash by header: one user always lands on one node */
    spawn_gateway(g, true, "--balance", "hash", "--hash-header", "X-User", NULL);
    snprintf(url, sizeof url, "%s/echo", g->url);
    json_t *run = bench(url, "-n", "600", "-c", "4", "-H", "X-User: alice", NULL);
    long long top = 0;
    for (int i = 1; i <= 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "api.%d", i);
        if (served(run, id) > top) top = served(run, id);
    }
    assert_int_equal(top, 600);
    json_decref(run);
}

static void test_kill_under_load_costs_nothing(void **state)
{
    struct gw *g = *state;
    spawn_gateway(g, true, "--threads", "2", "--inter", "200ms", "--fastinter", "50ms",
                  "--downinter", "100ms", NULL);
    char url[96], port[16], out_path[] = "/tmp/herd-gw-bench-XXXXXX";
    snprintf(url, sizeof url, "%s/echo", g->url);
    snprintf(port, sizeof port, "%d", g->base + 3);
    close(mkstemp(out_path));
    char *argv[] = {(char *)harness_herd_bin(), "bench", "-d", "3s", "-c", "20", "-q", "-o",
                    "json", url, NULL};
    pid_t b = harness_spawn_io(argv, NULL, out_path, NULL);
    /* under load: api.2 has served its share of the first hundred, and the bench goes on */
    assert_true(harness_wait_until(gateway_successes(g->base + 3) >= 100, 30000));
    long long before_kill = gateway_successes(g->base + 3);
    kill(g->nodes[1], SIGKILL);
    harness_wait(g->nodes[1], 2000);
    g->nodes[1] = 0;
    assert_int_equal(harness_wait(b, 20000), 0);
    json_error_t e;
    json_t *run = json_load_file(out_path, 0, &e);
    unlink(out_path);
    assert_non_null(run);
    assert_true(total(run, "requests") > before_kill); /* the load went on after the kill */
    assert_int_equal(total(run, "failed"), 0); /* zero failed GETs */
    assert_true(served(run, "api.2") > 0);
    json_decref(run);
    /* the gateway logged it and took the node out */
    assert_true(wait_event(g->base + 3, "api.2", "ejected", 2000) ||
                wait_event(g->base + 3, "api.2", "down", 2000));
    assert_true(wait_event(g->base + 3, "api.2", "down", 3000));
    char s[32];
    node_state(g->base + 3, "api.2", s, sizeof s);
    assert_string_equal(s, "down");
    /* restarted: readmitted, and it serves again */
    g->nodes[1] = spawn_node(g, 1, NULL);
    assert_true(wait_event(g->base + 3, "api.2", "up", 5000));
    run = bench(url, "-n", "300", "-c", "3", NULL);
    assert_int_equal(total(run, "failed"), 0);
    assert_true(served(run, "api.2") > 50);
    json_decref(run);
}

/* A node the passive checks eject is checked again at fastinter, not at the end of the steady
 * inter it was scheduled with: with inter 5s, fastinter 100ms and rise 2, api.2 (answering 500
 * to everything for a moment) is back in rotation well before 5 s once it answers again. */
static void test_ejected_node_checked_at_fastinter(void **state)
{
    struct gw *g = *state;
    spawn_gateway(g, true, "--threads", "1", "--inter", "5s", "--fastinter", "100ms",
                  "--downinter", "100ms", "--rise", "2", "--fall", "3", "--eject-after", "3",
                  NULL);
    char out[4096];
    assert_int_equal(call(g->base + 1, "POST", "/admin/fault", "{\"error_rate\": 1}", out,
                          sizeof out), 200);
    for (int i = 0; i < 40 && !has_event(g->base + 3, "api.2", "ejected"); i++)
        harness_get(g->base + 3, "/echo", out, sizeof out, NULL);
    assert_true(wait_event(g->base + 3, "api.2", "ejected", 2000));
    assert_int_equal(call(g->base + 1, "DELETE", "/admin/fault", NULL, out, sizeof out), 200);
    long t0 = harness_now_ms();
    assert_true(harness_wait_until(has_event(g->base + 3, "api.2", "readmitted") ||
                                       has_event(g->base + 3, "api.2", "up"),
                                   4000));
    printf("  api.2 back in rotation %ld ms after it answered again (inter 5 s)\n",
           harness_now_ms() - t0);
}

static void test_drain_weight_and_admin_errors(void **state)
{
    struct gw *g = *state;
    spawn_gateway(g, true, "--threads", "1", NULL);
    int gp = g->base + 3;
    char out[8192], url[96];
    snprintf(url, sizeof url, "%s/echo", g->url);
    assert_int_equal(call(gp, "PUT", "/api/v1/cluster/nodes/api.1", "{\"state\":\"drain\"}", out,
                          sizeof out),
                     200);
    json_t *run = bench(url, "-n", "300", "-c", "3", NULL);
    assert_int_equal(served(run, "api.1"), 0);
    assert_int_equal(served(run, "api.2"), 150);
    assert_int_equal(served(run, "api.3"), 150);
    json_decref(run);
    assert_int_equal(call(gp, "PUT", "/api/v1/cluster/nodes/api.1",
                          "{\"state\":\"active\",\"weight\":3}", out, sizeof out),
                     200);
    run = bench(url, "-n", "500", "-c", "5", NULL);
    assert_int_equal(served(run, "api.1"), 300);
    assert_int_equal(served(run, "api.2"), 100);
    assert_int_equal(served(run, "api.3"), 100);
    json_decref(run);
    assert_true(wait_event(gp, "api.1", "drain", 100));
    assert_true(wait_event(gp, "api.1", "weight", 100));
    /* bad changes: 400 naming the field, 404 for an unknown node; the gateway keeps serving */
    assert_int_equal(call(gp, "PUT", "/api/v1/cluster/nodes/api.1", "{\"state\":\"sleepy\"}", out,
                          sizeof out),
                     400);
    assert_non_null(strstr(out, "state: expected active, drain or maint"));
    assert_int_equal(call(gp, "PUT", "/api/v1/cluster/nodes/api.1", "{\"weight\":1000}", out,
                          sizeof out),
                     400);
    assert_non_null(strstr(out, "weight"));
    assert_int_equal(call(gp, "PUT", "/api/v1/cluster/nodes/api.1", "{\"weight\":", out,
                          sizeof out),
                     400);
    assert_int_equal(call(gp, "PUT", "/api/v1/cluster/nodes/nope", "{\"weight\":2}", out,
                          sizeof out),
                     404);
    assert_int_equal(call(gp, "POST", "/api/v1/cluster/register", "{\"node_id\":\"x\"}", out,
                          sizeof out),
                     400);
    assert_non_null(strstr(out, "port"));
    assert_int_equal(call(gp, "POST", "/api/v1/cluster/register", "{\"node_id\":\"x\",\"port\":1,\"group\":7}",
                          out, sizeof out),
                     400);
    assert_non_null(strstr(out, "group"));
    assert_int_equal(call(gp, "PUT", "/api/v1/cluster/config", "[1,2]", out, sizeof out), 400);
    /* metrics name what happened */
    assert_int_equal(call(gp, "GET", "/metrics", NULL, out, sizeof out), 200);
    assert_non_null(strstr(out, "herd_gateway_requests_total 800"));
    assert_non_null(strstr(out, "herd_gateway_node_up{node=\"api.1\",state=\"up\"} 1"));
    assert_non_null(strstr(out, "herd_gateway_request_duration_seconds_count 800"));
    assert_non_null(strstr(out, "herd_gateway_client_aborts_total 0"));
}

/* True when the node on port holds the config of version 1 with its "feature". */
static bool config_synced(int port)
{
    json_t *j = get_json(port, "/api/v1/cluster/config");
    bool synced = json_integer_value(json_object_get(j, "version")) == 1 &&
                  json_is_string(json_object_get(json_object_get(j, "config"), "feature"));
    json_decref(j);
    return synced;
}

static void test_registration_ttl_and_config_sync(void **state)
{
    struct gw *g = *state;
    spawn_gateway(g, false, "--ttl", "1s", NULL);
    int gp = g->base + 3;
    char manager[64];
    snprintf(manager, sizeof manager, "http://127.0.0.1:%d", gp);
    for (int i = 0; i < 3; i++) g->nodes[i] = spawn_node(g, i, manager);
    assert_true(harness_wait_until(node_count(gp) == 3, 5000));
    /* every node shows the whole cluster */
    for (int i = 0; i < 3; i++) {
        json_t *j = get_json(g->base + i, "/api/v1/cluster/nodes");
        assert_int_equal(json_object_size(json_object_get(j, "nodes")), 3);
        json_decref(j);
        j = get_json(g->base + i, "/api/v1/cluster/status");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "status"),
                                                            "total_nodes")),
                         3);
        json_decref(j);
    }
    /* config sync reaches every node */
    char out[4096];
    assert_int_equal(call(gp, "PUT", "/api/v1/cluster/config", "{\"feature\":\"blue\"}", out,
                          sizeof out),
                     200);
    for (int i = 0; i < 3; i++) assert_true(harness_wait_until(config_synced(g->base + i), 3000));
    /* a node that stops heartbeating expires, and registers again when it comes back */
    kill(g->nodes[2], SIGSTOP);
    assert_true(wait_event(gp, "api.3", "expired", 4000));
    char s[32];
    node_state(gp, "api.3", s, sizeof s);
    assert_string_equal(s, "");
    kill(g->nodes[2], SIGCONT);
    assert_true(harness_wait_until(node_count(gp) == 3, 4000));
    /* a node that stops deregisters */
    stop(g->nodes[0]);
    g->nodes[0] = 0;
    assert_true(wait_event(gp, "api.1", "deregistered", 2000));
    assert_int_equal(node_count(gp), 2);
    /* registered nodes take traffic */
    char url[96];
    snprintf(url, sizeof url, "%s/echo", g->url);
    json_t *run = bench(url, "-n", "200", "-c", "2", NULL);
    assert_int_equal(total(run, "failed"), 0);
    assert_int_equal(served(run, "api.2") + served(run, "api.3"), 200);
    json_decref(run);
}

/* Deregistered nodes give their slots back: 2000 distinct nodes register and deregister,
 * then a real node registers and takes traffic. */
static void test_registry_slots_are_reused(void **state)
{
    struct gw *g = *state;
    spawn_gateway(g, false, "--threads", "2", NULL);
    int gp = g->base + 3;
    char out[4096], body[256], path[96];
    for (int i = 0; i < 2000; i++) {
        snprintf(body, sizeof body, "{\"node_id\":\"cycle.%d\",\"host\":\"127.0.0.1\",\"port\":%d}",
                 i, g->base + 2);
        int status = call(gp, "POST", "/api/v1/cluster/register", body, out, sizeof out);
        if (status != 200 && status != 201) fail_msg("cycle %d: register answered %d: %s", i, status, out);
        snprintf(path, sizeof path, "/api/v1/cluster/nodes/cycle.%d", i);
        status = call(gp, "DELETE", path, NULL, out, sizeof out);
        if (status != 200 && status != 204) fail_msg("cycle %d: deregister answered %d: %s", i, status, out);
    }
    assert_int_equal(node_count(gp), 0);
    char manager[64];
    snprintf(manager, sizeof manager, "http://127.0.0.1:%d", gp);
    g->nodes[0] = spawn_node(g, 0, manager);
    assert_true(harness_wait_until(node_in_state(gp, "api.1", "up"), 5000));
    const char *answer;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(harness_get(gp, "/echo", out, sizeof out, &answer), 200);
        assert_non_null(strstr(out, "X-Herd-Node: api.1"));
    }
}

static void test_malformed_requests(void **state)
{
    struct gw *g = *state;
    spawn_gateway(g, true, "--threads", "1", NULL);
    int gp = g->base + 3;
    char out[8192];
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        "NOT-A-METHOD\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(harness_exchange(gp, bad[i], out, sizeof out), 400);
    const char *body;
    assert_int_equal(harness_get(gp, "/echo?after=bad", out, sizeof out, &body), 200);
    assert_non_null(strstr(out, "X-Herd-Node: api."));
}

/* A backend that reads each request, counts it, then writes `answer` and closes, or (answer
 * NULL) resets the connection unanswered. */
struct fake_backend {
    int fd;
    int port;
    const char *answer;
    bool close_second; /* keep the connection after answering; close it when the next comes */
    atomic_int requests;
    atomic_bool stop;
    pthread_t thread;
};

static void *fake_main(void *arg)
{
    struct fake_backend *f = arg;
    while (!atomic_load(&f->stop)) {
        int c = accept(f->fd, NULL, NULL);
        if (c < 0) continue; /* SO_RCVTIMEO: look at stop again */
        struct timeval tv = {1, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char buf[8192];
        size_t have = 0;
        ssize_t n;
        while ((n = read(c, buf + have, sizeof buf - 1 - have)) > 0) {
            have += (size_t)n;
            buf[have] = '\0';
            if (strstr(buf, "\r\n\r\n")) break;
        }
        if (have) atomic_fetch_add(&f->requests, 1);
        if (f->answer) {
            if (write(c, f->answer, strlen(f->answer)) < 0) perror("fake backend");
            /* a kept-alive connection closed once the next request is in, unanswered (all
             * of it read, a long body too: the node took it and said nothing) */
            if (f->close_second && read(c, buf, sizeof buf) > 0) {
                atomic_fetch_add(&f->requests, 1);
                struct timeval quick = {0, 200000};
                setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &quick, sizeof quick);
                while (read(c, buf, sizeof buf) > 0) {
                }
            }
        } else {
            struct linger lg = {1, 0}; /* close with RST */
            setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(c);
    }
    return NULL;
}

static void fake_start(struct fake_backend *f, const char *answer)
{
    memset(f, 0, sizeof *f);
    f->answer = answer;
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(f->fd, (struct sockaddr *)&a, &len);
    f->port = ntohs(a.sin_port);
    listen(f->fd, 16);
    struct timeval tv = {0, 100000};
    setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    pthread_create(&f->thread, NULL, fake_main, f);
}

static void fake_stop(struct fake_backend *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    close(f->fd);
}

/* A gateway in front of api.1 and the fake (first or second in round robin order), with no
 * checks and no ejection, so that the fake stays in rotation whatever it does. */
static void spawn_gateway_with_fake(struct gw *g, const struct fake_backend *f, bool fake_first)
{
    char fake[64], real[64], port[16];
    snprintf(fake, sizeof fake, "fake=127.0.0.1:%d", f->port);
    snprintf(real, sizeof real, "api.1=127.0.0.1:%d", g->base);
    snprintf(port, sizeof port, "%d", g->base + 3);
    char *argv[] = {(char *)harness_herd_bin(), "gateway", "--port", port, "--threads", "1",
                    "--node", fake_first ? fake : real, "--node", fake_first ? real : fake,
                    "--health", "none", "--eject-after", "0", "--log-level", "warn", NULL};
    g->gateway = harness_spawn(argv, NULL, NULL);
    assert_true(harness_wait_http(g->base + 3, "/api/v1/cluster/status", 5000));
}

/* 300 static nodes (all at one counting backend) with checks every hour: their first checks
 * are spread over the hour, not fired together at startup; the backend, not the gateway, says
 * how many came. */
static void test_first_checks_are_spread(void **state)
{
    struct gw *g = *state;
    enum { NODES = 300 };
    struct fake_backend f;
    fake_start(&f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    listen(f.fd, 1024); /* room for every check at once, were they sent at once */
    char **argv = calloc(2 * NODES + 16, sizeof *argv);
    char(*nodes)[64] = calloc(NODES, sizeof *nodes);
    assert_true(argv && nodes);
    char port[16];
    snprintf(port, sizeof port, "%d", g->base + 3);
    size_t n = 0;
    const char *head[] = {harness_herd_bin(), "gateway", "--port", port, "--threads", "1",
                          "--inter", "1h", "--log-level", "warn"};
    for (size_t i = 0; i < sizeof head / sizeof head[0]; i++)
        argv[n++] = (char *)head[i];
    for (int i = 0; i < NODES; i++) {
        snprintf(nodes[i], sizeof nodes[i], "n%d=127.0.0.1:%d", i + 1, f.port);
        argv[n++] = "--node";
        argv[n++] = nodes[i];
    }
    g->gateway = harness_spawn(argv, NULL, NULL);
    /* verdicts after the backend is stopped: a failed assertion must not leave its thread
     * running on this frame */
    bool ready = harness_wait_http(g->base + 3, "/api/v1/cluster/status", 30000);
    json_t *st = ready ? get_json(g->base + 3, "/api/v1/cluster/status") : NULL;
    json_int_t total =
        json_integer_value(json_object_get(json_object_get(st, "status"), "total_nodes"));
    json_decref(st);
    /* the first node's check goes at once; the next one only 12 s later (1 h / 300) */
    bool first = ready && harness_wait_until(atomic_load(&f.requests) >= 1, 30000);
    bool together = first && harness_wait_until(atomic_load(&f.requests) >= NODES / 2, 2000);
    int seen = atomic_load(&f.requests);
    fake_stop(&f);
    free(argv);
    free(nodes);
    assert_true(ready);
    assert_int_equal(total, NODES);
    assert_true(first);
    if (together || seen >= 10) fail_msg("%d of %d first checks came together", seen, NODES);
}

static void test_post_is_not_replayed(void **state)
{
    struct gw *g = *state;
    struct fake_backend f;
    fake_start(&f, NULL);
    spawn_gateway_with_fake(g, &f, true); /* round robin sends the first request there */
    int gp = g->base + 3;
    char out[8192];
    assert_int_equal(call(gp, "POST", "/echo", "{\"order\":1}", out, sizeof out), 502);
    assert_int_equal(atomic_load(&f.requests), 1); /* sent once, never replayed */
    assert_int_equal(call(gp, "GET", "/echo", NULL, out, sizeof out), 200); /* to api.1 */
    assert_int_equal(call(gp, "GET", "/echo", NULL, out, sizeof out), 200); /* fake, retried */
    assert_non_null(strstr(out, "X-Herd-Node: api.1"));
    assert_int_equal(atomic_load(&f.requests), 2);
    json_t *st = get_json(gp, "/api/v1/cluster/status");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "gateway"), "retries")),
                     1);
    json_decref(st);
    fake_stop(&f);
}

/* A node that closes a kept-alive connection just as the gateway sends on it (its idle
 * timeout, or it is stopping) answered nothing: the GET goes to the same node again on a new
 * connection (as HAProxy and nginx do), not to another node, and costs no failure. */
static void test_stale_keepalive_sent_again(void **state)
{
    struct gw *g = *state;
    struct fake_backend f;
    fake_start(&f, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Herd-Node: fake\r\n\r\nok");
    f.close_second = true;
    spawn_gateway_with_fake(g, &f, true);
    int gp = g->base + 3;
    char out[8192];
    assert_int_equal(call(gp, "GET", "/echo", NULL, out, sizeof out), 200); /* fake, kept */
    assert_non_null(strstr(out, "X-Herd-Node: fake"));
    assert_int_equal(call(gp, "GET", "/echo", NULL, out, sizeof out), 200); /* api.1 */
    /* fake again: on the kept connection, which the fake closes unanswered; sent again on a
     * new one, answered by the fake itself */
    assert_int_equal(call(gp, "GET", "/echo", NULL, out, sizeof out), 200);
    assert_non_null(strstr(out, "X-Herd-Node: fake"));
    assert_int_equal(atomic_load(&f.requests), 3);
    json_t *st = get_json(gp, "/api/v1/cluster/status");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "gateway"), "retries")),
                     0); /* not a retry on another node */
    json_decref(st);
    fake_stop(&f);
}

/* A request whose body was streamed on (over 64 KB) cannot be sent again: when the node closes
 * its kept-alive connection unanswered, the client gets the gateway's 502 at once, never a
 * resend without the body (that hung 30 s, then 504). */
static void test_streamed_body_not_resent(void **state)
{
    struct gw *g = *state;
    struct fake_backend f;
    fake_start(&f, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Herd-Node: fake\r\n\r\nok");
    f.close_second = true;
    spawn_gateway_with_fake(g, &f, true);
    int gp = g->base + 3;
    static char out[8192], req[200 * 1024];
    assert_int_equal(call(gp, "GET", "/echo", NULL, out, sizeof out), 200); /* fake, kept */
    assert_int_equal(call(gp, "GET", "/echo", NULL, out, sizeof out), 200); /* api.1 */
    size_t body = 100000;
    int n = snprintf(req, sizeof req,
                     "PUT /kv/big HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     body);
    memset(req + n, 'x', body);
    req[(size_t)n + body] = '\0';
    long t0 = harness_now_ms();
    int status = harness_exchange(gp, req, out, sizeof out);
    long took = harness_now_ms() - t0;
    printf("  streamed PUT on a closed connection: %d in %ld ms\n", status, took);
    assert_int_equal(status, 502);
    assert_non_null(strstr(out, "X-Herd-Node: (gateway)"));
    assert_true(took < 5000);
    fake_stop(&f);
}

/* "(no node)" only when no node took the request: a node that answered 503 itself (retried
 * elsewhere, nowhere to go) was there, so the gateway's answer names itself, not "no node". */
static void test_no_node_only_when_none_took_it(void **state)
{
    struct gw *g = *state;
    char dead[64], real[64], port[16];
    snprintf(dead, sizeof dead, "dead=127.0.0.1:%d", harness_free_port());
    snprintf(real, sizeof real, "api.1=127.0.0.1:%d", g->base);
    snprintf(port, sizeof port, "%d", g->base + 3);
    char *argv[] = {(char *)harness_herd_bin(), "gateway", "--port", port, "--threads", "1",
                    "--node", real, "--node", dead, "--health", "none", "--eject-after", "0",
                    "--log-level", "warn", NULL};
    g->gateway = harness_spawn(argv, NULL, NULL);
    assert_true(harness_wait_http(g->base + 3, "/api/v1/cluster/status", 5000));
    char out[8192];
    for (int i = 0; i < 2; i++) { /* api.1 first, then the dead one first */
        assert_int_equal(call(g->base + 3, "GET", "/status/503", NULL, out, sizeof out), 503);
        assert_null(strstr(out, "(no node)"));
        assert_non_null(strstr(out, "X-Herd-Node: (gateway)"));
    }
}

/* Sends request and reads until the gateway closes (chunked and close-delimited answers). */
static size_t exchange_until_close(int port, const char *request, char *out, size_t size)
{
    int fd = harness_connect(port, 5000);
    size_t len = 0;
    if (fd >= 0 && harness_send(fd, request, strlen(request)) == 0) {
        ssize_t n;
        while (len + 1 < size && (n = recv(fd, out + len, size - 1 - len, 0)) > 0) len += (size_t)n;
    }
    out[len] = '\0';
    if (fd >= 0) close(fd);
    return len;
}

static void test_streamed_bodies_and_headers(void **state)
{
    struct gw *g = *state;
    struct fake_backend f;
    fake_start(&f, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
                   "X-Herd-Node: fake\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    spawn_gateway_with_fake(g, &f, false);
    int gp = g->base + 3;
    /* a 600 kB body to api.1 and its 600 kB echo back: streamed through in pieces */
    size_t big = 600000, cap = 2 << 20;
    char *body = malloc(big + 1), *req = malloc(big + 512), *out = malloc(cap);
    assert_true(big + 512 > 20 * 10010 + 128); /* req also holds the chunked upload */
    memset(body, 'x', big);
    body[big] = '\0';
    int n = snprintf(req, 512,
                     "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close, X-Drop-Me\r\n"
                     "X-Drop-Me: 1\r\nX-Forwarded-For: 10.1.2.3\r\nContent-Length: %zu\r\n\r\n",
                     big);
    memcpy(req + n, body, big + 1);
    assert_int_equal(harness_exchange(gp, req, out, cap), 200);
    assert_non_null(strstr(out, "X-Herd-Node: api.1"));
    assert_non_null(strstr(out, "\"body_bytes\":600000"));
    assert_non_null(strstr(out, "\"X-Forwarded-For\":\"10.1.2.3, 127.0.0.1\""));
    assert_null(strstr(out, "X-Drop-Me")); /* named by Connection: hop-by-hop */
    assert_true(strlen(out) > big);
    /* a chunked answer: passed on chunked to HTTP/1.1, until close to HTTP/1.0 */
    exchange_until_close(gp, "GET /stream HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", out, cap);
    assert_int_equal(harness_status(out), 200);
    assert_non_null(strstr(out, "Transfer-Encoding: chunked"));
    assert_non_null(strstr(out, "X-Herd-Node: fake"));
    assert_non_null(strstr(out, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
    assert_int_equal(call(gp, "GET", "/echo", NULL, out, cap), 200); /* round robin: api.1 */
    exchange_until_close(gp, "GET /stream HTTP/1.0\r\n\r\n", out, cap);
    assert_int_equal(harness_status(out), 200);
    assert_null(strstr(out, "Transfer-Encoding"));
    assert_non_null(strstr(out, "\r\n\r\nhello world"));
    /* a chunked upload of 200 kB: streamed on to api.1 chunked, as it came */
    n = snprintf(req, 512, "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 20; i++) n += sprintf(req + n, "2710\r\n%.10000s\r\n", body);
    n += sprintf(req + n, "0\r\n\r\n");
    assert_int_equal(harness_exchange(gp, req, out, cap), 200);
    assert_non_null(strstr(out, "\"body_bytes\":200000"));
    assert_non_null(strstr(out, "\"Transfer-Encoding\":\"chunked\""));
    exchange_until_close(gp, "GET /stream HTTP/1.0\r\n\r\n", out, cap); /* the fake's turn */
    /* 3 MB: more than the gateway's max_body, yet not refused by it: the node says 413 */
    size_t huge = 3000000;
    char *up = malloc(huge + 512);
    n = snprintf(up, 512, "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                          "Content-Length: %zu\r\n\r\n", huge);
    memset(up + n, 'y', huge);
    up[n + huge] = '\0';
    assert_int_equal(harness_exchange(gp, up, out, cap), 413);
    assert_non_null(strstr(out, "X-Herd-Node: api.1"));
    free(up);
    free(body);
    free(req);
    free(out);
    fake_stop(&f);
}

/* api.1 at base with a config file (yaml), and a gateway in front of it alone; the file's
 * path goes to *config (the caller unlinks and frees it). */
static void spawn_node_and_gateway(struct gw *g, const char *yaml, char **config, ...)
{
    *config = harness_temp_file(".yaml", yaml);
    char port[16], node[64];
    snprintf(port, sizeof port, "%d", g->base);
    char *argv[] = {(char *)harness_herd_bin(), "node", "--port", port, "--id", "api.1",
                    "--config", *config, "--log-level", "warn", NULL};
    g->nodes[0] = harness_spawn(argv, NULL, NULL);
    assert_true(harness_wait_http(g->base, "/health", 5000));
    snprintf(node, sizeof node, "api.1=127.0.0.1:%d", g->base);
    char *extra[8] = {NULL};
    va_list ap;
    va_start(ap, config);
    for (size_t i = 0; i < 7 && (extra[i] = va_arg(ap, char *)); i++) {}
    va_end(ap);
    spawn_gateway(g, false, "--node", node, "--threads", "1", extra[0], extra[1], extra[2],
                  extra[3], extra[4], extra[5], extra[6], NULL);
}

/* The gateway's requests in flight to node id, or -1. */
static long long in_flight(int port, const char *id)
{
    json_t *j = get_json(port, "/api/v1/cluster/nodes");
    json_t *n = json_object_get(json_object_get(j, "nodes"), id);
    long long v = n ? (long long)json_integer_value(json_object_get(n, "connections")) : -1;
    json_decref(j);
    return v;
}

static bool wait_in_flight(int port, const char *id, long long want, int timeout_ms)
{
    return harness_wait_until(in_flight(port, id) == want, timeout_ms);
}

/* A counter's value in the gateway's /metrics, or -1. */
static long long metric(int port, const char *name)
{
    static char out[1 << 17];
    const char *body;
    if (harness_get(port, "/metrics", out, sizeof out, &body) != 200) return -1;
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *at = strstr(body, key);
    return at ? atoll(at + strlen(key)) : -1;
}

/* Every Connection header counts, both ways: the names any of them lists stay with the hop,
 * and a "close" in any of them ends the node's connection (the gateway sends nothing more on
 * it). No Connection header takes Host or the X-Forwarded-For chain away; a request without
 * Host gets the address the client reached; two Host headers, two Content-Lengths that
 * disagree, or Content-Length with Transfer-Encoding are 400 and reach no node. */
static void test_connection_headers_and_host(void **state)
{
    struct gw *g = *state;
    struct fake_backend f;
    fake_start(&f, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n"
                   "Connection: X-Secret\r\nConnection: keep-alive\r\nX-Secret: 1\r\n"
                   "X-Herd-Node: fake\r\n\r\nok");
    f.close_second = true; /* were the connection kept, the next request on it goes unanswered */
    spawn_gateway_with_fake(g, &f, false); /* round robin: api.1, then the fake, in turn */
    int gp = g->base + 3;
    static char out[16384];
    char req[512], want[128];
    assert_int_equal(harness_exchange(gp,
                                      "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n"
                                      "Connection: X-Secret\r\nX-Secret: 1\r\nX-Kept: 1\r\n\r\n",
                                      out, sizeof out),
                     200);
    assert_non_null(strstr(out, "X-Herd-Node: api.1"));
    assert_null(strstr(out, "X-Secret")); /* named by the second Connection header */
    assert_non_null(strstr(out, "\"X-Kept\":\"1\""));
    assert_int_equal(call(gp, "GET", "/from-fake", NULL, out, sizeof out), 200);
    assert_non_null(strstr(out, "X-Herd-Node: fake"));
    assert_null(strstr(out, "X-Secret")); /* the node's answer: its first Connection header */
    assert_int_equal(harness_exchange(gp,
                                      "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: Host, "
                                      "x-forwarded-for\r\nX-Forwarded-For: 10.0.0.1\r\n"
                                      "X-Forwarded-For: 10.0.0.2\r\nConnection: close\r\n\r\n",
                                      out, sizeof out),
                     200);
    assert_non_null(strstr(out, "\"Host\":\"t\""));
    assert_non_null(strstr(out, "\"X-Forwarded-For\":\"10.0.0.1, 10.0.0.2, 127.0.0.1\""));
    /* the fake said close (first of three Connection headers): a new connection, no resend */
    assert_int_equal(call(gp, "GET", "/from-fake", NULL, out, sizeof out), 200);
    assert_non_null(strstr(out, "X-Herd-Node: fake"));
    assert_int_equal(atomic_load(&f.requests), 2);
    assert_int_equal(metric(gp, "herd_gateway_node_resent_total{node=\"fake\"}"), 0);
    assert_int_equal(harness_exchange(gp, "GET /echo HTTP/1.0\r\n\r\n", out, sizeof out), 200);
    snprintf(want, sizeof want, "\"Host\":\"127.0.0.1:%d\"", gp);
    assert_non_null(strstr(out, want));
    long long proxied = metric(gp, "herd_gateway_requests_total");
    static const char *const refused[] = {
        "GET /echo HTTP/1.1\r\nHost: t\r\nHost: admin.internal\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        "Content-Length: 5\r\n\r\n0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(req, sizeof req, "%s", refused[i]);
        int status = harness_exchange(gp, req, out, sizeof out);
        if (status != 400) fail_msg("case %zu: want 400, got %d: %s", i, status, out);
    }
    assert_int_equal(metric(gp, "herd_gateway_requests_total"), proxied); /* none went on */
    assert_int_equal(atomic_load(&f.requests), 2);
    assert_int_equal(call(gp, "GET", "/from-fake", NULL, out, sizeof out), 200); /* its turn */
    assert_non_null(strstr(out, "X-Herd-Node: fake"));
    fake_stop(&f);
}

/* Transfer codings: a node's answer in "gzip, chunked" reaches the client with its gzip coding
 * named (the gateway frames the body anew, the bytes as the node sent them); a request in
 * "gzip, chunked" is a 501 and reaches no node. */
static void test_transfer_codings(void **state)
{
    struct gw *g = *state;
    struct fake_backend f;
    fake_start(&f, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n"
                   "X-Herd-Node: fake\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    spawn_gateway_with_fake(g, &f, false); /* round robin: api.1, then the fake, in turn */
    int gp = g->base + 3;
    static char out[16384];
    assert_int_equal(call(gp, "GET", "/echo", NULL, out, sizeof out), 200);
    assert_non_null(strstr(out, "X-Herd-Node: api.1"));
    exchange_until_close(gp, "GET /from-fake HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                         out, sizeof out); /* the whole answer, not its head alone */
    assert_int_equal(harness_status(out), 200);
    assert_non_null(strstr(out, "X-Herd-Node: fake"));
    assert_non_null(strstr(out, "Transfer-Encoding: gzip\r\n"));
    assert_non_null(strstr(out, "Transfer-Encoding: chunked\r\n"));
    assert_non_null(strstr(out, "\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
    long long proxied = metric(gp, "herd_gateway_requests_total");
    assert_int_equal(harness_exchange(gp,
                                      "POST /echo HTTP/1.1\r\nHost: t\r\n"
                                      "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                                      out, sizeof out),
                     501);
    assert_int_equal(metric(gp, "herd_gateway_requests_total"), proxied); /* none went on */
    assert_int_equal(atomic_load(&f.requests), 1);
    fake_stop(&f);
}

/* Answers a node must not have given: the gateway's own 502 (named "(gateway)") for a status
 * HTTP does not have, a switch of protocols nobody asked for, and header names that are not
 * tokens; a 204 whose Content-Length announces a made-up answer is relayed without a body, so
 * the client's next answer on its connection is the real one. POSTs, so nothing is retried. */
static void test_hostile_answers(void **state)
{
    struct gw *g = *state;
    static const char *const bad[] = {
        "HTTP/1.1 999 Nope\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 099 Low\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nTUNNEL",
        "HTTP/1.1 200 OK\r\n: v\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nBad Name: v\r\nContent-Length: 2\r\n\r\nok",
    };
    int gp = g->base + 3;
    static char out[16384];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct fake_backend f;
        fake_start(&f, bad[i]);
        spawn_gateway_with_fake(g, &f, true); /* the first request goes to the fake */
        int status = call(gp, "POST", "/x", "{}", out, sizeof out);
        if (status != 502 || !strstr(out, "X-Herd-Node: (gateway)"))
            fail_msg("answer %zu: want the gateway's 502, got %d: %.300s", i, status, out);
        assert_int_equal(stop(g->gateway), 0);
        g->gateway = 0;
        fake_stop(&f);
    }
    struct fake_backend f;
    fake_start(&f, "HTTP/1.1 204 No Content\r\nContent-Length: 60\r\n\r\nHTTP/1.1 200 OK\r\n"
                   "X-Herd-Node: api.1\r\nContent-Length: 5\r\n\r\nEVIL!");
    spawn_gateway_with_fake(g, &f, true);
    exchange_until_close(gp,
                         "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}"
                         "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                         out, sizeof out);
    assert_int_equal(harness_status(out), 204);
    assert_null(strstr(out, "EVIL!"));
    char *second = strstr(out + 1, "HTTP/1.1 200 OK");
    assert_non_null(second);
    assert_non_null(strstr(second, "\"path\":\"/echo\"")); /* api.1's echo of the request */
    fake_stop(&f);
}

/* A chunked upload that breaks off after a 70 kB chunk (a bad chunk size next): the client
 * gets 400 and the proxied request, already on its way to the node, ends with it (the node's
 * connection dropped, a client abort counted). The client then holds its connection past the
 * gateway's linger and past the node's 4 s body timeout, whose 408 was written into the freed
 * connection before (a heap-use-after-free under ASan); the gateway goes on serving and stops
 * cleanly (teardown). */
static void test_broken_body_ends_the_proxied_request(void **state)
{
    struct gw *g = *state;
    char *config;
    spawn_node_and_gateway(g, "limits:\n  body_timeout: 4s\n", &config, NULL);
    int gp = g->base + 3;
    int fd = harness_connect(gp, 5000);
    assert_true(fd >= 0);
    size_t big = 70000;
    char *req = malloc(big + 256);
    int n = snprintf(req, 256,
                     "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n",
                     big);
    memset(req + n, 'a', big);
    memcpy(req + n + big, "\r\n", 2);
    assert_int_equal(harness_send(fd, req, (size_t)n + big + 2), 0);
    assert_true(wait_in_flight(gp, "api.1", 1, 5000)); /* over 64 kB: on its way to the node */
    assert_int_equal(harness_send(fd, "zz\r\n", 4), 0);
    char out[4096];
    harness_read_responses(fd, 1, out, sizeof out);
    assert_int_equal(harness_status(out), 400);
    assert_true(wait_in_flight(gp, "api.1", 0, 2000)); /* not waiting for the node's answer */
    assert_int_equal(metric(gp, "herd_gateway_client_aborts_total"), 1);
    /* the subject: past the node's 4 s body timeout, when its 408 comes, which nothing may be
     * written for (an absence: there is nothing to poll for) */
    harness_pause_ms(5000);
    close(fd);
    const char *body;
    assert_int_equal(harness_get(gp, "/echo?after=broken", out, sizeof out, &body), 200);
    assert_non_null(strstr(out, "X-Herd-Node: api.1"));
    free(req);
    unlink(config);
    free(config);
}

/* Sends a POST whose 1000-byte body drips a byte every 300 ms. Returns the status of the
 * answer; *answer_ms and *closed_ms: when it came and when the server closed (-1: not within
 * 12 s). */
static int drip_body(int port, long *answer_ms, long *closed_ms)
{
    int fd = harness_connect(port, 5000);
    if (fd < 0) return -1;
    const char *head = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n";
    char out[4096];
    size_t len = 0;
    out[0] = '\0';
    *answer_ms = *closed_ms = -1;
    long start = harness_now_ms();
    if (harness_send(fd, head, strlen(head)) < 0) len = sizeof out; /* skips the loop */
    while (len + 1 < sizeof out && harness_now_ms() - start < 12000) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 300) <= 0) {
            send(fd, "x", 1, MSG_NOSIGNAL); /* fails once the server closed: fine */
            continue;
        }
        ssize_t r = recv(fd, out + len, sizeof out - 1 - len, 0);
        if (r <= 0) {
            *closed_ms = harness_now_ms() - start;
            break;
        }
        len += (size_t)r;
        out[len] = '\0';
        if (*answer_ms < 0 && harness_count_responses(out, len) >= 1)
            *answer_ms = harness_now_ms() - start;
    }
    close(fd);
    return harness_status(out);
}

/* A request body that drips in (a byte every 300 ms) gets 408 and a closed connection once
 * the body timeout (2 s) passed, from a node's route and from the gateway's streaming route
 * alike (the gateway waited for ever before); the margin allows a loaded machine. */
static void test_slow_body_gets_408(void **state)
{
    struct gw *g = *state;
    char *config;
    spawn_node_and_gateway(g, "limits:\n  body_timeout: 2s\n", &config, "--body-timeout", "2s",
                           NULL);
    int ports[2] = {g->base, g->base + 3};
    for (int i = 0; i < 2; i++) {
        long answer_ms, closed_ms;
        assert_int_equal(drip_body(ports[i], &answer_ms, &closed_ms), 408);
        assert_in_range(answer_ms, 1900, 6000);
        assert_in_range(closed_ms, answer_ms, 6000);
    }
    int gp = g->base + 3;
    assert_int_equal(metric(gp, "herd_gateway_client_aborts_total"), 1);
    assert_int_equal(in_flight(gp, "api.1"), 0);
    char out[4096];
    const char *body;
    assert_int_equal(harness_get(gp, "/echo?after=slow", out, sizeof out, &body), 200);
    unlink(config);
    free(config);
}

/* Routes: a path prefix goes to one group's nodes; a group with no node up answers 503 JSON
 * naming it, while the other paths keep working. */
static void test_group_routes(void **state)
{
    struct gw *g = *state;
    char port[16], n1[64], n2[64], n3[64];
    snprintf(port, sizeof port, "%d", g->base + 3);
    snprintf(n1, sizeof n1, "api.1=127.0.0.1:%d#group=api", g->base);
    snprintf(n2, sizeof n2, "api.2=127.0.0.1:%d#group=api", g->base + 1);
    snprintf(n3, sizeof n3, "api.3=127.0.0.1:%d#weight=1,group=status", g->base + 2);
    char *argv[] = {(char *)harness_herd_bin(), "gateway", "--port", port, "--threads", "1",
                    "--node", n1, "--node", n2, "--node", n3, "--route", "/status/=status",
                    "--route", "/ghost/=ghost", "--inter", "100ms", "--fastinter", "50ms",
                    "--log-level", "warn", NULL};
    g->gateway = harness_spawn(argv, NULL, NULL);
    snprintf(g->url, sizeof g->url, "http://127.0.0.1:%d", g->base + 3);
    assert_true(harness_wait_http(g->base + 3, "/api/v1/cluster/status", 5000));
    int gp = g->base + 3;
    char url[96], out[8192];
    snprintf(url, sizeof url, "%s/status/200", g->url);
    json_t *run = bench(url, "-n", "300", "-c", "3", NULL);
    assert_int_equal(served(run, "api.3"), 300); /* only the route's group */
    json_decref(run);
    assert_int_equal(call(gp, "GET", "/ghost/x", NULL, out, sizeof out), 503);
    assert_non_null(strstr(out, "\"group\":\"ghost\""));
    json_t *nodes = get_json(gp, "/api/v1/cluster/nodes");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(nodes, "nodes"), "api.3"), "group")),
                        "status");
    json_decref(nodes);
    /* the whole group goes away: its route answers 503 naming it, the rest keeps serving */
    kill(g->nodes[2], SIGKILL);
    harness_wait(g->nodes[2], 2000);
    g->nodes[2] = 0;
    assert_true(wait_event(gp, "api.3", "down", 3000));
    assert_int_equal(call(gp, "GET", "/status/200", NULL, out, sizeof out), 503);
    assert_non_null(strstr(out, "no node of group 'status' is available"));
    snprintf(url, sizeof url, "%s/echo", g->url);
    run = bench(url, "-n", "200", "-c", "2", NULL);
    assert_int_equal(total(run, "failed"), 0);
    json_decref(run);
}

static void test_token_guards_changes(void **state)
{
    struct gw *g = *state;
    spawn_gateway(g, true, "--threads", "1", "--token", "s3cret", NULL);
    int gp = g->base + 3;
    char out[8192], req[512];
    assert_int_equal(call(gp, "PUT", "/api/v1/cluster/nodes/api.1", "{\"weight\":2}", out,
                          sizeof out),
                     401);
    assert_non_null(strstr(out, "token"));
    snprintf(req, sizeof req,
             "PUT /api/v1/cluster/nodes/api.1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
             "Authorization: Bearer s3cret\r\nContent-Length: 12\r\n\r\n{\"weight\":2}");
    assert_int_equal(harness_exchange(gp, req, out, sizeof out), 200);
    /* reading from loopback needs no token; proxied traffic never does */
    assert_int_equal(call(gp, "GET", "/api/v1/cluster/nodes", NULL, out, sizeof out), 200);
    assert_int_equal(call(gp, "GET", "/echo", NULL, out, sizeof out), 200);
}

/* Bad input to the admin API, one line each: the status, a piece of the message, and the
 * gateway still serving afterwards. */
static void test_admin_bad_input(void **state)
{
    struct gw *g = *state;
    spawn_gateway(g, true, "--threads", "1", "--token", "s3cret", NULL);
    int gp = g->base + 3;
    static const struct {
        const char *method, *path, *auth, *body;
        int status;
        const char *message;
    } cases[] = {
        {"POST", "/api/v1/cluster/register", "Bearer s3cret",
         "{\"node_id\":\"x\",\"port\":4294967376}", 400, "port: expected an integer 1..65535"},
        {"POST", "/api/v1/cluster/register", "Bearer s3cret", "{\"node_id\":\"x\",\"port\":-1}",
         400, "port: expected"},
        {"POST", "/api/v1/cluster/register", "Bearer s3cret",
         "{\"node_id\":\"x\",\"port\":80,\"weight\":4294967297}", 400, "weight: expected"},
        {"POST", "/api/v1/cluster/register", "Bearer s3cret",
         "{\"node_id\":\"x\",\"port\":80,\"weight\":101}", 400, "weight: expected"},
        {"PUT", "/api/v1/cluster/nodes/api.1", "Bearer s3cret", "{\"weight\":4294967297}", 400,
         "weight: expected"},
        {"PUT", "/api/v1/cluster/nodes/api.1", "Bearer s3cret", "{\"weight\":-4294967295}", 400,
         "weight: expected"},
        {"GET", "/api/v1/cluster/nodes/%zz", NULL, NULL, 400, "%-escape"},
        {"DELETE", "/api/v1/cluster/nodes/api%2", "Bearer s3cret", NULL, 400, "%-escape"},
        {"PUT", "/api/v1/cluster/nodes/%/heartbeat", "Bearer s3cret", NULL, 400, "%-escape"},
        {"PUT", "/api/v1/cluster/nodes/api.1", "Bearer s3cre", "{\"weight\":2}", 401, "token"},
        {"PUT", "/api/v1/cluster/nodes/api.1", "Bearer s3cret2", "{\"weight\":2}", 401, "token"},
        {"PUT", "/api/v1/cluster/nodes/api.1", "Bearer ", "{\"weight\":2}", 401, "token"},
        {"PUT", "/api/v1/cluster/nodes/api.1", "Basic s3cret", "{\"weight\":2}", 401, "token"},
        {"PUT", "/api/v1/cluster/nodes/api.1", "bEaReR s3cret", "{\"weight\":2}", 200, "api.1"},
        /* a newline would split the X-Herd-Node header the gateway adds to answers */
        {"POST", "/api/v1/cluster/register", "BEARER s3cret",
         "{\"node_id\":\"q\\nSet-Cookie: x=1\",\"host\":\"127.0.0.1\",\"port\":9}", 400,
         "control characters"},
        {"POST", "/api/v1/cluster/register", "BEARER s3cret",
         "{\"node_id\":\"q\\\"\\\\x\",\"host\":\"127.0.0.1\",\"port\":9}", 201, "node_id"},
        {"GET", "/metrics", NULL, NULL, 200, "herd_gateway_node_weight{node=\"q\\\"\\\\x\"} 1\n"},
    };
    char req[2048], out[65536];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *body = cases[i].body ? cases[i].body : "";
        int len = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n",
                           cases[i].method, cases[i].path);
        if (cases[i].auth)
            len += snprintf(req + len, sizeof req - (size_t)len, "Authorization: %s\r\n",
                            cases[i].auth);
        snprintf(req + len, sizeof req - (size_t)len, "Content-Length: %zu\r\n\r\n%s",
                 strlen(body), body);
        int status = harness_exchange(gp, req, out, sizeof out);
        if (status != cases[i].status || !strstr(out, cases[i].message))
            fail_msg("case %zu (%s %s): want %d '%s', got %d: %s", i, cases[i].method,
                     cases[i].path, cases[i].status, cases[i].message, status, out);
        const char *answer;
        assert_int_equal(harness_get(gp, "/echo", out, sizeof out, &answer), 200);
    }
    /* the bad port did not register node x on port 80 */
    char s[32];
    node_state(gp, "x", s, sizeof s);
    assert_string_equal(s, "");
}

/* With --token, a node's control routes are not reachable through the gateway without it:
 * a fault set through it would disable every node. */
static void test_token_guards_node_control_routes(void **state)
{
    struct gw *g = *state;
    spawn_gateway(g, true, "--threads", "1", "--token", "s3cret", NULL);
    int gp = g->base + 3;
    char out[8192], req[512];
    static const char *const guarded[][2] = {
        {"POST", "/admin/fault"},       {"GET", "/admin/fault"},
        {"DELETE", "/admin/fault"},     {"GET", "/admin"},
        {"GET", "/api/v1/kv/changes?since=0&port=1"}, {"GET", "/api/v1/kv/log"},
    };
    for (size_t i = 0; i < sizeof guarded / sizeof guarded[0]; i++) {
        int status = call(gp, guarded[i][0], guarded[i][1], "{\"error_rate\":1}", out, sizeof out);
        if (status != 401 || !strstr(out, "token"))
            fail_msg("%s %s: want 401, got %d: %s", guarded[i][0], guarded[i][1], status, out);
    }
    /* the nodes were not touched: every request through the gateway succeeds */
    char url[96];
    snprintf(url, sizeof url, "%s/echo", g->url);
    json_t *run = bench(url, "-n", "60", "-c", "2", NULL);
    assert_int_equal(total(run, "failed"), 0);
    json_decref(run);
    for (int i = 0; i < 3; i++) {
        json_t *j = get_json(g->base + i, "/admin/fault");
        assert_non_null(j);
        assert_true(json_real_value(json_object_get(j, "error_rate")) == 0);
        json_decref(j);
    }
    /* with the token the route is passed on */
    snprintf(req, sizeof req,
             "GET /admin/fault HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
             "Authorization: Bearer s3cret\r\n\r\n");
    assert_int_equal(harness_exchange(gp, req, out, sizeof out), 200);
    assert_non_null(strstr(out, "X-Herd-Node: api."));
    /* ordinary traffic needs no token */
    assert_int_equal(call(gp, "PUT", "/kv/colour", "blue", out, sizeof out), 201);
}

/* Registered nodes: refused outside the allowed networks (link-local and unspecified always),
 * and down until a check passes: a node that is not there never gets a request. */
static void test_registration_networks_and_start_down(void **state)
{
    struct gw *g = *state;
    spawn_gateway(g, false, "--threads", "1", "--allow-register", "127.0.0.0/8",
                  "--allow-register", "::1/128", NULL);
    int gp = g->base + 3;
    char out[4096], body[256];
    static const char *const refused[][2] = {
        {"169.254.169.254", "link-local"}, {"fe80::1", "link-local"},
        {"0.0.0.0", "unspecified"},        {"::", "unspecified"},
        {"10.0.0.1", "outside"},           {"::ffff:0.0.0.0", "unspecified"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(body, sizeof body, "{\"node_id\":\"x\",\"host\":\"%s\",\"port\":80}",
                 refused[i][0]);
        int status = call(gp, "POST", "/api/v1/cluster/register", body, out, sizeof out);
        if (status != 400 || !strstr(out, refused[i][1]))
            fail_msg("%s: want 400 '%s', got %d: %s", refused[i][0], refused[i][1], status, out);
    }
    assert_int_equal(node_count(gp), 0);
    int ghost = harness_free_ports(1); /* nothing listens there */
    snprintf(body, sizeof body, "{\"node_id\":\"ghost\",\"host\":\"127.0.0.1\",\"port\":%d}",
             ghost);
    assert_int_equal(call(gp, "POST", "/api/v1/cluster/register", body, out, sizeof out), 201);
    char s[32];
    node_state(gp, "ghost", s, sizeof s);
    assert_string_equal(s, "down");
    snprintf(body, sizeof body, "{\"node_id\":\"api.1\",\"host\":\"::1\",\"port\":%d}",
             g->base);
    /* ::1 is in the allowed networks; the node listens on 127.0.0.1, where it moves next */
    assert_int_equal(call(gp, "POST", "/api/v1/cluster/register", body, out, sizeof out), 201);
    snprintf(body, sizeof body, "{\"node_id\":\"api.1\",\"port\":%d}", g->base);
    assert_int_equal(call(gp, "POST", "/api/v1/cluster/register", body, out, sizeof out), 201);
    assert_true(harness_wait_until(node_in_state(gp, "api.1", "up"), 5000));
    node_state(gp, "ghost", s, sizeof s);
    assert_string_equal(s, "down");
    const char *answer;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(harness_get(gp, "/echo", out, sizeof out, &answer), 200);
        assert_non_null(strstr(out, "X-Herd-Node: api.1"));
    }
}

/* Registration by host name: "localhost" resolves (the node takes the first address in the
 * resolver's order that the networks allow, shown as "ip"), and the address, not the name, is
 * what the allowed networks are checked against; a name that does not resolve is a 400
 * naming it. (Its 64-character label cannot go into a DNS query, so the resolver fails
 * without sending one: no test reaches the network.) */
static void test_register_host_names(void **state)
{
    struct gw *g = *state;
    spawn_gateway(g, false, "--threads", "1", "--inter", "100ms", "--fastinter", "50ms", NULL);
    int gp = g->base + 3;
    char out[4096], body[512], label[65];
    snprintf(body, sizeof body, "{\"node_id\":\"api.1\",\"host\":\"localhost\",\"port\":%d}",
             g->base);
    assert_int_equal(call(gp, "POST", "/api/v1/cluster/register", body, out, sizeof out), 201);
    json_t *j = get_json(gp, "/api/v1/cluster/nodes/api.1");
    const char *ip = json_string_value(json_object_get(j, "ip"));
    assert_non_null(ip);
    assert_true(strcmp(ip, "127.0.0.1") == 0 || strcmp(ip, "::1") == 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "config"), "host")),
                        "localhost");
    char host[64], port[16];
    snprintf(host, sizeof host, "%s", ip);
    json_decref(j);
    /* the node listens where the name led: it comes up and takes traffic */
    snprintf(port, sizeof port, "%d", g->base);
    char *argv[] = {(char *)harness_herd_bin(), "node", "--host", host, "--port", port, "--id",
                    "api.1", "--log-level", "warn", NULL};
    g->nodes[0] = harness_spawn(argv, NULL, NULL);
    char s[32] = "";
    harness_wait_until((node_state(gp, "api.1", s, sizeof s), strcmp(s, "up") == 0), 5000);
    assert_string_equal(s, "up");
    const char *answer;
    assert_int_equal(harness_get(gp, "/echo", out, sizeof out, &answer), 200);
    assert_non_null(strstr(out, "X-Herd-Node: api.1"));
    memset(label, 'a', 64);
    label[64] = '\0';
    snprintf(body, sizeof body, "{\"node_id\":\"x\",\"host\":\"%s.localhost\",\"port\":80}", label);
    assert_int_equal(call(gp, "POST", "/api/v1/cluster/register", body, out, sizeof out), 400);
    assert_non_null(strstr(out, "cannot resolve host 'aaaa"));
    static const char *const bad[] = {"\"\"", "7", "[\"localhost\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(body, sizeof body, "{\"node_id\":\"x\",\"host\":%s,\"port\":80}", bad[i]);
        assert_int_equal(call(gp, "POST", "/api/v1/cluster/register", body, out, sizeof out), 400);
        assert_non_null(strstr(out, "host: expected"));
    }
    assert_int_equal(node_count(gp), 1);
    /* a gateway that lets nodes register from 10.0.0.0/8 only refuses localhost's address */
    int other = harness_free_port();
    char oport[16];
    snprintf(oport, sizeof oport, "%d", other);
    char *gw2[] = {(char *)harness_herd_bin(), "gateway", "--port", oport, "--threads", "1",
                   "--allow-register", "10.0.0.0/8", "--log-level", "warn", NULL};
    pid_t second = harness_spawn(gw2, NULL, NULL);
    assert_true(harness_wait_http(other, "/api/v1/cluster/status", 5000));
    assert_int_equal(call(other, "POST", "/api/v1/cluster/register", body, out, sizeof out), 400);
    snprintf(body, sizeof body, "{\"node_id\":\"x\",\"host\":\"localhost\",\"port\":80}");
    assert_int_equal(call(other, "POST", "/api/v1/cluster/register", body, out, sizeof out), 400);
    assert_non_null(strstr(out, "host 'localhost' refused: "));
    assert_non_null(strstr(out, "outside the networks"));
    assert_int_equal(node_count(other), 0);
    assert_int_equal(stop(second), 0);
}

/* A DNS server on 127.0.0.1:53 (UDP) for a gateway whose /etc/resolv.conf names it: it holds
 * every query until told to answer, then answers each, held or new, "no such name". */
struct fake_dns {
    int fd;
    atomic_int queries;
    atomic_bool answer;
    atomic_bool stop;
    pthread_t thread;
};

static void *fake_dns_main(void *arg)
{
    struct fake_dns *d = arg;
    struct {
        unsigned char q[512];
        ssize_t len;
        struct sockaddr_in from;
    } held[64];
    int count = 0;
    while (!atomic_load(&d->stop)) {
        struct pollfd p = {.fd = d->fd, .events = POLLIN};
        if (poll(&p, 1, 50) == 1 && count < 64) {
            socklen_t fl = sizeof held[count].from;
            held[count].len = recvfrom(d->fd, held[count].q, sizeof held[count].q, 0,
                                       (struct sockaddr *)&held[count].from, &fl);
            if (held[count].len >= 12) {
                count++;
                atomic_fetch_add(&d->queries, 1);
            }
        }
        if (!atomic_load(&d->answer)) continue;
        for (int i = 0; i < count; i++) { /* the query back, as an answer: NXDOMAIN */
            held[i].q[2] |= 0x80;
            held[i].q[3] = 0x83;
            if (sendto(d->fd, held[i].q, (size_t)held[i].len, 0,
                       (struct sockaddr *)&held[i].from, sizeof held[i].from) < 0)
                perror("fake dns");
        }
        count = 0;
    }
    return NULL;
}

static bool wait_queries(struct fake_dns *d, int want, int timeout_ms)
{
    return harness_wait_until(atomic_load(&d->queries) >= want, timeout_ms);
}

/* Sends a registration of host on a connection left open for its answer; returns the fd. */
static int register_async(int port, const char *host)
{
    char body[256], req[512];
    snprintf(body, sizeof body, "{\"node_id\":\"%s\",\"host\":\"%s\",\"port\":80}", host, host);
    snprintf(req, sizeof req,
             "POST /api/v1/cluster/register HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    int fd = harness_connect(port, 10000);
    assert_true(fd >= 0);
    assert_int_equal(harness_send(fd, req, strlen(req)), 0);
    return fd;
}

/* A registration's host name resolves on libuv's thread pool: while the resolver says
 * nothing, the gateway's one proxy thread keeps proxying and answering; a client that leaves
 * meanwhile costs nothing when the answer comes later (ASan watches); a name with no address
 * is a 400 naming it; a resolver silent for 5 s, a 504. The gateway runs in its own mount
 * namespace, whose /etc/resolv.conf names the test's DNS server on 127.0.0.1. Needs root
 * (port 53, mount namespace); skipped otherwise. */
static void test_register_resolves_without_blocking(void **state)
{
    struct gw *g = *state;
    static struct fake_dns d; /* static: its thread outlives a failed assertion */
    memset(&d, 0, sizeof d);
    d.fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(53),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (geteuid() != 0 || d.fd < 0 || bind(d.fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        system("unshare --mount true 2>/dev/null") != 0) {
        if (d.fd >= 0) close(d.fd);
        skip();
        return;
    }
    char *resolv = harness_temp_file(".conf", "nameserver 127.0.0.1\noptions timeout:30 attempts:1\n");
    pthread_create(&d.thread, NULL, fake_dns_main, &d);
    char script[1024];
    snprintf(script, sizeof script,
             "mount --bind %s /etc/resolv.conf && exec %s gateway --port %d --threads 1 "
             "--node api.1=127.0.0.1:%d --log-level warn",
             resolv, harness_herd_bin(), g->base + 3, g->base);
    char *argv[] = {access("/usr/bin/unshare", X_OK) == 0 ? "/usr/bin/unshare" : "/bin/unshare",
                    "--mount", "/bin/sh", "-c", script, NULL};
    g->gateway = harness_spawn(argv, NULL, NULL); /* the same pid: unshare and sh exec */
    int gp = g->base + 3;
    assert_true(harness_wait_http(gp, "/api/v1/cluster/status", 5000));
    char out[4096];
    const char *body;
    int left = register_async(gp, "left.herd.test");
    assert_true(wait_queries(&d, 1, 5000));
    for (int i = 0; i < 5; i++) { /* the resolver holds the name: the thread goes on */
        assert_int_equal(harness_get(gp, "/echo", out, sizeof out, &body), 200);
        assert_non_null(strstr(out, "X-Herd-Node: api.1"));
    }
    assert_int_equal(harness_get(gp, "/api/v1/cluster/status", out, sizeof out, &body), 200);
    struct pollfd p = {.fd = left, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0); /* its registration still waits */
    close(left); /* and its client leaves */
    int queries = atomic_load(&d.queries);
    int fd = register_async(gp, "nowhere.herd.test");
    assert_true(wait_queries(&d, queries + 1, 5000));
    atomic_store(&d.answer, true); /* both names: no such name */
    harness_read_responses(fd, 1, out, sizeof out);
    close(fd);
    assert_int_equal(harness_status(out), 400);
    assert_non_null(strstr(out, "cannot resolve host 'nowhere.herd.test'"));
    atomic_store(&d.answer, false);
    queries = atomic_load(&d.queries);
    fd = register_async(gp, "silent.herd.test");
    assert_true(wait_queries(&d, queries + 1, 5000));
    harness_read_responses(fd, 1, out, sizeof out); /* up to 10 s */
    close(fd);
    assert_int_equal(harness_status(out), 504);
    assert_non_null(strstr(out, "host 'silent.herd.test': no answer from the resolver"));
    atomic_store(&d.answer, true); /* the lookup ends; the gateway stops without waiting */
    assert_int_equal(node_count(gp), 1);
    assert_int_equal(harness_get(gp, "/echo", out, sizeof out, &body), 200);
    assert_int_equal(stop(g->gateway), 0);
    g->gateway = 0;
    atomic_store(&d.stop, true);
    pthread_join(d.thread, NULL);
    close(d.fd);
    unlink(resolv);
    free(resolv);
}

static void test_bad_flags_and_files(void **state)
{
    (void)state;
    static const char *const cases[][4] = {
        {"--balance", "fastest", "--balance: 'fastest'", NULL},
        {"--seed", "-1", "--seed '-1': expected a whole number from 0 to 9007199254740991", NULL},
        {"--seed", "9007199254740992", "--seed", NULL},
        {"--node", "nohost", "--node", NULL},
        {"--node", "127.0.0.1:99999", "port 1..65535", NULL},
        {"--node", "a=127.0.0.1:80#weight=500", "weight", NULL},
        {"--node", "a=127.0.0.1:80#colour=red", "group=G", NULL},
        {"--route", "api", "PREFIX=GROUP", NULL},
        {"--route", "api=api", "starting with /", NULL},
        {"--retry-budget", "150%", "--retry-budget", NULL},
        {"--inter", "soon", "--inter", NULL},
        {"--health", "health", "--health", NULL},
        {"--bogus", "x", "--bogus", NULL},
        {"--allow-register", "10.0.0.0/33", "prefix length must be 0..32", NULL},
        {"--allow-register", "somewhere", "not an IP address", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *args[] = {"gateway", (char *)cases[i][0], (char *)cases[i][1], NULL};
        char *err = NULL;
        assert_int_equal(harness_herd(args, 5000, NULL, &err), 2);
        if (!strstr(err, cases[i][2])) fail_msg("%s %s: stderr lacks '%s': %s", cases[i][0], cases[i][1], cases[i][2], err);
        free(err);
    }
    char *file = harness_temp_file(".yaml", "groups:\n  api: {command: herd node, replicas: 1, base_port: 20001}\n"
                                            "gateway:\n  port: 20010\n  health: {rise: 0}\n");
    char *args[] = {"gateway", "-f", file, NULL};
    char *err = NULL;
    assert_int_equal(harness_herd(args, 5000, NULL, &err), 2);
    assert_non_null(strstr(err, ":5:"));
    assert_non_null(strstr(err, "gateway.health.rise"));
    free(err);
    unlink(file);
    free(file);
}

/* True when `herd status` (args) shows node id down or ejected by the gateway. */
static bool status_shows_down(char *args[], const char *id)
{
    char *out = NULL;
    assert_int_equal(harness_herd(args, 10000, &out, NULL), 0);
    char *line = strstr(out, id), *end = line ? strchr(line, '\n') : NULL;
    if (end) *end = '\0'; /* its GATEWAY column: "down: GET /health -> ...", "ejected: ..." */
    bool down = line && (strstr(line, " down") || strstr(line, " ejected"));
    free(out);
    return down;
}

static void test_up_starts_the_gateway(void **state)
{
    struct gw *g = *state;
    char dir[] = "/tmp/herd-gwup-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[128], text[512], sdir[160];
    snprintf(file, sizeof file, "%s/herd.yaml", dir);
    snprintf(text, sizeof text,
             "groups:\n  api:\n    command: herd node\n    replicas: 3\n    base_port: %d\n"
             "    env: {CLUSTER_MANAGER_URL: \"http://127.0.0.1:%d\"}\n"
             "gateway:\n  port: %d\n  threads: 1\n  health: {inter: 200ms, fastinter: 50ms}\n",
             g->base, g->base + 3, g->base + 3);
    FILE *f = fopen(file, "w");
    fputs(text, f);
    fclose(f);
    snprintf(sdir, sizeof sdir, "--state-dir=%s/state", dir);
    char *up[] = {"up", "-d", "-f", file, sdir, NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(harness_herd(up, 30000, &out, &err), 0);
    assert_non_null(strstr(out, "gateway.1"));
    free(out);
    free(err);
    const char *body;
    char buf[8192];
    assert_int_equal(harness_get(g->base + 3, "/echo", buf, sizeof buf, &body), 200);
    assert_non_null(strstr(buf, "X-Herd-Node: api.1"));
    /* herd status shows what the gateway thinks of each node */
    char *status[] = {"status", sdir, NULL};
    assert_int_equal(harness_herd(status, 10000, &out, NULL), 0);
    assert_non_null(strstr(out, "GATEWAY"));
    assert_non_null(strstr(out, "(gateway)"));
    char *line = strstr(out, "api.2");
    assert_non_null(line);
    assert_non_null(strstr(line, " up\n"));
    free(out);
    char *kill9[] = {"kill", "api.2", sdir, NULL};
    assert_int_equal(harness_herd(kill9, 10000, NULL, NULL), 0);
    assert_true(harness_wait_until(status_shows_down(status, "api.2"), 4000));
    char *downv[] = {"down", sdir, NULL};
    assert_int_equal(harness_herd(downv, 30000, NULL, NULL), 0);
    assert_false(harness_port_open(g->base + 3));
}

/* The cluster file's gateway.allow_register reaches the gateway `herd up` starts: nodes may
 * register from its networks only (loopback is refused); --allow-register flags replace the
 * file's list. */
static void test_allow_register_from_the_file(void **state)
{
    struct gw *g = *state;
    char dir[] = "/tmp/herd-gwallow-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[128], text[512], sdir[160], out[4096];
    snprintf(file, sizeof file, "%s/herd.yaml", dir);
    snprintf(text, sizeof text,
             "groups:\n  api: {command: herd node, replicas: 1, base_port: %d}\n"
             "gateway:\n  port: %d\n  threads: 1\n"
             "  allow_register: [10.0.0.0/8, \"fd00::/8\"]\n",
             g->base, g->base + 3);
    FILE *f = fopen(file, "w");
    fputs(text, f);
    fclose(f);
    snprintf(sdir, sizeof sdir, "--state-dir=%s/state", dir);
    char *up[] = {"up", "-d", "-f", file, sdir, NULL};
    assert_int_equal(harness_herd(up, 30000, NULL, NULL), 0);
    int gp = g->base + 3;
    static const char local[] = "{\"node_id\":\"x\",\"host\":\"127.0.0.1\",\"port\":80}";
    static const char ten[] = "{\"node_id\":\"y\",\"host\":\"10.1.2.3\",\"port\":80}";
    assert_int_equal(call(gp, "POST", "/api/v1/cluster/register", local, out, sizeof out), 400);
    assert_non_null(strstr(out, "127.0.0.1 is outside the networks"));
    assert_int_equal(call(gp, "POST", "/api/v1/cluster/register", ten, out, sizeof out), 201);
    char *down[] = {"down", sdir, NULL};
    assert_int_equal(harness_herd(down, 30000, NULL, NULL), 0);
    /* flags replace the file's networks */
    spawn_gateway(g, false, "-f", file, "--allow-register", "127.0.0.0/8", NULL);
    assert_int_equal(call(gp, "POST", "/api/v1/cluster/register", local, out, sizeof out), 201);
    assert_int_equal(call(gp, "POST", "/api/v1/cluster/register", ten, out, sizeof out), 400);
    assert_non_null(strstr(out, "10.1.2.3 is outside the networks"));
    snprintf(text, sizeof text, "rm -rf %s", dir);
    if (system(text) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int integration_gateway(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundrobin_exact, setup_nodes, teardown),
        cmocka_unit_test_setup_teardown(test_roundrobin_exact_across_threads, setup_nodes,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retries_leave_the_rotation_alone, setup_nodes,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_seed_is_reported, setup_nodes, teardown),
        cmocka_unit_test_setup_teardown(test_other_algorithms, setup_nodes, teardown),
        cmocka_unit_test_setup_teardown(test_kill_under_load_costs_nothing, setup_nodes, teardown),
        cmocka_unit_test_setup_teardown(test_ejected_node_checked_at_fastinter, setup_nodes, teardown),
        cmocka_unit_test_setup_teardown(test_drain_weight_and_admin_errors, setup_nodes, teardown),
        cmocka_unit_test_setup_teardown(test_registration_ttl_and_config_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry_slots_are_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_checks_are_spread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_requests, setup_nodes, teardown),
        cmocka_unit_test_setup_teardown(test_stale_keepalive_sent_again, setup_nodes, teardown),
        cmocka_unit_test_setup_teardown(test_streamed_body_not_resent, setup_nodes, teardown),
        cmocka_unit_test_setup_teardown(test_no_node_only_when_none_took_it, setup_nodes, teardown),
        cmocka_unit_test_setup_teardown(test_post_is_not_replayed, setup_nodes, teardown),
        cmocka_unit_test_setup_teardown(test_streamed_bodies_and_headers, setup_nodes, teardown),
        cmocka_unit_test_setup_teardown(test_connection_headers_and_host, setup_nodes, teardown),
        cmocka_unit_test_setup_teardown(test_transfer_codings, setup_nodes, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_answers, setup_nodes, teardown),
        cmocka_unit_test_setup_teardown(test_broken_body_ends_the_proxied_request, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_slow_body_gets_408, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_routes, setup_nodes, teardown),
        cmocka_unit_test_setup_teardown(test_token_guards_changes, setup_nodes, teardown),
        cmocka_unit_test_setup_teardown(test_admin_bad_input, setup_nodes, teardown),
        cmocka_unit_test_setup_teardown(test_token_guards_node_control_routes, setup_nodes,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_registration_networks_and_start_down, setup_nodes,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_register_host_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_resolves_without_blocking, setup_nodes,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_flags_and_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_up_starts_the_gateway, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allow_register_from_the_file, setup, teardown),
    };
    return cmocka_run_group_tests_name("gateway", tests, NULL, NULL);
}
