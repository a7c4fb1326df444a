#include "core/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/acpi_vmbus.h"
#include "arch/x86/boot.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "core/control.h"
#include "core/log.h"
#include "core/vcpu.h"
#include "core/vm_hv.h"
#include "dev/i8042.h"

#define TSS_ADDR 0xfffbd000ull
#define IDENTITY_MAP_ADDR 0xfffbc000ull

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void machine_set_irq(void *ctx, unsigned gsi, int level)
{
    struct vm *vm = ctx;
    struct kvm_irq_level irq = { .irq = gsi, .level = (uint32_t)level };
    if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
        vlog_debug("KVM_IRQ_LINE %u: %s", gsi, strerror(errno));
}

static void machine_request_stop(void *ctx, enum vm_stop_reason why)
{
    vm_request_stop(ctx, why);
}

static uint64_t machine_now_ns(void *ctx)
{
    struct vm *vm = ctx;
    return monotonic_ns() - vm->start_ns;
}

void vm_exit_counts(struct vm *vm, uint64_t counts[EXIT_KINDS])
{
    for (int k = 0; k < EXIT_KINDS; k++)
        counts[k] = 0;
    for (int i = 0; i < vm->nvcpus; i++)
        for (int k = 0; k < EXIT_KINDS; k++)
            counts[k] += atomic_load_explicit(&vm->vcpus[i].exits[k], memory_order_relaxed);
}

void vm_request_stop(struct vm *vm, enum vm_stop_reason why)
{
    int expected = VM_RUNNING;
    if (!atomic_compare_exchange_strong(&vm->stop_reason, &expected, (int)why)) {
        /* The host's stop outranks a guest reboot that raced it: with --on-reboot
         * restart the reboot would otherwise swallow the signal and the VM run on. */
        if (why == VM_STOP_HOST && expected == VM_STOP_RESET)
            atomic_compare_exchange_strong(&vm->stop_reason, &expected, (int)why);
        return;
    }
    uint64_t one = 1;
    if (write(vm->wake_fd, &one, sizeof(one)) < 0)
        vlog_debug("wake: %s", strerror(errno));
    for (int i = 0; i < vm->nvcpus; i++)
        vcpu_kick(&vm->vcpus[i]);
    pthread_mutex_lock(&vm->pause_mu); /* a paused vCPU must see the stop */
    pthread_cond_broadcast(&vm->pause_cv);
    pthread_mutex_unlock(&vm->pause_mu);
}

void vm_pause(struct vm *vm)
{
    pthread_mutex_lock(&vm->pause_mu);
    if (vm->pause_count++ == 0)
        atomic_store(&vm->paused, 1);
    pthread_mutex_unlock(&vm->pause_mu);
    for (int i = 0; i < vm->nvcpus; i++)
        vcpu_kick(&vm->vcpus[i]);
}

void vm_resume(struct vm *vm)
{
    pthread_mutex_lock(&vm->pause_mu);
    if (vm->pause_count && --vm->pause_count == 0) {
        atomic_store(&vm->paused, 0);
        pthread_cond_broadcast(&vm->pause_cv);
    }
    pthread_mutex_unlock(&vm->pause_mu);
}

void vm_pause_point(struct vm *vm)
{
    pthread_mutex_lock(&vm->pause_mu);
    while (vm->pause_count && atomic_load(&vm->stop_reason) == VM_RUNNING)
        pthread_cond_wait(&vm->pause_cv, &vm->pause_mu);
    pthread_mutex_unlock(&vm->pause_mu);
}

static void console_input(void *ctx, const uint8_t *data, size_t len)
{
    struct vm *vm = ctx;
    uart_receive(&vm->uart, data, len); /* what does not fit in the FIFO is dropped */
}

static void console_quit(void *ctx)
{
    vm_request_stop(ctx, VM_STOP_HOST);
}

static int vm_fail(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int vm_fail(struct vm *vm, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vm->error, sizeof(vm->error), fmt, ap);
    va_end(ap);
    return -1;
}

/* Guest RAM: anonymous, reserved lazily, 2 MiB aligned and backed by transparent huge
 * pages where the host allows, which cuts page faults and second-level TLB misses. */
static uint8_t *map_ram(uint64_t size)
{
    const uint64_t huge = 2ull << 20;
    uint8_t *p = mmap(NULL, size + huge, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uint8_t *aligned = (uint8_t *)(((uintptr_t)p + huge - 1) & ~(uintptr_t)(huge - 1));
    if (aligned > p)
        munmap(p, (size_t)(aligned - p));
    if (p + size + huge > aligned + size)
        munmap(aligned + size, (size_t)(p + size + huge - (aligned + size)));
    madvise(aligned, size, MADV_HUGEPAGE);
    return aligned;
}

static int vm_setup_memory(struct vm *vm)
{
    struct ram_layout l = ram_layout_for(vm->cfg->memory);
    vm->ram_low_size = l.low_end;
    vm->ram_high_size = l.high_size;
    vm->ram_low = map_ram(l.low_end);
    if (!vm->ram_low)
        return vm_fail(vm, "cannot reserve %llu MiB of guest memory: %s",
                       (unsigned long long)(vm->cfg->memory >> 20), strerror(errno));
    struct kvm_userspace_memory_region r0 = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = l.low_end, .userspace_addr = (uintptr_t)vm->ram_low
    };
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r0) < 0)
        return vm_fail(vm, "KVM refused guest memory: %s", strerror(errno));
    gmem_add_region(&vm->mem, 0, l.low_end, vm->ram_low);
    if (l.high_size) {
        vm->ram_high = map_ram(l.high_size);
        if (!vm->ram_high)
            return vm_fail(vm, "cannot reserve %llu MiB of guest memory: %s",
                           (unsigned long long)(vm->cfg->memory >> 20), strerror(errno));
        struct kvm_userspace_memory_region r1 = {
            .slot = 1, .guest_phys_addr = GPA_4G, .memory_size = l.high_size,
            .userspace_addr = (uintptr_t)vm->ram_high
        };
        if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r1) < 0)
            return vm_fail(vm, "KVM refused guest memory above 4 GiB: %s", strerror(errno));
        gmem_add_region(&vm->mem, GPA_4G, l.high_size, vm->ram_high);
    }
    return 0;
}

static int vm_setup_platform(struct vm *vm)
{
    if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)TSS_ADDR) < 0)
        return vm_fail(vm, "KVM_SET_TSS_ADDR: %s", strerror(errno));
    uint64_t idmap = IDENTITY_MAP_ADDR;
    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap); /* VMX only; harmless elsewhere */
    if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
        return vm_fail(vm, "cannot create the in-kernel interrupt controllers: %s", strerror(errno));
    /* SPEAKER_DUMMY: KVM also serves port 0x61, whose bit 5 (PIT channel 2 output) the
     * guest polls to calibrate the TSC. */
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
        return vm_fail(vm, "cannot create the in-kernel PIT: %s", strerror(errno));

    vm->machine = (struct machine){ vm, machine_set_irq, machine_request_stop, machine_now_ns };
    uart_init(&vm->uart, &vm->machine, UART_COM1_IRQ, vm->console);
    rtc_init(&vm->rtc);
    acpi_pm_init(&vm->pm, &vm->machine);
    if (io_bus_register(&vm->pio, UART_COM1_PORT, 8, uart_io, &vm->uart) < 0 ||
        io_bus_register(&vm->pio, RTC_PORT, 2, rtc_io, &vm->rtc) < 0 ||
        io_bus_register(&vm->pio, ACPI_PM1_EVT_PORT, 12, acpi_pm_io, &vm->pm) < 0 ||
        io_bus_register(&vm->pio, ACPI_RESET_PORT, 1, acpi_pm_reset_io, &vm->pm) < 0 ||
        io_bus_register(&vm->pio, I8042_DATA_PORT, 1, i8042_data_io, &vm->machine) < 0 ||
        io_bus_register(&vm->pio, I8042_CMD_PORT, 1, i8042_cmd_io, &vm->machine) < 0)
        return vm_fail(vm, "device port ranges overlap");
    return 0;
}

static int vm_load_guest(struct vm *vm, struct boot_entry *entry)
{
    char err[KERNEL_ERR_LEN];
    struct kernel_image *k = vm->cfg->kernel_image;
    if (!k->elf && kernel_image_load_file(vm->cfg->kernel, k, err) < 0)
        return vm_fail(vm, "cannot load the kernel again for the reboot: %s", err);
    struct acpi_config acpi = { .cpus = vm->nvcpus, .add_devices = acpi_add_vmbus };
    uint64_t rsdp = acpi_build(gmem_ptr(&vm->mem, GPA_ACPI, ACPI_AREA_SIZE), ACPI_AREA_SIZE,
                               GPA_ACPI, &acpi);
    if (!rsdp)
        return vm_fail(vm, "the ACPI tables do not fit in their area");
    struct boot_request req = {
        .kernel = k, .initrd = vm->cfg->initrd_data,
        .initrd_size = vm->cfg->initrd_size, .cmdline = vm->cfg->cmdline ? vm->cfg->cmdline : "",
        .mem_size = vm->cfg->memory, .rsdp_gpa = rsdp,
    };
    int rc = boot_prepare(&vm->mem, &req, entry, err);
    kernel_image_free(k); /* tens of MiB the VM does not need while it runs */
    return rc < 0 ? vm_fail(vm, "%s", err) : 0;
}

static int vm_create_vcpus(struct vm *vm, const struct boot_entry *entry)
{
    vm->vcpus = calloc((size_t)vm->nvcpus, sizeof(*vm->vcpus));
    if (!vm->vcpus)
        return vm_fail(vm, "out of memory");
    for (int i = 0; i < vm->nvcpus; i++)
        vm->vcpus[i].fd = -1;
    for (int i = 0; i < vm->nvcpus; i++)
        if (vcpu_create(vm, &vm->vcpus[i], i) < 0)
            return -1;
    if (vm_hv_setup(vm) < 0)
        return -1;
    if (vcpu_set_boot_state(&vm->vcpus[0], entry) < 0)
        return vm_fail(vm, "cannot set the boot processor's state: %s", strerror(errno));
    return 0;
}

/* The main thread waits here: console I/O, SIGINT/SIGTERM, and the stop event. */
static void vm_wait(struct vm *vm, int sig_fd)
{
    uint64_t next_tick = monotonic_ns(), ticks = 0;
    while (atomic_load(&vm->stop_reason) == VM_RUNNING) {
        struct pollfd fds[8];
        int n = 0;
        fds[n++] = (struct pollfd){ .fd = vm->wake_fd, .events = POLLIN };
        fds[n++] = (struct pollfd){ .fd = sig_fd, .events = POLLIN };
        int ncons = console_pollfds(vm->console, fds + n, 8 - n);
        uint64_t now = monotonic_ns();
        int timeout = now >= next_tick ? 0 : (int)((next_tick - now) / 1000000) + 1;
        if (poll(fds, (nfds_t)(n + ncons), timeout) < 0 && errno != EINTR)
            break;
        if (monotonic_ns() >= next_tick) {
            next_tick += 1000000000ull;
            vm_hv_tick(vm);
            /* with VIRIDIAN_DEBUG, every 2 s each vCPU reports where it is */
            if (vlog_debug_enabled() && (++ticks % 2) == 0)
                for (int i = 0; i < vm->nvcpus; i++)
                    vcpu_kick(&vm->vcpus[i]);
        }
        if (fds[1].revents) {
            struct signalfd_siginfo si;
            if (read(sig_fd, &si, sizeof(si)) == sizeof(si))
                vm_request_stop(vm, VM_STOP_HOST);
        }
        console_handle(vm->console, fds + n, ncons);
    }
}

static void vm_destroy(struct vm *vm)
{
    if (vm->vcpus) {
        for (int i = 0; i < vm->nvcpus; i++)
            vcpu_kick(&vm->vcpus[i]);
        for (int i = 0; i < vm->nvcpus; i++)
            vcpu_destroy(&vm->vcpus[i]);
        free(vm->vcpus);
    }
    vm_hv_destroy(vm);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->ram_low)
        munmap(vm->ram_low, vm->ram_low_size);
    if (vm->ram_high)
        munmap(vm->ram_high, vm->ram_high_size);
    if (vm->wake_fd >= 0)
        close(vm->wake_fd);
    pthread_mutex_destroy(&vm->pause_mu);
    pthread_cond_destroy(&vm->pause_cv);
}

/* One boot, from an empty partition to a stop. */
static enum vm_stop_reason vm_boot_once(int kvm_fd, const struct vm_config *cfg,
                                        struct console *console, struct control_server *control,
                                        int sig_fd)
{
    struct vm *vm = calloc(1, sizeof(*vm));
    struct boot_entry entry;
    enum vm_stop_reason why = VM_STOP_VMM_ERROR;

    if (!vm) {
        vlog_error("out of memory");
        return VM_STOP_VMM_ERROR;
    }
    vm->cfg = cfg;
    vm->kvm_fd = kvm_fd;
    vm->console = console;
    vm->nvcpus = cfg->cpus;
    vm->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    vm->start_ns = monotonic_ns();
    pthread_mutex_init(&vm->pause_mu, NULL);
    pthread_cond_init(&vm->pause_cv, NULL);
    vm->run_mmap_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    vm->vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    atomic_store(&vm->stop_reason, VM_RUNNING);
    console->input = console_input;
    console->quit = console_quit;
    console->ctx = vm;

    int ready = vm->wake_fd >= 0 && vm->run_mmap_size > 0 && vm->vm_fd >= 0;
    if (!ready)
        vm_fail(vm, "cannot create a KVM partition: %s", strerror(errno));
    ready = ready && vm_setup_memory(vm) == 0 && vm_setup_platform(vm) == 0 &&
            vm_load_guest(vm, &entry) == 0 && vm_create_vcpus(vm, &entry) == 0;
    if (!ready) {
        vlog_error("%s", vm->error);
    } else {
        vlog_debug("partition ready in %llu ms", (unsigned long long)(machine_now_ns(vm) / 1000000));
        for (int i = 0; i < vm->nvcpus; i++) {
            if (vcpu_start(&vm->vcpus[i]) < 0) {
                vm_fail(vm, "cannot start vCPU threads");
                vm_request_stop(vm, VM_STOP_VMM_ERROR);
                break;
            }
        }
        control_attach(control, vm);
        vm_wait(vm, sig_fd);
        control_detach(control);
        why = (enum vm_stop_reason)atomic_load(&vm->stop_reason);
        if (why == VM_STOP_GUEST_ERROR || why == VM_STOP_VMM_ERROR)
            vlog_error("%s%s", why == VM_STOP_GUEST_ERROR ? "the guest stopped: " : "", vm->error);
    }
    console->input = NULL;
    console->quit = NULL;
    vm_destroy(vm);
    free(vm);
    return why;
}

enum vm_stop_reason vm_run_config(int kvm_fd, const struct vm_config *cfg, struct console *console,
                                  struct control_server *control)
{
    sigset_t set;
    enum vm_stop_reason why;

    vcpu_signals_init();
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* vCPU threads inherit the mask */
    int sig_fd = signalfd(-1, &set, SFD_CLOEXEC);

    do {
        why = vm_boot_once(kvm_fd, cfg, console, control, sig_fd);
        if (why == VM_STOP_RESET && cfg->on_reboot == REBOOT_RESTART)
            vlog_debug("guest reboot: restarting the partition");
    } while (why == VM_STOP_RESET && cfg->on_reboot == REBOOT_RESTART);

    if (sig_fd >= 0)
        close(sig_fd);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    return why;
}
