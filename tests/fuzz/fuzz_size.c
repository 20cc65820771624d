/* fuzz_size.c -- size_parse_bytes, the one size grammar of config files (64KB, 1.5MB). */
#include <stdlib.h>
#include <string.h>

#include "base/size.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    uint64_t bytes = 0, again = 0;
    if (size_parse_bytes(text, &bytes) == 0) {
        if (bytes > SIZE_MAX_BYTES) fuzz_fail("a size above SIZE_MAX_BYTES", text);
        if (size_parse_bytes(text, &again) < 0 || again != bytes)
            fuzz_fail("the same text parses differently", text);
        if (text[strspn(text, "0123456789.KMGiB")] != '\0')
            fuzz_fail("a character outside decimal numbers and units accepted", text);
    }
    free(text);
    return 0;
}
