/* token.h -- what HTTP allows in a header name (llhttp 8.1 lets a space or an empty name
 * through), and the elements of list-valued headers (Connection, Transfer-Encoding), for the
 * server, the client and the gateway alike. */
#ifndef HERD_HTTP_TOKEN_H
#define HERD_HTTP_TOKEN_H

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* True for a token character (RFC 9110 5.6.2: tchar). */
static inline bool http_tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* The next element of a comma-separated header value ("gzip, chunked"): skips the blanks and
 * commas at *p, returns where the element starts with its length in *len (0: no more), and
 * moves *p past it. */
static inline const char *http_list_next(const char **p, size_t *len)
{
    const char *item = *p + strspn(*p, " \t,");
    *len = strcspn(item, " \t,");
    *p = item + *len;
    return item;
}

/* True when header names a and b are the same, in any case (strcasecmp, with the first
 * bytes compared inline: most names differ there, and the gateway compares each header of
 * every message with a few names). */
static inline bool http_name_eq(const char *a, const char *b)
{
    return (a[0] | 0x20) == (b[0] | 0x20) && strcasecmp(a, b) == 0;
}

/* True when the element (item, len) is name, in any case. */
static inline bool http_list_is(const char *item, size_t len, const char *name)
{
    return len == strlen(name) && strncasecmp(item, name, len) == 0;
}

#endif
