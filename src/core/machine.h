/* What devices may ask of the machine they sit in: raise an interrupt line and stop
 * the partition (power off, reset). Filled in by the VM; devices never see KVM. */
#ifndef VIRIDIAN_CORE_MACHINE_H
#define VIRIDIAN_CORE_MACHINE_H

#include <stdint.h>

enum vm_stop_reason {
    VM_RUNNING = 0,
    VM_STOP_POWEROFF,       /* the guest powered off (ACPI S5) */
    VM_STOP_RESET,          /* the guest asked for a reset (reboot) */
    VM_STOP_TRIPLE_FAULT,   /* the guest crashed its CPU */
    VM_STOP_GUEST_ERROR,    /* KVM could not run guest code (emulation failure etc.) */
    VM_STOP_HOST,           /* the host asked the VM to stop (signal, quit key) */
    VM_STOP_VMM_ERROR,      /* Viridian itself failed */
};

struct machine {
    void *ctx;
    void (*set_irq)(void *ctx, unsigned gsi, int level);
    void (*request_stop)(void *ctx, enum vm_stop_reason why);
    /* nanoseconds since the partition started (monotonic) */
    uint64_t (*now_ns)(void *ctx);
};

#endif
