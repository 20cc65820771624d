/* test_bad_input.c -- the catalogue of bad input (docs/bad-input.md) as one table: each input,
 * the exact exit code or status it gets, a fragment of the message that says what was
 * expected, and for the servers a check that they still serve afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <time.h>

#include "../support/harness.h"
#include "dist/interval.h"
#include "integration.h"

enum bad_kind {
    BAD_CLI,  /* herd ARGS: exit code, stderr fragment */
    BAD_PLAN, /* herd test on a plan with this text: exit code, stderr fragment */
    BAD_REPORT, /* herd report on a saved document with this text: exit code, output fragment */
    BAD_NODE, /* raw bytes to a herd node: status, answer fragment */
    BAD_GW,   /* raw bytes to a herd gateway in front of that node: status, answer fragment */
    BAD_FILE, /* herd ARGS with '@' for a file holding body (a cluster or node config file) */
    BAD_MASTER, /* raw bytes to a herd master (token T set, --allow-target 127.0.0.1): status,
                 * answer fragment. input "METHOD PATH" goes with the token and body; a '!'
                 * before it: without the token, '?': with a wrong one. In input and body,
                 * {TASK} is a running task (worker probe has its part), {PENDING} a pending
                 * one, {SESSION} probe's session; a body @IV_CONFLICT, @IV_FUTURE or
                 * @IV_PENDING is an interval of probe made at the start */
};

struct bad_case {
    enum bad_kind kind;
    const char *input; /* CLI, FILE: arguments separated by '|'; else the text or the request */
    int expect;        /* exit code, or HTTP status */
    const char *fragment;
    const char *body; /* NODE, GW: input is "METHOD PATH" and this JSON body goes with it;
                       * FILE: the file's text */
};

#define REQ(line, rest) line " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" rest

/* the cases without a body leave it out: NULL */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct bad_case cases[] = {
    /* flags: exit 2, the flag and what it takes */
    {BAD_CLI, "bench|-c|0|http://127.0.0.1:1/", 2, "--connections '0'"},
    {BAD_CLI, "bench|-d|soon|http://127.0.0.1:1/", 2, "--duration 'soon'"},
    {BAD_CLI, "bench|-d|1m30|http://127.0.0.1:1/", 2, "--duration '1m30'"},
    {BAD_CLI, "bench|-d|0x10|http://127.0.0.1:1/", 2, "--duration '0x10'"},
    {BAD_CLI, "bench|-R|-5|http://127.0.0.1:1/", 2, "--rate '-5'"},
    {BAD_CLI, "bench|--threshold|p98<1ms|http://127.0.0.1:1/", 2, "unknown metric"},
    {BAD_CLI, "bench|--threshold|p99<fast|http://127.0.0.1:1/", 2, "'p99<fast'"},
    {BAD_CLI, "bench|--threshold|errors<200%|http://127.0.0.1:1/", 2, "errors"},
    {BAD_CLI, "bench|http://[::1", 2, "http://[::1"},
    {BAD_CLI, "bench|ftp://127.0.0.1/", 2, "ftp://127.0.0.1/"},
    {BAD_CLI, "bench|-n|10|-d|1s|http://127.0.0.1:1/", 2, "not both"},
    {BAD_CLI, "bench|-c|5|--bogus|http://127.0.0.1:1/", 2, "unknown option '--bogus'"},
    {BAD_CLI, "bench|-H|NoColon|http://127.0.0.1:1/", 2, "expected 'Name: value'"},
    /* whole-number flags: one reader and one message in every command */
    {BAD_CLI, "gateway|--port|80x", 2, "herd gateway: --port '80x': expected a whole number from 0 to 65535"},
    {BAD_CLI, "gateway|--seed|-1", 2, "herd gateway: --seed '-1': expected a whole number from 0 to 9007199254740991"},
    {BAD_CLI, "node|--weight|1.5", 2, "herd node: --weight '1.5': expected a whole number from 0 to 100"},
    {BAD_CLI, "logs|-n|ten", 2, "herd logs: -n 'ten': expected a whole number from 0 to 100000000"},
    {BAD_CLI, "worker|--master|http://127.0.0.1:1|--cores|0", 2, "herd worker: --cores '0': expected a whole number from 1 to 65536"},
    {BAD_CLI, "master|--max-workers|1e3", 2, "herd master: --max-workers '1e3': expected a whole number from 1 to 1000000"},
    {BAD_CLI, "bench|-d|5x|http://127.0.0.1:1/", 2, "--duration '5x': expected a duration such as 500ms, 2s, 1m30s"},
    {BAD_CLI, "bench|--timeout|2h|http://127.0.0.1:1/", 2, "--timeout '2h': expected a duration from 1ms to 1h"},
    {BAD_CLI, "bench|--ramp-up|soon|http://127.0.0.1:1/", 2, "--ramp-up 'soon': expected a duration such as 500ms"},
    {BAD_CLI, "bench|-R|lots|http://127.0.0.1:1/", 2, "--rate 'lots': expected a number from 0.001"},
    {BAD_CLI, "bench|--threshold|p99<fast|http://127.0.0.1:1/", 2, "--threshold 'p99<fast': expected METRIC OP VALUE such as p99<20ms"},
    {BAD_CLI, "bench|--threshold|errors<lots|http://127.0.0.1:1/", 2, "such as errors<0.1%"},
    {BAD_CLI, "bench|--threshold|failures<1.5|http://127.0.0.1:1/", 2, "such as failures<=10"},
    {BAD_CLI, "gateway|--inter|5x", 2, "--inter '5x': expected a duration such as 500ms, 2s, 1m30s"},
    {BAD_CLI, "gateway|--retry-budget|lots", 2, "--retry-budget 'lots': expected a percentage such as 0.1%"},
    /* output paths: refused before any request is sent or any process launched */
    {BAD_CLI, "bench|-n|5|--out|/etc/passwd/x.json|http://127.0.0.1:1/", 2,
     "--out '/etc/passwd/x.json': cannot write the report there: /etc/passwd: Not a directory; no request was sent"},
    {BAD_CLI, "bench|-n|5|--out|/tmp|http://127.0.0.1:1/", 2, "--out '/tmp': cannot write the report there: /tmp: is a directory"},
    {BAD_FILE, "test|--report-dir|/proc/herd/r|@", 2,
     "--report-dir '/proc/herd/r': cannot write the reports there: /proc/herd: No such file or directory; nothing was launched",
     "target: http://127.0.0.1:1\nchecks:\n  - connectivity: {}\n"},
    {BAD_CLI, "bench|-m|GE T|http://127.0.0.1:1/", 2, "method 'GE T': expected a word"},
    {BAD_CLI, "bench|-m|G/T|http://127.0.0.1:1/", 2, "method 'G/T': expected a word"},
    {BAD_CLI, "bench|http://user:pw@127.0.0.1:1/", 2, "URL 'http://***@127.0.0.1:1/': user info"},
    {BAD_CLI, "status|--bogus", 2, "herd status: unknown option '--bogus'\nTry 'herd status --help'."},
    {BAD_CLI, "logs|-n", 2, "herd logs: option '-n' needs a value"},
    {BAD_CLI, "--bogus", 2, "herd: unknown option '--bogus'"},
    {BAD_CLI, "help|bogus-command", 2, "unknown command 'bogus-command'"},
    {BAD_CLI, "test", 2, "expected one plan file"},
    {BAD_CLI, "test|/nonexistent/plan.yaml", 2, "/nonexistent/plan.yaml"},
    {BAD_CLI, "test|--format|md,pdf|x.yaml", 2, "--format 'md,pdf'"},
    {BAD_CLI, "node|--port|70000", 2, "70000"},
    {BAD_CLI, "node|--port|eighty", 2, "eighty"},
    {BAD_CLI, "gateway|--balance|fastest", 2, "fastest"},
    {BAD_CLI, "gateway|--inter|soon", 2, "soon"},
    {BAD_CLI, "gateway|--node-header|X Node", 2, "--node-header: 'X Node': expected a header name"},
    {BAD_CLI, "up|-f|/nonexistent/cluster.yaml", 2, "/nonexistent/cluster.yaml"},
    {BAD_CLI, "report|--compare|/nonexistent/a.json|/nonexistent/b.json", 2, "/nonexistent/a.json"},
    {BAD_CLI, "bogus-command", 2, "unknown command 'bogus-command'"},
    /* plans: exit 2, FILE:LINE:COL and what was expected */
    {BAD_PLAN, "name: x\ntarget: http://127.0.0.1:1\nchecks: []\nbogus: 1\n", 2, ":4:1:"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks: {a: 1}\n", 2, ":2:"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - capasity: {}\n", 2, "unknown check 'capasity'"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - concurrency: {connections: many}\n", 2,
     ":3:32: checks[0].concurrency.connections: 'many': expected a whole number from 1 to"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - concurrency: {duration: -1s}\n", 2,
     "checks[0].concurrency.duration: '-1s': expected a duration such as 500ms, 2s, 1m30s"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - concurrency: {duration: 1e3}\n", 2,
     "'1e3': expected a duration such as 500ms, 2s, 1m30s"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - concurrency: {duration: 2h}\n", 2,
     "'2h': expected a duration from 100ms to 1h"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - concurrency: {expect: {p99: \"~20ms\"}}\n",
     2, "expected OP VALUE"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - concurrency: {expect: {p42: \"<1s\"}}\n",
     2, "unknown expectation 'p42'"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - failover: {node: api.1, expect: {detection: x5}}\n", 2, "checks[0].failover.expect.detection: 'x5': expected OP VALUE such as detection: \"<500ms\""},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - failover: {node: api.1, expect: {failed_requests: lots}}\n", 2, "'lots': expected OP VALUE such as failed_requests: 0"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - concurrency: {expect: {errors: lots}}\n", 2, "'lots': expected OP VALUE such as errors: \"<0.1%\""},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - distribution: {expect: {max_deviation: 5}}\n", 2, "'5': expected OP VALUE such as max_deviation: \"<5%\""},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - scaling: {group: api, replicas: [1, 2], expect: {efficiency: high}}\n", 2, "'high': expected OP VALUE such as efficiency: \">0.8\""},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - concurrency: {expect: {p99: 20ms}}\n", 2, "checks[0].concurrency.expect.p99: '20ms' means == 20ms (no OP), which a measured duration almost never is: write p99: \"<20ms\""},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - concurrency: {expect: {p99: 20}}\n", 2, "'20' means == 20s (no OP), which a measured duration almost never is: write p99: \"<20s\""},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - failover: {node: api.1, expect: {detection: 1s}}\n", 2, "checks[0].failover.expect.detection: '1s' means == 1s (no OP)"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - concurrency: {expect: {rps: 1000}}\n", 2, "'1000' means == 1000 (no OP), which a measured number almost never is: write rps: \"<1000\""},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - concurrency: {duration: 5x}\n", 2, "checks[0].concurrency.duration: '5x': expected a duration such as 500ms, 2s, 1m30s"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - concurrency: {rate: lots}\n", 2, "checks[0].concurrency.rate: 'lots': expected a number from 0 to"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - connectivity: {}\nreport: {dir: /etc/passwd/r}\n", 2,
     "plan.yaml:4:15: report.dir: '/etc/passwd/r': cannot write the reports there: /etc/passwd: Not a directory; nothing was launched"},
    {BAD_PLAN, "target: not-a-url\nchecks:\n  - connectivity: {}\n", 2, ":1:9:"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - connectivity: {}\n---\nchecks: []\n", 2,
     "second document"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - connectivity: {probes: [1\n", 2, ":"},
    {BAD_PLAN, "environments: {}\nchecks:\n  - connectivity: {}\n", 2, "NAME: URL"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - hotplug: {group: api}\n", 2,
     "needs the plan's cluster with a gateway"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - connectivity: {}\nreport: {formats: [pdf]}\n",
     2, "pdf"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - failover: {node: api.1}\n", 2,
     "needs the plan's cluster"},
    {BAD_PLAN,
     "target: http://127.0.0.1:1\nchecks:\n  - failover: {fault: exec, exec: x, node: a, "
     "restart_after: 1s}\n",
     2, "restart_after needs 'recover'"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - failover: {fault: exec, exec: \"true\", node: x, at: 20, duration: 10}\n", 2,
     "checks[0].failover: the fault (at: 20s) must come before the end of the load (duration: 10s): lengthen duration or move it earlier"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - failover: {fault: exec, exec: \"true\", recover: \"true\", node: x, at: 5, restart_after: 5s, duration: 10}\n", 2,
     "the recovery (restart_after: 5s, after the fault at 5s) must come before the end of the load (duration: 10s): lengthen duration or shorten them"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - parity: {requests: [\"GET /\"]}\n", 2,
     "plan.yaml:3:13: checks[0].parity: parity compares environments: give the plan environments: {NAME: URL} with at least two"},
    {BAD_PLAN, "environments: {a: \"http://127.0.0.1:1\", b: \"http://127.0.0.1:2\"}\nchecks:\n  - parity: {requests: [\"get /\"]}\n", 2,
     "plan.yaml:3:25: checks[0].parity.requests[0]: 'get /': expected \"METHOD /path\" (GET /health), or {method, path, body, headers}"},
    {BAD_PLAN, "environments: {a: \"http://127.0.0.1:1\", b: \"http://127.0.0.1:2\"}\nchecks:\n  - parity: {requests: [\"GET /\"], compare: [values]}\n", 2,
     "checks[0].parity.compare[0]: 'values': expected status, schema, body or {headers: [NAMES]}"},
    {BAD_PLAN, "environments: {a: \"http://127.0.0.1:1\", b: \"http://127.0.0.1:2\"}\nchecks:\n  - parity: {requests: [\"GET /\"], ignore: [\"a..b\"]}\n", 2,
     "checks[0].parity.ignore[0]: 'a..b': expected a JSON path such as timestamp, checks.*.latency_ms or $.items[0].id (* for any key or index)"},
    {BAD_PLAN, "environments: {a: \"http://127.0.0.1:1\", b: \"http://127.0.0.1:2\"}\nchecks:\n  - parity: {requests: [\"GET /\"], repeat: 11}\n", 2,
     "checks[0].parity.repeat: '11': expected a whole number from 1 to 10"},
    {BAD_PLAN, "environments: {a: \"http://127.0.0.1:1\", b: \"http://127.0.0.1:2\"}\nchecks:\n  - parity: {exec: {a: \"echo 1\", prod: \"echo 2\"}}\n", 2,
     "checks[0].parity.exec.prod: 'prod' is not one of the plan's environments"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - connectivity: {tcp: [\"127.0.0.1:5432\"]}\n", 2,
     "plan.yaml:3:26: checks[0].connectivity.tcp[0]: '127.0.0.1:5432': expected tcp://HOST:PORT"},
    {BAD_CLI, "status|--state-dir|/nonexistent/herd-st", 3, "herd status: no cluster is running here (/nonexistent/herd-st): start one with herd up -d --state-dir /nonexistent/herd-st, or give --state-dir DIR (or set $HERD_STATE_DIR) for one started elsewhere"},
    {BAD_CLI, "logs|--state-dir|/nonexistent/herd-st", 3, "herd logs: no cluster is running here (/nonexistent/herd-st)"},
    {BAD_CLI, "kill|api.1|--state-dir|/nonexistent/herd-st", 3, "herd kill: no cluster is running here"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - failover: {fault: exec, exec: \"true\", node: x, balancer: {stats: \"http://127.0.0.1:1/s\", metrics: \"http://127.0.0.1:1/m\"}}\n", 2,
     "checks[0].failover.balancer: expected either stats (HAProxy's stats CSV URL) or metrics (a Prometheus page URL with down)"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - failover: {fault: exec, exec: \"true\", node: x, balancer: {metrics: \"http://127.0.0.1:1/m\"}}\n", 2,
     "checks[0].failover.balancer: metrics needs down, the condition true when the node is down"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - failover: {fault: exec, exec: \"true\", node: x, balancer: {stats: \"http://127.0.0.1:1/s\", server: web}}\n", 2,
     "checks[0].failover.balancer.server: 'web': expected BACKEND/SERVER such as web/{node} or */{node}"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - failover: {fault: exec, exec: \"true\", node: x, balancer: {metrics: \"http://127.0.0.1:1/m\", down: \"up{a=1} == 1\"}}\n", 2,
     "checks[0].failover.balancer.down: 'up{a=1} == 1': expected SERIES{LABEL=\"VALUE\",...} OP NUMBER"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - failover: {fault: exec, exec: \"true\", node: x, balancer: {metrics: \"http://127.0.0.1:1/m\", down: \"up == x\"}}\n", 2,
     "checks[0].failover.balancer.down: 'up == x': expected a comparison with a number after the series, such as == 1"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - failover: {fault: exec, exec: \"true\", node: x, balancer: {stats: \"ftp://x/s\"}}\n", 2,
     "checks[0].failover.balancer.stats: 'ftp://x/s': expected the balancer's status page, http://HOST:PORT/PATH"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - rollout: {group: api}\n", 2,
     "checks[0].rollout: a rollout check needs the plan's cluster with a gateway (herd rolls the replicas it runs)"},
    {BAD_PLAN, "cluster:\n  groups:\n    api: {command: herd node, base_port: 19300}\n  gateway: {port: 19309}\nchecks:\n  - rollout: {group: web}\n", 2,
     "checks[0].rollout.group: 'web': expected one of the plan's cluster groups"},
    {BAD_PLAN, "cluster:\n  groups:\n    api: {command: herd node, base_port: 19300}\n  gateway: {port: 19309}\nchecks:\n  - rollout: {group: api, method: BREW}\n", 2,
     "checks[0].rollout.method: 'BREW': expected GET, HEAD, POST, PUT, DELETE or PATCH"},
    {BAD_PLAN, "cluster:\n  groups:\n    api: {command: herd node, base_port: 19300, drain: forever}\n  gateway: {port: 19309}\nchecks:\n  - rollout: {group: api}\n", 2,
     "cluster.groups.api.drain: 'forever': expected a duration such as 500ms, 2s, 1m30s"},
    {BAD_PLAN, "target: http://127.0.0.1:1\nchecks:\n  - distribution: {requests: 0}\n", 2,
     "checks[0].distribution.requests: '0': expected a whole number from 1 to 100000000"},
    /* saved documents (herd report): exit 2 naming the file and what was expected; whatever
     * numbers a readable one holds are rendered as they are */
    {BAD_REPORT, "{\"schema\": \"herd.run/1\", \"totals\": [1,", 2, "run.json:1:"},
    {BAD_REPORT, "{\"schema\": \"herd.run/9\"}", 2, "run.json: schema: expected herd.run/1"},
    {BAD_REPORT, "{\"schema\": \"herd.run/1\", \"config\": {\"threads\": 1e30, \"connections\": -1}}",
     0, "1000000000000000019884624838656 threads, -1 connections"},
    /* cluster files and node config files: exit 2, FILE:LINE:COL and what was expected */
    {BAD_FILE, "gateway|-f|@", 2, "file.yaml:4:20: gateway.allow_register[0]: '10.0.0.0/33': the prefix length must be 0..32",
     "groups:\n  api: {command: herd node, base_port: 20001}\ngateway:\n  allow_register: [10.0.0.0/33]\n"},
    {BAD_FILE, "gateway|-f|@", 2, "file.yaml:4:19: gateway.allow_register: 'somewhere': 'somewhere' is not an IP address",
     "groups:\n  api: {command: herd node, base_port: 20001}\ngateway:\n  allow_register: somewhere\n"},
    {BAD_FILE, "gateway|-f|@", 2, "gateway.allow_register: expected at least one network",
     "groups:\n  api: {command: herd node, base_port: 20001}\ngateway:\n  allow_register: []\n"},
    {BAD_FILE, "up|-f|@", 2, "file.yaml:4:31: gateway.allow_register[1]: 'fe80::/129'",
     "groups:\n  api: {command: herd node, base_port: 20001}\ngateway:\n  allow_register: [\"::1/128\", \"fe80::/129\"]\n"},
    {BAD_FILE, "gateway|-f|@", 2, "file.yaml:4:13: gateway.max_body: '2TB': expected a size such as 64KB, 1MB, 1GB",
     "groups:\n  api: {command: herd node, base_port: 20001}\ngateway:\n  max_body: 2TB\n"},
    {BAD_FILE, "gateway|-f|@", 2, "file.yaml:2:16: gateway.node_header: expected a header name",
     "gateway:\n  node_header: \"X-Node: 1\"\n  nodes: [\"127.0.0.1:20001\"]\n"},
    {BAD_FILE, "up|-f|@", 2, "file.yaml:2:20: gateway.add_node_header",
     "gateway:\n  add_node_header: maybe\n  nodes: [\"127.0.0.1:20001\"]\n"},
    {BAD_FILE, "up|-f|@", 2, "file.yaml:1:1: (top level): missing 'groups'", "name: nothing\n"},
    {BAD_FILE, "node|--config|@", 2, "file.yaml:2:21: limits.max_output_bytes: '10XB': expected a size such as 64KB, 1MB, 1GB",
     "limits:\n  max_output_bytes: 10XB\n"},
    {BAD_FILE, "node|--config|@", 2, "limits.max_output_bytes: '1KB': expected a size from 4KB to 1GB",
     "limits:\n  max_output_bytes: 1KB\n"},
    {BAD_FILE, "node|--config|@", 2, "limits.max_output_bytes: '-1': expected a size",
     "limits:\n  max_output_bytes: -1\n"},
    {BAD_FILE, "node|--config|@", 2, "file.yaml:2:18: limits.write_timeout: 'soon': expected a duration such as 500ms, 2s, 1m30s",
     "limits:\n  write_timeout: soon\n"},
    {BAD_FILE, "node|--config|@", 2, "limits.write_timeout: '500us': expected a duration of 0 (none) or from 1ms to 1h",
     "limits:\n  write_timeout: 500us\n"},
    {BAD_FILE, "node|--config|@", 2, "limits.max_body_bytes: '1.5B': expected a size such as",
     "limits:\n  max_body_bytes: 1.5B\n"},
    {BAD_FILE, "gateway|-f|@", 2, "file.yaml:2:59: groups.api.stop_grace: '5x': expected a duration such as 500ms, 2s, 1m30s",
     "groups:\n  api: {command: herd node, base_port: 20001, stop_grace: 5x}\n"},
    {BAD_FILE, "gateway|-f|@", 2, "gateway.health.inter: '5x': expected a duration such as 500ms, 2s, 1m30s",
     "groups:\n  api: {command: herd node, base_port: 20001}\ngateway:\n  health: {path: /health, inter: 5x}\n"},
    {BAD_FILE, "gateway|-f|@", 2, "gateway.ttl: '1h30': expected a duration such as 500ms, 2s, 1m30s",
     "groups:\n  api: {command: herd node, base_port: 20001}\ngateway:\n  ttl: 1h30\n"},
    {BAD_FILE, "gateway|-f|@", 2, "gateway.retries.budget: 'lots': expected a percentage such as 0.1%",
     "groups:\n  api: {command: herd node, base_port: 20001}\ngateway:\n  retries: {budget: lots}\n"},
    {BAD_FILE, "node|--config|@", 2, "limits.max_body_bytes: '2GB': expected a size from 0B to 1GB",
     "limits:\n  max_body_bytes: 2GB\n"},
    /* raw HTTP to a node: a 4xx, and it keeps serving */
    {BAD_NODE, "GARBAGE\r\n\r\n", 400, ""},
    {BAD_NODE, "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400, ""},
    {BAD_NODE, REQ("GET /health", "Content-Length: abc\r\n\r\n"), 400, ""},
    {BAD_NODE, REQ("GET /health", "Content-Length: -1\r\n\r\n"), 400, ""},
    {BAD_NODE, REQ("POST /echo", "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc"),
     400, ""},
    {BAD_NODE, REQ("POST /echo", "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"), 400,
     ""},
    {BAD_NODE, REQ("POST /echo", "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"), 501, ""},
    {BAD_NODE, REQ("POST /echo", "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
     501, ""},
    {BAD_NODE, REQ("POST /echo", "Content-Length: 99999999999\r\n\r\n"), 413, ""},
    {BAD_NODE, REQ("GET /health", "Bad Header: x\r\n\r\n"), 400, ""},
    {BAD_NODE, REQ("GET /health", ": empty-name\r\n\r\n"), 400, ""},
    {BAD_NODE, REQ("GET /health", "Host: other\r\n\r\n"), 400, ""},
    {BAD_NODE, REQ("GET /nothing-here", "\r\n"), 404, "error"},
    {BAD_NODE, REQ("DELETE /health", "\r\n"), 405, "error"},
    {BAD_NODE, "POST /admin/fault", 400, "error", "not json"},
    {BAD_NODE, "POST /admin/fault", 400, "error", "[]"},
    {BAD_NODE, "POST /admin/fault", 400, "error_rate", "{\"error_rate\": 2}"},
    {BAD_NODE, "POST /admin/fault", 400, "latency_ms", "{\"latency_ms\": -1}"},
    {BAD_NODE, "POST /admin/fault", 400, "error_status", "{\"error_status\": 99}"},
    {BAD_NODE, REQ("GET /delay?ms=abc", "\r\n"), 400, "ms"},
    {BAD_NODE, REQ("GET /status/99", "\r\n"), 400, ""},
    {BAD_NODE, REQ("PUT /kv/%00", "Content-Length: 1\r\n\r\nx"), 400, ""},
    /* raw HTTP to the gateway: its admin API says what it expected; the proxy keeps going */
    {BAD_GW, "POST /api/v1/cluster/register", 400, "error", "not json"},
    {BAD_GW, "POST /api/v1/cluster/register", 400, "port", "{\"node_id\": \"n\", \"port\": 0}  "},
    {BAD_GW, "PUT /api/v1/cluster/nodes/api.1", 400, "weight", "{\"weight\": 1000}"},
    {BAD_GW, "PUT /api/v1/cluster/nodes/nobody", 404, "", "{\"weight\": 10}"},
    {BAD_GW, "PUT /api/v1/cluster/config", 400, "", "[]"},
    {BAD_GW, "POST /api/v1/cluster/register", 400, "port",
     "{\"node_id\": \"n\", \"port\": 4294967376}"},
    {BAD_GW, "POST /api/v1/cluster/register", 400, "node_id", "{\"port\": 8080}"},
    {BAD_GW, "POST /api/v1/cluster/nodes", 400, "port", "{\"node_id\": \"n\", \"port\": 0}"},
    /* a node id goes into answers' headers (X-Herd-Node), the log and terminals */
    {BAD_GW, "POST /api/v1/cluster/nodes", 400, "control characters",
     "{\"node_id\": \"n\\r\\nSet-Cookie: x=1\", \"host\": \"127.0.0.1\", \"port\": 8080}"},
    {BAD_GW, "POST /api/v1/cluster/register", 400, "control characters",
     "{\"node_id\": \"n\\u001b[2J\", \"port\": 8080}"},
    {BAD_GW, "POST /api/v1/cluster/register", 400, "control characters",
     "{\"node_id\": \"two words\", \"port\": 8080}"},
    {BAD_GW, "POST /api/v1/cluster/nodes", 400, "node_id",
     "{\"node_id\": \"0123456789012345678901234567890123456789012345678901234567890123\", "
     "\"port\": 8080}"},
    {BAD_GW, REQ("GET /api/v1/cluster/events?since=abc", "\r\n"), 400, "since"},
    {BAD_GW, "GARBAGE\r\n\r\n", 400, ""},
    {BAD_GW, REQ("POST /echo", "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"), 400,
     ""},
    {BAD_GW, REQ("GET /echo", "Host: admin.internal\r\n\r\n"), 400, ""},
    {BAD_GW, REQ("POST /echo", "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"), 501, ""},
    {BAD_GW, REQ("POST /echo", "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab"), 400, ""},
    {BAD_GW, REQ("POST /echo", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
     400, ""},
    /* herd master and herd worker flags */
    {BAD_CLI, "master|--listen|0.0.0.0:18080", 2, "--listen 0.0.0.0 is not loopback: give --token"},
    {BAD_CLI, "master|--listen|nohost", 2, "--listen 'nohost': expected HOST:PORT"},
    {BAD_CLI, "master|--bogus", 2, "herd master: unknown option '--bogus'"},
    {BAD_CLI, "master|--token", 2, "option '--token' needs a value"},
    {BAD_CLI, "master|--allow-target|10.0.0.0/40", 2, "--allow-target '10.0.0.0/40': the prefix length must be 0 to 32"},
    {BAD_CLI, "master|--db|/nonexistent/x/herd.db|--listen|127.0.0.1:0", 2, "/nonexistent/x/herd.db: cannot open"},
    {BAD_CLI, "worker", 2, "--master URL is required"},
    {BAD_CLI, "worker|--master|ftp://x/", 2, "--master URL 'ftp://x/': expected it to start with http://"},
    {BAD_CLI, "worker|--master|http://127.0.0.1:1|--id|a#b", 2, "--id 'a#b': expected 1 to 56 printable"},
    {BAD_CLI, "worker|--master|http://127.0.0.1:1|--cores|0", 2, "--cores '0': expected a whole number"},
    /* raw HTTP to the master: what was wrong, and it keeps serving */
    {BAD_MASTER, "POST /api/v1/tasks", 400, "body: invalid JSON", "{"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "body: expected a JSON object", "[]"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "body: expected {\\\"config_file\\\": \\\"...\\\"} or {\\\"config\\\": {...}}", "{}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "body: unknown field 'name'", "{\"name\": 1}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "not both", "{\"config\": {}, \"config_file\": \"\"}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "config_file: expected the config's YAML or JSON text", "{\"config_file\": null}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "config_file: expected the config's YAML or JSON text", "{\"config_file\": 5}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "config_file:1:1: (top level): the file is empty", "{\"config_file\": \"\"}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "config_file:2:1: invalid YAML", "{\"config_file\": \"url: [\"}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "config_file:1:47: concurrency: '0': expected a whole number from 1 to 1000000",
     "{\"config_file\": \"{\\\"url\\\": \\\"http://127.0.0.1:1/\\\", \\\"concurrency\\\": 0}\"}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "config_file:2:14: concurrency:", "{\"config_file\": \"url: http://127.0.0.1:1/\\nconcurrency: many\\n\"}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "config_file:2:8: split: 'random': expected even or cores", "{\"config_file\": \"url: http://127.0.0.1:1/\\nsplit: random\\n\"}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "url: missing", "{\"config_file\": \"concurrency: 5\\n\"}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "config: expected an object", "{\"config\": [1]}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "config.colour: unknown key 'colour'", "{\"config\": {\"url\": \"http://127.0.0.1:1/\", \"colour\": 1}}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "config.concurrency", "{\"config\": {\"url\": \"http://127.0.0.1:1/\", \"concurrency\": \"many\"}}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "config.url:", "{\"config\": {\"url\": \"ftp://a/\"}}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "config.protocol:", "{\"config\": {\"url\": \"http://127.0.0.1:1/\", \"protocol\": \"grpc\"}}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "config.rate:", "{\"config\": {\"url\": \"http://127.0.0.1:1/\", \"rate\": -5}}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "config.timeout:", "{\"config\": {\"url\": \"http://127.0.0.1:1/\", \"timeout\": \"forever\"}}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "config.method:", "{\"config\": {\"url\": \"http://127.0.0.1:1/\", \"method\": \"GE T\"}}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "config.headers:", "{\"config\": {\"url\": \"http://127.0.0.1:1/\", \"headers\": [\"X-A: 1\"]}}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "config.headers.a:b: expected a header name without ':'", "{\"config\": {\"url\": \"http://127.0.0.1:1/\", \"headers\": {\"a:b\": \"c\"}}}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "line breaks are not allowed", "{\"config\": {\"url\": \"http://127.0.0.1:1/\", \"headers\": {\"X-A\": \"1\\r\\nX-B: 2\"}}}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "config.lb: 'hash' is not a balancer", "{\"config\": {\"url\": \"http://127.0.0.1:1/\", \"lb\": \"hash\"}}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "config.thresholds", "{\"config\": {\"url\": \"http://127.0.0.1:1/\", \"thresholds\": [\"p99 <\"]}}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "not both", "{\"config\": {\"url\": \"http://127.0.0.1:1/\", \"duration\": \"1s\", \"requests\": 5}}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "advanced.ramp_up: longer than the duration", "{\"config\": {\"url\": \"http://127.0.0.1:1/\", \"duration\": \"2s\", \"advanced\": {\"ramp_up\": \"5s\"}}}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "config.advanced.ramp_up:", "{\"config\": {\"url\": \"http://127.0.0.1:1/\", \"advanced\": {\"ramp_up\": \"soon\"}}}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "config.advanced.max_failures:", "{\"config\": {\"url\": \"http://127.0.0.1:1/\", \"advanced\": {\"max_failures\": \"ten\"}}}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "url: missing", "{\"config\": {\"urls\": []}}"},
    /* a target outside --allow-target: 400 naming the URL (a bad config, like any other) */
    {BAD_MASTER, "POST /api/v1/tasks", 400, "10.1.2.3", "{\"config\": {\"url\": \"http://10.1.2.3/\", \"requests\": 5}}"},
    {BAD_MASTER, "POST /api/v1/tasks", 400, "example.com", "{\"config_file\": \"urls: [\\\"http://127.0.0.1:1/\\\", \\\"http://example.com/\\\"]\\n\"}"},
    /* sizes */
    {BAD_MASTER, REQ("POST /api/v1/tasks", "Authorization: Bearer T\r\nContent-Length: 99999999999\r\n\r\n"), 413, ""},
    {BAD_MASTER, REQ("POST /api/v1/workers/probe/details", "Authorization: Bearer T\r\nContent-Length: 16777217\r\n\r\n"), 413, ""},
    /* the token on every change and every worker call */
    {BAD_MASTER, "!POST /api/v1/tasks", 401, "token", "{\"config\": {\"url\": \"http://127.0.0.1:1/\"}}"},
    {BAD_MASTER, "?POST /api/v1/tasks", 401, "token", "{\"config\": {\"url\": \"http://127.0.0.1:1/\"}}"},
    {BAD_MASTER, "!POST /api/v1/tasks/{TASK}/cancel", 401, "token", ""},
    {BAD_MASTER, "?POST /api/v1/tasks/{PENDING}/start", 401, "token", ""},
    {BAD_MASTER, "!POST /api/v1/workers/register", 401, "token", "{\"id\": \"intruder\"}"},
    {BAD_MASTER, "?POST /api/v1/workers/probe/heartbeat", 401, "token", "{\"session\": \"{SESSION}\"}"},
    {BAD_MASTER, "!POST /api/v1/workers/probe/intervals", 401, "token", "@IV_CONFLICT"},
    {BAD_MASTER, "!POST /api/v1/workers/probe/details", 401, "token", "{\"task_id\": \"{TASK}\", \"details\": []}"},
    {BAD_MASTER, "!GET /api/v1/workers/probe/assignment?session={SESSION}&wait=0s", 401, "token", NULL},
    /* unknown things, states that do not allow the call */
    {BAD_MASTER, "GET /api/v1/tasks/t-0000000000000000", 404, "no such task", NULL},
    {BAD_MASTER, "POST /api/v1/tasks/t-0000000000000000/start", 404, "no such task", ""},
    {BAD_MASTER, "POST /api/v1/tasks/t-0000000000000000/cancel", 404, "no such task", ""},
    {BAD_MASTER, "GET /api/v1/tasks/t-0000000000000000/report", 404, "no such task", NULL},
    {BAD_MASTER, "GET /api/v1/tasks/{TASK}/report?format=pdf", 400, "format: expected json", NULL},
    {BAD_MASTER, "POST /api/v1/tasks/{TASK}/start", 409, "error", ""},
    {BAD_MASTER, "POST /api/v1/tasks/{PENDING}/start", 409, "error", "{\"slave_ids\": [\"nobody\"]}"},
    {BAD_MASTER, "POST /api/v1/tasks/{PENDING}/start", 409, "error", "{\"slave_region\": \"mars\"}"},
    {BAD_MASTER, "POST /api/v1/tasks/{PENDING}/start", 400, "", "{\"slave_ids\": \"probe\"}"},
    {BAD_MASTER, "GET /api/v1/nothing", 404, "error", NULL},
    {BAD_MASTER, "DELETE /api/v1/tasks", 405, "error", NULL},
    /* the worker protocol */
    {BAD_MASTER, "POST /api/v1/workers/register", 400, "id: expected 1 to 56", "{\"id\": \"w\\r\\nSet-Cookie: x=1\"}"},
    {BAD_MASTER, "POST /api/v1/workers/register", 400, "id: expected 1 to 56", "{\"id\": \"w\\u001b[2J\"}"},
    {BAD_MASTER, "POST /api/v1/workers/register", 400, "id: expected 1 to 56", "{\"id\": \"012345678901234567890123456789012345678901234567890123456\"}"},
    {BAD_MASTER, "POST /api/v1/workers/register", 400, "cores: expected a whole number", "{\"id\": \"w\", \"cores\": \"8\"}"},
    {BAD_MASTER, "POST /api/v1/workers/register", 400, "unknown field 'admin'", "{\"id\": \"w\", \"admin\": true}"},
    {BAD_MASTER, "POST /api/v1/workers/register", 400, "running: expected", "{\"id\": \"w\", \"running\": [1.5]}"},
    {BAD_MASTER, "POST /api/v1/workers/probe/heartbeat", 400, "cpu: expected a number from 0 to 1", "{\"session\": \"{SESSION}\", \"cpu\": 7}"},
    {BAD_MASTER, "POST /api/v1/workers/probe/heartbeat", 410, "register again", "{\"session\": \"s-wrong\"}"},
    {BAD_MASTER, "POST /api/v1/workers/nobody/heartbeat", 404, "register first", "{\"session\": \"s-1\"}"},
    {BAD_MASTER, "POST /api/v1/workers/w%0d%0aX-Evil:%201/heartbeat", 404, "register first", "{\"session\": \"s-1\"}"},
    {BAD_MASTER, "GET /api/v1/workers/probe/assignment?session={SESSION}&wait=1h", 400, "wait: expected a duration up to 30s", NULL},
    {BAD_MASTER, "GET /api/v1/workers/probe/assignment", 400, "session:", NULL},
    {BAD_MASTER, "POST /api/v1/workers/probe/intervals", 409, "acknowledged with another body", "@IV_CONFLICT"},
    {BAD_MASTER, "POST /api/v1/workers/probe/intervals", 400, "second_us", "@IV_FUTURE"},
    {BAD_MASTER, "POST /api/v1/workers/probe/intervals", 400, "has no assignment", "@IV_PENDING"},
    {BAD_MASTER, "POST /api/v1/workers/probe/intervals", 400, "intervals", "{\"intervals\": []}"},
    {BAD_MASTER, "POST /api/v1/workers/probe/details", 400, "has no assignment in task", "{\"task_id\": \"{PENDING}\", \"details\": []}"},
    {BAD_MASTER, "POST /api/v1/workers/probe/details", 404, "no task", "{\"task_id\": \"t-0000000000000000\", \"details\": []}"},
    {BAD_MASTER, "POST /api/v1/workers/probe/details", 400, "details[0].status", "{\"task_id\": \"{TASK}\", \"details\": [{\"at_us\": 1, \"ok\": true, \"status\": \"200\", \"class\": \"ok\", \"latency_us\": 1}]}"},
    {BAD_MASTER, "POST /api/v1/workers/probe/details", 400, "details[0]: unknown field 'sql'", "{\"task_id\": \"{TASK}\", \"details\": [{\"at_us\": 1, \"ok\": true, \"status\": 200, \"class\": \"ok\", \"latency_us\": 1, \"sql\": \"drop\"}]}"},
    {BAD_MASTER, "GET /api/details?status=maybe", 400, "status: expected all, success or failed", NULL},
    {BAD_MASTER, "GET /api/details?limit=0", 400, "limit: expected a whole number from 1 to 10000", NULL},
    {BAD_MASTER, "GET /api/details?offset=-1", 400, "offset: expected", NULL},
    {BAD_MASTER, "GET /api/details?slave_id=a%0d%0aX-Evil:%201", 200, "\"total\":0", NULL},
    {BAD_MASTER, "GARBAGE\r\n\r\n", 400, ""},
};

#pragma GCC diagnostic pop

struct env {
    char dir[64];
    int node_port, gw_port, master_port;
    char task[64], pending[64], session[64];
    char *iv_conflict, *iv_future, *iv_pending;
};

/* One call to the master with the token; the answer into out. Returns the status. */
static int master_call(struct env *e, const char *method, const char *path, const char *body,
                       char *out, size_t size)
{
    char req[4096];
    snprintf(req, sizeof req,
             "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer T\r\n"
             "Content-Length: %zu\r\n\r\n%s", method, path, body ? strlen(body) : 0,
             body ? body : "");
    return harness_exchange(e->master_port, req, out, size);
}

/* The value of "key":"..." in an answer (static), or "". */
static const char *answer_string(const char *answer, const char *key)
{
    static char v[128];
    const char *b = strstr(answer, "\r\n\r\n");
    json_t *j = b ? json_loads(b + 4, 0, NULL) : NULL;
    snprintf(v, sizeof v, "%s", j && json_string_value(json_object_get(j, key))
                                    ? json_string_value(json_object_get(j, key)) : "");
    json_decref(j);
    return v;
}

/* An interval of worker probe in task (seq, second_us, ok requests), as JSON text (malloc'd). */
static char *probe_interval(const struct env *e, const char *task, uint64_t seq,
                            uint64_t second_us, uint64_t ok)
{
    struct dist_interval iv;
    if (dist_interval_init(&iv) < 0) return NULL;
    snprintf(iv.task_id, sizeof iv.task_id, "%s", task);
    snprintf(iv.worker_id, sizeof iv.worker_id, "probe");
    snprintf(iv.session, sizeof iv.session, "%s", e->session);
    iv.seq = seq;
    iv.second_us = second_us;
    iv.counters.requests = 1;
    iv.counters.by_class[ok ? COUNTER_OK : COUNTER_CONNECT] = 1;
    json_t *j = dist_interval_to_json(&iv);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    dist_interval_free(&iv);
    return text;
}

/* The master of the BAD_MASTER rows: a token, one allowed target, a registered worker probe
 * that is never declared lost, a task running on it (one interval acknowledged) and a pending
 * task. Returns 0 or -1. */
static int master_setup(struct env *e)
{
    char listen[64], db[128], answer[8192];
    e->master_port = harness_free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", e->master_port);
    snprintf(db, sizeof db, "%s/herd.db", e->dir);
    char *m[] = {(char *)harness_herd_bin(), "master", "--listen", listen, "--db", db, "--token",
                 "T", "--allow-target", "127.0.0.1", "--lost-after", "1h", "--suspect-after", "1h",
                 "--log-level", "error", NULL};
    harness_spawn(m, NULL, NULL);
    if (!harness_wait_until(harness_port_open(e->master_port), 10000)) return -1;
    if (master_call(e, "POST", "/api/v1/workers/register", "{\"id\": \"probe\", \"cores\": 1}",
                    answer, sizeof answer) != 200)
        return -1;
    snprintf(e->session, sizeof e->session, "%s", answer_string(answer, "session"));
    const char *cfg = "{\"config\": {\"url\": \"http://127.0.0.1:1/\", \"requests\": 5}}";
    if (master_call(e, "POST", "/api/v1/tasks", cfg, answer, sizeof answer) != 201) return -1;
    snprintf(e->task, sizeof e->task, "%s", answer_string(answer, "task_id"));
    if (master_call(e, "POST", "/api/v1/tasks", cfg, answer, sizeof answer) != 201) return -1;
    snprintf(e->pending, sizeof e->pending, "%s", answer_string(answer, "task_id"));
    char path[128];
    snprintf(path, sizeof path, "/api/v1/tasks/%s/start", e->task);
    if (master_call(e, "POST", path, "{\"worker_ids\": [\"probe\"]}", answer, sizeof answer) != 200)
        return -1;
    uint64_t now = (uint64_t)time(NULL) * 1000000ULL;
    char *first = probe_interval(e, e->task, 0, now + 2000000, 1);
    e->iv_conflict = probe_interval(e, e->task, 0, now + 2000000, 0);
    e->iv_future = probe_interval(e, e->task, 1, now + 3600ULL * 1000000ULL, 1);
    e->iv_pending = probe_interval(e, e->pending, 0, now, 1);
    int status = first ? master_call(e, "POST", "/api/v1/workers/probe/intervals", first, answer,
                                     sizeof answer) : -1;
    free(first);
    return status == 200 && e->iv_conflict && e->iv_future && e->iv_pending ? 0 : -1;
}

/* s with {TASK}, {PENDING} and {SESSION} replaced (static buffer n of 2). */
static const char *expand(const struct env *e, const char *s, int n)
{
    static char out[2][16384];
    char *o = out[n];
    size_t len = 0;
    while (*s && len < sizeof out[n] - 80) {
        const char *v = NULL;
        size_t skip = 0;
        if (strncmp(s, "{TASK}", 6) == 0) v = e->task, skip = 6;
        else if (strncmp(s, "{PENDING}", 9) == 0) v = e->pending, skip = 9;
        else if (strncmp(s, "{SESSION}", 9) == 0) v = e->session, skip = 9;
        if (v) {
            len += (size_t)snprintf(o + len, sizeof out[n] - len, "%s", v);
            s += skip;
        } else {
            o[len++] = *s++;
        }
    }
    o[len] = '\0';
    return o;
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "/tmp/herd-bad-XXXXXX");
    if (!mkdtemp(e->dir)) return -1;
    e->node_port = harness_free_port();
    e->gw_port = harness_free_port();
    char port[16], gw[16], node[64];
    snprintf(port, sizeof port, "%d", e->node_port);
    snprintf(gw, sizeof gw, "%d", e->gw_port);
    snprintf(node, sizeof node, "api.1=127.0.0.1:%d", e->node_port);
    char *n[] = {(char *)harness_herd_bin(), "node", "--port", port, "--id", "api.1",
                 "--log-level", "error", NULL};
    harness_spawn(n, NULL, NULL);
    char *g[] = {(char *)harness_herd_bin(), "gateway", "--port", gw, "--threads", "2", "--node",
                 node, "--log-level", "error", NULL};
    harness_spawn(g, NULL, NULL);
    *state = e;
    return harness_wait_http(e->node_port, "/health", 5000) &&
                   harness_wait_http(e->gw_port, "/api/v1/cluster/status", 5000) &&
                   master_setup(e) == 0
               ? 0
               : -1;
}

static int teardown(void **state)
{
    struct env *e = *state;
    harness_kill_all();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", e->dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", e->dir);
    free(e->iv_conflict);
    free(e->iv_future);
    free(e->iv_pending);
    free(e);
    return 0;
}

/* Runs one case; returns NULL when it held, else what was seen (static). */
static const char *run_case(struct env *e, const struct bad_case *c)
{
    static char seen[512];
    char *out = NULL, *err = NULL;
    if (c->kind == BAD_CLI || c->kind == BAD_PLAN || c->kind == BAD_REPORT ||
        c->kind == BAD_FILE) {
        char buf[512], *args[16], path[128];
        size_t n = 0;
        snprintf(path, sizeof path, "%s/%s", e->dir,
                 c->kind == BAD_PLAN     ? "plan.yaml"
                 : c->kind == BAD_REPORT ? "run.json"
                                         : "file.yaml");
        if (c->kind != BAD_CLI) {
            FILE *f = fopen(path, "w");
            fputs(c->kind == BAD_FILE ? c->body : c->input, f);
            fclose(f);
        }
        if (c->kind == BAD_CLI || c->kind == BAD_FILE) {
            snprintf(buf, sizeof buf, "%s", c->input);
            for (char *tok = strtok(buf, "|"); tok && n < 15; tok = strtok(NULL, "|"))
                args[n++] = strcmp(tok, "@") == 0 ? path : tok;
        } else {
            args[n++] = c->kind == BAD_PLAN ? "test" : "report";
            args[n++] = path;
        }
        args[n] = NULL;
        int code = harness_herd(args, 30000, &out, &err);
        /* a document herd report can read: what it prints */
        const char *said = c->kind == BAD_REPORT && c->expect == 0 ? out : err;
        bool ok = code == c->expect && said && strstr(said, c->fragment);
        snprintf(seen, sizeof seen, "exit %d: %.300s", code, said ? said : "");
        free(out);
        free(err);
        return ok ? NULL : seen;
    }
    int port = c->kind == BAD_NODE ? e->node_port : c->kind == BAD_GW ? e->gw_port : e->master_port;
    static char answer[1 << 16], request[32768];
    const char *raw = c->input;
    if (c->kind == BAD_MASTER && !strstr(c->input, "HTTP/1.1")) {
        const char *line = expand(e, c->input, 0);
        const char *auth = "Authorization: Bearer T\r\n";
        if (line[0] == '!' || line[0] == '?') {
            auth = line[0] == '!' ? "" : "Authorization: Bearer not-T\r\n";
            line++;
        }
        const char *body = !c->body                              ? ""
                           : strcmp(c->body, "@IV_CONFLICT") == 0 ? e->iv_conflict
                           : strcmp(c->body, "@IV_FUTURE") == 0   ? e->iv_future
                           : strcmp(c->body, "@IV_PENDING") == 0  ? e->iv_pending
                                                                   : expand(e, c->body, 1);
        snprintf(request, sizeof request,
                 "%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n%s",
                 line, auth, strlen(body), body);
        raw = request;
    } else if (c->body) {
        snprintf(request, sizeof request,
                 "%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: "
                 "application/json\r\nContent-Length: %zu\r\n\r\n%s",
                 c->input, strlen(c->body), c->body);
        raw = request;
    }
    int status = harness_exchange(port, raw, answer, sizeof answer);
    bool ok = status == c->expect && strstr(answer, c->fragment);
    snprintf(seen, sizeof seen, "status %d: %.300s", status, answer);
    if (!ok) return seen;
    /* and it still serves */
    const char *body;
    char health[4096];
    int again = harness_get(port, c->kind == BAD_NODE     ? "/health"
                                  : c->kind == BAD_MASTER ? "/api/v1/tasks"
                                                          : "/echo",
                            health, sizeof health, &body);
    if (again != 200) {
        snprintf(seen, sizeof seen, "answered %d, then %d to the next request", status, again);
        return seen;
    }
    return NULL;
}

static void test_bad_input_catalogue(void **state)
{
    struct env *e = *state;
    size_t failed = 0, n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) {
        const char *seen = run_case(e, &cases[i]);
        if (!seen) continue;
        failed++;
        fprintf(stderr, "case %zu (%.60s): expected %d with \"%s\", got %s\n", i, cases[i].input,
                cases[i].expect, cases[i].fragment, seen);
    }
    printf("  %zu bad inputs, %zu as expected\n", n, n - failed);
    assert_true(n >= 60);
    assert_int_equal(failed, 0);
}

/* A second gateway on the port the first one holds (its threads share it with SO_REUSEPORT,
 * which would let another process in silently) exits 3 saying so; the first keeps serving. */
static void test_second_gateway_on_a_taken_port(void **state)
{
    struct env *e = *state;
    char port[16];
    snprintf(port, sizeof port, "%d", e->gw_port);
    char *args[] = {"gateway", "--port", port, "--threads", "2", "--log-level", "error", NULL};
    char *out = NULL, *err = NULL;
    int code = harness_herd(args, 10000, &out, &err);
    printf("  second gateway: exit %d: %s", code, err ? err : "");
    assert_int_equal(code, 3);
    assert_non_null(strstr(err, "already in use"));
    free(out);
    free(err);
    const char *body;
    char answer[4096];
    assert_int_equal(harness_get(e->gw_port, "/echo", answer, sizeof answer, &body), 200);
}

int integration_bad_input(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_input_catalogue),
        cmocka_unit_test(test_second_gateway_on_a_taken_port),
    };
    return cmocka_run_group_tests_name("bad_input", tests, setup, teardown);
}
