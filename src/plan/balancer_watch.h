/* balancer_watch.h -- a balancer herd does not run (HAProxy, nginx, a cloud's), watched through
 * its own status while a check runs: HAProxy's stats CSV (`stats: URL`, a server's `status`
 * column) or a Prometheus endpoint with a condition on one series (`metrics: URL, down:
 * 'haproxy_server_status{server="{node}",state="DOWN"} == 1'`). A thread polls it every
 * interval and keeps, per watched node, the moments the balancer's view of it changed: when it
 * marked the node down (detection, DESIGN section 6) and up again (readmission). */
#ifndef HERD_PLAN_BALANCER_WATCH_H
#define HERD_PLAN_BALANCER_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where the balancer's view is read, as a plan's `balancer:` gives it. */
struct balancer_source {
    char url[512];        /* http(s)://HOST:PORT/PATH: the stats CSV or the metrics page */
    bool metrics;         /* false: HAProxy's stats CSV; true: Prometheus text */
    char server[128];     /* CSV: "BACKEND/SERVER", "*" for any backend; {node} is the node's
                           * name (default "* /{node}" without the space) */
    char down[512];       /* metrics: "SERIES{LABEL=\"V\",...} OP NUMBER" true when down, {node}
                           * replaced by the node's name */
    uint64_t interval_us; /* between two polls (default 50 ms) */
};

#define BALANCER_WATCH_DEFAULT_INTERVAL_US 50000

/* The condition of a metrics source: a series (a name and the labels it must carry) and a
 * comparison with a number. */
#define BALANCER_MAX_LABELS 8
struct balancer_condition {
    char name[128];
    size_t label_count;
    char label[BALANCER_MAX_LABELS][64];
    char value[BALANCER_MAX_LABELS][128];
    char op[3];   /* "==", "!=", "<", "<=", ">", ">=" */
    double number;
};

/* Reads "NAME{LABEL=\"VALUE\",...} OP NUMBER" (labels optional) into c. Returns 0, or -1 with a
 * message naming what was expected. */
int balancer_condition_parse(const char *text, struct balancer_condition *c, char *err,
                             size_t errlen);

/* Evaluates c over a Prometheus text page: 1 when a series with c's name and labels (it may
 * carry more) satisfies the comparison, 0 when such series exist and none does, -1 when the
 * page has no such series. */
int balancer_condition_eval(const struct balancer_condition *c, const char *page);

/* The `status` column of server ("BACKEND/SERVER", BACKEND "*" for any) in HAProxy's stats
 * CSV page, into status ("UP", "DOWN", "UP 1/3", "MAINT", ...). Returns 0, or -1 when the page
 * is not a stats CSV or has no such server. */
int balancer_csv_status(const char *page, const char *server, char *status, size_t len);

/* Whether a status column means the server takes no traffic: DOWN (also "DOWN 1/2", on its way
 * back), MAINT, DRAIN, NOLB. */
bool balancer_status_down(const char *status);

struct balancer_watch;

/* Checks a source's url and its condition (with {node} as "x"). Returns 0, or -1 with a
 * message naming what was expected. */
int balancer_source_check(const struct balancer_source *s, char *err, size_t errlen);

/* Starts polling s for nodes[0..n) (names, copied) on a thread of its own. Returns the watch,
 * or NULL when out of memory or the thread cannot start. */
struct balancer_watch *balancer_watch_start(const struct balancer_source *s,
                                            const char (*nodes)[64], size_t n);

/* Stops polling (joins the thread); what was seen stays readable. NULL is ignored. */
void balancer_watch_stop(struct balancer_watch *w);

/* The first poll at or after since_ms (wall clock, ms since the epoch) that saw node (its
 * index in the names given) down (down true) or serving (false): that poll's answer time, in
 * wall ms, or -1 when no poll saw it so. */
int64_t balancer_watch_seen(const struct balancer_watch *w, size_t node, bool down,
                            int64_t since_ms);

/* Polls made, polls that failed (no answer, not 200, or a watched node missing from the
 * page), and the last failure's message ("" when none). */
void balancer_watch_stats(const struct balancer_watch *w, uint64_t *polls, uint64_t *failures,
                          const char **last_error);

/* Frees w (stopping it first). NULL is ignored. */
void balancer_watch_free(struct balancer_watch *w);

#endif
