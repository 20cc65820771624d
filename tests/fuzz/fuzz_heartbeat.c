/* fuzz_heartbeat.c -- the body of POST /api/v1/workers/{id}/heartbeat (dist_heartbeat_parse):
 * a refused body says why; an accepted one has a printable session and a CPU use in 0..1. */
#include <string.h>

#include "dist/protocol.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024] = "";
    struct dist_heartbeat h;
    if (dist_heartbeat_parse(&h, (const char *)data, size, err, sizeof err) < 0) {
        if (!err[0]) fuzz_fail("a refused heartbeat without a message", "");
        return 0;
    }
    if (!h.session[0]) fuzz_fail("an accepted empty session", "");
    for (const char *p = h.session; *p; p++)
        if (*p <= ' ' || *p > '~') fuzz_fail("an accepted session with a bad byte", h.session);
    if (h.has_cpu && !(h.cpu >= 0 && h.cpu <= 1)) fuzz_fail("an accepted CPU use out of 0..1", "");
    return 0;
}
