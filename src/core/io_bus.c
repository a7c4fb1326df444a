#include "core/io_bus.h"

#include <string.h>

int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len, io_handler fn, void *opaque)
{
    if (bus->count == IO_BUS_MAX || !len || base + len < base)
        return -1;
    for (int i = 0; i < bus->count; i++) {
        const struct io_range *r = &bus->ranges[i];
        if (base < r->base + r->len && r->base < base + len)
            return -1;
    }
    bus->ranges[bus->count++] = (struct io_range){ base, len, fn, opaque };
    return 0;
}

bool io_bus_access(const struct io_bus *bus, uint64_t addr, bool is_write, uint8_t *data,
                   unsigned size)
{
    for (int i = 0; i < bus->count; i++) {
        const struct io_range *r = &bus->ranges[i];
        if (addr >= r->base && addr - r->base < r->len) {
            r->fn(r->opaque, addr - r->base, is_write, data, size);
            return true;
        }
    }
    if (!is_write)
        memset(data, 0xff, size);
    return false;
}
