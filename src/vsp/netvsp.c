/* The synthetic NIC VSP; see netvsp.h and reference 7b for the protocol. */
#include "vsp/netvsp.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/endian.h"
#include "core/log.h"
#include "vsp/netvsp_offload.h"
#include "vsp/nvsp.h"
#include "vsp/rndis.h"

/* netvsc class f8615163-df3e-46c5-913f-f2d2f965ed0e, wire byte order */
static const struct vmbus_guid netvsc_class = { { 0x63, 0x51, 0x61, 0xf8, 0x3e, 0xdf, 0xc5, 0x46,
                                                  0x91, 0x3f, 0xf2, 0xd2, 0xf9, 0x65, 0xed,
                                                  0x0e } };

static struct netvsp *of(struct vmbus_channel *ch)
{
    return vmbus_channel_device_ctx(ch);
}

static void free_recv(struct netvsp *n)
{
    free(n->recv_busy);
    free(n->recv_link);
    n->recv_busy = NULL;
    n->recv_link = NULL;
    n->recv_gpadl = n->recv_subs = n->recv_next = 0;
}

static void reset_buffers(struct netvsp *n)
{
    free_recv(n);
    n->send_gpadl = n->send_sections = 0;
}

/* Offloads need a backend that takes a virtio_net_hdr. VIRIDIAN_NET_OFFLOADS=none
 * offers none, =norsc all but RSC (to measure what each is worth). */
static void offer_offloads(struct netvsp *n)
{
    const char *e = getenv("VIRIDIAN_NET_OFFLOADS");
    bool none = e && !strcmp(e, "none"), norsc = e && !strcmp(e, "norsc");
    n->rndis.offload_capable = n->txv && !none;
    n->rndis.rsc_capable = n->rndis.offload_capable && !norsc;
}

static int nv_open(struct vmbus_channel *ch, const uint8_t *userdata)
{
    struct netvsp *n = of(ch);
    unsigned q = vmbus_channel_subchannel_index(ch);
    if (q) {
        /* a receive queue of the open NIC */
        if (q >= n->queues || !n->ch || n->chans[q])
            return -1;
        n->chans[q] = ch;
        return 0;
    }
    reset_buffers(n);
    n->ch = ch;
    memset(n->chans, 0, sizeof(n->chans));
    n->chans[0] = ch;
    n->version = 0;
    n->rx_busy = false;
    /* a new driver instance starts from the port's MAC; the host's link state and
     * the queues offered stay */
    bool link_up = n->rndis.link_up;
    rndis_dev_init(&n->rndis, n->mac);
    n->rndis.link_up = link_up;
    n->rndis.rss_queues = n->queues;
    offer_offloads(n);
    return 0;
}

static void nv_close(struct vmbus_channel *ch)
{
    struct netvsp *n = of(ch);
    unsigned q = vmbus_channel_subchannel_index(ch);
    if (q) {
        if (q < NETVSP_MAX_QUEUES && n->chans[q] == ch)
            n->chans[q] = NULL;
        return;
    }
    reset_buffers(n);
    n->ch = NULL;
    memset(n->chans, 0, sizeof(n->chans));
    n->version = 0;
    n->rndis.initialized = false;
    n->rndis.packet_filter = 0;
}

/* A completion packet carrying a 40-byte NVSP message, on channel CH. */
static void complete(struct vmbus_channel *ch, uint64_t trans_id, const struct nvsp_message *m)
{
    int ret = vmbus_channel_send(ch, VMBUS_PACKET_COMP, 0, trans_id, m, NVSP_MSG_SIZE);
    if (ret)
        vlog_debug("netvsp: completion %s for %#llx not sent: %d", nvsp_type_name(m->msg_type),
                   (unsigned long long)trans_id, ret);
}

/* Message I of a packet: builds its head at OUT (NETVSP_RECV_SUB_ALLOC bytes) and returns
 * its length (0: it does not fit); the rest of the message, *TAIL_LEN bytes at *TAIL, goes
 * to the guest straight from there (a frame is not copied twice). */
typedef size_t (*msg_builder)(void *ctx, uint32_t i, uint8_t *out, const uint8_t **tail,
                              uint32_t *tail_len);

/* COUNT RNDIS messages to the guest in one transfer-page packet on channel CH, each
 * in a receive sub-allocation of its own (BUILD makes message I). The guest completes
 * the packet once, naming trans_id = its first sub-allocation + 1; recv_link chains the
 * rest. The receive buffer is the primary channel's GPADL, shared by all queues. */
static int to_guest_n(struct netvsp *n, struct vmbus_channel *ch, uint32_t count,
                      msg_builder build, void *ctx, uint32_t channel_type)
{
    if (!n->ch || !n->recv_busy)
        return -ENOTCONN;
    if (count == 0 || count > NETVSP_RSC_MAX_FRAGS)
        return -EMSGSIZE;
    uint32_t sub[NETVSP_RSC_MAX_FRAGS], got = 0;
    for (uint32_t i = 0; i < n->recv_subs && got < count; i++) {
        uint32_t k = (n->recv_next + i) % n->recv_subs;
        if (!n->recv_busy[k])
            sub[got++] = k;
    }
    if (got < count)
        return -EAGAIN;
    const struct vmbus_gpadl *g = vmbus_channel_gpadl(n->ch, n->recv_gpadl);
    if (!g)
        return -EIO;
    struct {
        struct vmbus_xfer_page_hdr h;
        struct vmbus_xfer_page_range r[NETVSP_RSC_MAX_FRAGS];
    } __attribute__((packed)) hdr;
    memset(&hdr.h, 0, sizeof(hdr.h));
    hdr.h.xfer_pageset_id = n->recv_id;
    hdr.h.range_count = count;
    uint8_t msg[NETVSP_RECV_SUB_ALLOC];
    const struct guest_mem *gm = vmbus_channel_gmem(n->ch);
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *tail = NULL;
        uint32_t tail_len = 0;
        size_t head = build(ctx, i, msg, &tail, &tail_len);
        size_t len = head + tail_len;
        uint64_t off = (uint64_t)sub[i] * NETVSP_RECV_SUB_ALLOC;
        if (head == 0 || len > NETVSP_RECV_SUB_ALLOC)
            return -EMSGSIZE;
        if (vmbus_gpadl_write(g, gm, off, msg, head) ||
            (tail_len && vmbus_gpadl_write(g, gm, off + head, tail, tail_len)))
            return -EIO;
        hdr.r[i].byte_count = (uint32_t)len;
        hdr.r[i].byte_offset = (uint32_t)off;
    }
    struct nvsp_message m;
    nvsp_build_rndis_pkt(&m, channel_type);
    int ret = vmbus_channel_send_ext(ch, VMBUS_PACKET_DATA_USING_XFER_PAGES,
                                     VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED, sub[0] + 1u, &hdr,
                                     sizeof(hdr.h) + count * sizeof(hdr.r[0]), &m, NVSP_MSG_SIZE);
    if (ret)
        return ret;
    for (uint32_t i = 0; i < count; i++) {
        n->recv_busy[sub[i]] = i == 0 ? 1 : 2;
        n->recv_link[sub[i]] = i + 1 < count ? sub[i + 1] + 1 : 0;
    }
    n->recv_next = (sub[count - 1] + 1) % n->recv_subs;
    return 0;
}

/* The guest completed the packet whose first sub-allocation is K: release them all. */
static void release_subs(struct netvsp *n, uint32_t k)
{
    for (uint32_t guard = 0; guard < NETVSP_RSC_MAX_FRAGS; guard++) {
        uint32_t next = n->recv_link[k];
        n->recv_busy[k] = 0;
        n->recv_link[k] = 0;
        if (next == 0 || next > n->recv_subs)
            return;
        k = next - 1;
    }
}

struct one_msg {
    const void *msg;
    size_t len;
};

static size_t build_one(void *ctx, uint32_t i, uint8_t *out, const uint8_t **tail,
                        uint32_t *tail_len)
{
    const struct one_msg *o = ctx;
    memcpy(out, o->msg, o->len);
    return o->len;
}

/* One RNDIS message to the guest through a receive sub-allocation, on channel CH. */
static int to_guest(struct netvsp *n, struct vmbus_channel *ch, const void *msg, size_t len,
                    uint32_t channel_type)
{
    if (len > NETVSP_RECV_SUB_ALLOC)
        return -EMSGSIZE;
    struct one_msg o = { msg, len };
    return to_guest_n(n, ch, 1, build_one, &o, channel_type);
}

static void on_init(struct netvsp *n, const struct vmbus_packet *pkt, const struct nvsp_msg *m)
{
    struct nvsp_message r;
    /* Linux offers one version at a time, newest first; accept the newest we know */
    uint32_t v = nvsp_version_supported(m->init.max_ver) ? m->init.max_ver
               : nvsp_version_supported(m->init.min_ver) ? m->init.min_ver : 0;
    if (v) {
        n->version = v;
        nvsp_build_init_complete(&r, NVSP_STAT_SUCCESS, v == NVSP_PROTOCOL_VERSION_1 ? v : 0xFFFFFFFFu);
    } else {
        nvsp_build_init_complete(&r, NVSP_STAT_FAIL, 0xFFFFFFFFu);
    }
    complete(n->ch, pkt->trans_id, &r);
}

static void on_recv_buf(struct netvsp *n, const struct vmbus_packet *pkt, const struct nvsp_msg *m)
{
    struct nvsp_message r;
    const struct vmbus_gpadl *g = vmbus_channel_gpadl(n->ch, m->buf.gpadl);
    uint32_t subs = g ? g->byte_count / NETVSP_RECV_SUB_ALLOC : 0;
    if (!n->version || n->recv_busy || subs == 0) {
        nvsp_build_recv_buf_complete(&r, NVSP_STAT_FAIL, 0, 0);
        complete(n->ch, pkt->trans_id, &r);
        return;
    }
    n->recv_busy = calloc(subs, 1);
    n->recv_link = calloc(subs, sizeof(*n->recv_link));
    if (!n->recv_busy || !n->recv_link) {
        free_recv(n);
        nvsp_build_recv_buf_complete(&r, NVSP_STAT_FAIL, 0, 0);
        complete(n->ch, pkt->trans_id, &r);
        return;
    }
    n->recv_gpadl = m->buf.gpadl;
    n->recv_id = m->buf.id;
    n->recv_subs = subs;
    n->recv_next = 0;
    nvsp_build_recv_buf_complete(&r, NVSP_STAT_SUCCESS, NETVSP_RECV_SUB_ALLOC, subs);
    complete(n->ch, pkt->trans_id, &r);
}

static void on_send_buf(struct netvsp *n, const struct vmbus_packet *pkt, const struct nvsp_msg *m)
{
    struct nvsp_message r;
    const struct vmbus_gpadl *g = vmbus_channel_gpadl(n->ch, m->buf.gpadl);
    uint32_t sections = g ? g->byte_count / NETVSP_SEND_SECTION : 0;
    if (!n->version || n->send_gpadl || sections == 0) {
        nvsp_build_send_buf_complete(&r, NVSP_STAT_FAIL, 0);
    } else {
        n->send_gpadl = m->buf.gpadl;
        n->send_sections = sections;
        nvsp_build_send_buf_complete(&r, NVSP_STAT_SUCCESS, NETVSP_SEND_SECTION);
    }
    complete(n->ch, pkt->trans_id, &r);
}

/* The RNDIS bytes of a SEND_RNDIS_PKT into n->scratch: the send-buffer section's bytes
 * (if it names one), then the GPA-direct ranges (if the packet has them). Linux uses
 * both at once in its "cp_partial" batching: the last message's header sits at the end
 * of the section and its payload in the ranges. Returns the length or -errno. */
static long gather(struct netvsp *n, const struct vmbus_packet *pkt, const struct nvsp_msg *m)
{
    const struct guest_mem *gm = vmbus_channel_gmem(n->ch);
    size_t pos = 0;
    bool any = false;
    if (m->rndis_pkt.section_index != NVSP_NO_SECTION) {
        uint64_t off;
        const struct vmbus_gpadl *g = n->send_gpadl ? vmbus_channel_gpadl(n->ch, n->send_gpadl) : NULL;
        if (!g || nvsp_send_section(m->rndis_pkt.section_index, m->rndis_pkt.section_size,
                                    NETVSP_SEND_SECTION, n->send_sections, &off))
            return -EINVAL;
        if (vmbus_gpadl_read(g, gm, off, n->scratch, m->rndis_pkt.section_size))
            return -EFAULT;
        pos = m->rndis_pkt.section_size;
        any = true;
    }
    if (pkt->type == VMBUS_PACKET_DATA_USING_GPA_DIRECT) {
        struct nvsp_gpa_chunk c[64];
        uint64_t total;
        int cnt = nvsp_gpa_direct_chunks(pkt->raw, pkt->raw_len, c, 64, &total);
        if (cnt < 0 || total > NETVSP_MAX_RNDIS - pos)
            return -EINVAL;
        for (int i = 0; i < cnt; i++) {
            if (gmem_read(gm, c[i].gpa, n->scratch + pos, c[i].len))
                return -EFAULT;
            pos += c[i].len;
        }
        any = true;
    }
    return any ? (long)pos : -EINVAL;
}

int netvsp_tap_tx(void *tap, const void *frame, uint32_t len)
{
    ssize_t n = tap_write_frame(tap, frame, len);
    return n < 0 ? (int)n : 0;
}

int netvsp_tap_txv(void *tap, const struct virtio_net_hdr *vh, const struct iovec *iov, int iovcnt)
{
    ssize_t n = tap_write_frame_v(tap, vh, iov, iovcnt);
    return n < 0 ? (int)n : 0;
}

/* A frame from the guest, under the port's policy, with its offload work, to the
 * backend: its first HEAD_LEN bytes at FRAME (in n->scratch, so ours to fix up), the
 * rest, if any, TAIL (TAIL_CNT pieces of guest memory, which only an offloading backend
 * takes: netvsp_send_direct), LEN bytes in all. */
static void guest_frame(struct netvsp *n, uint8_t *frame, uint32_t head_len,
                        const struct iovec *tail, int tail_cnt, uint32_t len,
                        const struct rndis_pkt_info *info)
{
    if (len < 14 || len > NETVSP_MAX_RNDIS || head_len < 14 || (tail_cnt && !n->txv)) {
        n->stats.tx_dropped++;
        return;
    }
    if (!n->port.allow_mac_spoofing && memcmp(frame + 6, n->mac, 6)) {
        n->stats.tx_spoofed++;
        return;
    }
    /* the guest does not choose its VLAN: a frame it tagged itself is dropped */
    if (n->port.vlan_id && frame[12] == 0x81 && frame[13] == 0x00) {
        n->stats.tx_dropped++;
        return;
    }
    struct virtio_net_hdr vh;
    if (netvsp_tx_offload(frame, &len, info, &vh)) {
        n->stats.tx_dropped++;
        return;
    }
    bool work = vh.flags || vh.gso_type;
    uint8_t tag[4] = { 0x81, 0x00, (uint8_t)(n->port.vlan_id >> 8), (uint8_t)n->port.vlan_id };
    int ret;
    if (n->txv) {
        /* the offload may have trimmed padding: the head, then as much tail as is left */
        uint32_t head = len < head_len ? len : head_len;
        _Static_assert(3 + NETVSP_DIRECT_IOV <= TAP_MAX_IOV, "a direct frame fits the TAP's writev");
        struct iovec iov[3 + NETVSP_DIRECT_IOV] = { { frame, 12 }, { tag, 4 }, { frame + 12, head - 12 } };
        int cnt = 3;
        if (n->port.vlan_id) {
            /* the tag moves the headers: offsets count from the frame's start */
            if (vh.csum_start)
                vh.csum_start = (uint16_t)(vh.csum_start + 4);
            if (vh.hdr_len)
                vh.hdr_len = (uint16_t)(vh.hdr_len + 4);
        } else {
            iov[0].iov_len = head;
            cnt = 1;
        }
        for (uint32_t left = len - head, i = 0; left && i < (uint32_t)tail_cnt; i++) {
            iov[cnt] = tail[i];
            if (iov[cnt].iov_len > left)
                iov[cnt].iov_len = left;
            left -= (uint32_t)iov[cnt++].iov_len;
        }
        ret = n->txv(n->tx_ctx, &vh, iov, cnt);
    } else if (work) {
        ret = -EOPNOTSUPP; /* never offered: a guest that asks anyway loses the frame */
    } else if (n->port.vlan_id) {
        uint8_t *tagged = malloc(len + 4);
        if (!tagged) {
            n->stats.tx_dropped++;
            return;
        }
        memcpy(tagged, frame, 12);
        memcpy(tagged + 12, tag, 4);
        memcpy(tagged + 16, frame + 12, len - 12);
        ret = n->tx ? n->tx(n->tx_ctx, tagged, len + 4) : -ENODEV;
        free(tagged);
    } else {
        ret = n->tx ? n->tx(n->tx_ctx, frame, len) : -ENODEV;
    }
    if (ret) {
        n->stats.tx_dropped++;
        return;
    }
    n->stats.tx_frames++;
    if (work)
        n->stats.tx_offloaded++;
    if (vh.gso_type)
        n->stats.tx_lso++;
}

/* Every RNDIS message in the gathered bytes (from channel CH, which takes the
 * answers): 0, or -EINVAL at the first bad one. */
static int handle_rndis(struct netvsp *n, struct vmbus_channel *ch, size_t len)
{
    size_t pos = 0;
    if (len == 0)
        return -EINVAL;
    while (pos < len) {
        struct rndis_msg r;
        if (rndis_parse(n->scratch + pos, len - pos, &r))
            return -EINVAL;
        if (r.type == RNDIS_MSG_PACKET) {
            /* r.packet.frame points into n->scratch */
            guest_frame(n, n->scratch + (r.packet.frame - n->scratch), r.packet.frame_len, NULL,
                        0, r.packet.frame_len, &r.packet.info);
        } else {
            uint8_t resp[320];
            size_t rl = rndis_dev_control(&n->rndis, &r, resp, sizeof(resp));
            if (rl && to_guest(n, ch, resp, rl, NVSP_CHANNEL_TYPE_CONTROL))
                vlog_debug("netvsp: RNDIS %s reply lost", rndis_type_name(r.type));
        }
        pos += r.len;
    }
    return 0;
}

/* A large frame the guest sends as one RNDIS PACKET over GPA-direct ranges (Linux: an
 * LSO segment, header range + skb pieces): only the first NETVSP_DIRECT_HEAD bytes -
 * the RNDIS header, PPIs and the frame's headers, which the VSP reads and fixes up -
 * are copied; the rest goes to the backend from guest memory (a guest changing it
 * meanwhile changes only its own frame). True when the packet was sent this way; false
 * for any other packet, which gather() then takes. */
static bool send_direct(struct netvsp *n, const struct vmbus_packet *pkt, const struct nvsp_msg *m)
{
    if (!n->txv || pkt->type != VMBUS_PACKET_DATA_USING_GPA_DIRECT ||
        m->rndis_pkt.section_index != NVSP_NO_SECTION)
        return false;
    struct nvsp_gpa_chunk c[NETVSP_DIRECT_IOV];
    uint64_t total;
    int cnt = nvsp_gpa_direct_chunks(pkt->raw, pkt->raw_len, c, NETVSP_DIRECT_IOV, &total);
    const uint32_t H = NETVSP_DIRECT_HEAD;
    if (cnt <= 0 || total <= H + 1024 || total > NETVSP_MAX_RNDIS)
        return false;
    const struct guest_mem *gm = vmbus_channel_gmem(n->ch);
    int ci = 0;
    uint32_t coff = 0;
    for (uint32_t pos = 0; pos < H;) {
        uint32_t take = c[ci].len - coff < H - pos ? c[ci].len - coff : H - pos;
        if (gmem_read(gm, c[ci].gpa + coff, n->scratch + pos, take))
            return false;
        pos += take;
        coff += take;
        if (coff == c[ci].len)
            ci++, coff = 0;
    }
    uint8_t *b = n->scratch;
    uint64_t frame_off = 8 + (uint64_t)get_le32(b + 8), frame_len = get_le32(b + 12);
    /* the frame's headers (Ethernet, a tag, IPv6, TCP with options) in the head */
    if (get_le32(b) != RNDIS_MSG_PACKET || get_le32(b + 4) != total || frame_off + 128 > H ||
        frame_off + frame_len > total || frame_off + frame_len <= H)
        return false;
    /* the parser sees a PACKET of the head alone (its PPIs must lie there) */
    put_le32(b + 4, H);
    put_le32(b + 12, (uint32_t)(H - frame_off));
    struct rndis_msg r;
    if (rndis_parse(b, H, &r) || r.type != RNDIS_MSG_PACKET || r.packet.frame != b + frame_off)
        return false;
    /* offload header offsets the guest gives must point into the head too */
    const struct rndis_pkt_info *info = &r.packet.info;
    uint32_t hdr_off = info->has_lso ? RNDIS_LSO_TCP_HDR_OFFSET(info->lso)
                     : info->has_csum ? RNDIS_CSUM_TX_TCP_HDR_OFFSET(info->csum) : 0;
    if (hdr_off + 60 > H - frame_off)
        return false;
    struct iovec tail[NETVSP_DIRECT_IOV];
    int tn = 0;
    for (uint64_t left = frame_off + frame_len - H; left; ci++, coff = 0) {
        if (ci >= cnt)
            return false;
        uint32_t take = c[ci].len - coff < left ? c[ci].len - coff : (uint32_t)left;
        void *p = gmem_ptr(gm, c[ci].gpa + coff, take);
        if (!p)
            return false;
        tail[tn++] = (struct iovec){ p, take };
        left -= take;
    }
    guest_frame(n, b + frame_off, (uint32_t)(H - frame_off), tail, tn, (uint32_t)frame_len, info);
    return true;
}

static void on_rndis_pkt(struct netvsp *n, struct vmbus_channel *ch, unsigned q,
                         const struct vmbus_packet *pkt, const struct nvsp_msg *m)
{
    int ret = 0;
    if (!send_direct(n, pkt, m)) {
        long len = gather(n, pkt, m);
        ret = len < 0 ? (int)len : handle_rndis(n, ch, (size_t)len);
    }
    if (ret)
        n->stats.bad_packets++;
    n->stats.tx_queue[q]++;
    struct nvsp_message r;
    nvsp_build_rndis_pkt_complete(&r, ret ? NVSP_STAT_INVALID_RNDIS_PKT : NVSP_STAT_SUCCESS);
    complete(ch, pkt->trans_id, &r);
}

/* NVSP 5 SUBCHANNEL ALLOCATE (the guest found several receive queues): offer up to the
 * number asked for, and answer with how many were offered. Linux opens each as its
 * offer arrives and waits, without a timeout, for as many as the answer names. */
static void on_subchannel(struct netvsp *n, const struct vmbus_packet *pkt, const struct nvsp_msg *m)
{
    struct nvsp_message r;
    int offered = -1;
    if (n->version >= NVSP_PROTOCOL_VERSION_5 && m->subchannel.num >= 1 && n->queues > 1) {
        unsigned want = m->subchannel.num < n->queues - 1 ? m->subchannel.num : n->queues - 1;
        offered = vmbus_channel_offer_subchannels(n->ch, want);
    }
    if (offered < 0)
        nvsp_build_subchannel_complete(&r, NVSP_STAT_FAIL, 0);
    else
        nvsp_build_subchannel_complete(&r, NVSP_STAT_SUCCESS, (uint32_t)offered);
    complete(n->ch, pkt->trans_id, &r);
}

static void nv_packet(struct vmbus_channel *ch, const struct vmbus_packet *pkt)
{
    struct netvsp *n = of(ch);
    unsigned q = vmbus_channel_subchannel_index(ch);
    if (!n->ch || q >= NETVSP_MAX_QUEUES) {
        n->stats.bad_packets++; /* a sub-channel outliving its primary: nothing to serve */
        return;
    }
    if (pkt->type == VMBUS_PACKET_COMP) {
        /* the guest is done with the packet in sub-allocation trans_id - 1 (and on) */
        if (n->recv_busy && pkt->trans_id >= 1 && pkt->trans_id <= n->recv_subs &&
            n->recv_busy[pkt->trans_id - 1] == 1)
            release_subs(n, (uint32_t)pkt->trans_id - 1);
        else
            n->stats.bad_packets++;
        return;
    }
    struct nvsp_msg m;
    if (nvsp_parse(pkt->data, pkt->data_len, &m)) {
        n->stats.bad_packets++;
        return;
    }
    if (q && m.type != NVSP_MSG1_SEND_RNDIS_PKT) {
        n->stats.bad_packets++; /* set-up belongs on the primary channel */
        return;
    }
    struct nvsp_message r;
    switch (m.type) {
    case NVSP_MSG_INIT: on_init(n, pkt, &m); break;
    case NVSP_MSG1_SEND_NDIS_VER:
        n->ndis_major = m.ndis_ver.major;
        n->ndis_minor = m.ndis_ver.minor;
        break;
    case NVSP_MSG2_SEND_NDIS_CONFIG:
        n->mtu = m.ndis_config.mtu;
        n->rndis.guest_rsc_cap = (m.ndis_config.capability & NVSP_NDIS_CAP_RSC) != 0;
        break;
    case NVSP_MSG1_SEND_RECV_BUF: on_recv_buf(n, pkt, &m); break;
    case NVSP_MSG1_SEND_SEND_BUF: on_send_buf(n, pkt, &m); break;
    case NVSP_MSG1_REVOKE_RECV_BUF: free_recv(n); break;
    case NVSP_MSG1_REVOKE_SEND_BUF: n->send_gpadl = n->send_sections = 0; break;
    case NVSP_MSG1_SEND_RNDIS_PKT: on_rndis_pkt(n, ch, q, pkt, &m); break;
    case NVSP_MSG5_SUBCHANNEL: on_subchannel(n, pkt, &m); break;
    case NVSP_MSG4_SWITCH_DATA_PATH: /* no VF: the synthetic path is the only one */
        if (pkt->flags & VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED) {
            memset(&r, 0, sizeof(r));
            r.msg_type = NVSP_MSG4_SWITCH_DATA_PATH;
            complete(n->ch, pkt->trans_id, &r);
        }
        break;
    default: n->stats.bad_packets++; break;
    }
}

static bool nv_keep_masked(struct vmbus_channel *ch)
{
    return of(ch)->rx_busy;
}

static int nv_doorbell_fd(struct vmbus_channel *ch)
{
    return of(ch)->signal_fd;
}

void netvsp_init(struct netvsp *n, const char *name, const struct vmbus_guid *instance,
                 const uint8_t mac[6], netvsp_tx_fn tx, void *tx_ctx,
                 const struct netvsp_port *port)
{
    memset(n, 0, sizeof(*n));
    n->desc.name = name;
    n->desc.if_type = netvsc_class;
    n->desc.if_instance = *instance;
    n->desc.max_pkt_size = 16384;
    /* a completion, or an RNDIS answer in a transfer-page packet and a completion */
    n->desc.reply_reserve = 512;
    n->desc.ctx = n;
    n->desc.open = nv_open;
    n->desc.close = nv_close;
    n->desc.on_packet = nv_packet;
    n->desc.keep_masked = nv_keep_masked;
    n->desc.doorbell_fd = nv_doorbell_fd;
    n->signal_fd = -1;
    n->queues = 1;
    n->tx = tx;
    n->tx_ctx = tx_ctx;
    if (tx == netvsp_tap_tx)
        n->txv = netvsp_tap_txv;
    if (port)
        n->port = *port;
    n->scratch = malloc(NETVSP_MAX_RNDIS);
    n->rxbuf = malloc(NETVSP_RX_FRAME_MAX);
    memcpy(n->mac, mac, 6);
    rndis_dev_init(&n->rndis, mac);
    offer_offloads(n);
}

void netvsp_set_queues(struct netvsp *n, unsigned q)
{
    n->queues = q < 1 ? 1 : q > NETVSP_MAX_QUEUES ? NETVSP_MAX_QUEUES : q;
    n->desc.max_subchannels = (uint16_t)(n->queues - 1);
    n->rndis.rss_queues = n->queues;
}

void netvsp_set_txv(struct netvsp *n, netvsp_txv_fn txv)
{
    n->txv = txv;
    offer_offloads(n);
}

void netvsp_free(struct netvsp *n)
{
    reset_buffers(n);
    free(n->scratch);
    free(n->rxbuf);
    n->scratch = n->rxbuf = NULL;
}

/* A large frame as an RSC fragment chain: each fragment one RNDIS PACKET in a
 * sub-allocation of its own, with the checksum result and an RNDIS_PKTINFO_ID. */
struct rsc_chain {
    const uint8_t *frame;
    uint32_t len, per_frag, count;
    struct rndis_pkt_info info;
};

static size_t build_frag(void *ctx, uint32_t i, uint8_t *out, const uint8_t **tail,
                         uint32_t *tail_len)
{
    struct rsc_chain *c = ctx;
    uint32_t off = i * c->per_frag, len = c->len - off < c->per_frag ? c->len - off : c->per_frag;
    if (c->info.has_frag) {
        uint32_t flags = RNDIS_PKTINFO_SUBALLOC | (i == 0 ? RNDIS_PKTINFO_1ST_FRAG : 0) |
                         (i + 1 == c->count ? RNDIS_PKTINFO_LAST_FRAG : 0);
        c->info.frag = (c->info.frag & 0xFFFF00FFu) | flags << 8;
    }
    *tail = c->frame + off;
    *tail_len = len;
    return rndis_build_packet_header(out, NETVSP_RECV_SUB_ALLOC, len, &c->info);
}

/* deliver() under the host lock. */
static int deliver_locked(struct netvsp *n, uint8_t *f, uint32_t len, uint32_t csum_ppi)
{
    if (!n->rndis.initialized || !n->recv_busy)
        return -ENOTCONN;
    if (!rndis_dev_accepts(&n->rndis, f))
        return -EPERM;
    struct rsc_chain c = { .frame = f, .len = len, .per_frag = len, .count = 1 };
    c.info.has_csum = csum_ppi && n->rndis.rx_csum;
    c.info.csum = csum_ppi;
    /* the queue the guest's RSS table names (0 without RSS or if it is not open), and
     * the hash itself for the guest's skb (NBL_HASH_VALUE, as Hyper-V sends with vRSS) */
    uint32_t hash;
    unsigned q = rss_queue(&n->rndis.rss, f, len, &hash);
    if (q >= n->queues || !n->chans[q])
        q = 0;
    c.info.has_hash = hash != 0;
    c.info.hash = hash;
    bool rsc = rndis_packet_size(len, &c.info) > NETVSP_RECV_SUB_ALLOC;
    if (rsc) {
        if (!n->rndis.rsc)
            return -EMSGSIZE;
        c.info.has_frag = true;
        c.info.frag = RNDIS_PKTINFO_ID_V1 | (uint32_t)(n->rsc_id++) << 16;
        c.per_frag = (uint32_t)(NETVSP_RECV_SUB_ALLOC - rndis_packet_size(0, &c.info));
        c.count = (len + c.per_frag - 1) / c.per_frag;
    }
    int ret = to_guest_n(n, n->chans[q], c.count, build_frag, &c, NVSP_CHANNEL_TYPE_DATA);
    if (ret) {
        n->stats.rx_dropped++;
        return ret;
    }
    n->stats.rx_queue[q]++;
    n->stats.rx_frames++;
    n->stats.rx_csum_ok += c.info.has_csum;
    n->stats.rx_rsc += rsc;
    return 0;
}

/* Host -> guest: frame F (writable: an access port's tag is taken out in place) with a
 * receive checksum PPI value (0: none). Frames larger than a sub-allocation go as an
 * RSC chain when the guest takes those. */
static int deliver(struct netvsp *n, uint8_t *f, uint32_t len, uint32_t csum_ppi)
{
    if (len < 14)
        return -EINVAL;
    if (n->port.vlan_id) {
        /* access port: only frames of its VLAN, delivered untagged */
        if (len < 18 || f[12] != 0x81 || f[13] != 0x00 ||
            (((f[14] << 8) | f[15]) & 0xFFF) != n->port.vlan_id)
            return -EPERM;
        memmove(f + 12, f + 16, len - 16);
        len -= 4;
    }
    struct vmbus_channel *ch = n->ch; /* channels live as long as the host */
    if (!ch)
        return -ENOTCONN;
    vmbus_channel_lock(ch);
    int ret = deliver_locked(n, f, len, csum_ppi);
    vmbus_channel_unlock(ch);
    return ret;
}

int netvsp_deliver_frame(struct netvsp *n, const void *frame, uint32_t len)
{
    uint8_t copy[NETVSP_RECV_SUB_ALLOC + 4];
    if (len > sizeof(copy))
        return -EMSGSIZE;
    memcpy(copy, frame, len);
    return deliver(n, copy, len, 0);
}

int netvsp_set_link(struct netvsp *n, bool up)
{
    uint8_t msg[64];
    size_t ml = rndis_dev_link_status(&n->rndis, up, msg, sizeof(msg));
    struct vmbus_channel *ch = n->ch;
    if (!ch)
        return 0;
    vmbus_channel_lock(ch);
    int ret = n->rndis.initialized ? to_guest(n, ch, msg, ml, NVSP_CHANNEL_TYPE_CONTROL) : 0;
    vmbus_channel_unlock(ch);
    return ret;
}

void netvsp_take_signals(struct netvsp *n, int fd)
{
    n->signal_fd = fd;
}

void netvsp_serve_guest(struct netvsp *n, bool rx_busy)
{
    uint64_t count;
    if (n->signal_fd >= 0 && read(n->signal_fd, &count, sizeof(count)) < 0) {
        /* EAGAIN: no signal came; the ring is looked at all the same */
    }
    struct vmbus_channel *ch = n->ch; /* channels live as long as the host */
    if (!ch)
        return;
    vmbus_channel_lock(ch);
    n->rx_busy = rx_busy && n->ch == ch;
    for (unsigned q = 0; q < n->queues; q++)
        if (n->chans[q]) /* re-read: serving one may close the NIC */
            vmbus_channel_poll(n->chans[q]);
    vmbus_channel_unlock(ch);
}

int netvsp_pump_tap(struct netvsp *n, struct tap *t, unsigned max)
{
    unsigned got = 0;
    if (!n->rxbuf)
        return -ENOMEM;
    /* partial checksums are finished in netvsp_rx_offload; large TCP segments only
     * while the guest takes them coalesced */
    bool rsc = n->rndis.rsc;
    unsigned want = TUN_F_CSUM | (rsc ? TUN_F_TSO4 | TUN_F_TSO6 : 0);
    if (n->offload_tap != t || n->tap_offloads != want) {
        if (tap_set_offload(t, want))
            vlog_debug("netvsp: TAP offloads %#x refused on %s", want, t->name);
        n->offload_tap = t;
        n->tap_offloads = want;
    }
    while (got < max) {
        struct virtio_net_hdr vh;
        ssize_t len = tap_read_frame(t, n->rxbuf, NETVSP_RX_FRAME_MAX, &vh);
        if (len == -EAGAIN)
            break;
        if (len < 0)
            return (int)len;
        got++;
        if (len < NETVSP_RX_FRAME_MAX) /* else cut short */
            netvsp_deliver_offloaded(n, n->rxbuf, (uint32_t)len, &vh);
        else
            n->stats.rx_dropped++;
    }
    return (int)got;
}

int netvsp_deliver_offloaded(struct netvsp *n, void *frame, uint32_t len,
                             const struct virtio_net_hdr *vh)
{
    int64_t ppi = netvsp_rx_offload(frame, len, vh, n->rndis.rsc);
    if (ppi < 0) {
        n->stats.rx_dropped++;
        return (int)ppi;
    }
    return deliver(n, frame, len, (uint32_t)ppi);
}
