/* The fake netvsc guest; see netvsp_guest.h. */
#include "netvsp_guest.h"

#include <errno.h>
#include <string.h>

#include "test.h"
#include "vsp/nvsp.h"
#include "vsp/rndis.h"

static uint32_t get32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static void put32(void *p, uint32_t v) { memcpy(p, &v, 4); }

int ng_capture(void *ctx, const void *frame, uint32_t len)
{
    struct ng *f = ctx;
    if (len > sizeof(f->sent))
        return -EMSGSIZE;
    memcpy(f->sent, frame, len);
    f->sent_len = len;
    f->sent_count++;
    return 0;
}


void ng_signal(struct ng *f)
{
    tg_signal(&f->g, VMBUS_CONNECTION_ID_BASE + RELID);
}

/* An NVSP message from the guest (inband, completion requested); returns its trans_id. */
uint64_t send_nvsp(struct ng *f, uint32_t type, uint32_t a, uint32_t b, uint32_t c)
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
int next_pkt(struct ng *f, uint8_t *raw, uint32_t cap, uint64_t *tid, const uint8_t **payload)
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
const uint8_t *expect_comp(struct ng *f, uint8_t *raw, uint64_t tid, uint32_t type)
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
const uint8_t *expect_rndis(struct ng *f, uint32_t channel_type, uint32_t *len)
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
uint64_t send_rndis_gpa(struct ng *f, const void *msg, uint32_t len)
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
uint64_t send_rndis_section(struct ng *f, uint32_t sec, const void *msg, uint32_t len,
                                   uint32_t channel_type)
{
    memcpy(fake_gpa(&f->g.vm, fake_page(SEND_PAGE) + sec * NETVSP_SEND_SECTION), msg, len);
    return send_nvsp(f, NVSP_MSG1_SEND_RNDIS_PKT, channel_type, sec, len);
}

void ng_setup(struct ng *f, const struct netvsp_port *port)
{
    ng_setup_queues(f, port, 1);
}

void ng_setup_queues(struct ng *f, const struct netvsp_port *port, unsigned queues)
{
    memset(f, 0, sizeof(*f));
    struct vmbus_guid inst = { { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 } };
    netvsp_init(&f->n, "netvsp-test", &inst, MAC, ng_capture, f, port);
    netvsp_set_queues(&f->n, queues);
    const struct vmbus_device_desc *devs[] = { &f->n.desc };
    tg_init(&f->g, queues, devs, 1);
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

void ng_free(struct ng *f)
{
    tg_free(&f->g);
    netvsp_free(&f->n);
}

/* netvsc_connect_vsp + rndis_filter_init_device up to RNDIS INIT_C. */
void ng_probe(struct ng *f)
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
uint32_t oid(struct ng *f, uint32_t type, uint32_t req, uint32_t oidv, const void *info,
                    uint32_t ilen, uint8_t *reply)
{
    uint8_t b[256] = { 0 };
    if (ilen > sizeof(b) - 28)
        return 0xFFFFFFFF;
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
