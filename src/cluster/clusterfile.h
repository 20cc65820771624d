/* clusterfile.h -- the cluster file (herd.yaml, or a plan's `cluster:` section): groups of
 * replicas with their command, ports, environment, health check, restart policy and
 * dependencies; and the gateway section (read here, used by `herd gateway`). */
#ifndef HERD_CLUSTER_CLUSTERFILE_H
#define HERD_CLUSTER_CLUSTERFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "conf/keys.h"

#define CLUSTER_NAME_MAX      64
#define CLUSTER_GATEWAY_GROUP "gateway" /* the group `herd up` runs the gateway as */

enum cluster_restart {
    CLUSTER_RESTART_NEVER = 0,  /* an exited replica stays down */
    CLUSTER_RESTART_ON_FAILURE, /* restarted when it exits non-zero or by a signal */
    CLUSTER_RESTART_ALWAYS,     /* restarted whenever it exits (not when herd stopped it) */
};

enum cluster_health {
    CLUSTER_HEALTH_HTTP = 0, /* GET health_path answers 200 */
    CLUSTER_HEALTH_TCP,      /* the port accepts a connection */
    CLUSTER_HEALTH_NONE,     /* ready once started */
};

struct cluster_env {
    char *name;
    char *value; /* may hold {port}, {node_id}, {group}, {index} */
};

struct cluster_group {
    char name[CLUSTER_NAME_MAX];
    char *command; /* run by /bin/sh -c 'exec ...'; a leading "herd" is this binary */
    int replicas;
    int file_replicas; /* as the file says: replicas beyond it are added to the gateway when
                        * scaled up (the gateway reads the file's count at its start) */
    int base_port;     /* port of replica i (1-based) = base_port + i - 1; 0 when ports given */
    int *ports;        /* explicit ports, one per replica, or NULL */
    int *listen_ports; /* set by `herd test` when fault proxies stand on the ports above: where
                        * replica i really listens (it advertises its public port) */
    size_t listen_port_count; /* replicas beyond it (scaled up) have no proxy */
    bool netns; /* each replica in its own network namespace (root; fault/netns.h) */
    size_t port_count;
    struct cluster_env *env;
    size_t env_count;
    enum cluster_health health;
    char health_path[256];
    uint64_t ready_timeout_us;
    enum cluster_restart restart;
    uint64_t restart_backoff_us; /* first delay; doubles up to 30 s; resets after 10 s up */
    int stop_signal;
    uint64_t stop_grace_us;
    uint64_t drain_us;    /* > 0: before a rollout, restart or scale-down stops a replica, the
                           * gateway takes it out of rotation and herd waits this long at most
                           * for its requests in progress (0: stopped at once) */
    char **depends_on; /* group names */
    size_t depends_count;
    int order; /* start order: dependencies first */
};

struct cluster_gateway {
    bool present;
    int port;
    char host[64];   /* where it listens */
    char token[128]; /* its admin token, "" when none (the supervisor adds scaled replicas) */
    char balance[32];
    const struct conf_node *node; /* the section, for `herd gateway` (valid with the doc) */
};

struct cluster_spec {
    char name[CLUSTER_NAME_MAX];
    struct cluster_group *groups; /* in start order */
    size_t group_count;
    struct cluster_gateway gateway;
};

/* A cluster section's keys, and a cluster file as one entry (conf/keys.h: `herd schema cluster`
 * prints it). */
extern const struct conf_key cluster_keys[];
extern const struct conf_key cluster_file_key;

/* Reads a cluster from section (a mapping: name?, groups, gateway?). Returns 0, or -1 with
 * "FILE:LINE:COL: path: ..." in err. */
int cluster_spec_parse(struct cluster_spec *spec, const struct conf_doc *doc,
                       const struct conf_node *section, char *err, size_t errlen);

/* Loads a cluster file: its top level is the cluster section, or holds one under `cluster:`
 * (a plan). The doc must outlive the spec's gateway.node; free both. */
int cluster_spec_load(struct cluster_spec *spec, struct conf_doc *doc, const char *path, char *err,
                      size_t errlen);
void cluster_spec_free(struct cluster_spec *spec);

/* Appends the group that runs `herd gateway -f PATH` (one replica on the gateway's port,
 * ready when its status API answers, started after every other group). Call when
 * spec->gateway.present; path is the cluster file. Returns 0 or -1 with a message. */
int cluster_spec_add_gateway(struct cluster_spec *spec, const char *path, char *err, size_t errlen);

/* The port of replica index (1-based) of g. */
int cluster_group_port(const struct cluster_group *g, int index);

/* True when g's replicas run in network namespaces: it asks for them (netns: true) and this
 * process can make them (root). Every process decides the same on the same machine. */
bool cluster_group_in_netns(const struct cluster_group *g);

/* The address replica index of g listens on and is reached at: its namespace's address, else
 * 127.0.0.1. */
void cluster_group_host(const struct cluster_group *g, int index, char *out, size_t size);

/* Expands {port}, {node_id}, {group}, {index} in text. Returns a malloc'd string. */
char *cluster_expand(const char *text, const struct cluster_group *g, int index);

/* Group named name, or NULL. */
struct cluster_group *cluster_spec_group(const struct cluster_spec *spec, const char *name);

/* Parses "TERM", "SIGTERM", "INT", "KILL", "QUIT", "HUP", "USR1", "USR2". Returns the signal
 * number or -1. */
int cluster_signal_parse(const char *name);
const char *cluster_signal_name(int sig);

#endif
