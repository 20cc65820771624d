/* proxy.h -- the fault proxy: TCP relays placed in front of nodes (each listens on the port
 * clients and the gateway know, and passes bytes to the port the node really listens on),
 * which break the path on demand: answers held back (latency), every connection reset
 * (reset), nothing passing at all (blackhole). No root needed: the relays run in process, on
 * one libuv loop thread of their own. */
#ifndef HERD_FAULT_PROXY_H
#define HERD_FAULT_PROXY_H

#include <stddef.h>
#include <stdint.h>

enum fault_proxy_mode {
    FAULT_PROXY_PASS = 0,  /* bytes pass both ways */
    FAULT_PROXY_LATENCY,   /* the node's bytes reach the client latency_ms late */
    FAULT_PROXY_RESET,     /* open connections are reset, new ones reset at once */
    FAULT_PROXY_BLACKHOLE, /* connections are accepted, nothing passes either way */
};

struct fault_proxies;

/* An empty set of relays (not yet running). NULL when out of memory. */
struct fault_proxies *fault_proxies_new(void);

/* Adds a relay named name listening on 127.0.0.1:listen_port, passing to
 * 127.0.0.1:upstream_port. Call before fault_proxies_start. Returns 0, or -1 with a message
 * (the port is taken, ...). */
int fault_proxies_add(struct fault_proxies *s, const char *name, int listen_port, int upstream_port,
                      char *err, size_t errlen);

/* Starts the loop thread. Returns 0 or -1 with a message. */
int fault_proxies_start(struct fault_proxies *s, char *err, size_t errlen);

/* Puts the relay named name into mode (from any thread; returns once it took effect).
 * Leaving blackhole resets the connections it held (their bytes are lost). Returns 0, or -1
 * when there is no such relay. */
int fault_proxies_set(struct fault_proxies *s, const char *name, enum fault_proxy_mode mode,
                      uint32_t latency_ms);

/* Parses "latency", "reset", "blackhole" (and "pass"). Returns 0 or -1. */
int fault_proxy_mode_parse(const char *text, enum fault_proxy_mode *out);

/* Stops the thread, closes every connection and frees s (NULL is fine). */
void fault_proxies_free(struct fault_proxies *s);

#endif
