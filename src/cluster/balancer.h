/* balancer.h -- which backend gets the next request: the gateway's balancers behind one
 * {select, on_result} interface (h2o's balancer.h, HAProxy's lb_* family).
 *
 * Nodes are added once and keep their index; marking one unavailable (down, drained, in
 * maintenance) or changing its weight takes effect at the next select. One balancer per
 * thread: nothing here is shared or locked. */
#ifndef HERD_CLUSTER_BALANCER_H
#define HERD_CLUSTER_BALANCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum balance_algorithm {
    BALANCE_ROUNDROBIN = 0, /* smooth weighted round robin (nginx) */
    BALANCE_RANDOM,         /* uniform over the available nodes */
    BALANCE_WEIGHTED,       /* random in proportion to the weights */
    BALANCE_LEASTCONN,      /* fewest requests in flight per unit of weight */
    BALANCE_P2C,            /* power of two choices: two at random, the less loaded */
    BALANCE_HASH,           /* consistent hash of a key (header or path) on a ring */
};

struct balancer_node {
    char id[64];
    int weight;       /* 1..1000 */
    bool available;   /* up and taking new requests */
    uint64_t in_flight;
    long long current; /* smooth round robin's running weight */
};

struct balancer;

struct balancer_ops {
    /* The index of the node for the next request (key: the hash input, may be NULL), or -1
     * when no node is available. Counts the request as in flight. */
    int (*select)(struct balancer *b, const char *key, size_t key_len);
    /* The request sent to node ended. */
    void (*on_result)(struct balancer *b, int node, bool ok);
};

struct balancer {
    const struct balancer_ops *ops;
    enum balance_algorithm algorithm;
    struct balancer_node *nodes;
    size_t count, cap;
    uint64_t rng;
    size_t rotation;
    /* consistent hash: points sorted by hash, rebuilt when membership or weights change */
    struct balancer_point {
        uint64_t hash;
        uint32_t node;
    } *ring;
    size_t ring_len;
    bool ring_stale;
};

/* Parses "roundrobin", "random", "weighted", "leastconn", "p2c", "hash". Returns 0 or -1. */
int balancer_parse(const char *name, enum balance_algorithm *out);
const char *balancer_name(enum balance_algorithm algorithm);

void balancer_init(struct balancer *b, enum balance_algorithm algorithm, uint64_t seed);
void balancer_free(struct balancer *b);

/* Adds an available node (id copied, weight 1..1000). Returns its index, or -1. */
int balancer_add(struct balancer *b, const char *id, int weight);

/* Changes a node's weight and availability. */
void balancer_set(struct balancer *b, int node, int weight, bool available);

/* Gives node's index to another node (id copied): its place on the hash ring moves; what is
 * in flight stays counted until it ends. An index out of range is ignored. */
void balancer_rename(struct balancer *b, int node, const char *id);

static inline int balancer_select(struct balancer *b, const char *key, size_t key_len)
{
    return b->ops->select(b, key, key_len);
}

static inline void balancer_on_result(struct balancer *b, int node, bool ok)
{
    b->ops->on_result(b, node, ok);
}

#endif
