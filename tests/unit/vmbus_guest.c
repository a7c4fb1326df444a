#include "vmbus_guest.h"

#include <string.h>

#include "test.h"

void tg_init(struct tguest *g, uint32_t nr_vcpus, const struct vmbus_device_desc *const *devs,
             unsigned ndevs)
{
    memset(g, 0, sizeof(*g));
    fake_vm_init(&g->vm, nr_vcpus, 1);
    g->host = vmbus_create(g->vm.hv, &g->vm.gm, devs, ndevs);
    g->conn_id = 4;
}

void tg_free(struct tguest *g)
{
    vmbus_destroy(g->host);
    fake_vm_free(&g->vm);
}

uint64_t tg_post(struct tguest *g, const void *msg, uint32_t len)
{
    return fake_post_message(&g->vm, 0, g->conn_id, msg, len);
}

uint32_t tg_recv(struct tguest *g, void *buf, uint32_t *len)
{
    uint8_t tmp[240];
    uint32_t l = 0;
    if (!fake_take_message(&g->vm, 0, tmp, &l))
        return 0;
    if (buf)
        memcpy(buf, tmp, l);
    if (len)
        *len = l;
    uint32_t t;
    memcpy(&t, tmp, 4);
    return t;
}

int tg_connect(struct tguest *g, uint32_t version)
{
    struct vmbus_msg_initiate_contact ic = { .hdr.msgtype = CHANNELMSG_INITIATE_CONTACT,
                                             .version_requested = version,
                                             .interrupt_page_or_sint = 2,
                                             .monitor_page1 = fake_page(90),
                                             .monitor_page2 = fake_page(91) };
    g->conn_id = version >= VMBUS_VERSION_WIN10_V5 ? 4 : 1;
    CHECK_EQ(tg_post(g, &ic, sizeof(ic)), 0);
    struct vmbus_msg_version_response r;
    uint32_t len = 0;
    if (tg_recv(g, &r, &len) != CHANNELMSG_VERSION_RESPONSE || len < sizeof(r))
        return -1;
    if (r.version_supported && version >= VMBUS_VERSION_WIN10_V5)
        g->conn_id = r.msg_conn_id;
    return r.version_supported;
}

int64_t tg_gpadl(struct tguest *g, uint32_t relid, uint32_t id, uint32_t first_page,
                 uint32_t npages)
{
    uint8_t m[240];
    memset(m, 0, sizeof(m));
    struct vmbus_msg_gpadl_header h = { .hdr.msgtype = CHANNELMSG_GPADL_HEADER,
                                        .child_relid = relid, .gpadl = id,
                                        .range_buflen = (uint16_t)(8 + 8 * npages),
                                        .rangecount = 1 };
    struct vmbus_gpa_range range = { .byte_count = npages * 4096, .byte_offset = 0 };
    memcpy(m, &h, sizeof(h));
    memcpy(m + 20, &range, 8);
    uint32_t n = npages < 26 ? npages : 26, done = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t pfn = fake_page(first_page + i) >> 12;
        memcpy(m + 28 + 8 * i, &pfn, 8);
    }
    CHECK_EQ(tg_post(g, m, 28 + 8 * n), 0);
    done = n;
    while (done < npages) {
        struct vmbus_msg_gpadl_body b = { .hdr.msgtype = CHANNELMSG_GPADL_BODY, .gpadl = id };
        memcpy(m, &b, sizeof(b));
        n = npages - done < 28 ? npages - done : 28;
        for (uint32_t i = 0; i < n; i++) {
            uint64_t pfn = fake_page(first_page + done + i) >> 12;
            memcpy(m + 16 + 8 * i, &pfn, 8);
        }
        CHECK_EQ(tg_post(g, m, 16 + 8 * n), 0);
        done += n;
    }
    struct vmbus_msg_gpadl_created c;
    if (tg_recv(g, &c, NULL) != CHANNELMSG_GPADL_CREATED)
        return -1;
    CHECK_EQ(c.gpadl, id);
    CHECK_EQ(c.child_relid, relid);
    return c.creation_status;
}

int64_t tg_open(struct tguest *g, uint32_t relid, uint32_t gpadl, uint32_t downstream,
                uint32_t target_vp)
{
    struct vmbus_msg_open_channel o = { .hdr.msgtype = CHANNELMSG_OPENCHANNEL,
                                        .child_relid = relid, .openid = relid,
                                        .ringbuffer_gpadlhandle = gpadl, .target_vp = target_vp,
                                        .downstream_ringbuffer_pageoffset = downstream };
    CHECK_EQ(tg_post(g, &o, sizeof(o)), 0);
    struct vmbus_msg_open_result r;
    if (tg_recv(g, &r, NULL) != CHANNELMSG_OPENCHANNEL_RESULT)
        return -1;
    CHECK_EQ(r.child_relid, relid);
    CHECK_EQ(r.openid, relid);
    return r.status;
}

void tg_ring(struct tguest *g, struct guest_ring *r, uint32_t first_page, uint32_t npages)
{
    r->hdr = fake_gpa(&g->vm, fake_page(first_page));
    r->data = r->hdr + 4096;
    r->size = (npages - 1) * 4096;
}

uint32_t *tg_ring_field(struct guest_ring *r, unsigned off)
{
    return (uint32_t *)(r->hdr + off);
}

static void ring_copy_in(struct guest_ring *r, uint32_t off, const void *src, uint32_t len)
{
    const uint8_t *s = src;
    for (uint32_t i = 0; i < len; i++)
        r->data[(off + i) % r->size] = s ? s[i] : 0;
}

static void ring_copy_out(struct guest_ring *r, uint32_t off, void *dst, uint32_t len)
{
    uint8_t *d = dst;
    for (uint32_t i = 0; i < len; i++)
        d[i] = r->data[(off + i) % r->size];
}

int tg_ring_write(struct guest_ring *r, uint16_t type, uint64_t trans_id, const void *data,
                  uint32_t len)
{
    return tg_ring_write_ext(r, type, trans_id, NULL, 0, data, len);
}

int tg_ring_write_ext(struct guest_ring *r, uint16_t type, uint64_t trans_id, const void *hdr,
                      uint32_t hdr_len, const void *data, uint32_t len)
{
    uint32_t w = *tg_ring_field(r, 0), rd = *tg_ring_field(r, 4);
    uint32_t off = 16 + hdr_len;
    uint32_t pktlen = (off + len + 7) & ~7u, total = pktlen + 8;
    uint32_t used = w >= rd ? w - rd : r->size - rd + w;
    if (r->size - used <= total)
        return -1;
    struct vmbus_packet_desc d = { .type = type, .offset8 = (uint16_t)(off / 8),
                                   .len8 = (uint16_t)(pktlen / 8), .flags = 1,
                                   .trans_id = trans_id };
    ring_copy_in(r, w, &d, 16);
    if (hdr_len)
        ring_copy_in(r, w + 16, hdr, hdr_len);
    ring_copy_in(r, w + off, data, len);
    ring_copy_in(r, w + off + len, NULL, pktlen - off - len);
    uint64_t trailer = (uint64_t)w << 32;
    ring_copy_in(r, w + pktlen, &trailer, 8);
    *tg_ring_field(r, 0) = (w + total) % r->size;
    return !*tg_ring_field(r, 8) && w == rd;
}

int tg_ring_read_raw(struct guest_ring *r, void *buf, uint32_t cap)
{
    uint32_t w = *tg_ring_field(r, 0), rd = *tg_ring_field(r, 4);
    if (w == rd)
        return -1;
    struct vmbus_packet_desc d;
    ring_copy_out(r, rd, &d, 16);
    uint32_t plen = d.len8 * 8u;
    uint32_t n = plen < cap ? plen : cap;
    ring_copy_out(r, rd, buf, n);
    *tg_ring_field(r, 4) = (rd + plen + 8) % r->size;
    return (int)plen;
}

int tg_ring_read(struct guest_ring *r, uint16_t *type, uint64_t *trans_id, void *buf,
                 uint32_t cap)
{
    uint32_t w = *tg_ring_field(r, 0), rd = *tg_ring_field(r, 4);
    if (w == rd)
        return -1;
    struct vmbus_packet_desc d;
    ring_copy_out(r, rd, &d, 16);
    uint32_t plen = d.len8 * 8u, off = d.offset8 * 8u;
    CHECK(off >= 16 && off <= plen);
    uint32_t n = plen - off < cap ? plen - off : cap;
    ring_copy_out(r, rd + off, buf, n);
    uint64_t trailer;
    ring_copy_out(r, rd + plen, &trailer, 8);
    CHECK_EQ(trailer >> 32, rd);
    *tg_ring_field(r, 4) = (rd + plen + 8) % r->size;
    if (type)
        *type = d.type;
    if (trans_id)
        *trans_id = d.trans_id;
    return (int)(plen - off);
}

uint64_t tg_signal(struct tguest *g, uint32_t conn)
{
    return hv_hypercall(g->vm.hv, 0, HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST, conn, 0);
}
