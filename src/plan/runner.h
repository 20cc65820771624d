/* runner.h -- runs a test plan: launches its cluster in process (the supervisor on its own
 * loop thread), runs the checks in order with the load engine, judges each against its
 * expectations, and builds the test document (JSON, "herd.test/1") the reports render. */
#ifndef HERD_PLAN_RUNNER_H
#define HERD_PLAN_RUNNER_H

#include <stdbool.h>
#include <stddef.h>

#include "plan/plan.h"

struct plan_run_opts {
    const char *self_exe;  /* the herd binary, for cluster commands that start with "herd" */
    const char *state_dir; /* the cluster's state and logs; NULL: a fresh temporary directory */
    bool quiet;            /* no progress lines on stderr */
};

/* Runs p. Returns 0 when every check passed, 1 when one failed, 3 when the run could not go
 * on (the cluster did not start: message in err). *doc gets the test document (json_t *,
 * new reference) whenever checks ran. */
int plan_run(struct plan *p, const struct plan_run_opts *o, void **doc, char *err, size_t errlen);

/* Chi-square goodness of fit: the probability of a statistic >= chi2 with dof degrees of
 * freedom (the upper regularized incomplete gamma Q(dof/2, chi2/2)). */
double plan_chi2_p_value(double chi2, int dof);

#endif
