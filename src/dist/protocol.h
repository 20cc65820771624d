/* protocol.h -- the worker protocol's bodies other than intervals and tasks: register,
 * heartbeat and details, each parsed and checked in one place that the master calls and the
 * fuzz targets drive (docs/api-reference.md, "Worker protocol"); and the details a worker
 * builds from a finished run. */
#ifndef HERD_DIST_PROTOCOL_H
#define HERD_DIST_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "dist/interval.h"
#include "load/engine.h"

#define DIST_RUNNING_MAX      64    /* assignment ids a registration lists */
#define DIST_DETAILS_POST_MAX 10000 /* details in one post */
#define DIST_DETAIL_CLASS_MAX 32
#define DIST_DETAIL_NODE_MAX  127
#define DIST_DETAIL_ERROR_MAX 200
#define DIST_SESSION_MAX      63

/* POST /api/v1/workers/register. */
struct dist_register {
    char id[DIST_ID_MAX];      /* 1..DIST_WORKER_ID_MAX printable bytes, no space or '#' */
    char region[DIST_ID_MAX];  /* "" or 1..63 such bytes */
    char version[DIST_ID_MAX]; /* up to 63 bytes */
    int cores;                 /* 1..65536 (1 when absent) */
    int64_t pid;               /* >= 0 (0 when absent) */
    int64_t running[DIST_RUNNING_MAX];
    size_t running_count;
};

/* Parses a register body (len bytes): a JSON object with id (required), region, cores,
 * version, pid, running, and no other key. Returns 0, or -1 with "FIELD: what was expected"
 * (or "body: ...") in err. */
int dist_register_parse(struct dist_register *r, const char *body, size_t len, char *err,
                        size_t errlen);

/* POST /api/v1/workers/{id}/heartbeat. */
struct dist_heartbeat {
    char session[DIST_SESSION_MAX + 1];
    bool has_cpu;
    double cpu; /* 0..1 */
};

/* Parses a heartbeat body: {session (required, 1..63 bytes), cpu (0..1), task_id (ignored)}.
 * Returns 0, or -1 with a message in err. */
int dist_heartbeat_parse(struct dist_heartbeat *h, const char *body, size_t len, char *err,
                         size_t errlen);

/* One request a worker kept. */
struct dist_detail {
    int64_t at_us;      /* when it was sent (Unix us, the master's clock), 0..2^53 */
    bool ok;
    int status;         /* HTTP status, 0 without an answer; 0..999 */
    char class[DIST_DETAIL_CLASS_MAX + 1]; /* "ok", or counter_class_name, "not_sent", "dropped" */
    int64_t latency_us; /* 0..2^53 */
    char node[DIST_DETAIL_NODE_MAX + 1];
    char error[DIST_DETAIL_ERROR_MAX + 1]; /* what failed, "" for a success */
};

/* POST /api/v1/workers/{id}/details {"task_id", "details": [...]}. */
struct dist_details {
    char task_id[DIST_ID_MAX];
    struct dist_detail *list; /* malloc'd, count entries */
    size_t count;
};

/* Parses a details body: task_id (1..63 printable bytes) and details, an array of at most
 * DIST_DETAILS_POST_MAX objects {at_us, ok, status, class, latency_us, node?, error?} (class
 * printable ASCII without spaces, node and error printable ASCII; no key twice or unknown). Returns 0 (free d with
 * dist_details_free), or -1 with "details[3].status: ..." in err and d empty. */
int dist_details_parse(struct dist_details *d, const char *body, size_t len, char *err,
                       size_t errlen);
void dist_details_free(struct dist_details *d);

/* A details body's JSON (a new reference) from d, or NULL when out of memory. */
json_t *dist_details_to_json(const struct dist_details *d);

/* Fills d (empty; free with dist_details_free) with the details of the finished run r
 * (plan->detail_* set): failures first, then the sampled successes, times made absolute by
 * origin_us (the master's clock at the plan's origin). Returns 0, or -1 when out of memory. */
int dist_details_from_run(struct dist_details *d, const struct load_result *r, int64_t origin_us);

#endif
