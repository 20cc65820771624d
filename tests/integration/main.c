/* main.c -- runs the integration test group named in argv[1] (all when none), or only its
 * cases matching argv[2] (a name or a glob). Children are killed on the way out, whatever
 * happened. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/harness.h"
#include "integration.h"

static const struct {
    const char *name;
    int (*run)(void);
} groups[] = {
    {"node", integration_node},
    {"node_cli", integration_node_cli},
    {"client", integration_client},
    {"bench", integration_bench},
    {"cluster", integration_cluster},
    {"gateway", integration_gateway},
    {"plan", integration_plan},
    {"measure", integration_measure},
    {"lifetime", integration_lifetime},
    {"bad_input", integration_bad_input},
};

static void on_fatal(int sig)
{
    harness_kill_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv)
{
    atexit(harness_kill_all);
    signal(SIGTERM, on_fatal);
    signal(SIGINT, on_fatal);
    signal(SIGPIPE, SIG_IGN);
    int failed = 0, ran = 0;
    if (argc > 2) cmocka_set_test_filter(argv[2]); /* one test case: NAME or a glob */
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        if (argc > 1 && strcmp(argv[1], groups[i].name) != 0) continue;
        failed += groups[i].run();
        ran++;
    }
    harness_kill_all();
    if (ran == 0) {
        fprintf(stderr, "no test group named '%s'\n", argv[1]);
        return 2;
    }
    return failed ? 1 : 0;
}
