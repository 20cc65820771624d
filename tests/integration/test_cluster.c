/* test_cluster.c -- `herd up` and friends with real `herd node` replicas: up/status/down,
 * scale, restart policy, readiness, rollout, the fault verbs, bad cluster files, the
 * descriptors per replica, the foreground mode (a killed supervisor: test_lifetime.c). Each
 * test has its own state directory and ports, and its teardown runs `herd down` and checks
 * that nothing it started is left running. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cluster/control.h"
#include "cluster/state.h"
#include "../support/harness.h"
#include "integration.h"

struct cl {
    char dir[64];   /* state directory */
    char file[128]; /* cluster file */
    int base;       /* first port */
};

static int setup(void **state)
{
    struct cl *c = calloc(1, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "/tmp/herd-cl-XXXXXX");
    if (!mkdtemp(c->dir))
        return -1;
    snprintf(c->file, sizeof c->file, "%s/herd.yaml", c->dir);
    c->base = harness_free_ports(8);
    *state = c;
    return c->base > 0 ? 0 : -1;
}

/* herd VERB ... --state-dir DIR; returns the exit code; out/err optional. */
static int herd(struct cl *c, char **out, char **err, ...)
{
    char *args[24];
    size_t n = 0;
    va_list ap;
    va_start(ap, err);
    for (char *a; (a = va_arg(ap, char *)) && n < 20;)
        args[n++] = a;
    va_end(ap);
    char state[128];
    snprintf(state, sizeof state, "--state-dir=%s/state", c->dir);
    args[n++] = state;
    args[n] = NULL;
    return harness_herd(args, 60000, out, err);
}

static int teardown(void **state)
{
    struct cl *c = *state;
    herd(c, NULL, NULL, "down", NULL);
    /* nothing the pid files name may still run */
    struct state_dir st;
    char root[128];
    snprintf(root, sizeof root, "%s/state", c->dir);
    snprintf(st.root, sizeof st.root, "%s", root);
    struct state_pid *pids;
    size_t count;
    int alive = 0;
    if (state_pid_list(&st, &pids, &count) == 0) {
        for (size_t i = 0; i < count; i++)
            if (proc_is(pids[i].pid, pids[i].starttime)) {
                alive++;
                kill(-pids[i].pid, SIGKILL);
            }
        free(pids);
    }
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", c->dir);
    if (system(cmd) != 0) {
        /* a leftover temporary directory is harmless */
    }
    free(c);
    return alive ? -1 : 0;
}

static void write_cluster(struct cl *c, const char *fmt, ...)
{
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    FILE *f = fopen(c->file, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The supervisor's status JSON, straight from its control socket. */
static json_t *status(struct cl *c)
{
    struct state_dir st;
    snprintf(st.root, sizeof st.root, "%s/state", c->dir);
    int http;
    char *body = NULL, err[256];
    if (control_call(&st, "GET", "/status", NULL, 5000, &http, &body, err, sizeof err) < 0)
        return NULL;
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    return j;
}

static json_t *node_of(json_t *st, const char *id)
{
    return harness_json_find(json_object_get(st, "nodes"), "id", id);
}

static const char *state_of(json_t *st, const char *id)
{
    return json_string_value(json_object_get(node_of(st, id), "state"));
}

static int pid_of(json_t *st, const char *id)
{
    return (int)json_integer_value(json_object_get(node_of(st, id), "pid"));
}

/* True when node id is in state want. */
static bool in_state(struct cl *c, const char *id, const char *want)
{
    json_t *st = status(c);
    bool ok = st && state_of(st, id) && strcmp(state_of(st, id), want) == 0;
    json_decref(st);
    return ok;
}

/* Polls until node id is in state want, at most timeout_ms. */
static bool wait_state(struct cl *c, const char *id, const char *want, int timeout_ms)
{
    return harness_wait_until(in_state(c, id, want), timeout_ms);
}

static const char *node_header(int port, char *buf, size_t size)
{
    if (harness_get(port, "/health", buf, size, NULL) != 200)
        return NULL;
    char *h = strstr(buf, "X-Herd-Node: ");
    if (!h)
        return NULL;
    h += 13;
    *strchr(h, '\r') = '\0';
    return h;
}

static void test_up_status_down(void **state)
{
    struct cl *c = *state;
    write_cluster(c, "name: trio\ngroups:\n  api:\n    command: herd node --log-level warn\n"
                     "    replicas: 3\n    base_port: %d\n", c->base);
    char *out = NULL, *err = NULL;
    assert_int_equal(herd(c, &out, &err, "up", "-d", "-f", c->file, NULL), 0);
    for (int i = 1; i <= 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "api.%d", i);
        assert_non_null(strstr(out, id));
    }
    assert_non_null(strstr(out, "ready"));
    /* the hints name the state directory, which is not the default */
    char hint[256];
    snprintf(hint, sizeof hint, "stop with: herd down --state-dir %s/state\n", c->dir);
    assert_non_null(strstr(out, hint));
    snprintf(hint, sizeof hint, "(herd logs --state-dir %s/state)", c->dir);
    assert_non_null(strstr(out, hint));
    free(out);
    free(err);
    /* each replica got its port and its NODE_ID */
    char buf[4096];
    for (int i = 0; i < 3; i++) {
        char want[16];
        snprintf(want, sizeof want, "api.%d", i + 1);
        const char *who = node_header(c->base + i, buf, sizeof buf);
        assert_non_null(who);
        assert_string_equal(who, want);
    }
    assert_int_equal(herd(c, &out, NULL, "status", NULL), 0);
    assert_non_null(strstr(out, "cluster trio: ready"));
    assert_non_null(strstr(out, "HEALTH"));
    free(out);
    json_t *st = status(c);
    int pids[3];
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "api.%d", i + 1);
        assert_string_equal(state_of(st, id), "ready");
        pids[i] = pid_of(st, id);
        assert_true(pids[i] > 0);
    }
    json_decref(st);
    /* a second up over a running cluster is refused */
    assert_int_equal(herd(c, NULL, &err, "up", "-d", "-f", c->file, NULL), 3);
    assert_non_null(strstr(err, "already running"));
    snprintf(hint, sizeof hint, "run herd down --state-dir %s/state first", c->dir);
    assert_non_null(strstr(err, hint));
    free(err);
    assert_int_equal(herd(c, &out, NULL, "down", NULL), 0);
    free(out);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(proc_starttime(pids[i]), 0); /* gone (a zombie counts as gone) */
        assert_false(harness_port_open(c->base + i));
    }
}

static void test_scale_up_and_down(void **state)
{
    struct cl *c = *state;
    write_cluster(c, "groups:\n  api:\n    command: herd node --log-level warn\n    replicas: 2\n"
                     "    base_port: %d\n", c->base);
    assert_int_equal(herd(c, NULL, NULL, "up", "-d", "-f", c->file, NULL), 0);
    char *out = NULL, buf[4096];
    assert_int_equal(herd(c, &out, NULL, "scale", "api=4", NULL), 0);
    assert_non_null(strstr(out, "api.4"));
    free(out);
    /* the new replicas were waited for: they answer now */
    assert_string_equal(node_header(c->base + 3, buf, sizeof buf), "api.4");
    assert_string_equal(node_header(c->base + 2, buf, sizeof buf), "api.3");
    assert_int_equal(herd(c, NULL, NULL, "scale", "api=1", NULL), 0);
    for (int i = 1; i < 4; i++)
        assert_false(harness_port_open(c->base + i));
    assert_string_equal(node_header(c->base, buf, sizeof buf), "api.1");
    json_t *st = status(c);
    assert_int_equal(json_array_size(json_object_get(st, "nodes")), 1);
    json_decref(st);
    char *err = NULL;
    assert_int_equal(herd(c, NULL, &err, "scale", "web=2", NULL), 2);
    assert_non_null(strstr(err, "no group 'web'"));
    free(err);
    assert_int_equal(herd(c, NULL, &err, "scale", "api", NULL), 2);
    assert_non_null(strstr(err, "expected GROUP=N"));
    free(err);
}

/* The pid of node id once it is ready again in a process other than old, with one restart
 * counted; else 0. */
static int restarted_pid(struct cl *c, const char *id, int old)
{
    json_t *st = status(c);
    int pid = 0;
    if (st && state_of(st, id) && strcmp(state_of(st, id), "ready") == 0 && pid_of(st, id) != old) {
        pid = pid_of(st, id);
        assert_int_equal(json_integer_value(json_object_get(node_of(st, id), "restarts")), 1);
    }
    json_decref(st);
    return pid;
}

static void test_restart_policy_after_kill9(void **state)
{
    struct cl *c = *state;
    write_cluster(c, "groups:\n  api:\n    command: herd node --log-level warn\n    replicas: 2\n"
                     "    base_port: %d\n    restart: on-failure\n    restart_backoff: 100ms\n"
                     "  once:\n    command: herd node --log-level warn\n    base_port: %d\n",
                  c->base, c->base + 5);
    assert_int_equal(herd(c, NULL, NULL, "up", "-d", "-f", c->file, NULL), 0);
    json_t *st = status(c);
    int old = pid_of(st, "api.2"), once = pid_of(st, "once.1");
    json_decref(st);
    /* a crash from outside herd: SIGKILL straight to the process */
    assert_int_equal(kill(old, SIGKILL), 0);
    assert_int_equal(kill(once, SIGKILL), 0);
    int fresh = 0;
    harness_wait_until((fresh = restarted_pid(c, "api.2", old)) > 0, 5000);
    assert_true(fresh > 0);
    char buf[4096];
    assert_string_equal(node_header(c->base + 1, buf, sizeof buf), "api.2");
    /* restart: never (the default) leaves it down */
    assert_true(wait_state(c, "once.1", "exited", 3000));
    assert_false(harness_port_open(c->base + 5));
}

static void test_readiness_waits_for_health(void **state)
{
    struct cl *c = *state;
    /* starts listening only after 0.6 s: up must not return before it answers */
    write_cluster(c, "groups:\n  slow:\n    command: \"sh -c 'sleep 0.6; exec %s node --log-level warn'\"\n"
                     "    base_port: %d\n", harness_herd_bin(), c->base);
    long t0 = harness_now_ms();
    assert_int_equal(herd(c, NULL, NULL, "up", "-d", "-f", c->file, NULL), 0);
    assert_true(harness_now_ms() - t0 >= 600);
    char buf[4096];
    assert_non_null(node_header(c->base, buf, sizeof buf)); /* at once, no retry */
    json_t *st = status(c);
    assert_true(json_number_value(json_object_get(node_of(st, "slow.1"), "ready_ms")) >= 550);
    json_decref(st);
    assert_int_equal(herd(c, NULL, NULL, "down", NULL), 0);
    /* a health check that never passes: exit 3 naming the node and cause, nothing left */
    write_cluster(c, "groups:\n  api:\n    command: herd node --log-level warn\n    replicas: 2\n"
                     "    base_port: %d\n    health: /status/503\n    ready_timeout: 1s\n", c->base);
    char *err = NULL;
    assert_int_equal(herd(c, NULL, &err, "up", "-d", "-f", c->file, NULL), 3);
    assert_non_null(strstr(err, "not ready after 1.0 s: /status/503 status 503"));
    free(err);
    assert_true(harness_wait_until(!harness_port_open(c->base) && !harness_port_open(c->base + 1),
                                   5000));
}

struct poller {
    int base, n;
    atomic_bool stop;
    atomic_int min_ready, polls;
};

/* Samples, every 10 ms until told to stop, how many of the replicas answer. */
static void *poll_ready(void *arg)
{
    struct poller *p = arg;
    while (!atomic_load(&p->stop)) {
        int ready = 0;
        char buf[4096];
        for (int i = 0; i < p->n; i++)
            ready += harness_get(p->base + i, "/health", buf, sizeof buf, NULL) == 200;
        if (ready < atomic_load(&p->min_ready))
            atomic_store(&p->min_ready, ready);
        atomic_fetch_add(&p->polls, 1);
        harness_pause_ms(10);
    }
    return NULL;
}

static void test_rollout_keeps_n_minus_1(void **state)
{
    struct cl *c = *state;
    write_cluster(c, "groups:\n  api:\n    command: herd node --log-level warn\n    replicas: 3\n"
                     "    base_port: %d\n    stop_grace: 2s\n", c->base);
    assert_int_equal(herd(c, NULL, NULL, "up", "-d", "-f", c->file, NULL), 0);
    json_t *st = status(c);
    int before[3] = {pid_of(st, "api.1"), pid_of(st, "api.2"), pid_of(st, "api.3")};
    json_decref(st);
    struct poller p = {.base = c->base, .n = 3};
    atomic_init(&p.stop, false);
    atomic_init(&p.min_ready, 3);
    atomic_init(&p.polls, 0);
    pthread_t t;
    pthread_create(&t, NULL, poll_ready, &p);
    assert_true(harness_wait_until(atomic_load(&p.polls) > 0, 10000)); /* sampling */
    assert_int_equal(herd(c, NULL, NULL, "rollout", "api", NULL), 0);
    int polls = atomic_load(&p.polls);
    harness_wait_until(atomic_load(&p.polls) > polls, 10000); /* one look after it */
    atomic_store(&p.stop, true);
    pthread_join(t, NULL);
    assert_true(atomic_load(&p.polls) >= 5);
    assert_true(atomic_load(&p.min_ready) >= 2); /* never more than one replica down */
    st = status(c);
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "api.%d", i + 1);
        assert_string_equal(state_of(st, id), "ready");
        assert_true(pid_of(st, id) != before[i]); /* every one was restarted */
    }
    json_decref(st);
}

static void test_fault_verbs(void **state)
{
    struct cl *c = *state;
    write_cluster(c, "groups:\n  api:\n    command: herd node --log-level warn\n    replicas: 3\n"
                     "    base_port: %d\n", c->base);
    assert_int_equal(herd(c, NULL, NULL, "up", "-d", "-f", c->file, NULL), 0);
    char buf[4096];
    /* pause: the node stops answering; resume: it answers again */
    assert_int_equal(herd(c, NULL, NULL, "pause", "api.2", NULL), 0);
    json_t *st = status(c);
    assert_string_equal(state_of(st, "api.2"), "paused");
    json_decref(st);
    int fd = harness_connect(c->base + 1, 500);
    assert_true(fd >= 0); /* the kernel still accepts... */
    harness_send(fd, "GET /health HTTP/1.1\r\n\r\n", 24);
    assert_int_equal(harness_read_responses(fd, 1, buf, sizeof buf), 0); /* ...nobody answers */
    close(fd);
    /* a second pause, a resume of a running node, a second stop: done already, a note, exit 0 */
    char *out = NULL;
    assert_int_equal(herd(c, &out, NULL, "pause", "api.2", NULL), 0);
    assert_true(strncmp(out, "api.2 is already paused\n", 24) == 0);
    free(out);
    assert_int_equal(herd(c, NULL, NULL, "resume", "api.2", NULL), 0);
    assert_string_equal(node_header(c->base + 1, buf, sizeof buf), "api.2");
    assert_int_equal(herd(c, &out, NULL, "resume", "api.2", NULL), 0);
    assert_true(strncmp(out, "api.2 is already running\n", 25) == 0);
    free(out);
    /* stop: down and staying down; restart brings it back */
    assert_int_equal(herd(c, NULL, NULL, "stop", "api.3", NULL), 0);
    assert_false(harness_port_open(c->base + 2));
    st = status(c);
    assert_string_equal(state_of(st, "api.3"), "stopped");
    json_decref(st);
    assert_int_equal(herd(c, &out, NULL, "stop", "api.3", NULL), 0);
    assert_true(strncmp(out, "api.3 is already stopped\n", 25) == 0);
    free(out);
    assert_int_equal(herd(c, NULL, NULL, "restart", "api.3", NULL), 0);
    assert_string_equal(node_header(c->base + 2, buf, sizeof buf), "api.3");
    /* kill: SIGKILL; with restart: never it stays down, as exited */
    assert_int_equal(herd(c, NULL, NULL, "kill", "api.1", NULL), 0);
    assert_true(wait_state(c, "api.1", "exited", 3000));
    assert_false(harness_port_open(c->base));
    st = status(c);
    assert_int_equal(json_integer_value(json_object_get(node_of(st, "api.1"), "signal")), SIGKILL);
    json_decref(st);
    char *err = NULL;
    assert_int_equal(herd(c, NULL, &err, "pause", "api.1", NULL), 2);
    assert_non_null(strstr(err, "api.1 is not running"));
    free(err);
    assert_int_equal(herd(c, NULL, &err, "kill", "api.7", NULL), 2);
    assert_non_null(strstr(err, "no node 'api.7'"));
    free(err);
}

static void test_bad_cluster_files(void **state)
{
    struct cl *c = *state;
    static const struct {
        const char *text, *fragment;
    } cases[] = {
        {"groups:\n  api:\n    command: x\n    replica: 3\n", ":4:5: groups.api.replica: unknown key 'replica'"},
        {"groups:\n  api:\n    command: x\n    base_port: 70000\n", ":4:16: groups.api.base_port: '70000': expected a whole number from 1 to 65535"},
        {"groups:\n  api:\n    replicas: 2\n    base_port: 20000\n", "groups.api: missing 'command'"},
        {"groups:\n  a:\n    command: x\n    base_port: 20000\n    replicas: 2\n  b:\n    command: x\n    ports: [20001]\n",
         "port 20001 is given to both a.2 and b.1"},
        {"groups:\n  a:\n    command: x\n    base_port: 20000\n    depends_on: [nope]\n", "'nope' is not another group"},
        {"groups:\n  a:\n    command: x\n    base_port: 20000\n    depends_on: [b]\n  b:\n    command: x\n    base_port: 20001\n    depends_on: [a]\n",
         "dependency cycle"},
        {"groups:\n  a:\n    command: x\n    base_port: 20000\n    restart: sometimes\n", "'sometimes': expected never, on-failure or always"},
        {"groups:\n  a:\n    command: x\n", "a health check needs the replicas' ports"},
        {"groups: {}\n", "no group"},
        {"servers:\n  a: 1\n", "unknown key 'servers', expected one of: name, groups, gateway"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_cluster(c, "%s", cases[i].text);
        char *err = NULL;
        int code = herd(c, NULL, &err, "up", "-d", "-f", c->file, NULL);
        if (code != 2 || !strstr(err, cases[i].fragment) || !strstr(err, c->file))
            fail_msg("case %zu: exit %d, stderr '%s', expected 2 and '%s'", i, code, err, cases[i].fragment);
        free(err);
    }
    char *err = NULL;
    assert_int_equal(herd(c, NULL, &err, "up", "-f", "/nonexistent/herd.yaml", NULL), 2);
    assert_non_null(strstr(err, "cannot open"));
    free(err);
}

static void test_runtime_failures_exit_3(void **state)
{
    struct cl *c = *state;
    /* a port already taken */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(c->base + 1)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 1), 0);
    write_cluster(c, "groups:\n  api:\n    command: herd node --log-level warn\n    replicas: 2\n"
                     "    base_port: %d\n", c->base);
    char *err = NULL;
    assert_int_equal(herd(c, NULL, &err, "up", "-d", "-f", c->file, NULL), 3);
    char want[64];
    snprintf(want, sizeof want, "api.2: port %d is already in use", c->base + 1);
    assert_non_null(strstr(err, want));
    free(err);
    close(fd);
    assert_true(harness_wait_until(!harness_port_open(c->base), 5000)); /* api.1 was stopped again */
    /* a command that exits at once */
    write_cluster(c, "groups:\n  api:\n    command: /nonexistent/server --flag\n    base_port: %d\n", c->base);
    assert_int_equal(herd(c, NULL, &err, "up", "-d", "-f", c->file, NULL), 3);
    assert_non_null(strstr(err, "api.1: exited with code 127"));
    assert_non_null(strstr(err, "before it was ready"));
    assert_non_null(strstr(err, "not found"));
    free(err);
}

/* The herd binary the supervisor runs from is deleted: a replica that must start again cannot
 * (every replica is started through it), which is reported naming the node; the supervisor
 * keeps serving and stops cleanly, nothing left on its loop (the handle of a failed spawn used
 * to stay there, freed). */
static void test_binary_gone(void **state)
{
    struct cl *c = *state;
    char copy[160], cmd[400], state_arg[128];
    snprintf(copy, sizeof copy, "%s/herd-copy", c->dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", harness_herd_bin(), copy);
    assert_int_equal(system(cmd), 0);
    snprintf(state_arg, sizeof state_arg, "--state-dir=%s/state", c->dir);
    write_cluster(c, "groups:\n  api:\n    command: herd node --log-level warn\n    replicas: 2\n"
                     "    base_port: %d\n", c->base);
    char *argv[] = {copy, "up", "-d", "-f", c->file, state_arg, NULL};
    int up = harness_wait(harness_spawn_io(argv, NULL, "/dev/null", "/dev/null"), 60000);
    assert_true(up >= 0 && WIFEXITED(up) && WEXITSTATUS(up) == 0);
    assert_int_equal(unlink(copy), 0);
    char *err = NULL;
    assert_int_equal(herd(c, NULL, &err, "restart", "api.1", NULL), 3);
    assert_non_null(strstr(err, "api.1: cannot start"));
    free(err);
    json_t *st = status(c); /* a new connection to a supervisor that lived through it */
    assert_non_null(st);
    assert_string_equal(state_of(st, "api.1"), "failed");
    assert_string_equal(state_of(st, "api.2"), "ready");
    json_decref(st);
    char *out = NULL;
    assert_int_equal(herd(c, &out, NULL, "down", NULL), 0);
    assert_non_null(strstr(out, "cluster stopped"));
    free(out);
    char log[128], text[8192];
    snprintf(log, sizeof log, "%s/state/supervisor.log", c->dir);
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    if (strstr(text, "Sanitizer") || strstr(text, "runtime error") ||
        strstr(text, "still holds handles"))
        fail_msg("the supervisor's log: %s", text);
}

/* Ctrl-C while the replicas are still starting: every node stops and herd up exits 0 (it
 * used to report the interrupted start as a failure, and leak it). */
static void test_ctrl_c_during_start(void **state)
{
    struct cl *c = *state;
    write_cluster(c, "groups:\n  api:\n    command: herd node\n    replicas: 2\n    base_port: %d\n", c->base);
    char state_arg[128];
    snprintf(state_arg, sizeof state_arg, "--state-dir=%s/state", c->dir);
    for (int delay_ms = 20; delay_ms <= 80; delay_ms += 30) {
        char *argv[] = {(char *)harness_herd_bin(), "up", "-f", c->file, state_arg, NULL};
        pid_t pid = harness_spawn_io(argv, NULL, "/dev/null", "/dev/null");
        /* from its pid file on, herd up handles SIGINT (before, the signal kills it: an ASan
         * build on a loaded machine can take longer than delay_ms to get there) */
        struct state_dir st;
        struct state_pid sup;
        snprintf(st.root, sizeof st.root, "%s/state", c->dir);
        harness_wait_until(state_pid_read_supervisor(&st, &sup) == 0, 10000);
        harness_pause_ms(delay_ms); /* the subject: a Ctrl-C at some moment of the start */
        kill(pid, SIGINT);
        int status = harness_wait(pid, 15000);
        if (!(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0))
            fail_msg("SIGINT %d ms after the start: status %d", delay_ms, status);
        assert_false(harness_port_open(c->base));
        assert_false(harness_port_open(c->base + 1));
    }
}

/* True when the file at path holds text; its start is read into buf. */
static bool file_holds(const char *path, const char *text, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t got = f ? fread(buf, 1, size - 1, f) : 0;
    buf[got] = '\0';
    if (f) fclose(f);
    return strstr(buf, text) != NULL;
}

static void test_foreground_logs_and_ctrl_c(void **state)
{
    struct cl *c = *state;
    write_cluster(c, "groups:\n  api:\n    command: herd node\n    replicas: 2\n    base_port: %d\n", c->base);
    char out_path[128], state_arg[128];
    snprintf(out_path, sizeof out_path, "%s/up.out", c->dir);
    snprintf(state_arg, sizeof state_arg, "--state-dir=%s/state", c->dir);
    char *argv[] = {(char *)harness_herd_bin(), "up", "-f", c->file, state_arg, NULL};
    pid_t pid = harness_spawn_io(argv, NULL, out_path, "/dev/null");
    assert_true(wait_state(c, "api.1", "ready", 10000));
    assert_true(wait_state(c, "api.2", "ready", 10000));
    char buf[4096];
    assert_non_null(node_header(c->base + 1, buf, sizeof buf));
    /* the start is over once the table is printed (a Ctrl-C before is test_ctrl_c_during_start) */
    assert_true(harness_wait_until(file_holds(out_path, "READY_MS", buf, sizeof buf), 10000));
    kill(pid, SIGINT);
    int status = harness_wait(pid, 15000);
    if (!(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        FILE *log = fopen(out_path, "r");
        size_t got = log ? fread(buf, 1, sizeof buf - 1, log) : 0;
        buf[got] = '\0';
        if (log) fclose(log);
        fail_msg("herd up after SIGINT: status %d (exit %d, signal %d); it printed:\n%s", status,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                 WIFSIGNALED(status) ? WTERMSIG(status) : 0, buf);
    }
    assert_false(harness_port_open(c->base));
    assert_false(harness_port_open(c->base + 1));
    FILE *f = fopen(out_path, "r");
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_non_null(strstr(buf, "api.1      | "));   /* the replicas' own output, prefixed */
    assert_non_null(strstr(buf, "listening on 127.0.0.1:"));
    assert_non_null(strstr(buf, "READY_MS")); /* the table once all were ready */
    /* and the per-node log files */
    char log[128];
    snprintf(log, sizeof log, "%s/state/logs/api.2.log", c->dir);
    f = fopen(log, "r");
    assert_non_null(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_non_null(strstr(buf, "api.2: listening on"));
    char *out = NULL;
    assert_int_equal(herd(c, &out, NULL, "logs", "api.1", "-n", "1", NULL), 0);
    assert_non_null(strstr(out, "api.1: "));
    free(out);
}

static void test_env_substitution_and_tcp_health(void **state)
{
    struct cl *c = *state;
    write_cluster(c, "groups:\n  api:\n"
                     "    command: \"sh -c 'echo G=$GREETING N=$NODE_ID P=$SERVER_PORT H=$HERD_GROUP; exec %s node --log-level warn'\"\n"
                     "    replicas: 2\n    base_port: %d\n    health: tcp\n"
                     "    env: {GREETING: \"hi {node_id} on {port} of {group} #{index}\"}\n",
                  harness_herd_bin(), c->base);
    assert_int_equal(herd(c, NULL, NULL, "up", "-d", "-f", c->file, NULL), 0);
    char *out = NULL, want[160];
    assert_int_equal(herd(c, &out, NULL, "logs", "api.2", NULL), 0);
    snprintf(want, sizeof want, "G=hi api.2 on %d of api #2 N=api.2 P=%d H=api", c->base + 1, c->base + 1);
    if (!strstr(out, want))
        fail_msg("log of api.2 lacks '%s': %s", want, out);
    free(out);
    json_t *st = status(c);
    assert_string_equal(state_of(st, "api.1"), "ready");
    json_decref(st);
}

/* ---- KV peers follow the group's size ---- */

/* PUT /kv/key with value on 127.0.0.1:port; returns the status. */
static int kv_put(int port, const char *key, const char *value)
{
    char req[256], out[2048];
    snprintf(req, sizeof req,
             "PUT /kv/%s HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
             key, strlen(value), value);
    return harness_exchange(port, req, out, sizeof out);
}

/* Polls GET /kv/key on port until it answers value, at most timeout_ms. */
static bool wait_kv(int port, const char *key, const char *value, int timeout_ms)
{
    char path[128], out[4096];
    snprintf(path, sizeof path, "/kv/%s", key);
    const char *body = NULL;
    return harness_wait_until(
        harness_get(port, path, out, sizeof out, &body) == 200 && body && strcmp(body, value) == 0,
        timeout_ms);
}

/* The peers (their "peer" addresses, comma-separated, in order) of the node on port as its
 * GET /api/v1/kv/status lists them, each followed by "(file)" when the peers file named it. */
static void peers_of(int port, char *out, size_t size)
{
    char buf[16384];
    const char *body = NULL;
    out[0] = '\0';
    if (harness_get(port, "/api/v1/kv/status", buf, sizeof buf, &body) != 200 || !body) return;
    json_t *j = json_loads(body, 0, NULL);
    size_t i, len = 0;
    json_t *p;
    json_array_foreach(json_object_get(j, "peers"), i, p)
    {
        const char *from = json_string_value(json_object_get(p, "from"));
        int n = snprintf(out + len, size - len, "%s%s%s", len ? "," : "",
                         json_string_value(json_object_get(p, "peer")),
                         from && strcmp(from, "file") == 0 ? "(file)" : "");
        if (n < 0 || (size_t)n >= size - len) break;
        len += (size_t)n;
    }
    json_decref(j);
}

/* Polls until the node on port lists exactly the peers want (as peers_of writes them). */
static bool wait_peers(int port, const char *want, int timeout_ms, char *seen, size_t size)
{
    return harness_wait_until((peers_of(port, seen, size), strcmp(seen, want) == 0), timeout_ms);
}

static void test_scale_peers_follow_the_group(void **state)
{
    struct cl *c = *state;
    write_cluster(c,
                  "groups:\n  api:\n    command: herd node --log-level warn\n    replicas: 2\n"
                  "    base_port: %d\n",
                  c->base);
    assert_int_equal(herd(c, NULL, NULL, "up", "-d", "-f", c->file, NULL), 0);
    assert_int_equal(kv_put(c->base, "before", "b1"), 201);
    assert_true(wait_kv(c->base + 1, "before", "b1", 10000));
    assert_int_equal(herd(c, NULL, NULL, "scale", "api=3", NULL), 0);

    /* the old replicas read the new one (they were told through their peers files)... */
    char want[160], seen[512];
    for (int i = 0; i < 2; i++) {
        snprintf(want, sizeof want, "127.0.0.1:%d(file),127.0.0.1:%d(file)", c->base + 1 - i,
                 c->base + 2);
        if (!wait_peers(c->base + i, want, 10000, seen, sizeof seen))
            fail_msg("api.%d lists peers '%s', expected '%s'", i + 1, seen, want);
    }
    assert_int_equal(kv_put(c->base + 2, "from-new", "n3"), 201);
    for (int i = 0; i < 2; i++)
        if (!wait_kv(c->base + i, "from-new", "n3", 10000))
            fail_msg("api.%d never got the write made on api.3", i + 1);
    /* ... and the new one reads them, from their start */
    assert_true(wait_kv(c->base + 2, "before", "b1", 10000));
    assert_int_equal(kv_put(c->base, "from-old-1", "o1"), 201);
    assert_int_equal(kv_put(c->base + 1, "from-old-2", "o2"), 201);
    assert_true(wait_kv(c->base + 2, "from-old-1", "o1", 10000));
    assert_true(wait_kv(c->base + 2, "from-old-2", "o2", 10000));

    /* scaled down: the replicas that stay drop the one that went, and still replicate */
    assert_int_equal(herd(c, NULL, NULL, "scale", "api=2", NULL), 0);
    for (int i = 0; i < 2; i++) {
        snprintf(want, sizeof want, "127.0.0.1:%d(file)", c->base + 1 - i);
        if (!wait_peers(c->base + i, want, 10000, seen, sizeof seen))
            fail_msg("api.%d lists peers '%s' after the scale down, expected '%s'", i + 1, seen,
                     want);
    }
    assert_int_equal(kv_put(c->base + 1, "after", "a2"), 201);
    assert_true(wait_kv(c->base, "after", "a2", 10000));
    char path[256];
    struct stat sb;
    snprintf(path, sizeof path, "%s/state/peers/api.3", c->dir);
    assert_int_equal(stat(path, &sb), -1); /* the gone replica's file went with it */
    snprintf(path, sizeof path, "%s/state/peers/api.1", c->dir);
    assert_int_equal(stat(path, &sb), 0);
}

/* How many live (not zombie) processes are in process group pgid, from /proc. */
static int group_members(int pgid)
{
    static pid_t pids[65536];
    size_t count = harness_proc_list(pids, sizeof pids / sizeof pids[0]);
    int n = 0;
    for (size_t i = 0; i < count; i++) {
        char st;
        pid_t group;
        n += harness_proc_stat(pids[i], &st, NULL, &group) && st != 'Z' && group == pgid;
    }
    return n;
}

/* A replica's children that ignore SIGTERM: herd down ends the whole group after stop_grace,
 * whether the leader exits on SIGTERM (stubborn.1) or ignores it too (deaf.1). */
static void test_down_ends_the_whole_group(void **state)
{
    struct cl *c = *state;
    write_cluster(c,
                  "name: stubborn\ngroups:\n"
                  "  stubborn:\n    command: sh -c '(trap \"\" TERM; exec sleep 300) & wait'\n"
                  "    health: none\n    stop_grace: 1s\n"
                  "  deaf:\n    command: sh -c 'trap \"\" TERM; sleep 300 & wait'\n"
                  "    health: none\n    stop_grace: 1s\n");
    assert_int_equal(herd(c, NULL, NULL, "up", "-d", "-f", c->file, NULL), 0);
    json_t *st = status(c);
    int leaders[2] = {pid_of(st, "stubborn.1"), pid_of(st, "deaf.1")};
    json_decref(st);
    for (int i = 0; i < 2; i++) {
        assert_true(leaders[i] > 1);
        /* the background sleep has started */
        assert_true(harness_wait_until(group_members(leaders[i]) == 2, 10000));
    }
    long start = harness_now_ms();
    char *out = NULL;
    assert_int_equal(herd(c, &out, NULL, "down", NULL), 0);
    free(out);
    long took = harness_now_ms() - start;
    if (took > 15000) fail_msg("herd down took %ld ms with a stop_grace of 1 s", took);
    for (int i = 0; i < 2; i++)
        if (group_members(leaders[i]) != 0)
            fail_msg("process group %d still has %d process(es) after herd down", leaders[i],
                     group_members(leaders[i]));
}

/* Writes a pid file for pid as herd would (its start time read now). */
static void fake_pid_file(struct cl *c, const char *name, int pid, const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "%s/state/%s", c->dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%d %llu 0 %s\n", pid, (unsigned long long)proc_starttime(pid), id);
    fclose(f);
}

/* True when process pid runs the sleep program. */
static bool runs_sleep(pid_t pid)
{
    char exe[256] = "", path[64];
    snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(path, exe, sizeof exe - 1);
    return n > 0 && (exe[n] = '\0', strstr(exe, "sleep") != NULL);
}

/* Pid files that name pid 1, or a live process herd did not start (with its right start
 * time), are not signalled by herd down. */
static void test_down_signals_only_its_own(void **state)
{
    struct cl *c = *state;
    char dir[160];
    snprintf(dir, sizeof dir, "%s/state", c->dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(dir, sizeof dir, "%s/state/pids", c->dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    pid_t sleeper = fork();
    assert_true(sleeper >= 0);
    if (sleeper == 0) {
        execlp("sleep", "sleep", "60", (char *)NULL);
        _exit(127);
    }
    assert_true(harness_wait_until(runs_sleep(sleeper), 5000)); /* not a copy of this test */
    assert_true(proc_starttime(1) > 0);
    fake_pid_file(c, "pids/init.pid", 1, "init");
    fake_pid_file(c, "pids/stranger.pid", sleeper, "stranger");
    fake_pid_file(c, "supervisor.pid", sleeper, "");
    char *out = NULL;
    assert_int_equal(herd(c, &out, NULL, "down", NULL), 0);
    assert_non_null(strstr(out, "nothing was running"));
    free(out);
    int status;
    assert_int_equal(waitpid(sleeper, &status, WNOHANG), 0); /* still running */
    kill(sleeper, SIGKILL);
    waitpid(sleeper, &status, 0);
}

/* A second herd up on the same state directory exits 3 and the first keeps working. */
static void test_second_up_is_locked_out(void **state)
{
    struct cl *c = *state;
    write_cluster(c, "name: one\ngroups:\n  api:\n    command: herd node --log-level warn\n"
                     "    replicas: 1\n    base_port: %d\n", c->base);
    assert_int_equal(herd(c, NULL, NULL, "up", "-d", "-f", c->file, NULL), 0);
    /* even with the first one's pid files gone, the lock keeps the second out */
    const char *names[] = {"supervisor.pid", "pids/api.1.pid"};
    char saved[2][256];
    for (int i = 0; i < 2; i++) {
        char path[160];
        snprintf(path, sizeof path, "%s/state/%s", c->dir, names[i]);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        assert_non_null(fgets(saved[i], sizeof saved[i], f));
        fclose(f);
        unlink(path);
    }
    char *err = NULL;
    assert_int_equal(herd(c, NULL, &err, "up", "-d", "-f", c->file, NULL), 3);
    assert_non_null(strstr(err, "already running"));
    free(err);
    for (int i = 0; i < 2; i++) { /* so that teardown's herd down finds what to stop */
        char path[160];
        snprintf(path, sizeof path, "%s/state/%s", c->dir, names[i]);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(saved[i], f);
        fclose(f);
    }
    json_t *st = status(c); /* its control socket still answers */
    assert_non_null(st);
    assert_string_equal(state_of(st, "api.1"), "ready");
    json_decref(st);
    char buf[4096];
    assert_int_equal(harness_get(c->base, "/health", buf, sizeof buf, NULL), 200);
}

/* herd logs shows this cluster's lines only (an earlier herd up's are moved aside), a node
 * that printed nothing has an empty log (exit 0), and -f waits for its first line. */
static void test_logs_of_this_cluster_only(void **state)
{
    struct cl *c = *state;
    write_cluster(c, "groups:\n  quiet:\n    command: herd node --log-level warn\n    base_port: %d\n"
                     "  talk:\n    command: sh -c 'echo hello; exec %s node --log-level warn'\n"
                     "    base_port: %d\n"
                     "  late:\n    command: sh -c '%s node --log-level warn & while [ ! -e %s/go ];"
                     " do sleep 0.05; done; echo late line; wait'\n    base_port: %d\n",
                     c->base, harness_herd_bin(), c->base + 1, harness_herd_bin(), c->dir, c->base + 2);
    for (int run = 0; run < 2; run++) { /* the second herd up: still one hello */
        assert_int_equal(herd(c, NULL, NULL, "up", "-d", "-f", c->file, NULL), 0);
        char *out = NULL, *err = NULL;
        assert_int_equal(herd(c, &out, &err, "logs", "talk.1", NULL), 0);
        assert_string_equal(out, "hello\n");
        free(out);
        free(err);
        out = err = NULL;
        assert_int_equal(herd(c, &out, &err, "logs", "quiet.1", NULL), 0);
        assert_string_equal(out, "");
        free(out);
        free(err);
        if (run == 0)
            assert_int_equal(herd(c, NULL, NULL, "down", NULL), 0);
    }
    char *err = NULL;
    assert_int_equal(herd(c, NULL, &err, "logs", "quiet.9", NULL), 2);
    assert_non_null(strstr(err, "no node 'quiet.9'"));
    free(err);
    /* -f on a node that has printed nothing yet: it waits, and shows the line once it comes */
    char out_path[128], state_arg[128], go[128], buf[1024];
    snprintf(out_path, sizeof out_path, "%s/logs.out", c->dir);
    snprintf(state_arg, sizeof state_arg, "--state-dir=%s/state", c->dir);
    snprintf(go, sizeof go, "%s/go", c->dir);
    char *argv[] = {(char *)harness_herd_bin(), "logs", "-f", "late.1", state_arg, NULL};
    pid_t pid = harness_spawn_io(argv, NULL, out_path, "/dev/null");
    FILE *f = fopen(go, "w");
    assert_non_null(f);
    fclose(f);
    bool seen = harness_wait_until(file_holds(out_path, "late line\n", buf, sizeof buf), 10000);
    bool following = harness_wait(pid, 0) < 0;
    kill(pid, SIGTERM);
    int status = harness_wait(pid, 5000);
    if (!seen || !following)
        fail_msg("herd logs -f printed '%s' (still running: %d)", buf, following);
    assert_string_equal(buf, "late line\n");
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Descriptors open in process pid (its /proc/PID/fd), or -1. */
static int fd_count(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int count = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            count++;
    closedir(d);
    return count - 1; /* the one opendir holds */
}

/* Requests the node on port answered since *base was read (harness_node_total), not counting
 * the ones this function made; *asked counts those. */
static long long node_answered_since(int port, long long base, int *asked)
{
    long long total = harness_node_total(port);
    return total < 0 ? -1 : total - base - (*asked)++;
}

/* The connections the node on port has open, by its own count (GET /api/v1/cluster/nodes;
 * that request's own connection included), or -1. */
static int node_connections(int port, const char *id)
{
    char buf[8192];
    const char *body = NULL;
    if (harness_get(port, "/api/v1/cluster/nodes", buf, sizeof buf, &body) != 200 || !body)
        return -1;
    json_t *j = json_loads(body, 0, NULL);
    json_t *n = json_object_get(json_object_get(json_object_get(j, "nodes"), id), "connections");
    int count = json_is_integer(n) ? (int)json_integer_value(n) : -1;
    json_decref(j);
    return count;
}

/* 40 replicas cost the supervisor one descriptor each (its /proc/PID/fd), not three: their
 * stdout and stderr come through one pipe (both lines reach herd logs, in the order written),
 * and a health check's connection is closed once answered (the node, checked again and
 * again, has no connection open between checks by its own count). */
static void test_one_descriptor_per_replica(void **state)
{
    struct cl *c = *state;
    int base = harness_free_ports(41);
    assert_true(base > 0);
    write_cluster(c, "groups:\n  api:\n    command: sh -c 'echo out line; echo err line >&2; exec %s"
                     " node --log-level warn'\n    replicas: 40\n    base_port: %d\n"
                     "    ready_timeout: 60s\n"
                     "  solo:\n    command: herd node --log-level warn\n    base_port: %d\n"
                     "    ready_timeout: 60s\n",
                     harness_herd_bin(), base, base + 40);
    char *out = NULL, *err = NULL;
    int rc = herd(c, &out, &err, "up", "-d", "-f", c->file, NULL);
    if (rc != 0)
        fail_msg("herd up: exit %d: %s", rc, err ? err : "");
    free(out);
    free(err);
    json_t *st = status(c);
    assert_non_null(st);
    int sup = (int)json_integer_value(json_object_get(st, "supervisor_pid"));
    json_decref(st);
    assert_true(sup > 1);
    int fds = fd_count(sup);
    if (fds < 0 || fds > 41 + 40)
        fail_msg("the supervisor of 41 replicas holds %d descriptors (expected at most 41 + 40)",
                 fds);
    out = err = NULL;
    assert_int_equal(herd(c, &out, &err, "logs", "api.7", NULL), 0);
    assert_string_equal(out, "out line\nerr line\n");
    free(out);
    free(err);
    /* the supervisor checks solo.1 again and again (the node counts the answers) ... */
    int port = base + 40, asked = 1;
    long long before = harness_node_total(port);
    assert_true(before >= 0);
    if (!harness_wait_until(node_answered_since(port, before, &asked) >= 3, 30000))
        fail_msg("solo.1 answered fewer than 3 health checks in 30 s");
    /* ... and has no connection of the supervisor's open in between: only this request's */
    int open = -1;
    if (!harness_wait_until((open = node_connections(port, "solo.1")) == 1, 20000))
        fail_msg("solo.1 has %d connections open (expected 1: this request's)", open);
}

int integration_cluster(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_up_status_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scale_up_and_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scale_peers_follow_the_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_policy_after_kill9, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readiness_waits_for_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollout_keeps_n_minus_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_verbs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_cluster_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_failures_exit_3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreground_logs_and_ctrl_c, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctrl_c_during_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_substitution_and_tcp_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_down_ends_the_whole_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_down_signals_only_its_own, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_up_is_locked_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logs_of_this_cluster_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_descriptor_per_replica, setup, teardown),
    };
    return cmocka_run_group_tests_name("cluster", tests, NULL, NULL);
}
