/* cmd_up.c -- `herd up`: start a cluster from its cluster file and supervise it, in the
 * foreground (logs on the terminal, Ctrl-C stops everything) or as a background supervisor
 * (-d) that keeps running after the command returns. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "base/err.h"
#include "base/log.h"
#include "cli/cli.h"
#include "cluster/clusterfile.h"
#include "cluster/control.h"
#include "cluster/state.h"
#include "cluster/supervisor.h"

static const char up_usage[] =
    "usage: herd up [-f FILE] [-d] [--state-dir DIR]\n"
    "\n"
    "Starts every replica of the cluster file (groups in dependency order), waits until each\n"
    "is ready (its health check passes), and prints a table. In the foreground the replicas'\n"
    "output is shown prefixed with their name and Ctrl-C stops them all (stop signal, then\n"
    "SIGKILL after the grace); with -d a background supervisor keeps them running.\n"
    "\n"
    "  -f, --file FILE      cluster file (default herd.yaml; a plan's cluster: section works)\n"
    "  -d, --detach         run the supervisor in the background and return once ready\n"
    "      --state-dir DIR  pid files, logs and the control socket (default .herd)\n"
    "      --no-color       plain log prefixes\n"
    "  -h, --help           this text\n";

struct up_run {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    struct cluster_spec spec;
    struct conf_doc doc;
    struct state_dir st;
    struct supervisor *sup;
    struct control *ctl;
    bool foreground;
    bool no_color;
    bool stopping;
    int exit_code;
};

static void close_if_open(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_control_stopped(void *data)
{
    struct up_run *r = data;
    close_if_open((uv_handle_t *)&r->sigint);
    close_if_open((uv_handle_t *)&r->sigterm);
}

static void finish(struct up_run *r)
{
    control_stop(r->ctl, on_control_stopped, r);
}

static void on_shutdown_done(struct supervisor *sup, int status, const char *error, void *data)
{
    (void)sup;
    (void)status;
    (void)error;
    log_info("every node is stopped");
    finish(data);
}

static void begin_shutdown(struct up_run *r)
{
    if (r->stopping)
        return;
    r->stopping = true;
    control_set_phase(r->ctl, "stopping", r->exit_code, NULL);
    supervisor_shutdown(r->sup, on_shutdown_done, r);
}

static void on_shutdown_request(void *data)
{
    log_info("shutdown requested");
    begin_shutdown(data);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct up_run *r = s->data;
    log_info("%s: stopping every node", signum == SIGINT ? "SIGINT" : "SIGTERM");
    begin_shutdown(r);
}

static void on_up_done(struct supervisor *sup, int status, const char *error, void *data)
{
    struct up_run *r = data;
    if (r->stopping) /* a signal came before the start ended: the shutdown decides, exit 0 */
        return;
    if (status == 0) {
        control_set_phase(r->ctl, "ready", 0, NULL);
        if (r->foreground) {
            json_t *st = supervisor_status_json(sup);
            cli_print_nodes(st, stdout, false);
            json_decref(st);
            fflush(stdout);
        }
        log_info("cluster '%s' is ready", r->spec.name);
        return;
    }
    /* the failed start already stopped what it had started */
    r->exit_code = status;
    control_set_phase(r->ctl, "failed", status, error);
    log_error("%s", error);
    if (r->foreground)
        fprintf(stderr, "herd up: %s\n", error);
    r->stopping = true;
    finish(r);
}

/* Runs the supervisor on this process until it is stopped. Returns the exit code. */
static int run_supervisor(struct up_run *r)
{
    char err[ERR_SIZE], self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    struct supervisor_opts opts = {.self_exe = self, .log_to_terminal = r->foreground,
                                   .color = r->foreground && !r->no_color && isatty(STDOUT_FILENO)};
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&r->loop);
    r->sup = supervisor_new(&r->loop, &r->spec, &r->st, &opts);
    if (!r->sup) {
        fprintf(stderr, "herd up: out of memory\n");
        return CLI_EXIT_RUNTIME;
    }
    r->ctl = control_start(&r->loop, r->sup, &r->st, on_shutdown_request, r, err, sizeof err);
    if (!r->ctl || control_failed(r->ctl)) {
        fprintf(stderr, "herd up: %s\n", r->ctl ? err : "out of memory");
        if (r->ctl)
            control_stop(r->ctl, NULL, NULL);
        uv_run(&r->loop, UV_RUN_DEFAULT);
        control_free(r->ctl);
        supervisor_free(r->sup);
        return CLI_EXIT_RUNTIME;
    }
    uv_signal_init(&r->loop, &r->sigint);
    uv_signal_init(&r->loop, &r->sigterm);
    r->sigint.data = r->sigterm.data = r;
    uv_signal_start(&r->sigint, on_signal, SIGINT);
    uv_signal_start(&r->sigterm, on_signal, SIGTERM);
    state_pid_write(&r->st, NULL, getpid(), 0); /* once a SIGINT or SIGTERM is a clean stop */
    supervisor_up(r->sup, on_up_done, r);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    state_pid_remove(&r->st, NULL);
    control_free(r->ctl);
    supervisor_free(r->sup);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&r->loop) != 0) /* a handle never closed: a leak to look into */
        log_warn("the loop still holds handles at exit");
    return r->exit_code;
}

/* Refuses to start over a live cluster; clears what a dead one left. */
static int check_no_cluster(const struct state_dir *st)
{
    struct state_pid sp;
    char flag[CLI_STATE_FLAG_SIZE];
    cli_state_flag(st->root, flag, sizeof flag);
    if (state_pid_read_supervisor(st, &sp) == 0 && state_pid_alive(&sp)) {
        fprintf(stderr, "herd up: a cluster is already running here (supervisor pid %d, %s); "
                        "run herd down%s first\n", (int)sp.pid, st->root, flag);
        return CLI_EXIT_RUNTIME;
    }
    struct state_pid *pids;
    size_t count;
    if (state_pid_list(st, &pids, &count) == 0) {
        for (size_t i = 0; i < count; i++)
            if (state_pid_alive(&pids[i])) {
                fprintf(stderr, "herd up: %s (pid %d) of an earlier cluster is still running; "
                                "run herd down%s first\n", pids[i].id, (int)pids[i].pid, flag);
                free(pids);
                return CLI_EXIT_RUNTIME;
            }
        for (size_t i = 0; i < count; i++)
            state_pid_remove(st, pids[i].id);
        free(pids);
    }
    state_pid_remove(st, NULL);
    return 0;
}

/* The last line a detached supervisor wrote to its log. */
static void print_last_log_line(const struct state_dir *st)
{
    char path[STATE_PATH_MAX + 32], line[1024], last[1024] = "";
    state_path(st, "supervisor.log", path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f))
        if (strstr(line, " error "))
            snprintf(last, sizeof last, "%s", line);
    fclose(f);
    const char *msg = strstr(last, ": ");
    if (msg)
        fprintf(stderr, "herd up: %s", msg + 2);
}

static int run_detached(struct up_run *r, uint64_t wait_ms)
{
    char path[STATE_PATH_MAX + 32];
    state_path(&r->st, "supervisor.log", path, sizeof path);
    fflush(NULL);
    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "herd up: cannot fork: %s\n", strerror(errno));
        return CLI_EXIT_RUNTIME;
    }
    if (child == 0) {
        setsid();
        int in = open("/dev/null", O_RDONLY), out = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (in >= 0)
            dup2(in, 0);
        if (out >= 0) {
            dup2(out, 1);
            dup2(out, 2);
        }
        r->foreground = false;
        _exit(run_supervisor(r));
    }
    uint64_t start = uv_hrtime() / 1000000;
    while (uv_hrtime() / 1000000 - start < wait_ms) {
        int status;
        if (waitpid(child, &status, WNOHANG) == child) {
            print_last_log_line(&r->st);
            int code = WIFEXITED(status) ? WEXITSTATUS(status) : CLI_EXIT_RUNTIME;
            return code ? code : CLI_EXIT_RUNTIME;
        }
        int http_status;
        char *body = NULL, err[ERR_SIZE];
        if (control_call(&r->st, "GET", "/status?brief=1", NULL, 2000, &http_status, &body, err, sizeof err) == 0) {
            json_t *j = json_loads(body, 0, NULL);
            free(body);
            const char *phase = json_string_value(json_object_get(j, "phase"));
            if (phase && strcmp(phase, "ready") == 0) {
                json_decref(j);
                j = NULL;
                if (control_call(&r->st, "GET", "/status", NULL, 10000, &http_status, &body, err, sizeof err) == 0) {
                    j = json_loads(body, 0, NULL);
                    free(body);
                }
                cli_print_nodes(j, stdout, false);
                char flag[CLI_STATE_FLAG_SIZE];
                cli_state_flag(r->st.root, flag, sizeof flag);
                printf("supervisor pid %d; logs in %s/logs (herd logs%s); stop with: herd down%s\n",
                       (int)child, r->st.root, flag, flag);
                json_decref(j);
                return CLI_EXIT_OK;
            }
            if (phase && strcmp(phase, "failed") == 0) {
                fprintf(stderr, "herd up: %s\n", json_string_value(json_object_get(j, "error")));
                int code = (int)json_integer_value(json_object_get(j, "exit_code"));
                json_decref(j);
                waitpid(child, NULL, 0); /* it stops what it started, then exits */
                return code ? code : CLI_EXIT_RUNTIME;
            }
            json_decref(j);
        }
        usleep(100000);
    }
    char flag[CLI_STATE_FLAG_SIZE];
    fprintf(stderr, "herd up: the cluster was not ready after %.0f s; see its logs: herd logs%s\n",
            (double)wait_ms / 1000, cli_state_flag(r->st.root, flag, sizeof flag));
    return CLI_EXIT_RUNTIME;
}

int cmd_up(int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},   {"detach", no_argument, NULL, 'd'},
        {"state-dir", required_argument, NULL, 's'}, {"no-color", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *file = "herd.yaml", *state = NULL;
    bool detach = false, no_color = false;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":f:dh", opts, NULL)) != -1) {
        switch (c) {
        case 'f': file = optarg; break;
        case 'd': detach = true; break;
        case 's': state = optarg; break;
        case 'C': no_color = true; break;
        case 'h': fputs(up_usage, stdout); return CLI_EXIT_OK;
        default: return cli_option_error("up", c, argv);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "herd up: unexpected argument '%s'\n", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    struct up_run r = {.foreground = !detach, .no_color = no_color};
    char err[ERR_SIZE];
    if (cluster_spec_load(&r.spec, &r.doc, file, err, sizeof err) < 0) {
        fprintf(stderr, "herd up: %s\n", err);
        return CLI_EXIT_USAGE;
    }
    if (r.spec.gateway.present && cluster_spec_add_gateway(&r.spec, file, err, sizeof err) < 0) {
        fprintf(stderr, "herd up: %s\n", err);
        cluster_spec_free(&r.spec);
        conf_free(&r.doc);
        return CLI_EXIT_RUNTIME;
    }
    int rc;
    if (state_open(&r.st, state, err, sizeof err) < 0) {
        fprintf(stderr, "herd up: %s\n", err);
        rc = CLI_EXIT_RUNTIME;
    } else if (state_lock(&r.st, err, sizeof err) < 0) {
        /* a second herd up on this directory would take the first one's control socket */
        char flag[CLI_STATE_FLAG_SIZE];
        fprintf(stderr, "herd up: %s; run herd down%s first\n", err,
                cli_state_flag(r.st.root, flag, sizeof flag));
        rc = CLI_EXIT_RUNTIME;
    } else if ((rc = check_no_cluster(&r.st)) == 0 && state_logs_rotate(&r.st, err, sizeof err) < 0) {
        fprintf(stderr, "herd up: %s\n", err); /* herd logs shows this cluster's lines only */
        rc = CLI_EXIT_RUNTIME;
    } else if (rc == 0) { /* the lock stays held until we exit */
        struct rlimit rl; /* hundreds of replicas: two pipes and a log file each */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        log_setup(LOG_LEVEL_INFO, "herd up");
        if (detach) {
            uint64_t wait_ms = 30000;
            for (size_t g = 0; g < r.spec.group_count; g++)
                wait_ms += r.spec.groups[g].ready_timeout_us / 1000;
            rc = run_detached(&r, wait_ms);
        } else {
            rc = run_supervisor(&r);
        }
    }
    cluster_spec_free(&r.spec);
    conf_free(&r.doc);
    return rc;
}
