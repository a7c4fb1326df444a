#include "vmbus/gpadl.h"

#include <stdlib.h>
#include <string.h>

#include "vmbus/vmbus_proto.h"

static bool pfn_ok(const struct guest_mem *gm, uint64_t pfn)
{
    return !(pfn >> 52) && gmem_is_ram(gm, pfn << 12, GMEM_PAGE_SIZE);
}

/* Appends n PFNs from p (unaligned message bytes). */
static void add_pfns(struct vmbus_gpadl *g, const struct guest_mem *gm, const uint8_t *p,
                     uint32_t n)
{
    if (n > g->npages - g->filled) {
        g->failed = true;
        g->filled = g->npages; /* no more bodies expected */
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint64_t pfn;
        memcpy(&pfn, p + 8 * i, 8);
        if (!g->failed && !pfn_ok(gm, pfn))
            g->failed = true;
        if (!g->failed)
            g->pfns[g->filled] = pfn;
        g->filled++;
    }
    if (g->failed) {
        free(g->pfns);
        g->pfns = NULL;
    }
}

struct vmbus_gpadl *vmbus_gpadl_from_header(const struct guest_mem *gm, const void *msg,
                                            uint32_t len, uint64_t pages_budget)
{
    struct vmbus_gpadl *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    struct vmbus_msg_gpadl_header h;
    struct vmbus_gpa_range range;
    const uint8_t *m = msg;
    g->failed = true;
    if (len < sizeof(h))
        return g;
    memcpy(&h, m, sizeof(h));
    g->id = h.gpadl;
    g->relid = h.child_relid;
    if (len < sizeof(h) + sizeof(range) || (len - sizeof(h) - sizeof(range)) % 8)
        return g;
    memcpy(&range, m + sizeof(h), sizeof(range));
    if (h.rangecount != 1 || range.byte_count == 0 || range.byte_offset >= GMEM_PAGE_SIZE)
        return g;
    uint64_t npages = ((uint64_t)range.byte_offset + range.byte_count + GMEM_PAGE_SIZE - 1) /
                      GMEM_PAGE_SIZE;
    /* range_buflen is a u16 in the protocol; Linux lets it wrap for large GPADLs. */
    if (h.range_buflen != (uint16_t)(sizeof(range) + 8 * npages))
        return g;
    uint32_t in_header = (len - sizeof(h) - sizeof(range)) / 8;
    g->npages = (uint32_t)(npages > UINT32_MAX ? UINT32_MAX : npages);
    if (npages > VMBUS_GPADL_MAX_PAGES || npages > pages_budget || in_header > npages) {
        /* Too big to keep: absorb the bodies that will follow, then fail. */
        g->filled = in_header > npages ? g->npages : in_header;
        return g;
    }
    g->pfns = malloc(npages * sizeof(uint64_t));
    if (!g->pfns) {
        free(g);
        return NULL;
    }
    g->failed = false;
    g->byte_count = range.byte_count;
    g->byte_offset = range.byte_offset;
    add_pfns(g, gm, m + sizeof(h) + sizeof(range), in_header);
    return g;
}

void vmbus_gpadl_add_body(struct vmbus_gpadl *g, const struct guest_mem *gm, const void *msg,
                          uint32_t len)
{
    if (len < sizeof(struct vmbus_msg_gpadl_body) ||
        (len - sizeof(struct vmbus_msg_gpadl_body)) % 8) {
        g->failed = true;
        g->filled = g->npages;
        free(g->pfns);
        g->pfns = NULL;
        return;
    }
    uint32_t n = (len - sizeof(struct vmbus_msg_gpadl_body)) / 8;
    add_pfns(g, gm, (const uint8_t *)msg + sizeof(struct vmbus_msg_gpadl_body), n);
}

void vmbus_gpadl_free(struct vmbus_gpadl *g)
{
    if (g) {
        free(g->pfns);
        free(g);
    }
}

static int gpadl_copy(const struct vmbus_gpadl *g, const struct guest_mem *gm, uint64_t off,
                      void *dst, const void *src, size_t len)
{
    if (g->failed || !g->pfns || !vmbus_gpadl_complete(g) || off > g->byte_count ||
        len > g->byte_count - off)
        return -1;
    uint64_t pos = off + g->byte_offset;
    uint8_t *d = dst;
    const uint8_t *s = src;
    while (len) {
        uint64_t page = pos / GMEM_PAGE_SIZE, in_page = pos % GMEM_PAGE_SIZE;
        size_t chunk = GMEM_PAGE_SIZE - in_page;
        if (chunk > len)
            chunk = len;
        uint8_t *p = gmem_ptr(gm, (g->pfns[page] << 12) + in_page, chunk);
        if (!p)
            return -1;
        if (d) {
            memcpy(d, p, chunk);
            d += chunk;
        } else {
            memcpy(p, s, chunk);
            s += chunk;
        }
        pos += chunk;
        len -= chunk;
    }
    return 0;
}

int vmbus_gpadl_read(const struct vmbus_gpadl *g, const struct guest_mem *gm, uint64_t off,
                     void *dst, size_t len)
{
    return gpadl_copy(g, gm, off, dst, NULL, len);
}

int vmbus_gpadl_write(const struct vmbus_gpadl *g, const struct guest_mem *gm, uint64_t off,
                      const void *src, size_t len)
{
    return gpadl_copy(g, gm, off, NULL, src, len);
}
