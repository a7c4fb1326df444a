/* ACPI fixed hardware: PM1 event and control blocks, the PM timer and the reset
 * register (ports in arch/x86/acpi.h). SLP_EN with SLP_TYP 5 powers the VM off; the
 * reset register restarts it; acpi_pm_power_button() presses the fixed power button
 * (an SCI the guest's ACPI driver turns into an orderly shutdown). */
#ifndef VIRIDIAN_DEV_ACPI_PM_H
#define VIRIDIAN_DEV_ACPI_PM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/machine.h"

struct acpi_pm {
    pthread_mutex_t lock;
    uint8_t regs[6];        /* PM1 status (2), enable (2), control (2) */
    int sci_level;
    const struct machine *machine;
};

void acpi_pm_init(struct acpi_pm *pm, const struct machine *m);
/* io_bus handler for the PM1 blocks and timer (base ACPI_PM1_EVT_PORT, 12 bytes) */
void acpi_pm_io(void *opaque, uint64_t offset, bool is_write, uint8_t *data, unsigned size);
/* io_bus handler for the reset register */
void acpi_pm_reset_io(void *opaque, uint64_t offset, bool is_write, uint8_t *data, unsigned size);
void acpi_pm_power_button(struct acpi_pm *pm);

#endif
