/* cmd_test.c -- `herd test PLAN.yaml`: run a test plan, print the verdicts, write the reports. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/err.h"
#include "base/log.h"
#include "base/outdir.h"
#include "cli/cli.h"
#include "plan/plan.h"
#include "plan/runner.h"
#include "report/report.h"

static const char test_usage[] =
    "usage: herd test PLAN.yaml [options]\n"
    "\n"
    "Runs a test plan: launches its cluster (when it has one), runs its checks in order,\n"
    "judges each against its expectations, prints the verdicts and writes the reports\n"
    "(see docs/plan-reference.md). Exit 0 when every check passed, 1 when one failed,\n"
    "2 for a bad plan, 3 when the cluster could not start, 130 or 143 when interrupted by\n"
    "SIGINT or SIGTERM (the running check stops, the rest is skipped, reports are written).\n"
    "\n"
    "options:\n"
    "      --report-dir DIR   where the reports go: DIR/run.json, run.md, run.html, run.junit.xml\n"
    "                         (default: the plan's report.dir, reports); made and checked\n"
    "                         before anything is launched\n"
    "      --format LIST      json,md,html,junit (default: the plan's report.formats, all four)\n"
    "      --state-dir DIR    the launched cluster's state and logs (default: a new /tmp dir,\n"
    "                         removed at the end)\n"
    "      --keep-state       keep the temporary state directory and its logs\n"
    "  -q, --quiet            no progress lines\n"
    "  -h, --help             this text\n";

int cli_make_dirs(const char *path, char *err, size_t errlen)
{
    return outdir_make(path, err, errlen);
}

static int parse_formats(const char *text, unsigned *out)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", text);
    *out = 0;
    for (char *save = NULL, *f = strtok_r(buf, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        unsigned bit = plan_format_bit(f);
        if (!bit) return -1;
        *out |= bit;
    }
    return *out ? 0 : -1;
}

/* The reports' directory is made and proven writable before anything is launched: a run
 * whose reports cannot be written is refused up front (exit 2), naming the flag or the plan's
 * report.dir and why. */
static int check_report_dir(struct plan *p, bool from_flag)
{
    char why[ERR_SIZE], err[ERR_SIZE];
    if (outdir_check_dir(p->report_dir, why, sizeof why) == 0) return 0;
    const struct conf_node *dir = conf_get(conf_get(p->doc.root, "report"), "dir");
    if (from_flag || !dir)
        fprintf(stderr, "herd test: %s '%s': cannot write the reports there: %s; nothing was "
                        "launched\n",
                from_flag ? "--report-dir" : "the default report directory", p->report_dir, why);
    else {
        conf_error(&p->doc, dir, err, sizeof err, "'%s': cannot write the reports there: %s",
                   p->report_dir, why);
        fprintf(stderr, "herd test: %s; nothing was launched\n", err);
    }
    return -1;
}

static struct load_stop test_stop;
static volatile sig_atomic_t test_signal;

/* SIGINT, SIGTERM: stop the load at once; the run recovers, stops the cluster and reports */
static void on_signal(int signum)
{
    test_signal = signum;
    load_stop_request(&test_stop);
}

int cmd_test(int argc, char **argv)
{
    static const struct option opts[] = {
        {"report-dir", required_argument, NULL, 'r'}, {"format", required_argument, NULL, 'F'},
        {"state-dir", required_argument, NULL, 's'},  {"quiet", no_argument, NULL, 'q'},
        {"keep-state", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    const char *report_dir = NULL, *state_dir = NULL;
    unsigned formats = 0;
    bool quiet = false, keep_state = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
        switch (c) {
        case 'r': report_dir = optarg; break;
        case 's': state_dir = optarg; break;
        case 'q': quiet = true; break;
        case 'k': keep_state = true; break;
        case 'F':
            if (parse_formats(optarg, &formats) < 0) {
                fprintf(stderr, "herd test: --format '%s': expected a list of json, md, html, junit\n", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case 'h': fputs(test_usage, stdout); return CLI_EXIT_OK;
        default: return cli_option_error("test", c, argv);
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "herd test: expected one plan file (herd test PLAN.yaml)\n");
        return CLI_EXIT_USAGE;
    }
    struct plan p;
    char err[ERR_SIZE];
    if (plan_load(&p, argv[optind], err, sizeof err) < 0) {
        fprintf(stderr, "herd test: %s\n", err);
        return CLI_EXIT_USAGE;
    }
    if (report_dir) snprintf(p.report_dir, sizeof p.report_dir, "%s", report_dir);
    if (formats) p.formats = formats;
    if (check_report_dir(&p, report_dir != NULL) < 0) {
        plan_free(&p);
        return CLI_EXIT_USAGE;
    }
    log_setup(LOG_LEVEL_WARN, "herd test");
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    if (load_stop_init(&test_stop) < 0) {
        fprintf(stderr, "herd test: cannot make an eventfd\n");
        plan_free(&p);
        return CLI_EXIT_RUNTIME;
    }
    struct sigaction sa = {.sa_handler = on_signal}; /* a second (timeout(1) sends two): the same */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* a directory kept after the run is named here, so that its logs hint can name it too */
    char kept[] = "/tmp/herd-test-XXXXXX";
    if (keep_state && !state_dir && p.has_cluster && mkdtemp(kept))
        state_dir = kept;
    struct plan_run_opts o = {.self_exe = self, .state_dir = state_dir, .quiet = quiet,
                              .keep_state = keep_state, .stop = &test_stop};
    void *doc = NULL;
    int rc = plan_run(&p, &o, &doc, err, sizeof err);
    if (test_signal) { /* interrupted: the reports are still written, then 128 + signal */
        fprintf(stderr, "herd test: interrupted by %s: the check running was stopped, the rest "
                        "skipped\n", test_signal == SIGINT ? "SIGINT" : "SIGTERM");
        rc = 128 + test_signal;
    }
    if (!doc) {
        fprintf(stderr, "herd test: %s\n", err);
        plan_free(&p);
        return rc ? rc : CLI_EXIT_RUNTIME;
    }
    report_render(doc, "text", stdout, err, sizeof err);
    if (state_dir && p.has_cluster) {
        char flag[CLI_STATE_FLAG_SIZE];
        cli_state_flag(state_dir, flag, sizeof flag);
        printf("  the cluster's logs: herd logs%s\n", flag[0] ? flag : " --state-dir .herd");
    }
    static const struct {
        unsigned bit;
        const char *format;
    } outputs[] = {{PLAN_JSON, "json"}, {PLAN_MD, "md"}, {PLAN_HTML, "html"}, {PLAN_JUNIT, "junit"}};
    if (cli_make_dirs(p.report_dir, err, sizeof err) < 0) {
        fprintf(stderr, "herd test: reports: %s\n", err);
        rc = rc ? rc : CLI_EXIT_RUNTIME;
    } else {
        for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++) {
            if (!(p.formats & outputs[i].bit)) continue;
            char stem[1100], path[1200]; /* DIR/run.EXT, as herd report names them; it fits */
            snprintf(stem, sizeof stem, "%s/run", p.report_dir);
            report_file_name(stem, outputs[i].format, path, sizeof path);
            if (report_write_file(doc, outputs[i].format, path, err, sizeof err) < 0) {
                fprintf(stderr, "herd test: %s\n", err);
                rc = rc ? rc : CLI_EXIT_RUNTIME;
            } else {
                printf("  %s\n", path);
            }
        }
    }
    json_decref(doc);
    plan_free(&p);
    return rc;
}
