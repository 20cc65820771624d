/* run_json.h -- a finished run as the canonical run document (JSON); every report format is
 * rendered from it (docs/run-json.md). */
#ifndef HERD_LOAD_RUN_JSON_H
#define HERD_LOAD_RUN_JSON_H

#include <stddef.h>

#include "load/engine.h"
#include "load/threshold.h"

struct run_meta {
    const char *command; /* "bench" */
    int argc;
    char **argv;
    const struct threshold *thresholds;
    size_t threshold_count;
};

/* Builds the run document. Returns a new jansson json_t * (caller decrefs), or NULL when out
 * of memory. *passed tells whether every threshold held and the breaker did not trip. */
void *load_run_json(const struct load_plan *plan, const struct load_result *r,
                    const struct run_meta *meta, int *passed);

/* Latency percentiles in ms as the run document writes them ({samples, min, p50, p75, p90,
 * p95, p99, p99.9, max, mean}, and histogram when with_hist), {"samples": 0} alone when h is
 * empty. Returns a new json_t *, or NULL when out of memory. */
void *load_latency_json(const struct hist *h, int with_hist);

/* A check's summary of a finished run (a new json_t *): scheduled, requests (ended),
 * succeeded, failures (scheduled - succeeded), not_sent, dropped, error_rate, rps, ok_rps and
 * latency in ms (p50_ms, p95_ms, p99_ms, max_ms, mean_ms; null when there is no sample), and
 * failed_by: what the failed requests got, by HTTP status ("404") or error class ("connect",
 * "unanswered", "not_sent", "dropped"), only those that happened. */
void *load_summary_json(const struct load_result *r);

/* r's nodes in name order, numbers inside names compared as numbers (web1, web2, web10; api.2
 * before api.10), whatever order the threads met them in: pointers into r in sorted (room for
 * LOAD_MAX_NODES). Returns how many. */
size_t load_nodes_by_name(const struct load_result *r, const struct load_node **sorted);

#endif
