/* conf.c -- YAML/JSON text -> node tree with line:column -> typed, validated values. */
#include "conf/conf.h"
#include "conf/keys.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/quantity.h"

#define CONF_MAX_DEPTH 64

static void node_free(struct conf_node *n)
{
    while (n) {
        struct conf_node *next = n->next;
        node_free(n->first);
        free(n->key);
        free(n->value);
        free(n);
        n = next;
    }
}

void conf_free(struct conf_doc *doc)
{
    node_free(doc->root);
    free(doc->name);
    doc->root = NULL;
    doc->name = NULL;
}

static struct conf_node *node_new(enum conf_type type, const yaml_mark_t *mark)
{
    struct conf_node *n = calloc(1, sizeof *n);
    if (n) {
        n->type = type;
        n->line = (int)mark->line + 1;
        n->col = (int)mark->column + 1;
        n->index = -1;
    }
    return n;
}

/* Builder state: a stack of open collections; a map alternates between key and value. */
struct builder {
    struct conf_doc *doc;
    struct conf_node *stack[CONF_MAX_DEPTH];
    int depth;
    struct conf_node *last_child[CONF_MAX_DEPTH];
    char *pending_key[CONF_MAX_DEPTH]; /* a map's key waiting for its value */
    int pending_line[CONF_MAX_DEPTH], pending_col[CONF_MAX_DEPTH];
};

static int builder_error(struct builder *b, int line, int col, char *err, size_t errlen,
                         const char *msg)
{
    return err_set(err, errlen, "%s:%d:%d: %s", b->doc->name, line, col, msg);
}

/* Attaches n (a scalar value or a new collection) where the parser is. Map keys are taken
 * here too: a scalar arriving where a map expects a key becomes pending. */
static int builder_add(struct builder *b, struct conf_node *n, bool *was_key, char *err,
                       size_t errlen)
{
    *was_key = false;
    if (b->depth == 0) {
        if (b->doc->root) { /* unreachable while DOCUMENT_START refuses a second document */
            int line = n->line, col = n->col;
            node_free(n);
            return builder_error(b, line, col, err, errlen, "more than one top-level value");
        }
        b->doc->root = n;
        return 0;
    }
    int d = b->depth - 1;
    struct conf_node *parent = b->stack[d];
    if (parent->type == CONF_MAP && !b->pending_key[d]) {
        if (n->type != CONF_SCALAR) {
            int line = n->line, col = n->col;
            node_free(n);
            return builder_error(b, line, col, err, errlen, "a mapping key must be a plain string");
        }
        if (conf_get(parent, n->value)) {
            char msg[256];
            snprintf(msg, sizeof msg, "duplicate key '%.200s'", n->value);
            int line = n->line, col = n->col;
            node_free(n);
            return builder_error(b, line, col, err, errlen, msg);
        }
        b->pending_key[d] = n->value;
        b->pending_line[d] = n->line;
        b->pending_col[d] = n->col;
        n->value = NULL;
        node_free(n);
        *was_key = true;
        return 0;
    }
    n->parent = parent;
    if (parent->type == CONF_MAP) {
        n->key = b->pending_key[d];
        n->key_line = b->pending_line[d];
        n->key_col = b->pending_col[d];
        b->pending_key[d] = NULL;
    } else {
        n->index = (int)parent->count;
    }
    if (b->last_child[d])
        b->last_child[d]->next = n;
    else
        parent->first = n;
    b->last_child[d] = n;
    parent->count++;
    return 0;
}

int conf_parse(struct conf_doc *doc, const char *name, const char *text, size_t len, char *err,
               size_t errlen)
{
    memset(doc, 0, sizeof *doc);
    doc->name = strdup(name ? name : "<input>");
    if (!doc->name) return err_set(err, errlen, "out of memory");

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        conf_free(doc);
        return err_set(err, errlen, "out of memory");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

    struct builder b = {.doc = doc};
    int rc = -1, documents = 0;
    bool done = false;
    while (!done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            const yaml_mark_t *m = &parser.problem_mark;
            char msg[300];
            snprintf(msg, sizeof msg, "invalid YAML: %s%s%s",
                     parser.problem ? parser.problem : "syntax error", parser.context ? " " : "",
                     parser.context ? parser.context : "");
            builder_error(&b, (int)m->line + 1, (int)m->column + 1, err, errlen, msg);
            goto out;
        }
        struct conf_node *n = NULL;
        bool was_key = false;
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1) {
                builder_error(&b, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1, err,
                              errlen,
                              "a second document (---): a herd file holds one; merge them or "
                              "use separate files");
                yaml_event_delete(&ev);
                goto out;
            }
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_ALIAS_EVENT:
            builder_error(&b, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1, err,
                          errlen, "aliases (*name) are not supported; write the value out");
            yaml_event_delete(&ev);
            goto out;
        case YAML_SCALAR_EVENT:
            n = node_new(CONF_SCALAR, &ev.start_mark);
            if (!n ||
                !(n->value = strndup((const char *)ev.data.scalar.value, ev.data.scalar.length))) {
                node_free(n);
                err_set(err, errlen, "out of memory");
                yaml_event_delete(&ev);
                goto out;
            }
            n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            if (builder_add(&b, n, &was_key, err, errlen) < 0) {
                yaml_event_delete(&ev);
                goto out;
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (b.depth == CONF_MAX_DEPTH) {
                builder_error(&b, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1, err,
                              errlen, "nested too deeply");
                yaml_event_delete(&ev);
                goto out;
            }
            n = node_new(ev.type == YAML_MAPPING_START_EVENT ? CONF_MAP : CONF_SEQ, &ev.start_mark);
            if (!n) {
                err_set(err, errlen, "out of memory");
                yaml_event_delete(&ev);
                goto out;
            }
            if (builder_add(&b, n, &was_key, err, errlen) < 0) {
                yaml_event_delete(&ev);
                goto out;
            }
            b.stack[b.depth] = n;
            b.last_child[b.depth] = NULL;
            b.pending_key[b.depth] = NULL;
            b.depth++;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            b.depth--;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    rc = 0;
out:
    for (int i = 0; i < CONF_MAX_DEPTH; i++) /* keys whose value never came (an error) */
        free(b.pending_key[i]);
    yaml_parser_delete(&parser);
    if (rc < 0) conf_free(doc);
    return rc;
}

int conf_load_file(struct conf_doc *doc, const char *path, char *err, size_t errlen)
{
    memset(doc, 0, sizeof *doc);
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct buf text = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (buf_append(&text, chunk, n) < 0) {
            fclose(f);
            buf_free(&text);
            return err_set(err, errlen, "%s: out of memory", path);
        }
    }
    int read_error = ferror(f);
    fclose(f);
    if (read_error) {
        buf_free(&text);
        return err_set(err, errlen, "%s: read error", path);
    }
    int rc = conf_parse(doc, path, text.data ? text.data : "", text.len, err, errlen);
    buf_free(&text);
    return rc;
}

struct conf_node *conf_get(const struct conf_node *map, const char *key)
{
    if (!map || map->type != CONF_MAP) return NULL;
    for (struct conf_node *n = map->first; n; n = n->next)
        if (n->key && strcmp(n->key, key) == 0) return n;
    return NULL;
}

void conf_path(const struct conf_node *node, char *out, size_t size)
{
    const struct conf_node *chain[CONF_MAX_DEPTH + 1];
    int depth = 0;
    for (const struct conf_node *n = node; n && n->parent && depth < CONF_MAX_DEPTH; n = n->parent)
        chain[depth++] = n;
    size_t used = 0;
    out[0] = '\0';
    for (int i = depth - 1; i >= 0 && used < size; i--) {
        const struct conf_node *n = chain[i];
        int w;
        if (n->key)
            w = snprintf(out + used, size - used, "%s%s", used ? "." : "", n->key);
        else
            w = snprintf(out + used, size - used, "[%d]", n->index);
        if (w < 0) break;
        used += (size_t)w;
    }
    if (out[0] == '\0') snprintf(out, size, "(top level)");
}

/* "NAME:LINE:COL: PATH", or "NAME.PATH" for a document without positions. */
static void conf_where(const struct conf_doc *doc, int line, int col, const char *path, char *out,
                       size_t size)
{
    if (doc->no_positions && strcmp(path, "(top level)") == 0)
        snprintf(out, size, "%s", doc->name);
    else if (doc->no_positions)
        snprintf(out, size, "%s.%s", doc->name, path);
    else
        snprintf(out, size, "%s:%d:%d: %s", doc->name, line, col, path);
}

int conf_error(const struct conf_doc *doc, const struct conf_node *node, char *err, size_t errlen,
               const char *fmt, ...)
{
    char path[256], msg[320];
    conf_path(node, path, sizeof path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char where[512];
    conf_where(doc, node->line, node->col, path, where, sizeof where);
    return err_set(err, errlen, "%s: %s", where, msg);
}

static const char *type_name(const struct conf_node *n)
{
    switch (n->type) {
    case CONF_MAP:
        return "a mapping";
    case CONF_SEQ:
        return "a list";
    default:
        return "a scalar";
    }
}

/* A quantity's node that is a mapping or a list: "found a list, expected a duration such as
 * 500ms, 2s, 1m30s". A scalar's message comes from its quantity reader (quantity.h). */
static int not_a_quantity(const struct conf_doc *doc, const struct conf_node *node,
                          const char *expected, char *err, size_t errlen)
{
    return conf_error(doc, node, err, errlen, "found %s, expected %s", type_name(node), expected);
}

/* A member read as a kind its key table does not declare: a bug in herd, caught by the
 * tests that load every example (the table is what `herd schema` prints). */
static int misread(const struct conf_doc *doc, const struct conf_node *node, unsigned kind,
                   const char *as, char *err, size_t errlen)
{
    if (!node->declared || (node->declared->kinds & kind)) return 0;
    return conf_error(doc, node, err, errlen,
                      "read as %s, which herd's key table does not declare (a bug in herd)", as);
}

int conf_expect_map(const struct conf_doc *doc, const struct conf_node *node, char *err,
                    size_t errlen)
{
    if (misread(doc, node, CONF_K_MAP | CONF_K_NAMED | CONF_K_EXPECT, "a mapping", err, errlen) < 0) return -1;
    if (node->type == CONF_MAP) return 0;
    return conf_error(doc, node, err, errlen, "found %s, expected a mapping (key: value)",
                      type_name(node));
}

int conf_expect_seq(const struct conf_doc *doc, const struct conf_node *node, char *err,
                    size_t errlen)
{
    if (misread(doc, node, CONF_K_LIST, "a list", err, errlen) < 0) return -1;
    if (node->type == CONF_SEQ) return 0;
    return conf_error(doc, node, err, errlen, "found %s, expected a list", type_name(node));
}

int conf_check_keys(const struct conf_doc *doc, const struct conf_node *map,
                    const char *const keys[], char *err, size_t errlen)
{
    if (conf_expect_map(doc, map, err, errlen) < 0) return -1;
    for (const struct conf_node *n = map->first; n; n = n->next) {
        bool known = false;
        for (size_t i = 0; keys[i] && !known; i++)
            known = strcmp(keys[i], n->key) == 0;
        if (known) continue;
        struct buf list = {0};
        for (size_t i = 0; keys[i]; i++)
            buf_printf(&list, "%s%s", i ? ", " : "", keys[i]);
        char path[256];
        conf_path(n, path, sizeof path);
        char where[512];
        conf_where(doc, n->key_line, n->key_col, path, where, sizeof where);
        err_set(err, errlen, "%s: unknown key '%s', expected one of: %s", where, n->key,
                list.data ? list.data : "(none)");
        buf_free(&list);
        return -1;
    }
    return 0;
}

int conf_to_string(const struct conf_doc *doc, const struct conf_node *node, const char **out,
                   char *err, size_t errlen)
{
    if (misread(doc, node, CONF_K_STRING, "a string", err, errlen) < 0) return -1;
    if (node->type != CONF_SCALAR)
        return conf_error(doc, node, err, errlen, "found %s, expected a string", type_name(node));
    *out = node->value;
    return 0;
}

int conf_to_int(const struct conf_doc *doc, const struct conf_node *node, long long min,
                long long max, long long *out, char *err, size_t errlen)
{
    if (misread(doc, node, CONF_K_INT, "a whole number", err, errlen) < 0) return -1;
    char msg[ERR_SIZE];
    uint64_t v;
    if (node->type != CONF_SCALAR)
        return conf_error(doc, node, err, errlen, "found %s, expected a whole number from %lld to %lld",
                          type_name(node), min, max);
    if (quantity_read_count(node->value, min < 0 ? 0 : (uint64_t)min, (uint64_t)max, &v, msg,
                            sizeof msg) < 0)
        return conf_error(doc, node, err, errlen, "%s", msg);
    *out = (long long)v;
    return 0;
}

int conf_to_double(const struct conf_doc *doc, const struct conf_node *node, double min, double max,
                   double *out, char *err, size_t errlen)
{
    if (misread(doc, node, CONF_K_NUMBER, "a number", err, errlen) < 0) return -1;
    char msg[ERR_SIZE];
    if (node->type != CONF_SCALAR) return not_a_quantity(doc, node, "a number", err, errlen);
    if (quantity_read_number(node->value, min, max, out, msg, sizeof msg) < 0)
        return conf_error(doc, node, err, errlen, "%s", msg);
    return 0;
}

int conf_to_bool(const struct conf_doc *doc, const struct conf_node *node, bool *out, char *err,
                 size_t errlen)
{
    if (misread(doc, node, CONF_K_BOOL, "a boolean", err, errlen) < 0) return -1;
    static const char *const yes[] = {"true", "yes", "on", NULL};
    static const char *const no[] = {"false", "no", "off", NULL};
    if (node->type == CONF_SCALAR && node->plain) {
        for (int i = 0; yes[i]; i++)
            if (strcmp(node->value, yes[i]) == 0) return *out = true, 0;
        for (int i = 0; no[i]; i++)
            if (strcmp(node->value, no[i]) == 0) return *out = false, 0;
    }
    return conf_error(doc, node, err, errlen, "'%s' is not a boolean, expected true or false",
                      node->type == CONF_SCALAR ? node->value : type_name(node));
}

/* A quantity in whole units, read by a quantity reader (quantity_read_duration, _size). */
static int to_whole(const struct conf_doc *doc, const struct conf_node *node, const char *expected,
                    int (*read)(const char *text, uint64_t min, uint64_t max, uint64_t *out,
                                char *err, size_t errlen),
                    uint64_t min, uint64_t max, uint64_t *out, char *err, size_t errlen)
{
    char msg[ERR_SIZE];
    if (node->type != CONF_SCALAR) return not_a_quantity(doc, node, expected, err, errlen);
    if (read(node->value, min, max, out, msg, sizeof msg) < 0)
        return conf_error(doc, node, err, errlen, "%s", msg);
    return 0;
}

int conf_to_duration_us(const struct conf_doc *doc, const struct conf_node *node, uint64_t min,
                        uint64_t max, uint64_t *out, char *err, size_t errlen)
{
    if (misread(doc, node, CONF_K_DURATION, "a duration", err, errlen) < 0) return -1;
    return to_whole(doc, node, QUANTITY_DURATION, quantity_read_duration, min, max, out, err,
                    errlen);
}

int conf_to_size(const struct conf_doc *doc, const struct conf_node *node, uint64_t min,
                 uint64_t max, uint64_t *out, char *err, size_t errlen)
{
    if (misread(doc, node, CONF_K_SIZE, "a size", err, errlen) < 0) return -1;
    return to_whole(doc, node, QUANTITY_SIZE, quantity_read_size, min, max, out, err, errlen);
}

int conf_to_percent(const struct conf_doc *doc, const struct conf_node *node, double min,
                    double max, double *out, char *err, size_t errlen)
{
    if (misread(doc, node, CONF_K_PERCENT, "a percentage", err, errlen) < 0) return -1;
    char msg[ERR_SIZE];
    if (node->type != CONF_SCALAR) return not_a_quantity(doc, node, QUANTITY_PERCENT, err, errlen);
    if (quantity_read_percent(node->value, min, max, out, msg, sizeof msg) < 0)
        return conf_error(doc, node, err, errlen, "%s", msg);
    return 0;
}

int conf_opt_string(const struct conf_doc *doc, const struct conf_node *map, const char *key,
                    const char **out, char *err, size_t errlen)
{
    const struct conf_node *n = conf_get(map, key);
    return n ? conf_to_string(doc, n, out, err, errlen) : 0;
}

int conf_opt_int(const struct conf_doc *doc, const struct conf_node *map, const char *key,
                 long long min, long long max, long long *out, char *err, size_t errlen)
{
    const struct conf_node *n = conf_get(map, key);
    return n ? conf_to_int(doc, n, min, max, out, err, errlen) : 0;
}

int conf_opt_double(const struct conf_doc *doc, const struct conf_node *map, const char *key,
                    double min, double max, double *out, char *err, size_t errlen)
{
    const struct conf_node *n = conf_get(map, key);
    return n ? conf_to_double(doc, n, min, max, out, err, errlen) : 0;
}

int conf_opt_bool(const struct conf_doc *doc, const struct conf_node *map, const char *key,
                  bool *out, char *err, size_t errlen)
{
    const struct conf_node *n = conf_get(map, key);
    return n ? conf_to_bool(doc, n, out, err, errlen) : 0;
}

int conf_opt_duration_us(const struct conf_doc *doc, const struct conf_node *map, const char *key,
                         uint64_t min, uint64_t max, uint64_t *out, char *err, size_t errlen)
{
    const struct conf_node *n = conf_get(map, key);
    return n ? conf_to_duration_us(doc, n, min, max, out, err, errlen) : 0;
}

int conf_opt_size(const struct conf_doc *doc, const struct conf_node *map, const char *key,
                  uint64_t min, uint64_t max, uint64_t *out, char *err, size_t errlen)
{
    const struct conf_node *n = conf_get(map, key);
    return n ? conf_to_size(doc, n, min, max, out, err, errlen) : 0;
}

int conf_opt_percent(const struct conf_doc *doc, const struct conf_node *map, const char *key,
                     double min, double max, double *out, char *err, size_t errlen)
{
    const struct conf_node *n = conf_get(map, key);
    return n ? conf_to_percent(doc, n, min, max, out, err, errlen) : 0;
}
