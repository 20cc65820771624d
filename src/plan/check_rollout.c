/* check_rollout.c -- a rolling update under load (seed 003's "zero-downtime rolling update",
 * measured): a group's replicas restarted one at a time by the supervisor, each ready before
 * the next (drained out of the gateway's rotation first when the group has `drain`), while
 * load runs through the gateway. Reports the failed requests (by class), the rollout's length,
 * each replica's leaving and return (the gateway's events, the supervisor's new processes),
 * the fewest replicas in rotation at any moment, and p99 during the rollout against before. */
#include "plan/check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "base/err.h"
#include "load/engine.h"
#include "load/run_json.h"
#include "load/threshold.h"
#include "plan/measure.h"

static const char *const own[] = {"failed_requests", "min_serving", "rollout", NULL};
static const char *const rollout_methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", NULL};

const struct conf_key check_rollout_keys[] = {
    CONF_KEY("group", CONF_K_STRING, "the group rolled, one replica at a time", .required = true),
    CHECK_KEY_PATH("/"),
    CONF_KEY("method", CONF_K_STRING, "the requests' method (GET); a gateway retries only idempotent ones",
     .choices = rollout_methods),
    CONF_KEY("duration", CONF_K_DURATION, "how long the load runs; the rollout must end within it (20s)"),
    CONF_KEY("at", CONF_K_DURATION, "when the rollout starts, from the load's start (a third)"),
    CONF_KEY("rate", CONF_K_NUMBER, "requests per second (open model, 500)"),
    CONF_KEY("connections", CONF_K_INT, "connections (20)"),
    CHECK_KEY_COMMON(own),
    CONF_KEYS_END,
};

static int parse(struct plan *p, struct plan_check *c, const struct conf_doc *doc,
                 const struct conf_node *body, const struct conf_node *e, char *err, size_t errlen)
{
    const char *group = NULL, *method = "GET";
    long long connections = 20;
    c->duration_us = 20000000;
    c->rate = 500;
    if (conf_check_members(doc, body, check_rollout_keys, err, errlen) < 0 ||
        conf_opt_string(doc, body, "group", &group, err, errlen) < 0 ||
        conf_opt_string(doc, body, "method", &method, err, errlen) < 0 ||
        plan_parse_timing(c, doc, body, 1000000, 0, err, errlen) < 0 ||
        conf_opt_double(doc, body, "rate", 1, 1000000, &c->rate, err, errlen) < 0 ||
        conf_opt_int(doc, body, "connections", 1, 100000, &connections, err, errlen) < 0 ||
        plan_parse_path(c, doc, body, "/", err, errlen) < 0 ||
        (e && plan_parse_expect(c, doc, e, own, err, errlen) < 0))
        return -1;
    if (!p->has_cluster || !p->cluster.gateway.present)
        return conf_error(doc, body, err, errlen,
                          "a rollout check needs the plan's cluster with a gateway (herd rolls "
                          "the replicas it runs)");
    const struct cluster_group *g = cluster_spec_group(&p->cluster, group);
    if (!g || strcmp(group, CLUSTER_GATEWAY_GROUP) == 0)
        return conf_error(doc, conf_get(body, "group"), err, errlen,
                          "'%s': expected one of the plan's cluster groups", group);
    if (g->replicas < 1)
        return conf_error(doc, conf_get(body, "group"), err, errlen,
                          "group %s has no replica to roll", group);
    const char *const *m = rollout_methods;
    while (*m && strcmp(*m, method) != 0)
        m++;
    if (!*m)
        return conf_error(doc, conf_get(body, "method"), err, errlen,
                          "'%s': expected GET, HEAD, POST, PUT, DELETE or PATCH", method);
    snprintf(c->group, sizeof c->group, "%s", group);
    snprintf(c->method, sizeof c->method, "%s", method);
    c->connections = (unsigned)connections;
    plan_default_bound(c, "failed_requests", "<=0"); /* the zero-downtime claim, unless told */
    return 0;
}

static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* Whether kind takes a node out of rotation / puts it back (the gateway's events). */
static bool leaves(const char *kind)
{
    return !strcmp(kind, "drain") || !strcmp(kind, "down") || !strcmp(kind, "ejected") ||
           !strcmp(kind, "maint") || !strcmp(kind, "deregistered");
}

/* One replica's rollout as the gateway saw it (wall ms; -1: not seen). */
struct replica_seen {
    char id[CLUSTER_NAME_MAX + 16];
    int64_t left_ms, back_ms;
    bool up, active; /* its state while the events are replayed */
};

/* Replays the gateway's events for the group's replicas from since_ms on (they were all up
 * and active then): when each left and came back, and the fewest in rotation at once. */
static int replay_events(const json_t *log, struct replica_seen *r, int count, int64_t since_ms)
{
    int serving = count, fewest = count;
    size_t i;
    json_t *e;
    json_array_foreach(log, i, e)
    {
        int64_t ts = json_integer_value(json_object_get(e, "ts_ms"));
        const char *kind = json_string_value(json_object_get(e, "event"));
        const char *node = json_string_value(json_object_get(e, "node"));
        if (ts < since_ms || !kind || !node) continue;
        for (int k = 0; k < count; k++) {
            if (strcmp(r[k].id, node) != 0) continue;
            bool was = r[k].up && r[k].active;
            if (!strcmp(kind, "drain") || !strcmp(kind, "maint")) r[k].active = false;
            else if (!strcmp(kind, "active")) r[k].active = true;
            else if (leaves(kind)) r[k].up = false;
            else if (!strcmp(kind, "up") || !strcmp(kind, "readmitted")) r[k].up = true;
            bool is = r[k].up && r[k].active;
            if (was && !is && r[k].left_ms < 0) r[k].left_ms = ts;
            if (!was && is && r[k].left_ms >= 0) r[k].back_ms = ts;
            serving += (int)is - (int)was;
            if (serving < fewest) fewest = serving;
        }
    }
    return fewest;
}

/* The fewest distinct nodes that answered with success in any whole 100 ms window of
 * [from_us, to_us): the rotation as the clients saw it. -1 when no window fits. One pass over
 * the records, a bit per node (LOAD_MAX_NODES is 64) in each window. */
_Static_assert(LOAD_MAX_NODES <= 64, "a window's nodes are the bits of a uint64_t");

static int fewest_answering(const struct load_result *r, int64_t from_us, int64_t to_us)
{
    if (to_us - from_us < CHECK_WINDOW_US) return -1;
    size_t windows = (size_t)((to_us - from_us) / CHECK_WINDOW_US);
    uint64_t *seen = calloc(windows, sizeof *seen);
    if (!seen) return -1;
    for (size_t i = 0; i < r->record_count; i++) {
        const struct load_record *rec = &r->records[i];
        if (!measure_ok(rec) || rec->end_us < from_us || rec->node >= LOAD_MAX_NODES) continue;
        size_t w = (size_t)((rec->end_us - from_us) / CHECK_WINDOW_US);
        if (w < windows) seen[w] |= UINT64_C(1) << rec->node;
    }
    int fewest = -1;
    for (size_t w = 0; w < windows; w++) {
        int n = __builtin_popcountll(seen[w]);
        if (fewest < 0 || n < fewest) fewest = n;
    }
    free(seen);
    return fewest;
}

/* When the rollout began, in s from the load's start (the axis of the per-replica times). */
static double begin_s_of(int64_t begin_us, const struct load_result *r)
{
    return (double)(begin_us - r->started_us) / 1e6;
}

static json_t *run(const struct check_env *env, const struct plan_check *c, json_t *expects,
                   bool *pass, char *err, size_t errlen)
{
    const struct cluster_group *g = cluster_spec_group(&env->p->cluster, c->group);
    int replicas = g->replicas;
    struct check_load_job job = {.env = env};
    job.load = (struct check_load){.connections = c->connections,
                                   .duration_us = c->duration_us,
                                   .rate = c->rate,
                                   .window_us = CHECK_WINDOW_US,
                                   .max_records = CHECK_MAX_RECORDS,
                                   .method = c->method};
    snprintf(job.load.url, sizeof job.load.url, "%s%s", c->target, c->path);
    uint64_t origin = uv_hrtime(); /* every time is from here */
    job.load.origin_ns = origin;
    check_load_start(&job);
    bool going = check_wait_until(env, origin + c->at_us * 1000);
    int64_t begin_us = (int64_t)(uv_hrtime() - origin) / 1000, begin_wall = check_wall_ms();
    char rerr[512] = "";
    int rc = 0;
    if (going) {
        check_event(env, "rollout %s (%d replica%s)", c->group, replicas, replicas == 1 ? "" : "s");
        rc = check_cluster_act(env->cluster, c->group, "rollout", 0, rerr, sizeof rerr);
    }
    int64_t end_us = (int64_t)(uv_hrtime() - origin) / 1000;
    if (going)
        check_event(env, "rollout %s %s%s", c->group, rc < 0 ? "failed: " : "done",
                    rc < 0 ? rerr : "");
    json_t *status = check_cluster_status(env->cluster); /* the new processes' uptimes */
    int64_t status_wall = check_wall_ms();
    if (check_load_join(&job) < 0) {
        json_decref(status);
        err_set(err, errlen, "load: %s", job.err);
        return NULL;
    }
    const struct load_result *r = &job.r;
    const struct load_record *rs = r->records;
    size_t rn = r->record_count;
    bool within = going && rc == 0 && end_us <= r->sends_ended_us;
    /* the failures from the rollout's start to the end of the load, by class */
    struct measure_failed failed = measure_failed_since(rs, rn, begin_us);
    uint64_t by_class[COUNTER_CLASSES + 2] = {0};
    for (size_t i = 0; i < rn; i++)
        if (!measure_ok(&rs[i]) && rs[i].end_us >= begin_us && rs[i].cls < COUNTER_CLASSES + 2)
            by_class[rs[i].cls]++;
    json_t *classes = json_object();
    for (int k = COUNTER_OK + 1; k < COUNTER_CLASSES + 2; k++)
        if (by_class[k])
            json_object_set_new(classes,
                                k == LOAD_RECORD_NOT_SENT  ? "not_sent"
                                : k == LOAD_RECORD_DROPPED ? "dropped"
                                                           : counter_class_name((enum counter_class)k),
                                json_integer((json_int_t)by_class[k]));
    /* each replica: the gateway's events, and the supervisor's new process */
    json_t *log = check_gateway_events(c->target);
    struct replica_seen seen[PLAN_MAX_NODES];
    int count = replicas < PLAN_MAX_NODES ? replicas : PLAN_MAX_NODES;
    for (int k = 0; k < count; k++) {
        seen[k] = (struct replica_seen){.left_ms = -1, .back_ms = -1, .up = true, .active = true};
        snprintf(seen[k].id, sizeof seen[k].id, "%s.%d", c->group, k + 1);
    }
    int min_serving = log ? replay_events(log, seen, count, begin_wall) : -1;
    json_t *per_replica = json_array(), *marks = json_array();
    bool every_restarted = true;
    for (int k = 0; k < count; k++) {
        double started_at_s = NAN;
        size_t i;
        json_t *n;
        json_array_foreach(json_object_get(status, "nodes"), i, n)
        {
            double up = json_number_value(json_object_get(n, "uptime_s"));
            if (!strcmp(json_string_value(json_object_get(n, "id")), seen[k].id) && up >= 0 &&
                up < 1e6 && json_integer_value(json_object_get(n, "pid")) > 0)
                started_at_s = ((double)(status_wall - begin_wall) / 1000 - up) +
                               (double)(begin_us - r->started_us) / 1e6;
        }
        double left_s = seen[k].left_ms >= 0 ? (double)(seen[k].left_ms - begin_wall) / 1000 +
                                                   (double)(begin_us - r->started_us) / 1e6
                                             : NAN;
        double back_s = seen[k].back_ms >= 0 ? (double)(seen[k].back_ms - begin_wall) / 1000 +
                                                   (double)(begin_us - r->started_us) / 1e6
                                             : NAN;
        /* (50 ms: the uptime and the wall clock are read apart) */
        every_restarted &= isfinite(started_at_s) && started_at_s >= begin_s_of(begin_us, r) - 0.05;
        json_array_append_new(per_replica,
                              json_pack("{s:s,s:o,s:o,s:o,s:o}", "node", seen[k].id, "left_at_s",
                                        num(left_s), "back_at_s", num(back_s), "away_ms",
                                        num((back_s - left_s) * 1000), "started_at_s",
                                        num(started_at_s)));
        if (isfinite(left_s)) json_array_append_new(marks, check_mark(left_s, "left", seen[k].id));
        if (isfinite(back_s)) json_array_append_new(marks, check_mark(back_s, "back", seen[k].id));
    }
    json_decref(status);
    json_t *timeline = check_timeline_json(r, log, marks);
    json_decref(log);
    double p99_before = measure_latency_ms(rs, rn, r->started_us, begin_us, 99);
    double p99_during = measure_latency_ms(rs, rn, begin_us, end_us, 99);
    /* the clients' view: whole windows while the load still sent */
    int answering = fewest_answering(r, begin_us,
                                     end_us < r->sends_ended_us ? end_us : r->sends_ended_us);
    struct load_summary s;
    load_summary_from(r, &s);
    json_t *summary = load_summary_json(r);
    bool truncated = r->records_truncated;
    double rollout_ms = (double)(end_us - begin_us) / 1000;
    double begin_s = begin_s_of(begin_us, r);
    load_result_free(&job.r);
    bool ok = check_judge_thresholds(c, &s, expects);
    ok &= check_judge_success(c, &s, expects);
    ok &= check_judge_bound(c, "failed_requests", truncated ? NAN : (double)failed.total, expects);
    ok &= check_judge_bound(c, "rollout", going && rc == 0 ? rollout_ms : NAN, expects);
    ok &= check_judge_bound(c, "min_serving", min_serving >= 0 ? min_serving : NAN, expects);
    if (!within) {
        json_array_append_new(
            expects, check_expectation_why("the rollout ended within the load", NAN, false,
                                           rc < 0 ? "failed" : "the load ended first"));
        ok = false;
    }
    if (!every_restarted) { /* the supervisor's new processes: the rollout really happened */
        json_array_append_new(expects, check_expectation_why("every replica was restarted", NAN,
                                                             false, "not seen"));
        ok = false;
    }
    if (truncated) {
        json_array_append_new(expects, check_expectation("every request recorded", 0, false));
        ok = false;
    }
    *pass = ok;
    json_t *out = json_pack("{s:s,s:i,s:f,s:o,s:I,s:I,s:I,s:o}", "group", c->group, "replicas",
                            replicas, "rollout_at_s", begin_s, "rollout_ms",
                            going && rc == 0 ? json_real(rollout_ms) : json_null(), "failed_requests",
                            (json_int_t)failed.total, "failed_in_flight_at_start",
                            (json_int_t)failed.in_flight_at_fault, "failed_sent_after_start",
                            (json_int_t)failed.sent_after_fault, "failed_by_class", classes);
    json_object_set_new(out, "min_serving", min_serving >= 0 ? json_integer(min_serving) : json_null());
    json_object_set_new(out, "min_answering", answering >= 0 ? json_integer(answering) : json_null());
    json_object_set_new(out, "drain_ms", json_real((double)g->drain_us / 1000));
    json_object_set_new(out, "latency_impact",
                        json_pack("{s:{s:o},s:{s:o}}", "before", "p99_ms", num(p99_before),
                                  "rollout", "p99_ms", num(p99_during)));
    json_object_set_new(out, "nodes", per_replica);
    json_object_set_new(out, "summary", summary);
    json_object_set_new(out, "timeline", timeline);
    if (rc < 0) json_object_set_new(out, "rollout_error", json_string(rerr));
    return out;
}

const struct check_kind check_rollout_kind = {"rollout", parse, run};
