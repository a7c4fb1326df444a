/* The RNDIS device a netvsc guest talks to: answers INITIALIZE, the OID queries and
 * sets Linux 6.1 issues (reference 7b), KEEPALIVE and RESET. With offload_capable it
 * offers TCP/UDP checksum offload and LSOv2 (IPv4 and IPv6) both ways. With
 * rss_queues > 1 it offers receive-side scaling (RSS capabilities: that many receive
 * queues, Toeplitz hashing of TCP/IPv4 and TCP/IPv6) and keeps the guest's RSS
 * parameters in rss; with 1 the capabilities query fails and the guest uses one queue.
 * Pure state machine: no I/O; netvsp.c moves the bytes. */
#ifndef VIRIDIAN_VSP_RNDIS_DEV_H
#define VIRIDIAN_VSP_RNDIS_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/rss.h"
#include "vsp/rndis.h"

struct rndis_dev {
    uint8_t mac[6];
    uint32_t mtu;               /* 1500 */
    uint32_t link_speed;        /* units of 100 bit/s (10 Gbit/s = 100000000) */
    bool link_up;
    /* set by the guest */
    bool initialized;
    uint32_t packet_filter;     /* RNDIS_FILTER_*; 0 = the guest's interface is down */
    bool offload_params_set;
    /* offloads: offered only when the host side can finish them (netvsp sets this when
     * its backend takes a virtio_net_hdr); what the guest switched on */
    bool offload_capable;
    bool rsc_capable;           /* ... and can deliver coalesced (RSC) packets */
    bool rx_csum;               /* the guest takes receive checksum results */
    bool guest_rsc_cap;         /* NVSP NDIS config: the guest takes coalesced packets */
    bool rsc;                   /* deliver large TCP segments as RSC fragment chains */
    unsigned offload_sets;      /* OID_TCP_OFFLOAD_PARAMETERS sets since RNDIS INIT */
    unsigned rss_queues;        /* receive queues offered (1: no RSS) */
    struct rss_config rss;      /* as the guest set it; entries < rss_queues */
};

/* Largest large-send frame offered (LSOv2 max size); netvsp's buffers take it. */
#define RNDIS_DEV_LSO_MAX 62780

/* Defaults: MTU 1500, 10 Gbit/s, link up, MAC as given, one receive queue. */
void rndis_dev_init(struct rndis_dev *d, const uint8_t mac[6]);
/* The response to control message M (written at OUT, CAP bytes): its length, or 0 when
 * none is due (HALT, PACKET, or CAP too small: 300 bytes always suffice). */
size_t rndis_dev_control(struct rndis_dev *d, const struct rndis_msg *m, uint8_t *out, size_t cap);
/* INDICATE_STATUS for a link change (MEDIA_CONNECT / MEDIA_DISCONNECT); records it. */
size_t rndis_dev_link_status(struct rndis_dev *d, bool up, uint8_t *out, size_t cap);
/* Should a received frame to DST (6 bytes) reach the guest under its packet filter? */
bool rndis_dev_accepts(const struct rndis_dev *d, const uint8_t *dst);

#endif
