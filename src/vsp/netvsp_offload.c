/* RNDIS offload PPIs <-> virtio_net_hdr; see netvsp_offload.h. */
#include "vsp/netvsp_offload.h"

#include <errno.h>
#include <string.h>

#include "net/offload.h"

/* LSOv2: the frame is one TCP segment of up to RNDIS_DEV_LSO_MAX bytes that the host
 * cuts into MSS-sized ones. */
static int tx_lso(uint8_t *f, uint32_t len, uint32_t v, struct virtio_net_hdr *vh)
{
    struct pkt_layout l;
    uint32_t mss = RNDIS_LSO_MSS(v);
    if (mss < 48 || mss > 0xFFFF || /* the TCP minimum (tcp_min_snd_mss) */
        pkt_layout_given(f, len, RNDIS_LSO_TCP_HDR_OFFSET(v), PKT_PROTO_TCP, true, &l))
        return -EINVAL;
    if (RNDIS_LSO_TYPE_V2(v) && (RNDIS_LSO_IPV6(v) ? 6 : 4) != l.ip_version)
        return -EINVAL;
    uint32_t thl = (f[l.l4_off + 12] >> 4) * 4u;
    if (thl < 20 || thl > l.l4_len || pkt_set_ip_lengths(f, len, &l))
        return -EINVAL;
    pkt_set_pseudo_csum(f, &l);
    vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    vh->gso_type = l.ip_version == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
    vh->gso_size = (uint16_t)mss;
    vh->hdr_len = (uint16_t)(l.l4_off + thl);
    vh->csum_start = (uint16_t)l.l4_off;
    vh->csum_offset = pkt_csum_field(PKT_PROTO_TCP);
    return 0;
}

/* Checksum PPI: TCP or UDP checksum to fill (and perhaps the IPv4 header's). */
static int tx_csum(uint8_t *f, uint32_t *len, uint32_t v, struct virtio_net_hdr *vh)
{
    struct pkt_layout l;
    bool l4 = v & (RNDIS_CSUM_TX_TCP | RNDIS_CSUM_TX_UDP);
    if (l4) {
        uint8_t proto = (v & RNDIS_CSUM_TX_TCP) ? PKT_PROTO_TCP : PKT_PROTO_UDP;
        if (pkt_layout_given(f, *len, RNDIS_CSUM_TX_TCP_HDR_OFFSET(v), proto, false, &l))
            return -EINVAL;
    } else if (pkt_layout_parse(f, *len, &l)) {
        return -EINVAL; /* IP header checksum only: needs a frame we can read */
    }
    if (v & RNDIS_CSUM_TX_IP_HEADER)
        pkt_set_ip_csum(f, &l);
    if (!l4)
        return 0;
    *len = l.l4_off + l.l4_len; /* padding would enter the checksum */
    pkt_set_pseudo_csum(f, &l);
    vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    vh->csum_start = (uint16_t)l.l4_off;
    vh->csum_offset = pkt_csum_field(l.proto);
    return 0;
}

int netvsp_tx_offload(uint8_t *f, uint32_t *len, const struct rndis_pkt_info *info,
                      struct virtio_net_hdr *vh)
{
    memset(vh, 0, sizeof(*vh));
    if (info->has_lso && RNDIS_LSO_MSS(info->lso))
        return tx_lso(f, *len, info->lso, vh);
    if (info->has_csum && (info->csum & (RNDIS_CSUM_TX_TCP | RNDIS_CSUM_TX_UDP | RNDIS_CSUM_TX_IP_HEADER)))
        return tx_csum(f, len, info->csum, vh);
    return 0;
}

int64_t netvsp_rx_offload(uint8_t *f, uint32_t len, const struct virtio_net_hdr *vh, bool gso_ok)
{
    uint8_t gso = vh->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
    if (gso != VIRTIO_NET_HDR_GSO_NONE &&
        (!gso_ok || (gso != VIRTIO_NET_HDR_GSO_TCPV4 && gso != VIRTIO_NET_HDR_GSO_TCPV6) ||
         !(vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)))
        return -EINVAL;
    bool done = false;
    if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        if (pkt_finish_csum(f, len, vh->csum_start, vh->csum_offset))
            return -EINVAL;
        done = true;
    } else if (vh->flags & VIRTIO_NET_HDR_F_DATA_VALID) {
        done = true;
    }
    struct pkt_layout l;
    if (!done || pkt_layout_parse(f, len, &l))
        return 0;
    if ((vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
        (vh->csum_start != l.l4_off || vh->csum_offset != pkt_csum_field(l.proto)))
        return 0; /* finished something other than the TCP/UDP checksum */
    uint32_t ppi = l.proto == PKT_PROTO_TCP ? RNDIS_CSUM_RX_TCP_SUCCEEDED : RNDIS_CSUM_RX_UDP_SUCCEEDED;
    if (l.ip_version == 4 && csum_fold(csum_add(0, f + l.l3_off, (f[l.l3_off] & 15) * 4u)) == 0xFFFF)
        ppi |= RNDIS_CSUM_RX_IP_SUCCEEDED;
    return ppi;
}
