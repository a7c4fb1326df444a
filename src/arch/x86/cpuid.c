#include "arch/x86/cpuid.h"

#include <cpuid.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define HYPERVISOR_LEAVES 0x40000000u
#define HYPERVISOR_LEAVES_END 0x4fffffffu

/* KVM emulates the TSC-deadline mode of its in-kernel local APIC but leaves the bit
 * (CPUID.1:ECX[24]) out of KVM_GET_SUPPORTED_CPUID for the VMM to set (KVM's API
 * documentation). With it the guest arms its timer with one MSR write that KVM handles
 * on its fast path, as on hardware, instead of the x2APIC initial-count register. */
static void add_tsc_deadline(struct kvm_cpuid2 *c, int kvm_fd)
{
    if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) <= 0)
        return;
    for (uint32_t i = 0; i < c->nent; i++)
        if (c->entries[i].function == 1)
            c->entries[i].ecx |= CPUID_1_ECX_TSC_DEADLINE;
}

/* the host leaves add_host_identity passes on */
#define HOST_LEAF_FIRST 0x80000002u
#define HOST_LEAF_LAST 0x80000005u

/* KVM_GET_SUPPORTED_CPUID zeroes or leaves out the leaves that describe the processor
 * itself rather than what KVM can virtualize: the brand string (0x80000002-4) and,
 * before Linux 6.6, the L1 cache and TLB leaf (0x80000005); the VMM is to pass the
 * host's on, as QEMU's -cpu host does and as Hyper-V shows its guests the host's.
 * Without them a Linux guest names its processor by family ("Hammer") and, on AMD,
 * finds no caches at all (its cache enumeration starts from the L1 leaf): lscpu and
 * /sys/devices/system/cpu/cpuN/cache show none. C has room for the appended leaves. */
static void add_host_identity(struct kvm_cpuid2 *c)
{
    uint32_t kvm_max = 0;
    for (uint32_t i = 0; i < c->nent; i++)
        if (c->entries[i].function == 0x80000000u)
            kvm_max = c->entries[i].eax;
    uint32_t host_max = __get_cpuid_max(0x80000000u, NULL);
    for (uint32_t leaf = HOST_LEAF_FIRST; leaf <= HOST_LEAF_LAST && leaf <= kvm_max && leaf <= host_max;
         leaf++) {
        struct kvm_cpuid_entry2 *e = NULL;
        for (uint32_t i = 0; i < c->nent && !e; i++)
            if (c->entries[i].function == leaf)
                e = &c->entries[i];
        if (!e) {
            e = &c->entries[c->nent++];
            memset(e, 0, sizeof(*e));
            e->function = leaf;
        }
        if (e->eax | e->ebx | e->ecx | e->edx)
            continue; /* KVM gave it */
        __cpuid(leaf, e->eax, e->ebx, e->ecx, e->edx);
    }
}

struct kvm_cpuid2 *cpuid_supported(int kvm_fd)
{
    const unsigned host_leaves = HOST_LEAF_LAST - HOST_LEAF_FIRST + 1; /* room for them */
    for (unsigned n = 128; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (n + host_leaves) * sizeof(c->entries[0]));
        if (!c)
            return NULL;
        c->nent = n;
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
            add_tsc_deadline(c, kvm_fd);
            add_host_identity(c);
            return c;
        }
        free(c);
        if (errno != E2BIG)
            return NULL;
    }
    return NULL;
}

static unsigned bits_for(unsigned count)
{
    unsigned b = 0;
    while ((1u << b) < count)
        b++;
    return b;
}

struct kvm_cpuid2 *cpuid_for_vcpu(const struct kvm_cpuid2 *base, int index, int count,
                                  const struct hv_cpuid_leaf *leaves, int nleaves)
{
    size_t size = sizeof(*base) + (base->nent + (size_t)nleaves) * sizeof(base->entries[0]);
    struct kvm_cpuid2 *c = malloc(size);
    if (!c)
        return NULL;
    c->nent = 0;
    c->padding = 0;
    uint32_t apic_id = (uint32_t)index;
    unsigned core_bits = bits_for((unsigned)count);

    for (uint32_t i = 0; i < base->nent; i++) {
        struct kvm_cpuid_entry2 e = base->entries[i];
        if (e.function >= HYPERVISOR_LEAVES && e.function <= HYPERVISOR_LEAVES_END)
            continue;
        switch (e.function) {
        case 1:
            e.ebx = (e.ebx & 0x0000ffff) | (apic_id << 24) |
                    ((uint32_t)(count > 255 ? 255 : count) << 16);
            e.edx |= 1u << 28;              /* HTT: the count in EBX is valid */
            e.ecx |= 1u << 31;              /* running under a hypervisor */
            break;
        case 0xb:
        case 0x1f:
            /* level 0: SMT (one thread per core); level 1: cores in the package */
            if (e.index == 0) {
                e.eax = 0;
                e.ebx = 1;
                e.ecx = 0x100;
            } else if (e.index == 1) {
                e.eax = core_bits;
                e.ebx = (uint32_t)count;
                e.ecx = 0x201;
            } else {
                e.eax = e.ebx = 0;
                e.ecx = e.index;
            }
            e.edx = apic_id;
            break;
        default:
            break;
        }
        c->entries[c->nent++] = e;
    }
    for (int i = 0; i < nleaves; i++)
        c->entries[c->nent++] = (struct kvm_cpuid_entry2){
            .function = leaves[i].function, .index = leaves[i].index,
            .eax = leaves[i].eax, .ebx = leaves[i].ebx, .ecx = leaves[i].ecx, .edx = leaves[i].edx,
        };
    return c;
}
