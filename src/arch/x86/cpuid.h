/* The CPUID table each vCPU gets: what KVM supports, with KVM's own paravirtual leaves
 * replaced by the given hypervisor leaves (a Hyper-V guest must not find "KVMKVMKVM"),
 * this vCPU's APIC ID and the partition's topology (one package, one core per vCPU). */
#ifndef VIRIDIAN_ARCH_X86_CPUID_H
#define VIRIDIAN_ARCH_X86_CPUID_H

#include <linux/kvm.h>

#include "hv/hv.h"

#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)

/* Returns a malloc'ed table from KVM_GET_SUPPORTED_CPUID, with the TSC-deadline timer
 * where KVM emulates it (KVM_CAP_TSC_DEADLINE_TIMER) and the host processor's brand
 * string and L1 cache leaf where KVM gives none, or NULL. */
struct kvm_cpuid2 *cpuid_supported(int kvm_fd);
/* A copy of `base` adjusted for vCPU `index` of `count`, with `nleaves` hypervisor
 * leaves; the caller frees it. */
struct kvm_cpuid2 *cpuid_for_vcpu(const struct kvm_cpuid2 *base, int index, int count,
                                  const struct hv_cpuid_leaf *leaves, int nleaves);

#endif
