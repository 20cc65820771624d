/* main.c -- runs every unit test group (or the one named in argv[1]). */
#include <stdio.h>
#include <string.h>

#include "unit.h"

static const struct {
    const char *name;
    int (*run)(void);
} groups[] = {
    {"hist", unit_hist}, {"conf", unit_conf}, {"url", unit_url}, {"http_server", unit_http_server},
    {"misc", unit_misc}, {"load", unit_load}, {"progress", unit_progress}, {"balancer", unit_balancer},
    {"registry", unit_registry},
    {"plan", unit_plan}, {"report", unit_report}, {"schema", unit_schema},
    {"store", unit_store}, {"dist", unit_dist},
};

int main(int argc, char **argv)
{
    int failed = 0, ran = 0;
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        if (argc > 1 && strcmp(argv[1], groups[i].name) != 0) continue;
        failed += groups[i].run();
        ran++;
    }
    if (ran == 0) {
        fprintf(stderr, "no test group named '%s'\n", argv[1]);
        return 2;
    }
    return failed ? 1 : 0;
}
