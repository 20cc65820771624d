/* gateway.c -- the gateway: the registry and T proxy loops sharing the port (gateway_open),
 * and gateway_run's threads and main loop with the health checks, TTL expiry and slow start. */
#include "cluster/gateway.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mtime.h"
#include "cluster/gateway_int.h"
#include "cluster/health.h"

#define TICK_MS 100

struct gateway_main {
    struct gateway *gw;
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    uv_timer_t tick;
    struct health health;
};

static void on_tick(uv_timer_t *timer)
{
    struct gateway_main *m = timer->data;
    registry_tick(&m->gw->reg, mtime_now_ms());
    health_sync(&m->health);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct gateway_main *m = sig->data;
    log_info("%s: stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
    health_stop(&m->health);
    uv_close((uv_handle_t *)&m->sigint, NULL);
    uv_close((uv_handle_t *)&m->sigterm, NULL);
    uv_close((uv_handle_t *)&m->tick, NULL);
    gateway_stop(m->gw);
}

/* Frees threads [0, made) and what they set up: a loop that never ran (or was not run to its
 * end) is stopped and run here, so that its handles close. */
static void close_threads(struct gateway *gw, int made)
{
    for (int k = 0; k < made; k++) {
        struct gw_thread *t = &gw->threads[k];
        if (uv_loop_alive(&t->loop)) {
            atomic_store(&gw->stop, true);
            uv_async_send(&t->wake);
            uv_run(&t->loop, UV_RUN_DEFAULT);
        }
        uv_loop_close(&t->loop);
        gw_thread_free(t);
    }
    free(gw->threads);
    gw_schedules_free(gw);
}

struct gateway *gateway_open(const struct gateway_opts *o, char *err, size_t errlen)
{
    struct gateway *gw = calloc(1, sizeof *gw);
    if (!gw ||
        registry_init(&gw->reg, o->ttl_us / 1000, o->slowstart_us / 1000, o->rise, o->fall) < 0) {
        free(gw);
        err_set(err, errlen, "out of memory");
        return NULL;
    }
    gw->opts = *o;
    if (!o->seed_set) gw->opts.seed = balancer_seed_random(); /* printed: a run replays with it */
    memcpy(gw->reg.networks, o->allow_register, sizeof gw->reg.networks);
    gw->reg.network_count = o->allow_register_count;
    char why[256];
    for (size_t i = 0; i < o->node_count; i++) {
        const struct gateway_node_spec *n = &o->nodes[i];
        int index = registry_add(&gw->reg, n->id, n->host, n->port, n->weight, REGISTRY_STATIC,
                                 NULL, why, sizeof why);
        if (index < 0) {
            err_set(err, errlen, "node %s: %s", n->id, why);
            goto out_registry;
        }
        registry_set_group(&gw->reg, index, n->group);
    }
    gw->thread_count = o->threads;
    gw->threads = calloc((size_t)o->threads, sizeof *gw->threads);
    if (!gw->threads) {
        err_set(err, errlen, "out of memory");
        goto out_registry;
    }
    int made = 0;
    /* several threads share the port with SO_REUSEPORT, which would also let this gateway
     * share it with another process: make sure nobody holds it first */
    if (o->threads > 1 && o->port && http_port_check_free(o->host, o->port, err, errlen) < 0)
        goto out_threads;
    for (; made < o->threads; made++) {
        struct gw_thread *t = &gw->threads[made];
        if (gw_thread_setup(t, gw, made) < 0) {
            err_set(err, errlen, "cannot set up thread %d", made);
            goto out_threads;
        }
        int port = made == 0 ? o->port : gw->port;
        if (http_server_listen(t->srv, o->host, port, err, errlen) < 0) {
            made++;
            goto out_threads;
        }
        gw->port = http_server_port(t->srv);
    }
    return gw;
out_threads:
    close_threads(gw, made);
out_registry:
    registry_free(&gw->reg);
    free(gw);
    return NULL;
}

uv_loop_t *gateway_loop(struct gateway *gw, int thread)
{
    return &gw->threads[thread].loop;
}

int gateway_port(const struct gateway *gw)
{
    return gw->port;
}

void gateway_stop(struct gateway *gw)
{
    atomic_store(&gw->stop, true);
    for (int k = 0; k < gw->thread_count; k++)
        uv_async_send(&gw->threads[k].wake);
}

void gateway_close(struct gateway *gw)
{
    close_threads(gw, gw->thread_count);
    registry_free(&gw->reg);
    free(gw);
}

static void run_thread(void *arg)
{
    uv_run(arg, UV_RUN_DEFAULT);
}

int gateway_run(const struct gateway_opts *o)
{
    signal(SIGPIPE, SIG_IGN);
    char err[256];
    struct gateway_main *m = calloc(1, sizeof *m);
    struct gateway *gw = m ? gateway_open(o, err, sizeof err) : NULL;
    if (!gw) {
        log_error("%s", m ? err : "out of memory");
        free(m);
        return 3;
    }
    m->gw = gw;
    uv_loop_init(&m->loop);
    health_init(&m->health, &m->loop, &gw->reg, o);
    health_sync(&m->health);
    uv_signal_init(&m->loop, &m->sigint);
    uv_signal_init(&m->loop, &m->sigterm);
    m->sigint.data = m->sigterm.data = m;
    uv_signal_start(&m->sigint, on_signal, SIGINT);
    uv_signal_start(&m->sigterm, on_signal, SIGTERM);
    uv_timer_init(&m->loop, &m->tick);
    m->tick.data = m;
    uv_timer_start(&m->tick, on_tick, TICK_MS, TICK_MS);
    log_info("listening on %s:%d: %s (seed %llu), %d thread%s, %zu static node%s", o->host,
             gw->port, balancer_name(o->balance), (unsigned long long)gw->opts.seed, o->threads, o->threads == 1 ? "" : "s", o->node_count,
             o->node_count == 1 ? "" : "s");
    for (int k = 0; k < gw->thread_count; k++)
        uv_thread_create(&gw->threads[k].tid, run_thread, &gw->threads[k].loop);
    uv_run(&m->loop, UV_RUN_DEFAULT);
    for (int k = 0; k < gw->thread_count; k++)
        uv_thread_join(&gw->threads[k].tid);
    uv_loop_close(&m->loop);
    gateway_close(gw);
    free(m);
    return 0;
}
