/* check_connectivity.c -- probes every replica the plan launched and the target (or every
 * environment): each must answer its probes (success >=100% by default). */
#include "plan/check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "load/engine.h"
#include "load/run_json.h"
#include "load/threshold.h"

/* Probes one endpoint; appends {endpoint, url, success, summary, expectations, pass} to
 * endpoints and its expectations to expects. Returns 0, or -1 with a message. */
static int probe(const struct check_env *env, const struct plan_check *c, const char *name,
                 const char *url, json_t *endpoints, json_t *expects, bool *pass, char *err,
                 size_t errlen)
{
    struct check_load l = {.requests = (uint64_t)c->probes, .connections = 1};
    snprintf(l.url, sizeof l.url, "%s", url);
    struct load_result r;
    if (check_run_load(env, &l, &r, err, errlen) < 0) return -1;
    struct load_summary s;
    load_summary_from(&r, &s);
    json_t *summary = load_summary_json(&r);
    load_result_free(&r);
    double success = s.scheduled ? (double)s.succeeded / (double)s.scheduled : NAN;
    json_t *list = json_array();
    /* success >=100% unless the plan said otherwise (parse_check adds it): other expectations
     * do not remove it */
    bool bound_ok = check_judge_bound(c, "success", success, list); /* both list their verdicts */
    bool thresholds_ok = check_judge_thresholds(c, &s, list);
    bool ok = bound_ok && thresholds_ok && s.succeeded > 0;
    if (s.succeeded == 0)
        json_array_append_new(list, check_expectation("a probe succeeded", 0, false));
    *pass &= ok;
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    { /* "api.1: success >=100%" in the check's list */
        char text[192];
        snprintf(text, sizeof text, "%s: %s", name,
                 json_string_value(json_object_get(e, "expect")));
        json_array_append_new(expects, json_pack("{s:s,s:O,s:O}", "expect", text, "actual",
                                                 json_object_get(e, "actual"), "pass",
                                                 json_object_get(e, "pass")));
    }
    json_array_append_new(endpoints,
                          json_pack("{s:s,s:s,s:o,s:o,s:o,s:b}", "endpoint", name, "url", url,
                                    "success", isfinite(success) ? json_real(success) : json_null(),
                                    "summary", summary, "expectations", list, "pass", ok));
    return 0;
}

/* Endpoints to probe: every replica the plan launched (not the gateway), then the target. The
 * check's expectations list names each endpoint's. */
static const char *const own[] = {"success", NULL};

const struct conf_key check_connectivity_keys[] = {
    CONF_KEY("probes", CONF_K_INT, "requests to the target and to each node (10)"),
    CHECK_KEY_PATH("/health"),
    CHECK_KEY_COMMON(own),
    CONF_KEYS_END,
};

static int parse(struct plan *p, struct plan_check *c, const struct conf_doc *doc,
                 const struct conf_node *body, const struct conf_node *e, char *err, size_t errlen)
{
    (void)p;
    long long probes = 10;
    if (conf_check_members(doc, body, check_connectivity_keys, err, errlen) < 0 ||
        conf_opt_int(doc, body, "probes", 1, 100000, &probes, err, errlen) < 0 ||
        plan_parse_path(c, doc, body, "/health", err, errlen) < 0 ||
        (e && plan_parse_expect(c, doc, e, own, err, errlen) < 0))
        return -1;
    c->probes = (int)probes;
    bool stated = false; /* every probe must succeed unless the plan says how many may fail */
    for (size_t i = 0; i < c->threshold_count; i++)
        stated |= c->thresholds[i].metric == THRESHOLD_ERRORS;
    if (!stated) plan_default_bound(c, "success", ">=100%");
    return 0;
}

static json_t *run(const struct check_env *env, const struct plan_check *c, json_t *expects,
                   bool *pass, char *err, size_t errlen)
{
    json_t *endpoints = json_array();
    struct plan *p = env->p;
    char url[1100], name[128];
    *pass = true;
    for (size_t g = 0; p->has_cluster && g < p->cluster.group_count; g++) {
        const struct cluster_group *grp = &p->cluster.groups[g];
        if (strcmp(grp->name, CLUSTER_GATEWAY_GROUP) == 0 || (!grp->base_port && !grp->ports))
            continue;
        for (int i = 1; i <= grp->replicas; i++) {
            char host[40];
            cluster_group_host(grp, i, host, sizeof host);
            snprintf(url, sizeof url, "http://%s:%d%s", host, cluster_group_port(grp, i), c->path);
            snprintf(name, sizeof name, "%s.%d", grp->name, i);
            if (probe(env, c, name, url, endpoints, expects, pass, err, errlen) < 0) {
                json_decref(endpoints);
                return NULL;
            }
        }
    }
    /* the target, or every environment when the plan has several and the check names none */
    bool all = p->env_count && !c->environment[0];
    for (size_t e = 0; e < (all ? p->env_count : 1); e++) {
        snprintf(url, sizeof url, "%s%s", all ? p->envs[e].url : c->target, c->path);
        const char *what = all ? p->envs[e].name : c->environment[0] ? c->environment : "target";
        if (probe(env, c, what, url, endpoints, expects, pass, err, errlen) < 0) {
            json_decref(endpoints);
            return NULL;
        }
    }
    return json_pack("{s:i,s:o}", "probes", c->probes, "endpoints", endpoints);
}

const struct check_kind check_connectivity_kind = {"connectivity", parse, run};
