/* fuzz_http_gateway.c -- the gateway's request path (gateway_open: the proxy with its retries
 * and passive checks, and the admin API) fed one client's byte stream on loopback, with two
 * fake nodes on loopback whose answers the input picks: whole, 502, cut mid-body, chunked.
 * The answers must be well-formed HTTP/1.1 (an answer may be cut off: the gateway cuts a
 * node's broken one), the gateway must stop within 5 s once its client left, and the fake
 * nodes must then be left with no connection of the gateway's. A new gateway each input.
 *
 * Input: a mode byte (fuzz_client_from_byte; bit 7: admin changes need the token
 * "fuzz-token"), a setup byte (bits 0-2: balancer, modulo 6; bits 3-4: retries; bit 5: the
 * route /two/ goes to node up2's group; bit 6: one failure ejects a node; bit 7: hash balancing
 * keys on the X-Key header), two bytes of answers for the fake nodes (two bits each, in turn:
 * whole, 502, cut, chunked; a path /status/NNN is answered NNN), then the bytes the client
 * sends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/gateway.h"
#include "fuzz_http.h"
#include "fuzz_util.h"
#include "http/server.h"

#define FAKE_NODES 2
#define STOP_MS    5000 /* timers capped at 2 ms, upstream timeouts 200 ms: longer is a hang */

enum fake_answer {
    FAKE_WHOLE = 0, /* 200 with a Content-Length */
    FAKE_502,       /* a retriable failure */
    FAKE_CUT,       /* a Content-Length of 64, 10 bytes, then the connection closes */
    FAKE_CHUNKED,   /* 200, its body in two chunks */
};

static const char *const fake_names[FAKE_NODES] = {"up1", "up2"};

static uv_loop_t fake_loop;
static struct http_server *fake[FAKE_NODES];
static unsigned answers;      /* this input's answer shapes, two bits each */
static unsigned answers_used; /* how many the fake nodes gave so far */

static void on_fake(struct http_request *req, void *data)
{
    const char *name = data;
    char body[160];
    int n = snprintf(body, sizeof body, "%s %s %.64s %zu\n", name, req->method, req->path,
                     req->body_len);
    http_response_header(req, "X-Fake-Handled", "1");
    if (strncmp(req->path, "/status/", 8) == 0) {
        int status = atoi(req->path + 8);
        http_respond(req, status >= 200 && status <= 599 ? status : 400, "text/plain", body,
                     (size_t)n);
        return;
    }
    enum fake_answer shape = (enum fake_answer)(answers >> (2 * (answers_used++ % 8)) & 3);
    static const char head[] = "Content-Type: text/plain\r\n";
    switch (shape) {
    case FAKE_WHOLE:
        http_respond(req, 200, "text/plain", body, (size_t)n);
        break;
    case FAKE_502:
        http_respond(req, 502, "text/plain", body, (size_t)n);
        break;
    case FAKE_CUT:
        http_respond_start(req, 200, head, sizeof head - 1, 64);
        http_respond_write(req, body, 10);
        http_respond_abort(req);
        break;
    case FAKE_CHUNKED:
        http_respond_start(req, 200, head, sizeof head - 1, -1);
        http_respond_write(req, body, (size_t)n / 2);
        http_respond_write(req, body + n / 2, (size_t)n - (size_t)n / 2);
        http_respond_end(req);
        break;
    }
}

/* The fake nodes, once for the process: loopback listeners on free ports. */
static void fake_nodes_start(void)
{
    uv_loop_init(&fake_loop);
    struct http_server_limits lim;
    http_server_limits_default(&lim);
    lim.max_header_bytes = 64 * 1024; /* above the gateway's: what it forwards always fits */
    char err[256];
    for (int i = 0; i < FAKE_NODES; i++) {
        fake[i] = http_server_new(&fake_loop, &lim);
        if (!fake[i] || http_server_route(fake[i], NULL, "*", on_fake, (void *)fake_names[i]) < 0 ||
            http_server_add_header(fake[i], "X-Fake-Node", fake_names[i]) < 0 ||
            http_server_listen(fake[i], "127.0.0.1", 0, err, sizeof err) < 0)
            fuzz_fail("a fake node did not start", err);
        fuzz_connect_allow(http_server_port(fake[i]));
    }
}

static void gateway_setup(struct gateway_opts *o, uint8_t mode, uint8_t setup)
{
    char err[256];
    gateway_opts_default(o);
    o->port = 0;
    o->threads = 1;
    o->check = GATEWAY_CHECK_NONE; /* no active checks: registered nodes never come up */
    o->balance = (enum balance_algorithm)((setup & 7) % 6);
    o->seed_set = true; /* seed 0: an input replays the same choices */
    o->retries = (setup >> 3) & 3;
    o->eject_after = setup & 0x40 ? 1 : 3;
    if (setup & 0x80) snprintf(o->hash_header, sizeof o->hash_header, "X-Key");
    if (mode & 0x80) snprintf(o->token, sizeof o->token, "fuzz-token");
    o->connect_timeout_us = 200000;
    o->response_timeout_us = 200000;
    o->max_body_bytes = 8192; /* 413 within reach of a small input */
    for (int i = 0; i < FAKE_NODES; i++)
        if (gateway_opts_push_node(o, fake_names[i], "127.0.0.1", http_server_port(fake[i]), i + 1,
                                   err, sizeof err) < 0)
            fuzz_fail("a fake node was refused", err);
    snprintf(o->nodes[1].group, sizeof o->nodes[1].group, "two");
    if ((setup & 0x20) && gateway_opts_add_route(o, "/two/=two", err, sizeof err) < 0)
        fuzz_fail("the route was refused", err);
}

/* A fake node's own 400 (it has X-Fake-Node, every answer of a fake node's, but not
 * X-Fake-Handled, which its handler adds) says the gateway sent it a request it could not
 * parse: the gateway wrote a malformed request, or framed it differently from how it read
 * it from its client. */
static void on_answer(int status, const bool *seen, void *arg)
{
    (void)arg;
    if (status == 400 && seen[0] && !seen[1])
        fuzz_fail("the gateway sent a node a request the node could not parse", "");
}

static const struct fuzz_answer_watch watch = {
    .headers = {"X-Fake-Node", "X-Fake-Handled", NULL},
    .on_answer = on_answer,
};

static bool loop_done(void *data)
{
    return !uv_loop_alive(data);
}

static bool fakes_idle(void *data)
{
    (void)data;
    for (int i = 0; i < FAKE_NODES; i++)
        if (http_server_connections(fake[i]) > 0) return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        fuzz_net_private();
        fake_nodes_start();
        ready = true;
    }
    if (size < 4) return 0;
    struct gateway_opts o;
    gateway_setup(&o, data[0], data[1]);
    answers = (unsigned)data[2] | (unsigned)data[3] << 8;
    answers_used = 0;
    char err[256];
    struct gateway *gw = gateway_open(&o, err, sizeof err);
    if (!gw) fuzz_fail("the gateway did not start", err);
    uv_loop_t *gw_loop = gateway_loop(gw, 0);
    uv_loop_t *loops[] = {gw_loop, &fake_loop};
    fuzz_loops_set(loops, 2);

    struct fuzz_client client;
    fuzz_client_from_byte(data[0], size - 4, &client);
    struct fuzz_exchange x;
    fuzz_http_exchange(gateway_port(gw), data + 4, &client, true, &watch, &x);

    gateway_stop(gw);
    if (!fuzz_loops_run_until(loop_done, gw_loop, STOP_MS))
        fuzz_fail("the gateway did not stop within 5 s of its client leaving", "");
    gateway_close(gw);
    uv_loop_t *fake_only[] = {&fake_loop};
    fuzz_loops_set(fake_only, 1);
    if (!fuzz_loops_run_until(fakes_idle, NULL, STOP_MS))
        fuzz_fail("a fake node still holds a connection of the stopped gateway's", "");
    gateway_opts_free(&o);
    return 0;
}
