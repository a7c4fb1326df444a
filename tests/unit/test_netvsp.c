/* netvsp driven by a fake guest the way Linux 6.1's netvsc probes and uses it:
 * NVSP INIT, NDIS config/version, receive and send buffers, RNDIS INIT over a
 * GPA-direct packet, queries through send-buffer sections, a frame from the guest,
 * frames to the guest through the receive buffer, link indications, bad input. */
#include <errno.h>
#include <string.h>

#include "test.h"
#include "vmbus_guest.h"
#include "vsp/netvsp.h"
#include "vsp/nvsp.h"
#include "vsp/rndis.h"

#define RELID 1u
#define RING_PAGE 200u  /* 8 pages out + 8 pages in */
#define RECV_PAGE 300u  /* 32 pages: 75 sub-allocations of 1728 */
#define SEND_PAGE 400u  /* 8 pages: 5 sections of 6144 */
#define CTRL_PAGE 500u  /* where the guest builds GPA-direct RNDIS messages */
#define G_RING 0xE1E10u
#define G_RECV 0xE1E11u
#define G_SEND 0xE1E12u

static const uint8_t MAC[6] = { 0x00, 0x15, 0x5d, 0x12, 0x34, 0x56 };

struct ng {
    struct tguest g;
    struct netvsp n;
    struct guest_ring out, in;
    uint64_t tid;
    uint8_t sent[2048]; /* the last frame the VSP passed to its backend */
    uint32_t sent_len, sent_count;
};

static int capture(void *ctx, const void *frame, uint32_t len)
{
    struct ng *f = ctx;
    if (len > sizeof(f->sent))
        return -EMSGSIZE;
    memcpy(f->sent, frame, len);
    f->sent_len = len;
    f->sent_count++;
    return 0;
}

static uint32_t get32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static void put32(void *p, uint32_t v) { memcpy(p, &v, 4); }

static void ng_signal(struct ng *f)
{
    tg_signal(&f->g, VMBUS_CONNECTION_ID_BASE + RELID);
}

/* An NVSP message from the guest (inband, completion requested); returns its trans_id. */
static uint64_t send_nvsp(struct ng *f, uint32_t type, uint32_t a, uint32_t b, uint32_t c)
{
    uint8_t m[40] = { 0 };
    put32(m, type);
    put32(m + 4, a);
    put32(m + 8, b);
    put32(m + 12, c);
    uint64_t tid = ++f->tid;
    CHECK(tg_ring_write(&f->out, VMBUS_PACKET_DATA_INBAND, tid, m, 40) >= 0);
    ng_signal(f);
    return tid;
}

/* Next host packet (raw); its type, or -1 if none. */
static int next_pkt(struct ng *f, uint8_t *raw, uint32_t cap, uint64_t *tid, const uint8_t **payload)
{
    int len = tg_ring_read_raw(&f->in, raw, cap);
    if (len < 0)
        return -1;
    uint16_t type, off8;
    memcpy(&type, raw, 2);
    memcpy(&off8, raw + 2, 2);
    memcpy(tid, raw + 8, 8);
    *payload = raw + off8 * 8;
    return type;
}

/* Expect a COMP for TID carrying NVSP TYPE; returns the payload. */
static const uint8_t *expect_comp(struct ng *f, uint8_t *raw, uint64_t tid, uint32_t type)
{
    uint64_t got;
    const uint8_t *p = NULL;
    int t = next_pkt(f, raw, 512, &got, &p);
    CHECK_EQ(t, VMBUS_PACKET_COMP);
    CHECK_EQ(got, tid);
    if (t != VMBUS_PACKET_COMP)
        return raw;
    CHECK_EQ(get32(p), type);
    return p;
}

/* Expect an xfer-page packet; returns the RNDIS message in the receive buffer and
 * completes it as the guest would. */
static const uint8_t *expect_rndis(struct ng *f, uint32_t channel_type, uint32_t *len)
{
    uint8_t raw[512];
    uint64_t tid;
    const uint8_t *p;
    int t = next_pkt(f, raw, sizeof(raw), &tid, &p);
    CHECK_EQ(t, VMBUS_PACKET_DATA_USING_XFER_PAGES);
    if (t != VMBUS_PACKET_DATA_USING_XFER_PAGES)
        return NULL;
    uint16_t off8;
    memcpy(&off8, raw + 2, 2);
    CHECK(off8 * 8 >= 32);                        /* netvsc_receive's checks */
    CHECK_EQ(raw[16] | raw[17] << 8, 0xCAFE);     /* xfer_pageset_id */
    CHECK_EQ(get32(raw + 20), 1);                 /* range_count */
    CHECK_EQ(get32(p), NVSP_MSG1_SEND_RNDIS_PKT);
    CHECK_EQ(get32(p + 4), channel_type);
    uint32_t bytes = get32(raw + 24), off = get32(raw + 28);
    CHECK(off % NETVSP_RECV_SUB_ALLOC == 0 && bytes <= NETVSP_RECV_SUB_ALLOC);
    *len = bytes;
    const uint8_t *msg = fake_gpa(&f->g.vm, fake_page(RECV_PAGE) + off);
    CHECK(get32(msg + 4) >= 8 && get32(msg + 4) <= bytes);
    uint8_t comp[8];
    put32(comp, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    put32(comp + 4, NVSP_STAT_SUCCESS);
    CHECK(tg_ring_write(&f->out, VMBUS_PACKET_COMP, tid, comp, 8) >= 0);
    ng_signal(f);
    return msg;
}

/* The guest sends an RNDIS control message the way rndis_filter does: one GPA-direct
 * range, channel type 1, no send section. */
static uint64_t send_rndis_gpa(struct ng *f, const void *msg, uint32_t len)
{
    memcpy(fake_gpa(&f->g.vm, fake_page(CTRL_PAGE) + 0x80), msg, len);
    uint8_t hdr[24];
    put32(hdr, 0);                 /* reserved */
    put32(hdr + 4, 1);             /* range count */
    put32(hdr + 8, len);           /* byte_count */
    put32(hdr + 12, 0x80);         /* byte_offset */
    uint64_t pfn = fake_page(CTRL_PAGE) / 4096;
    memcpy(hdr + 16, &pfn, 8);
    uint8_t m[40] = { 0 };
    put32(m, NVSP_MSG1_SEND_RNDIS_PKT);
    put32(m + 4, NVSP_CHANNEL_TYPE_CONTROL);
    put32(m + 8, NVSP_NO_SECTION);
    uint64_t tid = ++f->tid;
    CHECK(tg_ring_write_ext(&f->out, VMBUS_PACKET_DATA_USING_GPA_DIRECT, tid, hdr, 24, m, 40) >= 0);
    ng_signal(f);
    return tid;
}

/* ... or through send-buffer section SEC (data path, and what this test uses for
 * queries too). */
static uint64_t send_rndis_section(struct ng *f, uint32_t sec, const void *msg, uint32_t len,
                                   uint32_t channel_type)
{
    memcpy(fake_gpa(&f->g.vm, fake_page(SEND_PAGE) + sec * NETVSP_SEND_SECTION), msg, len);
    return send_nvsp(f, NVSP_MSG1_SEND_RNDIS_PKT, channel_type, sec, len);
}

static void ng_setup(struct ng *f, const struct netvsp_port *port)
{
    memset(f, 0, sizeof(*f));
    struct vmbus_guid inst = { { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 } };
    netvsp_init(&f->n, "netvsp-test", &inst, MAC, capture, f, port);
    const struct vmbus_device_desc *devs[] = { &f->n.desc };
    tg_init(&f->g, 1, devs, 1);
    CHECK_EQ(tg_connect(&f->g, VMBUS_VERSION_WIN10_V5_3), 1);
    struct vmbus_msg_header rq = { .msgtype = CHANNELMSG_REQUESTOFFERS };
    CHECK_EQ(tg_post(&f->g, &rq, sizeof(rq)), 0);
    uint8_t buf[240];
    while (tg_recv(&f->g, buf, NULL) == CHANNELMSG_OFFERCHANNEL)
        ;
    CHECK_EQ(tg_gpadl(&f->g, RELID, G_RING, RING_PAGE, 16), 0);
    memset(fake_gpa(&f->g.vm, fake_page(RING_PAGE)), 0, 16 * 4096);
    tg_ring(&f->g, &f->out, RING_PAGE, 8);
    tg_ring(&f->g, &f->in, RING_PAGE + 8, 8);
    *tg_ring_field(&f->out, 64) = 1;
    *tg_ring_field(&f->in, 64) = 1;
    CHECK_EQ(tg_open(&f->g, RELID, G_RING, 8, 0), 0);
    CHECK_EQ(tg_gpadl(&f->g, RELID, G_RECV, RECV_PAGE, 32), 0);
    CHECK_EQ(tg_gpadl(&f->g, RELID, G_SEND, SEND_PAGE, 8), 0);
}

static void ng_free(struct ng *f)
{
    tg_free(&f->g);
    netvsp_free(&f->n);
}

/* netvsc_connect_vsp + rndis_filter_init_device up to RNDIS INIT_C. */
static void ng_probe(struct ng *f)
{
    uint8_t raw[512];
    /* v6.1 first: accepted */
    uint64_t t = send_nvsp(f, NVSP_MSG_INIT, NVSP_PROTOCOL_VERSION_61, NVSP_PROTOCOL_VERSION_61, 0);
    const uint8_t *p = expect_comp(f, raw, t, NVSP_MSG_INIT_COMPLETE);
    CHECK_EQ(get32(p + 12), NVSP_STAT_SUCCESS);
    CHECK_EQ(f->n.version, NVSP_PROTOCOL_VERSION_61);
    uint8_t cfg[40] = { 0 };
    put32(cfg, NVSP_MSG2_SEND_NDIS_CONFIG);
    put32(cfg + 4, 1514);
    CHECK(tg_ring_write(&f->out, VMBUS_PACKET_DATA_INBAND, 0, cfg, 40) >= 0);
    send_nvsp(f, NVSP_MSG1_SEND_NDIS_VER, 6, 30, 0);
    CHECK_EQ(f->n.mtu, 1514);
    CHECK_EQ(f->n.ndis_minor, 30);
    uint64_t dummy;
    const uint8_t *q;
    CHECK_EQ(next_pkt(f, raw, sizeof(raw), &dummy, &q), -1); /* neither is completed */

    t = send_nvsp(f, NVSP_MSG1_SEND_RECV_BUF, G_RECV, NVSP_RECV_BUF_ID, 0);
    p = expect_comp(f, raw, t, NVSP_MSG1_SEND_RECV_BUF_COMPLETE);
    CHECK_EQ(get32(p + 4), NVSP_STAT_SUCCESS);
    CHECK_EQ(get32(p + 8), 1);
    CHECK_EQ(get32(p + 12), 0);
    CHECK_EQ(get32(p + 16), NETVSP_RECV_SUB_ALLOC);
    CHECK_EQ(get32(p + 20), 32 * 4096 / NETVSP_RECV_SUB_ALLOC);
    t = send_nvsp(f, NVSP_MSG1_SEND_SEND_BUF, G_SEND, NVSP_SEND_BUF_ID, 0);
    p = expect_comp(f, raw, t, NVSP_MSG1_SEND_SEND_BUF_COMPLETE);
    CHECK_EQ(get32(p + 4), NVSP_STAT_SUCCESS);
    CHECK_EQ(get32(p + 8), NETVSP_SEND_SECTION);

    uint32_t init[6] = { RNDIS_MSG_INIT, 24, 1, 1, 0, 0x4000 };
    t = send_rndis_gpa(f, init, sizeof(init));
    uint32_t len;
    const uint8_t *m = expect_rndis(f, NVSP_CHANNEL_TYPE_CONTROL, &len);
    if (m) {
        CHECK_EQ(get32(m), RNDIS_MSG_INIT_C);
        CHECK_EQ(get32(m + 8), 1);
        CHECK_EQ(get32(m + 12), RNDIS_STATUS_SUCCESS);
    }
    p = expect_comp(f, raw, t, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    CHECK_EQ(get32(p + 4), NVSP_STAT_SUCCESS);
}

/* QUERY/SET through a send section; returns the completion's status. */
static uint32_t oid(struct ng *f, uint32_t type, uint32_t req, uint32_t oidv, const void *info,
                    uint32_t ilen, uint8_t *reply)
{
    uint8_t b[64] = { 0 };
    put32(b, type);
    put32(b + 4, 28 + ilen);
    put32(b + 8, req);
    put32(b + 12, oidv);
    put32(b + 16, ilen);
    put32(b + 20, 20);
    if (ilen)
        memcpy(b + 28, info, ilen);
    uint64_t t = send_rndis_section(f, 3, b, 28 + ilen, NVSP_CHANNEL_TYPE_CONTROL);
    uint32_t len = 0;
    const uint8_t *m = expect_rndis(f, NVSP_CHANNEL_TYPE_CONTROL, &len);
    uint8_t raw[512];
    expect_comp(f, raw, t, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    if (!m)
        return 0xFFFFFFFF;
    CHECK_EQ(get32(m + 8), req);
    memcpy(reply, m, len < 300 ? len : 300);
    return get32(m + 12);
}

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
    /* MAC spoofing: a frame from another source MAC never reaches the switch */
    fr[11] ^= 1;
    pl = rndis_build_packet(pkt, sizeof(pkt), fr, 60, NULL);
    t = send_rndis_section(&f, 1, pkt, (uint32_t)pl, NVSP_CHANNEL_TYPE_DATA);
    p = expect_comp(&f, raw, t, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    CHECK_EQ(get32(p + 4), NVSP_STAT_SUCCESS);
    CHECK_EQ(f.n.stats.tx_spoofed, 1);
    CHECK_EQ(f.sent_count, 3);
    ng_free(&f);
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
