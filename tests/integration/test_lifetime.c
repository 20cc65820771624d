/* test_lifetime.c -- replicas never outlive their supervisor: herd up in the foreground, herd
 * up -d and herd test are each SIGKILLed once their cluster is up, and within 2 s no replica
 * may be left running, nor what a replica started in its process group. Nor does anything a
 * test started outlive the test process (harness_guard_descendants). The pids come from
 * the supervisor's pid files (and, for a replica's own child, a file its shell writes), each
 * checked against /proc with its start time; a zombie counts as gone. Whatever is still
 * running at the end, the teardown kills: only processes these tests started. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster/state.h"
#include "../support/harness.h"
#include "integration.h"

#define GONE_WITHIN_MS 2000
#define READY_MS       30000 /* generous: ASan builds on a loaded machine */
#define MAX_WATCHED    16

struct lt {
    char dir[64];
    int base; /* first of 4 free ports */
    struct state_dir st;
    struct state_pid watched[MAX_WATCHED]; /* what must be gone after the kill */
    size_t watched_count;
};

static int setup(void **state)
{
    struct lt *t = calloc(1, sizeof *t);
    if (!t) return -1;
    *state = t;
    snprintf(t->dir, sizeof t->dir, "/tmp/herd-lt-XXXXXX");
    if (!mkdtemp(t->dir)) return -1;
    snprintf(t->st.root, sizeof t->st.root, "%s/state", t->dir);
    t->base = harness_free_ports(4);
    return t->base > 0 ? 0 : -1;
}

/* Kills what is left: herd itself (a detached supervisor by its pid file), then every watched
 * process and replica group still running (same pid, same start time). Fails the test when
 * something was. */
static int teardown(void **state)
{
    struct lt *t = *state;
    harness_kill_all();
    int left = 0;
    struct state_pid sup;
    if (state_pid_read_supervisor(&t->st, &sup) == 0 && proc_is(sup.pid, sup.starttime)) {
        left++;
        kill(sup.pid, SIGKILL);
    }
    for (size_t i = 0; i < t->watched_count; i++)
        if (proc_is(t->watched[i].pid, t->watched[i].starttime)) {
            left++;
            kill(t->watched[i].pid, SIGKILL);
        }
    struct state_pid *pids;
    size_t count;
    if (state_pid_list(&t->st, &pids, &count) == 0) {
        for (size_t i = 0; i < count; i++)
            if (proc_is(pids[i].pid, pids[i].starttime)) {
                left++;
                kill(-pids[i].pid, SIGKILL);
            }
        free(pids);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", t->dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", t->dir);
    free(t);
    return left ? -1 : 0;
}

static char *write_file(struct lt *t, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static char *write_file(struct lt *t, const char *name, const char *fmt, ...)
{
    static char path[160];
    snprintf(path, sizeof path, "%s/%s", t->dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
    return path;
}

static void watch(struct lt *t, pid_t pid, const char *what)
{
    uint64_t start = proc_starttime(pid);
    if (pid <= 0 || !start) fail_msg("%s (pid %d) is not running", what, (int)pid);
    assert_true(t->watched_count < MAX_WATCHED);
    struct state_pid *w = &t->watched[t->watched_count++];
    w->pid = pid;
    w->starttime = start;
    snprintf(w->id, sizeof w->id, "%s", what);
}

/* True when the pid files name at least want nodes; then *pids (the caller frees) and *count
 * hold them. */
static bool pid_files(struct lt *t, size_t want, struct state_pid **pids, size_t *count)
{
    free(*pids);
    *pids = NULL;
    *count = 0;
    return state_pid_list(&t->st, pids, count) == 0 && *count >= want;
}

/* Waits until the ports from first_port on answer and the pid files name `replicas` nodes;
 * then watches each node's process. */
static void watch_replicas_when_up(struct lt *t, size_t replicas, int first_port, int port_count)
{
    for (int i = 0; i < port_count; i++)
        if (!harness_wait_http(first_port + i, "/health", READY_MS))
            fail_msg("nothing answers on port %d after %d s", first_port + i, READY_MS / 1000);
    struct state_pid *pids = NULL;
    size_t count = 0;
    harness_wait_until(pid_files(t, replicas, &pids, &count), READY_MS);
    if (count != replicas)
        fail_msg("%zu pid files in %s/pids, expected %zu", count, t->st.root, replicas);
    for (size_t i = 0; i < count; i++)
        watch(t, pids[i].pid, pids[i].id);
    free(pids);
}

static bool watched(const struct lt *t, pid_t pid)
{
    for (size_t i = 0; i < t->watched_count; i++)
        if (t->watched[i].pid == pid) return true;
    return false;
}

/* Watches every live process whose parent is `parent`, from /proc: the replicas, and the guard
 * of their process groups. Returns how many there are. */
static size_t watch_children(struct lt *t, pid_t parent)
{
    static pid_t pids[65536];
    size_t count = harness_proc_list(pids, sizeof pids / sizeof pids[0]), found = 0;
    for (size_t i = 0; i < count; i++) {
        char st;
        pid_t ppid;
        if (!harness_proc_stat(pids[i], &st, &ppid, NULL) || ppid != parent || st == 'Z')
            continue;
        found++;
        if (!watched(t, pids[i])) {
            char what[64];
            snprintf(what, sizeof what, "child %d of the supervisor", (int)pids[i]);
            watch(t, pids[i], what);
        }
    }
    return found;
}

/* The pid written into DIR/name, or 0 while there is none. */
static int pid_written(const struct lt *t, const char *name)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s", t->dir, name);
    int pid = 0;
    FILE *f = fopen(path, "r");
    if (f && fscanf(f, "%d", &pid) != 1) pid = 0;
    if (f) fclose(f);
    return pid;
}

/* Watches the process whose pid is written into DIR/name (a replica's background child, by
 * its shell), once it is. */
static void watch_pid_written(struct lt *t, const char *name)
{
    harness_wait_until(pid_written(t, name) > 0, READY_MS);
    watch(t, pid_written(t, name), name);
}

/* How many watched processes still run. */
static size_t watched_alive(const struct lt *t)
{
    size_t alive = 0;
    for (size_t i = 0; i < t->watched_count; i++)
        alive += proc_is(t->watched[i].pid, t->watched[i].starttime);
    return alive;
}

/* SIGKILLs pid (the supervisor, or what started it); asserts that every watched process is
 * gone within 2 s. */
static void kill_and_expect_all_gone(struct lt *t, pid_t pid, bool our_child)
{
    long killed = harness_now_ms();
    assert_int_equal(kill(pid, SIGKILL), 0);
    if (our_child) harness_wait(pid, 5000);
    harness_wait_until(watched_alive(t) == 0, GONE_WITHIN_MS);
    for (size_t i = 0; i < t->watched_count; i++)
        if (proc_is(t->watched[i].pid, t->watched[i].starttime))
            fail_msg("%s (pid %d) still runs %ld ms after pid %d was SIGKILLed", t->watched[i].id,
                     (int)t->watched[i].pid, harness_now_ms() - killed, (int)pid);
}

/* Two herd nodes, and a replica whose shell leaves a child behind in its process group. */
static const char *write_cluster(struct lt *t)
{
    return write_file(t, "herd.yaml",
                      "groups:\n"
                      "  api:\n"
                      "    command: herd node --log-level warn\n"
                      "    replicas: 2\n"
                      "    base_port: %d\n"
                      "  forks:\n"
                      "    command: \"sh -c 'sleep 300 & echo $! > %s/child.pid; exec %s node "
                      "--log-level warn'\"\n"
                      "    base_port: %d\n"
                      "    health: tcp\n",
                      t->base, t->dir, harness_herd_bin(), t->base + 2);
}

static void test_up_foreground_killed(void **state)
{
    struct lt *t = *state;
    const char *file = write_cluster(t);
    char state_arg[128], out[128], err[128];
    snprintf(state_arg, sizeof state_arg, "--state-dir=%s/state", t->dir);
    snprintf(out, sizeof out, "%s/up.out", t->dir);
    snprintf(err, sizeof err, "%s/up.err", t->dir);
    char *argv[] = {(char *)harness_herd_bin(), "up", "-f", (char *)file, state_arg, NULL};
    pid_t up = harness_spawn_io(argv, NULL, out, err);
    assert_true(up > 0);
    watch_replicas_when_up(t, 3, t->base, 3);
    watch_pid_written(t, "child.pid");
    assert_int_equal(watch_children(t, up), 4); /* 3 replicas, 1 guard */
    kill_and_expect_all_gone(t, up, true);
}

static void test_up_detached_killed(void **state)
{
    struct lt *t = *state;
    const char *file = write_cluster(t);
    char state_arg[128];
    snprintf(state_arg, sizeof state_arg, "--state-dir=%s/state", t->dir);
    char *args[] = {"up", "-d", "-f", (char *)file, state_arg, NULL};
    assert_int_equal(harness_herd(args, 60000, NULL, NULL), 0);
    struct state_pid sup;
    assert_int_equal(state_pid_read_supervisor(&t->st, &sup), 0);
    assert_true(proc_is(sup.pid, sup.starttime));
    watch_replicas_when_up(t, 3, t->base, 3);
    watch_pid_written(t, "child.pid");
    assert_int_equal(watch_children(t, sup.pid), 4); /* 3 replicas, 1 guard */
    kill_and_expect_all_gone(t, sup.pid, false);
    /* what herd shows of a cluster whose supervisor was killed */
    char *text = NULL;
    char *status_args[] = {"status", state_arg, NULL};
    assert_int_equal(harness_herd(status_args, 30000, &text, NULL), 0);
    assert_non_null(strstr(text, "no supervisor answers"));
    assert_null(strstr(text, "running (unsupervised)"));
    free(text);
    char *down_args[] = {"down", state_arg, NULL};
    assert_int_equal(harness_herd(down_args, 30000, &text, NULL), 0);
    assert_non_null(strstr(text, "nothing was running"));
    free(text);
}

static void test_plan_killed(void **state)
{
    struct lt *t = *state;
    const char *plan =
        write_file(t, "plan.yaml",
                   "name: killed mid-run\n"
                   "cluster:\n"
                   "  groups:\n"
                   "    api: {command: herd node --log-level warn, replicas: 2, base_port: %d}\n"
                   "target: http://127.0.0.1:%d\n"
                   "checks:\n"
                   "  - concurrency: {connections: 2, duration: 30s}\n",
                   t->base, t->base);
    char state_arg[128], reports[128], out[128], err[128];
    snprintf(state_arg, sizeof state_arg, "--state-dir=%s/state", t->dir);
    snprintf(reports, sizeof reports, "--report-dir=%s/reports", t->dir);
    snprintf(out, sizeof out, "%s/test.out", t->dir);
    snprintf(err, sizeof err, "%s/test.err", t->dir);
    char *argv[] = {
        (char *)harness_herd_bin(), "test", "-q", (char *)plan, state_arg, reports, NULL};
    pid_t run = harness_spawn_io(argv, NULL, out, err);
    assert_true(run > 0);
    watch_replicas_when_up(t, 2, t->base, 2);
    assert_int_equal(watch_children(t, run), 3); /* 2 replicas, 1 guard */
    kill_and_expect_all_gone(t, run, true);
}

/* ---- the test process itself killed: what it started goes with it ---- */

#define VICTIM_DIR_VAR "HERD_TEST_VICTIM_DIR"

/* Not a test: the part of test_killed_test_leaves_nothing that gets killed, run as
 * `herd_integration lifetime_victim` with HERD_TEST_VICTIM_DIR=DIR (without it, it does
 * nothing). It starts what tests start: a node of its own (DIR/node.pid), and a `herd up -d`
 * cluster whose state is in DIR/state (its supervisor in a session of its own, a replica's
 * background child in DIR/child.pid); then it writes DIR/ready and waits to be killed. */
int integration_lifetime_victim(void)
{
    const char *dir = getenv(VICTIM_DIR_VAR);
    if (!dir) return 0;
    struct lt t = {.base = harness_free_ports(4)};
    snprintf(t.dir, sizeof t.dir, "%s", dir);
    snprintf(t.st.root, sizeof t.st.root, "%s/state", dir);
    if (t.base < 0) return 1;
    char port[16], state_arg[sizeof t.st.root + 16];
    snprintf(port, sizeof port, "%d", t.base + 3);
    snprintf(state_arg, sizeof state_arg, "--state-dir=%s", t.st.root);
    char *node[] = {(char *)harness_herd_bin(), "node", "--port", port, "--log-level", "warn", NULL};
    pid_t pid = harness_spawn(node, NULL, NULL);
    char *up[] = {"up", "-d", "-f", (char *)write_cluster(&t), state_arg, NULL};
    if (pid < 0 || harness_herd(up, READY_MS, NULL, NULL) != 0) return 1;
    write_file(&t, "node.pid", "%d\n", (int)pid);
    write_file(&t, "ready", "ready\n");
    for (;;) pause(); /* the subject: killed while waiting here */
}

/* The test process itself SIGKILLed mid-run (what CTest does on a timeout), not its tree:
 * within 2 s nothing it started runs, neither its own children nor the detached supervisor
 * of the cluster it brought up, that supervisor's replicas and their children. */
static void test_killed_test_leaves_nothing(void **state)
{
    struct lt *t = *state;
    char self[512], env[160], out[128], err[128], ready[128];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = '\0';
    snprintf(env, sizeof env, VICTIM_DIR_VAR "=%s", t->dir);
    snprintf(out, sizeof out, "%s/victim.out", t->dir);
    snprintf(err, sizeof err, "%s/victim.err", t->dir);
    snprintf(ready, sizeof ready, "%s/ready", t->dir);
    char *argv[] = {self, "lifetime_victim", NULL}, *envp[] = {env, NULL};
    pid_t victim = harness_spawn_io(argv, envp, out, err);
    assert_true(victim > 0);
    if (!harness_wait_until(access(ready, F_OK) == 0, READY_MS))
        fail_msg("the victim never got its cluster up; see %s", err);
    watch_pid_written(t, "node.pid");
    struct state_pid sup;
    assert_int_equal(state_pid_read_supervisor(&t->st, &sup), 0);
    watch(t, sup.pid, "the detached supervisor");
    watch_replicas_when_up(t, 3, 0, 0);
    watch_pid_written(t, "child.pid");
    assert_int_equal(watch_children(t, sup.pid), 4); /* 3 replicas, 1 guard */
    kill_and_expect_all_gone(t, victim, true);
}

int integration_lifetime(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_up_foreground_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_up_detached_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_test_leaves_nothing, setup, teardown),
    };
    return cmocka_run_group_tests_name("lifetime", tests, NULL, NULL);
}
