/* The Hyper-V guest interface and VMBus, wired to KVM (see hv/hv.h for the contract):
 * the hypervisor CPUID leaves, synthetic MSRs through KVM's user-space MSR exits and
 * an MSR filter, hypercalls through an OUT in the hypercall page, SynIC interrupts
 * through KVM_SIGNAL_MSI. Nothing here relies on KVM's own Hyper-V emulation. */
#ifndef VIRIDIAN_CORE_VM_HV_H
#define VIRIDIAN_CORE_VM_HV_H

#include <stdbool.h>

#include "core/vm.h"

/* After the vCPUs exist: creates the partition's Hyper-V interface and VMBus host and
 * gives every vCPU its CPUID (KVM's features, the Hyper-V leaves, its APIC ID). */
int vm_hv_setup(struct vm *vm);
void vm_hv_destroy(struct vm *vm);
/* Once a second from the main loop: integration-service periods and timeouts. */
void vm_hv_tick(struct vm *vm);
/* vCPU exits: true when handled. */
bool vm_hv_handle_io(struct vcpu *v);
void vm_hv_handle_msr(struct vcpu *v);

#endif
