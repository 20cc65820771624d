/* fuzz_threshold.c -- threshold_parse ("p99<20ms", "errors<0.1%"), and judging what parsed
 * against measured, unmeasured (NAN) and extreme summaries. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "load/threshold.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    struct threshold t;
    char err[512];
    if (threshold_parse(text, &t, err, sizeof err) == 0) {
        if (!isfinite(t.value) || t.value < 0 || t.metric > THRESHOLD_REQUESTS ||
            t.op > THRESHOLD_EQ)
            fuzz_fail("a threshold with a bad metric, operator or value", text);
        if (t.metric == THRESHOLD_ERRORS && t.value > 1) fuzz_fail("errors above 100%", text);
        struct load_summary s;
        memset(&s, 0, sizeof s);
        threshold_check(&t, &s);
        s.p50 = s.p75 = s.p90 = s.p95 = s.p99 = s.p999 = s.max = s.mean = s.error_rate = NAN;
        s.rps = NAN;
        if (threshold_check(&t, &s) && t.metric != THRESHOLD_FAILURES &&
            t.metric != THRESHOLD_REQUESTS)
            fuzz_fail("a threshold holds for an unmeasured value", text);
        s.rps = s.p99 = HUGE_VAL;
        s.failures = s.requests = UINT64_MAX;
        threshold_check(&t, &s);
    } else if (!err[0]) {
        fuzz_fail("a refused threshold without a message", text);
    }
    free(text);
    return 0;
}
