/* A minimal rtnetlink client: just what the virtual switch and TAP ports need
 * (create/delete bridges, enslave a link, set a link up/down, bridge VLANs).
 * Every function returns 0 or a negative errno; no shelling out to `ip`. */
#ifndef VIRIDIAN_NET_RTNL_H
#define VIRIDIAN_NET_RTNL_H

#include <stdbool.h>
#include <stdint.h>

/* ifindex of NAME, or 0 when no such link exists. */
unsigned rtnl_ifindex(const char *name);
/* New bridge NAME (link kind "bridge"); vlan_filtering turns on 802.1Q filtering. */
int rtnl_bridge_create(const char *name, bool vlan_filtering);
int rtnl_link_delete(const char *name);
/* Make LINK a port of bridge MASTER (master NULL: release it from its bridge). */
int rtnl_link_set_master(const char *link, const char *master);
int rtnl_link_set_up(const char *link, bool up);
/* ifindex of LINK's master (0: none), or a negative errno. */
int rtnl_link_master(const char *link);
/* Bridge port LINK carries VLAN VID untagged (pvid + egress untagged) and nothing
 * else: the default VLAN 1 is removed. vid 1..4094. */
int rtnl_bridge_port_set_access_vlan(const char *link, uint16_t vid);
/* Bridge port LINK also carries VLAN VID, tagged (a trunk's member); its other VLANs
 * stay. vid 1..4094. */
int rtnl_bridge_port_add_tagged_vlan(const char *link, uint16_t vid);

#endif
