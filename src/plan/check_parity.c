/* check_parity.c -- the same requests sent to every environment of the plan, the answers
 * compared with the baseline's: status, structure (schema), values (body), headers by name;
 * with exec, a command per environment and its output compared line by line. Answers that
 * differ between two calls to the same environment (repeat) are unstable, not mismatches. */
#include "plan/check.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "base/err.h"
#include "http/fetch.h"
#include "plan/exec.h"
#include "plan/json_diff.h"

#define PARITY_MAX_REQUESTS 64
#define PARITY_MAX_IGNORE 32
#define PARITY_MAX_HEADERS 8
#define PARITY_MAX_VARS 16
#define PARITY_MAX_REPEAT 10
#define PARITY_BODY_MAX 4096    /* a request's body */
#define PARITY_ANSWER_SHOWN 16384 /* answers up to this size are kept whole in run.json */
#define PARITY_DIFFS_KEPT 20    /* differences listed per request and environment */
#define PARITY_EXEC_OUTPUT 65536  /* the most of a command's output compared */

struct parity_request {
    char method[16];
    char path[512];
    char body[PARITY_BODY_MAX];
    bool has_body;
    char headers[1024]; /* "Name: value\r\n" lines */
    char label[540];    /* "GET /health" */
};

struct parity_exec {
    bool set;
    char command[1024];
    char vars[PARITY_MAX_VARS][256]; /* NAME=VALUE */
    size_t var_count;
};

struct plan_parity {
    size_t baseline; /* index in the plan's environments */
    struct parity_request requests[PARITY_MAX_REQUESTS];
    size_t request_count;
    bool status, schema, body;
    char headers[PARITY_MAX_HEADERS][64]; /* names compared, lower case */
    size_t header_count;
    char ignore[PARITY_MAX_IGNORE][128];
    size_t ignore_count;
    int repeat;
    uint64_t max_body;
    uint64_t timeout_us;
    struct parity_exec exec[PLAN_MAX_ENVS]; /* by environment index */
    bool has_exec;
    uint64_t exec_timeout_us;
};

/* ---- keys ---- */

static const char *const own[] = {"mismatches", "unstable", NULL};
static const char *const compare_names[] = {"status", "schema", "body", NULL};

static const struct conf_key header_value = CONF_ITEM(CONF_K_STRING, "a header's value");
static const struct conf_key request_keys[] = {
    CONF_KEY("method", CONF_K_STRING, "the request method (GET)"),
    CONF_KEY("path", CONF_K_STRING, "the request path, /...", .required = true),
    CONF_KEY("body", CONF_K_STRING, "the request body (sent as application/json unless headers say)"),
    CONF_KEY("headers", CONF_K_NAMED, "request headers, NAME: VALUE", .item = &header_value),
    CONF_KEYS_END,
};
static const struct conf_key request_item =
    CONF_ITEM(CONF_K_STRING | CONF_K_MAP, "\"METHOD /path\", or {method, path, body, headers}",
              .members = request_keys);
static const struct conf_key header_name = CONF_ITEM(CONF_K_STRING, "a header name");
static const struct conf_key compare_keys[] = {
    CONF_KEY("headers", CONF_K_LIST, "response headers compared by name", .item = &header_name),
    CONF_KEYS_END,
};
static const struct conf_key compare_item =
    CONF_ITEM(CONF_K_STRING | CONF_K_MAP, "status, schema, body, or {headers: [NAMES]}",
              .choices = compare_names, .members = compare_keys);
static const struct conf_key ignore_item =
    CONF_ITEM(CONF_K_STRING, "a JSON path left out, checks.*.latency_ms (* any key or index)");
static const struct conf_key var_item = CONF_ITEM(CONF_K_STRING, "an environment variable's value");
static const struct conf_key exec_keys[] = {
    CONF_KEY("command", CONF_K_STRING, "the shell command", .required = true),
    CONF_KEY("env", CONF_K_NAMED, "environment variables it gets, NAME: VALUE", .item = &var_item),
    CONF_KEYS_END,
};
static const struct conf_key exec_item =
    CONF_ITEM(CONF_K_STRING | CONF_K_MAP, "a shell command, or {command, env}", .members = exec_keys);

const struct conf_key check_parity_keys[] = {
    CONF_KEY("baseline", CONF_K_STRING, "the environment the others are compared with (the first)"),
    CONF_KEY("requests", CONF_K_LIST, "the requests sent to every environment", .item = &request_item),
    CONF_KEY("compare", CONF_K_LIST, "what must match ([status, schema])", .item = &compare_item),
    CONF_KEY("ignore", CONF_K_LIST, "JSON paths left out of schema and body", .item = &ignore_item),
    CONF_KEY("repeat", CONF_K_INT, "calls per request and environment; answers that change are unstable (1)"),
    CONF_KEY("max_body", CONF_K_SIZE, "the most of an answer read (1MB)"),
    CONF_KEY("timeout", CONF_K_DURATION, "each request's time limit (10s)"),
    CONF_KEY("exec", CONF_K_NAMED, "a command per environment, outputs compared line by line",
     .item = &exec_item),
    CONF_KEY("exec_timeout", CONF_K_DURATION, "each command's time limit (60s)"),
    CONF_KEY("expect", CONF_K_EXPECT, "expectations: mismatches (0 unless stated), unstable",
     .choices = own),
    CONF_KEYS_END,
};

/* ---- reading ---- */

/* "METHOD /path" into r. */
static int parse_request_line(const struct conf_doc *doc, const struct conf_node *x,
                              const char *text, struct parity_request *r, char *err,
                              size_t errlen)
{
    size_t m = strcspn(text, " ");
    const char *path = text + m;
    while (*path == ' ')
        path++;
    bool upper = m > 0;
    for (size_t i = 0; i < m; i++)
        upper &= isupper((unsigned char)text[i]) != 0;
    if (!upper || m >= sizeof r->method || path[0] != '/' || strlen(path) >= sizeof r->path ||
        strpbrk(path, " \r\n"))
        return conf_error(doc, x, err, errlen,
                          "'%s': expected \"METHOD /path\" (GET /health), or {method, path, "
                          "body, headers}",
                          text);
    snprintf(r->method, sizeof r->method, "%.*s", (int)m, text);
    snprintf(r->path, sizeof r->path, "%s", path);
    return 0;
}

static int parse_request_map(const struct conf_doc *doc, const struct conf_node *x,
                             struct parity_request *r, char *err, size_t errlen)
{
    const char *method = "GET", *path = "", *body = NULL;
    if (conf_check_members(doc, x, request_keys, err, errlen) < 0 ||
        conf_opt_string(doc, x, "method", &method, err, errlen) < 0 ||
        conf_opt_string(doc, x, "path", &path, err, errlen) < 0 ||
        conf_opt_string(doc, x, "body", &body, err, errlen) < 0)
        return -1;
    char line[600];
    snprintf(line, sizeof line, "%s %s", method, path);
    if (parse_request_line(doc, conf_get(x, "path"), line, r, err, errlen) < 0) return -1;
    if (body && strlen(body) >= sizeof r->body)
        return conf_error(doc, conf_get(x, "body"), err, errlen,
                          "a body of at most %d bytes", PARITY_BODY_MAX - 1);
    if (body) {
        snprintf(r->body, sizeof r->body, "%s", body);
        r->has_body = true;
    }
    const struct conf_node *h = conf_get(x, "headers");
    if (h && conf_expect_map(doc, h, err, errlen) < 0) return -1;
    for (const struct conf_node *n = h ? h->first : NULL; n; n = n->next) {
        const char *v;
        if (conf_to_string(doc, n, &v, err, errlen) < 0) return -1;
        size_t len = strlen(r->headers);
        if (!n->key[0] || strpbrk(n->key, " :\r\n") || strpbrk(v, "\r\n"))
            return conf_error(doc, n, err, errlen, "expected a header NAME: VALUE on one line");
        if ((size_t)snprintf(r->headers + len, sizeof r->headers - len, "%s: %s\r\n", n->key,
                             v) >= sizeof r->headers - len)
            return conf_error(doc, h, err, errlen, "at most %zu bytes of headers",
                              sizeof r->headers - 1);
    }
    return 0;
}

static int parse_requests(struct plan_parity *y, const struct conf_doc *doc,
                          const struct conf_node *v, char *err, size_t errlen)
{
    if (conf_expect_seq(doc, v, err, errlen) < 0) return -1;
    for (const struct conf_node *x = v->first; x; x = x->next) {
        if (y->request_count == PARITY_MAX_REQUESTS)
            return conf_error(doc, x, err, errlen, "at most %d requests", PARITY_MAX_REQUESTS);
        struct parity_request *r = &y->requests[y->request_count];
        const char *text;
        if (x->type == CONF_MAP) {
            if (parse_request_map(doc, x, r, err, errlen) < 0) return -1;
        } else if (conf_to_string(doc, x, &text, err, errlen) < 0 ||
                   parse_request_line(doc, x, text, r, err, errlen) < 0) {
            return -1;
        }
        char label[sizeof r->label]; /* r's fields may not be both source and destination */
        snprintf(label, sizeof label, "%s %s", r->method, r->path);
        memcpy(r->label, label, sizeof label);
        y->request_count++;
    }
    return 0;
}

static int parse_compare(struct plan_parity *y, const struct conf_doc *doc,
                         const struct conf_node *v, char *err, size_t errlen)
{
    if (conf_expect_seq(doc, v, err, errlen) < 0) return -1;
    if (v->count == 0)
        return conf_error(doc, v, err, errlen, "expected status, schema, body or {headers: [NAMES]}");
    y->status = y->schema = y->body = false;
    for (const struct conf_node *x = v->first; x; x = x->next) {
        if (x->type == CONF_MAP) {
            const struct conf_node *h = conf_get(x, "headers");
            if (conf_check_members(doc, x, compare_keys, err, errlen) < 0) return -1;
            if (!h || conf_expect_seq(doc, h, err, errlen) < 0 || h->count == 0)
                return conf_error(doc, h ? h : x, err, errlen,
                                  "expected headers: [NAMES], e.g. [content-type]");
            for (const struct conf_node *n = h->first; n; n = n->next) {
                const char *name;
                if (conf_to_string(doc, n, &name, err, errlen) < 0) return -1;
                if (y->header_count == PARITY_MAX_HEADERS)
                    return conf_error(doc, n, err, errlen, "at most %d headers", PARITY_MAX_HEADERS);
                if (!name[0] || strlen(name) >= sizeof y->headers[0] || strpbrk(name, " :\r\n"))
                    return conf_error(doc, n, err, errlen, "expected a header name (content-type)");
                char *out = y->headers[y->header_count++];
                for (size_t i = 0; name[i]; i++)
                    out[i] = (char)tolower((unsigned char)name[i]);
            }
            continue;
        }
        const char *what;
        if (conf_to_string(doc, x, &what, err, errlen) < 0) return -1;
        if (strcmp(what, "status") == 0)
            y->status = true;
        else if (strcmp(what, "schema") == 0)
            y->schema = true;
        else if (strcmp(what, "body") == 0)
            y->body = true;
        else
            return conf_error(doc, x, err, errlen,
                              "'%s': expected status, schema, body or {headers: [NAMES]}", what);
    }
    return 0;
}

static int parse_ignore(struct plan_parity *y, const struct conf_doc *doc,
                        const struct conf_node *v, char *err, size_t errlen)
{
    if (conf_expect_seq(doc, v, err, errlen) < 0) return -1;
    for (const struct conf_node *x = v->first; x; x = x->next) {
        const char *path;
        if (conf_to_string(doc, x, &path, err, errlen) < 0) return -1;
        if (y->ignore_count == PARITY_MAX_IGNORE)
            return conf_error(doc, x, err, errlen, "at most %d paths", PARITY_MAX_IGNORE);
        if (strlen(path) >= sizeof y->ignore[0] || !json_diff_pattern_valid(path))
            return conf_error(doc, x, err, errlen,
                              "'%s': expected a JSON path such as timestamp, checks.*.latency_ms "
                              "or $.items[0].id (* for any key or index)",
                              path);
        snprintf(y->ignore[y->ignore_count++], sizeof y->ignore[0], "%s", path);
    }
    return 0;
}

/* The index of environment name in the plan, or -1. */
static int env_index(const struct plan *p, const char *name)
{
    for (size_t i = 0; i < p->env_count; i++)
        if (strcmp(p->envs[i].name, name) == 0) return (int)i;
    return -1;
}

static int parse_exec(struct plan *p, struct plan_parity *y, const struct conf_doc *doc,
                      const struct conf_node *v, char *err, size_t errlen)
{
    if (conf_expect_map(doc, v, err, errlen) < 0) return -1;
    if (v->count < 2)
        return conf_error(doc, v, err, errlen,
                          "expected a command for at least two environments, NAME: {command, env}");
    for (const struct conf_node *n = v->first; n; n = n->next) {
        int e = env_index(p, n->key);
        if (e < 0)
            return conf_error(doc, n, err, errlen, "'%s' is not one of the plan's environments",
                              n->key);
        struct parity_exec *x = &y->exec[e];
        const char *cmd = NULL;
        if (n->type == CONF_MAP) {
            if (conf_check_members(doc, n, exec_keys, err, errlen) < 0 ||
                conf_opt_string(doc, n, "command", &cmd, err, errlen) < 0)
                return -1;
            const struct conf_node *vars = conf_get(n, "env");
            if (vars && conf_expect_map(doc, vars, err, errlen) < 0) return -1;
            for (const struct conf_node *k = vars ? vars->first : NULL; k; k = k->next) {
                const char *value;
                if (conf_to_string(doc, k, &value, err, errlen) < 0) return -1;
                if (x->var_count == PARITY_MAX_VARS)
                    return conf_error(doc, k, err, errlen, "at most %d variables", PARITY_MAX_VARS);
                bool name_ok = k->key[0] && !isdigit((unsigned char)k->key[0]);
                for (const char *c = k->key; *c; c++)
                    name_ok &= isalnum((unsigned char)*c) || *c == '_';
                if (!name_ok)
                    return conf_error(doc, k, err, errlen,
                                      "'%s': expected a variable name (letters, digits, _)", k->key);
                if ((size_t)snprintf(x->vars[x->var_count], sizeof x->vars[0], "%s=%s", k->key,
                                     value) >= sizeof x->vars[0])
                    return conf_error(doc, k, err, errlen, "longer than %zu characters",
                                      sizeof x->vars[0] - 1);
                x->var_count++;
            }
        } else if (conf_to_string(doc, n, &cmd, err, errlen) < 0) {
            return -1;
        }
        if (!cmd || !cmd[0] || strlen(cmd) >= sizeof x->command)
            return conf_error(doc, n, err, errlen, "expected a shell command of at most %zu characters",
                              sizeof x->command - 1);
        snprintf(x->command, sizeof x->command, "%s", cmd);
        x->set = true;
    }
    if (!y->exec[y->baseline].set)
        return conf_error(doc, v, err, errlen,
                          "no command for the baseline environment %s: the others are compared "
                          "with its output",
                          p->envs[y->baseline].name);
    y->has_exec = true;
    return 0;
}

static int parse(struct plan *p, struct plan_check *c, const struct conf_doc *doc,
                 const struct conf_node *body, const struct conf_node *e, char *err, size_t errlen)
{
    if (conf_check_members(doc, body, check_parity_keys, err, errlen) < 0) return -1;
    if (p->env_count < 2)
        return conf_error(doc, body, err, errlen,
                          "parity compares environments: give the plan environments: {NAME: URL} "
                          "with at least two");
    struct plan_parity *y = calloc(1, sizeof *y);
    if (!y) return err_set(err, errlen, "out of memory");
    c->parity = y; /* freed with the plan, also on an error */
    y->status = y->schema = true;
    y->max_body = 1u << 20;
    y->timeout_us = 10000000;
    y->exec_timeout_us = 60000000;
    long long repeat = 1;
    const char *baseline = p->envs[0].name;
    const struct conf_node *v;
    if (conf_opt_string(doc, body, "baseline", &baseline, err, errlen) < 0 ||
        conf_opt_int(doc, body, "repeat", 1, PARITY_MAX_REPEAT, &repeat, err, errlen) < 0 ||
        conf_opt_size(doc, body, "max_body", 1024, 64u << 20, &y->max_body, err, errlen) < 0 ||
        conf_opt_duration_us(doc, body, "timeout", 1000, 600000000, &y->timeout_us, err,
                             errlen) < 0 ||
        conf_opt_duration_us(doc, body, "exec_timeout", 100000, 3600000000ULL,
                             &y->exec_timeout_us, err, errlen) < 0)
        return -1;
    int b = env_index(p, baseline);
    if (b < 0)
        return conf_error(doc, conf_get(body, "baseline"), err, errlen,
                          "'%s' is not one of the plan's environments", baseline);
    y->baseline = (size_t)b;
    y->repeat = (int)repeat;
    if (((v = conf_get(body, "requests")) && parse_requests(y, doc, v, err, errlen) < 0) ||
        ((v = conf_get(body, "compare")) && parse_compare(y, doc, v, err, errlen) < 0) ||
        ((v = conf_get(body, "ignore")) && parse_ignore(y, doc, v, err, errlen) < 0) ||
        ((v = conf_get(body, "exec")) && parse_exec(p, y, doc, v, err, errlen) < 0))
        return -1;
    if (!y->request_count && !y->has_exec)
        return conf_error(doc, body, err, errlen,
                          "nothing to compare: give requests: [\"GET /health\", ...] or exec: "
                          "{ENVIRONMENT: {command, env}}");
    if (e && plan_parse_expect(c, doc, e, own, err, errlen) < 0) return -1;
    plan_default_bound(c, "mismatches", "0");
    snprintf(c->target, sizeof c->target, "%s", p->envs[y->baseline].url);
    return 0;
}

/* ---- running ---- */

/* One call's answer: a request's (status, JSON or the body's hash, headers) or a command's
 * (exit status, output). */
struct answer {
    bool answered; /* false: no answer (error says why) */
    int status;
    double latency_ms;
    json_t *json; /* the parsed answer, or NULL when not JSON */
    char hash[20];   /* FNV-1a of the body, hex */
    size_t bytes;
    bool truncated;
    char *headers; /* "name: value\n" lines */
    char *text;    /* the body (or the command's output) */
    char error[256];
};

static void answer_free(struct answer *a)
{
    json_decref(a->json);
    free(a->headers);
    free(a->text);
    memset(a, 0, sizeof *a);
}

static void body_hash(const char *data, size_t len, char *out, size_t size)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)data[i]) * 1099511628211ULL;
    snprintf(out, size, "%016llx", (unsigned long long)h);
}

static void fetch_answer(const struct plan_parity *y, const struct parity_request *r,
                         const char *url, struct answer *a)
{
    struct http_fetch_answer f;
    memset(a, 0, sizeof *a);
    if (http_fetch_full(url, r->method, r->path, r->headers[0] ? r->headers : NULL,
                        r->has_body ? r->body : NULL, (int)(y->timeout_us / 1000),
                        (size_t)y->max_body, &f, a->error, sizeof a->error) < 0)
        return;
    a->answered = true;
    a->status = f.status;
    a->latency_ms = f.latency_ms;
    a->bytes = f.body_len;
    a->truncated = f.truncated;
    a->headers = f.headers;
    a->text = f.body;
    body_hash(f.body, f.body_len, a->hash, sizeof a->hash);
    if (!f.truncated) a->json = json_loadb(f.body, f.body_len, JSON_DECODE_ANY, NULL);
}

static void exec_answer(const struct check_env *env, const struct plan_parity *y,
                        const struct parity_exec *x, struct answer *a)
{
    memset(a, 0, sizeof *a);
    const char *vars[PARITY_MAX_VARS + 1] = {0};
    for (size_t i = 0; i < x->var_count; i++)
        vars[i] = x->vars[i];
    a->text = malloc(PARITY_EXEC_OUTPUT + 1);
    if (!a->text) {
        snprintf(a->error, sizeof a->error, "out of memory");
        return;
    }
    int code = -1;
    char why[256];
    uint64_t start = uv_hrtime();
    exec_command_run(x->command, vars, y->exec_timeout_us / 1000, env->stop, a->text,
                     PARITY_EXEC_OUTPUT + 1, &a->bytes, &code, why, sizeof why);
    a->latency_ms = (double)(uv_hrtime() - start) / 1e6;
    a->truncated = a->bytes > PARITY_EXEC_OUTPUT;
    if (code < 0) { /* killed, timed out or not started: no output to compare */
        snprintf(a->error, sizeof a->error, "%s", why);
        return;
    }
    a->answered = true;
    a->status = code;
    body_hash(a->text, strlen(a->text), a->hash, sizeof a->hash);
}

/* The value of header name (lower case) in lines ("name: value\n"), into out; NULL when absent. */
static const char *header_value_of(const char *lines, const char *name, char *out, size_t size)
{
    size_t len = strlen(name);
    for (const char *l = lines; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : "") {
        if (strncmp(l, name, len) != 0 || l[len] != ':') continue;
        const char *v = l + len + 1;
        while (*v == ' ')
            v++;
        snprintf(out, size, "%.*s", (int)strcspn(v, "\n"), v);
        return out;
    }
    return NULL;
}

static void add_diff(json_t *diffs, size_t *count, const char *path, const char *a, const char *b,
                     const char *why)
{
    if ((*count)++ < PARITY_DIFFS_KEPT)
        json_array_append_new(diffs, json_pack("{s:s,s:s,s:s,s:s}", "path", path, "a", a, "b", b,
                                               "why", why));
}

/* The line at *at (shortened) into out, *at moved past it; false at the text's end. */
static bool line_next(const char **at, char *out, size_t size)
{
    if (!**at) return false;
    int len = (int)strcspn(*at, "\n");
    if (len > JSON_DIFF_VALUE_MAX)
        snprintf(out, size, "%.*s...", JSON_DIFF_VALUE_MAX - 3, *at);
    else
        snprintf(out, size, "%.*s", len, *at);
    *at += len + ((*at)[len] == '\n');
    return true;
}

/* Appends to diffs what differs between a (the first) and b, as the check compares them:
 * {path, a, b, why}. Returns how many differences there are in all. */
static size_t compare_answers(const struct plan_parity *y, bool exec, const struct answer *a,
                              const struct answer *b, json_t *diffs)
{
    size_t n = 0;
    char ta[64], tb[64];
    if (!a->answered || !b->answered) { /* neither answering is no parity shown: a mismatch */
        add_diff(diffs, &n, "status", a->answered ? "answered" : "no answer",
                 b->answered ? "answered" : "no answer",
                 a->answered == b->answered ? "neither answered" : "no answer");
        return n;
    }
    if (y->status || exec) {
        if (a->status != b->status) {
            snprintf(ta, sizeof ta, "%d", a->status);
            snprintf(tb, sizeof tb, "%d", b->status);
            add_diff(diffs, &n, exec ? "exit status" : "status", ta, tb, "status differs");
        }
    }
    if (exec) { /* the outputs line by line */
        const char *pa = a->text, *pb = b->text;
        for (size_t i = 1;; i++) {
            bool ha = line_next(&pa, ta, sizeof ta), hb = line_next(&pb, tb, sizeof tb);
            if (!ha && !hb) break;
            char path[32];
            snprintf(path, sizeof path, "line %zu", i);
            if (ha != hb)
                add_diff(diffs, &n, path, ha ? ta : "(absent)", hb ? tb : "(absent)", "line absent");
            else if (strcmp(ta, tb) != 0)
                add_diff(diffs, &n, path, ta, tb, "line differs");
        }
        return n;
    }
    for (size_t h = 0; h < y->header_count; h++) {
        char path[96];
        const char *va = header_value_of(a->headers, y->headers[h], ta, sizeof ta);
        const char *vb = header_value_of(b->headers, y->headers[h], tb, sizeof tb);
        snprintf(path, sizeof path, "header %s", y->headers[h]);
        if (!va != !vb || (va && strcmp(va, vb) != 0))
            add_diff(diffs, &n, path, va ? va : "(absent)", vb ? vb : "(absent)",
                     va && vb ? "value differs" : "header absent");
    }
    if (!y->schema && !y->body) return n;
    if (a->json && b->json) {
        const char *patterns[PARITY_MAX_IGNORE];
        for (size_t i = 0; i < y->ignore_count; i++)
            patterns[i] = y->ignore[i];
        struct json_diff_opts o = {patterns, y->ignore_count, y->body};
        json_t *found = json_array();
        size_t k = json_diff_compare(a->json, b->json, &o, found,
                                     n < PARITY_DIFFS_KEPT ? PARITY_DIFFS_KEPT - n : 0);
        json_array_extend(diffs, found);
        json_decref(found);
        if (k == SIZE_MAX) { /* not compared is never "the same" */
            add_diff(diffs, &n, "$", "?", "?", "not compared: out of memory");
            return n;
        }
        return n + k;
    }
    if (!a->json != !b->json)
        add_diff(diffs, &n, "$", a->json ? "JSON" : "not JSON", b->json ? "JSON" : "not JSON",
                 "type differs");
    else if (y->body && strcmp(a->hash, b->hash) != 0)
        add_diff(diffs, &n, "body", a->hash, b->hash, "body hash differs");
    return n;
}

/* True when diff's path is path or below it. */
static bool path_within(const char *diff, const char *path)
{
    size_t len = strlen(path);
    return strncmp(diff, path, len) == 0 && (!diff[len] || diff[len] == '.' || diff[len] == '[');
}

static bool unstable_path(const json_t *unstable, const char *path)
{
    size_t i;
    json_t *u;
    json_array_foreach(unstable, i, u)
        if (path_within(path, json_string_value(json_object_get(u, "path")))) return true;
    return false;
}

/* Adds " (local) vs ... (staging): why" lines to each difference. */
static void diff_lines(json_t *diffs, const char *name_a, const char *name_b)
{
    size_t i;
    json_t *d;
    json_array_foreach(diffs, i, d)
    {
        char line[512];
        json_object_set_new(d, "line", json_string(json_diff_line(d, name_a, name_b, line,
                                                                  sizeof line)));
    }
}

static json_t *answer_json(const struct answer *a, bool exec)
{
    json_t *o = json_object();
    json_object_set_new(o, exec ? "exit_status" : "status",
                        a->answered ? json_integer(a->status) : json_null());
    json_object_set_new(o, exec ? "took_ms" : "latency_ms", json_real(a->latency_ms));
    if (!a->answered) {
        json_object_set_new(o, "error", json_string(a->error));
        return o;
    }
    json_object_set_new(o, "bytes", json_integer((json_int_t)a->bytes));
    if (a->truncated) json_object_set_new(o, "truncated", json_true());
    if (exec) {
        json_object_set_new(o, "output", json_string(a->text));
    } else if (a->json && a->bytes <= PARITY_ANSWER_SHOWN) {
        json_object_set(o, "answer", a->json);
    } else {
        json_object_set_new(o, "json", json_boolean(a->json != NULL));
        json_object_set_new(o, "body_hash", json_string(a->hash));
    }
    return o;
}

/* Sends request r (or, exec, runs the commands) to every environment y->repeat times, judges
 * each against the baseline and appends the row to rows; counts into *mismatches and
 * *unstable_count. */
static void compare_row(const struct check_env *env, const struct plan_parity *y,
                        const struct parity_request *r, json_t *rows, size_t *mismatches,
                        size_t *unstable_count)
{
    const struct plan *p = env->p;
    bool exec = r == NULL;
    struct answer first[PLAN_MAX_ENVS];
    json_t *unstable[PLAN_MAX_ENVS] = {0};
    memset(first, 0, sizeof first);
    for (size_t e = 0; e < p->env_count; e++) {
        if (exec && !y->exec[e].set) continue;
        unstable[e] = json_array();
        for (int k = 0; k < y->repeat && !load_stop_requested(env->stop); k++) {
            struct answer a;
            if (exec)
                exec_answer(env, y, &y->exec[e], &a);
            else
                fetch_answer(y, r, p->envs[e].url, &a);
            if (k == 0) {
                first[e] = a;
                continue;
            }
            json_t *d = json_array();
            compare_answers(y, exec, &first[e], &a, d);
            size_t i;
            json_t *x;
            json_array_foreach(d, i, x) /* each path once */
                if (!unstable_path(unstable[e], json_string_value(json_object_get(x, "path"))))
                    json_array_append(unstable[e], x);
            json_decref(d);
            answer_free(&a);
        }
        char call1[80], callk[80];
        snprintf(call1, sizeof call1, "%s, call 1", p->envs[e].name);
        snprintf(callk, sizeof callk, "%s, a later call", p->envs[e].name);
        diff_lines(unstable[e], call1, callk);
    }
    size_t b = y->baseline, row_mismatches = 0, row_unstable = 0;
    json_t *results = json_array();
    for (size_t e = 0; e < p->env_count; e++) {
        if (exec && !y->exec[e].set) continue;
        json_t *res = answer_json(&first[e], exec);
        json_object_set_new(res, "environment", json_string(p->envs[e].name));
        const char *verdict = "baseline";
        if (e != b) {
            json_t *all = json_array(), *kept = json_array();
            compare_answers(y, exec, &first[b], &first[e], all);
            size_t i;
            json_t *d;
            json_array_foreach(all, i, d)
            { /* a path that changes between calls to one environment is unstable, not a
               * mismatch */
                const char *path = json_string_value(json_object_get(d, "path"));
                if (!unstable_path(unstable[b], path) && !unstable_path(unstable[e], path))
                    json_array_append(kept, d);
            }
            json_decref(all);
            diff_lines(kept, p->envs[b].name, p->envs[e].name);
            bool shaky = json_array_size(unstable[e]) || json_array_size(unstable[b]);
            verdict = json_array_size(kept) ? "mismatch" : shaky ? "unstable" : "match";
            row_mismatches += json_array_size(kept) > 0;
            json_object_set_new(res, "differences", kept);
        }
        if (json_array_size(unstable[e])) {
            json_object_set(res, "unstable", unstable[e]);
            row_unstable++;
        }
        json_object_set_new(res, "verdict", json_string(verdict));
        json_array_append_new(results, res);
    }
    *mismatches += row_mismatches;
    *unstable_count += row_unstable;
    json_t *row = json_pack("{s:s,s:o,s:s,s:b}", "request", exec ? "exec" : r->label, "results",
                            results, "verdict",
                            row_mismatches ? "mismatch" : row_unstable ? "unstable" : "match",
                            "pass", row_mismatches == 0);
    if (exec) {
        json_t *cmds = json_object();
        for (size_t e = 0; e < p->env_count; e++)
            if (y->exec[e].set)
                json_object_set_new(cmds, p->envs[e].name, json_string(y->exec[e].command));
        json_object_set_new(row, "commands", cmds);
    } else {
        json_object_set_new(row, "method", json_string(r->method));
        json_object_set_new(row, "path", json_string(r->path));
    }
    json_array_append_new(rows, row);
    for (size_t e = 0; e < p->env_count; e++) {
        answer_free(&first[e]);
        json_decref(unstable[e]);
    }
    check_event(env, "parity %s: %s", exec ? "exec" : r->label,
                row_mismatches ? "mismatch" : row_unstable ? "unstable" : "match");
}

static json_t *run(const struct check_env *env, const struct plan_check *c, json_t *expects,
                   bool *pass, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    const struct plan_parity *y = c->parity;
    const struct plan *p = env->p;
    json_t *rows = json_array(), *names = json_array(), *compared = json_array(),
           *ignore = json_array();
    size_t mismatches = 0, unstable = 0;
    for (size_t i = 0; i < y->request_count && !load_stop_requested(env->stop); i++)
        compare_row(env, y, &y->requests[i], rows, &mismatches, &unstable);
    if (y->has_exec && !load_stop_requested(env->stop))
        compare_row(env, y, NULL, rows, &mismatches, &unstable);
    for (size_t e = 0; e < p->env_count; e++)
        json_array_append_new(names, json_string(p->envs[e].name));
    const char *what[] = {y->status ? "status" : NULL, y->schema ? "schema" : NULL,
                          y->body ? "body" : NULL};
    for (size_t i = 0; i < 3; i++)
        if (what[i]) json_array_append_new(compared, json_string(what[i]));
    for (size_t h = 0; h < y->header_count; h++) {
        char name[80];
        snprintf(name, sizeof name, "header %s", y->headers[h]);
        json_array_append_new(compared, json_string(name));
    }
    if (y->has_exec) json_array_append_new(compared, json_string("exec output line by line"));
    for (size_t i = 0; i < y->ignore_count; i++)
        json_array_append_new(ignore, json_string(y->ignore[i]));
    *pass = json_array_size(rows) > 0; /* nothing compared (interrupted) is no verdict */
    *pass &= check_judge_bound(c, "mismatches", (double)mismatches, expects);
    *pass &= check_judge_bound(c, "unstable", (double)unstable, expects);
    return json_pack("{s:s,s:o,s:o,s:o,s:i,s:o,s:I,s:I}", "baseline", p->envs[y->baseline].name,
                     "environments", names, "compare", compared, "ignore", ignore, "repeat",
                     y->repeat, "requests", rows, "mismatches", (json_int_t)mismatches,
                     "unstable", (json_int_t)unstable);
}

const struct check_kind check_parity_kind = {"parity", parse, run};
