/* task.h -- a distributed task's config: the seed tool's keys (protocol, concurrency,
 * requests, rate, duration, timeout, url, method, headers, body, advanced.{enable_breaker,
 * max_failures, ramp_up}) and herd's (urls, lb, thresholds, threads, node_header, seed,
 * split), read from the POST body's forms with load/options' reader, and the allow-target
 * check (docs/distributed.md, "Tasks"). */
#ifndef HERD_DIST_TASK_H
#define HERD_DIST_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "dist/split.h"
#include "load/options.h"

#define DIST_TASK_TEXT_MAX (1024u * 1024) /* a config_file text, bytes */
#define DIST_ALLOW_MAX     64             /* --allow-target entries */

struct dist_task {
    struct bench_options options; /* the whole task; each worker runs its share of it */
    enum dist_split_mode split;   /* even (default) or cores */
};

/* Defaults (bench_options_default, split even). Free with dist_task_free. */
void dist_task_init(struct dist_task *t);
void dist_task_free(struct dist_task *t);

/* Reads a task from a POST /api/v1/tasks body: {"config_file": "<YAML or JSON text>"} (the
 * seed's form) or {"config": {...}}, exactly one of them. t must be fresh from dist_task_init.
 * Returns 0, or -1 with a message naming the field: "config_file:3:14: concurrency: ..." (line
 * and column inside the text), "config.advanced.ramp_up: ..." or "body: ...". The task is
 * checked as a whole (dist_task_check). */
int dist_task_from_body(struct dist_task *t, const json_t *body, char *err, size_t errlen);

/* The same from the text alone (name is used in messages) or from a config object. */
int dist_task_from_text(struct dist_task *t, const char *name, const char *text, size_t len,
                        char *err, size_t errlen);
int dist_task_from_config(struct dist_task *t, const json_t *config, char *err, size_t errlen);

/* Checks the task as a whole: at least one URL, not both a duration and a request count, a
 * ramp-up no longer than the duration. Returns 0 or -1 with a message. */
int dist_task_check(const struct dist_task *t, char *err, size_t errlen);

/* The task as a config object in the same keys (durations in us, "1500000us"), which
 * dist_task_from_config reads back to the same task: what an assignment carries. Returns a
 * new reference, or NULL when out of memory. */
json_t *dist_task_to_config(const struct dist_task *t);

/* One --allow-target entry: a host name (matched literally, ignoring ASCII case), an IP
 * address, or a CIDR block (IPv4 "10.0.0.0/8" or IPv6 "fd00::/8"). */
struct dist_allow {
    char name[256];    /* a host name, or "" for an address or block */
    int family;        /* AF_INET or AF_INET6 for an address or block, else 0 */
    uint8_t addr[16];  /* network byte order; bits past the prefix are zero */
    unsigned prefix;   /* bits that must match: 32 or 128 for a single address */
};

/* Parses one entry. Returns 0, or -1 with a message naming text and what was expected. */
int dist_allow_parse(struct dist_allow *a, const char *text, char *err, size_t errlen);

/* True when host (a URL's host: a name, an IPv4 or an IPv6 literal without brackets) matches
 * one of the n entries: an address literal falls in a block or equals an address (an
 * IPv4-mapped IPv6 address counts as its IPv4 address); a name equals a name entry. A name is
 * never resolved, so a name matches no block. */
bool dist_allow_match(const struct dist_allow *list, size_t n, const char *host);

/* Checks every URL of the task against the n entries (n 0: every target is allowed). Returns
 * 0, or -1 with "urls[1]: host 'x' is not in --allow-target (...)". */
int dist_task_check_targets(const struct dist_task *t, const struct dist_allow *list, size_t n,
                            char *err, size_t errlen);

#endif
