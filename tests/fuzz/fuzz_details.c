/* fuzz_details.c -- the body of POST /api/v1/workers/{id}/details (dist_details_parse): a
 * refused body says why and leaves nothing allocated; an accepted one has checked fields, and
 * its JSON (dist_details_to_json, what a worker sends) reads back to the same details. */
#include <stdlib.h>
#include <string.h>

#include "dist/protocol.h"
#include "fuzz_util.h"

static void check_text(const char *s, const char *what)
{
    for (const char *p = s; *p; p++)
        if (*p < ' ' || *p > '~') fuzz_fail(what, s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024] = "";
    struct dist_details d, again;
    if (dist_details_parse(&d, (const char *)data, size, err, sizeof err) < 0) {
        if (!err[0]) fuzz_fail("refused details without a message", "");
        if (d.list || d.count) fuzz_fail("refused details that hold something", err);
        return 0;
    }
    if (d.count > DIST_DETAILS_POST_MAX) fuzz_fail("too many details accepted", "");
    for (size_t i = 0; i < d.count; i++) {
        const struct dist_detail *x = &d.list[i];
        if (x->at_us < 0 || x->latency_us < 0 || x->status < 0 || x->status > 999)
            fuzz_fail("an accepted detail out of range", "");
        if (!x->class[0]) fuzz_fail("an accepted detail without a class", "");
        check_text(x->class, "an accepted class with a bad byte");
        check_text(x->node, "an accepted node with a bad byte");
        check_text(x->error, "an accepted error with a bad byte");
    }
    json_t *j = dist_details_to_json(&d);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) fuzz_fail("accepted details that do not encode", "");
    if (dist_details_parse(&again, text, strlen(text), err, sizeof err) < 0)
        fuzz_fail("encoded details that do not read back", err);
    if (again.count != d.count || strcmp(again.task_id, d.task_id) != 0)
        fuzz_fail("details that read back different", text);
    for (size_t i = 0; i < d.count; i++)
        if (memcmp(&again.list[i], &d.list[i], sizeof d.list[i]) != 0)
            fuzz_fail("a detail that reads back different", text);
    free(text);
    dist_details_free(&again);
    dist_details_free(&d);
    return 0;
}
