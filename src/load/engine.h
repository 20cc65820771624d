/* engine.h -- the load engine: T threads, one libuv loop each, connections owned by one
 * thread, closed model (next request after the answer) or open model (requests follow a
 * schedule at a rate; latency measured from the intended send time).
 *
 * Each thread records into its own statistics; once a second it hands its interval to the
 * engine (one short lock per thread per second, never per request), which builds the
 * timeline; at the end the totals are merged. */
#ifndef HERD_LOAD_ENGINE_H
#define HERD_LOAD_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "http/url.h"
#include "balance/balancer.h"
#include "load/stats.h"

struct load_target {
    struct url url;
    struct sockaddr_storage addr;
    int weight;
    char name[URL_HOST_MAX + 8]; /* "127.0.0.1:8081": the node name when answers do not say */
    char *request;  /* the request bytes, formatted once */
    size_t request_len;
};

/* A request to stop load, made by whoever owns the process's signals (cli/): every run given
 * it ends its sends at once when it is asked (answers in flight drain, the result says
 * interrupted), and a run started after it was asked ends before its first send. */
struct load_stop {
    int fd; /* an eventfd, readable once asked */
    atomic_bool requested;
};

/* Makes s ready. Returns 0, or -1 when no eventfd could be made. */
int load_stop_init(struct load_stop *s);

/* Asks every run given s to stop. Async-signal-safe: may be called from a signal handler or
 * any thread. */
void load_stop_request(struct load_stop *s);

/* True once load_stop_request was called (never for NULL). */
bool load_stop_requested(const struct load_stop *s);

void load_stop_close(struct load_stop *s);

struct load_plan {
    struct load_target *targets;
    size_t target_count;
    enum balance_algorithm lb;
    uint64_t seed;            /* the balancer's random seed: the same seed, the same choices */
    unsigned threads;
    unsigned connections;     /* closed model: the connections; open model: opened first */
    unsigned max_connections; /* open model: at most this many when all are busy */
    uint64_t duration_us;     /* 0: until `requests` are done */
    uint64_t requests;        /* 0: until the duration ends */
    double rate;              /* requests per second; 0: closed model */
    uint64_t ramp_up_us;      /* connections (closed) or rate (open) rise linearly over it */
    uint32_t timeout_ms;      /* per request: connect, headers, body */
    const char *node_header;  /* answers name their node in this header */
    uint64_t max_failures;    /* circuit breaker: stop after this many failures; 0: never */
    bool tls_verify;
    bool tls_reuse;           /* new connections resume the last TLS session (http_client_opts) */
    uint64_t window_us;       /* > 0: also count outcomes in windows this long (load_windows) */
    struct load_stop *stop;   /* may be NULL: nothing stops the run early but the breaker */
    uint64_t origin_ns;       /* uv_hrtime() the records' times count from; 0: the run's start */
    size_t max_records;       /* > 0: keep each request's record (load_record), at most this many */
    size_t detail_failures;   /* > 0: keep the record of every failed request, up to about this
                               * many (split over the threads; load_result.details) */
    size_t detail_successes;  /* > 0: and a uniform sample of about this many successes (a
                               * reservoir per thread); both bounded, allocated at the start */
};

/* Record classes beyond enum counter_class: scheduled requests never sent. */
#define LOAD_RECORD_NOT_SENT COUNTER_CLASSES
#define LOAD_RECORD_DROPPED  (COUNTER_CLASSES + 1)

/* One scheduled request as it happened. Times in us from the plan's origin, signed (a time
 * before the origin is negative). A request never sent has sent_us = intended_us and ends at
 * the end of the run (or when it was dropped). */
struct load_record {
    int64_t intended_us, sent_us, end_us;
    uint32_t node;   /* index into load_result.total.nodes */
    uint16_t status; /* HTTP status; 0 without an answer */
    uint8_t cls;     /* enum counter_class, or LOAD_RECORD_NOT_SENT / LOAD_RECORD_DROPPED */
};

/* Outcomes in fixed windows from the start (the plan's window_us, e.g. 100 ms), finer than the
 * per-second timeline, for the reports' charts (measures use the records). Counts only. */
struct load_windows {
    uint64_t window_us;
    size_t count;             /* windows; answers after the last one land in it */
    uint32_t *requests;       /* answers that ended in the window */
    uint32_t *failures;       /* failed answers that ended in the window */
    uint32_t *node_ok[LOAD_MAX_NODES]; /* successes per node (result.total.nodes order), or NULL */
};

/* One second of the whole run, all threads merged. */
struct load_second {
    struct counters counters;
    uint64_t p50_us, p90_us, p99_us, max_us;
    char *hist; /* encoded latency histogram of the second (hist_encode), owned */
    uint64_t node_requests[LOAD_MAX_NODES]; /* indexed like load_result.total.nodes */
    uint64_t node_failures[LOAD_MAX_NODES];
    unsigned reports;       /* threads that handed in this second */
    struct hist *open_hist; /* while threads are still reporting */
};

struct load_result {
    struct load_stats total;
    struct load_second *timeline; /* one entry per second; the last may be partial */
    size_t seconds;
    double elapsed_s;        /* first send to last answer (or the end of the drain) */
    char started_at[40], ended_at[40];
    uint64_t start_ns;       /* uv_hrtime() when the run began: the origin of the windows */
    uint64_t clients;        /* distinct connections (connection slot x target) used */
    uint64_t connects;       /* TCP connects made (clients + reconnects) */
    uint64_t connections_peak; /* connection slots in use at once (open model grows them) */
    uint64_t backlog_max;    /* open model: most sends waiting for a free connection */
    bool breaker_tripped;
    double breaker_at_s;
    char tls_error[200];     /* why the first failed TLS handshake failed, "" when none */
    bool interrupted;        /* stopped by plan->stop */
    struct load_windows windows; /* with plan->window_us */
    struct load_record *records; /* with plan->max_records: every request, by thread */
    size_t record_count;
    bool records_truncated;      /* more requests than max_records: some are not in records */
    struct load_record *details; /* with plan->detail_*: failures, then the success sample,
                                  * node numbers as in records (UINT32_MAX: never sent) */
    size_t detail_count;
    uint64_t detail_failures_seen;  /* failures the run had (details holds the first ones) */
    uint64_t detail_successes_seen; /* successes the run had (details holds a sample) */
    int64_t started_us;          /* the run's start, from the plan's origin */
    int64_t sends_ended_us;      /* when the last thread stopped sending, from the origin */
};

/* What the live display shows each second (called on the thread that runs the engine). */
struct load_progress {
    double elapsed_s;
    size_t second;                   /* 1-based, the second just ended */
    const struct load_second *last;  /* that second (may still lack a slow thread's report) */
    uint64_t requests, failures;     /* cumulative */
    size_t node_count;
    const char (*node_names)[LOAD_NODE_NAME];
    uint64_t node_requests[LOAD_MAX_NODES]; /* cumulative per node */
};

typedef void (*load_progress_fn)(const struct load_progress *p, void *data);

/* Runs plan to its end and fills result (initialised here; free with load_result_free).
 * progress, when given, is called once a second. plan->stop ends the run early (drained, with
 * result->interrupted); the engine installs no signal handler. Every scheduled request is in
 * result->total: succeeded, failed by class (unanswered when the drain ended without its
 * answer), not sent, or dropped. Returns 0, or -1 with a message in err when the run could
 * not start. */
int load_run(const struct load_plan *plan, struct load_result *result, load_progress_fn progress,
             void *data, char *err, size_t errlen);

void load_result_free(struct load_result *result);

/* Intended send time, in ns after the start, of the request numbered g (0-based, across all
 * threads) at rate requests per second with a linear ramp-up of ramp_ns. */
uint64_t load_schedule_ns(uint64_t g, double rate, uint64_t ramp_ns);

/* How many requests a schedule at rate with a ramp-up of ramp_ns intends before duration_ns:
 * the first g whose load_schedule_ns is at or after it. */
uint64_t load_schedule_count(double rate, uint64_t ramp_ns, uint64_t duration_ns);

/* The outcome class of an answer (error from http_client; status when it is OK). */
enum counter_class load_classify(int client_error, int status);

/* Formats a request into a malloc'd string: method, the URL's path and Host, headers
 * ("Name: value" each), a body (may be NULL), Connection: close unless keepalive. */
char *load_format_request(const struct url *url, const char *method, char *const headers[],
                          size_t header_count, const char *body, size_t body_len, bool keepalive,
                          size_t *len);

#endif
