/* keys.c -- key tables: checking mappings against them, and printing them as JSON Schema. */
#include "conf/keys.h"

#include <string.h>

#include "base/buf.h"
#include "base/err.h"

const char *const conf_load_metrics[] = {"p50",  "p75",    "p90", "p95",      "p99",
                                         "p99.9", "max",   "mean", "errors",  "rps",
                                         "failures", "requests", NULL};

static const struct conf_key *find(const struct conf_key table[], const char *name)
{
    for (const struct conf_key *k = table; k->name; k++)
        if (strcmp(k->name, name) == 0) return k;
    return NULL;
}

int conf_check_members(const struct conf_doc *doc, const struct conf_node *map,
                       const struct conf_key table[], char *err, size_t errlen)
{
    if (conf_expect_map(doc, map, err, errlen) < 0) return -1;
    struct buf list = {0};
    for (const struct conf_key *k = table; k->name; k++)
        buf_printf(&list, "%s%s", k == table ? "" : ", ", k->name);
    for (struct conf_node *n = map->first; n; n = n->next) {
        const struct conf_key *k = find(table, n->key);
        if (k) {
            n->declared = k;
            continue;
        }
        char path[256];
        conf_path(n, path, sizeof path);
        err_set(err, errlen, "%s:%d:%d: %s: unknown key '%s', expected %s%s", doc->name,
                n->key_line, n->key_col, path, n->key,
                table->name ? "one of: " : "none", list.data ? list.data : "");
        buf_free(&list);
        return -1;
    }
    for (const struct conf_key *k = table; k->name; k++) {
        if (!k->required || conf_get(map, k->name)) continue;
        buf_free(&list);
        return conf_error(doc, map, err, errlen, "missing '%s', %s", k->name, k->doc);
    }
    buf_free(&list);
    return 0;
}

/* ---- JSON Schema ---- */

#define NUMBER_RE "([0-9]+[.]?[0-9]*|[.][0-9]+)"
/* What mtime_parse_duration_us and size_parse_bytes read, as patterns (ECMA and POSIX alike). */
static const char duration_re[] = "^(" NUMBER_RE "(us|ms|s|m|h))+$|^" NUMBER_RE "$";
static const char size_re[] = "^" NUMBER_RE "(B|KB|KiB|MB|MiB|GB|GiB)?$";
static const char percent_re[] = "^" NUMBER_RE "%?$";

static json_t *describe(const struct conf_key *k);

static json_t *typed(const char *type)
{
    return json_pack("{s:s}", "type", type);
}

static json_t *quantity(const char *pattern, const char *number_type)
{
    return json_pack("{s:[{s:s,s:i},{s:s,s:s}]}", "anyOf", "type", number_type, "minimum", 0,
                     "type", "string", "pattern", pattern);
}

static json_t *members(const struct conf_key *k)
{
    json_t *o = json_pack("{s:s,s:{},s:b}", "type", "object", "properties",
                          "additionalProperties", 0);
    json_t *props = json_object_get(o, "properties"), *required = json_array();
    for (const struct conf_key *m = k->members; m && m->name; m++) {
        json_object_set_new(props, m->name, describe(m));
        if (m->required) json_array_append_new(required, json_string(m->name));
    }
    if (json_array_size(required)) json_object_set(o, "required", required);
    json_decref(required);
    if (k->one_member) {
        json_object_set_new(o, "minProperties", json_integer(1));
        json_object_set_new(o, "maxProperties", json_integer(1));
    }
    return o;
}

static json_t *expectations(const struct conf_key *k)
{
    json_t *o = json_pack("{s:s,s:{},s:b}", "type", "object", "properties",
                          "additionalProperties", 0);
    json_t *props = json_object_get(o, "properties");
    const char *const *lists[] = {k->choices, conf_load_metrics};
    for (size_t l = 0; l < 2; l++)
        for (const char *const *c = lists[l]; c && *c; c++)
            json_object_set_new(props, *c,
                                json_pack("{s:[s,s],s:s}", "type", "string", "number",
                                          "description", "VALUE (equality) or \"OP VALUE\", OP "
                                                         "one of == < <= > >="));
    return o;
}

/* The schema of one kind of value k may be. */
static json_t *one_kind(const struct conf_key *k, unsigned kind)
{
    switch (kind) {
    case CONF_K_STRING: {
        json_t *s = typed("string");
        if (k->choices) {
            json_t *e = json_array();
            for (const char *const *c = k->choices; *c; c++)
                json_array_append_new(e, json_string(*c));
            json_object_set_new(s, "enum", e);
        }
        return s;
    }
    case CONF_K_INT: return typed("integer");
    case CONF_K_NUMBER: return typed("number");
    case CONF_K_BOOL: return typed("boolean");
    case CONF_K_DURATION: return quantity(duration_re, "number");
    case CONF_K_SIZE: return quantity(size_re, "integer");
    case CONF_K_MAP: return members(k);
    case CONF_K_LIST: return json_pack("{s:s,s:o}", "type", "array", "items", describe(k->item));
    case CONF_K_NAMED:
        return json_pack("{s:s,s:o}", "type", "object", "additionalProperties", describe(k->item));
    case CONF_K_EXPECT: return expectations(k);
    case CONF_K_EMPTY: return typed("null");
    case CONF_K_PERCENT: return quantity(percent_re, "number");
    default: return json_object();
    }
}

/* A map or a list that may also be empty (`- connectivity:`) as one schema of type [object,
 * null], not anyOf: an editor then points at the member in error ("'falt' is not allowed")
 * instead of at the whole value ("not valid under any of the given schemas"). Their keywords
 * apply to objects or arrays only, so null stays valid. NULL for other pairs. */
static json_t *or_null(json_t *any)
{
    if (json_array_size(any) != 2) return NULL;
    json_t *null = typed("null"), *a = json_array_get(any, 0), *b = json_array_get(any, 1);
    if (json_equal(a, null))
        a = b;
    else if (!json_equal(b, null))
        a = NULL;
    json_decref(null);
    if (!a) return NULL;
    const char *type = json_string_value(json_object_get(a, "type"));
    if (!type || (strcmp(type, "object") != 0 && strcmp(type, "array") != 0)) return NULL;
    json_t *d = json_deep_copy(a);
    json_object_set_new(d, "type", json_pack("[s,s]", type, "null"));
    return d;
}

static json_t *describe(const struct conf_key *k)
{
    json_t *any = json_array();
    for (unsigned bit = 1; bit <= CONF_K_PERCENT; bit <<= 1)
        if (k->kinds & bit) json_array_append_new(any, one_kind(k, bit));
    json_t *d;
    if (json_array_size(any) == 1) {
        d = json_incref(json_array_get(any, 0));
    } else if (!(d = or_null(any))) {
        d = json_object();
        json_object_set(d, "anyOf", any);
    }
    json_decref(any);
    if (k->doc) json_object_set_new(d, "description", json_string(k->doc));
    return d;
}

json_t *conf_schema(const struct conf_key *root, const char *title)
{
    json_t *s = describe(root);
    if (!s) return NULL;
    json_object_set_new(s, "$schema", json_string("https://json-schema.org/draft/2020-12/schema"));
    json_object_set_new(s, "title", json_string(title));
    return s;
}
