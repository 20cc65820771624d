/* loop_call.c -- run a function on a loop's thread and wait (see loop_call.h). */
#include "base/loop_call.h"

static void on_call(uv_async_t *a)
{
    struct loop_call *lc = a->data;
    loop_call_fn fn = lc->fn;
    lc->fn = NULL;
    if (fn) fn(lc, lc->arg);
}

int loop_call_init(struct loop_call *lc, uv_loop_t *loop)
{
    int rc = uv_async_init(loop, &lc->async, on_call);
    if (rc < 0) return rc;
    lc->async.data = lc;
    lc->fn = NULL;
    uv_mutex_init(&lc->lock);
    uv_sem_init(&lc->done, 0);
    return 0;
}

void loop_call_run(struct loop_call *lc, loop_call_fn fn, void *arg)
{
    uv_mutex_lock(&lc->lock);
    lc->fn = fn;
    lc->arg = arg;
    uv_async_send(&lc->async);
    uv_sem_wait(&lc->done);
    uv_mutex_unlock(&lc->lock);
}

void loop_call_done(struct loop_call *lc)
{
    uv_sem_post(&lc->done);
}

void loop_call_close(struct loop_call *lc)
{
    if (!uv_is_closing((uv_handle_t *)&lc->async)) uv_close((uv_handle_t *)&lc->async, NULL);
}

void loop_call_destroy(struct loop_call *lc)
{
    uv_mutex_destroy(&lc->lock);
    uv_sem_destroy(&lc->done);
}
