/* test_cli.c -- what every command says alike: the version line, help, unknown options and
 * missing values, exit codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/harness.h"
#include "integration.h"

/* every command a user may type, the cluster verbs included */
static const char *const commands[] = {
    "bench", "node",    "gateway", "test", "report", "up",   "down",  "status",
    "logs",  "scale",   "restart", "rollout", "kill", "stop", "pause", "resume",
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
        out = err = NULL;
        int code = run(&out, &err, commands[i], "--version", NULL);
        if (code != 0 || strcmp(out, line) != 0 || *err)
            fail_msg("herd %s --version: exit %d, stdout '%s', stderr '%s'", commands[i], code, out, err);
        free(out);
        free(err);
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

int integration_cli(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_everywhere),
        cmocka_unit_test(test_help_command_is_command_help),
        cmocka_unit_test(test_unknown_option_one_style),
        cmocka_unit_test(test_missing_value_and_extra_value),
        cmocka_unit_test(test_hints_name_the_state_dir),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
