/* report_util.h -- small readers over the run document shared by the renderers. */
#ifndef HERD_REPORT_UTIL_H
#define HERD_REPORT_UTIL_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "report/report.h"

/* The number at a dotted path ("totals.requests"), 0 when absent. */
double report_num(const json_t *run, const char *path);
/* The string at a dotted path, "" when absent. */
const char *report_str(const json_t *run, const char *path);
/* The object or array at a dotted path, or NULL. */
json_t *report_get(const json_t *run, const char *path);

/* A run's verdict: "pass", "fail", or "not judged yet" when it is null (a distributed task
 * that still runs: only its end judges it). */
const char *report_verdict(const json_t *run);
/* A threshold's result: "ok", "FAIL", or "-" when not judged yet (pass is null). */
const char *report_threshold_result(const json_t *threshold);

/* Writes s with HTML's special characters escaped. */
void report_html_escape(FILE *out, const char *s);
/* Writes s for an XML attribute or text: escaped as for HTML, and what XML forbids (a control
 * character, U+FFFE, U+FFFF) replaced by U+FFFD, so that a CI system can always parse it. */
void report_xml_escape(FILE *out, const char *s);

/* Error classes in display order, as in the run document's "errors" objects. */
extern const char *const report_error_classes[];

/* A document written once for two outputs (doc.c): Markdown, or HTML when html is set. */
struct doc {
    FILE *out;
    bool html;
};
/* A heading of level 1..6, and a paragraph (the text is escaped for HTML). */
void doc_heading(struct doc *d, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void doc_para(struct doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Text shown as it is (a command's output): a fenced block in Markdown, <pre> in HTML. */
void doc_pre(struct doc *d, const char *text);
/* A table: header is its column names separated by '|', a number column's name starts with
 * '>'; then one doc_row per row (cells separated by '|'), then doc_table_end. A body cell
 * starting with '!' is a warning (a lost worker): bold in Markdown, class "flag" in HTML. */
void doc_table(struct doc *d, const char *header);
void doc_row(struct doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void doc_table_end(struct doc *d);

/* The HTML page frame (page.c): begin writes the head and opens the body; chart places a
 * chart of kind ("traffic", "nodes", "latency", "shares", "groups") over the document's data
 * at the dotted path source; end embeds the document and the scripts that draw the charts
 * and closes the page (returns -1 when the document cannot be encoded). */
void report_page_begin(FILE *out, const char *title);
void report_page_chart(FILE *out, const char *kind, const char *source, const char *title);
int report_page_end(FILE *out, const json_t *doc);

int report_text(const json_t *run, FILE *out);
int report_markdown(const json_t *run, FILE *out);
int report_html(const json_t *run, FILE *out);
int report_csv(const json_t *run, FILE *out);
/* A run as JUnit XML (run_junit.c): a test case per threshold. */
int report_run_junit(const json_t *run, FILE *out);

/* A distributed task's parts (workers.c): empty for a run of one machine (no "workers").
 * The seed tool's summary (total, success, failed, duration, QPS, by region) as plain lines,
 * each starting with indent; the per-region and per-worker tables and their notes (and, for
 * HTML, the charts of each one's share); the per-worker and per-region rows of the CSV. */
bool report_distributed(const json_t *run);
/* What ran the load, for the reports' first line: "2 threads" (one process: its threads), or
 * "3 workers" for a distributed task (its workers, not the shares they took over). Into buf;
 * returns buf. */
const char *report_load_side(const json_t *run, char *buf, size_t size);
/* A node's p50 and p99 cells ("0.041", or "-" when its latencies were not recorded per node,
 * as in a distributed task, whose workers post per-node counts only). */
void report_node_latency_cells(const json_t *node, char p50[16], char p99[16]);
void report_dist_summary(const json_t *run, FILE *out, const char *indent);
void report_dist_text(const json_t *run, FILE *out);
void report_dist_doc(struct doc *d, const json_t *run);
void report_dist_csv(const json_t *run, FILE *out);
/* The test document of `herd test` ("herd.test/1"). */
int report_test_text(const json_t *doc, FILE *out);
int report_test_markdown(const json_t *doc, FILE *out);
int report_test_junit(const json_t *doc, FILE *out);
int report_test_html(const json_t *doc, FILE *out);

#endif
