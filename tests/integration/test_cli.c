/* test_cli.c -- what every command says alike: the version line, help, unknown options and
 * missing values, exit codes. */
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
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "../support/harness.h"
#include "integration.h"

/* every command a user may type, the cluster verbs included */
static const char *const commands[] = {
    "bench", "node",    "gateway", "test", "report", "up",   "down",  "status",
    "logs",  "scale",   "restart", "rollout", "kill", "stop", "pause", "resume", "schema",
};
#define COMMAND_COUNT (sizeof commands / sizeof commands[0])

/* herd A B C (up to three, NULL ends them): exit code, stdout and stderr (caller frees) */
static int run(char **out, char **err, const char *a, const char *b, const char *c)
{
    char *args[] = {(char *)a, (char *)b, (char *)c, NULL};
    return harness_herd(args, 20000, out, err);
}

static void test_version_everywhere(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    assert_int_equal(run(&out, &err, "--version", NULL, NULL), 0);
    char *line = out;
    assert_true(strncmp(line, "herd ", 5) == 0 && strchr(line, '\n'));
    free(err);
    static const char *const tops[] = {"-V", "version"};
    for (size_t i = 0; i < 2; i++) {
        out = NULL;
        assert_int_equal(run(&out, NULL, tops[i], NULL, NULL), 0);
        assert_string_equal(out, line);
        free(out);
    }
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        for (int v = 0; v < 2; v++) {
            const char *flag = v ? "-V" : "--version";
            out = err = NULL;
            int code = run(&out, &err, commands[i], flag, NULL);
            if (code != 0 || strcmp(out, line) != 0 || *err)
                fail_msg("herd %s %s: exit %d, stdout '%s', stderr '%s'", commands[i], flag, code,
                         out, err);
            free(out);
            free(err);
        }
    }
    free(line);
}

static void test_help_command_is_command_help(void **state)
{
    (void)state;
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        char *a = NULL, *b = NULL;
        assert_int_equal(run(&a, NULL, commands[i], "--help", NULL), 0);
        assert_int_equal(run(&b, NULL, "help", commands[i], NULL), 0);
        if (strncmp(a, "usage: herd", 11) != 0 || strcmp(a, b) != 0)
            fail_msg("herd help %s printed '%s', herd %s --help '%s'", commands[i], b, commands[i], a);
        free(a);
        free(b);
    }
    char *out = NULL, *err = NULL;
    assert_int_equal(run(&out, &err, "help", NULL, NULL), 0);
    assert_non_null(strstr(out, "herd help COMMAND"));
    free(out);
    free(err);
    err = NULL;
    assert_int_equal(run(NULL, &err, "help", "nonsense", NULL), 2);
    assert_non_null(strstr(err, "unknown command 'nonsense'"));
    free(err);
}

/* herd CMD --bogus, herd CMD -Z: one message, a --help hint, exit 2, for every command */
static void test_unknown_option_one_style(void **state)
{
    (void)state;
    char want[256];
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        static const char *const bad[][2] = {{"--bogus", "--bogus"}, {"-Z", "-Z"}, {"--bogus=1", "--bogus"}};
        for (size_t k = 0; k < 3; k++) {
            char *out = NULL, *err = NULL;
            int code = run(&out, &err, commands[i], bad[k][0], NULL);
            snprintf(want, sizeof want, "herd %s: unknown option '%s'\nTry 'herd %s --help'.\n",
                     commands[i], bad[k][1], commands[i]);
            if (code != 2 || strcmp(err, want) != 0 || *out)
                fail_msg("herd %s %s: exit %d, stderr '%s', expected 2 and '%s'", commands[i],
                         bad[k][0], code, err, want);
            free(out);
            free(err);
        }
    }
    char *err = NULL;
    assert_int_equal(run(NULL, &err, "--bogus", NULL, NULL), 2);
    assert_string_equal(err, "herd: unknown option '--bogus'\nTry 'herd --help'.\n");
    free(err);
}

static void test_missing_value_and_extra_value(void **state)
{
    (void)state;
    static const struct {
        const char *cmd, *arg, *message;
    } cases[] = {
        {"bench", "-c", "herd bench: option '-c' needs a value\nTry 'herd bench --help'.\n"},
        {"bench", "--rate", "herd bench: option '--rate' needs a value\nTry 'herd bench --help'.\n"},
        {"node", "--port", "herd node: option '--port' needs a value\nTry 'herd node --help'.\n"},
        {"gateway", "-p", "herd gateway: option '-p' needs a value\nTry 'herd gateway --help'.\n"},
        {"status", "--state-dir", "herd status: option '--state-dir' needs a value\n"
                                  "Try 'herd status --help'.\n"},
        {"logs", "-n", "herd logs: option '-n' needs a value\nTry 'herd logs --help'.\n"},
        {"up", "-f", "herd up: option '-f' needs a value\nTry 'herd up --help'.\n"},
        {"test", "--quiet=yes", "herd test: option '--quiet' takes no value\nTry 'herd test --help'.\n"},
        {"report", "--format", "herd report: option '--format' needs a value\n"
                               "Try 'herd report --help'.\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *err = NULL;
        int code = run(NULL, &err, cases[i].cmd, cases[i].arg, NULL);
        if (code != 2 || strcmp(err, cases[i].message) != 0)
            fail_msg("herd %s %s: exit %d, stderr '%s', expected 2 and '%s'", cases[i].cmd,
                     cases[i].arg, code, err, cases[i].message);
        free(err);
    }
}

/* A hint a user can paste names the state directory when it is not the default, quoted for
 * the shell when it must be. */
static void test_hints_name_the_state_dir(void **state)
{
    (void)state;
    char dir[] = "/tmp/herd-cli-XXXXXX", plain[64], odd[64], want[256];
    assert_non_null(mkdtemp(dir));
    snprintf(plain, sizeof plain, "%s/st", dir);
    snprintf(odd, sizeof odd, "%s/my st's", dir);
    char *err = NULL;
    /* a state directory where nothing ever ran: said so, and nothing is created there */
    char *status_none[] = {"status", "--state-dir", odd, NULL};
    assert_int_equal(harness_herd(status_none, 20000, NULL, &err), 3);
    snprintf(want, sizeof want, "start one with herd up -d --state-dir '%s/my st'\\''s', or", dir);
    if (!strstr(err, want)) fail_msg("stderr '%s', expected '%s'", err, want);
    free(err);
    err = NULL;
    assert_int_equal(access(odd, F_OK), -1);
    /* one where a cluster ran once: the verbs' hints */
    assert_int_equal(mkdir(plain, 0755), 0);
    assert_int_equal(mkdir(odd, 0755), 0);
    char *pause_plain[] = {"pause", "api.1", "--state-dir", plain, NULL};
    assert_int_equal(harness_herd(pause_plain, 20000, NULL, &err), 3);
    snprintf(want, sizeof want, "(is a cluster up? herd up -d --state-dir %s)\n", plain);
    bool plain_ok = strstr(err, want) != NULL;
    free(err);
    err = NULL;
    char *stop_odd[] = {"stop", "api.1", "--state-dir", odd, NULL};
    assert_int_equal(harness_herd(stop_odd, 20000, NULL, &err), 3);
    if (plain_ok)
        snprintf(want, sizeof want, "(is a cluster up? herd up -d --state-dir '%s/my st'\\''s')\n", dir);
    bool odd_ok = strstr(err, want) != NULL;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    if (!plain_ok || !odd_ok)
        fail_msg("stderr '%s', expected '%s'", err, want);
    free(err);
}

/* A failed TLS handshake says why, and what to do; -k skips the check. The server: openssl
 * s_server with a self-signed certificate made here. */
static void test_tls_failure_says_why(void **state)
{
    (void)state;
    char dir[] = "/tmp/herd-cli-tls-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cmd[128], cert[64], key[64];
    assert_int_equal(harness_self_signed_cert(dir, cert, key, sizeof cert), 0);
    int port = harness_free_port();
    char port_arg[16], url[64];
    snprintf(port_arg, sizeof port_arg, "%d", port);
    snprintf(url, sizeof url, "https://localhost:%d/", port);
    char *server[] = {"/usr/bin/openssl", "s_server", "-accept", port_arg, "-cert", cert, "-key", key,
                      "-www", "-quiet", NULL};
    pid_t pid = harness_spawn(server, NULL, "/dev/null");
    bool up = harness_wait_until(harness_port_open(port), 10000);
    char *err = NULL, *err_k = NULL;
    char *verify[] = {"bench", "-n", "2", "-c", "1", "-q", url, NULL};
    int code = up ? harness_herd(verify, 30000, NULL, &err) : -1;
    char *insecure[] = {"bench", "-n", "2", "-c", "1", "-q", "-k", url, NULL};
    int code_k = up ? harness_herd(insecure, 30000, NULL, &err_k) : -1;
    kill(pid, SIGTERM);
    harness_wait(pid, 5000);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    assert_true(up);
    assert_int_equal(code, 1);
    assert_non_null(strstr(err, "herd bench: TLS: certificate verify failed (self-signed certificate); "
                                "use -k to skip verification or SSL_CERT_FILE to trust a CA\n"));
    assert_int_equal(code_k, 0);
    assert_null(strstr(err_k, "TLS:"));
    free(err);
    free(err_k);
}

/* user:password@ in a URL is refused with a message that does not show the password */
static void test_user_info_refused_without_the_password(void **state)
{
    (void)state;
    static const char *const urls[] = {"http://user:s3cret@127.0.0.1:1/",
                                       "http://us%40er:s3cret@[::1]:1/a@b"};
    for (size_t i = 0; i < 2; i++) {
        char *err = NULL;
        char *args[] = {"bench", "-n", "1", (char *)urls[i], NULL};
        assert_int_equal(harness_herd(args, 20000, NULL, &err), 2);
        if (!strstr(err, "user info (user:password@) is not supported") || strstr(err, "s3cret"))
            fail_msg("herd bench %s: '%s'", urls[i], err);
        free(err);
    }
}

/* herd schema prints JSON Schemas an editor can use: the plan's names every check kind and the
 * keys of each, with durations as durations; the cluster's, the groups and the gateway. */
static void test_schema_plan_and_cluster(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    assert_int_equal(run(&out, &err, "schema", "plan", NULL), 0);
    json_error_t jerr;
    json_t *plan = json_loads(out, 0, &jerr);
    if (!plan) fail_msg("herd schema plan: not JSON (%s):\n%s", jerr.text, out);
    free(out);
    free(err);
    json_t *checks = json_object_get(
        json_object_get(json_object_get(json_object_get(plan, "properties"), "checks"), "items"),
        "properties");
    static const char *const kinds[] = {"connectivity", "distribution", "concurrency", "failover",
                                        "scaling",      "hotplug",      "consistency", "capacity"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!json_object_get(checks, kinds[i])) fail_msg("no check '%s' in the plan schema", kinds[i]);
    json_t *failover = json_object_get(checks, "failover"), *restart = NULL;
    json_t *props = json_object_get(json_array_get(json_object_get(failover, "anyOf"), 0), "properties");
    if (!props) props = json_object_get(failover, "properties");
    restart = json_object_get(props, "restart_after");
    assert_non_null(restart);
    const char *pattern = json_string_value(
        json_object_get(json_array_get(json_object_get(restart, "anyOf"), 1), "pattern"));
    assert_non_null(pattern);
    assert_non_null(strstr(pattern, "ms|s|m|h"));
    assert_true(json_is_false(json_object_get(plan, "additionalProperties")));
    json_decref(plan);

    out = err = NULL;
    assert_int_equal(run(&out, &err, "schema", "cluster", NULL), 0);
    json_t *cluster = json_loads(out, 0, &jerr);
    assert_non_null(cluster);
    json_t *cprops = json_object_get(cluster, "properties");
    assert_non_null(json_object_get(cprops, "groups"));
    assert_non_null(json_object_get(json_object_get(json_object_get(cprops, "gateway"), "properties"),
                                    "balance"));
    json_decref(cluster);
    free(out);
    free(err);

    out = err = NULL;
    assert_int_equal(run(&out, &err, "schema", "plans", NULL), 2);
    assert_non_null(strstr(err, "herd schema: expected plan or cluster, not 'plans'"));
    assert_string_equal(out, "");
    free(out);
    free(err);
}

int integration_cli(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_everywhere),
        cmocka_unit_test(test_help_command_is_command_help),
        cmocka_unit_test(test_unknown_option_one_style),
        cmocka_unit_test(test_missing_value_and_extra_value),
        cmocka_unit_test(test_hints_name_the_state_dir),
        cmocka_unit_test(test_tls_failure_says_why),
        cmocka_unit_test(test_user_info_refused_without_the_password),
        cmocka_unit_test(test_schema_plan_and_cluster),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
