/* exec.c -- a user's shell command run with its output in a file of its own (see exec.h). */
#include "plan/exec.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "load/engine.h"

extern char **environ;

/* The last outlen - 1 bytes of the file fd into out (NUL-terminated, NUL bytes shown as
 * spaces), its size into *size; "" when it wrote nothing. */
static void read_tail(int fd, char *out, size_t outlen, size_t *size_out)
{
    out[0] = 0;
    off_t size = lseek(fd, 0, SEEK_END);
    if (size_out) *size_out = size > 0 ? (size_t)size : 0;
    if (size <= 0 || outlen < 2) return;
    size_t want = (size_t)size < outlen - 1 ? (size_t)size : outlen - 1;
    ssize_t n = pread(fd, out, want, size - (off_t)want);
    if (n <= 0) return;
    out[n] = 0;
    for (ssize_t i = 0; i < n; i++)
        if (out[i] == 0) out[i] = ' ';
}

/* herd's environment with env's NAME=VALUE over it: a new array of borrowed strings (free the
 * array only), or NULL when out of memory. */
static char **env_merge(const char *const *env)
{
    size_t n = 0, extra = 0;
    while (environ[n])
        n++;
    while (env && env[extra])
        extra++;
    char **all = calloc(n + extra + 1, sizeof *all);
    if (!all) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t name = strcspn(environ[i], "=");
        bool replaced = false;
        for (size_t e = 0; e < extra && !replaced; e++)
            replaced = strncmp(env[e], environ[i], name) == 0 && env[e][name] == '=';
        if (!replaced) all[k++] = environ[i];
    }
    for (size_t e = 0; e < extra; e++)
        all[k++] = (char *)env[e];
    return all;
}

int exec_command_run(const char *cmd, const char *const *env, uint64_t timeout_ms,
                     const struct load_stop *stop, char *output, size_t outlen, size_t *printed,
                     int *exit_status, char *err, size_t errlen)
{
    if (exit_status) *exit_status = -1;
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    const char *tmp = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/herd-exec-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    output[0] = 0;
    if (printed) *printed = 0;
    char **envp = env ? env_merge(env) : environ;
    if (!envp) return err_set(err, errlen, "exec `%s`: out of memory", cmd);
    int fd = mkstemp(path);
    if (fd < 0) {
        if (envp != environ) free(envp);
        return err_set(err, errlen, "exec `%s`: cannot make its output file %s", cmd, path);
    }
    unlink(path); /* the command's later output (a daemon's) goes nowhere anyone reads */
    pid_t pid;
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    posix_spawn_file_actions_addopen(&files, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&files, fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&files, fd, STDERR_FILENO);
    posix_spawnattr_t attr; /* its own process group: a timeout ends all it started */
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    int src = posix_spawn(&pid, "/bin/sh", &files, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&files);
    if (envp != environ) free(envp);
    if (src != 0) {
        close(fd);
        return err_set(err, errlen, "exec `%s`: cannot start /bin/sh", cmd);
    }
    int status = 0, rc = 0;
    for (uint64_t waited = 0; waitpid(pid, &status, WNOHANG) == 0; waited += 10) {
        if (load_stop_requested(stop)) { /* interrupted: not worth waiting for */
            if (pid > 1) kill(-pid, SIGKILL); /* never kill(-1) */
            waitpid(pid, &status, 0);
            rc = err_set(err, errlen, "exec `%s`: interrupted, killed", cmd);
            goto out;
        }
        if (waited >= timeout_ms) {
            if (pid > 1) kill(-pid, SIGKILL); /* never kill(-1) */
            waitpid(pid, &status, 0);
            rc = err_set(err, errlen, "exec `%s`: still running after %.1f s, killed", cmd,
                         (double)timeout_ms / 1000);
            goto out;
        }
        usleep(10000);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        rc = err_set(err, errlen, "exec `%s`: exited %d", cmd, WEXITSTATUS(status));
    else if (!WIFEXITED(status))
        rc = err_set(err, errlen, "exec `%s`: killed by signal %d", cmd, WTERMSIG(status));
    if (exit_status && WIFEXITED(status)) *exit_status = WEXITSTATUS(status);
out:
    read_tail(fd, output, outlen, printed);
    close(fd);
    return rc;
}
