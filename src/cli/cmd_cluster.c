/* cmd_cluster.c -- the verbs over a running cluster: status, logs, down, scale, restart,
 * rollout, kill, stop, pause, resume. Each is a client of the supervisor's control socket;
 * status and down still work from the pid files when the supervisor is gone. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "cli/cli.h"
#include "cluster/clusterfile.h"
#include "cluster/control.h"
#include "cluster/state.h"

#define LONG_OPERATION_MS (30 * 60 * 1000) /* rollouts of many replicas take a while */

void cli_print_nodes(const void *status, FILE *out, bool details)
{
    const json_t *j = status;
    json_t *first = json_array_get(json_object_get(j, "nodes"), 0);
    bool gateway = details && json_object_get(first, "gateway_state");
    if (details)
        fprintf(out, "%-16s %-8s %-6s %-9s %-10s %-9s %-8s %-9s%s\n", "NODE", "PID", "PORT", "STATE",
                "UPTIME", "RESTARTS", "HEALTH", "RSS", gateway ? " GATEWAY" : "");
    else
        fprintf(out, "%-16s %-8s %-6s %-9s %-9s\n", "NODE", "PID", "PORT", "STATE", "READY_MS");
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(j, "nodes"), i, n) {
        const char *id = json_string_value(json_object_get(n, "id"));
        int pid = (int)json_integer_value(json_object_get(n, "pid"));
        int port = (int)json_integer_value(json_object_get(n, "port"));
        const char *state = json_string_value(json_object_get(n, "state"));
        char pid_s[16] = "-", port_s[16] = "-";
        if (pid)
            snprintf(pid_s, sizeof pid_s, "%d", pid);
        if (port)
            snprintf(port_s, sizeof port_s, "%d", port);
        if (!details) {
            fprintf(out, "%-16s %-8s %-6s %-9s %-9.0f\n", id, pid_s, port_s, state,
                    json_number_value(json_object_get(n, "ready_ms")));
            continue;
        }
        char up[32] = "-", rss[32] = "-";
        double uptime = json_number_value(json_object_get(n, "uptime_s"));
        long kb = (long)json_integer_value(json_object_get(n, "rss_kb"));
        if (pid)
            snprintf(up, sizeof up, "%.1fs", uptime);
        if (kb > 0)
            snprintf(rss, sizeof rss, "%.1fM", (double)kb / 1024);
        fprintf(out, "%-16s %-8s %-6s %-9s %-10s %-9d %-8s %-9s", id, pid_s, port_s, state, up,
                (int)json_integer_value(json_object_get(n, "restarts")),
                json_string_value(json_object_get(n, "health")), rss);
        if (gateway) {
            const char *gs = json_string_value(json_object_get(n, "gateway_state"));
            fprintf(out, " %s", gs ? gs : "-");
        }
        const char *why = json_string_value(json_object_get(n, "health_error"));
        if (why && *why)
            fprintf(out, " (%s)", why);
        fputc('\n', out);
    }
}

struct verb_args {
    const char *state_dir;
    bool follow;
    long lines;
    int first; /* index of the first positional argument */
};

/* Parses the verbs' options into a. Returns 0, -1 after --help, -2 after --version (printed),
 * or an exit code after a message. */
static int parse_common(const char *verb, int argc, char **argv, struct verb_args *a)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 's'},
        {"follow", no_argument, NULL, 'f'},
        {"lines", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->lines = -1;
    optind = 0;
    opterr = 0;
    int c;
    bool logs = strcmp(verb, "logs") == 0;
    while ((c = getopt_long(argc, argv, logs ? ":fn:h" : ":h", opts, NULL)) != -1) {
        switch (c) {
        case 's': a->state_dir = optarg; break;
        case 'f': a->follow = true; break;
        case 'n': {
            uint64_t lines;
            if (cli_count_flag("logs", "-n", optarg, 0, 100000000, &lines) < 0)
                return CLI_EXIT_USAGE;
            a->lines = (long)lines;
            break;
        }
        case 'h': return -1;
        default: /* -2: --version was printed */
            return cli_option_error(verb, c, argv) == CLI_EXIT_OK ? -2 : CLI_EXIT_USAGE;
        }
    }
    a->first = optind;
    return 0;
}

/* "no cluster is running here (DIR): start one with herd up -d ..." into out (at least
 * NO_CLUSTER_SIZE bytes), which it returns. */
#define NO_CLUSTER_SIZE (2 * CLI_STATE_FLAG_SIZE)
static const char *no_cluster_here(const char *root, char *out, size_t size)
{
    char flag[CLI_STATE_FLAG_SIZE];
    snprintf(out, size,
             "no cluster is running here (%s): start one with herd up -d%s, or give --state-dir "
             "DIR (or set $HERD_STATE_DIR) for one started elsewhere",
             root, cli_state_flag(root, flag, sizeof flag));
    return out;
}

/* Attaches to the state directory of the verb's cluster. Returns 0, an exit code, or -1 when
 * the verb is done already (down where nothing ever ran: exit 0). */
static int open_state(const char *verb, const struct verb_args *a, struct state_dir *st)
{
    char err[ERR_SIZE];
    int rc = state_attach(st, a->state_dir, err, sizeof err);
    if (rc > 0 && strcmp(verb, "down") == 0) { /* as docker compose down: nothing to stop */
        printf("nothing was running (%s)\n", st->root);
        return -1;
    }
    if (rc > 0) { /* nothing ever ran here: say so, and create nothing */
        char msg[NO_CLUSTER_SIZE];
        fprintf(stderr, "herd %s: %s\n", verb, no_cluster_here(st->root, msg, sizeof msg));
    } else if (rc < 0) {
        fprintf(stderr, "herd %s: %s\n", verb, err);
    }
    return rc ? CLI_EXIT_RUNTIME : 0;
}

/* One mutating call: prints the supervisor's refusal or failure, returns the exit code. */
static int call(const char *verb, const struct state_dir *st, const char *path, const char *body)
{
    int status;
    char *reply = NULL, err[ERR_SIZE];
    if (control_call(st, "POST", path, body, LONG_OPERATION_MS, &status, &reply, err, sizeof err) < 0) {
        char flag[CLI_STATE_FLAG_SIZE];
        fprintf(stderr, "herd %s: %s (is a cluster up? herd up -d%s)\n", verb, err,
                cli_state_flag(st->root, flag, sizeof flag));
        return CLI_EXIT_RUNTIME;
    }
    int rc = CLI_EXIT_OK;
    json_t *j = json_loads(reply, 0, NULL);
    const char *note = json_string_value(json_object_get(j, "note"));
    if (status >= 300) {
        const char *msg = json_string_value(json_object_get(j, "error"));
        fprintf(stderr, "herd %s: %s\n", verb, msg ? msg : reply);
        rc = status >= 500 ? CLI_EXIT_RUNTIME : CLI_EXIT_USAGE;
    } else if (note) { /* already so: nothing was done */
        printf("%s\n", note);
    }
    json_decref(j);
    free(reply);
    return rc;
}

static void print_status_after(const struct state_dir *st)
{
    int status;
    char *reply = NULL, err[ERR_SIZE];
    if (control_call(st, "GET", "/status", NULL, 5000, &status, &reply, err, sizeof err) == 0) {
        json_t *j = json_loads(reply, 0, NULL);
        if (j)
            cli_print_nodes(j, stdout, true);
        json_decref(j);
        free(reply);
    }
}

/* ---- status ---- */

static int status_from_pid_files(const struct state_dir *st)
{
    struct state_pid *pids;
    size_t count;
    if (state_pid_list(st, &pids, &count) < 0 || count == 0) {
        free(pids);
        char msg[NO_CLUSTER_SIZE];
        fprintf(stderr, "herd status: %s\n", no_cluster_here(st->root, msg, sizeof msg));
        return CLI_EXIT_RUNTIME;
    }
    printf("no supervisor answers; from the pid files in %s/pids:\n", st->root);
    printf("%-16s %-8s %-6s %-22s %-10s %-9s\n", "NODE", "PID", "PORT", "STATE", "UPTIME", "RSS");
    for (size_t i = 0; i < count; i++) {
        bool alive = state_pid_alive(&pids[i]);
        char up[32] = "-", rss[32] = "-";
        if (alive) {
            snprintf(up, sizeof up, "%.1fs", proc_uptime_of(pids[i].starttime));
            snprintf(rss, sizeof rss, "%.1fM", (double)proc_rss_kb(pids[i].pid) / 1024);
        }
        printf("%-16s %-8d %-6d %-22s %-10s %-9s\n", pids[i].id, (int)pids[i].pid, pids[i].port,
               alive ? "running (unsupervised)" : "gone", up, rss);
    }
    free(pids);
    return CLI_EXIT_OK;
}

/* With a gateway in the cluster: each node gets "gateway_state", what the gateway thinks
 * of it and why (up, "down: GET /health -> 404", ejected, drain, maint; "-" when it does not
 * know the node), and status gets "gateway_nodes", the gateway's nodes herd does not run
 * ({id, address, gateway_state}). */
static void add_gateway_view(json_t *status)
{
    size_t i;
    json_t *n, *nodes = json_object_get(status, "nodes");
    int port = 0;
    json_array_foreach(nodes, i, n) {
        const char *group = json_string_value(json_object_get(n, "group"));
        const char *state = json_string_value(json_object_get(n, "state"));
        if (group && strcmp(group, CLUSTER_GATEWAY_GROUP) == 0 && state && strcmp(state, "ready") == 0)
            port = (int)json_integer_value(json_object_get(n, "port"));
    }
    if (!port) return;
    int code;
    char *reply = NULL, err[ERR_SIZE];
    if (control_call_port(port, "GET", "/api/v1/cluster/nodes", NULL, 2000, &code, &reply, err,
                          sizeof err) < 0)
        return;
    json_t *view = code == 200 ? json_loads(reply, 0, NULL) : NULL;
    free(reply);
    json_t *known = json_object_get(view, "nodes");
    json_t *listed = json_object(); /* the supervisor's ids: a lookup each, not a scan */
    json_array_foreach(nodes, i, n) {
        const char *nid = json_string_value(json_object_get(n, "id"));
        if (nid) json_object_set_new(listed, nid, json_true());
        const char *group = json_string_value(json_object_get(n, "group"));
        if (group && strcmp(group, CLUSTER_GATEWAY_GROUP) == 0) {
            json_object_set_new(n, "gateway_state", json_string("(gateway)"));
            continue;
        }
        json_t *g = json_object_get(known, json_string_value(json_object_get(n, "id")));
        const char *state = json_string_value(json_object_get(g, "reason"));
        if (!state) state = json_string_value(json_object_get(g, "state"));
        json_object_set_new(n, "gateway_state", json_string(state ? state : "-"));
    }
    json_t *others = json_array();
    const char *id;
    json_t *g;
    json_object_foreach(known, id, g) {
        if (json_object_get(listed, id)) continue;
        const char *why = json_string_value(json_object_get(g, "reason"));
        char address[300];
        snprintf(address, sizeof address, "%s:%d",
                 json_string_value(json_object_get(g, "address")) ?: "?",
                 (int)json_integer_value(json_object_get(json_object_get(g, "config"), "port")));
        json_array_append_new(others, json_pack("{s:s,s:s,s:s}", "id", id, "address", address,
                                                "gateway_state", why ? why : "-"));
    }
    json_object_set_new(status, "gateway_nodes", others);
    json_decref(listed);
    json_decref(view);
}

static int verb_status(const struct state_dir *st)
{
    int status;
    char *reply = NULL, err[ERR_SIZE];
    if (control_call(st, "GET", "/status", NULL, 5000, &status, &reply, err, sizeof err) < 0)
        return status_from_pid_files(st);
    json_t *j = json_loads(reply, 0, NULL);
    free(reply);
    if (!j) {
        fprintf(stderr, "herd status: the supervisor's answer is not JSON\n");
        return CLI_EXIT_RUNTIME;
    }
    printf("cluster %s: %s (supervisor pid %d, %s)\n", json_string_value(json_object_get(j, "name")),
           json_string_value(json_object_get(j, "phase")),
           (int)json_integer_value(json_object_get(j, "supervisor_pid")), st->root);
    add_gateway_view(j);
    cli_print_nodes(j, stdout, true);
    json_t *others = json_object_get(j, "gateway_nodes");
    if (json_array_size(others) > 0)
        printf("\nthe gateway's other nodes (herd does not run them):\n%-16s %-22s %s\n", "NODE",
               "ADDRESS", "GATEWAY");
    size_t i;
    json_t *o;
    json_array_foreach(others, i, o)
        printf("%-16s %-22s %s\n", json_string_value(json_object_get(o, "id")),
               json_string_value(json_object_get(o, "address")),
               json_string_value(json_object_get(o, "gateway_state")));
    json_decref(j);
    return CLI_EXIT_OK;
}

/* ---- down ---- */

static bool wait_gone(pid_t pid, uint64_t starttime, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        if (!proc_is(pid, starttime))
            return true;
        usleep(50000);
    }
    return !proc_is(pid, starttime);
}

/* Waits until the process group that pid led (signalled by us while pid was the process the
 * pid file names) has no process left, or timeout_ms. Returns true once it is empty. */
static bool wait_group_gone(pid_t pid, uint64_t starttime, int timeout_ms)
{
    for (int waited = 0;; waited += 50) {
        bool leader = proc_is(pid, starttime);
        /* once the leader is gone its number stays reserved while the group has members */
        if (!leader && proc_kill_group(pid, 0) < 0 && errno != EPERM) return true;
        if (waited >= timeout_ms) return false;
        usleep(50000);
    }
}

static int verb_down(const struct state_dir *st)
{
    struct state_pid sup;
    bool supervised = state_pid_read_supervisor(st, &sup) == 0 && state_pid_alive(&sup);
    int status;
    char *reply = NULL, err[ERR_SIZE];
    if (supervised && control_call(st, "POST", "/shutdown", NULL, 5000, &status, &reply, err, sizeof err) == 0) {
        free(reply);
        if (!wait_gone(sup.pid, sup.starttime, 120000)) {
            fprintf(stderr, "herd down: the supervisor (pid %d) did not exit in 120 s\n", (int)sup.pid);
            return CLI_EXIT_RUNTIME;
        }
    } else if (supervised) {
        if (sup.pid > 1) kill(sup.pid, SIGTERM); /* it stops its nodes on SIGTERM too */
        wait_gone(sup.pid, sup.starttime, 120000);
    }
    /* whatever is left in the pid files (a supervisor killed with -9): stop it by pid */
    struct state_pid *pids;
    size_t count, stopped = 0;
    if (state_pid_list(st, &pids, &count) < 0) {
        fprintf(stderr, "herd down: cannot read %s/pids\n", st->root);
        return CLI_EXIT_RUNTIME;
    }
    bool *signalled = calloc(count ? count : 1, sizeof *signalled);
    for (size_t i = 0; signalled && i < count; i++)
        if (state_pid_alive(&pids[i])) {
            proc_kill_group(pids[i].pid, SIGTERM);
            proc_kill_group(pids[i].pid, SIGCONT); /* a paused node must run to act on SIGTERM */
            signalled[i] = true;
            stopped++;
        }
    for (size_t i = 0; signalled && i < count; i++) {
        /* the whole group, also what outlived its leader (a child that ignores SIGTERM) */
        if (signalled[i] && !wait_group_gone(pids[i].pid, pids[i].starttime, 10000)) {
            proc_kill_group(pids[i].pid, SIGKILL);
            wait_group_gone(pids[i].pid, pids[i].starttime, 5000);
        }
        state_pid_remove(st, pids[i].id);
    }
    free(signalled);
    free(pids);
    state_pid_remove(st, NULL);
    char sock[STATE_PATH_MAX + 16];
    state_path(st, "control.sock", sock, sizeof sock);
    unlink(sock);
    if (supervised)
        printf("cluster stopped (supervisor pid %d)\n", (int)sup.pid);
    if (stopped)
        printf("stopped %zu unsupervised node(s) from the pid files\n", stopped);
    if (!supervised && !stopped)
        printf("nothing was running (%s)\n", st->root);
    return CLI_EXIT_OK;
}

/* ---- logs ---- */

static int print_log(const struct state_dir *st, const char *id, bool prefix, long lines, long *offset)
{
    char name[160], path[STATE_PATH_MAX + 160];
    snprintf(name, sizeof name, "logs/%s.log", id);
    state_path(st, name, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    if (*offset > size) /* a new file in its place (the next herd up): from its start */
        *offset = 0;
    if (*offset > 0 || lines < 0) {
        fseek(f, *offset, SEEK_SET);
    } else { /* start at the last `lines` lines */
        long pos = size - 1, count = 0;
        char c;
        for (; lines > 0 && pos >= 0; pos--) {
            fseek(f, pos, SEEK_SET);
            if (fread(&c, 1, 1, f) == 1 && c == '\n' && pos != size - 1 && ++count == lines)
                break;
        }
        fseek(f, pos < 0 ? 0 : pos + 1, SEEK_SET);
    }
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        if (prefix)
            printf("%-12s | %s", id, line);
        else
            fputs(line, stdout);
    }
    *offset = ftell(f);
    fclose(f);
    fflush(stdout);
    return 0;
}

static volatile sig_atomic_t logs_interrupted;

static void on_logs_sigint(int sig)
{
    (void)sig;
    logs_interrupted = 1;
}

/* Ctrl-C while a group operation (rollout, restart, scale) runs: this command stops waiting,
 * the supervisor goes on; say so rather than look like a cancel. */
static const char *waiting_verb = "";
static void on_wait_sigint(int sig)
{
    char line[256];
    size_t n = 0;
    const char *parts[] = {"\nherd ", waiting_verb,
                           ": stopped waiting; the supervisor goes on with it (herd status shows "
                           "where it is)\n"};
    for (size_t i = 0; i < 3; i++)
        for (const char *p = parts[i]; *p && n < sizeof line; p++)
            line[n++] = *p;
    if (write(STDERR_FILENO, line, n) < 0) {
        /* nothing more can be done from a signal handler */
    }
    _exit(128 + sig);
}

/* The cluster's node ids, one per line into names: from the supervisor when it answers (every
 * node it has, silent or stopped ones too), else from the log files there are. Returns true
 * when the supervisor answered. */
static bool node_ids(const struct state_dir *st, struct buf *names)
{
    int status;
    char *reply = NULL, err[ERR_SIZE];
    if (control_call(st, "GET", "/status", NULL, 5000, &status, &reply, err, sizeof err) == 0) {
        json_t *j = status == 200 ? json_loads(reply, 0, NULL) : NULL;
        free(reply);
        size_t i;
        json_t *n;
        json_array_foreach(json_object_get(j, "nodes"), i, n)
            buf_printf(names, "%s\n", json_string_value(json_object_get(n, "id")));
        json_decref(j);
        if (j)
            return true;
    }
    char dir[STATE_PATH_MAX + 8];
    snprintf(dir, sizeof dir, "%s/logs", st->root);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".log") == 0)
            buf_printf(names, "%.*s\n", (int)(len - 4), e->d_name);
    }
    if (d)
        closedir(d);
    return false;
}

static bool names_hold(const struct buf *names, const char *id)
{
    size_t len = strlen(id);
    for (const char *p = names->data; p && *p; p = strchr(p, '\n') + 1)
        if (strncmp(p, id, len) == 0 && p[len] == '\n')
            return true;
    return false;
}

/* herd logs: the lines the nodes of the cluster running (or last run) here printed; a node
 * that printed nothing yet has an empty log, and -f waits for its first line. */
static int verb_logs(const struct state_dir *st, int argc, char **argv, const struct verb_args *a)
{
    struct buf names = {0};
    bool supervised = node_ids(st, &names);
    size_t count = 0;
    char **ids = NULL;
    if (a->first < argc) {
        ids = calloc((size_t)(argc - a->first), sizeof *ids);
        for (int i = a->first; ids && i < argc; i++)
            ids[count++] = strdup(argv[i]);
    } else {
        for (char *p = names.data; p && *p; p = strchr(p, '\n') + 1) {
            char **grown = realloc(ids, (count + 1) * sizeof *ids);
            if (!grown)
                break;
            ids = grown;
            ids[count++] = strndup(p, strcspn(p, "\n"));
        }
        if (!count) {
            fprintf(stderr, "herd logs: no logs in %s/logs\n", st->root);
            buf_free(&names);
            return CLI_EXIT_RUNTIME;
        }
    }
    long *offsets = calloc(count ? count : 1, sizeof *offsets);
    int rc = CLI_EXIT_OK;
    for (size_t i = 0; offsets && i < count; i++)
        if (print_log(st, ids[i], count > 1, a->lines, &offsets[i]) < 0 &&
            !(supervised && names_hold(&names, ids[i]))) {
            fprintf(stderr, "herd logs: no node '%s' in %s\n", ids[i], st->root);
            rc = CLI_EXIT_USAGE;
        }
    if (a->follow && rc == CLI_EXIT_OK) {
        signal(SIGINT, on_logs_sigint);
        signal(SIGTERM, on_logs_sigint);
        while (!logs_interrupted) { /* until Ctrl-C */
            usleep(200000);
            for (size_t i = 0; i < count; i++)
                print_log(st, ids[i], count > 1, -1, &offsets[i]);
        }
    }
    free(offsets);
    for (size_t i = 0; i < count; i++)
        free(ids[i]);
    free(ids);
    buf_free(&names);
    return rc;
}

/* ---- the dispatcher ---- */

static const char cluster_usage[] =
    "usage: herd status | down | logs [NODE...] [-f] [-n LINES] | scale GROUP=N |\n"
    "       restart NODE|GROUP | rollout GROUP | kill|stop|pause|resume NODE\n"
    "       [--state-dir DIR]   (default .herd, or $HERD_STATE_DIR)\n"
    "\n"
    "  status    nodes with pid, port, state, uptime, restarts, health, RSS\n"
    "  down      stop every node and the supervisor (works from pid files if it died)\n"
    "  logs      the nodes' output (-f follows, -n the last LINES lines)\n"
    "  scale     start or stop replicas until GROUP has N; new ones are waited for\n"
    "  restart   a node, or a whole group at once\n"
    "  rollout   restart a group one replica at a time, each ready before the next\n"
    "  kill      SIGKILL a node (its restart policy applies)\n"
    "  stop      stop a node gracefully; it stays down until restarted\n"
    "  pause     SIGSTOP a node; resume sends SIGCONT\n";

int cmd_cluster(int argc, char **argv)
{
    const char *verb = argv[0];
    struct verb_args a;
    int rc = parse_common(verb, argc, argv, &a);
    if (rc == -1) {
        fputs(cluster_usage, stdout);
        return CLI_EXIT_OK;
    }
    if (rc == -2)
        return CLI_EXIT_OK;
    if (rc)
        return rc;
    struct state_dir st;
    if ((rc = open_state(verb, &a, &st)))
        return rc < 0 ? CLI_EXIT_OK : rc;
    int positional = argc - a.first;
    const char *arg = positional > 0 ? argv[a.first] : NULL;
    if (strcmp(verb, "logs") == 0)
        return verb_logs(&st, argc, argv, &a);
    bool takes_arg = strcmp(verb, "status") != 0 && strcmp(verb, "down") != 0;
    if (takes_arg ? positional != 1 : positional != 0) {
        fprintf(stderr, "herd %s: %s\n%s", verb, takes_arg ? "expected one argument" : "takes no argument", cluster_usage);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(verb, "status") == 0)
        return verb_status(&st);
    if (strcmp(verb, "down") == 0)
        return verb_down(&st);
    char path[512], body[64];
    if (strcmp(verb, "scale") == 0) {
        const char *eq = strchr(arg, '=');
        char *end;
        long n = eq ? strtol(eq + 1, &end, 10) : -1;
        if (!eq || eq == arg || eq[1] == '\0' || *end || n < 0 || n > 10000) {
            fprintf(stderr, "herd scale: '%s': expected GROUP=N, e.g. api=5\n", arg);
            return CLI_EXIT_USAGE;
        }
        snprintf(path, sizeof path, "/groups/%.*s/scale", (int)(eq - arg), arg);
        snprintf(body, sizeof body, "{\"replicas\": %ld}", n);
        waiting_verb = verb;
        signal(SIGINT, on_wait_sigint);
        rc = call(verb, &st, path, body);
    } else if (strcmp(verb, "rollout") == 0) {
        snprintf(path, sizeof path, "/groups/%s/rollout", arg);
        waiting_verb = verb;
        signal(SIGINT, on_wait_sigint);
        rc = call(verb, &st, path, NULL);
    } else if (strcmp(verb, "restart") == 0 && !strchr(arg, '.')) {
        snprintf(path, sizeof path, "/groups/%s/restart", arg); /* a group: no dot in its name */
        waiting_verb = verb;
        signal(SIGINT, on_wait_sigint);
        rc = call(verb, &st, path, NULL);
    } else {
        snprintf(path, sizeof path, "/nodes/%s/%s", arg, verb);
        rc = call(verb, &st, path, NULL);
    }
    if (rc == CLI_EXIT_OK)
        print_status_after(&st);
    return rc;
}
