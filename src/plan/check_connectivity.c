/* check_connectivity.c -- probes every replica the plan launched and the target (or every
 * environment): each must answer its probes (success >=100% by default); and raw TCP
 * endpoints (tcp://HOST:PORT, a database), each of which must accept connections. */
#include "plan/check.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "base/err.h"
#include "load/engine.h"
#include "load/run_json.h"
#include "load/threshold.h"
#include "http/url.h"
#include "stats/hist.h"

/* Appends the verdicts of list to the check's expects, each named by its endpoint ("api.1:
 * success >=100%"). */
static void expects_named(const char *name, const json_t *list, json_t *expects)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        char text[192];
        snprintf(text, sizeof text, "%s: %s", name,
                 json_string_value(json_object_get(e, "expect")));
        json_array_append_new(expects, json_pack("{s:s,s:O,s:O}", "expect", text, "actual",
                                                 json_object_get(e, "actual"), "pass",
                                                 json_object_get(e, "pass")));
    }
}

/* Probes one endpoint; appends {endpoint, url, success, summary, expectations, pass} to
 * endpoints and its expectations to expects. Returns 0, or -1 with a message. */
static int probe(const struct check_env *env, const struct plan_check *c, const char *name,
                 const char *url, json_t *endpoints, json_t *expects, bool *pass, char *err,
                 size_t errlen)
{
    struct check_load l = {.requests = (uint64_t)c->probes, .connections = 1};
    snprintf(l.url, sizeof l.url, "%s", url);
    struct load_result r;
    if (check_run_load(env, &l, &r, err, errlen) < 0) return -1;
    struct load_summary s;
    load_summary_from(&r, &s);
    json_t *summary = load_summary_json(&r);
    load_result_free(&r);
    double success = s.scheduled ? (double)s.succeeded / (double)s.scheduled : NAN;
    json_t *list = json_array();
    /* success >=100% unless the plan said otherwise (parse_check adds it): other expectations
     * do not remove it */
    bool bound_ok = check_judge_bound(c, "success", success, list); /* both list their verdicts */
    bool thresholds_ok = check_judge_thresholds(c, &s, list);
    bool ok = bound_ok && thresholds_ok && s.succeeded > 0;
    if (s.succeeded == 0)
        json_array_append_new(list, check_expectation("a probe succeeded", 0, false));
    *pass &= ok;
    expects_named(name, list, expects);
    json_array_append_new(endpoints,
                          json_pack("{s:s,s:s,s:o,s:o,s:o,s:b}", "endpoint", name, "url", url,
                                    "success", isfinite(success) ? json_real(success) : json_null(),
                                    "summary", summary, "expectations", list, "pass", ok));
    return 0;
}

/* One TCP connection to addr, closed at once. Returns the connect time in ms, or -1 with why
 * (refused, timed out, ...). */
static double tcp_connect_once(const struct sockaddr_storage *addr, int timeout_ms, char *why,
                               size_t whylen)
{
    socklen_t len = addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                : sizeof(struct sockaddr_in);
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, whylen, "socket: %s", strerror(errno));
        return -1;
    }
    uint64_t start = uv_hrtime();
    int rc = connect(fd, (const struct sockaddr *)addr, len), error = rc == 0 ? 0 : errno;
    if (rc < 0 && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int n;
        while ((n = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
        }
        socklen_t elen = sizeof error;
        if (n == 0)
            error = ETIMEDOUT;
        else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &elen) < 0)
            error = errno;
    }
    double ms = (double)(uv_hrtime() - start) / 1e6;
    close(fd);
    if (error) {
        snprintf(why, whylen, "%s", error == ETIMEDOUT ? "timed out" : strerror(error));
        return -1;
    }
    return ms;
}

/* Connects c->probes times to a tcp://HOST:PORT endpoint; appends {endpoint, url, success,
 * connect_ms: {p50, max}, refused_by (what failed connections got, not
 * requests: not in the check's failed_by), expectations, pass} to endpoints. */
static void probe_tcp(const struct plan_check *c, const char *name, const char *url,
                      json_t *endpoints, json_t *expects, bool *pass)
{
    struct url u;
    struct sockaddr_storage addr;
    char http[600], why[256] = "", err[256] = "";
    snprintf(http, sizeof http, "http://%s", url + strlen("tcp://"));
    bool resolved = url_parse(&u, http, err, sizeof err) == 0 &&
                    url_resolve(&u, &addr, err, sizeof err) == 0;
    struct hist *h = hist_new();
    json_t *failed_by = json_object();
    int ok = 0;
    double max_ms = 0;
    for (int i = 0; resolved && i < c->probes; i++) {
        double ms = tcp_connect_once(&addr, (int)(c->connect_timeout_us / 1000), why, sizeof why);
        if (ms < 0) {
            json_t *n = json_object_get(failed_by, why);
            json_object_set_new(failed_by, why, json_integer(n ? json_integer_value(n) + 1 : 1));
            continue;
        }
        ok++;
        if (ms > max_ms) max_ms = ms;
        if (h) hist_record(h, (uint64_t)(ms * 1000));
    }
    if (!resolved) json_object_set_new(failed_by, err, json_integer(c->probes));
    double success = (double)ok / c->probes;
    json_t *list = json_array();
    bool fine = check_judge_bound(c, "success", success, list) && ok > 0;
    if (ok == 0) json_array_append_new(list, check_expectation("a connection was accepted", 0, false));
    *pass &= fine;
    expects_named(name, list, expects);
    json_t *times = ok && h ? json_pack("{s:f,s:f,s:f}", "p50",
                                        (double)hist_percentile(h, 50) / 1000, "mean",
                                        hist_mean(h) / 1000, "max", max_ms)
                            : json_null();
    json_array_append_new(endpoints,
                          json_pack("{s:s,s:s,s:s,s:f,s:i,s:o,s:o,s:o,s:b}", "endpoint", name,
                                    "url", url, "protocol", "tcp", "success", success,
                                    "connected", ok, "connect_ms", times, "refused_by", failed_by,
                                    "expectations", list, "pass", fine));
    hist_free(h);
}

/* Endpoints to probe: every replica the plan launched (not the gateway), then the target. The
 * check's expectations list names each endpoint's. */
static const char *const own[] = {"success", NULL};

static const struct conf_key tcp_item =
    CONF_ITEM(CONF_K_STRING, "a TCP endpoint, tcp://HOST:PORT (a database)");

const struct conf_key check_connectivity_keys[] = {
    CONF_KEY("probes", CONF_K_INT, "requests to the target and to each node (10)"),
    CONF_KEY("tcp", CONF_K_LIST | CONF_K_NAMED,
     "raw TCP endpoints that must accept connections, [tcp://HOST:PORT] or {NAME: tcp://HOST:PORT}",
     .item = &tcp_item),
    CONF_KEY("connect_timeout", CONF_K_DURATION, "a TCP probe's time limit (2s)"),
    CHECK_KEY_PATH("/health"),
    CHECK_KEY_COMMON(own),
    CONF_KEYS_END,
};

/* tcp: [tcp://HOST:PORT, ...] or {NAME: tcp://HOST:PORT} into c->tcp. */
static int parse_tcp(struct plan_check *c, const struct conf_doc *doc, const struct conf_node *v,
                     char *err, size_t errlen)
{
    if (v->type != CONF_SEQ && v->type != CONF_MAP)
        return conf_error(doc, v, err, errlen,
                          "expected a list of tcp://HOST:PORT, or NAME: tcp://HOST:PORT pairs");
    for (const struct conf_node *x = v->first; x; x = x->next) {
        const char *url;
        struct url u;
        char http[300], uerr[256];
        if (conf_to_string(doc, x, &url, err, errlen) < 0) return -1;
        if (c->tcp_count == PLAN_MAX_TCP)
            return conf_error(doc, x, err, errlen, "at most %d TCP endpoints", PLAN_MAX_TCP);
        snprintf(http, sizeof http, "http://%s", strncmp(url, "tcp://", 6) == 0 ? url + 6 : "");
        const char *port = strrchr(http + 7, ':');
        if (strncmp(url, "tcp://", 6) != 0 || strlen(url) >= sizeof c->tcp[0].url || !port ||
            strchr(port, '/') || strcspn(port + 1, "0123456789") != 0 || !port[1] ||
            url_parse(&u, http, uerr, sizeof uerr) < 0 || u.port == 0)
            return conf_error(doc, x, err, errlen, "'%s': expected tcp://HOST:PORT", url);
        const char *name = x->key ? x->key : url + 6;
        if (!name[0] || strlen(name) >= sizeof c->tcp[0].name)
            return conf_error(doc, x, err, errlen, "expected a short endpoint name");
        snprintf(c->tcp[c->tcp_count].name, sizeof c->tcp[0].name, "%s", name);
        snprintf(c->tcp[c->tcp_count].url, sizeof c->tcp[0].url, "%s", url);
        c->tcp_count++;
    }
    if (c->tcp_count == 0) return conf_error(doc, v, err, errlen, "expected tcp://HOST:PORT endpoints");
    return 0;
}

static int parse(struct plan *p, struct plan_check *c, const struct conf_doc *doc,
                 const struct conf_node *body, const struct conf_node *e, char *err, size_t errlen)
{
    (void)p;
    long long probes = 10;
    c->connect_timeout_us = 2000000;
    if (conf_check_members(doc, body, check_connectivity_keys, err, errlen) < 0 ||
        conf_opt_int(doc, body, "probes", 1, 100000, &probes, err, errlen) < 0 ||
        conf_opt_duration_us(doc, body, "connect_timeout", 1000, 60000000, &c->connect_timeout_us,
                             err, errlen) < 0 ||
        (conf_get(body, "tcp") && parse_tcp(c, doc, conf_get(body, "tcp"), err, errlen) < 0) ||
        plan_parse_path(c, doc, body, "/health", err, errlen) < 0 ||
        (e && plan_parse_expect(c, doc, e, own, err, errlen) < 0))
        return -1;
    c->probes = (int)probes;
    bool stated = false; /* every probe must succeed unless the plan says how many may fail */
    for (size_t i = 0; i < c->threshold_count; i++)
        stated |= c->thresholds[i].metric == THRESHOLD_ERRORS;
    if (!stated) plan_default_bound(c, "success", ">=100%");
    return 0;
}

static json_t *run(const struct check_env *env, const struct plan_check *c, json_t *expects,
                   bool *pass, char *err, size_t errlen)
{
    json_t *endpoints = json_array();
    struct plan *p = env->p;
    char url[1100], name[128];
    *pass = true;
    for (size_t g = 0; p->has_cluster && g < p->cluster.group_count; g++) {
        const struct cluster_group *grp = &p->cluster.groups[g];
        if (strcmp(grp->name, CLUSTER_GATEWAY_GROUP) == 0 || (!grp->base_port && !grp->ports))
            continue;
        for (int i = 1; i <= grp->replicas; i++) {
            char host[40];
            cluster_group_host(grp, i, host, sizeof host);
            snprintf(url, sizeof url, "http://%s:%d%s", host, cluster_group_port(grp, i), c->path);
            snprintf(name, sizeof name, "%s.%d", grp->name, i);
            if (probe(env, c, name, url, endpoints, expects, pass, err, errlen) < 0) {
                json_decref(endpoints);
                return NULL;
            }
        }
    }
    /* the target, or every environment when the plan has several and the check names none */
    bool all = p->env_count && !c->environment[0];
    for (size_t e = 0; e < (all ? p->env_count : 1); e++) {
        snprintf(url, sizeof url, "%s%s", all ? p->envs[e].url : c->target, c->path);
        const char *what = all ? p->envs[e].name : c->environment[0] ? c->environment : "target";
        if (probe(env, c, what, url, endpoints, expects, pass, err, errlen) < 0) {
            json_decref(endpoints);
            return NULL;
        }
    }
    for (size_t t = 0; t < c->tcp_count; t++)
        probe_tcp(c, c->tcp[t].name, c->tcp[t].url, endpoints, expects, pass);
    return json_pack("{s:i,s:o}", "probes", c->probes, "endpoints", endpoints);
}

const struct check_kind check_connectivity_kind = {"connectivity", parse, run};
