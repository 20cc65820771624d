/* main.c -- runs the integration test group named in argv[1] (all when none), or only its
 * cases matching argv[2] (a name or a glob). Children are killed on the way out, whatever
 * happened, and by a watcher when this process is killed (harness_guard_descendants). */
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

#include "../support/harness.h"
#include "integration.h"

static const struct {
    const char *name;
    int (*run)(void);
    bool hidden; /* runs only when named: not a test, a part of one */
} groups[] = {
    {"node", integration_node, false},
    {"node_cli", integration_node_cli, false},
    {"client", integration_client, false},
    {"bench", integration_bench, false},
    {"cluster", integration_cluster, false},
    {"gateway", integration_gateway, false},
    {"backends", integration_backends, false},
    {"plan", integration_plan, false},
    {"measure", integration_measure, false},
    {"lifetime", integration_lifetime, false},
    {"bad_input", integration_bad_input, false},
    {"walkthrough", integration_walkthrough, false},
    {"cli", integration_cli, false},
    {"progress", integration_progress, false},
    {"dist", integration_dist, false},
    {"metrics", integration_metrics, false},
    {"lifetime_victim", integration_lifetime_victim, true},
};

static void on_fatal(int sig)
{
    harness_kill_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void end_descendants(void)
{
    harness_end_descendants();
}

int main(int argc, char **argv)
{
    if (harness_guard_descendants() < 0) return 3;
    atexit(end_descendants); /* atexit runs the last registered first: */
    atexit(harness_kill_all); /* the children it knows, then the rest */
    signal(SIGTERM, on_fatal);
    signal(SIGINT, on_fatal);
    signal(SIGPIPE, SIG_IGN);
    int failed = 0, ran = 0;
    if (argc > 2) cmocka_set_test_filter(argv[2]); /* one test case: NAME or a glob */
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        if (argc > 1 ? strcmp(argv[1], groups[i].name) != 0 : groups[i].hidden) continue;
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
