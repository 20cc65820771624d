/* gateway.c -- runs the gateway: the registry, T proxy threads sharing the port, and the
 * main loop with the health checks, TTL expiry and slow start. */
#include "cluster/gateway.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    atomic_store(&m->gw->stop, true);
    health_stop(&m->health);
    uv_close((uv_handle_t *)&m->sigint, NULL);
    uv_close((uv_handle_t *)&m->sigterm, NULL);
    uv_close((uv_handle_t *)&m->tick, NULL);
    for (int k = 0; k < m->gw->thread_count; k++)
        uv_async_send(&m->gw->threads[k].wake);
}

int gateway_run(const struct gateway_opts *o)
{
    signal(SIGPIPE, SIG_IGN);
    int rc = 3;
    struct gateway *gw = calloc(1, sizeof *gw);
    struct gateway_main *m = calloc(1, sizeof *m);
    if (!gw || !m || registry_init(&gw->reg, o->ttl_us / 1000, o->slowstart_us / 1000, o->rise,
                                   o->fall) < 0) {
        log_error("out of memory");
        free(gw);
        free(m);
        return 3;
    }
    gw->opts = *o;
    memcpy(gw->reg.networks, o->allow_register, sizeof gw->reg.networks);
    gw->reg.network_count = o->allow_register_count;
    m->gw = gw;
    char err[256];
    for (size_t i = 0; i < o->node_count; i++) {
        const struct gateway_node_spec *n = &o->nodes[i];
        int index = registry_add(&gw->reg, n->id, n->host, n->port, n->weight, REGISTRY_STATIC,
                                 NULL, err, sizeof err);
        if (index < 0) {
            log_error("node %s: %s", n->id, err);
            goto out_registry;
        }
        registry_set_group(&gw->reg, index, n->group);
    }
    gw->thread_count = o->threads;
    gw->threads = calloc((size_t)o->threads, sizeof *gw->threads);
    if (!gw->threads) goto out_registry;
    int made = 0;
    /* several threads share the port with SO_REUSEPORT, which would also let this gateway
     * share it with another process: make sure nobody holds it first */
    if (o->threads > 1 && o->port && http_port_check_free(o->host, o->port, err, sizeof err) < 0) {
        log_error("%s", err);
        goto out_threads;
    }
    for (; made < o->threads; made++) {
        struct gw_thread *t = &gw->threads[made];
        if (gw_thread_setup(t, gw, made) < 0) {
            log_error("cannot set up thread %d", made);
            goto out_threads;
        }
        int port = made == 0 ? o->port : gw->port;
        if (http_server_listen(t->srv, o->host, port, err, sizeof err) < 0) {
            log_error("%s", err);
            made++;
            goto out_threads;
        }
        gw->port = http_server_port(t->srv);
    }
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
    log_info("listening on %s:%d: %s, %d thread%s, %zu static node%s", o->host, gw->port,
             balancer_name(o->balance), o->threads, o->threads == 1 ? "" : "s", o->node_count,
             o->node_count == 1 ? "" : "s");
    for (int k = 0; k < gw->thread_count; k++)
        uv_thread_create(&gw->threads[k].tid, gw_thread_main, &gw->threads[k]);
    uv_run(&m->loop, UV_RUN_DEFAULT);
    for (int k = 0; k < gw->thread_count; k++)
        uv_thread_join(&gw->threads[k].tid);
    uv_loop_close(&m->loop);
    rc = 0;
    made = gw->thread_count;
out_threads:
    for (int k = 0; k < made; k++) {
        struct gw_thread *t = &gw->threads[k];
        if (rc != 0) { /* never ran: close what setup opened */
            atomic_store(&gw->stop, true);
            uv_async_send(&t->wake);
            uv_run(&t->loop, UV_RUN_DEFAULT);
        }
        uv_loop_close(&t->loop);
        gw_thread_free(t);
    }
    free(gw->threads);
out_registry:
    registry_free(&gw->reg);
    free(gw);
    free(m);
    return rc;
}
