/* fuzz_url.c -- url_parse (targets, manager and node URLs). What parses must print back
 * (scheme, authority, path) to a URL that parses to the same thing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "http/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    static struct url u, again;
    char err[512];
    if (url_parse(&u, text, err, sizeof err) == 0) {
        if (u.path[0] != '/' || u.port == 0 || !u.host[0] || strchr(u.path, '#'))
            fuzz_fail("a parsed URL without a host, a port or a path", text);
        static char printed[URL_HOST_MAX + URL_PATH_MAX + 32];
        snprintf(printed, sizeof printed, "%s://%s%s", u.tls ? "https" : "http", u.authority,
                 u.path);
        if (url_parse(&again, printed, err, sizeof err) < 0) fuzz_fail(err, text);
        if (again.tls != u.tls || again.ipv6 != u.ipv6 || again.port != u.port ||
            strcmp(again.host, u.host) != 0 || strcmp(again.path, u.path) != 0 ||
            strcmp(again.authority, u.authority) != 0)
            fuzz_fail("the printed URL parses differently", text);
    } else if (!err[0]) {
        fuzz_fail("a refused URL without a message", text);
    }
    free(text);
    return 0;
}
