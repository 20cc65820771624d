/* test_store.c -- the master's SQLite store: round trips of workers, tasks, assignments,
 * intervals and details; idempotent interval puts; batches in one transaction; persistence
 * across close and open; the schema version checks; bounded details; and a child SIGKILLed
 * while it commits intervals, whose every acknowledged interval must be found afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/err.h"
#include "store/store.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/herd-store-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/herd.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char file[160];
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(file, sizeof file, "%s%s", path, suffixes[i]);
        unlink(file);
    }
    rmdir(dir);
    return 0;
}

static struct store *open_store(void)
{
    struct store *st = NULL;
    char err[ERR_SIZE] = "";
    if (store_open(path, &st, err, sizeof err) != 0) fail_msg("store_open: %s", err);
    return st;
}

/* PRAGMA user_version of path through a connection of the test's own. */
static int file_version(void)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return version;
}

static void add_worker(struct store *st, const char *id, const char *region, int64_t now_us)
{
    struct store_worker w = {.cores = 4, .pid = 1234, .registered_us = now_us};
    snprintf(w.id, sizeof w.id, "%s", id);
    snprintf(w.region, sizeof w.region, "%s", region);
    snprintf(w.version, sizeof w.version, "0.1.0");
    assert_int_equal(store_worker_register(st, &w), 0);
}

static void add_task(struct store *st, int64_t created_us, char id[STORE_ID_SIZE])
{
    assert_int_equal(store_task_create(st, "{\"requests\": 100}", created_us, id), 0);
}

/* A store with one task (created at 1, its id in task) and workers w1 and w2. */
static struct store *open_with_task(char task[STORE_ID_SIZE])
{
    struct store *st = open_store();
    add_task(st, 1, task);
    add_worker(st, "w1", "a", 1);
    add_worker(st, "w2", "a", 1);
    return st;
}

static int is_id(const char *id, char prefix)
{
    if (strlen(id) != STORE_ID_SIZE - 1 || id[0] != prefix || id[1] != '-') return 0;
    return strspn(id + 2, "0123456789abcdef") == STORE_ID_SIZE - 3;
}

static void test_open_creates_versioned_wal_file(void **state)
{
    (void)state;
    struct store *st = open_store();
    char task[STORE_ID_SIZE];
    add_task(st, 1, task);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", path);
    struct stat sb;
    assert_int_equal(stat(wal, &sb), 0); /* committed into the WAL, not the main file */
    assert_true(sb.st_size > 0);
    assert_int_equal(file_version(), STORE_SCHEMA_VERSION);
    store_close(st);
    st = open_store(); /* opening a current file again changes nothing */
    store_close(st);
    assert_int_equal(file_version(), STORE_SCHEMA_VERSION);
}

/* The ids a list call gave, in its order. */
struct id_list {
    char ids[8][STORE_NAME_SIZE];
    int count;
};

static int id_list_add(struct id_list *list, const char *id)
{
    assert_true(list->count < 8);
    snprintf(list->ids[list->count++], STORE_NAME_SIZE, "%s", id);
    return 0;
}

static int collect_worker(const struct store_worker *w, void *arg)
{
    return id_list_add(arg, w->id);
}

static void test_workers_round_trip(void **state)
{
    (void)state;
    struct store *st = open_store();
    struct store_worker w = {.cores = 8, .pid = 77, .registered_us = 1000};
    snprintf(w.id, sizeof w.id, "w2");
    snprintf(w.region, sizeof w.region, "shanghai");
    snprintf(w.version, sizeof w.version, "0.1.0");
    assert_int_equal(store_worker_register(st, &w), 0);
    assert_true(is_id(w.session, 's'));
    char first_session[STORE_ID_SIZE];
    memcpy(first_session, w.session, sizeof first_session);

    struct store_worker got;
    assert_int_equal(store_worker_get(st, "w2", &got), 1);
    assert_string_equal(got.region, "shanghai");
    assert_int_equal(got.cores, 8);
    assert_int_equal(got.pid, 77);
    assert_string_equal(got.session, first_session);
    assert_int_equal(got.last_seen_us, 1000);
    assert_int_equal(got.state, STORE_WORKER_ACTIVE);

    assert_int_equal(store_worker_seen(st, "w2", 5000), 1);
    assert_int_equal(store_worker_seen(st, "w2", 4000), 1); /* never goes back in time */
    assert_int_equal(store_worker_seen(st, "nobody", 5000), 0);
    assert_int_equal(store_worker_set_state(st, "w2", STORE_WORKER_LOST), 1);
    assert_int_equal(store_worker_set_state(st, "nobody", STORE_WORKER_LOST), 0);
    assert_int_equal(store_worker_get(st, "w2", &got), 1);
    assert_int_equal(got.last_seen_us, 5000);
    assert_int_equal(got.state, STORE_WORKER_LOST);

    /* a restart: same id, a new session, active again, the new facts */
    w.cores = 2;
    w.registered_us = 9000;
    assert_int_equal(store_worker_register(st, &w), 0);
    assert_string_not_equal(w.session, first_session);
    assert_int_equal(store_worker_get(st, "w2", &got), 1);
    assert_string_equal(got.session, w.session);
    assert_int_equal(got.cores, 2);
    assert_int_equal(got.last_seen_us, 9000);
    assert_int_equal(got.state, STORE_WORKER_ACTIVE);
    assert_int_equal(store_worker_get(st, "nobody", &got), 0);

    add_worker(st, "w1", "guangzhou", 1);
    struct id_list names = {0};
    assert_int_equal(store_worker_list(st, collect_worker, &names), 0);
    assert_int_equal(names.count, 2);
    assert_string_equal(names.ids[0], "w1");
    assert_string_equal(names.ids[1], "w2");

    store_close(st);
}

static int collect_task(const struct store_task *t, void *arg)
{
    return id_list_add(arg, t->id);
}

static void test_tasks_round_trip(void **state)
{
    (void)state;
    struct store *st = open_store();
    char a[STORE_ID_SIZE], b[STORE_ID_SIZE], c[STORE_ID_SIZE];
    add_task(st, 100, a);
    add_task(st, 200, b);
    add_task(st, 200, c); /* same time: creation order decides */
    assert_true(is_id(a, 't'));
    assert_string_not_equal(a, b);
    assert_string_not_equal(b, c);

    struct id_list ids = {0};
    assert_int_equal(store_task_list(st, 0, collect_task, &ids), 0);
    assert_int_equal(ids.count, 3);
    assert_string_equal(ids.ids[0], c);
    assert_string_equal(ids.ids[1], b);
    assert_string_equal(ids.ids[2], a);
    memset(&ids, 0, sizeof ids);
    assert_int_equal(store_task_list(st, 2, collect_task, &ids), 0);
    assert_int_equal(ids.count, 2);

    struct store_task t;
    assert_int_equal(store_task_get(st, a, &t), 1);
    assert_string_equal(t.config, "{\"requests\": 100}");
    assert_int_equal(t.state, STORE_TASK_PENDING);
    assert_int_equal(t.created_us, 100);
    assert_int_equal(t.started_us, 0);
    assert_null(t.selection);
    assert_null(t.result);
    assert_string_equal(t.message, "");
    store_task_clear(&t);

    assert_int_equal(store_task_set_state(st, a, STORE_TASK_RUNNING, 300), 1);
    assert_int_equal(store_task_set_state(st, a, STORE_TASK_RUNNING, 400), 1);
    assert_int_equal(store_task_set_selection(st, a, "{\"region\": \"shanghai\"}"), 1);
    assert_int_equal(store_task_set_result(st, a, "{\"totals\": {}}", NULL), 1);
    assert_int_equal(store_task_set_result(st, a, NULL, "worker w1 lost"), 1);
    assert_int_equal(store_task_set_state(st, a, STORE_TASK_FAILED, 500), 1);
    assert_int_equal(store_task_set_state(st, "t-0000000000000000", STORE_TASK_FAILED, 1), 0);
    assert_int_equal(store_task_set_result(st, "t-0000000000000000", "{}", "x"), 0);

    /* tasks by state: a failed, b and c pending; every state counted, 0 when none */
    uint64_t counts[STORE_TASK_STATES];
    memset(counts, 0xff, sizeof counts);
    assert_int_equal(store_task_count_states(st, counts), 0);
    const uint64_t want[STORE_TASK_STATES] = {[STORE_TASK_PENDING] = 2, [STORE_TASK_FAILED] = 1};
    assert_memory_equal(counts, want, sizeof want);

    assert_int_equal(store_task_get(st, a, &t), 1);
    assert_int_equal(t.state, STORE_TASK_FAILED);
    assert_string_equal(store_task_state_name(t.state), "failed");
    assert_int_equal(t.started_us, 300); /* the first start */
    assert_int_equal(t.ended_us, 500);
    assert_string_equal(t.selection, "{\"region\": \"shanghai\"}");
    assert_string_equal(t.result, "{\"totals\": {}}");
    assert_string_equal(t.message, "worker w1 lost");
    store_task_clear(&t);
    assert_null(t.config);
    assert_int_equal(store_task_get(st, "t-0000000000000000", &t), 0);
    store_close(st);
}

struct assignment_list {
    struct store_assignment items[4];
    int count;
};

static int collect_assignment(const struct store_assignment *a, void *arg)
{
    struct assignment_list *list = arg;
    list->items[list->count++] = *a;
    return 0;
}

static void test_assignments_round_trip(void **state)
{
    (void)state;
    char task[STORE_ID_SIZE];
    struct store *st = open_with_task(task);
    struct store_assignment first = {.connections = 5, .requests = 500, .rate_milli = 100500,
                                     .start_at_us = 7000, .state = STORE_ASSIGNMENT_PENDING};
    snprintf(first.task_id, sizeof first.task_id, "%s", task);
    snprintf(first.worker_id, sizeof first.worker_id, "w1");
    struct store_assignment second = first;
    snprintf(second.worker_id, sizeof second.worker_id, "w2");
    assert_int_equal(store_assignment_put(st, &first), 0);
    assert_int_equal(store_assignment_put(st, &second), 0);
    assert_true(second.id > first.id);
    assert_int_equal(store_assignment_set_state(st, first.id, STORE_ASSIGNMENT_RUNNING), 1);
    assert_int_equal(store_assignment_set_state(st, 9999, STORE_ASSIGNMENT_RUNNING), 0);

    /* w1 is lost: its rest goes to w2 as a second assignment of the task */
    assert_int_equal(store_assignment_mark_reassigned(st, task, "w1"), 1);
    assert_int_equal(store_assignment_mark_reassigned(st, task, "w1"), 0);
    struct store_assignment rest = second;
    rest.requests = 120;
    snprintf(rest.reassigned_from, sizeof rest.reassigned_from, "w1");
    assert_int_equal(store_assignment_put(st, &rest), 0);

    struct assignment_list list = {0};
    assert_int_equal(store_assignment_list(st, task, collect_assignment, &list), 0);
    assert_int_equal(list.count, 3);
    assert_string_equal(list.items[0].worker_id, "w1");
    assert_int_equal(list.items[0].state, STORE_ASSIGNMENT_REASSIGNED);
    assert_int_equal(list.items[0].connections, 5);
    assert_int_equal(list.items[0].requests, 500);
    assert_int_equal(list.items[0].rate_milli, 100500);
    assert_int_equal(list.items[0].start_at_us, 7000);
    assert_string_equal(list.items[0].reassigned_from, "");
    assert_int_equal(list.items[1].state, STORE_ASSIGNMENT_PENDING);
    assert_string_equal(list.items[2].worker_id, "w2");
    assert_int_equal(list.items[2].requests, 120);
    assert_string_equal(list.items[2].reassigned_from, "w1");

    struct store_assignment orphan = first; /* no such worker: the foreign key refuses it */
    snprintf(orphan.worker_id, sizeof orphan.worker_id, "ghost");
    assert_int_equal(store_assignment_put(st, &orphan), -1);
    assert_non_null(strstr(store_error(st), "FOREIGN KEY"));
    store_close(st);
}

static struct store_interval interval(const char *task, const char *worker, int64_t seq,
                                      const char *body)
{
    return (struct store_interval){.task_id = task, .worker_id = worker, .seq = seq,
                                   .session = "s-00000000000000aa", .second_us = 1000000 * seq,
                                   .final = 0, .requests = 10 * (seq + 1), .body = body};
}

struct interval_keys {
    char keys[8][64];
    int count;
};

static int collect_interval(const struct store_interval *iv, void *arg)
{
    struct interval_keys *keys = arg;
    snprintf(keys->keys[keys->count++], 64, "%s/%lld/%s", iv->worker_id, (long long)iv->seq,
             iv->body);
    return 0;
}

static void test_interval_put_is_idempotent(void **state)
{
    (void)state;
    char task[STORE_ID_SIZE];
    struct store *st = open_with_task(task);

    struct store_interval iv = interval(task, "w2", 1, "{\"n\":1}");
    assert_int_equal(store_interval_put(st, &iv), 1);
    assert_int_equal(store_interval_put(st, &iv), 0); /* a resend */
    struct store_interval other = interval(task, "w2", 1, "{\"n\":2}");
    assert_int_equal(store_interval_put(st, &other), STORE_CONFLICT);
    assert_non_null(strstr(store_error(st), "another body"));

    struct store_interval more[] = {interval(task, "w2", 0, "{\"n\":0}"),
                                    interval(task, "w1", 1, "{\"m\":1}"),
                                    interval(task, "w1", 0, "{\"m\":0}")};
    more[1].final = 1;
    for (size_t i = 0; i < 3; i++) assert_int_equal(store_interval_put(st, &more[i]), 1);

    struct interval_keys keys = {0};
    assert_int_equal(store_interval_list(st, task, collect_interval, &keys), 0);
    assert_int_equal(keys.count, 4);
    assert_string_equal(keys.keys[0], "w1/0/{\"m\":0}");
    assert_string_equal(keys.keys[1], "w1/1/{\"m\":1}");
    assert_string_equal(keys.keys[2], "w2/0/{\"n\":0}");
    assert_string_equal(keys.keys[3], "w2/1/{\"n\":1}"); /* the first body stayed */

    struct store_interval_sum sum;
    assert_int_equal(store_interval_sum(st, task, "w1", &sum), 0);
    assert_int_equal(sum.intervals, 2);
    assert_int_equal(sum.requests, 10 + 20);
    assert_int_equal(sum.last_seq, 1);
    assert_int_equal(sum.final, 1);
    assert_int_equal(store_interval_sum(st, task, NULL, &sum), 0);
    assert_int_equal(sum.intervals, 4);
    assert_int_equal(sum.requests, 60);
    assert_int_equal(store_interval_sum(st, task, "ghost", &sum), 0);
    assert_int_equal(sum.intervals, 0);
    assert_int_equal(sum.last_seq, -1);
    assert_int_equal(sum.final, 0);

    struct store_interval orphan = interval("t-0000000000000000", "w1", 0, "{}");
    assert_int_equal(store_interval_put(st, &orphan), -1);
    store_close(st);
}

struct batch {
    const char *task;
    int64_t first, count;
    int fail_at_end;
};

static int put_batch(struct store *st, void *arg)
{
    struct batch *b = arg;
    for (int64_t seq = b->first; seq < b->first + b->count; seq++) {
        char body[32];
        snprintf(body, sizeof body, "{\"seq\":%lld}", (long long)seq);
        struct store_interval iv = interval(b->task, "w1", seq, body);
        if (store_interval_put(st, &iv) < 0) return -1;
    }
    return b->fail_at_end ? -1 : (int)b->count;
}

static void test_batch_commits_as_one(void **state)
{
    (void)state;
    char task[STORE_ID_SIZE];
    struct store *st = open_with_task(task);
    struct batch b = {.task = task, .first = 0, .count = 3};
    assert_int_equal(store_transaction(st, put_batch, &b), 3);
    b = (struct batch){.task = task, .first = 3, .count = 3, .fail_at_end = 1};
    assert_int_equal(store_transaction(st, put_batch, &b), -1);
    struct store_interval_sum sum;
    assert_int_equal(store_interval_sum(st, task, "w1", &sum), 0);
    assert_int_equal(sum.intervals, 3); /* the failed batch left nothing */

    assert_int_equal(store_begin(st), 0);
    assert_int_equal(store_begin(st), -1); /* not nestable */
    assert_int_equal(store_rollback(st), 0);
    store_close(st);
}

static void test_everything_survives_reopen(void **state)
{
    (void)state;
    struct store *st = open_store();
    char task[STORE_ID_SIZE];
    add_task(st, 42, task);
    add_worker(st, "w1", "eu", 5);
    assert_int_equal(store_task_set_state(st, task, STORE_TASK_RUNNING, 50), 1);
    struct store_assignment a = {.connections = 3, .state = STORE_ASSIGNMENT_RUNNING};
    snprintf(a.task_id, sizeof a.task_id, "%s", task);
    snprintf(a.worker_id, sizeof a.worker_id, "w1");
    assert_int_equal(store_assignment_put(st, &a), 0);
    struct store_interval iv = interval(task, "w1", 0, "{\"k\":1}");
    assert_int_equal(store_interval_put(st, &iv), 1);
    struct store_detail d = {.task_id = task, .worker_id = "w1", .at_us = 9, .ok = 0,
                             .status = 503, .class = "status_5xx", .latency_us = 1200,
                             .node = "api.1", .error = "503 Service Unavailable"};
    assert_int_equal(store_detail_put(st, &d, 10), 1);
    store_close(st);

    st = open_store();
    struct store_task t;
    assert_int_equal(store_task_get(st, task, &t), 1);
    assert_int_equal(t.state, STORE_TASK_RUNNING);
    assert_int_equal(t.started_us, 50);
    store_task_clear(&t);
    struct store_worker w;
    assert_int_equal(store_worker_get(st, "w1", &w), 1);
    assert_string_equal(w.region, "eu");
    struct assignment_list list = {0};
    assert_int_equal(store_assignment_list(st, task, collect_assignment, &list), 0);
    assert_int_equal(list.count, 1);
    assert_int_equal(list.items[0].connections, 3);
    assert_int_equal(store_interval_put(st, &iv), 0); /* still there, same body */
    struct store_detail_query q = {.filter = STORE_DETAIL_ALL, .limit = 10};
    assert_int_equal(store_detail_count(st, &q), 1);
    store_close(st);
}

static void test_newer_version_refused(void **state)
{
    (void)state;
    store_close(open_store());
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 3", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    struct store *st = NULL;
    char err[ERR_SIZE], want[ERR_SIZE];
    assert_int_equal(store_open(path, &st, err, sizeof err), -1);
    assert_null(st);
    snprintf(want, sizeof want, "%s has schema version 3, this herd knows up to %d: upgrade herd",
             path, STORE_SCHEMA_VERSION);
    assert_string_equal(err, want);
    assert_int_equal(file_version(), 3); /* untouched */
}

static void test_foreign_file_refused(void **state)
{
    (void)state;
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 64; i++) fputs("name: not a database at all\n", f);
    fclose(f);
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    struct store *st = NULL;
    char err[ERR_SIZE];
    assert_int_equal(store_open(path, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "not an SQLite database"));
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(after.st_size, before.st_size); /* not written to */
    assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);

    /* SQLite, but another program's: tables and user_version 0 */
    unlink(path);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE notes (text TEXT)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_open(path, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "another program"));
    assert_int_equal(file_version(), 0);

    char missing[200];
    snprintf(missing, sizeof missing, "%s/no/such/dir/herd.db", dir);
    assert_int_equal(store_open(missing, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, missing));
    assert_non_null(strstr(err, "cannot open"));
}

struct detail_rows {
    int64_t count, failures;
    int64_t first_at;
};

static int count_detail(const struct store_detail *d, void *arg)
{
    struct detail_rows *rows = arg;
    if (rows->count == 0) rows->first_at = d->at_us;
    rows->count++;
    rows->failures += !d->ok;
    return 0;
}

static int put_detail(struct store *st, const char *task, const char *worker, int64_t at, int ok)
{
    struct store_detail d = {.task_id = task, .worker_id = worker, .at_us = at, .ok = ok,
                             .status = ok ? 200 : 0, .class = ok ? "ok" : "timeout",
                             .latency_us = 100 + at};
    return store_detail_put(st, &d, 10);
}

static void test_details_bounded_failures_first(void **state)
{
    (void)state;
    char task[STORE_ID_SIZE];
    struct store *st = open_with_task(task);
    int stored = 0;
    for (int i = 0; i < 20; i++) stored += put_detail(st, task, "w1", i, 1);
    assert_int_equal(stored, 10); /* successes beyond the bound are dropped */
    for (int i = 20; i < 25; i++) assert_int_equal(put_detail(st, task, "w1", i, 0), 1);
    for (int i = 0; i < 3; i++) assert_int_equal(put_detail(st, task, "w2", 100 + i, 0), 1);

    struct store_detail_query q = {.task_id = task, .worker_id = "w1", .limit = 100};
    assert_int_equal(store_detail_count(st, &q), 10);
    q.filter = STORE_DETAIL_FAILED;
    assert_int_equal(store_detail_count(st, &q), 5);
    q.filter = STORE_DETAIL_SUCCESS;
    assert_int_equal(store_detail_count(st, &q), 5);

    /* more failures than the bound: successes go, then new failures are dropped */
    for (int i = 25; i < 40; i++) put_detail(st, task, "w1", i, 0);
    q.filter = STORE_DETAIL_ALL;
    assert_int_equal(store_detail_count(st, &q), 10);
    q.filter = STORE_DETAIL_FAILED;
    assert_int_equal(store_detail_count(st, &q), 10);
    assert_int_equal(put_detail(st, task, "w1", 50, 1), 0);
    assert_int_equal(put_detail(st, task, "w1", 51, 0), 0);

    /* the seed's query: by worker (any task), a status filter, offset and limit */
    struct store_detail_query seed = {.worker_id = "w1", .filter = STORE_DETAIL_FAILED,
                                      .offset = 4, .limit = 3};
    struct detail_rows rows = {0};
    assert_int_equal(store_detail_list(st, &seed, count_detail, &rows), 0);
    assert_int_equal(rows.count, 3);
    assert_int_equal(rows.failures, 3);
    assert_int_equal(rows.first_at, 24); /* failures at 20..29 are kept, ordered by time */
    struct store_detail_query all = {.filter = STORE_DETAIL_ALL, .limit = 100};
    assert_int_equal(store_detail_count(st, &all), 13);
    memset(&rows, 0, sizeof rows);
    all.worker_id = "w2";
    assert_int_equal(store_detail_list(st, &all, count_detail, &rows), 0);
    assert_int_equal(rows.count, 3);
    store_close(st);
}

/* ---- crash safety: a child commits batches of intervals and says "acked N" after each; it
 * is SIGKILLed at a random moment; every interval below the last N it said must be there. ---- */

static void interval_body(char *body, size_t size, int64_t seq)
{
    snprintf(body, size, "{\"seq\":%lld,\"requests\":%lld}", (long long)seq,
             (long long)(seq * 7));
}

struct child_batch {
    const char *task;
    int64_t first, count;
};

static int put_child_batch(struct store *st, void *arg)
{
    struct child_batch *b = arg;
    for (int64_t seq = b->first; seq < b->first + b->count; seq++) {
        char body[64];
        interval_body(body, sizeof body, seq);
        struct store_interval iv = {.task_id = b->task, .worker_id = "w1", .seq = seq,
                                    .session = "s-0000000000000001", .second_us = seq,
                                    .requests = seq * 7, .body = body};
        if (store_interval_put(st, &iv) != 1) return -1;
    }
    return 0;
}

static void crash_child(const char *task, int fd)
{
    struct store *st;
    char err[ERR_SIZE];
    if (store_open(path, &st, err, sizeof err)) _exit(3);
    int64_t acked = 0;
    for (int round = 0; round < 20000; round++) {
        struct child_batch b = {.task = task, .first = acked, .count = 1 + round % 3};
        if (store_transaction(st, put_child_batch, &b) != 0) _exit(4);
        acked += b.count;
        char line[32];
        int n = snprintf(line, sizeof line, "acked %lld\n", (long long)acked);
        if (write(fd, line, (size_t)n) != n) _exit(5);
    }
    _exit(0);
}

struct acked_check {
    int64_t next;
    int bad;
};

static int check_acked(const struct store_interval *iv, void *arg)
{
    struct acked_check *c = arg;
    char body[64];
    interval_body(body, sizeof body, iv->seq);
    if (iv->seq != c->next || strcmp(iv->body, body) != 0) c->bad++;
    c->next++;
    return 0;
}

static void test_acked_intervals_survive_sigkill(void **state)
{
    (void)state;
    srand((unsigned)(getpid() ^ time(NULL)));
    for (int round = 0; round < 10; round++) {
        struct store *st = open_store();
        char task[STORE_ID_SIZE];
        add_task(st, round, task);
        add_worker(st, "w1", "a", 1);
        store_close(st);

        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            crash_child(task, fds[1]);
        }
        close(fds[1]);
        FILE *in = fdopen(fds[0], "r");
        assert_non_null(in);
        int kill_after = 1 + rand() % 60, lines = 0;
        long long acked = 0, n;
        char line[64];
        while (fgets(line, sizeof line, in)) {
            assert_int_equal(sscanf(line, "acked %lld", &n), 1);
            acked = n;
            if (++lines == kill_after) {
                usleep((useconds_t)(rand() % 3000)); /* mid-commit, most of the time */
                kill(pid, SIGKILL);
            }
        }
        fclose(in);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        assert_true(acked >= kill_after);

        st = open_store();
        struct store_interval_sum sum;
        assert_int_equal(store_interval_sum(st, task, "w1", &sum), 0);
        /* every acknowledged one is there; a commit that was not yet acknowledged may be too */
        assert_true(sum.intervals >= acked);
        assert_int_equal(sum.last_seq, sum.intervals - 1);
        struct acked_check c = {0};
        assert_int_equal(store_interval_list(st, task, check_acked, &c), 0);
        assert_int_equal(c.bad, 0);
        assert_int_equal(c.next, sum.intervals);
        store_close(st);
    }
}

int unit_store(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_versioned_wal_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workers_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tasks_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_assignments_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interval_put_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_commits_as_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_everything_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_version_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_file_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_details_bounded_failures_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acked_intervals_survive_sigkill, setup, teardown),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
