/* url.c -- parse http(s) URLs. */
#include "http/url.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"

static int host_char_ok(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

int url_parse(struct url *u, const char *text, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    const char *p = text;
    if (strncasecmp(p, "http://", 7) == 0) {
        p += 7;
    } else if (strncasecmp(p, "https://", 8) == 0) {
        u->tls = true;
        p += 8;
    } else {
        return err_set(err, errlen, "URL '%s': expected it to start with http:// or https://",
                       text);
    }
    /* user:password@ is refused, and the message never shows the password */
    const char *at = NULL;
    for (const char *q = p; *q && !strchr("/?#", *q); q++)
        if (*q == '@') at = q;
    if (at)
        return err_set(err, errlen,
                       "URL '%.*s***%s': user info (user:password@) is not supported; send an "
                       "Authorization header instead (-H 'Authorization: Basic ...')",
                       (int)(p - text), text, at);
    const char *host = p, *host_end;
    if (*p == '[') {
        host = ++p;
        while (*p && *p != ']')
            p++;
        if (*p != ']')
            return err_set(err, errlen, "URL '%s': IPv6 address is missing its closing ']'", text);
        host_end = p++;
        u->ipv6 = true;
    } else {
        while (*p && *p != ':' && *p != '/' && *p != '?' && *p != '#') {
            if (!host_char_ok(*p))
                return err_set(err, errlen, "URL '%s': invalid character '%c' in host", text, *p);
            p++;
        }
        host_end = p;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0) return err_set(err, errlen, "URL '%s': expected a host after the scheme", text);
    if (hlen >= URL_HOST_MAX)
        return err_set(err, errlen, "URL '%s': host longer than %d bytes", text, URL_HOST_MAX - 1);
    memcpy(u->host, host, hlen);
    if (u->ipv6) {
        struct in6_addr a6;
        if (inet_pton(AF_INET6, u->host, &a6) != 1)
            return err_set(err, errlen, "URL '%s': '%s' is not an IPv6 address", text, u->host);
    }
    u->port = u->tls ? 443 : 80;
    bool explicit_port = false;
    if (*p == ':') {
        p++;
        unsigned long port = 0;
        const char *digits = p;
        while (isdigit((unsigned char)*p) && port <= 65535)
            port = port * 10 + (unsigned long)(*p++ - '0');
        if (p == digits || port == 0 || port > 65535 || (*p && *p != '/' && *p != '?' && *p != '#'))
            return err_set(err, errlen, "URL '%s': expected a port from 1 to 65535 after ':'",
                           text);
        u->port = (uint16_t)port;
        explicit_port = true;
    } else if (*p && *p != '/' && *p != '?' && *p != '#') {
        return err_set(err, errlen, "URL '%s': unexpected '%c' after the host", text, *p);
    }
    size_t plen = strcspn(p, "#");
    for (size_t i = 0; i < plen; i++)
        if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f)
            return err_set(err, errlen,
                           "URL '%s': spaces and control characters must be %%-encoded", text);
    int n = snprintf(u->path, sizeof u->path, "%s%.*s", (plen == 0 || *p != '/') ? "/" : "",
                     (int)plen, p);
    if (n < 0 || (size_t)n >= sizeof u->path)
        return err_set(err, errlen, "URL '%s': path longer than %d bytes", text, URL_PATH_MAX - 1);
    const char *l = u->ipv6 ? "[" : "", *r = u->ipv6 ? "]" : "";
    if (explicit_port && u->port != (u->tls ? 443 : 80))
        snprintf(u->authority, sizeof u->authority, "%s%s%s:%u", l, u->host, r, u->port);
    else
        snprintf(u->authority, sizeof u->authority, "%s%s%s", l, u->host, r);
    return 0;
}

int url_resolve(const struct url *u, struct sockaddr_storage *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    char port[8];
    snprintf(port, sizeof port, "%u", u->port);
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(u->host, port, &hints, &res);
    if (rc != 0 || !res)
        return err_set(err, errlen, "cannot resolve '%s': %s", u->host, gai_strerror(rc));
    memcpy(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}
