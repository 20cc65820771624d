/* fetch.h -- one HTTP request, synchronously, on a loop of its own: for the control paths
 * that read a gateway's admin API (events, nodes, status) at the URL a plan names, host and
 * scheme included (https through the client's TLS). Not for load. */
#ifndef HERD_HTTP_FETCH_H
#define HERD_HTTP_FETCH_H

#include <stdbool.h>
#include <stddef.h>

/* Sends METHOD base_url + path (base_url: "http://host:port", any path of it is replaced by
 * path) with body (NULL: none) and waits at most timeout_ms. Returns 0 with the answer's
 * *status and its body in *response (malloc'd, NUL-terminated; the caller frees), or -1 with a
 * message when no answer came. TLS certificates are not verified (a test cluster's). */
int http_fetch(const char *base_url, const char *method, const char *path, const char *body,
               int timeout_ms, int *status, char **response, char *err, size_t errlen);

/* As http_fetch, with more request header lines: headers is "Name: value\r\n" lines (NULL:
 * none), e.g. an Authorization header for an API that wants a token. */
int http_fetch_with(const char *base_url, const char *method, const char *path,
                    const char *headers, const char *body, int timeout_ms, int *status,
                    char **response, char *err, size_t errlen);

/* As http_fetch_with, given up as soon as cancel_fd (-1: none; an eventfd or a pipe's read end,
 * never read here) becomes readable: then -1 with "cancelled" (a long poll a stop ends). */
int http_fetch_until(const char *base_url, const char *method, const char *path,
                     const char *headers, const char *body, int timeout_ms, int cancel_fd,
                     int *status, char **response, char *err, size_t errlen);

/* One answer in full: what parity compares across environments. */
struct http_fetch_answer {
    int status;
    char *body;        /* malloc'd, NUL-terminated (the first max_body bytes); the caller frees */
    size_t body_len;   /* bytes kept in body */
    bool truncated;    /* the body was longer than max_body */
    char *headers;     /* malloc'd "name: value\n" lines, names in lower case, in their order */
    double latency_ms; /* from the request's start (connect included) to the answer's end */
};

/* As http_fetch_with, keeping at most max_body bytes of the body and every response header.
 * headers: request header lines as for http_fetch_with (a Content-Type among them replaces
 * the default application/json of a body). Returns 0 with *a filled (release with
 * http_fetch_answer_free), or -1 with a message when no answer came. */
int http_fetch_full(const char *base_url, const char *method, const char *path,
                    const char *headers, const char *body, int timeout_ms, size_t max_body,
                    struct http_fetch_answer *a, char *err, size_t errlen);

/* Frees what a holds (a itself is the caller's); a zeroed answer is fine. */
void http_fetch_answer_free(struct http_fetch_answer *a);

#endif
