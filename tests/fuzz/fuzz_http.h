/* fuzz_http.h -- what the HTTP fuzz targets share: a client on loopback that feeds an input to
 * servers running on this process's loops, the loops run in between, and a check that what
 * comes back is a sequence of well-formed HTTP/1.1 answers. */
#ifndef HERD_FUZZ_HTTP_H
#define HERD_FUZZ_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netdb.h>
#include <uv.h>

/* No timer of herd's waits longer than this under fuzzing (the HTTP targets link with
 * -Wl,--wrap=uv_timer_start): a 60 s /delay, the header, idle, write and linger timeouts all
 * fire within an input, so their paths run and nothing outlives the input. */
#define FUZZ_TIMER_MAX_MS 2

/* How long one exchange may take: sending, and reading until the server closes. */
#define FUZZ_EXCHANGE_MS 20

/* How the client sends the input and leaves. */
enum fuzz_client_end {
    FUZZ_END_HALF_CLOSE = 0, /* sends it all, shuts its write side, reads until the server
                              * closes */
    FUZZ_END_KEEP_OPEN,      /* sends it all, reads until the server closes (idle timeout) */
    FUZZ_END_ABORT,          /* sends a part, lets the servers start on it, then resets the
                              * connection mid-stream */
    FUZZ_END_ABORT_READING,  /* sends it all, resets once the first answer bytes arrive */
};

struct fuzz_client {
    enum fuzz_client_end end;
    size_t send_len; /* bytes of the input sent (FUZZ_END_ABORT: a prefix of it) */
    size_t slice;    /* bytes per write, the loops running between writes; 0: as many as fit */
};

/* The client for an input of len bytes from its mode byte: bits 0-1 the end, bits 2-3 the
 * slice (as many as fit, 1, 7 or 64 bytes), bits 4-6 the part FUZZ_END_ABORT sends (in
 * eighths of len, and at least one byte short of it). Bit 7 is the target's. */
void fuzz_client_from_byte(uint8_t mode, size_t len, struct fuzz_client *client);

/* Moves the calling thread to a network namespace of its own with only loopback up, before
 * it makes any socket (needs root; otherwise says so on stderr and changes nothing): the
 * connections of thousands of inputs, and the TIME_WAIT states they leave, stay out of the
 * machine's, and nothing else on the machine can be reached. Returns true when it did. */
bool fuzz_net_private(void);

/* The loops the servers under test run on (the pointers are kept). fuzz_http_exchange and
 * fuzz_loops_run_until run them, one iteration at a time, waiting in poll(2) in between. */
void fuzz_loops_set(uv_loop_t **loops, size_t count);

/* Runs the loops until done(arg) is true or ms passed. Returns done(arg). */
bool fuzz_loops_run_until(bool (*done)(void *arg), void *arg, uint64_t ms);

/* What an exchange saw. */
struct fuzz_exchange {
    size_t requests;    /* complete requests in what was sent (llhttp, as the server parses) */
    size_t answers;     /* final (non-1xx) answers that began */
    size_t bytes_in;    /* answer bytes read */
    bool server_closed; /* the server closed the connection (EOF or reset) within the time */
};

#define FUZZ_WATCH_MAX 4

/* Headers to look for in each answer, and what to do with what was found. */
struct fuzz_answer_watch {
    const char *headers[FUZZ_WATCH_MAX + 1]; /* names (any case), NULL-terminated */
    /* Called at the headers of each final answer: its status and, per name, whether it has
     * that header. */
    void (*on_answer)(int status, const bool *seen, void *arg);
    void *arg;
};

/* Connects to 127.0.0.1:port, sends data as client says while the loops run, and reads what
 * comes back until the server closes the connection or FUZZ_EXCHANGE_MS passed, then closes
 * with a reset (no TIME_WAIT is left behind). What came back must be HTTP/1.1 answers, at most
 * one more than the requests sent (an error answer), nothing after a "Connection: close" one;
 * an answer cut off when the server closes must be chunked (a streamed answer whose source
 * failed), any answer when cut_ok (a proxy cuts what its upstream cut). Otherwise calls
 * fuzz_fail. watch (or NULL) is told of each answer's headers. Fills *x. */
void fuzz_http_exchange(int port, const uint8_t *data, const struct fuzz_client *client,
                        bool cut_ok, const struct fuzz_answer_watch *watch,
                        struct fuzz_exchange *x);

/* Lets uv_tcp_connect reach 127.0.0.1:port (a fake upstream). Any other address goes to a
 * loopback port that refuses connections, as a dead node does: fuzzed registrations never
 * reach the machine's other servers. */
void fuzz_connect_allow(int port);

/* The functions the HTTP targets link in place of libuv's and libc's (-Wl,--wrap=NAME), and
 * the originals. getaddrinfo resolves nothing (no DNS traffic): numeric addresses never reach
 * it, names fail with EAI_NONAME. */
int __wrap_uv_timer_start(uv_timer_t *handle, uv_timer_cb cb, uint64_t timeout, uint64_t repeat);
int __real_uv_timer_start(uv_timer_t *handle, uv_timer_cb cb, uint64_t timeout, uint64_t repeat);
int __wrap_uv_tcp_connect(uv_connect_t *req, uv_tcp_t *handle, const struct sockaddr *addr,
                          uv_connect_cb cb);
int __real_uv_tcp_connect(uv_connect_t *req, uv_tcp_t *handle, const struct sockaddr *addr,
                          uv_connect_cb cb);
int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res);

#endif
