/* master_web.h -- the master's dashboard (internal to the master): the page at / and its
 * embedded scripts and styles, and the event stream (Server-Sent Events) that keeps it live.
 * The master decides who may read the stream; this module only serves. */
#ifndef HERD_DIST_MASTER_WEB_H
#define HERD_DIST_MASTER_WEB_H

#include <jansson.h>
#include <uv.h>

#include "http/server.h"

/* At most this many streams at once; a further one gets 503. */
#define MASTER_WEB_STREAMS_MAX 16
/* A stream whose client has not taken this many bytes is dropped (closed). */
#define MASTER_WEB_QUEUE_MAX   (256u << 10)
/* How often the state is looked at (an event only when it changed), and the longest silence
 * on a stream before a heartbeat comment. */
#define MASTER_WEB_PUSH_MS      250
#define MASTER_WEB_HEARTBEAT_MS 15000
#define MASTER_WEB_NUDGE_MS     100

struct master_web;

/* What a state event carries: a new JSON reference (the master's workers and running tasks),
 * or NULL when out of memory (no event then). */
typedef json_t *(*master_web_state_fn)(void *data);

/* A dashboard on loop whose events come from state(data). Returns NULL when out of memory. */
struct master_web *master_web_new(uv_loop_t *loop, master_web_state_fn state, void *data);

/* Routes GET / and GET /ui/{name} (the page and its files, no token: they hold no data) on
 * srv. Returns 0, or -1 when out of memory. */
int master_web_routes(struct master_web *web, struct http_server *srv);

/* Answers req (a GET the master allowed) with the event stream: the state at once, then a
 * `state` event each time it changes, a heartbeat comment in silences. 503 when
 * MASTER_WEB_STREAMS_MAX are open. */
void master_web_stream(struct master_web *web, struct http_request *req);

/* Something changed (intervals merged): the state is looked at now rather than at the next
 * period, but not sooner than MASTER_WEB_NUDGE_MS after the last look. No-op without
 * streams. */
void master_web_nudge(struct master_web *web);

/* Ends every stream cleanly (the last chunk sent) and closes the timer; closed(data) is called
 * from the loop once it is closed. Later streams get 503. */
void master_web_stop(struct master_web *web, void (*closed)(void *data), void *data);

/* Frees web (after master_web_stop's closed callback, or when its loop never ran). */
void master_web_free(struct master_web *web);

#endif
