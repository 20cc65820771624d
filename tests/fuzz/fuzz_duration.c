/* fuzz_duration.c -- mtime_parse_duration_us, the one duration grammar of flags, plans,
 * cluster files and thresholds. */
#include <stdlib.h>
#include <string.h>

#include "base/mtime.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    uint64_t us = 0, again = 0;
    if (mtime_parse_duration_us(text, &us) == 0) {
        if (us > UINT64_C(1000000000000000)) fuzz_fail("a duration above 1e15 us", text);
        if (mtime_parse_duration_us(text, &again) < 0 || again != us)
            fuzz_fail("the same text parses differently", text);
        if (text[strspn(text, "0123456789.usmh")] != '\0')
            fuzz_fail("a character outside decimal numbers and units accepted", text);
    }
    free(text);
    return 0;
}
