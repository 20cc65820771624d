/* check_fault.c -- injecting a check's fault and undoing it: signals through the supervisor,
 * the fault proxy (latency, reset, blackhole), the replica's link (partition), or the user's
 * commands (exec). A fault that fails on one node undoes it on those already faulted. */
#include "plan/check.h"

#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
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

/* Runs the exec fault's command (/bin/sh -c, in a process group of its own) to its end, at
 * most timeout_ms, or until stop is asked (may be NULL: the recovery always runs); then the
 * whole group is killed, what it started in the background too. Returns 0 when it exited 0,
 * else -1 with a message. */
static int run_command(const char *cmd, uint64_t timeout_ms, const struct load_stop *stop,
                       char *err, size_t errlen)
{
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    pid_t pid;
    posix_spawnattr_t attr; /* its own process group: a timeout ends all it started */
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    int src = posix_spawn(&pid, "/bin/sh", NULL, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    if (src != 0) return err_set(err, errlen, "exec `%s`: cannot start /bin/sh", cmd);
    int status = 0;
    for (uint64_t waited = 0; waitpid(pid, &status, WNOHANG) == 0; waited += 10) {
        if (load_stop_requested(stop)) { /* interrupted: the fault is not worth waiting for */
            if (pid > 1) kill(-pid, SIGKILL); /* never kill(-1) */
            waitpid(pid, &status, 0);
            return err_set(err, errlen, "exec `%s`: interrupted, killed", cmd);
        }
        if (waited >= timeout_ms) {
            if (pid > 1) kill(-pid, SIGKILL); /* never kill(-1) */
            waitpid(pid, &status, 0);
            return err_set(err, errlen, "exec `%s`: still running after %.1f s, killed", cmd,
                           (double)timeout_ms / 1000);
        }
        usleep(10000);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    if (WIFEXITED(status))
        return err_set(err, errlen, "exec `%s`: exited %d", cmd, WEXITSTATUS(status));
    return err_set(err, errlen, "exec `%s`: killed by signal %d", cmd, WTERMSIG(status));
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

/* Runs the exec fault's inject or recover command (see run_command) and shows it on the live
 * display. */
static int exec_step(const struct check_env *env, const struct plan_check *c, bool inject,
                     char *err, size_t errlen)
{
    int rc = run_command(inject ? c->exec_cmd : c->recover_cmd, c->exec_timeout_us / 1000,
                         inject ? env->stop : NULL, err, errlen);
    check_event(env, "%s exec%s%s", inject ? "fault" : "recovery", rc < 0 ? " failed: " : "",
                rc < 0 ? err : "");
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
