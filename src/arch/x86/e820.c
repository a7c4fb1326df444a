#include "arch/x86/e820.h"

#include "arch/x86/layout.h"

struct ram_layout ram_layout_for(uint64_t mem_size)
{
    struct ram_layout l;
    l.low_end = mem_size < GPA_MMIO_HOLE ? mem_size : GPA_MMIO_HOLE;
    l.high_size = mem_size - l.low_end;
    return l;
}

static void e820_add(struct e820_map *map, uint64_t addr, uint64_t size, uint32_t type)
{
    if (size && map->count < E820_MAX)
        map->entries[map->count++] = (struct e820_entry){ addr, size, type };
}

void e820_build(struct e820_map *map, uint64_t mem_size)
{
    struct ram_layout l = ram_layout_for(mem_size);
    map->count = 0;
    e820_add(map, 0, GPA_EBDA, E820_RAM);
    e820_add(map, GPA_EBDA, GPA_HIGH_MEM - GPA_EBDA, E820_RESERVED);
    e820_add(map, GPA_HIGH_MEM, l.low_end - GPA_HIGH_MEM, E820_RAM);
    e820_add(map, GPA_4G, l.high_size, E820_RAM);
}
