/* simulate.h -- many simulated workers in one process, for measuring the master (`herd worker
 * --simulate N`): each registers, long-polls, heartbeats every second and, while it holds an
 * assignment, posts one synthetic but valid interval per second (dist_interval), without any
 * load engine. Benchmarks use it (bench/dist-scale.sh); a real worker never does. */
#ifndef HERD_DIST_SIMULATE_H
#define HERD_DIST_SIMULATE_H

#include <stddef.h>
#include <stdint.h>

#include "load/engine.h"

struct dist_sim_options {
    const char *master_url; /* http://host:port */
    const char *id_prefix;  /* worker i is PREFIX-i (i from 0) */
    const char *region;     /* "" or NULL: none */
    const char *token;      /* NULL or "": none */
    unsigned workers;       /* 1..100000 */
    unsigned rps;           /* synthetic requests per second per worker */
    struct load_stop *stop; /* asked: the workers end their assignments (final intervals posted
                             * for at most 5 s) and dist_sim_run returns */
};

struct dist_sim_result {
    uint64_t registrations, reregistrations; /* the latter after a 404/410 */
    uint64_t heartbeats, heartbeat_failures;
    uint64_t posts, post_failures;           /* interval posts; failures: no answer or not 200 */
    uint64_t intervals_acked;
    uint64_t assignments, cancels;
    uint64_t ack_p50_us, ack_p99_us, ack_max_us; /* interval post -> acknowledgement */
    uint64_t heartbeat_p99_us;
};

/* Runs the simulated workers until o->stop is asked. Returns 0 with res filled, or -1 with a
 * message (bad URL, out of memory). */
int dist_sim_run(const struct dist_sim_options *o, struct dist_sim_result *res, char *err,
                 size_t errlen);

#endif
