/* page.c -- the frame every HTML report shares: its styles, then the renderer's body, then
 * the run document itself, uPlot and report.js (web/), which draw the charts in the page.
 * Everything is inline: a report opens offline. */
#include <stdlib.h>
#include <string.h>

#include "report/report_util.h"

/* Embedded by the build from web/ and uPlot's npm package (cmake/embed.cmake). */
extern const char web_uplot_js[], web_uplot_css[], web_report_js[], web_report_css[];

void report_page_begin(FILE *out, const char *title)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width\">\n<title>",
          out);
    report_html_escape(out, title);
    fprintf(out, "</title>\n<style>\n%s\n%s</style></head><body>\n", web_uplot_css, web_report_css);
}

void report_page_chart(FILE *out, const char *kind, const char *source, const char *title)
{
    fprintf(out, "<div class=\"chart\" data-chart=\"%s\" data-source=\"%s\" data-title=\"", kind,
            source);
    report_html_escape(out, title);
    fputs("\"></div>\n", out);
}

int report_page_end(FILE *out, const json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(9));
    if (!text) return -1;
    /* inside <script> only "</script" would end the block; escaping every '<' (it can only
     * be in a string) keeps the JSON valid and the page whole */
    fputs("<script id=\"herd-run\" type=\"application/json\">", out);
    for (const char *p = text; *p; p++) {
        if (*p == '<')
            fputs("\\u003c", out);
        else
            fputc(*p, out);
    }
    free(text);
    fprintf(out, "</script>\n<script>%s</script>\n<script>%s</script>\n</body></html>\n",
            web_uplot_js, web_report_js);
    return 0;
}
