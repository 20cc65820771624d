/* stats.c -- what a load run measures: totals, per node, per second. */
#include "load/stats.h"

#include <stdio.h>
#include <string.h>

int load_stats_init(struct load_stats *s)
{
    memset(s, 0, sizeof *s);
    s->latency = hist_new();
    s->uncorrected = hist_new();
    s->tls_handshake = hist_new();
    return s->latency && s->uncorrected && s->tls_handshake ? 0 : -1;
}

void load_stats_free(struct load_stats *s)
{
    hist_free(s->latency);
    hist_free(s->uncorrected);
    hist_free(s->tls_handshake);
    for (size_t i = 0; i < s->node_count; i++)
        hist_free(s->nodes[i].latency);
    memset(s, 0, sizeof *s);
}

int load_interval_init(struct load_interval *iv)
{
    memset(iv, 0, sizeof *iv);
    iv->latency = hist_new();
    return iv->latency ? 0 : -1;
}

void load_interval_reset(struct load_interval *iv)
{
    struct hist *h = iv->latency;
    hist_reset(h);
    memset(iv, 0, sizeof *iv);
    iv->latency = h;
}

void load_interval_free(struct load_interval *iv)
{
    hist_free(iv->latency);
    memset(iv, 0, sizeof *iv);
}

int load_stats_node(struct load_stats *s, const char *name)
{
    for (size_t i = 0; i < s->node_count; i++)
        if (strcmp(s->nodes[i].name, name) == 0)
            return (int)i;
    if (s->node_count == LOAD_MAX_NODES - 1 && strcmp(name, LOAD_OTHER_NODES) != 0)
        return load_stats_node(s, LOAD_OTHER_NODES);
    if (s->node_count == LOAD_MAX_NODES)
        return (int)LOAD_MAX_NODES - 1;
    struct load_node *n = &s->nodes[s->node_count];
    memset(n, 0, sizeof *n);
    snprintf(n->name, sizeof n->name, "%s", name);
    if (!(n->latency = hist_new()))
        return -1;
    return (int)s->node_count++;
}

void load_stats_record(struct load_stats *s, struct load_interval *iv, int node,
                       const struct load_sample *sample)
{
    counters_add(&s->counters, sample->cls);
    s->counters.bytes_in += sample->bytes_in;
    s->counters.bytes_out += sample->bytes_out;
    if (sample->status > 0 && sample->status < LOAD_STATUS_MAX)
        s->status[sample->status]++;
    if (sample->tls_handshake) {
        *(sample->tls_resumed ? &s->tls_resumed : &s->tls_full) += 1;
        hist_record(s->tls_handshake, sample->tls_handshake_us);
    }
    struct load_node *n = node >= 0 ? &s->nodes[node] : NULL;
    if (n) {
        counters_add(&n->counters, sample->cls);
        n->counters.bytes_in += sample->bytes_in;
    }
    if (sample->timed) {
        hist_record(s->latency, sample->latency_us);
        hist_record(s->uncorrected, sample->uncorrected_us);
        if (n)
            hist_record(n->latency, sample->latency_us);
    }
    if (iv) {
        counters_add(&iv->counters, sample->cls);
        iv->counters.bytes_in += sample->bytes_in;
        iv->counters.bytes_out += sample->bytes_out;
        if (sample->timed)
            hist_record(iv->latency, sample->latency_us);
        if (node >= 0) {
            iv->node_requests[node]++;
            iv->node_failures[node] += sample->cls != COUNTER_OK;
        }
    }
}

void load_stats_record_unsent(struct load_stats *s, bool dropped, uint64_t latency_us)
{
    if (dropped)
        s->dropped++;
    else
        s->not_sent++;
    hist_record(s->latency, latency_us);
}

int load_stats_merge(struct load_stats *dst, const struct load_stats *src)
{
    counters_merge(&dst->counters, &src->counters);
    dst->scheduled += src->scheduled;
    dst->not_sent += src->not_sent;
    dst->dropped += src->dropped;
    hist_merge(dst->latency, src->latency);
    hist_merge(dst->uncorrected, src->uncorrected);
    dst->tls_full += src->tls_full;
    dst->tls_resumed += src->tls_resumed;
    hist_merge(dst->tls_handshake, src->tls_handshake);
    for (int i = 0; i < LOAD_STATUS_MAX; i++)
        dst->status[i] += src->status[i];
    for (size_t i = 0; i < src->node_count; i++) {
        int j = load_stats_node(dst, src->nodes[i].name);
        if (j < 0)
            return -1;
        counters_merge(&dst->nodes[j].counters, &src->nodes[i].counters);
        hist_merge(dst->nodes[j].latency, src->nodes[i].latency);
    }
    return 0;
}
