/* fuzz_task.c -- the task bodies of POST /api/v1/tasks (dist_task_from_body): a JSON body in
 * either form, or any other input as the text of {"config_file": ...}. A refused body says
 * why; an accepted task passes dist_task_check, survives the allow-target check, and the
 * config an assignment carries (dist_task_to_config) reads back to the same task: the
 * worker runs what the user asked for. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dist/task.h"
#include "fuzz_util.h"

/* A header's name and value ("Name: value", the value without its leading blanks). */
static void header_split(const char *h, size_t *name_len, const char **value)
{
    const char *colon = strchr(h, ':');
    *name_len = colon ? (size_t)(colon - h) : strlen(h);
    *value = colon ? colon + 1 + strspn(colon + 1, " \t") : "";
}

static int same_string(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* What differs between a and b that a worker would load differently, or NULL. */
static const char *task_difference(const struct dist_task *a, const struct dist_task *b)
{
    const struct bench_options *x = &a->options, *y = &b->options;
    if (x->url_count != y->url_count) return "the URL count";
    for (size_t i = 0; i < x->url_count; i++)
        if (strcmp(x->urls[i], y->urls[i]) != 0) return "a URL";
    if (x->lb != y->lb) return "the balancer";
    if (x->seed_set != y->seed_set || (x->seed_set && x->seed != y->seed)) return "the seed";
    if ((x->connections ? x->connections : 10) != (y->connections ? y->connections : 10))
        return "the concurrency";
    if (x->threads != y->threads) return "the threads";
    if (x->duration_us != y->duration_us) return "the duration";
    if (x->requests != y->requests) return "the requests";
    if (x->rate != y->rate) return "the rate";
    if (x->ramp_up_us != y->ramp_up_us) return "the ramp-up";
    if (!same_string(x->method, y->method)) return "the method";
    if (x->header_count != y->header_count) return "the header count";
    for (size_t i = 0; i < x->header_count; i++) {
        size_t xn, yn;
        const char *xv, *yv;
        header_split(x->headers[i], &xn, &xv);
        header_split(y->headers[i], &yn, &yv);
        if (xn != yn || strncmp(x->headers[i], y->headers[i], xn) != 0) return "a header's name";
        if (strcmp(xv, yv) != 0) return "a header's value";
    }
    if (x->body_len != y->body_len || (x->body_len && memcmp(x->body, y->body, x->body_len) != 0))
        return "the body";
    if (x->timeout_ms != y->timeout_ms) return "the timeout";
    if (!same_string(x->node_header, y->node_header)) return "the node header";
    if (x->max_failures != y->max_failures) return "the breaker's failures";
    if (x->threshold_count != y->threshold_count) return "the threshold count";
    for (size_t i = 0; i < x->threshold_count; i++)
        if (strcmp(x->thresholds[i].text, y->thresholds[i].text) != 0) return "a threshold";
    if (a->split != b->split) return "the split";
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct dist_allow allow[3];
    static size_t allow_count;
    char err[1024];
    if (!allow_count) {
        static const char *const entries[] = {"127.0.0.0/8", "localhost", "fd00::/8"};
        for (; allow_count < 3; allow_count++)
            if (dist_allow_parse(&allow[allow_count], entries[allow_count], err, sizeof err) < 0)
                fuzz_fail("a built-in allow entry refused", err);
    }
    struct dist_task task, again;
    dist_task_init(&task);
    dist_task_init(&again);
    err[0] = '\0';
    json_t *body = json_loadb((const char *)data, size, 0, NULL);
    int rc = body ? dist_task_from_body(&task, body, err, sizeof err)
                  : dist_task_from_text(&task, "config_file", (const char *)data, size, err,
                                        sizeof err);
    json_decref(body);
    if (rc < 0) {
        if (!err[0]) fuzz_fail("a refused task without a message", "");
        goto out;
    }
    if (dist_task_check(&task, err, sizeof err) < 0)
        fuzz_fail("an accepted task that its own check refuses", err);
    err[0] = '\0';
    if (dist_task_check_targets(&task, allow, allow_count, err, sizeof err) < 0 && !err[0])
        fuzz_fail("a refused target without a message", "");
    json_t *config = dist_task_to_config(&task);
    if (!config) fuzz_fail("an accepted task without a config", "");
    if (dist_task_from_config(&again, config, err, sizeof err) < 0) {
        char *text = json_dumps(config, JSON_COMPACT);
        fprintf(stderr, "config: %s\n", text ? text : "?");
        free(text);
        fuzz_fail("an assignment's config that does not read back", err);
    }
    json_decref(config);
    const char *diff = task_difference(&task, &again);
    if (diff) fuzz_fail("an assignment's config that changes the task", diff);
out:
    dist_task_free(&task);
    dist_task_free(&again);
    return 0;
}
