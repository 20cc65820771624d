/* check_failover.c -- a fault on one or more nodes while load runs (DESIGN section 6): the
 * failed requests it cost (in flight at the fault, or sent after it), detection (the event log
 * of herd's gateway, a balancer's own status page, or what the clients saw), failover time,
 * throughput and latency before and during the fault, and rejoin after the recovery, all from
 * each request's own times (plan/measure.h) on one origin taken before the load's thread
 * starts. */
#include "plan/check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "base/err.h"
#include "load/engine.h"
#include "load/run_json.h"
#include "load/threshold.h"
#include "http/url.h"
#include "plan/balancer_watch.h"
#include "plan/measure.h"

/* The first event of kind (one of kinds, comma-separated) for node at or after since_ms in
 * a gateway's log (check_gateway_events; may be NULL): its time, or -1. */
static int64_t gateway_event(const json_t *events, const char *node, const char *kinds,
                             int64_t since_ms, char *kind_out, size_t kind_size)
{
    int64_t found = -1;
    size_t i;
    json_t *e;
    char want[64];
    snprintf(want, sizeof want, ",%s,", kinds);
    json_array_foreach(events, i, e)
    {
        int64_t ts = json_integer_value(json_object_get(e, "ts_ms"));
        const char *kind = json_string_value(json_object_get(e, "event"));
        const char *who = json_string_value(json_object_get(e, "node"));
        char k[24];
        snprintf(k, sizeof k, ",%s,", kind ? kind : "");
        if (ts >= since_ms && who && strcmp(who, node) == 0 && strstr(want, k)) {
            found = ts;
            snprintf(kind_out, kind_size, "%s", kind);
            break;
        }
    }
    return found;
}

/* The supervisor's view of replica id: its restarts (-1 when not known) and, when it runs,
 * how long it has (in us). */
static int replica_restarts(const struct check_env *env, const char *id, int64_t *uptime_us)
{
    *uptime_us = -1;
    if (!env->p->has_cluster || !plan_replica(env->p, id, NULL)) return -1;
    json_t *st = check_cluster_status(env->cluster);
    size_t i;
    json_t *n;
    int restarts = -1;
    json_array_foreach(json_object_get(st, "nodes"), i, n)
    {
        if (strcmp(json_string_value(json_object_get(n, "id")), id) != 0) continue;
        restarts = (int)json_integer_value(json_object_get(n, "restarts"));
        double up = json_number_value(json_object_get(n, "uptime_s"));
        if (json_integer_value(json_object_get(n, "pid")) > 0 && up >= 0 && up < 1e9)
            *uptime_us = (int64_t)(up * 1e6); /* range-checked before the cast */
    }
    json_decref(st);
    return restarts;
}

static uint32_t node_index(const struct load_result *r, const char *name)
{
    for (size_t k = 0; k < r->total.node_count; k++)
        if (strcmp(r->total.nodes[k].name, name) == 0) return (uint32_t)k;
    return UINT32_MAX;
}

static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* When each faulted node came back: us from the origin, and by whom. */
struct recovery {
    int64_t at_us[PLAN_MAX_FAULT_NODES];
    const char *by[PLAN_MAX_FAULT_NODES]; /* "plan", "restart policy", or NULL: never */
    char error[512];
};

/* Undoes the fault on every node, unless the group's restart policy already restarted it (a
 * kill or stop): then its recovery is that restart, and the node is left alone. */
static void recover(const struct check_env *env, const struct plan_check *c, uint64_t origin,
                    const int *restarts_before, struct recovery *rec)
{
    bool signal_fault = strcmp(c->fault, "kill") == 0 || strcmp(c->fault, "stop") == 0;
    if (strcmp(c->fault, "exec") == 0) {
        int64_t at = (int64_t)(uv_hrtime() - origin) / 1000;
        if (check_fault_recover(env, c, rec->error, sizeof rec->error) == 0)
            for (size_t n = 0; n < c->node_count; n++)
                rec->at_us[n] = at, rec->by[n] = "plan";
        return;
    }
    for (size_t n = 0; n < c->node_count; n++) {
        int64_t uptime_us, now_us = (int64_t)(uv_hrtime() - origin) / 1000;
        int restarts = signal_fault ? replica_restarts(env, c->nodes[n], &uptime_us) : -1;
        if (restarts_before[n] >= 0 && restarts > restarts_before[n] && uptime_us >= 0) {
            rec->at_us[n] = now_us - uptime_us;
            rec->by[n] = "restart policy";
            check_event(env, "recovery %s restarted by its group's restart policy %.1fs ago",
                        c->nodes[n], (double)uptime_us / 1e6);
            continue;
        }
        char one[512];
        if (check_fault_recover_node(env, c, c->nodes[n], one, sizeof one) == 0) {
            rec->at_us[n] = now_us;
            rec->by[n] = "plan";
        } else if (!rec->error[0]) {
            snprintf(rec->error, sizeof rec->error, "%s", one);
        }
    }
}

static const char *const own[] = {"failed_requests", "detection", "failover", "rejoin", NULL};

const struct conf_key check_failover_keys[] = {
    CHECK_KEYS_FAULT,
    CHECK_KEY_BALANCER,
    CONF_KEY("group", CONF_K_STRING, "hit nodes of this group (with share or count) instead of node"),
    CONF_KEY("share", CONF_K_PERCENT, "the group's share hit, 50%"),
    CONF_KEY("count", CONF_K_INT, "how many of the group's nodes are hit"),
    CHECK_KEYS_TIMING,
    CONF_KEY("rate", CONF_K_NUMBER, "requests per second (open model)"),
    CONF_KEY("connections", CONF_K_INT, "connections (20)"),
    CHECK_KEY_PATH("/"),
    CONF_KEY("baseline", CONF_K_PERCENT, "the success rate failover waits for (99.9%)"),
    CHECK_KEY_COMMON(own),
    CONF_KEYS_END,
};

static int parse(struct plan *p, struct plan_check *c, const struct conf_doc *doc,
                 const struct conf_node *body, const struct conf_node *e, char *err, size_t errlen)
{
    long long connections;
    const char *fault = "kill";
    connections = 20;
    c->baseline = 0.999;
    c->duration_us = 10000000;
    if (conf_check_members(doc, body, check_failover_keys, err, errlen) < 0 ||
        conf_opt_string(doc, body, "fault", &fault, err, errlen) < 0 ||
        plan_parse_timing(c, doc, body, 500000, 0, err, errlen) < 0 ||
        conf_opt_double(doc, body, "rate", 0, 10000000, &c->rate, err, errlen) < 0 ||
        conf_opt_int(doc, body, "connections", 1, 100000, &connections, err, errlen) < 0 ||
        conf_opt_percent(doc, body, "baseline", 0.0001, 1, &c->baseline, err, errlen) < 0 ||
        plan_parse_balancer(c, doc, body, err, errlen) < 0 ||
        plan_parse_path(c, doc, body, "/", err, errlen) < 0 ||
        (e && plan_parse_expect(c, doc, e, own, err, errlen) < 0))
        return -1;
    if (strcmp(fault, "none") == 0) { /* the same load without a fault: a control run */
        const char *extra = conf_get(body, "node")            ? "node"
                            : conf_get(body, "group")         ? "group"
                            : conf_get(body, "restart_after") ? "restart_after"
                                                              : NULL;
        if (extra)
            return conf_error(doc, conf_get(body, extra), err, errlen,
                              "fault: none (the load without a fault) takes no %s", extra);
    } else if (plan_parse_fault(c, doc, body, fault, err, errlen) < 0 ||
               plan_parse_fault_nodes(p, c, doc, body, true, err, errlen) < 0) {
        return -1;
    }
    c->connections = (unsigned)connections;
    return 0;
}

static json_t *run(const struct check_env *env, const struct plan_check *c, json_t *expects,
                   bool *pass, char *err, size_t errlen)
{
    struct check_load_job job = {.env = env};
    job.load = (struct check_load){.connections = c->connections,
                                   .duration_us = c->duration_us,
                                   .rate = c->rate,
                                   .window_us = CHECK_WINDOW_US,
                                   .max_records = CHECK_MAX_RECORDS};
    snprintf(job.load.url, sizeof job.load.url, "%s%s", c->target, c->path);
    int restarts_before[PLAN_MAX_FAULT_NODES];
    for (size_t n = 0; n < c->node_count; n++) {
        int64_t ignored;
        restarts_before[n] = replica_restarts(env, c->nodes[n], &ignored);
    }
    /* a balancer herd does not run, watched from before the load to its end */
    struct balancer_watch *watch =
        c->has_balancer ? balancer_watch_start(&c->balancer, c->nodes, c->node_count) : NULL;
    if (c->has_balancer && !watch) {
        err_set(err, errlen, "balancer: cannot start watching %s", c->balancer.url);
        return NULL;
    }
    uint64_t origin = uv_hrtime(); /* before the load's thread: every time is from here */
    job.load.origin_ns = origin;
    check_load_start(&job);
    bool going = check_wait_until(env, origin + c->at_us * 1000);
    int64_t fault_us = (int64_t)(uv_hrtime() - origin) / 1000;
    int64_t fault_wall = check_wall_ms();
    char fault_err[512] = "";
    int fault_rc =
        going && c->fault[0] ? check_fault_inject(env, c, fault_err, sizeof fault_err) : 0;
    struct recovery rec;
    memset(&rec, 0, sizeof rec);
    if (going && fault_rc == 0 && c->fault[0] && c->restart_after_us) {
        check_wait_until(env, origin + (uint64_t)fault_us * 1000 + c->restart_after_us * 1000);
        recover(env, c, origin, restarts_before, &rec);
    } else if (fault_rc == 0 && c->fault[0] && load_stop_requested(env->stop)) {
        recover(env, c, origin, restarts_before, &rec); /* interrupted: leave nothing broken */
    }
    int load_rc = check_load_join(&job);
    balancer_watch_stop(watch);
    if (load_rc < 0) {
        balancer_watch_free(watch);
        err_set(err, errlen, "load: %s", job.err);
        return NULL;
    }
    if (fault_rc < 0) {
        balancer_watch_free(watch);
        load_result_free(&job.r);
        err_set(err, errlen, "the fault could not be injected: %s", fault_err);
        return NULL;
    }
    const struct load_result *r = &job.r;
    const struct load_record *rs = r->records;
    size_t rn = r->record_count;
    /* the fault lasted until the last node came back, else until the sends ended */
    int64_t until_us = r->sends_ended_us;
    bool recovered = c->restart_after_us && c->node_count > 0;
    for (size_t n = 0; n < c->node_count; n++)
        recovered &= rec.by[n] != NULL;
    if (recovered) {
        until_us = rec.at_us[0];
        for (size_t n = 1; n < c->node_count; n++)
            if (rec.at_us[n] > until_us) until_us = rec.at_us[n];
    }
    struct measure_failed failed = measure_failed_since(rs, rn, fault_us);
    double failover_ms =
        measure_failover_ms(rs, rn, fault_us, r->sends_ended_us, CHECK_WINDOW_US, c->baseline);
    double rps_before = measure_throughput(rs, rn, r->started_us, fault_us);
    double rps_during = measure_throughput(rs, rn, fault_us, until_us);
    json_t *impact =
        json_pack("{s:{s:o,s:o},s:{s:o,s:o}}", "baseline", "p95_ms",
                  num(measure_latency_ms(rs, rn, r->started_us, fault_us, 95)), "p99_ms",
                  num(measure_latency_ms(rs, rn, r->started_us, fault_us, 99)), "fault", "p95_ms",
                  num(measure_latency_ms(rs, rn, fault_us, until_us, 95)), "p99_ms",
                  num(measure_latency_ms(rs, rn, fault_us, until_us, 99)));
    /* per faulted node: detection and rejoin; the check's are the slowest node's, and not seen
     * when one node's was not. Detection from the event log of herd's gateway when the target
     * is one, else the balancer's status (`balancer:`), else what the clients saw (measure.h). */
    json_t *log = check_gateway_events(c->target), *per_node = json_array(), *marks = json_array();
    double detection_ms = 0, rejoin_ms = 0;
    bool undetected = c->node_count == 0, unrejoined = c->node_count == 0;
    char kind[24] = "";
    double t0 = (double)r->started_us / 1e6; /* the charts' axis starts with the load */
    struct url target_url;
    char uerr[128];
    uint32_t unknown = url_parse(&target_url, c->target, uerr, sizeof uerr) == 0
                           ? node_index(r, target_url.authority) /* answers naming no node */
                           : MEASURE_ANY_NODE;
    for (size_t n = 0; n < c->node_count; n++) {
        char its_kind[24] = "";
        int64_t detected =
            gateway_event(log, c->nodes[n], "ejected,down", fault_wall, its_kind, sizeof its_kind);
        double by_gateway = detected >= 0 ? (double)(detected - fault_wall) : NAN;
        int64_t seen_down = balancer_watch_seen(watch, n, true, fault_wall);
        double by_balancer = seen_down >= 0 ? (double)(seen_down - fault_wall) : NAN;
        double by_clients = measure_detection_clients_ms(rs, rn, node_index(r, c->nodes[n]),
                                                         unknown, fault_us, until_us);
        double its_detection = by_gateway;
        if (!log && watch) {
            its_detection = by_balancer;
            snprintf(its_kind, sizeof its_kind, "balancer");
        } else if (!log) {
            its_detection = by_clients;
            snprintf(its_kind, sizeof its_kind, "clients");
        }
        double its_rejoin =
            rec.by[n] ? measure_rejoin_ms(rs, rn, node_index(r, c->nodes[n]), rec.at_us[n]) : NAN;
        undetected |= !isfinite(its_detection);
        unrejoined |= !isfinite(its_rejoin);
        if ((isfinite(its_detection) && its_detection >= detection_ms) || !kind[0]) {
            if (isfinite(its_detection)) detection_ms = its_detection;
            snprintf(kind, sizeof kind, "%s", its_kind); /* the source, measured or not */
        }
        if (isfinite(its_rejoin) && its_rejoin > rejoin_ms) rejoin_ms = its_rejoin;
        json_t *one = json_pack("{s:s,s:o,s:s,s:o}", "node", c->nodes[n], "detection_ms",
                                num(its_detection), "detected_by", its_kind,
                                "detection_clients_ms", num(by_clients));
        if (watch) {
            json_object_set_new(one, "detection_balancer_ms", num(by_balancer));
            int64_t back = rec.by[n] ? balancer_watch_seen(watch, n, false,
                                                           fault_wall + (rec.at_us[n] - fault_us) / 1000)
                                     : -1;
            /* the balancer took the node back: from the recovery to its first poll showing it up */
            json_object_set_new(one, "balancer_readmitted_ms",
                                back >= 0 ? json_real((double)(back - fault_wall -
                                                               (rec.at_us[n] - fault_us) / 1000))
                                          : json_null());
        }
        if (c->restart_after_us) {
            json_object_set_new(one, "rejoin_ms", num(its_rejoin));
            json_object_set_new(one, "recovered_by",
                                rec.by[n] ? json_string(rec.by[n]) : json_null());
            if (rec.by[n]) {
                json_object_set_new(one, "recovered_at_s",
                                    json_real((double)(rec.at_us[n] - r->started_us) / 1e6));
                /* the wall clock, for observers in other processes (a /proc sampler) */
                json_object_set_new(one, "recovered_at_epoch_ms",
                                    json_integer(fault_wall + (rec.at_us[n] - fault_us) / 1000));
            }
        }
        json_array_append_new(per_node, one);
        json_array_append_new(marks,
                              check_mark((double)fault_us / 1e6 - t0, c->fault, c->nodes[n]));
        if (rec.by[n])
            json_array_append_new(marks, check_mark((double)rec.at_us[n] / 1e6 - t0,
                                                    strcmp(rec.by[n], "plan") == 0
                                                        ? check_recovery_action(c->fault)
                                                        : "restarted by policy",
                                                    c->nodes[n]));
    }
    if (undetected) detection_ms = NAN;
    if (unrejoined) rejoin_ms = NAN;
    json_t *balancer = NULL;
    if (watch) {
        uint64_t polls, failures;
        const char *last_error;
        balancer_watch_stats(watch, &polls, &failures, &last_error);
        balancer = json_pack("{s:s,s:I,s:I,s:s}", "url", c->balancer.url, "polls",
                             (json_int_t)polls, "failed_polls", (json_int_t)failures, "last_error",
                             last_error);
        balancer_watch_free(watch);
    }
    json_t *timeline = check_timeline_json(r, log, marks);
    json_decref(log);
    char names[PLAN_MAX_FAULT_NODES * 64] = "";
    for (size_t n = 0; n < c->node_count; n++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", n ? "," : "",
                 c->nodes[n]);
    struct load_summary s;
    load_summary_from(r, &s);
    json_t *summary = load_summary_json(r);
    bool truncated = r->records_truncated;
    double fault_at_s = (double)(fault_us - r->started_us) / 1e6;
    double recovered_at_s = (double)(until_us - r->started_us) / 1e6;
    load_result_free(&job.r);
    bool ok = check_judge_thresholds(c, &s, expects);
    ok &= check_judge_success(c, &s, expects);
    ok &= check_judge_bound(c, "failed_requests", truncated ? NAN : (double)failed.total, expects);
    ok &= check_judge_bound(c, "failover", failover_ms, expects);
    ok &= check_judge_bound(c, "detection", detection_ms, expects);
    ok &= check_judge_bound(c, "rejoin", rejoin_ms, expects);
    if (truncated) {
        json_array_append_new(expects, check_expectation("every request recorded", 0, false));
        ok = false;
    }
    if (c->restart_after_us && !recovered) {
        json_array_append_new(expects, check_expectation("the node was restarted", 0, false));
        ok = false;
    }
    *pass = ok;
    json_t *out = json_pack(
        "{s:s,s:s,s:f,s:I,s:I,s:I,s:o,s:o,s:o,s:f,s:o}", "fault", c->fault[0] ? c->fault : "none",
        "node", names, "fault_at_s", fault_at_s, "failed_requests", (json_int_t)failed.total,
        "failed_in_flight_at_fault", (json_int_t)failed.in_flight_at_fault,
        "failed_sent_after_fault", (json_int_t)failed.sent_after_fault, "failover_ms",
        num(failover_ms), "rps_before", num(rps_before), "rps_during_fault", num(rps_during),
        "baseline", c->baseline, "summary", summary);
    json_object_set_new(out, "fault_at_epoch_ms", json_integer(fault_wall));
    json_object_set_new(out, "nodes", per_node);
    json_object_set_new(out, "latency_impact", impact);
    json_object_set_new(out, "timeline", timeline);
    json_object_set_new(out, "detection_ms", num(detection_ms));
    json_object_set_new(out, "detected_by", json_string(kind));
    if (balancer) json_object_set_new(out, "balancer", balancer);
    if (c->restart_after_us) {
        json_object_set_new(out, "recovered_at_s",
                            recovered ? json_real(recovered_at_s) : json_null());
        json_object_set_new(out, "rejoin_ms", num(rejoin_ms));
        if (rec.error[0]) json_object_set_new(out, "recovery_error", json_string(rec.error));
    }
    return out;
}

const struct check_kind check_failover_kind = {"failover", parse, run};
