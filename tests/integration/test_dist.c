/* test_dist.c -- `herd master`, `herd worker` and `herd bench --master` as real processes on
 * loopback, loading real `herd node` targets whose own counters are the independent observer:
 * exact request counts, worker selection, a worker killed (its rest reassigned), the master
 * killed and restarted on its store, a worker restarted with its id, the token, exit codes and
 * bad bodies. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <pthread.h>
#include <sys/socket.h>

#include "../support/harness.h"
#include "dist/interval.h"
#include "fault/netns.h"
#include "integration.h"

#define MAX_WORKERS 4
#define NETNS_REGIONS 4 /* test_regions_in_namespaces: one namespace per region */
#define NETNS_PER_REGION 10

struct dist {
    char dir[64], db[128];
    int mport;
    pid_t master;
    int masters; /* started so far: each its own log */
    char murl[64];
    int nports[2];
    pid_t nodes[2];
    pid_t workers[MAX_WORKERS];
    char token[32];
    char mhost[40]; /* the master's address when not 127.0.0.1 (a namespace bridge's) */
    int netns_base; /* namespaces made under this base port (netns.h), removed by teardown */
};

static pid_t start_master(struct dist *d, const char *const extra[])
{
    char port[32], listen[64], log[160];
    snprintf(port, sizeof port, "%d", d->mport);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", d->mport);
    snprintf(log, sizeof log, "%s/master-%d.log", d->dir, ++d->masters);
    char *argv[24] = {(char *)harness_herd_bin(), "master", "--listen", listen, "--db", d->db,
                      /* short enough for the loss tests, long enough for a worker under
                       * TSan on a loaded machine to be heard in time */
                      "--lost-after", "4s", "--suspect-after", "2s"};
    int n = 10;
    if (d->token[0]) {
        argv[n++] = "--token";
        argv[n++] = d->token;
    }
    for (int i = 0; extra && extra[i] && n < 22; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    pid_t pid = harness_spawn_io(argv, NULL, NULL, log);
    d->master = pid;
    return pid;
}

static pid_t start_worker(struct dist *d, int i, const char *id, const char *region)
{
    char log[160];
    snprintf(log, sizeof log, "%s/%s.log", d->dir, id);
    /* the third worker names its master as the seed tool does, host:port without http:// */
    const char *master = i == 2 && strncmp(d->murl, "http://", 7) == 0 ? d->murl + 7 : d->murl;
    char *argv[] = {(char *)harness_herd_bin(), "worker", "--master", (char *)master, "--id", (char *)id,
                    "--region", (char *)region, d->token[0] ? "--token" : NULL, d->token, NULL};
    d->workers[i] = harness_spawn(argv, NULL, log);
    return d->workers[i];
}

/* One request to the master; the answer's JSON into *out (may be NULL). Returns the status. */
static int api(const struct dist *d, const char *method, const char *path, const char *body,
               const char *token, json_t **out)
{
    static char buf[1 << 20];
    char *req = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&req, &len);
    fprintf(f, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", method, path);
    if (token)
        fprintf(f, "Authorization: Bearer %s\r\n", token);
    fprintf(f, "Content-Length: %zu\r\n\r\n%s", body ? strlen(body) : 0, body ? body : "");
    fclose(f);
    int status = d->mhost[0] ? harness_exchange_at(d->mhost, d->mport, req, buf, sizeof buf)
                             : harness_exchange(d->mport, req, buf, sizeof buf);
    free(req);
    if (out) {
        const char *b = strstr(buf, "\r\n\r\n");
        *out = b ? json_loads(b + 4, 0, NULL) : NULL;
    }
    return status;
}

/* Both nodes' answers together; each call's own status requests are taken out by the caller:
 * two more per call. */
static long long nodes_total(const struct dist *d)
{
    return harness_node_total(d->nports[0]) + harness_node_total(d->nports[1]);
}

static int active_workers(const struct dist *d)
{
    json_t *j;
    if (api(d, "GET", "/api/v1/workers", NULL, d->token[0] ? d->token : NULL, &j) != 200)
        return -1;
    int n = 0;
    json_t *w;
    size_t i;
    json_array_foreach(json_object_get(j, "workers"), i, w)
        n += strcmp(json_string_value(json_object_get(w, "state")), "active") == 0;
    json_decref(j);
    return n;
}

static int setup_n(void **state, int workers, const char *token)
{
    struct dist *d = calloc(1, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "/tmp/herd-dist-XXXXXX");
    if (!mkdtemp(d->dir))
        return -1;
    snprintf(d->db, sizeof d->db, "%s/herd.db", d->dir);
    if (token)
        snprintf(d->token, sizeof d->token, "%s", token);
    for (int i = 0; i < 2; i++) {
        d->nports[i] = harness_free_port();
        char port[16], id[16];
        snprintf(port, sizeof port, "%d", d->nports[i]);
        snprintf(id, sizeof id, "api.%d", i + 1);
        char *argv[] = {(char *)harness_herd_bin(), "node", "--port", port, "--id", id,
                        "--log-level", "warn", NULL};
        d->nodes[i] = harness_spawn(argv, NULL, NULL);
    }
    d->mport = harness_free_port();
    snprintf(d->murl, sizeof d->murl, "http://127.0.0.1:%d", d->mport);
    start_master(d, NULL);
    static const char *const ids[] = {"w1", "w2", "w3", "w4"};
    static const char *const regions[] = {"eu", "us", "eu", "us"};
    *state = d;
    for (int i = 0; i < 2; i++)
        if (!harness_wait_http(d->nports[i], "/health", 10000))
            return -1;
    if (!harness_wait_until(harness_port_open(d->mport), 10000))
        return -1;
    for (int i = 0; i < workers; i++)
        start_worker(d, i, ids[i], regions[i]);
    if (!harness_wait_until(active_workers(d) == workers, 15000))
        return -1;
    return 0;
}

static int setup(void **state)
{
    return setup_n(state, 3, NULL);
}

static int teardown(void **state)
{
    struct dist *d = *state;
    if (!d)
        return 0;
    if (getenv("HERD_TEST_SHOW_LOGS")) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "cat %s/*.log >&2", d->dir);
        if (system(cmd) < 0) {
        }
    }
    harness_kill_all();
    if (d->netns_base)
        netns_group_down(d->netns_base, NETNS_REGIONS);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", d->dir);
    if (system(cmd) < 0) {
    }
    free(d);
    return 0;
}

/* Creates and starts a task; returns its id (static) or NULL. */
static const char *run_task(const struct dist *d, const char *config, const char *start_body)
{
    static char id[64];
    json_t *j;
    char body[2048];
    snprintf(body, sizeof body, "{\"config\": %s}", config);
    const char *tok = d->token[0] ? d->token : NULL;
    if (api(d, "POST", "/api/v1/tasks", body, tok, &j) != 201) {
        json_decref(j);
        return NULL;
    }
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(j, "task_id")));
    json_decref(j);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/tasks/%s/start", id);
    int status = api(d, "POST", path, start_body, tok, &j);
    json_decref(j);
    return status == 200 ? id : NULL;
}

static json_t *task_get(const struct dist *d, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/tasks/%s", id);
    json_t *j = NULL;
    if (api(d, "GET", path, NULL, d->token[0] ? d->token : NULL, &j) != 200) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static const char *task_state(const struct dist *d, const char *id, char *buf, size_t size)
{
    json_t *j = task_get(d, id);
    snprintf(buf, size, "%s", j ? json_string_value(json_object_get(j, "state")) : "?");
    json_decref(j);
    return buf;
}

static bool task_ended(const struct dist *d, const char *id)
{
    char s[32];
    task_state(d, id, s, sizeof s);
    return strcmp(s, "running") != 0 && strcmp(s, "pending") != 0 && strcmp(s, "?") != 0;
}

static long long totals(const json_t *task, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(task, "totals"), key));
}

/* The task's merged requests so far, or -1. */
static long long task_requests(const struct dist *d, const char *id)
{
    json_t *t = task_get(d, id);
    long long n = t ? totals(t, "requests") : -1;
    json_decref(t);
    return n;
}

/* The requests a worker (its first part, id) has in the task so far. */
static long long worker_requests(const struct dist *d, const char *task, const char *wid)
{
    json_t *j = task_get(d, task);
    json_t *w = harness_json_find(json_object_get(j, "workers"), "id", wid);
    long long n = w ? json_integer_value(json_object_get(w, "requests")) : -1;
    json_decref(j);
    return n;
}

static char config[512];

static const char *config_of(const struct dist *d, long long requests, const char *extra)
{
    snprintf(config, sizeof config,
             "{\"urls\": [\"http://127.0.0.1:%d/echo\", \"http://127.0.0.1:%d/echo\"], "
             "\"requests\": %lld, \"concurrency\": 3%s%s}",
             d->nports[0], d->nports[1], requests, extra ? ", " : "", extra ? extra : "");
    return config;
}

/* The task's report in format (md, html, junit) into out; returns the HTTP status. */
static int report_of(const struct dist *d, const char *id, const char *format, char *out,
                     size_t size)
{
    char req[512], auth[128] = "";
    if (d->token[0])
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", d->token);
    snprintf(req, sizeof req, "GET /api/v1/tasks/%s/report?format=%s HTTP/1.1\r\nHost: 127.0.0.1"
             "\r\n%sConnection: close\r\n\r\n", id, format, auth);
    return d->mhost[0] ? harness_exchange_at(d->mhost, d->mport, req, out, size)
                       : harness_exchange(d->mport, req, out, size);
}

/* ---- tests ---- */

static void test_request_count_lands_exactly(void **state)
{
    struct dist *d = *state;
    long long before = nodes_total(d);
    const char *id = run_task(d, config_of(d, 901, NULL), NULL);
    assert_non_null(id);
    assert_true(harness_wait_until(task_ended(d, id), 60000));
    json_t *t = task_get(d, id);
    assert_string_equal(json_string_value(json_object_get(t, "state")), "completed");
    assert_string_equal(json_string_value(json_object_get(t, "verdict")), "pass");
    assert_int_equal(totals(t, "requests"), 901);
    assert_int_equal(totals(t, "ok"), 901);
    /* every worker did its third, exactly (901 = 301 + 300 + 300) */
    json_t *ws = json_object_get(t, "workers");
    assert_int_equal(json_array_size(ws), 3);
    long long sum = 0;
    for (size_t i = 0; i < 3; i++) {
        long long n = json_integer_value(json_object_get(json_array_get(ws, i), "requests"));
        assert_true(n == 300 || n == 301);
        sum += n;
    }
    assert_int_equal(sum, 901);
    /* the nodes counted exactly what the master merged (2: the first status calls) */
    assert_int_equal(nodes_total(d) - before - 2, 901);
    json_decref(t);
    /* the report renders in every format */
    const char *formats[] = {"json", "md", "html", "junit"};
    for (int i = 0; i < 4; i++) {
        char path[160];
        snprintf(path, sizeof path, "/api/v1/tasks/%s/report?format=%s", id, formats[i]);
        char out[64];
        (void)out;
        json_t *j = NULL;
        int status = api(d, "GET", path, NULL, NULL, strcmp(formats[i], "json") == 0 ? &j : NULL);
        assert_int_equal(status, 200);
        if (j)
            assert_string_equal(json_string_value(json_object_get(j, "schema")), "herd.run/1");
        json_decref(j);
    }
}

/* The parts' worker ids of a task, sorted, comma-joined. */
static void task_workers(const struct dist *d, const char *id, char *out, size_t size)
{
    json_t *t = task_get(d, id);
    out[0] = '\0';
    json_t *a;
    size_t i;
    char ids[8][16] = {{0}};
    size_t n = 0;
    json_array_foreach(json_object_get(t, "assignments"), i, a)
        if (n < 8)
            snprintf(ids[n++], 16, "%s", json_string_value(json_object_get(a, "worker_id")));
    qsort(ids, n, 16, (int (*)(const void *, const void *))strcmp);
    for (size_t k = 0; k < n; k++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s", k ? "," : "", ids[k]);
    json_decref(t);
}

static void test_region_and_id_selection(void **state)
{
    struct dist *d = *state;
    char ws[128];
    long long before = nodes_total(d);
    const char *id = run_task(d, config_of(d, 200, NULL), "{\"slave_region\": \"eu\"}");
    assert_non_null(id);
    assert_true(harness_wait_until(task_ended(d, id), 60000));
    task_workers(d, id, ws, sizeof ws);
    assert_string_equal(ws, "w1,w3");
    json_t *t = task_get(d, id);
    assert_int_equal(totals(t, "requests"), 200);
    json_t *regions = json_object_get(t, "regions");
    assert_int_equal(json_array_size(regions), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(regions, 0), "region")),
                        "eu");
    json_decref(t);
    id = run_task(d, config_of(d, 100, NULL), "{\"worker_ids\": [\"w2\"]}");
    assert_non_null(id);
    assert_true(harness_wait_until(task_ended(d, id), 60000));
    task_workers(d, id, ws, sizeof ws);
    assert_string_equal(ws, "w2");
    assert_int_equal(nodes_total(d) - before - 2, 300);
    /* a region without workers, an unknown id: refused, nothing runs */
    json_t *j;
    assert_int_equal(api(d, "POST", "/api/v1/tasks", "{\"config\": {\"url\": \"http://127.0.0.1:1/\", \"requests\": 5}}", NULL, &j), 201);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/tasks/%s/start", json_string_value(json_object_get(j, "task_id")));
    json_decref(j);
    assert_int_equal(api(d, "POST", path, "{\"region\": \"mars\"}", NULL, NULL), 409);
    assert_int_equal(api(d, "POST", path, "{\"slave_ids\": [\"nobody\"]}", NULL, NULL), 409);
    assert_int_equal(api(d, "POST", path, "{\"slave_ids\": \"w1\"}", NULL, NULL), 400);
}

/* Starts a task of 1200 requests at 300/s (its id into task), waits until the master has some
 * of w2's and sends w2 sig. Returns the nodes' count before the task. */
static long long start_then_signal_w2(struct dist *d, char task[64], int sig)
{
    long long before = nodes_total(d);
    const char *id = run_task(d, config_of(d, 1200, "\"rate\": 300"), NULL);
    assert_non_null(id);
    snprintf(task, 64, "%s", id);
    assert_true(harness_wait_until(worker_requests(d, task, "w2") > 0, 30000));
    kill(d->workers[1], sig);
    harness_wait(d->workers[1], 5000);
    return before;
}

/* As start_then_signal_w2 with SIGKILL. */
static long long start_then_kill_w2(struct dist *d, char task[64])
{
    return start_then_signal_w2(d, task, SIGKILL);
}

/* A worker stopped with SIGTERM mid-task (kubectl delete pod, a scale-down, a rollout) ends
 * its share early with an acknowledged final interval: its unfinished requests go to the
 * others, so the task still makes its 1200 requests, and the nodes served what the master
 * counted (the final interval was acknowledged: nothing is counted twice). */
static void test_worker_stopped_share_reassigned(void **state)
{
    struct dist *d = *state;
    char task[64];
    long long before = start_then_signal_w2(d, task, SIGTERM);
    assert_true(harness_wait_until(task_ended(d, task), 60000));
    json_t *t = task_get(d, task);
    const char *msg = json_string_value(json_object_get(t, "message"));
    printf("  %s: %s\n", json_string_value(json_object_get(t, "state")), msg ? msg : "");
    assert_string_equal(json_string_value(json_object_get(t, "state")), "completed");
    assert_int_equal(totals(t, "requests"), 1200);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "worker w2 stopped before the end of its share"));
    assert_non_null(strstr(msg, "reassigned"));
    /* a request w2 had in flight at its stop is counted (unanswered) and may or may not have
     * reached a node; nothing else differs */
    json_t *w2 = harness_json_find(json_object_get(t, "workers"), "id", "w2");
    long long unanswered = json_integer_value(json_object_get(w2, "failures")); /* in flight */
    long long served = nodes_total(d) - before - 2;
    printf("  the nodes served %lld (w2 had %lld in flight)\n", served, unanswered);
    assert_true(served <= 1200 && served >= 1200 - unanswered);
    json_decref(t);
}

static void test_worker_killed_share_reassigned(void **state)
{
    struct dist *d = *state;
    char task[64];
    long long before = start_then_kill_w2(d, task);
    assert_true(harness_wait_until(task_ended(d, task), 60000));
    json_t *t = task_get(d, task);
    assert_string_equal(json_string_value(json_object_get(t, "state")), "completed");
    /* the task's total is reached exactly once */
    assert_int_equal(totals(t, "requests"), 1200);
    const char *msg = json_string_value(json_object_get(t, "message"));
    assert_non_null(strstr(msg, "worker w2 lost"));
    assert_non_null(strstr(msg, "reassigned"));
    json_t *w2 = harness_json_find(json_object_get(t, "workers"), "id", "w2");
    assert_non_null(w2);
    assert_true(json_is_true(json_object_get(w2, "lost")));
    long long w2_counted = json_integer_value(json_object_get(w2, "requests"));
    size_t i, taken = 0;
    json_t *a;
    json_array_foreach(json_object_get(t, "assignments"), i, a)
        taken += strcmp(json_string_value(json_object_get(a, "reassigned_from")), "w2") == 0;
    assert_true(taken >= 1);
    /* the nodes got the task's requests, plus what w2 sent after its last acknowledged
     * interval (SIGKILL took that count with it), which is less than its unfinished share */
    long long served = nodes_total(d) - before - 2;
    assert_true(served >= 1200);
    assert_true(served - 1200 < 400 - w2_counted);
    /* the shares taken over are listed, but are not more workers, and their late start (the
     * loss was seen seconds in) is not the workers' start spread */
    size_t parts = 0;
    json_t *w;
    json_array_foreach(json_object_get(t, "workers"), i, w)
        if (strchr(json_string_value(json_object_get(w, "id")), '#')) {
            assert_non_null(json_string_value(json_object_get(w, "part_of")));
            parts++;
        }
    assert_int_equal(parts, taken);
    long long counted = 0;
    json_array_foreach(json_object_get(t, "regions"), i, w)
        counted += json_integer_value(json_object_get(w, "workers"));
    assert_int_equal(counted, 3);
    double spread = json_number_value(json_object_get(t, "start_spread_ms"));
    if (!(spread < 1000))
        fail_msg("start_spread_ms %.1f counts a reassigned share's start", spread);
    json_decref(t);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/tasks/%s/report?format=text", task);
    static char text[1 << 16];
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
             path);
    assert_int_equal(harness_exchange(d->mport, req, text, sizeof text), 200);
    assert_non_null(strstr(text, "Distributed task: 3 workers in 2 regions, started within"));
}

static void test_master_killed_and_restarted(void **state)
{
    struct dist *d = *state;
    long long before = nodes_total(d);
    const char *id = run_task(d, config_of(d, 1200, "\"rate\": 300"), NULL);
    assert_non_null(id);
    char task[64];
    snprintf(task, sizeof task, "%s", id);
    json_t *t;
    assert_true(harness_wait_until(task_requests(d, task) > 0, 30000));
    kill(d->master, SIGKILL);
    harness_wait(d->master, 5000);
    start_master(d, NULL);
    assert_true(harness_wait_until(harness_port_open(d->mport), 10000));
    assert_true(harness_wait_until(task_ended(d, task), 60000));
    t = task_get(d, task);
    assert_string_equal(json_string_value(json_object_get(t, "state")), "completed");
    /* nothing lost, nothing doubled: the nodes' count is the merged total, and that is N */
    assert_int_equal(totals(t, "requests"), 1200);
    assert_int_equal(nodes_total(d) - before - 2, 1200);
    json_decref(t);
}

static void test_worker_restarted_rejoins_once(void **state)
{
    struct dist *d = *state;
    char task[64];
    long long before = start_then_kill_w2(d, task);
    start_worker(d, 1, "w2", "us"); /* the same id, a new process */
    assert_true(harness_wait_until(task_ended(d, task), 60000));
    json_t *t = task_get(d, task);
    assert_string_equal(json_string_value(json_object_get(t, "state")), "completed");
    assert_int_equal(totals(t, "requests"), 1200);
    long long served = nodes_total(d) - before - 2;
    assert_true(served >= 1200 && served < 1200 + 400);
    json_decref(t);
    /* one worker w2, active again */
    json_t *j;
    assert_int_equal(api(d, "GET", "/api/v1/workers", NULL, NULL, &j), 200);
    size_t i, n = 0;
    json_t *w;
    json_array_foreach(json_object_get(j, "workers"), i, w)
        if (strcmp(json_string_value(json_object_get(w, "id")), "w2") == 0) {
            n++;
            assert_string_equal(json_string_value(json_object_get(w, "state")), "active");
        }
    assert_int_equal(n, 1);
    json_decref(j);
}

static int setup_token(void **state)
{
    return setup_n(state, 1, "s3cret-token");
}

static void test_token_matrix(void **state)
{
    struct dist *d = *state;
    const char *body = "{\"config\": {\"url\": \"http://127.0.0.1:1/\", \"requests\": 5}}";
    /* changes: no token, a wrong one -> 401; the right one -> 201 */
    assert_int_equal(api(d, "POST", "/api/v1/tasks", body, NULL, NULL), 401);
    assert_int_equal(api(d, "POST", "/api/v1/tasks", body, "wrong", NULL), 401);
    json_t *j;
    assert_int_equal(api(d, "POST", "/api/v1/tasks", body, d->token, &j), 201);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/tasks/%s/cancel", json_string_value(json_object_get(j, "task_id")));
    json_decref(j);
    assert_int_equal(api(d, "POST", path, NULL, "wrong", NULL), 401);
    assert_int_equal(api(d, "POST", path, NULL, d->token, NULL), 200);
    /* worker calls: 401 without the token */
    const char *reg = "{\"id\": \"intruder\", \"cores\": 1}";
    assert_int_equal(api(d, "POST", "/api/v1/workers/register", reg, NULL, NULL), 401);
    assert_int_equal(api(d, "POST", "/api/v1/workers/register", reg, "wrong", NULL), 401);
    assert_int_equal(api(d, "POST", "/api/v1/workers/w1/heartbeat", "{\"session\": \"s-x\"}", NULL, NULL), 401);
    assert_int_equal(api(d, "POST", "/api/v1/workers/w1/intervals", "{}", NULL, NULL), 401);
    assert_int_equal(api(d, "GET", "/api/v1/workers/w1/assignment?session=s-x&wait=0", NULL, NULL, NULL), 401);
    /* reads from loopback need no token */
    assert_int_equal(api(d, "GET", "/api/v1/tasks", NULL, NULL, NULL), 200);
    assert_int_equal(api(d, "GET", "/api/v1/workers", NULL, NULL, NULL), 200);
    assert_int_equal(api(d, "GET", "/metrics", NULL, NULL, NULL), 200);
    /* the worker with the token registered (setup waited for it); one with a wrong token
     * is refused and exits 2 */
    char *argv[] = {(char *)harness_herd_bin(), "worker", "--master", d->murl, "--id", "bad",
                    "--token", "wrong", NULL};
    int rc = harness_herd(argv + 1, 20000, NULL, NULL);
    assert_int_equal(rc, 2);
    /* a master on a non-loopback address without a token does not start */
    char listen[64];
    snprintf(listen, sizeof listen, "0.0.0.0:%d", harness_free_port());
    char *margs[] = {"master", "--listen", listen, "--db", d->db, NULL};
    char *err = NULL;
    assert_int_equal(harness_herd(margs, 20000, NULL, &err), 2);
    assert_non_null(strstr(err, "--token"));
    free(err);
}

/* The worker's entry in GET /api/v1/workers when it is active, else NULL (caller decrefs
 * *list). */
static json_t *active_worker(const struct dist *d, const char *id, json_t **list)
{
    *list = NULL;
    if (api(d, "GET", "/api/v1/workers", NULL, NULL, list) != 200)
        return NULL;
    json_t *w = harness_json_find(json_object_get(*list, "workers"), "id", id);
    const char *st = json_string_value(json_object_get(w, "state"));
    return st && strcmp(st, "active") == 0 ? w : NULL;
}

/* herd master and herd worker configured by the environment, as manifests and unit files do
 * (HERD_TOKEN, HERD_MASTER, HERD_ID, HERD_REGION, HERD_CORES): what the master then requires
 * and what the worker registers as; flags override the variables; a bad value gets the flag's
 * message with the variable's name, and exit 2. */
static void test_settings_from_environment(void **state)
{
    struct dist *d = *state;
    d->mport = harness_free_port();
    snprintf(d->db, sizeof d->db, "%s/herd.db", d->dir);
    char listen[64], log[160], murl[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", d->mport);
    snprintf(log, sizeof log, "%s/master.log", d->dir);
    snprintf(murl, sizeof murl, "HERD_MASTER=127.0.0.1:%d", d->mport); /* the seed's form */
    char *margv[] = {(char *)harness_herd_bin(), "master", "--listen", listen, "--db", d->db, NULL};
    char *menv[] = {"HERD_TOKEN=env-token", NULL};
    d->master = harness_spawn_io(margv, menv, log, log);
    assert_true(harness_wait_until(harness_port_open(d->mport), 10000));
    const char *body = "{\"config\": {\"url\": \"http://127.0.0.1:1/\", \"requests\": 5}}";
    assert_int_equal(api(d, "POST", "/api/v1/tasks", body, NULL, NULL), 401);
    assert_int_equal(api(d, "POST", "/api/v1/tasks", body, "env-token", NULL), 201);
    /* a worker given everything by the environment */
    char *wargv[] = {(char *)harness_herd_bin(), "worker", NULL};
    char *wenv[] = {murl, "HERD_TOKEN=env-token", "HERD_ID=env-w1", "HERD_REGION=ap",
                    "HERD_CORES=3", NULL};
    harness_spawn(wargv, wenv, NULL);
    json_t *list = NULL, *w = NULL;
    assert_true(harness_wait_until((json_decref(list), w = active_worker(d, "env-w1", &list)),
                                   15000));
    assert_string_equal(json_string_value(json_object_get(w, "region")), "ap");
    assert_int_equal(json_integer_value(json_object_get(w, "cores")), 3);
    json_decref(list);
    /* flags win over the variables */
    char *fargv[] = {(char *)harness_herd_bin(), "worker", "--id", "flag-w2", "--region", "eu",
                     "--cores", "2", NULL};
    char *fenv[] = {murl, "HERD_TOKEN=env-token", "HERD_ID=env-w2", "HERD_REGION=ap",
                    "HERD_CORES=5", NULL};
    harness_spawn(fargv, fenv, NULL);
    list = w = NULL;
    assert_true(harness_wait_until((json_decref(list), w = active_worker(d, "flag-w2", &list)),
                                   15000));
    assert_string_equal(json_string_value(json_object_get(w, "region")), "eu");
    assert_int_equal(json_integer_value(json_object_get(w, "cores")), 2);
    assert_null(harness_json_find(json_object_get(list, "workers"), "id", "env-w2"));
    json_decref(list);
    /* without an id, a worker that is process 1 (a container's) is its host name; as root,
     * a PID namespace of its own makes it so */
    if (geteuid() == 0) {
        char host[64] = "";
        assert_int_equal(gethostname(host, sizeof host), 0);
        char *pargv[] = {"/usr/bin/unshare", "--pid", "--fork", "--kill-child",
                         (char *)harness_herd_bin(), "worker", NULL};
        char *penv[] = {murl, "HERD_TOKEN=env-token", NULL};
        harness_spawn(pargv, penv, NULL);
        list = w = NULL;
        assert_true(harness_wait_until((json_decref(list), w = active_worker(d, host, &list)),
                                       15000));
        json_decref(list);
    }
    /* bad values: exit 2, the message names the variable (or the flag that overrode it) */
    static const struct {
        const char *cmd, *var, *flag, *value, *message;
    } bad[] = {
        {"worker", "HERD_MASTER=ftp://x/", NULL, NULL,
         "herd worker: HERD_MASTER URL 'ftp://x/': expected it to start with http://"},
        {"worker", "HERD_ID=a#b", NULL, NULL,
         "herd worker: HERD_ID 'a#b': expected 1 to 56 printable characters without spaces or '#'"},
        {"worker", "HERD_REGION=a b", NULL, NULL,
         "herd worker: HERD_REGION 'a b': expected up to 63 printable characters"},
        {"worker", "HERD_CORES=0", NULL, NULL,
         "herd worker: HERD_CORES '0': expected a whole number from 1 to 65536"},
        {"worker", "HERD_CORES=2", "--cores", "many",
         "herd worker: --cores 'many': expected a whole number from 1 to 65536"},
        {"worker", "HERD_TOKEN=a b", NULL, NULL,
         "herd worker: HERD_TOKEN: expected 1 to 255 characters without blanks"},
        {"master", "HERD_TOKEN=a\tb", NULL, NULL,
         "herd master: HERD_TOKEN: expected 1 to 255 characters without blanks"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *args[8] = {(char *)bad[i].cmd};
        int n = 1;
        if (strcmp(bad[i].cmd, "master") == 0) {
            args[n++] = "--listen";
            args[n++] = "127.0.0.1:0";
            args[n++] = "--db";
            args[n++] = d->db;
        }
        if (bad[i].flag) {
            args[n++] = (char *)bad[i].flag;
            args[n++] = (char *)bad[i].value;
        }
        char *env[] = {strcmp(bad[i].cmd, "worker") == 0 && strncmp(bad[i].var, "HERD_MASTER", 11)
                           ? murl : (char *)bad[i].var,
                       (char *)bad[i].var, NULL};
        char *err = NULL;
        int rc = harness_herd_env(args, env, 10000, NULL, &err);
        if (rc != 2 || !err || !strstr(err, bad[i].message))
            fail_msg("%s with %s: exit %d, stderr '%s'; expected 2 and '%s'", bad[i].cmd,
                     bad[i].var, rc, err ? err : "", bad[i].message);
        free(err);
    }
    /* a master on a non-loopback address takes its token from HERD_TOKEN: it says so */
    char *err = NULL, *out = NULL;
    char *wide[] = {"master", "--listen", "0.0.0.0:0", "--db", "/nonexistent/x/herd.db", NULL};
    assert_int_equal(harness_herd_env(wide, menv, 10000, &out, &err), 2);
    assert_null(strstr(err, "not loopback")); /* it got as far as the store */
    assert_non_null(strstr(err, "/nonexistent/x/herd.db"));
    free(err);
    free(out);
}

static void test_bench_master_exit_codes(void **state)
{
    struct dist *d = *state;
    char url[96], bad[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", d->nports[0]);
    snprintf(bad, sizeof bad, "http://127.0.0.1:%d/status/500", d->nports[1]);
    char *out = NULL, *err = NULL;
    char *ok[] = {"bench", "--master", d->murl, "-n", "300", "-c", "3", "--threshold",
                  "errors<1%", url, NULL};
    assert_int_equal(harness_herd(ok, 60000, &out, &err), 0);
    assert_non_null(strstr(out, "300 scheduled = ok 300"));
    free(out);
    free(err);
    out = err = NULL;
    char *fail[] = {"bench", "--master", d->murl, "--region", "eu", "-n", "200", "-c", "2",
                    "--threshold", "errors<1%", bad, NULL};
    assert_int_equal(harness_herd(fail, 60000, &out, &err), 1);
    assert_non_null(strstr(err, "threshold failed: errors<1%"));
    free(out);
    free(err);
    out = err = NULL;
    /* bad input: the master refuses the task, exit 2 */
    char *usage[] = {"bench", "--master", d->murl, "-n", "10", "-d", "2s", url, NULL};
    assert_int_equal(harness_herd(usage, 30000, &out, &err), 2);
    free(out);
    free(err);
    out = err = NULL;
    /* a selection the master cannot start (no worker in the region, an unknown id) is refused
     * like a bad flag, and the task created for it is not left pending */
    char *region[] = {"bench", "--master", d->murl, "--region", "mars", "-n", "10", url, NULL};
    assert_int_equal(harness_herd(region, 30000, &out, &err), 2);
    assert_non_null(strstr(err, "409 no active worker in region 'mars'"));
    free(out);
    free(err);
    out = err = NULL;
    char *ids[] = {"bench", "--master", d->murl, "--workers", "w1,ghost", "-n", "10", url, NULL};
    assert_int_equal(harness_herd(ids, 30000, &out, &err), 2);
    assert_non_null(strstr(err, "ghost"));
    free(out);
    free(err);
    json_t *list = NULL, *t;
    size_t i, cancelled = 0;
    assert_int_equal(api(d, "GET", "/api/v1/tasks", NULL, NULL, &list), 200);
    json_array_foreach(json_object_get(list, "tasks"), i, t) {
        const char *st = json_string_value(json_object_get(t, "state"));
        if (strcmp(st, "pending") == 0)
            fail_msg("task %s left pending", json_string_value(json_object_get(t, "task_id")));
        cancelled += strcmp(st, "cancelled") == 0;
    }
    assert_int_equal(cancelled, 2);
    json_decref(list);
}

static void test_bad_bodies_400(void **state)
{
    struct dist *d = *state;
    json_t *j = NULL;
    const struct {
        const char *body, *needle;
    } bad[] = {
        {"{", "body: invalid JSON"},
        {"[]", "body: expected a JSON object"},
        {"{\"config\": {}, \"what\": 1}", "what"},
        {"{\"config\": {\"url\": \"http://127.0.0.1:1/\", \"concurrency\": \"many\"}}", "concurrency"},
        {"{\"config_file\": \"url: http://127.0.0.1:1/\\nrequests: -3\\n\"}", "requests"},
        {"{\"config\": {\"requests\": 5}}", "URL"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(api(d, "POST", "/api/v1/tasks", bad[i].body, NULL, &j), 400);
        const char *msg = json_string_value(json_object_get(j, "error"));
        assert_non_null(msg);
        if (!strcasestr(msg, bad[i].needle))
            fail_msg("body %s: message '%s' does not name '%s'", bad[i].body, msg, bad[i].needle);
        json_decref(j);
    }
    assert_int_equal(api(d, "GET", "/api/v1/tasks/t-0000000000000000", NULL, NULL, NULL), 404);
    assert_int_equal(api(d, "POST", "/api/v1/tasks/t-0000000000000000/start", NULL, NULL, NULL), 404);
    assert_int_equal(api(d, "POST", "/api/v1/workers/register", "{\"id\": \"a b\"}", NULL, NULL), 400);
    assert_int_equal(api(d, "GET", "/api/details?status=maybe", NULL, NULL, NULL), 400);
    /* a conflicting interval: the same (task, worker, seq) with another body is 409 */
    assert_int_equal(api(d, "POST", "/api/v1/workers/register", "{\"id\": \"probe\", \"cores\": 1}", NULL, &j), 200);
    char session[64];
    snprintf(session, sizeof session, "%s", json_string_value(json_object_get(j, "session")));
    json_decref(j);
    assert_int_equal(api(d, "POST", "/api/v1/tasks", "{\"config\": {\"url\": \"http://127.0.0.1:1/\", \"requests\": 5}}", NULL, &j), 201);
    char task[64], path[160];
    snprintf(task, sizeof task, "%s", json_string_value(json_object_get(j, "task_id")));
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/tasks/%s/start", task);
    assert_int_equal(api(d, "POST", path, "{\"worker_ids\": [\"probe\"]}", NULL, NULL), 200);
    assert_int_equal(api(d, "POST", path, NULL, NULL, NULL), 409); /* started already */
    struct dist_interval iv;
    assert_int_equal(dist_interval_init(&iv), 0);
    snprintf(iv.task_id, sizeof iv.task_id, "%s", task);
    snprintf(iv.worker_id, sizeof iv.worker_id, "probe");
    snprintf(iv.session, sizeof iv.session, "%s", session);
    iv.second_us = (uint64_t)time(NULL) * 1000000ULL + 5000000ULL;
    iv.counters.requests = iv.counters.by_class[COUNTER_OK] = 1;
    json_t *ivj = dist_interval_to_json(&iv);
    char *first = json_dumps(ivj, JSON_COMPACT);
    json_object_set_new(json_object_get(ivj, "counters"), "ok", json_integer(0));
    json_object_set_new(json_object_get(ivj, "counters"), "connect", json_integer(1));
    char *second = json_dumps(ivj, JSON_COMPACT);
    json_decref(ivj);
    dist_interval_free(&iv);
    assert_int_equal(api(d, "POST", "/api/v1/workers/probe/intervals", first, NULL, &j), 200);
    json_decref(j);
    assert_int_equal(api(d, "POST", "/api/v1/workers/probe/intervals", first, NULL, NULL), 200);
    assert_int_equal(api(d, "POST", "/api/v1/workers/probe/intervals", second, NULL, NULL), 409);
    assert_int_equal(api(d, "POST", "/api/v1/workers/probe/intervals", "{\"seq\": 1}", NULL, NULL), 400);
    free(first);
    free(second);
    /* the master still serves */
    assert_int_equal(api(d, "GET", "/api/v1/tasks", NULL, NULL, NULL), 200);
}

/* GET /api/details with a query; the answer's total, and its details array into *list (a new
 * reference, may be NULL). */
static long long details(const struct dist *d, const char *query, json_t **list)
{
    char path[256];
    snprintf(path, sizeof path, "/api/details?%s", query);
    json_t *j = NULL;
    if (list)
        *list = NULL;
    if (api(d, "GET", path, NULL, NULL, &j) != 200) {
        json_decref(j);
        return -1;
    }
    long long total = json_integer_value(json_object_get(j, "total"));
    if (list)
        *list = json_incref(json_object_get(j, "details"));
    json_decref(j);
    return total;
}

/* Half the requests go to a path that fails: the details list every failure (counted by the
 * failing node itself) and every success of this small task, page by offset and limit, and
 * filter by worker. */
static void test_details_failures_and_sample(void **state)
{
    struct dist *d = *state;
    long long ok_before = harness_node_total(d->nports[0]);
    long long bad_before = harness_node_total(d->nports[1]);
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"urls\": [\"http://127.0.0.1:%d/echo\", \"http://127.0.0.1:%d/status/500\"], "
             "\"requests\": 600, \"concurrency\": 3}", d->nports[0], d->nports[1]);
    const char *id = run_task(d, cfg, NULL);
    assert_non_null(id);
    char task[64];
    snprintf(task, sizeof task, "%s", id);
    assert_true(harness_wait_until(task_ended(d, task), 60000));
    /* the nodes' own counts (1 each: the first status call) */
    long long failed = harness_node_total(d->nports[1]) - bad_before - 1;
    long long succeeded = harness_node_total(d->nports[0]) - ok_before - 1;
    assert_int_equal(failed + succeeded, 600);
    assert_true(failed > 0 && succeeded > 0);
    json_t *t = task_get(d, task);
    int64_t started = json_integer_value(json_object_get(t, "started_us"));
    int64_t ended = json_integer_value(json_object_get(t, "ended_us"));
    json_decref(t);
    char q[256];
    snprintf(q, sizeof q, "task_id=%s&status=failed&limit=10000", task);
    json_t *list;
    assert_int_equal(details(d, q, &list), failed);
    assert_int_equal((long long)json_array_size(list), failed);
    json_t *x;
    size_t i;
    json_array_foreach(list, i, x) {
        assert_false(json_is_true(json_object_get(x, "ok")));
        assert_int_equal(json_integer_value(json_object_get(x, "status")), 500);
        assert_string_equal(json_string_value(json_object_get(x, "class")), "5xx");
        assert_string_equal(json_string_value(json_object_get(x, "node")), "api.2");
        assert_string_equal(json_string_value(json_object_get(x, "task_id")), task);
        int64_t at = json_integer_value(json_object_get(x, "at_us"));
        /* absolute times, within the task's life (a second of slack for the clocks) */
        if (at < started - 1000000 || at > ended + 1000000)
            fail_msg("at_us %lld outside the task [%lld, %lld]", (long long)at,
                     (long long)started, (long long)ended);
        assert_true(json_number_value(json_object_get(x, "latency_ms")) >= 0);
    }
    json_decref(list);
    /* successes: a sample of up to 1000 per part; this task has fewer, so all of them */
    snprintf(q, sizeof q, "task_id=%s&status=success&limit=1", task);
    assert_int_equal(details(d, q, &list), succeeded);
    assert_int_equal(json_array_size(list), 1);
    assert_true(json_is_true(json_object_get(json_array_get(list, 0), "ok")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "node")), "api.1");
    json_decref(list);
    /* paging: two pages are disjoint and ordered, the total stays */
    json_t *p1, *p2, *all;
    snprintf(q, sizeof q, "task_id=%s&status=all&offset=0&limit=50", task);
    assert_int_equal(details(d, q, &p1), 600);
    snprintf(q, sizeof q, "task_id=%s&status=all&offset=50&limit=50", task);
    assert_int_equal(details(d, q, &p2), 600);
    snprintf(q, sizeof q, "task_id=%s&offset=0&limit=100", task);
    assert_int_equal(details(d, q, &all), 600);
    assert_int_equal(json_array_size(p1), 50);
    assert_int_equal(json_array_size(p2), 50);
    for (i = 0; i < 100; i++) {
        json_t *want = json_array_get(all, i);
        json_t *got = json_array_get(i < 50 ? p1 : p2, i % 50);
        assert_int_equal(json_integer_value(json_object_get(want, "id")),
                         json_integer_value(json_object_get(got, "id")));
    }
    json_decref(p1);
    json_decref(p2);
    json_decref(all);
    snprintf(q, sizeof q, "task_id=%s&offset=600", task);
    assert_int_equal(details(d, q, &list), 600);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    /* slave_id filters; the workers' totals add up */
    long long sum = 0;
    const char *ids[] = {"w1", "w2", "w3"};
    for (int k = 0; k < 3; k++) {
        snprintf(q, sizeof q, "slave_id=%s&task_id=%s&limit=10000", ids[k], task);
        long long n = details(d, q, &list);
        assert_true(n > 0);
        json_array_foreach(list, i, x)
            assert_string_equal(json_string_value(json_object_get(x, "slave_id")), ids[k]);
        json_decref(list);
        sum += n;
    }
    assert_int_equal(sum, 600);
    assert_int_equal(details(d, "slave_id=nobody", NULL), 0);
}

/* ---- a hostile peer ---- */

static int setup_bare(void **state)
{
    return setup_n(state, 0, NULL);
}

/* Registers worker id; returns the status (the session into session when given). */
static int reg_probe(const struct dist *d, const char *id, char *session, size_t size)
{
    char body[128];
    snprintf(body, sizeof body, "{\"id\": \"%s\", \"cores\": 1}", id);
    json_t *j = NULL;
    int status = api(d, "POST", "/api/v1/workers/register", body, NULL, &j);
    if (session && status == 200)
        snprintf(session, size, "%s", json_string_value(json_object_get(j, "session")));
    json_decref(j);
    return status;
}

/* Workers the master has declared lost. */
static int lost_workers(const struct dist *d)
{
    json_t *j = NULL;
    int n = 0;
    if (api(d, "GET", "/api/v1/workers", NULL, NULL, &j) == 200) {
        json_t *w;
        size_t i;
        json_array_foreach(json_object_get(j, "workers"), i, w)
            n += strcmp(json_string_value(json_object_get(w, "state")), "lost") == 0;
    }
    json_decref(j);
    return n;
}

/* Registers id in a full table: once refused (503), again when a worker is lost. */
static int reg_when_room(const struct dist *d, const char *id, char *session, size_t size)
{
    int status = reg_probe(d, id, session, size);
    if (status != 503)
        return status;
    if (!harness_wait_until(lost_workers(d) > 0, 10000))
        return -1;
    return reg_probe(d, id, session, size);
}

static int workers_known(const struct dist *d)
{
    json_t *j = NULL;
    int n = api(d, "GET", "/api/v1/workers", NULL, NULL, &j) == 200
                ? (int)json_array_size(json_object_get(j, "workers")) : -1;
    json_decref(j);
    return n;
}

/* A worker that registers id after id: the table holds --max-workers; a new id beyond takes a
 * lost worker's place, and is refused (503) while every one is alive. Many long-polls of one
 * worker hold one at a time. A flood of details stays within the bound per task and worker. */
static void test_hostile_worker_bounded(void **state)
{
    struct dist *d = *state;
    kill(d->master, SIGKILL);
    harness_wait(d->master, 5000);
    const char *extra[] = {"--max-workers", "8", NULL};
    start_master(d, extra);
    assert_true(harness_wait_until(harness_port_open(d->mport), 10000));
    char id[32];
    for (int i = 0; i < 8; i++) {
        snprintf(id, sizeof id, "flood-%d", i);
        assert_int_equal(reg_probe(d, id, NULL, 0), 200);
    }
    assert_int_equal(reg_probe(d, "flood-8", NULL, 0), 503);
    assert_int_equal(workers_known(d), 8);
    /* once they are lost (1.5 s of silence), new ids take their places */
    assert_true(harness_wait_until(lost_workers(d) == 8, 10000));
    for (int i = 8; i < 40; i++) {
        snprintf(id, sizeof id, "flood-%d", i);
        assert_int_equal(reg_when_room(d, id, NULL, 0), 200); /* the last 8 may be alive */
        assert_true(workers_known(d) <= 8);
    }
    /* many long-polls of one worker: each new one answers the one before */
    char session[64];
    assert_int_equal(reg_when_room(d, "poller", session, sizeof session), 200);
    char req[256];
    snprintf(req, sizeof req, "GET /api/v1/workers/poller/assignment?session=%s&wait=30s "
             "HTTP/1.1\r\nHost: t\r\n\r\n", session);
    int fds[20];
    for (int i = 0; i < 20; i++) {
        fds[i] = harness_connect(d->mport, 5000);
        assert_true(fds[i] >= 0);
        assert_int_equal(harness_send(fds[i], req, strlen(req)), 0);
    }
    static char answer[4096];
    for (int i = 0; i < 19; i++) {
        size_t n = harness_read_responses(fds[i], 1, answer, sizeof answer);
        assert_true(n > 0);
        assert_non_null(strstr(answer, "\"idle\""));
    }
    for (int i = 0; i < 20; i++)
        close(fds[i]);
    /* details: a flood from a worker with a part is kept within the bound (11000 rows) */
    assert_int_equal(reg_when_room(d, "flooder", session, sizeof session), 200);
    const char *task = run_task(d, "{\"url\": \"http://127.0.0.1:1/\", \"requests\": 5}",
                                "{\"worker_ids\": [\"flooder\"]}");
    assert_non_null(task);
    char tid[64];
    snprintf(tid, sizeof tid, "%s", task);
    struct buf_text {
        char *p;
        size_t len;
    } b = {0};
    FILE *f = open_memstream(&b.p, &b.len);
    fprintf(f, "{\"task_id\": \"%s\", \"details\": [", tid);
    for (int i = 0; i < 10000; i++)
        fprintf(f, "%s{\"at_us\": %d, \"ok\": false, \"status\": 500, \"class\": \"5xx\", "
                "\"latency_us\": 1}", i ? "," : "", i);
    fprintf(f, "]}");
    fclose(f);
    for (int i = 0; i < 3; i++) {
        json_t *j = NULL;
        assert_int_equal(api(d, "POST", "/api/v1/workers/flooder/details", b.p, NULL, &j), 200);
        json_decref(j);
    }
    free(b.p);
    char q[160];
    snprintf(q, sizeof q, "task_id=%s&status=failed", tid);
    json_t *list;
    assert_int_equal(details(d, q, &list), 11000);
    json_decref(list);
    /* a worker with no part in a task gives it no details */
    assert_int_equal(api(d, "POST", "/api/v1/workers/poller/details", "{\"task_id\": \"x\", \"details\": []}", NULL, NULL), 404);
    snprintf(q, sizeof q, "{\"task_id\": \"%s\", \"details\": []}", tid);
    assert_int_equal(api(d, "POST", "/api/v1/workers/poller/details", q, NULL, NULL), 400);
    assert_int_equal(api(d, "GET", "/api/v1/tasks", NULL, NULL, NULL), 200);
}

/* A fake master: answers every request with the same bytes (or never, when answer is NULL),
 * counting the requests it read. */
struct fake_master {
    int fd, port;
    const char *answer;
    int requests;
    atomic_bool stop;
    pthread_mutex_t lock;
};

static void *fake_master_main(void *arg)
{
    struct fake_master *fm = arg;
    int held[64], nheld = 0;
    while (!atomic_load(&fm->stop)) {
        struct timeval tv = {0, 100000};
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(fm->fd, &rd);
        if (select(fm->fd + 1, &rd, NULL, NULL, &tv) <= 0)
            continue;
        int c = accept(fm->fd, NULL, NULL);
        if (c < 0)
            continue;
        char buf[65536];
        struct timeval rt = {2, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof rt);
        ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n > 0) {
            pthread_mutex_lock(&fm->lock);
            fm->requests++;
            pthread_mutex_unlock(&fm->lock);
        }
        if (!fm->answer) { /* never answers: the connection stays open */
            if (nheld < 64)
                held[nheld++] = c;
            else
                close(c);
            continue;
        }
        char out[4096];
        int len = snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
                           "Connection: close\r\n\r\n%s", strlen(fm->answer), fm->answer);
        if (send(c, out, (size_t)len, MSG_NOSIGNAL) < 0) {
        }
        close(c);
    }
    for (int i = 0; i < nheld; i++)
        close(held[i]);
    return NULL;
}

static int fake_requests(struct fake_master *fm)
{
    pthread_mutex_lock(&fm->lock);
    int n = fm->requests;
    pthread_mutex_unlock(&fm->lock);
    return n;
}

/* A master that answers garbage, or a "run" it cannot mean, or nothing at all: the worker
 * neither crashes nor runs anything, and keeps trying. */
static void test_worker_against_a_hostile_master(void **state)
{
    (void)state;
    static const char *const answers[] = {
        "garbage, not JSON",
        "{\"id\": \"x\", \"session\": \"s-1\", \"now_us\": 1, \"state\": \"run\", \"task_id\": "
        "\"t\", \"assignment_id\": 1, \"seq_base\": 0, \"config\": {\"url\": "
        "\"http://127.0.0.1:1/\"}, \"share\": {\"connections\": 4294967296, \"requests\": -5}, "
        "\"start_at_us\": 0, \"acked\": 7}",
        "{\"session\": 42, \"state\": [], \"now_us\": \"soon\"}",
        NULL,
    };
    for (size_t k = 0; k < sizeof answers / sizeof answers[0]; k++) {
        struct fake_master fm = {.answer = answers[k]};
        pthread_mutex_init(&fm.lock, NULL);
        fm.fd = harness_listen(&fm.port);
        assert_true(fm.fd >= 0);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, fake_master_main, &fm), 0);
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%d", fm.port);
        char *argv[] = {(char *)harness_herd_bin(), "worker", "--master", url, "--id", "w-h",
                        "--log-level", "error", NULL};
        pid_t w = harness_spawn(argv, NULL, NULL);
        /* it keeps calling: retries, never a crash */
        bool calls = harness_wait_until(fake_requests(&fm) >= 2, 30000);
        int status = 0;
        pid_t gone = waitpid(w, &status, WNOHANG);
        kill(w, SIGTERM);
        int code = harness_wait(w, 20000);
        atomic_store(&fm.stop, true);
        pthread_join(th, NULL);
        close(fm.fd);
        pthread_mutex_destroy(&fm.lock);
        if (!calls || gone != 0)
            fail_msg("answer %zu: %d requests, worker %s", k, fm.requests,
                     gone ? "exited" : "alive");
        assert_int_equal(code, 0);
    }
}

/* The master stops answering (SIGSTOP) mid-task: the workers keep their load going (the
 * nodes count it), buffer their intervals and deliver them once it answers again; the
 * master's own pause is not blamed on the workers (none is lost). */
static void test_master_silent_workers_keep_going(void **state)
{
    struct dist *d = *state;
    long long before = nodes_total(d);
    const char *id = run_task(d, config_of(d, 1500, "\"rate\": 300"), NULL);
    assert_non_null(id);
    char task[64];
    snprintf(task, sizeof task, "%s", id);
    assert_true(harness_wait_until(task_requests(d, task) > 0, 30000));
    kill(d->master, SIGSTOP);
    long long t0 = nodes_total(d);
    harness_pause_ms(2500);
    long long t1 = nodes_total(d);
    kill(d->master, SIGCONT);
    assert_true(t1 - t0 > 2); /* 2: the status calls */
    assert_true(harness_wait_until(task_ended(d, task), 60000));
    json_t *t = task_get(d, task);
    assert_string_equal(json_string_value(json_object_get(t, "state")), "completed");
    assert_int_equal(totals(t, "requests"), 1500);
    const char *msg = json_string_value(json_object_get(t, "message"));
    if (msg && strstr(msg, "lost"))
        fail_msg("a worker was declared lost: %s", msg);
    json_decref(t);
    assert_int_equal(nodes_total(d) - before - 6, 1500);
}

/* Runs a command to its end, quietly. Returns its exit status, or -1. */
static int run_quiet(const char *cmd)
{
    char line[512];
    snprintf(line, sizeof line, "%s >/dev/null 2>&1", cmd);
    int rc = system(line);
    return rc < 0 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc);
}

static long long node_total_at(const char *host, int port)
{
    char out[8192];
    const char *body;
    if (harness_get_at(host, port, "/api/v1/cluster/status", out, sizeof out, &body) != 200)
        return -1;
    json_t *j = json_loads(body, 0, NULL);
    long long v = json_integer_value(json_object_get(json_object_get(j, "status"), "total_requests"));
    json_decref(j);
    return v;
}

/* Only the test's directory: the test starts its own master and workers. */
static int setup_dir(void **state)
{
    struct dist *d = calloc(1, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "/tmp/herd-dist-XXXXXX");
    *state = d;
    return mkdtemp(d->dir) ? 0 : -1;
}

/* The delay of region rK's requests (ms): what netem adds on its namespace's veth, or, without
 * netem, what its own target node waits before it answers. */
static const int region_delay_ms[NETNS_REGIONS] = {0, 10, 20, 40};

#define REGION_TARGET "target.herd" /* the task's host: a different node in each namespace */
#define GONE_TARGET "gone.herd"     /* a host no namespace can resolve */

/* Adds netem delays to the regions' veths (their egress: the requests). Returns true when
 * every region with a delay has one; otherwise removes what it added and returns false
 * (a kernel without sch_netem, or no tc). */
static bool regions_netem(int base)
{
    if (run_quiet("modprobe sch_netem") != 0) { /* may be built in, or absent: tc decides */
    }
    int r = 0;
    bool ok = true;
    char ns[64], cmd[256];
    for (; r < NETNS_REGIONS && ok; r++) {
        if (!region_delay_ms[r])
            continue;
        netns_replica_name(base, r + 1, ns, sizeof ns);
        snprintf(cmd, sizeof cmd, "tc -n %s qdisc add dev hn%di%d root netem delay %dms", ns, base,
                 r + 1, region_delay_ms[r]);
        ok = run_quiet(cmd) == 0;
    }
    while (!ok && r-- > 0) {
        netns_replica_name(base, r + 1, ns, sizeof ns);
        snprintf(cmd, sizeof cmd, "tc -n %s qdisc del dev hn%di%d root", ns, base, r + 1);
        if (run_quiet(cmd) != 0) { /* the regions without a delay have none to remove */
        }
    }
    return ok;
}

/* 40 workers in 4 regions, each region's 10 in a network namespace of its own (veth to a
 * bridge in this namespace, where the master listens). The task names its target by host name,
 * REGION_TARGET, which each namespace's own hosts file (/etc/netns/NS/hosts) maps to a
 * different address on the bridge, where a `herd node` of that region's own answers. Region rK
 * is region_delay_ms[K] away: by netem on its veth when the kernel has it, else by its node's
 * injected latency (POST /admin/fault), so the latency order is checked on every machine where
 * the test runs. A request-count task lands exactly N, each region exactly its even share, on
 * its own node (their counters), and the regions' median latencies come out in the order of
 * their delays. Then a task on a name that does not resolve in r0's namespace: r0's workers
 * cannot run it, their share is reported not sent and nothing reaches a node. Root only. */
static void test_regions_in_namespaces(void **state)
{
    struct dist *d = *state;
    char why[256];
    if (geteuid() != 0 || !netns_usable(why, sizeof why)) {
        fprintf(stderr, "[  SKIPPED ] 40 workers in namespaces: %s\n",
                geteuid() != 0 ? "network namespaces need root" : why);
        skip();
        return;
    }
    char err[512];
    int base = harness_free_port();
    d->netns_base = base;
    if (netns_group_up(base, err, sizeof err) < 0)
        fail_msg("bridge: %s", err);
    /* each region's target: an address of its own on the bridge (.201 up), one port for all */
    char target[NETNS_REGIONS][40];
    int tport = harness_free_port();
    for (int r = 0; r < NETNS_REGIONS; r++) {
        char ns[64], hosts[256], cmd[320];
        if (netns_replica_up(base, r + 1, err, sizeof err) < 0)
            fail_msg("namespace %d: %s", r + 1, err);
        netns_replica_addr(base, 200 + r, target[r], sizeof target[r]);
        snprintf(cmd, sizeof cmd, "ip addr add %s/32 dev hb%d", target[r], base);
        if (run_quiet(cmd) != 0)
            fail_msg("cannot add %s to the bridge", target[r]);
        snprintf(hosts, sizeof hosts, "127.0.0.1 localhost\n%s %s\n", target[r], REGION_TARGET);
        if (netns_replica_hosts(base, r + 1, hosts, err, sizeof err) < 0)
            fail_msg("namespace %d: %s", r + 1, err);
        netns_replica_name(base, r + 1, ns, sizeof ns);
        snprintf(cmd, sizeof cmd, "ip netns exec %s getent hosts %s | grep -q '^%s '", ns,
                 REGION_TARGET, target[r]);
        if (system(cmd) != 0)
            fail_msg("%s does not resolve to %s in %s (/etc/netns/%s/hosts)", REGION_TARGET,
                     target[r], ns, ns);
    }
    bool netem = regions_netem(base);
    fprintf(stderr, "[  NOTE    ] region delays %d/%d/%d/%d ms by %s\n", region_delay_ms[0],
            region_delay_ms[1], region_delay_ms[2], region_delay_ms[3],
            netem ? "tc netem on the regions' veths"
                  : "the regions' target nodes (no tc netem: no sch_netem in this kernel, or no tc)");
    char tport_s[16];
    snprintf(tport_s, sizeof tport_s, "%d", tport);
    for (int r = 0; r < NETNS_REGIONS; r++) {
        char id[16];
        snprintf(id, sizeof id, "r%d.node", r);
        char *node[] = {(char *)harness_herd_bin(), "node", "--host", target[r], "--port", tport_s,
                        "--id", id, "--log-level", "warn", NULL};
        harness_spawn(node, NULL, NULL);
    }
    long long before[NETNS_REGIONS];
    for (int r = 0; r < NETNS_REGIONS; r++) {
        assert_true(harness_wait_until(node_total_at(target[r], tport) >= 0, 10000));
        if (!netem && region_delay_ms[r]) {
            char req[256], out[1024];
            snprintf(req, sizeof req, "POST /admin/fault HTTP/1.1\r\nHost: %s\r\nConnection: "
                     "close\r\nContent-Length: 19\r\n\r\n{\"latency_ms\": %3d}", target[r],
                     region_delay_ms[r]);
            assert_int_equal(harness_exchange_at(target[r], tport, req, out, sizeof out), 200);
        }
        before[r] = node_total_at(target[r], tport);
    }
    /* the master on the bridge address, which every namespace routes to; tasks may load the
     * two names only */
    netns_replica_addr(base, 0, d->mhost, sizeof d->mhost);
    snprintf(d->token, sizeof d->token, "netns-token");
    snprintf(d->db, sizeof d->db, "%s/herd.db", d->dir);
    d->mport = harness_free_port();
    char listen[64], log[160];
    snprintf(listen, sizeof listen, "%s:%d", d->mhost, d->mport);
    snprintf(log, sizeof log, "%s/master.log", d->dir);
    char *master[] = {(char *)harness_herd_bin(), "master", "--listen", listen, "--db", d->db,
                      "--token", d->token, "--allow-target", REGION_TARGET, "--allow-target",
                      GONE_TARGET, NULL};
    d->master = harness_spawn_io(master, NULL, NULL, log);
    assert_true(harness_wait_until(active_workers(d) == 0, 10000));
    snprintf(d->murl, sizeof d->murl, "http://%s:%d", d->mhost, d->mport);
    for (int r = 0; r < NETNS_REGIONS; r++)
        for (int k = 0; k < NETNS_PER_REGION; k++) {
            char ns[64], id[32], region[8];
            netns_replica_name(base, r + 1, ns, sizeof ns);
            snprintf(id, sizeof id, "r%d-w%d", r, k);
            snprintf(region, sizeof region, "r%d", r);
            snprintf(log, sizeof log, "%s/%s.log", d->dir, id);
            char *argv[] = {"/bin/ip", "netns", "exec", ns, (char *)harness_herd_bin(), "worker",
                            "--master", d->murl, "--id", id, "--region", region, "--token",
                            d->token, "--cores", "1", NULL};
            harness_spawn(argv, NULL, log);
        }
    const int all = NETNS_REGIONS * NETNS_PER_REGION;
    assert_true(harness_wait_until(active_workers(d) == all, 30000));
    char cfg[256];
    /* a target by address is outside --allow-target now: refused */
    snprintf(cfg, sizeof cfg, "{\"config\": {\"url\": \"http://%s:%d/echo\", \"requests\": 1}}",
             target[0], tport);
    assert_int_equal(api(d, "POST", "/api/v1/tasks", cfg, d->token, NULL), 400);
    const long long n = 4000; /* 100 per worker, 1000 per region */
    snprintf(cfg, sizeof cfg, "{\"url\": \"http://%s:%d/echo\", \"requests\": %lld, "
             "\"concurrency\": %d}", REGION_TARGET, tport, n, all);
    const char *id = run_task(d, cfg, NULL);
    assert_non_null(id);
    assert_true(harness_wait_until(task_ended(d, id), 60000));
    json_t *t = task_get(d, id);
    assert_non_null(t);
    assert_string_equal(json_string_value(json_object_get(t, "state")), "completed");
    assert_int_equal(totals(t, "requests"), n);
    assert_int_equal(totals(t, "ok"), n);
    assert_int_equal(json_array_size(json_object_get(t, "workers")), all);
    json_t *regions = json_object_get(t, "regions");
    assert_int_equal(json_array_size(regions), NETNS_REGIONS);
    double p50[NETNS_REGIONS];
    for (int r = 0; r < NETNS_REGIONS; r++) {
        char name[8];
        snprintf(name, sizeof name, "r%d", r);
        json_t *g = harness_json_find(regions, "region", name);
        assert_non_null(g);
        assert_int_equal(json_integer_value(json_object_get(g, "workers")), NETNS_PER_REGION);
        assert_int_equal(json_integer_value(json_object_get(g, "requests")), n / NETNS_REGIONS);
        p50[r] = json_number_value(json_object_get(json_object_get(g, "latency_ms"), "p50"));
        fprintf(stderr, "[  INFO    ] region %s (%d ms away): p50 %.3f ms\n", name,
                region_delay_ms[r], p50[r]);
    }
    json_decref(t);
    /* each region loaded its own node, every request once: the names resolved per namespace */
    long long sum = 0;
    for (int r = 0; r < NETNS_REGIONS; r++) {
        long long got = node_total_at(target[r], tport) - before[r] - 1;
        if (got != n / NETNS_REGIONS)
            fail_msg("region r%d's node %s counted %lld requests, expected %lld", r, target[r],
                     got, n / NETNS_REGIONS);
        sum += got;
    }
    assert_int_equal(sum, n);
    for (int r = 1; r < NETNS_REGIONS; r++)
        if (!(p50[r] > p50[r - 1]))
            fail_msg("region r%d (%d ms away) has p50 %.3f ms, not above r%d's %.3f ms", r,
                     region_delay_ms[r], p50[r], r - 1, p50[r - 1]);
    /* at least the delay, less the 1 ms a libuv timer may fire early (whole ms on a loop time
     * taken before the request arrived) */
    const int last = NETNS_REGIONS - 1;
    if (!(p50[last] >= region_delay_ms[last] - 1))
        fail_msg("region r%d has p50 %.3f ms, below its %d ms delay", last, p50[last],
                 region_delay_ms[last]);

    /* a name r0's namespace cannot resolve: its workers cannot plan their shares (the reason,
     * "cannot resolve 'gone.herd'", is in each worker's log), which the task reports as not
     * sent and failed; nothing reaches a node */
    for (int r = 0; r < NETNS_REGIONS; r++)
        before[r] = node_total_at(target[r], tport);
    snprintf(cfg, sizeof cfg, "{\"url\": \"http://%s:%d/echo\", \"requests\": 100, "
             "\"concurrency\": 10}", GONE_TARGET, tport);
    id = run_task(d, cfg, "{\"region\": \"r0\"}");
    assert_non_null(id);
    assert_true(harness_wait_until(task_ended(d, id), 20000));
    t = task_get(d, id);
    assert_non_null(t);
    fprintf(stderr, "[  INFO    ] unresolvable target: state %s, requests %lld, not sent %lld, "
            "failures %lld\n", json_string_value(json_object_get(t, "state")),
            totals(t, "requests"), totals(t, "not_sent"), totals(t, "failures"));
    assert_int_equal(totals(t, "requests"), 0);
    assert_int_equal(totals(t, "not_sent"), 100);
    assert_int_equal(totals(t, "failures"), 100);
    json_t *g = harness_json_find(json_object_get(t, "regions"), "region", "r0");
    assert_non_null(g);
    assert_int_equal(json_integer_value(json_object_get(g, "not_sent")), 100);
    /* why: no part could run, so the task failed, and each worker says why */
    assert_string_equal(json_string_value(json_object_get(t, "state")), "failed");
    assert_string_equal(json_string_value(json_object_get(t, "verdict")), "fail");
    const char *message = json_string_value(json_object_get(t, "message"));
    if (!message || !strstr(message, "could not run its share: cannot resolve 'gone.herd'") ||
        !strstr(message, "no worker could run its share"))
        fail_msg("the task's message: %s", message ? message : "(none)");
    json_t *w;
    size_t wi;
    json_array_foreach(json_object_get(t, "workers"), wi, w)
        if (strncmp(json_string_value(json_object_get(w, "id")), "r0-", 3) == 0 &&
            !strstr(json_string_value(json_object_get(w, "error")) ?: "", "cannot resolve 'gone.herd'"))
            fail_msg("worker %s has no error", json_string_value(json_object_get(w, "id")));
    json_decref(t);
    static char report[1 << 20];
    assert_int_equal(report_of(d, id, "md", report, sizeof report), 200);
    if (!strstr(report, "| **error: cannot resolve 'gone.herd'") ||
        !strstr(report, "| 100 | 0 (0.00%) | 0 (0.00%) | 100 (100.00%) |"))
        fail_msg("the report: %.2000s", strstr(report, "## Distributed") ?: report);
    for (int r = 0; r < NETNS_REGIONS; r++)
        assert_int_equal(node_total_at(target[r], tport) - before[r] - 1, 0);
}

/* Status codes and connections come from the workers' final intervals: a task over node 0's
 * /echo and node 1's /status/500 has exactly as many 200s and 500s as each node counted, in
 * the run JSON and in the Markdown report; its connections are real. While it runs, it has
 * no verdict. */
static void test_status_codes_as_nodes_count(void **state)
{
    struct dist *d = *state;
    long long before0 = harness_node_total(d->nports[0]);
    long long before1 = harness_node_total(d->nports[1]);
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"urls\": [\"http://127.0.0.1:%d/echo\", \"http://127.0.0.1:%d/status/500\"], "
             "\"requests\": 600, \"rate\": 300, \"concurrency\": 3}",
             d->nports[0], d->nports[1]);
    const char *id = run_task(d, cfg, NULL);
    assert_non_null(id);
    char tid[64];
    snprintf(tid, sizeof tid, "%s", id);
    /* its first second: running, not judged */
    json_t *t = task_get(d, tid);
    assert_non_null(t);
    assert_string_equal(json_string_value(json_object_get(t, "state")), "running");
    json_t *verdict = json_object_get(t, "verdict");
    if (verdict && !json_is_null(verdict))
        fail_msg("a running task has verdict %s", json_string_value(verdict));
    json_decref(t);
    static char out[1 << 20];
    assert_int_equal(report_of(d, tid, "md", out, sizeof out), 200);
    if (!task_ended(d, tid) && !strstr(out, "## Verdict: ⏳ not judged yet"))
        fail_msg("a running task's report: %.400s", strstr(out, "## Verdict") ?: out);

    assert_true(harness_wait_until(task_ended(d, tid), 60000));
    t = task_get(d, tid);
    assert_string_equal(json_string_value(json_object_get(t, "state")), "completed");
    assert_true(json_is_string(json_object_get(t, "verdict")));
    assert_int_equal(totals(t, "requests"), 600);
    /* each node's own count, less the status call before this one */
    long long oks = harness_node_total(d->nports[0]) - before0 - 1;
    long long errors = harness_node_total(d->nports[1]) - before1 - 1;
    fprintf(stderr, "[  INFO    ] nodes counted %lld /echo, %lld /status/500\n", oks, errors);
    assert_int_equal(oks + errors, 600);
    assert_true(errors > 0 && oks > 0);
    assert_int_equal(totals(t, "ok"), oks);
    assert_true(totals(t, "connections") >= 3 && totals(t, "connections_peak") >= 3);
    json_decref(t);

    char path[160];
    snprintf(path, sizeof path, "/api/v1/tasks/%s/report?format=json", tid);
    json_t *doc = NULL;
    assert_int_equal(api(d, "GET", path, NULL, NULL, &doc), 200);
    json_t *codes = json_object_get(doc, "status_codes");
    assert_int_equal(json_object_size(codes), 2);
    assert_int_equal(json_integer_value(json_object_get(codes, "200")), oks);
    assert_int_equal(json_integer_value(json_object_get(codes, "500")), errors);
    json_decref(doc);
    assert_int_equal(report_of(d, tid, "md", out, sizeof out), 200);
    char row[64];
    snprintf(row, sizeof row, "| 500 | %lld |", errors);
    if (!strstr(out, row))
        fail_msg("md: no '%s' in the status codes: %.300s", row, strstr(out, "## Status") ?: out);
    assert_non_null(strstr(out, "## Verdict: "));
    assert_null(strstr(out, "not judged yet"));
}

/* The dashboard's page and files: from the binary, with their types, a CSP that keeps every
 * load and fetch on the master, a validator (a reload is a 304), nothing from another host. */
static void test_dashboard_page_served(void **state)
{
    struct dist *d = *state;
    static char out[1 << 20];
    const char *body = NULL;
    assert_int_equal(harness_get(d->mport, "/", out, sizeof out, &body), 200);
    assert_non_null(strcasestr(out, "\r\nContent-Type: text/html; charset=utf-8\r\n"));
    assert_non_null(strcasestr(out, "\r\nContent-Security-Policy: default-src 'self'; script-src 'self'"));
    assert_non_null(strcasestr(out, "connect-src 'self'"));
    assert_non_null(strstr(body, "<script src=\"/ui/dashboard.js\"></script>"));
    /* every file it loads is the master's own (the editor's placeholder names a URL) */
    for (const char *at = body; (at = strpbrk(at, "sh")); at++)
        if (strncmp(at, "src=\"", 5) == 0 || strncmp(at, "href=\"", 6) == 0)
            assert_true(strncmp(strchr(at, '"') + 1, "/ui/", 4) == 0);
    char *etag = strcasestr(out, "\r\nETag: ");
    assert_non_null(etag);
    char tag[64];
    assert_int_equal(sscanf(etag + 8, "%63[^\r]", tag), 1);
    static const struct { const char *path, *type; } files[] = {
        {"/ui/dashboard.js", "text/javascript"}, {"/ui/report.js", "text/javascript"},
        {"/ui/uplot.js", "text/javascript"}, {"/ui/dashboard.css", "text/css"},
        {"/ui/report.css", "text/css"}, {"/ui/uplot.css", "text/css"}};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        assert_int_equal(harness_get(d->mport, files[i].path, out, sizeof out, &body), 200);
        char want[96];
        snprintf(want, sizeof want, "\r\nContent-Type: %s; charset=utf-8\r\n", files[i].type);
        assert_non_null(strcasestr(out, want));
        assert_true(strlen(body) > 100);
    }
    assert_int_equal(harness_get(d->mport, "/ui/nothing.js", out, sizeof out, &body), 404);
    char req[256];
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: %s\r\n"
             "Connection: close\r\n\r\n", tag);
    assert_int_equal(harness_exchange(d->mport, req, out, sizeof out), 304);
}

/* ---- the dashboard's event stream ---- */

/* A raw client of GET /api/v1/events: its chunked body decoded as it comes. */
struct sse {
    int fd, status;
    bool headers_done, ended, event_stream;
    char raw[1 << 16];
    size_t raw_len;      /* read, not yet decoded */
    char text[1 << 18];
    size_t text_len;     /* decoded, events not yet taken */
};

static int sse_open(struct sse *s, int port)
{
    memset(s, 0, sizeof *s);
    s->fd = harness_connect(port, 5000);
    static const char req[] = "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    return s->fd < 0 ? -1 : harness_send(s->fd, req, sizeof req - 1);
}

/* Reads what comes within ms and decodes it. Returns false once the connection is closed. */
static bool sse_pump(struct sse *s, int ms)
{
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    if (poll(&p, 1, ms) <= 0)
        return true;
    ssize_t n = read(s->fd, s->raw + s->raw_len, sizeof s->raw - s->raw_len);
    if (n <= 0)
        return false;
    s->raw_len += (size_t)n;
    if (!s->headers_done) {
        char *end = memmem(s->raw, s->raw_len, "\r\n\r\n", 4);
        if (!end)
            return true;
        s->headers_done = true;
        s->status = atoi(s->raw + 9);
        *end = '\0';
        s->event_stream = strcasestr(s->raw, "\r\nContent-Type: text/event-stream") != NULL;
        size_t used = (size_t)(end + 4 - s->raw);
        memmove(s->raw, s->raw + used, s->raw_len - used);
        s->raw_len -= used;
    }
    for (;;) { /* chunks: SIZE (hex) CRLF, bytes, CRLF; size 0 ends the body */
        char *eol = memmem(s->raw, s->raw_len, "\r\n", 2);
        if (!eol)
            break;
        size_t size = strtoul(s->raw, NULL, 16), head = (size_t)(eol + 2 - s->raw);
        if (s->raw_len < head + size + 2)
            break;
        if (size == 0)
            s->ended = true;
        if (s->text_len + size < sizeof s->text) {
            memcpy(s->text + s->text_len, s->raw + head, size);
            s->text_len += size;
        }
        memmove(s->raw, s->raw + head + size + 2, s->raw_len - head - size - 2);
        s->raw_len -= head + size + 2;
    }
    return true;
}

/* The next state event's JSON (a new reference), or NULL when no whole one came yet. Comments
 * (heartbeats) and the retry field are skipped. */
static json_t *sse_next_state(struct sse *s)
{
    for (;;) {
        char *end = memmem(s->text, s->text_len, "\n\n", 2);
        if (!end)
            return NULL;
        *end = '\0';
        json_t *j = NULL;
        if (strncmp(s->text, "event: state\ndata: ", 19) == 0)
            j = json_loads(s->text + 19, 0, NULL);
        size_t used = (size_t)(end + 2 - s->text);
        memmove(s->text, s->text + used, s->text_len - used);
        s->text_len -= used;
        if (j)
            return j;
    }
}

/* The dashboard's stream, read raw: the state at once and live; a worker's QPS and errors/s
 * (GET /api/v1/workers' fields, the same in the events) are its intervals' numbers of their
 * second, which add up to what the nodes counted; MASTER_WEB_STREAMS_MAX streams at once;
 * the stream ends with the body's last chunk when the master stops. */
static void test_events_stream_live(void **state)
{
    struct dist *d = *state;
    struct sse *streams = calloc(17, sizeof *streams);
    assert_non_null(streams);
    struct sse *s = &streams[0];
    assert_int_equal(sse_open(s, d->mport), 0);
    json_t *first = NULL;
    for (long until = harness_now_ms() + 10000; !first && harness_now_ms() < until;)
        if (sse_pump(s, 200))
            first = sse_next_state(s);
    assert_int_equal(s->status, 200);
    assert_true(s->event_stream);
    assert_non_null(first);
    assert_int_equal(json_array_size(json_object_get(first, "workers")), 3);
    json_decref(first);
    /* 16 streams at most: the 17th is refused */
    for (int i = 1; i < 17; i++) {
        assert_int_equal(sse_open(&streams[i], d->mport), 0);
        for (long until = harness_now_ms() + 10000; !streams[i].headers_done && harness_now_ms() < until;)
            assert_true(sse_pump(&streams[i], 200));
        assert_int_equal(streams[i].status, i < 16 ? 200 : 503);
    }
    for (int i = 1; i < 17; i++)
        close(streams[i].fd);

    long long ok0 = harness_node_total(d->nports[0]), all1 = harness_node_total(d->nports[1]);
    char cfg[512];
    snprintf(cfg, sizeof cfg, "{\"urls\": [\"http://127.0.0.1:%d/echo\", \"http://127.0.0.1:%d/"
             "status/503\"], \"rate\": 40, \"duration\": \"6s\", \"concurrency\": 2}",
             d->nports[0], d->nports[1]);
    const char *id = run_task(d, cfg, "{\"worker_ids\": [\"w1\"]}");
    assert_non_null(id);
    /* w1's figures by the task's second they are of; a second's interval comes in one post */
    long long qps[64], errs[64];
    bool seen[64] = {0};
    long long next_check = 0;
    bool ended = false;
    for (long until = harness_now_ms() + 90000; !ended && harness_now_ms() < until;) {
        assert_true(sse_pump(s, 200));
        json_t *ev;
        while ((ev = sse_next_state(s))) {
            json_t *t = harness_json_find(json_object_get(ev, "tasks"), "id", id);
            json_t *w = harness_json_find(json_object_get(ev, "workers"), "id", "w1");
            json_t *second = json_object_get(w, "qps_second_us");
            if (t && json_is_integer(second)) {
                long long k = (json_integer_value(second) -
                               json_integer_value(json_object_get(t, "start_us")) + 500000) / 1000000;
                if (k >= 0 && k < 64) {
                    seen[k] = true;
                    qps[k] = json_integer_value(json_object_get(w, "qps"));
                    errs[k] = json_integer_value(json_object_get(w, "errors_per_s"));
                }
            }
            json_decref(ev);
        }
        if (harness_now_ms() >= next_check) {
            next_check = harness_now_ms() + 1000;
            ended = task_ended(d, id);
        }
    }
    assert_true(ended);
    json_t *task = task_get(d, id);
    json_t *tl = json_object_get(harness_json_find(json_object_get(task, "workers"), "id", "w1"),
                                 "timeline");
    json_t *requests = json_object_get(tl, "requests"), *failures = json_object_get(tl, "failures");
    int compared = 0;
    for (size_t k = 0; k < 64; k++) {
        if (!seen[k] || qps[k] == 0)
            continue;
        assert_int_equal(qps[k], json_integer_value(json_array_get(requests, k)));
        assert_int_equal(errs[k], json_integer_value(json_array_get(failures, k)));
        compared++;
    }
    assert_true(compared >= 2);
    /* the timeline's seconds add up to what the nodes answered (less their status calls) */
    long long sum = 0, failed = 0;
    for (size_t k = 0; k < json_array_size(requests); k++) {
        sum += json_integer_value(json_array_get(requests, k));
        failed += json_integer_value(json_array_get(failures, k));
    }
    long long node0 = harness_node_total(d->nports[0]) - ok0 - 1;
    long long node1 = harness_node_total(d->nports[1]) - all1 - 1;
    assert_int_equal(sum, node0 + node1);
    assert_int_equal(failed, node1);
    assert_true(failed > 0 && node0 > 0);
    json_decref(task);

    /* the master stops: the stream ends with its last chunk, not a reset */
    kill(d->master, SIGTERM);
    bool open = true;
    for (long until = harness_now_ms() + 20000; open && !s->ended && harness_now_ms() < until;)
        open = sse_pump(s, 200);
    assert_true(s->ended);
    close(s->fd);
    free(streams);
}

int integration_dist(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_count_lands_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_codes_as_nodes_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_region_and_id_selection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_killed_share_reassigned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_stopped_share_reassigned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_killed_and_restarted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_restarted_rejoins_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_matrix, setup_token, teardown),
        cmocka_unit_test_setup_teardown(test_settings_from_environment, setup_dir, teardown),
        cmocka_unit_test_setup_teardown(test_events_stream_live, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dashboard_page_served, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bench_master_exit_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_bodies_400, setup, teardown),
        cmocka_unit_test_setup_teardown(test_details_failures_and_sample, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_worker_bounded, setup_bare, teardown),
        cmocka_unit_test_setup_teardown(test_worker_against_a_hostile_master, NULL, NULL),
        cmocka_unit_test_setup_teardown(test_master_silent_workers_keep_going, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regions_in_namespaces, setup_dir, teardown),
    };
    return cmocka_run_group_tests_name("dist", tests, NULL, NULL);
}
