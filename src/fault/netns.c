/* netns.c -- a group's replicas in network namespaces on a bridge, with `ip` (iproute2):
 * what the partition fault cuts. */
#define _GNU_SOURCE /* pipe2 */
#include "fault/netns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"

extern char **environ;

#define NETNS_DIR "/run/netns"
#define NETNS_ETC_DIR "/etc/netns" /* per-namespace files `ip netns exec` mounts over /etc */

/* Runs `ip ARGS...` to its end. Returns 0 when it exited 0, else -1 with the command and
 * what it printed on stderr. */
static int ip_run(char *const argv[], char *err, size_t errlen)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) return err_set(err, errlen, "ip: cannot make a pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, "ip", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    char out[256] = "";
    size_t used = 0;
    ssize_t n;
    while (rc == 0 && (n = read(pipefd[0], out + used, sizeof out - 1 - used)) > 0)
        used += (size_t)n;
    out[used] = '\0';
    close(pipefd[0]);
    if (rc != 0) return err_set(err, errlen, "cannot run ip (iproute2): %s", strerror(rc));
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    char cmd[256] = "";
    for (int i = 0; argv[i]; i++)
        snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), "%s%s", i ? " " : "", argv[i]);
    out[strcspn(out, "\n")] = '\0';
    return err_set(err, errlen, "`%s` failed: %s", cmd, out[0] ? out : "no message");
}

static pthread_once_t usable_once = PTHREAD_ONCE_INIT;
static bool usable;
static char usable_why[256];

static void check_usable(void)
{
    if (geteuid() != 0) {
        snprintf(usable_why, sizeof usable_why, "network namespaces need root (running as uid %d)",
                 (int)geteuid());
        return;
    }
    char *argv[] = {"ip", "netns", "list", NULL};
    char err[200];
    if (ip_run(argv, err, sizeof err) < 0) {
        snprintf(usable_why, sizeof usable_why, "network namespaces unavailable: %s", err);
        return;
    }
    usable = true;
}

bool netns_usable(char *why, size_t size)
{
    pthread_once(&usable_once, check_usable);
    if (!usable && why) snprintf(why, size, "%s", usable_why);
    return usable;
}

void netns_replica_addr(int base_port, int index, char *out, size_t size)
{
    snprintf(out, size, "10.%d.%d.%d", (base_port >> 8) & 255, base_port & 255, index + 1);
}

void netns_replica_name(int base_port, int index, char *out, size_t size)
{
    snprintf(out, size, "herd-%d-%d", base_port, index);
}

static void bridge_name(int base_port, char *out, size_t size)
{
    snprintf(out, size, "hb%d", base_port);
}

/* The replica's veth: its host end ("hv28301i2") or its end in the namespace ("hn..."). */
static void veth_name(int base_port, int index, bool host, char *out, size_t size)
{
    snprintf(out, size, "h%c%di%d", host ? 'v' : 'n', base_port, index);
}

/* Removes the replica's /etc/netns directory and its files. Returns true when it had one. */
static bool etc_files_remove(const char *ns)
{
    char path[160];
    snprintf(path, sizeof path, NETNS_ETC_DIR "/%s", ns);
    if (access(path, F_OK) != 0) return false;
    static const char *const files[] = {"hosts", "resolv.conf"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, NETNS_ETC_DIR "/%s/%s", ns, files[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, NETNS_ETC_DIR "/%s", ns);
    rmdir(path);
    return true;
}

void netns_group_down(int base_port, int replicas)
{
    char name[64], err[256];
    bool had_etc = false;
    for (int i = 1; i <= replicas; i++) {
        char path[128];
        netns_replica_name(base_port, i, name, sizeof name);
        had_etc |= etc_files_remove(name);
        snprintf(path, sizeof path, NETNS_DIR "/%s", name);
        if (access(path, F_OK) != 0) continue;
        char *argv[] = {"ip", "netns", "del", name, NULL};
        ip_run(argv, err, sizeof err); /* its veth pair goes with it */
    }
    if (had_etc) rmdir(NETNS_ETC_DIR); /* only when empty: other namespaces' files stay */
    bridge_name(base_port, name, sizeof name);
    char *argv[] = {"ip", "link", "del", name, NULL};
    ip_run(argv, err, sizeof err);
}

/* True when a route other than the default one already covers the group's subnet: a
 * network of this machine that the bridge would shadow. */
static bool subnet_taken(int base_port, char *dev, size_t size)
{
    FILE *f = fopen("/proc/net/route", "r");
    if (!f) return false;
    /* addresses in /proc/net/route are in network byte order, printed as host integers */
    unsigned char net[4] = {10, (unsigned char)((base_port >> 8) & 255),
                            (unsigned char)(base_port & 255), 0};
    unsigned int subnet;
    memcpy(&subnet, net, 4);
    char line[256], iface[32], bridge[32];
    snprintf(bridge, sizeof bridge, "hb%d", base_port);
    bool taken = false;
    unsigned int dest, gateway, flags, refcnt, use, metric, mask;
    while (!taken && fgets(line, sizeof line, f))
        if (sscanf(line, "%31s %x %x %x %u %u %u %x", iface, &dest, &gateway, &flags, &refcnt,
                   &use, &metric, &mask) == 8 &&
            mask != 0 && (subnet & mask) == dest && strcmp(iface, bridge) != 0) {
            snprintf(dev, size, "%s", iface);
            taken = true;
        }
    fclose(f);
    return taken;
}

int netns_group_up(int base_port, char *err, size_t errlen)
{
    char why[256];
    if (!netns_usable(why, sizeof why)) return err_set(err, errlen, "%s", why);
    netns_group_down(base_port, NETNS_MAX_REPLICAS); /* what a crashed run left */
    char dev[32], subnet[40];
    if (subnet_taken(base_port, dev, sizeof dev)) {
        netns_replica_addr(base_port, 0, subnet, sizeof subnet);
        return err_set(err, errlen,
                       "the namespaces of base port %d would use %s/24, which %s already routes: "
                       "choose another base_port",
                       base_port, subnet, dev);
    }
    char bridge[32], addr[40];
    bridge_name(base_port, bridge, sizeof bridge);
    netns_replica_addr(base_port, 0, addr, sizeof addr); /* the bridge is ".1" */
    strcat(addr, "/24");
    char *add[] = {"ip", "link", "add", bridge, "type", "bridge", NULL};
    char *ip[] = {"ip", "addr", "add", addr, "dev", bridge, NULL};
    char *up[] = {"ip", "link", "set", bridge, "up", NULL};
    if (ip_run(add, err, errlen) < 0 || ip_run(ip, err, errlen) < 0 || ip_run(up, err, errlen) < 0) {
        netns_group_down(base_port, 0);
        return -1;
    }
    return 0;
}

int netns_replica_up(int base_port, int index, char *err, size_t errlen)
{
    if (index < 1 || index > NETNS_MAX_REPLICAS)
        return err_set(err, errlen, "at most %d replicas in namespaces", NETNS_MAX_REPLICAS);
    char ns[64], path[128], host[32], peer[32], bridge[32], addr[48], gw[40];
    netns_replica_name(base_port, index, ns, sizeof ns);
    snprintf(path, sizeof path, NETNS_DIR "/%s", ns);
    if (access(path, F_OK) == 0) return 0;
    veth_name(base_port, index, true, host, sizeof host);
    veth_name(base_port, index, false, peer, sizeof peer);
    bridge_name(base_port, bridge, sizeof bridge);
    netns_replica_addr(base_port, index, addr, sizeof addr);
    strcat(addr, "/24");
    netns_replica_addr(base_port, 0, gw, sizeof gw);
    char *steps[][12] = {
        {"ip", "netns", "add", ns, NULL},
        {"ip", "link", "add", host, "type", "veth", "peer", "name", peer, NULL},
        {"ip", "link", "set", peer, "netns", ns, NULL},
        {"ip", "link", "set", host, "master", bridge, NULL},
        {"ip", "link", "set", host, "up", NULL},
        {"ip", "-n", ns, "addr", "add", addr, "dev", peer, NULL},
        {"ip", "-n", ns, "link", "set", peer, "up", NULL},
        {"ip", "-n", ns, "link", "set", "lo", "up", NULL},
        {"ip", "-n", ns, "route", "add", "default", "via", gw, NULL},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (ip_run(steps[i], err, errlen) < 0) {
            char *del[] = {"ip", "netns", "del", ns, NULL};
            char ignored[256];
            ip_run(del, ignored, sizeof ignored);
            char *del_link[] = {"ip", "link", "del", host, NULL};
            ip_run(del_link, ignored, sizeof ignored);
            return -1;
        }
    return 0;
}

/* Writes text to path (replaced). Returns 0, or -1 with a message. */
static int file_write(const char *path, const char *text, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (!f) return err_set(err, errlen, "cannot write %s: %s", path, strerror(errno));
    bool ok = fputs(text, f) >= 0;
    ok &= fclose(f) == 0;
    return ok ? 0 : err_set(err, errlen, "cannot write %s", path);
}

int netns_replica_hosts(int base_port, int index, const char *hosts_text, char *err, size_t errlen)
{
    char ns[64], dir[128], path[160];
    netns_replica_name(base_port, index, ns, sizeof ns);
    snprintf(dir, sizeof dir, NETNS_ETC_DIR "/%s", ns);
    /* twice: another group's netns_group_down may remove an empty NETNS_ETC_DIR in between */
    int rc = -1;
    for (int attempt = 0; attempt < 2 && rc < 0; attempt++) {
        if (mkdir(NETNS_ETC_DIR, 0755) < 0 && errno != EEXIST) break;
        rc = mkdir(dir, 0755) == 0 || errno == EEXIST ? 0 : -1;
    }
    if (rc < 0) return err_set(err, errlen, "cannot make %s: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/hosts", dir);
    if (file_write(path, hosts_text, err, errlen) < 0) return -1;
    snprintf(path, sizeof path, "%s/resolv.conf", dir);
    return file_write(path, "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n", err, errlen);
}

int netns_replica_link(int base_port, int index, bool up, char *err, size_t errlen)
{
    char host[32];
    veth_name(base_port, index, true, host, sizeof host);
    char *argv[] = {"ip", "link", "set", host, up ? "up" : "down", NULL};
    return ip_run(argv, err, errlen);
}
