/* progress.c -- the live display of a running load: a redrawn block on a terminal, plain
 * lines elsewhere (see progress.h). */
#define _GNU_SOURCE /* strverscmp */
#include "load/progress.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mtime.h"

#define PROGRESS_NODES_SHOWN 16 /* node bars on a terminal; the rest are summed up in one line */
#define PROGRESS_NODE_BAR    20
#define PROGRESS_NAME_MAX    24 /* a node's name is cut to this many columns in its bar's line */
#define PROGRESS_LINE        512

struct progress {
    FILE *out;
    bool tty;
    pthread_mutex_t lock;
    char label[64];
    uint64_t phase_ns;  /* events count from here */
    double duration_s;  /* the load's planned total: a duration, or */
    uint64_t requests;  /* a number of requests (duration_s 0) */
    int drawn;          /* lines of the block on the screen, to redraw over */
    struct buf block;   /* those lines, each ending in \n, to draw again under an event */
};

struct progress *progress_new(FILE *out, bool tty)
{
    struct progress *pg = calloc(1, sizeof *pg);
    if (!pg) return NULL;
    pg->out = out;
    pg->tty = tty;
    pg->phase_ns = mtime_now_ns();
    pthread_mutex_init(&pg->lock, NULL);
    return pg;
}

void progress_free(struct progress *pg)
{
    if (!pg) return;
    pthread_mutex_destroy(&pg->lock);
    buf_free(&pg->block);
    free(pg);
}

int progress_columns(int fd)
{
    struct winsize ws;
    /* a narrow terminal's own width: lines cut to it, not wrapped (a wrapped line makes the
     * block taller than the lines the redraw moves up over, and the screen scrolls) */
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 80;
}

void progress_phase(struct progress *pg, const char *label)
{
    pthread_mutex_lock(&pg->lock);
    snprintf(pg->label, sizeof pg->label, "%s", label ? label : "");
    pg->phase_ns = mtime_now_ns();
    pg->drawn = 0; /* the last phase's block stays where it is */
    buf_reset(&pg->block);
    pthread_mutex_unlock(&pg->lock);
}

void progress_load(struct progress *pg, double duration_s, uint64_t requests)
{
    pthread_mutex_lock(&pg->lock);
    pg->duration_s = duration_s;
    pg->requests = requests;
    pg->drawn = 0; /* a load before it in the phase keeps its last block */
    buf_reset(&pg->block);
    pthread_mutex_unlock(&pg->lock);
}

/* ---- formatting ---- */

/* ms as "0.412ms", "3.12ms", "48.1ms", "1.25s"; not finite: "-". */
static void format_ms(double ms, char *out, size_t size)
{
    if (!isfinite(ms)) snprintf(out, size, "-");
    else if (ms < 1) snprintf(out, size, "%.3fms", ms);
    else if (ms < 10) snprintf(out, size, "%.2fms", ms);
    else if (ms < 1000) snprintf(out, size, "%.1fms", ms);
    else snprintf(out, size, "%.2fs", ms / 1000);
}

/* A node's name as it may go to a terminal: its answers chose it (a header), so bytes that
 * are not printable ASCII (escape sequences) become '?'; at most max columns. */
static void printable_name(const char *name, char *out, size_t max)
{
    size_t n = 0;
    for (; name[n] && n < max; n++)
        out[n] = name[n] >= 0x20 && name[n] < 0x7f ? name[n] : '?';
    out[n] = '\0';
}

/* "4.0s/10.0s", "4.0s  40000/100000", or "4.0s" without a total. */
static void format_head(const struct progress *pg, const struct load_progress *p, char *out,
                        size_t size)
{
    if (pg->duration_s > 0)
        snprintf(out, size, "%4.1fs/%.1fs", p->elapsed_s, pg->duration_s);
    else if (pg->requests > 0)
        snprintf(out, size, "%4.1fs  %llu/%llu", p->elapsed_s, (unsigned long long)p->requests,
                 (unsigned long long)pg->requests);
    else
        snprintf(out, size, "%4.1fs", p->elapsed_s);
}

/* "1998 req/s  errors 12  p99 3.1ms": the last second's rate and p99, the errors so far. */
static void format_numbers(const struct load_progress *p, char *out, size_t size)
{
    const struct load_second *s = p->last;
    double length = p->elapsed_s - (double)(p->second - 1); /* the last second may be short */
    if (length > 1 || length <= 0) length = 1;
    char p99[32];
    format_ms(s->max_us > 0 ? (double)s->p99_us / 1000 : NAN, p99, sizeof p99);
    snprintf(out, size, "%.0f req/s  errors %llu  p99 %s", (double)s->counters.requests / length,
             (unsigned long long)p->failures, p99);
}

/* Node i's share of the last second's answers, 0..1. */
static double node_share(const struct load_progress *p, size_t i)
{
    uint64_t all = 0;
    for (size_t k = 0; k < p->node_count; k++)
        all += p->last->node_requests[k];
    return all ? (double)p->last->node_requests[i] / (double)all : 0;
}

/* The nodes in name order, numbers inside names compared as numbers (api.2 before api.10), as
 * the reports list them: indexes into p's nodes in order[], p->node_count of them (at most
 * LOAD_MAX_NODES: an insertion sort is enough). */
static void node_order(const struct load_progress *p, size_t order[LOAD_MAX_NODES])
{
    size_t n = p->node_count < LOAD_MAX_NODES ? p->node_count : LOAD_MAX_NODES;
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        for (; j > 0 && strverscmp(p->node_names[order[j - 1]], p->node_names[i]) > 0; j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
}

/* width characters: '#' for the filled fraction, '.' for the rest. */
static void format_bar(double fraction, int width, char *out)
{
    if (!(fraction > 0)) fraction = 0; /* NAN too */
    if (fraction > 1) fraction = 1;
    int filled = (int)(fraction * width + 0.5);
    memset(out, '#', (size_t)filled);
    memset(out + filled, '.', (size_t)(width - filled));
    out[width] = '\0';
}

/* How far the load is, 0..1, for the main bar. */
static double load_fraction(const struct progress *pg, const struct load_progress *p)
{
    if (pg->duration_s > 0) return p->elapsed_s / pg->duration_s;
    if (pg->requests > 0) return (double)p->requests / (double)pg->requests;
    return 0;
}

/* Appends line to b cut to columns - 1 characters (a full line would wrap on some terminals,
 * and the block's height would be off), then a newline. */
static void append_line(struct buf *b, const char *line, int columns)
{
    size_t len = strlen(line), max = columns > 1 ? (size_t)columns - 1 : 1;
    buf_append(b, line, len < max ? len : max);
    buf_append(b, "\n", 1);
}

/* The terminal's block for p into b: the main line, then one line per node. Returns its
 * lines. */
static int render_block(const struct progress *pg, const struct load_progress *p, int columns,
                        struct buf *b)
{
    char head[64], numbers[160], line[PROGRESS_LINE], bar[64];
    format_head(pg, p, head, sizeof head);
    format_numbers(p, numbers, sizeof numbers);
    int lead = pg->label[0] ? (int)strlen(pg->label) + 3 : 0; /* "  label " */
    int width = columns - 1 - lead - 2 - 2 - (int)strlen(head) - 2 - (int)strlen(numbers);
    width = width < 10 ? 10 : width > 40 ? 40 : width;
    format_bar(load_fraction(pg, p), width, bar);
    if (pg->label[0])
        snprintf(line, sizeof line, "  %s [%s]  %s  %s", pg->label, bar, head, numbers);
    else
        snprintf(line, sizeof line, "[%s]  %s  %s", bar, head, numbers);
    append_line(b, line, columns);
    int lines = 1, name_width = 0;
    size_t order[LOAD_MAX_NODES];
    node_order(p, order);
    for (size_t k = 0; k < p->node_count && k < PROGRESS_NODES_SHOWN; k++) {
        int len = (int)strlen(p->node_names[order[k]]);
        name_width = len > name_width ? len : name_width;
    }
    name_width = name_width > PROGRESS_NAME_MAX ? PROGRESS_NAME_MAX : name_width;
    for (size_t k = 0; k < p->node_count && k < PROGRESS_NODES_SHOWN; k++) {
        size_t i = order[k];
        char name[PROGRESS_NAME_MAX + 1];
        printable_name(p->node_names[i], name, PROGRESS_NAME_MAX);
        double share = node_share(p, i);
        format_bar(share, PROGRESS_NODE_BAR, bar);
        snprintf(line, sizeof line, "    %-*s [%s] %3.0f%%", name_width, name, bar, 100 * share);
        append_line(b, line, columns);
        lines++;
    }
    if (p->node_count > PROGRESS_NODES_SHOWN) {
        snprintf(line, sizeof line, "    ... and %zu nodes more", p->node_count - PROGRESS_NODES_SHOWN);
        append_line(b, line, columns);
        lines++;
    }
    return lines;
}

/* The plain line for p into b. */
static void render_line(const struct progress *pg, const struct load_progress *p, struct buf *b)
{
    char head[64], numbers[160];
    format_head(pg, p, head, sizeof head);
    format_numbers(p, numbers, sizeof numbers);
    if (pg->label[0])
        buf_printf(b, "  %s  %s  %s", pg->label, head, numbers);
    else
        buf_printf(b, "[%s]  %s", head, numbers);
    size_t order[LOAD_MAX_NODES];
    node_order(p, order);
    for (size_t k = 0; k < p->node_count && k < LOAD_MAX_NODES; k++) {
        size_t i = order[k];
        char name[LOAD_NODE_NAME];
        printable_name(p->node_names[i], name, sizeof name - 1);
        buf_printf(b, "  %s %.0f%%", name, 100 * node_share(p, i));
    }
    buf_append(b, "\n", 1);
}

/* Whether the plain display shows second p: every second up to a minute of planned load,
 * then every 5 s, past ten minutes every 10 s; and always the load's end. */
static bool plain_due(const struct progress *pg, const struct load_progress *p)
{
    unsigned every = pg->duration_s > 600 ? 10 : pg->duration_s > 60 ? 5 : 1;
    bool ended = (pg->duration_s > 0 && p->elapsed_s >= pg->duration_s) ||
                 (pg->requests > 0 && p->requests >= pg->requests);
    return p->second % every == 0 || ended;
}

/* Writes frame to the display at once (one write: no flicker). */
static void emit(struct progress *pg, const struct buf *frame)
{
    if (frame->len) fwrite(frame->data, 1, frame->len, pg->out);
    fflush(pg->out);
}

/* Appends to frame what moves the cursor back to the top of the drawn block and clears it. */
static void erase_block(const struct progress *pg, struct buf *frame)
{
    if (pg->drawn > 0) buf_printf(frame, "\x1b[%dA", pg->drawn);
    buf_append_str(frame, "\r\x1b[J");
}

void progress_on_second(const struct load_progress *p, void *data)
{
    struct progress *pg = data;
    /* the sliver of a second the drain adds at the end has no rate worth showing */
    if (p->second > 1 && p->elapsed_s - (double)(p->second - 1) < 0.2) return;
    struct buf frame = {0};
    pthread_mutex_lock(&pg->lock);
    if (!pg->tty) {
        if (plain_due(pg, p)) render_line(pg, p, &frame);
    } else {
        buf_reset(&pg->block);
        int lines = render_block(pg, p, progress_columns(fileno(pg->out)), &pg->block);
        erase_block(pg, &frame);
        buf_append(&frame, pg->block.data, pg->block.len);
        pg->drawn = lines;
    }
    emit(pg, &frame);
    pthread_mutex_unlock(&pg->lock);
    buf_free(&frame);
}

void progress_event(struct progress *pg, double ago_s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    progress_eventv(pg, ago_s, fmt, ap);
    va_end(ap);
}

void progress_eventv(struct progress *pg, double ago_s, const char *fmt, va_list ap)
{
    char text[PROGRESS_LINE];
    vsnprintf(text, sizeof text, fmt, ap);
    struct buf frame = {0};
    pthread_mutex_lock(&pg->lock);
    double at = (double)(mtime_now_ns() - pg->phase_ns) / 1e9 - ago_s;
    if (pg->tty) erase_block(pg, &frame);
    buf_printf(&frame, "  +%.3fs %s\n", at, text);
    if (pg->tty && pg->block.len) buf_append(&frame, pg->block.data, pg->block.len);
    emit(pg, &frame);
    pthread_mutex_unlock(&pg->lock);
    buf_free(&frame);
}
