/* main.c -- `herd COMMAND ...`: dispatch to the commands. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"bench", cmd_bench, "load URLs and report latency, throughput, errors and per-node shares"},
    {"node", cmd_node, "run the demo service (health, cluster view, KV store, fault knobs)"},
    {"gateway", cmd_gateway, "load-balancing gateway: registry, health checks, retries, admin API"},
    {"test", cmd_test, "run a test plan: launch, load, check, judge, report"},
    {"report", cmd_report, "re-render a saved run or test document; --compare two of them"},
    {"schema", cmd_schema, "plan|cluster: the JSON Schema of plans or cluster files, for editors"},
    {"master", cmd_master, "distributed load: REST API, workers, merged results (--db keeps them)"},
    {"worker", cmd_worker, "distributed load: run a master's assignments (--master URL)"},
    {"up", cmd_up, "start a cluster from herd.yaml and supervise it (-d: in the background)"},
    {"status", cmd_cluster, "the cluster's nodes: pid, port, state, uptime, restarts, health, RSS"},
    {"logs", cmd_cluster, "the nodes' output (-f to follow)"},
    {"down", cmd_cluster, "stop every node and the supervisor"},
    {"scale", cmd_cluster, "GROUP=N: start or stop replicas"},
    {"restart", cmd_cluster, "restart a node or a group"},
    {"rollout", cmd_cluster, "restart a group one replica at a time"},
    {"kill", cmd_cluster, "SIGKILL a node"},
    {"stop", cmd_cluster, "stop a node gracefully"},
    {"pause", cmd_cluster, "SIGSTOP a node"},
    {"resume", cmd_cluster, "SIGCONT a paused node"},
    {"__exec", cmd_exec, NULL}, /* hidden: the supervisor's own (cmd_lifeline.c) */
    {"__guard", cmd_guard, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: herd COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (commands[i].summary)
            fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n`herd help COMMAND` (or `herd COMMAND --help`) describes a command; `herd --version`\n"
            "(or -V) prints the version.\n");
}

/* the command named name, hidden ones included, or NULL */
static const struct command *find(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0) return &commands[i];
    return NULL;
}

static int unknown(const char *name)
{
    fprintf(stderr, "herd: unknown command '%s'\n", name);
    usage(stderr);
    return CLI_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0 || strcmp(name, "version") == 0)
        return cli_print_version();
    if (strcmp(name, "help") == 0 && argc > 2) { /* herd help CMD: herd CMD --help */
        const struct command *c = find(argv[2]);
        if (!c) return unknown(argv[2]);
        char flag[] = "--help", *help[] = {argv[2], flag, NULL};
        return c->run(2, help);
    }
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (name[0] == '-') {
        fprintf(stderr, "herd: unknown option '%s'\nTry 'herd --help'.\n", name);
        return CLI_EXIT_USAGE;
    }
    const struct command *c = find(name);
    return c ? c->run(argc - 1, argv + 1) : unknown(name);
}
