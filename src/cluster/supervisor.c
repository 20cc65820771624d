/* supervisor.c -- runs a cluster's replicas (see supervisor.h). */
#include "cluster/supervisor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mtime.h"
#include "cluster/gateway_link.h"
#include "cluster/lifeline.h"
#include "fault/netns.h"
#include "http/client.h"

extern char **environ;

#define READY_POLL_MS     100  /* a starting replica's first check; then 1.5x longer each */
#define READY_POLL_MAX_MS 1000 /* ... up to this, or longer with many replicas: */
#define READY_CHECKS_PER_S 2000 /* the readiness checks of all replicas together */
#define STOP_POLL_MS      50   /* a stopping group whose leader exited: is it empty yet */
#define STOP_KILL_WAIT_MS 5000 /* after its SIGKILL, how long a group may take to be reaped */
#define HEALTH_EVERY_MS   1000 /* a ready replica's checks, up to 1000 replicas; then: */
#define HEALTH_CHECKS_PER_S 1000 /* the periodic checks of all replicas together */
#define HEALTH_TIMEOUT_MS 1000
#define CHECKS_IN_FLIGHT_MAX 256 /* checks open at once (a descriptor each); more wait a turn */
#define SPAWN_BATCH       32   /* replicas spawned a turn of the loop, which answers in between, */
#define SPAWN_TURN_MS     20   /* ... or fewer once this long (a spawn took 0.2 s under load) */
/* Each replica costs the supervisor one descriptor: its output pipe (stdout and stderr). Its
 * health checks open a connection each and close it; at most CHECKS_IN_FLIGHT_MAX at once. */
#define FDS_PER_REPLICA 1
#define FDS_RESERVED    (64 + CHECKS_IN_FLIGHT_MAX)
#define BACKOFF_MAX_US    30000000ull
#define BACKOFF_RESET_US  10000000ull /* up this long: the next crash starts the backoff over */

struct sup_node;
struct sup_op;

/* One spawn of a node: the process and its output pipe (its stdout and stderr both), freed
 * once both are closed. The node may already be gone (or respawned) by then: node is NULL
 * once detached. */
struct sup_proc {
    uv_process_t process;
    uv_pipe_t out;
    struct sup_node *node;
    int open;
    struct buf line; /* a partial line */
};

struct sup_node {
    struct supervisor *sup;
    struct cluster_group *group;
    int index;
    char id[80];
    int port;
    int color;
    enum sup_state state;
    struct sup_proc *proc; /* the live spawn, or NULL */
    pid_t pid;
    uint64_t starttime;
    /* The process group the replica leads: kept after the leader exited while members that
     * outlived it remain (a child that ignored the stop signal), 0 once it is empty. */
    pid_t pgid;
    uint64_t stop_deadline_ms; /* SUP_STOPPING: when the group gets SIGKILL */
    bool group_killed;         /* SUP_STOPPING: the group had its SIGKILL */
    uv_timer_t timer; /* readiness polling, periodic health, backoff, stop grace */
    uint64_t spawned_ms, ready_after_ms, up_since_ms;
    unsigned restarts, crashes_in_row;
    int exit_code, term_signal;
    char last_line[240];
    char log_path[STATE_PATH_MAX + 100];
    int log_fd; /* open while a batch of output is written, else -1 */
    struct http_client *health; /* the HTTP check in flight, or NULL */
    unsigned ready_polls;       /* readiness checks since the spawn */
    bool health_busy, health_ok, health_seen;
    char health_error[128];
    struct tcp_check *tcp_check;
    struct sup_op *waiter; /* the operation waiting for this node */
    enum sup_state goal;   /* SUP_READY or SUP_STOPPED */
    bool drained;          /* out of the gateway's rotation: back in once ready again */
    bool spawned;          /* started at least once: a peer its group's replicas read */
    bool spawn_queued;     /* waits in the supervisor's spawn queue */
    bool peers_partial;    /* its peers file leaves out peers not started yet */
    int handles_open;
};

/* An operation in progress: it waits for `pending` nodes to reach their goal, then its step
 * runs again (the next group, the next replica...) or it ends. */
enum op_kind { OP_UP = 0, OP_WAIT, OP_RESTART, OP_ROLLOUT, OP_SCALE_DOWN, OP_SHUTDOWN };

struct sup_op {
    struct supervisor *sup;
    enum op_kind kind;
    int pending;
    int status;
    char error[512];
    sup_done_fn done;
    void *data;
    size_t cursor; /* OP_UP: next group; OP_ROLLOUT: next replica */
    int phase;     /* OP_RESTART, OP_ROLLOUT: 0 stopping, 1 starting, 2 waiting for the gateway
                    * to have the started ones (from admit_first to cursor) in rotation */
    size_t admit_first;
    struct cluster_group *group;
    struct sup_node **nodes; /* OP_RESTART, OP_ROLLOUT, OP_SCALE_DOWN: the nodes acted on */
    size_t node_count;
};

struct supervisor {
    uv_loop_t *loop;
    struct cluster_spec *spec;
    struct state_dir st;
    struct supervisor_opts opts;
    char self_exe[1024];
    struct sup_node **nodes;
    size_t count, cap;
    int next_color;
    bool shutting_down;        /* a shutdown was asked: a failed start need not start another */
    struct lifeline *lifeline; /* the guard that kills the replicas' groups if we die */
    char peers_dir[STATE_PATH_MAX + 8]; /* the state directory's peers/, absolute */
    struct gateway_link *gateway; /* scaled replicas reach the gateway through it; or NULL */
    int checks_in_flight;         /* health checks with a connection open */
    size_t peers_partial;         /* replicas whose peers file waits for peers to start */
    /* Replicas to start, SPAWN_BATCH a turn (a spawn waits for the child's exec: 10,000 in
     * one turn kept the control socket unanswered for minutes); NULL: one taken out. */
    uv_timer_t spawner;
    struct sup_node **queue;
    size_t queue_head, queue_len, queue_cap;
};

static const char *const state_names[] = {"starting", "ready",   "paused", "stopping",
                                          "stopped",  "backoff", "exited", "failed"};

const char *sup_state_name(enum sup_state s)
{
    return (unsigned)s <= SUP_FAILED ? state_names[s] : "?";
}

static uint64_t now_ms(const struct supervisor *sup)
{
    return uv_now(sup->loop);
}

static void node_timer_start(struct sup_node *n, uint64_t ms, uint64_t repeat);
static int node_spawn(struct sup_node *n, char *err, size_t errlen);
static void node_stop(struct sup_node *n);
static void op_step(struct sup_op *op);

/* ---- operations ---- */

static struct sup_op *op_new(struct supervisor *sup, enum op_kind kind, sup_done_fn done,
                             void *data)
{
    struct sup_op *op = calloc(1, sizeof *op);
    if (op) {
        op->sup = sup;
        op->kind = kind;
        op->done = done;
        op->data = data;
    }
    return op;
}

static void op_finish(struct sup_op *op)
{
    if (op->done) op->done(op->sup, op->status, op->error, op->data);
    free(op->nodes);
    free(op);
}

static void op_fail(struct sup_op *op, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void op_fail(struct sup_op *op, int status, const char *fmt, ...)
{
    if (op->status) return; /* the first failure is the one reported */
    op->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op->error, sizeof op->error, fmt, ap);
    va_end(ap);
}

/* node n waits for goal on behalf of op */
static void op_wait_for(struct sup_op *op, struct sup_node *n, enum sup_state goal)
{
    n->waiter = op;
    n->goal = goal;
    op->pending++;
}

/* A node a rollout drained is back in the gateway's rotation: once ready, or when it could
 * not start again (the gateway's checks keep a dead one out; a drain would keep it out after
 * a later restart too). */
static void node_undrain(struct sup_node *n)
{
    if (!n->drained) return;
    n->drained = false;
    gateway_link_activate(n->sup->gateway, n->group, n->index);
}

/* A node reached its goal (status 0) or could not. */
static void node_report(struct sup_node *n, int status, const char *error)
{
    struct sup_op *op = n->waiter;
    if (!op) return;
    n->waiter = NULL;
    if (status && n->goal == SUP_READY) node_undrain(n);
    if (status) op_fail(op, status, "%s", error);
    if (--op->pending == 0) op_step(op);
}

/* ---- logging of the nodes' output ---- */

static void log_line(struct sup_node *n, const char *line, size_t len)
{
    if (n->log_fd >= 0) {
        struct iovec iov[2] = {{(void *)line, len}, {"\n", 1}};
        if (writev(n->log_fd, iov, 2) < 0) {
            /* a full disk loses log lines, not the node */
        }
    }
    snprintf(n->last_line, sizeof n->last_line, "%.*s", (int)len, line);
    if (n->sup->opts.log_to_terminal) {
        if (n->sup->opts.color)
            printf("\x1b[%dm%-10s |\x1b[0m %.*s\n", 31 + n->color % 6, n->id, (int)len, line);
        else
            printf("%-10s | %.*s\n", n->id, (int)len, line);
        fflush(stdout);
    }
}

static void on_pipe_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)h;
    static char buffer[65536];
    (void)suggested;
    *b = uv_buf_init(buffer, sizeof buffer);
}

static void proc_handle_closed(uv_handle_t *h)
{
    struct sup_proc *p = h->data;
    if (--p->open == 0) {
        buf_free(&p->line);
        free(p);
    }
}

static void on_pipe_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct sup_proc *p = s->data;
    struct buf *line = &p->line;
    if (nread < 0) {
        if (line->len && p->node) {
            struct sup_node *n = p->node;
            n->log_fd = open(n->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            log_line(n, line->data, line->len);
            if (n->log_fd >= 0) close(n->log_fd);
            n->log_fd = -1;
        }
        buf_reset(line);
        uv_close((uv_handle_t *)s, proc_handle_closed);
        return;
    }
    struct sup_node *owner = p->node;
    /* the log file is opened for this batch only: no descriptor held per replica */
    if (owner && owner->log_fd < 0)
        owner->log_fd = open(owner->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const char *data = b->base, *end = b->base + nread;
    while (data < end) {
        const char *nl = memchr(data, '\n', (size_t)(end - data));
        if (!nl) {
            if (line->len < 65536) buf_append(line, data, (size_t)(end - data));
            break;
        }
        if (p->node) {
            if (line->len) {
                buf_append(line, data, (size_t)(nl - data));
                log_line(p->node, line->data, line->len);
                buf_reset(line);
            } else {
                log_line(p->node, data, (size_t)(nl - data));
            }
        }
        data = nl + 1;
    }
    if (owner && owner->log_fd >= 0) {
        close(owner->log_fd);
        owner->log_fd = -1;
    }
}

/* ---- health checks ---- */

/* Each check opens its own connection and closes it once answered: a replica costs the
 * supervisor no descriptor between checks. The supervisor closes first (no Connection:
 * close), so the TIME_WAIT is on its ephemeral port, not on the replica's listening port
 * (which a later bind without SO_REUSEADDR would find taken for a minute). The
 * checks are spread: a replica checks at its own phase of the interval (a hash of its id),
 * and the interval grows with the replicas so that they make HEALTH_CHECKS_PER_S together. */

static uint32_t id_hash(const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h;
}

uint64_t supervisor_check_delay_ms(const char *id, uint64_t now_ms, uint64_t interval_ms)
{
    if (interval_ms == 0) return 1;
    uint64_t phase = id_hash(id) % interval_ms;
    uint64_t delay = (phase + interval_ms - now_ms % interval_ms) % interval_ms;
    return delay ? delay : interval_ms;
}

uint64_t supervisor_check_interval_ms(size_t replicas)
{
    uint64_t spread = (uint64_t)replicas * 1000 / HEALTH_CHECKS_PER_S;
    return spread > HEALTH_EVERY_MS ? spread : HEALTH_EVERY_MS;
}

uint64_t supervisor_ready_delay_ms(const char *id, unsigned attempt, size_t replicas)
{
    uint64_t cap = (uint64_t)replicas * 1000 / READY_CHECKS_PER_S;
    if (cap < READY_POLL_MAX_MS) cap = READY_POLL_MAX_MS;
    uint64_t delay = READY_POLL_MS;
    for (unsigned i = 0; i < attempt && delay < cap; i++)
        delay = delay * 3 / 2;
    if (delay > cap) delay = cap;
    /* 75% to 125% of it, by id and attempt: replicas spawned together poll apart */
    uint32_t h = id_hash(id) ^ (attempt * 2654435761u);
    h = (h ^ (h >> 15)) * 2246822519u;
    h ^= h >> 13;
    return delay * 3 / 4 + (delay / 2) * (h % 1024) / 1023;
}

struct tcp_check {
    uv_tcp_t tcp;
    uv_connect_t req;
    struct sup_node *node; /* NULL once the node went away */
};

static void on_health_result(struct sup_node *n, bool ok, const char *why);

static void tcp_check_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_tcp_check(uv_connect_t *req, int status)
{
    struct tcp_check *c = req->data;
    struct sup_node *n = c->node;
    uv_close((uv_handle_t *)&c->tcp, tcp_check_closed);
    if (n) {
        n->tcp_check = NULL;
        on_health_result(n, status == 0, status == 0 ? "" : uv_strerror(status));
    }
}

static void on_http_check(struct http_client *c, int error, const struct http_client_response *res,
                          void *data)
{
    struct sup_node *n = data;
    char why[64];
    if (error)
        snprintf(why, sizeof why, "%s error", http_client_error_name(error));
    else
        snprintf(why, sizeof why, "status %d", res->status);
    bool ok = error == HTTP_CLIENT_OK && res->status == 200;
    n->health = NULL;
    http_client_free(c, NULL, NULL); /* its connection closes now, not at the next check */
    on_health_result(n, ok, why);
}

static void health_check(struct sup_node *n)
{
    struct supervisor *sup = n->sup;
    if (n->health_busy || sup->checks_in_flight >= CHECKS_IN_FLIGHT_MAX) return;
    struct sockaddr_in addr;
    char host[40];
    cluster_group_host(n->group, n->index, host, sizeof host);
    uv_ip4_addr(host, n->port, &addr);
    if (n->group->health == CLUSTER_HEALTH_TCP) {
        struct tcp_check *c = calloc(1, sizeof *c);
        if (!c) return;
        c->node = n;
        c->req.data = c;
        c->tcp.data = c;
        uv_tcp_init(sup->loop, &c->tcp);
        if (uv_tcp_connect(&c->req, &c->tcp, (struct sockaddr *)&addr, on_tcp_check) < 0) {
            uv_close((uv_handle_t *)&c->tcp, tcp_check_closed);
            return;
        }
        n->tcp_check = c;
        n->health_busy = true;
        sup->checks_in_flight++;
        return;
    }
    struct http_client_opts o;
    http_client_opts_default(&o);
    o.connect_timeout_ms = o.header_timeout_ms = o.body_timeout_ms = HEALTH_TIMEOUT_MS;
    n->health = http_client_new(sup->loop, (struct sockaddr *)&addr, NULL, &o, NULL, 0);
    if (!n->health) return;
    char req[512];
    int len = snprintf(req, sizeof req,
                       "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: herd-supervisor\r\n\r\n",
                       n->group->health_path, host, n->port);
    if (http_client_send(n->health, req, (size_t)len, on_http_check, n) < 0) {
        http_client_free(n->health, NULL, NULL);
        n->health = NULL;
        return;
    }
    n->health_busy = true;
    sup->checks_in_flight++;
}

/* Arms the check timer of a ready (or paused) replica for its next turn. */
static void node_health_schedule(struct sup_node *n)
{
    uint64_t interval = supervisor_check_interval_ms(n->sup->count);
    node_timer_start(n, supervisor_check_delay_ms(n->id, now_ms(n->sup), interval), 0);
}

/* Arms the check timer of a starting replica for its next readiness check: sooner than its
 * ready timeout, which the timer checks too. */
static void node_ready_schedule(struct sup_node *n)
{
    uint64_t delay = supervisor_ready_delay_ms(n->id, n->ready_polls++, n->sup->count);
    uint64_t deadline = n->spawned_ms + n->group->ready_timeout_us / 1000, now = now_ms(n->sup);
    if (deadline > now && now + delay > deadline) delay = deadline - now;
    node_timer_start(n, delay ? delay : 1, 0);
}

static void node_became_ready(struct sup_node *n)
{
    n->state = SUP_READY;
    n->ready_after_ms = now_ms(n->sup) - n->spawned_ms;
    n->up_since_ms = now_ms(n->sup);
    node_health_schedule(n);
    struct supervisor *sup = n->sup; /* the gateway knows the file's replicas, not the scaled */
    gateway_link_add(sup->gateway, n->group, n->index);
    node_undrain(n); /* a rollout took it out of rotation before stopping it */
    for (size_t i = 0; gateway_link_is_gateway(sup->gateway, n->group) && i < sup->count; i++)
        if (sup->nodes[i]->state == SUP_READY)
            gateway_link_add(sup->gateway, sup->nodes[i]->group, sup->nodes[i]->index);
    if (n->waiter && n->goal == SUP_READY) node_report(n, 0, "");
}

static void on_health_result(struct sup_node *n, bool ok, const char *why)
{
    n->health_busy = false;
    n->sup->checks_in_flight--;
    n->health_seen = true;
    n->health_ok = ok;
    snprintf(n->health_error, sizeof n->health_error, "%s", ok ? "" : why);
    if (ok && n->state == SUP_STARTING) node_became_ready(n);
}

/* ---- processes ---- */

static void node_fail(struct sup_node *n, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void node_fail(struct sup_node *n, const char *fmt, ...)
{
    char msg[480];
    int len = snprintf(msg, sizeof msg, "%s: ", n->id);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + len, sizeof msg - (size_t)len, fmt, ap);
    va_end(ap);
    n->state = SUP_FAILED;
    uv_timer_stop(&n->timer);
    log_warn("%s", msg);
    if (n->waiter) node_report(n, 3, msg);
}

static void signal_node(struct sup_node *n, int sig)
{
    /* The group our own child leads: while any member is alive, Linux does not hand its
     * number to a new process, so no /proc check is needed (it would need a file descriptor,
     * and signals must get through even when the supervisor has run out of them). */
    if (n->pgid > 1) proc_kill_group(n->pgid, sig);
}

/* True while a process of the node's group is alive (a zombie not reaped yet counts). */
static bool group_alive(const struct sup_node *n)
{
    return n->pgid > 1 && (proc_kill_group(n->pgid, 0) == 0 || errno == EPERM);
}

/* The group is empty (or given up on): forget it. */
static void group_forget(struct sup_node *n)
{
    if (n->pgid > 1) lifeline_untrack(n->sup->lifeline, n->pgid);
    n->pgid = 0;
}

/* SUP_STOPPING after the leader exited: its group is gone, the stop is done. */
static void node_stop_done(struct sup_node *n)
{
    group_forget(n);
    n->state = SUP_STOPPED;
    uv_timer_stop(&n->timer);
    if (n->waiter && (n->goal == SUP_STOPPED || n->goal == SUP_EXITED)) node_report(n, 0, "");
}

static void on_process_exit(uv_process_t *p, int64_t exit_status, int term_signal)
{
    struct sup_proc *sp = p->data;
    struct sup_node *n = sp->node;
    uv_close((uv_handle_t *)p, proc_handle_closed);
    if (!n) return;
    n->proc = NULL;
    n->exit_code = (int)exit_status;
    n->term_signal = term_signal;
    n->pid = 0;
    state_pid_remove(&n->sup->st, n->id);
    if (n->state == SUP_STOPPING && group_alive(n)) {
        /* the leader went, a member did not (it ignores the stop signal): the group gets
         * SIGKILL at the end of the grace as if the leader still ran; poll until then */
        node_timer_start(n, STOP_POLL_MS, STOP_POLL_MS);
        return;
    }
    if (group_alive(n)) /* the leader went by itself: what it started goes too */
        signal_node(n, SIGKILL);
    group_forget(n);
    struct sup_op *killer = n->goal == SUP_EXITED ? n->waiter : NULL;
    if (killer) /* herd kill waits for the exit itself, whatever follows it */
        n->waiter = NULL;
    char how[64];
    if (term_signal)
        snprintf(how, sizeof how, "killed by signal %d", term_signal);
    else
        snprintf(how, sizeof how, "exited with code %d", (int)exit_status);
    switch (n->state) {
    case SUP_STOPPING:
        n->state = SUP_STOPPED;
        uv_timer_stop(&n->timer);
        if (killer) {
            n->waiter = killer;
            node_report(n, 0, "");
        }
        if (n->waiter && n->goal == SUP_STOPPED) node_report(n, 0, "");
        return;
    case SUP_STARTING: {
        if (killer) { /* killed on purpose while starting: down as asked */
            n->state = SUP_EXITED;
            uv_timer_stop(&n->timer);
            n->waiter = killer;
            node_report(n, 0, "");
            return;
        }
        uint64_t after = now_ms(n->sup) - n->spawned_ms;
        node_fail(n, "%s after %.1f s before it was ready%s%s", how, (double)after / 1000,
                  n->last_line[0] ? ": " : "", n->last_line);
        return;
    }
    default:
        break;
    }
    /* it went down by itself (or by herd kill): the restart policy decides. A kill asked for
     * (herd kill, a plan's fault) is no warning: herd test printed a "warn" line for each */
    if (killer)
        log_info("%s: %s, as asked", n->id, how);
    else
        log_warn("%s: %s", n->id, how);
    enum cluster_restart policy = n->group->restart;
    bool failure = term_signal || exit_status != 0;
    if (policy == CLUSTER_RESTART_ALWAYS || (policy == CLUSTER_RESTART_ON_FAILURE && failure)) {
        if (n->up_since_ms && now_ms(n->sup) - n->up_since_ms >= BACKOFF_RESET_US / 1000)
            n->crashes_in_row = 0;
        uint64_t delay = n->group->restart_backoff_us;
        for (unsigned i = 0; i < n->crashes_in_row && delay < BACKOFF_MAX_US; i++)
            delay *= 2;
        if (delay > BACKOFF_MAX_US) delay = BACKOFF_MAX_US;
        n->crashes_in_row++;
        n->state = SUP_BACKOFF;
        node_timer_start(n, delay / 1000, 0);
    } else {
        n->state = SUP_EXITED;
        uv_timer_stop(&n->timer);
    }
    if (n->waiter && n->goal == SUP_STOPPED) /* a stop that raced a crash: it is down */
        node_report(n, 0, "");
    if (killer) {
        n->waiter = killer;
        node_report(n, 0, "");
    }
}

static int port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* The command as run by /bin/sh: a leading "herd" is this binary. */
static char *shell_command(const struct supervisor *sup, const char *expanded)
{
    struct buf b = {0};
    buf_append_str(&b, "exec ");
    if (strncmp(expanded, "herd", 4) == 0 && (expanded[4] == ' ' || expanded[4] == '\0')) {
        buf_printf(&b, "'%s'", sup->self_exe);
        expanded += 4;
    }
    buf_append_str(&b, expanded);
    return b.data;
}

/* ---- the replicas' KV peers ---- */

/* The file replica n reads its KV peers from (HERD_PEERS_FILE): peers/<id> in the state
 * directory, by an absolute path (a command may change directory). */
static void peers_file_path(const struct sup_node *n, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", n->sup->peers_dir, n->id);
}

static int int_compare(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The replica of group g with index, or NULL: a binary search of the list, which is ordered
 * by group (their start order) then index. */
static struct sup_node *node_at(const struct supervisor *sup, const struct cluster_group *g,
                                int index)
{
    size_t lo = 0, hi = sup->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct sup_node *m = sup->nodes[mid];
        if (m->group->order < g->order || (m->group == g && m->index < index))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < sup->count && sup->nodes[lo]->group == g && sup->nodes[lo]->index == index
               ? sup->nodes[lo]
               : NULL;
}

/* Writes the peers of replica n over its group's current size: the replicas 1, 2, 4, 8, ...
 * places away either way round the group's ring. That is every other replica of a group of up
 * to five, and 2 log2(N) of a big one, through which changes relay in log2(N) hops. Written
 * at each spawn and, for every replica of the group, whenever its size changes (a node
 * re-reads its file when it changes: replicas scaled in or out are peers or no longer).
 * Peers not started yet are left out until the operation that starts them is over
 * (peers_complete): 10,000 replicas starting would otherwise each call a dozen ports that
 * refuse, again and again, which kept the machine busy and the start slow.
 * Returns 0 or -1 with a message. */
static int peers_file_write(struct sup_node *n, char *err, size_t errlen)
{
    const struct cluster_group *g = n->group;
    struct buf text = {0};
    buf_printf(&text, "# %s's KV peers in group %s of %d replicas, written by the supervisor\n",
               n->id, g->name, g->replicas);
    /* the chosen ones, in the order of their index: 2 log2(N) at most, whatever N (a walk
     * over the whole group for each of N spawns was quadratic) */
    int chosen[2 * 32], count = 0;
    for (int d = 1; d < g->replicas && count + 2 <= (int)(sizeof chosen / sizeof *chosen); d *= 2) {
        chosen[count++] = (n->index - 1 + d) % g->replicas + 1;
        chosen[count++] = ((n->index - 1 - d) % g->replicas + g->replicas) % g->replicas + 1;
    }
    qsort(chosen, (size_t)count, sizeof *chosen, int_compare);
    bool partial = false;
    for (int k = 0; k < count; k++) {
        int i = chosen[k], port = cluster_group_port(g, i);
        if ((k > 0 && chosen[k - 1] == i) || i == n->index || !port) continue;
        const struct sup_node *peer = node_at(n->sup, g, i);
        if (peer && !peer->spawned) {
            partial = true;
            continue;
        }
        char host[40];
        cluster_group_host(g, i, host, sizeof host);
        buf_printf(&text, "%s:%d\n", host, port);
    }
    char path[sizeof n->sup->peers_dir + 100];
    peers_file_path(n, path, sizeof path);
    int rc = 0;
    if (!text.data)
        rc = err_set(err, errlen, "%s: its peers file: out of memory", n->id);
    else if (state_file_write(path, text.data, text.len) < 0)
        rc = err_set(err, errlen, "%s: cannot write its peers file %s: %s", n->id, path,
                     strerror(errno));
    buf_free(&text);
    if (rc == 0 && partial != n->peers_partial) {
        n->peers_partial = partial;
        if (partial)
            n->sup->peers_partial++;
        else
            n->sup->peers_partial--;
    }
    return rc;
}

/* Rewrites the peers files of every replica of g (after its size changed). */
static void group_peers_write(struct supervisor *sup, const struct cluster_group *g)
{
    char err[ERR_SIZE];
    for (size_t i = 0; i < sup->count; i++) {
        struct sup_node *n = sup->nodes[i];
        if (n->group == g && n->index <= g->replicas && peers_file_write(n, err, sizeof err) < 0)
            log_warn("%s", err);
    }
}

/* An operation's replicas are started (and ready, or failed): the peers files that left some
 * of them out list them now. A pass over the replicas only while some file waits. */
static void peers_complete(struct supervisor *sup)
{
    char err[ERR_SIZE];
    for (size_t i = 0; sup->peers_partial > 0 && i < sup->count; i++) {
        struct sup_node *n = sup->nodes[i];
        if (n->peers_partial && n->index <= n->group->replicas &&
            peers_file_write(n, err, sizeof err) < 0)
            log_warn("%s", err);
    }
}

static char **build_env(const struct sup_node *n)
{
    const struct cluster_group *g = n->group;
    size_t base = 0;
    while (environ[base])
        base++;
    char **env = calloc(base + g->env_count + 8, sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    char *mine[64];
    size_t mine_count = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "SERVER_PORT=%d", n->port);
    if (n->port) mine[mine_count++] = strdup(buf);
    int public_port = cluster_group_port(g, n->index);
    snprintf(buf, sizeof buf, "HERD_ADVERTISE_PORT=%d", public_port);
    if (public_port && public_port != n->port) mine[mine_count++] = strdup(buf);
    snprintf(buf, sizeof buf, "NODE_ID=%s", n->id);
    mine[mine_count++] = strdup(buf);
    snprintf(buf, sizeof buf, "HERD_GROUP=%s", g->name);
    mine[mine_count++] = strdup(buf);
    if (cluster_group_in_netns(g)) { /* listen on the namespace's address */
        char host[40];
        cluster_group_host(g, n->index, host, sizeof host);
        snprintf(buf, sizeof buf, "HERD_HOST=%s", host);
        mine[mine_count++] = strdup(buf);
    }
    char path[sizeof n->sup->peers_dir + 100];
    peers_file_path(n, path, sizeof path);
    struct buf peers_file = {0};
    buf_printf(&peers_file, "HERD_PEERS_FILE=%s", path);
    mine[mine_count++] = peers_file.data;
    for (size_t i = 0; i < g->env_count && mine_count < 64; i++) {
        char *value = cluster_expand(g->env[i].value, g, n->index);
        struct buf line = {0};
        buf_printf(&line, "%s=%s", g->env[i].name, value ? value : "");
        free(value);
        mine[mine_count++] = line.data;
    }
    for (size_t i = 0; i < base; i++) { /* the inherited ones, unless set here */
        size_t name_len = strcspn(environ[i], "=");
        /* peers meant for a node run by hand are not every replica's */
        bool overridden = strncmp(environ[i], "HERD_PEERS=", 11) == 0;
        for (size_t j = 0; j < mine_count && !overridden; j++)
            overridden = mine[j] && strncmp(mine[j], environ[i], name_len + 1) == 0;
        if (!overridden) env[k++] = strdup(environ[i]);
    }
    for (size_t j = 0; j < mine_count; j++)
        env[k++] = mine[j];
    env[k] = NULL;
    return env;
}

static void free_env(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/* Starts the guard of the replicas' process groups if none runs (the first spawn, or the
 * last guard died) and tells it about every live replica. Without one (it could not start),
 * replicas still die with the supervisor, not what they started. */
static void lifeline_ensure(struct supervisor *sup)
{
    if (lifeline_alive(sup->lifeline)) return;
    lifeline_close(sup->lifeline);
    char err[ERR_SIZE];
    sup->lifeline = lifeline_start(sup->loop, sup->self_exe, err, sizeof err);
    if (!sup->lifeline) {
        log_warn("%s: what the replicas start may outlive a killed supervisor", err);
        return;
    }
    for (size_t i = 0; i < sup->count; i++)
        if (sup->nodes[i]->pgid > 1) lifeline_track(sup->lifeline, sup->nodes[i]->pgid);
}

/* A spawn failed with libuv's rc: the message. Returns -1. */
static int spawn_error(const struct sup_node *n, int rc, char *err, size_t errlen)
{
    if (rc == UV_EMFILE || rc == UV_ENFILE) {
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        return err_set(err, errlen,
                       "%s: cannot start: the supervisor ran out of file descriptors "
                       "(it keeps %d per replica; the limit is %llu: raise it with ulimit -n)",
                       n->id, FDS_PER_REPLICA, (unsigned long long)rl.rlim_cur);
    }
    return err_set(err, errlen, "%s: cannot start '%s': %s", n->id, n->group->command,
                   uv_strerror(rc));
}

static int node_spawn(struct sup_node *n, char *err, size_t errlen)
{
    struct supervisor *sup = n->sup;
    bool in_ns = cluster_group_in_netns(n->group);
    char ns[64] = "", ns_err[512];
    if (in_ns) { /* its own namespace, where the port is its own */
        if (netns_replica_up(n->group->base_port, n->index, ns_err, sizeof ns_err) < 0)
            return err_set(err, errlen, "%s: its network namespace: %s", n->id, ns_err);
        netns_replica_name(n->group->base_port, n->index, ns, sizeof ns);
    } else if (n->port && !port_free(n->port)) {
        return err_set(err, errlen, "%s: port %d is already in use", n->id, n->port);
    }
    n->spawned = true;
    if (peers_file_write(n, err, errlen) < 0) return -1;
    if (!n->log_path[0]) {
        char name[120];
        snprintf(name, sizeof name, "logs/%s.log", n->id);
        state_path(&sup->st, name, n->log_path, sizeof n->log_path);
    }
    struct sup_proc *p = calloc(1, sizeof *p);
    char *expanded = cluster_expand(n->group->command, n->group, n->index);
    char *cmd = expanded ? shell_command(sup, expanded) : NULL;
    char **env = build_env(n);
    free(expanded);
    if (!p || !cmd || !env) {
        free(p);
        free(cmd);
        free_env(env);
        return err_set(err, errlen, "out of memory");
    }
    /* one pipe for both: the supervisor reads one descriptor per replica, and the lines of
     * the two streams stay in the order they were written */
    uv_file fds[2];
    int rc = uv_pipe(fds, 0, 0);
    if (rc < 0) {
        free(p);
        free(cmd);
        free_env(env);
        return spawn_error(n, rc, err, errlen);
    }
    uv_pipe_init(sup->loop, &p->out, 0);
    p->out.data = p->process.data = p;
    p->node = n;
    p->open = 1;
    if ((rc = uv_pipe_open(&p->out, fds[0])) < 0) {
        close(fds[0]);
        close(fds[1]);
        uv_close((uv_handle_t *)&p->out, proc_handle_closed);
        free(cmd);
        free_env(env);
        return spawn_error(n, rc, err, errlen);
    }
    lifeline_ensure(sup);
    /* Through `herd __exec`, which sets the parent-death signal and execs the rest in its place
     * (same pid), so the replica dies with us even on SIGKILL. The kernel sends it when the
     * thread that forks exits, not the process: this loop's thread, which lives as long as
     * the supervisor (herd up's main thread, herd test's cluster thread). */
    char parent[24];
    snprintf(parent, sizeof parent, "%d", (int)getpid());
    char *args_sh[] = {sup->self_exe, "__exec", "--parent", parent, "--",
                       "/bin/sh",     "-c",     cmd,        NULL};
    char *args_ns[] = {sup->self_exe, "__exec", "--parent", parent, "--", "ip", "netns",
                       "exec",        ns,       "/bin/sh",  "-c",   cmd,  NULL}; /* ip execs */
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_INHERIT_FD, .data.fd = fds[1]},
        {.flags = UV_INHERIT_FD, .data.fd = fds[1]},
    };
    uv_process_options_t o = {.file = sup->self_exe,
                              .args = in_ns ? args_ns : args_sh,
                              .env = env,
                              .exit_cb = on_process_exit,
                              .flags = UV_PROCESS_DETACHED,
                              .stdio_count = 3,
                              .stdio = stdio};
    rc = uv_spawn(sup->loop, &p->process, &o);
    close(fds[1]); /* the replica's now: the pipe ends when it (and what it started) exits */
    free(cmd);
    free_env(env);
    if (rc < 0) {
        p->open = 2; /* a failed uv_spawn leaves its handle in the loop too: close both */
        uv_close((uv_handle_t *)&p->process, proc_handle_closed);
        uv_close((uv_handle_t *)&p->out, proc_handle_closed);
        return spawn_error(n, rc, err, errlen);
    }
    p->open = 2;
    uv_read_start((uv_stream_t *)&p->out, on_pipe_alloc, on_pipe_read);
    n->proc = p;
    n->pid = p->process.pid;
    n->pgid = n->pid; /* UV_PROCESS_DETACHED: setsid, so it leads its own group */
    lifeline_track(sup->lifeline, n->pgid);
    n->starttime = proc_starttime(n->pid);
    n->state = SUP_STARTING;
    n->spawned_ms = now_ms(sup);
    n->ready_after_ms = 0;
    n->up_since_ms = 0;
    n->last_line[0] = '\0';
    n->health_seen = false;
    n->ready_polls = 0;
    state_pid_write(&sup->st, n->id, n->pid, n->port);
    if (n->group->health == CLUSTER_HEALTH_NONE) {
        node_became_ready(n);
        return 0;
    }
    node_ready_schedule(n);
    return 0;
}

/* Sends the stop signal; SIGKILL after the grace. Already down: reports at once. */
static void node_stop(struct sup_node *n)
{
    n->spawn_queued = false; /* not started yet: it never will be */
    if (!n->proc && group_alive(n)) { /* the leader exited, members remain: they go now */
        signal_node(n, SIGKILL);
        group_forget(n);
    }
    if (!n->proc) {
        if (n->state != SUP_FAILED) n->state = SUP_STOPPED;
        uv_timer_stop(&n->timer);
        if (n->waiter && n->goal == SUP_STOPPED) node_report(n, 0, "");
        return;
    }
    bool was_paused = n->state == SUP_PAUSED;
    n->state = SUP_STOPPING;
    n->stop_deadline_ms = now_ms(n->sup) + n->group->stop_grace_us / 1000;
    n->group_killed = false;
    signal_node(n, n->group->stop_signal);
    if (was_paused) signal_node(n, SIGCONT); /* a stopped process cannot act on the stop signal */
    node_timer_start(n, n->group->stop_grace_us / 1000, 0);
}

static void on_node_timer(uv_timer_t *t)
{
    struct sup_node *n = t->data;
    char err[ERR_SIZE];
    switch (n->state) {
    case SUP_STARTING:
        if (now_ms(n->sup) - n->spawned_ms >= n->group->ready_timeout_us / 1000) {
            signal_node(n, SIGKILL);
            node_fail(n, "not ready after %.1f s: %s %s%s%s",
                      (double)n->group->ready_timeout_us / 1e6,
                      n->group->health == CLUSTER_HEALTH_TCP ? "tcp port" : n->group->health_path,
                      n->health_seen ? n->health_error : "never answered",
                      n->last_line[0] ? "; last output: " : "", n->last_line);
            return;
        }
        health_check(n);
        node_ready_schedule(n);
        break;
    case SUP_READY:
    case SUP_PAUSED:
        if (n->group->health == CLUSTER_HEALTH_NONE) break;
        health_check(n);
        node_health_schedule(n);
        break;
    case SUP_BACKOFF:
        n->restarts++;
        if (node_spawn(n, err, sizeof err) < 0)
            node_fail(n, "%s", strchr(err, ' ') ? strchr(err, ' ') + 1 : err);
        break;
    case SUP_STOPPING:
        if (!n->proc && !group_alive(n)) { /* the leader went earlier, now its group did */
            node_stop_done(n);
            break;
        }
        if (now_ms(n->sup) + 1 < n->stop_deadline_ms) break; /* polling the leaderless group */
        if (!n->group_killed) {
            log_warn("%s: still running %.1f s after SIG%s: SIGKILL", n->id,
                     (double)n->group->stop_grace_us / 1e6,
                     cluster_signal_name(n->group->stop_signal));
            signal_node(n, SIGKILL);
            n->group_killed = true;
        } else if (!n->proc && now_ms(n->sup) >= n->stop_deadline_ms + STOP_KILL_WAIT_MS) {
            /* members killed but not reaped (nobody collects orphans here): nothing can
             * run in them any more */
            log_warn("%s: its process group (%d) was killed but is not reaped", n->id,
                     (int)n->pgid);
            node_stop_done(n);
        }
        break;
    default:
        uv_timer_stop(t);
    }
}

static void node_timer_start(struct sup_node *n, uint64_t ms, uint64_t repeat)
{
    uv_timer_start(&n->timer, on_node_timer, ms, repeat);
}

/* ---- nodes ---- */

/* One of the node's handles (its timer, its health client) is closed; the last frees it. */
static void node_release(struct sup_node *n)
{
    if (--n->handles_open > 0) return;
    if (n->log_fd >= 0) close(n->log_fd);
    free(n);
}

static void node_timer_closed(uv_handle_t *h)
{
    node_release(h->data);
}

static void health_client_freed(void *data)
{
    node_release(data);
}

/* Detaches and frees a node whose process is gone. */
static void node_destroy(struct sup_node *n)
{
    struct supervisor *sup = n->sup;
    for (size_t i = sup->count; i-- > 0;) /* from the end: scale-down and free take the last */
        if (sup->nodes[i] == n) {
            memmove(&sup->nodes[i], &sup->nodes[i + 1], (sup->count - i - 1) * sizeof *sup->nodes);
            sup->count--;
            break;
        }
    if (n->proc) n->proc->node = NULL;
    if (n->tcp_check) n->tcp_check->node = NULL;
    if (n->health_busy) sup->checks_in_flight--; /* its check ends unseen */
    if (n->peers_partial) sup->peers_partial--;
    for (size_t i = sup->queue_head; n->spawn_queued && i < sup->queue_len; i++)
        if (sup->queue[i] == n) sup->queue[i] = NULL;
    char path[sizeof sup->peers_dir + 100];
    peers_file_path(n, path, sizeof path);
    unlink(path);
    n->handles_open = 1;
    uv_close((uv_handle_t *)&n->timer, node_timer_closed);
    if (n->health) {
        n->handles_open++;
        http_client_free(n->health, health_client_freed, n);
        n->health = NULL;
    }
}

static void free_unlisted_node(uv_handle_t *h)
{
    free(h->data);
}

static struct sup_node *node_new(struct supervisor *sup, struct cluster_group *g, int index)
{
    struct sup_node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->sup = sup;
    n->group = g;
    n->index = index;
    n->port = cluster_group_port(g, index);
    if (g->listen_ports && index >= 1 && (size_t)index <= g->listen_port_count &&
        g->listen_ports[index - 1])
        n->port = g->listen_ports[index - 1]; /* behind a fault proxy on the public port */
    n->log_fd = -1;
    n->color = sup->next_color++;
    n->state = SUP_STOPPED;
    snprintf(n->id, sizeof n->id, "%s.%d", g->name, index);
    uv_timer_init(sup->loop, &n->timer);
    n->timer.data = n;
    if (sup->count == sup->cap) {
        size_t cap = sup->cap ? sup->cap * 2 : 16;
        struct sup_node **grown = realloc(sup->nodes, cap * sizeof *grown);
        if (!grown) {
            uv_close((uv_handle_t *)&n->timer, free_unlisted_node);
            return NULL;
        }
        sup->nodes = grown;
        sup->cap = cap;
    }
    /* keep nodes ordered by group order, then index */
    size_t at = sup->count;
    while (at > 0 && (sup->nodes[at - 1]->group->order > g->order ||
                      (sup->nodes[at - 1]->group == g && sup->nodes[at - 1]->index > index)))
        at--;
    memmove(&sup->nodes[at + 1], &sup->nodes[at], (sup->count - at) * sizeof *sup->nodes);
    sup->nodes[at] = n;
    sup->count++;
    return n;
}

static struct sup_node *node_find(const struct supervisor *sup, const char *id)
{
    for (size_t i = 0; i < sup->count; i++)
        if (strcmp(sup->nodes[i]->id, id) == 0) return sup->nodes[i];
    return NULL;
}

static bool node_alive(const struct sup_node *n)
{
    return n->proc != NULL;
}

/* ---- the operations' steps ---- */

static void on_spawner(uv_timer_t *t)
{
    struct supervisor *sup = t->data;
    uint64_t start = uv_hrtime();
    for (int spawned = 0; spawned < SPAWN_BATCH && sup->queue_head < sup->queue_len &&
                          uv_hrtime() - start < SPAWN_TURN_MS * 1000000ull;) {
        struct sup_node *n = sup->queue[sup->queue_head++];
        if (!n || !n->spawn_queued) continue; /* stopped or removed meanwhile */
        n->spawn_queued = false;
        spawned++;
        char err[ERR_SIZE];
        if (node_spawn(n, err, sizeof err) < 0) {
            n->state = SUP_FAILED;
            log_warn("%s", err); /* now: the operation reports it once all the others are in */
            node_report(n, 3, err);
        }
    }
    if (sup->queue_head < sup->queue_len) /* after the loop's I/O: a timer of 0 started here */
        uv_timer_start(&sup->spawner, on_spawner, 1, 0); /* would run again in this pass */
    else
        sup->queue_head = sup->queue_len = 0;
}

/* Starts nodes on behalf of op: queued, started a batch a turn of the loop. */
static void op_start_nodes(struct sup_op *op, struct sup_node **nodes, size_t count)
{
    struct supervisor *sup = op->sup;
    if (sup->queue_len + count > sup->queue_cap) {
        size_t cap = sup->queue_len + count + 64;
        struct sup_node **grown = realloc(sup->queue, cap * sizeof *grown);
        if (!grown) {
            op_fail(op, 3, "out of memory");
            return;
        }
        sup->queue = grown;
        sup->queue_cap = cap;
    }
    for (size_t i = 0; i < count; i++) {
        op_wait_for(op, nodes[i], SUP_READY);
        nodes[i]->state = SUP_STARTING;
        nodes[i]->spawn_queued = true;
        sup->queue[sup->queue_len++] = nodes[i];
    }
    if (count && !uv_is_active((uv_handle_t *)&sup->spawner))
        uv_timer_start(&sup->spawner, on_spawner, 0, 0);
}

/* A node an operation drains before it stops it. */
struct drain_wait {
    struct sup_op *op;
    struct sup_node *n;
};

static void on_drained(void *data)
{
    struct drain_wait *w = data;
    struct sup_node *n = w->n;
    n->drained = true;
    /* still the operation's to stop: it did not exit by itself meanwhile */
    bool stop = n->waiter == w->op && n->goal == SUP_STOPPED;
    free(w);
    if (stop) node_stop(n);
}

/* Stops n on behalf of op; first out of the gateway's rotation and its requests in progress
 * finished (or its group's drain over) when the group has `drain` and a gateway runs. */
static void op_stop_node(struct sup_op *op, struct sup_node *n)
{
    op_wait_for(op, n, SUP_STOPPED);
    struct drain_wait *w =
        n->group->drain_us && n->sup->gateway && n->proc ? malloc(sizeof *w) : NULL;
    if (!w) {
        node_stop(n);
        return;
    }
    *w = (struct drain_wait){op, n};
    gateway_link_drain(n->sup->gateway, n->group, n->index, n->group->drain_us, on_drained, w);
}

static void on_admitted(void *data)
{
    struct sup_op *op = data;
    if (--op->pending == 0) op_step(op);
}

/* Holds op until the gateway has n (started and ready) in rotation, or its ready timeout
 * passed: a rollout's next replica leaves only then. Nothing when no gateway runs. */
static void op_wait_admitted(struct sup_op *op, struct sup_node *n)
{
    if (!n->sup->gateway || n->state != SUP_READY) return;
    op->pending++;
    gateway_link_wait_admitted(n->sup->gateway, n->group, n->index, n->group->ready_timeout_us,
                               on_admitted, op);
}

static void op_shutdown_then_finish(struct sup_op *op);

static void op_step(struct sup_op *op)
{
    struct supervisor *sup = op->sup;
    peers_complete(sup); /* what the op started (a group, a scale-up) is up: peers in full */
    switch (op->kind) {
    case OP_UP:
        if (op->status) { /* a node failed: stop everything started, then report */
            op_shutdown_then_finish(op);
            return;
        }
        while (op->cursor < sup->spec->group_count && op->pending == 0) {
            struct cluster_group *g = &sup->spec->groups[op->cursor++];
            struct sup_node **list = calloc((size_t)g->replicas + 1, sizeof *list);
            size_t k = 0;
            for (size_t i = 0; i < sup->count; i++)
                if (sup->nodes[i]->group == g) list[k++] = sup->nodes[i];
            op->pending++; /* hold the op while starting the group */
            op_start_nodes(op, list, k);
            free(list);
            if (--op->pending > 0) return;
            if (op->status) {
                op_shutdown_then_finish(op);
                return;
            }
        }
        if (op->pending == 0) op_finish(op);
        return;
    case OP_RESTART:
    case OP_ROLLOUT:
        if (op->status) {
            op_finish(op);
            return;
        }
        for (;;) {
            if (op->phase == 2) { /* back in the gateway's rotation before the next ones */
                op->phase = 0;
                op->pending++;
                for (size_t i = op->admit_first; i < op->cursor; i++)
                    op_wait_admitted(op, op->nodes[i]);
                if (--op->pending > 0) return;
            }
            size_t first = op->cursor; /* restart: 0, then past the end once started */
            size_t last = op->kind == OP_ROLLOUT ? op->cursor + 1 : op->node_count;
            if (first >= op->node_count) {
                op_finish(op);
                return;
            }
            if (sup->shutting_down || (sup->opts.interrupt && atomic_load(sup->opts.interrupt))) {
                /* the rest stays as it is */
                op_fail(op, 3, "%s: %zu of %zu replicas rolled",
                        sup->shutting_down ? "the cluster is shutting down" : "interrupted", first,
                        op->node_count);
                op_finish(op);
                return;
            }
            if (op->phase == 0) { /* stop them */
                op->phase = 1;
                op->pending++;
                for (size_t i = first; i < last; i++)
                    op_stop_node(op, op->nodes[i]);
                if (--op->pending > 0) return;
            }
            /* start them again */
            op->phase = 2;
            op->admit_first = first;
            op->pending++;
            op_start_nodes(op, op->nodes + first, last - first);
            op->cursor = last;
            if (--op->pending > 0) return;
            if (op->status) {
                op_finish(op);
                return;
            }
        }
    case OP_SCALE_DOWN:
        for (size_t i = 0; i < op->node_count; i++) {
            /* drained before its stop: the gateway keeps the slot in rotation for the replica a
             * later scale-up starts there (a stopped one is down by its checks meanwhile) */
            node_undrain(op->nodes[i]);
            node_destroy(op->nodes[i]);
        }
        op_finish(op);
        return;
    case OP_WAIT:
    case OP_SHUTDOWN:
        op_finish(op);
        return;
    }
}

static void on_failed_up_stopped(struct supervisor *sup, int status, const char *error, void *data)
{
    (void)sup;
    (void)status;
    (void)error;
    op_finish(data);
}

static void op_shutdown_then_finish(struct sup_op *op)
{
    if (op->sup->shutting_down) { /* the shutdown under way stops everything: report now */
        op_finish(op);
        return;
    }
    supervisor_shutdown(op->sup, on_failed_up_stopped, op);
}

/* ---- public calls ---- */

struct supervisor *supervisor_new(uv_loop_t *loop, struct cluster_spec *spec,
                                  const struct state_dir *st, const struct supervisor_opts *opts)
{
    struct supervisor *sup = calloc(1, sizeof *sup);
    if (!sup) return NULL;
    sup->loop = loop;
    sup->spec = spec;
    sup->st = *st;
    if (opts) sup->opts = *opts;
    snprintf(sup->self_exe, sizeof sup->self_exe, "%s",
             opts && opts->self_exe ? opts->self_exe : "herd");
    char root[PATH_MAX];
    const char *dir = realpath(st->root, root) && strlen(root) < STATE_PATH_MAX ? root : st->root;
    snprintf(sup->peers_dir, sizeof sup->peers_dir, "%.*s/peers", STATE_PATH_MAX - 1, dir);
    sup->gateway = gateway_link_new(loop, spec);
    uv_timer_init(loop, &sup->spawner);
    sup->spawner.data = sup;
    for (size_t g = 0; g < spec->group_count; g++)
        for (int i = 1; i <= spec->groups[g].replicas; i++)
            if (!node_new(sup, &spec->groups[g], i)) {
                supervisor_free(sup);
                return NULL;
            }
    return sup;
}

/* Refuses, naming the limit, a cluster that would run out of descriptors (which would leave
 * nodes that never become ready). */

static int fd_budget(size_t replicas, char *err, size_t errlen)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY) return 0;
    unsigned long long need = (unsigned long long)replicas * FDS_PER_REPLICA + FDS_RESERVED;
    if (need <= rl.rlim_cur) return 0;
    return err_set(err, errlen,
                   "%zu replicas need about %llu file descriptors in the supervisor "
                   "(%d each); the limit here is %llu: run fewer, or raise it (ulimit -n)",
                   replicas, need, FDS_PER_REPLICA, (unsigned long long)rl.rlim_cur);
}

void supervisor_up(struct supervisor *sup, sup_done_fn done, void *data)
{
    char err[ERR_SIZE];
    if (fd_budget(sup->count, err, sizeof err) < 0) {
        done(sup, 3, err, data);
        return;
    }
    for (size_t i = 0; i < sup->spec->group_count; i++) {
        const struct cluster_group *g = &sup->spec->groups[i];
        if (cluster_group_in_netns(g) && netns_group_up(g->base_port, err, sizeof err) < 0) {
            done(sup, 3, err, data);
            return;
        }
    }
    struct sup_op *op = op_new(sup, OP_UP, done, data);
    if (!op) {
        done(sup, 3, "out of memory", data);
        return;
    }
    op_step(op);
}

static int op_with_nodes(struct sup_op *op, struct sup_node **nodes, size_t count)
{
    op->nodes = calloc(count ? count : 1, sizeof *op->nodes);
    if (!op->nodes) return -1;
    memcpy(op->nodes, nodes, count * sizeof *nodes);
    op->node_count = count;
    return 0;
}

int supervisor_node_action(struct supervisor *sup, const char *id, const char *action,
                           sup_done_fn done, void *data, char *err, size_t errlen)
{
    struct sup_node *n = node_find(sup, id);
    if (!n) return err_set(err, errlen, "no node '%s' in this cluster", id);
    if (n->waiter) return err_set(err, errlen, "%s is busy with another operation", id);
    bool alive = node_alive(n);
    if (strcmp(action, "restart") == 0) {
        struct sup_op *op = op_new(sup, OP_RESTART, done, data);
        if (!op || op_with_nodes(op, &n, 1) < 0) {
            free(op);
            return err_set(err, errlen, "out of memory");
        }
        op_step(op);
        return 0;
    }
    char note[200]; /* the node is already where the action would put it: done, with a note */
    snprintf(note, sizeof note, "%s is already %s", id,
             n->state == SUP_PAUSED ? "paused" : n->state == SUP_STOPPED ? "stopped" : "running");
    if (strcmp(action, "stop") == 0 && n->state == SUP_STOPPED && !alive) {
        done(sup, 0, note, data);
        return 0;
    }
    if (strcmp(action, "stop") == 0) {
        struct sup_op *op = op_new(sup, OP_WAIT, done, data);
        if (!op) return err_set(err, errlen, "out of memory");
        op_wait_for(op, n, SUP_STOPPED);
        node_stop(n);
        return 0;
    }
    int sig = strcmp(action, "kill") == 0     ? SIGKILL
              : strcmp(action, "pause") == 0  ? SIGSTOP
              : strcmp(action, "resume") == 0 ? SIGCONT
                                              : 0;
    if (!sig)
        return err_set(err, errlen,
                       "unknown action '%s', expected kill, stop, pause, resume or restart",
                       action);
    if (!alive) return err_set(err, errlen, "%s is not running (%s)", id, sup_state_name(n->state));
    if ((sig == SIGSTOP) == (n->state == SUP_PAUSED) && sig != SIGKILL) {
        done(sup, 0, note, data);
        return 0;
    }
    if (sig == SIGKILL) { /* answered once the process is gone */
        struct sup_op *op = op_new(sup, OP_WAIT, done, data);
        if (!op) return err_set(err, errlen, "out of memory");
        op_wait_for(op, n, SUP_EXITED);
        signal_node(n, sig);
        return 0;
    }
    signal_node(n, sig);
    if (sig == SIGSTOP)
        n->state = SUP_PAUSED;
    else if (sig == SIGCONT)
        n->state =
            n->ready_after_ms || n->group->health == CLUSTER_HEALTH_NONE ? SUP_READY : SUP_STARTING;
    done(sup, 0, "", data);
    return 0;
}

int supervisor_scale(struct supervisor *sup, const char *group, int replicas, sup_done_fn done,
                     void *data, char *err, size_t errlen)
{
    struct cluster_group *g = cluster_spec_group(sup->spec, group);
    if (!g) return err_set(err, errlen, "no group '%s' in this cluster", group);
    if (replicas < 0 || replicas > 10000)
        return err_set(err, errlen, "replicas: expected 0 to 10000");
    if (g->ports && (size_t)replicas > g->port_count)
        return err_set(err, errlen, "group %s lists %zu ports: it cannot have %d replicas", group,
                       g->port_count, replicas);
    if (!g->ports && g->base_port && g->base_port + replicas - 1 > 65535)
        return err_set(err, errlen, "group %s: replica %d would get a port above 65535", group,
                       replicas);
    for (size_t i = 0; i < sup->count; i++)
        if (sup->nodes[i]->group == g && sup->nodes[i]->waiter)
            return err_set(err, errlen, "%s is busy with another operation", sup->nodes[i]->id);
    int current = g->replicas;
    if (replicas > current && fd_budget(sup->count + (size_t)(replicas - current), err, errlen) < 0)
        return -1;
    struct sup_node **list =
        calloc((size_t)(current > replicas ? current : replicas) + 1, sizeof *list);
    size_t k = 0;
    struct sup_op *op = op_new(sup, replicas >= current ? OP_WAIT : OP_SCALE_DOWN, done, data);
    if (!list || !op) {
        free(list);
        free(op);
        return err_set(err, errlen, "out of memory");
    }
    if (replicas >= current) {
        for (int i = current + 1; i <= replicas; i++)
            if ((list[k] = node_new(sup, g, i))) k++;
        g->replicas = replicas;
        group_peers_write(sup, g); /* the running replicas read the new ones too */
        op->pending++;
        op_start_nodes(op, list, k);
    } else {
        for (size_t i = 0; i < sup->count; i++)
            if (sup->nodes[i]->group == g && sup->nodes[i]->index > replicas)
                list[k++] = sup->nodes[i];
        g->replicas = replicas;
        group_peers_write(sup, g); /* the replicas that stay stop reading those that go */
        op_with_nodes(op, list, k);
        op->pending++;
        for (size_t i = 0; i < k; i++) {
            gateway_link_remove(sup->gateway, g, list[i]->index); /* out of rotation first */
            op_stop_node(op, list[i]);
        }
    }
    free(list);
    if (--op->pending == 0) op_step(op);
    return 0;
}

int supervisor_restart_group(struct supervisor *sup, const char *group, bool rolling,
                             sup_done_fn done, void *data, char *err, size_t errlen)
{
    struct cluster_group *g = cluster_spec_group(sup->spec, group);
    if (!g) return err_set(err, errlen, "no group '%s' in this cluster", group);
    struct sup_node **list = calloc(sup->count + 1, sizeof *list);
    size_t k = 0;
    for (size_t i = 0; list && i < sup->count; i++) {
        if (sup->nodes[i]->group != g) continue;
        if (sup->nodes[i]->waiter) {
            free(list);
            return err_set(err, errlen, "%s is busy with another operation", sup->nodes[i]->id);
        }
        list[k++] = sup->nodes[i];
    }
    struct sup_op *op = list ? op_new(sup, rolling ? OP_ROLLOUT : OP_RESTART, done, data) : NULL;
    if (!op || op_with_nodes(op, list, k) < 0) {
        free(list);
        free(op);
        return err_set(err, errlen, "out of memory");
    }
    free(list);
    op_step(op);
    return 0;
}

void supervisor_shutdown(struct supervisor *sup, sup_done_fn done, void *data)
{
    sup->shutting_down = true;
    struct sup_op *op = op_new(sup, OP_SHUTDOWN, done, data);
    if (!op) {
        done(sup, 3, "out of memory", data);
        return;
    }
    op->pending++;
    for (size_t i = 0; i < sup->count; i++) {
        struct sup_node *n = sup->nodes[i];
        if (n->waiter) { /* whatever it was waiting for is moot now */
            struct sup_op *other = n->waiter;
            n->waiter = NULL;
            op_fail(other, 3, "%s: the cluster is shutting down", n->id);
            if (--other->pending == 0) op_step(other);
        }
        op_wait_for(op, n, SUP_STOPPED);
        node_stop(n);
    }
    if (--op->pending == 0) op_step(op);
}

void *supervisor_status_json(struct supervisor *sup)
{
    json_t *nodes = json_array();
    uint64_t now = now_ms(sup);
    for (size_t i = 0; i < sup->count; i++) {
        struct sup_node *n = sup->nodes[i];
        const char *health = n->group->health == CLUSTER_HEALTH_NONE ? "none"
                             : !n->proc || !n->health_seen           ? "-"
                             : n->health_ok                          ? "ok"
                                                                     : "failing";
        json_array_append_new(
            nodes,
            json_pack("{s:s, s:s, s:i, s:i, s:i, s:s, s:f, s:i, s:f, s:s, s:s, s:i, s:i, s:I}",
                      "id", n->id, "group", n->group->name, "index", n->index, "pid",
                      n->proc ? (int)n->pid : 0, "port", n->port, "state", sup_state_name(n->state),
                      "uptime_s", n->proc ? (double)(now - n->spawned_ms) / 1000 : 0.0, "restarts",
                      (int)n->restarts, "ready_ms", (double)n->ready_after_ms, "health", health,
                      "health_error", n->health_error, "exit_code", n->exit_code, "signal",
                      n->term_signal, "rss_kb", (json_int_t)(n->proc ? proc_rss_kb(n->pid) : 0)));
        char host[40];
        cluster_group_host(n->group, n->index, host, sizeof host);
        json_object_set_new(json_array_get(nodes, json_array_size(nodes) - 1), "host",
                            json_string(host));
    }
    return json_pack("{s:s, s:i, s:s, s:o}", "name", sup->spec->name, "supervisor_pid",
                     (int)getpid(), "state_dir", sup->st.root, "nodes", nodes);
}

void supervisor_free(struct supervisor *sup)
{
    if (!sup) return;
    while (sup->count > 0)
        node_destroy(sup->nodes[sup->count - 1]);
    gateway_link_free(sup->gateway);
    uv_close((uv_handle_t *)&sup->spawner, NULL);
    uv_run(sup->loop, UV_RUN_NOWAIT); /* run the close callbacks of the nodes' handles */
    lifeline_close(sup->lifeline);    /* a replica still running now goes with the guard */
    for (size_t i = 0; i < sup->spec->group_count; i++)
        if (cluster_group_in_netns(&sup->spec->groups[i]))
            netns_group_down(sup->spec->groups[i].base_port, NETNS_MAX_REPLICAS);
    free(sup->nodes);
    free(sup->queue);
    free(sup);
}
