/* cmd_report.c -- `herd report RUN.json`: re-render a saved run (herd bench) or test
 * (herd test) document; `--compare OLD NEW`: the regressions of NEW against OLD. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "cli/cli.h"
#include "plan/plan.h"
#include "report/report.h"

static const char report_usage[] =
    "usage: herd report RUN.json [--format LIST] [--out-dir DIR]\n"
    "       herd report --compare OLD.json NEW.json [--tolerance 10%]\n"
    "\n"
    "Re-renders a document saved by herd bench (-o json) or herd test (run.json): with no\n"
    "--format, the terminal summary; else files STEM.md, STEM.html, STEM.csv (bench runs) or\n"
    "STEM.md, STEM.html, STEM.junit.xml (test runs) next to the input or in --out-dir.\n"
    "--compare prints what got worse from OLD to NEW (latency percentiles, error rate,\n"
    "throughput; per check for test runs, failover times and failed requests included) and\n"
    "exits 1 when something got worse by more than the tolerance.\n"
    "\n"
    "options:\n"
    "      --format LIST    md,html,csv,junit,text,json\n"
    "      --out-dir DIR    where the files go (default: the input's directory)\n"
    "      --compare        compare two documents\n"
    "      --tolerance R    how much worse counts as a regression (default 10%)\n"
    "  -h, --help           this text\n";

static json_t *load(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j) {
        fprintf(stderr, "herd report: %s:%d:%d: %s\n", path, e.line, e.column, e.text);
        return NULL;
    }
    const char *schema = json_string_value(json_object_get(j, "schema"));
    if (!schema || (strcmp(schema, "herd.run/1") != 0 && strcmp(schema, "herd.test/1") != 0)) {
        fprintf(stderr, "herd report: %s: schema: expected herd.run/1 (herd bench -o json) or "
                        "herd.test/1 (herd test's run.json)\n", path);
        json_decref(j);
        return NULL;
    }
    return j;
}

/* One metric compared: lower is better unless higher_better. Prints a row; returns true when
 * it regressed beyond the tolerance (and beyond abs_floor in absolute terms). */
static bool compare_metric(const char *scope, const char *metric, const json_t *a, const json_t *b,
                           bool higher_better, double tolerance, double abs_floor)
{
    if (json_is_number(a) && !json_is_number(b)) { /* measured before, not now: worse */
        printf("  %-24s %-22s %14.4g %14s %10s  REGRESSED\n", scope, metric, json_number_value(a),
               "not measured", "");
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
    printf("  %-24s %-22s %14.4g %14.4g %10s  %s\n", scope, metric, x, y, change,
           regressed ? "REGRESSED" : "");
    return regressed;
}

static int compare(const char *old_path, const char *new_path, double tolerance)
{
    json_t *a = load(old_path), *b = load(new_path);
    if (!a || !b) {
        json_decref(a);
        json_decref(b);
        return CLI_EXIT_USAGE;
    }
    const char *sa = json_string_value(json_object_get(a, "schema"));
    const char *sb = json_string_value(json_object_get(b, "schema"));
    if (strcmp(sa, sb) != 0) {
        fprintf(stderr, "herd report: %s is %s but %s is %s: compare like with like\n", old_path,
                sa, new_path, sb);
        json_decref(a);
        json_decref(b);
        return CLI_EXIT_USAGE;
    }
    printf("herd report: %s -> %s (tolerance %.0f%%)\n\n", old_path, new_path, tolerance * 100);
    printf("  %-24s %-22s %14s %14s %10s\n", "SCOPE", "METRIC", "OLD", "NEW", "CHANGE");
    int regressions = 0;
    if (strcmp(sa, "herd.run/1") == 0) {
        static const char *const lat[] = {"p50", "p90", "p99", "p99.9", "max", NULL};
        json_t *la = json_object_get(a, "latency_ms"), *lb = json_object_get(b, "latency_ms");
        for (const char *const *m = lat; *m; m++)
            regressions += compare_metric("run", *m, json_object_get(la, *m),
                                          json_object_get(lb, *m), false, tolerance, 0.05);
        json_t *ta = json_object_get(a, "totals"), *tb = json_object_get(b, "totals");
        regressions += compare_metric("run", "error_rate", json_object_get(ta, "error_rate"),
                                      json_object_get(tb, "error_rate"), false, tolerance, 0.0001);
        regressions += compare_metric("run", "rps", json_object_get(ta, "rps"),
                                      json_object_get(tb, "rps"), true, tolerance, 1);
    } else {
        size_t i;
        json_t *ca;
        json_array_foreach(json_object_get(a, "checks"), i, ca) {
            const char *name = json_string_value(json_object_get(ca, "name"));
            if (!name) continue; /* not a check herd wrote */
            json_t *cb = NULL, *x;
            size_t k;
            json_array_foreach(json_object_get(b, "checks"), k, x) {
                const char *other = json_string_value(json_object_get(x, "name"));
                if (other && strcmp(other, name) == 0) cb = x;
            }
            if (!cb) { /* it ran before and not now: nothing measured is worse */
                printf("  %-24s only in %s  REGRESSED\n", name, old_path);
                regressions++;
                continue;
            }
            json_t *ma = json_object_get(ca, "measures"), *mb = json_object_get(cb, "measures");
            static const char *const summaries[] = {"summary", "group_summary", "other_summary",
                                                    NULL};
            for (const char *const *sum = summaries; *sum; sum++) {
                json_t *sa2 = json_object_get(ma, *sum), *sb2 = json_object_get(mb, *sum);
                if (!sa2) continue;
                char scope[160];
                snprintf(scope, sizeof scope, "%s%s%s", name, strcmp(*sum, "summary") ? " " : "",
                         strcmp(*sum, "summary") ? *sum : "");
                regressions += compare_metric(scope, "p99_ms", json_object_get(sa2, "p99_ms"),
                                              json_object_get(sb2, "p99_ms"), false, tolerance,
                                              0.05);
                regressions += compare_metric(scope, "error_rate",
                                              json_object_get(sa2, "error_rate"),
                                              json_object_get(sb2, "error_rate"), false,
                                              tolerance, 0.0001);
            }
            static const char *const fo[] = {"failed_requests", "detection_ms", "failover_ms",
                                             "rejoin_ms", "max_deviation", NULL};
            for (const char *const *m = fo; *m; m++)
                regressions += compare_metric(name, *m, json_object_get(ma, *m),
                                              json_object_get(mb, *m), false, tolerance,
                                              strcmp(*m, "max_deviation") == 0 ? 0.001 : 1);
            const char *va = json_string_value(json_object_get(ca, "verdict"));
            const char *vb = json_string_value(json_object_get(cb, "verdict"));
            bool was = va && strcmp(va, "pass") == 0, is = vb && strcmp(vb, "pass") == 0;
            if (was && !is) {
                printf("  %-24s %-22s %14s %14s %10s  REGRESSED\n", name, "verdict", "pass",
                       vb ? vb : "none", "");
                regressions++;
            }
        }
    }
    printf("\n  %d regression%s\n", regressions, regressions == 1 ? "" : "s");
    json_decref(a);
    json_decref(b);
    return regressions ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}

static const char *extension(const char *format, bool test_doc)
{
    if (strcmp(format, "junit") == 0) return "junit.xml";
    if (strcmp(format, "text") == 0) return "txt";
    (void)test_doc;
    return format;
}

int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'F'},   {"out-dir", required_argument, NULL, 'o'},
        {"compare", no_argument, NULL, 'c'},        {"tolerance", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *formats = NULL, *out_dir = NULL;
    bool comparing = false;
    double tolerance = 0.10;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'F': formats = optarg; break;
        case 'o': out_dir = optarg; break;
        case 'c': comparing = true; break;
        case 't': {
            char *end;
            tolerance = strtod(optarg, &end);
            if (end == optarg || (strcmp(end, "%") != 0 && *end) || !(tolerance >= 0) ||
                !isfinite(tolerance)) { /* NAN passes "< 0" */
                fprintf(stderr, "herd report: --tolerance '%s': expected a share such as 10%%\n", optarg);
                return CLI_EXIT_USAGE;
            }
            if (*end == '%') tolerance /= 100;
            break;
        }
        case 'h': fputs(report_usage, stdout); return CLI_EXIT_OK;
        case ':': fprintf(stderr, "herd report: %s needs a value\n", argv[optind - 1]); return CLI_EXIT_USAGE;
        default: fprintf(stderr, "herd report: unknown option '%s'\n", argv[optind - 1]); return CLI_EXIT_USAGE;
        }
    }
    if (comparing) {
        if (argc - optind != 2) {
            fprintf(stderr, "herd report: --compare takes two documents: OLD.json NEW.json\n");
            return CLI_EXIT_USAGE;
        }
        return compare(argv[optind], argv[optind + 1], tolerance);
    }
    if (argc - optind != 1) {
        fprintf(stderr, "herd report: expected one document (herd report RUN.json)\n");
        return CLI_EXIT_USAGE;
    }
    const char *path = argv[optind];
    json_t *doc = load(path);
    if (!doc) return CLI_EXIT_USAGE;
    bool test_doc = strcmp(json_string_value(json_object_get(doc, "schema")), "herd.test/1") == 0;
    char err[ERR_SIZE];
    int rc = CLI_EXIT_OK;
    if (!formats) {
        if (report_render(doc, "text", stdout, err, sizeof err) < 0) {
            fprintf(stderr, "herd report: %s\n", err);
            rc = CLI_EXIT_RUNTIME;
        }
        json_decref(doc);
        return rc;
    }
    /* STEM: the input's name without .json, in out_dir or beside the input */
    char stem[1024];
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t blen = strlen(base);
    if (blen > 5 && strcmp(base + blen - 5, ".json") == 0) blen -= 5;
    if (out_dir)
        snprintf(stem, sizeof stem, "%s/%.*s", out_dir, (int)blen, base);
    else
        snprintf(stem, sizeof stem, "%.*s%.*s", (int)(base - path), path, (int)blen, base);
    char list[256];
    snprintf(list, sizeof list, "%s", formats);
    for (char *save = NULL, *f = strtok_r(list, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        bool known = test_doc ? plan_format_bit(f) || strcmp(f, "text") == 0
                              : report_format_known(f);
        if (!known) { /* checked for all before any file is written */
            fprintf(stderr, "herd report: --format: '%s' is not a format of this document (%s)\n",
                    f, test_doc ? "md, html, junit, text, json" : "md, html, csv, text, json");
            json_decref(doc);
            return CLI_EXIT_USAGE;
        }
    }
    if (out_dir && cli_make_dirs(out_dir, err, sizeof err) < 0) {
        fprintf(stderr, "herd report: --out-dir: %s\n", err);
        json_decref(doc);
        return CLI_EXIT_RUNTIME;
    }
    snprintf(list, sizeof list, "%s", formats);
    for (char *save = NULL, *f = strtok_r(list, ",", &save); f && rc == 0;
         f = strtok_r(NULL, ",", &save)) {
        char out[1100];
        snprintf(out, sizeof out, "%s.%s", stem, extension(f, test_doc));
        if (strcmp(out, path) == 0) continue; /* json onto itself: nothing to do */
        if (report_write_file(doc, f, out, err, sizeof err) < 0) {
            fprintf(stderr, "herd report: %s\n", err);
            rc = CLI_EXIT_RUNTIME;
        } else {
            printf("%s\n", out);
        }
    }
    json_decref(doc);
    return rc;
}
