/* The BIOS-style memory map the kernel reads from boot_params. */
#ifndef VIRIDIAN_ARCH_X86_E820_H
#define VIRIDIAN_ARCH_X86_E820_H

#include <stdint.h>

#define E820_RAM       1
#define E820_RESERVED  2
#define E820_MAX       128

struct e820_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
} __attribute__((packed));

struct e820_map {
    int count;
    struct e820_entry entries[E820_MAX];
};

/* The RAM split around the MMIO hole: [1 MiB, low_end) and [4 GiB, 4 GiB + high). */
struct ram_layout {
    uint64_t low_end;       /* end of RAM below the hole */
    uint64_t high_size;     /* RAM above 4 GiB */
};

struct ram_layout ram_layout_for(uint64_t mem_size);
/* Builds the map for a guest with mem_size bytes of RAM: low RAM, the reserved EBDA
 * and BIOS area (ACPI tables), RAM up to the MMIO hole, and RAM above 4 GiB. */
void e820_build(struct e820_map *map, uint64_t mem_size);

#endif
