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

#include "cluster/clusterfile.h"
#include "plan/check.h"
#include "plan/balancer_watch.h"
#include "plan/json_diff.h"
#include "plan/measure.h"
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
                  "  - connectivity: {expect: {p99: \"<50ms\"}}\n"
                  "  - connectivity: {expect: {errors: \"<50%\"}}\n"
                  "report: {dir: out, formats: [json, junit]}\n",
                  &p, err, sizeof err),
        0);
    /* other expectations do not remove the success requirement; an errors bound replaces it */
    assert_int_equal(p.checks[4].threshold_count, 1);
    assert_int_equal(p.checks[4].bound_count, 1);
    assert_string_equal(p.checks[4].bounds[0].key, "success");
    assert_int_equal(p.checks[5].bound_count, 0);
    assert_string_equal(p.target, "http://127.0.0.1:20010"); /* the gateway by default */
    assert_int_equal(p.check_count, 6);
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

/* Every plan in examples/ loads, and every cluster file (*-cluster.yaml) too. */
static void test_plan_examples_load(void **state)
{
    (void)state;
    DIR *d = opendir(HERD_SOURCE_DIR "/examples");
    assert_non_null(d);
    int plans = 0, clusters = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".yaml") != 0) continue;
        char path[512], err[512];
        snprintf(path, sizeof path, "%s/examples/%s", HERD_SOURCE_DIR, e->d_name);
        if (strstr(e->d_name, "-cluster.")) {
            struct cluster_spec spec;
            struct conf_doc doc;
            if (cluster_spec_load(&spec, &doc, path, err, sizeof err) < 0) fail_msg("%s", err);
            assert_true(spec.group_count > 0);
            cluster_spec_free(&spec);
            conf_free(&doc);
            clusters++;
            continue;
        }
        struct plan p;
        if (plan_load(&p, path, err, sizeof err) < 0) fail_msg("%s", err);
        assert_true(p.check_count > 0);
        plan_free(&p);
        plans++;
    }
    closedir(d);
    assert_true(plans >= 7);    /* the demo, the four seeds' scenarios, the guide's first plans */
    assert_true(clusters >= 2); /* the demo's and the guide's */
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
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}, kv: {command: x, "
         "replicas: 1, base_port: 20011}}, gateway: {port: 20020}}\n"
         "checks:\n  - hotplug: {group: kv, path: /kv/1}\n",
         "no route of the gateway sends '/kv/1' to group kv (it goes to every node)"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}, kv: {command: x, "
         "replicas: 1, base_port: 20011}}, gateway: {port: 20020, routes: {\"/kv/\": kv}}}\n"
         "checks:\n  - hotplug: {group: kv, path: /kv/1, other_path: /kv/2}\n",
         "other_path '/kv/2' goes to group kv too"},
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
         "checks[0].failover.share: 'half': expected a percentage such as 0.1%"},
        /* NAN passes "x <= 0 || x > 100": the ranges are written so that it cannot */
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - failover: {group: api, share: nan%}\n",
         "'nan%': expected a percentage such as 0.1%"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - failover: {group: api, share: 0%}\n",
         "'0%': expected a percentage from 1% to 100%"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - failover: {node: api.1, baseline: nan%}\n",
         "expected a percentage such as 0.1%"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}, gateway: {port: "
         "20010}}\nchecks:\n  - capacity: {group: api, limit: {memory: nanMB}}\n",
         "expected a size such as 64KB, 1MB, 1GB"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}, gateway: {port: "
         "20010}}\nchecks:\n  - capacity: {group: api, limit: {memory: 1e308GB}}\n",
         "expected a size such as 64KB, 1MB, 1GB"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - failover: {group: db, count: 1}\n",
         "or 'group' (a group of the plan's cluster) with 'share' or 'count'"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - consistency: {fault: kill, node: [api.1, api.2], keys: 1000, at: 1s, "
         "restart_after: 1s}\n",
         "consistency.node"},
        {"cluster: {groups: {api: {command: x, replicas: 2, base_port: 20001}}}\n"
         "target: http://x:1\nchecks:\n  - failover: {node: api.1, duration: 2s, at: 3s}\n",
         "must come before the end of the load (duration: 2s)"},
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
         "expected a size such as 64KB, 1MB, 1GB"},
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
    assert_true(fabs(measure_chi2_p_value(3.841, 1) - 0.05) < 0.001);
    assert_true(fabs(measure_chi2_p_value(5.991, 2) - 0.05) < 0.001);
    assert_true(fabs(measure_chi2_p_value(9.210, 2) - 0.01) < 0.0005);
    assert_true(fabs(measure_chi2_p_value(18.307, 10) - 0.05) < 0.001);
    assert_true(fabs(measure_chi2_p_value(0, 2) - 1.0) < 1e-12);
    assert_true(measure_chi2_p_value(200, 2) < 1e-40);
}

/* One duration grammar (a bare number is seconds, 1m30s), KEY: VALUE as equality, and ==. */
static void test_plan_durations_and_equality(void **state)
{
    (void)state;
    struct plan p;
    char err[512];
    int rc = load_text("cluster: {groups: {api: {command: x, replicas: 3, base_port: 20001}}}\n"
                       "target: http://x:1\n"
                       "checks:\n"
                       "  - failover: {node: api.2, duration: 1m30s, at: 2, restart_after: 1.5,\n"
                       "               expect: {failed_requests: 0, detection: \"<0.5\",\n"
                       "                        rejoin: \"<1m\", errors: \"==0%\"}}\n"
                       "  - concurrency: {duration: 2, expect: {p99: \"<0.02\"}}\n",
                       &p, err, sizeof err);
    if (rc != 0) fail_msg("%s", err);
    const struct plan_check *f = &p.checks[0];
    assert_int_equal(f->duration_us, 90000000);
    assert_int_equal(f->at_us, 2000000);
    assert_int_equal(f->restart_after_us, 1500000);
    assert_int_equal(f->bound_count, 3);
    assert_string_equal(f->bounds[0].key, "failed_requests");
    assert_int_equal(f->bounds[0].op, THRESHOLD_EQ);
    assert_true(plan_bound_check(&f->bounds[0], 0));
    assert_false(plan_bound_check(&f->bounds[0], 1));
    assert_string_equal(f->bounds[0].text, "== 0");
    assert_true(fabs(f->bounds[1].value - 500) < 1e-9); /* detection <0.5 s, in ms */
    assert_true(fabs(f->bounds[2].value - 60000) < 1e-9);
    assert_int_equal(f->thresholds[0].op, THRESHOLD_EQ);
    assert_int_equal(p.checks[1].duration_us, 2000000);
    assert_true(fabs(p.checks[1].thresholds[0].value - 20) < 1e-9); /* 0.02 s = 20 ms */
    plan_free(&p);
}

/* A bound is a finite number in its unit; the units' scaling cannot make it infinite, and a
 * duration is a decimal number (no exponent or hex: see mtime_parse_duration_us). */
static void test_plan_bound_values(void **state)
{
    (void)state;
    struct plan_bound b;
    assert_int_equal(plan_parse_bound("memory", "<1GB", &b), 0);
    assert_true(fabs(b.value - 1024) < 1e-9);
    assert_int_equal(plan_parse_bound("memory", "<1e308GB", &b), -1);
    assert_int_equal(plan_parse_bound("success", ">=1e400%", &b), -1);
    assert_int_equal(plan_parse_bound("detection", "<0x10s", &b), -1);
    assert_int_equal(plan_parse_bound("detection", "<1e3ms", &b), -1);
    assert_int_equal(plan_parse_bound("detection", "<1e3", &b), -1); /* not 1000 ms */
    assert_int_equal(plan_parse_bound("efficiency", ">=1e-1", &b), -1); /* decimal only */
    assert_int_equal(plan_parse_bound("efficiency", ">=0.8", &b), 0); /* not a duration */
    assert_true(fabs(b.value - 0.8) < 1e-9);
    /* each measure in its own unit */
    assert_int_equal(plan_parse_bound("failed_requests", "0.5", &b), -1);
    assert_int_equal(plan_parse_bound("max_deviation", "<5", &b), -1); /* 500% */
    assert_int_equal(plan_parse_bound("max_deviation", "<5%", &b), 0);
    assert_true(fabs(b.value - 0.05) < 1e-12);
    assert_int_equal(plan_parse_bound("rss_per_node", "<64MB", &b), 0);
    assert_true(fabs(b.value - 64) < 1e-9);
    assert_int_equal(plan_parse_bound("rss_per_node", "<64ms", &b), -1);
    assert_int_equal(plan_parse_bound("detection", "<1.5s", &b), 0);
    assert_true(fabs(b.value - 1500) < 1e-9);
}

/* A synthetic request: times in ms, node, ok or the failure class. */
static struct load_record rec(double intended_ms, double sent_ms, double end_ms, uint32_t node, int cls)
{
    return (struct load_record){(int64_t)(intended_ms * 1000), (int64_t)(sent_ms * 1000),
                                (int64_t)(end_ms * 1000), node, cls == COUNTER_OK ? 200 : 0,
                                (uint8_t)cls};
}

/* The split of failures by send time does not move with where the fault falls in a 100 ms
 * window: faults at 2000, 2005 and 2050 ms, requests sent every 10 ms, answered 30 ms later,
 * those sent from 1980 ms on failing: in flight at the fault = those sent in [1980, F). */
static void test_measure_failed_split_exact(void **state)
{
    (void)state;
    struct load_record r[400];
    size_t n = 0;
    for (int t = 0; t < 4000; t += 10)
        r[n++] = rec(t, t, t + 30, 0, t >= 1980 ? COUNTER_RESET : COUNTER_OK);
    static const double faults[] = {2000, 2005, 2050};
    static const uint64_t in_flight[] = {2, 3, 3}; /* about 30 ms of sends, failing from 1980 */
    for (int i = 0; i < 3; i++) {
        struct measure_failed f = measure_failed_since(r, n, (int64_t)(faults[i] * 1000));
        assert_int_equal(f.in_flight_at_fault, in_flight[i]);
        /* sent at F or after: every failing one ending at or after F */
        assert_int_equal(f.total, f.in_flight_at_fault + f.sent_after_fault);
        assert_int_equal(f.sent_after_fault, (uint64_t)((4000 - (faults[i] + 9.999)) / 10) + 1);
    }
}

static void test_measure_throughput_and_latency(void **state)
{
    (void)state;
    struct load_record r[300];
    size_t n = 0;
    /* 100/s for 3 s; requests sent in [1 s, 2 s) take 200 ms, the others 1 ms */
    for (int t = 0; t < 3000; t += 10) {
        double lat = t >= 1000 && t < 2000 ? 200 : 1;
        r[n++] = rec(t, t, t + lat, t % 30 / 10, COUNTER_OK);
    }
    assert_true(fabs(measure_throughput(r, n, 0, 1000000) - 100) < 1e-9);
    /* during [1 s, 2 s): 80 ended (sent 1000..1790) + 0 more; the 20 sent 1800.. end after 2 s */
    assert_true(fabs(measure_throughput(r, n, 1000000, 2000000) - 80 - 0) < 1e-9);
    double p95 = measure_latency_ms(r, n, 1000000, 2000000, 95);
    assert_true(p95 >= 199 && p95 <= 201);
    assert_true(measure_latency_ms(r, n, 0, 1000000, 99) < 1.01);
    assert_true(isnan(measure_latency_ms(r, n, 5000000, 6000000, 99))); /* none sent then */
    assert_true(isnan(measure_throughput(r, n, 1000, 1000)));
}

/* Rejoin after a pause: requests the node held complete on resume (at R + 1 ms) and must not
 * count; the first request sent after R and served by the node, at its exact end, does. */
static void test_measure_rejoin_ignores_held_requests(void **state)
{
    (void)state;
    struct load_record r[] = {
        rec(900, 900, 2001, 1, COUNTER_OK),  /* held through the pause, answered on resume */
        rec(950, 950, 2001, 1, COUNTER_OK),
        rec(2000, 2000, 2003, 0, COUNTER_OK), /* another node */
        rec(2010, 2010, 2047.5, 1, COUNTER_OK), /* the first of node 1 sent after R */
        rec(2020, 2020, 2030, 1, COUNTER_RESET),
        rec(2060, 2060, 2061, 1, COUNTER_OK),
    };
    double ms = measure_rejoin_ms(r, 6, 1, 2000000);
    assert_true(fabs(ms - 47.5) < 1e-9);
    assert_true(isnan(measure_rejoin_ms(r, 6, 2, 2000000))); /* never served: not seen */
    /* a restart by the group's policy at 1500 ms: measured from there */
    assert_true(fabs(measure_rejoin_ms(r, 6, 1, 1500000) - 547.5) < 1e-9);
}

/* Detection by the clients behind a balancer herd does not run: requests every 10 ms over
 * nodes 0 and 1 and a node 2 killed at 2000 ms; the balancer's resets name no node (node 3,
 * the target itself). The last failure of the fault was sent at 2120 ms; the next request, at
 * 2130 ms, is when the balancer routed around it: 130 ms. */
static void test_measure_detection_by_clients(void **state)
{
    (void)state;
    struct load_record r[600];
    size_t n = 0;
    for (int t = 0; t < 5000; t += 10) {
        uint32_t node = (uint32_t)(t / 10 % 3);
        bool failed = node == 2 && t >= 1970 && t <= 2120; /* one ended before F */
        r[n++] = rec(t, t, t + 15, failed ? 3 : node, failed ? COUNTER_RESET : COUNTER_OK);
    }
    r[n++] = rec(2500, 2500, 2501, 0, COUNTER_STATUS_5XX); /* another node's error: not the fault's */
    double ms = measure_detection_clients_ms(r, n, 2, 3, 2000000, 4000000);
    assert_true(fabs(ms - 130) < 1e-9);
    /* the node's own failures count as well (client-side balancing names the node) */
    for (size_t i = 0; i < n; i++)
        if (r[i].node == 3) r[i].node = 2;
    assert_true(fabs(measure_detection_clients_ms(r, n, 2, MEASURE_ANY_NODE, 2000000, 4000000) - 130) < 1e-9);
    /* failing until the recovery at 2121 ms: never routed around; no failure: nothing seen */
    assert_true(isnan(measure_detection_clients_ms(r, n, 2, MEASURE_ANY_NODE, 2000000, 2121000)));
    assert_true(isnan(measure_detection_clients_ms(r, n, 1, MEASURE_ANY_NODE, 2000000, 4000000)));
}

/* A balancer's status pages: HAProxy's stats CSV (the server's status column, by backend or
 * any) and a Prometheus page with a condition on one series (labels matched as a subset,
 * escapes in values, a page without the series). */
static void test_balancer_status_pages(void **state)
{
    (void)state;
    const char *csv = "# pxname,svname,qcur,status,weight\n"
                      "fe,FRONTEND,,OPEN,\n"
                      "web,web1,0,UP,1\n"
                      "web,web2,0,DOWN 1/2,1\n"
                      "api,web2,0,UP 1/3,1\n"
                      "web,BACKEND,0,UP,2\n";
    char st[32];
    assert_int_equal(balancer_csv_status(csv, "web/web2", st, sizeof st), 0);
    assert_string_equal(st, "DOWN 1/2");
    assert_true(balancer_status_down(st));
    assert_int_equal(balancer_csv_status(csv, "api/web2", st, sizeof st), 0);
    assert_string_equal(st, "UP 1/3"); /* still serving while its checks fail */
    assert_false(balancer_status_down(st));
    assert_int_equal(balancer_csv_status(csv, "*/web1", st, sizeof st), 0);
    assert_string_equal(st, "UP");
    assert_int_equal(balancer_csv_status(csv, "web/web9", st, sizeof st), -1);
    assert_int_equal(balancer_csv_status("<html>", "web/web1", st, sizeof st), -1);

    const char *page = "# HELP haproxy_server_status Current status of the server.\n"
                       "# TYPE haproxy_server_status gauge\n"
                       "haproxy_server_status{proxy=\"web\",server=\"web2\",state=\"DOWN\"} 1\n"
                       "haproxy_server_status{proxy=\"web\",server=\"web2\",state=\"UP\"} 0\n"
                       "haproxy_server_status{proxy=\"web\",server=\"we\\\"b3\",state=\"DOWN\"} 0\n"
                       "up 1\n";
    struct balancer_condition c;
    char err[256];
    assert_int_equal(balancer_condition_parse(
                         "haproxy_server_status{server=\"web2\", state=\"DOWN\"} == 1", &c, err, sizeof err),
                     0);
    assert_int_equal(balancer_condition_eval(&c, page), 1);
    assert_int_equal(balancer_condition_parse("haproxy_server_status{server=\"we\\\"b3\",state=\"DOWN\"} >= 1",
                                              &c, err, sizeof err),
                     0);
    assert_int_equal(balancer_condition_eval(&c, page), 0);
    assert_int_equal(balancer_condition_parse("up != 1", &c, err, sizeof err), 0);
    assert_int_equal(balancer_condition_eval(&c, page), 0);
    assert_int_equal(balancer_condition_parse("nginx_up == 0", &c, err, sizeof err), 0);
    assert_int_equal(balancer_condition_eval(&c, page), -1); /* no such series: unknown */
    assert_int_equal(balancer_condition_parse("up{a=1} == 1", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "expected SERIES{LABEL=\"VALUE\",...} OP NUMBER"));
    assert_int_equal(balancer_condition_parse("up", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "expected a comparison with a number"));
}

/* Failover time: windows aligned at the fault; an empty window is an outage; never recovered
 * or nothing ever succeeded is not seen. */
static void test_measure_failover_windows(void **state)
{
    (void)state;
    struct load_record r[1000];
    size_t n = 0;
    /* answers every 5 ms for 5 s; failures in [2000, 2230); no answers at all in [2400, 2500) */
    for (int t = 0; t < 5000; t += 5) {
        if (t >= 2400 && t < 2500) continue;
        r[n++] = rec(t, t, t, 0, t >= 2000 && t < 2230 ? COUNTER_STATUS_5XX : COUNTER_OK);
    }
    /* fault at 1950: windows [1950,2050) [2050,2150) [2150,2250) bad, [2250,2350) ok,
     * [2350,2450) has answers, all ok, [2450,2550) has answers too; fault at 2000: the window
     * [2400,2500) has none: an outage, so failover ends at 2500 */
    double a = measure_failover_ms(r, n, 1950000, 5000000, 100000, 0.999);
    assert_true(fabs(a - 300) < 1e-9);
    double b = measure_failover_ms(r, n, 2000000, 5000000, 100000, 0.999);
    assert_true(fabs(b - 500) < 1e-9);
    /* no failure after the fault: 0 */
    assert_true(measure_failover_ms(r, n, 3000000, 5000000, 100000, 0.999) == 0);
    /* still failing when the load ended: not seen */
    assert_true(isnan(measure_failover_ms(r, n, 1800000, 2300000, 100000, 0.999)));
    /* nothing ever succeeded: not seen */
    struct load_record bad[10];
    for (int i = 0; i < 10; i++) bad[i] = rec(i * 100, i * 100, i * 100 + 5, 0, COUNTER_CONNECT);
    assert_true(isnan(measure_failover_ms(bad, 10, 0, 1000000, 100000, 0.999)));
}

static void test_measure_shares(void **state)
{
    (void)state;
    uint64_t even[] = {334, 333, 333};
    double w[] = {1, 1, 1};
    struct measure_shares m;
    assert_int_equal(measure_shares(even, w, 3, &m), 1000);
    assert_true(m.max_off < 1);
    assert_true(m.p_value > 0.99);
    uint64_t none[] = {0, 0, 0};
    assert_int_equal(measure_shares(none, w, 3, &m), 0); /* nothing counted: not measured */
    assert_true(isnan(m.p_value) && isnan(m.max_deviation));
    uint64_t skew[] = {600, 200, 200};
    measure_shares(skew, w, 3, &m);
    assert_true(m.p_value < 0.01);
    assert_true(fabs(m.max_deviation - 0.8) < 0.01);
}

/* The differences of a and b (JSON texts) as lines "PATH: A (a) vs B (b): WHY" joined by
 * "; ", into buf; returns how many json_diff_compare counted. */
static size_t diff_text(const char *a, const char *b, bool values, const char *const *ignore,
                        size_t ignore_count, char *buf, size_t size)
{
    json_t *ja = json_loads(a, JSON_DECODE_ANY, NULL), *jb = json_loads(b, JSON_DECODE_ANY, NULL);
    assert_non_null(ja);
    assert_non_null(jb);
    struct json_diff_opts o = {ignore, ignore_count, values};
    json_t *out = json_array();
    size_t n = json_diff_compare(ja, jb, &o, out, 10);
    buf[0] = '\0';
    size_t i;
    json_t *d;
    json_array_foreach(out, i, d)
    {
        char line[256];
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? "; " : "",
                 json_diff_line(d, "a", "b", line, sizeof line));
    }
    json_decref(out);
    json_decref(ja);
    json_decref(jb);
    return n;
}

static void test_json_diff(void **state)
{
    (void)state;
    char buf[2048];
    /* the example, path and both values */
    assert_int_equal(diff_text("{\"data\":{\"items\":[{\"price\":12.5}]}}",
                               "{\"data\":{\"items\":[{\"price\":\"12.5\"}]}}", false, NULL, 0,
                               buf, sizeof buf),
                     1);
    assert_string_equal(buf, "$.data.items[0].price: 12.5 (a) vs \"12.5\" (b): type differs");
    /* schema: values alone do not differ, integers and reals are both numbers */
    assert_int_equal(diff_text("{\"a\":1,\"b\":\"x\",\"c\":[1,2],\"d\":true}",
                               "{\"a\":2.5,\"b\":\"y\",\"c\":[3],\"d\":false}", false, NULL, 0,
                               buf, sizeof buf),
                     0);
    /* body: the same differ by value and length */
    assert_int_equal(diff_text("{\"a\":1,\"b\":\"x\",\"c\":[1,2],\"d\":true}",
                               "{\"a\":2.5,\"b\":\"y\",\"c\":[1],\"d\":false}", true, NULL, 0, buf,
                               sizeof buf),
                     4);
    assert_string_equal(buf, "$.a: 1 (a) vs 2.5 (b): value differs; $.b: \"x\" (a) vs \"y\" (b): "
                             "value differs; $.c: 2 items (a) vs 1 items (b): length differs; "
                             "$.d: true (a) vs false (b): value differs");
    assert_int_equal(diff_text("{\"a\":12}", "{\"a\":12.0}", true, NULL, 0, buf, sizeof buf), 0);
    /* keys on one side only, keys that are not names */
    assert_int_equal(diff_text("{\"a\":1,\"x y\":[]}", "{\"b\":2,\"x y\":{}}", false, NULL, 0,
                               buf, sizeof buf),
                     3);
    assert_string_equal(buf, "$.a: 1 (a) vs (absent) (b): key absent; $[\"x y\"]: [] (a) vs {} (b): "
                             "type differs; $.b: (absent) (a) vs 2 (b): key absent");
    /* ignore: * for any key or index, a whole subtree, $ and brackets */
    const char *const ignore[] = {"checks.*.latency_ms", "items[*].ts", "$.meta", "timestamp"};
    assert_int_equal(
        diff_text("{\"timestamp\":\"t1\",\"checks\":{\"http\":{\"latency_ms\":1,\"ok\":true}},"
                  "\"items\":[{\"ts\":1,\"id\":1}],\"meta\":{\"a\":1}}",
                  "{\"timestamp\":\"t2\",\"checks\":{\"http\":{\"latency_ms\":9,\"ok\":true}},"
                  "\"items\":[{\"ts\":\"x\",\"id\":1}],\"meta\":[]}",
                  true, ignore, 4, buf, sizeof buf),
        0);
    assert_int_equal(
        diff_text("{\"checks\":{\"http\":{\"latency_ms\":1},\"kv\":{\"latency_ms\":2}}}",
                  "{\"checks\":{\"http\":{\"latency_ms\":3},\"kv\":{\"latency_ms\":2}}}", true,
                  NULL, 0, buf, sizeof buf),
        1);
    assert_string_equal(buf, "$.checks.http.latency_ms: 1 (a) vs 3 (b): value differs");
    /* ignore patterns are anchored at the root: a deeper timestamp still counts */
    assert_int_equal(diff_text("{\"x\":{\"timestamp\":1}}", "{\"x\":{\"timestamp\":2}}", true,
                               ignore + 3, 1, buf, sizeof buf),
                     1);
    /* long values shortened */
    char a[256], b[256];
    snprintf(a, sizeof a, "{\"s\":\"%0100d\"}", 1);
    snprintf(b, sizeof b, "{\"s\":1}");
    diff_text(a, b, false, NULL, 0, buf, sizeof buf);
    assert_string_equal(buf, "$.s: \"000000000000000000000000000000000000... (a) vs 1 (b): type "
                             "differs");
    /* more differences than kept: all counted */
    json_t *ja = json_loads("[1,2,3]", 0, NULL), *jb = json_loads("[\"1\",\"2\",\"3\"]", 0, NULL);
    json_t *out = json_array();
    struct json_diff_opts o = {NULL, 0, false};
    assert_int_equal(json_diff_compare(ja, jb, &o, out, 1), 3);
    assert_int_equal(json_array_size(out), 1);
    json_decref(out);
    json_decref(ja);
    json_decref(jb);
    /* past 64 levels a difference is still one, never taken as equal */
    char deep_a[256] = "", deep_b[256] = "";
    for (int i = 0; i < 70; i++) {
        strcat(deep_a, "[");
        strcat(deep_b, "[");
    }
    strcat(deep_a, "1");
    strcat(deep_b, "2");
    for (int i = 0; i < 70; i++) {
        strcat(deep_a, "]");
        strcat(deep_b, "]");
    }
    assert_int_equal(diff_text(deep_a, deep_b, true, NULL, 0, buf, sizeof buf), 1);
    assert_non_null(strstr(buf, "too deep to compare"));
    assert_int_equal(diff_text(deep_a, deep_a, true, NULL, 0, buf, sizeof buf), 0);
    /* patterns */
    assert_true(json_diff_pattern_valid("a.b"));
    assert_true(json_diff_pattern_valid("$.a[0].b"));
    assert_true(json_diff_pattern_valid("*"));
    assert_true(json_diff_pattern_valid("$"));
    assert_false(json_diff_pattern_valid(""));
    assert_false(json_diff_pattern_valid("a..b"));
    assert_false(json_diff_pattern_valid("a[0"));
    assert_false(json_diff_pattern_valid("a."));
}

static void test_plan_parity(void **state)
{
    (void)state;
    struct plan p;
    char err[512];
    int rc = load_text("environments: {local: \"http://127.0.0.1:1\", staging: \"http://127.0.0.1:2\"}\n"
                       "checks:\n"
                       "  - parity: {requests: [\"GET /health\"]}\n"
                       "  - parity:\n"
                       "      baseline: staging\n"
                       "      requests: [{method: POST, path: /s, body: '{}', headers: {X-A: b}}]\n"
                       "      compare: [body, headers: [Content-Type]]\n"
                       "      ignore: [\"checks.*.latency_ms\"]\n"
                       "      repeat: 3\n"
                       "      exec: {local: \"echo a\", staging: {command: \"echo b\", env: {V: x}}}\n"
                       "      expect: {mismatches: \"<=1\", unstable: 0}\n",
                       &p, err, sizeof err);
    if (rc != 0) fail_msg("%s", err);
    assert_int_equal(p.check_count, 2);
    assert_int_equal(p.checks[0].kind, PLAN_PARITY);
    assert_non_null(p.checks[0].parity);
    assert_int_equal(p.checks[0].bound_count, 1); /* mismatches == 0 by default */
    assert_string_equal(p.checks[0].bounds[0].key, "mismatches");
    assert_string_equal(p.checks[0].target, "http://127.0.0.1:1"); /* the baseline's */
    assert_string_equal(p.checks[1].target, "http://127.0.0.1:2");
    assert_int_equal(p.checks[1].bound_count, 2); /* the plan's own */
    plan_free(&p);

    static const char *const cases[][2] = {
        {"target: http://x:1\nchecks:\n  - parity: {requests: [\"GET /\"]}\n",
         ":3:13: checks[0].parity: parity compares environments"},
        {"ENVS checks:\n  - parity: {}\n", "nothing to compare"},
        {"ENVS checks:\n  - parity: {requests: [\"get /\"]}\n",
         ":3:25: checks[0].parity.requests[0]: 'get /': expected \"METHOD /path\""},
        {"ENVS checks:\n  - parity: {requests: [\"GET health\"]}\n", "expected \"METHOD /path\""},
        {"ENVS checks:\n  - parity: {requests: [{path: /a, verb: GET}]}\n", "unknown key 'verb'"},
        {"ENVS checks:\n  - parity: {requests: [{method: GET}]}\n", "missing 'path'"},
        {"ENVS checks:\n  - parity: {requests: [\"GET /\"], baseline: prod}\n",
         "'prod' is not one of the plan's environments"},
        {"ENVS checks:\n  - parity: {requests: [\"GET /\"], compare: [values]}\n",
         "'values': expected status, schema, body or {headers: [NAMES]}"},
        {"ENVS checks:\n  - parity: {requests: [\"GET /\"], compare: [headers: []]}\n",
         "expected headers: [NAMES]"},
        {"ENVS checks:\n  - parity: {requests: [\"GET /\"], ignore: [\"a..b\"]}\n",
         "'a..b': expected a JSON path"},
        {"ENVS checks:\n  - parity: {requests: [\"GET /\"], repeat: 0}\n", "repeat"},
        {"ENVS checks:\n  - parity: {requests: [\"GET /\"], max_body: 10}\n", "max_body"},
        {"ENVS checks:\n  - parity: {exec: {a: \"echo\", prod: \"echo\"}}\n",
         "'prod' is not one of the plan's environments"},
        {"ENVS checks:\n  - parity: {exec: {b: \"echo\"}}\n", "at least two environments"},
        {"ENVS checks:\n  - parity: {exec: {a: {command: x, env: {\"1X\": y}}, b: x}}\n",
         "'1X': expected a variable name"},
        {"ENVS checks:\n  - parity: {requests: [\"GET /\"], expect: {mismatch: 0}}\n",
         "unknown expectation 'mismatch', expected one of: mismatches, unstable"},
        {"ENVS checks:\n  - connectivity: {tcp: [\"127.0.0.1:5432\"]}\n",
         "'127.0.0.1:5432': expected tcp://HOST:PORT"},
        {"ENVS checks:\n  - connectivity: {tcp: [\"tcp://db\"]}\n", "expected tcp://HOST:PORT"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024];
        const char *envs = "environments: {a: \"http://127.0.0.1:1\", b: \"http://127.0.0.1:2\"}\n";
        const char *body = cases[i][0];
        if (strncmp(body, "ENVS ", 5) == 0)
            snprintf(text, sizeof text, "%s%s", envs, body + 5);
        else
            snprintf(text, sizeof text, "%s", body);
        if (load_text(text, &p, err, sizeof err) == 0) fail_msg("case %zu loaded", i);
        if (!strstr(err, cases[i][1])) fail_msg("case %zu: %s", i, err);
    }
}

int unit_plan(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_defaults_and_expectations),
        cmocka_unit_test(test_plan_fault_nodes), cmocka_unit_test(test_plan_capacity),
        cmocka_unit_test(test_plan_examples_load),
        cmocka_unit_test(test_json_diff),
        cmocka_unit_test(test_plan_parity),
        cmocka_unit_test(test_plan_consistency),
        cmocka_unit_test(test_plan_errors),
        cmocka_unit_test(test_chi2_p_value),
        cmocka_unit_test(test_plan_durations_and_equality),
        cmocka_unit_test(test_plan_bound_values),
        cmocka_unit_test(test_measure_failed_split_exact),
        cmocka_unit_test(test_measure_throughput_and_latency),
        cmocka_unit_test(test_measure_rejoin_ignores_held_requests),
        cmocka_unit_test(test_measure_detection_by_clients),
        cmocka_unit_test(test_balancer_status_pages),
        cmocka_unit_test(test_measure_failover_windows),
        cmocka_unit_test(test_measure_shares),
    };
    return cmocka_run_group_tests_name("plan", tests, NULL, NULL);
}
