/* doc.c -- one writer, two outputs: headings, paragraphs and tables rendered as Markdown or
 * as HTML, so a report's tables are written once for both formats. */
#include <stdarg.h>
#include <string.h>

#include "report/report_util.h"

#define DOC_LINE 2048

/* The text of a variadic writer's fmt and arguments, into buf. */
#define DOC_FORMAT(buf, fmt)                                                                      \
    do {                                                                                          \
        va_list ap;                                                                               \
        va_start(ap, fmt);                                                                        \
        vsnprintf(buf, sizeof buf, fmt, ap);                                                      \
        va_end(ap);                                                                               \
    } while (0)

/* A heading (level 1..6) or a paragraph (level 0). */
static void block(struct doc *d, int level, const char *text)
{
    if (!d->html) {
        fprintf(d->out, level ? "\n%.*s %s\n\n" : "%.*s%s\n\n", level, "######", text);
        return;
    }
    if (level)
        fprintf(d->out, "<h%d>", level);
    else
        fputs("<p>", d->out);
    report_html_escape(d->out, text);
    if (level)
        fprintf(d->out, "</h%d>\n", level);
    else
        fputs("</p>\n", d->out);
}

void doc_heading(struct doc *d, int level, const char *fmt, ...)
{
    char text[DOC_LINE];
    DOC_FORMAT(text, fmt);
    block(d, level, text);
}

void doc_para(struct doc *d, const char *fmt, ...)
{
    char text[DOC_LINE];
    DOC_FORMAT(text, fmt);
    block(d, 0, text);
}

void doc_pre(struct doc *d, const char *text)
{
    if (d->html) {
        fputs("<pre>", d->out);
        report_html_escape(d->out, text);
        fputs("</pre>\n", d->out);
        return;
    }
    /* a fence longer than any run of backticks in the text */
    size_t fence = 3, run = 0;
    for (const char *p = text; *p; p++) {
        run = *p == '`' ? run + 1 : 0;
        if (run >= fence) fence = run + 1;
    }
    size_t len = strlen(text);
    fprintf(d->out, "%.*s\n%s%s%.*s\n\n", (int)fence, "``````````````````````````````", text,
            len && text[len - 1] != '\n' ? "\n" : "", (int)fence, "``````````````````````````````");
}

/* Cells are separated by '|' in a row's text; a header cell starting with '>' is a number
 * column (right-aligned in Markdown; HTML's style does that by itself). */
static void cells(struct doc *d, const char *line, bool head)
{
    char buf[DOC_LINE];
    snprintf(buf, sizeof buf, "%s", line);
    fputs(d->html ? "<tr>" : "|", d->out);
    char *save = NULL;
    for (char *c = strtok_r(buf, "|", &save); c; c = strtok_r(NULL, "|", &save)) {
        if (head && *c == '>') c++;
        bool flag = !head && *c == '!';
        c += flag;
        if (d->html) {
            bool verdict = !head && (!strcmp(c, "pass") || !strcmp(c, "fail") || !strcmp(c, "error"));
            if (verdict || flag)
                fprintf(d->out, "<td class=\"%s\">", flag ? "flag" : c);
            else
                fputs(head ? "<th>" : "<td>", d->out);
            report_html_escape(d->out, c);
            fputs(head ? "</th>" : "</td>", d->out);
        } else {
            fprintf(d->out, flag ? " **%s** |" : " %s |", c);
        }
    }
    fputs(d->html ? "</tr>\n" : "\n", d->out);
}

void doc_table(struct doc *d, const char *header)
{
    if (d->html) {
        fputs("<table>", d->out);
        cells(d, header, true);
        return;
    }
    cells(d, header, true);
    fputc('|', d->out);
    for (const char *p = header; *p;) {
        size_t n = strcspn(p, "|");
        fputs(*p == '>' ? " ---: |" : " --- |", d->out);
        p += n + (p[n] == '|');
    }
    fputc('\n', d->out);
}

void doc_row(struct doc *d, const char *fmt, ...)
{
    char text[DOC_LINE];
    DOC_FORMAT(text, fmt);
    cells(d, text, false);
}

void doc_table_end(struct doc *d)
{
    fputs(d->html ? "</table>\n" : "\n", d->out);
}
