/* The page ranges of a GPA-direct VMBus packet (type 0x9), for every VSP that takes
 * guest buffers this way (storvsp's SRB data, netvsp's RNDIS packets). */
#ifndef VIRIDIAN_VMBUS_GPA_DIRECT_H
#define VIRIDIAN_VMBUS_GPA_DIRECT_H

#include <stddef.h>
#include <stdint.h>

/* One piece of guest memory named by a GPA-direct packet, never crossing a page. */
struct vmbus_gpa_chunk {
    uint64_t gpa;
    uint32_t len;
};

/* The page ranges of a VMBUS_PACKET_DATA_USING_GPA_DIRECT packet (RAW from the
 * descriptor on, RAW_LEN bytes; the ranges end where the descriptor's offset8 says the
 * payload starts), in order, split at page boundaries into at most MAX chunks. Returns
 * the number of chunks, *total gets the byte sum; -EINVAL for a malformed header or
 * range (an empty one included), -E2BIG for more than MAX chunks. Addresses are not
 * checked against guest RAM: the caller maps them (gmem_ptr/gmem_read). */
int vmbus_gpa_direct_chunks(const uint8_t *raw, size_t raw_len, struct vmbus_gpa_chunk *out,
                            size_t max, uint64_t *total);

#endif
