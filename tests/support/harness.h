/* harness.h -- test helpers: free ports, child processes that never outlive the test, raw
 * HTTP exchanges over blocking sockets with timeouts. */
#ifndef HERD_TEST_HARNESS_H
#define HERD_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Monotonic milliseconds, for timing what a test waits for. */
long harness_now_ms(void);

/* How often harness_wait_until looks again. */
#define HARNESS_POLL_MS 20

/* Prints each thread of pid to stderr: its name, state (R, S, D...) and the kernel function it
 * waits in (/proc/PID/task/TID/wchan), for a test whose child did not end in time. */
void harness_describe_threads(pid_t pid);

/* Waits for something to happen, never a fixed sleep: evaluates cond (an expression) every
 * HARNESS_POLL_MS until it is true or timeout_ms have passed. The value is whether it became
 * true. */
#define harness_wait_until(cond, timeout_ms)                                                      \
    ({                                                                                            \
        long harness_end_ = harness_now_ms() + (timeout_ms);                                      \
        bool harness_ok_;                                                                         \
        while (!(harness_ok_ = (cond)) && harness_now_ms() < harness_end_)                        \
            harness_pause_ms(HARNESS_POLL_MS);                                                    \
        harness_ok_;                                                                              \
    })

/* Sleeps ms milliseconds (through signals). Only harness_wait_until's step: a test that waits
 * for something polls for it instead. */
void harness_pause_ms(int ms);

/* A loopback TCP port that was free a moment ago. */
int harness_free_port(void);

/* The first of n consecutive loopback ports that were all free a moment ago, or -1. */
int harness_free_ports(int n);

/* A socket listening on a free loopback port (written to *port) whose accept() gives up
 * after 100 ms (so that a thread serving it can look at a stop flag). Returns it or -1. */
int harness_listen(int *port);

/* True when something accepts connections on 127.0.0.1:port. */
bool harness_port_open(int port);

/* Starts argv[0] with extra environment entries ("K=V", NULL-terminated, may be NULL); its
 * stderr goes to stderr_path when given. The child gets SIGKILL if the test process dies.
 * Returns the pid, recorded for harness_kill_all. */
pid_t harness_spawn(char *const argv[], char *const env[], const char *stderr_path);

/* As harness_spawn, with stdout sent to stdout_path too (either may be NULL). */
pid_t harness_spawn_io(char *const argv[], char *const env[], const char *stdout_path,
                       const char *stderr_path);

/* Runs `herd ARGS...` (NULL-terminated) to its end (at most timeout_ms) with stdout and stderr
 * captured into malloc'd strings the caller frees (either pointer may be NULL). Returns the
 * exit code, or -1 when it did not exit in time (it is killed). */
int harness_herd(char *const args[], int timeout_ms, char **out, char **err);

/* As harness_herd, with extra environment entries ("K=V", NULL-terminated, may be NULL). */
int harness_herd_env(char *const args[], char *const env[], int timeout_ms, char **out,
                     char **err);

/* Waits up to timeout_ms for pid to exit. Returns its wait status, or -1 on timeout. */
int harness_wait(pid_t pid, int timeout_ms);

/* SIGKILLs and reaps every child still running. Safe to call more than once, and from a
 * signal handler. */
void harness_kill_all(void);

/* Makes everything this process starts, and what that starts in turn, die with it, however it
 * ends (a CTest timeout is a SIGKILL, and a `herd up -d` supervisor is in a session of its
 * own, out of reach of a parent-death signal): tags the environment its children inherit with
 * a token of this run (HERD_TEST_RUN, appended to an outer run's), and starts a watcher
 * outside this process's tree that, once this process is gone, SIGKILLs every process that
 * carries the token. Call once, first thing in main, before any thread. Returns 0, or -1
 * when the watcher could not start (a message on stderr). */
int harness_guard_descendants(void);

/* How many processes this run started (directly or not) still run: those that carry its
 * token (see harness_guard_descendants), zombies not counted. 0 before the guard is set. */
int harness_descendants(void);

/* SIGKILLs every process that carries this run's token (see harness_guard_descendants), by
 * pid, until none is left or 5 s passed; returns how many it signalled. For the end of a
 * run, or of a test that must leave nothing behind. Not for a signal handler. */
int harness_end_descendants(void);

/* Polls GET path on 127.0.0.1:port until it answers 200 or timeout_ms passes. */
bool harness_wait_http(int port, const char *path, int timeout_ms);

/* A `herd node`'s own count of the answers it gave so far (total_requests of GET
 * /api/v1/cluster/status on 127.0.0.1:port; this status request is not counted, the earlier
 * ones are), or -1. */
long long harness_node_total(int port);

/* Prometheus text: the sum of the samples named by prefix, and into *count (may be NULL) how
 * many there were: "name" or "name{a=\"x\"}" is one sample, "name{" or "name{a=\"x\"," every
 * sample of name (with that first label). NAN when none matches. */
double harness_prom_sum(const char *text, const char *prefix, int *count);

/* Connects to 127.0.0.1:port; returns the socket or -1. Reads and writes time out after
 * timeout_ms. */
int harness_connect(int port, int timeout_ms);

/* As harness_connect, to host (a numeric IPv4 or IPv6 address: "::1"). */
int harness_connect_host(const char *host, int port, int timeout_ms);

/* Writes all of data. Returns 0 or -1. */
int harness_send(int fd, const char *data, size_t len);

/* Reads until `responses` complete HTTP responses (Content-Length or no body) are in out, the
 * peer closes, or the timeout hits. Returns the bytes read (NUL-terminated in out). */
size_t harness_read_responses(int fd, int responses, char *out, size_t size);

/* One request on a fresh connection: sends request, reads one response into out. Returns
 * the status code, or -1 when nothing valid came back. */
int harness_exchange(int port, const char *request, char *out, size_t size);
/* As harness_exchange, to host (an IPv4 or IPv6 address, e.g. a namespace bridge's). */
int harness_exchange_at(const char *host, int port, const char *request, char *out, size_t size);

/* GET path; the body (after the blank line) points into out. Returns the status or -1. */
int harness_get(int port, const char *path, char *out, size_t size, const char **body);

/* As harness_get, at host (a numeric IPv4 or IPv6 address). */
int harness_get_at(const char *host, int port, const char *path, char *out, size_t size,
                   const char **body);

/* Status code of the first response in text, or -1. */
int harness_status(const char *text);

/* Counts complete responses at the start of text (see harness_read_responses). */
int harness_count_responses(const char *text, size_t len);

/* Writes a temporary file with content; returns a malloc'd path the caller frees and unlinks. */
char *harness_temp_file(const char *suffix, const char *content);

/* The whole file at path (free it); "" (allocated) when it cannot be read. */
char *harness_slurp(const char *path);

/* The element of the JSON array (a json_t *) whose string member key equals value, or NULL. */
void *harness_json_find(const void *array, const char *key, const char *value);

/* The pids of the processes running now (from /proc), at most max into pids. Returns how
 * many. */
size_t harness_proc_list(pid_t *pids, size_t max);

/* Fields of /proc/PID/stat: the state letter ('R', 'S', 'T', 'Z', ...), the parent and the
 * process group (any pointer may be NULL). Returns false when there is no such process. */
bool harness_proc_stat(pid_t pid, char *state, pid_t *ppid, pid_t *pgrp);

/* The established TCP connections to 127.0.0.1:port (the server's side, from /proc/net/tcp):
 * how many there are, and into *unread (may be NULL) how many hold bytes the server has not
 * read yet. */
int harness_tcp_accepted(int port, int *unread);

/* The resident set of process pid in KiB (VmRSS in /proc/PID/status), or -1. */
long harness_rss_kb(pid_t pid);

/* Makes a self-signed certificate for CN=localhost in dir (openssl req): writes the paths of
 * dir/cert.pem and dir/key.pem into cert and key (size bytes each). Returns 0 or -1. */
int harness_self_signed_cert(const char *dir, char *cert, char *key, size_t size);

/* Path of the herd binary under test (HERD_BIN, set by CTest). */
const char *harness_herd_bin(void);

/* Path of tests/support/plain_backend (HERD_PLAIN_BACKEND, set by CTest). */
const char *harness_plain_backend_bin(void);

#endif
