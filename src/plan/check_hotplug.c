/* check_hotplug.c -- a whole group stopped and started again under load: the other groups'
 * path must not fail, the group's path must fail only with the gateway's 503 while it is away,
 * and rejoin is measured from the start of the group. */
#include "plan/check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "base/err.h"
#include "cluster/gateway.h"
#include "load/engine.h"
#include "load/run_json.h"
#include "load/threshold.h"
#include "plan/measure.h"

/* The group the gateway's routes send path to (the longest prefix that matches), or NULL
 * when no route matches (every node takes it). */
static const char *route_group(const struct gateway_opts *o, const char *path)
{
    const char *group = NULL;
    size_t best = 0;
    for (size_t r = 0; r < o->route_count; r++) {
        size_t len = strlen(o->routes[r].prefix);
        if (len > best && strncmp(path, o->routes[r].prefix, len) == 0) {
            best = len;
            group = o->routes[r].group;
        }
    }
    return group;
}

/* A hotplug check needs its path routed to its group alone (else stopping the group is not
 * seen as the gateway's 503 "no node") and its other path routed elsewhere. */
static int hotplug_route_check(const struct plan *p, const struct plan_check *c,
                               const struct conf_doc *doc, const struct conf_node *body, char *err,
                               size_t errlen)
{
    struct gateway_opts o;
    gateway_opts_default(&o);
    char gerr[512];
    if (p->cluster.gateway.node &&
        gateway_opts_from_conf(&o, doc, p->cluster.gateway.node, gerr, sizeof gerr) < 0) {
        gateway_opts_free(&o);
        return 0; /* the gateway section's own errors are reported where it is read */
    }
    const char *to = route_group(&o, c->path), *other = route_group(&o, c->other_path);
    int rc = 0;
    if (!to || strcmp(to, c->group) != 0)
        rc = conf_error(doc, conf_get(body, "path") ? conf_get(body, "path") : body, err, errlen,
                        "no route of the gateway sends '%s' to group %s (it goes to %s): give the "
                        "gateway a route, e.g. routes: {\"%s\": %s}",
                        c->path, c->group, to ? to : "every node", c->path, c->group);
    else if (other && strcmp(other, c->group) == 0)
        rc = conf_error(doc, conf_get(body, "other_path") ? conf_get(body, "other_path") : body,
                        err, errlen,
                        "other_path '%s' goes to group %s too: expected a path the "
                        "other groups serve",
                        c->other_path, c->group);
    gateway_opts_free(&o);
    return rc;
}

static const char *const own[] = {"other_failures", "rejoin", NULL};
static const char *const healthy[] = {"healthy", NULL};

const struct conf_key check_hotplug_keys[] = {
    CONF_KEY("group", CONF_K_STRING, "the group that leaves and comes back"),
    CHECK_KEY_PATH("/"),
    CONF_KEY("other_path", CONF_K_STRING, "a path the other groups serve (/health)"),
    CHECK_KEYS_TIMING,
    CONF_KEY("rate", CONF_K_NUMBER, "requests per second on each path (200)"),
    CONF_KEY("others_must_stay", CONF_K_STRING, "healthy", .choices = healthy),
    CHECK_KEY_COMMON(own),
    CONF_KEYS_END,
};

static int parse(struct plan *p, struct plan_check *c, const struct conf_doc *doc,
                 const struct conf_node *body, const struct conf_node *e, char *err, size_t errlen)
{
    const char *group = NULL, *other = "/health", *stay = "healthy";
    c->duration_us = 6000000;
    c->rate = 200;
    if (conf_check_members(doc, body, check_hotplug_keys, err, errlen) < 0 ||
        conf_opt_string(doc, body, "group", &group, err, errlen) < 0 ||
        conf_opt_string(doc, body, "other_path", &other, err, errlen) < 0 ||
        conf_opt_string(doc, body, "others_must_stay", &stay, err, errlen) < 0 ||
        plan_parse_timing(c, doc, body, 1000000, UINT64_MAX, err, errlen) < 0 ||
        conf_opt_double(doc, body, "rate", 1, 1000000, &c->rate, err, errlen) < 0 ||
        plan_parse_path(c, doc, body, "/", err, errlen) < 0 ||
        (e && plan_parse_expect(c, doc, e, own, err, errlen) < 0))
        return -1;
    if (!p->has_cluster || !p->cluster.gateway.present)
        return conf_error(doc, body, err, errlen,
                          "a hotplug check needs the plan's cluster with a gateway");
    if (!group || !cluster_spec_group(&p->cluster, group))
        return conf_error(doc, group ? conf_get(body, "group") : body, err, errlen,
                          "expected 'group', one of the plan's cluster groups");
    if (strcmp(stay, "healthy") != 0)
        return conf_error(doc, conf_get(body, "others_must_stay"), err, errlen, "expected healthy");
    if (other[0] != '/' || strlen(other) >= sizeof c->other_path)
        return conf_error(doc, conf_get(body, "other_path"), err, errlen,
                          "expected a path starting with /");
    snprintf(c->other_path, sizeof c->other_path, "%s", other);
    snprintf(c->group, sizeof c->group, "%s", group);
    if (hotplug_route_check(p, c, doc, body, err, errlen) < 0) return -1;
    plan_default_bound(c, "other_failures", "<=0"); /* others must stay healthy */
    return 0;
}

static json_t *run(const struct check_env *env, const struct plan_check *c, json_t *expects,
                   bool *pass, char *err, size_t errlen)
{
    const struct cluster_group *g = cluster_spec_group(&env->p->cluster, c->group);
    int original = g->replicas;
    struct check_load_job jobs[2] = {{.env = env}, {.env = env}};
    for (int i = 0; i < 2; i++)
        jobs[i].load = (struct check_load){.connections = c->connections,
                                           .duration_us = c->duration_us,
                                           .rate = c->rate,
                                           .window_us = CHECK_WINDOW_US,
                                           .max_records = i == 0 ? CHECK_MAX_RECORDS : 0,
                                           .unseen = i == 1}; /* the display shows the group's */
    snprintf(jobs[0].load.url, sizeof jobs[0].load.url, "%s%s", c->target, c->path);
    snprintf(jobs[1].load.url, sizeof jobs[1].load.url, "%s%s", c->target, c->other_path);
    uint64_t begin = uv_hrtime(); /* the origin of the group's records */
    jobs[0].load.origin_ns = begin;
    for (int i = 0; i < 2; i++)
        check_load_start(&jobs[i]);
    bool going = check_wait_until(env, begin + c->at_us * 1000);
    uint64_t stop_ns = uv_hrtime();
    char serr[512] = "", rerr[512] = "";
    int stop_rc = going ? check_cluster_act(env->cluster, c->group, "scale", 0, serr, sizeof serr) : 0;
    if (going)
        check_event(env, "stop group %s%s%s", c->group, stop_rc < 0 ? " failed: " : "",
                    stop_rc < 0 ? serr : "");
    check_wait_until(env, stop_ns + c->restart_after_us * 1000); /* interrupted: back now */
    uint64_t start_ns = uv_hrtime();
    int start_rc = going ? check_cluster_act(env->cluster, c->group, "scale", original, rerr,
                                             sizeof rerr)
                         : 0;
    if (going)
        check_event(env, "start group %s (%d replica%s)%s%s", c->group, original,
                    original == 1 ? "" : "s", start_rc < 0 ? " failed: " : "",
                    start_rc < 0 ? rerr : "");
    for (int i = 0; i < 2; i++)
        check_load_join(&jobs[i]);
    if (jobs[0].rc < 0 || jobs[1].rc < 0) {
        err_set(err, errlen, "load: %s", jobs[0].rc < 0 ? jobs[0].err : jobs[1].err);
        if (jobs[0].rc == 0) load_result_free(&jobs[0].r);
        if (jobs[1].rc == 0) load_result_free(&jobs[1].r);
        return NULL;
    }
    struct load_result *gr = &jobs[0].r, *orr = &jobs[1].r;
    int64_t stop_us = (int64_t)(stop_ns - begin) / 1000, start_us = (int64_t)(start_ns - begin) / 1000;
    /* rejoin: from the start of the group to the first success on its path of a request sent
     * after it, at that request's exact time */
    double rejoin_ms = measure_rejoin_ms(gr->records, gr->record_count, MEASURE_ANY_NODE, start_us);
    /* while the group was away (from its stop until it served again) its path must fail only
     * with the gateway's own 503 "no node" (it names the node "(no node)"); any other failure,
     * or a "no node" outside that span, counts against it */
    uint32_t no_node = UINT32_MAX;
    for (size_t k = 0; k < gr->total.node_count; k++)
        if (strcmp(gr->total.nodes[k].name, "(no node)") == 0) no_node = (uint32_t)k;
    int64_t away_until = isfinite(rejoin_ms) ? start_us + (int64_t)(rejoin_ms * 1000) : INT64_MAX;
    uint64_t group_503 = 0;
    for (size_t i = 0; i < gr->record_count; i++) {
        const struct load_record *rec = &gr->records[i];
        group_503 += rec->status == 503 && rec->node == no_node && rec->end_us >= stop_us &&
                     rec->sent_us < away_until;
    }
    uint64_t other_failed = counters_failures(&orr->total.counters);
    bool truncated = gr->records_truncated;
    double start_at_ms = (double)(start_ns - gr->start_ns) / 1e6;
    double stop_s = (double)(stop_ns - gr->start_ns) / 1e9, start_s = start_at_ms / 1000;
    json_t *timelines[2], *log = check_gateway_events(c->target);
    for (int i = 0; i < 2; i++) {
        json_t *marks = json_array();
        json_array_append_new(marks, check_mark(stop_s, "stop group", c->group));
        json_array_append_new(marks, check_mark(start_s, "start group", c->group));
        timelines[i] = check_timeline_json(&jobs[i].r, log, marks);
    }
    json_decref(log);
    struct load_summary gs, os;
    load_summary_from(gr, &gs);
    load_summary_from(orr, &os);
    uint64_t group_failed = gs.failures; /* every scheduled request that did not succeed */
    json_t *group_summary = load_summary_json(gr), *other_summary = load_summary_json(orr);
    load_result_free(gr);
    load_result_free(orr);
    bool ok = stop_rc == 0 && start_rc == 0;
    if (stop_rc != 0 || start_rc != 0)
        json_array_append_new(
            expects, check_expectation("the group was stopped and started again", 0, false));
    ok &= check_judge_bound(c, "other_failures", (double)other_failed, expects);
    ok &= check_judge_success(c, &os, expects); /* the others' load: nothing at all is no pass */
    if (gs.succeeded == 0) { /* the group's path must have answered before and after */
        json_array_append_new(expects, check_expectation("the group's path succeeded", 0, false));
        ok = false;
    }
    ok &= check_judge_bound(c, "rejoin", rejoin_ms, expects);
    if (truncated) {
        json_array_append_new(expects, check_expectation("every request recorded", 0, false));
        ok = false;
    }
    /* while the group was away its route must have said so: 503, not resets or timeouts */
    bool clear = group_failed == group_503;
    char text[160];
    snprintf(text, sizeof text,
             "the group's path failed only with the gateway's 503 no node (%llu of %llu failures)",
             (unsigned long long)group_503, (unsigned long long)group_failed);
    json_array_append_new(expects,
                          check_expectation(text, (double)(group_failed - group_503), clear));
    ok &= clear;
    *pass = ok;
    json_t *out = json_pack(
        "{s:s,s:s,s:s,s:f,s:f,s:I,s:I,s:I,s:o,s:o}", "group", c->group, "path", c->path,
        "other_path", c->other_path, "stopped_at_s", (double)(stop_ns - begin) / 1e9,
        "started_at_s", (double)(start_ns - begin) / 1e9, "group_503", (json_int_t)group_503,
        "group_failures", (json_int_t)group_failed, "other_failures", (json_int_t)other_failed,
        "group_summary", group_summary, "other_summary", other_summary);
    json_object_set_new(out, "rejoin_ms", isfinite(rejoin_ms) ? json_real(rejoin_ms) : json_null());
    json_object_set_new(out, "timeline", timelines[0]);
    json_object_set_new(out, "other_timeline", timelines[1]);
    if (serr[0] || rerr[0]) json_object_set_new(out, "error", json_string(serr[0] ? serr : rerr));
    return out;
}

const struct check_kind check_hotplug_kind = {"hotplug", parse, run};
