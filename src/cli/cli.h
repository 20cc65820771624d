/* cli.h -- exit codes and the command table shared by main.c and the cmd_*.c files. */
#ifndef HERD_CLI_CLI_H
#define HERD_CLI_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum cli_exit {
    CLI_EXIT_OK = 0,      /* success */
    CLI_EXIT_FAILED = 1,  /* a threshold or check failed */
    CLI_EXIT_USAGE = 2,   /* bad usage or bad input */
    CLI_EXIT_RUNTIME = 3, /* port in use, cannot launch, ... */
};

/* Each command parses its own argv (argv[0] is the command name) and returns an exit code. */
int cmd_node(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_up(int argc, char **argv);
int cmd_gateway(int argc, char **argv);
int cmd_test(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_schema(int argc, char **argv);
int cmd_master(int argc, char **argv); /* distributed load: coordinator */
int cmd_worker(int argc, char **argv); /* distributed load: a worker */ /* plan|cluster: JSON Schema from the key tables */
/* status, down, logs, scale, restart, rollout, kill, stop, pause, resume (argv[0] says which) */
int cmd_cluster(int argc, char **argv);
/* hidden, run by the supervisor (cluster/lifeline.h): `__exec --parent PID -- PROGRAM ARGS...`
 * execs PROGRAM with the parent-death signal set (returns only when it cannot); `__guard`
 * kills the replicas' process groups once the supervisor is gone */
int cmd_exec(int argc, char **argv);
int cmd_guard(int argc, char **argv);

/* What a command does with a getopt_long return it has no case for (':' or '?', with opterr
 * 0 and a ':'-led optstring), so that every command answers alike: `--version` or `-V` (options
 * no command lists) prints the version line and returns CLI_EXIT_OK; anything else prints
 * "herd CMD: unknown option '--foo'" (or "option '-c' needs a value", "option '--quiet'
 * takes no value") and "Try 'herd CMD --help'." to stderr and returns CLI_EXIT_USAGE.
 * cmd is the command's name (argv[0]); argv is the vector being parsed. */
int cli_option_error(const char *cmd, int c, char **argv);

struct bench_options;

/* `herd bench --master URL` (cmd_bench_master.c): runs the options (taken over; o is left
 * empty) as a task on the master, on the workers of region or the comma-separated ids in
 * workers (both NULL: all), follows it and prints the merged report like a local run (format,
 * out_path as -o and --out). Returns the exit code: 0, 1 when a threshold failed, 2 for a task
 * the master refused, 3 when the master could not be reached or the task failed. */
int bench_master_run(struct bench_options *o, const char *master, const char *region,
                     const char *workers, const char *token, const char *format,
                     const char *out_path, bool quiet);

/* Prints "herd VERSION" to stdout; returns CLI_EXIT_OK. */
int cli_print_version(void);

/* A whole-number flag of command cmd: text in [min, max] into *out. Returns 0, or -1 after
 * printing "herd CMD: FLAG 'TEXT': expected a whole number from MIN to MAX" (quantity.h). */
int cli_count_flag(const char *cmd, const char *flag, const char *text, uint64_t min,
                   uint64_t max, uint64_t *out);

/* A master's address as a URL: "host:port" as the seed tool writes it becomes
 * "http://host:port"; a URL with a scheme is kept. Into out; returns out. */
const char *cli_master_url(const char *text, char *out, size_t size);

/* A setting given by a flag or an environment variable: value (NULL: neither) and from, what
 * gave it ("--region" or "HERD_REGION"), for the messages about it. */
struct cli_setting {
    const char *value;
    const char *from;
};

/* Sets s from the environment variable name when that is set and not empty; leaves s as it
 * is otherwise. A flag parsed later overrides it. */
void cli_setting_env(struct cli_setting *s, const char *name);

/* Checks a token setting (a master's, as herd master and herd worker take it): 1 to 255
 * characters without blanks. Returns 0, or -1 after printing "herd CMD: FROM: expected 1 to
 * 255 characters without blanks". */
int cli_token_check(const char *cmd, const struct cli_setting *s);
#define CLI_TOKEN_MAX 255

/* The flag that names state directory root in a hint a user can paste ("herd down%s"):
 * "" for the default (.herd), else " --state-dir ROOT" with ROOT single-quoted when the
 * shell would split or expand it. Writes at most size bytes into out; returns out. */
const char *cli_state_flag(const char *root, char *out, size_t size);
#define CLI_STATE_FLAG_SIZE 1200 /* fits any state directory path, quoted */

/* mkdir -p path. Returns 0 or -1 with a message. */
int cli_make_dirs(const char *path, char *err, size_t errlen);

/* Prints a node table from the supervisor's status JSON (a json_t *): the short form after
 * `herd up`, or with uptime, restarts, health and RSS. */
void cli_print_nodes(const void *status, FILE *out, bool details);

#endif
