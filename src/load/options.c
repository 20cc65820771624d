/* options.c -- what `herd bench` is asked to do (see options.h). */
#include "load/options.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "conf/conf.h"
#include "http/token.h"

#define DEFAULT_CONNECTIONS 10
#define DEFAULT_DURATION_US 10000000ull
#define DEFAULT_TIMEOUT_MS  10000

void bench_options_default(struct bench_options *o)
{
    memset(o, 0, sizeof *o);
    o->lb = BALANCE_ROUNDROBIN;
    o->timeout_ms = DEFAULT_TIMEOUT_MS;
    o->keepalive = true;
    o->tls_verify = true;
    o->tls_reuse = true;
}

void bench_options_free(struct bench_options *o)
{
    for (size_t i = 0; i < o->url_count; i++)
        free(o->urls[i]);
    for (size_t i = 0; i < o->header_count; i++)
        free(o->headers[i]);
    free(o->method);
    free(o->body);
    free(o->node_header);
    memset(o, 0, sizeof *o);
}

int bench_options_set_string(char **field, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return -1;
    free(*field);
    *field = copy;
    return 0;
}

/* Splits "URL#weight=N". Returns the weight (1 when absent) or -1; *url_len is the URL part. */
static int url_weight(const char *text, size_t *url_len, char *err, size_t errlen)
{
    const char *hash = strrchr(text, '#');
    *url_len = strlen(text);
    if (!hash || strncmp(hash, "#weight=", 8) != 0)
        return 1;
    *url_len = (size_t)(hash - text);
    char *end;
    long w = strtol(hash + 8, &end, 10);
    if (end == hash + 8 || *end || w < 1 || w > 10000)
        return err_set(err, errlen, "URL '%s': weight must be a whole number from 1 to 10000", text);
    return (int)w;
}

int bench_options_add_url(struct bench_options *o, const char *text, char *err, size_t errlen)
{
    if (o->url_count == BENCH_MAX_URLS)
        return err_set(err, errlen, "more than %d URLs", BENCH_MAX_URLS);
    size_t len;
    if (url_weight(text, &len, err, errlen) < 0)
        return -1;
    char *bare = strndup(text, len);
    struct url u;
    int rc = bare ? url_parse(&u, bare, err, errlen) : err_set(err, errlen, "out of memory");
    free(bare);
    if (rc < 0)
        return -1;
    if (!(o->urls[o->url_count] = strdup(text)))
        return err_set(err, errlen, "out of memory");
    o->url_count++;
    return 0;
}

int bench_options_url(const struct bench_options *o, size_t i, struct url *u, char *err,
                      size_t errlen)
{
    size_t len;
    if (url_weight(o->urls[i], &len, err, errlen) < 0)
        return -1;
    char *bare = strndup(o->urls[i], len);
    if (!bare)
        return err_set(err, errlen, "out of memory");
    int rc = url_parse(u, bare, err, errlen);
    free(bare);
    return rc;
}

int bench_options_add_header(struct bench_options *o, const char *header, char *err, size_t errlen)
{
    const char *colon = strchr(header, ':');
    if (!colon || colon == header)
        return err_set(err, errlen, "header '%s': expected 'Name: value'", header);
    for (const char *p = header; p < colon; p++)
        if (!isgraph((unsigned char)*p))
            return err_set(err, errlen, "header '%s': the name has a space or control character", header);
    if (strpbrk(header, "\r\n"))
        return err_set(err, errlen, "header '%s': line breaks are not allowed", header);
    if (o->header_count == BENCH_MAX_HEADERS)
        return err_set(err, errlen, "more than %d headers", BENCH_MAX_HEADERS);
    if (!(o->headers[o->header_count] = strdup(header)))
        return err_set(err, errlen, "out of memory");
    o->header_count++;
    return 0;
}

int bench_options_set_method(struct bench_options *o, const char *method, char *err, size_t errlen)
{
    /* a token, in any case: -m post is POST */
    char upper[21];
    size_t len = strlen(method);
    bool token = len > 0 && len < sizeof upper;
    for (size_t i = 0; token && i < len; i++)
        token = http_tchar((unsigned char)method[i]);
    if (!token)
        return err_set(err, errlen, "method '%s': expected a word such as GET or POST", method);
    for (size_t i = 0; i <= len; i++)
        upper[i] = (char)toupper((unsigned char)method[i]);
    return bench_options_set_string(&o->method, upper) < 0 ? err_set(err, errlen, "out of memory") : 0;
}

int bench_options_set_body(struct bench_options *o, const char *body, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, body, len);
    copy[len] = '\0';
    free(o->body);
    o->body = copy;
    o->body_len = len;
    return 0;
}

int bench_options_add_threshold(struct bench_options *o, const char *text, char *err, size_t errlen)
{
    if (o->threshold_count == BENCH_MAX_THRESHOLDS)
        return err_set(err, errlen, "more than %d thresholds", BENCH_MAX_THRESHOLDS);
    if (threshold_parse(text, &o->thresholds[o->threshold_count], err, errlen) < 0)
        return -1;
    o->threshold_count++;
    return 0;
}

/* ---- the config file ---- */

static int conf_string_into(const struct conf_doc *doc, const struct conf_node *n,
                            int (*set)(struct bench_options *, const char *, char *, size_t),
                            struct bench_options *o, char *err, size_t errlen)
{
    const char *s;
    char msg[ERR_SIZE];
    if (conf_to_string(doc, n, &s, err, errlen) < 0)
        return -1;
    if (set(o, s, msg, sizeof msg) < 0)
        return conf_error(doc, n, err, errlen, "%s", msg);
    return 0;
}

static int load_advanced(struct bench_options *o, const struct conf_doc *doc,
                         const struct conf_node *adv, char *err, size_t errlen)
{
    static const char *const keys[] = {"enable_breaker", "max_failures", "ramp_up", NULL};
    bool breaker = o->max_failures > 0;
    long long max_failures = (long long)o->max_failures;
    if (conf_check_keys(doc, adv, keys, err, errlen) < 0 ||
        conf_opt_bool(doc, adv, "enable_breaker", &breaker, err, errlen) < 0 ||
        conf_opt_int(doc, adv, "max_failures", 1, 1LL << 50, &max_failures, err, errlen) < 0 ||
        conf_opt_duration_us(doc, adv, "ramp_up", 0, BENCH_RAMP_UP_MAX_US, &o->ramp_up_us, err,
                             errlen) < 0)
        return -1;
    if (breaker && max_failures == 0)
        return conf_error(doc, conf_get(adv, "enable_breaker"), err, errlen,
                          "the breaker needs advanced.max_failures (a number of failures)");
    o->max_failures = breaker ? (uint64_t)max_failures : 0;
    return 0;
}

int bench_options_load(struct bench_options *o, const char *path, char *err, size_t errlen)
{
    struct conf_doc doc;
    if (conf_load_file(&doc, path, err, errlen) < 0)
        return -1;
    int rc = bench_options_read(o, &doc, NULL, err, errlen);
    conf_free(&doc);
    return rc;
}

int bench_options_read(struct bench_options *o, const struct conf_doc *doc,
                       const char *const extra_keys[], char *err, size_t errlen)
{
    static const char *const bench_keys[] = {"protocol", "url",      "urls",       "concurrency",
                                             "requests", "duration", "rate",       "timeout",
                                             "method",   "headers",  "body",       "lb",
                                             "threads",  "node_header", "thresholds", "advanced",
                                             "seed",     NULL};
    const char *keys[sizeof bench_keys / sizeof bench_keys[0] + 16];
    size_t nkeys = 0;
    for (size_t i = 0; bench_keys[i]; i++)
        keys[nkeys++] = bench_keys[i];
    for (size_t i = 0; extra_keys && extra_keys[i] && nkeys + 1 < sizeof keys / sizeof keys[0]; i++)
        keys[nkeys++] = extra_keys[i];
    keys[nkeys] = NULL;
    int rc = -1;
    const struct conf_node *root = doc->root, *n;
    long long concurrency = o->connections, requests = (long long)o->requests,
              threads = o->threads, seed = o->seed_set ? (long long)o->seed : -1;
    uint64_t timeout_us = (uint64_t)o->timeout_ms * 1000;
    if (!root) {
        if (doc->no_positions)
            err_set(err, errlen, "%s: empty, expected a mapping", doc->name);
        else
            err_set(err, errlen, "%s:1:1: (top level): the file is empty, expected a mapping",
                    doc->name);
        goto out;
    }
    if (conf_check_keys(doc, root, keys, err, errlen) < 0 ||
        conf_opt_int(doc, root, "concurrency", 1, 1000000, &concurrency, err, errlen) < 0 ||
        conf_opt_int(doc, root, "requests", 1, 1LL << 50, &requests, err, errlen) < 0 ||
        conf_opt_int(doc, root, "threads", 1, 1024, &threads, err, errlen) < 0 ||
        conf_opt_int(doc, root, "seed", 0, (long long)BALANCER_SEED_MAX, &seed, err, errlen) < 0 ||
        conf_opt_duration_us(doc, root, "duration", BENCH_DURATION_MIN_US, BENCH_DURATION_MAX_US,
                             &o->duration_us, err, errlen) < 0 ||
        conf_opt_duration_us(doc, root, "timeout", BENCH_TIMEOUT_MIN_US, BENCH_TIMEOUT_MAX_US,
                             &timeout_us, err, errlen) < 0 ||
        conf_opt_double(doc, root, "rate", BENCH_RATE_MIN, BENCH_RATE_MAX, &o->rate, err, errlen) < 0)
        goto out;
    if (seed >= 0) {
        o->seed = (uint64_t)seed;
        o->seed_set = true;
    }
    if ((n = conf_get(root, "protocol"))) {
        const char *p;
        if (conf_to_string(doc, n, &p, err, errlen) < 0)
            goto out;
        if (strcmp(p, "http") != 0 && strcmp(p, "https") != 0) {
            conf_error(doc, n, err, errlen, "'%s' is not supported, expected http or https (the URL's scheme decides)", p);
            goto out;
        }
    }
    if ((n = conf_get(root, "url")) &&
        conf_string_into(doc, n, bench_options_add_url, o, err, errlen) < 0)
        goto out;
    if ((n = conf_get(root, "urls"))) {
        if (conf_expect_seq(doc, n, err, errlen) < 0)
            goto out;
        for (const struct conf_node *u = n->first; u; u = u->next)
            if (conf_string_into(doc, u, bench_options_add_url, o, err, errlen) < 0)
                goto out;
    }
    if ((n = conf_get(root, "method")) &&
        conf_string_into(doc, n, bench_options_set_method, o, err, errlen) < 0)
        goto out;
    if ((n = conf_get(root, "headers"))) {
        if (conf_expect_map(doc, n, err, errlen) < 0)
            goto out;
        for (const struct conf_node *h = n->first; h; h = h->next) {
            const char *v;
            char *line = NULL, msg[ERR_SIZE];
            if (conf_to_string(doc, h, &v, err, errlen) < 0)
                goto out;
            /* the key is the whole name: "a:b" would send a header named "a" */
            if (strchr(h->key, ':')) {
                conf_error(doc, h, err, errlen, "expected a header name without ':'");
                goto out;
            }
            /* never cut: a long token or cookie is sent whole */
            size_t size = strlen(h->key) + strlen(v) + 3;
            if (!(line = malloc(size))) {
                err_set(err, errlen, "out of memory");
                goto out;
            }
            snprintf(line, size, "%s: %s", h->key, v);
            int added = bench_options_add_header(o, line, msg, sizeof msg);
            free(line);
            if (added < 0) {
                conf_error(doc, h, err, errlen, "%s", msg);
                goto out;
            }
        }
    }
    if ((n = conf_get(root, "body"))) {
        const char *b;
        if (conf_to_string(doc, n, &b, err, errlen) < 0 || bench_options_set_body(o, b, strlen(b)) < 0)
            goto out;
    }
    if ((n = conf_get(root, "lb"))) {
        const char *name;
        if (conf_to_string(doc, n, &name, err, errlen) < 0)
            goto out;
        if (balancer_parse(name, &o->lb) < 0 || o->lb == BALANCE_HASH) {
            conf_error(doc, n, err, errlen, "'%s' is not a balancer, expected roundrobin, random, weighted, leastconn or p2c", name);
            goto out;
        }
    }
    if ((n = conf_get(root, "node_header"))) {
        const char *h;
        if (conf_to_string(doc, n, &h, err, errlen) < 0 || bench_options_set_string(&o->node_header, h) < 0)
            goto out;
    }
    if ((n = conf_get(root, "thresholds"))) {
        if (conf_expect_seq(doc, n, err, errlen) < 0)
            goto out;
        for (const struct conf_node *t = n->first; t; t = t->next)
            if (conf_string_into(doc, t, bench_options_add_threshold, o, err, errlen) < 0)
                goto out;
    }
    if ((n = conf_get(root, "advanced")) && load_advanced(o, doc, n, err, errlen) < 0)
        goto out;
    o->connections = (unsigned)concurrency;
    o->requests = (uint64_t)requests;
    o->threads = (unsigned)threads;
    o->timeout_ms = (uint32_t)(timeout_us / 1000);
    rc = 0;
out:
    return rc;
}

/* ---- the plan ---- */

static int options_plan(const struct bench_options *o, unsigned cores, bool resolve,
                        struct load_plan *plan, char *err, size_t errlen);

int bench_options_plan(const struct bench_options *o, unsigned cores, struct load_plan *plan,
                       char *err, size_t errlen)
{
    return options_plan(o, cores, true, plan, err, errlen);
}

int bench_options_describe(const struct bench_options *o, unsigned cores, struct load_plan *plan,
                           char *err, size_t errlen)
{
    return options_plan(o, cores, false, plan, err, errlen);
}

static int options_plan(const struct bench_options *o, unsigned cores, bool resolve,
                        struct load_plan *plan, char *err, size_t errlen)
{
    memset(plan, 0, sizeof *plan);
    if (o->url_count == 0)
        return err_set(err, errlen, "no URL given, expected at least one http:// or https:// URL");
    if (o->duration_us && o->requests)
        return err_set(err, errlen, "give a duration (-d) or a number of requests (-n), not both");
    plan->targets = calloc(o->url_count, sizeof *plan->targets);
    if (!plan->targets)
        return err_set(err, errlen, "out of memory");
    plan->target_count = o->url_count;
    const char *method = o->method ? o->method : (o->body ? "POST" : "GET");
    for (size_t i = 0; i < o->url_count; i++) {
        struct load_target *t = &plan->targets[i];
        size_t len;
        t->weight = url_weight(o->urls[i], &len, err, errlen);
        char *bare = strndup(o->urls[i], len);
        if (!bare || t->weight < 0 || url_parse(&t->url, bare, err, errlen) < 0 ||
            (resolve && url_resolve(&t->url, &t->addr, err, errlen) < 0)) {
            free(bare);
            bench_plan_free(plan);
            return -1;
        }
        free(bare);
        snprintf(t->name, sizeof t->name, "%s", t->url.authority);
        t->request = load_format_request(&t->url, method, o->headers, o->header_count, o->body,
                                         o->body_len, o->keepalive, &t->request_len);
        if (!t->request) {
            bench_plan_free(plan);
            return err_set(err, errlen, "out of memory");
        }
    }
    plan->lb = o->lb;
    plan->seed = o->seed_set ? o->seed : balancer_seed_random();
    plan->connections = o->connections ? o->connections : DEFAULT_CONNECTIONS;
    plan->rate = o->rate;
    plan->requests = o->requests;
    plan->duration_us = o->duration_us || o->requests ? o->duration_us : DEFAULT_DURATION_US;
    plan->ramp_up_us = o->ramp_up_us;
    plan->timeout_ms = o->timeout_ms;
    plan->node_header = o->node_header ? o->node_header : "X-Herd-Node";
    plan->max_failures = o->max_failures;
    plan->tls_verify = o->tls_verify;
    plan->tls_reuse = o->tls_reuse;
    unsigned threads = o->threads ? o->threads : (cores ? cores : 1);
    if (threads > plan->connections && plan->rate <= 0)
        threads = plan->connections; /* every thread owns at least one connection */
    plan->threads = threads;
    if (plan->rate > 0) {
        unsigned def = plan->connections * 10 < 100 ? 100 : plan->connections * 10;
        plan->max_connections = o->max_connections ? o->max_connections : def;
        if (plan->max_connections < plan->connections)
            plan->max_connections = plan->connections;
    }
    if (plan->ramp_up_us && plan->duration_us && plan->ramp_up_us > plan->duration_us) {
        bench_plan_free(plan);
        return err_set(err, errlen, "the ramp-up is longer than the duration");
    }
    return 0;
}

void bench_plan_free(struct load_plan *plan)
{
    for (size_t i = 0; i < plan->target_count; i++)
        free(plan->targets[i].request);
    free(plan->targets);
    memset(plan, 0, sizeof *plan);
}
