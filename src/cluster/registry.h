/* registry.h -- the gateway's table of nodes: where each is, what the health checks and the
 * passive checks think of it, what an operator set (weight, drain, maintenance), who
 * registered it and when it was last heard of; with the event log and the synced config.
 *
 * One registry per gateway, shared by its threads under one mutex. The proxy threads do not
 * take the lock per request: they compare `generation` (bumped by every change that alters
 * who may take requests) with the copy their balancer was built from, and resync when it
 * moved. A node that leaves keeps its slot (marked removed) and gets it back when it
 * registers again; when every slot is taken, a new node takes a removed node's slot and the
 * slot's `epoch` moves on, so that whatever a thread still holds for the old node (a check in
 * flight, a kept-alive connection, a passive failure) is told apart and dropped. */
#ifndef HERD_CLUSTER_REGISTRY_H
#define HERD_CLUSTER_REGISTRY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netdb.h>
#include <sys/socket.h>

/* Slots in the node table: 10,000 replicas on one machine with room to spare. The table and
 * the proxy threads' per-node views are allocated at this size up front (calloc: pages are
 * touched only as slots fill). */
#define REGISTRY_MAX_NODES  16384
#define REGISTRY_ID_MAX     64
#define REGISTRY_HOST_MAX   256 /* a host name or address, with its NUL */
#define REGISTRY_MAX_EVENTS 4096
#define REGISTRY_WEIGHT_MAX 100
#define REGISTRY_MAX_NETWORKS 16

/* A network registered nodes may be in: an IPv4 or IPv6 prefix. */
struct registry_network {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int prefix_len;
};

enum registry_source {
    REGISTRY_STATIC = 0,  /* from the cluster file or --node: never expires */
    REGISTRY_REGISTERED,  /* POST /register: expires without heartbeats */
    REGISTRY_ADDED,       /* POST /nodes (herd scale beyond the file's count): never expires,
                           * starts down until its checks pass, DELETE removes it */
};

/* "static", "registered" or "added". */
const char *registry_source_name(enum registry_source source);

enum registry_admin {
    REGISTRY_ACTIVE = 0, /* takes requests */
    REGISTRY_DRAIN,      /* finishes what it has, gets nothing new; still checked */
    REGISTRY_MAINT,      /* out of rotation and not checked */
};

struct registry_node {
    char id[REGISTRY_ID_MAX];
    char group[64]; /* the cluster group it belongs to, "" when none: routes pick by group */
    char host[REGISTRY_HOST_MAX];
    int port;
    struct sockaddr_storage addr;
    int weight;           /* 0..100, as configured */
    int effective_weight; /* the balancer's weight: weight x 10, less during slow start */
    enum registry_admin admin;
    bool up;      /* the active checks' verdict (static nodes start up, registered ones down) */
    bool ejected; /* taken out by the passive checks until the active ones readmit it */
    bool removed; /* deregistered or expired; the slot waits for the same id, or a new node */
    uint32_t epoch; /* bumped each time the slot is given to another node */
    enum registry_source source;
    char *metadata;           /* JSON text given at registration, or NULL */
    uint64_t expires_ms;      /* registered nodes: monotonic ms without a heartbeat */
    int64_t last_seen_wall_ms; /* last heartbeat or passing check, epoch ms */
    int check_ok, check_fail;  /* consecutive active-check outcomes */
    uint64_t slowstart_from_ms; /* monotonic ms readmitted at, 0: not ramping */
    double check_ms;            /* duration of the last check */
    char check_error[96];       /* why the last check failed, "" when it passed */
    char eject_reason[96];      /* why the passive checks took it out */
    uint32_t id_next;           /* the next slot (+ 1) whose id hashes alike, 0: none */
};

struct registry_event {
    uint64_t seq;
    int64_t wall_ms; /* epoch milliseconds */
    char node[REGISTRY_ID_MAX];
    char kind[16]; /* up, down, ejected, readmitted, registered, deregistered, expired, ... */
    char detail[112];
};

struct registry {
    pthread_mutex_t lock;
    struct registry_node *nodes; /* REGISTRY_MAX_NODES slots */
    size_t count;                /* slots used */
    uint32_t *id_buckets; /* by id hash: the first slot (+ 1) with it, 0: none (O(1) lookups) */
    _Atomic uint64_t generation;
    struct registry_event *events; /* ring of REGISTRY_MAX_EVENTS */
    uint64_t event_seq;            /* sequence number of the newest event */
    char *config;                  /* JSON object text of the synced config */
    uint64_t config_version;
    uint64_t ttl_ms;      /* registered nodes expire after this long without a heartbeat */
    uint64_t slowstart_ms; /* ramp from 1/weight to the full weight after readmission */
    int rise, fall;        /* consecutive checks to come up / go down */
    /* where registered nodes may be; none: loopback only */
    struct registry_network networks[REGISTRY_MAX_NETWORKS];
    size_t network_count;
};

/* Sets up an empty registry. Returns 0 or -1 (out of memory). */
int registry_init(struct registry *reg, uint64_t ttl_ms, uint64_t slowstart_ms, int rise,
                  int fall);
void registry_free(struct registry *reg);

/* All of the following lock the registry themselves unless they say otherwise. */

/* Parses "ADDRESS/PREFIX" (or an address alone: the one host) into out. Returns 0, or -1
 * with a message. */
int registry_network_parse(const char *text, struct registry_network *out, char *err,
                           size_t errlen);

/* Returns 0 when id may name a node: 1 to REGISTRY_ID_MAX - 1 bytes without spaces or
 * control characters (it goes into a response header, the log and terminals), else -1 with
 * a message naming what is wrong. */
int registry_id_check(const char *id, char *err, size_t errlen);

/* Fills out with host as an IP address literal ("10.0.0.5", "::1") and port. Returns 0, or
 * -1 when host is not one (a name to resolve). */
int registry_address_literal(const char *host, int port, struct sockaddr_storage *out);

/* Adds a node, or refreshes the one with the same id (a node that registers again). host is
 * an IP address, or a name resolved here with getaddrinfo, which blocks: at startup only (a
 * proxy thread resolves first, without blocking, and calls registry_add_resolved). A
 * registered node must be in one of reg->networks (loopback when none are set) and never at
 * an unspecified or link-local address; it starts down until its checks pass. metadata:
 * JSON text or NULL (copied). Returns its index, or -1 with a message (bad or refused
 * address, table full). */
int registry_add(struct registry *reg, const char *id, const char *host, int port, int weight,
                 enum registry_source source, const char *metadata, char *err, size_t errlen);

/* As registry_add, with host already resolved to addrs (getaddrinfo's list, in its order;
 * their ports are ignored): the node takes the first address it may use (any for a static
 * node; for a registered one, the first the networks allow). Returns its index, or -1 with a
 * message ("host 'H' refused: ..." names the first address refused). */
int registry_add_resolved(struct registry *reg, const char *id, const char *host,
                          const struct addrinfo *addrs, int port, int weight,
                          enum registry_source source, const char *metadata, char *err,
                          size_t errlen);

/* Sets node index's group ("" for none). A change takes effect at the next pick. */
void registry_set_group(struct registry *reg, int index, const char *group);

/* A heartbeat from a registered node. Returns 0, or -1 when the id is unknown or removed
 * (the node should register again). */
int registry_heartbeat(struct registry *reg, const char *id);

/* Removes a node (kind: "deregistered"). Returns 0 or -1 when unknown. */
int registry_remove(struct registry *reg, const char *id, const char *kind);

/* Operator changes: weight (-1: unchanged) and state (NULL: unchanged). Returns 0, or -1
 * when unknown. */
int registry_set(struct registry *reg, const char *id, int weight, const enum registry_admin *admin);

/* The passive checks saw a node fail (why: "3 connect errors"). epoch: the slot's epoch when
 * the failing request was sent (a failure of a node whose slot was given away is ignored).
 * Takes it out unless it is the last node taking requests. Returns true when it was ejected
 * now. */
bool registry_eject(struct registry *reg, int index, uint32_t epoch, const char *why);

/* One active check of node index ended; epoch: the slot's epoch when the check started (a
 * stale result is ignored). Applies rise/fall; logs up/down/readmitted. */
void registry_check_result(struct registry *reg, int index, uint32_t epoch, bool ok, double ms,
                           const char *why);

/* Periodic work (call every 100 ms or so): expires silent registered nodes, moves slow-start
 * weights. now_ms: monotonic. */
void registry_tick(struct registry *reg, uint64_t now_ms);

/* Replaces the synced config (JSON object text, copied). Returns the new version. */
uint64_t registry_config_put(struct registry *reg, const char *json_text);

/* Whether node i may take new requests. Caller holds the lock (or owns the registry). */
bool registry_node_available(const struct registry_node *n);

/* Logs an event; caller holds the lock. */
void registry_event_locked(struct registry *reg, const char *node, const char *kind,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));

const char *registry_admin_name(enum registry_admin admin);
int registry_admin_parse(const char *name, enum registry_admin *out);

/* The node's state in one word: up, down, ejected, drain, maint, removed. */
const char *registry_node_state(const struct registry_node *n);

/* The node's state and why, for people: "down: GET /health -> 404", "ejected: 3 consecutive
 * failures, last: connect", "drain: set through the admin API", "up". Writes at most size
 * bytes to out (NUL-terminated) and returns out. Caller holds the lock. */
const char *registry_node_reason(const struct registry_node *n, int rise, char *out,
                                 size_t size);

#endif
