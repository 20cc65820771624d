/* cmd_worker.c -- `herd worker`: runs a master's assignments (dist/worker.h). */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "cli/cli.h"
#include "dist/master.h"
#include "dist/simulate.h"
#include "dist/worker.h"
#include "http/url.h"

static const char worker_usage[] =
    "usage: herd worker --master URL [options]\n"
    "\n"
    "Registers with a master (`herd master`), waits for assignments and runs each with the same\n"
    "load engine as `herd bench`, posting per-second results. Keeps running when the master is\n"
    "away: unacknowledged results are kept and sent again once it is back.\n"
    "\n"
    "options (override the environment variable named; an empty variable counts as unset):\n"
    "      --master URL       the master, e.g. http://10.0.0.5:8080 or 10.0.0.5:8080 (required;\n"
    "                         env HERD_MASTER)\n"
    "      --id ID            this worker's id (env HERD_ID; default HOSTNAME-PID, or HOSTNAME\n"
    "                         alone when herd is process 1, as in a container); the same id\n"
    "                         after a restart rejoins as the same worker\n"
    "      --region R         a region name tasks can select (--region of herd bench --master;\n"
    "                         env HERD_REGION)\n"
    "      --token T          the master's token (env HERD_TOKEN)\n"
    "      --cores N          cores to report and use (env HERD_CORES; default: this machine's)\n"
    "      --buffer N         unacknowledged intervals kept while the master is away\n"
    "                         (default 3600; past it the oldest are dropped, with a warning)\n"
    "      --log-level LEVEL  error, warn, info (default) or debug\n"
    "  -h, --help             this text\n";

enum { OPT_MASTER = 256, OPT_ID, OPT_REGION, OPT_TOKEN, OPT_CORES, OPT_BUFFER, OPT_LOG, OPT_SIMULATE,
       OPT_SIM_RPS };

static const struct option worker_opts[] = {
    {"master", required_argument, NULL, OPT_MASTER},
    {"id", required_argument, NULL, OPT_ID},
    {"region", required_argument, NULL, OPT_REGION},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"cores", required_argument, NULL, OPT_CORES},
    {"buffer", required_argument, NULL, OPT_BUFFER},
    {"log-level", required_argument, NULL, OPT_LOG},
    /* hidden, for measuring a master (bench/dist-scale.sh): N made-up workers in one process */
    {"simulate", required_argument, NULL, OPT_SIMULATE},
    {"sim-rps", required_argument, NULL, OPT_SIM_RPS},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static struct load_stop worker_stop;

static void on_signal(int signum)
{
    (void)signum;
    load_stop_request(&worker_stop);
}

static bool printable_id(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (; *s; s++)
        if (*s <= ' ' || *s > '~' || *s == '#')
            return false;
    return true;
}

static int count(const char *flag, const char *text, long max, long *out)
{
    uint64_t v;
    if (cli_count_flag("worker", flag, text, 1, (uint64_t)max, &v) < 0)
        return -1;
    *out = (long)v;
    return 0;
}

/* The default id: HOSTNAME-PID, or HOSTNAME alone when this is process 1 (a container's, whose
 * host name is its pod's or container's name, unique and the same after a restart). Blanks and
 * '#' become '-'. Into out (DIST_WORKER_ID_MAX + 1 bytes); returns out. */
static const char *default_id(char *out, size_t size)
{
    char host[DIST_WORKER_ID_MAX + 1] = "worker";
    if (gethostname(host, sizeof host) < 0 || !host[0])
        snprintf(host, sizeof host, "worker");
    host[sizeof host - 1] = '\0';
    for (char *p = host; *p; p++)
        if (*p <= ' ' || *p > '~' || *p == '#')
            *p = '-';
    if (getpid() == 1)
        snprintf(out, size, "%s", host);
    else
        snprintf(out, size, "%.40s-%d", host, (int)getpid());
    return out;
}

/* --simulate N: N workers ID-0 .. ID-(N-1) that post made-up intervals; prints what they saw. */
static int simulate_run(const struct dist_worker_options *w, unsigned workers, unsigned rps)
{
    struct dist_sim_options o = {.master_url = w->master_url, .id_prefix = w->id,
                                 .region = w->region, .token = w->token, .workers = workers,
                                 .rps = rps, .stop = w->stop};
    struct dist_sim_result r;
    char err[ERR_SIZE];
    int rc = dist_sim_run(&o, &r, err, sizeof err);
    load_stop_close(&worker_stop);
    if (rc < 0) {
        fprintf(stderr, "herd worker: %s\n", err);
        return CLI_EXIT_RUNTIME;
    }
    printf("simulated workers=%u registrations=%" PRIu64 " reregistrations=%" PRIu64
           " assignments=%" PRIu64 " cancels=%" PRIu64 " posts=%" PRIu64 " post_failures=%" PRIu64
           " intervals_acked=%" PRIu64 " heartbeats=%" PRIu64 " heartbeat_failures=%" PRIu64
           " ack_p50_ms=%.3f ack_p99_ms=%.3f ack_max_ms=%.3f heartbeat_p99_ms=%.3f\n",
           workers, r.registrations, r.reregistrations, r.assignments, r.cancels, r.posts,
           r.post_failures, r.intervals_acked, r.heartbeats, r.heartbeat_failures,
           (double)r.ack_p50_us / 1000, (double)r.ack_p99_us / 1000, (double)r.ack_max_us / 1000,
           (double)r.heartbeat_p99_us / 1000);
    return CLI_EXIT_OK;
}

int cmd_worker(int argc, char **argv)
{
    struct dist_worker_options o = {0};
    char id_buf[DIST_WORKER_ID_MAX + 1], err[ERR_SIZE], master_url[1100];
    enum log_level level = LOG_LEVEL_INFO;
    /* the environment first (for manifests and unit files), flags over it */
    struct cli_setting master = {0}, id = {0}, region = {0}, token = {0}, cores = {0};
    cli_setting_env(&master, "HERD_MASTER");
    cli_setting_env(&id, "HERD_ID");
    cli_setting_env(&region, "HERD_REGION");
    cli_setting_env(&token, "HERD_TOKEN");
    cli_setting_env(&cores, "HERD_CORES");
    long n, simulate = 0, sim_rps = 100;
    int c;
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", worker_opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(worker_usage, stdout);
            return CLI_EXIT_OK;
        case OPT_MASTER:
            master = (struct cli_setting){optarg, "--master"};
            break;
        case OPT_ID:
            id = (struct cli_setting){optarg, "--id"};
            break;
        case OPT_REGION:
            region = (struct cli_setting){optarg, "--region"};
            break;
        case OPT_TOKEN:
            token = (struct cli_setting){optarg, "--token"};
            break;
        case OPT_CORES:
            cores = (struct cli_setting){optarg, "--cores"};
            break;
        case OPT_BUFFER:
            if (count("--buffer", optarg, 10000000, &n) < 0)
                return CLI_EXIT_USAGE;
            o.buffer_max = (size_t)n;
            break;
        case OPT_SIMULATE:
            if (count("--simulate", optarg, 100000, &simulate) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_SIM_RPS:
            if (count("--sim-rps", optarg, 1000000, &sim_rps) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_LOG:
            if (log_level_parse(optarg, &level) < 0) {
                fprintf(stderr, "herd worker: --log-level '%s': expected error, warn, info or "
                                "debug\n", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        default:
            return cli_option_error("worker", c, argv);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "herd worker: unexpected argument '%s'\nTry 'herd worker --help'.\n",
                argv[optind]);
        return CLI_EXIT_USAGE;
    }
    struct url u;
    if (!master.value) {
        fprintf(stderr, "herd worker: --master URL is required (or HERD_MASTER: the master's "
                        "address, e.g. http://127.0.0.1:8080)\n");
        return CLI_EXIT_USAGE;
    }
    o.master_url = cli_master_url(master.value, master_url, sizeof master_url);
    if (url_parse(&u, o.master_url, err, sizeof err) < 0) {
        fprintf(stderr, "herd worker: %s %s\n", master.from, err);
        return CLI_EXIT_USAGE;
    }
    if (cores.value) {
        if (count(cores.from, cores.value, 65536, &n) < 0)
            return CLI_EXIT_USAGE;
        o.cores = (unsigned)n;
    }
    if (token.value && token.value[0]) { /* --token '' is none */
        if (cli_token_check("worker", &token) < 0)
            return CLI_EXIT_USAGE;
        o.token = token.value;
    }
    if (!id.value)
        id = (struct cli_setting){simulate ? "sim" : default_id(id_buf, sizeof id_buf), "--id"};
    if (!printable_id(id.value, DIST_WORKER_ID_MAX)) {
        fprintf(stderr, "herd worker: %s '%s': expected 1 to %d printable characters without "
                        "spaces or '#'\n", id.from, id.value, DIST_WORKER_ID_MAX);
        return CLI_EXIT_USAGE;
    }
    if (region.value && region.value[0] && !printable_id(region.value, 63)) {
        fprintf(stderr, "herd worker: %s '%s': expected up to 63 printable characters "
                        "without spaces or '#'\n", region.from, region.value);
        return CLI_EXIT_USAGE;
    }
    o.region = region.value;
    o.id = id.value;
    char tag[DIST_WORKER_ID_MAX + 8];
    snprintf(tag, sizeof tag, "worker %s", id.value);
    log_setup(level, tag);
    if (load_stop_init(&worker_stop) < 0) {
        fprintf(stderr, "herd worker: cannot make an eventfd\n");
        return CLI_EXIT_RUNTIME;
    }
    o.stop = &worker_stop;
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (simulate)
        return simulate_run(&o, (unsigned)simulate, (unsigned)sim_rps);
    int rc = dist_worker_run(&o, err, sizeof err);
    load_stop_close(&worker_stop);
    if (rc < 0) {
        fprintf(stderr, "herd worker: %s\n", err);
        return rc == DIST_WORKER_EREFUSED ? CLI_EXIT_USAGE : CLI_EXIT_RUNTIME;
    }
    return CLI_EXIT_OK;
}
