/* test_schema.c -- `herd schema`'s JSON Schemas agree with the loaders: every example plan and
 * cluster file validates against them, what the loaders refuse the schemas refuse too, and a
 * loader that reads a key as a kind its table does not declare fails. The validator below is
 * the subset of JSON Schema the tables use (type, enum, pattern, minimum, properties,
 * additionalProperties, required, min/maxProperties, items, anyOf); YAML becomes JSON as an
 * editor's YAML support reads it (plain scalars: null, booleans, numbers; quoted: strings). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cluster/clusterfile.h"
#include "conf/keys.h"
#include "load/threshold.h"
#include "plan/plan.h"
#include "../support/harness.h"

static json_t *scalar_json(const struct conf_node *n)
{
    const char *v = n->value;
    if (!n->plain) return json_string(v);
    if (!*v || strcmp(v, "null") == 0 || strcmp(v, "~") == 0) return json_null();
    if (strcmp(v, "true") == 0) return json_true();
    if (strcmp(v, "false") == 0) return json_false();
    regex_t re_int, re_num;
    regcomp(&re_int, "^-?[0-9]+$", REG_EXTENDED | REG_NOSUB);
    regcomp(&re_num, "^-?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$", REG_EXTENDED | REG_NOSUB);
    json_t *j = regexec(&re_int, v, 0, NULL, 0) == 0   ? json_integer(strtoll(v, NULL, 10))
                : regexec(&re_num, v, 0, NULL, 0) == 0 ? json_real(strtod(v, NULL))
                                                       : json_string(v);
    regfree(&re_int);
    regfree(&re_num);
    return j;
}

static json_t *to_json(const struct conf_node *n)
{
    if (!n) return json_null();
    if (n->type == CONF_SCALAR) return scalar_json(n);
    json_t *j = n->type == CONF_MAP ? json_object() : json_array();
    for (const struct conf_node *m = n->first; m; m = m->next) {
        if (n->type == CONF_MAP)
            json_object_set_new(j, m->key, to_json(m));
        else
            json_array_append_new(j, to_json(m));
    }
    return j;
}

static bool is_type(const json_t *v, const char *type)
{
    if (strcmp(type, "string") == 0) return json_is_string(v);
    if (strcmp(type, "integer") == 0) return json_is_integer(v);
    if (strcmp(type, "number") == 0) return json_is_number(v);
    if (strcmp(type, "boolean") == 0) return json_is_boolean(v);
    if (strcmp(type, "null") == 0) return json_is_null(v);
    if (strcmp(type, "object") == 0) return json_is_object(v);
    if (strcmp(type, "array") == 0) return json_is_array(v);
    fail_msg("schema type '%s' unknown to the test", type);
    return false;
}

/* True when v is valid; else false with the first reason in why. */
static bool valid(const json_t *s, const json_t *v, const char *path, char *why, size_t size)
{
    const json_t *t = json_object_get(s, "type"), *x;
    if (json_is_string(t) && !is_type(v, json_string_value(t)))
        return snprintf(why, size, "%.400s: not %s", path, json_string_value(t)), false;
    if (json_is_array(t)) {
        bool any = false;
        size_t i;
        json_t *e;
        json_array_foreach(t, i, e) any |= is_type(v, json_string_value(e));
        if (!any) return snprintf(why, size, "%.400s: none of its types", path), false;
    }
    if ((x = json_object_get(s, "enum"))) {
        bool any = false;
        size_t i;
        json_t *e;
        json_array_foreach(x, i, e) any |= json_equal(e, (json_t *)v);
        if (!any) return snprintf(why, size, "%.400s: not one of the enum", path), false;
    }
    if ((x = json_object_get(s, "pattern")) && json_is_string(v)) {
        regex_t re;
        assert_int_equal(regcomp(&re, json_string_value(x), REG_EXTENDED | REG_NOSUB), 0);
        int rc = regexec(&re, json_string_value(v), 0, NULL, 0);
        regfree(&re);
        if (rc != 0) return snprintf(why, size, "%.400s: does not match its pattern", path), false;
    }
    if ((x = json_object_get(s, "minimum")) && json_is_number(v) &&
        json_number_value(v) < json_number_value(x))
        return snprintf(why, size, "%.400s: below its minimum", path), false;
    if ((x = json_object_get(s, "anyOf"))) {
        size_t i;
        json_t *e;
        json_array_foreach(x, i, e) if (valid(e, v, path, why, size)) return true;
        return snprintf(why, size, "%.400s: matches none of anyOf", path), false;
    }
    if (json_is_object(v)) {
        const json_t *props = json_object_get(s, "properties"),
                     *extra = json_object_get(s, "additionalProperties");
        const char *key;
        json_t *m;
        json_object_foreach((json_t *)v, key, m)
        {
            char sub[512];
            snprintf(sub, sizeof sub, "%.300s.%.100s", path, key);
            const json_t *ks = props ? json_object_get(props, key) : NULL;
            if (!ks && json_is_false(extra))
                return snprintf(why, size, "%.400s: not allowed", sub), false;
            if (!ks && json_is_object(extra)) ks = extra;
            if (ks && !valid(ks, m, sub, why, size)) return false;
        }
        if ((x = json_object_get(s, "required"))) {
            size_t i;
            json_t *e;
            json_array_foreach(x, i, e) if (!json_object_get(v, json_string_value(e))) return
                snprintf(why, size, "%.400s: missing %s", path, json_string_value(e)),
                false;
        }
        if ((x = json_object_get(s, "minProperties")) &&
            json_object_size(v) < (size_t)json_integer_value(x))
            return snprintf(why, size, "%.400s: too few members", path), false;
        if ((x = json_object_get(s, "maxProperties")) &&
            json_object_size(v) > (size_t)json_integer_value(x))
            return snprintf(why, size, "%.400s: too many members", path), false;
    }
    if (json_is_array(v) && (x = json_object_get(s, "items"))) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            char sub[512];
            snprintf(sub, sizeof sub, "%.300s[%zu]", path, i);
            if (!valid(x, e, sub, why, size)) return false;
        }
    }
    return true;
}

/* Validates the YAML text against the schema of root; returns true or false with why. */
static bool text_valid(const struct conf_key *root, const char *text, char *why, size_t size)
{
    struct conf_doc doc;
    char err[512];
    if (conf_parse(&doc, "t.yaml", text, strlen(text), err, sizeof err) < 0) fail_msg("%s", err);
    json_t *schema = conf_schema(root, "t"), *v = to_json(doc.root);
    assert_non_null(schema);
    bool ok = valid(schema, v, "$", why, size);
    json_decref(schema);
    json_decref(v);
    conf_free(&doc);
    return ok;
}

static void test_schema_accepts_examples(void **state)
{
    (void)state;
    DIR *d = opendir(HERD_SOURCE_DIR "/examples");
    assert_non_null(d);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".yaml") != 0) continue;
        char path[512], why[512];
        snprintf(path, sizeof path, "%s/examples/%s", HERD_SOURCE_DIR, e->d_name);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        char text[65536];
        size_t len = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[len] = '\0';
        const struct conf_key *root =
            strstr(e->d_name, "-cluster.") ? &cluster_file_key : &plan_file_key;
        if (!text_valid(root, text, why, sizeof why)) fail_msg("%s: %s", e->d_name, why);
        files++;
    }
    closedir(d);
    assert_true(files >= 9);
}

/* What the loader refuses for a key or a kind of value, the schema refuses too. */
static void test_schema_refuses_what_loaders_refuse(void **state)
{
    (void)state;
    static const char *const plans[] = {
        "target: http://127.0.0.1:1\nchecks:\n  - concurrency: {duration: 5x}\n",
        "target: http://127.0.0.1:1\nchecks:\n  - concurrency: {conections: 5}\n",
        "target: http://127.0.0.1:1\nchecks:\n  - concurrency: {connections: many}\n",
        "target: http://127.0.0.1:1\nchecks:\n  - loadtest: {}\n",
        "target: http://127.0.0.1:1\nchecks:\n  - concurrency: {}\n    distribution: {}\n",
        "target: http://127.0.0.1:1\nchecks:\n  - concurrency: {expect: {p100: 5}}\n",
        "target: http://127.0.0.1:1\nreport: {formats: [pdf]}\nchecks:\n  - connectivity:\n",
        "target: http://127.0.0.1:1\n",
        "cluster:\n  groups:\n    api: {replicas: 2, base_port: 20000}\nchecks:\n  - "
        "connectivity:\n",
        "cluster:\n  groups:\n    api: {command: x, restart: sometimes, base_port: 20000}\n"
        "checks:\n  - connectivity:\n",
        "cluster:\n  groups:\n    api: {command: x, base_port: 20000}\n  gateway: {balance: "
        "fastest}\nchecks:\n  - connectivity:\n",
    };
    for (size_t i = 0; i < sizeof plans / sizeof plans[0]; i++) {
        char why[512], err[512];
        char *path = harness_temp_file(".yaml", plans[i]);
        struct plan p;
        if (plan_load(&p, path, err, sizeof err) == 0) {
            plan_free(&p);
            fail_msg("the loader took plan %zu:\n%s", i, plans[i]);
        }
        unlink(path);
        free(path);
        if (text_valid(&plan_file_key, plans[i], why, sizeof why))
            fail_msg("the schema took plan %zu (the loader said: %s)", i, err);
    }
    char why[512];
    assert_true(text_valid(&plan_file_key,
                           "target: http://127.0.0.1:1\nchecks:\n  - concurrency: {duration: "
                           "1m30s}\n  - failover: {node: [api.1, api.2], duration: 10}\n",
                           why, sizeof why));
}

/* A check's body may be empty (`- connectivity:`), yet a wrong member in it is reported at
 * that member, as an editor shows it, not as "none of anyOf" at the whole check. */
static void test_schema_points_at_the_wrong_member(void **state)
{
    (void)state;
    char why[512];
    assert_false(text_valid(&plan_file_key,
                            "target: http://127.0.0.1:1\nchecks:\n  - failover: {falt: kill}\n",
                            why, sizeof why));
    assert_string_equal(why, "$.checks[0].failover.falt: not allowed");
    assert_false(text_valid(&plan_file_key,
                            "target: http://127.0.0.1:1\nchecks:\n  - failover: {fault: crash}\n",
                            why, sizeof why));
    assert_string_equal(why, "$.checks[0].failover.fault: not one of the enum");
    assert_true(text_valid(&plan_file_key,
                           "target: http://127.0.0.1:1\nchecks:\n  - connectivity:\n", why,
                           sizeof why));
}

/* A loader reading a member as a kind its table does not declare fails, naming it. */
static void test_schema_misread_fails(void **state)
{
    (void)state;
    static const struct conf_key table[] = {
        CONF_KEY("count", CONF_K_INT, "a count"),
        CONF_KEY("wait", CONF_K_DURATION, "a wait", .required = true),
        CONF_KEYS_END,
    };
    struct conf_doc doc;
    char err[512];
    const char text[] = "count: 5\nwait: 2s\n";
    assert_int_equal(conf_parse(&doc, "t.yaml", text, strlen(text), err, sizeof err), 0);
    assert_int_equal(conf_check_members(&doc, doc.root, table, err, sizeof err), 0);
    long long n;
    uint64_t us;
    assert_int_equal(conf_opt_int(&doc, doc.root, "count", 0, 10, &n, err, sizeof err), 0);
    assert_int_equal(conf_opt_duration_us(&doc, doc.root, "wait", 0, UINT64_MAX, &us, err,
                                          sizeof err),
                     0);
    assert_int_equal(us, 2000000);
    assert_int_equal(conf_opt_duration_us(&doc, doc.root, "count", 0, UINT64_MAX, &us, err,
                                          sizeof err),
                     -1);
    assert_non_null(strstr(err, "t.yaml:1:8: count: read as a duration"));
    conf_free(&doc);
    const char missing[] = "count: 5\n";
    assert_int_equal(conf_parse(&doc, "t.yaml", missing, strlen(missing), err, sizeof err), 0);
    assert_int_equal(conf_check_members(&doc, doc.root, table, err, sizeof err), -1);
    assert_non_null(strstr(err, "missing 'wait', a wait"));
    conf_free(&doc);
}

/* The expectations' load metrics in the schema are the ones thresholds know, all of them. */
static void test_schema_load_metrics_are_thresholds(void **state)
{
    (void)state;
    size_t n = 0;
    for (const char *const *m = conf_load_metrics; *m; m++, n++) {
        enum threshold_metric metric;
        if (threshold_metric_parse(*m, &metric) < 0) fail_msg("'%s' is no threshold metric", *m);
        assert_int_equal(metric, (int)n); /* in the enum's order: none left out */
    }
    assert_int_equal(n, THRESHOLD_REQUESTS + 1);
}

int unit_schema(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_accepts_examples),
        cmocka_unit_test(test_schema_refuses_what_loaders_refuse),
        cmocka_unit_test(test_schema_points_at_the_wrong_member),
        cmocka_unit_test(test_schema_misread_fails),
        cmocka_unit_test(test_schema_load_metrics_are_thresholds),
    };
    return cmocka_run_group_tests_name("schema", tests, NULL, NULL);
}
