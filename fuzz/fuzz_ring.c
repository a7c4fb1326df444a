/* A ring buffer with fuzzed header indices and contents read by the host, then written
 * back to. Input: [1 data pages - 1][4 write_index][4 read_index][4 pending_send_sz]
 * [1 interrupt_mask] then the ring's data bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_vm.h"
#include "vmbus/ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 14)
        return 0;
    memset(fz_ram, 0, sizeof(fz_ram));
    struct guest_mem gm = { 0 };
    gmem_add_region(&gm, 0, sizeof(fz_ram), fz_ram);
    uint32_t npages = 2 + data[0] % 8; /* header + 1..8 data pages */
    memcpy(fz_ram + 0, data + 1, 4);  /* write_index */
    memcpy(fz_ram + 4, data + 5, 4);  /* read_index */
    memcpy(fz_ram + 12, data + 9, 4); /* pending_send_sz */
    fz_ram[8] = data[13] & 1;         /* interrupt_mask */
    data += 14;
    size -= 14;
    size_t n = size < (npages - 1) * 4096 ? size : (npages - 1) * 4096;
    uint64_t pfns[10];
    pfns[0] = 0;
    for (uint32_t i = 1; i < npages; i++) /* contiguous, or scattered over even pages */
        pfns[i] = (n && (data[0] & 1)) ? 20 + 2 * i : i;
    for (uint32_t i = 1; i < npages && (i - 1) * 4096 < n; i++) {
        size_t chunk = n - (i - 1) * 4096 < 4096 ? n - (i - 1) * 4096 : 4096;
        memcpy(fz_ram + pfns[i] * 4096, data + (i - 1) * 4096, chunk);
    }
    struct vmbus_ring r;
    if (vmbus_ring_init(&r, &gm, pfns, npages, true) != 0)
        return 0;
    static uint8_t buf[8192];
    uint32_t len;
    int packets = 0, rc;
    vmbus_ring_set_interrupt_mask(&r, true);
    while (packets < 1000 && (rc = vmbus_ring_peek(&r, buf, sizeof(buf), &len)) > 0) {
        vmbus_ring_advance(&r, len);
        packets++;
    }
    vmbus_ring_set_interrupt_mask(&r, false);
    vmbus_ring_has_data(&r);
    /* The same pages as a host->guest ring. */
    struct vmbus_ring w;
    if (vmbus_ring_init(&w, &gm, pfns, npages, false) != 0)
        return 0;
    bool sig;
    struct vmbus_ring_seg seg = { data, (uint32_t)(n > 3000 ? 3000 : n) };
    for (int i = 0; i < 8; i++)
        if (vmbus_ring_write(&w, &seg, 1, &sig) != 0)
            break;
    vmbus_ring_free(&w);
    return 0;
}
