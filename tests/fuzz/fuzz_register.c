/* fuzz_register.c -- the body of POST /api/v1/workers/register (dist_register_parse): a
 * refused body says why; an accepted one holds an id the master can put in paths and logs
 * (printable, no space, no '#'), a checked region and at most DIST_RUNNING_MAX ids. */
#include <string.h>

#include "dist/master.h"
#include "dist/protocol.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024] = "";
    struct dist_register r;
    if (dist_register_parse(&r, (const char *)data, size, err, sizeof err) < 0) {
        if (!err[0]) fuzz_fail("a refused registration without a message", "");
        return 0;
    }
    size_t n = strlen(r.id);
    if (n == 0 || n > DIST_WORKER_ID_MAX) fuzz_fail("an accepted id of a bad length", r.id);
    for (const char *p = r.id; *p; p++)
        if (*p <= ' ' || *p > '~' || *p == '#') fuzz_fail("an accepted id with a bad byte", r.id);
    for (const char *p = r.region; *p; p++)
        if (*p <= ' ' || *p > '~' || *p == '#') fuzz_fail("an accepted region with a bad byte", r.region);
    if (r.cores < 1 || r.cores > 65536) fuzz_fail("accepted cores out of range", "");
    if (r.pid < 0) fuzz_fail("an accepted negative pid", "");
    if (r.running_count > DIST_RUNNING_MAX) fuzz_fail("too many running ids", "");
    return 0;
}
