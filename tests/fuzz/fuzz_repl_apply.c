/* fuzz_repl_apply.c -- the answers a node reads from a replication peer (GET
 * /api/v1/kv/changes), applied by repl_apply_answer to an in-memory store that already holds
 * two local writes. The input is one or more answers separated by form feeds (never part of a
 * JSON text), read in turn with one cursor, as successive polls of one peer are. After each:
 * versions never went backwards, the store's limits hold, every applied change took exactly
 * one sequence number and one apply-log record (a rejected one none: nothing of it applied),
 * nothing is left half-made, and a refusal says why. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "node/kv.h"
#include "node/kv_log.h"
#include "node/repl.h"

/* A key's winning write before an answer was read. */
struct held {
    char *key;
    uint64_t version;
    char origin[KV_ORIGIN_MAX];
};

static size_t snapshot(const struct kv_store *kv, struct held **out)
{
    size_t n = 0;
    for (const struct kv_entry *e = kv->first_change; e; e = e->next_change) n++;
    struct held *h = calloc(n + 1, sizeof *h);
    if (!h) abort();
    n = 0;
    for (const struct kv_entry *e = kv->first_change; e; e = e->next_change, n++) {
        if (!(h[n].key = strdup(e->key))) abort();
        h[n].version = e->version;
        memcpy(h[n].origin, e->origin, sizeof h[n].origin);
    }
    *out = h;
    return n;
}

/* The store's own invariants: limits, the change list, the counts. */
static void check_store(const struct kv_store *kv, const char *input)
{
    size_t entries = 0, live = 0;
    uint64_t last_seq = 0;
    for (const struct kv_entry *e = kv->first_change; e; e = e->next_change) {
        size_t klen = strlen(e->key), olen = strlen(e->origin);
        if (klen == 0 || klen >= KV_KEY_MAX || olen == 0 || olen >= KV_ORIGIN_MAX ||
            e->value_len > KV_VALUE_MAX || (e->deleted && e->value_len))
            fuzz_fail("an entry past the store's limits", input);
        if (e->version == 0 || e->version > kv->clock || kv->clock > KV_VERSION_MAX)
            fuzz_fail("a version of 0, past the clock, or a clock past the maximum", input);
        if (e->seq <= last_seq || e->seq > kv->seq)
            fuzz_fail("the change list out of sequence order", input);
        if (kv_lookup(kv, e->key) != e) fuzz_fail("an entry its key does not find", e->key);
        last_seq = e->seq;
        entries++;
        live += !e->deleted;
    }
    if (entries != kv->entries || live != kv->count)
        fuzz_fail("counts that differ from the entries (a half-made entry)", input);
}

static void read_answer(struct kv_store *kv, struct repl_cursor *cur, const char *answer)
{
    struct held *before;
    size_t held = snapshot(kv, &before);
    uint64_t seq = kv->seq, clock = kv->clock, logged = kv->log->total;
    struct repl_cursor was = *cur;
    struct repl_batch b;
    int rc = repl_apply_answer(kv, cur, 200, answer, &b);
    if (rc < 0 && !b.why[0]) fuzz_fail("an answer refused without a reason", answer);
    if (b.rejected && !b.first_rejected[0])
        fuzz_fail("a change rejected without a reason", answer);
    if (b.applied + b.rejected > b.count) fuzz_fail("more changes read than given", answer);
    if (kv->seq - seq != b.applied || kv->log->total - logged != b.applied)
        fuzz_fail("a change applied without its sequence number and log record, or a "
                  "rejected one partly applied",
                  answer);
    if (kv->clock < clock) fuzz_fail("the clock went back", answer);
    if (cur->epoch == was.epoch && cur->since < was.since)
        fuzz_fail("the cursor went back within an epoch", answer);
    if (b.restarted && was.epoch == 0) fuzz_fail("a first answer taken for a restart", answer);
    check_store(kv, answer);
    for (size_t i = 0; i < held; i++) {
        const struct kv_entry *e = kv_lookup(kv, before[i].key);
        if (!e) fuzz_fail("a key lost", before[i].key);
        if (e->version < before[i].version ||
            (e->version == before[i].version && strcmp(e->origin, before[i].origin) < 0))
            fuzz_fail("a version went backwards", before[i].key);
        free(before[i].key);
    }
    free(before);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    struct kv_store kv;
    if (kv_init(&kv, "self") < 0) abort();
    int created;
    if (!kv_put(&kv, "a", "1", 1, &created) || !kv_put(&kv, "b", "2", 1, &created)) abort();
    struct repl_cursor cur = {0};
    char *save = NULL;
    for (char *answer = strtok_r(text, "\f", &save); answer; answer = strtok_r(NULL, "\f", &save))
        read_answer(&kv, &cur, answer);
    kv_free(&kv);
    free(text);
    return 0;
}
