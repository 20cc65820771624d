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
    "--format, the terminal summary; else files STEM.md, STEM.html, STEM.junit.xml, and for\n"
    "bench runs and distributed tasks STEM.csv, next to the input or in --out-dir, STEM\n"
    "being the input's name without .json: the names herd test gave its run.* files. Every\n"
    "format and output path is checked first: one that cannot be written exits 2.\n"
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
    char err[ERR_SIZE];
    json_t *j = report_load(path, err, sizeof err);
    if (!j) fprintf(stderr, "herd report: %s\n", err);
    return j;
}

static int compare(const char *old_path, const char *new_path, double tolerance)
{
    json_t *a = load(old_path), *b = load(new_path);
    char err[ERR_SIZE];
    int regressions = a && b ? report_compare(a, b, old_path, new_path, tolerance, stdout, err,
                                              sizeof err)
                             : -1;
    if (a && b && regressions < 0) fprintf(stderr, "herd report: %s\n", err);
    json_decref(a);
    json_decref(b);
    return regressions < 0 ? CLI_EXIT_USAGE : regressions ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}

/* The file for format (report_file_name of stem) into out, checked: the format is one of the
 * document's, and the file can be written (or is the input itself, which is left alone).
 * Returns 0, or -1 with a message naming the format or the path. */
static int output_path(const char *stem, const char *format, bool test_doc, const char *input,
                       char *out, size_t size, char *err, size_t errlen)
{
    bool known = test_doc ? plan_format_bit(format) || strcmp(format, "text") == 0
                          : report_format_known(format);
    if (!known)
        return err_set(err, errlen, "--format: '%s' is not a format of this document (%s)", format,
                       test_doc ? "md, html, junit, text, json" : "md, html, csv, junit, text, json");
    if (report_file_name(stem, format, out, size) < 0)
        return err_set(err, errlen, "%s: the output path is too long", stem);
    return strcmp(out, input) == 0 ? 0 : report_check_target(out, err, errlen);
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
        default: return cli_option_error("report", c, argv);
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
    /* every format known and every file's place writable, before any file is written */
    char list[256];
    snprintf(list, sizeof list, "%s", formats);
    for (char *save = NULL, *f = strtok_r(list, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        char out[1100];
        if (output_path(stem, f, test_doc, path, out, sizeof out, err, sizeof err) < 0) {
            fprintf(stderr, "herd report: %s\n", err);
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
        output_path(stem, f, test_doc, path, out, sizeof out, err, sizeof err);
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
