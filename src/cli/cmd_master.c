/* cmd_master.c -- `herd master`: the distributed mode's coordinator (dist/master.h). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mtime.h"
#include "cli/cli.h"
#include "dist/master.h"
#include "dist/task.h"

static const char master_usage[] =
    "usage: herd master [options]\n"
    "\n"
    "Coordinates distributed load: a REST API for tasks (seed-compatible), the protocol workers\n"
    "(`herd worker`) speak, merged results judged by the tasks' thresholds. State is kept in an\n"
    "SQLite file, so a master restarted on the same --db continues its running tasks.\n"
    "\n"
    "  -l, --listen HOST:PORT   where to serve (default 127.0.0.1:8080); any address other than\n"
    "                           loopback requires a token\n"
    "      --db FILE            the store (default herd.db)\n"
    "      --token T            every change and every worker call needs `Authorization: Bearer\n"
    "                           T`; reads need it from other hosts than loopback (default:\n"
    "                           $HERD_TOKEN, when set and not empty)\n"
    "      --token-file FILE    the token from the first line of FILE\n"
    "      --allow-target HOST|CIDR  tasks may load only these hosts (repeatable; default any)\n"
    "      --log-level LEVEL    error, warn, info (default) or debug\n"
    "  -h, --help               this text\n";

enum { OPT_DB = 256, OPT_TOKEN, OPT_TOKEN_FILE, OPT_ALLOW, OPT_LOG, OPT_SUSPECT, OPT_LOST,
       OPT_MAX_WORKERS };

static const struct option master_opts[] = {
    {"listen", required_argument, NULL, 'l'},
    {"db", required_argument, NULL, OPT_DB},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {"allow-target", required_argument, NULL, OPT_ALLOW},
    {"log-level", required_argument, NULL, OPT_LOG},
    /* hidden, for tests: the liveness times */
    {"suspect-after", required_argument, NULL, OPT_SUSPECT},
    {"lost-after", required_argument, NULL, OPT_LOST},
    {"max-workers", required_argument, NULL, OPT_MAX_WORKERS},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct master_run {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    struct dist_master *master;
};

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

static void on_master_stopped(void *data)
{
    struct master_run *r = data;
    uv_close((uv_handle_t *)&r->sigterm, on_closed);
    uv_close((uv_handle_t *)&r->sigint, on_closed);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct master_run *r = s->data;
    log_info("signal %d: stopping (running tasks continue when a master starts on this db)",
             signum);
    dist_master_stop(r->master, on_master_stopped, r);
}

/* Splits "HOST:PORT" ("[::1]:8080") into host and port. Returns 0 or -1. */
static int parse_listen(const char *text, char *host, size_t size, int *port)
{
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text)
        return -1;
    size_t len = (size_t)(colon - text);
    if (text[0] == '[' && colon[-1] == ']') {
        text++;
        len -= 2;
    }
    if (len == 0 || len >= size)
        return -1;
    memcpy(host, text, len);
    host[len] = '\0';
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || p < 0 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}

static bool is_loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0;
}

static int read_token_file(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *line = fgets(out, (int)size, f);
    fclose(f);
    if (!line)
        return -1;
    out[strcspn(out, "\r\n")] = '\0';
    return out[0] ? 0 : -1;
}

static int duration_ms(const char *flag, const char *text, uint64_t *out)
{
    uint64_t us;
    if (mtime_parse_duration_us(text, &us) < 0 || us < 100000 || us > 3600000000ULL) {
        fprintf(stderr, "herd master: %s '%s': expected a duration from 100ms to 1h\n", flag, text);
        return -1;
    }
    *out = us / 1000;
    return 0;
}

int cmd_master(int argc, char **argv)
{
    struct dist_master_options o;
    dist_master_options_default(&o);
    static struct dist_allow allow[DIST_ALLOW_MAX];
    char host[256] = "127.0.0.1", token[CLI_TOKEN_MAX + 1] = "", err[ERR_SIZE];
    bool token_given = false; /* --token or --token-file, which override HERD_TOKEN */
    enum log_level level = LOG_LEVEL_INFO;
    int c;
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":l:h", master_opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(master_usage, stdout);
            return CLI_EXIT_OK;
        case 'l':
            if (parse_listen(optarg, host, sizeof host, &o.port) < 0) {
                fprintf(stderr, "herd master: --listen '%s': expected HOST:PORT such as "
                                "127.0.0.1:8080\n", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_DB:
            o.db_path = optarg;
            break;
        case OPT_TOKEN: {
            struct cli_setting flag = {optarg, "--token"};
            if (cli_token_check("master", &flag) < 0)
                return CLI_EXIT_USAGE;
            snprintf(token, sizeof token, "%s", optarg);
            token_given = true;
            break;
        }
        case OPT_TOKEN_FILE:
            if (read_token_file(optarg, token, sizeof token) < 0) {
                fprintf(stderr, "herd master: --token-file '%s': cannot read a token from its "
                                "first line\n", optarg);
                return CLI_EXIT_USAGE;
            }
            token_given = true;
            break;
        case OPT_ALLOW:
            if (o.allow_count == DIST_ALLOW_MAX) {
                fprintf(stderr, "herd master: --allow-target: at most %d entries\n",
                        DIST_ALLOW_MAX);
                return CLI_EXIT_USAGE;
            }
            if (dist_allow_parse(&allow[o.allow_count], optarg, err, sizeof err) < 0) {
                fprintf(stderr, "herd master: --%s\n", err);
                return CLI_EXIT_USAGE;
            }
            o.allow_count++;
            break;
        case OPT_LOG:
            if (log_level_parse(optarg, &level) < 0) {
                fprintf(stderr, "herd master: --log-level '%s': expected error, warn, info or "
                                "debug\n", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_SUSPECT:
            if (duration_ms("--suspect-after", optarg, &o.suspect_after_ms) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_LOST:
            if (duration_ms("--lost-after", optarg, &o.lost_after_ms) < 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_MAX_WORKERS: {
            uint64_t v;
            if (cli_count_flag("master", "--max-workers", optarg, 1, 1000000, &v) < 0)
                return CLI_EXIT_USAGE;
            o.max_workers = (size_t)v;
            break;
        }
        default:
            return cli_option_error("master", c, argv);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "herd master: unexpected argument '%s'\nTry 'herd master --help'.\n",
                argv[optind]);
        return CLI_EXIT_USAGE;
    }
    struct cli_setting env_token = {0};
    cli_setting_env(&env_token, "HERD_TOKEN");
    if (!token_given && env_token.value) {
        if (cli_token_check("master", &env_token) < 0)
            return CLI_EXIT_USAGE;
        snprintf(token, sizeof token, "%s", env_token.value);
    }
    if (!is_loopback(host) && !token[0]) {
        fprintf(stderr, "herd master: --listen %s is not loopback: give --token (or "
                        "--token-file, or HERD_TOKEN) so that only your workers and clients can "
                        "use it\n", host);
        return CLI_EXIT_USAGE;
    }
    if (o.suspect_after_ms >= o.lost_after_ms)
        o.suspect_after_ms = o.lost_after_ms / 2;
    o.host = host;
    o.token = token;
    o.allow = allow;
    log_setup(level, "master");
    signal(SIGPIPE, SIG_IGN);
    struct master_run r = {0};
    uv_loop_init(&r.loop);
    int rc = dist_master_start(&r.master, &r.loop, &o, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "herd master: %s\n", err);
        uv_run(&r.loop, UV_RUN_DEFAULT);
        uv_loop_close(&r.loop);
        return rc == DIST_MASTER_EINPUT ? CLI_EXIT_USAGE : CLI_EXIT_RUNTIME;
    }
    r.sigterm.data = r.sigint.data = &r;
    uv_signal_init(&r.loop, &r.sigterm);
    uv_signal_init(&r.loop, &r.sigint);
    uv_signal_start(&r.sigterm, on_signal, SIGTERM);
    uv_signal_start(&r.sigint, on_signal, SIGINT);
    printf("herd master: listening on http://%s%s%s:%d (db %s%s)\n", strchr(host, ':') ? "[" : "",
           host, strchr(host, ':') ? "]" : "", dist_master_port(r.master), o.db_path,
           token[0] ? ", token required" : "");
    fflush(stdout);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    dist_master_free(r.master);
    uv_loop_close(&r.loop);
    return CLI_EXIT_OK;
}
