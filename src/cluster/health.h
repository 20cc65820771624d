/* health.h -- the gateway's active health checks, run on one loop, verdicts to the registry. */
#ifndef HERD_CLUSTER_HEALTH_H
#define HERD_CLUSTER_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "cluster/gateway.h"
#include "cluster/registry.h"

struct health_check;

struct health {
    uv_loop_t *loop;
    struct registry *reg;
    enum gateway_check type;
    char path[256];
    uint64_t inter_ms, fastinter_ms, downinter_ms, timeout_ms;
    struct health_check **checks; /* one per registry slot */
    size_t count;
    uint64_t generation; /* the registry's, when health_sync last looked at every node */
    bool stopping;
};

void health_init(struct health *h, uv_loop_t *loop, struct registry *reg,
                 const struct gateway_opts *o);

/* Starts checking the registry's new slots (call after nodes are added), and reschedules a
 * node whose state changed since its check was planned (ejected: fastinter, not inter).
 * Called on every gateway tick: it looks at every node only when the registry's generation
 * moved. The first checks of the slots found in one call are spread over their interval (the
 * k-th of B at k/B of it): one new node is checked at once, 10,000 static nodes at startup
 * are not all checked on one tick, and each keeps its place in the interval afterwards. */
void health_sync(struct health *h);

/* Stops every check; each frees itself once its handles are closed. */
void health_stop(struct health *h);

#endif
