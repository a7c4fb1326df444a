#include "core/guest_mem.h"

#include <string.h>

int gmem_add_region(struct guest_mem *m, uint64_t gpa, uint64_t size, void *host)
{
    if (m->count == GMEM_MAX_REGIONS || !size || gpa + size < gpa)
        return -1;
    for (int i = 0; i < m->count; i++) {
        const struct gmem_region *r = &m->regions[i];
        if (gpa < r->gpa + r->size && r->gpa < gpa + size)
            return -1;
    }
    m->regions[m->count++] = (struct gmem_region){ gpa, size, host };
    return 0;
}

void *gmem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
    for (int i = 0; i < m->count; i++) {
        const struct gmem_region *r = &m->regions[i];
        if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
            return r->host + (gpa - r->gpa);
    }
    return NULL;
}

bool gmem_is_ram(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
    return gmem_ptr(m, gpa, len) != NULL;
}

int gmem_read(const struct guest_mem *m, uint64_t gpa, void *dst, size_t len)
{
    const void *p = gmem_ptr(m, gpa, len);
    if (!p)
        return -1;
    memcpy(dst, p, len);
    return 0;
}

int gmem_write(const struct guest_mem *m, uint64_t gpa, const void *src, size_t len)
{
    void *p = gmem_ptr(m, gpa, len);
    if (!p)
        return -1;
    memcpy(p, src, len);
    return 0;
}

uint64_t gmem_total(const struct guest_mem *m)
{
    uint64_t total = 0;
    for (int i = 0; i < m->count; i++)
        total += m->regions[i].size;
    return total;
}
