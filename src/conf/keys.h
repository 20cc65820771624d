/* keys.h -- key tables: what a YAML mapping may hold and what each value is. The loaders check
 * their mappings against these tables (conf_check_members), the typed readers of conf.h refuse
 * to read a member as something its table does not declare, and `herd schema` prints the same
 * tables as JSON Schema: the schema cannot drift from what the loaders accept. */
#ifndef HERD_CONF_KEYS_H
#define HERD_CONF_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "conf/conf.h"

/* What a value may be: one or more of these bits. */
enum conf_kind {
    CONF_K_STRING = 1u << 0,   /* any scalar text; with choices, one of them */
    CONF_K_INT = 1u << 1,      /* a whole number */
    CONF_K_NUMBER = 1u << 2,   /* a decimal number */
    CONF_K_BOOL = 1u << 3,     /* true or false */
    CONF_K_DURATION = 1u << 4, /* "500us 20ms 1.5s 2m 1h 1m30s", a bare number of seconds */
    CONF_K_SIZE = 1u << 5,     /* "512B 64KB 1.5MB 1GB", a bare number of bytes */
    CONF_K_MAP = 1u << 6,      /* a mapping whose keys are `members` */
    CONF_K_LIST = 1u << 7,     /* a list of `item` */
    CONF_K_NAMED = 1u << 8,    /* a mapping of names the user chooses to `item` */
    CONF_K_EXPECT = 1u << 9,   /* expectations: `choices` and the load metrics, to "[OP] VALUE" */
    CONF_K_EMPTY = 1u << 10,   /* nothing (`key:` alone): every default */
    CONF_K_PERCENT = 1u << 11, /* "0.1%", "50%", or a bare fraction (0.5) */
};

/* One key of a mapping, or (as `item`) the description of list items and named values. Tables
 * are arrays ended by an entry whose name is NULL. All pointers are to static data. */
struct conf_key {
    const char *name;
    unsigned kinds;                 /* enum conf_kind bits */
    const char *doc;                /* one line: what it is, for the schema's description */
    const struct conf_key *members; /* CONF_K_MAP: its keys */
    const struct conf_key *item;    /* CONF_K_LIST, CONF_K_NAMED: one entry describing each */
    const char *const *choices;     /* CONF_K_STRING: the allowed values; CONF_K_EXPECT: the
                                       check's own keys (NULL-terminated) */
    bool required;                  /* the mapping must hold it */
    bool one_member;                /* CONF_K_MAP: exactly one of its members (a check) */
};

/* An entry of a table: CONF_KEY("port", CONF_K_INT, "the port", .required = true); an item
 * description: CONF_ITEM(CONF_K_STRING, "a node"); the end of a table: CONF_KEYS_END. */
#define CONF_KEY(n, k, d, ...) {.name = (n), .kinds = (k), .doc = (d), __VA_ARGS__}
#define CONF_ITEM(k, d, ...) {.name = NULL, .kinds = (k), .doc = (d), __VA_ARGS__}
#define CONF_KEYS_END {.name = NULL}

/* The load metrics an expectation may name besides a check's own keys (p99, errors, ...),
 * NULL-terminated. */
extern const char *const conf_load_metrics[];

/* Checks map against table: map must be a mapping, every member a key of the table, every
 * required key present (one_member: exactly one member). Marks each member with its entry, so
 * that conf_to_* refuse to read it as a kind the table does not declare. Returns 0, or -1 with
 * "FILE:LINE:COL: path: ..." in err naming the keys allowed. */
int conf_check_members(const struct conf_doc *doc, const struct conf_node *map,
                       const struct conf_key table[], char *err, size_t errlen);

/* The JSON Schema (draft 2020-12) of a document whose top level is described by root (a
 * CONF_K_MAP entry), titled title. Returns a new reference the caller releases, or NULL when
 * out of memory. */
json_t *conf_schema(const struct conf_key *root, const char *title);

#endif
