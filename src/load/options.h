/* options.h -- what `herd bench` is asked to do: defaults, a config file with the seed tool's
 * keys, flags on top; validated, then turned into a load_plan. */
#ifndef HERD_LOAD_OPTIONS_H
#define HERD_LOAD_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "load/engine.h"
#include "load/threshold.h"

#define BENCH_MAX_URLS       64
#define BENCH_MAX_HEADERS    64
#define BENCH_MAX_THRESHOLDS 32

/* The ranges flags and the config file accept alike. */
#define BENCH_DURATION_MIN_US 1000ULL                  /* 1ms */
#define BENCH_DURATION_MAX_US (365ULL * 86400000000ULL) /* a year */
#define BENCH_TIMEOUT_MIN_US  1000ULL                  /* 1ms */
#define BENCH_TIMEOUT_MAX_US  3600000000ULL            /* 1h */
#define BENCH_RAMP_UP_MAX_US  3600000000ULL            /* 1h */
#define BENCH_RATE_MIN        0.001 /* requests per second */
#define BENCH_RATE_MAX        1e8

struct bench_options {
    char *urls[BENCH_MAX_URLS]; /* as given, "#weight=N" included */
    size_t url_count;
    enum balance_algorithm lb;
    uint64_t seed;            /* with seed_set: the balancer's seed; else a new one per run */
    bool seed_set;
    unsigned connections;     /* 0: default (10) */
    unsigned threads;         /* 0: the number of cores, at most the connections */
    unsigned max_connections; /* 0: default for the open model */
    uint64_t duration_us;     /* 0 and no requests: 10 s */
    uint64_t requests;
    double rate;
    uint64_t ramp_up_us;
    char *method;
    char *headers[BENCH_MAX_HEADERS]; /* "Name: value" */
    size_t header_count;
    char *body;
    size_t body_len;
    uint32_t timeout_ms;
    bool keepalive;
    bool tls_verify;
    bool tls_reuse; /* resume TLS sessions on new connections (default); off: full handshakes */
    char *node_header;
    uint64_t max_failures;
    struct threshold thresholds[BENCH_MAX_THRESHOLDS];
    size_t threshold_count;
};

/* Fills the defaults (every string owned by the options; free with bench_options_free). */
void bench_options_default(struct bench_options *o);
void bench_options_free(struct bench_options *o);

/* Setters used by flags and the config file; each copies, validates, and returns 0 or -1
 * with a message naming what is wrong and what is expected. */
int bench_options_add_url(struct bench_options *o, const char *url, char *err, size_t errlen);
/* Parses URL i of o (its "#weight=N" left out) into u, never resolving it. Returns 0 or -1
 * with a message. */
int bench_options_url(const struct bench_options *o, size_t i, struct url *u, char *err,
                      size_t errlen);
int bench_options_add_header(struct bench_options *o, const char *header, char *err, size_t errlen);
int bench_options_set_method(struct bench_options *o, const char *method, char *err, size_t errlen);
int bench_options_set_body(struct bench_options *o, const char *body, size_t len);
int bench_options_set_string(char **field, const char *value);
int bench_options_add_threshold(struct bench_options *o, const char *text, char *err, size_t errlen);

/* Reads a YAML/JSON config file (keys: protocol, url or urls, concurrency, requests, duration,
 * rate, timeout, method, headers, body, lb, threads, node_header, thresholds,
 * advanced.{enable_breaker, max_failures, ramp_up}) over o. Returns 0, or -1 with
 * "FILE:LINE:COL: key: ..." in err. */
int bench_options_load(struct bench_options *o, const char *path, char *err, size_t errlen);

struct conf_doc;

/* The same over a parsed document (conf_parse of text, e.g. a task's config_file): reads its
 * root mapping's keys over o. extra_keys (NULL-terminated, at most 15; may be NULL) are more
 * keys the root may have, read by the caller. Returns 0, or -1 with conf's message in err
 * ("NAME:LINE:COL: key: ...", or "NAME.key: ..." for a document without positions). */
int bench_options_read(struct bench_options *o, const struct conf_doc *doc,
                       const char *const extra_keys[], char *err, size_t errlen);

/* Checks the options as a whole and builds the plan: resolves every URL, formats the request
 * of each target once. Returns 0 or -1 with a message. Free with bench_plan_free. */
int bench_options_plan(const struct bench_options *o, unsigned cores, struct load_plan *plan,
                       char *err, size_t errlen);
void bench_plan_free(struct load_plan *plan);

/* The same plan without resolving any name (addresses left empty): to describe a run made
 * elsewhere (a distributed task's run document), never to run it. */
int bench_options_describe(const struct bench_options *o, unsigned cores, struct load_plan *plan,
                           char *err, size_t errlen);

#endif
