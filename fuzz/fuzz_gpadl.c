/* GPADL construction from fuzzed GPADL_HEADER/GPADL_BODY messages, then reads and writes
 * through the result. Input: [1 nbodies][2 header len][header][ [1 len][body] ... ]
 * [8 offset][2 length] for the final access. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_vm.h"
#include "vmbus/gpadl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    struct guest_mem gm = { 0 };
    gmem_add_region(&gm, 0, sizeof(fz_ram), fz_ram);
    uint32_t nbodies = data[0];
    uint32_t hlen = (uint32_t)data[1] | (uint32_t)data[2] << 8;
    data += 3;
    size -= 3;
    if (hlen > size)
        hlen = (uint32_t)size;
    if (hlen > 240)
        hlen = 240;
    struct vmbus_gpadl *g = vmbus_gpadl_from_header(&gm, data, hlen, VMBUS_GPADL_TOTAL_PAGES);
    data += hlen;
    size -= hlen;
    if (!g)
        return 0;
    for (uint32_t i = 0; i < nbodies && size >= 1 && !vmbus_gpadl_complete(g); i++) {
        uint32_t len = data[0];
        data++;
        size--;
        if (len > size)
            len = (uint32_t)size;
        if (len > 240)
            len = 240;
        vmbus_gpadl_add_body(g, &gm, data, len);
        data += len;
        size -= len;
    }
    if (size >= 10) {
        uint64_t off;
        uint16_t len;
        memcpy(&off, data, 8);
        memcpy(&len, data + 8, 2);
        static uint8_t buf[65536];
        if (vmbus_gpadl_read(g, &gm, off, buf, len) == 0)
            vmbus_gpadl_write(g, &gm, off, buf, len);
    }
    vmbus_gpadl_free(g);
    return 0;
}
