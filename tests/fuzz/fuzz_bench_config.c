/* fuzz_bench_config.c -- `herd bench --config FILE`: bench_options_load (the URLs are parsed,
 * never resolved). */
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "load/options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[1024];
    int fd = fuzz_file(data, size, path, sizeof path);
    struct bench_options o;
    bench_options_default(&o);
    if (bench_options_load(&o, path, err, sizeof err) == 0) {
        if (o.url_count > BENCH_MAX_URLS || o.header_count > BENCH_MAX_HEADERS ||
            o.threshold_count > BENCH_MAX_THRESHOLDS)
            fuzz_fail("more URLs, headers or thresholds than the options hold", path);
    } else if (!strstr(err, path)) {
        fuzz_fail("a bench config error that does not name the file", err);
    }
    bench_options_free(&o);
    close(fd);
    return 0;
}
