/* client.h -- one HTTP/1.1 client connection on a libuv loop: connects on demand, keeps the
 * connection alive between requests, parses answers (chunked included) with llhttp, and times
 * each phase (connect + TLS handshake, wait for headers, body). Plain TCP or TLS (OpenSSL).
 *
 * One request at a time. The caller formats the request bytes (so a load generator formats
 * them once); the callback gets the status, the body when asked for, and one captured header. */
#ifndef HERD_HTTP_CLIENT_H
#define HERD_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "http/url.h"

enum http_client_error {
    HTTP_CLIENT_OK = 0,
    HTTP_CLIENT_ECONNECT,  /* refused, unreachable, or the connect phase timed out */
    HTTP_CLIENT_ETIMEOUT,  /* the header or body phase timed out */
    HTTP_CLIENT_ERESET,    /* reset, or closed before the answer was complete */
    HTTP_CLIENT_EPROTOCOL, /* the answer was not valid HTTP */
    HTTP_CLIENT_EWRITE,    /* the request could not be written */
    HTTP_CLIENT_ETLS,      /* TLS handshake or certificate failure */
};

struct http_client_opts {
    uint32_t connect_timeout_ms; /* connect and TLS handshake */
    uint32_t header_timeout_ms;  /* request sent -> response headers complete */
    uint32_t body_timeout_ms;    /* headers complete -> last body byte */
    bool keep_body;              /* collect the body for the callback */
    size_t max_body_bytes;       /* with keep_body: larger bodies are cut (body_truncated) */
    const char *capture_header;  /* copy this header's value into the response, e.g. X-Herd-Node */
    bool tls_verify;             /* verify the server certificate and name (https) */
    bool tls_reuse;              /* resume the last connection's TLS session (tickets or session
                                  * IDs, TLS 1.2 and 1.3) when reconnecting, as wrk does; off:
                                  * a full handshake every time ("new visitors") */
};

/* Fills defaults: 5 s connect, 30 s header and body, no body kept, verify on, TLS sessions
 * resumed. */
void http_client_opts_default(struct http_client_opts *o);

struct http_client_response {
    int status;
    bool keep_alive;
    const char *body; /* with keep_body: NUL-terminated; else NULL */
    size_t body_len;  /* bytes of body received (even when not kept) */
    bool body_truncated;
    char captured[128]; /* capture_header's value, "" when absent */
    size_t bytes_in;    /* bytes read off the wire for this answer */
    size_t bytes_out;   /* request bytes written: handed to the kernel or libuv's write queue
                         * (before encryption, with TLS) */
    int64_t content_length; /* announced by the server, or -1 */
    bool tls_handshake;        /* this request's connection made a TLS handshake first */
    bool tls_resumed;          /* ... which resumed an earlier session (no certificate sent) */
    uint32_t tls_handshake_us; /* ... taking this long, from the TCP connection to its end */
};

#define HTTP_CLIENT_MAX_HEADERS 64

struct http_client;

struct http_client_header {
    const char *name;
    const char *value;
};

/* Streaming an answer through (a proxy): on_head once the headers are in (all of them, valid
 * during the call), on_body for each piece of the decoded body; then the send callback ends
 * the request. Either may free or pause the client. */
struct http_client_stream {
    void (*on_head)(struct http_client *c, const struct http_client_response *res,
                    const struct http_client_header *headers, size_t count, void *data);
    void (*on_body)(struct http_client *c, const char *at, size_t len, void *data);
    /* Optional: the request bytes queued so far have all been written (see
     * http_client_write). */
    void (*on_written)(struct http_client *c, void *data);
};

struct http_client;

/* error is an enum http_client_error; res is valid only during the call. */
typedef void (*http_client_cb)(struct http_client *c, int error,
                               const struct http_client_response *res, void *data);

/* Creates an unconnected client for addr (copied). url gives TLS and the server name for SNI
 * and verification; it may be NULL for plain HTTP. Returns NULL when out of memory or TLS
 * setup failed (message in err). */
struct http_client *http_client_new(uv_loop_t *loop, const struct sockaddr *addr,
                                    const struct url *url, const struct http_client_opts *opts,
                                    char *err, size_t errlen);

/* Sends len bytes of a complete request and calls cb once with the outcome. Connects first
 * when not connected. Returns 0, or -1 when a request is already in progress. */
int http_client_send(struct http_client *c, const char *request, size_t len, http_client_cb cb,
                     void *data);

/* As http_client_send, with the answer streamed through stream's callbacks (stream is not
 * copied and must outlive the request). More than HTTP_CLIENT_MAX_HEADERS response headers
 * fail it with HTTP_CLIENT_EPROTOCOL. */
int http_client_send_stream(struct http_client *c, const char *request, size_t len,
                            const struct http_client_stream *stream, http_client_cb cb, void *data);

/* Adds bytes to the request in progress (a body that arrives in pieces). Returns the bytes
 * not yet handed to the kernel, or -1 when no request is in progress or the write failed
 * (the request then ends with HTTP_CLIENT_EWRITE). */
long http_client_write(struct http_client *c, const char *data, size_t len);

/* Stops (true) or resumes reading the answer: backpressure while the body is passed on. */
void http_client_pause(struct http_client *c, bool paused);

/* True while connected (a next request reuses the connection). */
bool http_client_connected(const struct http_client *c);

/* Bytes of the request in progress written so far (see http_client_response.bytes_out). */
size_t http_client_bytes_out(const struct http_client *c);

/* Number of TCP connections this client opened (the first one and every reconnect). */
uint64_t http_client_connects(const struct http_client *c);

/* Closes the connection (an in-progress request is not called back) and frees the client
 * once libuv is done with it; closed(data) is called then, if given. */
void http_client_free(struct http_client *c, void (*closed)(void *data), void *data);

/* Why the last TLS handshake of c failed ("certificate verify failed (self-signed
 * certificate)", "handshake failed (...)"), "" when none did. Owned by c. */
const char *http_client_tls_error(const struct http_client *c);

/* Why the last connect failed: libuv's error code (UV_ECONNREFUSED, ...; uv_strerror names
 * it), or 0 when it timed out or did not fail. */
int http_client_connect_error(const struct http_client *c);

/* Short name of an error ("connect", "timeout", "reset", "protocol", "write", "tls"). */
const char *http_client_error_name(int error);

#endif
