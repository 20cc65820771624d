/* task.c -- a distributed task's config from the POST body forms, and the allow-target check. */
#include "dist/task.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "base/err.h"
#include "base/quantity.h"
#include "conf/conf.h"
#include "http/url.h"

void dist_task_init(struct dist_task *t)
{
    memset(t, 0, sizeof *t);
    bench_options_default(&t->options);
    t->split = DIST_SPLIT_EVEN;
}

void dist_task_free(struct dist_task *t)
{
    bench_options_free(&t->options);
}

int dist_task_check(const struct dist_task *t, char *err, size_t errlen)
{
    const struct bench_options *o = &t->options;
    if (o->url_count == 0)
        return err_set(err, errlen, "url: missing, expected the URL to load (or urls: [...])");
    if (o->duration_us && o->requests)
        return err_set(err, errlen, "give a duration or a number of requests, not both");
    if (o->ramp_up_us && o->duration_us && o->ramp_up_us > o->duration_us)
        return err_set(err, errlen, "advanced.ramp_up: longer than the duration");
    return 0;
}

/* Reads the herd-only keys bench_options_read leaves to us. */
static int read_split(struct dist_task *t, const struct conf_doc *doc, char *err, size_t errlen)
{
    const struct conf_node *n = conf_get(doc->root, "split");
    const char *s;
    if (!n)
        return 0;
    if (conf_to_string(doc, n, &s, err, errlen) < 0)
        return -1;
    if (strcmp(s, "even") == 0)
        t->split = DIST_SPLIT_EVEN;
    else if (strcmp(s, "cores") == 0)
        t->split = DIST_SPLIT_CORES;
    else
        return conf_error(doc, n, err, errlen, "'%s': expected even or cores", s);
    return 0;
}

static int from_doc(struct dist_task *t, const struct conf_doc *doc, char *err, size_t errlen)
{
    static const char *const extra[] = {"split", NULL};
    char msg[ERR_SIZE];
    if (bench_options_read(&t->options, doc, extra, err, errlen) < 0 ||
        read_split(t, doc, err, errlen) < 0)
        return -1;
    if (dist_task_check(t, msg, sizeof msg) < 0)
        return err_set(err, errlen, "%s: %s", doc->name, msg);
    return 0;
}

int dist_task_from_text(struct dist_task *t, const char *name, const char *text, size_t len,
                        char *err, size_t errlen)
{
    if (len > DIST_TASK_TEXT_MAX)
        return err_set(err, errlen, "%s: %zu bytes, expected at most %u", name, len,
                       DIST_TASK_TEXT_MAX);
    struct conf_doc doc;
    if (conf_parse(&doc, name, text, len, err, errlen) < 0)
        return -1;
    int rc = from_doc(t, &doc, err, errlen);
    conf_free(&doc);
    return rc;
}

int dist_task_from_config(struct dist_task *t, const json_t *config, char *err, size_t errlen)
{
    if (!json_is_object(config))
        return err_set(err, errlen, "config: expected an object of task settings");
    /* JSON is YAML: the one reader (and its messages) serves both forms */
    char *text = json_dumps(config, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        return err_set(err, errlen, "out of memory");
    struct conf_doc doc;
    int rc = conf_parse(&doc, "config", text, strlen(text), err, errlen);
    free(text);
    if (rc < 0)
        return -1;
    doc.no_positions = true;
    rc = from_doc(t, &doc, err, errlen);
    conf_free(&doc);
    return rc;
}

int dist_task_from_body(struct dist_task *t, const json_t *body, char *err, size_t errlen)
{
    if (!json_is_object(body))
        return err_set(err, errlen, "body: expected {\"config_file\": \"...\"} or {\"config\": {...}}");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v) {
        if (strcmp(key, "config_file") != 0 && strcmp(key, "config") != 0)
            return err_set(err, errlen, "body: unknown field '%.64s', expected config_file or config",
                           key);
    }
    const json_t *file = json_object_get(body, "config_file"),
                 *config = json_object_get(body, "config");
    if (file && config)
        return err_set(err, errlen, "body: give config_file or config, not both");
    if (config)
        return dist_task_from_config(t, config, err, errlen);
    if (!file)
        return err_set(err, errlen, "body: expected {\"config_file\": \"...\"} or {\"config\": {...}}");
    if (!json_is_string(file))
        return err_set(err, errlen, "config_file: expected the config's YAML or JSON text (a string)");
    return dist_task_from_text(t, "config_file", json_string_value(file), json_string_length(file),
                               err, errlen);
}

/* ---- back to a config object ---- */

/* A duration as the user writes it ("10s", "1m30s"), exact (the worker reads the same). */
static json_t *duration(uint64_t us)
{
    char text[64];
    return json_string(quantity_format_duration_exact(us, text, sizeof text));
}

json_t *dist_task_to_config(const struct dist_task *t)
{
    const struct bench_options *o = &t->options;
    json_t *j = json_object(), *urls = json_array(), *headers = json_object(),
           *thresholds = json_array(), *advanced = json_object();
    if (!j || !urls || !headers || !thresholds || !advanced)
        goto fail;
    for (size_t i = 0; i < o->url_count; i++)
        json_array_append_new(urls, json_string(o->urls[i]));
    json_object_set(j, "urls", urls);
    json_object_set_new(j, "concurrency", json_integer(o->connections ? o->connections : 10));
    if (o->requests)
        json_object_set_new(j, "requests", json_integer((json_int_t)o->requests));
    if (o->duration_us)
        json_object_set_new(j, "duration", duration(o->duration_us));
    if (o->rate > 0)
        json_object_set_new(j, "rate", json_real(o->rate));
    json_object_set_new(j, "timeout", duration((uint64_t)o->timeout_ms * 1000));
    if (o->method)
        json_object_set_new(j, "method", json_string(o->method));
    for (size_t i = 0; i < o->header_count; i++) {
        /* "Name: value" (bench_options_add_header checked the colon); a name of any length */
        const char *colon = strchr(o->headers[i], ':');
        const char *value = colon + 1;
        value += strspn(value, " \t");
        json_object_setn_new(headers, o->headers[i], (size_t)(colon - o->headers[i]),
                             json_string(value));
    }
    if (o->header_count)
        json_object_set(j, "headers", headers);
    if (o->body)
        json_object_set_new(j, "body", json_stringn(o->body, o->body_len));
    json_object_set_new(j, "lb", json_string(balancer_name(o->lb)));
    if (o->threads)
        json_object_set_new(j, "threads", json_integer(o->threads));
    if (o->node_header)
        json_object_set_new(j, "node_header", json_string(o->node_header));
    if (o->seed_set)
        json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
    for (size_t i = 0; i < o->threshold_count; i++)
        json_array_append_new(thresholds, json_string(o->thresholds[i].text));
    if (o->threshold_count)
        json_object_set(j, "thresholds", thresholds);
    if (o->max_failures) {
        json_object_set_new(advanced, "enable_breaker", json_true());
        json_object_set_new(advanced, "max_failures", json_integer((json_int_t)o->max_failures));
    }
    if (o->ramp_up_us)
        json_object_set_new(advanced, "ramp_up", duration(o->ramp_up_us));
    if (json_object_size(advanced))
        json_object_set(j, "advanced", advanced);
    json_object_set_new(j, "split", json_string(t->split == DIST_SPLIT_CORES ? "cores" : "even"));
    json_decref(urls);
    json_decref(headers);
    json_decref(thresholds);
    json_decref(advanced);
    return j;
fail:
    json_decref(j);
    json_decref(urls);
    json_decref(headers);
    json_decref(thresholds);
    json_decref(advanced);
    return NULL;
}

/* ---- allowed targets ---- */

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as its IPv4 address. */
static void unmap(int *family, uint8_t addr[16])
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (*family == AF_INET6 && memcmp(addr, prefix, 12) == 0) {
        memmove(addr, addr + 12, 4);
        memset(addr + 4, 0, 12);
        *family = AF_INET;
    }
}

static int parse_address(const char *text, int *family, uint8_t addr[16])
{
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, text, addr) == 1)
        *family = AF_INET;
    else if (inet_pton(AF_INET6, text, addr) == 1)
        *family = AF_INET6;
    else
        return -1;
    return 0;
}

int dist_allow_parse(struct dist_allow *a, const char *text, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    char buf[256];
    size_t len = strlen(text);
    if (len == 0 || len >= sizeof buf)
        return err_set(err, errlen, "allow-target '%.64s': expected a host name, an IP address or a "
                       "CIDR block such as 10.0.0.0/8", text);
    memcpy(buf, text, len + 1);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    char *host = buf;
    if (*host == '[' && host[strlen(host) - 1] == ']') { /* "[::1]" as in a URL */
        host[strlen(host) - 1] = '\0';
        host++;
    }
    if (parse_address(host, &a->family, a->addr) == 0) {
        unsigned max = a->family == AF_INET ? 32 : 128;
        a->prefix = max;
        if (slash) {
            char *end;
            unsigned long p = strtoul(slash + 1, &end, 10);
            if (end == slash + 1 || *end || p > max)
                return err_set(err, errlen, "allow-target '%s': the prefix length must be 0 to %u",
                               text, max);
            a->prefix = (unsigned)p;
        }
        unmap(&a->family, a->addr);
        if (a->family == AF_INET && max == 128)
            a->prefix = a->prefix >= 96 ? a->prefix - 96 : 0;
        for (unsigned bit = a->prefix; bit < 128; bit++) /* host bits off: compare blocks */
            a->addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
        return 0;
    }
    if (slash)
        return err_set(err, errlen, "allow-target '%s': a CIDR block needs an IP address before '/'",
                       text);
    for (const char *p = host; *p; p++)
        if (!(((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '.' || *p == '_'))
            return err_set(err, errlen, "allow-target '%s': expected a host name, an IP address or "
                           "a CIDR block such as 10.0.0.0/8", text);
    snprintf(a->name, sizeof a->name, "%s", host);
    return 0;
}

static bool in_block(const struct dist_allow *a, int family, const uint8_t addr[16])
{
    if (a->family != family)
        return false;
    unsigned full = a->prefix / 8, rest = a->prefix % 8;
    if (memcmp(a->addr, addr, full) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xff00u >> rest);
    return (addr[full] & mask) == a->addr[full];
}

bool dist_allow_match(const struct dist_allow *list, size_t n, const char *host)
{
    int family;
    uint8_t addr[16];
    bool literal = parse_address(host, &family, addr) == 0;
    if (literal)
        unmap(&family, addr);
    for (size_t i = 0; i < n; i++) {
        if (literal ? in_block(&list[i], family, addr)
                    : list[i].family == 0 && strcasecmp(list[i].name, host) == 0)
            return true;
    }
    return false;
}

int dist_task_check_targets(const struct dist_task *t, const struct dist_allow *list, size_t n,
                            char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < t->options.url_count; i++) {
        struct url u;
        char msg[ERR_SIZE];
        if (bench_options_url(&t->options, i, &u, msg, sizeof msg) < 0)
            return err_set(err, errlen, "urls[%zu]: %s", i, msg);
        if (!dist_allow_match(list, n, u.host))
            return err_set(err, errlen, "urls[%zu]: host '%s' is not an allowed target "
                           "(--allow-target lists the hosts and blocks tasks may load)", i, u.host);
    }
    return 0;
}
