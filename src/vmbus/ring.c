#include "vmbus/ring.h"

#include <string.h>

struct ring_header {
    uint32_t write_index;
    uint32_t read_index;
    uint32_t interrupt_mask;
    uint32_t pending_send_sz;
    uint32_t reserved1[12];
    uint32_t feature_bits;
};

static struct ring_header *header(const struct vmbus_ring *r)
{
    return gmem_ptr(r->gm, r->hdr_gpa, VMBUS_RING_HEADER_SIZE);
}

static bool index_ok(const struct vmbus_ring *r, uint32_t idx)
{
    return idx < r->data_size && (idx & 7) == 0;
}

static uint32_t load32(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store32(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

int vmbus_ring_init(struct vmbus_ring *r, const struct guest_mem *gm, const uint64_t *pfns,
                    uint32_t npages, bool host_reads)
{
    memset(r, 0, sizeof(*r));
    if (npages < 2 || npages - 1 > (UINT32_MAX / GMEM_PAGE_SIZE) - 1)
        return VMBUS_RING_ECORRUPT;
    for (uint32_t i = 0; i < npages; i++)
        if (pfns[i] >> 52 || !gmem_is_ram(gm, pfns[i] << 12, GMEM_PAGE_SIZE))
            return VMBUS_RING_ECORRUPT;
    r->gm = gm;
    r->hdr_gpa = pfns[0] << 12;
    r->data_pfns = pfns + 1;
    r->data_pages = npages - 1;
    r->data_size = (npages - 1) * GMEM_PAGE_SIZE;
    struct ring_header *h = header(r);
    uint32_t w = load32(&h->write_index), rd = load32(&h->read_index);
    if (!index_ok(r, w) || !index_ok(r, rd))
        return VMBUS_RING_ECORRUPT;
    r->priv_index = host_reads ? rd : w;
    return 0;
}

/* Copy between the ring's data area at byte offset `off` (with wrap) and a buffer. */
static int copy_data(struct vmbus_ring *r, uint32_t off, void *buf, const void *src, uint32_t len)
{
    uint8_t *dst = buf;
    const uint8_t *s = src;
    while (len) {
        uint32_t page = off / GMEM_PAGE_SIZE, in_page = off % GMEM_PAGE_SIZE;
        uint32_t chunk = GMEM_PAGE_SIZE - in_page;
        if (chunk > len)
            chunk = len;
        uint8_t *p = gmem_ptr(r->gm, (r->data_pfns[page] << 12) + in_page, chunk);
        if (!p)
            return -1;
        if (dst) {
            memcpy(dst, p, chunk);
            dst += chunk;
        } else if (s) {
            memcpy(p, s, chunk);
            s += chunk;
        } else {
            memset(p, 0, chunk);
        }
        len -= chunk;
        off += chunk;
        if (off >= r->data_size)
            off -= r->data_size;
    }
    return 0;
}

static uint32_t used_bytes(const struct vmbus_ring *r, uint32_t w, uint32_t rd)
{
    return w >= rd ? w - rd : r->data_size - rd + w;
}

int vmbus_ring_peek(struct vmbus_ring *r, void *buf, uint32_t cap, uint32_t *len)
{
    struct ring_header *h = header(r);
    if (!h)
        return VMBUS_RING_ECORRUPT;
    uint32_t w = load32(&h->write_index);
    if (!index_ok(r, w))
        return VMBUS_RING_ECORRUPT;
    uint32_t avail = used_bytes(r, w, r->priv_index);
    if (avail == 0)
        return VMBUS_RING_EMPTY;
    struct vmbus_packet_desc d;
    if (avail < sizeof(d) + VMBUS_PKT_TRAILER ||
        copy_data(r, r->priv_index, &d, NULL, sizeof(d)) != 0)
        return VMBUS_RING_ECORRUPT;
    uint32_t plen = (uint32_t)d.len8 * 8, poff = (uint32_t)d.offset8 * 8;
    if (plen < sizeof(d) || poff < sizeof(d) || poff > plen || plen + VMBUS_PKT_TRAILER > avail)
        return VMBUS_RING_ECORRUPT;
    if (plen > cap)
        return VMBUS_RING_ETOOBIG;
    if (copy_data(r, r->priv_index, buf, NULL, plen) != 0)
        return VMBUS_RING_ECORRUPT;
    *len = plen;
    return 1;
}

bool vmbus_ring_advance(struct vmbus_ring *r, uint32_t len)
{
    struct ring_header *h = header(r);
    if (!h)
        return false;
    uint32_t old = r->priv_index;
    uint32_t next = old + len + VMBUS_PKT_TRAILER;
    if (next >= r->data_size)
        next -= r->data_size;
    r->priv_index = next;
    store32(&h->read_index, next);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint32_t pending = load32(&h->pending_send_sz);
    if (!pending)
        return false;
    uint32_t w = load32(&h->write_index);
    if (!index_ok(r, w))
        return false;
    uint32_t free_before = r->data_size - used_bytes(r, w, old);
    uint32_t free_after = r->data_size - used_bytes(r, w, next);
    return free_before <= pending && free_after > pending;
}

void vmbus_ring_set_interrupt_mask(struct vmbus_ring *r, bool masked)
{
    struct ring_header *h = header(r);
    if (h) {
        store32(&h->interrupt_mask, masked);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    }
}

bool vmbus_ring_has_data(struct vmbus_ring *r)
{
    struct ring_header *h = header(r);
    if (!h)
        return false;
    uint32_t w = load32(&h->write_index);
    return index_ok(r, w) && w != r->priv_index;
}

uint32_t vmbus_ring_free(struct vmbus_ring *r)
{
    struct ring_header *h = header(r);
    if (!h)
        return 0;
    uint32_t rd = load32(&h->read_index);
    if (!index_ok(r, rd))
        return 0;
    return r->data_size - used_bytes(r, r->priv_index, rd);
}

int vmbus_ring_write(struct vmbus_ring *r, const struct vmbus_ring_seg *segs, int nsegs,
                     bool *signal)
{
    *signal = false;
    struct ring_header *h = header(r);
    if (!h)
        return VMBUS_RING_ECORRUPT;
    uint64_t total = 0;
    for (int i = 0; i < nsegs; i++)
        total += segs[i].len;
    uint64_t padded = (total + 7) & ~7ull;
    uint64_t needed = padded + VMBUS_PKT_TRAILER;
    if (needed >= r->data_size)
        return VMBUS_RING_ETOOBIG; /* could never fit */
    uint32_t rd = load32(&h->read_index);
    if (!index_ok(r, rd))
        return VMBUS_RING_ECORRUPT;
    uint32_t old_w = r->priv_index;
    uint32_t free_bytes = r->data_size - used_bytes(r, old_w, rd);
    if (needed >= free_bytes) /* never fill completely: full would look empty */
        return VMBUS_RING_EFULL;
    uint32_t off = old_w;
    for (int i = 0; i < nsegs; i++) {
        if (segs[i].len && copy_data(r, off, NULL, segs[i].data, segs[i].len) != 0)
            return VMBUS_RING_ECORRUPT;
        off = (uint32_t)(((uint64_t)off + segs[i].len) % r->data_size);
    }
    if (padded > total && copy_data(r, off, NULL, NULL, (uint32_t)(padded - total)) != 0)
        return VMBUS_RING_ECORRUPT;
    off = (uint32_t)(((uint64_t)off + (padded - total)) % r->data_size);
    uint64_t trailer = (uint64_t)old_w << 32;
    if (copy_data(r, off, NULL, &trailer, sizeof(trailer)) != 0)
        return VMBUS_RING_ECORRUPT;
    uint32_t new_w = (uint32_t)(((uint64_t)old_w + needed) % r->data_size);
    r->priv_index = new_w;
    store32(&h->write_index, new_w);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (load32(&h->interrupt_mask))
        return 0;
    *signal = old_w == load32(&h->read_index);
    return 0;
}

void vmbus_ring_set_pending_send(struct vmbus_ring *r, uint32_t bytes)
{
    struct ring_header *h = header(r);
    if (h) {
        store32(&h->pending_send_sz, bytes);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    }
}
