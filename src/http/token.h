/* token.h -- what HTTP allows in a header name, for the server's and the client's parsers
 * alike (llhttp 8.1 lets a space or an empty name through). */
#ifndef HERD_HTTP_TOKEN_H
#define HERD_HTTP_TOKEN_H

#include <stdbool.h>
#include <string.h>

/* True for a token character (RFC 9110 5.6.2: tchar). */
static inline bool http_tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

#endif
