/* registry.c -- the gateway's node table, event log and synced config (see registry.h). */
#include "cluster/registry.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mtime.h"

#define REGISTRY_ID_BUCKETS (2 * REGISTRY_MAX_NODES) /* a power of two */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int registry_init(struct registry *reg, uint64_t ttl_ms, uint64_t slowstart_ms, int rise, int fall)
{
    memset(reg, 0, sizeof *reg);
    reg->nodes = calloc(REGISTRY_MAX_NODES, sizeof *reg->nodes);
    reg->events = calloc(REGISTRY_MAX_EVENTS, sizeof *reg->events);
    reg->config = strdup("{}");
    reg->id_buckets = calloc(REGISTRY_ID_BUCKETS, sizeof *reg->id_buckets);
    if (!reg->nodes || !reg->events || !reg->config || !reg->id_buckets) {
        registry_free(reg);
        return -1;
    }
    pthread_mutex_init(&reg->lock, NULL);
    reg->ttl_ms = ttl_ms;
    reg->slowstart_ms = slowstart_ms;
    reg->rise = rise;
    reg->fall = fall;
    return 0;
}

void registry_free(struct registry *reg)
{
    if (reg->nodes) {
        pthread_mutex_destroy(&reg->lock);
        for (size_t i = 0; i < reg->count; i++)
            free(reg->nodes[i].metadata);
    }
    free(reg->nodes);
    free(reg->events);
    free(reg->config);
    free(reg->id_buckets);
    memset(reg, 0, sizeof *reg);
}

static const char *const admin_names[] = {"active", "drain", "maint"};

const char *registry_admin_name(enum registry_admin admin)
{
    return (unsigned)admin <= REGISTRY_MAINT ? admin_names[admin] : "?";
}

int registry_admin_parse(const char *name, enum registry_admin *out)
{
    for (int i = 0; i <= REGISTRY_MAINT; i++)
        if (strcmp(name, admin_names[i]) == 0)
            return *out = (enum registry_admin)i, 0;
    return -1;
}

bool registry_node_available(const struct registry_node *n)
{
    return !n->removed && n->admin == REGISTRY_ACTIVE && n->up && !n->ejected && n->weight > 0;
}

const char *registry_source_name(enum registry_source source)
{
    return source == REGISTRY_STATIC ? "static" : source == REGISTRY_ADDED ? "added" : "registered";
}

const char *registry_node_state(const struct registry_node *n)
{
    if (n->removed) return "removed";
    if (n->admin == REGISTRY_MAINT) return "maint";
    if (!n->up) return "down";
    if (n->ejected) return "ejected";
    if (n->admin == REGISTRY_DRAIN) return "drain";
    return "up";
}

const char *registry_node_reason(const struct registry_node *n, int rise, char *out,
                                 size_t size)
{
    if (n->removed)
        snprintf(out, size, "removed");
    else if (n->admin == REGISTRY_MAINT)
        snprintf(out, size, "maint: set through the admin API");
    else if (!n->up && n->check_error[0])
        snprintf(out, size, "down: %s", n->check_error);
    else if (!n->up && n->check_ok > 0)
        snprintf(out, size, "down: coming up, %d of %d checks passed", n->check_ok, rise);
    else if (!n->up)
        snprintf(out, size, "down: not checked yet");
    else if (n->ejected)
        snprintf(out, size, "ejected: %s", n->eject_reason);
    else if (n->admin == REGISTRY_DRAIN)
        snprintf(out, size, "drain: set through the admin API");
    else if (n->weight == 0)
        snprintf(out, size, "up, weight 0: takes no requests");
    else
        snprintf(out, size, "up");
    return out;
}

void registry_event_locked(struct registry *reg, const char *node, const char *kind,
                           const char *fmt, ...)
{
    struct registry_event *e = &reg->events[reg->event_seq % REGISTRY_MAX_EVENTS];
    e->seq = ++reg->event_seq;
    e->wall_ms = wall_ms();
    snprintf(e->node, sizeof e->node, "%s", node);
    snprintf(e->kind, sizeof e->kind, "%s", kind);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->detail, sizeof e->detail, fmt, ap);
    va_end(ap);
    log_info("%s %s%s%s", node, kind, e->detail[0] ? ": " : "", e->detail);
}

static void changed(struct registry *reg)
{
    atomic_fetch_add_explicit(&reg->generation, 1, memory_order_release);
}

/* ---- the id index: a registration, heartbeat or change finds its node in O(1), not in a
 * pass over 10,000 slots ---- */

static uint32_t *id_bucket(struct registry *reg, const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return &reg->id_buckets[h & (REGISTRY_ID_BUCKETS - 1)];
}

static struct registry_node *find(struct registry *reg, const char *id)
{
    for (uint32_t at = *id_bucket(reg, id); at; at = reg->nodes[at - 1].id_next)
        if (strcmp(reg->nodes[at - 1].id, id) == 0) return &reg->nodes[at - 1];
    return NULL;
}

/* Names slot n id (it has none, or its old one is unlinked first). */
static void id_link(struct registry *reg, struct registry_node *n, const char *id)
{
    snprintf(n->id, sizeof n->id, "%s", id);
    uint32_t *head = id_bucket(reg, n->id);
    n->id_next = *head;
    *head = (uint32_t)(n - reg->nodes) + 1;
}

static void id_unlink(struct registry *reg, struct registry_node *n)
{
    uint32_t slot = (uint32_t)(n - reg->nodes) + 1;
    for (uint32_t *link = id_bucket(reg, n->id); *link; link = &reg->nodes[*link - 1].id_next)
        if (*link == slot) {
            *link = n->id_next;
            break;
        }
    n->id_next = 0;
}

int registry_address_literal(const char *host, int port, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    return uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0 ||
                   uv_ip6_addr(host, port, (struct sockaddr_in6 *)out) == 0
               ? 0
               : -1;
}

int registry_network_parse(const char *text, struct registry_network *out, char *err,
                           size_t errlen)
{
    char addr[64];
    const char *slash = strchr(text, '/');
    size_t len = slash ? (size_t)(slash - text) : strlen(text);
    if (len == 0 || len >= sizeof addr)
        return err_set(err, errlen, "'%s': expected ADDRESS/PREFIX (10.0.0.0/8, fd00::/8)", text);
    memcpy(addr, text, len);
    addr[len] = '\0';
    memset(out, 0, sizeof *out);
    int max;
    if (inet_pton(AF_INET, addr, out->addr) == 1)
        out->family = AF_INET, max = 32;
    else if (inet_pton(AF_INET6, addr, out->addr) == 1)
        out->family = AF_INET6, max = 128;
    else
        return err_set(err, errlen, "'%s': '%s' is not an IP address", text, addr);
    out->prefix_len = max;
    if (slash) {
        char *end;
        long p = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || p < 0 || p > max)
            return err_set(err, errlen, "'%s': the prefix length must be 0..%d", text, max);
        out->prefix_len = (int)p;
    }
    return 0;
}

static bool network_contains(const struct registry_network *net, int family,
                             const unsigned char *addr)
{
    if (net->family != family) return false;
    int bits = net->prefix_len;
    for (int i = 0; bits > 0; i++, bits -= 8) {
        unsigned char mask = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
        if ((addr[i] & mask) != (net->addr[i] & mask)) return false;
    }
    return true;
}

/* Whether a registered node may be at addr: never unspecified (0.0.0.0/8, ::) or link-local,
 * nor those inside IPv6 (IPv4-mapped, IPv4-compatible, NAT64's 64:ff9b::/96), else in one of
 * the networks (loopback when none). Returns 0 or -1 with a message. */
static int address_allowed(const struct registry *reg, const struct sockaddr_storage *ss,
                           char *err, size_t errlen)
{
    int family = ss->ss_family;
    unsigned char a[16] = {0};
    if (family == AF_INET) {
        memcpy(a, &((const struct sockaddr_in *)ss)->sin_addr, 4);
    } else if (family == AF_INET6) {
        memcpy(a, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
        static const unsigned char compat[12] = {0};
        bool v4_tail = a[12] || a[13] || a[14] || a[15] > 1; /* not :: or ::1 */
        if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0 ||
            (memcmp(a, compat, 12) == 0 && v4_tail)) { /* ::ffff:a.b.c.d and kin are a.b.c.d */
            family = AF_INET;
            memmove(a, a + 12, 4);
            memset(a + 4, 0, 12);
        }
    } else {
        return err_set(err, errlen, "not an IP address");
    }
    char text[INET6_ADDRSTRLEN];
    inet_ntop(family, a, text, sizeof text);
    static const unsigned char zero[16] = {0};
    /* 0.0.0.0/8 is "this network": none of it is a node's address */
    bool unspecified = family == AF_INET ? a[0] == 0 : memcmp(a, zero, 16) == 0;
    bool link_local = family == AF_INET ? a[0] == 169 && a[1] == 254
                                        : a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
    if (unspecified) return err_set(err, errlen, "%s is an unspecified address", text);
    if (link_local) return err_set(err, errlen, "%s is a link-local address", text);
    if (reg->network_count == 0) {
        bool loop = family == AF_INET ? a[0] == 127
                                      : memcmp(a, zero, 15) == 0 && a[15] == 1;
        if (loop) return 0;
        return err_set(err, errlen,
                       "%s is not a loopback address (other networks need the gateway's "
                       "--allow-register or allow_register)",
                       text);
    }
    for (size_t i = 0; i < reg->network_count; i++)
        if (network_contains(&reg->networks[i], family, a)) return 0;
    return err_set(err, errlen,
                   "%s is outside the networks --allow-register (allow_register) names", text);
}

int registry_id_check(const char *id, char *err, size_t errlen)
{
    size_t len = strlen(id);
    if (!len || len >= REGISTRY_ID_MAX)
        return err_set(err, errlen, "node id must be 1 to %d characters", REGISTRY_ID_MAX - 1);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)id[i] < 0x21 || id[i] == 0x7f)
            return err_set(err, errlen,
                           "node id: spaces and control characters are not allowed (byte %zu "
                           "is 0x%02x)",
                           i + 1, (unsigned char)id[i]);
    return 0;
}

int registry_add(struct registry *reg, const char *id, const char *host, int port, int weight,
                 enum registry_source source, const char *metadata, char *err, size_t errlen)
{
    struct sockaddr_storage literal;
    if (strlen(host) >= sizeof reg->nodes[0].host)
        return err_set(err, errlen, "host '%.64s...' is longer than %zu characters", host,
                       sizeof reg->nodes[0].host - 1);
    if (registry_address_literal(host, port, &literal) == 0) {
        struct addrinfo one = {.ai_family = literal.ss_family,
                               .ai_socktype = SOCK_STREAM,
                               .ai_addr = (struct sockaddr *)&literal,
                               .ai_addrlen = literal.ss_family == AF_INET6
                                                 ? sizeof(struct sockaddr_in6)
                                                 : sizeof(struct sockaddr_in)};
        return registry_add_resolved(reg, id, host, &one, port, weight, source, metadata, err,
                                     errlen);
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    char service[16];
    snprintf(service, sizeof service, "%d", port > 0 && port <= 65535 ? port : 1);
    if (getaddrinfo(host, service, &hints, &res) != 0 || !res)
        return err_set(err, errlen, "cannot resolve host '%s'", host);
    int rc = registry_add_resolved(reg, id, host, res, port, weight, source, metadata, err, errlen);
    freeaddrinfo(res);
    return rc;
}

int registry_add_resolved(struct registry *reg, const char *id, const char *host,
                          const struct addrinfo *addrs, int port, int weight,
                          enum registry_source source, const char *metadata, char *err,
                          size_t errlen)
{
    struct sockaddr_storage addr;
    if (registry_id_check(id, err, errlen) < 0) return -1;
    if (port < 1 || port > 65535) return err_set(err, errlen, "port %d is not 1..65535", port);
    if (weight < 0 || weight > REGISTRY_WEIGHT_MAX)
        return err_set(err, errlen, "weight %d is not 0..%d", weight, REGISTRY_WEIGHT_MAX);
    if (strlen(host) >= sizeof reg->nodes[0].host)
        return err_set(err, errlen, "host '%.64s...' is longer than %zu characters", host,
                       sizeof reg->nodes[0].host - 1);
    /* the first address in the resolver's order that the node may use; a registered node
     * only where address_allowed says so, and the first refusal says why none would do */
    const struct addrinfo *pick = NULL;
    char why[160] = "";
    for (const struct addrinfo *a = addrs; a && !pick; a = a->ai_next) {
        if (a->ai_addrlen > sizeof addr ||
            (a->ai_family != AF_INET && a->ai_family != AF_INET6))
            continue;
        memset(&addr, 0, sizeof addr);
        memcpy(&addr, a->ai_addr, a->ai_addrlen);
        if (source != REGISTRY_REGISTERED) /* an operator's node may be anywhere */
            pick = a;
        else if (address_allowed(reg, &addr, why[0] ? NULL : why, sizeof why) == 0)
            pick = a;
    }
    if (!pick) {
        if (why[0]) return err_set(err, errlen, "host '%s' refused: %s", host, why);
        return err_set(err, errlen, "cannot resolve host '%s': no IP address", host);
    }
    if (addr.ss_family == AF_INET)
        ((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)port);
    char *meta = metadata ? strdup(metadata) : NULL;
    pthread_mutex_lock(&reg->lock);
    struct registry_node *n = find(reg, id);
    bool fresh = !n || n->removed;
    if (!n && reg->count < REGISTRY_MAX_NODES) {
        n = &reg->nodes[reg->count++];
        id_link(reg, n, id);
    } else if (!n) { /* full: a removed node's slot goes to the new one */
        for (size_t i = 0; i < reg->count && !n; i++)
            if (reg->nodes[i].removed) n = &reg->nodes[i];
        if (!n) {
            pthread_mutex_unlock(&reg->lock);
            free(meta);
            return err_set(err, errlen, "the gateway holds %d nodes at most", REGISTRY_MAX_NODES);
        }
        uint32_t epoch = n->epoch + 1;
        id_unlink(reg, n);
        free(n->metadata);
        memset(n, 0, sizeof *n);
        n->epoch = epoch;
        n->removed = true;
        id_link(reg, n, id);
    }
    bool moved = strcmp(n->host, host) != 0 || n->port != port;
    if (fresh || moved) {
        snprintf(n->host, sizeof n->host, "%s", host);
        n->port = port;
        n->addr = addr;
        n->up = source == REGISTRY_STATIC; /* a registered node is down until a check passes */
        n->ejected = false;
        n->admin = REGISTRY_ACTIVE;
        n->check_ok = n->check_fail = 0;
        n->check_error[0] = '\0';
    }
    n->removed = false;
    /* a node the cluster file names stays static, with the file's weight, when it registers
     * or is added; one added (herd scale) stays added when it registers itself */
    bool keep_static = !fresh && ((n->source == REGISTRY_STATIC && source != REGISTRY_STATIC) ||
                                  (n->source == REGISTRY_ADDED && source == REGISTRY_REGISTERED));
    if (!keep_static) {
        n->weight = weight;
        n->effective_weight = weight * 10;
        n->source = source;
    }
    free(n->metadata);
    n->metadata = meta;
    n->last_seen_wall_ms = wall_ms();
    n->expires_ms = mtime_now_ms() + reg->ttl_ms;
    if (fresh || moved)
        registry_event_locked(reg, n->id, source == REGISTRY_REGISTERED ? "registered" : "added",
                              "%s:%d weight %d", host, port, n->weight);
    int index = (int)(n - reg->nodes);
    if (fresh || moved || !keep_static) changed(reg); /* a static node's registration changes nothing */
    pthread_mutex_unlock(&reg->lock);
    return index;
}

void registry_set_group(struct registry *reg, int index, const char *group)
{
    pthread_mutex_lock(&reg->lock);
    struct registry_node *n = &reg->nodes[index];
    if ((size_t)index < reg->count && strcmp(n->group, group) != 0) {
        snprintf(n->group, sizeof n->group, "%s", group);
        changed(reg);
    }
    pthread_mutex_unlock(&reg->lock);
}

int registry_heartbeat(struct registry *reg, const char *id)
{
    pthread_mutex_lock(&reg->lock);
    struct registry_node *n = find(reg, id);
    int rc = -1;
    if (n && !n->removed) {
        n->expires_ms = mtime_now_ms() + reg->ttl_ms;
        n->last_seen_wall_ms = wall_ms();
        rc = 0;
    }
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

static void remove_locked(struct registry *reg, struct registry_node *n, const char *kind)
{
    n->removed = true;
    registry_event_locked(reg, n->id, kind, "%s:%d", n->host, n->port);
    changed(reg);
}

int registry_remove(struct registry *reg, const char *id, const char *kind)
{
    pthread_mutex_lock(&reg->lock);
    struct registry_node *n = find(reg, id);
    int rc = -1;
    if (n && !n->removed && n->source == REGISTRY_STATIC) {
        /* the cluster file names it: it stays known, down until its checks pass again */
        n->up = false;
        n->check_ok = n->check_fail = 0;
        snprintf(n->check_error, sizeof n->check_error, "%s, until its checks pass", kind);
        registry_event_locked(reg, n->id, kind, "%s:%d (static: kept, marked down)", n->host,
                              n->port);
        changed(reg);
        rc = 0;
    } else if (n && !n->removed) {
        remove_locked(reg, n, kind);
        rc = 0;
    }
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

int registry_set(struct registry *reg, const char *id, int weight, const enum registry_admin *admin)
{
    pthread_mutex_lock(&reg->lock);
    struct registry_node *n = find(reg, id);
    if (!n || n->removed) {
        pthread_mutex_unlock(&reg->lock);
        return -1;
    }
    if (weight >= 0 && weight != n->weight) {
        registry_event_locked(reg, n->id, "weight", "%d -> %d", n->weight, weight);
        n->weight = weight;
        n->effective_weight = weight * 10;
        n->slowstart_from_ms = 0;
    }
    if (admin && *admin != n->admin) {
        registry_event_locked(reg, n->id, registry_admin_name(*admin), "was %s",
                              registry_admin_name(n->admin));
        if (n->admin == REGISTRY_MAINT) { /* back from maintenance: checks decide afresh */
            n->check_ok = n->check_fail = 0;
        }
        n->admin = *admin;
    }
    changed(reg);
    pthread_mutex_unlock(&reg->lock);
    return 0;
}

bool registry_eject(struct registry *reg, int index, uint32_t epoch, const char *why)
{
    bool ejected = false;
    pthread_mutex_lock(&reg->lock);
    struct registry_node *n = &reg->nodes[index];
    if ((size_t)index < reg->count && n->epoch == epoch && registry_node_available(n)) {
        size_t others = 0; /* one other is enough: not a count of 10,000 */
        for (size_t i = 0; i < reg->count && !others; i++)
            if ((int)i != index && registry_node_available(&reg->nodes[i])) others++;
        if (others > 0) { /* never take out the last node: a degraded answer beats none */
            n->ejected = true;
            n->check_ok = 0;
            snprintf(n->eject_reason, sizeof n->eject_reason, "%s", why);
            registry_event_locked(reg, n->id, "ejected", "%s", why);
            changed(reg);
            ejected = true;
        }
    }
    pthread_mutex_unlock(&reg->lock);
    return ejected;
}

void registry_check_result(struct registry *reg, int index, uint32_t epoch, bool ok, double ms,
                           const char *why)
{
    pthread_mutex_lock(&reg->lock);
    struct registry_node *n = &reg->nodes[index];
    if ((size_t)index >= reg->count || n->epoch != epoch) { /* the slot went to another node */
        pthread_mutex_unlock(&reg->lock);
        return;
    }
    n->check_ms = ms;
    if (ok) {
        n->check_error[0] = '\0';
        n->check_fail = 0;
        n->check_ok++;
        n->last_seen_wall_ms = wall_ms();
        if ((!n->up || n->ejected) && n->check_ok >= reg->rise) {
            registry_event_locked(reg, n->id, n->up ? "readmitted" : "up",
                                  "%d checks passed", n->check_ok);
            n->up = true;
            n->ejected = false;
            if (reg->slowstart_ms && n->weight > 0) {
                n->slowstart_from_ms = mtime_now_ms();
                n->effective_weight = 1;
            }
            changed(reg);
        }
    } else {
        snprintf(n->check_error, sizeof n->check_error, "%s", why);
        n->check_ok = 0;
        n->check_fail++;
        if (n->up && n->check_fail >= reg->fall) {
            n->up = false;
            registry_event_locked(reg, n->id, "down", "%d checks failed: %s", n->check_fail, why);
            changed(reg);
        }
    }
    pthread_mutex_unlock(&reg->lock);
}

void registry_tick(struct registry *reg, uint64_t now_ms)
{
    pthread_mutex_lock(&reg->lock);
    bool moved = false;
    for (size_t i = 0; i < reg->count; i++) {
        struct registry_node *n = &reg->nodes[i];
        if (n->removed) continue;
        if (n->source == REGISTRY_REGISTERED && now_ms > n->expires_ms) {
            remove_locked(reg, n, "expired");
            continue;
        }
        if (n->slowstart_from_ms) {
            uint64_t elapsed = now_ms - n->slowstart_from_ms;
            int full = n->weight * 10, w = full;
            if (elapsed < reg->slowstart_ms)
                w = (int)((uint64_t)full * elapsed / reg->slowstart_ms);
            if (w < 1) w = 1;
            if (w >= full) {
                w = full;
                n->slowstart_from_ms = 0;
            }
            if (w != n->effective_weight) {
                n->effective_weight = w;
                moved = true;
            }
        }
    }
    if (moved) changed(reg);
    pthread_mutex_unlock(&reg->lock);
}

uint64_t registry_config_put(struct registry *reg, const char *json_text)
{
    char *copy = strdup(json_text);
    pthread_mutex_lock(&reg->lock);
    uint64_t version = reg->config_version;
    if (copy) {
        free(reg->config);
        reg->config = copy;
        version = ++reg->config_version;
        registry_event_locked(reg, "-", "config", "version %llu", (unsigned long long)version);
    }
    pthread_mutex_unlock(&reg->lock);
    return version;
}
