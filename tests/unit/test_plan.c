/* test_plan.c -- the plan parser (defaults, expectations, positioned errors) and the
 * chi-square p-value the distribution check judges random balancing by. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plan/plan.h"
#include "plan/runner.h"
#include "../support/harness.h"

static int load_text(const char *text, struct plan *p, char *err, size_t errlen)
{
    char *path = harness_temp_file(".yaml", text);
    int rc = plan_load(p, path, err, errlen);
    unlink(path);
    free(path);
    return rc;
}

static void test_plan_defaults_and_expectations(void **state)
{
    (void)state;
    struct plan p;
    char err[512];
    assert_int_equal(
        load_text("name: t\n"
                  "cluster:\n"
                  "  groups: {api: {command: herd node, replicas: 3, base_port: 20001}}\n"
                  "  gateway: {port: 20010}\n"
                  "checks:\n"
                  "  - connectivity:\n"
                  "  - distribution: {requests: 300, expect: {max_deviation: \"<5%\"}}\n"
                  "  - concurrency: {connections: 5, duration: 2s, expect: {p99: \"<20ms\", "
                  "errors: \"<0.1%\"}}\n"
                  "  - connectivity: {probes: 3, path: /echo}\n"
                  "report: {dir: out, formats: [json, junit]}\n",
                  &p, err, sizeof err),
        0);
    assert_string_equal(p.target, "http://127.0.0.1:20010"); /* the gateway by default */
    assert_int_equal(p.check_count, 4);
    assert_int_equal(p.checks[0].kind, PLAN_CONNECTIVITY);
    assert_int_equal(p.checks[0].probes, 10);
    assert_string_equal(p.checks[0].path, "/health");
    assert_int_equal(p.checks[0].bound_count, 1); /* success >=100% unless told otherwise */
    assert_true(plan_bound_check(&p.checks[0].bounds[0], 1.0));
    assert_false(plan_bound_check(&p.checks[0].bounds[0], 0.99));
    assert_int_equal(p.checks[1].requests, 300);
    assert_string_equal(p.checks[1].bounds[0].key, "max_deviation");
    assert_true(fabs(p.checks[1].bounds[0].value - 0.05) < 1e-9);
    assert_int_equal(p.checks[2].threshold_count, 2);
    assert_int_equal(p.checks[2].duration_us, 2000000);
    assert_string_equal(p.checks[3].name, "connectivity#4");
    assert_string_equal(p.report_dir, "out");
    assert_int_equal(p.formats, PLAN_JSON | PLAN_JUNIT);
    plan_free(&p);
}

/* Several nodes at once: a list, or a share or count of a group (its last replicas). */
static void test_plan_fault_nodes(void **state)
{
    (void)state;
    struct plan p;
    char err[512];
    int rc = load_text("cluster:\n"
                       "  groups: {api: {command: herd node, replicas: 3, base_port: 20001},\n"
                       "           web: {command: herd node, replicas: 4, base_port: 20011}}\n"
                       "  gateway: {port: 20010}\n"
                       "checks:\n"
                       "  - failover: {fault: kill, node: [api.1, web.2]}\n"
                       "  - failover: {fault: pause, group: api, share: 50%}\n"
                       "  - failover: {fault: stop, group: web, count: 3}\n"
                       "  - failover: {fault: latency, group: web, share: 10%}\n",
                       &p, err, sizeof err);
    if (rc != 0) fail_msg("%s", err);
    assert_int_equal(p.checks[0].node_count, 2);
    assert_string_equal(p.checks[0].nodes[0], "api.1");
    assert_string_equal(p.checks[0].nodes[1], "web.2");
    assert_int_equal(p.checks[1].node_count, 2); /* 50% of 3, rounded: 2 */
    assert_string_equal(p.checks[1].nodes[0], "api.2");
    assert_string_equal(p.checks[1].nodes[1], "api.3");
    assert_int_equal(p.checks[2].node_count, 3);
    assert_string_equal(p.checks[2].nodes[0], "web.2");
    assert_int_equal(p.checks[3].node_count, 1); /* at least one */
    assert_string_equal(p.checks[3].nodes[0], "web.4");
    plan_free(&p);
}

/* Every plan in examples/ (not the cluster files, *-cluster.yaml) loads. */
static void test_plan_examples_load(void **state)
{
    (void)state;
    DIR *d = opendir(HERD_SOURCE_DIR "/examples");
    assert_non_null(d);
    int plans = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".yaml") != 0 || strstr(e->d_name, "-cluster."))
            continue;
        char path[512], err[512];
        snprintf(path, sizeof path, "%s/examples/%s", HERD_SOURCE_DIR, e->d_name);
        struct plan p;
        if (plan_load(&p, path, err, sizeof err) < 0) fail_msg("%s", err);
        assert_true(p.check_count > 0);
        plan_free(&p);
        plans++;
    }
    closedir(d);
    assert_true(plans >= 5); /* the demo and the four seeds' scenarios */
}

static void test_plan_capacity(void **state)
{
    (void)state;
    struct plan p;
    char err[512];
    int rc = load_text("cluster:\n"
                       "  groups: {api: {command: herd node, replicas: 3, base_port: 20001}}\n"
                       "  gateway: {port: 20010}\n"
                       "checks:\n"
                       "  - capacity: {group: api}\n"
                       "  - capacity: {group: api, step: 5, max: 50, probes: 2, path: /echo,\n"
                       "               limit: {health_p99: 20ms, memory: 2GB},\n"
                       "               expect: {nodes: \">=40\", rss_per_node: \"<20MB\"}}\n",
                       &p, err, sizeof err);
    if (rc != 0) fail_msg("%s", err);
    const struct plan_check *d = &p.checks[0], *c = &p.checks[1];
    assert_int_equal(d->kind, PLAN_CAPACITY);
    assert_int_equal(d->step, 10);
    assert_int_equal(d->max_replicas, 100);
    assert_string_equal(d->path, "/health");
    assert_true(d->memory_limit_mb == 0); /* half of what is available, decided at the run */
    assert_int_equal(c->step, 5);
    assert_int_equal(c->max_replicas, 50);
    assert_true(fabs(c->health_limit_ms - 20) < 1e-9);
    assert_true(fabs(c->memory_limit_mb - 2048) < 1e-9);
    assert_string_equal(c->bounds[1].key, "rss_per_node");
    assert_true(plan_bound_check(&c->bounds[1], 19.5));
    assert_false(plan_bound_check(&c->bounds[1], 20.5));
    plan_free(&p);
}

static void test_plan_consistency(void **state)
{
    (void)state;
    struct plan p;
    char err[512];
    assert_int_equal(
        load_text("cluster:\n"
                  "  groups: {api: {command: herd node, replicas: 3, base_port: 20001}}\n"
                  "  gateway: {port: 20010}\n"
                  "checks:\n"
                  "  - consistency: {write: \"PUT /kv/{key}\", read_each_node: \"GET /kv/{key}\",\n"
                  "                  converge: \"<1s\"}\n"
                  "  - consistency: {keys: 100, rate: 50, write: \"POST /store/{key}?sync=0\",\n"
                  "                  fault: kill, node: api.2, expect: {catch_up: \"<2s\"}}\n",
                  &p, err, sizeof err),
        0);
    const struct plan_check *c = &p.checks[0];
    assert_int_equal(c->kind, PLAN_CONSISTENCY);
    assert_string_equal(c->group, "api"); /* the first group by default */
    assert_int_equal(c->requests, 200);
    assert_string_equal(c->write_method, "PUT");
    assert_string_equal(c->read_path, "/kv/{key}");
    assert_int_equal(c->bound_count, 2); /* converge, and unconverged <=0 by default */
    assert_string_equal(c->bounds[0].key, "converge");
    assert_true(fabs(c->bounds[0].value - 1000) < 1e-9);
    assert_string_equal(c->bounds[1].key, "unconverged");
    assert_string_equal(c->fault, "");
    c = &p.checks[1];
    assert_string_equal(c->write_method, "POST");
    assert_string_equal(c->write_path, "/store/{key}?sync=0");
    assert_int_equal(c->duration_us, 2000000); /* 100 keys at 50/s */
    assert_string_equal(c->fault, "kill");
    assert_int_equal(c->at_us, 2000000 / 3);
    assert_int_equal(c->restart_after_us, 2000000 / 3);
    plan_free(&p);
}

static void test_plan_errors(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"target: http://x:1\nchecks: []\n", ":2:"},
        {"target: http://x:1\nchecks:\n  - capasity: {}\n", "unknown check 'capasity', expected connectivity"},
        {"target: http://x:1\nchecks:\n  - consistency: {}\n", "missing 'nodes'"},
        {"target: http://x:1\nchecks:\n  - consistency: {nodes: [\"nope\"]}\n",
         "expected a node's base URL"},
        {"target: http://x:1\nchecks:\n  - consistency: {nodes: [\"http://a:1\"], write: \"PUT "
         "/kv\"}\n",
         "expected METHOD /path/{key}"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - consistency: {fault: pause, node: api.1, restart_after: "
         "0s}\n",
         "must come back to catch up"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - consistency: {fault: melt, node: api.1}\n",
         "expected kill, stop, pause, latency, reset, blackhole, partition or exec"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - failover: {fault: reset, node: api.1, latency: 1s}\n",
         "only the latency fault takes a latency"},
        {"target: http://x:1\nchecks:\n  - failover: {fault: kill, node: api.1}\n",
         "for a cluster herd did not launch use fault: exec"},
        {"target: http://x:1\nchecks:\n  - failover: {fault: exec, node: a}\n", "needs 'exec'"},
        {"target: http://x:1\nchecks:\n  - failover: {fault: exec, exec: x, node: a, "
         "restart_after: 1s}\n",
         "restart_after needs 'recover'"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - consistency: {converge: soon}\n",
         "expected a bound such as"},
        {"target: http://x:1\nchecks:\n  - hotplug: {group: api}\n",
         "needs the plan's cluster with a gateway"},
        {"target: http://x:1\nchecks:\n  - failover: {node: api.1}\n", "needs the plan's cluster"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - failover: {node: api.3}\n",
         "'api.3' is not a replica"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - failover: {node: api.1, fault: melt}\n",
         "'melt'"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - failover: {node: [api.1, api.1]}\n",
         "'api.1' is named twice"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - failover: {node: [api.1, api.7]}\n",
         "4:30: checks[0].failover.node[1]: 'api.7' is not a replica"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - failover: {group: api, share: 100%}\n",
         "2 of 2 replicas is the whole group api"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - failover: {group: api, share: 50%, count: 1}\n",
         "give one of 'share' (50%) or 'count' (2)"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - failover: {group: api, share: half}\n",
         "expected a share of the group such as 50%"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - failover: {group: db, count: 1}\n",
         "or 'group' (a group of the plan's cluster) with 'share' or 'count'"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - consistency: {fault: kill, node: [api.1, api.2], keys: 1000, at: 1s, "
         "restart_after: 1s}\n",
         "consistency.node"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - failover: {node: api.1, duration: 2s, at: 3s}\n",
         "within the duration"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - scaling: {group: web, replicas: [1, 2]}\n",
         "one of the plan's cluster groups"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - scaling: {group: api, replicas: [2]}\n",
         "two replica counts or more"},
        {"target: http://x:1\nchecks:\n  - capacity: {group: api}\n",
         "a capacity check needs the plan's cluster"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - capacity: {group: api, max: 2}\n",
         "expected more than the group's 2 replicas"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 65000}}}\n"
         "target: http://x:1\nchecks:\n  - capacity: {group: api, max: 1000}\n",
         "go past port 65535"},
        {"cluster: {groups: {api: {command: x, replicas: 2, ports: [20001, 20002]}}}\n"
         "target: http://x:1\nchecks:\n  - capacity: {group: api}\n",
         "growing it needs base_port"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - capacity: {group: api, limit: {memory: lots}}\n",
         "expected a size such as 512MB or 4GB"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - capacity: {group: api, limit: {cpu: 1}}\n",
         "capacity.limit"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - failover: {fault: partition, node: api.1}\n",
         "give group api netns: true (root only)"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001, netns: true}}}\n"
         "target: http://x:1\nchecks:\n  - failover: {fault: blackhole, node: api.1}\n",
         "the blackhole fault goes through the fault proxy"},
        {"cluster: {groups: {api: {command: x, replicas: 2, ports: [1, 2], netns: true}}}\n"
         "target: http://x:1\nchecks:\n  - connectivity:\n",
         "needs base_port"},
        {"target: http://x:1\nchecks:\n  - failover: {fault: none, node: api.1}\n",
         "fault: none (the load without a fault) takes no node"},
        {"target: http://x:1\nchecks:\n  - concurrency: {conections: 5}\n", "conections"},
        {"target: http://x:1\nchecks:\n  - concurrency: {expect: {p99: soon}}\n",
         "checks[0].concurrency.expect.p99"},
        {"target: http://x:1\nchecks:\n  - distribution: {expect: {fairness: \"<1%\"}}\n",
         "unknown expectation 'fairness'"},
        {"target: ftp://x\nchecks:\n  - connectivity:\n", "expected the base URL"},
        {"checks:\n  - connectivity:\n", "no target"},
        {"environments: {a: \"http://x:1\"}\nchecks:\n  - connectivity: {environment: b}\n",
         "3:33: checks[0].connectivity.environment: 'b' is not one of the plan's environments"},
        {"environments: {a: \"ftp://x\"}\nchecks:\n  - connectivity:\n",
         "environments.a: expected the base URL"},
        {"environments: []\nchecks:\n  - connectivity:\n", "environments: found a list, expected a mapping"},
        {"target: http://x:1\n", "missing 'checks'"},
        {"target: http://x:1\nchecks:\n  - connectivity: {path: nope}\n", "starting with /"},
        {"target: http://x:1\nchecks:\n  - connectivity:\nreport: {formats: [pdf]}\n", "'pdf'"},
        {"target: http://x:1\nchecks:\n  - connectivity:\nbogus: 1\n", "bogus"},
        {"cluster: {groups: {api: {command: x, replicas: 1, base_port: 0}}}\ntarget: http://x:1\n"
         "checks:\n  - connectivity:\n",
         "cluster.groups.api.base_port"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct plan p;
        char err[512] = "";
        assert_int_equal(load_text(cases[i][0], &p, err, sizeof err), -1);
        if (!strstr(err, cases[i][1])) fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i][1]);
        assert_non_null(strstr(err, ".yaml:")); /* FILE:LINE:COL */
    }
}

static void test_chi2_p_value(void **state)
{
    (void)state;
    /* critical values at p = 0.05 and 0.01 from the chi-square table */
    assert_true(fabs(plan_chi2_p_value(3.841, 1) - 0.05) < 0.001);
    assert_true(fabs(plan_chi2_p_value(5.991, 2) - 0.05) < 0.001);
    assert_true(fabs(plan_chi2_p_value(9.210, 2) - 0.01) < 0.0005);
    assert_true(fabs(plan_chi2_p_value(18.307, 10) - 0.05) < 0.001);
    assert_true(fabs(plan_chi2_p_value(0, 2) - 1.0) < 1e-12);
    assert_true(plan_chi2_p_value(200, 2) < 1e-40);
}

int unit_plan(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_defaults_and_expectations),
        cmocka_unit_test(test_plan_fault_nodes), cmocka_unit_test(test_plan_capacity),
        cmocka_unit_test(test_plan_examples_load),
        cmocka_unit_test(test_plan_consistency),
        cmocka_unit_test(test_plan_errors),
        cmocka_unit_test(test_chi2_p_value),
    };
    return cmocka_run_group_tests_name("plan", tests, NULL, NULL);
}
