/* report_util.h -- small readers over the run document shared by the renderers. */
#ifndef HERD_REPORT_UTIL_H
#define HERD_REPORT_UTIL_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

/* The number at a dotted path ("totals.requests"), 0 when absent. */
double report_num(const json_t *run, const char *path);
/* The string at a dotted path, "" when absent. */
const char *report_str(const json_t *run, const char *path);
/* The object or array at a dotted path, or NULL. */
json_t *report_get(const json_t *run, const char *path);

/* Writes s with HTML's special characters escaped. */
void report_html_escape(FILE *out, const char *s);

/* Error classes in display order, as in the run document's "errors" objects. */
extern const char *const report_error_classes[];

int report_text(const json_t *run, FILE *out);
int report_markdown(const json_t *run, FILE *out);
int report_html(const json_t *run, FILE *out);
int report_csv(const json_t *run, FILE *out);
/* The test document of `herd test` ("herd.test/1"). */
int report_test_text(const json_t *doc, FILE *out);
int report_test_markdown(const json_t *doc, FILE *out);
int report_test_junit(const json_t *doc, FILE *out);

#endif
