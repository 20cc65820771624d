/* fuzz_http_node.c -- herd's HTTP server with the demo node's routes (node_start) and a
 * streamed-body route, fed one client's byte stream on loopback: pipelined requests, bodies
 * in any framing, half-closes and resets mid-stream. The answers must be well-formed HTTP/1.1
 * (fuzz_http_exchange), and once its client left the node must stop within 5 s with
 * every handle closed; nothing may leak from one input to the next (a new node each time).
 *
 * Input: a mode byte (fuzz_client_from_byte; bit 7: the node asks for the cluster token
 * "fuzz-token" on its guarded routes), then the bytes the client sends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_http.h"
#include "fuzz_util.h"
#include "http/server.h"
#include "node/node.h"

#define ECHO_QUEUE_HIGH 4096 /* streamed echo: the body pauses above this much unsent output */
#define STOP_MS         5000 /* every timer is capped at 2 ms: a node that takes longer hangs */

static uv_loop_t loop;

/* ---- /fuzz/stream: a body taken as it streams in ----
 * ?answer=end (default): 200 with the body's size once it ended; ?answer=early: the same at
 * the first piece, before the body ended (the server then closes); ?answer=echo: a chunked
 * 200 at once, each piece sent back as it comes, paused while the client lags. &pause=1
 * pauses the body after each piece and resumes it a millisecond later. */

enum stream_answer {
    STREAM_AT_END = 0,
    STREAM_EARLY,
    STREAM_ECHO,
};

struct stream {
    struct http_request *req; /* NULL once the request ended (answered or aborted) */
    uv_timer_t resume;        /* resumes a paused body */
    enum stream_answer answer;
    bool pause_each;
    bool paused;
    size_t bytes;
};

static void stream_freed(uv_handle_t *h)
{
    free(h->data);
}

/* The request is over: nothing may touch it any more; s goes with its timer. */
static void stream_end(struct stream *s)
{
    s->req = NULL;
    uv_close((uv_handle_t *)&s->resume, stream_freed);
}

static void respond_size(struct http_request *req, size_t bytes)
{
    char body[48];
    int n = snprintf(body, sizeof body, "{\"bytes\":%zu}\n", bytes);
    http_respond(req, 200, "application/json", body, (size_t)n);
}

static void stream_pause(struct stream *s, bool paused)
{
    if (s->paused == paused) return;
    s->paused = paused;
    http_request_pause_body(s->req, paused);
}

static void on_resume(uv_timer_t *t)
{
    struct stream *s = t->data;
    if (s->req) stream_pause(s, false);
}

static void on_drain(void *data)
{
    struct stream *s = data;
    if (s->req && !uv_is_active((uv_handle_t *)&s->resume)) stream_pause(s, false);
}

static void on_stream_data(struct http_request *req, const char *at, size_t len, void *data)
{
    struct stream *s = data;
    s->bytes += len;
    if (s->answer == STREAM_EARLY) {
        respond_size(req, s->bytes);
        stream_end(s);
        return;
    }
    if (s->answer == STREAM_ECHO) {
        long queued = http_respond_write(req, at, len);
        if (queued < 0) { /* the client is gone */
            http_respond_abort(req);
            stream_end(s);
            return;
        }
        if (queued > ECHO_QUEUE_HIGH) stream_pause(s, true); /* on_drain resumes */
    }
    if (s->pause_each) {
        stream_pause(s, true);
        uv_timer_start(&s->resume, on_resume, 1, 0);
    }
}

static void on_stream_body_end(struct http_request *req, void *data)
{
    struct stream *s = data;
    if (s->answer == STREAM_ECHO)
        http_respond_end(req);
    else
        respond_size(req, s->bytes);
    stream_end(s);
}

static void on_stream_abort(struct http_request *req, void *data)
{
    (void)req;
    stream_end(data);
}

static void on_stream(struct http_request *req, void *data)
{
    (void)data;
    if (!http_request_streaming(req)) { /* no body: the request came whole */
        respond_size(req, req->body_len);
        return;
    }
    struct stream *s = calloc(1, sizeof *s);
    if (!s) {
        http_respond_error(req, 500, "out of memory");
        return;
    }
    char arg[16] = "";
    http_request_query(req, "answer", arg, sizeof arg);
    s->answer = strcmp(arg, "early") == 0  ? STREAM_EARLY
                : strcmp(arg, "echo") == 0 ? STREAM_ECHO
                                           : STREAM_AT_END;
    s->pause_each = http_request_query(req, "pause", arg, sizeof arg) >= 0;
    s->req = req;
    uv_timer_init(&loop, &s->resume);
    s->resume.data = s;
    http_request_on_abort(req, on_stream_abort, s);
    http_request_read_body(req, on_stream_data, on_stream_body_end, s);
    if (s->answer == STREAM_ECHO) {
        static const char head[] = "Content-Type: application/octet-stream\r\n";
        http_respond_start(req, 200, head, sizeof head - 1, -1);
        http_request_on_drain(req, on_drain, s);
    }
}

/* ---- the target ---- */

static void on_stopped(void *data)
{
    *(bool *)data = true;
}

static bool flag_set(void *data)
{
    return *(bool *)data;
}

static bool loop_done(void *data)
{
    return !uv_loop_alive(data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        fuzz_net_private();
        uv_loop_init(&loop);
        uv_loop_t *loops[] = {&loop};
        fuzz_loops_set(loops, 1);
        ready = true;
    }
    if (size == 0) return 0;
    struct node_config cfg;
    node_config_default(&cfg);
    cfg.port = 0;
    snprintf(cfg.node_id, sizeof cfg.node_id, "fuzz");
    if (data[0] & 0x80) snprintf(cfg.cluster_token, sizeof cfg.cluster_token, "fuzz-token");
    /* limits an input of a few KiB can reach */
    cfg.limits.max_header_bytes = 2048;
    cfg.limits.max_body_bytes = 8192;
    cfg.limits.max_output_bytes = 16384;
    /* a capped write timeout would cut answers whenever this process is descheduled for a
     * few milliseconds: the answers are checked whole, so no write timeout */
    cfg.limits.write_timeout_ms = 0;
    char err[512];
    int uv_status;
    struct node *n = node_start(&loop, &cfg, &uv_status, err, sizeof err);
    if (!n) fuzz_fail("the node did not start", err);
    if (http_server_route_stream(node_server(n), NULL, "/fuzz/stream", on_stream, NULL) < 0)
        abort();

    struct fuzz_client client;
    fuzz_client_from_byte(data[0], size - 1, &client);
    struct fuzz_exchange x;
    fuzz_http_exchange(node_port(n), data + 1, &client, false, NULL, &x);

    bool stopped = false;
    node_stop(n, on_stopped, &stopped);
    if (!fuzz_loops_run_until(flag_set, &stopped, STOP_MS))
        fuzz_fail("the node did not stop within 5 s of its client leaving", "");
    if (!fuzz_loops_run_until(loop_done, &loop, STOP_MS))
        fuzz_fail("the node stopped with handles still open", "");
    node_free(n);
    return 0;
}
