/* lb.h -- client-side choice of a target per request (herd bench with several URLs).
 *
 * Behind the {select, on_result} pair of the design brief. select takes the request's global
 * sequence number, so that round robin is exact across threads: thread t numbers its k-th
 * request t + k*T, and the numbers of a run are exactly 0..n-1. */
#ifndef HERD_LOAD_LB_H
#define HERD_LOAD_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum lb_algorithm {
    LB_ROUNDROBIN = 0, /* smooth weighted rotation (nginx); equal weights: plain rotation */
    LB_RANDOM,         /* uniform, weights ignored */
    LB_WEIGHTED,       /* random in proportion to the weights */
    LB_LEASTCONN,      /* fewest requests in flight (this thread's), ties by rotation */
};

struct lb {
    enum lb_algorithm algorithm;
    size_t count;          /* targets */
    int *weights;          /* owned copy */
    uint32_t *cycle;       /* round robin: one full smooth-weighted cycle of target indexes */
    size_t cycle_len;
    uint64_t total_weight; /* weighted random */
    uint64_t rng;
    uint64_t *in_flight;   /* leastconn */
    size_t rotation;
};

/* Parses "roundrobin", "random", "weighted", "leastconn". Returns 0 or -1. */
int lb_parse(const char *name, enum lb_algorithm *out);
const char *lb_name(enum lb_algorithm algorithm);

/* Sets up a balancer over count targets with positive weights (copied). Returns 0, or -1
 * when out of memory or a weight is not positive. Free with lb_free. */
int lb_init(struct lb *lb, enum lb_algorithm algorithm, const int *weights, size_t count,
            uint64_t seed);
void lb_free(struct lb *lb);

/* The target for the request numbered seq; counts it as in flight. */
size_t lb_select(struct lb *lb, uint64_t seq);

/* The request sent to target ended (ok or not). */
void lb_on_result(struct lb *lb, size_t target, bool ok);

#endif
