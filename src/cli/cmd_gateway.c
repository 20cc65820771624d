/* cmd_gateway.c -- `herd gateway`: the load-balancing gateway, from a cluster file's
 * `gateway:` section and groups, from flags, or both (flags win). */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/quantity.h"
#include "cli/cli.h"
#include "cluster/clusterfile.h"
#include "cluster/gateway.h"

static const char gateway_usage[] =
    "usage: herd gateway [-f FILE] [options]\n"
    "\n"
    "Runs the gateway: proxies every request to a node chosen by the balancer, retries on\n"
    "another node when that is safe, checks the nodes, and serves the admin API\n"
    "(/api/v1/cluster/status|nodes|events|config|register, /metrics; see docs/api-reference.md).\n"
    "Nodes come from the cluster file's groups and gateway.nodes, from --node, and from\n"
    "registration (herd node with CLUSTER_MANAGER_URL).\n"
    "\n"
    "options:\n"
    "  -f, --file FILE          cluster file: its gateway: section and its groups' replicas\n"
    "                           (a gateway: section alone, with its nodes, will do; alias\n"
    "                           --config)\n"
    "  -p, --port N             port (default 9091; 0 = any)\n"
    "      --host ADDR          address to listen on (default 127.0.0.1)\n"
    "      --balance NAME       roundrobin, random, weighted, leastconn, p2c or hash\n"
    "      --seed N             the balancers' random seed (default: a new one per run, logged\n"
    "                           at startup and shown in /api/v1/cluster/status)\n"
    "      --hash-header NAME   hash balancing: by this header (default: by path)\n"
    "      --threads N          proxy threads, one event loop each (default: cores)\n"
    "      --node [ID=]HOST:PORT[#weight=N]  a static node (repeatable)\n"
    "      --route PREFIX=GROUP  paths starting with PREFIX go to GROUP's nodes (repeatable)\n"
    "      --health PATH|tcp|none  active check (default GET /health)\n"
    "      --inter D            check interval of a healthy node (default 1s)\n"
    "      --fastinter D        interval while a node changes state (default 200ms)\n"
    "      --downinter D        interval of a down node (default 500ms)\n"
    "      --check-timeout D    a check's timeout (default 1s)\n"
    "      --rise N             passing checks that bring a node up (default 2)\n"
    "      --fall N             failing checks that take it down (default 3)\n"
    "      --eject-after N      consecutive failed requests that eject a node (default 3; 0 off)\n"
    "      --slowstart D        weight ramp after readmission (default 0: none)\n"
    "      --retries N          further nodes tried for a failed request (default 2)\n"
    "      --retry-budget R     retries allowed per request, 20% or 0.2 (default 20%)\n"
    "      --connect-timeout D  connecting to a node (default 1s)\n"
    "      --timeout D          waiting for a node's answer (default 30s)\n"
    "      --body-timeout D     a client's request body, end of headers to end (default 10s)\n"
    "      --ttl D              registered nodes expire without heartbeats (default 10s)\n"
    "      --node-header NAME   header naming the node on answers (default X-Herd-Node); the\n"
    "                           gateway adds it, with the node's id, to answers that lack it\n"
    "      --no-add-node-header  pass answers on without adding it\n"
    "      --token T            admin API: required for changes (else loopback clients only)\n"
    "      --allow-register CIDR  nodes may register from this network (repeatable; default:\n"
    "                           loopback only; replaces the file's allow_register); a host\n"
    "                           name is resolved and its address checked; link-local and\n"
    "                           unspecified never\n"
    "      --log-level LEVEL    error, warn, info or debug (default info)\n"
    "  -h, --help               this text\n";

enum {
    OPT_HOST = 256,
    OPT_BALANCE,
    OPT_SEED,
    OPT_HASH_HEADER,
    OPT_THREADS,
    OPT_NODE,
    OPT_ROUTE,
    OPT_HEALTH,
    OPT_INTER,
    OPT_FASTINTER,
    OPT_DOWNINTER,
    OPT_CHECK_TIMEOUT,
    OPT_RISE,
    OPT_FALL,
    OPT_EJECT_AFTER,
    OPT_SLOWSTART,
    OPT_RETRIES,
    OPT_RETRY_BUDGET,
    OPT_CONNECT_TIMEOUT,
    OPT_TIMEOUT,
    OPT_BODY_TIMEOUT,
    OPT_TTL,
    OPT_TOKEN,
    OPT_ALLOW_REGISTER,
    OPT_LOG_LEVEL,
    OPT_NODE_HEADER,
    OPT_NO_ADD_NODE_HEADER,
};

static const struct option long_options[] = {
    {"file", required_argument, NULL, 'f'},
    {"config", required_argument, NULL, 'f'},
    {"port", required_argument, NULL, 'p'},
    {"host", required_argument, NULL, OPT_HOST},
    {"balance", required_argument, NULL, OPT_BALANCE},
    {"seed", required_argument, NULL, OPT_SEED},
    {"hash-header", required_argument, NULL, OPT_HASH_HEADER},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"node", required_argument, NULL, OPT_NODE},
    {"route", required_argument, NULL, OPT_ROUTE},
    {"health", required_argument, NULL, OPT_HEALTH},
    {"inter", required_argument, NULL, OPT_INTER},
    {"fastinter", required_argument, NULL, OPT_FASTINTER},
    {"downinter", required_argument, NULL, OPT_DOWNINTER},
    {"check-timeout", required_argument, NULL, OPT_CHECK_TIMEOUT},
    {"rise", required_argument, NULL, OPT_RISE},
    {"fall", required_argument, NULL, OPT_FALL},
    {"eject-after", required_argument, NULL, OPT_EJECT_AFTER},
    {"slowstart", required_argument, NULL, OPT_SLOWSTART},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"retry-budget", required_argument, NULL, OPT_RETRY_BUDGET},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"body-timeout", required_argument, NULL, OPT_BODY_TIMEOUT},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"allow-register", required_argument, NULL, OPT_ALLOW_REGISTER},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"node-header", required_argument, NULL, OPT_NODE_HEADER},
    {"no-add-node-header", no_argument, NULL, OPT_NO_ADD_NODE_HEADER},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int bad(const char *fmt, const char *flag, const char *value)
{
    fprintf(stderr, "herd gateway: ");
    fprintf(stderr, fmt, flag, value);
    fprintf(stderr, "\n");
    return CLI_EXIT_USAGE;
}

static int int_flag(const char *flag, const char *text, long min, long max, int *out)
{
    uint64_t v;
    if (cli_count_flag("gateway", flag, text, (uint64_t)min, (uint64_t)max, &v) < 0)
        return -1;
    *out = (int)v;
    return 0;
}

static int duration_flag(const char *flag, const char *text, uint64_t min_us, uint64_t *out)
{
    char err[ERR_SIZE];
    if (quantity_read_duration(text, min_us, UINT64_MAX, out, err, sizeof err) < 0) {
        fprintf(stderr, "herd gateway: %s %s\n", flag, err);
        return -1;
    }
    return 0;
}

/* The cluster file's groups become static nodes "GROUP.INDEX" on loopback. */
static int load_file(struct gateway_opts *o, const char *path)
{
    struct cluster_spec spec;
    struct conf_doc doc;
    char err[512];
    if (cluster_spec_load(&spec, &doc, path, err, sizeof err) < 0) {
        fprintf(stderr, "herd gateway: %s\n", err);
        return -1;
    }
    int rc = 0;
    if (spec.gateway.present &&
        gateway_opts_from_conf(o, &doc, spec.gateway.node, err, sizeof err) < 0) {
        fprintf(stderr, "herd gateway: %s\n", err);
        rc = -1;
    }
    for (size_t g = 0; g < spec.group_count && rc == 0; g++)
        for (int i = 1; i <= spec.groups[g].replicas && rc == 0; i++) {
            char id[128], host[40];
            snprintf(id, sizeof id, "%s.%d", spec.groups[g].name, i);
            cluster_group_host(&spec.groups[g], i, host, sizeof host);
            if (gateway_opts_push_node(o, id, host, cluster_group_port(&spec.groups[g], i),
                                       1, err, sizeof err) < 0) {
                fprintf(stderr, "herd gateway: %s: %s\n", path, err);
                rc = -1;
            } else {
                snprintf(o->nodes[o->node_count - 1].group, sizeof o->nodes[0].group, "%s",
                         spec.groups[g].name);
            }
        }
    cluster_spec_free(&spec);
    conf_free(&doc);
    return rc;
}

int cmd_gateway(int argc, char **argv)
{
    struct gateway_opts o;
    gateway_opts_default(&o);
    enum log_level level = LOG_LEVEL_INFO;
    const char *file = NULL;
    int c, rc = CLI_EXIT_USAGE, allow_flags = 0;
    char err[256];
    /* the file goes first, so that flags override it whatever their order */
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--file") == 0 ||
             strcmp(argv[i], "--config") == 0) &&
            i + 1 < argc)
            file = argv[i + 1];
        else if (strncmp(argv[i], "--file=", 7) == 0)
            file = argv[i] + 7;
        else if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
    }
    if (file && load_file(&o, file) < 0) goto out;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":f:p:h", long_options, NULL)) != -1) {
        switch (c) {
        case 'f':
            break;
        case 'p':
            if (int_flag("--port", optarg, 0, 65535, &o.port) < 0) goto out;
            break;
        case OPT_HOST:
            if (strlen(optarg) >= sizeof o.host || (!strchr(optarg, '.') && !strchr(optarg, ':'))) {
                rc = bad("%s: '%s' is not an IP address", "--host", optarg);
                goto out;
            }
            snprintf(o.host, sizeof o.host, "%s", optarg);
            break;
        case OPT_BALANCE:
            if (balancer_parse(optarg, &o.balance) < 0) {
                rc = bad("%s: '%s': expected roundrobin, random, weighted, leastconn, p2c or hash",
                         "--balance", optarg);
                goto out;
            }
            break;
        case OPT_SEED: {
            uint64_t seed;
            if (cli_count_flag("gateway", "--seed", optarg, 0, BALANCER_SEED_MAX, &seed) < 0) {
                rc = CLI_EXIT_USAGE;
                goto out;
            }
            o.seed = seed;
            o.seed_set = true;
            break;
        }
        case OPT_HASH_HEADER:
            if (!optarg[0] || strlen(optarg) >= sizeof o.hash_header || strpbrk(optarg, ": \r\n")) {
                rc = bad("%s: '%s' is not a header name", "--hash-header", optarg);
                goto out;
            }
            snprintf(o.hash_header, sizeof o.hash_header, "%s", optarg);
            break;
        case OPT_THREADS:
            if (int_flag("--threads", optarg, 1, 256, &o.threads) < 0) goto out;
            break;
        case OPT_NODE:
            if (gateway_opts_add_node(&o, optarg, err, sizeof err) < 0) {
                rc = bad("%s: %s", "--node", err);
                goto out;
            }
            break;
        case OPT_ROUTE:
            if (gateway_opts_add_route(&o, optarg, err, sizeof err) < 0) {
                rc = bad("%s: %s", "--route", err);
                goto out;
            }
            break;
        case OPT_HEALTH:
            if (strcmp(optarg, "none") == 0)
                o.check = GATEWAY_CHECK_NONE;
            else if (strcmp(optarg, "tcp") == 0)
                o.check = GATEWAY_CHECK_TCP;
            else if (optarg[0] == '/' && strlen(optarg) < sizeof o.check_path) {
                o.check = GATEWAY_CHECK_HTTP;
                snprintf(o.check_path, sizeof o.check_path, "%s", optarg);
            } else {
                rc = bad("%s: '%s': expected an HTTP path (/health), tcp or none", "--health",
                         optarg);
                goto out;
            }
            break;
        case OPT_INTER:
            if (duration_flag("--inter", optarg, 10000, &o.inter_us) < 0) goto out;
            break;
        case OPT_FASTINTER:
            if (duration_flag("--fastinter", optarg, 10000, &o.fastinter_us) < 0) goto out;
            break;
        case OPT_DOWNINTER:
            if (duration_flag("--downinter", optarg, 10000, &o.downinter_us) < 0) goto out;
            break;
        case OPT_CHECK_TIMEOUT:
            if (duration_flag("--check-timeout", optarg, 1000, &o.check_timeout_us) < 0) goto out;
            break;
        case OPT_RISE:
            if (int_flag("--rise", optarg, 1, 100, &o.rise) < 0) goto out;
            break;
        case OPT_FALL:
            if (int_flag("--fall", optarg, 1, 100, &o.fall) < 0) goto out;
            break;
        case OPT_EJECT_AFTER:
            if (int_flag("--eject-after", optarg, 0, 1000000, &o.eject_after) < 0) goto out;
            break;
        case OPT_SLOWSTART:
            if (duration_flag("--slowstart", optarg, 0, &o.slowstart_us) < 0) goto out;
            break;
        case OPT_RETRIES:
            if (int_flag("--retries", optarg, 0, 10, &o.retries) < 0) goto out;
            break;
        case OPT_RETRY_BUDGET:
            if (gateway_parse_budget(optarg, &o.retry_budget) < 0) {
                fprintf(stderr, "herd gateway: --retry-budget '%s': expected %s (or 0.2), at most "
                                "100%%\n", optarg, QUANTITY_PERCENT);
                rc = CLI_EXIT_USAGE;
                goto out;
            }
            break;
        case OPT_CONNECT_TIMEOUT:
            if (duration_flag("--connect-timeout", optarg, 1000, &o.connect_timeout_us) < 0)
                goto out;
            break;
        case OPT_TIMEOUT:
            if (duration_flag("--timeout", optarg, 1000, &o.response_timeout_us) < 0) goto out;
            break;
        case OPT_BODY_TIMEOUT:
            if (duration_flag("--body-timeout", optarg, 1000, &o.body_timeout_us) < 0) goto out;
            break;
        case OPT_TTL:
            if (duration_flag("--ttl", optarg, 100000, &o.ttl_us) < 0) goto out;
            break;
        case OPT_TOKEN:
            if (!optarg[0] || strlen(optarg) >= sizeof o.token) {
                rc = bad("%s: '%s': expected 1..127 characters", "--token", optarg);
                goto out;
            }
            snprintf(o.token, sizeof o.token, "%s", optarg);
            break;
        case OPT_ALLOW_REGISTER: {
            char why[160];
            if (!allow_flags++) o.allow_register_count = 0; /* the flags replace the file's list */
            if (o.allow_register_count == REGISTRY_MAX_NETWORKS) {
                rc = bad("%s: '%s': 16 networks at most", "--allow-register", optarg);
                goto out;
            }
            if (registry_network_parse(optarg, &o.allow_register[o.allow_register_count], why,
                                       sizeof why) < 0) {
                fprintf(stderr, "herd gateway: --allow-register: %s\n", why);
                rc = CLI_EXIT_USAGE;
                goto out;
            }
            o.allow_register_count++;
            break;
        }
        case OPT_NODE_HEADER:
            if (!gateway_header_name_valid(optarg)) {
                rc = bad("%s: '%s': expected a header name such as X-Herd-Node", "--node-header",
                         optarg);
                goto out;
            }
            snprintf(o.node_header, sizeof o.node_header, "%s", optarg);
            break;
        case OPT_NO_ADD_NODE_HEADER:
            o.add_node_header = false;
            break;
        case OPT_LOG_LEVEL:
            if (log_level_parse(optarg, &level) < 0) {
                rc = bad("%s: '%s': expected error, warn, info or debug", "--log-level", optarg);
                goto out;
            }
            break;
        case 'h':
            fputs(gateway_usage, stdout);
            rc = CLI_EXIT_OK;
            goto out;
        default:
            rc = cli_option_error("gateway", c, argv);
            goto out;
        }
    }
    if (optind < argc) {
        rc = bad("%s%s: unexpected argument (nodes go in --node or the cluster file)",
                 argv[optind], "");
        goto out;
    }
    log_setup(level, "gateway");
    rc = gateway_run(&o) == 0 ? CLI_EXIT_OK : CLI_EXIT_RUNTIME;
out:
    gateway_opts_free(&o);
    return rc;
}
