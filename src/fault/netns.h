/* netns.h -- network namespaces for a group of replicas (root only): a bridge on the host and,
 * per replica, a namespace joined to it by a veth pair, so that one replica can be cut off
 * from everything (the partition fault) by setting its link down. The plumbing is done with
 * iproute2's `ip`.
 *
 * A group is known by its base port P: bridge "hbP" at 10.(P>>8).(P&255).1/24, replica i in
 * namespace "herd-P-i" at 10.(P>>8).(P&255).(i+1), its veth "hvPiI" on the bridge. Every
 * process works the same names and addresses out from P alone (the gateway from the cluster
 * file, the supervisor, herd test). */
#ifndef HERD_FAULT_NETNS_H
#define HERD_FAULT_NETNS_H

#include <stdbool.h>
#include <stddef.h>

#define NETNS_MAX_REPLICAS 253

/* True when this process can make namespaces (root, and `ip` runs); else false with the
 * reason in why. The answer is worked out once. */
bool netns_usable(char *why, size_t size);

/* The address of replica index (1-based) of the group at base_port, into out
 * ("10.110.141.2"). */
void netns_replica_addr(int base_port, int index, char *out, size_t size);

/* The namespace's name ("herd-28301-2"), into out. */
void netns_replica_name(int base_port, int index, char *out, size_t size);

/* Makes the bridge of the group (leftovers of an earlier run with the same base port are
 * removed first). Returns 0, or -1 with a message. */
int netns_group_up(int base_port, char *err, size_t errlen);

/* Makes replica index's namespace and link when it has none yet. Returns 0, or -1. */
int netns_replica_up(int base_port, int index, char *err, size_t errlen);

/* Gives replica index's namespace its own name lookups: `ip netns exec` shows its processes
 * /etc/netns/NAME/hosts as /etc/hosts, here hosts_text ("10.1.2.201 target.herd\n"), and
 * /etc/netns/NAME/resolv.conf, which sends DNS to the namespace's own loopback, so that a name
 * the file does not list fails at once instead of waiting on a DNS server. Processes already
 * running in the namespace keep what they had. Removed by netns_group_down. Returns 0, or -1
 * with a message. */
int netns_replica_hosts(int base_port, int index, const char *hosts_text, char *err, size_t errlen);

/* Sets replica index's link down (cut off) or up. Returns 0, or -1 with a message. */
int netns_replica_link(int base_port, int index, bool up, char *err, size_t errlen);

/* Removes the namespaces of replicas 1..replicas (with their /etc/netns files) and the
 * bridge; what is already gone is skipped. */
void netns_group_down(int base_port, int replicas);

#endif
