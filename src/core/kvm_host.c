#include "core/kvm_host.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define PROBE_MEM 0x10000
#define PROBE_PORT 0x80
#define PROBE_VALUE 0x42

static const struct { long cap; const char *name; } required_caps[] = {
    { KVM_CAP_IRQCHIP, "in-kernel irqchip" },
    { KVM_CAP_USER_MEMORY, "user memory" },
    { KVM_CAP_PIT2, "in-kernel PIT" },
    { KVM_CAP_EXT_CPUID, "CPUID control" },
    { KVM_CAP_IMMEDIATE_EXIT, "immediate exit" },
    { KVM_CAP_X86_USER_SPACE_MSR, "user-space MSR exits" },
};

static const char *const what_to_do =
    "use a host with hardware virtualization (Intel VT-x or AMD-V, with kvm_intel or "
    "kvm_amd loaded), or run inside the lab: tools/lab run -- viridian run ...";

static void segment(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
    *s = (struct kvm_segment){ .base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
                               .present = 1, .dpl = 0, .db = 1, .s = 1, .g = 1 };
}

/* Runs INT3 at CPL0 in protected mode; the #BP handler writes PROBE_VALUE to
 * PROBE_PORT. Returns 1 if that exit arrives, 0 on an emulation failure, -1 if the
 * probe itself could not be set up. */
static int probe_ring0(int kvm_fd, char *detail, size_t len)
{
    int vm = -1, vcpu = -1, rc = -1;
    struct kvm_run *run = MAP_FAILED;
    int run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    uint8_t *mem = mmap(NULL, PROBE_MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (mem == MAP_FAILED || run_size <= 0)
        goto out;
    uint64_t *gdt = (uint64_t *)mem;
    gdt[1] = 0x00cf9b000000ffffull; /* 32-bit code */
    gdt[2] = 0x00cf93000000ffffull; /* data */
    uint32_t handler = 0x1100;
    uint8_t *idt3 = mem + 0x100 + 3 * 8; /* interrupt gate for #BP */
    idt3[0] = (uint8_t)handler;
    idt3[1] = (uint8_t)(handler >> 8);
    idt3[2] = 0x08;
    idt3[3] = 0;
    idt3[4] = 0;
    idt3[5] = 0x8e;
    idt3[6] = 0;
    idt3[7] = 0;
    memcpy(mem + 0x1000, "\xcc\xf4", 2);                    /* int3; hlt */
    memcpy(mem + handler, "\xb0\x42\xe6\x80\xf4", 5);       /* mov al,0x42; out 0x80,al; hlt */

    vm = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    if (vm < 0)
        goto out;
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = PROBE_MEM, .userspace_addr = (uintptr_t)mem
    };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        goto out;
    vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0)
        goto out;
    run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED)
        goto out;

    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
        goto out;
    segment(&sregs.cs, 0x08, 11);
    segment(&sregs.ds, 0x10, 3);
    sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
    sregs.gdt.base = 0;
    sregs.gdt.limit = 3 * 8 - 1;
    sregs.idt.base = 0x100;
    sregs.idt.limit = 0x7ff;
    sregs.cr0 = 0x11; /* PE, ET */
    struct kvm_regs regs = { .rip = 0x1000, .rsp = 0x8000, .rflags = 2 };
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
        goto out;

    for (int i = 0; i < 4; i++) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (run->exit_reason == KVM_EXIT_IO && run->io.port == PROBE_PORT &&
            run->io.direction == KVM_EXIT_IO_OUT &&
            *((uint8_t *)run + run->io.data_offset) == PROBE_VALUE) {
            rc = 1;
            break;
        }
        if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR) {
            snprintf(detail, len, "KVM internal error, suberror %u", run->internal.suberror);
            rc = 0;
            break;
        }
        snprintf(detail, len, "unexpected KVM exit %u", run->exit_reason);
        rc = 0;
        break;
    }
out:
    if (run != MAP_FAILED)
        munmap(run, (size_t)run_size);
    if (vcpu >= 0)
        close(vcpu);
    if (vm >= 0)
        close(vm);
    if (mem != MAP_FAILED)
        munmap(mem, PROBE_MEM);
    return rc;
}

enum kvm_host_status kvm_host_check(int *kvm_fd_out, char *msg, size_t msglen)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            snprintf(msg, msglen, "/dev/kvm does not exist: this host has no KVM; %s", what_to_do);
            return KVM_HOST_MISSING;
        }
        if (errno == EACCES || errno == EPERM) {
            snprintf(msg, msglen, "no permission to open /dev/kvm: run as root or add your user "
                     "to the group that owns /dev/kvm (usually 'kvm')");
            return KVM_HOST_NO_ACCESS;
        }
        snprintf(msg, msglen, "cannot open /dev/kvm: %s", strerror(errno));
        return KVM_HOST_MISSING;
    }
    if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
        snprintf(msg, msglen, "/dev/kvm speaks an unknown KVM API version; %s", what_to_do);
        close(fd);
        return KVM_HOST_UNSUPPORTED;
    }
    for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
        if (ioctl(fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
            snprintf(msg, msglen, "this host's KVM lacks %s, which viridian needs; update the "
                     "host kernel or %s", required_caps[i].name, what_to_do);
            close(fd);
            return KVM_HOST_UNSUPPORTED;
        }
    }
    char detail[128] = "";
    int ring0 = probe_ring0(fd, detail, sizeof(detail));
    if (ring0 != 1) {
        int pvm = access("/sys/module/kvm_pvm", F_OK) == 0;
        if (ring0 == 0)
            snprintf(msg, msglen, "this host's KVM cannot run an unmodified guest kernel: it "
                     "emulates ring-0 code in software and fails on INT3 (%s%s); %s",
                     pvm ? "kvm_pvm, " : "", detail, what_to_do);
        else
            snprintf(msg, msglen, "could not test this host's KVM (%s); %s", strerror(errno), what_to_do);
        close(fd);
        return KVM_HOST_NO_RING0;
    }
    if (kvm_fd_out)
        *kvm_fd_out = fd;
    else
        close(fd);
    return KVM_HOST_OK;
}
