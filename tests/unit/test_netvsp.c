/* netvsp driven by a fake guest the way Linux 6.1's netvsc probes and uses it:
 * NVSP INIT, NDIS config/version, receive and send buffers, RNDIS INIT over a
 * GPA-direct packet, queries through send-buffer sections, a frame from the guest,
 * frames to the guest through the receive buffer, link indications, bad input. */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "test.h"
#include "netvsp_guest.h"
#include "vsp/netvsp.h"
#include "vsp/nvsp.h"
#include "vsp/rndis.h"

static uint32_t get32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static void put32(void *p, uint32_t v) { memcpy(p, &v, 4); }

TEST(netvsp_linux_probe_and_queries)
{
    struct ng f;
    ng_setup(&f, NULL);
    ng_probe(&f);
    uint8_t r[300];
    CHECK_EQ(oid(&f, RNDIS_MSG_QUERY, 2, RNDIS_OID_802_3_PERMANENT_ADDRESS, NULL, 0, r), 0);
    CHECK(!memcmp(r + 24, MAC, 6));
    CHECK_EQ(oid(&f, RNDIS_MSG_QUERY, 3, RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES, NULL, 0, r), 0);
    CHECK_EQ(r[24], 0xA7);
    uint8_t params[28] = { 0x80, 3, 28 };
    CHECK_EQ(oid(&f, RNDIS_MSG_SET, 4, RNDIS_OID_TCP_OFFLOAD_PARAMETERS, params, 28, r), 0);
    CHECK_EQ(oid(&f, RNDIS_MSG_QUERY, 5, RNDIS_OID_GEN_MEDIA_CONNECT_STATUS, NULL, 0, r), 0);
    CHECK_EQ(get32(r + 24), 0);
    CHECK_EQ(oid(&f, RNDIS_MSG_QUERY, 6, RNDIS_OID_GEN_RECEIVE_SCALE_CAPABILITIES, NULL, 0, r),
             RNDIS_STATUS_NOT_SUPPORTED);
    uint32_t filter = 0x0D;
    CHECK_EQ(oid(&f, RNDIS_MSG_SET, 7, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &filter, 4, r), 0);
    CHECK_EQ(f.n.rndis.packet_filter, 0x0D);
    CHECK_EQ(f.n.stats.bad_packets, 0);
    ng_free(&f);
}

TEST(netvsp_rejects_unknown_nvsp_version)
{
    struct ng f;
    ng_setup(&f, NULL);
    uint8_t raw[512];
    uint64_t t = send_nvsp(&f, NVSP_MSG_INIT, 0x70000, 0x70000, 0);
    const uint8_t *p = expect_comp(&f, raw, t, NVSP_MSG_INIT_COMPLETE);
    CHECK(get32(p + 12) != NVSP_STAT_SUCCESS);
    CHECK_EQ(f.n.version, 0);
    /* buffers before a version: refused */
    t = send_nvsp(&f, NVSP_MSG1_SEND_RECV_BUF, G_RECV, NVSP_RECV_BUF_ID, 0);
    p = expect_comp(&f, raw, t, NVSP_MSG1_SEND_RECV_BUF_COMPLETE);
    CHECK_EQ(get32(p + 4), NVSP_STAT_FAIL);
    ng_free(&f);
}

static size_t eth_frame(uint8_t *fr, const uint8_t *dst, uint32_t len)
{
    memcpy(fr, dst, 6);
    memcpy(fr + 6, "\x02\x00\x00\x00\x00\x09", 6);
    fr[12] = 0x08, fr[13] = 0x00;
    for (uint32_t i = 14; i < len; i++)
        fr[i] = (uint8_t)i;
    return len;
}

TEST(netvsp_frames_both_ways)
{
    struct ng f;
    ng_setup(&f, NULL);
    ng_probe(&f);
    uint8_t fr[1514], r[300], raw[512];
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    eth_frame(fr, bcast, 100);
    /* before ndo_open (filter 0) the guest receives nothing */
    CHECK_EQ(netvsp_deliver_frame(&f.n, fr, 100), -EPERM);
    uint32_t filter = 0x0D;
    CHECK_EQ(oid(&f, RNDIS_MSG_SET, 2, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &filter, 4, r), 0);
    CHECK_EQ(netvsp_deliver_frame(&f.n, fr, 100), 0);
    uint32_t len;
    const uint8_t *m = expect_rndis(&f, NVSP_CHANNEL_TYPE_DATA, &len);
    if (m) {
        struct rndis_msg pm;
        CHECK_EQ(rndis_parse(m, len, &pm), 0);
        CHECK_EQ(pm.type, RNDIS_MSG_PACKET);
        CHECK_EQ(pm.packet.frame_len, 100);
        CHECK(!memcmp(pm.packet.frame, fr, 100));
    }
    CHECK_EQ(f.n.stats.rx_frames, 1);
    /* a full-size frame fits one sub-allocation; a jumbo one does not */
    eth_frame(fr, bcast, 1514);
    CHECK_EQ(netvsp_deliver_frame(&f.n, fr, 1514), 0);
    expect_rndis(&f, NVSP_CHANNEL_TYPE_DATA, &len);
    uint8_t big[2000] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    CHECK_EQ(netvsp_deliver_frame(&f.n, big, 2000), -EMSGSIZE);
    /* without completions the sub-allocations run out: -EAGAIN, counted */
    uint32_t subs = f.n.recv_subs, ok = 0;
    int ret = 0;
    for (uint32_t i = 0; i <= subs && ret == 0; i++)
        if ((ret = netvsp_deliver_frame(&f.n, fr, 100)) == 0)
            ok++;
    CHECK_EQ(ok, subs);
    CHECK_EQ(ret, -EAGAIN);
    CHECK_EQ(f.n.stats.rx_dropped, 1);
    /* the guest completes one: room again */
    uint64_t tid;
    const uint8_t *p;
    CHECK_EQ(next_pkt(&f, raw, sizeof(raw), &tid, &p), VMBUS_PACKET_DATA_USING_XFER_PAGES);
    uint8_t comp[8];
    put32(comp, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    put32(comp + 4, 1);
    CHECK(tg_ring_write(&f.out, VMBUS_PACKET_COMP, tid, comp, 8) >= 0);
    ng_signal(&f);
    CHECK_EQ(netvsp_deliver_frame(&f.n, fr, 100), 0);

    /* guest -> host data frame through a send section: to the backend, completed */
    uint8_t pkt[200];
    eth_frame(fr, bcast, 60);
    memcpy(fr + 6, MAC, 6);
    size_t pl = rndis_build_packet(pkt, sizeof(pkt), fr, 60, NULL);
    while (tg_ring_read_raw(&f.in, raw, sizeof(raw)) >= 0)
        ;
    uint64_t t = send_rndis_section(&f, 1, pkt, (uint32_t)pl, NVSP_CHANNEL_TYPE_DATA);
    p = expect_comp(&f, raw, t, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    CHECK_EQ(get32(p + 4), NVSP_STAT_SUCCESS);
    CHECK_EQ(f.n.stats.tx_frames, 1);
    CHECK_EQ(f.sent_len, 60);
    CHECK(!memcmp(f.sent, fr, 60));
    /* two frames batched in one section (max_pkt_per_msg 8): both go out */
    size_t pl2 = rndis_build_packet(pkt + pl, sizeof(pkt) - pl, fr, 50, NULL);
    t = send_rndis_section(&f, 2, pkt, (uint32_t)(pl + pl2), NVSP_CHANNEL_TYPE_DATA);
    expect_comp(&f, raw, t, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    CHECK_EQ(f.sent_count, 3);
    CHECK_EQ(f.sent_len, 50);
    /* "cp_partial": the second message's header in the section, its frame in a
     * GPA-direct range of the same packet */
    pl = rndis_build_packet(pkt, sizeof(pkt), fr, 60, NULL);
    uint8_t *sec = fake_gpa(&f.g.vm, fake_page(SEND_PAGE) + 4 * NETVSP_SEND_SECTION);
    memcpy(sec, pkt, pl);
    size_t hl = rndis_build_packet(sec + pl, 100, fr, 44, NULL) - 44; /* header only */
    memcpy(fake_gpa(&f.g.vm, fake_page(CTRL_PAGE) + 0x10), fr, 44);
    uint8_t gh[24] = { 0 };
    put32(gh + 4, 1);
    put32(gh + 8, 44);
    put32(gh + 12, 0x10);
    uint64_t pfn = fake_page(CTRL_PAGE) / 4096;
    memcpy(gh + 16, &pfn, 8);
    uint8_t nm[40] = { 0 };
    put32(nm, NVSP_MSG1_SEND_RNDIS_PKT);
    put32(nm + 8, 4);
    put32(nm + 12, (uint32_t)(pl + hl));
    CHECK(tg_ring_write_ext(&f.out, VMBUS_PACKET_DATA_USING_GPA_DIRECT, 4242, gh, 24, nm, 40) >= 0);
    ng_signal(&f);
    p = expect_comp(&f, raw, 4242, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    CHECK_EQ(get32(p + 4), NVSP_STAT_SUCCESS);
    CHECK_EQ(f.sent_count, 5);
    CHECK_EQ(f.sent_len, 44);
    CHECK(!memcmp(f.sent, fr, 44));
    /* MAC spoofing: a frame from another source MAC never reaches the switch */
    fr[11] ^= 1;
    pl = rndis_build_packet(pkt, sizeof(pkt), fr, 60, NULL);
    t = send_rndis_section(&f, 1, pkt, (uint32_t)pl, NVSP_CHANNEL_TYPE_DATA);
    p = expect_comp(&f, raw, t, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    CHECK_EQ(get32(p + 4), NVSP_STAT_SUCCESS);
    CHECK_EQ(f.n.stats.tx_spoofed, 1);
    CHECK_EQ(f.sent_count, 5);
    ng_free(&f);
}

/* vm_net's pump in a stream: the guest's completions are picked up after each batch with
 * the guest's ring masked (no signal needed), and unmasked when the TAP runs dry. */
TEST(netvsp_receiving_stream_serves_the_guest_ring_while_it_stays_masked)
{
    struct ng f;
    ng_setup(&f, NULL);
    ng_probe(&f);
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    CHECK(efd >= 0);
    netvsp_take_signals(&f.n, efd);
    uint8_t fr[100], r[300], raw[512];
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint32_t filter = 0x0D;
    CHECK_EQ(oid(&f, RNDIS_MSG_SET, 2, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &filter, 4, r), 0);
    eth_frame(fr, bcast, sizeof(fr));
    CHECK_EQ(netvsp_deliver_frame(&f.n, fr, sizeof(fr)), 0);
    netvsp_serve_guest(&f.n, true);
    CHECK_EQ(*tg_ring_field(&f.out, 8), 1); /* interrupt mask: the guest need not signal */
    uint64_t tid;
    const uint8_t *p;
    CHECK_EQ(next_pkt(&f, raw, sizeof(raw), &tid, &p), VMBUS_PACKET_DATA_USING_XFER_PAGES);
    CHECK(tid >= 1 && tid <= f.n.recv_subs);
    CHECK_EQ(f.n.recv_busy[tid - 1], 1);
    uint8_t comp[8];
    put32(comp, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    put32(comp + 4, 1);
    CHECK(tg_ring_write(&f.out, VMBUS_PACKET_COMP, tid, comp, 8) >= 0); /* no signal */
    uint64_t one = 1, left;
    CHECK_EQ(write(efd, &one, sizeof(one)), (ssize_t)sizeof(one));
    netvsp_serve_guest(&f.n, true); /* the next batch */
    CHECK_EQ(f.n.recv_busy[tid - 1], 0);
    CHECK_EQ(*tg_ring_field(&f.out, 8), 1);
    CHECK(read(efd, &left, sizeof(left)) < 0); /* the signal was taken with the ring */
    netvsp_serve_guest(&f.n, false); /* the TAP ran dry */
    CHECK_EQ(*tg_ring_field(&f.out, 8), 0);
    CHECK_EQ(f.n.stats.bad_packets, 0);
    ng_free(&f);
    close(efd);
}

TEST(netvsp_link_indication_and_bad_input)
{
    struct ng f;
    ng_setup(&f, NULL);
    ng_probe(&f);
    uint8_t raw[512];
    CHECK_EQ(netvsp_set_link(&f.n, false), 0);
    uint32_t len;
    const uint8_t *m = expect_rndis(&f, NVSP_CHANNEL_TYPE_CONTROL, &len);
    if (m) {
        CHECK_EQ(get32(m), RNDIS_MSG_INDICATE);
        CHECK_EQ(get32(m + 8), RNDIS_STATUS_MEDIA_DISCONNECT);
    }
    /* a section past the send buffer, a bad RNDIS message, garbage NVSP */
    uint64_t t = send_nvsp(&f, NVSP_MSG1_SEND_RNDIS_PKT, 0, 5, 100);
    const uint8_t *p = expect_comp(&f, raw, t, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    CHECK_EQ(get32(p + 4), NVSP_STAT_INVALID_RNDIS_PKT);
    uint32_t bad[4] = { RNDIS_MSG_QUERY, 4000, 1, 2 };
    t = send_rndis_section(&f, 0, bad, sizeof(bad), NVSP_CHANNEL_TYPE_CONTROL);
    p = expect_comp(&f, raw, t, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    CHECK_EQ(get32(p + 4), NVSP_STAT_INVALID_RNDIS_PKT);
    /* GPA-direct packet whose range names a page outside guest RAM */
    uint8_t hdr[24] = { 0 };
    put32(hdr + 4, 1);
    put32(hdr + 8, 24);
    uint64_t pfn = 0xFFFFFFFFull;
    memcpy(hdr + 16, &pfn, 8);
    uint8_t nm[40] = { 0 };
    put32(nm, NVSP_MSG1_SEND_RNDIS_PKT);
    put32(nm + 4, 1);
    put32(nm + 8, NVSP_NO_SECTION);
    CHECK(tg_ring_write_ext(&f.out, VMBUS_PACKET_DATA_USING_GPA_DIRECT, 99, hdr, 24, nm, 40) >= 0);
    ng_signal(&f);
    p = expect_comp(&f, raw, 99, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    CHECK_EQ(get32(p + 4), NVSP_STAT_INVALID_RNDIS_PKT);
    uint64_t before = f.n.stats.bad_packets;
    send_nvsp(&f, 0xDEAD, 0, 0, 0);
    CHECK_EQ(f.n.stats.bad_packets, before + 1);
    /* a completion for a sub-allocation the host never handed out */
    uint8_t comp[8] = { 108, 0, 0, 0, 1 };
    CHECK(tg_ring_write(&f.out, VMBUS_PACKET_COMP, 5000, comp, 8) >= 0);
    ng_signal(&f);
    CHECK_EQ(f.n.stats.bad_packets, before + 2);
    /* the device still works */
    uint8_t r[300];
    CHECK_EQ(oid(&f, RNDIS_MSG_QUERY, 9, RNDIS_OID_GEN_MEDIA_CONNECT_STATUS, NULL, 0, r), 0);
    CHECK_EQ(get32(r + 24), 1);
    ng_free(&f);
}

TEST(netvsp_access_vlan_and_spoofing_allowed)
{
    struct ng f;
    struct netvsp_port port = { .allow_mac_spoofing = true, .vlan_id = 42 };
    ng_setup(&f, &port);
    ng_probe(&f);
    uint8_t r[300], raw[512], fr[200], pkt[300];
    uint32_t filter = 0x0D;
    CHECK_EQ(oid(&f, RNDIS_MSG_SET, 2, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &filter, 4, r), 0);
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    /* out: tagged with VLAN 42 (any source MAC allowed on this port) */
    eth_frame(fr, bcast, 60);
    size_t pl = rndis_build_packet(pkt, sizeof(pkt), fr, 60, NULL);
    uint64_t t = send_rndis_section(&f, 0, pkt, (uint32_t)pl, NVSP_CHANNEL_TYPE_DATA);
    expect_comp(&f, raw, t, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    CHECK_EQ(f.sent_len, 64);
    CHECK(!memcmp(f.sent, fr, 12));
    CHECK(f.sent[12] == 0x81 && f.sent[13] == 0x00 && f.sent[14] == 0 && f.sent[15] == 42);
    CHECK(!memcmp(f.sent + 16, fr + 12, 48));
    /* a frame the guest tagged itself is dropped */
    uint8_t own[64];
    memcpy(own, f.sent, 64);
    pl = rndis_build_packet(pkt, sizeof(pkt), own, 64, NULL);
    t = send_rndis_section(&f, 0, pkt, (uint32_t)pl, NVSP_CHANNEL_TYPE_DATA);
    expect_comp(&f, raw, t, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    CHECK_EQ(f.sent_count, 1);
    /* in: only VLAN 42, delivered untagged */
    CHECK_EQ(netvsp_deliver_frame(&f.n, fr, 60), -EPERM);
    own[15] = 43;
    CHECK_EQ(netvsp_deliver_frame(&f.n, own, 64), -EPERM);
    own[15] = 42;
    CHECK_EQ(netvsp_deliver_frame(&f.n, own, 64), 0);
    uint32_t len;
    const uint8_t *m = expect_rndis(&f, NVSP_CHANNEL_TYPE_DATA, &len);
    struct rndis_msg pm;
    if (m && rndis_parse(m, len, &pm) == 0) {
        CHECK_EQ(pm.packet.frame_len, 60);
        CHECK(!memcmp(pm.packet.frame, fr, 60));
    } else {
        CHECK(0);
    }
    ng_free(&f);
}

/* The guest changes its MAC ("NetworkAddress", as `ip link set address` does): the
 * device takes it (frames to it are delivered), but with spoofing protection on, the
 * port still lets out only frames from the MAC it was given. */
TEST(netvsp_guest_mac_change_and_spoofing_protection)
{
    struct ng f;
    ng_setup(&f, NULL);
    ng_probe(&f);
    uint8_t r[300], raw[512], fr[200], pkt[300], info[20 + 28 + 24] = { 0 };
    uint32_t filter = 0x0D;
    CHECK_EQ(oid(&f, RNDIS_MSG_SET, 2, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &filter, 4, r), 0);
    uint32_t hdr[5] = { 20, 28, 2, 48, 24 };
    memcpy(info, hdr, sizeof(hdr));
    for (int i = 0; i < 14; i++)
        info[20 + 2 * i] = (uint8_t)"NetworkAddress"[i];
    for (int i = 0; i < 12; i++)
        info[48 + 2 * i] = (uint8_t)"020000000077"[i];
    CHECK_EQ(oid(&f, RNDIS_MSG_SET, 3, RNDIS_OID_GEN_RNDIS_CONFIG_PARAMETER, info, sizeof(info), r), 0);
    static const uint8_t newmac[6] = { 0x02, 0, 0, 0, 0, 0x77 };
    CHECK(!memcmp(f.n.rndis.mac, newmac, 6));
    CHECK(!memcmp(f.n.mac, MAC, 6));
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    eth_frame(fr, bcast, 60);
    memcpy(fr + 6, newmac, 6);
    size_t pl = rndis_build_packet(pkt, sizeof(pkt), fr, 60, NULL);
    uint64_t t = send_rndis_section(&f, 0, pkt, (uint32_t)pl, NVSP_CHANNEL_TYPE_DATA);
    expect_comp(&f, raw, t, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    CHECK_EQ(f.n.stats.tx_spoofed, 1);
    CHECK_EQ(f.sent_count, 0);
    /* to the new MAC: delivered; to the old one: filtered */
    eth_frame(fr, newmac, 60);
    CHECK_EQ(netvsp_deliver_frame(&f.n, fr, 60), 0);
    eth_frame(fr, MAC, 60);
    CHECK_EQ(netvsp_deliver_frame(&f.n, fr, 60), -EPERM);
    ng_free(&f);
}

/* An IPv4 TCP frame to the guest's MAC from SRC:SPORT to DST:DPORT (60 bytes). */
static size_t tcp_frame(uint8_t *fr, const uint8_t src[4], uint16_t sport, const uint8_t dst[4],
                        uint16_t dport)
{
    memset(fr, 0, 60);
    memcpy(fr, MAC, 6);
    memcpy(fr + 6, "\x02\x00\x00\x00\x00\x09", 6);
    fr[12] = 0x08;
    uint8_t *ip = fr + 14;
    ip[0] = 0x45, ip[3] = 40, ip[8] = 64, ip[9] = 6;
    memcpy(ip + 12, src, 4);
    memcpy(ip + 16, dst, 4);
    ip[20] = (uint8_t)(sport >> 8), ip[21] = (uint8_t)sport;
    ip[22] = (uint8_t)(dport >> 8), ip[23] = (uint8_t)dport;
    return 60;
}

/* NDIS_RECEIVE_SCALE_PARAMETERS as Linux's rndis_set_rss_param_msg builds it, with a
 * two-entry table {0, 1} (Linux sends 128) and Microsoft's verification key. */
static uint32_t rss_params(uint8_t *p, uint16_t flags, uint32_t entry1)
{
    static const uint8_t key[40] = {
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
        0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
        0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    };
    memset(p, 0, 88);
    p[0] = 0x89, p[1] = 2, p[2] = 40;
    p[4] = (uint8_t)flags;
    put32(p + 8, 0x1 | 0x100 | 0x200 | 0x400 | 0x1000);
    p[12] = 8;          /* table bytes */
    put32(p + 16, 40);  /* table offset */
    p[20] = 40;         /* key bytes */
    put32(p + 24, 48);  /* key offset */
    put32(p + 40, 0);
    put32(p + 44, entry1);
    memcpy(p + 48, key, 40);
    return 88;
}

TEST(netvsp_receive_queues_sub_channels_and_rss)
{
    struct ng f;
    ng_setup_queues(&f, NULL, 2);
    ng_probe(&f);
    uint8_t r[300], raw[512];
    /* the guest learns of two receive queues */
    CHECK_EQ(oid(&f, RNDIS_MSG_QUERY, 2, RNDIS_OID_GEN_RECEIVE_SCALE_CAPABILITIES, NULL, 0, r), 0);
    CHECK_EQ(get32(r + 16), 18);       /* info length */
    CHECK_EQ(r[24], 0x88);             /* NDIS_OBJECT_TYPE_RSS_CAPABILITIES */
    CHECK_EQ(get32(r + 24 + 12), 2);   /* num_recv_que */
    /* it asks for more sub-channels than there are queues: one is offered */
    uint64_t t = send_nvsp(&f, NVSP_MSG5_SUBCHANNEL, NVSP_SUBCHANNEL_ALLOCATE, 7, 0);
    struct vmbus_msg_offer_channel o;
    CHECK_EQ(tg_recv(&f.g, &o, NULL), CHANNELMSG_OFFERCHANNEL);
    CHECK_EQ(o.sub_channel_index, 1);
    CHECK_EQ(o.child_relid, 2);
    const uint8_t *p = expect_comp(&f, raw, t, NVSP_MSG5_SUBCHANNEL);
    CHECK_EQ(get32(p + 4), NVSP_STAT_SUCCESS);
    CHECK_EQ(get32(p + 8), 1);
    /* the guest opens it on vCPU 1 */
    struct guest_ring out2, in2;
    memset(fake_gpa(&f.g.vm, fake_page(600)), 0, 16 * 4096);
    CHECK_EQ(tg_gpadl(&f.g, 2, 0xE1E20, 600, 16), 0);
    tg_ring(&f.g, &out2, 600, 8);
    tg_ring(&f.g, &in2, 608, 8);
    CHECK_EQ(tg_open(&f.g, 2, 0xE1E20, 8, 1), 0);
    CHECK(f.n.chans[1] != NULL);
    uint32_t filter = 0x0D;
    CHECK_EQ(oid(&f, RNDIS_MSG_SET, 3, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &filter, 4, r), 0);

    /* before RSS parameters every frame goes to queue 0 */
    static const uint8_t a_src[4] = { 38, 27, 205, 30 }, a_dst[4] = { 209, 142, 163, 6 };
    static const uint8_t b_src[4] = { 66, 9, 149, 187 }, b_dst[4] = { 161, 142, 100, 80 };
    uint8_t fr[60];
    tcp_frame(fr, a_src, 48228, a_dst, 2217); /* Toeplitz 0xafc7327f: odd, table entry 1 */
    CHECK_EQ(netvsp_deliver_frame(&f.n, fr, 60), 0);
    uint32_t len;
    CHECK(expect_rndis(&f, NVSP_CHANNEL_TYPE_DATA, &len) != NULL);

    /* bad parameters change nothing: a queue that does not exist, a table of 3 */
    uint8_t prm[88];
    CHECK_EQ(oid(&f, RNDIS_MSG_SET, 4, RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS, prm,
                 rss_params(prm, 0, 2), r), RNDIS_STATUS_INVALID_DATA);
    rss_params(prm, 0, 1);
    prm[12] = 12;
    CHECK_EQ(oid(&f, RNDIS_MSG_SET, 5, RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS, prm, 88, r),
             RNDIS_STATUS_INVALID_DATA);
    rss_params(prm, 0, 1);
    put32(prm + 24, 60); /* the key runs past the buffer */
    CHECK_EQ(oid(&f, RNDIS_MSG_SET, 6, RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS, prm, 88, r),
             RNDIS_STATUS_INVALID_DATA);
    CHECK(!f.n.rndis.rss.enabled);
    /* Linux disables, then sets */
    CHECK_EQ(oid(&f, RNDIS_MSG_SET, 7, RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS, prm,
                 rss_params(prm, 0x10, 1), r), 0);
    CHECK_EQ(oid(&f, RNDIS_MSG_SET, 8, RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS, prm,
                 rss_params(prm, 0, 1), r), 0);
    CHECK(f.n.rndis.rss.enabled);

    /* flow A's hash names queue 1: it arrives on the sub-channel, nothing on queue 0 */
    CHECK_EQ(netvsp_deliver_frame(&f.n, fr, 60), 0);
    uint64_t tid;
    CHECK_EQ(next_pkt(&f, raw, sizeof(raw), &tid, &p), -1);
    int n2 = tg_ring_read_raw(&in2, raw, sizeof(raw));
    CHECK(n2 > 0);
    CHECK_EQ(raw[0], VMBUS_PACKET_DATA_USING_XFER_PAGES);
    /* with its Toeplitz hash for the guest's skb (NBL_HASH_VALUE) */
    struct rndis_msg pm;
    CHECK_EQ(rndis_parse(fake_gpa(&f.g.vm, fake_page(RECV_PAGE) + get32(raw + 28)), get32(raw + 24), &pm), 0);
    CHECK(pm.packet.info.has_hash);
    CHECK_EQ(pm.packet.info.hash, 0xafc7327f);
    /* flow B (0x51ccc178, even) stays on queue 0 */
    tcp_frame(fr, b_src, 2794, b_dst, 1766);
    CHECK_EQ(netvsp_deliver_frame(&f.n, fr, 60), 0);
    CHECK(expect_rndis(&f, NVSP_CHANNEL_TYPE_DATA, &len) != NULL);
    CHECK_EQ(tg_ring_read_raw(&in2, raw, sizeof(raw)), -1);
    CHECK_EQ(f.n.stats.rx_queue[0], 2);
    CHECK_EQ(f.n.stats.rx_queue[1], 1);

    /* the guest sends on the sub-channel (a shared send section): completed there */
    uint8_t pkt[200] = { 0 };
    uint8_t gf[60];
    tcp_frame(gf, b_dst, 1766, b_src, 2794);
    memcpy(gf, "\x02\x00\x00\x00\x00\x09", 6);
    memcpy(gf + 6, MAC, 6);
    put32(pkt, RNDIS_MSG_PACKET);
    put32(pkt + 4, 44 + 60);
    put32(pkt + 8, 36);
    put32(pkt + 12, 60);
    memcpy(pkt + 44, gf, 60);
    memcpy(fake_gpa(&f.g.vm, fake_page(SEND_PAGE) + 1 * NETVSP_SEND_SECTION), pkt, 104);
    uint8_t m[40] = { 0 };
    put32(m, NVSP_MSG1_SEND_RNDIS_PKT);
    put32(m + 8, 1);
    put32(m + 12, 104);
    CHECK(tg_ring_write(&out2, VMBUS_PACKET_DATA_INBAND, 77, m, 40) >= 0);
    tg_signal(&f.g, VMBUS_CONNECTION_ID_BASE + 2);
    CHECK_EQ(f.sent_count, 1);
    CHECK(!memcmp(f.sent, gf, 60));
    CHECK_EQ(f.n.stats.tx_queue[1], 1);
    uint16_t type;
    uint64_t ctid;
    uint8_t c[64];
    CHECK_EQ(tg_ring_read(&in2, &type, &ctid, c, sizeof(c)), 40);
    CHECK_EQ(type, VMBUS_PACKET_COMP);
    CHECK_EQ(ctid, 77);
    CHECK_EQ(get32(c), NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    /* set-up messages belong on the primary: dropped, counted */
    put32(m, NVSP_MSG1_SEND_RECV_BUF);
    CHECK(tg_ring_write(&out2, VMBUS_PACKET_DATA_INBAND, 78, m, 40) >= 0);
    tg_signal(&f.g, VMBUS_CONNECTION_ID_BASE + 2);
    CHECK_EQ(tg_ring_read(&in2, &type, &ctid, c, sizeof(c)), -1);
    CHECK_EQ(f.n.stats.bad_packets, 1);

    /* the guest closes the NIC (sub-channel, then primary): the sub-channel is
     * rescinded, and a second instance gets a fresh offer for the same queue */
    struct vmbus_msg_relid cl = { .hdr.msgtype = CHANNELMSG_CLOSECHANNEL, .child_relid = 2 };
    CHECK_EQ(tg_post(&f.g, &cl, sizeof(cl)), 0);
    CHECK(f.n.chans[1] == NULL);
    cl.child_relid = 1;
    CHECK_EQ(tg_post(&f.g, &cl, sizeof(cl)), 0);
    struct vmbus_msg_relid rs;
    CHECK_EQ(tg_recv(&f.g, &rs, NULL), CHANNELMSG_RESCIND_CHANNELOFFER);
    CHECK_EQ(rs.child_relid, 2);
    struct vmbus_msg_relid rel = { .hdr.msgtype = CHANNELMSG_RELID_RELEASED, .child_relid = 2 };
    CHECK_EQ(tg_post(&f.g, &rel, sizeof(rel)), 0);
    CHECK_EQ(tg_open(&f.g, RELID, G_RING, 8, 0), 0);
    send_nvsp(&f, NVSP_MSG_INIT, NVSP_PROTOCOL_VERSION_61, NVSP_PROTOCOL_VERSION_61, 0);
    t = send_nvsp(&f, NVSP_MSG5_SUBCHANNEL, NVSP_SUBCHANNEL_ALLOCATE, 1, 0);
    CHECK_EQ(tg_recv(&f.g, &o, NULL), CHANNELMSG_OFFERCHANNEL);
    CHECK_EQ(o.sub_channel_index, 1);
    CHECK(!f.n.rndis.rss.enabled); /* a new instance starts without RSS */
    ng_free(&f);
}
