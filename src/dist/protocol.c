/* protocol.c -- register, heartbeat and details bodies: parsed and checked (see protocol.h). */
#include "dist/protocol.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "dist/master.h"
#include "http/json_body.h"
#include "stats/counters.h"

/* 1..max printable ASCII bytes; no space or '#' when strict (an id). */
static bool printable(const char *s, size_t max, bool strict)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (const char *p = s; *p; p++)
        if (*p < ' ' || *p > '~' || (strict && (*p == ' ' || *p == '#')))
            return false;
    return true;
}

/* A whole number in [lo, hi] (a JSON integer, or a real with no fraction is refused). */
static bool whole(const json_t *v, int64_t lo, int64_t hi)
{
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

int dist_register_parse(struct dist_register *r, const char *body, size_t len, char *err,
                        size_t errlen)
{
    static const char *const keys[] = {"id", "region", "cores", "version", "pid", "running", NULL};
    memset(r, 0, sizeof *r);
    json_t *b = json_body_object(body, len, keys, err, errlen);
    if (!b)
        return -1;
    const char *id = json_string_value(json_object_get(b, "id"));
    json_t *region = json_object_get(b, "region"), *version = json_object_get(b, "version");
    json_t *cores = json_object_get(b, "cores"), *pid = json_object_get(b, "pid");
    json_t *running = json_object_get(b, "running");
    const char *bad = NULL;
    if (!id || !printable(id, DIST_WORKER_ID_MAX, true))
        bad = "id: expected 1 to 56 printable characters without spaces or '#'";
    else if (region && (!json_is_string(region) ||
                        (json_string_value(region)[0] &&
                         !printable(json_string_value(region), DIST_ID_MAX - 1, true))))
        bad = "region: expected up to 63 printable characters without spaces or '#'";
    else if (cores && !whole(cores, 1, 65536))
        bad = "cores: expected a whole number from 1 to 65536";
    else if (version && (!json_is_string(version) ||
                         (json_string_value(version)[0] &&
                          !printable(json_string_value(version), DIST_ID_MAX - 1, false))))
        bad = "version: expected up to 63 printable characters";
    else if (pid && !whole(pid, 0, (int64_t)DIST_COUNT_MAX))
        bad = "pid: expected a whole number";
    else if (running && (!json_is_array(running) || json_array_size(running) > DIST_RUNNING_MAX))
        bad = "running: expected an array of at most 64 assignment ids";
    for (size_t i = 0; !bad && running && i < json_array_size(running); i++) {
        json_t *v = json_array_get(running, i);
        if (!whole(v, 0, INT64_MAX))
            bad = "running: expected assignment ids (whole numbers)";
        else
            r->running[r->running_count++] = json_integer_value(v);
    }
    if (bad) {
        json_decref(b);
        memset(r, 0, sizeof *r);
        return err_set(err, errlen, "%s", bad);
    }
    snprintf(r->id, sizeof r->id, "%s", id);
    snprintf(r->region, sizeof r->region, "%s", region ? json_string_value(region) : "");
    snprintf(r->version, sizeof r->version, "%s", version ? json_string_value(version) : "");
    r->cores = cores ? (int)json_integer_value(cores) : 1;
    r->pid = pid ? json_integer_value(pid) : 0;
    json_decref(b);
    return 0;
}

int dist_heartbeat_parse(struct dist_heartbeat *h, const char *body, size_t len, char *err,
                         size_t errlen)
{
    static const char *const keys[] = {"session", "cpu", "task_id", NULL};
    memset(h, 0, sizeof *h);
    json_t *b = json_body_object(body, len, keys, err, errlen);
    if (!b)
        return -1;
    const char *session = json_string_value(json_object_get(b, "session"));
    json_t *cpu = json_object_get(b, "cpu");
    int rc = 0;
    if (!session || !printable(session, DIST_SESSION_MAX, true))
        rc = err_set(err, errlen, "session: expected the session of the registration");
    else if (cpu && (!json_is_number(cpu) || !(json_number_value(cpu) >= 0) ||
                     json_number_value(cpu) > 1))
        rc = err_set(err, errlen, "cpu: expected a number from 0 to 1");
    if (rc == 0) {
        snprintf(h->session, sizeof h->session, "%s", session);
        h->has_cpu = cpu != NULL;
        h->cpu = cpu ? json_number_value(cpu) : 0;
    }
    json_decref(b);
    return rc;
}

void dist_details_free(struct dist_details *d)
{
    free(d->list);
    memset(d, 0, sizeof *d);
}

/* Reads details[i] into out. Returns 0, or -1 with a message. */
static int detail_parse(struct dist_detail *out, const json_t *j, size_t i, char *err,
                        size_t errlen)
{
    static const char *const keys[] = {"at_us", "ok", "status", "class", "latency_us", "node",
                                       "error", NULL};
    if (!json_is_object(j))
        return err_set(err, errlen, "details[%zu]: expected an object {at_us, ok, status, class, "
                       "latency_us, node, error}", i);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)j, key, v) {
        bool known = false;
        for (int k = 0; keys[k] && !known; k++)
            known = strcmp(key, keys[k]) == 0;
        if (!known)
            return err_set(err, errlen, "details[%zu]: unknown field '%.40s', expected at_us, "
                           "ok, status, class, latency_us, node or error", i, key);
    }
    json_t *at = json_object_get(j, "at_us"), *ok = json_object_get(j, "ok");
    json_t *status = json_object_get(j, "status"), *lat = json_object_get(j, "latency_us");
    const char *cls = json_string_value(json_object_get(j, "class"));
    json_t *node = json_object_get(j, "node"), *error = json_object_get(j, "error");
    if (!whole(at, 0, (int64_t)DIST_COUNT_MAX))
        return err_set(err, errlen, "details[%zu].at_us: expected a time in Unix microseconds", i);
    if (!json_is_boolean(ok))
        return err_set(err, errlen, "details[%zu].ok: expected true or false", i);
    if (!whole(status, 0, 999))
        return err_set(err, errlen, "details[%zu].status: expected an HTTP status (0 for none)",
                       i);
    if (!cls || !printable(cls, DIST_DETAIL_CLASS_MAX, true))
        return err_set(err, errlen, "details[%zu].class: expected 1 to 32 printable characters",
                       i);
    if (!whole(lat, 0, (int64_t)DIST_COUNT_MAX))
        return err_set(err, errlen, "details[%zu].latency_us: expected a whole number of "
                       "microseconds", i);
    if (node && (!json_is_string(node) || (json_string_value(node)[0] &&
                                           !printable(json_string_value(node),
                                                      DIST_DETAIL_NODE_MAX, false))))
        return err_set(err, errlen, "details[%zu].node: expected up to 127 printable "
                       "characters", i);
    if (error && (!json_is_string(error) || (json_string_value(error)[0] &&
                                             !printable(json_string_value(error),
                                                        DIST_DETAIL_ERROR_MAX, false))))
        return err_set(err, errlen, "details[%zu].error: expected up to 200 printable "
                       "characters", i);
    out->at_us = json_integer_value(at);
    out->ok = json_is_true(ok);
    out->status = (int)json_integer_value(status);
    snprintf(out->class, sizeof out->class, "%s", cls);
    out->latency_us = json_integer_value(lat);
    snprintf(out->node, sizeof out->node, "%s", node ? json_string_value(node) : "");
    snprintf(out->error, sizeof out->error, "%s", error ? json_string_value(error) : "");
    return 0;
}

int dist_details_parse(struct dist_details *d, const char *body, size_t len, char *err,
                       size_t errlen)
{
    static const char *const keys[] = {"task_id", "details", NULL};
    memset(d, 0, sizeof *d);
    json_t *b = json_body_object(body, len, keys, err, errlen);
    if (!b)
        return -1;
    const char *tid = json_string_value(json_object_get(b, "task_id"));
    json_t *list = json_object_get(b, "details");
    int rc = 0;
    if (!tid || !printable(tid, DIST_ID_MAX - 1, true))
        rc = err_set(err, errlen, "task_id: expected a task id");
    else if (!json_is_array(list) || json_array_size(list) > DIST_DETAILS_POST_MAX)
        rc = err_set(err, errlen, "details: expected an array of at most %d requests",
                     DIST_DETAILS_POST_MAX);
    size_t n = rc == 0 ? json_array_size(list) : 0;
    if (n && !(d->list = calloc(n, sizeof *d->list)))
        rc = err_set(err, errlen, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = detail_parse(&d->list[i], json_array_get(list, i), i, err, errlen);
        d->count = i + 1;
    }
    if (rc == 0)
        snprintf(d->task_id, sizeof d->task_id, "%s", tid);
    else
        dist_details_free(d);
    json_decref(b);
    return rc;
}

json_t *dist_details_to_json(const struct dist_details *d)
{
    json_t *list = json_array();
    json_t *b = json_pack("{s:s,s:o}", "task_id", d->task_id, "details", list);
    if (!b)
        return NULL;
    for (size_t i = 0; i < d->count; i++) {
        const struct dist_detail *x = &d->list[i];
        json_t *j = json_pack("{s:I,s:b,s:i,s:s,s:I,s:s,s:s}", "at_us", (json_int_t)x->at_us,
                              "ok", x->ok, "status", x->status, "class", x->class, "latency_us",
                              (json_int_t)x->latency_us, "node", x->node, "error", x->error);
        if (!j || json_array_append_new(list, j) < 0) {
            json_decref(b);
            return NULL;
        }
    }
    return b;
}

/* The class name of a record: counter_class_name, "not_sent" or "dropped". */
static const char *record_class(uint8_t cls)
{
    if (cls == LOAD_RECORD_NOT_SENT)
        return "not_sent";
    if (cls == LOAD_RECORD_DROPPED)
        return "dropped";
    return cls < COUNTER_CLASSES ? counter_class_name((enum counter_class)cls) : "unknown";
}

int dist_details_from_run(struct dist_details *d, const struct load_result *r, int64_t origin_us)
{
    memset(d, 0, sizeof *d);
    if (!r->detail_count)
        return 0;
    d->list = calloc(r->detail_count, sizeof *d->list);
    if (!d->list)
        return -1;
    for (size_t i = 0; i < r->detail_count; i++) {
        const struct load_record *rec = &r->details[i];
        struct dist_detail *x = &d->list[d->count++];
        int64_t at = origin_us + rec->sent_us;
        x->at_us = at < 0 ? 0 : at;
        x->ok = rec->cls == COUNTER_OK;
        x->status = rec->status < 1000 ? rec->status : 0;
        snprintf(x->class, sizeof x->class, "%s", record_class(rec->cls));
        int64_t lat = rec->end_us - rec->intended_us;
        x->latency_us = lat < 0 ? 0 : lat;
        if (rec->node < r->total.node_count) {
            snprintf(x->node, sizeof x->node, "%s", r->total.nodes[rec->node].name);
            for (char *p = x->node; *p; p++) /* a node header's value: kept printable */
                if (*p < ' ' || *p > '~')
                    *p = '?';
        }
        if (!x->ok) {
            if (rec->status)
                snprintf(x->error, sizeof x->error, "HTTP %u", (unsigned)rec->status);
            else
                snprintf(x->error, sizeof x->error, "%s", record_class(rec->cls));
        }
    }
    return 0;
}
