/* cmd_node.c -- `herd node`: run the demo service until SIGTERM or SIGINT. */
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
#include "node/node.h"

static const char node_usage[] =
    "usage: herd node [options]\n"
    "\n"
    "Runs the demo service: GET /health, /api/v1/cluster/status, /api/v1/cluster/nodes,\n"
    "GET|PUT|DELETE /kv/{key} (replicated to --peers), /echo, /delay?ms=N, /status/{code}, "
    "GET|POST|DELETE /admin/fault.\n"
    "Every answer names the node in the X-Herd-Node header. SIGTERM lets in-flight requests\n"
    "finish, then exits 0.\n"
    "\n"
    "options (override the environment, which overrides the config file):\n"
    "  -p, --port N               port to listen on (env SERVER_PORT; default 8080; 0 = any)\n"
    "      --host ADDR            address to listen on (default 127.0.0.1)\n"
    "      --id ID                node id (env NODE_ID; default node-PORT)\n"
    "      --cluster-manager URL  gateway to register with (env CLUSTER_MANAGER_URL)\n"
    "  -c, --config FILE          YAML/JSON config file (env CONFIG_FILE)\n"
    "      --node-header NAME     header that names the node (default X-Herd-Node)\n"
    "      --weight N             weight registered with the gateway, 0..100 (default 100)\n"
    "      --peers IP:PORT,...    nodes the KV store replicates with (env HERD_PEERS); the\n"
    "                             only peers: a node never adopts one that calls it\n"
    "      --peers-file FILE      more peers, one or more a line (env HERD_PEERS_FILE, which\n"
    "                             herd up sets); re-read when it changes\n"
    "      --token TOKEN          cluster token (env HERD_TOKEN or CLUSTER_TOKEN): sent to\n"
    "                             peers and the gateway, and required (Authorization: Bearer)\n"
    "                             on /admin/fault and /api/v1/kv/changes\n"
    "      --log-level LEVEL      error, warn, info or debug (default info)\n"
    "  -h, --help                 this text\n";

struct node_run {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    uv_timer_t grace;
    struct node *node;
    uint64_t grace_ms;
    bool stopping;
};

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void on_stopped(void *data)
{
    struct node_run *run = data;
    close_handle((uv_handle_t *)&run->sigterm);
    close_handle((uv_handle_t *)&run->sigint);
    close_handle((uv_handle_t *)&run->grace);
    log_info("stopped");
}

static void on_grace_over(uv_timer_t *t)
{
    struct node_run *run = t->data;
    log_warn("requests still in flight after the stop grace; exiting anyway");
    uv_stop(&run->loop);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct node_run *run = s->data;
    if (run->stopping) {
        log_warn("second signal: exiting now");
        uv_stop(&run->loop);
        return;
    }
    run->stopping = true;
    log_info("%s: finishing in-flight requests", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    uv_timer_start(&run->grace, on_grace_over, run->grace_ms, 0);
    node_stop(run->node, on_stopped, run);
}

static int parse_int_flag(const char *flag, const char *text, long min, long max, int *out)
{
    uint64_t v;
    if (cli_count_flag("node", flag, text, (uint64_t)min, (uint64_t)max, &v) < 0)
        return -1;
    *out = (int)v;
    return 0;
}

int cmd_node(int argc, char **argv)
{
    enum {
        OPT_HOST = 256,
        OPT_ID,
        OPT_MANAGER,
        OPT_HEADER,
        OPT_WEIGHT,
        OPT_LOG,
        OPT_PEERS,
        OPT_PEERS_FILE,
        OPT_TOKEN
    };
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},
        {"host", required_argument, NULL, OPT_HOST},
        {"id", required_argument, NULL, OPT_ID},
        {"cluster-manager", required_argument, NULL, OPT_MANAGER},
        {"config", required_argument, NULL, 'c'},
        {"node-header", required_argument, NULL, OPT_HEADER},
        {"weight", required_argument, NULL, OPT_WEIGHT},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"peers", required_argument, NULL, OPT_PEERS},
        {"peers-file", required_argument, NULL, OPT_PEERS_FILE},
        {"token", required_argument, NULL, OPT_TOKEN},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* Flags are collected first and applied last: file < environment < flags. */
    const char *flag_port = NULL, *flag_host = NULL, *flag_id = NULL, *flag_manager = NULL;
    const char *flag_header = NULL, *flag_weight = NULL, *flag_log = NULL, *flag_peers = NULL;
    const char *flag_token = NULL, *flag_peers_file = NULL;
    const char *config = getenv("CONFIG_FILE");
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":p:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            flag_port = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case OPT_HOST:
            flag_host = optarg;
            break;
        case OPT_ID:
            flag_id = optarg;
            break;
        case OPT_MANAGER:
            flag_manager = optarg;
            break;
        case OPT_HEADER:
            flag_header = optarg;
            break;
        case OPT_WEIGHT:
            flag_weight = optarg;
            break;
        case OPT_PEERS:
            flag_peers = optarg;
            break;
        case OPT_PEERS_FILE:
            flag_peers_file = optarg;
            break;
        case OPT_LOG:
            flag_log = optarg;
            break;
        case OPT_TOKEN:
            flag_token = optarg;
            break;
        case 'h':
            fputs(node_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_option_error("node", c, argv);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "herd node: unexpected argument '%s'\n", argv[optind]);
        return CLI_EXIT_USAGE;
    }

    struct node_config cfg;
    char err[ERR_SIZE];
    node_config_default(&cfg);
    if ((config && *config && node_config_load(&cfg, config, err, sizeof err) < 0) ||
        node_config_env(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "herd node: %s\n", err);
        return CLI_EXIT_USAGE;
    }
    if (flag_port && parse_int_flag("--port", flag_port, 0, 65535, &cfg.port) < 0)
        return CLI_EXIT_USAGE;
    if (flag_weight && parse_int_flag("--weight", flag_weight, 0, 100, &cfg.weight) < 0)
        return CLI_EXIT_USAGE;
    if (flag_log && log_level_parse(flag_log, &cfg.log_level) < 0) {
        fprintf(stderr, "herd node: --log-level '%s': expected error, warn, info or debug\n",
                flag_log);
        return CLI_EXIT_USAGE;
    }
    const struct {
        const char *flag, *value;
        char *dst;
        size_t size;
    } strings[] = {
        {"--host", flag_host, cfg.host, sizeof cfg.host},
        {"--id", flag_id, cfg.node_id, sizeof cfg.node_id},
        {"--cluster-manager", flag_manager, cfg.cluster_manager_url,
         sizeof cfg.cluster_manager_url},
        {"--node-header", flag_header, cfg.node_header, sizeof cfg.node_header},
        {"--peers", flag_peers, cfg.peers, sizeof cfg.peers},
        {"--peers-file", flag_peers_file, cfg.peers_file, sizeof cfg.peers_file},
        {"--token", flag_token, cfg.cluster_token, sizeof cfg.cluster_token},
    };
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        if (!strings[i].value) continue;
        if (strlen(strings[i].value) >= strings[i].size) {
            fprintf(stderr, "herd node: %s: longer than %zu characters\n", strings[i].flag,
                    strings[i].size - 1);
            return CLI_EXIT_USAGE;
        }
        snprintf(strings[i].dst, strings[i].size, "%s", strings[i].value);
    }
    if (!cfg.node_id[0]) snprintf(cfg.node_id, sizeof cfg.node_id, "node-%d", cfg.port);
    if (node_config_finish(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "herd node: %s\n", err);
        return CLI_EXIT_USAGE;
    }
    log_setup(cfg.log_level, cfg.node_id);
    signal(SIGPIPE, SIG_IGN);

    struct node_run run = {.grace_ms = cfg.stop_grace_us / 1000};
    uv_loop_init(&run.loop);
    int uv_status;
    run.node = node_start(&run.loop, &cfg, &uv_status, err, sizeof err);
    if (!run.node) {
        fprintf(stderr, "herd node: %s\n", err);
        uv_run(&run.loop, UV_RUN_DEFAULT); /* finishes closing what was set up */
        uv_loop_close(&run.loop);
        return uv_status == UV_EADDRINUSE || uv_status == UV_EACCES || uv_status == UV_EADDRNOTAVAIL
                   ? CLI_EXIT_RUNTIME
                   : CLI_EXIT_USAGE;
    }
    uv_signal_init(&run.loop, &run.sigterm);
    uv_signal_init(&run.loop, &run.sigint);
    uv_timer_init(&run.loop, &run.grace);
    run.sigterm.data = run.sigint.data = run.grace.data = &run;
    uv_signal_start(&run.sigterm, on_signal, SIGTERM);
    uv_signal_start(&run.sigint, on_signal, SIGINT);
    log_info("listening on %s:%d", cfg.host, node_port(run.node));

    uv_run(&run.loop, UV_RUN_DEFAULT);
    bool clean = uv_loop_alive(&run.loop) == 0;
    if (clean) {
        node_free(run.node);
        uv_loop_close(&run.loop);
    }
    return CLI_EXIT_OK;
}
