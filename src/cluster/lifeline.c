/* lifeline.c -- replicas die with their supervisor (see lifeline.h). */
#include "cluster/lifeline.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"

#define RECORD_MAX 32 /* "+PID" or "-PID" */

int lifeline_exec(pid_t parent, char *const argv[], char *err, size_t errlen)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        return err_set(err, errlen, "cannot set the parent-death signal: %s", strerror(errno));
    /* a parent that died between the fork and the prctl sends nothing: look */
    if (getppid() != parent)
        return err_set(err, errlen, "the supervisor (pid %d) is gone", (int)parent);
    execvp(argv[0], argv);
    return err_set(err, errlen, "cannot run %s: %s", argv[0], strerror(errno));
}

size_t lifeline_guard_run(int fd)
{
    pid_t *groups = NULL;
    size_t count = 0, cap = 0;
    char record[RECORD_MAX];
    for (;;) {
        ssize_t n = read(fd, record, sizeof record - 1); /* one record per read (SEQPACKET) */
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* the supervisor's end is closed: it is gone */
        record[n] = '\0';
        long pid = strtol(record + 1, NULL, 10);
        if (pid <= 1) continue; /* kill(-1) would reach every process we may signal */
        if (record[0] == '+') {
            if (count == cap) {
                size_t grown_cap = cap ? cap * 2 : 64;
                pid_t *grown = realloc(groups, grown_cap * sizeof *grown);
                if (!grown) continue;
                groups = grown;
                cap = grown_cap;
            }
            groups[count++] = (pid_t)pid;
        } else if (record[0] == '-') {
            for (size_t i = 0; i < count; i++)
                if (groups[i] == (pid_t)pid) {
                    groups[i] = groups[--count];
                    break;
                }
        }
    }
    for (size_t i = 0; i < count; i++)
        if (groups[i] > 1 && groups[i] != getpgrp()) kill(-groups[i], SIGKILL); /* never kill(-1), kill(0) */
    free(groups);
    return count;
}

/* ---- the supervisor's side ---- */

struct lifeline {
    uv_process_t process; /* the guard */
    int fd;               /* our end of its socket; -1 once closed */
    bool exited;          /* its exit was collected */
    bool handle_closed;
    bool released; /* lifeline_close was called */
};

static void lifeline_free_when_done(struct lifeline *l)
{
    if (l->released && l->handle_closed) free(l);
}

static void on_guard_closed(uv_handle_t *h)
{
    struct lifeline *l = h->data;
    l->handle_closed = true;
    lifeline_free_when_done(l);
}

static void on_guard_exit(uv_process_t *p, int64_t exit_status, int term_signal)
{
    struct lifeline *l = p->data;
    l->exited = true;
    if (!l->released)
        log_warn("the replicas' guard (pid %d) %s %d", (int)p->pid,
                 term_signal ? "was killed by signal" : "exited with code",
                 term_signal ? term_signal : (int)exit_status);
    uv_close((uv_handle_t *)p, on_guard_closed);
}

struct lifeline *lifeline_start(uv_loop_t *loop, const char *self_exe, char *err, size_t errlen)
{
    int sv[2];
    /* SEQPACKET: a record per send, whole or not at all, and EOF when our end closes */
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return err_set(err, errlen, "cannot start the replicas' guard: %s", strerror(errno)), NULL;
    struct lifeline *l = calloc(1, sizeof *l);
    if (!l) {
        close(sv[0]);
        close(sv[1]);
        return err_set(err, errlen, "out of memory"), NULL;
    }
    l->fd = sv[0];
    l->process.data = l;
    char *args[] = {(char *)self_exe, "__guard", NULL};
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_INHERIT_FD, .data.fd = sv[1]},
        {.flags = UV_IGNORE},
        {.flags = UV_IGNORE},
    };
    /* its own session: a signal to the supervisor's process group (Ctrl-C, a job control
     * kill) does not take the guard with it */
    uv_process_options_t o = {.file = self_exe,
                              .args = args,
                              .exit_cb = on_guard_exit,
                              .flags = UV_PROCESS_DETACHED,
                              .stdio_count = 3,
                              .stdio = stdio};
    int rc = uv_spawn(loop, &l->process, &o);
    close(sv[1]);
    if (rc < 0) {
        close(l->fd);
        l->fd = -1;
        l->exited = l->released = true;
        uv_close((uv_handle_t *)&l->process, on_guard_closed);
        return err_set(err, errlen, "cannot start the replicas' guard (%s __guard): %s", self_exe,
                       uv_strerror(rc)),
               NULL;
    }
    uv_unref((uv_handle_t *)&l->process); /* it must not keep the supervisor's loop running */
    return l;
}

bool lifeline_alive(const struct lifeline *l)
{
    return l && !l->exited;
}

static void lifeline_send(struct lifeline *l, char op, pid_t pid)
{
    if (!lifeline_alive(l) || l->fd < 0) return;
    char record[RECORD_MAX];
    int len = snprintf(record, sizeof record, "%c%d", op, (int)pid);
    if (send(l->fd, record, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        log_warn("the replicas' guard missed %s pid %d: %s",
                 op == '+' ? "the start of" : "the end of", (int)pid, strerror(errno));
}

void lifeline_track(struct lifeline *l, pid_t pid)
{
    lifeline_send(l, '+', pid);
}

void lifeline_untrack(struct lifeline *l, pid_t pid)
{
    lifeline_send(l, '-', pid);
}

void lifeline_close(struct lifeline *l)
{
    if (!l) return;
    if (l->fd >= 0) close(l->fd);
    l->fd = -1;
    l->released = true;
    if (!l->exited) uv_ref((uv_handle_t *)&l->process); /* the loop now waits for its exit */
    lifeline_free_when_done(l);
}
