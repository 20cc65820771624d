/* progress.h -- the live display of a load while it runs (herd bench, herd test).
 *
 * On a terminal: one status block redrawn in place each second (a bar of elapsed over the
 * planned total, rate, errors, p99, one small bar per node with its share of the last second),
 * and events (a fault injected, a node restarted) printed as permanent lines above it.
 * Elsewhere (a pipe, a file, CI): a plain line each second (every 5 s past a minute of planned
 * load, every 10 s past ten minutes) and a plain line per event:
 *
 *     failover  4.0s/10.0s  1998 req/s  errors 12  p99 3.1ms  api.1 50% api.2 0% api.3 50%
 *     +3.002s fault kill api.2
 *
 * The display is fed from load_run's progress callback, on the thread that called load_run
 * (the engine's own loop, never a load thread: rendering never slows the load), and events
 * may come from any other thread; each call takes the display's lock once. */
#ifndef HERD_LOAD_PROGRESS_H
#define HERD_LOAD_PROGRESS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "load/engine.h"

struct progress;

/* A display writing to out (herd writes it to stderr: stdout keeps the verdicts and reports).
 * tty: redraw one block in place (isatty of out's descriptor), else plain lines. Returns a
 * new display (free with progress_free), or NULL when out of memory. */
struct progress *progress_new(FILE *out, bool tty);

void progress_free(struct progress *pg);

/* A new phase begins (a check of a plan): label names it on every line ("" or NULL: none, as
 * in herd bench, whose lines start with "[elapsed/total]"); the times of events count from
 * now. The block of the phase before stays on the screen. */
void progress_phase(struct progress *pg, const char *label);

/* A load of the phase begins: its planned total, a duration in seconds, or (duration_s 0) a
 * number of requests; both 0: no total is shown. */
void progress_load(struct progress *pg, double duration_s, uint64_t requests);

/* One second of the running load: a load_progress_fn (data: the struct progress), so
 * load_run(plan, result, progress_on_second, pg, ...) feeds the display directly. */
void progress_on_second(const struct load_progress *p, void *data);

/* An event that happened ago_s seconds ago (0: now), printf-style: a permanent line
 * "  +3.002s TEXT" (when it happened, in seconds since the phase began), above the block on a
 * terminal. */
void progress_event(struct progress *pg, double ago_s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with a va_list. */
void progress_eventv(struct progress *pg, double ago_s, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* The terminal's width in columns for descriptor fd (TIOCGWINSZ), however narrow, or 80 when
 * it has none. */
int progress_columns(int fd);

#endif
