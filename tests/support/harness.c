/* harness.c -- test helpers (see harness.h). */
#define _GNU_SOURCE
#include "harness.h"

#include <jansson.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHILDREN 64

static pid_t children[MAX_CHILDREN];
static int child_count;

long harness_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void harness_pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

int harness_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static bool port_bindable(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

int harness_free_ports(int n)
{
    static unsigned seed;
    if (!seed)
        seed = (unsigned)getpid() * 2654435761u;
    for (int attempt = 0; attempt < 200; attempt++) {
        seed = seed * 1103515245u + 12345u;
        int base = 20000 + (int)(seed % 12000u); /* below the ephemeral range (32768 and up) */
        int i = 0;
        while (i < n && port_bindable(base + i))
            i++;
        if (i == n)
            return base;
    }
    return -1;
}

int harness_listen(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    struct timeval tv = {0, 100000};
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0 || listen(fd, 16) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

bool harness_port_open(int port)
{
    int fd = harness_connect(port, 1000);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

pid_t harness_spawn(char *const argv[], char *const env[], const char *stderr_path)
{
    return harness_spawn_io(argv, env, NULL, stderr_path);
}

static void redirect(int target, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        dup2(fd, target);
        close(fd);
    }
}

pid_t harness_spawn_io(char *const argv[], char *const env[], const char *stdout_path,
                       const char *stderr_path)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        for (size_t i = 0; env && env[i]; i++)
            putenv(env[i]);
        if (stdout_path)
            redirect(1, stdout_path);
        if (stderr_path)
            redirect(2, stderr_path);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        execv(argv[0], argv);
        _exit(127);
    }
    if (child_count < MAX_CHILDREN) children[child_count++] = pid;
    return pid;
}

static void forget_child(pid_t pid)
{
    for (int i = 0; i < child_count; i++)
        if (children[i] == pid) {
            children[i] = children[--child_count];
            return;
        }
}

int harness_wait(pid_t pid, int timeout_ms)
{
    long end = harness_now_ms() + timeout_ms;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            forget_child(pid);
            return status;
        }
        if (r < 0 || harness_now_ms() >= end) return -1;
        usleep(10000);
    }
}

void harness_describe_threads(pid_t pid)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "pid %d: no /proc entry\n", (int)pid);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[400], stat[512] = "", wchan[128] = "", *p;
        FILE *f;
        snprintf(path, sizeof path, "%s/%s/stat", dir, e->d_name);
        if ((f = fopen(path, "r"))) {
            if (!fgets(stat, sizeof stat, f)) stat[0] = '\0';
            fclose(f);
        }
        snprintf(path, sizeof path, "%s/%s/wchan", dir, e->d_name);
        if ((f = fopen(path, "r"))) {
            if (!fgets(wchan, sizeof wchan, f)) wchan[0] = '\0';
            fclose(f);
        }
        /* "tid (name) S ...": the name and the state */
        char *close_paren = strrchr(stat, ')');
        char state = close_paren && close_paren[1] ? close_paren[2] : '?';
        if (close_paren) close_paren[1] = '\0';
        if ((p = strchr(stat, '\n'))) *p = '\0';
        bool waits = wchan[0] && strcmp(wchan, "0") != 0; /* "0": running, no wait */
        fprintf(stderr, "pid %d thread %s: state %c, waiting in %s\n", (int)pid, stat, state,
                waits ? wchan : "-");
    }
    closedir(d);
}

void harness_kill_all(void)
{
    while (child_count > 0) {
        pid_t pid = children[child_count - 1];
        kill(pid, SIGKILL);
        if (harness_wait(pid, 5000) < 0) forget_child(pid);
    }
}

/* ---- descendants that left the tree: the run's token ---- */

#define RUN_VAR       "HERD_TEST_RUN"
#define SWEEP_MAX_MS  5000
#define ENVIRON_MAX   (256 * 1024)
#define PROC_MAX      65536 /* processes looked at in one pass */

static char run_token[64]; /* "PID.NANOSECONDS": this run's, in every descendant's environment */

/* True when the environment block env (NUL-separated, len bytes) holds HERD_TEST_RUN with
 * token among its comma-separated values. */
static bool environ_has_token(const char *env, size_t len, const char *token)
{
    size_t var_len = strlen(RUN_VAR "="), token_len = strlen(token);
    for (const char *p = env; p < env + len; p += strlen(p) + 1) {
        if (strncmp(p, RUN_VAR "=", var_len) != 0) continue;
        for (const char *v = p + var_len; *v;) {
            size_t n = strcspn(v, ",");
            if (n == token_len && strncmp(v, token, n) == 0) return true;
            v += n + (v[n] == ',');
        }
    }
    return false;
}

/* The processes (other than this one) whose environment carries token, SIGKILLed when
 * kill_them. The kernel shows a process's environment as it was at its exec: this process's
 * own token, set later, is not in it, nor in a fork of it that did not exec (the watcher); a
 * zombie shows none. Returns how many; buf holds ENVIRON_MAX bytes. */
static int token_carriers(const char *token, char *buf, bool kill_them)
{
    static pid_t pids[PROC_MAX];
    size_t count = harness_proc_list(pids, PROC_MAX);
    int killed = 0;
    pid_t self = getpid();
    for (size_t i = 0; i < count; i++) {
        pid_t pid = pids[i];
        if (pid <= 1 || pid == self) continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue; /* gone, or a zombie's */
        size_t len = 0;
        ssize_t n;
        while (len < ENVIRON_MAX - 1 && (n = read(fd, buf + len, ENVIRON_MAX - 1 - len)) > 0)
            len += (size_t)n;
        close(fd);
        buf[len] = '\0';
        if (environ_has_token(buf, len, token) && (!kill_them || kill(pid, SIGKILL) == 0))
            killed++;
    }
    return killed;
}

/* Kills the token's carriers until a look finds none (they may fork while it looks). */
static int sweep_token(const char *token)
{
    char *buf = malloc(ENVIRON_MAX);
    if (!buf) return 0;
    int total = 0, killed;
    long end = harness_now_ms() + SWEEP_MAX_MS;
    while ((killed = token_carriers(token, buf, true)) > 0 && harness_now_ms() < end) {
        total += killed;
        harness_pause_ms(10);
    }
    free(buf);
    return total;
}

int harness_descendants(void)
{
    char *buf = malloc(ENVIRON_MAX);
    int n = buf && run_token[0] ? token_carriers(run_token, buf, false) : 0;
    free(buf);
    return n;
}

int harness_end_descendants(void)
{
    return run_token[0] ? sweep_token(run_token) : 0;
}

int harness_guard_descendants(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(run_token, sizeof run_token, "%d.%lld", (int)getpid(),
             (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    const char *outer = getenv(RUN_VAR);
    char value[1024];
    snprintf(value, sizeof value, "%s%s%s", outer && *outer ? outer : "", outer && *outer ? "," : "",
             run_token);
    if (setenv(RUN_VAR, value, 1) < 0) {
        perror("harness: setenv " RUN_VAR);
        return -1;
    }
    /* the watcher learns of this process's end when the pipe's last writer (this process:
     * the write end is close-on-exec, so no child keeps it) is gone */
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        perror("harness: pipe");
        return -1;
    }
    pid_t first = fork();
    if (first < 0) {
        perror("harness: fork");
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (first == 0) {
        /* twice forked, so that it is nobody's child here: a kill of this process's tree (what
         * CTest does on a timeout) leaves it to do its work */
        if (fork() != 0) _exit(0);
        setsid();
        close(fds[1]);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) { /* nor does it hold CTest's output pipes open */
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
            if (null > 2) close(null);
        }
        char byte;
        ssize_t n;
        do
            n = read(fds[0], &byte, 1);
        while (n > 0 || (n < 0 && errno == EINTR));
        sweep_token(run_token);
        _exit(0);
    }
    close(fds[0]);
    waitpid(first, NULL, 0);
    return 0; /* fds[1] stays open until this process ends */
}

int harness_connect_host(const char *host, int port, int timeout_ms)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        len = sizeof *v6;
    } else {
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int harness_connect(int port, int timeout_ms)
{
    return harness_connect_host("127.0.0.1", port, timeout_ms);
}

int harness_send(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Length of the complete response at text, or 0 when it is not complete yet. */
static size_t response_length(const char *text, size_t len)
{
    const char *end = memmem(text, len, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = (size_t)(end - text) + 4;
    size_t body = 0;
    for (const char *p = text; p < end; p++) {
        if ((p == text || p[-1] == '\n') && strncasecmp(p, "Content-Length:", 15) == 0) {
            body = strtoul(p + 15, NULL, 10);
            break;
        }
    }
    int status = harness_status(text);
    if (status == 100) /* interim: counts as its own response */
        return head;
    return head + body <= len ? head + body : 0;
}

int harness_count_responses(const char *text, size_t len)
{
    int count = 0;
    size_t off = 0, n;
    while (off < len && (n = response_length(text + off, len - off)) > 0) {
        count++;
        off += n;
    }
    return count;
}

size_t harness_read_responses(int fd, int responses, char *out, size_t size)
{
    size_t len = 0;
    out[0] = '\0';
    while (len + 1 < size) {
        if (responses > 0 && harness_count_responses(out, len) >= responses) break;
        ssize_t n = recv(fd, out + len, size - 1 - len, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        len += (size_t)n;
        out[len] = '\0';
    }
    return len;
}

int harness_status(const char *text)
{
    int status;
    if (sscanf(text, "HTTP/1.%*d %d", &status) == 1) return status;
    return -1;
}

/* One request to host:port on a fresh connection (see harness_exchange). */
static int exchange_at(const char *host, int port, const char *request, char *out, size_t size)
{
    out[0] = '\0';
    int fd = harness_connect_host(host, port, 5000);
    if (fd < 0) return -1;
    int status = -1;
    if (harness_send(fd, request, strlen(request)) == 0 &&
        harness_read_responses(fd, 1, out, size) > 0)
        status = harness_status(out);
    close(fd);
    return status;
}

int harness_exchange(int port, const char *request, char *out, size_t size)
{
    return exchange_at("127.0.0.1", port, request, out, size);
}

int harness_exchange_at(const char *host, int port, const char *request, char *out, size_t size)
{
    return exchange_at(host, port, request, out, size);
}

int harness_get_at(const char *host, int port, const char *path, char *out, size_t size,
                   const char **body)
{
    char req[1024];
    bool v6 = strchr(host, ':') != NULL;
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s%s%s\r\nConnection: close\r\n\r\n", path,
             v6 ? "[" : "", host, v6 ? "]" : "");
    int status = exchange_at(host, port, req, out, size);
    if (body) {
        const char *b = strstr(out, "\r\n\r\n");
        *body = b ? b + 4 : out + strlen(out);
    }
    return status;
}

int harness_get(int port, const char *path, char *out, size_t size, const char **body)
{
    return harness_get_at("127.0.0.1", port, path, out, size, body);
}

bool harness_wait_http(int port, const char *path, int timeout_ms)
{
    char buf[4096];
    return harness_wait_until(harness_get(port, path, buf, sizeof buf, NULL) == 200, timeout_ms);
}

char *harness_temp_file(const char *suffix, const char *content)
{
    char *path = NULL;
    if (asprintf(&path, "/tmp/herd-test-XXXXXX%s", suffix) < 0) return NULL;
    int fd = mkstemps(path, (int)strlen(suffix));
    if (fd < 0) {
        free(path);
        return NULL;
    }
    size_t len = strlen(content);
    if (write(fd, content, len) != (ssize_t)len) {
        close(fd);
        unlink(path);
        free(path);
        return NULL;
    }
    close(fd);
    return path;
}

const char *harness_herd_bin(void)
{
    const char *bin = getenv("HERD_BIN");
    return bin && *bin ? bin : "./herd";
}

const char *harness_plain_backend_bin(void)
{
    const char *bin = getenv("HERD_PLAIN_BACKEND");
    return bin && *bin ? bin : "./tests/plain_backend";
}

char *harness_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    char *data = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[65536];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *p = realloc(data, cap);
            if (!p)
                break;
            data = p;
        }
        memcpy(data + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (!data)
        return strdup("");
    data[len] = '\0';
    return data;
}

int harness_herd(char *const args[], int timeout_ms, char **out, char **err)
{
    return harness_herd_env(args, NULL, timeout_ms, out, err);
}

int harness_herd_env(char *const args[], char *const env[], int timeout_ms, char **out,
                     char **err)
{
    char *argv[64] = {(char *)harness_herd_bin()};
    size_t n = 1;
    for (size_t i = 0; args[i] && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char *out_path = harness_temp_file(".out", ""), *err_path = harness_temp_file(".err", "");
    pid_t pid = harness_spawn_io(argv, env, out_path, err_path);
    int status = harness_wait(pid, timeout_ms);
    if (status < 0) {
        kill(pid, SIGKILL);
        harness_wait(pid, 5000);
    }
    if (out)
        *out = harness_slurp(out_path);
    if (err)
        *err = harness_slurp(err_path);
    unlink(out_path);
    unlink(err_path);
    free(out_path);
    free(err_path);
    if (status < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void *harness_json_find(const void *array, const char *key, const char *value)
{
    size_t i;
    json_t *e;
    json_array_foreach((json_t *)array, i, e) {
        const char *v = json_string_value(json_object_get(e, key));
        if (v && strcmp(v, value) == 0)
            return e;
    }
    return NULL;
}

size_t harness_proc_list(pid_t *pids, size_t max)
{
    DIR *d = opendir("/proc");
    if (!d) return 0;
    size_t n = 0;
    struct dirent *e;
    while (n < max && (e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (!*end && pid > 0) pids[n++] = (pid_t)pid;
    }
    closedir(d);
    return n;
}

bool harness_proc_stat(pid_t pid, char *state, pid_t *ppid, pid_t *pgrp)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return false;
    buf[n] = '\0';
    /* the command name may hold spaces and parentheses: the fields start after the last ')' */
    const char *fields = strrchr(buf, ')');
    char st;
    int parent, group;
    if (!fields || sscanf(fields + 1, " %c %d %d", &st, &parent, &group) != 3) return false;
    if (state) *state = st;
    if (ppid) *ppid = parent;
    if (pgrp) *pgrp = group;
    return true;
}

int harness_tcp_accepted(int port, int *unread)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    int count = 0, waiting = 0;
    char line[512];
    if (f && fgets(line, sizeof line, f)) { /* the header */
        while (fgets(line, sizeof line, f)) {
            unsigned addr, local_port, state, tx, rx;
            if (sscanf(line, " %*d: %x:%x %*x:%*x %x %x:%x", &addr, &local_port, &state, &tx,
                       &rx) != 5)
                continue;
            if (local_port != (unsigned)port || state != 1 /* ESTABLISHED */) continue;
            count++;
            waiting += rx > 0;
        }
    }
    if (f) fclose(f);
    if (unread) *unread = waiting;
    return count;
}

long harness_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

int harness_self_signed_cert(const char *dir, char *cert, char *key, size_t size)
{
    char cmd[1024];
    snprintf(cert, size, "%s/cert.pem", dir);
    snprintf(key, size, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 "
             "-keyout %s -out %s >/dev/null 2>&1",
             key, cert);
    return system(cmd) == 0 ? 0 : -1;
}

long long harness_node_total(int port)
{
    char out[8192];
    const char *body;
    if (harness_get(port, "/api/v1/cluster/status", out, sizeof out, &body) != 200)
        return -1;
    json_t *j = json_loads(body, 0, NULL);
    long long v = json_integer_value(json_object_get(json_object_get(j, "status"), "total_requests"));
    json_decref(j);
    return v;
}

double harness_prom_sum(const char *text, const char *prefix, int *count)
{
    size_t n = strlen(prefix);
    double sum = 0;
    int found = 0;
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp(line, prefix, n) != 0) continue;
        const char *value = line + n;
        if (*value != ' ' && (prefix[n - 1] == ',' || prefix[n - 1] == '{')) {
            /* the prefix ends inside the label set: the value follows its end */
            const char *end = strchr(value, '}'), *eol = strchr(value, '\n');
            if (!end || (eol && end > eol)) continue;
            value = end + 1;
        }
        if (*value != ' ') continue;
        sum += strtod(value + 1, NULL);
        found++;
    }
    if (count) *count = found;
    return found ? sum : NAN;
}
