/* report.h -- renders a run document (JSON, see docs/run-json.md) as text for the terminal,
 * Markdown, self-contained HTML, CSV or JUnit XML (a test case per threshold). */
#ifndef HERD_REPORT_REPORT_H
#define HERD_REPORT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Reads a document herd bench (-o json) or herd test (run.json) saved: JSON whose "schema" is
 * herd.run/1 or herd.test/1. Returns it (a new json_t *, the caller decrefs), or NULL with
 * "PATH:LINE:COL: what" or "PATH: schema: ..." in err. */
void *report_load(const char *path, char *err, size_t errlen);

/* Compares two documents of report_load (old_name and new_name name them in the text): prints
 * to out a row per metric of NEW against OLD (latency percentiles, error rate, throughput; per
 * check for tests, failover times and verdicts included), each marked REGRESSED when it got
 * worse by more than tolerance (a share: 0.1 is 10%). Returns the number of regressions, or -1
 * with a message when the two are not of one schema. */
int report_compare(const void *old_doc, const void *new_doc, const char *old_name,
                   const char *new_name, double tolerance, FILE *out, char *err, size_t errlen);

/* True for "json", "md", "html", "csv", "junit", "text". */
bool report_format_known(const char *format);

/* Writes run (a jansson json_t *) in format to out. Returns 0, or -1 with a message. */
int report_render(const void *run, const char *format, FILE *out, char *err, size_t errlen);

/* Writes the run to path atomically (a temporary file renamed into place), so a crash never
 * leaves half a report. Returns 0 or -1 with a message. */
int report_write_file(const void *run, const char *format, const char *path, char *err,
                      size_t errlen);

/* The one naming scheme of report files, herd test's and herd report's alike: STEM.EXT,
 * where EXT is the format's extension ("junit.xml" for junit, "txt" for text, the format's
 * own name otherwise). herd test's stem is DIR/run (run.json, run.md, run.html,
 * run.junit.xml); herd report's is its input's path (or --out-dir/NAME) without ".json".
 * Writes "STEM.EXT" into buf (size bytes); returns 0, or -1 when it does not fit. */
int report_file_name(const char *stem, const char *format, char *buf, size_t size);

/* Whether report_write_file can put a file at path, checked before anything is written:
 * path must not be a directory, and its nearest existing directory (the one path names or,
 * when missing, the ancestor that would hold it) must be a writable directory. Returns 0, or
 * -1 with "PATH: why" in err. */
int report_check_target(const char *path, char *err, size_t errlen);

/* An expectation's measured value ("actual" of e, in the expectation's own terms: a fraction
 * for a percentage, ms for a duration) as text in the unit the expectation text was written
 * in: "0.20 s" for "rejoin <2s", "100%" for "errors <0.1%", "3.1 ms", "12". A null value
 * says why: e's "why" when given, else "not measured". Writes into buf (size bytes) and
 * returns it. */
const char *report_actual(const void *e, const char *expect, char *buf, size_t size);

#endif
