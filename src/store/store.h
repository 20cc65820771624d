/* store.h -- the master's SQLite file: workers, tasks, assignments, intervals and request
 * details, versioned, in WAL mode, every write committed before the caller acknowledges it.
 *
 * Durability: the file is opened with journal_mode=WAL and synchronous=FULL. A kill -9 of the
 * master loses nothing once a commit has returned with NORMAL already (the WAL is written with
 * write() before COMMIT returns, and the kernel keeps it). FULL also syncs the WAL on every
 * commit, so an acknowledged interval survives a crash of the machine or a power cut too: an
 * acknowledgement lets the worker drop its copy, so the master's copy must be on the disk, not in
 * the page cache. Its cost is one fsync per commit; callers group writes (store_transaction: one
 * interval batch, or every post received in one loop turn) to pay it once per group.
 *
 * Threads: a struct store belongs to one thread (the connection is opened without SQLite's
 * mutexes); use it from that thread only. Nothing is global: two stores on two files are
 * independent. One process should own a file at a time (the master); a second opener waits up to
 * the busy timeout (5 s) for each write and then fails.
 *
 * Return values: functions return 0 (or a count, or 1/0 for found/not found) on success and -1 on
 * an SQLite error, whose message store_error() gives. Times are Unix microseconds supplied by the
 * caller (the store never reads a clock), so tests and the master decide what "now" is.
 * Text arguments are bound as parameters, never formatted into SQL.
 *
 * List calls stream rows to a callback; the row's strings are valid during the call only. A
 * callback may call other store functions but not the list it is called from (its statement is
 * in use), and should not write to the table being listed. */
#ifndef HERD_STORE_STORE_H
#define HERD_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The schema version this herd writes (PRAGMA user_version); the history is in
 * docs/distributed.md, "Store". */
#define STORE_SCHEMA_VERSION 1

/* Room for a worker id, region, version or node name, with its NUL. Longer text is refused
 * with -1 (the master validates lengths before, so this is a second fence). */
#define STORE_NAME_SIZE 128
/* Room for a generated id: "t-" (task) or "s-" (session) + 16 hex digits + NUL. */
#define STORE_ID_SIZE 19

/* store_interval_put's answer when the key is taken by a different body (the master's 409). */
#define STORE_CONFLICT (-2)

struct store;

/* ---- opening ---- */

/* Opens (or creates) the store at path: WAL, synchronous=FULL, busy_timeout 5 s, foreign keys
 * on; creates the schema in a new file and migrates a file of an older version, each step in a
 * transaction of its own. Returns 0 and *out (free with store_close), or -1 with a message in
 * err naming path: "PATH: not an SQLite database", "PATH has schema version 3, this herd knows
 * up to 1: upgrade herd", "PATH: an SQLite database of another program (...)" (version 0 with
 * tables), "PATH: cannot open: Permission denied". A refused file is not written to; a failed
 * migration leaves the steps that had committed before it. */
int store_open(const char *path, struct store **out, char *err, size_t errlen);

/* Finalizes the statements and closes the connection (checkpointing the WAL). st may be NULL. */
void store_close(struct store *st);

/* The message of the last failed call ("what: SQLite's message"). Owned by st; valid until the
 * next call. */
const char *store_error(const struct store *st);

/* ---- transactions ---- */

/* Begins a write transaction (BEGIN IMMEDIATE: the write lock is taken now, so the commit
 * cannot fail for a lock another connection took in between). Not nestable. Returns 0 or -1. */
int store_begin(struct store *st);

/* Commits the open transaction; on return 0 it is on the disk. Returns 0 or -1 (the transaction
 * is rolled back then). */
int store_commit(struct store *st);

/* Rolls back the open transaction, if any. Returns 0 or -1. */
int store_rollback(struct store *st);

/* A part of the open transaction that can be undone alone (a savepoint): the master commits
 * the interval posts of one loop turn together (one fsync for all) and refuses one post
 * without losing the others. store_part_end keeps (true) or undoes (false) what was written
 * since store_part_begin. Not nestable. Return 0 or -1. */
int store_part_begin(struct store *st);
int store_part_end(struct store *st, bool keep);

/* Runs fn(st, arg) in one transaction: committed when fn returns >= 0, rolled back when it
 * returns < 0. Returns fn's value, or -1 when begin or commit fails. Every put made by fn is
 * durable together or not at all, so a batch of intervals is acknowledged as one. */
int store_transaction(struct store *st, int (*fn)(struct store *st, void *arg), void *arg);

/* ---- workers ---- */

enum store_worker_state {
    STORE_WORKER_ACTIVE = 0, /* heard from within the suspect time */
    STORE_WORKER_SUSPECT,    /* silent 3 s */
    STORE_WORKER_LOST,       /* silent 10 s: its work is reassigned or recorded as lost */
};

struct store_worker {
    char id[STORE_NAME_SIZE];
    char region[STORE_NAME_SIZE];
    int cores;
    char version[STORE_NAME_SIZE];
    int64_t pid;
    char session[STORE_ID_SIZE]; /* new at every registration */
    int64_t registered_us;
    int64_t last_seen_us;
    enum store_worker_state state;
};

/* Registers w (id, region, cores, version, pid, registered_us are read): inserts it, or updates
 * the row of the same id. Every registration gets a new session ("s-" + 16 random hex digits),
 * written into w->session; last_seen_us becomes registered_us and the state active. Returns 0
 * or -1. */
int store_worker_register(struct store *st, struct store_worker *w);

/* Notes a call from worker id at now_us (last_seen_us) and makes it active again. Returns 1, 0
 * when no worker has that id, or -1. */
int store_worker_seen(struct store *st, const char *id, int64_t now_us);

/* Sets worker id's state (suspect, lost). Returns 1, 0 when unknown, or -1. */
int store_worker_set_state(struct store *st, const char *id, enum store_worker_state state);

/* Deletes worker id unless an assignment names it (a worker that never took part in a task
 * leaves no trace; intervals and details come only with an assignment). Returns 1 deleted,
 * 0 kept, or -1. */
int store_worker_forget(struct store *st, const char *id);

/* Reads worker id into *out. Returns 1, 0 when unknown, or -1. */
int store_worker_get(struct store *st, const char *id, struct store_worker *out);

/* Calls fn for every worker in id order; *w is valid during the call only. fn returns 0 to go
 * on, anything else to stop, and that value is returned; otherwise 0, or -1 on error. */
int store_worker_list(struct store *st, int (*fn)(const struct store_worker *w, void *arg),
                      void *arg);

/* ---- tasks ---- */

enum store_task_state {
    STORE_TASK_PENDING = 0,
    STORE_TASK_RUNNING,
    STORE_TASK_COMPLETED,
    STORE_TASK_FAILED,
    STORE_TASK_CANCELLED,
};
#define STORE_TASK_STATES 5

/* "pending", "running", "completed", "failed", "cancelled" (static strings). */
const char *store_task_state_name(enum store_task_state state);

struct store_task {
    char id[STORE_ID_SIZE];
    enum store_task_state state;
    int64_t created_us;
    int64_t started_us; /* 0 until it runs */
    int64_t ended_us;   /* 0 until it ends */
    char *config;       /* the task's config text as created (JSON) */
    char *selection;    /* which workers were asked for (JSON), or NULL */
    char *result;       /* the run document once merged (JSON), or NULL */
    char *message;      /* why it failed or was cancelled; "" when none */
};

/* Creates a pending task with config (text, copied) at created_us. Its id, "t-" + 16 hex digits
 * from getrandom (a new draw on the rare collision), is written into id_out. Returns 0 or -1. */
int store_task_create(struct store *st, const char *config, int64_t created_us,
                      char id_out[STORE_ID_SIZE]);

/* Reads task id into *out; its strings are malloc'ed, freed by store_task_clear. Returns 1, 0
 * when unknown (out untouched), or -1. */
int store_task_get(struct store *st, const char *id, struct store_task *out);

/* Frees the strings of a task filled by store_task_get and zeroes it. */
void store_task_clear(struct store_task *task);

/* Calls fn for each task, newest first (by created_us, then by creation order), at most limit
 * of them (0: all). *task is valid during the call only (do not clear it). fn's value as in
 * store_worker_list. */
int store_task_list(struct store *st, size_t limit,
                    int (*fn)(const struct store_task *task, void *arg), void *arg);

/* Sets task id's state at at_us: running sets started_us (the first time only); completed,
 * failed and cancelled set ended_us. Returns 1, 0 when unknown, or -1. */
int store_task_set_state(struct store *st, const char *id, enum store_task_state state,
                         int64_t at_us);

/* Sets task id's worker selection (JSON text). Returns 1, 0 when unknown, or -1. */
int store_task_set_selection(struct store *st, const char *id, const char *selection);

/* Sets task id's result document and message; a NULL argument leaves that field as it is.
 * Returns 1, 0 when unknown, or -1. */
int store_task_set_result(struct store *st, const char *id, const char *result,
                          const char *message);

/* Counts the tasks in each state: counts[state] (every entry set, 0 for a state no task is
 * in). Returns 0, or -1. */
int store_task_count_states(struct store *st, uint64_t counts[STORE_TASK_STATES]);

/* ---- assignments: a worker's share of a task ---- */

enum store_assignment_state {
    STORE_ASSIGNMENT_PENDING = 0, /* made, not yet fetched by the worker */
    STORE_ASSIGNMENT_RUNNING,     /* fetched; intervals arrive */
    STORE_ASSIGNMENT_DONE,        /* its final interval is stored */
    STORE_ASSIGNMENT_LOST,        /* its worker was lost; the loss is recorded (duration task) */
    STORE_ASSIGNMENT_REASSIGNED,  /* its worker was lost; the rest went to other assignments */
    STORE_ASSIGNMENT_CANCELLED,
};

struct store_assignment {
    int64_t id; /* given by store_assignment_put */
    char task_id[STORE_ID_SIZE];
    char worker_id[STORE_NAME_SIZE];
    int64_t connections;
    int64_t requests;   /* 0: a duration task */
    int64_t rate_milli; /* requests per second x 1000; 0: closed model */
    int64_t start_at_us;
    enum store_assignment_state state;
    /* The worker whose unfinished share this one took over, or "" for a first share. */
    char reassigned_from[STORE_NAME_SIZE];
};

/* Stores assignment a (every field but id is read) and writes its id into a->id. A worker may
 * hold several assignments of one task (its own share and a part of a lost worker's). The task
 * and the worker must exist (foreign keys). Returns 0 or -1. */
int store_assignment_put(struct store *st, struct store_assignment *a);

/* Sets assignment id's state. Returns 1, 0 when unknown, or -1. */
int store_assignment_set_state(struct store *st, int64_t id, enum store_assignment_state state);

/* Marks every running or pending assignment of worker_id in task_id as reassigned (its rest now
 * belongs to others, put in the same transaction). Returns how many rows changed, or -1. */
int store_assignment_mark_reassigned(struct store *st, const char *task_id, const char *worker_id);

/* Calls fn for each assignment of task_id in the order they were made. fn's value as in
 * store_worker_list. */
int store_assignment_list(struct store *st, const char *task_id,
                          int (*fn)(const struct store_assignment *a, void *arg), void *arg);

/* ---- intervals: one worker's second of a task, as posted ---- */

struct store_interval {
    const char *task_id;
    const char *worker_id;
    int64_t seq; /* the worker's count of its intervals in the task, from 0 */
    /* The session the interval was measured in; a worker re-registering after a master restart
     * resends its buffered intervals unchanged, so the key and body stay the same. */
    const char *session;
    int64_t second_us; /* the absolute start of the second it covers */
    int final;         /* 1 for the worker's last interval of the task */
    int64_t requests;  /* the requests it counts (for reassignment) */
    const char *body;  /* the interval document (JSON text), compared byte for byte */
};

/* Stores interval iv, keyed by (task_id, worker_id, seq). Returns 1 when stored, 0 when the key
 * is already there with the same body (a resend: harmless), STORE_CONFLICT when it is there with
 * a different body (nothing changes; the master answers 409), or -1. The task and worker must
 * exist. Outside a transaction it commits on its own; put a batch in store_transaction. */
int store_interval_put(struct store *st, const struct store_interval *iv);

/* Calls fn for each interval of task_id in (worker_id, seq) order; *iv and its strings are valid
 * during the call only. fn's value as in store_worker_list. */
int store_interval_list(struct store *st, const char *task_id,
                        int (*fn)(const struct store_interval *iv, void *arg), void *arg);

struct store_interval_sum {
    int64_t intervals; /* how many are stored */
    int64_t requests;  /* the sum of their request counts */
    int64_t last_seq;  /* the highest seq, -1 when none */
    int final;         /* 1 when the final interval is among them */
};

/* Sums the acknowledged intervals of worker_id in task_id (worker_id NULL: of every worker), so
 * that a lost worker's unfinished share is its share minus out->requests. Returns 0 or -1. */
int store_interval_sum(struct store *st, const char *task_id, const char *worker_id,
                       struct store_interval_sum *out);

/* ---- details: a bounded sample of single requests, per task and worker ---- */

struct store_detail {
    int64_t id; /* set when read */
    const char *task_id;
    const char *worker_id;
    int64_t at_us;      /* when the request was sent */
    int ok;             /* 1 success, 0 failure */
    int status;         /* HTTP status, 0 when none came */
    const char *class;  /* "ok" or the failure class: "connect", "timeout", "status_5xx", ... */
    int64_t latency_us;
    const char *node;   /* the node that answered, "" when unknown */
    const char *error;  /* a short message for a failure, "" otherwise */
};

/* Stores detail d unless (task, worker) already holds max_rows rows: then a failure replaces
 * the newest success (failures come first), and a success, or a failure when all rows are
 * failures, is dropped. Returns 1 stored, 0 dropped, or -1. */
int store_detail_put(struct store *st, const struct store_detail *d, size_t max_rows);

/* Stores d[0..n), all of one task and worker, as n calls of store_detail_put would, counting
 * the rows once (a post of thousands costs thousands of inserts, not as many counts). Returns
 * how many were stored, or -1 (nothing stored). */
int store_detail_put_many(struct store *st, const struct store_detail *d, size_t n,
                          size_t max_rows);

enum store_detail_filter {
    STORE_DETAIL_ALL = 0,
    STORE_DETAIL_SUCCESS,
    STORE_DETAIL_FAILED,
};

/* A details query (GET /api/details): NULL task_id or worker_id matches every one. */
struct store_detail_query {
    const char *task_id;
    const char *worker_id;
    enum store_detail_filter filter;
    int64_t offset; /* rows skipped, >= 0 */
    int64_t limit;  /* rows returned at most, > 0 */
};

/* Calls fn for each detail matching q, ordered by at_us then id, from q->offset, at most
 * q->limit; *d is valid during the call only. fn's value as in store_worker_list. */
int store_detail_list(struct store *st, const struct store_detail_query *q,
                      int (*fn)(const struct store_detail *d, void *arg), void *arg);

/* How many details match q's task, worker and filter (offset and limit ignored): the total a
 * paged answer reports. Returns the count, or -1. */
int64_t store_detail_count(struct store *st, const struct store_detail_query *q);

#endif
