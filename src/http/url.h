/* url.h -- parse http(s) URLs: scheme, host (name, IPv4, [IPv6]), port, path and query. */
#ifndef HERD_HTTP_URL_H
#define HERD_HTTP_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define URL_HOST_MAX 256
#define URL_PATH_MAX 4096

struct url {
    bool tls;                /* https */
    bool ipv6;               /* host is an IPv6 literal (stored without brackets) */
    char host[URL_HOST_MAX]; /* "127.0.0.1", "::1", "example.com" */
    uint16_t port;           /* explicit, or 80 / 443 */
    char path[URL_PATH_MAX]; /* path and query, always starting with '/' */
    char authority[URL_HOST_MAX +
                   8]; /* for the Host header: "[::1]:8080"; port omitted when default */
};

/* Parses text into u. Returns 0, or -1 with a message naming the URL and what was expected. */
int url_parse(struct url *u, const char *text, char *err, size_t errlen);

/* Resolves u's host and port to a socket address (getaddrinfo for names; blocking). Returns 0,
 * or -1 with a message. */
int url_resolve(const struct url *u, struct sockaddr_storage *out, char *err, size_t errlen);

#endif
