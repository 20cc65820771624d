/* test_progress.c -- what `herd test` and `herd bench` show while they run: plain lines on a
 * pipe that arrive while the check is still running (the check's name, elapsed over its
 * total, the fault and the gateway's events as they happen), a redrawn block with bars under a pseudo-terminal, nothing
 * with -q, and bench's elapsed over total for -d and -n. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../support/harness.h"
#include "integration.h"

struct pg {
    char dir[64], plan[128], reports[160], state[160];
    int base; /* nodes at base..base+2, the gateway at base+3; a lone node at base+4 */
    pid_t node; /* the lone node, when a test started one */
};

static int setup(void **state)
{
    struct pg *t = calloc(1, sizeof *t);
    *state = t;
    snprintf(t->dir, sizeof t->dir, "/tmp/herd-progress-XXXXXX");
    if (!mkdtemp(t->dir)) return -1;
    snprintf(t->plan, sizeof t->plan, "%s/plan.yaml", t->dir);
    snprintf(t->reports, sizeof t->reports, "--report-dir=%s/reports", t->dir);
    snprintf(t->state, sizeof t->state, "--state-dir=%s/state", t->dir);
    t->base = harness_free_ports(5);
    return t->base > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    struct pg *t = *state;
    if (t->node > 0) {
        kill(t->node, SIGTERM);
        harness_wait(t->node, 5000);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", t->dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", t->dir);
    free(t);
    return 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The plan: three nodes behind a gateway, one 3 s failover check that kills api.2 at 1 s and
 * restarts it 1 s later. */
static void write_failover_plan(struct pg *t)
{
    char text[1024];
    snprintf(text, sizeof text,
             "name: progress\n"
             "cluster:\n"
             "  groups:\n"
             "    api: {command: herd node --log-level warn, replicas: 3, base_port: %d}\n"
             "  gateway: {port: %d, threads: 1, health: {inter: 100ms, fall: 2, rise: 1}}\n"
             "checks:\n"
             "  - failover: {fault: kill, node: api.2, rate: 200, duration: 3s, at: 1s,\n"
             "               restart_after: 1s}\n",
             t->base, t->base + 3);
    write_text(t->plan, text);
}

/* Starts one herd node at base+4 and a plan with a 2 s concurrency check against it. Returns
 * its URL in url. */
static void lone_node_plan(struct pg *t, char *url, size_t size)
{
    char port[16], text[512];
    snprintf(port, sizeof port, "%d", t->base + 4);
    char *argv[] = {(char *)harness_herd_bin(), "node", "--port", port, "--id", "solo",
                    "--log-level", "warn", NULL};
    t->node = harness_spawn(argv, NULL, NULL);
    assert_true(harness_wait_http(t->base + 4, "/health", 5000));
    snprintf(url, size, "http://127.0.0.1:%d/", t->base + 4);
    snprintf(text, sizeof text,
             "name: quiet\n"
             "target: http://127.0.0.1:%d\n"
             "checks:\n"
             "  - concurrency: {connections: 2, duration: 2s}\n",
             t->base + 4);
    write_text(t->plan, text);
}

/* The whole of the file at path ("" when it cannot be read), malloc'd. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = calloc(1, 1 << 20);
    if (f) {
        size_t n = fread(text, 1, (1 << 20) - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    return text;
}

/* Whether the file at path holds needle now. */
static bool file_has(const char *path, const char *needle)
{
    char *text = slurp(path);
    bool has = strstr(text, needle) != NULL;
    free(text);
    return has;
}

/* The first line of text holding all of a and b (b may be NULL), or NULL. */
static const char *line_with(const char *text, const char *a, const char *b)
{
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char one[1024];
        snprintf(one, sizeof one, "%.*s", (int)(len < sizeof one ? len : sizeof one - 1), line);
        if (strstr(one, a) && (!b || strstr(one, b))) return line;
        line = end ? end + 1 : NULL;
    }
    return NULL;
}

/* With stderr a file (not a terminal), herd test prints plain progress lines each second
 * while the check runs: read as they come, the first arrives while herd test still runs and
 * before any verdict; it names the check and shows elapsed over 3.0s. The fault is a line
 * with its node; no terminal control codes; the verdicts still come on stdout. */
static void test_test_plain_lines_while_running(void **state)
{
    struct pg *t = *state;
    write_failover_plan(t);
    char out[200], err[200];
    snprintf(out, sizeof out, "%s/out", t->dir);
    snprintf(err, sizeof err, "%s/err", t->dir);
    char *argv[] = {(char *)harness_herd_bin(), "test", t->plan, t->reports, t->state, NULL};
    pid_t pid = harness_spawn_io(argv, NULL, out, err);
    assert_true(pid > 0);
    assert_true(harness_wait_until(file_has(err, "s/3.0s") || file_has(err, "failover: "), 60000));
    /* the first progress line is in: the check is still running, nothing is judged yet */
    char *early = slurp(err), *early_out = slurp(out);
    int status;
    assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
    assert_non_null(line_with(early, "  failover ", "s/3.0s"));
    assert_null(strstr(early, "failover: pass"));
    assert_null(strstr(early_out, "verdict"));
    free(early);
    free(early_out);
    status = harness_wait(pid, 120000);
    assert_true(status >= 0 && WIFEXITED(status));
    char *text = slurp(err), *verdicts = slurp(out);
    assert_int_equal(WEXITSTATUS(status), 0);
    const char *line = line_with(text, "  failover ", "req/s");
    assert_non_null(line);
    assert_non_null(line_with(line, "errors ", "p99 "));
    assert_non_null(line_with(text, "api.1 ", "%"));
    /* the fault and its recovery, as they happened, with the node */
    const char *fault = line_with(text, "s fault kill api.2", NULL);
    assert_non_null(fault);
    assert_memory_equal(fault, "  +", 3);
    assert_non_null(line_with(text, "s recovery restart api.2", NULL));
    /* and the gateway's view of it (its health checks see api.2 gone within the load) */
    assert_non_null(line_with(text, "s gateway: api.2 ", NULL));
    assert_true(fault < strstr(text, "failover: pass"));
    assert_null(strstr(text, "warn")); /* the kill the plan asked for is no warning */
    assert_null(strstr(text, "\x1b["));
    assert_null(strstr(text, "[#"));
    assert_non_null(strstr(verdicts, "verdict: PASS"));
    assert_null(strstr(verdicts, "s/3.0s")); /* stdout stays the verdicts' */
    free(text);
    free(verdicts);
}

/* Drops terminal control sequences (ESC [ ... letter) and carriage returns from text, in
 * place. */
static void strip_controls(char *text)
{
    char *w = text;
    for (const char *r = text; *r; r++) {
        if (*r == '\x1b' && r[1] == '[') {
            for (r += 2; *r && !(*r >= '@' && *r <= '~'); r++) continue;
            if (!*r) break;
            continue;
        }
        if (*r != '\r') *w++ = *r;
    }
    *w = '\0';
}

/* Runs argv (NULL-terminated) under a pseudo-terminal columns wide until it exits (at most
 * timeout_ms): everything it wrote to the terminal, malloc'd, and its exit code in *code
 * (-1: killed at the timeout). */
static char *run_in_pty(char *const argv[], unsigned short columns, int timeout_ms, int *code)
{
    struct winsize ws = {.ws_row = 40, .ws_col = columns};
    int master;
    pid_t parent = getpid();
    pid_t pid = forkpty(&master, NULL, NULL, &ws);
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    size_t size = 1 << 20, len = 0;
    char *text = calloc(1, size);
    long end = harness_now_ms() + timeout_ms;
    for (long now = harness_now_ms(); now < end && len < size - 1; now = harness_now_ms()) {
        struct pollfd p = {.fd = master, .events = POLLIN};
        if (poll(&p, 1, (int)(end - now)) <= 0) break;
        ssize_t n = read(master, text + len, size - 1 - len);
        if (n <= 0) break; /* EIO: the child and all it started closed the terminal */
        len += (size_t)n;
    }
    int status = 0;
    pid_t ended = 0;
    if (!harness_wait_until((ended = waitpid(pid, &status, WNOHANG)) != 0, 5000)) {
        kill(pid, SIGKILL); /* still running at the timeout */
        waitpid(pid, &status, 0);
    }
    *code = ended == pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    close(master);
    return text;
}

/* Under a terminal the block is redrawn: bars, the cursor moved up over the last block and
 * the rest cleared; the fault is a line above it; no line is wider than the terminal; the
 * verdicts still come at the end. */
static void test_test_tty_block(void **state)
{
    struct pg *t = *state;
    write_failover_plan(t);
    char *argv[] = {(char *)harness_herd_bin(), "test", t->plan, t->reports, t->state, NULL};
    int code;
    char *text = run_in_pty(argv, 60, 120000, &code);
    assert_int_equal(code, 0);
    assert_non_null(strstr(text, "\x1b[J"));  /* the old block cleared */
    assert_non_null(strstr(text, "\x1b[4A")); /* and drawn over: its line and three nodes' */
    strip_controls(text);
    assert_non_null(line_with(text, "  failover [#", "s/3.0s"));
    assert_non_null(line_with(text, "    api.2 [", "%"));
    assert_non_null(line_with(text, "s fault kill api.2", NULL));
    assert_non_null(strstr(text, "verdict: PASS"));
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        if ((strstr(line, "[#") || strstr(line, "[.")) && strlen(line) >= 60)
            fail_msg("a line of the block is wider than the terminal: %s", line);
    free(text);
}

/* -q: no progress at all, the verdicts still. */
static void test_test_quiet(void **state)
{
    struct pg *t = *state;
    char url[64], *out = NULL, *err = NULL;
    lone_node_plan(t, url, sizeof url);
    char *args[] = {"test", "-q", t->plan, t->reports, NULL};
    assert_int_equal(harness_herd(args, 60000, &out, &err), 0);
    assert_null(strstr(err, "s/2.0s"));
    assert_null(strstr(err, "req/s"));
    assert_null(strstr(out, "req/s"));
    assert_non_null(strstr(out, "verdict: PASS"));
    free(out);
    free(err);
}

/* herd bench's live line on a pipe: "[ 1.0s/2.0s]" for -d, "[ 0.1s  N/N]" for -n; -q: none. */
static void test_bench_elapsed_over_total(void **state)
{
    struct pg *t = *state;
    char url[64], *out = NULL, *err = NULL;
    lone_node_plan(t, url, sizeof url);
    char *timed[] = {"bench", "-d", "2s", "-c", "2", "-t", "1", url, NULL};
    assert_int_equal(harness_herd(timed, 60000, &out, &err), 0);
    const char *line = line_with(err, "s/2.0s]", "req/s");
    assert_non_null(line);
    assert_int_equal(line[0], '[');
    assert_non_null(line_with(err, "s/2.0s]", "solo 100%"));
    assert_null(strstr(out, "s/2.0s]")); /* stdout is the report's */
    free(out);
    free(err);
    char *counted[] = {"bench", "-n", "3000", "-c", "2", "-t", "1", url, NULL};
    assert_int_equal(harness_herd(counted, 60000, &out, &err), 0);
    assert_non_null(line_with(err, "3000/3000]", "req/s")); /* the last line: all of them */
    free(out);
    free(err);
    char *quiet[] = {"bench", "-n", "300", "-c", "2", "-q", url, NULL};
    assert_int_equal(harness_herd(quiet, 60000, &out, &err), 0);
    assert_null(strstr(err, "req/s"));
    free(out);
    free(err);
}

/* A terminal 12 columns wide: the block's lines are cut to it (a line the terminal wraps makes
 * the block taller than the redraw moves up over, and every second scrolls the screen). */
static void test_bench_narrow_terminal(void **state)
{
    struct pg *t = *state;
    char url[64];
    lone_node_plan(t, url, sizeof url);
    char *argv[] = {(char *)harness_herd_bin(), "bench", "-d", "2s", "-c", "2", "-t", "1", url,
                    NULL};
    int code;
    char *text = run_in_pty(argv, 12, 60000, &code);
    assert_int_equal(code, 0);
    assert_non_null(strstr(text, "\x1b[2A")); /* redrawn: its line and the node's */
    strip_controls(text);
    int block_lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strstr(line, "[#") && !strstr(line, "[.")) continue;
        block_lines++;
        if (strlen(line) >= 12) fail_msg("a line of the block is wider than the terminal: %s", line);
    }
    assert_true(block_lines >= 2);
    free(text);
}

int integration_progress(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_test_plain_lines_while_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_test_tty_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_test_quiet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bench_elapsed_over_total, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bench_narrow_terminal, setup, teardown),
    };
    return cmocka_run_group_tests_name("progress", tests, NULL, NULL);
}
