/* The part of the i8042 keyboard controller a guest uses without a keyboard: the
 * status port reads as idle and command 0xFE (pulse the reset line) restarts the VM.
 * Both handlers take the machine as opaque. Port 0x61, between the two, belongs to
 * KVM's in-kernel PIT (the speaker gate). */
#ifndef VIRIDIAN_DEV_I8042_H
#define VIRIDIAN_DEV_I8042_H

#include <stdbool.h>
#include <stdint.h>

#include "core/machine.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64

void i8042_data_io(void *machine, uint64_t offset, bool is_write, uint8_t *data, unsigned size);
void i8042_cmd_io(void *machine, uint64_t offset, bool is_write, uint8_t *data, unsigned size);

#endif
