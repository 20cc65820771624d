/* lifeline.h -- replicas die with their supervisor, even when it is SIGKILLed.
 *
 * Two mechanisms, both run through the herd binary itself:
 * - the exec wrapper (`herd __exec --parent PID -- PROGRAM ARGS...`), through which the
 *   supervisor spawns every replica: it sets the parent-death signal to SIGKILL, checks that
 *   its parent is still PID (it may have died between fork and prctl), and execs the replica
 *   in its place (same pid, same session). The kernel then kills the replica when the
 *   supervisor goes, whatever the way. Two limits: the signal fires when the *thread* that
 *   forked the replica exits, not the process (the supervisor's loop thread lives as long as
 *   the supervisor: the main thread of herd up, the cluster thread of herd test), and exec of
 *   a set-user-ID or file-capability program clears it;
 * - the guard (`herd __guard`), one process per supervisor in its own session, told over a
 *   socket on its stdin which process groups the live replicas lead. When the supervisor's
 *   end closes (it exited or was killed), it sends SIGKILL to each of those process groups,
 *   so what a replica started (a shell's background jobs, a worker pool) goes too, as it does
 *   when herd stops a replica.
 *
 * Descendants that left the replica's process group (setsid, setpgid) are not tracked. */
#ifndef HERD_CLUSTER_LIFELINE_H
#define HERD_CLUSTER_LIFELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <uv.h>

/* The exec wrapper: sets the parent-death signal, checks that the parent is still parent,
 * and execs argv[0] (searched in PATH) with argv and the environment. Returns only on
 * failure: -1 with a message (the parent is gone, or the exec failed). */
int lifeline_exec(pid_t parent, char *const argv[], char *err, size_t errlen);

/* The guard's body: reads "+PID" and "-PID" records (one process group more, one less) from
 * fd until the other end closes, then SIGKILLs every process group still listed. Returns
 * the number of groups signalled. */
size_t lifeline_guard_run(int fd);

struct lifeline;

/* Starts a guard (`self_exe __guard`) on loop. Returns it, or NULL with a message. The
 * caller closes it with lifeline_close. */
struct lifeline *lifeline_start(uv_loop_t *loop, const char *self_exe, char *err, size_t errlen);

/* True while the guard runs (false once it exited by itself: start another one). */
bool lifeline_alive(const struct lifeline *l);

/* Tells the guard that pid leads a process group to kill if the supervisor dies (add), or
 * no longer does (remove: it exited and was reaped). */
void lifeline_track(struct lifeline *l, pid_t pid);
void lifeline_untrack(struct lifeline *l, pid_t pid);

/* Closes the supervisor's end: the guard kills what is still tracked and exits. The memory is
 * freed once its exit is collected, so the loop must run after this (uv_run until no handle
 * is left, as at the end of any loop). NULL is accepted. */
void lifeline_close(struct lifeline *l);

#endif
