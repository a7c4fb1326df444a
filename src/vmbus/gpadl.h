/* GPADLs (guest physical address descriptor lists): buffers the guest shares with the
 * host, described by GPADL_HEADER + GPADL_BODY messages (reference §5.5). Linux always
 * sends one range starting at byte offset 0; one range with any offset is accepted.
 * Every PFN is checked to be guest RAM as it arrives; page counts are bounded. A GPADL
 * that fails validation still absorbs its body messages so that exactly one
 * GPADL_CREATED (with a failure status) answers it. */
#ifndef VIRIDIAN_VMBUS_GPADL_H
#define VIRIDIAN_VMBUS_GPADL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/guest_mem.h"

#define VMBUS_GPADL_MAX_PAGES   65536u     /* 256 MiB per GPADL (netvsc needs 4096) */
#define VMBUS_GPADL_MAX_COUNT   1024u      /* GPADLs per partition */
#define VMBUS_GPADL_TOTAL_PAGES (1u << 20) /* all GPADLs together: 4 GiB */

struct vmbus_gpadl {
    uint32_t id;
    uint32_t relid;
    uint32_t byte_count;  /* buffer size */
    uint32_t byte_offset; /* offset of the buffer in the first page */
    uint32_t npages;      /* PFNs expected */
    uint32_t filled;      /* PFNs received so far */
    uint64_t *pfns;       /* NULL when failed */
    bool failed;
    uint32_t ring_users;  /* open channels using it as their ring */
};

static inline bool vmbus_gpadl_complete(const struct vmbus_gpadl *g)
{
    return g->filled == g->npages;
}

/* Starts a GPADL from a GPADL_HEADER payload (msg/len = the whole channel message).
 * Returns NULL only on allocation failure; a malformed header yields a `failed` GPADL
 * whose npages is whatever bodies are still expected (0 if the header is unusable). */
struct vmbus_gpadl *vmbus_gpadl_from_header(const struct guest_mem *gm, const void *msg,
                                            uint32_t len, uint64_t pages_budget);
/* Adds a GPADL_BODY's PFNs; marks the GPADL failed on any inconsistency. */
void vmbus_gpadl_add_body(struct vmbus_gpadl *g, const struct guest_mem *gm, const void *msg,
                          uint32_t len);
void vmbus_gpadl_free(struct vmbus_gpadl *g);

/* Copy to/from the GPADL's buffer at byte offset `off` (page by page through gmem).
 * 0, or -1 if out of range, incomplete/failed, or not RAM. */
int vmbus_gpadl_read(const struct vmbus_gpadl *g, const struct guest_mem *gm, uint64_t off,
                     void *dst, size_t len);
int vmbus_gpadl_write(const struct vmbus_gpadl *g, const struct guest_mem *gm, uint64_t off,
                      const void *src, size_t len);

#endif
