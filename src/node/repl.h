/* repl.h -- asynchronous replication of the demo node's KV store between peers.
 *
 * Pull, by long-poll: each node asks each peer for the changes after the last sequence number
 * it applied from that peer (GET /api/v1/kv/changes?since=S&epoch=E&wait=20s); the peer
 * answers at once when it has some, else as soon as one happens. A node that was paused, cut
 * off or slow therefore resumes from where it stopped; a peer that restarted (new epoch, its
 * memory gone) is read again from the start. Changes relay: a node serves every change it
 * applied, so writes also reach peers that only hear each other through a third.
 *
 * Peers come from configuration only; a node never learns one from who calls it: the
 * configured list, kept for the node's life, and a peers file (what herd up writes for each
 * replica), re-read when it changes, checked every second: peers it adds are read from their
 * start, peers it drops are closed. With a
 * cluster token, the polls carry it (Authorization: Bearer), and the node's routes ask it of
 * callers (node.c). A change from a peer is validated (kv_apply's limits) before it is
 * applied: a bad one is stepped over, counted and logged, and the next poll of that peer
 * waits (backoff from 50 ms to 1 s), so a peer that serves nothing but bad changes is read
 * about once a second, never in a loop. */
#ifndef HERD_NODE_REPL_H
#define HERD_NODE_REPL_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "http/server.h"
#include "node/kv.h"

#define REPL_MAX_PEERS 64
#define REPL_TOKEN_MAX 128  /* bytes in a cluster token, with its NUL */
#define REPL_PATH_MAX  1024 /* bytes in the peers file's path, with its NUL */

struct repl;

/* How far a node has read one peer's changes. */
struct repl_cursor {
    uint64_t epoch;              /* the peer's, from its last answer (0: none yet) */
    uint64_t since;              /* the seq of its last change read here */
    char node_id[KV_ORIGIN_MAX]; /* its id, from its last answer ("": none yet) */
};

/* What reading one answer of a peer did (repl_apply_answer). */
struct repl_batch {
    size_t count;             /* changes in the answer */
    size_t applied;           /* changes that won and were applied */
    size_t rejected;          /* malformed or past kv_apply's limits: stepped over, not applied */
    bool restarted;           /* a new epoch from a peer read before: read from its start */
    char why[96];             /* when it returns -1: why the answer, or its rest, was not read */
    char first_rejected[128]; /* "seq S: what was wrong" of the first change rejected */
};

/* Reads a peer's answer to GET /api/v1/kv/changes (status, and body: its JSON text, NULL for
 * none) into kv, and moves cur past every change read: a new epoch starts it over at 0, a
 * change that won is applied (kv_apply), a malformed one or one past a limit is stepped over
 * whole (counted, the first named in first_rejected). Returns 0 when the whole answer was
 * read, -1 when it is not a change list (not a 200, not JSON, no epoch, changes or node_id)
 * or a change has no sequence number above cur->since (nothing past it can be stepped to) or
 * memory ran out: what was applied before stays applied, cur stays past it, why says what. */
int repl_apply_answer(struct kv_store *kv, struct repl_cursor *cur, int status, const char *body,
                      struct repl_batch *out);

/* Starts replication of kv (which must outlive it) on loop. peers: "HOST:PORT,..." (IP
 * addresses; may be empty); peers_file: a file of more of them (NULL or "": none): one or
 * more a line, separated by commas or blanks, "#" starts a comment. A file that does not
 * parse fails the start; one that is missing is waited for; later, one that is gone or does
 * not parse leaves the peers as they were (logged, and in the status's peers_file.error).
 * self_host/self_port: this node's address, never its own peer; token: the cluster token
 * sent with every poll (NULL or "": none; copied). Returns NULL with a message in err. */
struct repl *repl_start(uv_loop_t *loop, struct kv_store *kv, const char *peers,
                        const char *peers_file, const char *self_host, int self_port,
                        const char *token, char *err, size_t errlen);

/* Checks a peer list without starting anything. Returns 0, or -1 with a message. */
int repl_peers_check(const char *peers, char *err, size_t errlen);

/* Tells waiting peers that kv changed (call after every local write and delete). */
void repl_changed(struct repl *r);

/* Answers GET /api/v1/kv/changes (possibly later: a long-poll). */
void repl_serve_changes(struct repl *r, struct http_request *req);

/* Answers GET /api/v1/kv/status: sequence numbers, peers (from config or the file) and how
 * far each was read, the peers file and why its last reading was not applied, per
 * origin the newest write applied here and when; with ?key=K that key's entry (version,
 * origin, when it was applied). A bad key gets 400. */
void repl_serve_status(struct repl *r, struct http_request *req);

/* Answers GET /api/v1/kv/log: the last applies (kv_log.h), oldest first, filtered by since,
 * key, origin and limit. Bad arguments get 400. */
void repl_serve_log(struct repl *r, struct http_request *req);

/* Answers pending long-polls, closes the peer connections, then calls done(data) and frees r. */
void repl_stop(struct repl *r, void (*done)(void *data), void *data);

#endif
