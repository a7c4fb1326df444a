/* Hypercalls and synthetic MSR writes with fuzzed control words, register values and
 * input-page contents, against a partition with a VMBus host. Input:
 *   [8 control][8 rdx][1 flags][256 input page] then repeated 13-byte MSR writes
 *   [4 msr index (low byte offset into the synthetic range)][1 vp][8 value]. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 17)
        return 0;
    struct fz_vm vm;
    fz_vm_init(&vm);
    uint64_t control, rdx;
    memcpy(&control, data, 8);
    memcpy(&rdx, data + 8, 8);
    uint8_t flags = data[16];
    data += 17;
    size -= 17;
    size_t n = size < 256 ? size : 256;
    memcpy(fz_ram + FZ_INPUT_PAGE, data, n);
    data += n;
    size -= n;
    /* Mostly aim at the input page so the fuzzer reaches the handlers. */
    if (!(flags & 1))
        rdx = FZ_INPUT_PAGE + (rdx & 0xFFF);
    if (flags & 2)
        control &= 0x1FFFF;
    hv_hypercall(vm.hv, flags >> 7, control, rdx, 0);
    while (size >= 13) {
        uint32_t msr;
        uint64_t value, got;
        memcpy(&msr, data, 4);
        msr = 0x40000000u | (msr & 0x1FF);
        uint32_t vp = data[4] % 3;
        memcpy(&value, data + 5, 8);
        if (msr == HV_MSR_HYPERCALL || msr == HV_MSR_SIMP || msr == HV_MSR_SIEFP)
            value &= (FZ_PAGES * 2 - 1) << 12 | 0xFFF; /* keep pages mostly in RAM */
        hv_msr_write(vm.hv, vp, msr, value);
        hv_msr_read(vm.hv, vp, msr, &got);
        hv_hypercall(vm.hv, vp, control, rdx, 0);
        fz_drain_slots(&vm);
        data += 13;
        size -= 13;
    }
    fz_vm_free(&vm);
    return 0;
}
