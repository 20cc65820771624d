/* workers.c -- a distributed task's own parts of every report: the seed tool's summary
 * (total, success, failed, duration, QPS, by region), the per-region and per-worker tables
 * with herd's percentiles, lost and saturated workers marked, and their CSV rows. */
#include <stdlib.h>
#include <string.h>

#include "report/report_util.h"

#define CELL 128 /* one table cell's text (a worker's state may carry its error) */

enum { WORKER_COLUMNS = 14, REGION_COLUMNS = 13 };

/* "failed" is what was sent and failed, "not sent" what was never sent (not sent + dropped),
 * as in the Totals table: ok + failed + not sent = scheduled. */
static const char *const worker_header[WORKER_COLUMNS] = {
    "worker", ">requests", ">share", ">ok", ">failed", ">not sent", ">error rate", ">req/s",
    ">p50 ms", ">p99 ms", ">max ms", ">CPU max", ">start +ms", "state"};
static const char *const region_header[REGION_COLUMNS] = {
    "region", ">workers", ">requests", ">share", ">ok", ">failed", ">not sent", ">error rate",
    ">req/s", ">p50 ms", ">p90 ms", ">p99 ms", ">max ms"};

bool report_distributed(const json_t *run)
{
    return json_is_array(report_get(run, "workers"));
}

const char *report_load_side(const json_t *run, char *buf, size_t size)
{
    if (!report_distributed(run)) {
        double threads = report_num(report_get(run, "config"), "threads");
        snprintf(buf, size, "%.0f thread%s", threads, threads == 1 ? "" : "s");
        return buf;
    }
    size_t i, workers = 0;
    json_t *w;
    json_array_foreach(report_get(run, "workers"), i, w)
        workers += !json_object_get(w, "part_of");
    snprintf(buf, size, "%zu worker%s", workers, workers == 1 ? "" : "s");
    return buf;
}

void report_node_latency_cells(const json_t *node, char p50[16], char p99[16])
{
    if (report_num(node, "latency_ms.samples") == 0) {
        snprintf(p50, 16, "-");
        snprintf(p99, 16, "-");
        return;
    }
    snprintf(p50, 16, "%.3f", report_num(node, "latency_ms.p50"));
    snprintf(p99, 16, "%.3f", report_num(node, "latency_ms.p99"));
}

/* "3 workers in 2 regions": a reassigned share (an entry with part_of) is not one more worker. */
static void workers_in_regions(const json_t *run, char *text, size_t size)
{
    const json_t *v;
    size_t i, workers = 0, regions = json_array_size(report_get(run, "regions"));
    json_array_foreach(report_get(run, "workers"), i, v)
        workers += !json_is_string(json_object_get(v, "part_of"));
    snprintf(text, size, "%zu worker%s in %zu region%s", workers, workers == 1 ? "" : "s",
             regions, regions == 1 ? "" : "s");
}

/* A name for a table cell: "(none)" for "", and no '|' (it separates the cells). */
static void name_cell(char *cell, const char *name)
{
    snprintf(cell, CELL, "%s", *name ? name : "(none)");
    for (char *p = cell; *p; p++)
        if (*p == '|') *p = '/';
}

/* A latency figure of a group, "-" when it measured nothing. */
static void latency_cell(char *cell, const json_t *group, const char *which)
{
    char path[32];
    snprintf(path, sizeof path, "latency_ms.%s", which);
    if (report_num(group, "latency_ms.samples") == 0)
        snprintf(cell, CELL, "-");
    else
        snprintf(cell, CELL, "%.3f", report_num(group, path));
}

/* requests, share of the task's requests, ok, failed, not sent, error rate, req/s */
static void count_cells(char cells[][CELL], const json_t *group, double total)
{
    double requests = report_num(group, "requests"), ok = report_num(group, "ok");
    snprintf(cells[0], CELL, "%.0f", requests);
    snprintf(cells[1], CELL, "%.1f%%", total > 0 ? 100 * requests / total : 0);
    snprintf(cells[2], CELL, "%.0f", ok);
    snprintf(cells[3], CELL, "%.0f", requests - ok);
    snprintf(cells[4], CELL, "%.0f", report_num(group, "not_sent") + report_num(group, "dropped"));
    if (json_is_number(report_get(group, "error_rate")))
        snprintf(cells[5], CELL, "%.3f%%", 100 * report_num(group, "error_rate"));
    else
        snprintf(cells[5], CELL, "-");
    snprintf(cells[6], CELL, "%.1f", report_num(group, "rps"));
}

/* A worker's row; a cell starting with '!' is a warning (LOST, SATURATED). */
static void worker_cells(char cells[WORKER_COLUMNS][CELL], const json_t *w, double total)
{
    name_cell(cells[0], report_str(w, "id"));
    count_cells(cells + 1, w, total);
    latency_cell(cells[8], w, "p50");
    latency_cell(cells[9], w, "p99");
    latency_cell(cells[10], w, "max");
    bool saturated = json_is_true(report_get(w, "saturated"));
    snprintf(cells[11], CELL, "%s%.0f%%%s", saturated ? "!" : "", 100 * report_num(w, "cpu_max"),
             saturated ? " SATURATED" : "");
    if (json_is_number(report_get(w, "start_offset_ms")))
        snprintf(cells[12], CELL, "%.1f", report_num(w, "start_offset_ms"));
    else
        snprintf(cells[12], CELL, "-");
    if (json_is_string(report_get(w, "error"))) {
        /* its part could not run: why, as the worker said it (a '|' would split the cell) */
        snprintf(cells[13], CELL, "!error: %s", report_str(w, "error"));
        if (strlen(report_str(w, "error")) + 8 >= CELL)
            memcpy(cells[13] + CELL - 4, "...", 4);
        for (char *p = cells[13]; *p; p++)
            if (*p == '|') *p = '/';
        return;
    }
    const char *state = json_is_true(report_get(w, "lost"))          ? "!LOST"
                        : report_num(w, "intervals") == 0              ? "!no intervals"
                        : !json_is_true(report_get(w, "final"))        ? "running"
                        : json_is_true(report_get(w, "breaker_tripped")) ? "breaker tripped"
                                                                         : "done";
    snprintf(cells[13], CELL, "%s", state);
}

static void region_cells(char cells[REGION_COLUMNS][CELL], const json_t *r, double total)
{
    name_cell(cells[0], report_str(r, "region"));
    snprintf(cells[1], CELL, "%.0f", report_num(r, "workers"));
    count_cells(cells + 2, r, total);
    latency_cell(cells[9], r, "p50");
    latency_cell(cells[10], r, "p90");
    latency_cell(cells[11], r, "p99");
    latency_cell(cells[12], r, "max");
}

/* How many workers are lost and how many saturated. */
static void worker_flags(const json_t *run, size_t *lost, size_t *saturated)
{
    size_t i;
    json_t *w;
    *lost = *saturated = 0;
    json_array_foreach(report_get(run, "workers"), i, w) {
        *lost += json_is_true(report_get(w, "lost"));
        *saturated += json_is_true(report_get(w, "saturated"));
    }
}

static const char saturated_note[] =
    "SATURATED: the worker's CPU was at or above 90% of its cores for 3 s or more, so it may "
    "have made less load than asked: its numbers, and the task's, understate what the target "
    "can take.";
static const char lost_note[] =
    "LOST: the master stopped hearing from the worker (10 s without a call). Its numbers are "
    "what it sent before; a request-count task's unfinished share went to the other workers, "
    "a duration task's is missing from the totals.";

void report_dist_summary(const json_t *run, FILE *out, const char *indent)
{
    if (!report_distributed(run))
        return;
    json_t *t = report_get(run, "totals");
    double scheduled = report_num(t, "scheduled"), ok = report_num(t, "ok"),
           failed = report_num(t, "requests") - ok,
           unsent = report_num(t, "not_sent") + report_num(t, "dropped");
    fprintf(out, "%sTotal Requests : %.0f\n", indent, scheduled);
    fprintf(out, "%sTotal Success  : %.0f (%.2f%%)\n", indent, ok,
            scheduled > 0 ? 100 * ok / scheduled : 0);
    fprintf(out, "%sTotal Failed   : %.0f (%.2f%%)\n", indent, failed,
            scheduled > 0 ? 100 * failed / scheduled : 0);
    fprintf(out, "%sTotal Not Sent : %.0f (%.2f%%)\n", indent, unsent,
            scheduled > 0 ? 100 * unsent / scheduled : 0);
    fprintf(out, "%sTotal Duration : %.2f s\n", indent, report_num(run, "elapsed_s"));
    fprintf(out, "%sTotal QPS      : %.2f\n", indent, report_num(t, "rps"));
    fprintf(out, "\n%sBy Region:\n", indent);
    size_t i, width = 6;
    json_t *r;
    json_array_foreach(report_get(run, "regions"), i, r) {
        size_t n = strlen(report_str(r, "region"));
        width = n > width ? n : width;
    }
    json_array_foreach(report_get(run, "regions"), i, r) {
        char name[CELL];
        name_cell(name, report_str(r, "region"));
        fprintf(out, "%s  %-*s : %.0f requests, QPS: %.2f\n", indent, (int)width, name,
                report_num(r, "requests"), report_num(r, "rps"));
    }
}

/* One text table: a header and rows of n cells, each column as wide as its widest cell;
 * a warning cell is written without its '!'. */
static void text_table(FILE *out, const char *const *header, char (*rows)[CELL], size_t count,
                       size_t n)
{
    size_t width[WORKER_COLUMNS] = {0};
    for (size_t c = 0; c < n; c++) {
        const char *h = header[c] + (header[c][0] == '>');
        width[c] = strlen(h);
        for (size_t r = 0; r < count; r++) {
            const char *cell = rows[r * n + c];
            size_t len = strlen(cell) - (cell[0] == '!');
            width[c] = len > width[c] ? len : width[c];
        }
    }
    for (size_t r = 0; r <= count; r++) {
        fputs(" ", out);
        for (size_t c = 0; c < n; c++) {
            bool number = header[c][0] == '>';
            const char *cell = r == 0 ? header[c] + number : rows[(r - 1) * n + c];
            cell += r > 0 && cell[0] == '!';
            if (c + 1 == n && !number)
                fprintf(out, " %s", cell); /* no blanks at the end of a line */
            else
                fprintf(out, number ? " %*s" : " %-*s", (int)width[c], cell);
        }
        fputc('\n', out);
    }
}

/* A note as lines of at most 96 columns, indented by 2 (4 after the first). */
static void text_wrapped(FILE *out, const char *text)
{
    const char *indent = "  ";
    while (*text) {
        size_t room = 96 - strlen(indent), n = strlen(text);
        if (n > room) {
            n = room;
            while (n > 0 && text[n] != ' ')
                n--;
            if (n == 0)
                n = strcspn(text, " ");
        }
        fprintf(out, "%s%.*s\n", indent, (int)n, text);
        text += n;
        text += strspn(text, " ");
        indent = "    ";
    }
}

void report_dist_text(const json_t *run, FILE *out)
{
    if (!report_distributed(run))
        return;
    json_t *workers = report_get(run, "workers"), *regions = report_get(run, "regions"), *v;
    double total = report_num(run, "totals.requests");
    size_t i, lost, saturated;
    char counted[96];
    workers_in_regions(run, counted, sizeof counted);
    fprintf(out, "\n  Distributed task: %s, started within %.1f ms\n", counted,
            report_num(run, "start_spread_ms"));
    if (*report_str(run, "task.message")) {
        char line[2048];
        snprintf(line, sizeof line, "Task: %s", report_str(run, "task.message"));
        text_wrapped(out, line);
    }
    fputc('\n', out);
    report_dist_summary(run, out, "  ");

    size_t nr = json_array_size(regions), nw = json_array_size(workers);
    char (*rows)[CELL] = calloc((nr > nw ? nr : nw) * WORKER_COLUMNS + 1, CELL);
    if (!rows)
        return;
    fprintf(out, "\n  Per region\n");
    json_array_foreach(regions, i, v)
        region_cells(rows + i * REGION_COLUMNS, v, total);
    text_table(out, region_header, rows, nr, REGION_COLUMNS);
    fprintf(out, "\n  Per worker\n");
    json_array_foreach(workers, i, v)
        worker_cells(rows + i * WORKER_COLUMNS, v, total);
    text_table(out, worker_header, rows, nw, WORKER_COLUMNS);
    free(rows);
    worker_flags(run, &lost, &saturated);
    if (saturated || lost)
        fputc('\n', out);
    if (saturated)
        text_wrapped(out, saturated_note);
    if (lost)
        text_wrapped(out, lost_note);
}

/* The cells of a row joined by '|', for doc_row. */
static void joined(char *line, size_t size, char (*cells)[CELL], size_t n)
{
    size_t used = 0;
    line[0] = '\0';
    for (size_t c = 0; c < n && used < size; c++)
        used += (size_t)snprintf(line + used, size - used, "%s%s", c ? "|" : "", cells[c]);
}

static void header_line(char *line, size_t size, const char *const *header, size_t n)
{
    size_t used = 0;
    for (size_t c = 0; c < n && used < size; c++)
        used += (size_t)snprintf(line + used, size - used, "%s%s", c ? "|" : "", header[c]);
}

/* A heading and a table of groups (HTML: in <div id="id">), a row per element of groups
 * from cells_of. */
static void doc_group_table(struct doc *d, const char *title, const char *id,
                            const char *const *header, size_t n, const json_t *groups,
                            void (*cells_of)(char (*)[CELL], const json_t *, double),
                            double total)
{
    char line[WORKER_COLUMNS * CELL], cells[WORKER_COLUMNS][CELL];
    size_t i;
    json_t *v;
    doc_heading(d, 3, "%s", title);
    if (d->html)
        fprintf(d->out, "<div id=\"%s\">", id);
    header_line(line, sizeof line, header, n);
    doc_table(d, line);
    json_array_foreach(groups, i, v) {
        cells_of(cells, v, total);
        joined(line, sizeof line, cells, n);
        doc_row(d, "%s", line);
    }
    doc_table_end(d);
    if (d->html)
        fputs("</div>\n", d->out);
}

void report_dist_doc(struct doc *d, const json_t *run)
{
    if (!report_distributed(run))
        return;
    json_t *workers = report_get(run, "workers"), *regions = report_get(run, "regions");
    json_t *t = report_get(run, "totals");
    double total = report_num(t, "requests"), scheduled = report_num(t, "scheduled");
    size_t lost, saturated;
    if (d->html)
        fputs("<section id=\"distributed\">\n", d->out);
    doc_heading(d, 2, "Distributed task");
    char counted[96];
    workers_in_regions(run, counted, sizeof counted);
    doc_para(d, "%s; the latest started %.1f ms after the earliest. "
                "Totals, percentiles and thresholds come from the workers' merged histograms.",
             counted, report_num(run, "start_spread_ms"));
    if (*report_str(run, "task.message"))
        doc_para(d, "Task: %s", report_str(run, "task.message"));
    double failed = report_num(t, "requests") - report_num(t, "ok"),
           unsent = report_num(t, "not_sent") + report_num(t, "dropped");
    doc_table(d, ">total requests|>success|>failed|>not sent|>duration s|>QPS");
    doc_row(d, "%.0f|%.0f (%.2f%%)|%.0f (%.2f%%)|%.0f (%.2f%%)|%.2f|%.2f", scheduled,
            report_num(t, "ok"), scheduled > 0 ? 100 * report_num(t, "ok") / scheduled : 0, failed,
            scheduled > 0 ? 100 * failed / scheduled : 0, unsent,
            scheduled > 0 ? 100 * unsent / scheduled : 0, report_num(run, "elapsed_s"),
            report_num(t, "rps"));
    doc_table_end(d);

    doc_group_table(d, "Per region", "regions", region_header, REGION_COLUMNS, regions,
                    region_cells, total);
    if (d->html) {
        report_page_chart(d->out, "groups", "regions", "share of the requests by region");
        report_page_chart(d->out, "rates", "regions", "requests per second by region");
    }
    doc_group_table(d, "Per worker", "workers", worker_header, WORKER_COLUMNS, workers,
                    worker_cells, total);
    worker_flags(run, &lost, &saturated);
    if (saturated)
        doc_para(d, "%s", saturated_note);
    if (lost)
        doc_para(d, "%s", lost_note);
    if (d->html) {
        report_page_chart(d->out, "groups", "workers", "share of the requests by worker");
        report_page_chart(d->out, "rates", "workers", "requests per second by worker");
        fputs("</section>\n", d->out);
    }
}

/* A CSV field: quoted, '"' doubled. */
static void csv_field(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

/* A whole-task row of a group: "all" for the second, its length, the group in the node
 * column. */
static void csv_group(FILE *out, const json_t *run, const char *kind, const char *name,
                      const json_t *g)
{
    char label[160];
    snprintf(label, sizeof label, "%s:%s", kind, name);
    /* a worker's own length (its rps is over it); a region's is the task's */
    const json_t *length = json_is_number(report_get(g, "elapsed_s")) ? g : run;
    fprintf(out, "all,%.3f,", report_num(length, "elapsed_s"));
    csv_field(out, label);
    fprintf(out, ",%.0f,%.0f,%.0f,,,,,,,,%.3f,%.3f,%.3f,%.3f,%.3f\n", report_num(g, "requests"),
            report_num(g, "ok"), report_num(g, "failures"), report_num(g, "rps"),
            report_num(g, "latency_ms.p50"), report_num(g, "latency_ms.p90"),
            report_num(g, "latency_ms.p99"), report_num(g, "latency_ms.max"));
}

void report_dist_csv(const json_t *run, FILE *out)
{
    if (!report_distributed(run))
        return;
    size_t i;
    json_t *v;
    json_array_foreach(report_get(run, "regions"), i, v)
        csv_group(out, run, "region", report_str(v, "region"), v);
    json_array_foreach(report_get(run, "workers"), i, v) {
        char name[128];
        snprintf(name, sizeof name, "%s%s%s", report_str(v, "id"),
                 json_is_true(report_get(v, "lost")) ? " LOST" : "",
                 json_is_true(report_get(v, "saturated")) ? " SATURATED" : "");
        csv_group(out, run, "worker", name, v);
    }
}
