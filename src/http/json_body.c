/* json_body.c -- request bodies as JSON objects with known keys (see json_body.h). */
#include "http/json_body.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Writes "body: unknown field 'key', expected a, b or c" into msg. */
static void unknown_key(const char *key, const char *const keys[], char *msg, size_t msglen)
{
    int n = snprintf(msg, msglen, "body: unknown field '%.64s', expected ", key);
    size_t used = n < 0 ? 0 : (size_t)n;
    for (size_t i = 0; keys[i] && used < msglen; i++) {
        const char *sep = i == 0 ? "" : keys[i + 1] ? ", " : " or ";
        n = snprintf(msg + used, msglen - used, "%s%s", sep, keys[i]);
        used += n < 0 ? 0 : (size_t)n;
    }
}

json_t *json_body_object(const char *body, size_t len, const char *const keys[], char *msg,
                         size_t msglen)
{
    json_error_t e;
    json_t *j = json_loadb(body ? body : "", body ? len : 0, JSON_REJECT_DUPLICATES, &e);
    if (!j) {
        snprintf(msg, msglen, "body: invalid JSON at line %d column %d: %s", e.line, e.column, e.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        snprintf(msg, msglen, "body: expected a JSON object");
        json_decref(j);
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
        bool known = keys == NULL;
        for (size_t i = 0; !known && keys[i]; i++) known = strcmp(keys[i], key) == 0;
        if (!known) {
            unknown_key(key, keys, msg, msglen);
            json_decref(j);
            return NULL;
        }
    }
    return j;
}
