/* cmd_bench_master.c -- `herd bench --master URL`: the same bench, run by a master's workers:
 * create the task, start it, follow it live, print the merged summary, exit like a local run. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/err.h"
#include "base/mtime.h"
#include "cli/cli.h"
#include "dist/task.h"
#include "http/fetch.h"
#include "load/options.h"
#include "report/report.h"

#define CALL_TIMEOUT_MS 15000

static volatile sig_atomic_t cancel_asked;

static void on_sigint(int signum)
{
    (void)signum;
    cancel_asked = 1;
}

struct master_client {
    const char *url;
    char headers[400];
};

/* One call to the master. Returns the status (the JSON answer in *out, NULL when none), or -1
 * with a message printed (unless quiet). */
static int call_quiet(const struct master_client *mc, const char *method, const char *path,
                      const char *body, json_t **out, bool quiet)
{
    char err[ERR_SIZE];
    char *text = NULL;
    int status = 0;
    *out = NULL;
    if (http_fetch_with(mc->url, method, path, mc->headers[0] ? mc->headers : NULL, body,
                        CALL_TIMEOUT_MS, &status, &text, err, sizeof err) < 0) {
        if (!quiet)
            fprintf(stderr, "herd bench: the master at %s does not answer: %s\n", mc->url, err);
        return -1;
    }
    *out = json_loads(text, 0, NULL);
    free(text);
    return status;
}

static int call(const struct master_client *mc, const char *method, const char *path,
                const char *body, json_t **out)
{
    return call_quiet(mc, method, path, body, out, false);
}

static const char *error_of(const json_t *j)
{
    const char *e = json_string_value(json_object_get(j, "error"));
    return e ? e : "(no message)";
}

/* An answer that is not the expected status: the exit code it means, with a message. 409 is
 * the start refused (no active worker in the region, an id that is not an active worker):
 * the command line asked for something the master cannot do, as 400 is. */
static int refused(const char *what, int status, const json_t *j)
{
    if (status < 0)
        return CLI_EXIT_RUNTIME;
    fprintf(stderr, "herd bench: %s: %d %s\n", what, status, error_of(j));
    return status == 400 || status == 401 || status == 404 || status == 409 ? CLI_EXIT_USAGE
                                                                            : CLI_EXIT_RUNTIME;
}

int bench_master_run(struct bench_options *o, const char *master, const char *region,
                     const char *workers, const char *token, const char *format,
                     const char *out_path, bool quiet)
{
    struct master_client mc = {.url = master};
    if (token && token[0])
        snprintf(mc.headers, sizeof mc.headers, "Authorization: Bearer %s\r\n", token);
    char err[ERR_SIZE], path[256];
    struct dist_task t;
    dist_task_init(&t);
    bench_options_free(&t.options);
    t.options = *o; /* the task owns the options now */
    bench_options_default(o);
    int rc = CLI_EXIT_USAGE;
    json_t *ans = NULL, *doc = NULL;
    char *body = NULL;
    if (dist_task_check(&t, err, sizeof err) < 0) {
        fprintf(stderr, "herd bench: %s\n", err);
        goto out;
    }
    json_t *req = json_pack("{s:o}", "config", dist_task_to_config(&t));
    body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    int status = call(&mc, "POST", "/api/v1/tasks", body, &ans);
    const char *id = json_string_value(json_object_get(ans, "task_id"));
    if (status != 201 || !id) {
        rc = refused("the master refused the task", status, ans);
        goto out;
    }
    char task_id[64];
    snprintf(task_id, sizeof task_id, "%s", id);
    json_decref(ans);
    free(body);
    json_t *sel = json_object();
    if (region)
        json_object_set_new(sel, "region", json_string(region));
    if (workers) {
        json_t *ids = json_array();
        char *copy = strdup(workers), *save = NULL;
        for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save))
            json_array_append_new(ids, json_string(w));
        free(copy);
        json_object_set_new(sel, "worker_ids", ids);
    }
    body = json_dumps(sel, JSON_COMPACT);
    json_decref(sel);
    snprintf(path, sizeof path, "/api/v1/tasks/%s/start", task_id);
    status = call(&mc, "POST", path, body, &ans);
    if (status != 200) {
        rc = refused("the task did not start", status, ans);
        /* the task was created for this run only: leave no pending task behind */
        json_t *c = NULL;
        snprintf(path, sizeof path, "/api/v1/tasks/%s/cancel", task_id);
        call_quiet(&mc, "POST", path, NULL, &c, true);
        json_decref(c);
        goto out;
    }
    if (!quiet)
        fprintf(stderr, "herd bench: task %s: %s\n", task_id,
                json_string_value(json_object_get(ans, "message")));
    json_decref(ans);
    ans = NULL;
    struct sigaction sa = {.sa_handler = on_sigint}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    cancel_asked = 0;
    bool cancel_sent = false;
    const char *state = "running";
    char final_state[32] = "", message[1024] = "";
    int failures_in_a_row = 0;
    for (;;) {
        if (cancel_asked && !cancel_sent) {
            json_t *c;
            snprintf(path, sizeof path, "/api/v1/tasks/%s/cancel", task_id);
            call(&mc, "POST", path, NULL, &c);
            json_decref(c);
            cancel_sent = true;
        }
        snprintf(path, sizeof path, "/api/v1/tasks/%s", task_id);
        status = call_quiet(&mc, "GET", path, NULL, &ans, failures_in_a_row > 0);
        if (status != 200) {
            if (failures_in_a_row == 0)
                fprintf(stderr, "herd bench: waiting for the master (the task goes on there)\n");
            json_decref(ans);
            ans = NULL;
            /* the master may be restarting: it keeps the task */
            if (++failures_in_a_row > 120) {
                fprintf(stderr, "herd bench: the master has not answered for 2 minutes; the "
                                "task %s goes on there\n", task_id);
                rc = CLI_EXIT_RUNTIME;
                sigaction(SIGINT, &old_int, NULL);
                sigaction(SIGTERM, &old_term, NULL);
                goto out;
            }
        } else {
            failures_in_a_row = 0;
            state = json_string_value(json_object_get(ans, "state"));
            if (!state)
                state = "?";
            const json_t *progress = json_object_get(ans, "progress");
            if (!quiet)
                fprintf(stderr, "[%5.1fs] %-9s %lld%s%lld requests, %lld failed\n",
                        json_number_value(json_object_get(progress, "elapsed_s")), state,
                        (long long)json_integer_value(json_object_get(progress, "requests")),
                        json_object_get(progress, "of") ? "/" : "",
                        (long long)json_integer_value(json_object_get(progress, "of")),
                        (long long)json_integer_value(
                            json_object_get(json_object_get(ans, "totals"), "failures")));
            if (strcmp(state, "running") != 0 && strcmp(state, "pending") != 0) {
                snprintf(final_state, sizeof final_state, "%s", state);
                snprintf(message, sizeof message, "%s",
                         json_string_value(json_object_get(ans, "message"))
                             ? json_string_value(json_object_get(ans, "message"))
                             : "");
                break;
            }
            json_decref(ans);
            ans = NULL;
        }
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    json_decref(ans);
    ans = NULL;
    snprintf(path, sizeof path, "/api/v1/tasks/%s/report?format=json", task_id);
    status = call(&mc, "GET", path, NULL, &doc);
    if (status != 200 || !doc) {
        rc = refused("the task's report", status, doc);
        goto out;
    }
    rc = CLI_EXIT_OK;
    if (format && !out_path) {
        if (report_render(doc, format, stdout, err, sizeof err) < 0)
            rc = CLI_EXIT_RUNTIME;
    } else {
        report_render(doc, "text", stdout, err, sizeof err);
        if (out_path && report_write_file(doc, format ? format : "json", out_path, err,
                                          sizeof err) < 0) {
            fprintf(stderr, "herd bench: %s\n", err);
            rc = CLI_EXIT_RUNTIME;
        }
    }
    if (message[0])
        fprintf(stderr, "herd bench: task %s %s: %s\n", task_id, final_state, message);
    if (rc == CLI_EXIT_OK && strcmp(final_state, "failed") == 0) {
        rc = CLI_EXIT_RUNTIME;
    } else if (rc == CLI_EXIT_OK &&
               strcmp(json_string_value(json_object_get(doc, "verdict")) ?: "", "pass") != 0) {
        json_t *ths = json_object_get(doc, "thresholds");
        for (size_t i = 0; i < json_array_size(ths); i++) {
            json_t *th = json_array_get(ths, i);
            if (json_is_true(json_object_get(th, "pass")))
                continue;
            char text[64];
            const char *expr = json_string_value(json_object_get(th, "expr"));
            fprintf(stderr, "herd bench: threshold failed: %s (actual %s)\n", expr ? expr : "?",
                    report_actual(th, expr ? expr : "", text, sizeof text));
        }
        rc = CLI_EXIT_FAILED;
    }
out:
    free(body);
    json_decref(ans);
    json_decref(doc);
    dist_task_free(&t);
    return rc;
}
