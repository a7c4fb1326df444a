/* The Hyper-V guest interface of one partition: CPUID leaves, synthetic MSRs, the
 * hypercall page and hypercall dispatch, and the SynIC (message slots and event flags).
 * A library with no KVM code: the partition core feeds it exits and gives it callbacks.
 *
 * How the core wires it up (KVM's in-kernel Hyper-V emulation is not needed; 7. uses it
 * where it exists):
 *  1. hv_create() with a struct hv_config and struct hv_platform_ops, after guest RAM is
 *     registered in the struct guest_mem it passes.
 *  2. CPUID: for every leaf in hv_cpuid_leaves() set that entry with KVM_SET_CPUID2 and
 *     set CPUID.1:ECX[31] (hypervisor present). Expose no "KVMKVMKVM" leaf anywhere in
 *     0x40000000-0x4000FF00 (Linux would pick KVM and VMBus would not load).
 *  3. MSRs: enable KVM_CAP_X86_USER_SPACE_MSR (reasons UNKNOWN|FILTER|INVAL) and a
 *     KVM_X86_SET_MSR_FILTER denying 0x40000000-0x400001FF, so every access to that range
 *     exits to user space (hv_msr_is_synthetic() says which MSRs are ours). On
 *     KVM_EXIT_X86_RDMSR/WRMSR call hv_msr_read()/hv_msr_write() with the vCPU's VP index;
 *     a non-zero return means "inject #GP" (set kvm_run->msr.error = 1).
 *  4. Hypercalls: when the guest enables MSR 0x40000001, hv_msr_write() writes the
 *     hypercall page into guest RAM (hv_hypercall_page_build()), with
 *     port = hv_config.hypercall_port (HV_HYPERCALL_PORT_DEFAULT). Every hypercall is an
 *     OUT to that port: size 1 for any hypercall: KVM_GET_REGS, rax = hv_hypercall(hv,
 *     vp, rcx, rdx, r8), KVM_SET_REGS with RIP unchanged (KVM completes the OUT on
 *     re-entry); size 4 for a fast HvSignalEvent with flag 0, the connection id as data:
 *     the same, but the result goes to R8 instead of RAX. The size-4 OUT exists so that
 *     the core can bind it per connection id to an eventfd (KVM_IOEVENTFD, PIO, data
 *     match; see vmbus_doorbells_start()); the guest then sees HV_STATUS_SUCCESS.
 *     Registers per the x64 hypercall ABI: RCX control word, RDX input GPA (fast: data),
 *     R8 output GPA (fast: data), result in RAX.
 *  5. Interrupts: ops.inject(ctx, vp_index, vector) - the core maps the VP index to the
 *     vCPU's APIC ID and does KVM_SIGNAL_MSI (fixed, edge, physical destination).
 *     The guest EOIs it normally (hints bit 9 DEPRECATING_AEOI is set).
 *  6. Time: ops.ref_time(ctx) = 100 ns units since partition start, monotonic and the same
 *     on every vCPU (MSR 0x40000020). If NULL, CLOCK_MONOTONIC since hv_create() is used.
 *  7. APIC access (hv_config.kvm_apic_access): where KVM has Hyper-V emulation (it turns it
 *     on for a vCPU whose CPUID 0x40000001 says "Hv#1"), the core lets MSRs 0x40000070-73
 *     (EOI, ICR, TPR, VP assist page) through its filter to KVM. KVM then points its PV-EOI
 *     at the VP assist page's APIC-assist word: an interrupt that needs no EOI is marked
 *     there, and Linux (hint bit 3) skips the EOI write, saving an exit per interrupt;
 *     other EOIs are MSR 0x40000070 writes that KVM serves in the kernel. Without it the
 *     hint stays off, the guest EOIs through its APIC and the VP assist page MSR is
 *     accepted here and ignored.
 *
 * VP index: the index 0..nr_vcpus-1 the core uses for the vCPU (MSR 0x40000002 returns
 * it). All VMBus target_vp/target_vcpu values are VP indexes.
 *
 * Teardown: stop all vCPUs (no hypercall or MSR exit in progress) before vmbus_destroy()
 * and hv_destroy().
 *
 * If the host KVM does have Hyper-V emulation (KVM_CAP_HYPERV > 0), the MSR filter above
 * still forces the synthetic MSRs to user space, but for the APIC-access ones (7.), and
 * hypercalls never use VMCALL.
 *
 * Threading: every entry point may be called from any thread. One mutex per partition
 * protects the per-VP SynIC state and message queues; ops.inject may be called with it
 * held, so inject must not call back into hv_*. The guest handlers (hv_set_guest_handlers)
 * are called WITHOUT that mutex held, on the vCPU thread doing the hypercall, so they may
 * post messages and signal events. */
#ifndef VIRIDIAN_HV_HV_H
#define VIRIDIAN_HV_HV_H

#include <stdbool.h>
#include <stdint.h>

#include "core/guest_mem.h"
#include "hv/hv_defs.h"

#define HV_MAX_VCPUS 256
/* Messages queued per VP and SINT behind the SIMP slot; beyond that posting fails. */
#define HV_SYNIC_QUEUE_MAX 1024u
/* An I/O port nothing else uses: not 0x7E (KVM's OUT-7E quirk), not the PIC/PIT/RTC/
 * keyboard/POST/DMA/debug-exit ports. */
#define HV_HYPERCALL_PORT_DEFAULT 0x4Fu

struct hv_platform_ops {
    void *ctx;
    /* Raise `vector` on the vCPU with this VP index (KVM_SIGNAL_MSI). 0 or -1. */
    int (*inject)(void *ctx, uint32_t vp_index, uint8_t vector);
    /* Reference time: 100 ns units since partition start. May be NULL. */
    uint64_t (*ref_time)(void *ctx);
    /* Guest reported a crash via the crash MSRs (P0..P4 as written). May be NULL. */
    void (*guest_crash)(void *ctx, uint32_t vp_index, const uint64_t params[5]);
};

struct hv_config {
    uint32_t nr_vcpus;      /* 1..HV_MAX_VCPUS */
    uint64_t tsc_hz;        /* MSR 0x40000022; 0 = do not offer the frequency MSRs */
    uint64_t apic_hz;       /* MSR 0x40000023; KVM's LAPIC: 1000000000 */
    uint8_t hypercall_port; /* 0 = HV_HYPERCALL_PORT_DEFAULT */
    bool crash_msrs;        /* offer the guest-crash MSRs 0x40000100-105 */
    /* KVM serves the APIC-access MSRs 0x40000070-73 itself (see 7. below): offer them and
     * recommend them (the guest then EOIs lazily) */
    bool kvm_apic_access;
};

/* Handlers for guest->host traffic, installed by the VMBus host. Called without the hv
 * mutex held. Return an HV_STATUS_* value, which becomes the hypercall result. */
struct hv_guest_handlers {
    uint16_t (*post_message)(void *ctx, uint32_t vp_index, uint32_t connection_id,
                             uint32_t message_type, const void *payload, uint32_t size);
    uint16_t (*signal_event)(void *ctx, uint32_t vp_index, uint32_t connection_id,
                             uint16_t flag_number);
};

struct hv_cpuid_leaf {
    uint32_t function, index;
    uint32_t eax, ebx, ecx, edx;
};

struct hv_partition;

struct hv_partition *hv_create(const struct hv_config *cfg, const struct hv_platform_ops *ops,
                               const struct guest_mem *gmem);
void hv_destroy(struct hv_partition *hv);
void hv_set_guest_handlers(struct hv_partition *hv, const struct hv_guest_handlers *h,
                           void *ctx);
uint32_t hv_vcpu_count(const struct hv_partition *hv);
uint8_t hv_hypercall_port(const struct hv_partition *hv);

/* The hypervisor CPUID leaves (0x40000000-0x40000005); returns how many were written
 * (at most `max`). */
int hv_cpuid_leaves(const struct hv_partition *hv, struct hv_cpuid_leaf *out, int max);

/* True for the MSRs this library implements (route these to hv_msr_read/write). */
bool hv_msr_is_synthetic(uint32_t msr);
/* 0, or -1 = the guest gets #GP. */
int hv_msr_read(struct hv_partition *hv, uint32_t vp_index, uint32_t msr, uint64_t *value);
int hv_msr_write(struct hv_partition *hv, uint32_t vp_index, uint32_t msr, uint64_t value);

/* Runs one hypercall issued by VP `vp_index`; returns the value for RAX. */
uint64_t hv_hypercall(struct hv_partition *hv, uint32_t vp_index, uint64_t rcx, uint64_t rdx,
                      uint64_t r8);

/* Fills `page` (4096 bytes) with the hypercall page code for `port`. */
void hv_hypercall_page_build(uint8_t *page, uint8_t port);

/* SynIC, host side. Post a message (type != 0, size <= 240) into SINT `sint` of VP
 * `vp_index`: written into the SIMP slot if that is free and the SINT is deliverable,
 * else queued (FIFO per VP and SINT) and delivered on EOM / when the guest enables it.
 * 0, or -1 if the arguments are bad or the queue is full. */
int hv_synic_post_message(struct hv_partition *hv, uint32_t vp_index, uint32_t sint,
                          uint32_t message_type, const void *payload, uint32_t size);
/* Set event flag `flag` in SINT `sint`'s area of VP `vp_index`'s SIEFP page and raise the
 * SINT's vector if the flag was newly set. 1 = interrupted, 0 = flag already set or SINT
 * not deliverable, -1 = bad arguments. */
int hv_synic_signal_event(struct hv_partition *hv, uint32_t vp_index, uint32_t sint,
                          uint32_t flag);
/* Drop every queued message of VP `vp_index`'s SINT `sint` (e.g. after UNLOAD). */
void hv_synic_flush_queue(struct hv_partition *hv, uint32_t vp_index, uint32_t sint);
/* Number of messages queued for VP/SINT (tests, diagnostics). */
uint32_t hv_synic_queued(struct hv_partition *hv, uint32_t vp_index, uint32_t sint);
/* The reference time the guest sees in MSR 0x40000020 (100 ns units). */
uint64_t hv_reference_time(struct hv_partition *hv);
/* Guest OS id written by the guest (diagnostics). */
uint64_t hv_guest_os_id(struct hv_partition *hv);

#endif
