/* IC messages of every type arriving from the guest at the host, plus the host-side API
 * interleaved. A VMBus host with the four production IC devices, attached IC state and
 * all four channels opened (8-page GPADLs, pages 8..39). Input: records
 * [1 op][1 len][len bytes]; op & 3 = channel (enum ic_kind), (op >> 2) & 3 = action:
 *  0  the bytes as a guest->host packet (type COMP if op & 0x10), trans_id = the last
 *     host request's on that channel (+ op >> 5, so mostly matching);
 *  1  a Linux-like answer to the next host request on that channel, then the bytes
 *     applied as (offset, value) patches before it is sent;
 *  2  host side: ic_tick after advancing the clock by bytes[0] * 100 ms, or (by
 *     bytes[1]) a shutdown / KVP request / cancel / timesync / status call;
 *  3  the guest closes and reopens that channel. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_vm.h"
#include "vsp/ic.h"
#include "vsp/ic_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RING_BASE 8u
#define RING_PAGES 8u
#define HALF (RING_PAGES / 2)

static const struct vmbus_device_desc *const ic_devs[IC_KIND_COUNT] = {
    [IC_SHUTDOWN] = &ic_shutdown_desc, [IC_HEARTBEAT] = &ic_heartbeat_desc,
    [IC_TIMESYNC] = &ic_timesync_desc, [IC_KVP] = &ic_kvp_desc,
};

static uint64_t clock_ms;
static uint64_t last_tid[IC_KIND_COUNT];

static uint64_t fz_ms(void *ctx)
{
    return clock_ms;
}

static uint8_t *ring_hdr(unsigned k, bool host_to_guest)
{
    return fz_ram + (uint64_t)(RING_BASE + k * RING_PAGES + (host_to_guest ? HALF : 0)) * 4096;
}

static void open_chan(struct fz_vm *vm, unsigned k)
{
    memset(ring_hdr(k, false), 0, RING_PAGES * 4096);
    struct vmbus_msg_open_channel o = { .hdr.msgtype = CHANNELMSG_OPENCHANNEL,
                                        .child_relid = k + 1, .openid = k + 1,
                                        .ringbuffer_gpadlhandle = 0x100 + k,
                                        .downstream_ringbuffer_pageoffset = HALF };
    fz_post_and_drain(vm, &o, sizeof(o));
}

static uint32_t r32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Guest writes one packet into its guest->host ring (Linux framing) and signals. */
static void guest_send(struct fz_vm *vm, unsigned k, uint16_t type, uint64_t tid,
                       const uint8_t *d, uint32_t len)
{
    uint8_t *h = ring_hdr(k, false), *ring = h + 4096;
    uint32_t dsz = (HALF - 1) * 4096, w = r32(h), rd = r32(h + 4);
    if (w >= dsz || rd >= dsz)
        return;
    uint32_t plen = (16 + len + 7) & ~7u, used = (w - rd + dsz) % dsz;
    if (dsz - used <= plen + 8)
        return;
    struct vmbus_packet_desc desc = { .type = type, .offset8 = 2, .len8 = (uint16_t)(plen / 8),
                                      .trans_id = tid };
    uint8_t tmp[16 + 16384 + 16] = { 0 };
    memcpy(tmp, &desc, 16);
    memcpy(tmp + 16, d, len);
    uint64_t trailer = (uint64_t)w << 32;
    memcpy(tmp + plen, &trailer, 8);
    for (uint32_t i = 0; i < plen + 8; i++)
        ring[(w + i) % dsz] = tmp[i];
    uint32_t nw = (w + plen + 8) % dsz;
    memcpy(h, &nw, 4);
    hv_hypercall(vm->hv, 0, HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST,
                 VMBUS_CONNECTION_ID_BASE + k + 1, 0);
    fz_drain_slots(vm);
}

/* Guest reads the next host->guest packet: payload length, or -1. */
static int guest_recv(unsigned k, uint64_t *tid, uint8_t *buf, uint32_t cap)
{
    uint8_t *h = ring_hdr(k, true), *ring = h + 4096;
    uint32_t dsz = (HALF - 1) * 4096, w = r32(h), rd = r32(h + 4);
    if (w == rd || w >= dsz || rd >= dsz)
        return -1;
    struct vmbus_packet_desc d;
    for (uint32_t i = 0; i < 16; i++)
        ((uint8_t *)&d)[i] = ring[(rd + i) % dsz];
    uint32_t plen = d.len8 * 8u, off = d.offset8 * 8u;
    if (off < 16 || off > plen || plen - off > cap)
        return -1;
    for (uint32_t i = 0; i < plen - off; i++)
        buf[i] = ring[(rd + off + i) % dsz];
    uint32_t nr = (rd + plen + 8) % dsz;
    memcpy(h + 4, &nr, 4);
    *tid = d.trans_id;
    return (int)(plen - off);
}

/* Roughly what hv_utils answers (good enough to get past negotiation). */
static void linux_answer(uint8_t *b, uint32_t len)
{
    if (len < IC_HDR_SIZE)
        return;
    if (b[12] == IC_MSG_NEGOTIATE && len >= IC_HDR_SIZE + 16) {
        uint16_t fwc, v[4];
        memcpy(&fwc, b + IC_HDR_SIZE, 2);
        uint16_t one = 1;
        memcpy(b + IC_HDR_SIZE, &one, 2);
        memcpy(b + IC_HDR_SIZE + 2, &one, 2);
        v[0] = 3, v[1] = 0;
        if (fwc < 100 && IC_HDR_SIZE + 8 + 4u * (fwc + 1) <= len)
            memcpy(&v[2], b + IC_HDR_SIZE + 8 + 4 * fwc, 4);
        else
            v[2] = 3, v[3] = 0;
        memcpy(b + IC_HDR_SIZE + 8, v, 8);
    } else if (b[12] == IC_MSG_HEARTBEAT && len >= IC_HDR_SIZE + 8) {
        uint64_t s;
        memcpy(&s, b + IC_HDR_SIZE, 8);
        s++;
        memcpy(b + IC_HDR_SIZE, &s, 8);
    }
    b[25] = IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE;
}

static void host_call(struct ic *ic, const uint8_t *d, uint32_t len)
{
    uint8_t sel = len > 1 ? d[1] : 0;
    static int64_t last_id;
    int64_t id = 0;
    switch (sel % 8) {
    case 0:
    case 1:
        clock_ms += (uint64_t)(len ? d[0] : 10) * 100;
        ic_tick(ic);
        break;
    case 2:
        id = ic_shutdown_request(ic, len > 2 ? d[2] & 7 : 0, "fuzz", NULL, NULL);
        break;
    case 3: {
        static const char *const macs[] = { "00:15:5D:0A:0B:0C", "" };
        struct ic_kvp_request rq = {
            .op = (enum ic_kvp_op)(len > 2 ? d[2] % 6 : 3),
            .pool = (uint8_t)(len > 3 ? d[3] % 6 : 2),
            .index = len > 4 ? d[4] : 0,
            .key = len > 5 && (d[5] & 1) ? "key" : "",
            .value = "value",
            .mac = macs[len > 5 ? (d[5] >> 1) & 1 : 0],
        };
        id = ic_kvp_request(ic, &rq, NULL, NULL);
        break;
    }
    case 4:
        ic_cancel(ic, last_id);
        break;
    case 5:
        ic_timesync_sync(ic);
        break;
    default: {
        struct ic_status st;
        ic_get_status(ic, &st);
        break;
    }
    }
    if (id > 0)
        last_id = id;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_vm vm;
    fz_partition_init(&vm);
    memset(last_tid, 0, sizeof(last_tid));
    clock_ms = 1000;
    vm.host = vmbus_create(vm.hv, &vm.gm, ic_devs, IC_KIND_COUNT);
    struct ic_config icfg = { .hv = vm.hv, .monotonic_ms = fz_ms };
    struct ic *ic = ic_attach(vm.host, &icfg);

    struct vmbus_msg_initiate_contact ictc = { .hdr.msgtype = CHANNELMSG_INITIATE_CONTACT,
                                               .version_requested = VMBUS_VERSION_WIN10_V5_3,
                                               .interrupt_page_or_sint = 2 };
    fz_post_and_drain(&vm, &ictc, sizeof(ictc));
    struct vmbus_msg_header rq = { .msgtype = CHANNELMSG_REQUESTOFFERS };
    fz_post_and_drain(&vm, &rq, sizeof(rq));
    for (unsigned k = 0; k < IC_KIND_COUNT; k++) {
        uint8_t m[20 + 8 + 8 * RING_PAGES];
        struct vmbus_msg_gpadl_header gh = { .hdr.msgtype = CHANNELMSG_GPADL_HEADER,
                                             .child_relid = k + 1, .gpadl = 0x100 + k,
                                             .range_buflen = 8 + 8 * RING_PAGES,
                                             .rangecount = 1 };
        struct vmbus_gpa_range range = { .byte_count = RING_PAGES * 4096 };
        memcpy(m, &gh, 20);
        memcpy(m + 20, &range, 8);
        for (uint32_t i = 0; i < RING_PAGES; i++) {
            uint64_t pfn = RING_BASE + k * RING_PAGES + i;
            memcpy(m + 28 + 8 * i, &pfn, 8);
        }
        fz_post_and_drain(&vm, m, sizeof(m));
        open_chan(&vm, k);
    }
    ic_tick(ic); /* NEGOTIATE on every channel */

    static uint8_t buf[16384];
    while (size >= 2) {
        uint8_t op = data[0];
        uint32_t len = data[1];
        data += 2;
        size -= 2;
        if (len > size)
            len = (uint32_t)size;
        unsigned k = op & 3;
        uint64_t tid;
        int n;
        switch ((op >> 2) & 3) {
        case 0:
            guest_send(&vm, k, op & 0x10 ? VMBUS_PACKET_COMP : VMBUS_PACKET_DATA_INBAND,
                       last_tid[k] + (op >> 5), data, len);
            break;
        case 1:
            n = guest_recv(k, &tid, buf, sizeof(buf));
            if (n < 0)
                break;
            last_tid[k] = tid;
            linux_answer(buf, (uint32_t)n);
            for (uint32_t i = 0; i + 2 < len; i += 3) {
                uint32_t off = (uint32_t)(data[i] | data[i + 1] << 8) % (uint32_t)n;
                buf[off] = data[i + 2];
            }
            guest_send(&vm, k, VMBUS_PACKET_DATA_INBAND, tid, buf, (uint32_t)n);
            break;
        case 2:
            host_call(ic, data, len);
            break;
        case 3: {
            struct vmbus_msg_relid c = { .hdr.msgtype = CHANNELMSG_CLOSECHANNEL,
                                         .child_relid = k + 1 };
            fz_post_and_drain(&vm, &c, sizeof(c));
            open_chan(&vm, k);
            break;
        }
        }
        data += len;
        size -= len;
    }
    ic_detach(ic);
    vmbus_destroy(vm.host);
    hv_destroy(vm.hv);
    return 0;
}
