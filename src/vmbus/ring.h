/* One direction of a VMBus channel's ring buffer, seen from the host (reference §6).
 * Layout: a 4 KiB header page (write_index @0, read_index @4, interrupt_mask @8,
 * pending_send_sz @12, feature_bits @64) followed by the data pages. Packets are a
 * 16-byte descriptor + payload padded to 8 bytes + an 8-byte trailer, and may wrap.
 * The ring pages are guest RAM the guest writes concurrently: every index read from the
 * header is validated (< data size, 8-aligned) before use, the host keeps its own index
 * (read index of a ring it consumes, write index of a ring it produces) privately and
 * only publishes it, and all header accesses are atomic. Any violation is reported as
 * VMBUS_RING_ECORRUPT and the caller closes the channel. */
#ifndef VIRIDIAN_VMBUS_RING_H
#define VIRIDIAN_VMBUS_RING_H

#include <stdbool.h>
#include <stdint.h>

#include "core/guest_mem.h"
#include "vmbus/vmbus_proto.h"

#define VMBUS_RING_EMPTY     0
#define VMBUS_RING_ECORRUPT  (-1)
#define VMBUS_RING_ETOOBIG   (-2) /* packet larger than the caller's buffer */
#define VMBUS_RING_EFULL     (-3) /* not enough room (a ring is never filled completely) */

struct vmbus_ring {
    const struct guest_mem *gm;
    uint64_t hdr_gpa;
    const uint64_t *data_pfns; /* PFNs of the data pages (owned by the GPADL) */
    uint32_t data_pages;
    uint32_t data_size;        /* data_pages * 4096 */
    uint32_t priv_index;       /* host's read index (consumer) or write index (producer) */
};

struct vmbus_ring_seg {
    const void *data;
    uint32_t len;
};

/* `pfns[0]` is the header page, the rest the data pages (npages >= 2, all RAM).
 * `host_reads`: the host consumes this ring (guest->host); else it produces it.
 * 0, or VMBUS_RING_ECORRUPT if pages or header indices are invalid. */
int vmbus_ring_init(struct vmbus_ring *r, const struct guest_mem *gm, const uint64_t *pfns,
                    uint32_t npages, bool host_reads);

/* Consumer side. Copies the next packet (descriptor included, trailer excluded) into
 * buf: returns 1 and sets *len, or VMBUS_RING_EMPTY / _ECORRUPT / _ETOOBIG. The packet
 * stays in the ring until vmbus_ring_advance(). */
int vmbus_ring_peek(struct vmbus_ring *r, void *buf, uint32_t cap, uint32_t *len);
/* Consumes the packet of `len` bytes returned by peek. Returns true if the producer must
 * be signalled (its pending_send_sz became satisfied). */
bool vmbus_ring_advance(struct vmbus_ring *r, uint32_t len);
/* Consumer's interrupt mask in this ring's header (1 = do not signal me). */
void vmbus_ring_set_interrupt_mask(struct vmbus_ring *r, bool masked);
/* Consumer side: is there unread data? (false also when the header is corrupt) */
bool vmbus_ring_has_data(struct vmbus_ring *r);

/* Producer side. Writes one packet made of the segments (total padded to 8 by the ring)
 * plus the trailer. Returns 0 and sets *signal when the consumer must be signalled
 * (interrupt_mask clear and the ring was empty before), or VMBUS_RING_EFULL (retry when
 * the consumer made room), VMBUS_RING_ETOOBIG (larger than the ring) or
 * VMBUS_RING_ECORRUPT. */
int vmbus_ring_write(struct vmbus_ring *r, const struct vmbus_ring_seg *segs, int nsegs,
                     bool *signal);
/* Producer side: free bytes (what a packet of n bytes needs: align8(n) + 8 < free). */
uint32_t vmbus_ring_free(struct vmbus_ring *r);
/* Producer's pending_send_sz (0 = not waiting). */
void vmbus_ring_set_pending_send(struct vmbus_ring *r, uint32_t bytes);

#endif
