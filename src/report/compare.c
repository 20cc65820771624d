/* compare.c -- what `herd report` reads: a saved run or test document, checked for its
 * schema; and two of them compared, the regressions of the newer one listed. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "report/report_util.h"

void *report_load(const char *path, char *err, size_t errlen)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j) {
        err_set(err, errlen, "%s:%d:%d: %s", path, e.line, e.column, e.text);
        return NULL;
    }
    const char *schema = json_string_value(json_object_get(j, "schema"));
    if (!schema || (strcmp(schema, "herd.run/1") != 0 && strcmp(schema, "herd.test/1") != 0)) {
        err_set(err, errlen, "%s: schema: expected herd.run/1 (herd bench -o json) or "
                             "herd.test/1 (herd test's run.json)", path);
        json_decref(j);
        return NULL;
    }
    return j;
}

/* One metric compared: lower is better unless higher_better. Prints a row; returns true when
 * it regressed beyond the tolerance (and beyond abs_floor in absolute terms). */
static bool compare_metric(FILE *out, const char *scope, const char *metric, const json_t *a,
                           const json_t *b, bool higher_better, double tolerance, double abs_floor)
{
    if (json_is_number(a) && !json_is_number(b)) { /* measured before, not now: worse */
        fprintf(out, "  %-24s %-22s %14.4g %14s %10s  REGRESSED\n", scope, metric,
                json_number_value(a), "not measured", "");
        return true;
    }
    if (!json_is_number(a) || !json_is_number(b)) return false;
    double x = json_number_value(a), y = json_number_value(b);
    double worse = higher_better ? x - y : y - x; /* > 0: NEW is worse */
    double rel = x != 0 ? worse / fabs(x) : (worse > 0 ? INFINITY : 0);
    bool regressed = worse > abs_floor && rel > tolerance;
    char change[24] = "new"; /* from 0: no percentage */
    if (x != 0)
        snprintf(change, sizeof change, "%+.1f%%", 100 * (y - x) / fabs(x));
    else if (y == 0)
        snprintf(change, sizeof change, "+0.0%%");
    fprintf(out, "  %-24s %-22s %14.4g %14.4g %10s  %s\n", scope, metric, x, y, change,
            regressed ? "REGRESSED" : "");
    return regressed;
}

/* The regressions of a bench run: latency percentiles, error rate, throughput. */
static int compare_runs(FILE *out, const json_t *a, const json_t *b, double tolerance)
{
    static const char *const lat[] = {"p50", "p90", "p99", "p99.9", "max", NULL};
    int regressions = 0;
    json_t *la = json_object_get(a, "latency_ms"), *lb = json_object_get(b, "latency_ms");
    for (const char *const *m = lat; *m; m++)
        regressions += compare_metric(out, "run", *m, json_object_get(la, *m),
                                      json_object_get(lb, *m), false, tolerance, 0.05);
    json_t *ta = json_object_get(a, "totals"), *tb = json_object_get(b, "totals");
    regressions += compare_metric(out, "run", "error_rate", json_object_get(ta, "error_rate"),
                                  json_object_get(tb, "error_rate"), false, tolerance, 0.0001);
    regressions += compare_metric(out, "run", "rps", json_object_get(ta, "rps"),
                                  json_object_get(tb, "rps"), true, tolerance, 1);
    return regressions;
}

/* How many of the first n checks are named name. */
static size_t same_before(const json_t *checks, size_t n, const char *name)
{
    size_t same = 0;
    for (size_t i = 0; i < n; i++)
        same += strcmp(report_str(json_array_get(checks, i), "name"), name) == 0;
    return same;
}

/* The check named name after skip others of that name (herd names every check apart, a
 * document edited by hand may not), or NULL. */
static json_t *same_check(const json_t *checks, const char *name, size_t skip)
{
    size_t i;
    json_t *c;
    json_array_foreach(checks, i, c) {
        if (strcmp(report_str(c, "name"), name) == 0 && skip-- == 0) return c;
    }
    return NULL;
}

/* The regressions of a test, check by check: matched by name (the n-th of a name with the
 * n-th). */
static int compare_tests(FILE *out, const json_t *a, const json_t *b, const char *old_name,
                         double tolerance)
{
    int regressions = 0;
    size_t i;
    json_t *ca;
    json_array_foreach(json_object_get(a, "checks"), i, ca) {
        const char *name = json_string_value(json_object_get(ca, "name"));
        if (!name) continue; /* not a check herd wrote */
        json_t *cb = same_check(json_object_get(b, "checks"), name,
                                same_before(json_object_get(a, "checks"), i, name));
        if (!cb) { /* it ran before and not now: nothing measured is worse */
            fprintf(out, "  %-24s only in %s  REGRESSED\n", name, old_name);
            regressions++;
            continue;
        }
        json_t *ma = json_object_get(ca, "measures"), *mb = json_object_get(cb, "measures");
        static const char *const summaries[] = {"summary", "group_summary", "other_summary",
                                                NULL};
        for (const char *const *sum = summaries; *sum; sum++) {
            json_t *sa = json_object_get(ma, *sum), *sb = json_object_get(mb, *sum);
            if (!sa) continue;
            char scope[160];
            snprintf(scope, sizeof scope, "%s%s%s", name, strcmp(*sum, "summary") ? " " : "",
                     strcmp(*sum, "summary") ? *sum : "");
            regressions += compare_metric(out, scope, "p99_ms", json_object_get(sa, "p99_ms"),
                                          json_object_get(sb, "p99_ms"), false, tolerance, 0.05);
            regressions += compare_metric(out, scope, "error_rate",
                                          json_object_get(sa, "error_rate"),
                                          json_object_get(sb, "error_rate"), false, tolerance,
                                          0.0001);
        }
        static const char *const fo[] = {"failed_requests", "detection_ms", "failover_ms",
                                         "rejoin_ms", "max_deviation", NULL};
        for (const char *const *m = fo; *m; m++)
            regressions += compare_metric(out, name, *m, json_object_get(ma, *m),
                                          json_object_get(mb, *m), false, tolerance,
                                          strcmp(*m, "max_deviation") == 0 ? 0.001 : 1);
        const char *va = json_string_value(json_object_get(ca, "verdict"));
        const char *vb = json_string_value(json_object_get(cb, "verdict"));
        bool was = va && strcmp(va, "pass") == 0, is = vb && strcmp(vb, "pass") == 0;
        if (was && !is) {
            fprintf(out, "  %-24s %-22s %14s %14s %10s  REGRESSED\n", name, "verdict", "pass",
                    vb ? vb : "none", "");
            regressions++;
        }
    }
    return regressions;
}

int report_compare(const void *old_doc, const void *new_doc, const char *old_name,
                   const char *new_name, double tolerance, FILE *out, char *err, size_t errlen)
{
    const json_t *a = old_doc, *b = new_doc;
    const char *sa = report_str(a, "schema"), *sb = report_str(b, "schema");
    if (strcmp(sa, sb) != 0)
        return err_set(err, errlen, "%s is %s but %s is %s: compare like with like", old_name, sa,
                       new_name, sb);
    fprintf(out, "herd report: %s -> %s (tolerance %.0f%%)\n\n", old_name, new_name,
            tolerance * 100);
    fprintf(out, "  %-24s %-22s %14s %14s %10s\n", "SCOPE", "METRIC", "OLD", "NEW", "CHANGE");
    int regressions = strcmp(sa, "herd.run/1") == 0
                          ? compare_runs(out, a, b, tolerance)
                          : compare_tests(out, a, b, old_name, tolerance);
    fprintf(out, "\n  %d regression%s\n", regressions, regressions == 1 ? "" : "s");
    return regressions;
}
