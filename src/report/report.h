/* report.h -- renders a run document (JSON, see docs/run-json.md) as text for the terminal,
 * Markdown, self-contained HTML, or CSV. */
#ifndef HERD_REPORT_REPORT_H
#define HERD_REPORT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* True for "json", "md", "html", "csv", "text". */
bool report_format_known(const char *format);

/* Writes run (a jansson json_t *) in format to out. Returns 0, or -1 with a message. */
int report_render(const void *run, const char *format, FILE *out, char *err, size_t errlen);

/* Writes the run to path atomically (a temporary file renamed into place), so a crash never
 * leaves half a report. Returns 0 or -1 with a message. */
int report_write_file(const void *run, const char *format, const char *path, char *err,
                      size_t errlen);

#endif
