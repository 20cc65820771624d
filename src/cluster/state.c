/* state.c -- the supervisor's state directory and /proc checks (see state.h). */
#include "cluster/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"

/* The state directory root names: the given one, else $HERD_STATE_DIR, else ".herd". */
static int state_root(struct state_dir *st, const char *root, char *err, size_t errlen)
{
    if (!root || !*root)
        root = getenv("HERD_STATE_DIR");
    if (!root || !*root)
        root = ".herd";
    if (strlen(root) > STATE_PATH_MAX - 64)
        return err_set(err, errlen, "state directory '%s': path too long", root);
    snprintf(st->root, sizeof st->root, "%s", root);
    return 0;
}

/* Creates st->root and its logs/, pids/, peers/ where missing. */
static int make_dirs(const struct state_dir *st, char *err, size_t errlen)
{
    char path[STATE_PATH_MAX];
    static const char *const dirs[] = {"", "/logs", "/pids", "/peers"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, sizeof path, "%s%s", st->root, dirs[i]);
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            return err_set(err, errlen, "cannot create %s: %s", path, strerror(errno));
    }
    return 0;
}

int state_attach(struct state_dir *st, const char *root, char *err, size_t errlen)
{
    if (state_root(st, root, err, errlen) < 0) return -1;
    struct stat sb;
    if (stat(st->root, &sb) < 0 && errno == ENOENT) return 1;
    return make_dirs(st, err, errlen);
}

int state_open(struct state_dir *st, const char *root, char *err, size_t errlen)
{
    if (state_root(st, root, err, errlen) < 0) return -1;
    return make_dirs(st, err, errlen);
}

void state_path(const struct state_dir *st, const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", st->root, name);
}

static void pid_path(const struct state_dir *st, const char *id, char *out, size_t size)
{
    if (id)
        snprintf(out, size, "%s/pids/%s.pid", st->root, id);
    else
        snprintf(out, size, "%s/supervisor.pid", st->root);
}

uint64_t proc_starttime(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the command name may hold spaces and parentheses: fields start after the last ')' */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    char state = 0;
    unsigned long long start = 0;
    /* after ')': state(3) ... starttime is field 22 */
    if (sscanf(p + 2, "%c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu",
               &state, &start) != 2)
        return 0;
    return state == 'Z' || state == 'X' ? 0 : (uint64_t)start;
}

bool proc_is(pid_t pid, uint64_t starttime)
{
    return pid > 1 && pid != getpid() && starttime && proc_starttime(pid) == starttime;
}

/* The session of pid (/proc/PID/stat field 6), or 0. */
static pid_t proc_session(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    int session = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %d", &session) != 1) return 0;
    return (pid_t)session;
}

/* The file name of pid's executable (" (deleted)" dropped: herd rebuilt since), or false. */
static bool proc_exe_name(pid_t pid, char *out, size_t size)
{
    char path[64], target[1024];
    if (pid > 0)
        snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/exe");
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0) return false;
    target[n] = '\0';
    char *deleted = strstr(target, " (deleted)");
    if (deleted && deleted[10] == '\0') *deleted = '\0';
    const char *base = strrchr(target, '/');
    base = base ? base + 1 : target;
    size_t len = strlen(base) < size ? strlen(base) : size - 1; /* cut to the caller's size */
    memcpy(out, base, len);
    out[len] = '\0';
    return true;
}

bool state_pid_alive(const struct state_pid *p)
{
    if (!proc_is(p->pid, p->starttime)) return false;
    if (p->id[0]) return proc_session(p->pid) == p->pid;
    /* the caller's executable, or one named herd-something (a copy, a renamed build) */
    char theirs[256], ours[256];
    if (!proc_exe_name(p->pid, theirs, sizeof theirs)) return false;
    return strncmp(theirs, "herd", 4) == 0 ||
           (proc_exe_name(0, ours, sizeof ours) && strcmp(theirs, ours) == 0);
}

int proc_kill_group(pid_t pgid, int sig)
{
    if (pgid <= 1 || pgid == getpgrp()) {
        errno = EINVAL;
        return -1;
    }
    return kill(-pgid, sig);
}

int state_lock(const struct state_dir *st, char *err, size_t errlen)
{
    char path[STATE_PATH_MAX + 16];
    state_path(st, "lock", path, sizeof path);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return err_set(err, errlen, "cannot open %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        if (saved == EWOULDBLOCK)
            return err_set(err, errlen, "a cluster is already running on %s (another herd up holds %s)",
                           st->root, path);
        return err_set(err, errlen, "cannot lock %s: %s", path, strerror(saved));
    }
    return fd;
}

long proc_rss_kb(pid_t pid)
{
    /* statm's second field, resident pages (VmRSS): one short line, where status has fifty
     * for the kernel to format (herd status reads it for each of thousands of replicas) */
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t len = read(fd, line, sizeof line - 1);
    close(fd);
    long size, pages;
    if (len <= 0)
        return -1;
    line[len] = '\0';
    if (sscanf(line, "%ld %ld", &size, &pages) != 2)
        return -1;
    return pages * (sysconf(_SC_PAGESIZE) / 1024);
}

double proc_uptime_of(uint64_t starttime)
{
    FILE *f = fopen("/proc/uptime", "r");
    double up = 0;
    if (f) {
        if (fscanf(f, "%lf", &up) != 1)
            up = 0;
        fclose(f);
    }
    double started = (double)starttime / (double)sysconf(_SC_CLK_TCK);
    return up > started ? up - started : 0;
}

int state_file_write(const char *path, const char *data, size_t len)
{
    char tmp[STATE_PATH_MAX + 400];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    bool ok = fwrite(data, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
        return -1;
    }
    return 0;
}

int state_pid_write(const struct state_dir *st, const char *id, pid_t pid, int port)
{
    char path[STATE_PATH_MAX + 16], line[160];
    pid_path(st, id, path, sizeof path);
    int len = snprintf(line, sizeof line, "%d %llu %d %s\n", (int)pid,
                       (unsigned long long)proc_starttime(pid), port, id ? id : "");
    return state_file_write(path, line, len < (int)sizeof line ? (size_t)len : sizeof line - 1);
}

void state_pid_remove(const struct state_dir *st, const char *id)
{
    char path[STATE_PATH_MAX + 16];
    pid_path(st, id, path, sizeof path);
    unlink(path);
}

static int pid_read(const char *path, struct state_pid *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    memset(out, 0, sizeof *out);
    int pid;
    unsigned long long start;
    int n = fscanf(f, "%d %llu %d %79s", &pid, &start, &out->port, out->id);
    fclose(f);
    if (n < 3 || pid <= 0)
        return -1;
    out->pid = pid;
    out->starttime = start;
    return 0;
}

int state_pid_read_supervisor(const struct state_dir *st, struct state_pid *out)
{
    char path[STATE_PATH_MAX + 16];
    pid_path(st, NULL, path, sizeof path);
    return pid_read(path, out);
}

int state_pid_list(const struct state_dir *st, struct state_pid **out, size_t *count)
{
    char dir[STATE_PATH_MAX + 8];
    snprintf(dir, sizeof dir, "%s/pids", st->root);
    *out = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    size_t cap = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".pid") != 0)
            continue;
        char path[STATE_PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct state_pid p;
        if (pid_read(path, &p) < 0)
            continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 16;
            struct state_pid *grown = realloc(*out, cap * sizeof **out);
            if (!grown) {
                closedir(d);
                return -1;
            }
            *out = grown;
        }
        (*out)[(*count)++] = p;
    }
    closedir(d);
    return 0;
}

int state_logs_rotate(const struct state_dir *st, char *err, size_t errlen)
{
    char dir[STATE_PATH_MAX + 8];
    snprintf(dir, sizeof dir, "%s/logs", st->root);
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : err_set(err, errlen, "cannot read %s: %s", dir, strerror(errno));
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".log") != 0)
            continue;
        char from[STATE_PATH_MAX + 300], to[STATE_PATH_MAX + 304];
        snprintf(from, sizeof from, "%s/%s", dir, e->d_name);
        snprintf(to, sizeof to, "%s.1", from);
        if (rename(from, to) < 0 && rc == 0)
            rc = err_set(err, errlen, "cannot move %s aside: %s", from, strerror(errno));
    }
    closedir(d);
    return rc;
}
