/* check_fault.c -- injecting a check's fault and undoing it: signals through the supervisor,
 * the fault proxy (latency, reset, blackhole), the replica's link (partition), or the user's
 * commands (exec). A fault that fails on one node undoes it on those already faulted. */
#include "plan/check.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/mtime.h"
#include "fault/netns.h"
#include "fault/proxy.h"

const char *check_recovery_action(const char *fault)
{
    if (strcmp(fault, "partition") == 0) return "heal";
    return strcmp(fault, "pause") == 0 ? "resume" : plan_fault_proxied(fault) ? "pass" : "restart";
}

static int proxy_set(const struct check_env *env, const struct plan_check *c, const char *node,
                     const char *mode, char *err, size_t errlen)
{
    enum fault_proxy_mode m;
    if (fault_proxy_mode_parse(mode, &m) < 0 ||
        fault_proxies_set(env->proxies, node, m, c->latency_ms) < 0)
        return err_set(err, errlen, "%s: no fault proxy in front of it", node);
    return 0;
}

/* Cuts replica node ("api.2") off (its link down) or lets it back (up). Returns 0, or -1
 * with a message. */
static int partition_set(const struct check_env *env, const char *node, bool up, char *err,
                         size_t errlen)
{
    int index;
    const struct cluster_group *g = plan_replica(env->p, node, &index);
    if (!g || !cluster_group_in_netns(g))
        return err_set(err, errlen, "%s: not in a network namespace", node);
    return netns_replica_link(g->base_port, index, up, err, errlen);
}


extern char **environ;

/* At most this much of a command's output is kept: its last bytes, where errors are. */
#define EXEC_OUTPUT_MAX 4096

/* The last EXEC_OUTPUT_MAX bytes of the file fd into out (NUL-terminated, NUL bytes shown as
 * spaces); "" when it wrote nothing. */
static void read_tail(int fd, char *out, size_t outlen)
{
    out[0] = 0;
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0 || outlen < 2) return;
    size_t want = (size_t)size < outlen - 1 ? (size_t)size : outlen - 1;
    ssize_t n = pread(fd, out, want, size - (off_t)want);
    if (n <= 0) return;
    out[n] = 0;
    for (ssize_t i = 0; i < n; i++)
        if (out[i] == 0) out[i] = ' ';
}

/* Runs the exec fault's command (/bin/sh -c, in a process group of its own, stdin /dev/null,
 * stdout and stderr into a file of its own, never herd's descriptors: a daemon it starts in
 * the background must not hold herd's output open) to its end, at most timeout_ms, or until
 * stop is asked (may be NULL: the recovery always runs); then the whole group is killed, what
 * it started in the background too. The last EXEC_OUTPUT_MAX bytes of what it printed go to
 * output. Returns 0 when it exited 0, else -1 with a message. */
static int run_command(const char *cmd, uint64_t timeout_ms, const struct load_stop *stop,
                       char *output, size_t outlen, char *err, size_t errlen)
{
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    const char *tmp = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/herd-exec-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    output[0] = 0;
    int fd = mkstemp(path);
    if (fd < 0) return err_set(err, errlen, "exec `%s`: cannot make its output file %s", cmd, path);
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
    int src = posix_spawn(&pid, "/bin/sh", &files, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&files);
    if (src != 0) {
        close(fd);
        return err_set(err, errlen, "exec `%s`: cannot start /bin/sh", cmd);
    }
    int status = 0, rc = 0;
    for (uint64_t waited = 0; waitpid(pid, &status, WNOHANG) == 0; waited += 10) {
        if (load_stop_requested(stop)) { /* interrupted: the fault is not worth waiting for */
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
out:
    read_tail(fd, output, outlen);
    close(fd);
    return rc;
}

/* Does the fault (inject) or what undoes it to node, and shows it on the live display.
 * Returns 0, or -1 with a message. */
static int fault_node(const struct check_env *env, const struct plan_check *c, const char *node,
                      bool inject, char *err, size_t errlen)
{
    const char *action = inject ? c->fault : check_recovery_action(c->fault);
    int rc;
    if (plan_fault_proxied(c->fault))
        rc = proxy_set(env, c, node, inject ? c->fault : "pass", err, errlen);
    else if (strcmp(c->fault, "partition") == 0)
        rc = partition_set(env, node, !inject, err, errlen);
    else
        rc = check_cluster_act(env->cluster, node, action, 0, err, errlen);
    check_event(env, "%s %s %s%s%s", inject ? "fault" : "recovery", action, node,
                rc < 0 ? " failed: " : "", rc < 0 ? err : "");
    return rc;
}

/* Runs the exec fault's inject or recover command (see run_command), shows it on the live
 * display and adds it, with its output, to the check's log. */
static int exec_step(const struct check_env *env, const struct plan_check *c, bool inject,
                     char *err, size_t errlen)
{
    const char *cmd = inject ? c->exec_cmd : c->recover_cmd;
    char output[EXEC_OUTPUT_MAX + 1];
    int64_t at_us = (int64_t)mtime_now_us();
    int rc = run_command(cmd, c->exec_timeout_us / 1000, inject ? env->stop : NULL, output,
                         sizeof output, err, errlen);
    check_event(env, "%s exec%s%s", inject ? "fault" : "recovery", rc < 0 ? " failed: " : "",
                rc < 0 ? err : "");
    if (env->log)
        json_array_append_new(env->log,
                              json_pack("{s:s,s:s,s:f,s:b,s:s?,s:s}", "step",
                                        inject ? "fault" : "recovery", "command", cmd, "took_s",
                                        (double)((int64_t)mtime_now_us() - at_us) / 1e6, "ok",
                                        rc == 0, "error", rc < 0 ? err : NULL, "output", output));
    return rc;
}

int check_fault_inject(const struct check_env *env, const struct plan_check *c, char *err,
                       size_t errlen)
{
    if (strcmp(c->fault, "exec") == 0) return exec_step(env, c, true, err, errlen);
    for (size_t i = 0; i < c->node_count; i++) {
        if (fault_node(env, c, c->nodes[i], true, err, errlen) == 0) continue;
        for (size_t k = 0; k < i; k++) { /* never leave the nodes already faulted broken */
            char ignored[256];
            fault_node(env, c, c->nodes[k], false, ignored, sizeof ignored);
        }
        return -1;
    }
    return 0;
}

int check_fault_recover_node(const struct check_env *env, const struct plan_check *c,
                             const char *node, char *err, size_t errlen)
{
    return fault_node(env, c, node, false, err, errlen);
}

int check_fault_recover(const struct check_env *env, const struct plan_check *c, char *err,
                        size_t errlen)
{
    if (strcmp(c->fault, "exec") == 0) return exec_step(env, c, false, err, errlen);
    int rc = 0; /* every node is recovered; the first error is returned */
    for (size_t i = 0; i < c->node_count; i++) {
        char one[512];
        if (fault_node(env, c, c->nodes[i], false, one, sizeof one) < 0 && rc == 0)
            rc = err_set(err, errlen, "%s", one);
    }
    return rc;
}
