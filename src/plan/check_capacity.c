/* check_capacity.c -- the capacity check: grow a group of the launched cluster in steps
 * until something gives (a replica cannot start, a health probe fails, health gets slower
 * than the limit, the group's memory passes the limit, this process runs short of file
 * descriptors) or the maximum is reached; per step the replicas' RSS and the latency of
 * their health endpoint. The group is brought back to its size afterwards. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <uv.h>

#include "base/err.h"
#include "cluster/control.h"
#include "base/size.h"
#include "plan/check.h"
#include "stats/hist.h"

/* What one more replica costs this process at most: its stdout and stderr pipes, its log
 * file, the process handle, and a health probe's socket. */
#define FDS_PER_REPLICA 6

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the directory's own descriptor */
}

/* The soft limit on open files, raised to the hard limit first: this process's own limit
 * is not the cluster's. */
static long fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY ? 1L << 20 : (long)rl.rlim_cur;
}

/* Half of MemAvailable, in MB: the default memory limit, so the check never starves the
 * machine. */
static double half_available_mb(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb > 0 ? kb / 1024 / 2 : 1024;
}

struct step_view {
    int running;   /* replicas of the group the supervisor has ready */
    double rss_mb; /* their resident memory, summed */
    double rss_max_mb;
    int ports[2000];
    int port_count;
};

/* The supervisor's view of group: its ready replicas, their memory and ports. */
static void view_group(const struct check_env *env, const char *group, struct step_view *v)
{
    memset(v, 0, sizeof *v);
    json_t *st = check_cluster_status(env->cluster);
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(st, "nodes"), i, n)
    {
        if (strcmp(json_string_value(json_object_get(n, "group")), group) != 0) continue;
        if (strcmp(json_string_value(json_object_get(n, "state")), "ready") != 0) continue;
        double mb = (double)json_integer_value(json_object_get(n, "rss_kb")) / 1024;
        v->running++;
        v->rss_mb += mb;
        if (mb > v->rss_max_mb) v->rss_max_mb = mb;
        if (v->port_count < (int)(sizeof v->ports / sizeof v->ports[0]))
            v->ports[v->port_count++] = (int)json_integer_value(json_object_get(n, "port"));
    }
    json_decref(st);
}

/* Probes every port of v `probes` times on path (a new connection each, as a health checker
 * does); latencies into h. Returns the failed probes (no answer, or not 2xx). */
static int probe_all(const struct step_view *v, const char *path, int probes, struct hist *h)
{
    int failed = 0;
    for (int r = 0; r < probes; r++)
        for (int i = 0; i < v->port_count; i++) {
            int status = 0;
            char *body = NULL, err[256];
            uint64_t t0 = uv_hrtime();
            int rc = control_call_port(v->ports[i], "GET", path, NULL, 2000, &status, &body, err,
                                       sizeof err);
            hist_record(h, (uv_hrtime() - t0) / 1000);
            free(body);
            failed += rc < 0 || status < 200 || status > 299;
        }
    return failed;
}

static const char *const own[] = {"nodes", "rss_per_node", "health_p99", NULL};

static const struct conf_key limit_keys[] = {
    CONF_KEY("health_p99", CONF_K_DURATION, "stop when the health checks' p99 passes this (1s)"),
    CONF_KEY("memory", CONF_K_SIZE, "stop when the nodes' memory passes this, 4GB"),
    CONF_KEYS_END,
};

const struct conf_key check_capacity_keys[] = {
    CONF_KEY("group", CONF_K_STRING, "the group of the plan's cluster that grows"),
    CONF_KEY("step", CONF_K_INT, "replicas added at each step (10)"),
    CONF_KEY("max", CONF_K_INT, "replicas at most (100)"),
    CONF_KEY("probes", CONF_K_INT, "health requests to each node at each step (5)"),
    CHECK_KEY_PATH("the group's health path"),
    CONF_KEY("limit", CONF_K_MAP, "when to stop growing", .members = limit_keys),
    CHECK_KEY_COMMON(own),
    CONF_KEYS_END,
};

static int parse(struct plan *p, struct plan_check *c, const struct conf_doc *doc,
                 const struct conf_node *body, const struct conf_node *expect, char *err,
                 size_t errlen)
{
    (void)expect; /* read below with the other keys */
    const struct conf_node *e = conf_get(body, "expect"), *limit = conf_get(body, "limit");
    const char *group = NULL;
    uint64_t memory = 0;
    long long step = 10, max = 100, probes = 5;
    uint64_t health_us = 1000000;
    if (conf_check_members(doc, body, check_capacity_keys, err, errlen) < 0 ||
        conf_opt_string(doc, body, "group", &group, err, errlen) < 0 ||
        conf_opt_int(doc, body, "step", 1, 1000, &step, err, errlen) < 0 ||
        conf_opt_int(doc, body, "max", 1, 2000, &max, err, errlen) < 0 ||
        conf_opt_int(doc, body, "probes", 1, 1000, &probes, err, errlen) < 0 ||
        (limit && (conf_check_members(doc, limit, limit_keys, err, errlen) < 0 ||
                   conf_opt_duration_us(doc, limit, "health_p99", 1000, 60000000, &health_us, err,
                                        errlen) < 0 ||
                   conf_opt_size(doc, limit, "memory", 1 << 20, SIZE_MAX_BYTES, &memory, err,
                                 errlen) < 0)) ||
        (e && plan_parse_expect(c, doc, e, own, err, errlen) < 0))
        return -1;
    if (!p->has_cluster)
        return conf_error(doc, body, err, errlen,
                          "a capacity check needs the plan's cluster: herd launches the nodes");
    const struct cluster_group *g = group ? cluster_spec_group(&p->cluster, group) : NULL;
    if (!g || strcmp(group, CLUSTER_GATEWAY_GROUP) == 0)
        return conf_error(doc, group ? conf_get(body, "group") : body, err, errlen,
                          "expected 'group', one of the plan's cluster groups");
    if (!g->base_port)
        return conf_error(doc, conf_get(body, "group"), err, errlen,
                          "group %s lists its ports: growing it needs base_port", group);
    if (g->netns)
        return conf_error(doc, conf_get(body, "group"), err, errlen,
                          "group %s runs in network namespaces: the capacity check grows groups "
                          "on 127.0.0.1",
                          group);
    if (max <= g->replicas)
        return conf_error(doc, conf_get(body, "max"), err, errlen,
                          "expected more than the group's %d replicas", g->replicas);
    if (g->base_port + max - 1 > 65535)
        return conf_error(doc, conf_get(body, "max"), err, errlen,
                          "%lld replicas from port %d go past port 65535", max, g->base_port);
    if (memory) c->memory_limit_mb = (double)memory / (1 << 20);
    snprintf(c->group, sizeof c->group, "%s", group);
    c->step = (int)step;
    c->max_replicas = (int)max;
    c->probes = (int)probes;
    c->health_limit_ms = (double)health_us / 1000;
    return plan_parse_path(c, doc, body, g->health_path[0] ? g->health_path : "/health", err,
                           errlen);
}

static json_t *run(const struct check_env *env, const struct plan_check *c, json_t *expects,
                   bool *pass, char *err, size_t errlen)
{
    const struct cluster_group *g = cluster_spec_group(&env->p->cluster, c->group);
    int original = g->replicas;
    long fds = fd_limit();
    double memory_mb = c->memory_limit_mb > 0 ? c->memory_limit_mb : half_available_mb();
    struct step_view *v = malloc(sizeof *v);
    struct hist *h = hist_new();
    if (!v || !h) {
        free(v);
        hist_free(h);
        err_set(err, errlen, "out of memory");
        return NULL;
    }
    json_t *steps = json_array();
    char reason[32] = "max", detail[600] = "";
    int reached = 0;
    double rss_per_node = NAN, health_p99 = NAN;
    for (int n = original;; n = n + c->step > c->max_replicas ? c->max_replicas : n + c->step) {
        int open = open_fds(), more = n - (reached ? reached : original);
        if (more > 0 && open >= 0 && open + more * FDS_PER_REPLICA > fds) {
            snprintf(reason, sizeof reason, "fds");
            snprintf(detail, sizeof detail,
                     "%d of %ld file descriptors open, %d replicas more would pass the limit", open,
                     fds, more);
            break;
        }
        uint64_t t0 = uv_hrtime();
        char serr[512] = "";
        int rc = n == original
                     ? 0
                     : check_cluster_act(env->cluster, c->group, "scale", n, serr, sizeof serr);
        double launch_ms = (double)(uv_hrtime() - t0) / 1e6;
        view_group(env, c->group, v);
        hist_reset(h);
        int failed = probe_all(v, c->path, c->probes, h);
        /* no probe answered: no latency to speak of, not 0 */
        double p50 = h->total ? (double)hist_percentile(h, 50) / 1000 : NAN;
        double p99 = h->total ? (double)hist_percentile(h, 99) / 1000 : NAN;
        json_array_append_new(
            steps,
            json_pack("{s:i,s:i,s:f,s:f,s:f,s:f,s:{s:i,s:i,s:o,s:o,s:o}}", "replicas", n, "running",
                      v->running, "launch_ms", launch_ms, "rss_mb", v->rss_mb, "rss_per_node_mb",
                      v->running ? v->rss_mb / v->running : 0.0, "rss_max_mb", v->rss_max_mb,
                      "health", "probes", v->port_count * c->probes, "failed", failed, "p50_ms",
                      isfinite(p50) ? json_real(p50) : json_null(), "p99_ms",
                      isfinite(p99) ? json_real(p99) : json_null(), "max_ms",
                      h->total ? json_real((double)hist_percentile(h, 100) / 1000) : json_null()));
        check_event(env, "%d replicas: %d running, %.0f MB resident, %d of %d health probes failed, "
                    "health p99 %.1fms", n, v->running, v->rss_mb, failed, v->port_count * c->probes,
                    p99);
        if (rc < 0 || v->running < n) {
            snprintf(reason, sizeof reason, "launch");
            snprintf(detail, sizeof detail, "%d of %d replicas ready%s%s", v->running, n,
                     serr[0] ? ": " : "", serr);
        } else if (failed) {
            snprintf(reason, sizeof reason, "health");
            snprintf(detail, sizeof detail, "%d of %d health probes failed at %d replicas", failed,
                     v->port_count * c->probes, n);
        } else if (p99 > c->health_limit_ms) {
            snprintf(reason, sizeof reason, "health_latency");
            snprintf(detail, sizeof detail,
                     "health p99 %.1f ms at %d replicas, over the limit "
                     "%.0f ms",
                     p99, n, c->health_limit_ms);
        } else if (v->rss_mb > memory_mb) {
            snprintf(reason, sizeof reason, "memory");
            snprintf(detail, sizeof detail,
                     "%.0f MB resident at %d replicas, over the limit "
                     "%.0f MB",
                     v->rss_mb, n, memory_mb);
        } else {
            reached = n;
            rss_per_node = v->rss_mb / n;
            health_p99 = p99;
            if (n < c->max_replicas) continue;
            snprintf(detail, sizeof detail, "reached the maximum, %d replicas", n);
        }
        break;
    }
    free(v);
    hist_free(h);
    /* back to the size the plan gave, for the checks that follow */
    char serr[512] = "";
    bool restored =
        check_cluster_act(env->cluster, c->group, "scale", original, serr, sizeof serr) == 0;
    if (restored && env->p->cluster.gateway.present)
        check_gateway_wait_group(c->target, c->group, original, env->stop);
    bool ok = check_judge_bound(c, "nodes", reached, expects);
    if (reached == 0) { /* not even the plan's own size passed: nothing was measured */
        json_array_append_new(expects,
                              check_expectation("a step with every replica up and every probe "
                                                "passing",
                                                0, false));
        ok = false;
    }
    ok &= check_judge_bound(c, "rss_per_node", rss_per_node, expects);
    ok &= check_judge_bound(c, "health_p99", health_p99, expects);
    if (!restored) {
        json_array_append_new(
            expects, check_expectation("the group was brought back to its size", 0, false));
        ok = false;
    }
    *pass = ok;
    json_t *out = json_pack("{s:s,s:i,s:i,s:s,s:{s:f,s:f,s:I},s:i,s:{s:s,s:s},s:o}", "group",
                            c->group, "step", c->step, "max", c->max_replicas, "path", c->path,
                            "limits", "health_p99_ms", c->health_limit_ms, "memory_mb", memory_mb,
                            "fds", (json_int_t)fds, "nodes_reached", reached, "broke", "reason",
                            reason, "detail", detail, "steps", steps);
    json_object_set_new(out, "rss_per_node_mb",
                        isfinite(rss_per_node) ? json_real(rss_per_node) : json_null());
    json_object_set_new(out, "health_p99_ms",
                        isfinite(health_p99) ? json_real(health_p99) : json_null());
    if (!restored) json_object_set_new(out, "error", json_string(serr));
    return out;
}

const struct check_kind check_capacity_kind = {"capacity", parse, run};
