/* Placing a kernel, its command line and initrd in guest memory, and the CPU state to
 * enter it with (64-bit boot protocol: long mode, identity-mapped page tables, flat
 * segments from a boot GDT, RSI = boot_params). */
#ifndef VIRIDIAN_ARCH_X86_BOOT_H
#define VIRIDIAN_ARCH_X86_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/kernel_image.h"
#include "core/guest_mem.h"

#define BOOT_CS 0x10
#define BOOT_DS 0x18

struct boot_entry {
    uint64_t rip, rsi, rsp;
    uint64_t cr3;
    uint64_t gdt_base;
    uint16_t gdt_limit;
};

struct boot_request {
    const struct kernel_image *kernel;
    const uint8_t *initrd;          /* NULL if none */
    size_t initrd_size;
    const char *cmdline;
    uint64_t mem_size;
    uint64_t rsdp_gpa;
};

/* Fills guest memory and *entry. 0, or -1 with a message in err. */
int boot_prepare(const struct guest_mem *mem, const struct boot_request *req,
                 struct boot_entry *entry, char *err);

/* Where the initrd goes: the highest page-aligned spot below `limit` and above
 * `kernel_end`. 0 if it does not fit. Exposed for tests. */
uint64_t boot_initrd_address(uint64_t kernel_end, uint64_t limit, uint64_t size);

#endif
