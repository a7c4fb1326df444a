#include "dev/i8042.h"

#include <string.h>

#define I8042_CMD_RESET 0xfe

/* Registered over ports 0x60-0x64 with the machine as opaque (0x61 never reaches us:
 * KVM's in-kernel PIT owns it). */
void i8042_io(void *opaque, uint64_t offset, bool is_write, uint8_t *data, unsigned size)
{
    const struct machine *m = opaque;
    if (!is_write) {
        memset(data, 0, size); /* no data, input buffer empty */
        return;
    }
    if (offset == I8042_CMD_PORT - I8042_DATA_PORT && data[0] == I8042_CMD_RESET)
        m->request_stop(m->ctx, VM_STOP_RESET);
}
