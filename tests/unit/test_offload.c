/* Checksum and segmentation offload: the packet helpers (net/offload.c), netvsp's
 * translation between RNDIS PPIs and virtio_net_hdr (vsp/netvsp_offload.c), and the
 * offload OIDs and data path through the fake netvsc guest. */
#include <errno.h>
#include <string.h>

#include "test.h"
#include "netvsp_guest.h"
#include "net/offload.h"
#include "vsp/netvsp_offload.h"
#include "vsp/rndis.h"

static uint32_t get32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static void be16w(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* An Ethernet + IPv4 + TCP frame of LEN bytes (payload pattern), correct checksums. */
static uint32_t tcp4_frame(uint8_t *f, uint32_t len)
{
    memset(f, 0, len);
    memcpy(f, "\x02\x00\x00\x00\x00\x01", 6);
    memcpy(f + 6, MAC, 6);
    f[12] = 0x08;
    uint8_t *ip = f + 14, *tcp = f + 34;
    ip[0] = 0x45;
    be16w(ip + 2, (uint16_t)(len - 14));
    ip[8] = 64;
    ip[9] = 6;
    memcpy(ip + 12, "\xc0\x00\x02\x02\xc0\x00\x02\x01", 8);
    be16w(tcp, 40000);
    be16w(tcp + 2, 5201);
    tcp[12] = 0x50;
    tcp[13] = 0x18;
    for (uint32_t i = 54; i < len; i++)
        f[i] = (uint8_t)(i * 7);
    struct pkt_layout l;
    CHECK_EQ(pkt_layout_parse(f, len, &l), 0);
    pkt_set_ip_lengths(f, len, &l);
    pkt_set_pseudo_csum(f, &l);
    pkt_finish_csum(f, len, l.l4_off, 16);
    CHECK(pkt_csum_ok(f, &l));
    return len;
}

TEST(offload_checksums_and_layout)
{
    uint8_t f[1514];
    tcp4_frame(f, 1514);
    struct pkt_layout l;
    CHECK_EQ(pkt_layout_parse(f, 1514, &l), 0);
    CHECK_EQ(l.l3_off, 14);
    CHECK_EQ(l.l4_off, 34);
    CHECK_EQ(l.l4_len, 1480);
    f[100] ^= 1;
    CHECK(!pkt_csum_ok(f, &l));
    f[100] ^= 1;
    /* Ethernet padding after the IP packet is not part of it */
    uint8_t small[60];
    tcp4_frame(small, 54);
    memset(small + 54, 0xEE, 6);
    CHECK_EQ(pkt_layout_parse(small, 60, &l), 0);
    CHECK_EQ(l.l4_len, 20);
    CHECK(pkt_csum_ok(small, &l));
    /* hostile lengths: IP total length past the frame, header length below 5, a
     * fragment, a transport offset that disagrees with the IP header */
    be16w(f + 16, 2000);
    CHECK_EQ(pkt_layout_parse(f, 1514, &l), -EINVAL);
    be16w(f + 16, 1500);
    f[14] = 0x44;
    CHECK_EQ(pkt_layout_parse(f, 1514, &l), -EINVAL);
    f[14] = 0x45;
    f[20] = 0x20;
    CHECK_EQ(pkt_layout_parse(f, 1514, &l), -EINVAL);
    f[20] = 0;
    CHECK_EQ(pkt_layout_given(f, 1514, 38, 6, false, &l), -EINVAL);
    CHECK_EQ(pkt_layout_given(f, 1514, 34, 17, false, &l), -EINVAL);
    CHECK_EQ(pkt_layout_given(f, 30, 34, 6, true, &l), -EINVAL);
    CHECK_EQ(pkt_finish_csum(f, 1514, 1512, 16), -EINVAL);
    CHECK_EQ(pkt_finish_csum(f, 1514, 2000, 0), -EINVAL);
}

/* What Linux's netvsc sends for a TSO skb: IP total length and header checksum zero,
 * the TCP checksum field the pseudo-header sum without the length. */
static void linux_lso_frame(uint8_t *f, uint32_t len)
{
    tcp4_frame(f, len);
    be16w(f + 16, 0);
    be16w(f + 24, 0);
    struct pkt_layout l;
    CHECK_EQ(pkt_layout_given(f, len, 34, 6, true, &l), 0);
    l.l4_len = 0;
    pkt_set_pseudo_csum(f, &l);
}

TEST(offload_tx_lso_and_csum_to_virtio_hdr)
{
    static uint8_t f[6000], ref[6000];
    uint32_t len = 5000;
    tcp4_frame(ref, len);
    linux_lso_frame(f, len);
    struct rndis_pkt_info info = { .has_lso = true,
                                   .lso = 1448u | (34u << 20) | (1u << 30) /* v2, IPv4 */ };
    struct virtio_net_hdr vh;
    CHECK_EQ(netvsp_tx_offload(f, &len, &info, &vh), 0);
    CHECK_EQ(len, 5000);
    CHECK_EQ(vh.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
    CHECK_EQ(vh.gso_size, 1448);
    CHECK_EQ(vh.hdr_len, 54);
    CHECK_EQ(vh.csum_start, 34);
    CHECK_EQ(vh.csum_offset, 16);
    CHECK_EQ(vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    /* the IP header is whole again; finishing the checksum as the kernel would gives
     * exactly the frame a stack without offloads would have sent */
    CHECK_EQ(pkt_finish_csum(f, len, vh.csum_start, vh.csum_offset), 0);
    CHECK(!memcmp(f, ref, len));
    /* the IPv6 bit must match the frame */
    linux_lso_frame(f, len);
    info.lso |= 1u << 31;
    CHECK_EQ(netvsp_tx_offload(f, &len, &info, &vh), -EINVAL);
    info.lso = 20u | (34u << 20) | (1u << 30); /* MSS below TCP's minimum */
    CHECK_EQ(netvsp_tx_offload(f, &len, &info, &vh), -EINVAL);
    info.lso = 1448u | (30u << 20) | (1u << 30); /* TCP header not where IP says */
    CHECK_EQ(netvsp_tx_offload(f, &len, &info, &vh), -EINVAL);

    /* checksum offload: field holds garbage (Windows) or a pseudo sum (Linux); the
     * host writes the pseudo-header itself; padding is cut off */
    tcp4_frame(ref, 200);
    memcpy(f, ref, 200);
    memset(f + 200, 0, 20);
    be16w(f + 50, 0xBEEF);
    len = 220;
    struct rndis_pkt_info csum = { .has_csum = true,
                                   .csum = RNDIS_CSUM_TX_IPV4 | RNDIS_CSUM_TX_TCP | (34u << 16) };
    CHECK_EQ(netvsp_tx_offload(f, &len, &csum, &vh), 0);
    CHECK_EQ(len, 200);
    CHECK_EQ(vh.gso_type, VIRTIO_NET_HDR_GSO_NONE);
    CHECK_EQ(vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    CHECK_EQ(pkt_finish_csum(f, len, vh.csum_start, vh.csum_offset), 0);
    CHECK(!memcmp(f, ref, 200));
    /* UDP claimed on a TCP packet */
    csum.csum = RNDIS_CSUM_TX_IPV4 | RNDIS_CSUM_TX_UDP | (34u << 16);
    CHECK_EQ(netvsp_tx_offload(f, &len, &csum, &vh), -EINVAL);
    /* no PPI: nothing to do */
    struct rndis_pkt_info none = { 0 };
    CHECK_EQ(netvsp_tx_offload(f, &len, &none, &vh), 0);
    CHECK_EQ(vh.flags, 0);
}

TEST(offload_rx_from_tap)
{
    uint8_t f[1514], ref[1514];
    tcp4_frame(ref, 1514);
    memcpy(f, ref, 1514);
    /* the TAP leaves a partial checksum: finished here, reported as verified */
    struct pkt_layout l;
    CHECK_EQ(pkt_layout_parse(f, 1514, &l), 0);
    pkt_set_pseudo_csum(f, &l);
    struct virtio_net_hdr vh = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34,
                                 .csum_offset = 16 };
    CHECK_EQ(netvsp_rx_offload(f, 1514, &vh, false),
             RNDIS_CSUM_RX_TCP_SUCCEEDED | RNDIS_CSUM_RX_IP_SUCCEEDED);
    CHECK(!memcmp(f, ref, 1514));
    /* checked by the host already */
    struct virtio_net_hdr valid = { .flags = VIRTIO_NET_HDR_F_DATA_VALID };
    CHECK_EQ(netvsp_rx_offload(f, 1514, &valid, false),
             RNDIS_CSUM_RX_TCP_SUCCEEDED | RNDIS_CSUM_RX_IP_SUCCEEDED);
    /* nothing known: nothing claimed */
    struct virtio_net_hdr plain = { 0 };
    CHECK_EQ(netvsp_rx_offload(f, 1514, &plain, false), 0);
    /* GSO (never enabled) and offsets past the frame are refused */
    struct virtio_net_hdr gso = { .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1448 };
    CHECK_EQ(netvsp_rx_offload(f, 1514, &gso, false), -EINVAL);
    vh.csum_start = 1513;
    CHECK_EQ(netvsp_rx_offload(f, 1514, &vh, false), -EINVAL);
}

/* Backend with offloads for the fake guest: records the last frame and header. */
static struct virtio_net_hdr last_vh;
static int capture_v(void *ctx, const struct virtio_net_hdr *vh, const struct iovec *iov, int cnt)
{
    struct ng *f = ctx;
    uint32_t len = 0;
    for (int i = 0; i < cnt; i++) { /* the first sizeof(f->sent) bytes are kept */
        size_t room = len < sizeof(f->sent) ? sizeof(f->sent) - len : 0;
        memcpy(f->sent + len, iov[i].iov_base, iov[i].iov_len < room ? iov[i].iov_len : room);
        len += (uint32_t)iov[i].iov_len;
    }
    last_vh = *vh;
    f->sent_len = len;
    f->sent_count++;
    return 0;
}

TEST(netvsp_offers_and_honours_offloads)
{
    struct ng f;
    ng_setup(&f, NULL);
    uint8_t r[300];
    /* without a backend that takes offloads: none offered */
    ng_probe(&f);
    CHECK_EQ(oid(&f, RNDIS_MSG_QUERY, 2, RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES, NULL, 0, r), 0);
    CHECK_EQ(get32(r + 24 + NDIS_OFFLOAD_CSUM_IP4_TXCSUM), 0);
    ng_free(&f);

    ng_setup(&f, NULL);
    netvsp_set_txv(&f.n, capture_v);
    ng_probe(&f);
    CHECK_EQ(oid(&f, RNDIS_MSG_QUERY, 2, RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES, NULL, 0, r), 0);
    const uint8_t *caps = r + 24;
    CHECK_EQ(caps[0], NDIS_OBJECT_TYPE_OFFLOAD);
    CHECK_EQ(caps[2] | caps[3] << 8, NDIS_OFFLOAD_SIZE_REV3);
    /* what Linux checks: TCP + TCP options, 802.3 LSOv2, IPv6 ext + TCP options */
    CHECK_EQ(get32(caps + NDIS_OFFLOAD_CSUM_IP4_TXCSUM) & 0x14, 0x14);
    CHECK_EQ(get32(caps + NDIS_OFFLOAD_CSUM_IP6_TXCSUM) & 0x15, 0x15);
    CHECK_EQ(get32(caps + NDIS_OFFLOAD_LSOV2_IP4_ENCAP) & 2, 2);
    CHECK_EQ(get32(caps + NDIS_OFFLOAD_LSOV2_IP6_OPTS) & 5, 5);
    CHECK(get32(caps + NDIS_OFFLOAD_LSOV2_IP4_MAXSZ) >= 16384);
    /* Linux 6.1's parameters: IPv4 header checksum off, TCP/UDP both ways, LSOv2 on */
    uint8_t params[28] = { 0x80, 3, 28, 0, 1, 4, 4, 4, 4, 0, 0, 2, 2 };
    CHECK_EQ(oid(&f, RNDIS_MSG_SET, 3, RNDIS_OID_TCP_OFFLOAD_PARAMETERS, params, 28, r), 0);
    CHECK(f.n.rndis.rx_csum);
    /* Windows guests also name their encapsulation (802.3) */
    uint8_t encap[28] = { 0xA8, 1, 28 };
    CHECK_EQ(oid(&f, RNDIS_MSG_SET, 9, RNDIS_OID_OFFLOAD_ENCAPSULATION, encap, 28, r), 0);
    CHECK_EQ(oid(&f, RNDIS_MSG_SET, 10, RNDIS_OID_OFFLOAD_ENCAPSULATION, encap, 8, r),
             RNDIS_STATUS_INVALID_LENGTH);

    /* an LSO packet through a send section reaches the backend as GSO */
    static uint8_t fr[4096], pkt[4200];
    linux_lso_frame(fr, 4000);
    struct rndis_pkt_info info = { .has_lso = true, .lso = 1448u | (34u << 20) | (1u << 30) };
    size_t pl = rndis_build_packet(pkt, sizeof(pkt), fr, 4000, &info);
    uint8_t raw[512];
    uint64_t t = send_rndis_section(&f, 1, pkt, (uint32_t)pl, NVSP_CHANNEL_TYPE_DATA);
    const uint8_t *p = expect_comp(&f, raw, t, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    CHECK_EQ(get32(p + 4), NVSP_STAT_SUCCESS);
    CHECK_EQ(f.n.stats.tx_lso, 1);
    CHECK_EQ(last_vh.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
    CHECK_EQ(f.sent_len, 4000);
    CHECK_EQ(f.sent[16] << 8 | f.sent[17], 4000 - 14);
    /* a lying one is dropped, the packet still completed */
    info.lso = 1448u | (40u << 20) | (1u << 30);
    pl = rndis_build_packet(pkt, sizeof(pkt), fr, 1000, &info);
    t = send_rndis_section(&f, 1, pkt, (uint32_t)pl, NVSP_CHANNEL_TYPE_DATA);
    expect_comp(&f, raw, t, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    CHECK_EQ(f.n.stats.tx_dropped, 1);
    ng_free(&f);
}

/* A 20000-byte TCP segment from the TAP (GSO, partial checksum) to a guest that takes
 * RSC: one transfer-page packet, one fragment per sub-allocation with the checksum
 * result and RNDIS_PKTINFO_ID flags as netvsc checks them, the fragments together the
 * frame with its checksum finished; the guest's one completion frees them all. */
TEST(netvsp_rsc_chain_to_guest)
{
    struct ng f;
    ng_setup(&f, NULL);
    netvsp_set_txv(&f.n, capture_v);
    ng_probe(&f);
    f.n.rndis.guest_rsc_cap = true; /* as Linux's NDIS config says at v6.1 */
    uint8_t r[300];
    uint8_t params[28] = { 0x80, 3, 28, 0, 1, 4, 4, 4, 4, 0, 0, 2, 2 };
    params[22] = params[23] = 1; /* Linux's probe: "RSC disabled" (see rndis_dev.c) */
    CHECK_EQ(oid(&f, RNDIS_MSG_SET, 2, RNDIS_OID_TCP_OFFLOAD_PARAMETERS, params, 28, r), 0);
    CHECK(f.n.rndis.rsc);
    uint32_t filter = 0x0D;
    CHECK_EQ(oid(&f, RNDIS_MSG_SET, 3, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &filter, 4, r), 0);

    static uint8_t fr[20000], ref[20000];
    tcp4_frame(ref, 20000);
    memcpy(fr, ref, 20000);
    memcpy(fr, MAC, 6);
    memcpy(ref, MAC, 6);
    struct pkt_layout l;
    CHECK_EQ(pkt_layout_parse(fr, 20000, &l), 0);
    pkt_set_pseudo_csum(fr, &l);
    struct virtio_net_hdr vh = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                                 .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1448,
                                 .hdr_len = 54, .csum_start = 34, .csum_offset = 16 };
    CHECK_EQ(netvsp_deliver_offloaded(&f.n, fr, 20000, &vh), 0);
    CHECK_EQ(f.n.stats.rx_rsc, 1);

    uint8_t raw[1024];
    uint64_t tid;
    const uint8_t *p;
    CHECK_EQ(next_pkt(&f, raw, sizeof(raw), &tid, &p), VMBUS_PACKET_DATA_USING_XFER_PAGES);
    uint32_t count = get32(raw + 20);
    CHECK(count >= 12 && count <= NETVSP_RSC_MAX_FRAGS);
    static uint8_t joined[20000];
    uint32_t pos = 0;
    for (uint32_t i = 0; i < count && i < NETVSP_RSC_MAX_FRAGS; i++) {
        uint32_t bytes = get32(raw + 24 + 8 * i), off = get32(raw + 28 + 8 * i);
        CHECK(bytes <= NETVSP_RECV_SUB_ALLOC && off % NETVSP_RECV_SUB_ALLOC == 0);
        const uint8_t *m = fake_gpa(&f.g.vm, fake_page(RECV_PAGE) + off);
        struct rndis_msg pm;
        CHECK_EQ(rndis_parse(m, bytes, &pm), 0);
        CHECK_EQ(pm.type, RNDIS_MSG_PACKET);
        CHECK(pm.packet.info.has_csum);
        CHECK(pm.packet.info.csum & RNDIS_CSUM_RX_TCP_SUCCEEDED);
        /* the internal PPI (parse skips it): after csum, the second one */
        const uint8_t *ppi = m + 8 + get32(m + 8 + 20) + 16;
        CHECK_EQ(get32(ppi + 4), 1u | 0x80000000u);
        uint32_t flags = ppi[13];
        CHECK_EQ(ppi[12], 1);
        CHECK(flags & RNDIS_PKTINFO_SUBALLOC);
        CHECK_EQ(!!(flags & RNDIS_PKTINFO_1ST_FRAG), i == 0);
        CHECK_EQ(!!(flags & RNDIS_PKTINFO_LAST_FRAG), i + 1 == count);
        if (pos + pm.packet.frame_len <= sizeof(joined))
            memcpy(joined + pos, pm.packet.frame, pm.packet.frame_len);
        pos += pm.packet.frame_len;
    }
    CHECK_EQ(pos, 20000);
    CHECK(!memcmp(joined, ref, 20000));
    uint32_t busy = 0;
    for (uint32_t i = 0; i < f.n.recv_subs; i++)
        busy += f.n.recv_busy[i] != 0;
    CHECK_EQ(busy, count);
    /* completing a later fragment's sub-allocation is refused; the first frees all */
    uint8_t comp[8] = { 108, 0, 0, 0, 1, 0, 0, 0 };
    uint32_t second = get32(raw + 28 + 8) / NETVSP_RECV_SUB_ALLOC;
    uint64_t bad = f.n.stats.bad_packets;
    CHECK(tg_ring_write(&f.out, VMBUS_PACKET_COMP, second + 1, comp, 8) >= 0);
    CHECK(tg_ring_write(&f.out, VMBUS_PACKET_COMP, tid, comp, 8) >= 0);
    ng_signal(&f);
    CHECK_EQ(f.n.stats.bad_packets, bad + 1);
    busy = 0;
    for (uint32_t i = 0; i < f.n.recv_subs; i++)
        busy += f.n.recv_busy[i] != 0;
    CHECK_EQ(busy, 0);

    /* the guest turns LRO off (a later parameters set): large segments are refused */
    params[22] = params[23] = 1;
    CHECK_EQ(oid(&f, RNDIS_MSG_SET, 4, RNDIS_OID_TCP_OFFLOAD_PARAMETERS, params, 28, r), 0);
    CHECK(!f.n.rndis.rsc);
    pkt_set_pseudo_csum(fr, &l);
    CHECK_EQ(netvsp_deliver_offloaded(&f.n, fr, 20000, &vh), -EINVAL);
    ng_free(&f);
}

/* The textbook sum, 16 bits at a time in network order (RFC 1071). */
static uint32_t csum_reference(uint32_t sum, const uint8_t *p, size_t len)
{
    uint64_t s = sum;
    for (size_t i = 0; i + 1 < len; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    if (len & 1)
        s += (uint32_t)p[len - 1] << 8;
    while (s >> 16)
        s = (s & 0xFFFF) + (s >> 16);
    return (uint32_t)s;
}

TEST(offload_checksum_matches_rfc1071_for_any_length_and_alignment)
{
    static uint8_t buf[70000];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    memset(buf + 1000, 0xFF, 3000); /* carries everywhere */
    for (int t = 0; t < 3000; t++) {
        x = x * 1103515245u + 12345u;
        size_t off = (x >> 8) % 64, len = t < 2000 ? (size_t)t % 97 : (x >> 4) % 65600;
        uint32_t start = t % 3 ? (x & 0xFFFFF) : 0xFFFFFFFFu;
        CHECK_EQ(csum_fold(csum_add(start, buf + off, len)), csum_fold(csum_reference(start, buf + off, len)));
    }
}

static uint8_t whole[70000];
static uint32_t whole_len;
static int whole_cnt;

/* A backend keeping the whole frame (and how many pieces it came in). */
static int capture_whole(void *ctx, const struct virtio_net_hdr *vh, const struct iovec *iov, int cnt)
{
    whole_len = 0;
    for (int i = 0; i < cnt; i++) {
        CHECK(whole_len + iov[i].iov_len <= sizeof(whole));
        memcpy(whole + whole_len, iov[i].iov_base, iov[i].iov_len);
        whole_len += (uint32_t)iov[i].iov_len;
    }
    whole_cnt = cnt;
    last_vh = *vh;
    return 0;
}

/* Linux's large send: a GPA-direct packet whose first range is the RNDIS header and
 * PPIs (page 600) and the second the frame (from page 610 + 0x100, over pages). */
static uint64_t send_split(struct ng *f, const uint8_t *rndis, uint32_t hlen, const uint8_t *frame,
                           uint32_t flen)
{
    memcpy(fake_gpa(&f->g.vm, fake_page(600)), rndis, hlen);
    memcpy(fake_gpa(&f->g.vm, fake_page(610) + 0x100), frame, flen);
    uint8_t hdr[8 + 16 + 16 + 8 * 20] = { 0 };
    uint32_t pages = (0x100 + flen + 4095) / 4096, n = 8;
    uint32_t v[2] = { 0, 2 };
    memcpy(hdr, v, 8);
    uint32_t r0[2] = { hlen, 0 };
    memcpy(hdr + n, r0, 8);
    uint64_t pfn = fake_page(600) / 4096;
    memcpy(hdr + n + 8, &pfn, 8);
    n += 16;
    uint32_t r1[2] = { flen, 0x100 };
    memcpy(hdr + n, r1, 8);
    for (uint32_t i = 0; i < pages; i++) {
        pfn = fake_page(610) / 4096 + i;
        memcpy(hdr + n + 8 + 8 * i, &pfn, 8);
    }
    n += 8 + 8 * pages;
    n = (n + 7) & ~7u;
    uint8_t m[40] = { 0 };
    uint32_t w[3] = { NVSP_MSG1_SEND_RNDIS_PKT, NVSP_CHANNEL_TYPE_DATA, NVSP_NO_SECTION };
    memcpy(m, w, 12);
    uint64_t tid = ++f->tid;
    CHECK(tg_ring_write_ext(&f->out, VMBUS_PACKET_DATA_USING_GPA_DIRECT, tid, hdr, n, m, 40) >= 0);
    ng_signal(f);
    return tid;
}

/* An RNDIS PACKET header with the frame length and the LSO PPI, then the header's bytes
 * (the frame follows in another range). */
static uint32_t lso_header(uint8_t *out, uint32_t frame_len, uint32_t lso)
{
    static uint8_t tmp[70000];
    struct rndis_pkt_info info = { .has_lso = true, .lso = lso };
    size_t total = rndis_build_packet(tmp, sizeof(tmp), whole, frame_len, &info);
    uint32_t hlen = (uint32_t)(total - frame_len);
    memcpy(out, tmp, hlen);
    return hlen;
}

TEST(netvsp_large_send_goes_to_the_backend_from_guest_memory)
{
    struct ng f;
    ng_setup(&f, NULL);
    netvsp_set_txv(&f.n, capture_whole);
    ng_probe(&f);
    static uint8_t fr[62000], ref[62000];
    uint8_t hdr[512], raw[512];
    for (uint32_t len = 3000; len <= 62000; len += 29500) {
        linux_lso_frame(fr, len);
        memcpy(ref, fr, len);
        uint32_t lso = 1448u | (34u << 20) | (1u << 30);
        uint32_t hl = lso_header(hdr, len, lso);
        uint64_t t = send_split(&f, hdr, hl, fr, len);
        const uint8_t *p = expect_comp(&f, raw, t, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
        CHECK_EQ(get32(p + 4), NVSP_STAT_SUCCESS);
        /* the frame whole, as offloads leave it (IP lengths and pseudo checksum set) */
        CHECK_EQ(whole_len, len);
        CHECK_EQ(last_vh.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
        CHECK_EQ(whole[16] << 8 | whole[17], len - 14);
        CHECK(!memcmp(whole + 54, ref + 54, len - 54));
        /* not gathered: the head, then page pieces of guest memory */
        CHECK(whole_cnt > 1);
    }
    CHECK_EQ(f.n.stats.tx_lso, 3);
    /* headers the guest puts past the copied head: taken the gathering way, same frame */
    uint32_t len = 20000;
    linux_lso_frame(fr, len);
    uint32_t hl = lso_header(hdr, len, 1448u | (34u << 20) | (1u << 30));
    uint32_t doff = get32(hdr + 8);
    memset(hdr + hl, 0, 200); /* the frame starts 200 bytes later */
    uint32_t nd = doff + 200, total = hl + 200 + len;
    memcpy(hdr + 8, &nd, 4);
    memcpy(hdr + 4, &total, 4);
    uint64_t t = send_split(&f, hdr, hl + 200, fr, len);
    expect_comp(&f, raw, t, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    CHECK_EQ(whole_len, len);
    CHECK_EQ(whole_cnt, 1);
    CHECK_EQ(f.n.stats.tx_lso, 4);
    /* a header offset outside the head: dropped (gathered, the offload refuses it) */
    hl = lso_header(hdr, len, 1448u | (400u << 20) | (1u << 30));
    t = send_split(&f, hdr, hl, fr, len);
    expect_comp(&f, raw, t, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    CHECK_EQ(f.n.stats.tx_dropped, 1);
    ng_free(&f);
}
