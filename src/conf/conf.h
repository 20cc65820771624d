/* conf.h -- YAML/JSON text -> node tree with line:column -> typed, validated values.
 *
 * Every error message reads "FILE:LINE:COL: path.to.key: what was wrong, what was expected". */
#ifndef HERD_CONF_CONF_H
#define HERD_CONF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conf_key;

enum conf_type {
    CONF_SCALAR = 0,
    CONF_MAP,
    CONF_SEQ,
};

struct conf_node {
    enum conf_type type;
    char *key;             /* key text for a map member, else NULL */
    char *value;           /* scalar text, else NULL */
    bool plain;            /* an unquoted scalar: only these can be null, booleans or numbers */
    int line, col;         /* 1-based position of the value */
    int key_line, key_col; /* position of the key, for map members */
    int index;             /* position within a sequence, else -1 */
    size_t count;          /* members of a map or sequence */
    struct conf_node *parent, *first, *next;
    const struct conf_key *declared; /* its entry in the key table its mapping was checked
                                        against (conf_check_members), else NULL */
};

struct conf_doc {
    char *name;             /* file name used in messages */
    struct conf_node *root; /* NULL for an empty document */
    bool no_positions;      /* messages read "NAME.PATH: message", without line:col: for a
                               document made from a JSON value, not text a user wrote */
};

/* Parses text (one YAML document; a second one after `---` is an error at its start) into doc.
 * Returns 0, or -1 with "NAME:LINE:COL: message" in err and doc left empty. The document owns
 * every node; release with conf_free. */
int conf_parse(struct conf_doc *doc, const char *name, const char *text, size_t len, char *err,
               size_t errlen);

/* Reads and parses a file. Returns 0 or -1 with a message in err. */
int conf_load_file(struct conf_doc *doc, const char *path, char *err, size_t errlen);

void conf_free(struct conf_doc *doc);

/* The member of map named key, or NULL when absent (or when map is not a map). */
struct conf_node *conf_get(const struct conf_node *map, const char *key);

/* Writes the dotted path of a node ("checks[2].failover.node") into out. */
void conf_path(const struct conf_node *node, char *out, size_t size);

/* Formats "NAME:LINE:COL: path: message" for node into err. Returns -1. */
int conf_error(const struct conf_doc *doc, const struct conf_node *node, char *err, size_t errlen,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Each checks the node's type and range and returns 0, or -1 with a message in err. */
int conf_expect_map(const struct conf_doc *doc, const struct conf_node *node, char *err,
                    size_t errlen);
int conf_expect_seq(const struct conf_doc *doc, const struct conf_node *node, char *err,
                    size_t errlen);

/* Fails on the first member of map whose key is not in the NULL-terminated list `keys`,
 * naming the keys that are allowed. */
int conf_check_keys(const struct conf_doc *doc, const struct conf_node *map,
                    const char *const keys[], char *err, size_t errlen);

int conf_to_string(const struct conf_doc *doc, const struct conf_node *node, const char **out,
                   char *err, size_t errlen);
/* A whole number (quantity_read_count: digits only) within [min, max], min >= 0: "'x':
 * expected a whole number from MIN to MAX" otherwise, as every whole-number flag says. */
int conf_to_int(const struct conf_doc *doc, const struct conf_node *node, long long min,
                long long max, long long *out, char *err, size_t errlen);
/* A decimal number ("1000", "0.5": quantity_parse_number; no sign, exponent or hex). */
int conf_to_double(const struct conf_doc *doc, const struct conf_node *node, double min, double max,
                   double *out, char *err, size_t errlen);
int conf_to_bool(const struct conf_doc *doc, const struct conf_node *node, bool *out, char *err,
                 size_t errlen);
/* A duration ("250ms", "2s", "1m30s", a bare number of seconds: mtime_parse_duration_us) in
 * microseconds, within [min, max]. */
int conf_to_duration_us(const struct conf_doc *doc, const struct conf_node *node, uint64_t min,
                        uint64_t max, uint64_t *out, char *err, size_t errlen);
/* A size ("65536" bytes, "64KB", "1.5MB", "1GB": size_parse_bytes) in bytes, within
 * [min, max]. */
int conf_to_size(const struct conf_doc *doc, const struct conf_node *node, uint64_t min,
                 uint64_t max, uint64_t *out, char *err, size_t errlen);
/* A percentage ("0.1%", "50%", or a bare fraction "0.001": quantity_parse_percent) as a
 * fraction, within [min, max] (fractions too). Each quantity's message reads "PATH: 'TEXT':
 * expected a duration such as 500ms, 2s, 1m30s" (quantity.h). */
int conf_to_percent(const struct conf_doc *doc, const struct conf_node *node, double min,
                    double max, double *out, char *err, size_t errlen);

/* Optional members: when map has no member `key`, *out is left as it is and 0 returned. */
int conf_opt_string(const struct conf_doc *doc, const struct conf_node *map, const char *key,
                    const char **out, char *err, size_t errlen);
int conf_opt_int(const struct conf_doc *doc, const struct conf_node *map, const char *key,
                 long long min, long long max, long long *out, char *err, size_t errlen);
int conf_opt_double(const struct conf_doc *doc, const struct conf_node *map, const char *key,
                    double min, double max, double *out, char *err, size_t errlen);
int conf_opt_bool(const struct conf_doc *doc, const struct conf_node *map, const char *key,
                  bool *out, char *err, size_t errlen);
int conf_opt_duration_us(const struct conf_doc *doc, const struct conf_node *map, const char *key,
                         uint64_t min, uint64_t max, uint64_t *out, char *err, size_t errlen);
int conf_opt_size(const struct conf_doc *doc, const struct conf_node *map, const char *key,
                  uint64_t min, uint64_t max, uint64_t *out, char *err, size_t errlen);
int conf_opt_percent(const struct conf_doc *doc, const struct conf_node *map, const char *key,
                     double min, double max, double *out, char *err, size_t errlen);

#endif
