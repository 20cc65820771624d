/* fuzz_plan.c -- `herd test PLAN`: plan_load reads the input as a plan file. */
#include <math.h>
#include <stdbool.h>
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
        for (size_t i = 0; i < p.check_count; i++) {
            const struct plan_check *c = &p.checks[i];
            if (c->threshold_count > PLAN_MAX_EXPECT || c->bound_count > PLAN_MAX_EXPECT)
                fuzz_fail("more expectations than a check holds", c->name);
            /* every number a plan yields is finite (NAN passed "x <= 0 || x > 100") */
            bool finite = isfinite(c->rate) && isfinite(c->baseline) &&
                          isfinite(c->health_limit_ms) && isfinite(c->memory_limit_mb) &&
                          c->baseline >= 0 && c->baseline <= 1;
            for (size_t k = 0; k < c->threshold_count; k++)
                finite = finite && isfinite(c->thresholds[k].value);
            for (size_t k = 0; k < c->bound_count; k++)
                finite = finite && isfinite(c->bounds[k].value);
            if (!finite) fuzz_fail("a number that is not finite, or a baseline outside 0..1", c->name);
        }
        plan_free(&p);
    } else if (strncmp(err, path, strlen(path)) != 0 && !strstr(err, path)) {
        fuzz_fail("a plan error that does not name the file", err);
    }
    close(fd);
    return 0;
}
