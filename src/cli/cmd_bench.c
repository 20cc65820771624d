/* cmd_bench.c -- `herd bench`: load one or more URLs, report what happened. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/outdir.h"
#include "base/quantity.h"
#include "cli/cli.h"
#include "load/engine.h"
#include "load/options.h"
#include "load/progress.h"
#include "load/run_json.h"
#include "report/report.h"

static const char bench_usage[] =
    "usage: herd bench [options] URL [URL...]\n"
    "\n"
    "Loads the URLs and reports latency (p50..p99.9, max), throughput, outcomes by class,\n"
    "status codes and a per-node table (nodes named by their X-Herd-Node header, or address).\n"
    "\n"
    "load:\n"
    "  -c, --connections N     connections (default 10)\n"
    "  -t, --threads N         threads, one event loop each (default: cores)\n"
    "  -d, --duration DUR      how long: 10s, 1m30s, or 10 (seconds) (default 10s unless -n)\n"
    "  -n, --requests N        exactly N requests, then stop\n"
    "  -R, --rate N            open model: N requests/s on a fixed schedule; latency counts from\n"
    "                          the intended send time (coordinated omission corrected)\n"
    "      --max-connections N open model: open up to N connections when all are busy\n"
    "                          (default 10 x -c, at least 100)\n"
    "      --ramp-up DUR       connections (closed) or rate (open) rise linearly over DUR\n"
    "      --timeout DUR       per request: connect, headers, body (default 10s)\n"
    "      --no-keepalive      a new connection for every request\n"
    "  -k, --insecure          do not verify TLS certificates\n"
    "      --tls-reuse on|off  resume TLS sessions on new connections (default on, as wrk);\n"
    "                          off: a full handshake for every connection (new visitors)\n"
    "request:\n"
    "  -m, --method M          method (default GET, or POST with a body)\n"
    "  -H, --header 'N: v'     add a header (repeatable)\n"
    "  -b, --body STR          request body\n"
    "      --body-file FILE    request body from a file\n"
    "several URLs (client-side balancing; URL#weight=N sets a weight):\n"
    "      --lb ALGO           roundrobin (default; exact across threads), random, weighted,\n"
    "                          leastconn, p2c\n"
    "      --seed N            the balancer's random seed (default: a new one per run, printed\n"
    "                          in the summary and the run's JSON config; the same seed replays)\n"
    "      --node-header NAME  header naming the answering node (default X-Herd-Node)\n"
    "judging:\n"
    "      --threshold EXPR    e.g. p99<20ms, errors<0.1%, rps>1000 (repeatable); exit 1 if one fails\n"
    "      --max-failures N    circuit breaker: stop after N failed requests, exit 1\n"
    "output:\n"
    "  -o, --output FMT        json, md, html, csv or junit (to --out, or to stdout instead of the\n"
    "                          summary)\n"
    "      --out FILE          write the report there (format from -o or the file's extension);\n"
    "                          checked before any request is sent\n"
    "  -q, --quiet             no live progress\n"
    "      --config FILE       YAML/JSON with the seed tool's keys (url, concurrency, requests,\n"
    "                          timeout, method, headers, body, advanced.max_failures, ...);\n"
    "                          flags override it\n"
    "distributed (a master's workers run it; see herd master, herd worker):\n"
    "      --master URL        create the run as a task on this master, start it, follow it and\n"
    "                          print the merged summary; exit codes as a local run\n"
    "      --region R          only the workers of region R\n"
    "      --workers a,b       only these workers\n"
    "      --token T           the master's token (default: $HERD_TOKEN)\n"
    "  -h, --help              this text\n";

enum {
    OPT_RAMP = 256, OPT_TIMEOUT, OPT_NOKEEPALIVE, OPT_TLSREUSE, OPT_BODYFILE, OPT_LB, OPT_SEED, OPT_NODEHEADER,
    OPT_THRESHOLD, OPT_MAXFAIL, OPT_OUT, OPT_CONFIG, OPT_MAXCONN, OPT_MASTER, OPT_REGION,
    OPT_WORKERS, OPT_TOKEN,
};

static const struct option bench_opts[] = {
    {"connections", required_argument, NULL, 'c'},
    {"threads", required_argument, NULL, 't'},
    {"duration", required_argument, NULL, 'd'},
    {"requests", required_argument, NULL, 'n'},
    {"rate", required_argument, NULL, 'R'},
    {"max-connections", required_argument, NULL, OPT_MAXCONN},
    {"ramp-up", required_argument, NULL, OPT_RAMP},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"no-keepalive", no_argument, NULL, OPT_NOKEEPALIVE},
    {"insecure", no_argument, NULL, 'k'},
    {"tls-reuse", required_argument, NULL, OPT_TLSREUSE},
    {"method", required_argument, NULL, 'm'},
    {"header", required_argument, NULL, 'H'},
    {"body", required_argument, NULL, 'b'},
    {"body-file", required_argument, NULL, OPT_BODYFILE},
    {"lb", required_argument, NULL, OPT_LB},
    {"seed", required_argument, NULL, OPT_SEED},
    {"node-header", required_argument, NULL, OPT_NODEHEADER},
    {"threshold", required_argument, NULL, OPT_THRESHOLD},
    {"max-failures", required_argument, NULL, OPT_MAXFAIL},
    {"output", required_argument, NULL, 'o'},
    {"out", required_argument, NULL, OPT_OUT},
    {"quiet", no_argument, NULL, 'q'},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"master", required_argument, NULL, OPT_MASTER},
    {"region", required_argument, NULL, OPT_REGION},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};
static const char bench_short[] = ":c:t:d:n:R:km:H:b:o:qh";

static int usage_error(const char *fmt, const char *arg)
{
    fputs("herd bench: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return CLI_EXIT_USAGE;
}

static int parse_count(const char *flag, const char *text, unsigned long long min,
                       unsigned long long max, unsigned long long *out)
{
    uint64_t v;
    if (cli_count_flag("bench", flag, text, min, max, &v) < 0)
        return -1;
    *out = v;
    return 0;
}

/* A quantity flag's value (quantity.h): "herd bench: --duration '5x': expected a duration such
 * as 500ms, 2s, 1m30s". */
static int parse_duration(const char *flag, const char *text, uint64_t min_us, uint64_t max_us,
                          uint64_t *out)
{
    char err[ERR_SIZE];
    if (quantity_read_duration(text, min_us, max_us, out, err, sizeof err) < 0) {
        fprintf(stderr, "herd bench: %s %s\n", flag, err);
        return -1;
    }
    return 0;
}

static int read_file(const char *path, struct buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && rc == 0)
        rc = out->len + n > (64u << 20) ? -1 : buf_append(out, chunk, n);
    if (ferror(f))
        rc = -1;
    fclose(f);
    return rc;
}

struct output_choice {
    const char *format; /* -o */
    const char *path;   /* --out */
    bool quiet;
    const char *master, *region, *workers, *token; /* --master and its selection */
    char master_url[1100];                         /* --master as a URL ("host:port" too) */
};

/* Applies one flag to o. Returns 0, or an exit code. */
static int apply_flag(int c, const char *arg, struct bench_options *o, struct output_choice *oc)
{
    char err[ERR_SIZE];
    unsigned long long n;
    switch (c) {
    case 'c':
        if (parse_count("--connections", arg, 1, 1000000, &n) < 0)
            return CLI_EXIT_USAGE;
        o->connections = (unsigned)n;
        return 0;
    case 't':
        if (parse_count("--threads", arg, 1, 1024, &n) < 0)
            return CLI_EXIT_USAGE;
        o->threads = (unsigned)n;
        return 0;
    case OPT_MAXCONN:
        if (parse_count("--max-connections", arg, 1, 1000000, &n) < 0)
            return CLI_EXIT_USAGE;
        o->max_connections = (unsigned)n;
        return 0;
    case 'n':
        if (parse_count("--requests", arg, 1, 1ULL << 50, &n) < 0)
            return CLI_EXIT_USAGE;
        o->requests = n;
        return 0;
    case 'd':
        return parse_duration("--duration", arg, BENCH_DURATION_MIN_US, BENCH_DURATION_MAX_US,
                              &o->duration_us) < 0
                   ? CLI_EXIT_USAGE
                   : 0;
    case OPT_RAMP:
        return parse_duration("--ramp-up", arg, 0, BENCH_RAMP_UP_MAX_US, &o->ramp_up_us) < 0
                   ? CLI_EXIT_USAGE
                   : 0;
    case OPT_TIMEOUT: {
        uint64_t us;
        if (parse_duration("--timeout", arg, BENCH_TIMEOUT_MIN_US, BENCH_TIMEOUT_MAX_US, &us) < 0)
            return CLI_EXIT_USAGE;
        o->timeout_ms = (uint32_t)(us / 1000);
        return 0;
    }
    case 'R':
        if (quantity_read_number(arg, BENCH_RATE_MIN, BENCH_RATE_MAX, &o->rate, err, sizeof err) < 0)
            return usage_error("--rate %s (requests per second)", err);
        return 0;
    case OPT_NOKEEPALIVE:
        o->keepalive = false;
        return 0;
    case 'k':
        o->tls_verify = false;
        return 0;
    case OPT_TLSREUSE:
        if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0)
            return usage_error("--tls-reuse '%s': expected on or off", arg);
        o->tls_reuse = strcmp(arg, "on") == 0;
        return 0;
    case 'm':
        return bench_options_set_method(o, arg, err, sizeof err) < 0 ? usage_error("%s", err) : 0;
    case 'H':
        return bench_options_add_header(o, arg, err, sizeof err) < 0 ? usage_error("%s", err) : 0;
    case 'b':
        return bench_options_set_body(o, arg, strlen(arg)) < 0 ? usage_error("%s", "out of memory") : 0;
    case OPT_BODYFILE: {
        struct buf b = {0};
        int rc = read_file(arg, &b);
        if (rc == 0)
            rc = bench_options_set_body(o, b.data ? b.data : "", b.len);
        buf_free(&b);
        return rc < 0 ? usage_error("--body-file '%s': cannot read it (or larger than 64 MB)", arg) : 0;
    }
    case OPT_LB:
        return balancer_parse(arg, &o->lb) < 0 || o->lb == BALANCE_HASH
                   ? usage_error("--lb '%s': expected roundrobin, random, weighted, leastconn or p2c", arg)
                   : 0;
    case OPT_SEED: {
        unsigned long long seed;
        if (parse_count("--seed", arg, 0, BALANCER_SEED_MAX, &seed) < 0)
            return CLI_EXIT_USAGE;
        o->seed = seed;
        o->seed_set = true;
        return 0;
    }
    case OPT_NODEHEADER:
        if (!*arg || strpbrk(arg, " :\r\n"))
            return usage_error("--node-header '%s': expected a header name such as X-Herd-Node", arg);
        return bench_options_set_string(&o->node_header, arg) < 0 ? CLI_EXIT_RUNTIME : 0;
    case OPT_THRESHOLD:
        return bench_options_add_threshold(o, arg, err, sizeof err) < 0 ? usage_error("--threshold %s", err) : 0;
    case OPT_MAXFAIL:
        if (parse_count("--max-failures", arg, 1, 1ULL << 50, &n) < 0)
            return CLI_EXIT_USAGE;
        o->max_failures = n;
        return 0;
    case 'o':
        if (!report_format_known(arg) || strcmp(arg, "text") == 0)
            return usage_error("--output '%s': expected json, md, html, csv or junit", arg);
        oc->format = arg;
        return 0;
    case OPT_OUT:
        oc->path = arg;
        return 0;
    case 'q':
        oc->quiet = true;
        return 0;
    case OPT_MASTER:
        oc->master = cli_master_url(arg, oc->master_url, sizeof oc->master_url);
        return 0;
    case OPT_REGION:
        oc->region = arg;
        return 0;
    case OPT_WORKERS:
        oc->workers = arg;
        return 0;
    case OPT_TOKEN:
        oc->token = arg;
        return 0;
    }
    return CLI_EXIT_USAGE;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static const char *format_of_path(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot && (strcmp(dot, ".md") == 0 || strcmp(dot, ".html") == 0 || strcmp(dot, ".csv") == 0))
        return dot + 1;
    return "json";
}

static struct load_stop bench_stop;

/* SIGINT, SIGTERM: stop the load, drain, report what was measured */
static void on_sigint(int signum)
{
    (void)signum;
    load_stop_request(&bench_stop);
}

int cmd_bench(int argc, char **argv)
{
    struct bench_options o;
    struct output_choice oc = {.token = getenv("HERD_TOKEN")};
    char err[ERR_SIZE];
    int c, rc = CLI_EXIT_USAGE;
    bench_options_default(&o);
    /* first pass: --help and --config (flags then override the file) */
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, bench_short, bench_opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(bench_usage, stdout);
            bench_options_free(&o);
            return CLI_EXIT_OK;
        }
        if (c == OPT_CONFIG && bench_options_load(&o, optarg, err, sizeof err) < 0) {
            fprintf(stderr, "herd bench: %s\n", err);
            goto out;
        }
    }
    optind = 0;
    while ((c = getopt_long(argc, argv, bench_short, bench_opts, NULL)) != -1) {
        if (c == ':' || c == '?') { /* whatever the flags before it set rc to */
            rc = cli_option_error("bench", c, argv);
            goto out;
        }
        if (c == OPT_CONFIG)
            continue;
        if ((rc = apply_flag(c, optarg, &o, &oc)) != 0)
            goto out;
    }
    rc = CLI_EXIT_USAGE;
    for (int i = optind; i < argc; i++)
        if (bench_options_add_url(&o, argv[i], err, sizeof err) < 0) {
            fprintf(stderr, "herd bench: %s\n", err);
            goto out;
        }
    if (oc.path && outdir_check_file(oc.path, err, sizeof err) < 0) {
        fprintf(stderr, "herd bench: --out '%s': cannot write the report there: %s; no request "
                        "was sent\n", oc.path, err);
        goto out;
    }
    if ((oc.region || oc.workers) && !oc.master) {
        fprintf(stderr, "herd bench: --region and --workers choose a master's workers: give "
                        "--master URL too\n");
        goto out;
    }
    if (oc.region && oc.workers) {
        fprintf(stderr, "herd bench: give --region or --workers, not both\n");
        goto out;
    }
    if (oc.master) {
        rc = bench_master_run(&o, oc.master, oc.region, oc.workers, oc.token, oc.format, oc.path,
                              oc.quiet);
        goto out;
    }
    struct load_plan plan;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (bench_options_plan(&o, cores > 0 ? (unsigned)cores : 1, &plan, err, sizeof err) < 0) {
        fprintf(stderr, "herd bench: %s\n", err);
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    if (load_stop_init(&bench_stop) < 0) {
        fprintf(stderr, "herd bench: cannot make an eventfd\n");
        bench_plan_free(&plan);
        rc = CLI_EXIT_RUNTIME;
        goto out;
    }
    plan.stop = &bench_stop;
    struct sigaction sa = {.sa_handler = on_sigint}; /* again while stopping: still stopping */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* live progress on stderr (stdout is the report's): redrawn on a terminal, else a line a
     * second, "[ 4.0s/10.0s]" (-d) or "[ 4.0s  400/1000]" (-n) first */
    struct progress *live = oc.quiet ? NULL : progress_new(stderr, isatty(STDERR_FILENO));
    if (live)
        progress_load(live, (double)plan.duration_us / 1e6, plan.requests);
    struct load_result result;
    int run_rc = load_run(&plan, &result, live ? progress_on_second : NULL, live, err, sizeof err);
    progress_free(live);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    load_stop_close(&bench_stop);
    if (run_rc < 0) {
        fprintf(stderr, "herd bench: %s\n", err);
        bench_plan_free(&plan);
        rc = CLI_EXIT_RUNTIME;
        goto out;
    }
    int passed = 0;
    struct run_meta meta = {.command = "bench", .argc = argc, .argv = argv,
                            .thresholds = o.thresholds, .threshold_count = o.threshold_count};
    json_t *doc = load_run_json(&plan, &result, &meta, &passed);
    rc = CLI_EXIT_RUNTIME;
    if (!doc) {
        fprintf(stderr, "herd bench: out of memory building the report\n");
    } else if (oc.format && !oc.path) {
        rc = report_render(doc, oc.format, stdout, err, sizeof err) < 0 ? CLI_EXIT_RUNTIME : 0;
    } else {
        report_render(doc, "text", stdout, err, sizeof err);
        rc = 0;
        if (oc.path && report_write_file(doc, oc.format ? oc.format : format_of_path(oc.path),
                                         oc.path, err, sizeof err) < 0) {
            fprintf(stderr, "herd bench: %s\n", err);
            rc = CLI_EXIT_RUNTIME;
        }
    }
    if (rc == 0 && !passed) {
        struct load_summary s;
        load_summary_from(&result, &s);
        for (size_t i = 0; i < o.threshold_count; i++) {
            if (threshold_check(&o.thresholds[i], &s))
                continue;
            double actual = threshold_actual(&o.thresholds[i], &s);
            json_t *e = json_pack("{s:o,s:s}", "actual", isnan(actual) ? json_null() : json_real(actual),
                                  "why", "no samples");
            char text[64];
            fprintf(stderr, "herd bench: threshold failed: %s (actual %s)\n", o.thresholds[i].text,
                    report_actual(e, o.thresholds[i].text, text, sizeof text));
            json_decref(e);
        }
        if (result.tls_error[0])
            fprintf(stderr, "herd bench: TLS: %s%s\n", result.tls_error,
                    strncmp(result.tls_error, "certificate", 11) == 0
                        ? "; use -k to skip verification or SSL_CERT_FILE to trust a CA"
                        : "");
        if (s.succeeded == 0)
            fprintf(stderr, "herd bench: no request succeeded (%llu scheduled: unable to connect, or "
                            "every answer failed): nothing was measured\n",
                    (unsigned long long)s.scheduled);
        if (result.breaker_tripped)
            fprintf(stderr, "herd bench: circuit breaker: %llu failures, run stopped at %.2f s\n",
                    (unsigned long long)plan.max_failures, result.breaker_at_s);
        rc = CLI_EXIT_FAILED;
    }
    json_decref(doc);
    load_result_free(&result);
    bench_plan_free(&plan);
out:
    bench_options_free(&o);
    return rc;
}
