/* cmd_lifeline.c -- the hidden commands through which the supervisor ties its replicas' lives
 * to its own (cluster/lifeline.h): `herd __exec --parent PID -- PROGRAM [ARGS...]` and
 * `herd __guard`. Not for users: the supervisor runs them. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "cli/cli.h"
#include "cluster/lifeline.h"

#define EXEC_CANNOT_RUN 127 /* the shell's code for a command that could not be run */

int cmd_exec(int argc, char **argv)
{
    static const struct option opts[] = {
        {"parent", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    long parent = 0;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (c != 'p') {
            parent = 0;
            break;
        }
        char *end;
        parent = strtol(optarg, &end, 10);
        if (*end) parent = 0;
    }
    if (parent <= 0 || optind >= argc) {
        fprintf(stderr, "usage: herd __exec --parent PID -- PROGRAM [ARGS...] (the supervisor "
                        "starts replicas through it)\n");
        return CLI_EXIT_USAGE;
    }
    char err[ERR_SIZE];
    lifeline_exec((pid_t)parent, argv + optind, err, sizeof err);
    fprintf(stderr, "herd: %s\n", err);
    return EXEC_CANNOT_RUN;
}

int cmd_guard(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct stat st;
    if (fstat(STDIN_FILENO, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        fprintf(stderr, "herd __guard: its standard input must be the supervisor's socket (the "
                        "supervisor starts it)\n");
        return CLI_EXIT_USAGE;
    }
    lifeline_guard_run(STDIN_FILENO);
    return CLI_EXIT_OK;
}
