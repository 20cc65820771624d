/* runner.h -- runs a test plan: launches its cluster in process (the supervisor on its own
 * loop thread), runs the checks in order with the load engine, judges each against its
 * expectations, and builds the test document (JSON, "herd.test/1") the reports render. */
#ifndef HERD_PLAN_RUNNER_H
#define HERD_PLAN_RUNNER_H

#include <stdbool.h>
#include <stddef.h>

#include "load/engine.h"
#include "plan/plan.h"

struct plan_run_opts {
    const char *self_exe;  /* the herd binary, for cluster commands that start with "herd" */
    const char *state_dir; /* the cluster's state and logs; NULL: a fresh temporary directory */
    bool quiet;            /* no progress lines on stderr */
    bool keep_state;       /* keep the temporary state directory (logs) after the run */
    struct load_stop *stop; /* asked on SIGINT/SIGTERM (cli's): loads end at once, the check
                             * running is "interrupted", the rest skipped, faults recovered,
                             * the cluster stopped, the document still built */
};

/* Runs p. Returns 0 when every check passed, 1 when one failed, 3 when the run could not go
 * on (the cluster did not start: message in err). *doc gets the test document (json_t *,
 * new reference) whenever checks ran. */
int plan_run(struct plan *p, const struct plan_run_opts *o, void **doc, char *err, size_t errlen);


#endif
