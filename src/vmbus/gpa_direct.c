/* GPA-direct page-range parsing; see gpa_direct.h. */
#include "vmbus/gpa_direct.h"

#include <errno.h>

#include "core/endian.h"
#include "vmbus/vmbus_proto.h"

#define PAGE 4096u

int vmbus_gpa_direct_chunks(const uint8_t *raw, size_t raw_len, struct vmbus_gpa_chunk *out,
                            size_t max, uint64_t *total)
{
    /* descriptor: u16 type, u16 offset8, u16 len8, u16 flags, u64 trans_id */
    *total = 0;
    if (raw_len < 16 + sizeof(struct vmbus_gpa_direct_hdr))
        return -EINVAL;
    size_t hdr_end = (size_t)get_le16(raw + 2) * 8; /* the ranges end where the payload starts */
    if (hdr_end > raw_len || hdr_end < 16 + sizeof(struct vmbus_gpa_direct_hdr))
        return -EINVAL;
    uint32_t count = get_le32(raw + 20);
    size_t pos = 24, n = 0;
    for (uint32_t r = 0; r < count; r++) {
        if (pos + sizeof(struct vmbus_gpa_range_hdr) > hdr_end)
            return -EINVAL;
        uint32_t bytes = get_le32(raw + pos), offset = get_le32(raw + pos + 4);
        pos += sizeof(struct vmbus_gpa_range_hdr);
        /* the range's first byte is at byte_offset within its first page */
        uint64_t span = (uint64_t)(offset & (PAGE - 1)) + bytes;
        uint64_t pages = (span + PAGE - 1) / PAGE;
        if (bytes == 0 || offset >= PAGE || pages > (hdr_end - pos) / 8)
            return -EINVAL;
        uint32_t left = bytes, in_page = offset;
        for (uint64_t i = 0; i < pages; i++) {
            uint64_t pfn = get_le64(raw + pos + i * 8);
            if (pfn >> 52) /* a pfn past the 64-bit address space */
                return -EINVAL;
            uint32_t len = PAGE - in_page < left ? PAGE - in_page : left;
            if (n == max)
                return -E2BIG;
            out[n].gpa = pfn * PAGE + in_page;
            out[n].len = len;
            n++;
            left -= len;
            in_page = 0;
        }
        pos += pages * 8;
        *total += bytes;
    }
    return (int)n;
}
