/* exec.h -- a user's shell command run to its end with its output captured, never on herd's
 * own descriptors: the exec fault's commands and parity's per-environment commands. */
#ifndef HERD_PLAN_EXEC_H
#define HERD_PLAN_EXEC_H

#include <stddef.h>
#include <stdint.h>

struct load_stop;

/* The most of a command's output the exec fault keeps: its last bytes, where errors are. */
#define EXEC_OUTPUT_MAX 4096

/* Runs cmd with /bin/sh -c in a process group of its own, stdin /dev/null, stdout and stderr
 * into a file of its own (a daemon it starts in the background must not hold herd's output
 * open), with herd's environment plus env ("NAME=VALUE" strings, NULL-terminated, overriding
 * herd's; NULL: none), to its end, at most timeout_ms, or until stop is asked (may be NULL);
 * then the whole group is killed, what it started in the background too. The last outlen - 1
 * bytes of what it printed go to output (NUL-terminated, NUL bytes shown as spaces), its full
 * size in bytes to *printed and its exit status to *exit_status (-1 when it did not exit by
 * itself: not started, killed, timed out; either may be NULL). Returns 0 when it exited 0,
 * else -1 with a message naming the command in err (the output is filled either way). */
int exec_command_run(const char *cmd, const char *const *env, uint64_t timeout_ms,
                     const struct load_stop *stop, char *output, size_t outlen, size_t *printed,
                     int *exit_status, char *err, size_t errlen);

#endif
