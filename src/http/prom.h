/* prom.h -- Prometheus text exposition format (version 0.0.4): label values and metric
 * families, for the gateway's and the master's GET /metrics. */
#ifndef HERD_HTTP_PROM_H
#define HERD_HTTP_PROM_H

#include <stddef.h>

#include "base/buf.h"

/* The Content-Type of a Prometheus text answer. */
#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Copies s into out (size bytes, NUL-terminated) as a label value: \\, \" and \n escaped. A
 * value that does not fit is cut before the escape that would not fit; 2 * strlen(s) + 1
 * bytes always suffice. */
void prom_label_escape(const char *s, char *out, size_t size);

/* Appends a metric family's header: "# HELP name help" (help with \\ and \n escaped) and
 * "# TYPE name type" (type: counter, gauge, histogram, summary or untyped). Returns 0, or -1
 * when out of memory. */
int prom_family(struct buf *b, const char *name, const char *type, const char *help);

#endif
