/* Guest physical memory as the VMM sees it: a list of RAM regions, each mapped into the
 * VMM. This is the one accessor for guest memory: every guest-supplied address and
 * length goes through gmem_ptr()/gmem_read()/gmem_write(), which refuse anything that
 * is not entirely inside one RAM region (wrap-around included). Device models never
 * keep host pointers across a save/restore; they keep guest addresses. */
#ifndef VIRIDIAN_CORE_GUEST_MEM_H
#define VIRIDIAN_CORE_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GMEM_MAX_REGIONS 8
#define GMEM_PAGE_SIZE 4096u

struct gmem_region {
    uint64_t gpa;
    uint64_t size;
    uint8_t *host;
};

struct guest_mem {
    struct gmem_region regions[GMEM_MAX_REGIONS];
    int count;
};

/* Adds a region (no overlap with existing ones); 0 or -1. */
int gmem_add_region(struct guest_mem *m, uint64_t gpa, uint64_t size, void *host);
/* Host pointer for [gpa, gpa+len) if the whole range is RAM in one region, else NULL. */
void *gmem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);
bool gmem_is_ram(const struct guest_mem *m, uint64_t gpa, uint64_t len);
/* Copy in/out; 0, or -1 if any byte is outside RAM (nothing is copied then). */
int gmem_read(const struct guest_mem *m, uint64_t gpa, void *dst, size_t len);
int gmem_write(const struct guest_mem *m, uint64_t gpa, const void *src, size_t len);
/* Total RAM bytes. */
uint64_t gmem_total(const struct guest_mem *m);

#endif
