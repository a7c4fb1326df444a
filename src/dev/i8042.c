#include "dev/i8042.h"

#include <string.h>

#define I8042_CMD_RESET 0xfe

void i8042_data_io(void *opaque, uint64_t offset, bool is_write, uint8_t *data, unsigned size)
{
    if (!is_write)
        memset(data, 0, size); /* no keyboard data */
}

void i8042_cmd_io(void *opaque, uint64_t offset, bool is_write, uint8_t *data, unsigned size)
{
    const struct machine *m = opaque;
    if (!is_write) {
        memset(data, 0, size); /* status: output empty, input buffer empty */
        return;
    }
    if (data[0] == I8042_CMD_RESET)
        m->request_stop(m->ctx, VM_STOP_RESET);
}
