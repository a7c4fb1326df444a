/* Virtual switches: each is a Linux bridge on the host.
 *
 *   internal  the bridge itself is named NAME and is the host's interface on the switch
 *             (give it an address and the host talks to the VMs);
 *   external  bridge "vs-NAME"; the host NIC (--nic) is enslaved to it, so VM ports
 *             share the NIC's physical network (the NIC's own IP config is the admin's);
 *   private   bridge "vs-NAME" with IPv6 disabled, no address, and IPv4 arriving on it
 *             neither answered (ARP) nor accepted (reverse-path filter): VMs talk only to
 *             each other; no host interface is named NAME.
 * Bridges are created with 802.1Q filtering on (when the kernel has
 * CONFIG_BRIDGE_VLAN_FILTERING; otherwise off and ports cannot have VLANs), so every
 * port (TAP) can be put in one access VLAN. VM ports are TAP devices (net/tap.h) enslaved to the bridge.
 *
 * Definitions persist as $VIRIDIAN_STATE_DIR/switches/NAME.json (default state dir
 * /var/lib/viridian): {"name":..., "type":"internal|external|private", "nic":...}.
 * Bridges do not survive a host reboot; vswitch_restore_all() (`viridian switch
 * restore`) or vswitch_ensure() recreate them from the definitions.
 *
 * Functions returning int give 0 or a negative errno and, on error, write one clear
 * sentence into ERR (ERRLEN bytes). */
#ifndef VIRIDIAN_NET_SWITCH_H
#define VIRIDIAN_NET_SWITCH_H

#include <net/if.h>
#include <stdint.h>
#include <stddef.h>

/* NAME: 1..12 of [A-Za-z0-9_-], so "vs-" + NAME fits in IFNAMSIZ-1. */
#define VSWITCH_NAME_MAX 12

enum vswitch_type { VSWITCH_EXTERNAL, VSWITCH_INTERNAL, VSWITCH_PRIVATE };

struct vswitch {
    char name[VSWITCH_NAME_MAX + 1];
    enum vswitch_type type;
    char nic[IFNAMSIZ]; /* external only; "" otherwise */
};

int vswitch_name_check(const char *name, char *err, size_t errlen);
const char *vswitch_type_name(enum vswitch_type t);
int vswitch_type_parse(const char *s, enum vswitch_type *t);
/* The bridge device of SW (see above). */
void vswitch_bridge_name(const struct vswitch *sw, char out[IFNAMSIZ]);

/* Persistence. vswitch_state_dir: "<state dir>/switches". */
int vswitch_state_dir(char *out, size_t outlen);
/* JSON text of SW (caller frees) / parse and validate a definition. */
char *vswitch_to_json(const struct vswitch *sw);
int vswitch_from_json(const char *text, struct vswitch *sw, char *err, size_t errlen);
int vswitch_load(const char *name, struct vswitch *sw, char *err, size_t errlen);
/* All definitions, sorted by name; caller frees *out. */
int vswitch_list(struct vswitch **out, size_t *n, char *err, size_t errlen);

/* Create the bridge for SW and save its definition (fails on any name clash). */
int vswitch_create(const struct vswitch *sw, char *err, size_t errlen);
/* Delete the bridge (releasing the NIC) and the definition. */
int vswitch_delete(const char *name, char *err, size_t errlen);
/* Recreate NAME's bridge from its definition if it is missing; fill *SW if given. */
int vswitch_ensure(const char *name, struct vswitch *sw, char *err, size_t errlen);
/* vswitch_ensure for every definition; returns the first error, tries all. */
int vswitch_restore_all(char *err, size_t errlen);
/* A VM port of SW's (VLAN-filtering) bridge has joined VLAN VID: on an external switch
 * the host NIC then carries VID tagged, as Hyper-V's physical port is a trunk for every
 * VLAN its VMs use (untagged VMs stay untagged on the wire). A VLAN is not taken off the
 * NIC when its last VM goes: nothing in the bridge takes its frames then. 0 or -errno. */
int vswitch_carry_vlan(const struct vswitch *sw, uint16_t vid);

#endif
