/* balancer_watch.c -- a balancer's own view of its servers, polled while a check runs (see
 * balancer_watch.h): HAProxy's stats CSV and Prometheus text pages. */
#include "plan/balancer_watch.h"

#include <ctype.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "base/err.h"
#include "http/fetch.h"
#include "http/url.h"

#define WATCH_MAX_NODES 64
#define WATCH_MAX_CHANGES 4096 /* per node: a flapping server past this is not followed */
#define WATCH_FETCH_TIMEOUT_MS 1000

/* ---- the condition on a Prometheus series ---- */

static const char *skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static bool name_char(char ch, bool first)
{
    return isalpha((unsigned char)ch) || ch == '_' || ch == ':' || (!first && isdigit((unsigned char)ch));
}

/* A metric or label name at p into out; returns the character after it, or NULL. */
static const char *read_name(const char *p, char *out, size_t size)
{
    size_t n = 0;
    if (!name_char(*p, true)) return NULL;
    while (name_char(p[n], n == 0) && n + 1 < size) {
        out[n] = p[n];
        n++;
    }
    out[n] = '\0';
    return name_char(p[n], false) ? NULL : p + n;
}

/* A quoted label value at p (escapes \\ \" \n) into out; returns the character after the
 * closing quote, or NULL. */
static const char *read_quoted(const char *p, char *out, size_t size)
{
    if (*p++ != '"') return NULL;
    size_t n = 0;
    for (; *p && *p != '"'; p++) {
        char ch = *p;
        if (ch == '\\') {
            p++;
            ch = *p == 'n' ? '\n' : *p;
            if (!ch) return NULL;
        }
        if (n + 1 >= size) return NULL;
        out[n++] = ch;
    }
    out[n] = '\0';
    return *p == '"' ? p + 1 : NULL;
}

/* {LABEL="VALUE",...} at p (p at '{') into the arrays, at most max; returns the character after
 * '}', or NULL. */
static const char *read_labels(const char *p, char (*label)[64], char (*value)[128], size_t max,
                               size_t *count)
{
    *count = 0;
    p = skip_space(p + 1);
    while (*p != '}') {
        char name[64], val[128];
        if (*count == max || !(p = read_name(p, name, sizeof name))) return NULL;
        p = skip_space(p);
        if (*p++ != '=') return NULL;
        if (!(p = read_quoted(skip_space(p), val, sizeof val))) return NULL;
        snprintf(label[*count], 64, "%s", name);
        snprintf(value[*count], 128, "%s", val);
        (*count)++;
        p = skip_space(p);
        if (*p == ',') p = skip_space(p + 1);
        else if (*p != '}') return NULL;
    }
    return p + 1;
}

int balancer_condition_parse(const char *text, struct balancer_condition *c, char *err,
                             size_t errlen)
{
    memset(c, 0, sizeof *c);
    const char *p = read_name(skip_space(text), c->name, sizeof c->name);
    if (p && *p == '{')
        p = read_labels(p, c->label, c->value, BALANCER_MAX_LABELS, &c->label_count);
    if (!p)
        return err_set(err, errlen,
                       "'%s': expected SERIES{LABEL=\"VALUE\",...} OP NUMBER such as "
                       "haproxy_server_status{server=\"{node}\",state=\"DOWN\"} == 1",
                       text);
    p = skip_space(p);
    static const char *const ops[] = {"==", "!=", "<=", ">=", "<", ">", NULL};
    for (int i = 0; ops[i]; i++)
        if (strncmp(p, ops[i], strlen(ops[i])) == 0) {
            snprintf(c->op, sizeof c->op, "%s", ops[i]);
            p += strlen(ops[i]);
            break;
        }
    char *end;
    double v = c->op[0] ? strtod(skip_space(p), &end) : NAN;
    if (!c->op[0] || end == skip_space(p) || !isfinite(v) || *skip_space(end))
        return err_set(err, errlen,
                       "'%s': expected a comparison with a number after the series, such as == 1",
                       text);
    c->number = v;
    return 0;
}

static bool compare(double v, const char *op, double number)
{
    if (!strcmp(op, "==")) return v == number;
    if (!strcmp(op, "!=")) return v != number;
    if (!strcmp(op, "<=")) return v <= number;
    if (!strcmp(op, ">=")) return v >= number;
    if (!strcmp(op, "<")) return v < number;
    return v > number;
}

int balancer_condition_eval(const struct balancer_condition *c, const char *page)
{
    int result = -1;
    for (const char *line = page; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        char name[128], label[BALANCER_MAX_LABELS * 4][64], value[BALANCER_MAX_LABELS * 4][128];
        size_t count = 0;
        const char *p = skip_space(line);
        if (*p == '#' || *p == '\n' || !*p) continue;
        if (!(p = read_name(p, name, sizeof name)) || strcmp(name, c->name) != 0) continue;
        if (*p == '{' && !(p = read_labels(p, label, value, BALANCER_MAX_LABELS * 4, &count)))
            continue;
        bool match = true;
        for (size_t i = 0; i < c->label_count && match; i++) {
            bool found = false;
            for (size_t k = 0; k < count && !found; k++)
                found = !strcmp(label[k], c->label[i]) && !strcmp(value[k], c->value[i]);
            match = found;
        }
        if (!match) continue;
        char *end;
        p = skip_space(p);
        double v = strtod(p, &end);
        if (end == p) continue;
        if (compare(v, c->op, c->number)) return 1;
        result = 0;
    }
    return result;
}

/* ---- HAProxy's stats CSV ---- */

/* Field index (0-based) of the comma-separated line at p into out (up to the end of the line). */
static bool csv_field(const char *line, int index, char *out, size_t size)
{
    const char *p = line;
    for (int i = 0; i < index; i++) {
        p += strcspn(p, ",\n");
        if (*p != ',') return false;
        p++;
    }
    size_t n = strcspn(p, ",\n");
    if (n >= size) n = size - 1;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

/* The index of column name in the CSV's header line ("# pxname,svname,..."), or -1. */
static int csv_column(const char *header, const char *name)
{
    char field[64];
    for (int i = 0; csv_field(header, i, field, sizeof field); i++)
        if (!strcmp(field, name)) return i;
    return -1;
}

int balancer_csv_status(const char *page, const char *server, char *status, size_t len)
{
    if (strncmp(page, "# pxname,", 9) != 0) return -1;
    const char *header = page + 2;
    int px = 0, sv = csv_column(header, "svname"), st = csv_column(header, "status");
    const char *slash = strchr(server, '/');
    if (sv < 0 || st < 0 || !slash) return -1;
    char backend[128];
    snprintf(backend, sizeof backend, "%.*s", (int)(slash - server), server);
    for (const char *line = strchr(page, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        char pxname[128], svname[128];
        if (!csv_field(line + 1, px, pxname, sizeof pxname) ||
            !csv_field(line + 1, sv, svname, sizeof svname))
            continue;
        if ((strcmp(backend, "*") == 0 || strcmp(backend, pxname) == 0) &&
            strcmp(slash + 1, svname) == 0 && csv_field(line + 1, st, status, len))
            return 0;
    }
    return -1;
}

bool balancer_status_down(const char *status)
{
    return !strncmp(status, "DOWN", 4) || !strncmp(status, "MAINT", 5) ||
           !strncmp(status, "DRAIN", 5) || !strncmp(status, "NOLB", 4);
}

/* ---- the watch ---- */

enum watch_state { WATCH_UNKNOWN = -1, WATCH_UP = 0, WATCH_DOWN = 1 };

struct watch_change {
    int64_t at_ms; /* the answer time of the first poll that saw the state */
    int state;     /* enum watch_state */
};

struct watch_node {
    char name[64];
    char server[192];                    /* CSV: the server, {node} replaced */
    struct balancer_condition condition; /* metrics */
    struct watch_change *changes;
    size_t change_count;
};

struct balancer_watch {
    struct balancer_source src;
    char base[512], path[512];
    struct watch_node nodes[WATCH_MAX_NODES];
    size_t node_count;
    uv_thread_t thread;
    bool started;
    atomic_bool stop;
    uint64_t polls, failures;
    char last_error[1024];
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* text with every {node} replaced by node, into out. */
static void with_node(const char *text, const char *node, char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    for (const char *p = text; *p && n + 1 < size;) {
        if (!strncmp(p, "{node}", 6)) {
            n += (size_t)snprintf(out + n, size - n, "%s", node);
            if (n >= size) n = size - 1;
            p += 6;
        } else {
            out[n++] = *p++;
            out[n] = '\0';
        }
    }
}

/* url split into the part http_fetch takes as its base and the path. */
static int split_url(const char *url, char *base, size_t bsize, char *path, size_t psize)
{
    const char *scheme = strstr(url, "://");
    if (!scheme) return -1;
    const char *slash = strchr(scheme + 3, '/');
    size_t blen = slash ? (size_t)(slash - url) : strlen(url);
    if (blen >= bsize) return -1;
    snprintf(base, bsize, "%.*s", (int)blen, url);
    snprintf(path, psize, "%s", slash ? slash : "/");
    return 0;
}

int balancer_source_check(const struct balancer_source *s, char *err, size_t errlen)
{
    struct url u;
    char uerr[256], base[512], path[512];
    if ((strncmp(s->url, "http://", 7) && strncmp(s->url, "https://", 8)) ||
        url_parse(&u, s->url, uerr, sizeof uerr) < 0 ||
        split_url(s->url, base, sizeof base, path, sizeof path) < 0)
        return err_set(err, errlen, "'%s': expected the balancer's status page, http://HOST:PORT/PATH",
                       s->url);
    if (!s->metrics) {
        char server[192];
        with_node(s->server, "x", server, sizeof server);
        const char *slash = strchr(server, '/');
        if (!slash || slash == server || !slash[1] || strchr(slash + 1, '/'))
            return err_set(err, errlen, "'%s': expected BACKEND/SERVER such as web/{node} or */{node}",
                           s->server);
        return 0;
    }
    char down[512];
    struct balancer_condition c;
    with_node(s->down, "x", down, sizeof down);
    return balancer_condition_parse(down, &c, err, errlen);
}

static void record(struct watch_node *n, int state, int64_t at_ms)
{
    if (n->change_count && n->changes[n->change_count - 1].state == state) return;
    if (n->change_count == WATCH_MAX_CHANGES) return;
    n->changes[n->change_count++] = (struct watch_change){at_ms, state};
}

static void poll_once(struct balancer_watch *w)
{
    int status = 0;
    char *page = NULL, err[256];
    int rc = http_fetch(w->base, "GET", w->path, NULL, WATCH_FETCH_TIMEOUT_MS, &status, &page,
                        err, sizeof err);
    int64_t at = wall_ms();
    w->polls++;
    if (rc < 0 || status != 200) {
        w->failures++;
        if (rc < 0)
            snprintf(w->last_error, sizeof w->last_error, "%s", err);
        else
            snprintf(w->last_error, sizeof w->last_error, "%s answered %d", w->src.url, status);
        for (size_t i = 0; i < w->node_count; i++)
            record(&w->nodes[i], WATCH_UNKNOWN, at);
        free(page);
        return;
    }
    bool missing = false;
    for (size_t i = 0; i < w->node_count; i++) {
        struct watch_node *n = &w->nodes[i];
        int state = WATCH_UNKNOWN;
        if (w->src.metrics) {
            int truth = balancer_condition_eval(&n->condition, page);
            state = truth < 0 ? WATCH_UNKNOWN : truth ? WATCH_DOWN : WATCH_UP;
        } else {
            char st[64];
            if (balancer_csv_status(page, n->server, st, sizeof st) == 0)
                state = balancer_status_down(st) ? WATCH_DOWN : WATCH_UP;
        }
        if (state == WATCH_UNKNOWN) {
            snprintf(w->last_error, sizeof w->last_error, "%s: %s not found on the page",
                     w->src.url, w->src.metrics ? "the down condition's series" : n->server);
            missing = true;
        }
        record(n, state, at);
    }
    w->failures += missing; /* a page without the node says nothing of it */
    free(page);
}

static void watch_main(void *arg)
{
    struct balancer_watch *w = arg;
    while (!atomic_load(&w->stop)) {
        uint64_t t0 = uv_hrtime();
        poll_once(w);
        uint64_t spent_us = (uv_hrtime() - t0) / 1000;
        /* sleep what is left of the interval, in slices, so a stop is seen quickly */
        for (uint64_t left = spent_us < w->src.interval_us ? w->src.interval_us - spent_us : 0;
             left > 0 && !atomic_load(&w->stop);) {
            uint64_t slice = left < 10000 ? left : 10000;
            uv_sleep((unsigned)((slice + 999) / 1000));
            left -= slice;
        }
    }
}

struct balancer_watch *balancer_watch_start(const struct balancer_source *s,
                                            const char (*nodes)[64], size_t n)
{
    struct balancer_watch *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->src = *s;
    if (!w->src.interval_us) w->src.interval_us = BALANCER_WATCH_DEFAULT_INTERVAL_US;
    if (split_url(s->url, w->base, sizeof w->base, w->path, sizeof w->path) < 0) goto fail;
    for (size_t i = 0; i < n && i < WATCH_MAX_NODES; i++) {
        struct watch_node *wn = &w->nodes[w->node_count++];
        snprintf(wn->name, sizeof wn->name, "%s", nodes[i]);
        if (!(wn->changes = calloc(WATCH_MAX_CHANGES, sizeof *wn->changes))) goto fail;
        if (s->metrics) {
            char down[512], ignored[256];
            with_node(s->down, nodes[i], down, sizeof down);
            if (balancer_condition_parse(down, &wn->condition, ignored, sizeof ignored) < 0)
                goto fail;
        } else {
            with_node(s->server[0] ? s->server : "*/{node}", nodes[i], wn->server,
                      sizeof wn->server);
        }
    }
    if (uv_thread_create(&w->thread, watch_main, w) != 0) goto fail;
    w->started = true;
    return w;
fail:
    balancer_watch_free(w);
    return NULL;
}

void balancer_watch_stop(struct balancer_watch *w)
{
    if (!w || !w->started) return;
    atomic_store(&w->stop, true);
    uv_thread_join(&w->thread);
    w->started = false;
}

int64_t balancer_watch_seen(const struct balancer_watch *w, size_t node, bool down,
                            int64_t since_ms)
{
    if (!w || node >= w->node_count) return -1;
    const struct watch_node *n = &w->nodes[node];
    int want = down ? WATCH_DOWN : WATCH_UP, before = WATCH_UNKNOWN;
    for (size_t i = 0; i < n->change_count; i++) {
        if (n->changes[i].at_ms < since_ms) {
            before = n->changes[i].state;
            continue;
        }
        if (before == want) return since_ms; /* already so when asked from */
        if (n->changes[i].state == want) return n->changes[i].at_ms;
        before = n->changes[i].state;
    }
    return before == want ? since_ms : -1;
}

void balancer_watch_stats(const struct balancer_watch *w, uint64_t *polls, uint64_t *failures,
                          const char **last_error)
{
    *polls = w ? w->polls : 0;
    *failures = w ? w->failures : 0;
    *last_error = w ? w->last_error : "";
}

void balancer_watch_free(struct balancer_watch *w)
{
    if (!w) return;
    balancer_watch_stop(w);
    for (size_t i = 0; i < w->node_count; i++)
        free(w->nodes[i].changes);
    free(w);
}
