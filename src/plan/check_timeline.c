/* check_timeline.c -- a check's load over time, for the report's charts: outcomes per step
 * (the fine windows, else seconds), successes per node, latency per second, and the marks of
 * what happened (the check's own faults and the gateway's events) on the same axis. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "http/fetch.h"
#include "load/engine.h"
#include "plan/check.h"

int64_t check_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

json_t *check_gateway_get(const char *target, const char *path)
{
    int status;
    char *body = NULL, err[256];
    json_t *j = NULL;
    if (http_fetch(target, "GET", path, NULL, 2000, &status, &body, err, sizeof err) == 0 &&
        status == 200)
        j = json_loads(body, 0, NULL);
    free(body);
    return j;
}

json_t *check_gateway_events(const char *target)
{
    json_t *j = check_gateway_get(target, "/api/v1/cluster/events");
    json_t *events = json_incref(json_object_get(j, "events"));
    json_decref(j);
    return json_is_array(events) ? events : (json_decref(events), NULL);
}

json_t *check_mark(double t_s, const char *event, const char *node)
{
    return json_pack("{s:f,s:s,s:s,s:s}", "t_s", t_s, "event", event, "node", node, "source",
                     "herd");
}

static json_t *int_array(const uint32_t *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer(v ? v[i] : 0));
    return a;
}

json_t *check_timeline_json(const struct load_result *r, const json_t *log, json_t *marks)
{
    const struct load_windows *w = &r->windows;
    bool fine = w->window_us && w->count;
    size_t n = fine ? w->count : r->seconds;
    if (fine) { /* the windows cover the longest possible drain; keep those the load reached */
        size_t reached = (size_t)(r->elapsed_s * 1e6 / (double)w->window_us) + 1;
        if (reached < n) n = reached;
    }
    json_t *requests, *failures, *nodes = json_object();
    if (fine) {
        requests = int_array(w->requests, n);
        failures = int_array(w->failures, n);
        for (size_t k = 0; k < r->total.node_count; k++)
            json_object_set_new(nodes, r->total.nodes[k].name, int_array(w->node_ok[k], n));
    } else {
        requests = json_array();
        failures = json_array();
        for (size_t i = 0; i < n; i++) {
            const struct counters *c = &r->timeline[i].counters;
            json_array_append_new(requests, json_integer((json_int_t)c->requests));
            json_array_append_new(failures, json_integer((json_int_t)counters_failures(c)));
        }
        for (size_t k = 0; k < r->total.node_count; k++) {
            json_t *ok = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(ok,
                                      json_integer((json_int_t)(r->timeline[i].node_requests[k] -
                                                                r->timeline[i].node_failures[k])));
            json_object_set_new(nodes, r->total.nodes[k].name, ok);
        }
    }
    json_t *p50 = json_array(), *p99 = json_array();
    for (size_t i = 0; i < r->seconds; i++) {
        bool any = r->timeline[i].counters.requests > 0;
        json_array_append_new(p50,
                              any ? json_real((double)r->timeline[i].p50_us / 1000) : json_null());
        json_array_append_new(p99,
                              any ? json_real((double)r->timeline[i].p99_us / 1000) : json_null());
    }
    /* the gateway's events during the load, on the load's clock */
    json_t *events = marks ? marks : json_array();
    double start_wall = (double)check_wall_ms() - (double)(uv_hrtime() - r->start_ns) / 1e6;
    size_t i;
    json_t *e;
    json_array_foreach(log, i, e)
    {
        double t_s = ((double)json_integer_value(json_object_get(e, "ts_ms")) - start_wall) / 1000;
        if (t_s < 0 || t_s > r->elapsed_s) continue;
        json_array_append_new(events, json_pack("{s:f,s:O,s:O,s:s}", "t_s", t_s, "event",
                                                json_object_get(e, "event"), "node",
                                                json_object_get(e, "node"), "source", "gateway"));
    }
    return json_pack("{s:f,s:f,s:o,s:o,s:o,s:{s:o,s:o},s:o}", "step_ms",
                     fine ? (double)w->window_us / 1000 : 1000.0, "elapsed_s", r->elapsed_s,
                     "requests", requests, "failures", failures, "nodes", nodes, "seconds",
                     "p50_ms", p50, "p99_ms", p99, "events", events);
}
