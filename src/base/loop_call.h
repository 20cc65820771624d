/* loop_call.h -- "run this on that loop and wait": another thread hands a function to a libuv
 * loop's thread and blocks until the function (or a callback it started, such as a
 * supervisor's completion) says it is done. One call at a time; callers on several threads
 * are served in turn. The one way herd's threads ask a loop they do not own for something. */
#ifndef HERD_BASE_LOOP_CALL_H
#define HERD_BASE_LOOP_CALL_H

#include <stdbool.h>

#include <uv.h>

struct loop_call;

/* Runs on the loop's thread; must end the call with loop_call_done (now or later). */
typedef void (*loop_call_fn)(struct loop_call *lc, void *arg);

struct loop_call {
    uv_async_t async;
    uv_mutex_t lock; /* one caller at a time */
    uv_sem_t done;
    loop_call_fn fn;
    void *arg;
};

/* Sets lc up on loop (call on the loop's thread, or before it runs). Returns 0 or a libuv
 * error. */
int loop_call_init(struct loop_call *lc, uv_loop_t *loop);

/* From any thread but the loop's: runs fn(lc, arg) on the loop's thread and returns once
 * loop_call_done(lc) was called. */
void loop_call_run(struct loop_call *lc, loop_call_fn fn, void *arg);

/* Ends the call in progress: its caller returns. Call once per call, on the loop's thread. */
void loop_call_done(struct loop_call *lc);

/* Closes lc's handle (on the loop's thread; the loop then runs the close); the lock and the
 * semaphore are destroyed by loop_call_destroy once the loop is done with it. */
void loop_call_close(struct loop_call *lc);
void loop_call_destroy(struct loop_call *lc);

#endif
