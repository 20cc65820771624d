/* server.h -- HTTP/1.1 server on one libuv loop: routes with {params}, keep-alive, pipelining,
 * chunked bodies, limits (431/413/414), a timeout per phase, output backpressure, graceful
 * shutdown.
 *
 * One request per connection is in progress at a time; pipelined requests wait in the read
 * buffer and are answered in order. A handler answers at once or later (asynchronously) with
 * http_respond; the request stays valid until then, or, when the handler set an abort
 * callback (http_request_on_abort), until that callback returns: the server calls it when the
 * connection fails first, in whatever phase. */
#ifndef HERD_HTTP_SERVER_H
#define HERD_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_PARAMS  4

struct http_server;
struct http_conn;

struct http_header {
    const char *name;
    const char *value;
};

struct http_request {
    struct http_conn *conn;
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* raw path without the query */
    const char *query;  /* after '?', or "" */
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t header_count;
    const char *body; /* NUL-terminated copy of the body (chunked bodies decoded) */
    size_t body_len;
    const char *params[HTTP_MAX_PARAMS]; /* route {params}, %-decoded, in pattern order */
    size_t param_count;
    uint64_t start_us; /* monotonic time the request headers were complete */
    bool head;         /* a HEAD request: the body of the answer is not sent */
};

struct http_server_limits {
    size_t max_header_bytes;    /* request line + headers; over it: 431 (414 for the URL) */
    size_t max_body_bytes;      /* over it: 413 */
    uint32_t header_timeout_ms; /* first byte to end of headers; over it: 408 and close */
    uint32_t body_timeout_ms;   /* end of headers to end of body, streamed bodies too (minus
                                 * the time the handler paused them); over it: 408 and close */
    uint32_t idle_timeout_ms;   /* keep-alive connection with no request: closed */
    uint32_t write_timeout_ms;  /* a write the client does not take within it: closed; 0 none */
    uint32_t max_connections;   /* further connections are closed at once */
    size_t max_output_bytes;    /* answers queued above it: no further request is read until
                                 * the client takes them (pipelining clients that never read) */
};

/* Fills the defaults: 8 KiB headers, 1 MiB body, 10 s header/body, 60 s idle and write,
 * 65536 conns, 1 MiB of queued output. */
void http_server_limits_default(struct http_server_limits *lim);

typedef void (*http_handler_fn)(struct http_request *req, void *data);

/* A piece of a streamed request body, and its end (all of it arrived). */
typedef void (*http_body_fn)(struct http_request *req, const char *at, size_t len, void *data);
typedef void (*http_body_end_fn)(struct http_request *req, void *data);

/* The connection failed before the request was answered (the client left or reset, a bad or
 * late request body, a write that failed or timed out). The request is ended: the handler
 * gives up what it holds for it and uses req no more once this returns; answering it is no
 * longer possible. */
typedef void (*http_abort_fn)(struct http_request *req, void *data);

/* Called after each answer is queued: its status and its duration from start_us. */
typedef void (*http_finish_fn)(const struct http_request *req, int status, uint64_t duration_us,
                               void *data);

/* Creates a server on loop. Returns NULL when out of memory. Free with http_server_free once
 * http_server_shutdown has called its done callback. */
struct http_server *http_server_new(uv_loop_t *loop, const struct http_server_limits *lim);
void http_server_free(struct http_server *srv);

/* Adds a route. method "GET" etc. or NULL for any; pattern "/kv/{key}" matches one segment
 * per {param}; a final "*" matches the rest. HEAD requests use GET routes. Returns 0 or -1. */
int http_server_route(struct http_server *srv, const char *method, const char *pattern,
                      http_handler_fn handler, void *data);

/* As http_server_route, but a request with a body reaches handler as soon as its headers
 * are in (no size limit; req->body is ""): the handler takes the body with
 * http_request_read_body. An answer given before the body ended closes the connection. */
int http_server_route_stream(struct http_server *srv, const char *method, const char *pattern,
                             http_handler_fn handler, void *data);

/* Adds a header line ("X-Herd-Node: api.1") to every answer. Returns 0 or -1. */
int http_server_add_header(struct http_server *srv, const char *name, const char *value);

void http_server_on_finish(struct http_server *srv, http_finish_fn fn, void *data);

/* Lets several servers (one per thread) listen on the same port: the kernel spreads the
 * connections (SO_REUSEPORT). Call before http_server_listen. */
void http_server_set_reuse_port(struct http_server *srv, bool on);

/* Whether host:port can be listened on by this process alone: a bind without SO_REUSEPORT,
 * which fails while any other socket, of any process, listens there (SO_REUSEPORT would let a
 * second process share the port silently). Call before listening with reuse_port. Returns 0,
 * or -1 with "port N on HOST is already in use" (or why not) in err. */
int http_port_check_free(const char *host, int port, char *err, size_t errlen);

/* Binds and listens on host:port (port 0 picks a free one). Returns 0, or a negative libuv
 * error (UV_EADDRINUSE, ...) with a message in err. */
int http_server_listen(struct http_server *srv, const char *host, int port, char *err,
                       size_t errlen);

/* Listens on a unix socket at path (which must not exist). Returns 0 or a negative libuv
 * error with a message. */
int http_server_listen_unix(struct http_server *srv, const char *path, char *err, size_t errlen);

/* The bound port (after listen). */
int http_server_port(const struct http_server *srv);

/* Stops accepting, closes idle connections, lets in-progress requests finish (their answers
 * carry Connection: close), then calls done (from a close callback) once every handle of the
 * server is closed; after that the server may be freed. */
void http_server_shutdown(struct http_server *srv, void (*done)(void *data), void *data);

/* Number of open connections. */
size_t http_server_connections(const struct http_server *srv);

/* Answering. Each takes effect once per request; the body is copied. */
int http_response_header(struct http_request *req, const char *name, const char *value);
void http_respond(struct http_request *req, int status, const char *content_type, const void *body,
                  size_t len);
/* Answers with a JSON body (jansson json_t *, reference stolen). */
void http_respond_json(struct http_request *req, int status, void *json);
/* Answers {"error": message} with status. */
void http_respond_error(struct http_request *req, int status, const char *message);

/* The first header named name (case-insensitive), or NULL. Where repeats matter (Connection
 * lists, for one), walk req->headers instead; a second Host is refused (400) by the server. */
const char *http_request_header(const struct http_request *req, const char *name);

/* Copies query parameter name (%-decoded) into out. Returns its length, or -1 when absent
 * or longer than size - 1. */
int http_request_query(const struct http_request *req, const char *name, char *out, size_t size);

/* True when req carries "Authorization: Bearer TOKEN" (the scheme in any case, blanks after
 * it) with token as TOKEN. The comparison takes time that depends on token's length only,
 * not on where the first difference is. token is non-empty. */
bool http_request_bearer_is(const struct http_request *req, const char *token);

/* True when the client went away while an asynchronous answer was pending. */
bool http_request_aborted(const struct http_request *req);

/* fn(req, data) runs once if the connection fails before req is answered (see http_abort_fn),
 * never from inside a call the handler makes into the server. Every handler that answers
 * later should set one: without it, a failed connection is kept (not read, not written)
 * until the handler answers. A streaming route's handler must set one. */
void http_request_on_abort(struct http_request *req, http_abort_fn fn, void *data);

/* Streamed answers (a proxy): the status line and header lines go out first, the body as it
 * comes. headers are complete "Name: value\r\n" lines without framing or Connection headers;
 * content_length >= 0 announces that many body bytes, -1 streams the body chunked (HTTP/1.0
 * clients: until the connection closes). Returns 0, or -1 when the request was answered. */
int http_respond_start(struct http_request *req, int status, const char *headers, size_t len,
                       int64_t content_length);
/* Queues body bytes of a streamed answer. Returns the bytes not yet handed to the kernel
 * (stop feeding above a limit and wait for the drain callback), or -1 when the client is
 * gone (finish with http_respond_end or http_respond_abort anyway). */
long http_respond_write(struct http_request *req, const void *data, size_t len);
/* Ends a streamed answer; the connection goes on with its next request. */
void http_respond_end(struct http_request *req);
/* Ends a streamed answer that cannot be completed: the connection is closed at once. */
void http_respond_abort(struct http_request *req);
/* fn(data) runs each time a streamed answer's queued output has been written out. */
void http_request_on_drain(struct http_request *req, void (*fn)(void *data), void *data);

/* True while a streaming route's request body is still to come. */
bool http_request_streaming(const struct http_request *req);

/* Where the rest of a streamed body goes: on_data for each piece as it is parsed, on_end
 * once when all of it arrived. Neither is called after the request was answered or aborted
 * (a body that cannot complete ends in the abort callback). */
void http_request_read_body(struct http_request *req, http_body_fn on_data,
                            http_body_end_fn on_end, void *data);

/* Stops (true) or resumes reading a streamed body from the client (backpressure; what is
 * already buffered, at most 16 KiB, is still delivered). The body timeout does not run
 * while the body is paused. */
void http_request_pause_body(struct http_request *req, bool paused);

/* Writes the client's IP address ("127.0.0.1", "::1") into out. Returns 0 or -1. */
int http_request_peer(const struct http_request *req, char *out, size_t size);

/* Writes the address the client connected to as HOST:PORT ("127.0.0.1:9091", "[::1]:9091")
 * into out: a Host header for a request that came without one. Returns 0, or -1 (a unix
 * socket, or it does not fit). */
int http_request_local(const struct http_request *req, char *out, size_t size);

/* Standard reason phrase for status ("OK", "Not Found"). */
const char *http_status_reason(int status);

/* %-decodes len bytes of src into dst (size bytes, NUL-terminated). Returns the decoded
 * length, or -1 on a bad escape or when it does not fit. */
int http_percent_decode(const char *src, size_t len, char *dst, size_t size);

#endif
