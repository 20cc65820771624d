/* stats.h -- what a load run measures: totals, per node, per second.
 *
 * Each worker thread records into its own load_stats and load_interval (no locks); once a
 * second it hands the interval to the engine, and at the end its totals. Nodes are matched
 * by name when merging, since each thread numbers the nodes it meets in its own order. */
#ifndef HERD_LOAD_STATS_H
#define HERD_LOAD_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats/counters.h"
#include "stats/hist.h"

#define LOAD_MAX_NODES   64
#define LOAD_NODE_NAME   128
#define LOAD_OTHER_NODES "(other)" /* where the 65th and later node names are counted */
#define LOAD_STATUS_MAX  600

struct load_node {
    char name[LOAD_NODE_NAME];
    struct counters counters;
    struct hist *latency; /* answered requests only */
};

/* Every request is accounted for: scheduled = counters.requests (ended: succeeded, or failed
 * by class, unanswered at the end included) + not_sent + dropped. */
struct load_stats {
    struct counters counters;
    uint64_t scheduled; /* requests the run was to make: the quota, or every schedule slot taken */
    uint64_t not_sent;  /* scheduled but never sent: left in the backlog, or the quota's rest */
    uint64_t dropped;   /* open model: scheduled sends dropped because the backlog was full */
    /* closed model: send -> answer; open model: intended send -> answer. A request without an
     * answer at the end counts (intended send -> end), so a stalled target does not look fast;
     * so does a send never made (backlog, dropped: intended -> the end, at least). */
    struct hist *latency;
    struct hist *uncorrected; /* open model: actual send -> answer */
    uint64_t status[LOAD_STATUS_MAX];
    struct load_node nodes[LOAD_MAX_NODES];
    size_t node_count;
    uint64_t tls_full, tls_resumed; /* TLS handshakes made: in full, and resuming a session */
    struct hist *tls_handshake;     /* their durations, us (TCP connected -> handshake done) */
};

/* One second of one thread, by the thread's node numbering. */
struct load_interval {
    struct counters counters;
    struct hist *latency;
    uint64_t node_requests[LOAD_MAX_NODES];
    uint64_t node_failures[LOAD_MAX_NODES];
};

/* One outcome to record. */
struct load_sample {
    enum counter_class cls;
    int status;              /* 0 when no answer came */
    bool answered;           /* an HTTP answer arrived */
    bool timed;              /* latency_us and uncorrected_us are valid (answered, or unanswered) */
    uint64_t latency_us;     /* recorded in latency */
    uint64_t uncorrected_us; /* recorded in uncorrected */
    uint64_t bytes_in, bytes_out;
    bool tls_handshake, tls_resumed; /* the request's connection made a TLS handshake first */
    uint32_t tls_handshake_us;
};

/* Allocate the histograms. Return 0, or -1 when out of memory (then free is still safe). */
int load_stats_init(struct load_stats *s);
void load_stats_free(struct load_stats *s);
int load_interval_init(struct load_interval *iv);
void load_interval_reset(struct load_interval *iv);
void load_interval_free(struct load_interval *iv);

/* Index of the node called name, added when new; beyond LOAD_MAX_NODES - 1 names, the index
 * of LOAD_OTHER_NODES. Returns -1 only when out of memory. */
int load_stats_node(struct load_stats *s, const char *name);

/* Records one ended request of node (an index from load_stats_node) into s and iv (iv may be
 * NULL). */
void load_stats_record(struct load_stats *s, struct load_interval *iv, int node,
                       const struct load_sample *sample);

/* Records a scheduled request that was never sent (not_sent, or dropped when dropped) into s:
 * its latency (intended send -> the end, in us) goes into the corrected latency only. */
void load_stats_record_unsent(struct load_stats *s, bool dropped, uint64_t latency_us);

/* Adds src into dst, matching nodes by name. Returns 0 or -1 when out of memory. */
int load_stats_merge(struct load_stats *dst, const struct load_stats *src);

#endif
