/* gateway_link.h -- what the supervisor tells the gateway it runs (`herd up`, a plan's
 * cluster): the gateway reads the cluster file's replicas when it starts, so the replicas a
 * scale adds beyond the file's count are added to it through its admin API (POST
 * /api/v1/cluster/nodes, as "added" nodes that start down until its checks pass) and removed
 * when scaled away (DELETE /api/v1/cluster/nodes/{id}); a replica a rollout, restart or
 * scale-down stops is drained first when its group has `drain` (PUT .../nodes/{id} state drain,
 * then its in-progress count read until 0) and made active again once ready. Calls go one at a
 * time, in order, on the supervisor's loop; a failure is logged, never fatal. */
#ifndef HERD_CLUSTER_GATEWAY_LINK_H
#define HERD_CLUSTER_GATEWAY_LINK_H

#include <stdbool.h>

#include <uv.h>

#include "cluster/clusterfile.h"

struct gateway_link;

/* A link to spec's gateway (spec is borrowed and must outlive it), or NULL when spec runs no
 * gateway or out of memory: every call below takes NULL and does nothing then. */
struct gateway_link *gateway_link_new(uv_loop_t *loop, const struct cluster_spec *spec);

/* Whether replica index of g is one the gateway does not know from the file: beyond the
 * file's count, in a group other than the gateway's own. */
bool gateway_link_needed(const struct gateway_link *l, const struct cluster_group *g, int index);

/* Adds replica index of g to the gateway (when gateway_link_needed), in its group, at its
 * address and public port. */
void gateway_link_add(struct gateway_link *l, const struct cluster_group *g, int index);

/* Removes replica index of g from the gateway (when gateway_link_needed). */
void gateway_link_remove(struct gateway_link *l, const struct cluster_group *g, int index);

/* Takes replica index of g out of the gateway's rotation (admin state drain: it finishes what
 * it has and gets nothing new) and calls done(data) on the loop once the gateway counts no
 * request in progress there, or after timeout_us, or when the gateway does not have it or
 * cannot be reached; at once when l is NULL or g runs the gateway. */
void gateway_link_drain(struct gateway_link *l, const struct cluster_group *g, int index,
                        uint64_t timeout_us, void (*done)(void *data), void *data);

/* Calls done(data) on the loop once the gateway has replica index of g in rotation (up and
 * active), or after timeout_us, or when the gateway does not have it or cannot be reached; at
 * once when l is NULL or g runs the gateway. A rollout waits so before the next replica. */
void gateway_link_wait_admitted(struct gateway_link *l, const struct cluster_group *g, int index,
                                uint64_t timeout_us, void (*done)(void *data), void *data);

/* Puts replica index of g back in the gateway's rotation (admin state active). */
void gateway_link_activate(struct gateway_link *l, const struct cluster_group *g, int index);

/* Whether g is the group that runs the gateway (its start is when to add what it lacks). */
bool gateway_link_is_gateway(const struct gateway_link *l, const struct cluster_group *g);

/* Drops the calls not yet made and closes the one in progress; run the loop afterwards for
 * its close callbacks. */
void gateway_link_free(struct gateway_link *l);

#endif
