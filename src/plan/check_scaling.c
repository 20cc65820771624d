/* check_scaling.c -- the same load on N replicas of a group, step by step: scaling efficiency
 * from successful throughput only, successful throughput(N) / (N/N1 x successful
 * throughput(N1)). A step whose load mostly failed fails the check. */
#include "plan/check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/err.h"
#include "load/engine.h"
#include "load/run_json.h"
#include "load/threshold.h"

int check_gateway_wait_group(const char *target, const char *group, int want,
                             const struct load_stop *stop)
{
    size_t plen = strlen(group);
    int up = 0;
    for (int tries = 0; tries < 400 && !load_stop_requested(stop); tries++) {
        up = 0;
        json_t *j = check_gateway_get(target, "/api/v1/cluster/nodes");
        const char *id;
        json_t *n;
        json_object_foreach(json_object_get(j, "nodes"), id, n)
        {
            const char *state = json_string_value(json_object_get(n, "state"));
            if (strncmp(id, group, plen) == 0 && id[plen] == '.' && state &&
                strcmp(state, "up") == 0)
                up++;
        }
        json_decref(j);
        if (up == want) return up;
        usleep(50000);
    }
    return up;
}

static const char *const own[] = {"efficiency", NULL};
static const struct conf_key replica_count = CONF_ITEM(CONF_K_INT, "a replica count");

const struct conf_key check_scaling_keys[] = {
    CONF_KEY("group", CONF_K_STRING, "the group of the plan's cluster that is scaled"),
    CONF_KEY("replicas", CONF_K_LIST, "the replica counts measured, e.g. [1, 3]", .item = &replica_count,
     .required = true),
    CONF_KEY("connections", CONF_K_INT, "connections at each step (50)"),
    CONF_KEY("duration", CONF_K_DURATION, "the load at each step (5s)"),
    CHECK_KEY_PATH("/"),
    CHECK_KEY_COMMON(own),
    CONF_KEYS_END,
};

/* Why the gateway at target does not have replicas 1..want of group up: "web.3 never became
 * healthy in the gateway: down: GET /health -> 404" for each replica that is not (with the
 * gateway's reason, or "unknown to the gateway"), separated by "; ". */
static void gateway_missing(const char *target, const char *group, int want, char *out,
                            size_t size)
{
    json_t *root = check_gateway_get(target, "/api/v1/cluster/nodes");
    json_t *nodes = json_object_get(root, "nodes");
    size_t len = (size_t)snprintf(out, size, "%s",
                                  root ? "" : "the gateway's GET /api/v1/cluster/nodes failed");
    for (int i = 1; root && i <= want && len < size; i++) {
        char id[CLUSTER_NAME_MAX + 16];
        snprintf(id, sizeof id, "%s.%d", group, i);
        json_t *n = json_object_get(nodes, id);
        const char *state = json_string_value(json_object_get(n, "state"));
        const char *reason = json_string_value(json_object_get(n, "reason"));
        if (state && strcmp(state, "up") == 0) continue;
        len += (size_t)snprintf(out + len, size - len, "%s%s never became healthy in the gateway: %s",
                                len ? "; " : "", id,
                                !n ? "unknown to the gateway" : reason ? reason : state);
    }
    json_decref(root);
}

static int parse(struct plan *p, struct plan_check *c, const struct conf_doc *doc,
                 const struct conf_node *body, const struct conf_node *e, char *err, size_t errlen)
{
    long long connections;
    const char *group = NULL;
    connections = 50;
    c->duration_us = 5000000;
    if (conf_check_members(doc, body, check_scaling_keys, err, errlen) < 0 ||
        conf_opt_string(doc, body, "group", &group, err, errlen) < 0 ||
        conf_opt_int(doc, body, "connections", 1, 100000, &connections, err, errlen) < 0 ||
        conf_opt_duration_us(doc, body, "duration", 500000, 3600000000ULL, &c->duration_us, err,
                             errlen) < 0 ||
        plan_parse_path(c, doc, body, "/", err, errlen) < 0 ||
        (e && plan_parse_expect(c, doc, e, own, err, errlen) < 0))
        return -1;
    if (!p->has_cluster)
        return conf_error(doc, body, err, errlen,
                          "a scaling check needs the plan's cluster: herd scales its group");
    if (!group || !cluster_spec_group(&p->cluster, group))
        return conf_error(doc, group ? conf_get(body, "group") : body, err, errlen,
                          "expected 'group', one of the plan's cluster groups");
    snprintf(c->group, sizeof c->group, "%s", group);
    const struct conf_node *r = conf_get(body, "replicas");
    if (conf_expect_seq(doc, r, err, errlen) < 0) return -1; /* required: it is there */
    for (const struct conf_node *x = r->first; x; x = x->next) {
        long long n;
        if (c->step_count == PLAN_MAX_STEPS)
            return conf_error(doc, x, err, errlen, "at most %d steps", PLAN_MAX_STEPS);
        if (conf_to_int(doc, x, 1, 1000, &n, err, errlen) < 0) return -1;
        c->steps[c->step_count++] = (int)n;
    }
    if (c->step_count < 2)
        return conf_error(doc, r, err, errlen, "expected two replica counts or more, e.g. [1, 3]");
    c->connections = (unsigned)connections;
    return 0;
}

static json_t *run(const struct check_env *env, const struct plan_check *c, json_t *expects,
                   bool *pass, char *err, size_t errlen)
{
    const struct cluster_group *g = cluster_spec_group(&env->p->cluster, c->group);
    int original = g->replicas;
    struct check_load l = {.connections = c->connections, .duration_us = c->duration_us};
    snprintf(l.url, sizeof l.url, "%s%s", c->target, c->path);
    json_t *steps = json_array();
    double first_ok_rps = NAN, efficiency = NAN;
    int first_n = c->steps[0];
    *pass = true;
    for (size_t i = 0; i < c->step_count && !*env->interrupted; i++) {
        int n = c->steps[i];
        char serr[512];
        if (check_cluster_act(env->cluster, c->group, "scale", n, serr, sizeof serr) < 0) {
            err_set(err, errlen, "scale %s to %d: %s", c->group, n, serr);
            json_decref(steps);
            return NULL;
        }
        int up = check_gateway_wait_group(c->target, c->group, n, env->stop);
        check_event(env, "%s scaled to %d replica%s, %d up at the gateway", c->group, n,
                    n == 1 ? "" : "s", up);
        bool seen = up == n;
        struct load_result r;
        if (check_run_load(env, &l, &r, err, errlen) < 0) {
            json_decref(steps);
            return NULL;
        }
        struct load_summary s;
        load_summary_from(&r, &s);
        json_t *summary = load_summary_json(&r);
        load_result_free(&r);
        if (i == 0) first_ok_rps = s.succeeded ? s.ok_rps : NAN;
        double eff = first_ok_rps > 0 ? (s.ok_rps / first_ok_rps) / ((double)n / first_n) : NAN;
        if (i > 0) efficiency = eff;
        json_t *step =
            json_pack("{s:i,s:b,s:o}", "replicas", n, "gateway_saw_all", seen, "summary", summary);
        json_object_set_new(step, "ok_rps", isfinite(s.ok_rps) ? json_real(s.ok_rps) : json_null());
        json_object_set_new(step, "efficiency", isfinite(eff) ? json_real(eff) : json_null());
        json_array_append_new(steps, step);
        if (!seen) { /* the expectation says which replica and why, the count is its value */
            char why[1024], text[1100];
            gateway_missing(c->target, c->group, n, why, sizeof why);
            snprintf(text, sizeof text, "the gateway saw all %d replicas up (%s)", n, why);
            json_array_append_new(expects, check_expectation(text, up, false));
            json_object_set_new(step, "gateway_missing", json_string(why));
            *pass = false;
        }
        *pass &= check_judge_thresholds(c, &s, expects);
        *pass &= check_judge_success(c, &s, expects);
    }
    char serr[512];
    if (check_cluster_act(env->cluster, c->group, "scale", original, serr, sizeof serr) == 0)
        check_gateway_wait_group(c->target, c->group, original, env->stop);
    *pass &= check_judge_bound(c, "efficiency", efficiency, expects);
    json_t *out = json_pack("{s:s,s:o}", "group", c->group, "steps", steps);
    json_object_set_new(out, "efficiency",
                        isfinite(efficiency) ? json_real(efficiency) : json_null());
    return out;
}

const struct check_kind check_scaling_kind = {"scaling", parse, run};
