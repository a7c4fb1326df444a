/* The VM's synthetic NICs: one switch port (a TAP on the switch's bridge) per NIC for
 * the whole `viridian run` (opened before the partition exists, so that a missing
 * switch or a missing permission is reported first, and kept across guest reboots),
 * and per boot one netvsp (src/vsp/netvsp.h) per NIC plus one pump thread that moves
 * frames from every TAP to its netvsp (host -> guest; guest -> host frames are written
 * to the TAP by netvsp itself, on the VMBus thread).
 *
 * A NIC's VLAN: where the bridge does 802.1Q filtering, its TAP is an access port of
 * the VLAN (the bridge tags and filters, untagged frames on the TAP); otherwise netvsp
 * tags what the guest sends and takes only frames of its VLAN.
 *
 * The pump thread only ever takes a channel's lock for the time of one ring write and
 * never waits for the guest: a frame the guest has no room for is dropped (counted),
 * like a full NIC queue. */
#ifndef VIRIDIAN_CORE_VM_NET_H
#define VIRIDIAN_CORE_VM_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/vm.h"
#include "core/vm_config.h"
#include "vmbus/vmbus_device.h"

/* Hyper-V's OUI: generated MACs are 00:15:5D:xx:yy:zz. */
#define VM_NIC_OUI0 0x00
#define VM_NIC_OUI1 0x15
#define VM_NIC_OUI2 0x5D

/* "XX:XX:XX:XX:XX:XX" (or '-' separated), unicast and not all zero: 0, else -1. */
int vm_nic_parse_mac(const char *s, uint8_t mac[6]);
/* The MAC NIC INDEX of VM NAME gets when none is given: Hyper-V's OUI and 24 bits of a
 * hash of the name and the index, the same on every run. */
void vm_nic_default_mac(const char *vm_name, unsigned index, uint8_t mac[6]);
void vm_nic_format_mac(const uint8_t mac[6], char out[18]);

/* Input check, before the host is touched: every NIC's switch is defined. 0, or -1
 * with one line in err. */
int vm_net_check(const struct vm_config *cfg, char *err, size_t errlen);
/* Per run: for each configured NIC, recreates its switch's bridge if needed, creates a
 * TAP, attaches it to the bridge and brings it up. 0, or -1 with one line in err (the
 * ports opened so far are closed again). */
int vm_net_open(struct vm_config *cfg, char *err, size_t errlen);
void vm_net_close(struct vm_config *cfg);

/* Per boot: creates a netvsp per NIC, appends their descriptors to descs (room for
 * cap) and starts the pump thread. Returns the new count, or -1 with vm->error set. */
int vm_net_attach(struct vm *vm, const struct vmbus_device_desc **descs, unsigned n,
                  unsigned cap);
/* Before vmbus_destroy(): ends the pump thread. */
void vm_net_stop(struct vm *vm);
/* After vmbus_destroy(): frees the netvsps. */
void vm_net_detach(struct vm *vm);

/* Link state of NIC INDEX as seen by the switch (TAP carrier) and by the guest (RNDIS
 * media status); it stays so across guest reboots. 0, or -1 with one line in err. */
int vm_net_set_link(struct vm *vm, unsigned index, bool up, char *err, size_t errlen);

#define VM_NIC_MAX_QUEUES 8 /* NETVSP_MAX_QUEUES */

struct vm_nic_info {
    const char *switch_name;
    const char *tap;
    char mac[18];
    uint16_t vlan;
    bool allow_spoofing, link_up, guest_ready;
    uint64_t tx_frames, tx_dropped, tx_spoofed, rx_frames, rx_dropped, bad_packets;
    unsigned queues, queues_open;       /* offered; open by the guest now */
    uint64_t rx_queue_frames[VM_NIC_MAX_QUEUES];  /* frames delivered per queue */
    uint64_t tx_queue_packets[VM_NIC_MAX_QUEUES]; /* guest send packets per queue */
};
/* NIC INDEX's settings and counters: 0, or -1 if there is no such NIC. */
int vm_net_info(struct vm *vm, unsigned index, struct vm_nic_info *info);

#endif
