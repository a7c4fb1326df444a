/* Port I/O and MMIO dispatch. Devices register ranges before the vCPUs start; the
 * table is read-only afterwards, so lookups take no lock (each device locks itself).
 * Accesses nobody claims read as all ones and are otherwise ignored, as on a PC. */
#ifndef VIRIDIAN_CORE_IO_BUS_H
#define VIRIDIAN_CORE_IO_BUS_H

#include <stdbool.h>
#include <stdint.h>

#define IO_BUS_MAX 64

/* data holds `size` bytes (1, 2, 4 or 8), little-endian; `offset` is from the range base. */
typedef void (*io_handler)(void *opaque, uint64_t offset, bool is_write, uint8_t *data,
                           unsigned size);

struct io_range {
    uint64_t base, len;
    io_handler fn;
    void *opaque;
};

struct io_bus {
    struct io_range ranges[IO_BUS_MAX];
    int count;
};

/* 0, or -1 if the range overlaps another or the table is full. */
int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len, io_handler fn, void *opaque);
/* true if a device handled the access */
bool io_bus_access(const struct io_bus *bus, uint64_t addr, bool is_write, uint8_t *data,
                   unsigned size);

#endif
