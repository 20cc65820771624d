/* interval.h -- the interval document a worker posts once a second: one second of its share
 * of a task (counters, the encoded latency histogram, per node, CPU), JSON encode and a
 * decode that checks every field (docs/distributed.md, "The interval"). */
#ifndef HERD_DIST_INTERVAL_H
#define HERD_DIST_INTERVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "load/engine.h"
#include "load/stats.h"
#include "stats/counters.h"
#include "stats/hist.h"

#define DIST_ID_MAX        64              /* ids are 1..63 printable ASCII bytes, no space */
#define DIST_COUNT_MAX     (1ULL << 53)    /* counts, seq and times are whole numbers up to this */
#define DIST_HIST_TEXT_MAX (512u * 1024)   /* every valid hist_encode text is shorter */
#define DIST_POST_MAX      1024            /* intervals in one {"intervals": [...]} post */
#define DIST_ERROR_MAX     200             /* a final interval's error: at most 199 bytes */
#define DIST_STATUS_CODES_MAX 64           /* distinct HTTP statuses in one interval */

struct dist_node_count {
    char name[LOAD_NODE_NAME]; /* 1..127 bytes */
    uint64_t requests, failures; /* failures <= requests */
};

/* One HTTP status and how many answers had it. */
struct dist_status_count {
    uint16_t code;  /* 100..599 */
    uint64_t count; /* >= 1 */
};

struct dist_interval {
    char task_id[DIST_ID_MAX], worker_id[DIST_ID_MAX], session[DIST_ID_MAX];
    uint64_t seq;        /* the worker's intervals of the task, from 0 */
    uint64_t second_us;  /* absolute start of the second (Unix us, the master's clock) */
    bool final;          /* the last interval of the worker's share: carries the end state */
    struct counters counters; /* requests == the sum of by_class */
    uint64_t not_sent, dropped;
    struct hist *hist;   /* the second's latencies, owned (dist_interval_init) */
    struct dist_node_count nodes[LOAD_MAX_NODES];
    size_t node_count;
    double cpu;          /* the worker process's CPU use over the second, 0..1 of all its cores */
    /* final only (0 / false otherwise) */
    double elapsed_s;    /* the worker's run, first send to last answer */
    bool breaker_tripped, interrupted;
    /* final only, optional: the whole part's answers by HTTP status (ascending codes) */
    struct dist_status_count statuses[DIST_STATUS_CODES_MAX];
    size_t status_count;
    bool has_connections; /* the three below were sent (an older worker sends none) */
    uint64_t clients, connects, connections_peak; /* as in load_result */
    /* final only: why the part could not run ("" when it ran): printable ASCII, no '\n' */
    char error[DIST_ERROR_MAX];
};

/* Makes iv empty with its histogram allocated. Returns 0, or -1 when out of memory. Free with
 * dist_interval_free (safe after a failed init). */
int dist_interval_init(struct dist_interval *iv);
void dist_interval_free(struct dist_interval *iv);

/* Empties iv (keeps its histogram, emptied). */
void dist_interval_reset(struct dist_interval *iv);

/* The interval as a JSON object (a new reference), or NULL when out of memory. */
json_t *dist_interval_to_json(const struct dist_interval *iv);

/* The interval as the compact JSON text a worker posts (keys sorted, so a resend is the same
 * bytes): malloc'd, the caller frees; NULL when out of memory. */
char *dist_interval_text(const struct dist_interval *iv);

/* Reads j into iv (initialised; overwritten). Every field is required except nodes (default
 * none), not_sent and dropped (0) and, only in a final interval, breaker_tripped,
 * interrupted, statuses, connections and error; a final interval requires elapsed_s. A
 * status is a code 100..599 with a count of at least 1, at most DIST_STATUS_CODES_MAX of
 * them; an error is 1..DIST_ERROR_MAX-1 printable ASCII bytes. Refuses unknown keys, values of the wrong
 * type or out of range, ids not 1..63 printable bytes, more than LOAD_MAX_NODES nodes, a
 * histogram text longer than DIST_HIST_TEXT_MAX or not a valid encoding, counters that do not
 * add up (requests != the sum of the classes), nodes counting more requests than the counters
 * or more failures than requests, and a histogram holding more latencies than
 * requests + not_sent + dropped. Returns 0, or -1 with "PATH.FIELD: what was expected" in err,
 * PATH being path (e.g. "intervals[2]"; "" or NULL for none). */
int dist_interval_from_json(struct dist_interval *iv, const json_t *j, const char *path,
                            char *err, size_t errlen);

/* Parses a POST body: one interval object, or {"intervals": [...]} (1..DIST_POST_MAX). Each
 * interval is checked as dist_interval_from_json; scratch must be initialised and is left
 * holding the last one. Returns the array of interval objects (a new reference; a single
 * interval comes back as an array of one), or NULL with "body: ..." / "intervals[2].seq: ..."
 * in err. */
json_t *dist_intervals_parse_body(const char *body, size_t len, struct dist_interval *scratch,
                                  char *err, size_t errlen);

/* Fills iv (initialised; its ids, seq and cpu are left to the caller) from one second of the
 * load engine: counters, the second's histogram and the per-node counts; node_names are the
 * run's names indexed like second->node_requests (load_progress.node_names or
 * load_result.total.nodes). second_us is the absolute start of that second. Returns 0, or -1
 * with a message (a histogram that does not decode, out of memory). */
int dist_interval_from_second(struct dist_interval *iv, const struct load_second *second,
                              const char (*node_names)[LOAD_NODE_NAME], size_t node_count,
                              uint64_t second_us, char *err, size_t errlen);

/* Sets iv's error from text: control bytes and non-ASCII become '?', cut to
 * DIST_ERROR_MAX - 1 bytes (the end marked "..."), "" stays "". */
void dist_interval_set_error(struct dist_interval *iv, const char *text);

/* Node names of a finished run, for dist_interval_from_second over its timeline. */
void dist_result_node_names(const struct load_result *r, char (*names)[LOAD_NODE_NAME]);

/* Fills iv as the final interval of a finished run r: final set, not_sent, dropped,
 * elapsed_s, breaker_tripped, interrupted, the run's statuses (the DIST_STATUS_CODES_MAX
 * most frequent; the rest's answers are left out) and connection counts from r, and what r's totals counted beyond its
 * timeline (the latencies of requests never sent, any answer no second took): counters,
 * latencies and per-node counts, so that the sum of the run's intervals equals its totals.
 * second_us is the start of the last second (or of the run when it had none). Returns 0 or
 * -1 with a message. */
int dist_interval_final(struct dist_interval *iv, const struct load_result *r, uint64_t second_us,
                        char *err, size_t errlen);

#endif
