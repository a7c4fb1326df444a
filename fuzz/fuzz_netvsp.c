/* netvsp against a hostile netvsc. A VMBus host with one netvsp (no TAP), its channel
 * open (ring pages 8..15), NVSP v6.1 negotiated and the receive (pages 16..31, 37
 * sub-allocations) and send (pages 32..39, 5 sections) buffers set up, as Linux does
 * at probe. Input: records [1 op][1 len][len bytes]; by op & 7:
 *  0  the bytes as an inband NVSP packet (trans_id op >> 3)
 *  1  a GPA-direct packet: the first bytes are the range header (reserved, count,
 *     ranges...), 8-aligned; a SEND_RNDIS_PKT control message follows (if op & 0x80,
 *     naming send section 0 as well, as Linux's cp_partial batching does)
 *  2  the bytes copied into send section (op >> 3) % 5, then SEND_RNDIS_PKT naming
 *     it with the record's length (or, if op & 0x80, section index op >> 3 raw)
 *  3  the bytes copied to guest page 40 + (op >> 3) % 8 (GPA-direct targets)
 *  4  the guest drains its ring, completing every transfer-page packet
 *  5  a COMP packet with trans_id op >> 3 (often a sub-allocation, sometimes not)
 *  6  host: netvsp_deliver_frame(bytes), or if op & 8 netvsp_deliver_offloaded with
 *     the first 10 bytes as the TAP's virtio_net_hdr; 7: link down/up by op >> 4 & 1
 * The backend takes offloads (a sink that checks the header against the frame), so
 * checksum offload, LSO and RSC are offered and reachable; two receive queues are
 * offered, so RSS parameters and sub-channel requests are too. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_vm.h"
#include "vsp/netvsp.h"
#include "vsp/nvsp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RING_BASE 8u
#define RING_PAGES 8u
#define HALF 4u

/* What netvsp hands the TAP must be consistent: offsets inside the frame. */
static int sink_txv(void *ctx, const struct virtio_net_hdr *vh, const struct iovec *iov, int cnt)
{
    size_t len = 0;
    for (int i = 0; i < cnt; i++)
        len += iov[i].iov_len;
    if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
        if ((size_t)vh->csum_start + vh->csum_offset + 2 > len)
            abort();
    if (vh->gso_type && (vh->hdr_len > len || vh->gso_size == 0))
        abort();
    return 0;
}

static void gpadl(struct fz_vm *vm, uint32_t id, uint32_t first, uint32_t pages)
{
    uint8_t m[240] = { 0 };
    struct vmbus_msg_gpadl_header gh = { .hdr.msgtype = CHANNELMSG_GPADL_HEADER,
                                         .child_relid = 1, .gpadl = id,
                                         .range_buflen = (uint16_t)(8 + 8 * pages),
                                         .rangecount = 1 };
    struct vmbus_gpa_range range = { .byte_count = pages * 4096 };
    memcpy(m, &gh, 20);
    memcpy(m + 20, &range, 8);
    for (uint32_t i = 0; i < pages; i++) {
        uint64_t pfn = first + i;
        memcpy(m + 28 + 8 * i, &pfn, 8);
    }
    fz_post_and_drain(vm, m, 28 + 8 * pages);
}

static uint32_t r32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint8_t *ring_hdr(bool host_to_guest)
{
    return fz_ram + (uint64_t)(RING_BASE + (host_to_guest ? HALF : 0)) * 4096;
}

static void guest_send(struct fz_vm *vm, uint16_t type, uint64_t tid, const uint8_t *hdr,
                       uint32_t hlen, const uint8_t *d, uint32_t len)
{
    uint8_t *h = ring_hdr(false), *ring = h + 4096;
    uint32_t dsz = (HALF - 1) * 4096, w = r32(h), rd = r32(h + 4);
    if (w >= dsz || rd >= dsz)
        return;
    uint32_t off = 16 + hlen, plen = (off + len + 7) & ~7u, used = (w - rd + dsz) % dsz;
    if (dsz - used <= plen + 8)
        return;
    struct vmbus_packet_desc desc = { .type = type, .offset8 = (uint16_t)(off / 8),
                                      .len8 = (uint16_t)(plen / 8), .flags = 1, .trans_id = tid };
    static uint8_t tmp[16 + 512 + 512 + 16];
    memset(tmp, 0, sizeof(tmp));
    memcpy(tmp, &desc, 16);
    if (hlen)
        memcpy(tmp + 16, hdr, hlen);
    memcpy(tmp + off, d, len);
    uint64_t trailer = (uint64_t)w << 32;
    memcpy(tmp + plen, &trailer, 8);
    for (uint32_t i = 0; i < plen + 8; i++)
        ring[(w + i) % dsz] = tmp[i];
    uint32_t nw = (w + plen + 8) % dsz;
    memcpy(h, &nw, 4);
    hv_hypercall(vm->hv, 0, HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST, VMBUS_CONNECTION_ID_BASE + 1, 0);
    fz_drain_slots(vm);
}

static void nvsp(struct fz_vm *vm, uint64_t tid, uint32_t type, uint32_t a, uint32_t b, uint32_t c)
{
    uint8_t m[40] = { 0 };
    memcpy(m, &type, 4);
    memcpy(m + 4, &a, 4);
    memcpy(m + 8, &b, 4);
    memcpy(m + 12, &c, 4);
    guest_send(vm, VMBUS_PACKET_DATA_INBAND, tid, NULL, 0, m, 40);
}

/* Consume host packets, completing transfer-page ones as netvsc does. */
static void drain(struct fz_vm *vm)
{
    for (int i = 0; i < 256; i++) {
        uint8_t *h = ring_hdr(true), *ring = h + 4096;
        uint32_t dsz = (HALF - 1) * 4096, w = r32(h), rd = r32(h + 4);
        if (w == rd || w >= dsz || rd >= dsz)
            return;
        struct vmbus_packet_desc d;
        for (uint32_t k = 0; k < 16; k++)
            ((uint8_t *)&d)[k] = ring[(rd + k) % dsz];
        uint32_t nr = (rd + d.len8 * 8u + 8) % dsz;
        memcpy(h + 4, &nr, 4);
        if (d.type == VMBUS_PACKET_DATA_USING_XFER_PAGES) {
            uint8_t c[8] = { 108, 0, 0, 0, 1, 0, 0, 0 };
            guest_send(vm, VMBUS_PACKET_COMP, d.trans_id, NULL, 0, c, 8);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_vm vm;
    fz_partition_init(&vm);
    static struct netvsp n;
    static const uint8_t mac[6] = { 0, 0x15, 0x5d, 0, 0, 1 };
    struct vmbus_guid inst = { { 9 } };
    netvsp_init(&n, "fz-netvsp", &inst, mac, NULL, NULL, NULL);
    netvsp_set_txv(&n, sink_txv);
    netvsp_set_queues(&n, 2); /* RSS and SUBCHANNEL requests (its offers) are reachable */
    const struct vmbus_device_desc *devs[] = { &n.desc };
    vm.host = vmbus_create(vm.hv, &vm.gm, devs, 1);

    struct vmbus_msg_initiate_contact ictc = { .hdr.msgtype = CHANNELMSG_INITIATE_CONTACT,
                                               .version_requested = VMBUS_VERSION_WIN10_V5_3,
                                               .interrupt_page_or_sint = 2 };
    fz_post_and_drain(&vm, &ictc, sizeof(ictc));
    struct vmbus_msg_header rq = { .msgtype = CHANNELMSG_REQUESTOFFERS };
    fz_post_and_drain(&vm, &rq, sizeof(rq));
    gpadl(&vm, 0x100, RING_BASE, RING_PAGES);
    struct vmbus_msg_open_channel o = { .hdr.msgtype = CHANNELMSG_OPENCHANNEL, .child_relid = 1,
                                        .openid = 1, .ringbuffer_gpadlhandle = 0x100,
                                        .downstream_ringbuffer_pageoffset = HALF };
    fz_post_and_drain(&vm, &o, sizeof(o));
    gpadl(&vm, 0x101, 16, 16);
    gpadl(&vm, 0x102, 32, 8);
    nvsp(&vm, 1, NVSP_MSG_INIT, NVSP_PROTOCOL_VERSION_61, NVSP_PROTOCOL_VERSION_61, 0);
    nvsp(&vm, 2, NVSP_MSG1_SEND_RECV_BUF, 0x101, NVSP_RECV_BUF_ID, 0);
    nvsp(&vm, 3, NVSP_MSG1_SEND_SEND_BUF, 0x102, 0, 0);
    drain(&vm);

    while (size >= 2) {
        uint8_t op = data[0];
        uint32_t len = data[1];
        data += 2;
        size -= 2;
        if (len > size)
            len = (uint32_t)size;
        uint8_t m[40] = { 0 };
        uint32_t t = NVSP_MSG1_SEND_RNDIS_PKT, ctl = 1, nosec = NVSP_NO_SECTION;
        switch (op & 7) {
        case 0:
            guest_send(&vm, VMBUS_PACKET_DATA_INBAND, op >> 3, NULL, 0, data, len);
            break;
        case 1: {
            uint32_t hlen = len & ~7u;
            memcpy(m, &t, 4);
            memcpy(m + 4, &ctl, 4);
            if (op & 0x80) { /* cp_partial: section 0's first 64 bytes, then the ranges */
                uint32_t sec0 = 0, sz = 64;
                memcpy(m + 8, &sec0, 4);
                memcpy(m + 12, &sz, 4);
            } else {
                memcpy(m + 8, &nosec, 4);
            }
            guest_send(&vm, VMBUS_PACKET_DATA_USING_GPA_DIRECT, op >> 3, data, hlen, m, 40);
            break;
        }
        case 2: {
            uint32_t sec = (op >> 3) % 5;
            memcpy(fz_ram + 32 * 4096 + sec * NETVSP_SEND_SECTION, data, len);
            nvsp(&vm, 7, NVSP_MSG1_SEND_RNDIS_PKT, op & 0x40 ? 1 : 0,
                 op & 0x80 ? (uint32_t)(op >> 3) : sec, len);
            break;
        }
        case 3:
            memcpy(fz_ram + (40 + (op >> 3) % 8) * 4096, data, len);
            break;
        case 4:
            drain(&vm);
            break;
        case 5: {
            uint8_t c[8] = { 108, 0, 0, 0, 1, 0, 0, 0 };
            guest_send(&vm, VMBUS_PACKET_COMP, op >> 3, NULL, 0, c, 8);
            break;
        }
        case 6:
            if ((op & 8) && len >= sizeof(struct virtio_net_hdr)) {
                static uint8_t frame[256];
                struct virtio_net_hdr vh;
                memcpy(&vh, data, sizeof(vh));
                memcpy(frame, data + sizeof(vh), len - sizeof(vh));
                netvsp_deliver_offloaded(&n, frame, len - (uint32_t)sizeof(vh), &vh);
            } else {
                netvsp_deliver_frame(&n, data, len);
            }
            break;
        case 7:
            netvsp_set_link(&n, (op >> 4) & 1);
            break;
        }
        data += len;
        size -= len;
    }
    vmbus_destroy(vm.host);
    hv_destroy(vm.hv);
    netvsp_free(&n);
    return 0;
}
