/* admin_body.c -- the JSON bodies of the gateway's admin API, decoded and validated. */
#include "cluster/admin_body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http/json_body.h"

/* The member key of object, NULL when absent or null. */
static json_t *given(json_t *object, const char *key)
{
    json_t *v = json_object_get(object, key);
    return json_is_null(v) ? NULL : v;
}

static bool weight_ok(const json_t *weight)
{
    return json_is_integer(weight) && json_integer_value(weight) >= 0 &&
           json_integer_value(weight) <= REGISTRY_WEIGHT_MAX;
}

void admin_register_free(struct admin_register *r)
{
    free(r->node_id);
    free(r->host);
    free(r->metadata);
    memset(r, 0, sizeof *r);
}

int admin_register_decode(const char *body, size_t len, struct admin_register *out, char *msg,
                          size_t msglen)
{
    static const char *const keys[] = {"node_id", "host", "port", "weight", "metadata", "group",
                                       NULL};
    memset(out, 0, sizeof *out);
    json_t *j = json_body_object(body, len, keys, msg, msglen);
    if (!j) return -1;
    json_t *id = json_object_get(j, "node_id"), *port = json_object_get(j, "port");
    json_t *host = given(j, "host"), *weight = given(j, "weight"), *meta = given(j, "metadata"),
           *group = given(j, "group");
    const char *bad = NULL;
    if (!json_is_string(id) || !json_string_length(id) ||
        json_string_length(id) >= REGISTRY_ID_MAX)
        bad = "node_id: expected a string of 1 to 63 characters";
    else if (registry_id_check(json_string_value(id), NULL, 0) < 0)
        bad = "node_id: expected no spaces or control characters (it names the node in "
              "answers' headers and in the log)";
    else if (host && (!json_is_string(host) || !json_string_length(host) ||
                      json_string_length(host) >= REGISTRY_HOST_MAX))
        bad = "host: expected an IP address or a host name (1 to 255 characters)";
    else if (!json_is_integer(port) || json_integer_value(port) < 1 ||
             json_integer_value(port) > 65535)
        bad = "port: expected an integer 1..65535";
    else if (weight && !weight_ok(weight))
        bad = "weight: expected an integer 0..100";
    else if (meta && !json_is_object(meta))
        bad = "metadata: expected an object";
    else if (group && (!json_is_string(group) || json_string_length(group) >= ADMIN_GROUP_MAX))
        bad = "group: expected a group name (at most 63 characters)";
    int rc = -1;
    if (bad) {
        snprintf(msg, msglen, "%s", bad);
        goto out;
    }
    rc = ADMIN_BODY_ENOMEM;
    out->port = (int)json_integer_value(port);
    out->weight = weight ? (int)json_integer_value(weight) : 1;
    if (!(out->node_id = strdup(json_string_value(id))) ||
        (host && !(out->host = strdup(json_string_value(host)))) ||
        (meta && !(out->metadata = json_dumps(meta, JSON_COMPACT)))) {
        admin_register_free(out);
        snprintf(msg, msglen, "out of memory");
        goto out;
    }
    if (group) {
        out->has_group = true;
        snprintf(out->group, sizeof out->group, "%s", json_string_value(group));
    }
    rc = 0;
out:
    json_decref(j);
    return rc;
}

int admin_update_decode(const char *body, size_t len, struct admin_update *out, char *msg,
                        size_t msglen)
{
    static const char *const keys[] = {"weight", "state", NULL};
    memset(out, 0, sizeof *out);
    json_t *j = json_body_object(body, len, keys, msg, msglen);
    if (!j) return -1;
    int rc = -1;
    json_t *weight = json_object_get(j, "weight"), *state = json_object_get(j, "state");
    if (weight && !weight_ok(weight))
        snprintf(msg, msglen, "weight: expected an integer 0..100");
    else if (state && (!json_is_string(state) ||
                       registry_admin_parse(json_string_value(state), &out->state) < 0))
        snprintf(msg, msglen, "state: expected active, drain or maint");
    else if (!weight && !state)
        snprintf(msg, msglen, "expected weight and/or state");
    else
        rc = 0;
    if (rc == 0) {
        out->weight = weight ? (int)json_integer_value(weight) : -1;
        out->has_state = state != NULL;
    }
    json_decref(j);
    return rc;
}

int admin_config_decode(const char *body, size_t len, char **text, char *msg, size_t msglen)
{
    *text = NULL;
    json_t *j = json_body_object(body, len, NULL, msg, msglen);
    if (!j) return -1;
    *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (*text) return 0;
    snprintf(msg, msglen, "out of memory");
    return ADMIN_BODY_ENOMEM;
}
