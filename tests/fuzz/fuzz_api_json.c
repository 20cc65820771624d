/* fuzz_api_json.c -- the JSON bodies herd's servers accept, each fed to the decoder its
 * handler calls: the first byte picks the API, the rest is the body.
 *   f  node: POST /admin/fault                 (node_fault_decode)
 *   r  gateway: POST /api/v1/cluster/register  (admin_register_decode, then registry_add)
 *   R  the same, the gateway with --allow-register networks
 *   u  gateway: PUT /api/v1/cluster/nodes/{id} (admin_update_decode, then registry_set)
 *   c  gateway: PUT /api/v1/cluster/config     (admin_config_decode, then registry_config_put)
 *   s  supervisor: POST /groups/{group}/scale  (control_scale_decode)
 * Any other first byte picks one by its value. A body a decoder accepts must give values in
 * their documented ranges; one it refuses must come with a message and leave nothing behind. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "cluster/admin_body.h"
#include "cluster/control.h"
#include "cluster/registry.h"
#include "fuzz_util.h"
#include "node/node.h"

/* The gateway's registry that updates and configs go to: one node, kept across inputs. */
static struct registry *gateway_registry(void)
{
    static struct registry reg;
    static bool ready;
    char err[256];
    if (!ready && (registry_init(&reg, 3000, 0, 1, 1) < 0 ||
                   registry_add(&reg, "api.1", "127.0.0.1", 8081, 100, REGISTRY_STATIC, NULL, err,
                                sizeof err) != 0))
        abort();
    ready = true;
    return &reg;
}

static void fault(const char *body, size_t len)
{
    const struct node_fault before = {.latency_ms = 7, .error_rate = 0.5, .error_status = 500};
    struct node_fault f = before;
    char msg[300] = "";
    if (node_fault_decode(body, len, &f, msg, sizeof msg) < 0) {
        if (!msg[0] || memcmp(&f, &before, sizeof f) != 0)
            fuzz_fail("a refused fault body without a message, or with knobs changed", msg);
        return;
    }
    if (f.latency_ms > NODE_MAX_DELAY_MS || !isfinite(f.error_rate) || f.error_rate < 0 ||
        f.error_rate > 1 || f.error_status < 400 || f.error_status > 599)
        fuzz_fail("a fault body accepted with a knob out of range", body);
}

/* A registration accepted by the decoder goes on to the registry, as the handler sends it,
 * when its host is an address (a name would be looked up in DNS). */
static void registered(const struct admin_register *r, bool networks)
{
    struct sockaddr_in6 sa;
    const char *host = r->host ? r->host : "127.0.0.1";
    if (uv_ip4_addr(host, 1, (struct sockaddr_in *)&sa) != 0 && uv_ip6_addr(host, 1, &sa) != 0)
        return;
    struct registry reg;
    if (registry_init(&reg, 3000, 0, 1, 1) < 0) abort();
    char err[256] = "";
    static const char *const nets[] = {"10.0.0.0/8", "fd00::/8", "127.0.0.1"};
    for (size_t i = 0; networks && i < sizeof nets / sizeof nets[0]; i++)
        if (registry_network_parse(nets[i], &reg.networks[reg.network_count++], err,
                                   sizeof err) < 0)
            fuzz_fail("a network that does not parse", nets[i]);
    int index = registry_add(&reg, r->node_id, host, r->port, r->weight, REGISTRY_REGISTERED,
                             r->metadata, err, sizeof err);
    if (index < 0) {
        if (!err[0]) fuzz_fail("a registration refused without a message", r->node_id);
    } else {
        if (r->has_group) registry_set_group(&reg, index, r->group);
        const struct registry_node *n = &reg.nodes[index];
        if (strcmp(n->id, r->node_id) != 0 || n->port != r->port || n->weight != r->weight ||
            n->up || n->source != REGISTRY_REGISTERED)
            fuzz_fail("a registered node unlike its registration", r->node_id);
        if (r->has_group && strcmp(n->group, r->group) != 0)
            fuzz_fail("a registered node without its group", r->group);
    }
    registry_free(&reg);
}

static void register_body(const char *body, size_t len, bool networks)
{
    struct admin_register r;
    char msg[256] = "";
    int rc = admin_register_decode(body, len, &r, msg, sizeof msg);
    if (rc < 0) {
        if (!msg[0] || r.node_id || r.host || r.metadata)
            fuzz_fail("a refused registration without a message, or with memory held", msg);
        return;
    }
    if (!r.node_id || r.port < 1 || r.port > 65535 || r.weight < 0 ||
        r.weight > REGISTRY_WEIGHT_MAX || strlen(r.group) >= ADMIN_GROUP_MAX ||
        (!r.has_group && r.group[0]))
        fuzz_fail("a registration accepted with a field out of range", body);
    if (r.metadata) { /* the node's view reads it back: it must be an object again */
        json_t *meta = json_loads(r.metadata, 0, NULL);
        if (!json_is_object(meta)) fuzz_fail("metadata that does not read back", r.metadata);
        json_decref(meta);
    }
    registered(&r, networks);
    admin_register_free(&r);
}

static void update_body(const char *body, size_t len)
{
    struct admin_update u;
    char msg[256] = "";
    if (admin_update_decode(body, len, &u, msg, sizeof msg) < 0) {
        if (!msg[0]) fuzz_fail("a refused update without a message", body);
        return;
    }
    if (u.weight < -1 || u.weight > REGISTRY_WEIGHT_MAX || (u.weight < 0 && !u.has_state) ||
        (u.has_state && u.state != REGISTRY_ACTIVE && u.state != REGISTRY_DRAIN &&
         u.state != REGISTRY_MAINT))
        fuzz_fail("an update accepted with a field out of range, or changing nothing", body);
    struct registry *reg = gateway_registry();
    const struct registry_node *n = &reg->nodes[0];
    int weight = u.weight >= 0 ? u.weight : n->weight;
    enum registry_admin state = u.has_state ? u.state : n->admin;
    if (registry_set(reg, "api.1", u.weight, u.has_state ? &u.state : NULL) < 0 ||
        n->weight != weight || n->admin != state || n->effective_weight > weight * 10)
        fuzz_fail("an update the registry did not take as decoded", body);
}

static void config_body(const char *body, size_t len)
{
    char *text = NULL, msg[256] = "";
    if (admin_config_decode(body, len, &text, msg, sizeof msg) < 0) {
        if (!msg[0] || text) fuzz_fail("a refused config without a message", body);
        return;
    }
    /* the nodes read the text back: the same object */
    json_t *given = json_loadb(body, len, 0, NULL), *stored = json_loads(text, 0, NULL);
    if (!json_is_object(stored) || !json_equal(given, stored))
        fuzz_fail("a config that does not read back as it was given", text);
    struct registry *reg = gateway_registry();
    uint64_t version = reg->config_version;
    if (registry_config_put(reg, text) != version + 1 || strcmp(reg->config, text) != 0)
        fuzz_fail("a config the registry did not take, or took without a new version", text);
    json_decref(given);
    json_decref(stored);
    free(text);
}

static void scale_body(const char *body, size_t len)
{
    int replicas = -1;
    char msg[256] = "";
    if (control_scale_decode(body, len, &replicas, msg, sizeof msg) < 0) {
        if (!msg[0]) fuzz_fail("a refused scale without a message", body);
        return;
    }
    if (replicas < 0 || replicas > CONTROL_REPLICAS_MAX)
        fuzz_fail("a scale accepted with replicas out of range", body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char apis[] = "frRucs";
    if (size < 1) return 0;
    const char *pick = memchr(apis, data[0], sizeof apis - 1);
    char api = pick ? *pick : apis[data[0] % (sizeof apis - 1)];
    /* the body as the server holds it: its bytes, NUL-terminated past its length */
    char *body = fuzz_string(data + 1, size - 1);
    size_t len = size - 1;
    switch (api) {
    case 'f': fault(body, len); break;
    case 'r': register_body(body, len, false); break;
    case 'R': register_body(body, len, true); break;
    case 'u': update_body(body, len); break;
    case 'c': config_body(body, len); break;
    default: scale_body(body, len); break;
    }
    free(body);
    return 0;
}
