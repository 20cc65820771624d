/* resolve.h -- host name lookups that never block a loop: getaddrinfo on libuv's thread pool,
 * bounded in time, and dropped at once by a caller that no longer wants the answer (the
 * lookup itself then ends on the pool and is freed unseen). */
#ifndef HERD_HTTP_RESOLVE_H
#define HERD_HTTP_RESOLVE_H

#include <stdint.h>

#include <netdb.h>
#include <uv.h>

struct resolve;

/* The lookup ended: status 0 with the host's addresses in the resolver's order (ports set;
 * valid during the call only), or a negative libuv error: UV_ETIMEDOUT when the time ran out
 * first, else the resolver's (UV_EAI_NONAME, UV_EAI_AGAIN, ...; uv_strerror says it). */
typedef void (*resolve_cb)(int status, const struct addrinfo *addrs, void *data);

/* Starts looking up host (IPv4 and IPv6, for TCP to port) on loop's thread pool; cb(status,
 * addrs, data) runs once on loop's thread, at most timeout_ms later, unless resolve_cancel
 * came first. Returns the lookup (it frees itself), or NULL with a negative libuv error in
 * *error (cb is then never called). */
struct resolve *resolve_start(uv_loop_t *loop, const char *host, int port, uint32_t timeout_ms,
                              resolve_cb cb, void *data, int *error);

/* The answer is no longer wanted: cb will not be called. Call at most once, and only before
 * cb ran; r is not to be used after. */
void resolve_cancel(struct resolve *r);

#endif
