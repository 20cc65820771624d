/* test_conf.c -- YAML/JSON documents, typed getters, and the positions in error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "cluster/clusterfile.h"
#include "conf/conf.h"
#include "load/options.h"
#include "node/node.h"
#include "plan/plan.h"
#include "unit.h"
#include "../support/harness.h"

static const char plan[] = "name: api cluster\n"
                           "cluster:\n"
                           "  groups:\n"
                           "    api: {command: \"herd node\", replicas: 3, base_port: 8081}\n"
                           "checks:\n"
                           "  - connectivity: {probes: 10}\n"
                           "  - failover:\n"
                           "      restart_after: 3s\n"
                           "      enabled: yes\n";

static void test_parse_tree_and_positions(void **state)
{
    (void)state;
    struct conf_doc doc;
    char err[ERR_SIZE];
    assert_int_equal(conf_parse(&doc, "plan.yaml", plan, strlen(plan), err, sizeof err), 0);
    assert_int_equal(doc.root->type, CONF_MAP);
    const struct conf_node *api =
        conf_get(conf_get(conf_get(doc.root, "cluster"), "groups"), "api");
    assert_non_null(api);
    assert_int_equal(api->line, 4);
    assert_int_equal(api->col, 10);
    long long replicas = 0;
    assert_int_equal(conf_opt_int(&doc, api, "replicas", 1, 100, &replicas, err, sizeof err), 0);
    assert_int_equal(replicas, 3);
    const char *cmd = NULL;
    assert_int_equal(conf_opt_string(&doc, api, "command", &cmd, err, sizeof err), 0);
    assert_string_equal(cmd, "herd node");
    const struct conf_node *checks = conf_get(doc.root, "checks");
    assert_int_equal(checks->type, CONF_SEQ);
    assert_int_equal(checks->count, 2);
    const struct conf_node *failover = conf_get(checks->first->next, "failover");
    uint64_t us = 0;
    assert_int_equal(
        conf_opt_duration_us(&doc, failover, "restart_after", 0, 60e6, &us, err, sizeof err), 0);
    assert_int_equal(us, 3000000);
    bool enabled = false;
    assert_int_equal(conf_opt_bool(&doc, failover, "enabled", &enabled, err, sizeof err), 0);
    assert_true(enabled);
    char path[128];
    conf_path(conf_get(failover, "restart_after"), path, sizeof path);
    assert_string_equal(path, "checks[1].failover.restart_after");
    /* absent optional keys leave the value alone */
    long long absent = 42;
    assert_int_equal(conf_opt_int(&doc, api, "nope", 0, 1, &absent, err, sizeof err), 0);
    assert_int_equal(absent, 42);
    conf_free(&doc);
}

static void test_json_accepted(void **state)
{
    (void)state;
    const char *text = "{\"port\": 8080, \"tags\": [\"a\", \"b\"], \"on\": true}";
    struct conf_doc doc;
    char err[ERR_SIZE];
    assert_int_equal(conf_parse(&doc, "x.json", text, strlen(text), err, sizeof err), 0);
    long long port = 0;
    assert_int_equal(conf_opt_int(&doc, doc.root, "port", 1, 65535, &port, err, sizeof err), 0);
    assert_int_equal(port, 8080);
    assert_int_equal(conf_get(doc.root, "tags")->count, 2);
    conf_free(&doc);
}

/* Parses text and runs one getter on root.key; returns the error message. */
static const char *first_error(const char *text, const char *key, int kind)
{
    static char err[ERR_SIZE];
    struct conf_doc doc;
    err[0] = '\0';
    if (conf_parse(&doc, "f.yaml", text, strlen(text), err, sizeof err) < 0) return err;
    const struct conf_node *n = conf_get(doc.root, key);
    long long i;
    bool b;
    uint64_t us;
    double d;
    static const char *const keys[] = {"port", "host", NULL};
    switch (kind) {
    case 0:
        conf_to_int(&doc, n, 1, 65535, &i, err, sizeof err);
        break;
    case 1:
        conf_to_bool(&doc, n, &b, err, sizeof err);
        break;
    case 2:
        conf_to_duration_us(&doc, n, 0, 60e6, &us, err, sizeof err);
        break;
    case 3:
        conf_check_keys(&doc, doc.root, keys, err, sizeof err);
        break;
    case 4:
        conf_expect_map(&doc, n, err, sizeof err);
        break;
    case 5:
        conf_to_double(&doc, n, 0, 1, &d, err, sizeof err);
        break;
    case 6:
        conf_to_size(&doc, n, 4096, 1 << 20, &us, err, sizeof err);
        break;
    }
    conf_free(&doc);
    return err;
}

static void test_error_messages(void **state)
{
    (void)state;
    assert_string_equal(first_error("a: 1\nport: 70000\n", "port", 0),
                        "f.yaml:2:7: port: '70000': expected a whole number from 1 to 65535");
    assert_string_equal(
        first_error("port: eighty\n", "port", 0),
        "f.yaml:1:7: port: 'eighty': expected a whole number from 1 to 65535");
    assert_string_equal(first_error("x:\n  - 1\nflag: maybe\n", "flag", 1),
                        "f.yaml:3:7: flag: 'maybe' is not a boolean, expected true or false");
    assert_string_equal(first_error("t: 3 parsecs\n", "t", 2),
                        "f.yaml:1:4: t: '3 parsecs': expected a duration such as 500ms, 2s, "
                        "1m30s");
    assert_string_equal(first_error("t: 2m\n", "t", 2),
                        "f.yaml:1:4: t: '2m': expected a duration from 0s to 1m");
    assert_string_equal(first_error("t: [1]\n", "t", 2),
                        "f.yaml:1:4: t: found a list, expected a duration such as 500ms, 2s, 1m30s");
    assert_string_equal(first_error("port: 1\nhots: x\n", "port", 3),
                        "f.yaml:2:1: hots: unknown key 'hots', expected one of: port, host");
    assert_string_equal(first_error("g: [1, 2]\n", "g", 4),
                        "f.yaml:1:4: g: found a list, expected a mapping (key: value)");
    assert_string_equal(first_error("r: 1.5\n", "r", 5),
                        "f.yaml:1:4: r: '1.5': expected a number from 0 to 1");
    assert_string_equal(first_error("r: 1e-1\n", "r", 5),
                        "f.yaml:1:4: r: '1e-1': expected a number from 0 to 1");
    assert_string_equal(first_error("s: 64 KB\n", "s", 6),
                        "f.yaml:1:4: s: '64 KB': expected a size such as 64KB, 1MB, 1GB");
    assert_string_equal(first_error("s: 2MB\n", "s", 6),
                        "f.yaml:1:4: s: '2MB': expected a size from 4KB to 1MB");
    assert_string_equal(first_error("s: 64KB\n", "s", 6), "");
    /* the parser's own errors carry positions too */
    const char *e = first_error("a: [1, 2\nb: 3\n", "a", 0);
    assert_non_null(strstr(e, "f.yaml:"));
    assert_non_null(strstr(e, "invalid YAML"));
    e = first_error("a: 1\na: 2\n", "a", 0);
    assert_string_equal(e, "f.yaml:2:1: duplicate key 'a'");
    e = first_error("a: &x 1\nb: *x\n", "a", 0);
    assert_non_null(strstr(e, "f.yaml:2:4: aliases"));
    e = first_error("? [1]\n: 2\n", "a", 0);
    assert_non_null(strstr(e, "a mapping key must be a plain string"));
}

static void test_nested_path_in_error(void **state)
{
    (void)state;
    const char *text = "cluster:\n  groups:\n    api:\n      replicas: -1\n";
    struct conf_doc doc;
    char err[ERR_SIZE];
    assert_int_equal(conf_parse(&doc, "p.yaml", text, strlen(text), err, sizeof err), 0);
    const struct conf_node *api =
        conf_get(conf_get(conf_get(doc.root, "cluster"), "groups"), "api");
    long long r;
    assert_int_equal(conf_opt_int(&doc, api, "replicas", 1, 1000, &r, err, sizeof err), -1);
    assert_string_equal(
        err, "p.yaml:4:17: cluster.groups.api.replicas: '-1': expected a whole number from 1 to 1000");
    conf_free(&doc);
}

static void test_load_file_errors(void **state)
{
    (void)state;
    struct conf_doc doc;
    char err[ERR_SIZE];
    assert_int_equal(conf_load_file(&doc, "/nonexistent/herd.yaml", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/herd.yaml: cannot open"));
    assert_int_equal(conf_parse(&doc, "empty.yaml", "", 0, err, sizeof err), 0);
    assert_null(doc.root);
    conf_free(&doc);
}

/* A file holds one document: a second one (after ---) is an error at its start, whatever it
 * holds, and frees nothing twice (it was a use-after-free in every loader). */
static void test_second_document_rejected(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"a: 1\n---\nb: 2\n", "f.yaml:2:1: a second document (---): a herd file holds one"},
        {"a: 1\n--- x\n", "f.yaml:2:1: a second document"},
        {"--- [1, 2]\n--- {a: 1}\n", "f.yaml:2:1: a second document"},
        {"---\na: 1\n...\n---\n", "f.yaml:4:1: a second document"},
        {"x\n---\n- 1\n", "f.yaml:2:1: a second document"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct conf_doc doc;
        char err[ERR_SIZE] = "";
        assert_int_equal(conf_parse(&doc, "f.yaml", cases[i][0], strlen(cases[i][0]), err,
                                    sizeof err),
                         -1);
        if (!strstr(err, cases[i][1])) fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i][1]);
        assert_null(doc.root);
    }
    /* one document with its markers is fine */
    struct conf_doc doc;
    char err[ERR_SIZE];
    const char *one = "---\na: 1\n...\n";
    assert_int_equal(conf_parse(&doc, "f.yaml", one, strlen(one), err, sizeof err), 0);
    assert_non_null(conf_get(doc.root, "a"));
    conf_free(&doc);
}

/* Every loader passes the second document's message on (the CLIs print it and exit 2). */
static void test_loaders_reject_second_document(void **state)
{
    (void)state;
    char *path = harness_temp_file(".yaml", "port: 8080\n---\nport: 8081\n");
    char err[ERR_SIZE];
    struct plan p;
    assert_int_equal(plan_load(&p, path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2:1: a second document"));
    struct cluster_spec spec;
    struct conf_doc doc;
    assert_int_equal(cluster_spec_load(&spec, &doc, path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2:1: a second document"));
    struct node_config cfg;
    node_config_default(&cfg);
    assert_int_equal(node_config_load(&cfg, path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2:1: a second document"));
    struct bench_options o;
    bench_options_default(&o);
    assert_int_equal(bench_options_load(&o, path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2:1: a second document"));
    bench_options_free(&o);
    unlink(path);
    free(path);
}

int unit_conf(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_tree_and_positions),
        cmocka_unit_test(test_json_accepted),
        cmocka_unit_test(test_error_messages),
        cmocka_unit_test(test_nested_path_in_error),
        cmocka_unit_test(test_load_file_errors),
        cmocka_unit_test(test_second_document_rejected),
        cmocka_unit_test(test_loaders_reject_second_document),
    };
    return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
