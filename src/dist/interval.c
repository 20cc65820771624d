/* interval.c -- the worker's per-second interval document: encode, checked decode, and how a
 * worker builds one from the load engine. */
#include "dist/interval.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* The JSON names of the classes, in enum counter_class order. */
static const char *const class_keys[COUNTER_CLASSES] = {
    "ok", "connect", "timeout", "reset", "read", "write", "status_5xx", "status_4xx", "assertion",
    "unanswered",
};

int dist_interval_init(struct dist_interval *iv)
{
    memset(iv, 0, sizeof *iv);
    iv->hist = hist_new();
    return iv->hist ? 0 : -1;
}

void dist_interval_free(struct dist_interval *iv)
{
    hist_free(iv->hist);
    iv->hist = NULL;
}

void dist_interval_reset(struct dist_interval *iv)
{
    struct hist *h = iv->hist;
    memset(iv, 0, sizeof *iv);
    iv->hist = h;
    if (h)
        hist_reset(h);
}

/* ---- encode ---- */

json_t *dist_interval_to_json(const struct dist_interval *iv)
{
    const struct counters *c = &iv->counters;
    json_t *counters = json_pack("{s:I, s:I, s:I, s:I}", "requests", (json_int_t)c->requests,
                                 "not_sent", (json_int_t)iv->not_sent, "dropped",
                                 (json_int_t)iv->dropped, "bytes_in", (json_int_t)c->bytes_in);
    json_t *nodes = json_object();
    char *hist = hist_encode(iv->hist);
    json_t *j = NULL;
    if (!counters || !nodes || !hist)
        goto out;
    json_object_set_new(counters, "bytes_out", json_integer((json_int_t)c->bytes_out));
    for (int i = 0; i < COUNTER_CLASSES; i++)
        json_object_set_new(counters, class_keys[i], json_integer((json_int_t)c->by_class[i]));
    for (size_t i = 0; i < iv->node_count; i++)
        json_object_set_new(nodes, iv->nodes[i].name,
                            json_pack("{s:I, s:I}", "requests", (json_int_t)iv->nodes[i].requests,
                                      "failures", (json_int_t)iv->nodes[i].failures));
    j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:b, s:O, s:s, s:O, s:f}", "task_id", iv->task_id,
                  "worker_id", iv->worker_id, "session", iv->session, "seq", (json_int_t)iv->seq,
                  "second_us", (json_int_t)iv->second_us, "final", iv->final, "counters",
                  counters, "hist", hist, "nodes", nodes, "cpu", iv->cpu);
    if (j && iv->final) {
        json_object_set_new(j, "elapsed_s", json_real(iv->elapsed_s));
        json_object_set_new(j, "breaker_tripped", json_boolean(iv->breaker_tripped));
        json_object_set_new(j, "interrupted", json_boolean(iv->interrupted));
        if (iv->status_count) {
            json_t *st = json_object();
            for (size_t i = 0; i < iv->status_count && st; i++) {
                char code[8];
                snprintf(code, sizeof code, "%u", (unsigned)iv->statuses[i].code);
                json_object_set_new(st, code, json_integer((json_int_t)iv->statuses[i].count));
            }
            json_object_set_new(j, "statuses", st);
        }
        if (iv->has_connections)
            json_object_set_new(j, "connections",
                                json_pack("{s:I, s:I, s:I}", "clients", (json_int_t)iv->clients,
                                          "connects", (json_int_t)iv->connects, "peak",
                                          (json_int_t)iv->connections_peak));
        if (iv->error[0])
            json_object_set_new(j, "error", json_string(iv->error));
    }
out:
    json_decref(counters);
    json_decref(nodes);
    free(hist);
    return j;
}

/* ---- decode ---- */

struct where {
    const char *path; /* "intervals[2]", or "" */
    char *err;
    size_t errlen;
};

/* "PATH.FIELD: message" (no "PATH." without a path). Returns -1. */
static int bad(const struct where *w, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(const struct where *w, const char *field, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(w->err, w->errlen, "%s%s%s: %s", w->path, *w->path && *field ? "." : "", field,
                   msg);
}

static int check_keys(const struct where *w, const char *at, const json_t *obj,
                      const char *const keys[])
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        bool known = false;
        for (size_t i = 0; keys[i] && !known; i++)
            known = strcmp(keys[i], key) == 0;
        if (!known) {
            char field[96];
            snprintf(field, sizeof field, "%s%s%.48s", at, *at ? "." : "", key);
            return bad(w, field, "unknown field");
        }
    }
    return 0;
}

/* A whole number in [0, max]. */
static int get_count(const struct where *w, const char *field, const json_t *v, uint64_t max,
                     uint64_t *out)
{
    if (!json_is_integer(v))
        return bad(w, field, "expected a whole number");
    json_int_t n = json_integer_value(v);
    if (n < 0 || (uint64_t)n > max)
        return bad(w, field, "%lld is out of range, expected 0 to %llu", (long long)n,
                   (unsigned long long)max);
    *out = (uint64_t)n;
    return 0;
}

static int get_id(const struct where *w, const char *field, const json_t *v, char *out)
{
    if (!json_is_string(v))
        return bad(w, field, "expected a string");
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 0 || len >= DIST_ID_MAX)
        return bad(w, field, "expected 1 to %d characters", DIST_ID_MAX - 1);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return bad(w, field, "expected printable ASCII without spaces");
    memcpy(out, s, len + 1);
    return 0;
}

static int get_bool(const struct where *w, const char *field, const json_t *v, bool *out)
{
    if (!json_is_boolean(v))
        return bad(w, field, "expected true or false");
    *out = json_is_true(v);
    return 0;
}

static int get_number(const struct where *w, const char *field, const json_t *v, double max,
                      double *out)
{
    if (!json_is_number(v))
        return bad(w, field, "expected a number");
    double d = json_number_value(v);
    if (!(d >= 0 && d <= max))
        return bad(w, field, "expected a number from 0 to %g", max);
    *out = d;
    return 0;
}

static int read_counters(struct dist_interval *iv, const struct where *w, const json_t *c)
{
    static const char *const keys[] = {"requests", "ok", "connect", "timeout", "reset", "read",
                                       "write", "status_5xx", "status_4xx", "assertion",
                                       "unanswered", "not_sent", "dropped", "bytes_in",
                                       "bytes_out", NULL};
    if (!json_is_object(c))
        return bad(w, "counters", "expected an object");
    if (check_keys(w, "counters", c, keys) < 0)
        return -1;
    char field[64];
    struct count_field {
        const char *key;
        uint64_t *to;
        bool required;
    } fields[COUNTER_CLASSES + 5] = {
        {"requests", &iv->counters.requests, true},  {"bytes_in", &iv->counters.bytes_in, true},
        {"bytes_out", &iv->counters.bytes_out, true}, {"not_sent", &iv->not_sent, false},
        {"dropped", &iv->dropped, false},
    };
    for (int i = 0; i < COUNTER_CLASSES; i++)
        fields[5 + i] = (struct count_field){class_keys[i], &iv->counters.by_class[i], true};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        snprintf(field, sizeof field, "counters.%s", fields[i].key);
        const json_t *v = json_object_get(c, fields[i].key);
        if (!v) {
            if (fields[i].required)
                return bad(w, field, "missing, expected a whole number");
            continue;
        }
        if (get_count(w, field, v, DIST_COUNT_MAX, fields[i].to) < 0)
            return -1;
    }
    uint64_t sum = 0; /* each <= 2^53: no overflow */
    for (int i = 0; i < COUNTER_CLASSES; i++)
        sum += iv->counters.by_class[i];
    if (sum != iv->counters.requests)
        return bad(w, "counters.requests",
                   "%llu, but the classes (ok, connect, ..., unanswered) add up to %llu",
                   (unsigned long long)iv->counters.requests, (unsigned long long)sum);
    return 0;
}

static int read_nodes(struct dist_interval *iv, const struct where *w, const json_t *nodes)
{
    static const char *const keys[] = {"requests", "failures", NULL};
    if (!json_is_object(nodes))
        return bad(w, "nodes", "expected an object of {\"requests\", \"failures\"} by node name");
    if (json_object_size(nodes) > LOAD_MAX_NODES)
        return bad(w, "nodes", "%zu nodes, expected at most %d", json_object_size(nodes),
                   LOAD_MAX_NODES);
    const char *name;
    json_t *n;
    uint64_t all = 0;
    json_object_foreach((json_t *)nodes, name, n) {
        char at[LOAD_NODE_NAME + 16], field[LOAD_NODE_NAME + 32];
        size_t len = strlen(name);
        snprintf(at, sizeof at, "nodes.%.*s", LOAD_NODE_NAME - 1, name);
        if (len == 0 || len >= LOAD_NODE_NAME)
            return bad(w, at, "a node name is 1 to %d bytes", LOAD_NODE_NAME - 1);
        if (!json_is_object(n))
            return bad(w, at, "expected {\"requests\", \"failures\"}");
        if (check_keys(w, at, n, keys) < 0)
            return -1;
        struct dist_node_count *c = &iv->nodes[iv->node_count];
        memcpy(c->name, name, len + 1);
        snprintf(field, sizeof field, "%s.requests", at);
        if (get_count(w, field, json_object_get(n, "requests"), DIST_COUNT_MAX, &c->requests) < 0)
            return -1;
        snprintf(field, sizeof field, "%s.failures", at);
        if (get_count(w, field, json_object_get(n, "failures"), c->requests, &c->failures) < 0)
            return -1;
        all += c->requests;
        iv->node_count++;
    }
    if (all > iv->counters.requests)
        return bad(w, "nodes", "the nodes count %llu requests, more than counters.requests (%llu)",
                   (unsigned long long)all, (unsigned long long)iv->counters.requests);
    return 0;
}

static int by_code(const void *a, const void *b)
{
    const struct dist_status_count *x = a, *y = b;
    return (int)x->code - (int)y->code;
}

/* {"200": 980, "500": 20}: codes 100..599 written as three digits, counts 1..2^53. */
static int read_statuses(struct dist_interval *iv, const struct where *w, const json_t *st)
{
    if (!json_is_object(st))
        return bad(w, "statuses", "expected an object of counts by HTTP status");
    if (json_object_size(st) > DIST_STATUS_CODES_MAX)
        return bad(w, "statuses", "%zu statuses, expected at most %d", json_object_size(st),
                   DIST_STATUS_CODES_MAX);
    const char *code;
    json_t *v;
    json_object_foreach((json_t *)st, code, v) {
        char field[32];
        snprintf(field, sizeof field, "statuses.%.8s", code);
        if (strlen(code) != 3 || code[0] < '1' || code[0] > '5' || code[1] < '0' ||
            code[1] > '9' || code[2] < '0' || code[2] > '9')
            return bad(w, field, "expected an HTTP status from 100 to 599");
        struct dist_status_count *c = &iv->statuses[iv->status_count];
        if (get_count(w, field, v, DIST_COUNT_MAX, &c->count) < 0)
            return -1;
        if (c->count == 0)
            return bad(w, field, "0: a status nothing answered with is left out");
        c->code = (uint16_t)atoi(code);
        iv->status_count++;
    }
    qsort(iv->statuses, iv->status_count, sizeof *iv->statuses, by_code);
    return 0;
}

static int read_connections(struct dist_interval *iv, const struct where *w, const json_t *c)
{
    static const char *const keys[] = {"clients", "connects", "peak", NULL};
    if (!json_is_object(c))
        return bad(w, "connections", "expected {\"clients\", \"connects\", \"peak\"}");
    if (check_keys(w, "connections", c, keys) < 0 ||
        get_count(w, "connections.clients", json_object_get(c, "clients"), DIST_COUNT_MAX,
                  &iv->clients) < 0 ||
        get_count(w, "connections.connects", json_object_get(c, "connects"), DIST_COUNT_MAX,
                  &iv->connects) < 0 ||
        get_count(w, "connections.peak", json_object_get(c, "peak"), DIST_COUNT_MAX,
                  &iv->connections_peak) < 0)
        return -1;
    iv->has_connections = true;
    return 0;
}

static int read_error(struct dist_interval *iv, const struct where *w, const json_t *e)
{
    if (!json_is_string(e))
        return bad(w, "error", "expected a string");
    const char *s = json_string_value(e);
    size_t len = json_string_length(e);
    if (len == 0 || len >= DIST_ERROR_MAX)
        return bad(w, "error", "expected 1 to %d characters", DIST_ERROR_MAX - 1);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            return bad(w, "error", "expected printable ASCII");
    memcpy(iv->error, s, len + 1);
    return 0;
}

void dist_interval_set_error(struct dist_interval *iv, const char *text)
{
    size_t n = 0;
    for (; text[n] && n < DIST_ERROR_MAX - 1; n++) {
        unsigned char c = (unsigned char)text[n];
        iv->error[n] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
    }
    iv->error[n] = '\0';
    if (text[n])
        memcpy(iv->error + DIST_ERROR_MAX - 4, "...", 4);
}

char *dist_interval_text(const struct dist_interval *iv)
{
    json_t *j = dist_interval_to_json(iv);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    return text;
}

int dist_interval_from_json(struct dist_interval *iv, const json_t *j, const char *path,
                            char *err, size_t errlen)
{
    static const char *const keys[] = {"task_id", "worker_id", "session", "seq", "second_us",
                                       "final", "counters", "hist", "nodes", "cpu", "elapsed_s",
                                       "breaker_tripped", "interrupted", "statuses",
                                       "connections", "error", NULL};
    struct where w = {path ? path : "", err, errlen};
    dist_interval_reset(iv);
    if (!json_is_object(j))
        return *w.path ? bad(&w, "", "expected an interval object")
                       : err_set(err, errlen, "expected an interval object");
    if (check_keys(&w, "", j, keys) < 0 ||
        get_id(&w, "task_id", json_object_get(j, "task_id"), iv->task_id) < 0 ||
        get_id(&w, "worker_id", json_object_get(j, "worker_id"), iv->worker_id) < 0 ||
        get_id(&w, "session", json_object_get(j, "session"), iv->session) < 0 ||
        get_count(&w, "seq", json_object_get(j, "seq"), DIST_COUNT_MAX, &iv->seq) < 0 ||
        get_count(&w, "second_us", json_object_get(j, "second_us"), DIST_COUNT_MAX,
                  &iv->second_us) < 0 ||
        get_bool(&w, "final", json_object_get(j, "final"), &iv->final) < 0 ||
        get_number(&w, "cpu", json_object_get(j, "cpu"), 1.0, &iv->cpu) < 0 ||
        read_counters(iv, &w, json_object_get(j, "counters")) < 0)
        goto fail;
    const json_t *nodes = json_object_get(j, "nodes");
    if (nodes && read_nodes(iv, &w, nodes) < 0)
        goto fail;
    const json_t *end[] = {json_object_get(j, "elapsed_s"), json_object_get(j, "breaker_tripped"),
                           json_object_get(j, "interrupted"), json_object_get(j, "statuses"),
                           json_object_get(j, "connections"), json_object_get(j, "error")};
    if (!iv->final) {
        const char *names[] = {"elapsed_s", "breaker_tripped", "interrupted", "statuses",
                               "connections", "error"};
        for (int i = 0; i < 6; i++)
            if (end[i]) {
                bad(&w, names[i], "only a final interval carries the end state");
                goto fail;
            }
    } else if (!end[0]) {
        bad(&w, "elapsed_s", "missing: a final interval carries the run's elapsed seconds");
        goto fail;
    } else if (get_number(&w, "elapsed_s", end[0], 366.0 * 86400, &iv->elapsed_s) < 0 ||
               (end[1] && get_bool(&w, "breaker_tripped", end[1], &iv->breaker_tripped) < 0) ||
               (end[2] && get_bool(&w, "interrupted", end[2], &iv->interrupted) < 0) ||
               (end[3] && read_statuses(iv, &w, end[3]) < 0) ||
               (end[4] && read_connections(iv, &w, end[4]) < 0) ||
               (end[5] && read_error(iv, &w, end[5]) < 0)) {
        goto fail;
    }
    const json_t *hist = json_object_get(j, "hist");
    if (!json_is_string(hist)) {
        bad(&w, "hist", "expected the encoded histogram (a string)");
        goto fail;
    }
    if (json_string_length(hist) > DIST_HIST_TEXT_MAX) {
        bad(&w, "hist", "longer than %u bytes", DIST_HIST_TEXT_MAX);
        goto fail;
    }
    char msg[ERR_SIZE];
    if (hist_decode(iv->hist, json_string_value(hist), msg, sizeof msg) < 0) {
        bad(&w, "hist", "%s", msg);
        goto fail;
    }
    uint64_t accounted = iv->counters.requests + iv->not_sent + iv->dropped;
    if (iv->hist->total > accounted) {
        bad(&w, "hist", "holds %llu latencies, more than the %llu requests counted",
            (unsigned long long)iv->hist->total, (unsigned long long)accounted);
        goto fail;
    }
    return 0;
fail:
    dist_interval_reset(iv);
    return -1;
}

json_t *dist_intervals_parse_body(const char *body, size_t len, struct dist_interval *scratch,
                                  char *err, size_t errlen)
{
    json_error_t e;
    json_t *j = json_loadb(body ? body : "", body ? len : 0, JSON_REJECT_DUPLICATES, &e);
    if (!j) {
        err_set(err, errlen, "body: invalid JSON at line %d column %d: %s", e.line, e.column,
                e.text);
        return NULL;
    }
    json_t *list = NULL;
    if (!json_is_object(j)) {
        err_set(err, errlen, "body: expected an interval or {\"intervals\": [...]}");
        goto fail;
    }
    if (!json_object_get(j, "intervals")) {
        if (dist_interval_from_json(scratch, j, NULL, err, errlen) < 0)
            goto fail;
        list = json_pack("[O]", j);
        json_decref(j);
        return list;
    }
    if (json_object_size(j) != 1) {
        err_set(err, errlen, "body: {\"intervals\": [...]} has no other field");
        goto fail;
    }
    list = json_incref(json_object_get(j, "intervals"));
    size_t n = json_array_size(list);
    if (!json_is_array(list) || n == 0 || n > DIST_POST_MAX) {
        err_set(err, errlen, "intervals: expected a list of 1 to %d intervals", DIST_POST_MAX);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        char path[32];
        snprintf(path, sizeof path, "intervals[%zu]", i);
        if (dist_interval_from_json(scratch, json_array_get(list, i), path, err, errlen) < 0)
            goto fail;
    }
    json_decref(j);
    return list;
fail:
    json_decref(list);
    json_decref(j);
    return NULL;
}

/* ---- from the load engine ---- */

static int node_add(struct dist_interval *iv, const char *name, uint64_t requests,
                    uint64_t failures)
{
    if (!requests && !failures)
        return 0;
    for (size_t i = 0; i < iv->node_count; i++)
        if (strcmp(iv->nodes[i].name, name) == 0) {
            iv->nodes[i].requests += requests;
            iv->nodes[i].failures += failures;
            return 0;
        }
    if (iv->node_count == LOAD_MAX_NODES)
        return -1;
    struct dist_node_count *n = &iv->nodes[iv->node_count++];
    snprintf(n->name, sizeof n->name, "%s", name);
    n->requests = requests;
    n->failures = failures;
    return 0;
}

int dist_interval_from_second(struct dist_interval *iv, const struct load_second *second,
                              const char (*node_names)[LOAD_NODE_NAME], size_t node_count,
                              uint64_t second_us, char *err, size_t errlen)
{
    char msg[ERR_SIZE];
    iv->counters = second->counters;
    iv->second_us = second_us;
    hist_reset(iv->hist);
    if (second->hist && hist_decode(iv->hist, second->hist, msg, sizeof msg) < 0)
        return err_set(err, errlen, "the engine's histogram of a second: %s", msg);
    if (second->open_hist && !second->hist)
        hist_merge(iv->hist, second->open_hist);
    iv->node_count = 0;
    for (size_t i = 0; i < node_count && i < LOAD_MAX_NODES; i++)
        if (node_add(iv, node_names[i], second->node_requests[i], second->node_failures[i]) < 0)
            return err_set(err, errlen, "more than %d nodes", LOAD_MAX_NODES);
    return 0;
}

void dist_result_node_names(const struct load_result *r, char (*names)[LOAD_NODE_NAME])
{
    for (size_t i = 0; i < r->total.node_count; i++)
        memcpy(names[i], r->total.nodes[i].name, LOAD_NODE_NAME);
}

static uint64_t minus(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

/* The run's statuses, the DIST_STATUS_CODES_MAX most frequent when it saw more, by code. */
static void final_statuses(struct dist_interval *iv, const struct load_result *r)
{
    iv->status_count = 0;
    for (int code = 100; code < LOAD_STATUS_MAX; code++) {
        uint64_t n = r->total.status[code];
        if (!n)
            continue;
        if (iv->status_count < DIST_STATUS_CODES_MAX) {
            iv->statuses[iv->status_count++] = (struct dist_status_count){(uint16_t)code, n};
            continue;
        }
        size_t least = 0; /* full: n replaces the least frequent when it is more */
        for (size_t i = 1; i < iv->status_count; i++)
            if (iv->statuses[i].count < iv->statuses[least].count)
                least = i;
        if (n > iv->statuses[least].count)
            iv->statuses[least] = (struct dist_status_count){(uint16_t)code, n};
    }
    qsort(iv->statuses, iv->status_count, sizeof *iv->statuses, by_code);
}

int dist_interval_final(struct dist_interval *iv, const struct load_result *r, uint64_t second_us,
                        char *err, size_t errlen)
{
    struct hist *seen = hist_new();
    if (!seen)
        return err_set(err, errlen, "out of memory");
    struct counters counted = {0};
    uint64_t node_req[LOAD_MAX_NODES] = {0}, node_fail[LOAD_MAX_NODES] = {0};
    char msg[ERR_SIZE];
    for (size_t s = 0; s < r->seconds; s++) {
        const struct load_second *e = &r->timeline[s];
        counters_merge(&counted, &e->counters);
        if (e->hist) {
            if (hist_decode(iv->hist, e->hist, msg, sizeof msg) < 0) {
                hist_free(seen);
                return err_set(err, errlen, "the engine's histogram of second %zu: %s", s + 1, msg);
            }
            hist_merge(seen, iv->hist);
        }
        for (size_t i = 0; i < r->total.node_count; i++) {
            node_req[i] += e->node_requests[i];
            node_fail[i] += e->node_failures[i];
        }
    }
    /* the rest: what the totals counted beyond the seconds */
    const struct counters *t = &r->total.counters;
    hist_reset(iv->hist);
    hist_merge(iv->hist, r->total.latency);
    hist_subtract(iv->hist, seen);
    hist_free(seen);
    iv->counters.requests = 0;
    for (int i = 0; i < COUNTER_CLASSES; i++) {
        iv->counters.by_class[i] = minus(t->by_class[i], counted.by_class[i]);
        iv->counters.requests += iv->counters.by_class[i];
    }
    iv->counters.bytes_in = minus(t->bytes_in, counted.bytes_in);
    iv->counters.bytes_out = minus(t->bytes_out, counted.bytes_out);
    iv->node_count = 0;
    for (size_t i = 0; i < r->total.node_count; i++) {
        const struct counters *nc = &r->total.nodes[i].counters;
        uint64_t req = minus(nc->requests, node_req[i]);
        uint64_t fail = minus(counters_failures(nc), node_fail[i]);
        node_add(iv, r->total.nodes[i].name, req, fail < req ? fail : req);
    }
    iv->second_us = second_us;
    iv->final = true;
    iv->not_sent = r->total.not_sent;
    iv->dropped = r->total.dropped;
    iv->elapsed_s = r->elapsed_s > 0 ? r->elapsed_s : 0;
    iv->breaker_tripped = r->breaker_tripped;
    iv->interrupted = r->interrupted;
    final_statuses(iv, r);
    iv->has_connections = true;
    iv->clients = r->clients;
    iv->connects = r->connects;
    iv->connections_peak = r->connections_peak;
    return 0;
}
