/* check.h -- what the plan runner shares with the checks that live in their own files
 * (check_consistency.c, ...): the run's environment, fault injection through the supervisor,
 * and judging measures against a check's bounds. Internal to src/plan. */
#ifndef HERD_PLAN_CHECK_H
#define HERD_PLAN_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "load/engine.h"
#include "load/threshold.h"
#include "conf/keys.h"

#include "plan/plan.h"
#include "plan/runner.h"

struct cluster_run;
struct fault_proxies;
struct load_result;
struct progress;

struct check_env {
    struct plan *p;
    const struct plan_run_opts *o;
    unsigned cores;
    struct cluster_run *cluster;   /* the launched cluster (p->has_cluster) */
    struct fault_proxies *proxies; /* in front of the replicas proxied faults hit, or NULL */
    struct load_stop *stop;        /* asked on SIGINT/SIGTERM: every load ends at once */
    bool *interrupted;             /* set when a load was cut short by stop */
    struct progress *progress;     /* the live display (load/progress.h), or NULL (quiet) */
    json_t *log;                   /* the running check's log (the commands its exec fault ran,
                                    * with their output): the runner's, shown in the reports */
};

/* Shows an event of the check (a fault injected, a node restarted) on the live display as it
 * happens, printf-style; nothing when the run is quiet. */
void check_event(const struct check_env *env, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The success every check that sends load requires unless the plan states its own (an
 * `errors` threshold, `success`, or failover's `failed_requests`). */
#define CHECK_DEFAULT_SUCCESS "errors<=0.1%"

/* DESIGN section 6's 100 ms: the failover time's windows (over the records, aligned at the
 * fault), and the engine's windows for the report's charts. */
#define CHECK_WINDOW_US 100000

/* At most this many request records per load (load_plan.max_records): 320 MB. */
#define CHECK_MAX_RECORDS 10000000

/* A load a check runs, with bench's defaults for the rest. */
struct check_load {
    char url[1100];
    const char *method;  /* NULL: GET */
    uint64_t requests;
    unsigned connections;
    uint64_t duration_us;
    double rate;
    uint64_t window_us;  /* > 0: windows for the charts */
    uint64_t origin_ns;  /* the records' origin (0: the load's start) */
    size_t max_records;  /* > 0: keep each request's record */
    bool unseen;         /* not on the live display (a second load running beside the first) */
};

/* Runs l to its end (or until env->stop) into r (free with load_result_free), shown each second
 * on the live display unless l->unseen. Returns 0, or -1 with a message when it could not
 * start. */
int check_run_load(const struct check_env *env, const struct check_load *l, struct load_result *r,
                   char *err, size_t errlen);

/* A load on a thread of its own while the check injects faults. */
struct check_load_job {
    const struct check_env *env;
    struct check_load load;
    struct load_result r; /* after join, when rc is 0 */
    int rc;
    char err[256];
    uv_thread_t thread;
};
void check_load_start(struct check_load_job *j);
/* Waits for the load's end. Returns its rc (0, or -1 with j->err). */
int check_load_join(struct check_load_job *j);

/* Judges s against the check's load thresholds (p99<20ms, errors<0.1%: NAN, no samples,
 * fails); appends each to list. Returns true when all pass. */
bool check_judge_thresholds(const struct plan_check *c, const struct load_summary *s, json_t *list);

/* The success requirement of a check that sends load: CHECK_DEFAULT_SUCCESS unless the plan
 * set its own, and in every case at least one success. Appends to list; true when met. */
bool check_judge_success(const struct plan_check *c, const struct load_summary *s, json_t *list);

/* A check: runs its measurement, appends its judged expectations to expects and sets pass.
 * Returns the measures, or NULL with a message when it could not measure. */
typedef json_t *(*check_fn)(const struct check_env *env, const struct plan_check *c,
                            json_t *expects, bool *pass, char *err, size_t errlen);

/* Reads a check's options (body, a map; expect: its `expect` map or NULL) into c, with its
 * defaults. Returns 0, or -1 with "FILE:LINE:COL: path: ..." in err. */
typedef int (*check_parse_fn)(struct plan *p, struct plan_check *c, const struct conf_doc *doc,
                              const struct conf_node *body, const struct conf_node *expect,
                              char *err, size_t errlen);

/* A kind of check: its name in a plan, how its options are read, how it runs. Each lives in
 * its own file (check_NAME.c); check_kinds indexes them by enum plan_check_kind. */
struct check_kind {
    const char *name;
    check_parse_fn parse;
    check_fn run;
};

/* The keys of each kind's body (conf/keys.h): its parse checks the body against them, and
 * `herd schema plan` prints them. The macros are the entries several kinds share. */
extern const struct conf_key check_connectivity_keys[], check_distribution_keys[],
    check_concurrency_keys[], check_failover_keys[], check_scaling_keys[], check_hotplug_keys[],
    check_consistency_keys[], check_capacity_keys[], check_rollout_keys[], check_parity_keys[];
extern const char *const check_fault_names[]; /* kill, stop, pause, ..., none */
extern const struct conf_key check_node_item;
extern const struct conf_key check_balancer_keys[]; /* stats, server, metrics, down, interval */

#define CHECK_KEY_COMMON(own)                                                                    \
    CONF_KEY("environment", CONF_K_STRING, "load this environment of the plan instead of its target"),  \
    CONF_KEY("expect", CONF_K_EXPECT, "expectations, KEY: VALUE (equality) or KEY: \"OP VALUE\"",        \
     .choices = (own))
#define CHECK_KEY_PATH(def) CONF_KEY("path", CONF_K_STRING, "the request path (" def ")")
#define CHECK_KEYS_TIMING                                                                        \
    CONF_KEY("duration", CONF_K_DURATION, "how long the load runs"),                                     \
    CONF_KEY("at", CONF_K_DURATION, "when the fault is injected, from the load's start"),               \
    CONF_KEY("restart_after", CONF_K_DURATION, "when the node is brought back, from the fault")
#define CHECK_KEYS_FAULT                                                                         \
    CONF_KEY("fault", CONF_K_STRING, "what breaks", .choices = check_fault_names),                     \
    CONF_KEY("node", CONF_K_STRING | CONF_K_LIST, "the node (api.2) or nodes it hits",                  \
     .item = &check_node_item),                                                                  \
    CONF_KEY("latency", CONF_K_DURATION, "fault: latency adds this delay"),                             \
    CONF_KEY("exec", CONF_K_STRING, "fault: exec runs this shell command"),                             \
    CONF_KEY("recover", CONF_K_STRING, "fault: exec undoes it with this command at restart_after"),     \
    CONF_KEY("exec_timeout", CONF_K_DURATION, "the exec and recover commands' time limit (60s)")
#define CHECK_KEY_BALANCER                                                                       \
    CONF_KEY("balancer", CONF_K_MAP, "a balancer herd does not run: its status page, for detection",    \
     .members = check_balancer_keys)

extern const struct check_kind check_connectivity_kind, check_distribution_kind,
    check_concurrency_kind, check_failover_kind, check_scaling_kind, check_hotplug_kind,
    check_consistency_kind, check_capacity_kind, check_rollout_kind, check_parity_kind;
extern const struct check_kind *const check_kinds[PLAN_CHECK_KINDS];

/* ---- reading a check's options (plan.c), for the kinds' parse functions ---- */

/* The bound on key: "<5%", ">=0.01", "<500ms", "<2s", "1m30s", "0": an operator (== < <= > >=;
 * none means ==), a number, a unit (% -> fraction; a duration -> ms, a bare number being
 * seconds for the duration measures; MB/GB -> MB) into b (its text kept). Returns 0 or -1. */
int plan_parse_bound(const char *key, const char *text, struct plan_bound *b);
/* expect: {KEY: "OP VALUE"}: load metrics become c's thresholds, the keys in own (a NULL-
 * terminated list) its bounds; any other key is an error. Returns 0 or -1 with a message. */
int plan_parse_expect(struct plan_check *c, const struct conf_doc *doc, const struct conf_node *e,
                      const char *const own[], char *err, size_t errlen);
/* `path` (default def) into c->path. Returns 0 or -1 with a message. */
int plan_parse_path(struct plan_check *c, const struct conf_doc *doc, const struct conf_node *body,
                    const char *def, char *err, size_t errlen);
/* duration (at least min_us), at (default a third of it) and restart_after (default
 * restart_def_us, or a third of the duration when UINT64_MAX), the fault and the recovery
 * within the load. Returns 0 or -1 with a message. */
int plan_parse_timing(struct plan_check *c, const struct conf_doc *doc,
                      const struct conf_node *body, uint64_t min_us, uint64_t restart_def_us,
                      char *err, size_t errlen);
/* fault (its name in fault), `latency`, `exec` and `recover`. Returns 0 or -1 with a message. */
int plan_parse_fault(struct plan_check *c, const struct conf_doc *doc, const struct conf_node *body,
                     const char *fault, char *err, size_t errlen);
/* `balancer: {stats: URL, server: BACKEND/SERVER}` (HAProxy's stats CSV) or `{metrics: URL,
 * down: CONDITION}` (a Prometheus page), with `interval`, into c->balancer. Returns 0 (nothing
 * when the body has none) or -1 with a message. */
int plan_parse_balancer(struct plan_check *c, const struct conf_doc *doc,
                        const struct conf_node *body, char *err, size_t errlen);
/* The faulted nodes: `node` (one, or a list when several), or `group` with `share`/`count`.
 * Call after plan_parse_fault and plan_parse_timing. Returns 0 or -1 with a message. */
int plan_parse_fault_nodes(struct plan *p, struct plan_check *c, const struct conf_doc *doc,
                           const struct conf_node *body, bool several, char *err, size_t errlen);
/* key (default def), "PUT /kv/{key}": a method and a path holding {key}. Returns 0 or -1. */
int plan_parse_request_template(const struct conf_doc *doc, const struct conf_node *body,
                                const char *key, const char *def, char *method,
                                size_t method_size, char *path, size_t path_size, char *err,
                                size_t errlen);
/* Adds the bound "key text" (">=100%") to c unless the plan gave one for key: a default the
 * plan can change but that its other expectations do not remove. */
void plan_default_bound(struct plan_check *c, const char *key, const char *text);


/* Asks the supervisor for a node action (kill, stop, pause, resume, restart, start; id a
 * replica), "scale" (id a group, to replicas) or "rollout" (id a group) and waits for it. Returns 0, or -1 with the
 * supervisor's message. */
int check_cluster_act(struct cluster_run *c, const char *id, const char *action, int replicas,
                      char *err, size_t errlen);

/* The action that undoes fault: resume after pause, pass after a proxy fault, else restart. */
const char *check_recovery_action(const char *fault);

/* Injects c's fault on c->node (a signal through the supervisor, or the node's fault proxy)
 * and, with recover, undoes it. Return 0, or -1 with a message. */
int check_fault_inject(const struct check_env *env, const struct plan_check *c, char *err,
                       size_t errlen);
int check_fault_recover(const struct check_env *env, const struct plan_check *c, char *err,
                        size_t errlen);
/* Undoes c's fault on one of its nodes. Returns 0, or -1 with a message. */
int check_fault_recover_node(const struct check_env *env, const struct plan_check *c,
                             const char *node, char *err, size_t errlen);

/* {expect, actual, pass}; actual not finite: null, with {why: "not measured"}. */
json_t *check_expectation(const char *text, double actual, bool pass);
/* The same with the reason a value is missing ("no samples", "not seen"). */
json_t *check_expectation_why(const char *text, double actual, bool pass, const char *why);

/* Judges actual against every bound of c named key (not finite: not measured, fails);
 * appends each to list. Returns true when all pass (or there is none). */
bool check_judge_bound(const struct plan_check *c, const char *key, double actual, json_t *list);

/* Sleeps until the monotonic clock (uv_hrtime) reaches ns, unless the run is asked to stop
 * (SIGINT/SIGTERM): then it returns at once. Returns
 * true when ns came, false when the run was stopped. Every wait of a check is one of these. */
bool check_wait_until(const struct check_env *env, uint64_t ns);

/* The supervisor's view of the launched cluster (supervisor_status_json: per replica its
 * state, pid, port, health, rss_kb, ...), a new object. */
json_t *check_cluster_status(struct cluster_run *c);

/* Waits until the target gateway has exactly `want` nodes of group up (at most 20 s, or until
 * stop is asked; stop may be NULL). Returns the number it last saw up (want when it got
 * there). */
int check_gateway_wait_group(const char *target, const char *group, int want,
                             const struct load_stop *stop);


/* The wall clock in ms since the epoch (what the gateway's events are stamped with). */
int64_t check_wall_ms(void);

/* GET path of the gateway at target (its own host and scheme), parsed: a new object, or NULL
 * when it did not answer 200 with JSON. */
json_t *check_gateway_get(const char *target, const char *path);

/* The event log of the herd gateway at target (GET /api/v1/cluster/events): a new array of
 * {seq, time, ts_ms, node, event, detail}, or NULL when it cannot be read. */
json_t *check_gateway_events(const char *target);

/* A mark of the check's own on the load's time axis: {t_s, event, node, source: "herd"}. */
json_t *check_mark(double t_s, const char *event, const char *node);

/* The load's outcomes over time for the report's charts (docs/run-json.md): requests and
 * failures per step (the result's windows, else its seconds), successes per node, p50/p99
 * per second, and events: marks (an array, taken; may be NULL) followed by the entries of
 * log (a gateway's events from check_gateway_events, borrowed; may be NULL) during the load.
 * Call soon after the load ended (the wall clock is matched to the load's now). Returns a
 * new object. */
json_t *check_timeline_json(const struct load_result *r, const json_t *log, json_t *marks);

#endif
