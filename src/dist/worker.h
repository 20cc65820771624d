/* worker.h -- `herd worker`: registers with a master, long-polls for assignments, runs each
 * with the load engine on threads of its own, and posts the run's per-second intervals from
 * one poster thread (never a load thread) that also sends the heartbeats; unacknowledged
 * intervals are kept (bounded) and resent until the master acknowledges them, across master
 * restarts (docs/distributed.md, "Worker protocol"). */
#ifndef HERD_DIST_WORKER_H
#define HERD_DIST_WORKER_H

#include <stddef.h>

#include "load/engine.h"

/* Intervals kept while the master does not acknowledge them: an hour of one assignment. Past
 * it the oldest are dropped, with a warning naming how many. */
#define DIST_WORKER_BUFFER_DEFAULT 3600

struct dist_worker_options {
    const char *master_url; /* http://host:port */
    const char *id;         /* 1..DIST_WORKER_ID_MAX bytes */
    const char *region;     /* "" or NULL: none */
    const char *token;      /* NULL or "": none */
    unsigned cores;         /* reported and used for the load threads; 0: this machine's */
    size_t buffer_max;      /* intervals kept unacknowledged; 0: DIST_WORKER_BUFFER_DEFAULT */
    struct load_stop *stop; /* asked (SIGTERM): running loads stop, their last intervals are
                             * posted (for at most 10 s), and dist_worker_run returns */
};

#define DIST_WORKER_EREFUSED (-2) /* the master refused the registration (token, id): exit 2 */

/* Runs the worker until o->stop is asked. Returns 0, DIST_WORKER_EREFUSED with the master's
 * message in err, or -1 with a message (no thread could start). A master that cannot be
 * reached is retried with backoff, never a reason to return. */
int dist_worker_run(const struct dist_worker_options *o, char *err, size_t errlen);

#endif
