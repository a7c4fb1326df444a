/* Is this host's /dev/kvm able to run an unmodified guest kernel?
 *
 * Besides the usual checks (device present and accessible, API version, the
 * capabilities Viridian uses), a tiny guest executes INT3 in 32-bit protected mode.
 * Hardware-backed KVM runs it; a software KVM such as kvm_pvm, which interprets
 * ring-0 code and cannot emulate INT3, stops with an emulation failure. Linux runs an
 * INT3 self-test early in boot, so such a host cannot boot a stock kernel. */
#ifndef VIRIDIAN_CORE_KVM_HOST_H
#define VIRIDIAN_CORE_KVM_HOST_H

#include <stddef.h>

enum kvm_host_status {
    KVM_HOST_OK = 0,
    KVM_HOST_MISSING,           /* no /dev/kvm */
    KVM_HOST_NO_ACCESS,         /* permission denied */
    KVM_HOST_UNSUPPORTED,       /* wrong API version or missing capabilities */
    KVM_HOST_NO_RING0,          /* software KVM: cannot run unmodified ring-0 code */
};

/* Checks the host; on failure fills msg with one line saying what is wrong and what
 * to do. When ok, *kvm_fd is an open /dev/kvm (if kvm_fd is not NULL). */
enum kvm_host_status kvm_host_check(int *kvm_fd, char *msg, size_t msglen);

#endif
