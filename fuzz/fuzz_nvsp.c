/* NVSP messages and GPA-direct page-range headers from a hostile guest.
 * Input: [1 mode byte][bytes]. mode & 1 = 0: the bytes are an NVSP message payload;
 * parse it and, for SEND_RNDIS_PKT, validate the section against a 170 x 6144 send
 * buffer. mode & 1 = 1: the bytes are a whole GPA-direct VMBus packet; split its
 * ranges into page chunks and check every chunk stays in one page and the lengths add
 * up. The bytes are copied to an exact-size heap buffer so any over-read is caught. */
#include <stdlib.h>
#include <string.h>

#include "vsp/nvsp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    size_t len = size - 1;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, len);
    if (!(mode & 1)) {
        struct nvsp_msg m;
        if (nvsp_parse(buf, len, &m) == 0) {
            if (len < 6)
                abort(); /* every guest message has a body (REVOKE's 2 bytes the least) */
            if (m.type == NVSP_MSG1_SEND_RNDIS_PKT && m.rndis_pkt.section_index != NVSP_NO_SECTION) {
                uint64_t off;
                if (nvsp_send_section(m.rndis_pkt.section_index, m.rndis_pkt.section_size, 6144,
                                      170, &off) == 0 &&
                    off + m.rndis_pkt.section_size > 170u * 6144)
                    abort();
            }
            (void)nvsp_type_name(m.type);
        }
    } else {
        struct nvsp_gpa_chunk c[64];
        uint64_t total = 0, sum = 0;
        int n = nvsp_gpa_direct_chunks(buf, len, c, 64, &total);
        for (int i = 0; i < n; i++) {
            if (c[i].len == 0 || (c[i].gpa & 4095) + c[i].len > 4096)
                abort();
            sum += c[i].len;
        }
        if (n >= 0 && sum != total)
            abort();
    }
    free(buf);
    return 0;
}
