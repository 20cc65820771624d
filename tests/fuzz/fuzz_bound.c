/* fuzz_bound.c -- plan_parse_bound, a check's own expectations ("max_deviation: <5%",
 * "detection: <2s", "memory: <1GB"). The first byte picks the key (durations read a bare number
 * as seconds); the rest is the text. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "plan/check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {"max_deviation", "success", "detection", "failover",
                                       "rejoin",        "converge", "health_p99", "memory",
                                       "efficiency",    "failed_requests"};
    if (size == 0) return 0;
    const char *key = keys[data[0] % (sizeof keys / sizeof keys[0])];
    char *text = fuzz_string(data + 1, size - 1);
    struct plan_bound b;
    memset(&b, 0, sizeof b);
    if (plan_parse_bound(key, text, &b) == 0) {
        if (!isfinite(b.value) || b.op > THRESHOLD_EQ)
            fuzz_fail("a bound with a value that is not a finite number", text);
        plan_bound_check(&b, 0.5);
        plan_bound_check(&b, NAN);
    }
    free(text);
    return 0;
}
