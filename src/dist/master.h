/* master.h -- `herd master`: one HTTP server on one libuv loop for the REST API (tasks,
 * workers, reports, details) and the worker protocol (register, long-poll for assignments,
 * intervals acknowledged after commit, heartbeats); scheduling, liveness, reassignment of a
 * lost worker's unfinished requests, merging and judging; every state change in the store
 * (docs/distributed.md, docs/api-reference.md). The store is used from the loop's thread only. */
#ifndef HERD_DIST_MASTER_H
#define HERD_DIST_MASTER_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "dist/task.h"

/* A worker id is 1..DIST_WORKER_ID_MAX printable ASCII bytes without spaces or '#': the master
 * names a worker's later parts of a task ID#1, ID#2 (a share taken over from a lost worker, or
 * a new share after the worker restarted), and those names must fit an interval's ids. */
#define DIST_WORKER_ID_MAX 56

/* An assignment's intervals use seqs from seq_base = part << DIST_SEQ_PART_SHIFT, part being the
 * assignment's place among its worker's assignments of the task (0 for the first). */
#define DIST_SEQ_PART_SHIFT 32

struct dist_master_options {
    const char *host;              /* listen address (default 127.0.0.1) */
    int port;                      /* 0: any free port */
    const char *db_path;           /* the store (default herd.db) */
    const char *token;             /* NULL or "": no token (loopback only) */
    const struct dist_allow *allow; /* --allow-target entries (n 0: every target) */
    size_t allow_count;
    uint64_t suspect_after_ms;     /* silence before a worker is suspect (default 3000) */
    uint64_t lost_after_ms;        /* silence before a worker is lost (default 10000) */
    size_t detail_rows;            /* details kept per task and worker (default 11000:
                                    * a worker's 10000 failures and 1000 successes) */
    size_t max_workers;            /* workers known at once (default 10000); a new id beyond
                                    * it takes the place of a lost or disconnected worker with
                                    * no open part, else the registration gets 503 */
};

/* Fills the defaults above. */
void dist_master_options_default(struct dist_master_options *o);

struct dist_master;

/* What dist_master_start returns besides 0. */
#define DIST_MASTER_EINPUT   (-2) /* bad input: the store refused the file (exit 2) */
#define DIST_MASTER_ERUNTIME (-1) /* the port, memory, the store's I/O (exit 3) */

/* Opens the store, brings back the tasks that were running (their merge rebuilt from the
 * stored intervals; their workers get the lost time to re-register), and listens. Returns 0 and
 * *out (stop with dist_master_stop, then free), or DIST_MASTER_EINPUT / DIST_MASTER_ERUNTIME
 * with a message in err. o is copied (the strings must outlive the master). */
int dist_master_start(struct dist_master **out, uv_loop_t *loop,
                      const struct dist_master_options *o, char *err, size_t errlen);

/* The bound port. */
int dist_master_port(const struct dist_master *m);

/* Stops serving: answers held polls, closes the server and the timer, then calls done(data)
 * from the loop; the master may be freed after that. Running tasks stay running in the store:
 * a master started again on the same file continues them. */
void dist_master_stop(struct dist_master *m, void (*done)(void *data), void *data);

/* Closes the store and frees everything. */
void dist_master_free(struct dist_master *m);

#endif
