/* repl.c -- asynchronous replication of the demo node's KV store (see repl.h). */
#include "node/repl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <sys/stat.h>

#include <jansson.h>
#include <resolv.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mtime.h"
#include "http/client.h"
#include "node/kv_log.h"

#define POLL_WAIT        "20s"
#define POLL_TIMEOUT_MS  30000
#define WAIT_MAX_MS      60000
#define RETRY_FIRST_MS   50
#define RETRY_MAX_MS     1000
#define EMPTY_MIN_MS     1000 /* an empty answer sooner than this is not a long-poll's */
#define BATCH_CHANGES    1000
#define BATCH_BYTES      (4u << 20)
#define MAX_ANSWER_BYTES (64u << 20)
#define FILE_CHECK_MS    1000 /* how often the peers file's stat is looked at */
#define FILE_MAX_BYTES   (64u << 10)

struct repl_peer {
    struct repl *repl;
    char addr[80];   /* HOST:PORT as configured */
    bool configured; /* named by --peers / HERD_PEERS / peers: kept for the node's life */
    bool in_file;    /* named by the peers file as last read: dropped when it no longer is */
    bool listed;     /* scratch: named by the file being applied */
    struct sockaddr_storage sa;
    struct http_client *client;
    uv_timer_t timer;     /* next poll after a failure */
    struct repl_cursor at; /* how far its changes were read */
    bool up;
    uint64_t backoff_ms;
    uint64_t applied, polls, errors, rejected, last_ok_ms;
    uint64_t sent_ms; /* when the current poll went out */
    char last_error[128];
    struct buf req;
};

/* A peer's long-poll held until a change or its deadline. */
struct repl_waiter {
    struct repl *repl;
    struct http_request *req;
    uint64_t since;
    uint64_t deadline_ms;
    struct repl_waiter *next;
};

struct repl {
    uv_loop_t *loop;
    struct kv_store *kv;
    uint64_t epoch; /* this process's: the monotonic clock (ns) at its start, new on a restart */
    char self_host[64];
    int self_port;
    char token[REPL_TOKEN_MAX]; /* sent to peers as Authorization: Bearer (empty: none) */
    struct repl_peer *peers[REPL_MAX_PEERS];
    size_t peer_count;
    char peers_file[REPL_PATH_MAX]; /* re-read when it changes ("": none) */
    struct stat file_seen;          /* its stat when last read */
    bool file_read;                 /* file_seen is set */
    uv_timer_t file_timer;
    char file_error[160]; /* why its last reading was not applied ("": it was) */
    struct repl_waiter *waiters;
    uv_timer_t sweep; /* armed for the earliest waiter's deadline, stopped when none waits */
    bool started; /* past repl_start: changes of the peers are logged */
    bool stopping;
    int open; /* handles and clients not yet closed */
    void (*done)(void *data);
    void *done_data;
};

static void peer_poll(struct repl_peer *p);

/* ---- addresses ---- */

/* Parses "IP:PORT" or "[IPv6]:PORT" into sa. Returns 0 or -1. */
static int parse_addr(const char *text, size_t len, struct sockaddr_storage *sa)
{
    char host[64];
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
        if (text[i] == ':') colon = text + i;
    if (!colon || colon == text) return -1;
    size_t hl = (size_t)(colon - text);
    const char *h = text;
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= sizeof host) return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end != text + len || end == colon + 1 || port < 1 || port > 65535) return -1;
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)sa) == 0) return 0;
    return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)sa) == 0 ? 0 : -1;
}

/* Calls fn(item, len, data) for each comma-separated item; stops at a non-zero return. */
static int each_item(const char *list, int (*fn)(const char *s, size_t len, void *data), void *data)
{
    for (const char *s = list; s && *s;) {
        size_t len = strcspn(s, ",");
        while (len && (*s == ' '))
            s++, len--;
        size_t l = len;
        while (l && s[l - 1] == ' ')
            l--;
        if (l && fn(s, l, data) != 0) return -1;
        s += len;
        if (*s == ',') s++;
    }
    return 0;
}

struct check_ctx {
    char *err;
    size_t errlen;
};

static int check_item(const char *s, size_t len, void *data)
{
    struct check_ctx *c = data;
    struct sockaddr_storage sa;
    if (len < 80 && parse_addr(s, len, &sa) == 0) return 0;
    err_set(c->err, c->errlen, "peers: \"%.*s\": expected IP:PORT (127.0.0.1:8081, [::1]:8081)",
            (int)(len > 80 ? 80 : len), s);
    return -1;
}

int repl_peers_check(const char *peers, char *err, size_t errlen)
{
    struct check_ctx c = {err, errlen};
    return each_item(peers, check_item, &c);
}

/* ---- peers: pulling their changes ---- */

static void release(struct repl *r)
{
    if (--r->open > 0) return;
    void (*done)(void *) = r->done;
    void *data = r->done_data;
    free(r);
    if (done) done(data);
}

static void on_retry(uv_timer_t *t)
{
    peer_poll(t->data);
}

/* The next poll after the current backoff, which doubles up to RETRY_MAX_MS. */
static void peer_retry_later(struct repl_peer *p)
{
    if (p->repl->stopping) return;
    uv_timer_start(&p->timer, on_retry, p->backoff_ms, 0);
    p->backoff_ms = p->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : p->backoff_ms * 2;
}

static void peer_failed(struct repl_peer *p, const char *why)
{
    p->errors++;
    if (p->up) log_warn("replication from %s: %s", p->addr, why);
    p->up = false;
    snprintf(p->last_error, sizeof p->last_error, "%s", why);
    peer_retry_later(p);
}

/* Says in why which of kv_apply's limits a change broke. */
static void limit_broken(const struct kv_store *kv, const char *key, size_t value_len,
                         const char *origin, json_int_t version, char *why, size_t whylen)
{
    size_t key_len = strlen(key), origin_len = strlen(origin);
    if (key_len == 0 || key_len >= KV_KEY_MAX)
        snprintf(why, whylen, "key: %zu bytes, expected 1 to %d", key_len, KV_KEY_MAX - 1);
    else if (origin_len == 0 || origin_len >= KV_ORIGIN_MAX)
        snprintf(why, whylen, "origin: %zu bytes, expected 1 to %d", origin_len, KV_ORIGIN_MAX - 1);
    else if (value_len > KV_VALUE_MAX)
        snprintf(why, whylen, "value: %zu bytes, more than %u", value_len, KV_VALUE_MAX);
    else
        snprintf(why, whylen, "version %lld: expected 1 to %llu (the clock here plus 2^40)",
                 (long long)version,
                 (unsigned long long)(kv->clock + KV_VERSION_AHEAD < KV_VERSION_MAX
                                          ? kv->clock + KV_VERSION_AHEAD
                                          : KV_VERSION_MAX));
}

/* Applies one change from a peer's answer. Returns 1 applied, 0 not (an older version),
 * KV_EINVAL when it is malformed or breaks a limit (why says what), -1 when out of memory. */
static int apply_change(struct kv_store *kv, json_t *c, char *why, size_t whylen)
{
    json_t *key = json_object_get(c, "key"), *value = json_object_get(c, "value");
    json_t *origin = json_object_get(c, "origin"), *version = json_object_get(c, "version");
    json_t *deleted = json_object_get(c, "deleted");
    const char *bad = NULL;
    if (!json_is_string(key) || json_string_length(key) != strlen(json_string_value(key)))
        bad = "key: expected a string";
    else if (!json_is_string(origin) ||
             json_string_length(origin) != strlen(json_string_value(origin)))
        bad = "origin: expected a string";
    else if (!json_is_integer(version))
        bad = "version: expected a whole number";
    else if (deleted && !json_is_boolean(deleted))
        bad = "deleted: expected true or false";
    else if (!json_is_true(deleted) && !json_is_string(value))
        bad = "value: expected base64";
    else if (!json_is_true(deleted) && json_string_length(value) > (KV_VALUE_MAX + 2) / 3 * 4)
        bad = "value: larger than the limit";
    if (bad) {
        snprintf(why, whylen, "%s", bad);
        return KV_EINVAL;
    }
    bool is_delete = json_is_true(deleted);
    size_t vlen = is_delete ? 0 : json_string_length(value);
    unsigned char *bytes = malloc(vlen / 4 * 3 + 1);
    if (!bytes) return -1;
    int n = is_delete ? 0 : b64_pton(json_string_value(value), bytes, vlen / 4 * 3 + 1);
    json_int_t v = json_integer_value(version);
    int rc = n < 0 ? KV_EINVAL
                   : kv_apply(kv, json_string_value(key), bytes, (size_t)n, is_delete,
                              v < 1 ? 0 : (uint64_t)v, json_string_value(origin));
    free(bytes);
    if (n < 0)
        snprintf(why, whylen, "value: not base64");
    else if (rc == KV_EINVAL)
        limit_broken(kv, json_string_value(key), (size_t)n, json_string_value(origin), v, why,
                     whylen);
    return rc;
}

int repl_apply_answer(struct kv_store *kv, struct repl_cursor *cur, int status, const char *body,
                      struct repl_batch *out)
{
    memset(out, 0, sizeof *out);
    json_t *j = status == 200 ? json_loads(body ? body : "", 0, NULL) : NULL;
    json_t *epoch = json_object_get(j, "epoch"), *changes = json_object_get(j, "changes");
    const char *node_id = json_string_value(json_object_get(j, "node_id"));
    if (!json_is_integer(epoch) || !json_is_array(changes) || !node_id ||
        strlen(node_id) >= sizeof cur->node_id) {
        snprintf(out->why, sizeof out->why, "status %d, not a change list", status);
        json_decref(j);
        return -1;
    }
    if ((uint64_t)json_integer_value(epoch) != cur->epoch) {
        out->restarted = cur->epoch != 0;
        cur->epoch = (uint64_t)json_integer_value(epoch);
        cur->since = 0; /* the peer answered from its start */
    }
    snprintf(cur->node_id, sizeof cur->node_id, "%s", node_id);
    out->count = json_array_size(changes);
    size_t i;
    json_t *change;
    int rc = 0;
    json_array_foreach(changes, i, change)
    {
        /* seq says where the peer's list goes on: without a sane one there is no stepping
         * over the change, so the rest waits for the next poll */
        json_t *seq = json_object_get(change, "seq");
        if (!json_is_integer(seq) || json_integer_value(seq) < 1 ||
            (uint64_t)json_integer_value(seq) <= cur->since) {
            snprintf(out->why, sizeof out->why, "change %zu: seq: expected a number above %llu",
                     i, (unsigned long long)cur->since);
            rc = -1;
            break;
        }
        char why[96];
        int applied = apply_change(kv, change, why, sizeof why);
        if (applied == -1) {
            snprintf(out->why, sizeof out->why, "out of memory");
            rc = -1;
            break;
        }
        if (applied == KV_EINVAL && out->rejected++ == 0)
            snprintf(out->first_rejected, sizeof out->first_rejected, "seq %lld: %s",
                     (long long)json_integer_value(seq), why);
        if (applied > 0) out->applied++;
        cur->since = (uint64_t)json_integer_value(seq);
    }
    json_decref(j);
    return rc;
}

static void on_changes(struct http_client *c, int error, const struct http_client_response *res,
                       void *data)
{
    (void)c;
    struct repl_peer *p = data;
    struct repl *r = p->repl;
    if (r->stopping) return;
    if (error != HTTP_CLIENT_OK) {
        peer_failed(p, http_client_error_name(error));
        return;
    }
    struct repl_batch b;
    int rc = repl_apply_answer(r->kv, &p->at, res->status, res->body, &b);
    if (b.restarted) log_info("replication: %s restarted; reading it from the start", p->addr);
    p->applied += b.applied;
    if (b.applied) repl_changed(r);
    if (rc < 0) {
        peer_failed(p, b.why);
        return;
    }
    if (!p->up)
        log_info("replication from %s (%s): connected at seq %llu", p->addr, p->at.node_id,
                 (unsigned long long)p->at.since);
    p->up = true;
    p->last_ok_ms = uv_now(r->loop);
    if (b.rejected) { /* stepped over, logged once per answer, and the next poll waits */
        p->rejected += b.rejected;
        snprintf(p->last_error, sizeof p->last_error, "%s", b.first_rejected);
        log_warn("replication from %s: %zu of %zu changes rejected, first %s", p->addr,
                 b.rejected, b.count, b.first_rejected);
        peer_retry_later(p);
        return;
    }
    if (b.count == 0 && p->last_ok_ms - p->sent_ms < EMPTY_MIN_MS) {
        peer_retry_later(p); /* it did not wait for news: a stopping or broken peer */
        return;
    }
    p->backoff_ms = RETRY_FIRST_MS;
    peer_poll(p);
}

static void peer_poll(struct repl_peer *p)
{
    struct repl *r = p->repl;
    if (r->stopping) return;
    buf_reset(&p->req);
    buf_printf(&p->req,
               "GET /api/v1/kv/changes?since=%llu&epoch=%llu&wait=%s HTTP/1.1\r\n"
               "Host: %s\r\nUser-Agent: herd-node\r\n",
               (unsigned long long)p->at.since, (unsigned long long)p->at.epoch, POLL_WAIT,
               p->addr);
    if (r->token[0]) buf_printf(&p->req, "Authorization: Bearer %s\r\n", r->token);
    buf_append(&p->req, "\r\n", 2);
    p->polls++;
    p->sent_ms = uv_now(r->loop);
    if (http_client_send(p->client, p->req.data, p->req.len, on_changes, p) < 0)
        peer_failed(p, "busy");
}

static bool is_self(const struct repl *r, const struct sockaddr_storage *sa)
{
    char host[64];
    int port;
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        uv_ip4_name(a, host, sizeof host);
        port = ntohs(a->sin_port);
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        uv_ip6_name(a, host, sizeof host);
        port = ntohs(a->sin6_port);
    }
    if (port != r->self_port) return false;
    return strcmp(host, r->self_host) == 0 || strcmp(r->self_host, "0.0.0.0") == 0 ||
           strcmp(r->self_host, "::") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "::1") == 0;
}

static struct repl_peer *peer_find(const struct repl *r, const char *addr, size_t len)
{
    for (size_t i = 0; i < r->peer_count; i++)
        if (strlen(r->peers[i]->addr) == len && memcmp(r->peers[i]->addr, addr, len) == 0)
            return r->peers[i];
    return NULL;
}

/* Adds the peer at addr (or marks the one there) as configured or as the file's. Returns 0,
 * also for this node's own address (skipped), or -1. */
static int add_peer(struct repl *r, const char *addr, size_t len, bool from_file)
{
    struct sockaddr_storage sa = {0};
    if (len >= sizeof r->peers[0]->addr || parse_addr(addr, len, &sa) < 0) return -1;
    if (is_self(r, &sa)) return 0;
    struct repl_peer *p = peer_find(r, addr, len);
    if (!p) {
        if (r->peer_count == REPL_MAX_PEERS) return -1;
        if (!(p = calloc(1, sizeof *p))) return -1;
        p->repl = r;
        memcpy(p->addr, addr, len);
        p->sa = sa;
        p->backoff_ms = RETRY_FIRST_MS;
        struct http_client_opts o;
        http_client_opts_default(&o);
        o.connect_timeout_ms = 1000;
        o.header_timeout_ms = o.body_timeout_ms = POLL_TIMEOUT_MS;
        o.keep_body = true;
        o.max_body_bytes = MAX_ANSWER_BYTES;
        char err[128];
        p->client = http_client_new(r->loop, (struct sockaddr *)&sa, NULL, &o, err, sizeof err);
        if (!p->client) {
            free(p);
            return -1;
        }
        uv_timer_init(r->loop, &p->timer);
        p->timer.data = p;
        r->open += 2; /* the client and the timer */
        r->peers[r->peer_count++] = p;
        if (r->started) log_info("replication: %s is a peer now (%s)", p->addr, r->peers_file);
        peer_poll(p);
    }
    if (from_file)
        p->listed = true;
    else
        p->configured = true;
    return 0;
}

static int add_configured_peer(const char *s, size_t len, void *data)
{
    return add_peer(data, s, len, false);
}

static int add_file_peer(const char *s, size_t len, void *data)
{
    return add_peer(data, s, len, true);
}

static void on_client_freed(void *data);
static void on_peer_closed(uv_handle_t *h);

/* Stops polling p and frees it once its client and timer are closed (a poll in flight is not
 * called back). The caller takes it out of r->peers. */
static void peer_close(struct repl_peer *p)
{
    uv_timer_stop(&p->timer);
    http_client_free(p->client, on_client_freed, p->repl);
    uv_close((uv_handle_t *)&p->timer, on_peer_closed); /* frees p */
}

/* ---- the peers file ---- */

/* Reads the peers file at path into list as "IP:PORT,...": one or more a line, separated by
 * commas or blanks, "#" to the end of a line a comment. Returns 0, or -1 with why. */
static int peers_file_read(const char *path, struct buf *list, char *why, size_t whylen)
{
    FILE *f = fopen(path, "r");
    if (!f) return err_set(why, whylen, "peers file %s: %s", path, strerror(errno));
    char line[512];
    int rc = 0, number = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        number++;
        size_t len = strcspn(line, "#\n");
        if (!strchr(line, '\n') && !feof(f)) {
            rc = err_set(why, whylen, "peers file %s:%d: longer than %zu characters", path, number,
                         sizeof line - 2);
            break;
        }
        line[len] = '\0';
        for (char *c = line; *c; c++)
            if (*c == ' ' || *c == '\t' || *c == '\r') *c = ',';
        char item_why[ERR_SIZE];
        if (repl_peers_check(line, item_why, sizeof item_why) < 0)
            rc = err_set(why, whylen, "peers file %s:%d: %s", path, number, item_why);
        else if (list->len + len + 1 > FILE_MAX_BYTES)
            rc = err_set(why, whylen, "peers file %s: larger than %u bytes", path, FILE_MAX_BYTES);
        else
            buf_printf(list, "%s%s", list->len ? "," : "", line);
    }
    if (rc == 0 && ferror(f)) rc = err_set(why, whylen, "peers file %s: %s", path, strerror(errno));
    fclose(f);
    return rc;
}

/* Makes the peers the file lists, besides the configured ones, the file's: new ones are added
 * (read from their start), ones it no longer lists are dropped. */
static void peers_file_apply(struct repl *r, const char *list)
{
    for (size_t i = 0; i < r->peer_count; i++)
        r->peers[i]->listed = false;
    if (each_item(list, add_file_peer, r) < 0)
        log_warn("replication: could not add every peer of %s (at most %d)", r->peers_file,
                 REPL_MAX_PEERS);
    size_t kept = 0;
    for (size_t i = 0; i < r->peer_count; i++) {
        struct repl_peer *p = r->peers[i];
        p->in_file = p->listed;
        if (p->configured || p->in_file) {
            r->peers[kept++] = p;
            continue;
        }
        log_info("replication: %s is no longer a peer (%s)", p->addr, r->peers_file);
        peer_close(p);
    }
    r->peer_count = kept;
}

/* Reads the peers file when its stat differs from the last reading's. A file that is gone
 * or does not parse leaves the peers as they are (and says why, once). */
static void peers_file_check(struct repl *r)
{
    struct stat st;
    char why[sizeof r->file_error];
    if (stat(r->peers_file, &st) < 0) {
        err_set(why, sizeof why, "peers file %s: %s", r->peers_file, strerror(errno));
        if (strcmp(why, r->file_error) != 0) log_warn("replication: %s; peers unchanged", why);
        snprintf(r->file_error, sizeof r->file_error, "%s", why);
        r->file_read = false; /* read it again once it is back */
        return;
    }
    const struct stat *seen = &r->file_seen;
    if (r->file_read && st.st_ino == seen->st_ino && st.st_dev == seen->st_dev &&
        st.st_size == seen->st_size && st.st_mtim.tv_sec == seen->st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == seen->st_mtim.tv_nsec)
        return;
    struct buf list = {0};
    if (peers_file_read(r->peers_file, &list, why, sizeof why) < 0) {
        if (strcmp(why, r->file_error) != 0) log_warn("replication: %s; peers unchanged", why);
        snprintf(r->file_error, sizeof r->file_error, "%s", why);
    } else {
        r->file_error[0] = '\0';
        peers_file_apply(r, list.data ? list.data : "");
    }
    r->file_seen = st;
    r->file_read = true;
    buf_free(&list);
}

static void on_file_check(uv_timer_t *t)
{
    peers_file_check(t->data);
}

/* ---- serving our changes ---- */

static void respond_changes(struct repl *r, struct http_request *req, uint64_t since)
{
    json_t *changes = json_array();
    size_t count = 0, bytes = 0;
    const struct kv_entry *e = kv_changes_since(r->kv, since);
    for (; e && count < BATCH_CHANGES && bytes < BATCH_BYTES; e = e->next_change, count++) {
        size_t room = (e->value_len + 2) / 3 * 4 + 1;
        char *b64 = malloc(room);
        if (!b64 || (!e->deleted &&
                     b64_ntop((const unsigned char *)e->value, e->value_len, b64, room) < 0)) {
            free(b64);
            break;
        }
        if (e->deleted) b64[0] = '\0';
        json_array_append_new(changes,
                              json_pack("{s:I,s:s,s:s,s:b,s:I,s:s}", "seq", (json_int_t)e->seq,
                                        "key", e->key, "value", b64, "deleted", e->deleted,
                                        "version", (json_int_t)e->version, "origin", e->origin));
        free(b64);
        bytes += e->value_len + strlen(e->key) + 64;
    }
    http_respond_json(req, 200,
                      json_pack("{s:s,s:I,s:I,s:b,s:o}", "node_id", r->kv->self, "epoch",
                                (json_int_t)r->epoch, "seq", (json_int_t)r->kv->seq, "more",
                                e != NULL, "changes", changes));
}

/* True when the query names name (with or without a value). */
static bool query_given(const struct http_request *req, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = req->query; p && *p;) {
        size_t len = strcspn(p, "&");
        if (len >= n && strncmp(p, name, n) == 0 && (len == n || p[n] == '=')) return true;
        p += len;
        if (*p == '&') p++;
    }
    return false;
}

/* Query argument name, decoded into out. Returns 1 when given, 0 when absent, -1 when it does
 * not decode or fit. */
static int query_arg(struct http_request *req, const char *name, char *out, size_t size)
{
    if (!query_given(req, name)) return 0;
    return http_request_query(req, name, out, size) < 0 ? -1 : 1;
}

/* A whole number; *out is left alone when the argument is absent. Returns 0 or -1. */
static int query_u64(struct http_request *req, const char *name, uint64_t *out)
{
    char arg[32], *end;
    int given = query_arg(req, name, arg, sizeof arg);
    if (given <= 0) return given;
    *out = strtoull(arg, &end, 10);
    return arg[0] >= '0' && arg[0] <= '9' && !*end ? 0 : -1;
}

static void on_sweep(uv_timer_t *t);
static void on_waiter_abort(struct http_request *req, void *data);

void repl_serve_changes(struct repl *r, struct http_request *req)
{
    uint64_t since = 0, epoch = 0, wait_us = 0;
    char arg[32];
    if (query_u64(req, "since", &since) < 0 || query_u64(req, "epoch", &epoch) < 0) {
        http_respond_error(req, 400, "since, epoch: expected whole numbers");
        return;
    }
    if (http_request_query(req, "wait", arg, sizeof arg) >= 0 &&
        (mtime_parse_duration_us(arg, &wait_us) < 0 || wait_us > WAIT_MAX_MS * 1000ull)) {
        http_respond_error(req, 400, "wait: expected a duration up to 60s (20s, 500ms)");
        return;
    }
    if (epoch != r->epoch) since = 0; /* we restarted: the asker starts over */
    if (since > r->kv->seq) since = 0;
    if (wait_us == 0 || r->stopping || kv_changes_since(r->kv, since)) {
        respond_changes(r, req, since);
        return;
    }
    struct repl_waiter *w = calloc(1, sizeof *w);
    if (!w) {
        http_respond_error(req, 500, "out of memory");
        return;
    }
    w->req = req;
    w->repl = r;
    w->since = since;
    w->deadline_ms = uv_now(r->loop) + wait_us / 1000;
    w->next = r->waiters;
    r->waiters = w;
    http_request_on_abort(req, on_waiter_abort, w);
    if (!uv_is_active((uv_handle_t *)&r->sweep) ||
        uv_timer_get_due_in(&r->sweep) > wait_us / 1000)
        uv_timer_start(&r->sweep, on_sweep, wait_us / 1000, 0);
}

/* Answers the waiters that have news or timed out (all of them when all), then arms the
 * sweep for the earliest deadline left: an idle node wakes for its waiters' deadlines, not
 * every few hundred ms (ten thousand replicas on one machine). */
static void wake(struct repl *r, bool all)
{
    uint64_t now = uv_now(r->loop), next = UINT64_MAX;
    struct repl_waiter **link = &r->waiters;
    while (*link) {
        struct repl_waiter *w = *link;
        if (all || w->since < r->kv->seq || now >= w->deadline_ms) {
            *link = w->next;
            respond_changes(r, w->req, w->since);
            free(w);
            continue;
        }
        if (w->deadline_ms < next) next = w->deadline_ms;
        link = &w->next;
    }
    if (r->stopping) return;
    if (next == UINT64_MAX)
        uv_timer_stop(&r->sweep);
    else
        uv_timer_start(&r->sweep, on_sweep, next - now, 0);
}

/* The asker went away: its waiter goes, unanswered (the server ends the request). */
static void on_waiter_abort(struct http_request *req, void *data)
{
    (void)req;
    struct repl_waiter *w = data;
    for (struct repl_waiter **link = &w->repl->waiters; *link; link = &(*link)->next)
        if (*link == w) {
            *link = w->next;
            free(w);
            return;
        }
}

void repl_changed(struct repl *r)
{
    wake(r, false);
}

static void on_sweep(uv_timer_t *t)
{
    wake(t->data, false);
}

void repl_serve_status(struct repl *r, struct http_request *req)
{
    char key[KV_KEY_MAX];
    int key_given = query_arg(req, "key", key, sizeof key);
    if (key_given < 0 || (key_given && !key[0])) {
        http_respond_error(req, 400, "key: expected a key (1 to 255 bytes, %-encoded)");
        return;
    }
    json_t *peers = json_array();
    uint64_t now = uv_now(r->loop);
    for (size_t i = 0; i < r->peer_count; i++) {
        const struct repl_peer *p = r->peers[i];
        json_array_append_new(
            peers,
            json_pack("{s:s,s:s,s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:s,s:I}", "peer", p->addr, "from",
                      p->configured ? "config" : "file", "node_id", p->at.node_id, "up", p->up,
                      "since", (json_int_t)p->at.since, "applied", (json_int_t)p->applied, "polls",
                      (json_int_t)p->polls, "errors", (json_int_t)p->errors, "rejected",
                      (json_int_t)p->rejected, "last_error", p->last_error, "last_ok_ms_ago",
                      p->last_ok_ms ? (json_int_t)(now - p->last_ok_ms) : (json_int_t)-1));
    }
    const struct kv_log *log = r->kv->log;
    json_t *origins = json_object();
    for (size_t i = 0; i < log->origin_count; i++) {
        const struct kv_log_origin *o = &log->origins[i];
        json_object_set_new(origins, o->id,
                            json_pack("{s:I,s:I,s:I,s:I}", "version", (json_int_t)o->version, "seq",
                                      (json_int_t)o->seq, "applied_at_us",
                                      (json_int_t)o->applied_us, "applies",
                                      (json_int_t)o->applies));
    }
    json_t *out = json_pack(
        "{s:s,s:I,s:I,s:I,s:I,s:I,s:o,s:{s:I,s:I,s:I,s:I},s:o}", "node_id", r->kv->self, "epoch",
        (json_int_t)r->epoch, "seq", (json_int_t)r->kv->seq, "keys", (json_int_t)r->kv->count,
        "clock", (json_int_t)r->kv->clock, "now_us", (json_int_t)mtime_wall_us(), "origins",
        origins, "apply_log", "capacity", (json_int_t)log->capacity, "held", (json_int_t)log->count,
        "total", (json_int_t)log->total, "untracked", (json_int_t)log->untracked, "peers", peers);
    if (r->peers_file[0])
        json_object_set_new(out, "peers_file",
                            json_pack("{s:s,s:s}", "path", r->peers_file, "error", r->file_error));
    if (key_given) {
        const struct kv_entry *e = kv_lookup(r->kv, key);
        json_object_set_new(out, "entry",
                            e ? json_pack("{s:s,s:I,s:s,s:b,s:I,s:I}", "key", e->key, "version",
                                          (json_int_t)e->version, "origin", e->origin, "deleted",
                                          e->deleted, "seq", (json_int_t)e->seq, "applied_at_us",
                                          (json_int_t)e->applied_us)
                              : json_null());
    }
    http_respond_json(req, 200, out);
}

void repl_serve_log(struct repl *r, struct http_request *req)
{
    const struct kv_log *log = r->kv->log;
    uint64_t since = 0, limit = log->capacity;
    char key[KV_KEY_MAX], origin[KV_ORIGIN_MAX];
    int key_given = query_arg(req, "key", key, sizeof key);
    int origin_given = query_arg(req, "origin", origin, sizeof origin);
    if (query_u64(req, "since", &since) < 0) {
        http_respond_error(req, 400, "since: expected a sequence number (a whole number)");
        return;
    }
    if (query_u64(req, "limit", &limit) < 0 || limit < 1 || limit > log->capacity) {
        char why[96];
        snprintf(why, sizeof why, "limit: expected a whole number from 1 to %zu", log->capacity);
        http_respond_error(req, 400, why);
        return;
    }
    if (key_given < 0 || (key_given && !key[0])) {
        http_respond_error(req, 400, "key: expected a key (1 to 255 bytes, %-encoded)");
        return;
    }
    if (origin_given < 0 || (origin_given && !origin[0])) {
        http_respond_error(req, 400, "origin: expected a node id (1 to 127 bytes)");
        return;
    }
    json_t *entries = json_array();
    bool more = false;
    for (size_t i = 0; i < log->count; i++) {
        const struct kv_log_record *rec = kv_log_get(log, i);
        if (rec->seq <= since || (key_given && strcmp(rec->key, key) != 0) ||
            (origin_given && strcmp(rec->origin, origin) != 0))
            continue;
        if (json_array_size(entries) == limit) {
            more = true;
            break;
        }
        json_array_append_new(entries,
                              json_pack("{s:I,s:s,s:I,s:s,s:b,s:I}", "seq", (json_int_t)rec->seq,
                                        "key", rec->key, "version", (json_int_t)rec->version,
                                        "origin", rec->origin, "deleted", rec->deleted,
                                        "applied_at_us", (json_int_t)rec->applied_us));
    }
    http_respond_json(req, 200,
                      json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:b,s:o}", "node_id", r->kv->self,
                                "epoch", (json_int_t)r->epoch, "now_us",
                                (json_int_t)mtime_wall_us(), "capacity", (json_int_t)log->capacity,
                                "total", (json_int_t)log->total, "first_seq",
                                (json_int_t)(log->count ? kv_log_get(log, 0)->seq : 0), "more",
                                more, "entries", entries));
}

/* ---- life cycle ---- */

struct repl *repl_start(uv_loop_t *loop, struct kv_store *kv, const char *peers,
                        const char *peers_file, const char *self_host, int self_port,
                        const char *token, char *err, size_t errlen)
{
    if (repl_peers_check(peers, err, errlen) < 0) return NULL;
    if (token && strlen(token) >= REPL_TOKEN_MAX) {
        err_set(err, errlen, "token: longer than %d characters", REPL_TOKEN_MAX - 1);
        return NULL;
    }
    if (peers_file && strlen(peers_file) >= REPL_PATH_MAX) {
        err_set(err, errlen, "peers file: a path longer than %d characters", REPL_PATH_MAX - 1);
        return NULL;
    }
    struct buf file_list = {0};
    char why[ERR_SIZE];
    struct stat st;
    bool file_there = peers_file && *peers_file && stat(peers_file, &st) == 0;
    if (file_there && peers_file_read(peers_file, &file_list, why, sizeof why) < 0) {
        err_set(err, errlen, "%s", why); /* a mistake at start is an error, later a warning */
        buf_free(&file_list);
        return NULL;
    }
    struct repl *r = calloc(1, sizeof *r);
    if (!r) {
        err_set(err, errlen, "out of memory");
        buf_free(&file_list);
        return NULL;
    }
    r->loop = loop;
    r->kv = kv;
    r->epoch = mtime_now_ns(); /* a restart is a new epoch */
    snprintf(r->self_host, sizeof r->self_host, "%s", self_host);
    r->self_port = self_port;
    snprintf(r->token, sizeof r->token, "%s", token ? token : "");
    uv_timer_init(loop, &r->sweep);
    r->sweep.data = r;
    r->open = 1;
    if (each_item(peers, add_configured_peer, r) < 0)
        log_warn("replication: could not add every peer of %s", peers);
    if (peers_file && *peers_file) {
        snprintf(r->peers_file, sizeof r->peers_file, "%s", peers_file);
        uv_timer_init(loop, &r->file_timer);
        r->file_timer.data = r;
        r->open++;
        if (file_there) { /* read above (the stat first: a change since is read again) */
            r->file_seen = st;
            r->file_read = true;
            peers_file_apply(r, file_list.data ? file_list.data : "");
        } else {
            peers_file_check(r); /* says it is missing; it is read once it appears */
        }
        uv_timer_start(&r->file_timer, on_file_check, FILE_CHECK_MS, FILE_CHECK_MS);
    }
    buf_free(&file_list);
    r->started = true;
    return r;
}

static void on_closed(uv_handle_t *h)
{
    release(h->data);
}

static void on_client_freed(void *data)
{
    release(data);
}

static void on_peer_closed(uv_handle_t *h)
{
    struct repl_peer *p = h->data;
    struct repl *r = p->repl;
    buf_free(&p->req);
    free(p);
    release(r);
}

void repl_stop(struct repl *r, void (*done)(void *data), void *data)
{
    r->stopping = true;
    r->done = done;
    r->done_data = data;
    wake(r, true);
    for (size_t i = 0; i < r->peer_count; i++)
        peer_close(r->peers[i]);
    r->peer_count = 0;
    if (r->peers_file[0]) uv_close((uv_handle_t *)&r->file_timer, on_closed);
    uv_close((uv_handle_t *)&r->sweep, on_closed);
}
