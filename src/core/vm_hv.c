#include "core/vm_hv.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "arch/x86/cpuid.h"
#include "core/log.h"
#include "core/vcpu.h"
#include "core/vm_net.h"
#include "core/vm_storage.h"
#include "hv/hv.h"
#include "vmbus/vmbus.h"
#include "vsp/ic.h"

#define HV_MSR_RANGE_BASE 0x40000000u
#define HV_MSR_RANGE_COUNT 0x200u
#define KVM_LAPIC_HZ 1000000000ull /* KVM's APIC bus runs at 1 GHz (one cycle per ns) */
#define MSI_ADDRESS_BASE 0xfee00000u

static int hv_inject(void *ctx, uint32_t vp_index, uint8_t vector)
{
    struct vm *vm = ctx;
    /* VP index = vCPU index = APIC ID; physical destination, fixed, edge */
    struct kvm_msi msi = { .address_lo = MSI_ADDRESS_BASE | (vp_index << 12), .data = vector };
    if ((int)vp_index >= vm->nvcpus)
        return -1;
    return ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &msi) < 0 ? -1 : 0;
}

static uint64_t hv_ref_time(void *ctx)
{
    struct vm *vm = ctx;
    return vm->machine.now_ns(vm) / 100;
}

static void hv_guest_crash(void *ctx, uint32_t vp_index, const uint64_t p[5])
{
    vlog_warn("the guest reported a crash on VP %u (0x%llx 0x%llx 0x%llx 0x%llx 0x%llx)", vp_index,
              (unsigned long long)p[0], (unsigned long long)p[1], (unsigned long long)p[2],
              (unsigned long long)p[3], (unsigned long long)p[4]);
}

/* A measurement knob: VAR=0 in the environment turns a speed-up off. */
static bool turned_off(const char *var)
{
    const char *v = getenv(var);
    return v && !strcmp(v, "0");
}

/* KVM serves MSRs 0x40000070-73 (hv.h 7.) when it has Hyper-V emulation. */
static bool kvm_serves_apic_access(struct vm *vm)
{
    return ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_HYPERV) > 0 &&
           !turned_off("VIRIDIAN_APIC_ACCESS");
}

static int enable_msr_exits(struct vm *vm, bool apic_access_in_kvm)
{
    struct kvm_enable_cap cap = {
        .cap = KVM_CAP_X86_USER_SPACE_MSR,
        .args[0] = KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_FILTER,
    };
    if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
        return -1;
    /* Deny the synthetic range to KVM so it always exits, whatever Hyper-V emulation the
     * host kernel may have; but the APIC-access MSRs go to KVM when it serves them. */
    uint8_t bitmap[HV_MSR_RANGE_COUNT / 8] = { 0 }; /* a set bit lets KVM have the MSR */
    if (apic_access_in_kvm)
        for (uint32_t m = HV_MSR_EOI; m <= HV_MSR_VP_ASSIST_PAGE; m++)
            bitmap[(m - HV_MSR_RANGE_BASE) / 8] |= (uint8_t)(1u << ((m - HV_MSR_RANGE_BASE) % 8));
    struct kvm_msr_filter filter = { .flags = KVM_MSR_FILTER_DEFAULT_ALLOW };
    filter.ranges[0] = (struct kvm_msr_filter_range){
        .flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
        .nmsrs = HV_MSR_RANGE_COUNT, .base = HV_MSR_RANGE_BASE, .bitmap = bitmap,
    };
    return ioctl(vm->vm_fd, KVM_X86_SET_MSR_FILTER, &filter);
}

/* A channel's doorbell: the hypercall page's 4-byte OUT of connection id CONN (a fast
 * HvSignalEvent) becomes a write to FD in the kernel. */
static int bind_doorbell(void *ctx, uint32_t conn, int fd, bool on)
{
    struct vm *vm = ctx;
    struct kvm_ioeventfd io = {
        .datamatch = conn,
        .addr = hv_hypercall_port(vm->hv),
        .len = 4,
        .fd = fd,
        .flags = KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DATAMATCH |
                 (on ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
    };
    return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

int vm_hv_setup(struct vm *vm)
{
    int khz = ioctl(vm->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);
    struct hv_config cfg = {
        .nr_vcpus = (uint32_t)vm->nvcpus,
        .tsc_hz = khz > 0 ? (uint64_t)khz * 1000 : 0,
        .apic_hz = KVM_LAPIC_HZ,
        .crash_msrs = true,
        .kvm_apic_access = kvm_serves_apic_access(vm),
    };
    struct hv_platform_ops ops = { vm, hv_inject, hv_ref_time, hv_guest_crash };

    if (vm->nvcpus > HV_MAX_VCPUS) {
        snprintf(vm->error, sizeof(vm->error), "the Hyper-V interface supports at most %d vCPUs",
                 HV_MAX_VCPUS);
        return -1;
    }
    if (enable_msr_exits(vm, cfg.kvm_apic_access) < 0) {
        snprintf(vm->error, sizeof(vm->error), "KVM cannot pass MSR accesses to viridian: %s",
                 strerror(errno));
        return -1;
    }
    vm->hv = hv_create(&cfg, &ops, &vm->mem);
    if (!vm->hv) {
        snprintf(vm->error, sizeof(vm->error), "cannot create the Hyper-V interface");
        return -1;
    }
    /* the static device table, then this VM's SCSI controllers and NICs */
    const struct vmbus_device_desc *devs[VMBUS_MAX_CHANNELS];
    unsigned ndevs = vmbus_device_count;
    memcpy(devs, vmbus_devices, ndevs * sizeof(devs[0]));
    int n = vm_storage_attach(vm, devs, ndevs, VMBUS_MAX_CHANNELS);
    if (n < 0 || (n = vm_net_attach(vm, devs, (unsigned)n, VMBUS_MAX_CHANNELS)) < 0)
        return -1;
    vm->vmbus = vmbus_create(vm->hv, &vm->mem, devs, (unsigned)n);
    if (!vm->vmbus) {
        snprintf(vm->error, sizeof(vm->error), "cannot create the VMBus host");
        return -1;
    }
    /* VIRIDIAN_DOORBELLS=0: every signal exits */
    int ret = turned_off("VIRIDIAN_DOORBELLS") ? -ECANCELED
                                               : vmbus_doorbells_start(vm->vmbus, bind_doorbell, vm);
    if (ret)
        vlog_debug("channel doorbells unavailable (%s): guest signals exit to viridian",
                   strerror(-ret));
    struct ic_config ic_cfg = { .hv = vm->hv };
    vm->ic = ic_attach(vm->vmbus, &ic_cfg);
    if (!vm->ic) {
        snprintf(vm->error, sizeof(vm->error), "cannot attach the integration services");
        return -1;
    }

    struct hv_cpuid_leaf leaves[16];
    int nleaves = hv_cpuid_leaves(vm->hv, leaves, 16);
    struct kvm_cpuid2 *base = cpuid_supported(vm->kvm_fd);
    if (!base) {
        snprintf(vm->error, sizeof(vm->error), "cannot read KVM's CPUID features: %s", strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < vm->nvcpus && rc == 0; i++) {
        struct kvm_cpuid2 *c = cpuid_for_vcpu(base, i, vm->nvcpus, leaves, nleaves);
        if (!c || ioctl(vm->vcpus[i].fd, KVM_SET_CPUID2, c) < 0) {
            snprintf(vm->error, sizeof(vm->error), "cannot set the CPUID of vCPU %d: %s", i, strerror(errno));
            rc = -1;
        }
        free(c);
    }
    free(base);
    return rc;
}

void vm_hv_tick(struct vm *vm)
{
    if (vm->ic)
        ic_tick(vm->ic);
}

void vm_hv_destroy(struct vm *vm)
{
    if (vm->ic)
        ic_detach(vm->ic);
    vm->ic = NULL;
    vmbus_doorbells_stop(vm->vmbus); /* nothing calls into the devices below any more */
    vm_storage_stop(vm);
    vm_net_stop(vm);
    if (vm->vmbus)
        vmbus_destroy(vm->vmbus);
    if (vm->hv)
        hv_destroy(vm->hv);
    vm_storage_detach(vm);
    vm_net_detach(vm);
    vm->vmbus = NULL;
    vm->hv = NULL;
}

/* The hypercall page's OUTs (see hv.h): size 1, any hypercall, result in RAX; size 4, a
 * fast HvSignalEvent no doorbell caught, result in R8. */
bool vm_hv_handle_io(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    struct vm *vm = v->vm;
    if (!vm->hv || run->io.port != hv_hypercall_port(vm->hv) ||
        run->io.direction != KVM_EXIT_IO_OUT || (run->io.size != 1 && run->io.size != 4) ||
        run->io.count != 1)
        return false;
    struct kvm_regs regs;
    if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0)
        return true;
    uint64_t result = hv_hypercall(vm->hv, (uint32_t)v->index, regs.rcx, regs.rdx, regs.r8);
    if (run->io.size == 1)
        regs.rax = result;
    else
        regs.r8 = result;
    if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
        vlog_debug("vCPU %d: hypercall result lost: %s", v->index, strerror(errno));
    return true;
}

void vm_hv_handle_msr(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    struct vm *vm = v->vm;
    int rc = -1;
    if (vm->hv && hv_msr_is_synthetic(run->msr.index)) {
        if (run->exit_reason == KVM_EXIT_X86_RDMSR) {
            uint64_t value = 0;
            rc = hv_msr_read(vm->hv, (uint32_t)v->index, run->msr.index, &value);
            run->msr.data = value;
        } else
            rc = hv_msr_write(vm->hv, (uint32_t)v->index, run->msr.index, run->msr.data);
    }
    if (rc < 0)
        vlog_debug("vCPU %d: %s MSR 0x%x refused (#GP)", v->index,
                   run->exit_reason == KVM_EXIT_X86_RDMSR ? "read of" : "write to", run->msr.index);
    run->msr.error = rc < 0 ? 1 : 0;
}
