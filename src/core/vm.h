/* A partition: guest memory, vCPUs, the in-kernel irqchip and PIT, the platform
 * devices, and the thread that waits for it to stop. One `struct vm` lives for one
 * boot; a guest reboot builds a fresh one (see vm_run_config()). */
#ifndef VIRIDIAN_CORE_VM_H
#define VIRIDIAN_CORE_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/console.h"
#include "core/guest_mem.h"
#include "core/io_bus.h"
#include "core/vcpu_postmortem.h"
#include "core/machine.h"
#include "core/vm_config.h"
#include "dev/acpi_pm.h"
#include "dev/rtc.h"
#include "dev/uart.h"

struct vm;
struct hv_partition;
struct vmbus_host;
struct ic;
struct storvsp;
struct vm_net;

/* Exits that reached user space, by kind; written by the vCPU's own thread, read by
 * anyone (relaxed: statistics). */
enum vcpu_exit_kind { EXIT_IO, EXIT_MMIO, EXIT_MSR, EXIT_HYPERCALL, EXIT_OTHER, EXIT_KINDS };

struct vcpu {
    struct vm *vm;
    int index;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    int started;
    _Atomic uint64_t exits[EXIT_KINDS];
    struct vcpu_postmortem pm;
};

struct vm {
    const struct vm_config *cfg;
    int kvm_fd, vm_fd;
    int run_mmap_size;
    uint8_t *ram_low, *ram_high;
    uint64_t ram_low_size, ram_high_size;
    struct guest_mem mem;
    struct io_bus pio, mmio;
    struct machine machine;
    struct console *console;
    struct uart uart;
    struct rtc rtc;
    struct acpi_pm pm;
    struct hv_partition *hv;
    struct vmbus_host *vmbus;
    struct ic *ic;                  /* integration services (shutdown, heartbeat, ...) */
    struct storvsp *storage[VM_MAX_CONTROLLERS]; /* SCSI controllers with disks, or NULL */
    struct vm_net *net;             /* this boot's synthetic NICs (vm_net.c), or NULL */
    int nvcpus;
    struct vcpu *vcpus;
    _Atomic int stop_reason;
    int wake_fd;            /* eventfd: the main loop wakes when the VM stops */
    uint64_t start_ns;
    /* Pause (vm_pause/vm_resume): while pause_count > 0 the vCPU threads wait outside
     * KVM_RUN, in vm_pause_point(). paused mirrors pause_count != 0 for the fast check. */
    pthread_mutex_t pause_mu;
    pthread_cond_t pause_cv;
    unsigned pause_count;
    _Atomic int paused;
    _Atomic int disk_full;  /* guest writes waiting for host disk space (vm_storage.c) */
    char error[512];        /* why, for VM_STOP_GUEST_ERROR / VM_STOP_VMM_ERROR */
};

/* Boots the configured kernel, restarting on guest reboot when configured to, until
 * the guest powers off or something ends the run. Returns the stop reason; for errors
 * a message has been printed. */
struct control_server;
enum vm_stop_reason vm_run_config(int kvm_fd, const struct vm_config *cfg, struct console *console,
                                  struct control_server *control);

/* Sum of the exits of every vCPU, by kind. */
void vm_exit_counts(struct vm *vm, uint64_t counts[EXIT_KINDS]);

/* Stops the VM from any thread; the first reason wins, except that a host stop
 * replaces a guest reset (so a signal during reboot cycling is never lost). */
void vm_request_stop(struct vm *vm, enum vm_stop_reason why);

/* Pauses the guest from any thread: every vCPU is kicked out of KVM_RUN and waits until
 * as many vm_resume() calls as vm_pause() ones have been made (nested: each pauser
 * resumes its own), or the VM stops. Devices and their threads keep running. */
void vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
/* A vCPU thread, between KVM_RUNs: waits here while the VM is paused. */
void vm_pause_point(struct vm *vm);

#endif
