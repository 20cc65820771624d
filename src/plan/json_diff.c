/* json_diff.c -- two JSON answers compared, path by path (see json_diff.h). */
#include "plan/json_diff.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIFF_MAX_DEPTH 64
#define DIFF_STEP_MAX 128

/* An ignore pattern read into its steps once (n < 0: unusable, never matches). */
struct pattern {
    int n;
    char steps[DIFF_MAX_DEPTH][DIFF_STEP_MAX];
};

struct walk {
    const struct json_diff_opts *o;
    struct pattern *patterns; /* o->ignore, read */
    json_t *out;
    size_t max, count;
    char steps[DIFF_MAX_DEPTH][DIFF_STEP_MAX]; /* the path's keys and indexes, from the root */
    size_t depth;
    char path[1024]; /* the same as text: $.a[0]["b c"] */
};

/* The steps of pattern into steps (at most DIFF_MAX_DEPTH). Returns how many, or -1 when a
 * step is empty or too long. */
static int pattern_steps(const char *pattern, char steps[][DIFF_STEP_MAX])
{
    const char *p = pattern;
    if (*p == '$') p++;
    if (*p == '.') p++;
    if (!*p) return pattern[0] == '$' ? 0 : -1; /* "$" alone: the whole answer */
    int n = 0;
    while (*p) {
        bool bracket = *p == '[';
        if (bracket) p++;
        size_t len = bracket ? strcspn(p, "]") : strcspn(p, ".[");
        if (len == 0 || len >= DIFF_STEP_MAX || n == DIFF_MAX_DEPTH || (bracket && p[len] != ']'))
            return -1;
        memcpy(steps[n], p, len);
        steps[n++][len] = 0;
        p += len + bracket;
        if (*p == '.') {
            p++;
            if (!*p || *p == '.' || *p == '[') return -1;
        } else if (*p && *p != '[') {
            return -1;
        }
    }
    return n;
}

bool json_diff_pattern_valid(const char *pattern)
{
    char steps[DIFF_MAX_DEPTH][DIFF_STEP_MAX];
    return pattern_steps(pattern, steps) >= 0;
}

static bool ignored(const struct walk *w)
{
    for (size_t i = 0; i < w->o->ignore_count; i++) {
        const struct pattern *p = &w->patterns[i];
        if (p->n < 0 || (size_t)p->n != w->depth) continue;
        int k = 0;
        while (k < p->n &&
               (strcmp(p->steps[k], "*") == 0 || strcmp(p->steps[k], w->steps[k]) == 0))
            k++;
        if (k == p->n) return true;
    }
    return false;
}

const char *json_diff_value_text(const json_t *v, char *buf, size_t size)
{
    if (!v) {
        snprintf(buf, size, "(absent)");
        return buf;
    }
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) {
        snprintf(buf, size, "?");
        return buf;
    }
    if (strlen(text) > JSON_DIFF_VALUE_MAX)
        snprintf(buf, size, "%.*s...", JSON_DIFF_VALUE_MAX - 3, text);
    else
        snprintf(buf, size, "%s", text);
    free(text);
    return buf;
}

static void record(struct walk *w, const json_t *a, const json_t *b, const char *why)
{
    if (w->count++ >= w->max) return;
    char ta[JSON_DIFF_VALUE_MAX + 8], tb[JSON_DIFF_VALUE_MAX + 8];
    json_array_append_new(w->out, json_pack("{s:s,s:s,s:s,s:s}", "path", w->path, "a",
                                            json_diff_value_text(a, ta, sizeof ta), "b",
                                            json_diff_value_text(b, tb, sizeof tb), "why", why));
}

/* The kind of v as its structure sees it: integers and reals are both numbers. */
static int kind(const json_t *v)
{
    json_type t = json_typeof(v);
    if (t == JSON_INTEGER) return JSON_REAL;
    if (t == JSON_FALSE) return JSON_TRUE;
    return (int)t;
}

static bool plain_key(const char *key)
{
    if (!*key || isdigit((unsigned char)*key)) return false;
    for (const char *k = key; *k; k++)
        if (!isalnum((unsigned char)*k) && *k != '_' && *k != '-') return false;
    return true;
}

static void diff(struct walk *w, const json_t *a, const json_t *b);

/* Compares a and b one step further down (key, or index when key is NULL). */
static void diff_below(struct walk *w, const char *key, size_t index, const json_t *a,
                       const json_t *b)
{
    size_t len = strlen(w->path);
    if (w->depth == DIFF_MAX_DEPTH) { /* not compared path by path, but never taken as equal */
        if (!a || !b || !json_equal((json_t *)a, (json_t *)b)) record(w, a, b, "too deep to compare");
        return;
    }
    char *step = w->steps[w->depth];
    if (key) {
        snprintf(step, DIFF_STEP_MAX, "%s", key);
        if (plain_key(key)) {
            snprintf(w->path + len, sizeof w->path - len, ".%s", key);
        } else {
            json_t *s = json_string(key);
            char *q = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
            snprintf(w->path + len, sizeof w->path - len, "[%s]", q ? q : "?");
            free(q);
            json_decref(s);
        }
    } else {
        snprintf(step, DIFF_STEP_MAX, "%zu", index);
        snprintf(w->path + len, sizeof w->path - len, "[%zu]", index);
    }
    w->depth++;
    diff(w, a, b);
    w->depth--;
    w->path[len] = 0;
}

static void diff(struct walk *w, const json_t *a, const json_t *b)
{
    if (ignored(w)) return;
    if (!a || !b) {
        record(w, a, b, "key absent");
        return;
    }
    if (kind(a) != kind(b)) {
        record(w, a, b, "type differs");
        return;
    }
    const char *key;
    json_t *v;
    switch (json_typeof(a)) {
    case JSON_OBJECT:
        json_object_foreach((json_t *)a, key, v)
            diff_below(w, key, 0, v, json_object_get(b, key));
        json_object_foreach((json_t *)b, key, v)
            if (!json_object_get(a, key)) diff_below(w, key, 0, NULL, v);
        return;
    case JSON_ARRAY: {
        size_t na = json_array_size(a), nb = json_array_size(b);
        if (w->o->values && na != nb) {
            char ta[32], tb[32];
            snprintf(ta, sizeof ta, "%zu items", na);
            snprintf(tb, sizeof tb, "%zu items", nb);
            if (w->count++ < w->max)
                json_array_append_new(w->out, json_pack("{s:s,s:s,s:s,s:s}", "path", w->path, "a",
                                                        ta, "b", tb, "why", "length differs"));
        }
        for (size_t i = 0; i < na && i < nb; i++)
            diff_below(w, NULL, i, json_array_get(a, i), json_array_get(b, i));
        return;
    }
    case JSON_STRING:
        if (w->o->values && strcmp(json_string_value(a), json_string_value(b)) != 0)
            record(w, a, b, "value differs");
        return;
    case JSON_INTEGER:
    case JSON_REAL:
        if (w->o->values && json_number_value(a) != json_number_value(b))
            record(w, a, b, "value differs");
        return;
    case JSON_TRUE:
    case JSON_FALSE:
        if (w->o->values && json_typeof(a) != json_typeof(b)) record(w, a, b, "value differs");
        return;
    default:
        return;
    }
}

size_t json_diff_compare(const json_t *a, const json_t *b, const struct json_diff_opts *o,
                         json_t *out, size_t max)
{
    struct walk *w = calloc(1, sizeof *w);
    struct pattern *patterns = o->ignore_count ? calloc(o->ignore_count, sizeof *patterns) : NULL;
    if (!w || (o->ignore_count && !patterns)) {
        free(w);
        free(patterns);
        return SIZE_MAX; /* out of memory: never "no difference" */
    }
    for (size_t i = 0; i < o->ignore_count; i++)
        patterns[i].n = pattern_steps(o->ignore[i], patterns[i].steps);
    w->patterns = patterns;
    w->o = o;
    w->out = out;
    w->max = max;
    snprintf(w->path, sizeof w->path, "$");
    diff(w, a, b);
    size_t n = w->count;
    free(w);
    free(patterns);
    return n;
}

const char *json_diff_line(const json_t *d, const char *name_a, const char *name_b, char *buf,
                           size_t size)
{
    const char *f[4] = {"path", "a", "b", "why"}, *v[4];
    for (size_t i = 0; i < 4; i++) {
        v[i] = json_string_value(json_object_get(d, f[i]));
        if (!v[i]) v[i] = "?";
    }
    snprintf(buf, size, "%s: %s (%s) vs %s (%s): %s", v[0], v[1], name_a, v[2], name_b, v[3]);
    return buf;
}
