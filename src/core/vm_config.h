/* Everything `viridian run` was asked to do, parsed and checked. */
#ifndef VIRIDIAN_CORE_VM_CONFIG_H
#define VIRIDIAN_CORE_VM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kernel_image;

enum reboot_action {
    REBOOT_RESTART = 0,     /* a guest reboot restarts the VM, as Hyper-V does */
    REBOOT_EXIT,            /* a guest reboot ends viridian run (exit status 4) */
};

struct vm_config {
    const char *kernel;
    const char *initrd;
    const char *cmdline;
    uint64_t memory;
    int cpus;
    const char *console;    /* console spec, see core/console.h */
    enum reboot_action on_reboot;
    /* loaded and validated once, before the host is touched; reused on reboot */
    const struct kernel_image *kernel_image;
    const uint8_t *initrd_data;
    size_t initrd_size;
};

#endif
