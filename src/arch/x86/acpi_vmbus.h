/* The VMBus device in the DSDT, laid out as Hyper-V generation 2 and openvmm do:
 *   Device(\_SB.VMOD) { _HID "ACPI0004", _CRS: the MMIO range VMBus devices may claim
 *     Device(VMBS) { _HID "VMBus", _CRS: empty } }
 * Linux's hv_vmbus binds to the "VMBus" _HID and takes its MMIO from the parent's _CRS. */
#ifndef VIRIDIAN_ARCH_X86_ACPI_VMBUS_H
#define VIRIDIAN_ARCH_X86_ACPI_VMBUS_H

#include "arch/x86/aml.h"

/* An acpi_config.add_devices callback; ctx is unused. */
void acpi_add_vmbus(struct aml *a, void *ctx);

#endif
