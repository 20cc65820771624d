/* admin_body.h -- the JSON bodies the gateway's admin API accepts, decoded and validated
 * apart from HTTP: the handlers (admin.c) answer 400 with the message a decoder gives, and
 * the fuzzer (tests/fuzz/fuzz_api_json.c) calls the same decoders. */
#ifndef HERD_CLUSTER_ADMIN_BODY_H
#define HERD_CLUSTER_ADMIN_BODY_H

#include <stdbool.h>
#include <stddef.h>

#include "cluster/registry.h"

#define ADMIN_BODY_ENOMEM (-2) /* a decoder ran out of memory (the handler answers 500) */
#define ADMIN_GROUP_MAX   64   /* bytes in a group name, with its NUL */

/* POST /api/v1/cluster/register. registry_add checks the rest (what the host is). */
struct admin_register {
    char *node_id;  /* malloc'd; 1 to REGISTRY_ID_MAX - 1 bytes */
    char *host;     /* malloc'd, 1 to REGISTRY_HOST_MAX - 1 bytes; NULL when not given (the
                     * client's address is meant) */
    int port;       /* 1..65535 */
    int weight;     /* 0..REGISTRY_WEIGHT_MAX; 1 when not given */
    char *metadata; /* the metadata object as compact JSON text, malloc'd; NULL when not given */
    bool has_group; /* group given: set it (else the node's group stays as it is) */
    char group[ADMIN_GROUP_MAX];
};

/* Decodes a register body ({"node_id", "port", "host"?, "weight"?, "metadata"? {}, "group"?};
 * null is the same as absent for the optional ones) into *out. Returns 0 (free *out with
 * admin_register_free), -1 with the 400 answer's message in msg (an unknown field first, then
 * the first bad one), or ADMIN_BODY_ENOMEM; *out holds nothing to free after a failure. */
int admin_register_decode(const char *body, size_t len, struct admin_register *out, char *msg,
                          size_t msglen);
void admin_register_free(struct admin_register *r);

/* PUT /api/v1/cluster/nodes/{id}: what an operator changes. */
struct admin_update {
    int weight;     /* 0..REGISTRY_WEIGHT_MAX, -1: unchanged */
    bool has_state; /* state given */
    enum registry_admin state;
};

/* Decodes an update body ({"weight": 0..100, "state": "active|drain|maint"}, at least one).
 * Returns 0, or -1 with the 400 answer's message in msg. */
int admin_update_decode(const char *body, size_t len, struct admin_update *out, char *msg,
                        size_t msglen);

/* Decodes a PUT /api/v1/cluster/config body (any JSON object) into its compact text (*text,
 * malloc'd, the caller frees). Returns 0, -1 with the 400 answer's message in msg, or
 * ADMIN_BODY_ENOMEM. */
int admin_config_decode(const char *body, size_t len, char **text, char *msg, size_t msglen);

#endif
