/* fuzz_plan.c -- `herd test PLAN`: plan_load reads the input as a plan file. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "plan/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[1024];
    int fd = fuzz_file(data, size, path, sizeof path);
    struct plan p;
    err[0] = '\0';
    if (plan_load(&p, path, err, sizeof err) == 0) {
        for (size_t i = 0; i < p.check_count; i++)
            if (p.checks[i].threshold_count > PLAN_MAX_EXPECT ||
                p.checks[i].bound_count > PLAN_MAX_EXPECT)
                fuzz_fail("more expectations than a check holds", p.checks[i].name);
        plan_free(&p);
    } else if (strncmp(err, path, strlen(path)) != 0 && !strstr(err, path)) {
        fuzz_fail("a plan error that does not name the file", err);
    }
    close(fd);
    return 0;
}
