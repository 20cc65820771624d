/* control.c -- the supervisor's HTTP API on a unix socket, and its CLI client. */
#include "cluster/control.h"

#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <llhttp.h>

#include "base/buf.h"
#include "base/err.h"
#include "http/json_body.h"
#include "http/server.h"

struct control {
    struct http_server *srv;
    struct supervisor *sup;
    char path[STATE_PATH_MAX + 16];
    char phase[16];
    int exit_code;
    char error[512];
    void (*on_shutdown)(void *data);
    void *data;
    void (*stopped)(void *data);
    void *stopped_data;
    bool failed;
};

bool control_failed(const struct control *ctl)
{
    return ctl->failed;
}

/* Answers a finished operation. */
static void on_done(struct supervisor *sup, int status, const char *error, void *data)
{
    (void)sup;
    struct http_request *req = data;
    if (status == 0 && error && *error) /* a note: it was so already */
        http_respond_json(req, 200, json_pack("{s:b, s:s}", "ok", 1, "note", error));
    else if (status == 0)
        http_respond_json(req, 200, json_pack("{s:b}", "ok", 1));
    else
        http_respond_error(req, status == 2 ? 400 : 500, error);
}

/* Refusals name their cause; unknown names are 404, the rest conflicts with the state. */
static void refuse(struct http_request *req, const char *err)
{
    int status = strncmp(err, "no node", 7) == 0 || strncmp(err, "no group", 8) == 0 ? 404
                 : strncmp(err, "unknown action", 14) == 0 || strncmp(err, "replicas", 8) == 0 ? 400
                                                                                                : 409;
    http_respond_error(req, status, err);
}

static void on_status(struct http_request *req, void *data)
{
    struct control *ctl = data;
    char brief[8];
    /* ?brief=1: the phase only, without a line (and a /proc read) per node: what a waiting
     * `herd up -d` polls, cheap even with thousands of replicas */
    json_t *j = http_request_query(req, "brief", brief, sizeof brief) > 0 && brief[0] == '1'
                    ? json_object()
                    : supervisor_status_json(ctl->sup);
    json_object_set_new(j, "phase", json_string(ctl->phase));
    if (ctl->error[0]) {
        json_object_set_new(j, "error", json_string(ctl->error));
        json_object_set_new(j, "exit_code", json_integer(ctl->exit_code));
    }
    http_respond_json(req, 200, j);
}

static void on_node(struct http_request *req, void *data)
{
    struct control *ctl = data;
    char err[ERR_SIZE];
    if (supervisor_node_action(ctl->sup, req->params[0], req->params[1], on_done, req, err, sizeof err) < 0)
        refuse(req, err);
}

int control_scale_decode(const char *body, size_t len, int *replicas, char *msg, size_t msglen)
{
    static const char *const keys[] = {"replicas", NULL};
    json_t *j = json_body_object(body, len, keys, msg, msglen);
    if (!j) return -1;
    json_t *r = json_object_get(j, "replicas");
    int rc = -1;
    if (json_is_integer(r) && json_integer_value(r) >= 0 &&
        json_integer_value(r) <= CONTROL_REPLICAS_MAX) {
        *replicas = (int)json_integer_value(r);
        rc = 0;
    } else {
        err_set(msg, msglen, "replicas: expected an integer from 0 to %d", CONTROL_REPLICAS_MAX);
    }
    json_decref(j);
    return rc;
}

static void on_group(struct http_request *req, void *data)
{
    struct control *ctl = data;
    const char *group = req->params[0], *action = req->params[1];
    char err[ERR_SIZE];
    int rc;
    if (strcmp(action, "scale") == 0) {
        int n;
        if (control_scale_decode(req->body, req->body_len, &n, err, sizeof err) < 0) {
            http_respond_error(req, 400, err);
            return;
        }
        rc = supervisor_scale(ctl->sup, group, n, on_done, req, err, sizeof err);
    } else if (strcmp(action, "restart") == 0 || strcmp(action, "rollout") == 0) {
        rc = supervisor_restart_group(ctl->sup, group, action[1] == 'o', on_done, req, err, sizeof err);
    } else {
        http_respond_error(req, 404, "unknown group action, expected scale, restart or rollout");
        return;
    }
    if (rc < 0)
        refuse(req, err);
}

static void on_shutdown_request(struct http_request *req, void *data)
{
    struct control *ctl = data;
    http_respond_json(req, 202, json_pack("{s:b}", "stopping", 1));
    if (ctl->on_shutdown)
        ctl->on_shutdown(ctl->data);
}

struct control *control_start(uv_loop_t *loop, struct supervisor *sup, const struct state_dir *st,
                              void (*on_shutdown)(void *data), void *data, char *err, size_t errlen)
{
    struct control *ctl = calloc(1, sizeof *ctl);
    if (!ctl || !(ctl->srv = http_server_new(loop, NULL))) {
        free(ctl);
        err_set(err, errlen, "out of memory");
        return NULL;
    }
    ctl->sup = sup;
    ctl->on_shutdown = on_shutdown;
    ctl->data = data;
    snprintf(ctl->phase, sizeof ctl->phase, "starting");
    state_path(st, "control.sock", ctl->path, sizeof ctl->path);
    unlink(ctl->path); /* the caller checked no live supervisor owns it */
    http_server_route(ctl->srv, "GET", "/status", on_status, ctl);
    http_server_route(ctl->srv, "POST", "/nodes/{id}/{action}", on_node, ctl);
    http_server_route(ctl->srv, "POST", "/groups/{group}/{action}", on_group, ctl);
    http_server_route(ctl->srv, "POST", "/shutdown", on_shutdown_request, ctl);
    ctl->failed = http_server_listen_unix(ctl->srv, ctl->path, err, errlen) < 0;
    return ctl;
}

void control_set_phase(struct control *ctl, const char *phase, int exit_code, const char *error)
{
    snprintf(ctl->phase, sizeof ctl->phase, "%s", phase);
    ctl->exit_code = exit_code;
    snprintf(ctl->error, sizeof ctl->error, "%s", error ? error : "");
}

static void on_server_stopped(void *data)
{
    struct control *ctl = data;
    if (ctl->stopped)
        ctl->stopped(ctl->stopped_data);
}

void control_stop(struct control *ctl, void (*done)(void *data), void *data)
{
    ctl->stopped = done;
    ctl->stopped_data = data;
    unlink(ctl->path);
    http_server_shutdown(ctl->srv, on_server_stopped, ctl);
}

void control_free(struct control *ctl)
{
    if (!ctl)
        return;
    http_server_free(ctl->srv);
    free(ctl);
}

/* ---- the CLI's client ---- */

struct reply {
    int complete;
    struct buf body;
};

static int on_reply_body(llhttp_t *p, const char *at, size_t len)
{
    struct reply *r = p->data;
    return buf_append(&r->body, at, len);
}

static int on_reply_complete(llhttp_t *p)
{
    ((struct reply *)p->data)->complete = 1;
    return 0;
}

static long elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000L + (now.tv_nsec - start->tv_nsec) / 1000000L;
}

/* One request over a connected socket, which it closes. who names the peer in messages. */
static int call_fd(int fd, const char *who, const char *method, const char *path,
                   const char *body, int timeout_ms, int *status, char **response, char *err,
                   size_t errlen)
{
    struct buf req = {0};
    size_t blen = body ? strlen(body) : 0;
    buf_printf(&req, "%s %s HTTP/1.1\r\nHost: herd\r\nConnection: close\r\nContent-Length: %zu\r\n%s\r\n%s",
               method, path, blen, blen ? "Content-Type: application/json\r\n" : "", body ? body : "");
    size_t off = 0;
    while (req.data && off < req.len) {
        ssize_t n = send(fd, req.data + off, req.len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    int sent_all = req.data && off == req.len;
    buf_free(&req);
    if (!sent_all) {
        close(fd);
        return err_set(err, errlen, "%s closed the connection", who);
    }
    llhttp_settings_t settings;
    llhttp_settings_init(&settings);
    settings.on_body = on_reply_body;
    settings.on_message_complete = on_reply_complete;
    llhttp_t parser;
    llhttp_init(&parser, HTTP_RESPONSE, &settings);
    struct reply r = {0};
    parser.data = &r;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int rc = -1;
    while (!r.complete) {
        long left = timeout_ms - elapsed_ms(&start);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
            err_set(err, errlen, "%s did not answer within %d s", who, timeout_ms / 1000);
            goto out;
        }
        char chunk[16384];
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            llhttp_finish(&parser);
            if (!r.complete) {
                err_set(err, errlen, "%s closed the connection mid-answer", who);
                goto out;
            }
            break;
        }
        if (llhttp_execute(&parser, chunk, (size_t)n) != HPE_OK) {
            err_set(err, errlen, "the answer of %s is not valid HTTP", who);
            goto out;
        }
    }
    *status = parser.status_code;
    buf_append(&r.body, "", 0);
    *response = r.body.data;
    r.body.data = NULL;
    rc = 0;
out:
    buf_free(&r.body);
    close(fd);
    return rc;
}

int control_call(const struct state_dir *st, const char *method, const char *path,
                 const char *body, int timeout_ms, int *status, char **response, char *err,
                 size_t errlen)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    char sock[STATE_PATH_MAX + 16];
    state_path(st, "control.sock", sock, sizeof sock);
    if (strlen(sock) >= sizeof a.sun_path)
        return err_set(err, errlen, "%s: path too long for a unix socket", sock);
    memcpy(a.sun_path, sock, strlen(sock) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    /* a supervisor that does not accept (its backlog full) would block connect for good: the
     * send timeout bounds a unix socket's connect too */
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        if (fd >= 0)
            close(fd);
        return err_set(err, errlen, "no supervisor answers on %s", sock);
    }
    return call_fd(fd, "the supervisor", method, path, body, timeout_ms, status, response, err,
                   errlen);
}

int control_call_port(int port, const char *method, const char *path, const char *body,
                      int timeout_ms, int *status, char **response, char *err, size_t errlen)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        if (fd >= 0)
            close(fd);
        return err_set(err, errlen, "nothing answers on 127.0.0.1:%d", port);
    }
    char who[48];
    snprintf(who, sizeof who, "127.0.0.1:%d", port);
    return call_fd(fd, who, method, path, body, timeout_ms, status, response, err, errlen);
}
