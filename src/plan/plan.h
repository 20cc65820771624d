/* plan.h -- a test plan (`herd test PLAN.yaml`): an optional cluster to launch, the target,
 * the checks with their expectations, and where the reports go. Read and validated here;
 * run by runner.c. */
#ifndef HERD_PLAN_PLAN_H
#define HERD_PLAN_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/clusterfile.h"
#include "conf/conf.h"
#include "load/threshold.h"
#include "plan/balancer_watch.h"

#define PLAN_MAX_EXPECT 16

enum plan_check_kind {
    PLAN_CONNECTIVITY = 0, /* probes per node and through the target */
    PLAN_DISTRIBUTION,     /* per-node shares of N requests, judged by the algorithm */
    PLAN_CONCURRENCY,      /* closed-model load with thresholds */
    PLAN_FAILOVER,         /* a fault on a node under load: failed requests, detection, ... */
    PLAN_SCALING,          /* the same load on N replicas of a group: efficiency */
    PLAN_HOTPLUG,          /* a whole group stopped and started under load */
    PLAN_CONSISTENCY,      /* writes through the target, read back from every node */
    PLAN_CAPACITY,         /* a group grown in steps until something gives */
    PLAN_ROLLOUT,          /* a group's replicas restarted one at a time under load */
    PLAN_PARITY,           /* the same requests to every environment, answers compared */
    PLAN_CHECK_KINDS
};

#define PLAN_MAX_STEPS 8
#define PLAN_MAX_NODES 32
#define PLAN_MAX_FAULT_NODES 16
#define PLAN_MAX_ENVS 16
#define PLAN_MAX_TCP 16

/* An expectation on a check's own measure ("max_deviation: <5%", "success: >=99%"). */
struct plan_bound {
    char key[32];
    char text[64]; /* as written, "<5%" */
    enum threshold_op op;
    double value; /* percentages as fractions, durations in ms */
};

struct plan_check {
    enum plan_check_kind kind;
    char name[96];  /* "distribution" or the kind with its index when repeated */
    int line;       /* where the plan defines it */
    char environment[64]; /* the environment it names ("": the plan's target) */
    char target[512];     /* the base URL it loads: that environment's, or the plan's target */
    char path[512]; /* request path (and query), default "/" or /health for probes */
    /* connectivity: probes per endpoint, and raw TCP endpoints (tcp://HOST:PORT) */
    int probes;
    struct {
        char name[64];
        char url[200];
    } tcp[PLAN_MAX_TCP];
    size_t tcp_count;
    uint64_t connect_timeout_us;
    /* distribution: requests over connections */
    uint64_t requests;
    unsigned connections;
    char algorithm[32]; /* what the verdict assumes: roundrobin, random, weighted... */
    /* concurrency, failover */
    uint64_t duration_us;
    double rate;
    /* failover */
    char fault[16];      /* kill, stop, pause; latency, reset, blackhole (the fault proxy) */
    char method[8];      /* rollout: the requests' method */
    uint32_t latency_ms; /* the latency fault's delay */
    char exec_cmd[512];    /* the exec fault: a shell command that breaks the node */
    char recover_cmd[512]; /* and the one that undoes it ("" : none) */
    uint64_t exec_timeout_us; /* either may run this long, then its process group is killed */
    bool has_balancer;        /* `balancer:` a balancer herd does not run, watched for detection */
    struct balancer_source balancer;
    char nodes[PLAN_MAX_FAULT_NODES][64]; /* the faulted nodes, all at once (at least one) */
    size_t node_count;
    uint64_t at_us;            /* fault time after the load began */
    uint64_t restart_after_us; /* 0: not restarted */
    double baseline;           /* success rate the failover time waits for */
    char other_path[512];      /* hotplug: a path the other groups serve */
    /* scaling, hotplug: the group (scaling: and its replica counts) */
    char group[CLUSTER_NAME_MAX];
    int steps[PLAN_MAX_STEPS];
    size_t step_count;
    /* capacity: group grown by step replicas up to max_replicas, each step's replicas probed
     * `probes` times on path; a step beyond a limit ends the growth */
    int step, max_replicas;
    double health_limit_ms; /* the step's health p99 */
    double memory_limit_mb; /* the group's RSS; 0: half the memory available at the start */
    /* consistency: requests keys written at rate; every node read until it holds them */
    char write_method[8], write_path[256]; /* "PUT", "/kv/{key}" */
    char read_method[8], read_path[256];
    uint64_t settle_us;                  /* how long after the last write the nodes may take */
    char node_urls[PLAN_MAX_NODES][128]; /* nodes to read (default: the group's replicas) */
    size_t node_url_count;
    /* parity: its requests, what is compared and left out (check_parity.c; freed with the
     * plan) */
    struct plan_parity *parity;
    /* load thresholds (p99<20ms, errors<0.1%, rps>1000) and the check's own bounds */
    struct threshold thresholds[PLAN_MAX_EXPECT];
    size_t threshold_count;
    struct plan_bound bounds[PLAN_MAX_EXPECT];
    size_t bound_count;
};

enum plan_format { PLAN_JSON = 1, PLAN_MD = 2, PLAN_JUNIT = 4, PLAN_HTML = 8 };
#define PLAN_FORMATS_ALL (PLAN_JSON | PLAN_MD | PLAN_JUNIT | PLAN_HTML)

/* The plan_format of a report format's name ("json", "md", "junit", "html"), or 0. */
unsigned plan_format_bit(const char *name);

struct plan {
    char name[128];
    char path[1024];
    bool has_cluster;
    struct cluster_spec cluster;
    struct conf_doc doc;
    char target[512]; /* base URL the checks load ("" until resolved) */
    struct plan_env {
        char name[64];
        char url[512];
    } envs[PLAN_MAX_ENVS]; /* environments: {NAME: URL}, in the plan's order */
    size_t env_count;
    struct plan_check *checks;
    size_t check_count;
    char report_dir[512];
    unsigned formats; /* enum plan_format bits */
};

/* Reads and validates a plan file. Returns 0, or -1 with "FILE:LINE:COL: path: ..." in err.
 * Free with plan_free. */
int plan_load(struct plan *p, const char *path, char *err, size_t errlen);
void plan_free(struct plan *p);

/* A plan file as one entry of conf/keys.h: `herd schema plan` prints it. */
extern const struct conf_key plan_file_key;

const char *plan_check_kind_name(enum plan_check_kind kind);

/* The group of the plan's cluster whose replica name is ("api.2": GROUP.INDEX, the index
 * within its replicas), with the index in *index (when not NULL); NULL when it is none. */
const struct cluster_group *plan_replica(const struct plan *p, const char *name, int *index);

/* True for the faults the fault proxy makes (latency, reset, blackhole). */
bool plan_fault_proxied(const char *fault);

/* Evaluates a bound against a measured value. */
bool plan_bound_check(const struct plan_bound *b, double actual);

#endif
