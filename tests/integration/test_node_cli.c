/* test_node_cli.c -- `herd node` from the command line: environment and flags, exit codes,
 * and the messages a user sees for bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../support/harness.h"
#include "integration.h"

/* Runs herd with args (NULL-terminated) and env; returns the exit code (-1: did not exit in
 * 5 s) and the stderr text in err. */
static int run_herd(char *const args[], char *const env[], char *err, size_t size)
{
    char *argv[32] = {(char *)harness_herd_bin()};
    size_t n = 1;
    for (size_t i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char *errpath = harness_temp_file(".err", "");
    pid_t pid = harness_spawn(argv, env, errpath);
    int status = harness_wait(pid, 5000);
    FILE *f = fopen(errpath, "r");
    size_t len = f ? fread(err, 1, size - 1, f) : 0;
    err[len] = '\0';
    if (f) fclose(f);
    unlink(errpath);
    free(errpath);
    if (status < 0) {
        harness_kill_all();
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_port_in_use_exits_3(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 1), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    char port[16], err[4096];
    snprintf(port, sizeof port, "%d", ntohs(a.sin_port));
    char *args[] = {"node", "--port", port, NULL};
    assert_int_equal(run_herd(args, NULL, err, sizeof err), 3);
    close(fd);
    assert_int_equal(count_lines(err), 1);
    assert_non_null(strstr(err, "already in use"));
    assert_non_null(strstr(err, port));
}

static void test_bad_flags_exit_2(void **state)
{
    (void)state;
    char err[4096];
    static const struct {
        char *args[6];
        const char *fragment;
    } cases[] = {
        {{"node", "--port", "99999", NULL},
         "--port '99999': expected a whole number from 0 to 65535"},
        {{"node", "--port", "abc", NULL}, "--port 'abc'"},
        {{"node", "--bogus", NULL}, "unknown option '--bogus'"},
        {{"node", "--port", NULL}, "option '--port' needs a value"},
        {{"node", "--log-level", "loud", NULL}, "--log-level 'loud'"},
        {{"node", "--weight", "-1", NULL}, "--weight '-1'"},
        {{"node", "--cluster-manager", "gateway:9091", NULL}, "expected it to start with http://"},
        {{"node", "--host", "not-an-ip", "--port", "0", NULL}, "'not-an-ip' is not an IP address"},
        {{"node", "extra", NULL}, "unexpected argument 'extra'"},
        {{"nonsense", NULL}, "unknown command 'nonsense'"},
        {{"node", "--port", "0", "--token", "two words", NULL},
         "cluster token: expected printable ASCII without spaces"},
        {{"node", "--token", NULL}, "option '--token' needs a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int code = run_herd(cases[i].args, NULL, err, sizeof err);
        if (code != 2 || !strstr(err, cases[i].fragment))
            fail_msg("case %zu: exit %d, stderr '%s', expected 2 and '%s'", i, code, err,
                     cases[i].fragment);
    }
}

static void test_bad_config_names_position(void **state)
{
    (void)state;
    char err[4096];
    static const struct {
        const char *text, *fragment;
    } cases[] = {
        {"port: 8080\nbogus: 1\n", ":2:1: bogus: unknown key 'bogus', expected one of: port, host"},
        {"port: 70000\n", ":1:7: port: '70000': expected a whole number from 0 to 65535"},
        {"limits:\n  header_timeout: soon\n",
         ":2:19: limits.header_timeout: 'soon': expected a duration such as 500ms, 2s, 1m30s"},
        {"limits:\n  max_body: 1\n", ":2:3: limits.max_body: unknown key 'max_body'"},
        {"port: [1\n", "invalid YAML"},
        {"log_level: loud\n", ":1:12: log_level: 'loud' is not a log level"},
        {"", ":1:1: (top level): the file is empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = harness_temp_file(".yaml", cases[i].text);
        char *args[] = {"node", "--config", path, NULL};
        int code = run_herd(args, NULL, err, sizeof err);
        int has_path = strstr(err, path) != NULL;
        unlink(path);
        free(path);
        if (code != 2 || !has_path || !strstr(err, cases[i].fragment))
            fail_msg("case %zu: exit %d, stderr '%s', expected 2 and '%s'", i, code, err,
                     cases[i].fragment);
    }
    char *args[] = {"node", "--config", "/nonexistent/node.yaml", NULL};
    assert_int_equal(run_herd(args, NULL, err, sizeof err), 2);
    assert_non_null(strstr(err, "/nonexistent/node.yaml: cannot open"));
}

static void test_bad_env_exit_2(void **state)
{
    (void)state;
    char err[4096];
    char *args[] = {"node", NULL};
    char *env1[] = {"SERVER_PORT=eighty", NULL};
    assert_int_equal(run_herd(args, env1, err, sizeof err), 2);
    assert_non_null(strstr(err, "SERVER_PORT='eighty'"));
    char *env2[] = {"CLUSTER_MANAGER_URL=ftp://x", NULL};
    assert_int_equal(run_herd(args, env2, err, sizeof err), 2);
    assert_non_null(strstr(err, "cluster manager"));
    char *env3[] = {"HERD_TOKEN=a", "CLUSTER_TOKEN=b", NULL};
    assert_int_equal(run_herd(args, env3, err, sizeof err), 2);
    assert_non_null(strstr(err, "HERD_TOKEN and CLUSTER_TOKEN differ"));
}

/* Starts a node with env and args, returns its pid after /health answers on port. */
static pid_t start_node(char *const args[], char *const env[], int port)
{
    char *argv[16] = {(char *)harness_herd_bin(), "node"};
    size_t n = 2;
    for (size_t i = 0; args && args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = harness_spawn(argv, env, "/dev/null");
    assert_true(harness_wait_http(port, "/health", 5000));
    return pid;
}

static void stop_node(pid_t pid)
{
    kill(pid, SIGTERM);
    int status = harness_wait(pid, 5000);
    assert_true(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_env_and_flag_precedence(void **state)
{
    (void)state;
    char out[4096], env_port[32], flag_port[16];
    int p1 = harness_free_port(), p2 = harness_free_port();
    snprintf(env_port, sizeof env_port, "SERVER_PORT=%d", p1);
    /* environment alone */
    char *env[] = {env_port, "NODE_ID=from-env", NULL};
    pid_t pid = start_node(NULL, env, p1);
    assert_int_equal(harness_get(p1, "/health", out, sizeof out, NULL), 200);
    assert_non_null(strstr(out, "X-Herd-Node: from-env\r\n"));
    stop_node(pid);
    /* flags override the environment */
    snprintf(flag_port, sizeof flag_port, "%d", p2);
    char *args[] = {"--port", flag_port, "--id", "from-flag", "--node-header", "X-Node", NULL};
    pid = start_node(args, env, p2);
    assert_int_equal(harness_get(p2, "/health", out, sizeof out, NULL), 200);
    assert_non_null(strstr(out, "X-Node: from-flag\r\n"));
    stop_node(pid);
    /* CONFIG_FILE: the file is read, the environment overrides it */
    char text[128], cfg_env[256];
    snprintf(text, sizeof text, "port: %d\nnode_id: from-file\nweight: 7\n", p2);
    char *path = harness_temp_file(".yaml", text);
    snprintf(cfg_env, sizeof cfg_env, "CONFIG_FILE=%s", path);
    char *env2[] = {cfg_env, NULL};
    pid = start_node(NULL, env2, p2);
    assert_int_equal(harness_get(p2, "/api/v1/cluster/nodes", out, sizeof out, NULL), 200);
    assert_non_null(strstr(out, "\"from-file\""));
    assert_non_null(strstr(out, "\"weight\":7"));
    stop_node(pid);
    char *env3[] = {cfg_env, "NODE_ID=env-wins", NULL};
    pid = start_node(NULL, env3, p2);
    assert_int_equal(harness_get(p2, "/health", out, sizeof out, NULL), 200);
    assert_non_null(strstr(out, "X-Herd-Node: env-wins\r\n"));
    stop_node(pid);
    unlink(path);
    free(path);
}

static void test_help_and_version(void **state)
{
    (void)state;
    char err[4096];
    char *help[] = {"node", "--help", NULL};
    assert_int_equal(run_herd(help, NULL, err, sizeof err), 0);
    char *version[] = {"--version", NULL};
    assert_int_equal(run_herd(version, NULL, err, sizeof err), 0);
    char *none[] = {NULL};
    assert_int_equal(run_herd(none, NULL, err, sizeof err), 2);
    assert_non_null(strstr(err, "usage: herd COMMAND"));
}

int integration_node_cli(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_port_in_use_exits_3),       cmocka_unit_test(test_bad_flags_exit_2),
        cmocka_unit_test(test_bad_config_names_position), cmocka_unit_test(test_bad_env_exit_2),
        cmocka_unit_test(test_env_and_flag_precedence),   cmocka_unit_test(test_help_and_version),
    };
    return cmocka_run_group_tests_name("node_cli", tests, NULL, NULL);
}
