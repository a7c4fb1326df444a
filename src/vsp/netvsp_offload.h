/* netvsp's offload translation between the guest's RNDIS per-packet info and the
 * virtio_net_hdr of the TAP backend (net/offload.h does the packet work):
 *   guest -> host: checksum PPI and LSOv2 PPI become NEEDS_CSUM and GSO_TCPV4/6, with
 *     the frame fixed up as the Linux stack expects (Linux's netvsc zeroes the IP
 *     lengths and leaves a length-less pseudo-header sum for LSO; Windows promises
 *     nothing in the checksum field), so every such frame gets its pseudo-header
 *     written here;
 *   host -> guest: a partial checksum left by the TAP (NEEDS_CSUM) is finished here,
 *     and a checksum the host checked (DATA_VALID) or finished is reported to the
 *     guest as a receive checksum PPI so that it does not check again. */
#ifndef VIRIDIAN_VSP_NETVSP_OFFLOAD_H
#define VIRIDIAN_VSP_NETVSP_OFFLOAD_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stdint.h>

#include "vsp/rndis.h"

/* Frame F (LEN bytes, writable) from the guest with its PPIs INFO: fills VH (all zero
 * when nothing is left to do) and fixes the frame up in place; *LEN may shrink (Ethernet
 * padding after the IP packet is dropped). -EINVAL when the frame does not match what
 * its PPIs claim (the caller drops it). */
int netvsp_tx_offload(uint8_t *f, uint32_t *len, const struct rndis_pkt_info *info,
                      struct virtio_net_hdr *vh);
/* Frame F (LEN bytes, writable) read from the TAP with header VH: finishes a partial
 * checksum and returns the receive checksum PPI value for the guest (RNDIS_CSUM_RX_*,
 * 0 = nothing verified), or -EINVAL for a header we cannot honour (bad offsets; a TCP
 * GSO frame unless GSO_OK, other GSO always). A GSO frame is one large TCP segment
 * (its checksum finished over all of it), to be delivered coalesced (RSC). */
int64_t netvsp_rx_offload(uint8_t *f, uint32_t len, const struct virtio_net_hdr *vh, bool gso_ok);

#endif
