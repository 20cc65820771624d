/* test_registry.c -- the gateway's registry: rise/fall, passive ejection (never the last
 * node), readmission with slow start, drain, TTL expiry and registering again, static nodes
 * that deregister, the event log; the gateway's option parsing; and the admin API's bodies
 * (and the supervisor's scale body) as their decoders read them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netdb.h>

#include "base/mtime.h"
#include "cluster/admin_body.h"
#include "cluster/control.h"
#include "cluster/gateway.h"
#include "cluster/registry.h"

static struct registry reg;

static int setup(void **state)
{
    (void)state;
    return registry_init(&reg, 1000, 1000, 2, 3);
}

static int teardown(void **state)
{
    (void)state;
    registry_free(&reg);
    return 0;
}

static const char *last_event(void)
{
    return reg.event_seq ? reg.events[(reg.event_seq - 1) % REGISTRY_MAX_EVENTS].kind : "";
}

static int add(const char *id, int port, enum registry_source source)
{
    char err[128];
    int i = registry_add(&reg, id, "127.0.0.1", port, 1, source, NULL, err, sizeof err);
    assert_true(i >= 0);
    return i;
}

static void test_rise_and_fall(void **state)
{
    (void)state;
    int a = add("a", 8001, REGISTRY_STATIC);
    add("b", 8002, REGISTRY_STATIC);
    assert_true(registry_node_available(&reg.nodes[a])); /* new nodes start up */
    registry_check_result(&reg, a, 0, false, 1, "connect error");
    registry_check_result(&reg, a, 0, false, 1, "connect error");
    assert_true(reg.nodes[a].up); /* fall is 3 */
    uint64_t gen = reg.generation;
    registry_check_result(&reg, a, 0, false, 1, "connect error");
    assert_false(reg.nodes[a].up);
    assert_string_equal(last_event(), "down");
    assert_true(reg.generation > gen);
    registry_check_result(&reg, a, 0, true, 1, "");
    assert_false(reg.nodes[a].up); /* rise is 2 */
    registry_check_result(&reg, a, 0, true, 1, "");
    assert_true(reg.nodes[a].up);
    assert_string_equal(last_event(), "up");
    assert_string_equal(registry_node_state(&reg.nodes[a]), "up");
}

/* Each node's state with its reason, as the 503 "no node" and /nodes tell them; an added
 * node starts down, stays until deleted, and stays added when it registers itself. */
static void test_reasons_and_added_nodes(void **state)
{
    (void)state;
    char why[160];
    int a = add("a", 8001, REGISTRY_STATIC), b = add("b", 8002, REGISTRY_STATIC);
    int c = add("c", 8003, REGISTRY_ADDED);
    assert_string_equal(registry_node_reason(&reg.nodes[a], 2, why, sizeof why), "up");
    assert_string_equal(registry_node_reason(&reg.nodes[c], 2, why, sizeof why),
                        "down: not checked yet");
    for (int k = 0; k < 3; k++)
        registry_check_result(&reg, a, 0, false, 1, "GET /health -> 404");
    assert_string_equal(registry_node_reason(&reg.nodes[a], 2, why, sizeof why),
                        "down: GET /health -> 404");
    registry_check_result(&reg, a, 0, true, 1, "");
    assert_string_equal(registry_node_reason(&reg.nodes[a], 2, why, sizeof why),
                        "down: coming up, 1 of 2 checks passed");
    registry_check_result(&reg, c, 0, true, 1, "");
    registry_check_result(&reg, c, 0, true, 1, "");
    assert_true(registry_eject(&reg, c, 0, "3 consecutive failures, last: connect"));
    assert_string_equal(registry_node_reason(&reg.nodes[c], 2, why, sizeof why),
                        "ejected: 3 consecutive failures, last: connect");
    enum registry_admin drain = REGISTRY_DRAIN;
    assert_int_equal(registry_set(&reg, "b", -1, &drain), 0);
    assert_string_equal(registry_node_reason(&reg.nodes[b], 2, why, sizeof why),
                        "drain: set through the admin API");
    /* registering itself keeps it added (never expires); DELETE removes it for good */
    add("c", 8003, REGISTRY_REGISTERED);
    assert_string_equal(registry_source_name(reg.nodes[c].source), "added");
    add("b", 8002, REGISTRY_ADDED); /* the file's node stays static */
    assert_string_equal(registry_source_name(reg.nodes[b].source), "static");
    assert_int_equal(registry_remove(&reg, "c", "deregistered"), 0);
    assert_true(reg.nodes[c].removed);
    assert_int_equal(registry_remove(&reg, "b", "deregistered"), 0);
    assert_false(reg.nodes[b].removed);
    assert_string_equal(registry_node_reason(&reg.nodes[b], 2, why, sizeof why),
                        "down: deregistered, until its checks pass");
}

static void test_eject_never_the_last_node(void **state)
{
    (void)state;
    int a = add("a", 8001, REGISTRY_STATIC), b = add("b", 8002, REGISTRY_STATIC);
    assert_true(registry_eject(&reg, a, 0, "3 connect errors"));
    assert_string_equal(last_event(), "ejected");
    assert_string_equal(registry_node_state(&reg.nodes[a]), "ejected");
    assert_false(registry_eject(&reg, a, 0, "again")); /* already out */
    assert_false(registry_eject(&reg, b, 0, "3 connect errors")); /* the last one stays */
    assert_true(registry_node_available(&reg.nodes[b]));
    /* readmitted after rise passing checks, ramping up its weight (slow start 1 s) */
    registry_check_result(&reg, a, 0, true, 1, "");
    registry_check_result(&reg, a, 0, true, 1, "");
    assert_string_equal(last_event(), "readmitted");
    assert_true(registry_node_available(&reg.nodes[a]));
    assert_int_equal(reg.nodes[a].effective_weight, 1);
    uint64_t t0 = reg.nodes[a].slowstart_from_ms;
    registry_tick(&reg, t0 + 500);
    assert_int_equal(reg.nodes[a].effective_weight, 5); /* half way to 1 x 10 */
    registry_tick(&reg, t0 + 1000);
    assert_int_equal(reg.nodes[a].effective_weight, 10);
    assert_int_equal(reg.nodes[a].slowstart_from_ms, 0);
}

static void test_admin_states_and_weight(void **state)
{
    (void)state;
    int a = add("a", 8001, REGISTRY_STATIC);
    enum registry_admin drain = REGISTRY_DRAIN, active = REGISTRY_ACTIVE;
    assert_int_equal(registry_set(&reg, "a", -1, &drain), 0);
    assert_false(registry_node_available(&reg.nodes[a]));
    assert_string_equal(registry_node_state(&reg.nodes[a]), "drain");
    assert_int_equal(registry_set(&reg, "a", 4, &active), 0);
    assert_true(registry_node_available(&reg.nodes[a]));
    assert_int_equal(reg.nodes[a].effective_weight, 40);
    assert_int_equal(registry_set(&reg, "a", 0, NULL), 0); /* weight 0: no traffic */
    assert_false(registry_node_available(&reg.nodes[a]));
    assert_int_equal(registry_set(&reg, "nope", 1, NULL), -1);
    enum registry_admin parsed;
    assert_int_equal(registry_admin_parse("maint", &parsed), 0);
    assert_int_equal(parsed, REGISTRY_MAINT);
    assert_int_equal(registry_admin_parse("off", &parsed), -1);
}

static void test_ttl_and_registering_again(void **state)
{
    (void)state;
    int r = add("r", 8003, REGISTRY_REGISTERED);
    assert_int_equal(registry_heartbeat(&reg, "r"), 0);
    registry_tick(&reg, mtime_now_ms() + 500);
    assert_false(reg.nodes[r].removed);
    registry_tick(&reg, mtime_now_ms() + 1500); /* TTL 1 s without a heartbeat */
    assert_true(reg.nodes[r].removed);
    assert_string_equal(last_event(), "expired");
    assert_int_equal(registry_heartbeat(&reg, "r"), -1); /* told to register again */
    assert_int_equal(add("r", 8003, REGISTRY_REGISTERED), r); /* same slot */
    assert_false(reg.nodes[r].removed);
    assert_string_equal(last_event(), "registered");
    assert_int_equal(registry_remove(&reg, "r", "deregistered"), 0);
    assert_true(reg.nodes[r].removed);
    /* a static node that registers stays static; deregistering marks it down, not gone */
    int s = add("s", 8004, REGISTRY_STATIC);
    uint64_t gen = reg.generation;
    char err[128];
    assert_int_equal(registry_add(&reg, "s", "127.0.0.1", 8004, 100, REGISTRY_REGISTERED, NULL, err,
                                  sizeof err),
                     s);
    assert_int_equal(reg.nodes[s].source, REGISTRY_STATIC);
    assert_int_equal(reg.nodes[s].weight, 1); /* the file's weight, not the node's claim */
    assert_int_equal(reg.generation, gen);    /* balancers are not disturbed */
    assert_int_equal(registry_remove(&reg, "s", "deregistered"), 0);
    assert_false(reg.nodes[s].removed);
    assert_string_equal(registry_node_state(&reg.nodes[s]), "down");
    registry_tick(&reg, mtime_now_ms() + 5000);
    assert_false(reg.nodes[s].removed); /* static nodes never expire */
}

static void test_bad_registrations(void **state)
{
    (void)state;
    char err[128];
    assert_int_equal(registry_add(&reg, "", "127.0.0.1", 80, 1, REGISTRY_STATIC, NULL, err,
                                  sizeof err),
                     -1);
    assert_int_equal(registry_add(&reg, "x", "127.0.0.1", 0, 1, REGISTRY_STATIC, NULL, err,
                                  sizeof err),
                     -1);
    assert_non_null(strstr(err, "port"));
    assert_int_equal(registry_add(&reg, "x", "127.0.0.1", 80, 101, REGISTRY_STATIC, NULL, err,
                                  sizeof err),
                     -1);
    assert_non_null(strstr(err, "weight"));
    char long_host[300]; /* refused before any lookup: no DNS in a unit test */
    memset(long_host, 'h', sizeof long_host - 1);
    long_host[sizeof long_host - 1] = '\0';
    assert_int_equal(registry_add(&reg, "x", long_host, 80, 1, REGISTRY_STATIC, NULL, err,
                                  sizeof err),
                     -1);
    assert_non_null(strstr(err, "longer than 255 characters"));
    /* an id goes into answers' X-Herd-Node header, the log and terminals */
    static const char *const bad_ids[] = {"a\r\nSet-Cookie: x=1", "a b", "a\x1b[2J", "a\x7f"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        assert_int_equal(registry_add(&reg, bad_ids[i], "127.0.0.1", 80, 1, REGISTRY_STATIC, NULL,
                                      err, sizeof err),
                         -1);
        assert_non_null(strstr(err, "control characters"));
    }
    assert_int_equal(reg.count, 0);
}

/* More register/deregister cycles of distinct nodes than the table has slots fit in it:
 * removed slots are given to new nodes, with a new epoch that makes stale check results and
 * ejections miss. */
static void test_removed_slots_are_reused(void **state)
{
    (void)state;
    int first = add("keep", 1000, REGISTRY_REGISTERED);
    for (int i = 0; i < REGISTRY_MAX_NODES + 1000; i++) {
        char id[32];
        snprintf(id, sizeof id, "cycle.%d", i);
        int index = add(id, 2000 + i % 1000, REGISTRY_REGISTERED);
        assert_true(index >= 0 && index < REGISTRY_MAX_NODES);
        assert_int_equal(registry_remove(&reg, id, "deregistered"), 0);
    }
    assert_int_equal(reg.count, REGISTRY_MAX_NODES);
    assert_string_equal(reg.nodes[first].id, "keep"); /* a live node keeps its slot */
    int index = add("late", 3000, REGISTRY_REGISTERED);
    struct registry_node *n = &reg.nodes[index];
    assert_true(n->epoch > 0);
    assert_string_equal(registry_node_state(n), "down"); /* until its checks pass */
    assert_null(n->metadata);
    /* results for the slot's previous node change nothing */
    for (int i = 0; i < 5; i++) registry_check_result(&reg, index, n->epoch - 1, true, 1, "");
    assert_string_equal(registry_node_state(n), "down");
    registry_check_result(&reg, index, n->epoch, true, 1, "");
    registry_check_result(&reg, index, n->epoch, true, 1, "");
    assert_string_equal(registry_node_state(n), "up");
    add("other", 3001, REGISTRY_REGISTERED); /* two live nodes: one may be ejected */
    assert_false(registry_eject(&reg, index, n->epoch - 1, "old"));
    registry_check_result(&reg, index, n->epoch, false, 1, "new");
    assert_int_equal(n->check_fail, 1);
}

/* 10,000 live nodes fit, each found by its id (heartbeat, operator change, removal); a slot
 * given to a new node answers to the new id only. */
static void test_ten_thousand_nodes(void **state)
{
    (void)state;
    enum { N = 10000 };
    char id[32];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "n%d", i);
        assert_int_equal(add(id, 1 + i % 60000, REGISTRY_REGISTERED), i);
    }
    assert_int_equal(reg.count, N);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "n%d", i);
        assert_int_equal(registry_heartbeat(&reg, id), 0);
        assert_int_equal(add(id, 1 + i % 60000, REGISTRY_REGISTERED), i); /* its own slot */
    }
    enum registry_admin drain = REGISTRY_DRAIN;
    assert_int_equal(registry_set(&reg, "n9999", -1, &drain), 0);
    assert_int_equal(reg.nodes[9999].admin, REGISTRY_DRAIN);
    assert_int_equal(registry_heartbeat(&reg, "n10000"), -1);
    assert_int_equal(registry_remove(&reg, "n5000", "deregistered"), 0);
    assert_int_equal(registry_heartbeat(&reg, "n5000"), -1); /* removed: register again */
    /* fill the table, then one more: it takes n5000's slot */
    for (int i = N; i < REGISTRY_MAX_NODES; i++) {
        snprintf(id, sizeof id, "n%d", i);
        assert_int_equal(add(id, 1 + i % 60000, REGISTRY_REGISTERED), i);
    }
    assert_int_equal(add("newcomer", 8080, REGISTRY_REGISTERED), 5000);
    assert_int_equal(registry_heartbeat(&reg, "newcomer"), 0);
    assert_int_equal(registry_set(&reg, "n5000", 50, NULL), -1); /* its old name is gone */
    char err[128];
    assert_int_equal(registry_add(&reg, "one-too-many", "127.0.0.1", 80, 1, REGISTRY_REGISTERED,
                                  NULL, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "16384 nodes at most"));
}

/* Asserts that registering id at host:80 fails with a message containing want. */
static void assert_refused(const char *id, const char *host, enum registry_source source,
                           const char *want)
{
    char err[256];
    assert_int_equal(registry_add(&reg, id, host, 80, 1, source, NULL, err, sizeof err), -1);
    if (!strstr(err, want)) fail_msg("%s: '%s' lacks '%s'", host, err, want);
}

/* Registered nodes: loopback only unless networks are set; unspecified and link-local never;
 * static nodes are the operator's choice. */
static void test_registration_networks(void **state)
{
    (void)state;
    char err[256];
    static const char *const refused[] = {"0.0.0.0",        "::",        "169.254.169.254",
                                          "fe80::1",        "10.1.2.3",  "192.168.0.1",
                                          "::ffff:169.254.1.1", "0.0.0.1"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        assert_refused("x", refused[i], REGISTRY_REGISTERED, "refused");
    assert_refused("x", "10.1.2.3", REGISTRY_REGISTERED, "not a loopback address");
    assert_true(registry_add(&reg, "a", "127.0.0.2", 80, 1, REGISTRY_REGISTERED, NULL, err,
                             sizeof err) >= 0);
    assert_true(registry_add(&reg, "b", "::1", 80, 1, REGISTRY_REGISTERED, NULL, err,
                             sizeof err) >= 0);
    assert_true(registry_add(&reg, "s", "10.1.2.3", 80, 1, REGISTRY_STATIC, NULL, err,
                             sizeof err) >= 0);
    assert_string_equal(registry_node_state(&reg.nodes[2]), "up"); /* static: up at once */
    assert_int_equal(registry_network_parse("10.0.0.0/8", &reg.networks[0], err, sizeof err), 0);
    assert_int_equal(registry_network_parse("fd00::/8", &reg.networks[1], err, sizeof err), 0);
    reg.network_count = 2;
    assert_true(registry_add(&reg, "c", "10.200.0.1", 80, 1, REGISTRY_REGISTERED, NULL, err,
                             sizeof err) >= 0);
    assert_true(registry_add(&reg, "d", "fd12::5", 80, 1, REGISTRY_REGISTERED, NULL, err,
                             sizeof err) >= 0);
    assert_refused("e", "127.0.0.1", REGISTRY_REGISTERED, "outside");
    assert_refused("e", "0.0.0.0", REGISTRY_REGISTERED, "unspecified");
    /* IPv4 inside IPv6 is judged as IPv4, whatever networks allow */
    assert_int_equal(registry_network_parse("::/0", &reg.networks[1], err, sizeof err), 0);
    assert_int_equal(registry_network_parse("0.0.0.0/0", &reg.networks[0], err, sizeof err), 0);
    static const char *const embedded[][2] = {
        {"::169.254.169.254", "link-local"}, {"64:ff9b::a9fe:a9fe", "link-local"},
        {"::ffff:a9fe:a9fe", "link-local"},  {"0.0.0.1", "unspecified"},
        {"::ffff:0.1.2.3", "unspecified"},
    };
    for (size_t i = 0; i < sizeof embedded / sizeof embedded[0]; i++)
        assert_refused("e", embedded[i][0], REGISTRY_REGISTERED, embedded[i][1]);
    assert_true(registry_add(&reg, "f", "64:ff9b::a01:203", 80, 1, REGISTRY_REGISTERED, NULL,
                             err, sizeof err) >= 0); /* 10.1.2.3 through NAT64: allowed */
    static const char *const bad[] = {"10.0.0.0/33", "fd00::/129", "10.0.0.0/", "nope/8", "/8",
                                      "10.0.0.0/8x"};
    struct registry_network net;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(registry_network_parse(bad[i], &net, err, sizeof err), -1);
}

/* A host name's addresses in the resolver's order: a registered node takes the first one the
 * networks allow, and a refusal names the first address refused; a static node the first. */
static void test_resolved_addresses(void **state)
{
    (void)state;
    struct sockaddr_storage ss[3];
    struct addrinfo ai[3];
    static const char *const ips[] = {"169.254.1.1", "10.1.2.3", "127.0.0.5"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(registry_address_literal(ips[i], 9, &ss[i]), 0);
        ai[i] = (struct addrinfo){.ai_family = AF_INET,
                                  .ai_socktype = SOCK_STREAM,
                                  .ai_addrlen = sizeof(struct sockaddr_in),
                                  .ai_addr = (struct sockaddr *)&ss[i],
                                  .ai_next = i < 2 ? &ai[i + 1] : NULL};
    }
    char err[256];
    struct sockaddr_storage name;
    assert_int_equal(registry_address_literal("db.example", 9, &name), -1); /* not a literal */
    int i = registry_add_resolved(&reg, "r", "multi.example", ai, 8080, 1, REGISTRY_REGISTERED,
                                  NULL, err, sizeof err);
    assert_true(i >= 0);
    const struct sockaddr_in *a = (const struct sockaddr_in *)&reg.nodes[i].addr;
    assert_int_equal(ntohl(a->sin_addr.s_addr), 0x7f000005); /* 127.0.0.5 */
    assert_int_equal(ntohs(a->sin_port), 8080);
    assert_string_equal(reg.nodes[i].host, "multi.example");
    ai[1].ai_next = NULL; /* link-local, then outside loopback: none will do */
    assert_int_equal(registry_add_resolved(&reg, "q", "two.example", ai, 80, 1,
                                           REGISTRY_REGISTERED, NULL, err, sizeof err),
                     -1);
    assert_string_equal(err, "host 'two.example' refused: 169.254.1.1 is a link-local address");
    i = registry_add_resolved(&reg, "s", "two.example", ai, 80, 1, REGISTRY_STATIC, NULL, err,
                              sizeof err);
    assert_true(i >= 0);
    a = (const struct sockaddr_in *)&reg.nodes[i].addr;
    assert_int_equal(ntohl(a->sin_addr.s_addr), 0xa9fe0101); /* static: the first, as given */
}

static void test_config_versions(void **state)
{
    (void)state;
    assert_string_equal(reg.config, "{}");
    assert_int_equal(registry_config_put(&reg, "{\"a\":1}"), 1);
    assert_int_equal(registry_config_put(&reg, "{\"a\":2}"), 2);
    assert_string_equal(reg.config, "{\"a\":2}");
    assert_string_equal(last_event(), "config");
}

static void test_gateway_options(void **state)
{
    (void)state;
    struct gateway_opts o;
    gateway_opts_default(&o);
    char err[256];
    assert_int_equal(gateway_opts_add_node(&o, "127.0.0.1:8081", err, sizeof err), 0);
    assert_int_equal(gateway_opts_add_node(&o, "api.2=[::1]:8082#weight=3", err, sizeof err), 0);
    assert_string_equal(o.nodes[0].id, "127.0.0.1:8081");
    assert_string_equal(o.nodes[1].id, "api.2");
    assert_string_equal(o.nodes[1].host, "::1");
    assert_int_equal(o.nodes[1].port, 8082);
    assert_int_equal(o.nodes[1].weight, 3);
    assert_int_equal(gateway_opts_add_node(&o, "api.2=127.0.0.1:9", err, sizeof err), -1);
    assert_non_null(strstr(err, "twice"));
    assert_int_equal(gateway_opts_add_node(&o, "localhost", err, sizeof err), -1);
    assert_int_equal(gateway_opts_add_node(&o, "h:80#weight=x", err, sizeof err), -1);
    /* range-checked before the cast: 2^32 + 1 is not weight 1 */
    assert_int_equal(gateway_opts_add_node(&o, "h:80#weight=4294967297", err, sizeof err), -1);
    assert_int_equal(gateway_opts_add_node(&o, "h:80#weight=-4294967295", err, sizeof err), -1);
    /* a pushed node has no group until its caller gives one: an unset group was garbage that
     * made the admin API lose the node (found by fuzz_http_gateway) */
    assert_int_equal(gateway_opts_push_node(&o, "p", "127.0.0.1", 9, 1, err, sizeof err), 0);
    assert_string_equal(o.nodes[o.node_count - 1].group, "");
    double b;
    assert_int_equal(gateway_parse_budget("20%", &b), 0);
    assert_true(b > 0.199 && b < 0.201);
    assert_int_equal(gateway_parse_budget("0.5", &b), 0);
    assert_int_equal(gateway_parse_budget("120%", &b), -1);
    assert_int_equal(gateway_parse_budget("lots", &b), -1);
    /* allow_register: a list of networks (or one), in place of loopback only */
    static const char text[] = "allow_register: [10.0.0.0/8, \"::1/128\"]\nmax_body: 64KB\n";
    struct conf_doc doc;
    assert_int_equal(conf_parse(&doc, "gw.yaml", text, sizeof text - 1, err, sizeof err), 0);
    assert_int_equal(gateway_opts_from_conf(&o, &doc, doc.root, err, sizeof err), 0);
    assert_int_equal(o.allow_register_count, 2);
    assert_int_equal(o.allow_register[0].family, AF_INET);
    assert_int_equal(o.allow_register[0].prefix_len, 8);
    assert_int_equal(o.allow_register[1].family, AF_INET6);
    assert_int_equal(o.max_body_bytes, 65536);
    conf_free(&doc);
    static const char one[] = "allow_register: 192.168.0.0/16\n";
    assert_int_equal(conf_parse(&doc, "gw.yaml", one, sizeof one - 1, err, sizeof err), 0);
    assert_int_equal(gateway_opts_from_conf(&o, &doc, doc.root, err, sizeof err), 0);
    assert_int_equal(o.allow_register_count, 1); /* the file's list replaced what was there */
    conf_free(&doc);
    gateway_opts_free(&o);
}

/* The bodies of register, node update, config and scale: what they yield, and the 400
 * message of a bad one (an unknown field named before a bad value). */
static void test_admin_bodies(void **state)
{
    (void)state;
    char msg[256];
    struct admin_register r;
    const char *body = "{\"node_id\": \"api.1\", \"port\": 8081, \"host\": null, "
                       "\"metadata\": {\"v\": [1, \"x\"]}, \"group\": \"api\"}";
    assert_int_equal(admin_register_decode(body, strlen(body), &r, msg, sizeof msg), 0);
    assert_string_equal(r.node_id, "api.1");
    assert_null(r.host);
    assert_int_equal(r.port, 8081);
    assert_int_equal(r.weight, 1);
    assert_string_equal(r.metadata, "{\"v\":[1,\"x\"]}");
    assert_true(r.has_group);
    assert_string_equal(r.group, "api");
    admin_register_free(&r);
    static const char *const bad[][2] = {
        {"{\"node_id\": \"n\", \"port\": 0}", "port: expected an integer 1..65535"},
        {"{\"node_id\": 7, \"port\": 80, \"x\": 1}", "body: unknown field 'x', expected node_id, host, port, weight, metadata or group"},
        {"{\"node_id\": \"n\", \"port\": 80, \"weight\": 101}", "weight: expected"},
        {"{\"node_id\": \"n\", \"port\": 80, \"metadata\": []}", "metadata: expected an object"},
        {"[1]", "body: expected a JSON object"},
        {"{\"node_id\": \"a\", \"node_id\": \"b\", \"port\": 80}", "duplicate object key"},
        {"{\"node_id\"", "body: invalid JSON at line 1 column"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(admin_register_decode(bad[i][0], strlen(bad[i][0]), &r, msg, sizeof msg),
                         -1);
        assert_non_null(strstr(msg, bad[i][1]));
        assert_null(r.node_id);
    }
    struct admin_update u;
    body = "{\"state\": \"drain\"}";
    assert_int_equal(admin_update_decode(body, strlen(body), &u, msg, sizeof msg), 0);
    assert_int_equal(u.weight, -1);
    assert_true(u.has_state);
    assert_int_equal(u.state, REGISTRY_DRAIN);
    body = "{\"weight\": 0}";
    assert_int_equal(admin_update_decode(body, strlen(body), &u, msg, sizeof msg), 0);
    assert_int_equal(u.weight, 0);
    assert_false(u.has_state);
    body = "{}";
    assert_int_equal(admin_update_decode(body, strlen(body), &u, msg, sizeof msg), -1);
    assert_string_equal(msg, "expected weight and/or state");
    body = "{\"state\": \"sleep\"}";
    assert_int_equal(admin_update_decode(body, strlen(body), &u, msg, sizeof msg), -1);
    assert_string_equal(msg, "state: expected active, drain or maint");
    char *text;
    body = "{ \"a\" : [ 1 , 2.5 ] }";
    assert_int_equal(admin_config_decode(body, strlen(body), &text, msg, sizeof msg), 0);
    assert_string_equal(text, "{\"a\":[1,2.5]}");
    free(text);
    assert_int_equal(admin_config_decode("[]", 2, &text, msg, sizeof msg), -1);
    assert_null(text);
    int replicas = -1;
    body = "{\"replicas\": 10000}";
    assert_int_equal(control_scale_decode(body, strlen(body), &replicas, msg, sizeof msg), 0);
    assert_int_equal(replicas, 10000);
    body = "{\"replicas\": -1}";
    assert_int_equal(control_scale_decode(body, strlen(body), &replicas, msg, sizeof msg), -1);
    assert_string_equal(msg, "replicas: expected an integer from 0 to 10000");
    body = "{\"replicas\": 2, \"x\": 1}";
    assert_int_equal(control_scale_decode(body, strlen(body), &replicas, msg, sizeof msg), -1);
    assert_string_equal(msg, "body: unknown field 'x', expected replicas");
}

int unit_registry(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rise_and_fall, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reasons_and_added_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eject_never_the_last_node, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_states_and_weight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl_and_registering_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_registrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ten_thousand_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_slots_are_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registration_networks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolved_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_versions, setup, teardown),
        cmocka_unit_test(test_gateway_options),
        cmocka_unit_test(test_admin_bodies),
    };
    return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
