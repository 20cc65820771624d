/* state.h -- the supervisor's state directory (.herd/ by default): pid files, logs, the
 * control socket; and the /proc checks that make acting on a pid file safe.
 *
 * A pid file records the pid AND the process's start time (/proc/PID/stat field 22), so a
 * recycled pid is never taken for the process that wrote it: herd signals only processes it
 * started. Every file is written to a temporary name and renamed, so a kill at any moment
 * leaves either the old file or the new one. */
#ifndef HERD_CLUSTER_STATE_H
#define HERD_CLUSTER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STATE_PATH_MAX 512

struct state_dir {
    char root[STATE_PATH_MAX]; /* ".herd" */
};

struct state_pid {
    pid_t pid;
    uint64_t starttime; /* clock ticks after boot */
    int port;
    char id[80]; /* node id, "" for the supervisor */
};

/* root: a directory path, or NULL for $HERD_STATE_DIR or ".herd". Creates it and logs/,
 * pids/, peers/. Returns 0 or -1 with a message. */
int state_open(struct state_dir *st, const char *root, char *err, size_t errlen);

/* As state_open for a cluster that should be running there (status, down, logs, the fault
 * verbs): creates nothing. Returns 0, 1 when the directory does not exist (no cluster ever
 * ran there; st->root names it), or -1 with a message. */
int state_attach(struct state_dir *st, const char *root, char *err, size_t errlen);

/* Path of a file in the state directory ("control.sock", "logs/api.1.log"...). */
void state_path(const struct state_dir *st, const char *name, char *out, size_t size);

/* Writes len bytes of data to path through path.tmp and a rename, so a reader sees the old
 * content or the new, never a part. Returns 0 or -1 (errno says why). */
int state_file_write(const char *path, const char *data, size_t len);

/* Writes pids/<id>.pid (or supervisor.pid when id is NULL) for pid, with its start time.
 * Returns 0 or -1. */
int state_pid_write(const struct state_dir *st, const char *id, pid_t pid, int port);
void state_pid_remove(const struct state_dir *st, const char *id);

/* Reads the supervisor's pid file. Returns 0 when it exists and parses. */
int state_pid_read_supervisor(const struct state_dir *st, struct state_pid *out);

/* Reads every node pid file into a malloc'd array (*count entries). Returns 0 or -1. */
int state_pid_list(const struct state_dir *st, struct state_pid **out, size_t *count);

/* The start time of pid from /proc, or 0 when it does not exist (or is a zombie). */
uint64_t proc_starttime(pid_t pid);

/* True when pid is alive and is the process recorded (same start time). Never for pid 1 or
 * less, nor for the calling process. */
bool proc_is(pid_t pid, uint64_t starttime);

/* True when the process a pid file names is alive and one herd started, so one herd may
 * signal: proc_is (pid > 1, same start time) and, for the supervisor (an empty id), the herd
 * executable (a file name that starts with "herd", or the caller's); for a replica, the leader of its own session
 * (herd starts every replica with setsid), so that its process group is its own. */
bool state_pid_alive(const struct state_pid *p);

/* kill(-pgid, sig), refused (-1, EINVAL) for pgid 1 or less and for the caller's own group:
 * kill(-1) and kill(0) would reach far more than one replica. Returns kill's result. */
int proc_kill_group(pid_t pgid, int sig);

/* Takes an exclusive lock (flock) on the state directory's "lock" file, held until the process
 * and every child forked without exec exit (the descriptor is close-on-exec). Returns the
 * descriptor (the caller keeps it open), or -1 with a message: another herd up holds it
 * (errno EWOULDBLOCK) or the file cannot be opened. */
int state_lock(const struct state_dir *st, char *err, size_t errlen);

/* Moves each logs/<id>.log of an earlier cluster to logs/<id>.log.1 (replacing the one before),
 * so that the logs hold only the lines of the cluster about to start. For herd up, with the
 * lock held and no cluster running. Returns 0 or -1 with a message. */
int state_logs_rotate(const struct state_dir *st, char *err, size_t errlen);

/* Resident memory of pid in kB, or -1. */
long proc_rss_kb(pid_t pid);

/* Seconds since boot now (for uptimes from start times). */
double proc_uptime_of(uint64_t starttime);

#endif
