/* store.c -- the master's SQLite file: schema and its migrations, a cache of prepared
 * statements, and the typed reads and writes of store.h. */
#include "store/store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <sqlite3.h>

#include "base/err.h"

/* ---- schema: migrations[i] brings a file from version i to version i + 1 ---- */

static const char SCHEMA_V1[] =
    "CREATE TABLE workers ("
    " id TEXT PRIMARY KEY,"
    " region TEXT NOT NULL,"
    " cores INTEGER NOT NULL,"
    " version TEXT NOT NULL,"
    " pid INTEGER NOT NULL,"
    " session TEXT NOT NULL,"
    " registered_us INTEGER NOT NULL,"
    " last_seen_us INTEGER NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('active', 'suspect', 'lost'))"
    ") STRICT;"
    "CREATE TABLE tasks ("
    " id TEXT PRIMARY KEY,"
    " config TEXT NOT NULL,"
    " state TEXT NOT NULL"
    "  CHECK (state IN ('pending', 'running', 'completed', 'failed', 'cancelled')),"
    " created_us INTEGER NOT NULL,"
    " started_us INTEGER NOT NULL DEFAULT 0,"
    " ended_us INTEGER NOT NULL DEFAULT 0,"
    " selection TEXT,"
    " result TEXT,"
    " message TEXT NOT NULL DEFAULT ''"
    ") STRICT;"
    "CREATE INDEX tasks_by_created ON tasks (created_us);"
    "CREATE TABLE assignments ("
    " id INTEGER PRIMARY KEY,"
    " task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,"
    " worker_id TEXT NOT NULL REFERENCES workers (id),"
    " connections INTEGER NOT NULL,"
    " requests INTEGER NOT NULL,"
    " rate_milli INTEGER NOT NULL,"
    " start_at_us INTEGER NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN"
    "  ('pending', 'running', 'done', 'lost', 'reassigned', 'cancelled')),"
    " reassigned_from TEXT NOT NULL DEFAULT ''"
    ") STRICT;"
    "CREATE INDEX assignments_by_task ON assignments (task_id, worker_id);"
    "CREATE TABLE intervals ("
    " task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,"
    " worker_id TEXT NOT NULL REFERENCES workers (id),"
    " seq INTEGER NOT NULL CHECK (seq >= 0),"
    " session TEXT NOT NULL,"
    " second_us INTEGER NOT NULL,"
    " final INTEGER NOT NULL CHECK (final IN (0, 1)),"
    " requests INTEGER NOT NULL,"
    " body TEXT NOT NULL,"
    " PRIMARY KEY (task_id, worker_id, seq)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE details ("
    " id INTEGER PRIMARY KEY,"
    " task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,"
    " worker_id TEXT NOT NULL REFERENCES workers (id),"
    " at_us INTEGER NOT NULL,"
    " ok INTEGER NOT NULL CHECK (ok IN (0, 1)),"
    " status INTEGER NOT NULL,"
    " class TEXT NOT NULL,"
    " latency_us INTEGER NOT NULL,"
    " node TEXT NOT NULL,"
    " error TEXT NOT NULL"
    ") STRICT;"
    "CREATE INDEX details_by_task_worker ON details (task_id, worker_id, ok);"
    "CREATE INDEX details_by_worker ON details (worker_id, at_us);";

static const struct migration {
    const char *what; /* for the error message of a step that fails */
    const char *sql;
} migrations[] = {
    {"create the tables", SCHEMA_V1},
};

_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
               "one migration step per schema version");

/* ---- prepared statements, made on first use and kept until store_close ---- */

enum stmt_id {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_SAVEPOINT,
    STMT_RELEASE,
    STMT_ROLLBACK_TO,
    STMT_WORKER_REGISTER,
    STMT_WORKER_SEEN,
    STMT_WORKER_FORGET,
    STMT_WORKER_SET_STATE,
    STMT_WORKER_GET,
    STMT_WORKER_LIST,
    STMT_TASK_CREATE,
    STMT_TASK_GET,
    STMT_TASK_LIST,
    STMT_TASK_SET_STATE,
    STMT_TASK_SET_SELECTION,
    STMT_TASK_SET_RESULT,
    STMT_TASK_COUNT_STATES,
    STMT_ASSIGNMENT_PUT,
    STMT_ASSIGNMENT_SET_STATE,
    STMT_ASSIGNMENT_MARK_REASSIGNED,
    STMT_ASSIGNMENT_LIST,
    STMT_INTERVAL_INSERT,
    STMT_INTERVAL_BODY,
    STMT_INTERVAL_LIST,
    STMT_INTERVAL_SUM,
    STMT_DETAIL_KEY_COUNT,
    STMT_DETAIL_EVICT,
    STMT_DETAIL_INSERT,
    STMT_DETAIL_LIST,
    STMT_DETAIL_COUNT,
    STMT_COUNT
};

#define WORKER_COLUMNS "id, region, cores, version, pid, session, registered_us, last_seen_us, state"
#define TASK_COLUMNS "id, state, created_us, started_us, ended_us, config, selection, result, message"
#define ASSIGNMENT_COLUMNS                                                                         \
    "id, task_id, worker_id, connections, requests, rate_milli, start_at_us, state, reassigned_from"
#define DETAIL_COLUMNS "id, task_id, worker_id, at_us, ok, status, class, latency_us, node, error"
/* ?1 task (NULL: any), ?2 worker (NULL: any), ?3 ok (NULL: any) */
#define DETAIL_FILTER                                                                              \
    " WHERE (?1 IS NULL OR task_id = ?1) AND (?2 IS NULL OR worker_id = ?2)"                       \
    " AND (?3 IS NULL OR ok = ?3)"

static const char *const stmt_sql[STMT_COUNT] = {
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_SAVEPOINT] = "SAVEPOINT part",
    [STMT_RELEASE] = "RELEASE part",
    [STMT_ROLLBACK_TO] = "ROLLBACK TO part",
    [STMT_WORKER_REGISTER] =
        "INSERT INTO workers (" WORKER_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 'active')"
        " ON CONFLICT (id) DO UPDATE SET region = excluded.region, cores = excluded.cores,"
        " version = excluded.version, pid = excluded.pid, session = excluded.session,"
        " registered_us = excluded.registered_us, last_seen_us = excluded.last_seen_us,"
        " state = 'active'",
    [STMT_WORKER_SEEN] = "UPDATE workers SET last_seen_us = max(last_seen_us, ?2), state = 'active'"
                         " WHERE id = ?1",
    [STMT_WORKER_SET_STATE] = "UPDATE workers SET state = ?2 WHERE id = ?1",
    [STMT_WORKER_GET] = "SELECT " WORKER_COLUMNS " FROM workers WHERE id = ?1",
    [STMT_WORKER_LIST] = "SELECT " WORKER_COLUMNS " FROM workers ORDER BY id",
    [STMT_TASK_CREATE] =
        "INSERT INTO tasks (id, config, state, created_us) VALUES (?1, ?2, 'pending', ?3)",
    [STMT_TASK_GET] = "SELECT " TASK_COLUMNS " FROM tasks WHERE id = ?1",
    [STMT_TASK_LIST] =
        "SELECT " TASK_COLUMNS " FROM tasks ORDER BY created_us DESC, rowid DESC LIMIT ?1",
    [STMT_TASK_SET_STATE] =
        "UPDATE tasks SET state = ?2,"
        " started_us = CASE WHEN ?2 = 'running' AND started_us = 0 THEN ?3 ELSE started_us END,"
        " ended_us = CASE WHEN ?2 IN ('completed', 'failed', 'cancelled') THEN ?3 ELSE ended_us END"
        " WHERE id = ?1",
    [STMT_TASK_SET_SELECTION] = "UPDATE tasks SET selection = ?2 WHERE id = ?1",
    [STMT_TASK_SET_RESULT] = "UPDATE tasks SET result = coalesce(?2, result),"
                             " message = coalesce(?3, message) WHERE id = ?1",
    [STMT_TASK_COUNT_STATES] = "SELECT state, count(*) FROM tasks GROUP BY state",
    [STMT_ASSIGNMENT_PUT] =
        "INSERT INTO assignments (task_id, worker_id, connections, requests, rate_milli,"
        " start_at_us, state, reassigned_from) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [STMT_ASSIGNMENT_SET_STATE] = "UPDATE assignments SET state = ?2 WHERE id = ?1",
    [STMT_ASSIGNMENT_MARK_REASSIGNED] =
        "UPDATE assignments SET state = 'reassigned'"
        " WHERE task_id = ?1 AND worker_id = ?2 AND state IN ('pending', 'running')",
    [STMT_ASSIGNMENT_LIST] =
        "SELECT " ASSIGNMENT_COLUMNS " FROM assignments WHERE task_id = ?1 ORDER BY id",
    [STMT_INTERVAL_INSERT] =
        "INSERT INTO intervals (task_id, worker_id, seq, session, second_us, final, requests, body)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (task_id, worker_id, seq) DO NOTHING",
    [STMT_INTERVAL_BODY] =
        "SELECT body FROM intervals WHERE task_id = ?1 AND worker_id = ?2 AND seq = ?3",
    [STMT_INTERVAL_LIST] =
        "SELECT task_id, worker_id, seq, session, second_us, final, requests, body"
        " FROM intervals WHERE task_id = ?1 ORDER BY worker_id, seq",
    [STMT_INTERVAL_SUM] =
        "SELECT count(*), coalesce(sum(requests), 0), coalesce(max(seq), -1),"
        " coalesce(max(final), 0) FROM intervals"
        " WHERE task_id = ?1 AND (?2 IS NULL OR worker_id = ?2)",
    /* intervals and details are taken only from a worker with an assignment */
    [STMT_WORKER_FORGET] = "DELETE FROM workers WHERE id = ?1"
                           " AND NOT EXISTS (SELECT 1 FROM assignments WHERE worker_id = ?1)",
    [STMT_DETAIL_KEY_COUNT] = "SELECT count(*), coalesce(sum(ok), 0) FROM details"
                              " WHERE task_id = ?1 AND worker_id = ?2",
    [STMT_DETAIL_EVICT] = "DELETE FROM details WHERE id = (SELECT id FROM details"
                          " WHERE task_id = ?1 AND worker_id = ?2 AND ok = 1"
                          " ORDER BY id DESC LIMIT 1)",
    [STMT_DETAIL_INSERT] = "INSERT INTO details (task_id, worker_id, at_us, ok, status, class,"
                           " latency_us, node, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [STMT_DETAIL_LIST] = "SELECT " DETAIL_COLUMNS " FROM details" DETAIL_FILTER
                         " ORDER BY at_us, id LIMIT ?5 OFFSET ?4",
    [STMT_DETAIL_COUNT] = "SELECT count(*) FROM details" DETAIL_FILTER,
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmts[STMT_COUNT];
    char error[ERR_SIZE];
};

static const char *const worker_state_names[] = {"active", "suspect", "lost"};
static const char *const task_state_names[] = {"pending", "running", "completed", "failed",
                                               "cancelled"};
static const char *const assignment_state_names[] = {"pending", "running", "done",
                                                     "lost", "reassigned", "cancelled"};

#define NAMES_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- errors and small helpers ---- */

__attribute__((format(printf, 2, 3))) static int fail(struct store *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->error, sizeof st->error, fmt, ap);
    va_end(ap);
    return -1;
}

/* "what: SQLite's last message" */
static int fail_sqlite(struct store *st, const char *what)
{
    return fail(st, "%s: %s", what, sqlite3_errmsg(st->db));
}

static sqlite3_stmt *stmt_get(struct store *st, enum stmt_id id)
{
    if (!st->stmts[id] && sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                             &st->stmts[id], NULL) != SQLITE_OK) {
        fail_sqlite(st, "preparing a statement");
        return NULL;
    }
    return st->stmts[id];
}

/* Binds text (NULL binds SQL NULL); the statement does not copy it, so it must live until the
 * statement is reset, which every caller does before returning. */
static int bind_text(sqlite3_stmt *s, int index, const char *text)
{
    return sqlite3_bind_text(s, index, text, -1, SQLITE_STATIC);
}

/* Binds a name that must fit in STORE_NAME_SIZE when read back. */
static int bind_name(struct store *st, sqlite3_stmt *s, int index, const char *name,
                     const char *field)
{
    if (!name) return fail(st, "%s is missing", field);
    if (strlen(name) >= STORE_NAME_SIZE)
        return fail(st, "%s is longer than %d bytes", field, STORE_NAME_SIZE - 1);
    return bind_text(s, index, name) == SQLITE_OK ? 0 : fail_sqlite(st, field);
}

/* Runs a statement that returns no rows. Returns the rows it changed, or -1. */
static int stmt_run(struct store *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return fail_sqlite(st, what);
    return sqlite3_changes(st->db);
}

/* After a read loop: resets s and returns 0 when the rows ran out, or -1. */
static int stmt_done(struct store *st, sqlite3_stmt *s, int rc, const char *what)
{
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : fail_sqlite(st, what);
}

static const char *column_text(sqlite3_stmt *s, int column)
{
    const unsigned char *text = sqlite3_column_text(s, column);
    return text ? (const char *)text : "";
}

static void column_copy(sqlite3_stmt *s, int column, char *dst, size_t size)
{
    snprintf(dst, size, "%s", column_text(s, column));
}

static int name_index(const char *const *names, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(names[i], name) == 0) return (int)i;
    return 0; /* the CHECK constraints keep other names out */
}

/* "p-" + 16 hex digits from getrandom. */
static int random_id(struct store *st, char prefix, char out[STORE_ID_SIZE])
{
    unsigned char bytes[8];
    size_t got = 0;
    while (got < sizeof bytes) {
        ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(st, "getrandom: %s", strerror(errno));
        got += (size_t)n;
    }
    out[0] = prefix;
    out[1] = '-';
    for (size_t i = 0; i < sizeof bytes; i++) snprintf(out + 2 + 2 * i, 3, "%02x", bytes[i]);
    return 0;
}

/* ---- opening ---- */

static int exec_sql(sqlite3 *db, const char *sql, const char *path, const char *what, char *err,
                    size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
    int code = sqlite3_errcode(db);
    if (code == SQLITE_NOTADB)
        err_set(err, errlen, "%s: not an SQLite database (%s)", path, msg ? msg : "");
    else
        err_set(err, errlen, "%s: %s: %s", path, what, msg ? msg : sqlite3_errstr(code));
    sqlite3_free(msg);
    return -1;
}

static int read_version(sqlite3 *db, const char *path, int *out, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int(s, 0);
        sqlite3_finalize(s);
        return 0;
    }
    sqlite3_finalize(s);
    if ((rc & 0xff) == SQLITE_NOTADB)
        return err_set(err, errlen, "%s: not an SQLite database (%s)", path, sqlite3_errmsg(db));
    return err_set(err, errlen, "%s: reading the schema version: %s", path, sqlite3_errmsg(db));
}

/* A version-0 file with tables is some other program's database: adding herd's tables to it
 * would damage both. Returns 0 when the file holds no table, or -1 with a message. */
static int check_empty(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_schema", -1, &s, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(s);
    int64_t tables = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    if (tables < 0)
        return err_set(err, errlen, "%s: reading the schema: %s", path, sqlite3_errmsg(db));
    if (tables > 0)
        return err_set(err, errlen,
                       "%s: an SQLite database of another program (it has tables but no herd "
                       "schema version): give herd a file of its own", path);
    return 0;
}

static int check_version(int version, const char *path, char *err, size_t errlen)
{
    if (version < 0 || version > STORE_SCHEMA_VERSION)
        return err_set(err, errlen, "%s has schema version %d, this herd knows up to %d: upgrade herd",
                       path, version, STORE_SCHEMA_VERSION);
    return 0;
}

/* Brings the file to STORE_SCHEMA_VERSION, one step per transaction; the version is read again
 * inside each so that two openers cannot apply a step twice. */
static int migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    for (;;) {
        int version;
        if (exec_sql(db, "BEGIN IMMEDIATE", path, "locking for the schema check", err, errlen))
            return -1;
        if (read_version(db, path, &version, err, errlen) ||
            check_version(version, path, err, errlen))
            goto fail;
        if (version == STORE_SCHEMA_VERSION) break;
        /* The version is our own integer, not user input: formatting it is safe. */
        char set_version[64];
        snprintf(set_version, sizeof set_version, "PRAGMA user_version = %d", version + 1);
        char what[160];
        snprintf(what, sizeof what, "migrating to schema version %d (%s)", version + 1,
                 migrations[version].what);
        if (exec_sql(db, migrations[version].sql, path, what, err, errlen) ||
            exec_sql(db, set_version, path, what, err, errlen) ||
            exec_sql(db, "COMMIT", path, what, err, errlen))
            goto fail;
    }
    return exec_sql(db, "COMMIT", path, "ending the schema check", err, errlen);
fail:
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int store_open(const char *path, struct store **out, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        int sys = db ? sqlite3_system_errno(db) : 0;
        err_set(err, errlen, "%s: cannot open: %s", path,
                sys ? strerror(sys) : db ? sqlite3_errmsg(db) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 5000);

    /* Before anything writes: a foreign or newer file stays exactly as it was. */
    int version;
    if (read_version(db, path, &version, err, errlen) ||
        check_version(version, path, err, errlen) ||
        (version == 0 && check_empty(db, path, err, errlen)))
        goto fail;

    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(s);
    int wal = rc == SQLITE_ROW && strcmp(column_text(s, 0), "wal") == 0;
    sqlite3_finalize(s);
    if (!wal) {
        err_set(err, errlen, "%s: cannot use WAL mode: %s", path,
                rc == SQLITE_ROW ? "the file system does not support it" : sqlite3_errmsg(db));
        goto fail;
    }
    if (exec_sql(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", path,
                 "setting pragmas", err, errlen) ||
        migrate(db, path, err, errlen))
        goto fail;

    struct store *st = calloc(1, sizeof *st);
    if (!st) {
        err_set(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    st->db = db;
    *out = st;
    return 0;
fail:
    sqlite3_close(db);
    return -1;
}

void store_close(struct store *st)
{
    if (!st) return;
    for (int i = 0; i < STMT_COUNT; i++) sqlite3_finalize(st->stmts[i]);
    sqlite3_close(st->db);
    free(st);
}

const char *store_error(const struct store *st)
{
    return st->error;
}

/* ---- transactions ---- */

static int run_simple(struct store *st, enum stmt_id id, const char *what)
{
    sqlite3_stmt *s = stmt_get(st, id);
    return s && stmt_run(st, s, what) >= 0 ? 0 : -1;
}

int store_begin(struct store *st)
{
    if (!sqlite3_get_autocommit(st->db)) return fail(st, "begin: a transaction is already open");
    return run_simple(st, STMT_BEGIN, "begin");
}

int store_commit(struct store *st)
{
    if (run_simple(st, STMT_COMMIT, "commit") == 0) return 0;
    if (!sqlite3_get_autocommit(st->db)) {
        char keep[ERR_SIZE];
        memcpy(keep, st->error, sizeof keep);
        store_rollback(st);
        memcpy(st->error, keep, sizeof keep);
    }
    return -1;
}

int store_rollback(struct store *st)
{
    if (sqlite3_get_autocommit(st->db)) return 0;
    return run_simple(st, STMT_ROLLBACK, "rollback");
}

int store_part_begin(struct store *st)
{
    if (sqlite3_get_autocommit(st->db)) return fail(st, "part: no transaction is open");
    return run_simple(st, STMT_SAVEPOINT, "savepoint");
}

int store_part_end(struct store *st, bool keep)
{
    if (!keep && run_simple(st, STMT_ROLLBACK_TO, "rollback to savepoint") < 0) return -1;
    return run_simple(st, STMT_RELEASE, "release savepoint");
}

int store_transaction(struct store *st, int (*fn)(struct store *st, void *arg), void *arg)
{
    if (store_begin(st)) return -1;
    int r = fn(st, arg);
    if (r < 0) {
        char keep[ERR_SIZE];
        memcpy(keep, st->error, sizeof keep);
        store_rollback(st);
        memcpy(st->error, keep, sizeof keep);
        return r;
    }
    return store_commit(st) ? -1 : r;
}

/* For a write of several statements: a transaction of its own unless the caller has one open.
 * *own says which, for atomic_end. */
static int atomic_begin(struct store *st, int *own)
{
    *own = sqlite3_get_autocommit(st->db);
    return *own ? store_begin(st) : 0;
}

static int atomic_end(struct store *st, int own, int r)
{
    if (!own) return r;
    if (r < 0) {
        store_rollback(st);
        return r;
    }
    return store_commit(st) ? -1 : r;
}

/* ---- workers ---- */

int store_worker_register(struct store *st, struct store_worker *w)
{
    char session[STORE_ID_SIZE];
    sqlite3_stmt *s = stmt_get(st, STMT_WORKER_REGISTER);
    if (!s || random_id(st, 's', session)) return -1;
    if (bind_name(st, s, 1, w->id, "worker id") || bind_name(st, s, 2, w->region, "region") ||
        bind_name(st, s, 4, w->version, "version")) {
        sqlite3_reset(s);
        return -1;
    }
    sqlite3_bind_int(s, 3, w->cores);
    sqlite3_bind_int64(s, 5, w->pid);
    bind_text(s, 6, session);
    sqlite3_bind_int64(s, 7, w->registered_us);
    if (stmt_run(st, s, "registering a worker") < 0) return -1;
    memcpy(w->session, session, sizeof session);
    w->last_seen_us = w->registered_us;
    w->state = STORE_WORKER_ACTIVE;
    return 0;
}

int store_worker_seen(struct store *st, const char *id, int64_t now_us)
{
    sqlite3_stmt *s = stmt_get(st, STMT_WORKER_SEEN);
    if (!s) return -1;
    bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, now_us);
    int n = stmt_run(st, s, "noting a worker's call");
    return n < 0 ? -1 : n > 0;
}

int store_worker_set_state(struct store *st, const char *id, enum store_worker_state state)
{
    sqlite3_stmt *s = stmt_get(st, STMT_WORKER_SET_STATE);
    if (!s) return -1;
    bind_text(s, 1, id);
    bind_text(s, 2, worker_state_names[state]);
    int n = stmt_run(st, s, "setting a worker's state");
    return n < 0 ? -1 : n > 0;
}

int store_worker_forget(struct store *st, const char *id)
{
    sqlite3_stmt *s = stmt_get(st, STMT_WORKER_FORGET);
    if (!s) return -1;
    bind_text(s, 1, id);
    int n = stmt_run(st, s, "forgetting a worker");
    return n < 0 ? -1 : n > 0;
}

static void worker_read(sqlite3_stmt *s, struct store_worker *w)
{
    column_copy(s, 0, w->id, sizeof w->id);
    column_copy(s, 1, w->region, sizeof w->region);
    w->cores = sqlite3_column_int(s, 2);
    column_copy(s, 3, w->version, sizeof w->version);
    w->pid = sqlite3_column_int64(s, 4);
    column_copy(s, 5, w->session, sizeof w->session);
    w->registered_us = sqlite3_column_int64(s, 6);
    w->last_seen_us = sqlite3_column_int64(s, 7);
    w->state = name_index(worker_state_names, NAMES_COUNT(worker_state_names), column_text(s, 8));
}

int store_worker_get(struct store *st, const char *id, struct store_worker *out)
{
    sqlite3_stmt *s = stmt_get(st, STMT_WORKER_GET);
    if (!s) return -1;
    bind_text(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        worker_read(s, out);
        sqlite3_reset(s);
        return 1;
    }
    return stmt_done(st, s, rc, "reading a worker");
}

int store_worker_list(struct store *st, int (*fn)(const struct store_worker *w, void *arg),
                      void *arg)
{
    sqlite3_stmt *s = stmt_get(st, STMT_WORKER_LIST);
    if (!s) return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_worker w;
        worker_read(s, &w);
        int r = fn(&w, arg);
        if (r) return sqlite3_reset(s), r;
    }
    return stmt_done(st, s, rc, "listing workers");
}

/* ---- tasks ---- */

const char *store_task_state_name(enum store_task_state state)
{
    return (size_t)state < NAMES_COUNT(task_state_names) ? task_state_names[state] : "unknown";
}

int store_task_create(struct store *st, const char *config, int64_t created_us,
                      char id_out[STORE_ID_SIZE])
{
    sqlite3_stmt *s = stmt_get(st, STMT_TASK_CREATE);
    if (!s) return -1;
    for (int attempt = 0; attempt < 4; attempt++) {
        char id[STORE_ID_SIZE];
        if (random_id(st, 't', id)) return -1;
        bind_text(s, 1, id);
        bind_text(s, 2, config);
        sqlite3_bind_int64(s, 3, created_us);
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc == SQLITE_DONE) {
            memcpy(id_out, id, sizeof id);
            return 0;
        }
        if (rc != SQLITE_CONSTRAINT_PRIMARYKEY) return fail_sqlite(st, "creating a task");
    }
    return fail(st, "creating a task: no free id after 4 random draws");
}

/* Fills t from a row; its strings point into the row (valid until the next step). */
static void task_read(sqlite3_stmt *s, struct store_task *t)
{
    column_copy(s, 0, t->id, sizeof t->id);
    t->state = name_index(task_state_names, NAMES_COUNT(task_state_names), column_text(s, 1));
    t->created_us = sqlite3_column_int64(s, 2);
    t->started_us = sqlite3_column_int64(s, 3);
    t->ended_us = sqlite3_column_int64(s, 4);
    t->config = (char *)column_text(s, 5);
    t->selection = (char *)sqlite3_column_text(s, 6);
    t->result = (char *)sqlite3_column_text(s, 7);
    t->message = (char *)column_text(s, 8);
}

static int dup_field(char **field)
{
    if (!*field) return 0;
    *field = strdup(*field);
    return *field ? 0 : -1;
}

int store_task_get(struct store *st, const char *id, struct store_task *out)
{
    sqlite3_stmt *s = stmt_get(st, STMT_TASK_GET);
    if (!s) return -1;
    bind_text(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) return stmt_done(st, s, rc, "reading a task");
    struct store_task t;
    task_read(s, &t);
    int bad = dup_field(&t.config) | dup_field(&t.selection) | dup_field(&t.result) |
              dup_field(&t.message);
    sqlite3_reset(s);
    if (bad) {
        store_task_clear(&t); /* the fields not copied are NULL or still point into the row */
        return fail(st, "reading a task: out of memory");
    }
    *out = t;
    return 1;
}

void store_task_clear(struct store_task *task)
{
    free(task->config);
    free(task->selection);
    free(task->result);
    free(task->message);
    memset(task, 0, sizeof *task);
}

int store_task_list(struct store *st, size_t limit,
                    int (*fn)(const struct store_task *task, void *arg), void *arg)
{
    sqlite3_stmt *s = stmt_get(st, STMT_TASK_LIST);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, limit ? (int64_t)limit : -1);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_task t;
        task_read(s, &t);
        int r = fn(&t, arg);
        if (r) return sqlite3_reset(s), r;
    }
    return stmt_done(st, s, rc, "listing tasks");
}

/* Runs an UPDATE keyed by ?1 = id with ?2 = text. Returns 1, 0 when no row has that id, or -1. */
static int update_by_id(struct store *st, enum stmt_id id_stmt, const char *id, const char *text,
                        const char *what)
{
    sqlite3_stmt *s = stmt_get(st, id_stmt);
    if (!s) return -1;
    bind_text(s, 1, id);
    bind_text(s, 2, text);
    int n = stmt_run(st, s, what);
    return n < 0 ? -1 : n > 0;
}

int store_task_set_state(struct store *st, const char *id, enum store_task_state state,
                         int64_t at_us)
{
    sqlite3_stmt *s = stmt_get(st, STMT_TASK_SET_STATE);
    if (!s) return -1;
    sqlite3_bind_int64(s, 3, at_us);
    return update_by_id(st, STMT_TASK_SET_STATE, id, task_state_names[state],
                        "setting a task's state");
}

int store_task_set_selection(struct store *st, const char *id, const char *selection)
{
    return update_by_id(st, STMT_TASK_SET_SELECTION, id, selection, "setting a task's selection");
}

int store_task_set_result(struct store *st, const char *id, const char *result,
                          const char *message)
{
    sqlite3_stmt *s = stmt_get(st, STMT_TASK_SET_RESULT);
    if (!s) return -1;
    bind_text(s, 3, message);
    return update_by_id(st, STMT_TASK_SET_RESULT, id, result, "setting a task's result");
}

int store_task_count_states(struct store *st, uint64_t counts[STORE_TASK_STATES])
{
    sqlite3_stmt *s = stmt_get(st, STMT_TASK_COUNT_STATES);
    if (!s) return -1;
    memset(counts, 0, STORE_TASK_STATES * sizeof *counts);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        counts[name_index(task_state_names, NAMES_COUNT(task_state_names), column_text(s, 0))] +=
            (uint64_t)sqlite3_column_int64(s, 1);
    return stmt_done(st, s, rc, "counting tasks");
}

/* ---- assignments ---- */

int store_assignment_put(struct store *st, struct store_assignment *a)
{
    sqlite3_stmt *s = stmt_get(st, STMT_ASSIGNMENT_PUT);
    if (!s) return -1;
    bind_text(s, 1, a->task_id);
    if (bind_name(st, s, 2, a->worker_id, "worker id") ||
        bind_name(st, s, 8, a->reassigned_from, "reassigned_from")) {
        sqlite3_reset(s);
        return -1;
    }
    sqlite3_bind_int64(s, 3, a->connections);
    sqlite3_bind_int64(s, 4, a->requests);
    sqlite3_bind_int64(s, 5, a->rate_milli);
    sqlite3_bind_int64(s, 6, a->start_at_us);
    bind_text(s, 7, assignment_state_names[a->state]);
    if (stmt_run(st, s, "storing an assignment") < 0) return -1;
    a->id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

int store_assignment_set_state(struct store *st, int64_t id, enum store_assignment_state state)
{
    sqlite3_stmt *s = stmt_get(st, STMT_ASSIGNMENT_SET_STATE);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, id);
    bind_text(s, 2, assignment_state_names[state]);
    int n = stmt_run(st, s, "setting an assignment's state");
    return n < 0 ? -1 : n > 0;
}

int store_assignment_mark_reassigned(struct store *st, const char *task_id, const char *worker_id)
{
    sqlite3_stmt *s = stmt_get(st, STMT_ASSIGNMENT_MARK_REASSIGNED);
    if (!s) return -1;
    bind_text(s, 1, task_id);
    bind_text(s, 2, worker_id);
    return stmt_run(st, s, "marking assignments reassigned");
}

int store_assignment_list(struct store *st, const char *task_id,
                          int (*fn)(const struct store_assignment *a, void *arg), void *arg)
{
    sqlite3_stmt *s = stmt_get(st, STMT_ASSIGNMENT_LIST);
    if (!s) return -1;
    bind_text(s, 1, task_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_assignment a;
        a.id = sqlite3_column_int64(s, 0);
        column_copy(s, 1, a.task_id, sizeof a.task_id);
        column_copy(s, 2, a.worker_id, sizeof a.worker_id);
        a.connections = sqlite3_column_int64(s, 3);
        a.requests = sqlite3_column_int64(s, 4);
        a.rate_milli = sqlite3_column_int64(s, 5);
        a.start_at_us = sqlite3_column_int64(s, 6);
        a.state = name_index(assignment_state_names, NAMES_COUNT(assignment_state_names),
                             column_text(s, 7));
        column_copy(s, 8, a.reassigned_from, sizeof a.reassigned_from);
        int r = fn(&a, arg);
        if (r) return sqlite3_reset(s), r;
    }
    return stmt_done(st, s, rc, "listing assignments");
}

/* ---- intervals ---- */

static void bind_interval_key(sqlite3_stmt *s, const struct store_interval *iv)
{
    bind_text(s, 1, iv->task_id);
    bind_text(s, 2, iv->worker_id);
    sqlite3_bind_int64(s, 3, iv->seq);
}

int store_interval_put(struct store *st, const struct store_interval *iv)
{
    if (!iv->task_id || !iv->worker_id || !iv->session || !iv->body)
        return fail(st, "storing an interval: a key or the body is missing");
    sqlite3_stmt *s = stmt_get(st, STMT_INTERVAL_INSERT);
    if (!s) return -1;
    bind_interval_key(s, iv);
    bind_text(s, 4, iv->session);
    sqlite3_bind_int64(s, 5, iv->second_us);
    sqlite3_bind_int(s, 6, iv->final ? 1 : 0);
    sqlite3_bind_int64(s, 7, iv->requests);
    bind_text(s, 8, iv->body);
    int n = stmt_run(st, s, "storing an interval");
    if (n != 0) return n < 0 ? -1 : 1;

    /* The key was there: a resend when the body is the same. */
    s = stmt_get(st, STMT_INTERVAL_BODY);
    if (!s) return -1;
    bind_interval_key(s, iv);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        stmt_done(st, s, rc, "reading a stored interval");
        return -1;
    }
    int same = strcmp(column_text(s, 0), iv->body) == 0;
    sqlite3_reset(s);
    if (same) return 0;
    fail(st, "interval %s/%s/%lld is stored with another body", iv->task_id, iv->worker_id,
         (long long)iv->seq);
    return STORE_CONFLICT;
}

int store_interval_list(struct store *st, const char *task_id,
                        int (*fn)(const struct store_interval *iv, void *arg), void *arg)
{
    sqlite3_stmt *s = stmt_get(st, STMT_INTERVAL_LIST);
    if (!s) return -1;
    bind_text(s, 1, task_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_interval iv = {
            .task_id = column_text(s, 0),
            .worker_id = column_text(s, 1),
            .seq = sqlite3_column_int64(s, 2),
            .session = column_text(s, 3),
            .second_us = sqlite3_column_int64(s, 4),
            .final = sqlite3_column_int(s, 5),
            .requests = sqlite3_column_int64(s, 6),
            .body = column_text(s, 7),
        };
        int r = fn(&iv, arg);
        if (r) return sqlite3_reset(s), r;
    }
    return stmt_done(st, s, rc, "listing intervals");
}

int store_interval_sum(struct store *st, const char *task_id, const char *worker_id,
                       struct store_interval_sum *out)
{
    sqlite3_stmt *s = stmt_get(st, STMT_INTERVAL_SUM);
    if (!s) return -1;
    bind_text(s, 1, task_id);
    bind_text(s, 2, worker_id);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        stmt_done(st, s, rc, "summing intervals");
        return -1;
    }
    out->intervals = sqlite3_column_int64(s, 0);
    out->requests = sqlite3_column_int64(s, 1);
    out->last_seq = sqlite3_column_int64(s, 2);
    out->final = sqlite3_column_int(s, 3);
    sqlite3_reset(s);
    return 0;
}

/* ---- details ---- */

/* Binds ?1 task and ?2 worker, the key of the per-(task, worker) bound. */
static void bind_detail_key(sqlite3_stmt *s, const struct store_detail *d)
{
    bind_text(s, 1, d->task_id);
    bind_text(s, 2, d->worker_id);
}

/* Makes room for d under the bound. Returns 1 when d may be inserted, 0 when it is dropped,
 * or -1. */
static int detail_room(struct store *st, const struct store_detail *d, size_t max_rows)
{
    sqlite3_stmt *s = stmt_get(st, STMT_DETAIL_KEY_COUNT);
    if (!s) return -1;
    bind_detail_key(s, d);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        stmt_done(st, s, rc, "counting details");
        return -1;
    }
    int64_t rows = sqlite3_column_int64(s, 0), successes = sqlite3_column_int64(s, 1);
    sqlite3_reset(s);
    if (rows < (int64_t)max_rows) return 1;
    if (d->ok || successes == 0) return 0;
    s = stmt_get(st, STMT_DETAIL_EVICT);
    if (!s) return -1;
    bind_detail_key(s, d);
    return stmt_run(st, s, "making room for a failure") < 0 ? -1 : 1;
}

int store_detail_put(struct store *st, const struct store_detail *d, size_t max_rows)
{
    if (!d->task_id || !d->worker_id || !d->class)
        return fail(st, "storing a detail: task, worker or class is missing");
    sqlite3_stmt *s = stmt_get(st, STMT_DETAIL_INSERT);
    if (!s) return -1;
    int own;
    if (atomic_begin(st, &own)) return -1;
    int r = detail_room(st, d, max_rows);
    if (r == 1) {
        bind_detail_key(s, d);
        sqlite3_bind_int64(s, 3, d->at_us);
        sqlite3_bind_int(s, 4, d->ok ? 1 : 0);
        sqlite3_bind_int(s, 5, d->status);
        bind_text(s, 6, d->class);
        sqlite3_bind_int64(s, 7, d->latency_us);
        bind_text(s, 8, d->node ? d->node : "");
        bind_text(s, 9, d->error ? d->error : "");
        if (stmt_run(st, s, "storing a detail") < 0) r = -1;
    }
    return atomic_end(st, own, r);
}

int store_detail_put_many(struct store *st, const struct store_detail *d, size_t n,
                          size_t max_rows)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (!d[i].task_id || !d[i].worker_id || !d[i].class || strcmp(d[i].task_id, d[0].task_id) ||
            strcmp(d[i].worker_id, d[0].worker_id))
            return fail(st, "storing details: task, worker or class is missing or differs");
    int own;
    if (atomic_begin(st, &own)) return -1;
    int64_t rows = 0, successes = 0, kept = 0;
    sqlite3_stmt *s = stmt_get(st, STMT_DETAIL_KEY_COUNT);
    int r = s ? 0 : -1;
    if (s) {
        bind_detail_key(s, &d[0]);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            rows = sqlite3_column_int64(s, 0);
            successes = sqlite3_column_int64(s, 1);
            sqlite3_reset(s);
        } else {
            r = stmt_done(st, s, rc, "counting details");
            r = r < 0 ? r : -1;
        }
    }
    for (size_t i = 0; r == 0 && i < n; i++) {
        if (rows >= (int64_t)max_rows) {
            if (d[i].ok || successes == 0) continue; /* dropped */
            sqlite3_stmt *e = stmt_get(st, STMT_DETAIL_EVICT);
            if (!e) { r = -1; break; }
            bind_detail_key(e, &d[i]);
            if (stmt_run(st, e, "making room for a failure") < 0) { r = -1; break; }
            successes--;
            rows--;
        }
        s = stmt_get(st, STMT_DETAIL_INSERT);
        if (!s) { r = -1; break; }
        bind_detail_key(s, &d[i]);
        sqlite3_bind_int64(s, 3, d[i].at_us);
        sqlite3_bind_int(s, 4, d[i].ok ? 1 : 0);
        sqlite3_bind_int(s, 5, d[i].status);
        bind_text(s, 6, d[i].class);
        sqlite3_bind_int64(s, 7, d[i].latency_us);
        bind_text(s, 8, d[i].node ? d[i].node : "");
        bind_text(s, 9, d[i].error ? d[i].error : "");
        if (stmt_run(st, s, "storing a detail") < 0) { r = -1; break; }
        rows++;
        successes += d[i].ok ? 1 : 0;
        kept++;
    }
    r = atomic_end(st, own, r);
    return r < 0 ? -1 : (int)kept;
}

static void bind_detail_query(sqlite3_stmt *s, const struct store_detail_query *q)
{
    bind_text(s, 1, q->task_id);
    bind_text(s, 2, q->worker_id);
    if (q->filter == STORE_DETAIL_ALL)
        sqlite3_bind_null(s, 3);
    else
        sqlite3_bind_int(s, 3, q->filter == STORE_DETAIL_SUCCESS);
}

int store_detail_list(struct store *st, const struct store_detail_query *q,
                      int (*fn)(const struct store_detail *d, void *arg), void *arg)
{
    sqlite3_stmt *s = stmt_get(st, STMT_DETAIL_LIST);
    if (!s) return -1;
    bind_detail_query(s, q);
    sqlite3_bind_int64(s, 4, q->offset > 0 ? q->offset : 0);
    sqlite3_bind_int64(s, 5, q->limit > 0 ? q->limit : 0);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_detail d = {
            .id = sqlite3_column_int64(s, 0),
            .task_id = column_text(s, 1),
            .worker_id = column_text(s, 2),
            .at_us = sqlite3_column_int64(s, 3),
            .ok = sqlite3_column_int(s, 4),
            .status = sqlite3_column_int(s, 5),
            .class = column_text(s, 6),
            .latency_us = sqlite3_column_int64(s, 7),
            .node = column_text(s, 8),
            .error = column_text(s, 9),
        };
        int r = fn(&d, arg);
        if (r) return sqlite3_reset(s), r;
    }
    return stmt_done(st, s, rc, "listing details");
}

int64_t store_detail_count(struct store *st, const struct store_detail_query *q)
{
    sqlite3_stmt *s = stmt_get(st, STMT_DETAIL_COUNT);
    if (!s) return -1;
    bind_detail_query(s, q);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        stmt_done(st, s, rc, "counting details");
        return -1;
    }
    int64_t n = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return n;
}
