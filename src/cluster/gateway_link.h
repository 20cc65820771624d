/* gateway_link.h -- what the supervisor tells the gateway it runs (`herd up`, a plan's
 * cluster): the gateway reads the cluster file's replicas when it starts, so the replicas a
 * scale adds beyond the file's count are added to it through its admin API (POST
 * /api/v1/cluster/nodes, as "added" nodes that start down until its checks pass) and removed
 * when scaled away (DELETE /api/v1/cluster/nodes/{id}). Calls go one at a time, in order, on
 * the supervisor's loop; a failure is logged, never fatal. */
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

/* Whether g is the group that runs the gateway (its start is when to add what it lacks). */
bool gateway_link_is_gateway(const struct gateway_link *l, const struct cluster_group *g);

/* Drops the calls not yet made and closes the one in progress; run the loop afterwards for
 * its close callbacks. */
void gateway_link_free(struct gateway_link *l);

#endif
