/* check_fault.c -- injecting a check's fault and undoing it: signals through the supervisor,
 * the fault proxy (latency, reset, blackhole), the replica's link (partition), or the user's
 * commands (exec). A fault that fails on one node undoes it on those already faulted. */
#include "plan/check.h"

#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/mtime.h"
#include "fault/netns.h"
#include "fault/proxy.h"
#include "plan/exec.h"

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

/* Runs the exec fault's inject or recover command (exec_command_run), shows it on the live
 * display and adds it, with its output, to the check's log. */
static int exec_step(const struct check_env *env, const struct plan_check *c, bool inject,
                     char *err, size_t errlen)
{
    const char *cmd = inject ? c->exec_cmd : c->recover_cmd;
    char output[EXEC_OUTPUT_MAX + 1];
    int64_t at_us = (int64_t)mtime_now_us();
    int rc = exec_command_run(cmd, NULL, c->exec_timeout_us / 1000, inject ? env->stop : NULL,
                              output, sizeof output, NULL, NULL, err, errlen);
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
