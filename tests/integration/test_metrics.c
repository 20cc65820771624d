/* test_metrics.c -- the master's GET /metrics against independent observers: the `herd node`
 * targets' own request counters, the REST API's workers and tasks, promtool's lint; the
 * Grafana dashboard's metric names against what a live master and gateway export; and
 * Debian's Prometheus server scraping a master and a gateway on loopback, its query API
 * checked against the nodes' counts. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "../support/harness.h"
#include "integration.h"

#define WORKERS  3
#define TEXT_MAX (1 << 20)

/* What a case runs: two nodes, a master with three workers, a gateway in front of the nodes
 * (when asked for), a Prometheus server (its case only). */
struct rig {
    char dir[64];
    int master_port, gateway_port, prom_port;
    int node_ports[2];
    pid_t workers[WORKERS];
};

/* ---- talking to the processes ---- */

/* method path (with body) to 127.0.0.1:port; the answer's JSON into *out (may be NULL).
 * Returns the status. */
static int call_json(int port, const char *method, const char *path, const char *body, json_t **out)
{
    static char answer[TEXT_MAX];
    char *request = NULL;
    if (asprintf(&request,
                 "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 method, path, body ? strlen(body) : 0, body ? body : "") < 0)
        return -1;
    int status = harness_exchange(port, request, answer, sizeof answer);
    free(request);
    if (out) {
        const char *start = strstr(answer, "\r\n\r\n");
        *out = start ? json_loads(start + 4, 0, NULL) : NULL;
    }
    return status;
}

/* GET /metrics of port: the body (malloc'd, the caller frees), or NULL when it did not
 * answer 200 with the Prometheus text type. */
static char *scrape(int port)
{
    static char answer[TEXT_MAX];
    const char *body;
    if (harness_get(port, "/metrics", answer, sizeof answer, &body) != 200 ||
        !strcasestr(answer, "\r\nContent-Type: text/plain; version=0.0.4"))
        return NULL;
    return strdup(body);
}

/* The sum of the samples prefix names (harness_prom_sum) in a fresh scrape of port; NAN when
 * none. */
static double scraped(int port, const char *prefix)
{
    char *text = scrape(port);
    double v = text ? harness_prom_sum(text, prefix, NULL) : NAN;
    free(text);
    return v;
}

/* Creates a task from config (a JSON object's text) and starts it (start: true). Returns its
 * id (static) or NULL. */
static const char *task_new(const struct rig *r, const char *config, bool start)
{
    static char id[64];
    char body[1024], path[128];
    json_t *j = NULL;
    snprintf(body, sizeof body, "{\"config\": %s}", config);
    int status = call_json(r->master_port, "POST", "/api/v1/tasks", body, &j);
    snprintf(id, sizeof id, "%s",
             status == 201 ? json_string_value(json_object_get(j, "task_id")) : "");
    json_decref(j);
    if (!id[0]) return NULL;
    snprintf(path, sizeof path, "/api/v1/tasks/%s/start", id);
    return !start || call_json(r->master_port, "POST", path, NULL, NULL) == 200 ? id : NULL;
}

/* GET /api/v1/tasks/{id}: a new reference or NULL. */
static json_t *task_of(const struct rig *r, const char *id)
{
    char path[128];
    json_t *j = NULL;
    snprintf(path, sizeof path, "/api/v1/tasks/%s", id);
    if (call_json(r->master_port, "GET", path, NULL, &j) != 200) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static bool task_over(const struct rig *r, const char *id)
{
    json_t *t = task_of(r, id);
    const char *s = t ? json_string_value(json_object_get(t, "state")) : NULL;
    bool over = s && strcmp(s, "running") != 0 && strcmp(s, "pending") != 0;
    json_decref(t);
    return over;
}

/* How many entries of list (GET path's array under key) have state. -1 when it did not
 * answer. */
static int api_count_state(const struct rig *r, const char *path, const char *key,
                           const char *state)
{
    json_t *j = NULL, *e;
    size_t i;
    if (call_json(r->master_port, "GET", path, NULL, &j) != 200) {
        json_decref(j);
        return -1;
    }
    int n = 0;
    json_array_foreach(json_object_get(j, key), i, e) n +=
        strcmp(json_string_value(json_object_get(e, "state")), state) == 0;
    json_decref(j);
    return n;
}

/* Whether the master's herd_master_workers{state} equals the API's count for every state. */
static bool workers_agree(const struct rig *r)
{
    static const char *const states[] = {"active", "suspect", "lost", "disconnected"};
    char *text = scrape(r->master_port);
    bool same = text != NULL;
    for (int s = 0; s < 4 && same; s++) {
        char series[96];
        snprintf(series, sizeof series, "herd_master_workers{state=\"%s\"}", states[s]);
        same = harness_prom_sum(text, series, NULL) ==
               api_count_state(r, "/api/v1/workers", "workers", states[s]);
    }
    free(text);
    return same;
}

/* ---- starting and stopping ---- */

static pid_t spawn_logged(const struct rig *r, const char *name, char *const argv[])
{
    char log[160];
    snprintf(log, sizeof log, "%s/%s.log", r->dir, name);
    return harness_spawn(argv, NULL, log);
}

static void start_gateway(struct rig *r)
{
    char port[16], n1[64], n2[64];
    r->gateway_port = harness_free_port();
    snprintf(port, sizeof port, "%d", r->gateway_port);
    snprintf(n1, sizeof n1, "api.1=127.0.0.1:%d", r->node_ports[0]);
    snprintf(n2, sizeof n2, "api.2=127.0.0.1:%d", r->node_ports[1]);
    /* TCP checks: the nodes then count the load's requests and nothing of the gateway's own */
    char *argv[] = {(char *)harness_herd_bin(),
                    "gateway",
                    "--port",
                    port,
                    "--threads",
                    "2",
                    "--health",
                    "tcp",
                    "--inter",
                    "500ms",
                    "--rise",
                    "1",
                    "--node",
                    n1,
                    "--node",
                    n2,
                    "--log-level",
                    "warn",
                    NULL};
    spawn_logged(r, "gateway", argv);
}

static bool gateway_ready(const struct rig *r)
{
    return scraped(r->gateway_port, "herd_gateway_node_up{node=\"api.1\",") == 1 &&
           scraped(r->gateway_port, "herd_gateway_node_up{node=\"api.2\",") == 1;
}

static int rig_up(void **state, bool gateway)
{
    struct rig *r = calloc(1, sizeof *r);
    *state = r;
    snprintf(r->dir, sizeof r->dir, "/tmp/herd-metrics-XXXXXX");
    if (!r || !mkdtemp(r->dir)) return -1;
    for (int i = 0; i < 2; i++) {
        char port[16], id[16];
        r->node_ports[i] = harness_free_port();
        snprintf(port, sizeof port, "%d", r->node_ports[i]);
        snprintf(id, sizeof id, "api.%d", i + 1);
        char *argv[] = {(char *)harness_herd_bin(),
                        "node",
                        "--port",
                        port,
                        "--id",
                        id,
                        "--log-level",
                        "warn",
                        NULL};
        spawn_logged(r, id, argv);
    }
    char listen[64], db[128], url[80];
    r->master_port = harness_free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", r->master_port);
    snprintf(db, sizeof db, "%s/herd.db", r->dir);
    snprintf(url, sizeof url, "http://%s", listen);
    char *master[] = {(char *)harness_herd_bin(), "master", "--listen",     listen, "--db", db,
                      "--suspect-after",          "2s",     "--lost-after", "4s",   NULL};
    spawn_logged(r, "master", master);
    for (int i = 0; i < 2; i++)
        if (!harness_wait_http(r->node_ports[i], "/health", 10000)) return -1;
    if (!harness_wait_until(harness_port_open(r->master_port), 10000)) return -1;
    static const char *const ids[WORKERS] = {"w1", "w2", "w3"};
    static const char *const regions[WORKERS] = {"eu", "us", "eu"};
    for (int i = 0; i < WORKERS; i++) {
        char *argv[] = {(char *)harness_herd_bin(),
                        "worker",
                        "--master",
                        url,
                        "--id",
                        (char *)ids[i],
                        "--region",
                        (char *)regions[i],
                        NULL};
        r->workers[i] = spawn_logged(r, ids[i], argv);
    }
    if (gateway) start_gateway(r);
    if (!harness_wait_until(api_count_state(r, "/api/v1/workers", "workers", "active") == WORKERS,
                            20000))
        return -1;
    if (gateway && !harness_wait_until(gateway_ready(r), 20000)) return -1;
    return 0;
}

static int setup(void **state)
{
    return rig_up(state, false);
}

static int setup_gateway(void **state)
{
    return rig_up(state, true);
}

static int teardown(void **state)
{
    struct rig *r = *state;
    if (!r) return 0;
    char cmd[160];
    if (getenv("HERD_TEST_SHOW_LOGS")) {
        snprintf(cmd, sizeof cmd, "tail -n 40 %s/*.log >&2", r->dir);
        if (system(cmd) < 0) {
        }
    }
    harness_kill_all();
    snprintf(cmd, sizeof cmd, "rm -rf %s", r->dir);
    if (system(cmd) < 0) {
    }
    free(r);
    return 0;
}

/* Runs promtool's lint over text (the exposition format, HELP and TYPE, counter names);
 * returns its output, or NULL when it found nothing. Fails when promtool is missing. */
static char *promtool_check(const char *dir, const char *text)
{
    char path[128], cmd[320];
    snprintf(path, sizeof path, "%s/metrics.txt", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1; echo \"rc=$?\"", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    static char out[8192];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    pclose(p);
    if (strstr(out, "not found"))
        fail_msg("promtool is missing: make test-deps installs Debian's prometheus");
    return strcmp(out, "rc=0\n") == 0 ? NULL : out;
}

/* ---- tests ---- */

/* A task half to /echo on one node, half to /status/500 on the other: /metrics counts what
 * the nodes counted, by outcome and by worker; the histogram holds every answer; workers and
 * tasks by state are what the API lists; promtool finds nothing to say. */
static void test_metrics_agree_with_nodes_and_api(void **state)
{
    struct rig *r = *state;
    long long before[2] = {harness_node_total(r->node_ports[0]),
                           harness_node_total(r->node_ports[1])};
    char config[512], series[160];
    /* a pending task and a cancelled one, for the states */
    const char *pending = task_new(r, "{\"url\": \"http://127.0.0.1:1/\", \"requests\": 5}", false);
    assert_non_null(pending);
    const char *cancelled =
        task_new(r, "{\"url\": \"http://127.0.0.1:1/\", \"requests\": 5}", false);
    assert_non_null(cancelled);
    snprintf(config, sizeof config, "/api/v1/tasks/%s/cancel", cancelled);
    assert_int_equal(call_json(r->master_port, "POST", config, NULL, NULL), 200);

    snprintf(config, sizeof config,
             "{\"urls\": [\"http://127.0.0.1:%d/echo\", \"http://127.0.0.1:%d/status/500\"], "
             "\"requests\": 1200, \"rate\": 300, \"concurrency\": 3}",
             r->node_ports[0], r->node_ports[1]);
    char id[64];
    const char *started = task_new(r, config, true);
    assert_non_null(started);
    snprintf(id, sizeof id, "%s", started);

    /* while it runs: shown running, its counters only grow */
    snprintf(series, sizeof series, "herd_master_task_requests_total{task=\"%s\",", id);
    assert_true(harness_wait_until(scraped(r->master_port, series) > 0, 30000));
    char running[128];
    snprintf(running, sizeof running, "herd_master_task_running{task=\"%s\"}", id);
    double earlier = scraped(r->master_port, series);
    /* 0 only when the task was over by then */
    assert_true(scraped(r->master_port, running) == 1 || task_over(r, id));
    assert_true(harness_wait_until(task_over(r, id), 60000));
    assert_true(scraped(r->master_port, series) >= earlier);

    char *text = scrape(r->master_port);
    assert_non_null(text);
    /* the nodes' own counts, less the status call before this one */
    long long echo = harness_node_total(r->node_ports[0]) - before[0] - 1;
    long long errors = harness_node_total(r->node_ports[1]) - before[1] - 1;
    fprintf(stderr, "[  INFO    ] nodes counted %lld /echo and %lld /status/500\n", echo, errors);
    assert_int_equal(echo + errors, 1200);
    assert_true(harness_prom_sum(text, series, NULL) == 1200);
    snprintf(series, sizeof series, "herd_master_task_requests_total{task=\"%s\",outcome=\"ok\"}",
             id);
    assert_true(harness_prom_sum(text, series, NULL) == echo);
    snprintf(series, sizeof series, "herd_master_task_requests_total{task=\"%s\",outcome=\"5xx\"}",
             id);
    assert_true(harness_prom_sum(text, series, NULL) == errors);
    assert_true(harness_prom_sum(text, running, NULL) == 0);
    /* every answer has a latency: the histogram's count, +Inf bucket, and buckets that grow */
    snprintf(series, sizeof series, "herd_master_task_latency_seconds_count{task=\"%s\"}", id);
    assert_true(harness_prom_sum(text, series, NULL) == 1200);
    snprintf(series, sizeof series,
             "herd_master_task_latency_seconds_bucket{task=\"%s\",le=\"+Inf\"}", id);
    assert_true(harness_prom_sum(text, series, NULL) == 1200);
    int buckets = 0;
    snprintf(series, sizeof series, "herd_master_task_latency_seconds_bucket{task=\"%s\",", id);
    assert_true(harness_prom_sum(text, series, &buckets) >= 1200);
    assert_int_equal(buckets, 20);
    /* per worker: what the task's document says each did, summing to the nodes' count */
    json_t *t = task_of(r, id), *w;
    size_t i;
    double sum = 0;
    json_array_foreach(json_object_get(t, "workers"), i, w)
    {
        const char *wid = json_string_value(json_object_get(w, "id"));
        snprintf(series, sizeof series, "herd_master_worker_requests_total{worker=\"%s\",", wid);
        double n = harness_prom_sum(text, series, NULL);
        assert_true(n == (double)json_integer_value(json_object_get(w, "requests")));
        sum += n;
        snprintf(series, sizeof series, "herd_master_worker_failures_total{worker=\"%s\",", wid);
        assert_true(harness_prom_sum(text, series, NULL) ==
                    (double)(json_integer_value(json_object_get(w, "requests")) -
                             json_integer_value(json_object_get(w, "ok"))));
        /* an interval cannot arrive before its second ended, beyond the clock offset's error */
        snprintf(series, sizeof series, "herd_master_worker_interval_lag_seconds{worker=\"%s\",",
                 wid);
        double lag = harness_prom_sum(text, series, NULL);
        snprintf(series, sizeof series,
                 "herd_master_worker_interval_lag_max_seconds{worker=\"%s\",", wid);
        double lag_max = harness_prom_sum(text, series, NULL);
        fprintf(stderr, "[  INFO    ] %s: interval lag %.3f s, max %.3f s\n", wid, lag, lag_max);
        assert_true(isfinite(lag) && lag > -1 && lag_max >= lag);
    }
    json_decref(t);
    assert_true(sum == 1200);
    /* states: what the API lists */
    static const char *const task_states[] = {"pending", "running", "completed", "failed",
                                              "cancelled"};
    for (int s = 0; s < 5; s++) {
        snprintf(series, sizeof series, "herd_master_tasks{state=\"%s\"}", task_states[s]);
        int listed = api_count_state(r, "/api/v1/tasks", "tasks", task_states[s]);
        if (harness_prom_sum(text, series, NULL) != listed)
            fail_msg("%s: %g, the API lists %d", series, harness_prom_sum(text, series, NULL),
                     listed);
    }
    assert_true(harness_prom_sum(text, "herd_master_tasks{state=\"completed\"}", NULL) == 1);
    assert_true(harness_prom_sum(text, "herd_master_tasks{state=\"pending\"}", NULL) == 1);
    assert_true(harness_prom_sum(text, "herd_master_tasks{state=\"cancelled\"}", NULL) == 1);
    assert_true(workers_agree(r));
    assert_true(harness_prom_sum(text, "herd_master_workers{state=\"active\"}", NULL) == WORKERS);
    char *lint = promtool_check(r->dir, text);
    if (lint) fail_msg("promtool check metrics: %s", lint);
    free(text);
}

/* A worker killed: suspect, then lost, in /metrics as in GET /api/v1/workers. */
static void test_worker_states_follow_api(void **state)
{
    struct rig *r = *state;
    kill(r->workers[1], SIGKILL);
    harness_wait(r->workers[1], 5000);
    assert_true(
        harness_wait_until(api_count_state(r, "/api/v1/workers", "workers", "lost") == 1, 30000));
    /* lost is where it stays: both sides must say so */
    assert_true(harness_wait_until(workers_agree(r), 10000));
    assert_true(scraped(r->master_port, "herd_master_workers{state=\"lost\"}") == 1);
    assert_true(scraped(r->master_port, "herd_master_workers{state=\"active\"}") == WORKERS - 1);
}

/* ---- the dashboard ---- */

/* Adds every family name of a scrape (its TYPE lines) to names; histograms also as
 * name_bucket, name_sum and name_count. */
static void names_of(const char *text, json_t *names)
{
    for (const char *line = strstr(text, "# TYPE "); line; line = strstr(line + 1, "\n# TYPE ")) {
        char name[128], type[32];
        if (sscanf(line + (line[0] == '\n' ? 8 : 7), "%127s %31s", name, type) != 2) continue;
        json_object_set_new(names, name, json_true());
        if (strcmp(type, "histogram") == 0) {
            static const char *const parts[] = {"_bucket", "_sum", "_count"};
            for (int i = 0; i < 3; i++) {
                char part[160];
                snprintf(part, sizeof part, "%s%s", name, parts[i]);
                json_object_set_new(names, part, json_true());
            }
        }
    }
}

/* Collects every "expr" string under j (panels, targets, templating queries) into exprs. */
static void exprs_of(json_t *j, json_t *exprs)
{
    const char *key;
    json_t *v;
    size_t i;
    if (json_is_object(j)) {
        json_object_foreach(j, key, v)
        {
            if ((strcmp(key, "expr") == 0 || strcmp(key, "query") == 0) && json_is_string(v))
                json_array_append(exprs, v);
            else if (json_is_object(v) && strcmp(key, "query") == 0 && json_object_get(v, "query"))
                json_array_append(exprs, json_object_get(v, "query"));
            else
                exprs_of(v, exprs);
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) exprs_of(v, exprs);
    }
}

/* deploy/grafana/herd.json: every herd_ metric its queries use is one that a live master or
 * gateway exports, and it uses some of each; it asks for a Prometheus data source. */
static void test_dashboard_names_are_exported(void **state)
{
    struct rig *r = *state;
    json_error_t error;
    json_t *dash = json_load_file(HERD_SOURCE_DIR "/deploy/grafana/herd.json", 0, &error);
    if (!dash) fail_msg("deploy/grafana/herd.json:%d:%d: %s", error.line, error.column, error.text);
    json_t *names = json_object();
    char *master = scrape(r->master_port), *gateway = scrape(r->gateway_port);
    assert_non_null(master);
    assert_non_null(gateway);
    names_of(master, names);
    names_of(gateway, names);
    free(master);
    free(gateway);
    json_t *exprs = json_array();
    exprs_of(dash, exprs);
    assert_true(json_array_size(exprs) >= 8);
    int used_master = 0, used_gateway = 0, unknown = 0;
    json_t *e;
    size_t i;
    json_array_foreach(exprs, i, e)
    {
        const char *s = json_string_value(e);
        for (const char *p = strstr(s, "herd_"); p; p = strstr(p + 1, "herd_")) {
            if (p > s && (isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == ':'))
                continue; /* inside another word */
            char name[160];
            size_t n = 0;
            while ((isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == ':') &&
                   n < sizeof name - 1) {
                name[n] = p[n];
                n++;
            }
            name[n] = '\0';
            if (!json_object_get(names, name)) {
                fprintf(stderr,
                        "[  ERROR   ] the dashboard uses %s, which nothing exports (in: %s)\n",
                        name, s);
                unknown++;
            }
            used_master += strncmp(name, "herd_master_", 12) == 0;
            used_gateway += strncmp(name, "herd_gateway_", 13) == 0;
        }
    }
    assert_int_equal(unknown, 0);
    assert_true(used_master > 0 && used_gateway > 0);
    /* a Prometheus data source variable, which every panel's queries go through */
    json_t *var, *found = NULL;
    json_array_foreach(
        json_object_get(json_object_get(dash, "templating"), "list"), i,
        var) if (strcmp(json_string_value(json_object_get(var, "type")) ?: "", "datasource") == 0 &&
                 strcmp(json_string_value(json_object_get(var, "query")) ?: "", "prometheus") == 0)
        found = var;
    assert_non_null(found);
    assert_true(json_integer_value(json_object_get(dash, "schemaVersion")) >= 36);
    json_decref(exprs);
    json_decref(names);
    json_decref(dash);
}

/* ---- Prometheus ---- */

/* Starts Debian's prometheus on a free port, scraping the master and the gateway every second,
 * its data in the rig's directory; waits until both targets are up. Exits 77 (CTest: skipped)
 * when prometheus cannot run here. */
static int setup_prometheus(void **state)
{
    static char binary[256];
    FILE *which = popen("command -v prometheus", "r");
    char *found = which ? fgets(binary, sizeof binary, which) : NULL;
    if (which) pclose(which);
    if (found) binary[strcspn(binary, "\n")] = '\0';
    char check[300];
    snprintf(check, sizeof check, "'%s' --version >/dev/null 2>&1", binary);
    if (!found || !binary[0] || system(check) != 0) {
        fprintf(stderr, "SKIP: Debian's prometheus %s (make test-deps installs it)\n",
                found ? "does not run here" : "is not installed");
        exit(77);
    }
    if (setup_gateway(state) < 0) return -1;
    struct rig *r = *state;
    char config[160], storage[160], listen[64], flag[3][200];
    snprintf(config, sizeof config, "%s/prometheus.yml", r->dir);
    snprintf(storage, sizeof storage, "%s/tsdb", r->dir);
    FILE *f = fopen(config, "w");
    if (!f) return -1;
    fprintf(f,
            "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: herd-master\n"
            "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
            "  - job_name: herd-gateway\n"
            "    static_configs: [{targets: ['127.0.0.1:%d']}]\n",
            r->master_port, r->gateway_port);
    fclose(f);
    r->prom_port = harness_free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", r->prom_port);
    snprintf(flag[0], sizeof flag[0], "--config.file=%s", config);
    snprintf(flag[1], sizeof flag[1], "--storage.tsdb.path=%s", storage);
    snprintf(flag[2], sizeof flag[2], "--web.listen-address=%s", listen);
    char *argv[] = {binary, flag[0], flag[1], flag[2], "--log.level=warn", NULL};
    spawn_logged(r, "prometheus", argv);
    return harness_wait_http(r->prom_port, "/-/ready", 30000) ? 0 : -1;
}

/* Prometheus's /api/v1/query of promql at Unix time at (0: now): the first result's value
 * into *value (NAN when there is none). Returns the HTTP status (400: not valid PromQL; its
 * error printed). */
static int prom_get(const struct rig *r, const char *promql, double at, double *value)
{
    char path[2048];
    size_t n = (size_t)snprintf(path, sizeof path, "/api/v1/query?query=");
    for (const unsigned char *c = (const unsigned char *)promql; *c && n + 4 < sizeof path; c++)
        n += isalnum(*c) || strchr("-_.~", *c) ? (size_t)snprintf(path + n, 2, "%c", *c)
                                               : (size_t)snprintf(path + n, 4, "%%%02X", *c);
    if (at > 0) snprintf(path + n, sizeof path - n, "&time=%.3f", at);
    json_t *j = NULL;
    int status = call_json(r->prom_port, "GET", path, NULL, &j);
    json_t *result = json_object_get(json_object_get(j, "data"), "result");
    const char *text =
        json_string_value(json_array_get(json_object_get(json_array_get(result, 0), "value"), 1));
    *value = text ? strtod(text, NULL) : NAN;
    if (status != 200)
        fprintf(stderr, "[  ERROR   ] %s -> %d %s\n", promql, status,
                json_string_value(json_object_get(j, "error")) ?: "");
    json_decref(j);
    return status;
}

/* The value prom_get finds, or NAN. */
static double prom_query(const struct rig *r, const char *promql, double at)
{
    double v;
    return prom_get(r, promql, at, &v) == 200 ? v : NAN;
}

static double wall_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Prometheus scraping the master and a gateway while a task runs through the gateway: after
 * the end, the scraped counters equal what the nodes counted, exactly (the master's task and
 * workers, the gateway's requests and per node); a rate() inside the run is the nodes' count
 * over the run's length, within 25% (a measurement cross-check, not a timing); and every
 * query of the Grafana dashboard is valid PromQL that Prometheus evaluates. */
static void test_prometheus_scrapes_master_and_gateway(void **state)
{
    struct rig *r = *state;
    assert_true(harness_wait_until(prom_query(r, "sum(up)", 0) == 2, 30000));
    long long before[2] = {harness_node_total(r->node_ports[0]),
                           harness_node_total(r->node_ports[1])};
    char config[256], q[256];
    snprintf(config, sizeof config,
             "{\"url\": \"http://127.0.0.1:%d/echo\", \"requests\": 2000, \"rate\": 200, "
             "\"concurrency\": 4}",
             r->gateway_port);
    char id[64];
    const char *started = task_new(r, config, true);
    assert_non_null(started);
    snprintf(id, sizeof id, "%s", started);
    assert_true(harness_wait_until(task_over(r, id), 90000));
    long long per_node[2];
    for (int i = 0; i < 2; i++)
        per_node[i] = harness_node_total(r->node_ports[i]) - before[i] - 1;
    long long counted = per_node[0] + per_node[1];
    fprintf(stderr, "[  INFO    ] the nodes counted %lld + %lld\n", per_node[0], per_node[1]);
    assert_int_equal(counted, 2000);

    /* exact, once a scrape after the end is in */
    snprintf(q, sizeof q, "sum(herd_master_task_requests_total{task=\"%s\"})", id);
    if (!harness_wait_until(prom_query(r, q, 0) == counted, 30000))
        fail_msg("%s: %g, the nodes counted %lld", q, prom_query(r, q, 0), counted);
    const char *exact[] = {"sum(herd_master_worker_requests_total)", "herd_gateway_requests_total",
                           "sum(herd_gateway_responses_total{outcome=\"2xx\"})"};
    for (int i = 0; i < 3; i++)
        if (!harness_wait_until(prom_query(r, exact[i], 0) == counted, 30000))
            fail_msg("%s: %g, the nodes counted %lld", exact[i], prom_query(r, exact[i], 0),
                     counted);
    for (int i = 0; i < 2; i++) {
        snprintf(q, sizeof q, "sum(herd_gateway_node_requests_total{node=\"api.%d\"})", i + 1);
        if (prom_query(r, q, 0) != per_node[i])
            fail_msg("%s: %g, the node counted %lld", q, prom_query(r, q, 0), per_node[i]);
    }

    /* rate() inside the run against the nodes' count over the run's length */
    json_t *t = task_of(r, id);
    double start = (double)json_integer_value(json_object_get(
                       json_array_get(json_object_get(t, "assignments"), 0), "start_at_us")) /
                   1e6;
    json_decref(t);
    char path[128];
    json_t *doc = NULL;
    snprintf(path, sizeof path, "/api/v1/tasks/%s/report?format=json", id);
    assert_int_equal(call_json(r->master_port, "GET", path, NULL, &doc), 200);
    double elapsed = json_real_value(json_object_get(doc, "elapsed_s"));
    json_decref(doc);
    assert_true(start > 0 && elapsed > 5);
    double expected = (double)counted / elapsed;
    int window = (int)(elapsed * 0.6);
    double at = start + elapsed * 0.8;
    assert_true(at < wall_now());
    const char *rates[] = {"sum(rate(herd_gateway_requests_total[%ds]))",
                           "sum(rate(herd_master_task_requests_total{task=\"%s\"}[%ds]))"};
    for (int i = 0; i < 2; i++) {
        if (i == 0)
            snprintf(q, sizeof q, rates[0], window);
        else
            snprintf(q, sizeof q, rates[1], id, window);
        /* the master has a second's counts about a second after the gateway */
        double got = prom_query(r, q, at + i);
        fprintf(stderr, "[  INFO    ] %s at +%.1f s: %.1f/s; the nodes: %lld in %.2f s = %.1f/s\n",
                q, at + i - start, got, counted, elapsed, expected);
        if (!(fabs(got / expected - 1) < 0.25))
            fail_msg("%s: %.1f/s, the nodes' count over the run %.1f/s", q, got, expected);
    }

    /* every dashboard query evaluates ($task: all, $__rate_interval: 5s) */
    json_t *dash = json_load_file(HERD_SOURCE_DIR "/deploy/grafana/herd.json", 0, NULL);
    assert_non_null(dash);
    json_t *exprs = json_array(), *e;
    size_t i;
    exprs_of(dash, exprs);
    int evaluated = 0;
    json_array_foreach(exprs, i, e)
    {
        const char *s = json_string_value(e);
        if (!strstr(s, "herd_") || strncmp(s, "label_values", 12) == 0) continue;
        char promql[1024];
        size_t n = 0;
        for (const char *c = s; *c && n + 8 < sizeof promql;) {
            const char *with = strncmp(c, "$__rate_interval", 16) == 0 ? "5s"
                               : strncmp(c, "$task", 5) == 0           ? ".*"
                                                                       : NULL;
            if (with) {
                n += (size_t)snprintf(promql + n, sizeof promql - n, "%s", with);
                c += with[0] == '5' ? 16 : 5;
            } else {
                promql[n++] = *c++;
            }
        }
        promql[n] = '\0';
        double v;
        if (prom_get(r, promql, 0, &v) != 200)
            fail_msg("the dashboard's query %s does not evaluate", s);
        evaluated++;
    }
    assert_true(evaluated >= 8);
    json_decref(exprs);
    json_decref(dash);
}

int integration_metrics(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metrics_agree_with_nodes_and_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_states_follow_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dashboard_names_are_exported, setup_gateway, teardown),
        cmocka_unit_test_setup_teardown(test_prometheus_scrapes_master_and_gateway,
                                        setup_prometheus, teardown),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
