/* measure.h -- the measurement math of the plan's checks (DESIGN section 6), as pure functions
 * over what was recorded: each request's own times (load_record: intended send, send, end, in
 * us from one origin) and event times on the same axis. Nothing here reads a clock, a
 * window of the per-second timeline, or a global: every answer follows from the arguments, so
 * each is unit-tested on synthetic timelines with known answers. A number that cannot be
 * measured is NAN ("not measured" / "not seen"), and an expectation on it fails. */
#ifndef HERD_PLAN_MEASURE_H
#define HERD_PLAN_MEASURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "load/engine.h"

/* True when the record is a success (an answer judged OK). */
bool measure_ok(const struct load_record *r);

/* Failures that ended at or after fault_us (a fault at F: the failed requests it cost),
 * split by each request's send time: sent before F (in flight at the fault) or at/after it.
 * Scheduled requests never sent count as sent at their intended time. */
struct measure_failed {
    uint64_t total, in_flight_at_fault, sent_after_fault;
};
struct measure_failed measure_failed_since(const struct load_record *r, size_t n, int64_t fault_us);

/* Requests that ended in [from_us, to_us) per second of that span; NAN when it is empty. */
double measure_throughput(const struct load_record *r, size_t n, int64_t from_us, int64_t to_us);

/* The p-th percentile (0..100), in ms, of the latency (end - intended send) of the requests
 * sent in [from_us, to_us), answered or not (an unanswered request counts to the end of the
 * run); NAN when none was sent then. */
double measure_latency_ms(const struct load_record *r, size_t n, int64_t from_us, int64_t to_us,
                          double p);

/* Any node, for measure_rejoin_ms: a group's path served again by whichever node. */
#define MEASURE_ANY_NODE UINT32_MAX

/* Rejoin: from recovered_us to the end of the first success served by node (an index into the
 * run's nodes, or MEASURE_ANY_NODE) of a request sent at or after recovered_us, in ms; NAN
 * when there was none (a request the node held while it was away does not count). */
double measure_rejoin_ms(const struct load_record *r, size_t n, uint32_t node,
                         int64_t recovered_us);

/* Detection seen by the clients, for a balancer herd does not run (no event log to read): the
 * failures the fault caused are those that ended at or after fault_us, sent before until_us
 * (the recovery, or the end of the sends), on node or on unknown (the balancer's own answers
 * and resets name no node; MEASURE_ANY_NODE: none such); from the first request sent after the
 * last of them until until_us the balancer routed around the node. Returns that request's send
 * time - fault_us, in ms; NAN when the fault caused no failure (nothing to see: read the
 * balancer's status instead) or the failures lasted until until_us (never routed around). */
double measure_detection_clients_ms(const struct load_record *r, size_t n, uint32_t node,
                                    uint32_t unknown, int64_t fault_us, int64_t until_us);

/* Failover time: the span from fault_us to the start of the first window (window_us long,
 * aligned at the fault) after which every window until the load ended (sends_ended_us) has
 * answers and a success rate at or above baseline (a fraction). In ms; 0 when no window fell
 * below; NAN when the last window is still below (never recovered) or no request ever
 * succeeded. A window without answers is an outage, not a success. */
double measure_failover_ms(const struct load_record *r, size_t n, int64_t fault_us,
                           int64_t sends_ended_us, int64_t window_us, double baseline);

/* Distribution over k nodes: counts[i] answers of node i against expected shares weights[i]
 * (any positive scale). Fills the chi-square statistic, its p-value, the largest relative
 * deviation from the expected count and the largest absolute one (in requests). Returns the
 * total counted; 0 (and NAN measures) when nothing was counted. */
struct measure_shares {
    double chi2, p_value, max_deviation, max_off;
};
uint64_t measure_shares(const uint64_t *counts, const double *weights, size_t k,
                        struct measure_shares *out);

/* Chi-square goodness of fit: the probability of a statistic >= chi2 with dof degrees of
 * freedom (the upper regularized incomplete gamma Q(dof/2, chi2/2)). */
double measure_chi2_p_value(double chi2, int dof);

#endif
