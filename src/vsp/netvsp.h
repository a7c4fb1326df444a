/* netvsp: the synthetic NIC's VSP (host side of Linux netvsc). Ties the NVSP/RNDIS
 * parsers (nvsp.c, rndis.c) and the RNDIS device model (rndis_dev.c) to a VMBus channel
 * and, optionally, a TAP port (net/tap.h):
 *   guest -> host: SEND_RNDIS_PKT from a send-buffer section or GPA-direct ranges;
 *     control messages are answered through the receive buffer, data frames are
 *     written to the TAP; every packet is completed.
 *   host -> guest: netvsp_deliver_frame() puts a frame into a free receive-buffer
 *     sub-allocation and sends a transfer-page packet; the guest's completion frees it.
 * One queue (no RSS, no sub-channels), no offloads. Not yet in the production device
 * table (src/vmbus/devices.c): it has only been driven by the fake guest in the unit
 * tests so far. */
#ifndef VIRIDIAN_VSP_NETVSP_H
#define VIRIDIAN_VSP_NETVSP_H

#include <stdbool.h>
#include <stdint.h>

#include "net/tap.h"
#include "vmbus/vmbus_device.h"
#include "vsp/rndis_dev.h"

#define NETVSP_RECV_SUB_ALLOC 1728   /* receive sub-allocation (Linux's own section size) */
#define NETVSP_SEND_SECTION 6144     /* send-buffer section size (as openvmm) */
#define NETVSP_MAX_RNDIS 65536       /* largest RNDIS message batch accepted from the guest */

struct netvsp_stats {
    uint64_t tx_frames, tx_dropped; /* guest -> host */
    uint64_t rx_frames, rx_dropped; /* host -> guest */
    uint64_t bad_packets;           /* malformed NVSP/RNDIS from the guest */
};

struct netvsp {
    struct vmbus_device_desc desc; /* ctx = this; register &desc with the VMBus host */
    struct rndis_dev rndis;
    struct tap *tap;               /* NULL: frames from the guest are counted and dropped */
    struct vmbus_channel *ch;      /* the open primary channel, or NULL */
    uint32_t version;              /* negotiated NVSP version, 0 before INIT */
    uint32_t ndis_major, ndis_minor, mtu;
    uint32_t recv_gpadl, recv_subs; /* receive buffer: GPADL id, sub-allocations */
    uint16_t recv_id;
    uint8_t *recv_busy;            /* per sub-allocation: 1 while the guest owns it */
    uint32_t recv_next;            /* where the search for a free one starts */
    uint32_t send_gpadl, send_sections;
    uint8_t *scratch;              /* NETVSP_MAX_RNDIS bytes: gathered guest messages */
    struct netvsp_stats stats;
};

/* Fill N (desc with the netvsc class GUID and INSTANCE, callbacks, ctx). TAP may be NULL. */
void netvsp_init(struct netvsp *n, const char *name, const struct vmbus_guid *instance,
                 const uint8_t mac[6], struct tap *tap);
void netvsp_free(struct netvsp *n);
/* Host -> guest: one Ethernet frame. 0; -ENOTCONN before the guest set up its receive
 * buffer and RNDIS; -EAGAIN no free sub-allocation or ring space (dropped, counted);
 * -EMSGSIZE too big; -EPERM the guest's packet filter refuses it. Takes the channel
 * lock, so it may be called from any thread. */
int netvsp_deliver_frame(struct netvsp *n, const void *frame, uint32_t len);
/* Link state as the guest sees it (INDICATE_STATUS when it is listening). */
int netvsp_set_link(struct netvsp *n, bool up);

#endif
