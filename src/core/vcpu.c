#include "core/vcpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "core/vcpu_postmortem.h"
#include "core/vm_hv.h"

#define SIG_VCPU_KICK SIGUSR1

static void kick_handler(int sig)
{
    (void)sig;
}

void vcpu_signals_init(void)
{
    struct sigaction sa = { .sa_handler = kick_handler };
    sigemptyset(&sa.sa_mask);
    sigaction(SIG_VCPU_KICK, &sa, NULL); /* no SA_RESTART: KVM_RUN returns EINTR */
}

int vcpu_create(struct vm *vm, struct vcpu *v, int index)
{
    memset(v, 0, sizeof(*v));
    v->vm = vm;
    v->index = index;
    v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, index);
    if (v->fd < 0) {
        snprintf(vm->error, sizeof(vm->error), "cannot create vCPU %d: %s", index, strerror(errno));
        return -1;
    }
    v->run = mmap(NULL, (size_t)vm->run_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        v->run = NULL;
        snprintf(vm->error, sizeof(vm->error), "cannot map vCPU %d: %s", index, strerror(errno));
        return -1;
    }
    return 0;
}

static void flat_segment(struct kvm_segment *s, uint16_t sel, uint8_t type, int code64)
{
    *s = (struct kvm_segment){ .base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
                               .present = 1, .dpl = 0, .s = 1, .g = 1,
                               .l = code64 ? 1 : 0, .db = code64 ? 0 : 1 };
}

int vcpu_set_boot_state(struct vcpu *v, const struct boot_entry *entry)
{
    struct kvm_sregs sregs;
    if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
        return -1;
    flat_segment(&sregs.cs, BOOT_CS, 11, 1);
    flat_segment(&sregs.ds, BOOT_DS, 3, 0);
    sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
    sregs.gdt.base = entry->gdt_base;
    sregs.gdt.limit = entry->gdt_limit;
    sregs.cr3 = entry->cr3;
    sregs.cr4 = 0x20;                   /* PAE */
    sregs.cr0 = 0x80050033;             /* PG, AM, WP, NE, ET, MP, PE */
    sregs.efer = 0x500;                 /* LME, LMA */
    struct kvm_regs regs = { .rip = entry->rip, .rsi = entry->rsi, .rsp = entry->rsp, .rflags = 2 };
    struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
    if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(v->fd, KVM_SET_REGS, &regs) < 0 ||
        ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
        return -1;
    return 0;
}

static void vcpu_handle_io(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
    for (uint32_t i = 0; i < run->io.count; i++) {
        io_bus_access(&v->vm->pio, run->io.port, is_write, data, run->io.size);
        data += run->io.size;
    }
}

static void vcpu_handle_mmio(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    unsigned len = run->mmio.len <= 8 ? run->mmio.len : 8;
    io_bus_access(&v->vm->mmio, run->mmio.phys_addr, run->mmio.is_write, run->mmio.data, len);
}

/* One line with the vCPU state a post-mortem needs (where it was, its page tables and
 * descriptor tables, the event KVM was delivering): a triple fault or a failed entry
 * otherwise leaves nothing to go on. (After a triple fault on AMD, KVM has already
 * re-initialised the vCPU, so there the line shows the reset state.) */
static void vcpu_log_state(struct vcpu *v, const char *what)
{
    struct kvm_regs r;
    struct kvm_sregs s;
    struct kvm_vcpu_events e;
    if (ioctl(v->fd, KVM_GET_REGS, &r) || ioctl(v->fd, KVM_GET_SREGS, &s)) {
        vlog_warn("vCPU %d: %s (state unavailable: %s)", v->index, what, strerror(errno));
        return;
    }
    memset(&e, 0, sizeof(e));
    (void)ioctl(v->fd, KVM_GET_VCPU_EVENTS, &e);
    vlog_warn("vCPU %d: %s: rip=%#llx rsp=%#llx rflags=%#llx cs=%#x cr0=%#llx cr2=%#llx "
              "cr3=%#llx cr4=%#llx efer=%#llx idt=%#llx/%#x gdt=%#llx/%#x "
              "exception=%s%u(%#x) nmi=%u interrupt=%s%u",
              v->index, what, (unsigned long long)r.rip, (unsigned long long)r.rsp,
              (unsigned long long)r.rflags, s.cs.selector, (unsigned long long)s.cr0,
              (unsigned long long)s.cr2, (unsigned long long)s.cr3, (unsigned long long)s.cr4,
              (unsigned long long)s.efer, (unsigned long long)s.idt.base, s.idt.limit,
              (unsigned long long)s.gdt.base, s.gdt.limit,
              e.exception.injected || e.exception.pending ? "" : "none/", e.exception.nr,
              e.exception.error_code, e.nmi.injected, e.interrupt.injected ? "" : "none/",
              e.interrupt.nr);
}

static void vcpu_guest_error(struct vcpu *v, const char *what)
{
    struct vm *vm = v->vm;
    vcpu_log_state(v, what);
    if (atomic_load(&vm->stop_reason) == VM_RUNNING)
        snprintf(vm->error, sizeof(vm->error), "vCPU %d: %s", v->index, what);
    vm_request_stop(vm, VM_STOP_GUEST_ERROR);
}

static void vcpu_count_exit(struct vcpu *v, enum vcpu_exit_kind kind)
{
    atomic_fetch_add_explicit(&v->exits[kind], 1, memory_order_relaxed);
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *v = arg;
    struct vm *vm = v->vm;
    char name[16];

    snprintf(name, sizeof(name), "vcpu%d", v->index);
    pthread_setname_np(pthread_self(), name);
    vcpu_postmortem_arm(v);
    while (atomic_load(&vm->stop_reason) == VM_RUNNING) {
        if (atomic_load(&vm->paused)) {
            vm_pause_point(vm);
            continue;
        }
        if (ioctl(v->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                v->run->immediate_exit = 0;
                if (vlog_debug_enabled()) {
                    struct kvm_regs regs;
                    if (ioctl(v->fd, KVM_GET_REGS, &regs) == 0)
                        vlog_debug("vCPU %d at rip=0x%llx", v->index, (unsigned long long)regs.rip);
                }
                continue;
            }
            snprintf(vm->error, sizeof(vm->error), "vCPU %d: KVM_RUN failed: %s", v->index,
                     strerror(errno));
            vm_request_stop(vm, VM_STOP_VMM_ERROR);
            break;
        }
        if (v->run->exit_reason != KVM_EXIT_SHUTDOWN)
            vcpu_postmortem_record(v);
        switch (v->run->exit_reason) {
        case KVM_EXIT_IO:
            if (vm_hv_handle_io(v)) {
                vcpu_count_exit(v, EXIT_HYPERCALL);
            } else {
                vcpu_count_exit(v, EXIT_IO);
                vcpu_handle_io(v);
            }
            break;
        case KVM_EXIT_X86_RDMSR:
        case KVM_EXIT_X86_WRMSR:
            vcpu_count_exit(v, EXIT_MSR);
            vm_hv_handle_msr(v);
            break;
        case KVM_EXIT_MMIO:
            vcpu_count_exit(v, EXIT_MMIO);
            vcpu_handle_mmio(v);
            break;
        case KVM_EXIT_HLT:
        case KVM_EXIT_INTR:
            vcpu_count_exit(v, EXIT_OTHER);
            break;
        case KVM_EXIT_SHUTDOWN:
            vcpu_log_state(v, "triple fault");
            vcpu_postmortem_report(v);
            vm_request_stop(vm, VM_STOP_TRIPLE_FAULT);
            break;
        case KVM_EXIT_SYSTEM_EVENT:
            vm_request_stop(vm, v->run->system_event.type == KVM_SYSTEM_EVENT_RESET
                                    ? VM_STOP_RESET : VM_STOP_POWEROFF);
            break;
        case KVM_EXIT_INTERNAL_ERROR:
            vcpu_guest_error(v, v->run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
                                    ? "KVM could not emulate a guest instruction"
                                    : "KVM internal error");
            break;
        case KVM_EXIT_FAIL_ENTRY:
            vcpu_guest_error(v, "the CPU refused to enter the guest (invalid state)");
            break;
        default: {
            char what[64];
            snprintf(what, sizeof(what), "unexpected KVM exit %u", v->run->exit_reason);
            vcpu_guest_error(v, what);
            break;
        }
        }
    }
    return NULL;
}

int vcpu_start(struct vcpu *v)
{
    if (pthread_create(&v->thread, NULL, vcpu_thread, v) != 0)
        return -1;
    v->started = 1;
    return 0;
}

void vcpu_kick(struct vcpu *v)
{
    if (!v->started)
        return;
    v->run->immediate_exit = 1;
    pthread_kill(v->thread, SIG_VCPU_KICK);
}

void vcpu_destroy(struct vcpu *v)
{
    if (v->started) {
        pthread_join(v->thread, NULL);
        v->started = 0;
    }
    if (v->run)
        munmap(v->run, (size_t)v->vm->run_mmap_size);
    if (v->fd >= 0)
        close(v->fd);
    v->run = NULL;
    v->fd = -1;
}
