/* csv.c -- a run's timeline as CSV, one row per second (and per node); a distributed task
 * adds a whole-task row per region and per worker ("all" in the second column). */
#include "report/report_util.h"

int report_csv(const json_t *run, FILE *out)
{
    fputs("second,length_s,node,requests,ok,failures,connect,timeout,reset,read,write,5xx,4xx,"
          "rps,p50_ms,p90_ms,p99_ms,max_ms\n", out);
    size_t i;
    json_t *e;
    json_array_foreach(report_get(run, "timeline"), i, e) {
        json_t *err = report_get(e, "errors");
        fprintf(out, "%.0f,%.3f,*,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.3f,%.3f,%.3f,%.3f,%.3f\n",
                report_num(e, "t"), report_num(e, "length_s"), report_num(e, "requests"),
                report_num(e, "ok"), report_num(e, "failures"), report_num(err, "connect"),
                report_num(err, "timeout"), report_num(err, "reset"), report_num(err, "read"),
                report_num(err, "write"), report_num(err, "5xx"), report_num(err, "4xx"),
                report_num(e, "rps"), report_num(e, "latency_ms.p50"), report_num(e, "latency_ms.p90"),
                report_num(e, "latency_ms.p99"), report_num(e, "latency_ms.max"));
        const char *name;
        json_t *n;
        json_object_foreach(report_get(e, "nodes"), name, n) {
            fprintf(out, "%.0f,%.3f,\"", report_num(e, "t"), report_num(e, "length_s"));
            for (const char *p = name; *p; p++)
                fputs(*p == '"' ? "\"\"" : (char[2]){*p, 0}, out);
            fprintf(out, "\",%.0f,,,,,,,,,,,,,,\n", json_number_value(n));
        }
    }
    report_dist_csv(run, out);
    return 0;
}
