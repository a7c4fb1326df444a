/* vCPU threads: KVM_RUN and the exits that reach user space. */
#ifndef VIRIDIAN_CORE_VCPU_H
#define VIRIDIAN_CORE_VCPU_H

#include "arch/x86/boot.h"
#include "core/vm.h"


int vcpu_create(struct vm *vm, struct vcpu *v, int index);
/* Puts the boot processor at the kernel's 64-bit entry. */
int vcpu_set_boot_state(struct vcpu *v, const struct boot_entry *entry);
int vcpu_start(struct vcpu *v);
/* Makes a vCPU leave KVM_RUN soon (immediate_exit + a signal). */
void vcpu_kick(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);
/* Installs the no-op signal handler vcpu_kick relies on; call once per process. */
void vcpu_signals_init(void);

#endif
