/* Everything `viridian run` was asked to do, parsed and checked. */
#ifndef VIRIDIAN_CORE_VM_CONFIG_H
#define VIRIDIAN_CORE_VM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kernel_image;
struct disk;

/* Disks on the synthetic SCSI controllers: at most 4 controllers x 64 LUNs, as Hyper-V. */
#define VM_MAX_CONTROLLERS 4
#define VM_MAX_LUNS 64
#define VM_MAX_DISKS (VM_MAX_CONTROLLERS * VM_MAX_LUNS)

struct vm_disk {
    const char *path;
    bool ro;
    bool dvd;               /* --dvd: a DVD drive (read-only) with this image */
    unsigned controller, lun;
    struct disk *disk;      /* opened by `viridian run` before the host is touched */
    char *owned_path;       /* a hot-added disk's copy of its path (path points here) */
};

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
    const char *name;       /* the VM's name: its control socket is named after it */
    const char *control;    /* control socket path, overriding the one from the name */
    enum reboot_action on_reboot;
    /* loaded and validated before the host is touched; the unpacked image is dropped
     * once placed in guest memory and loaded again from `kernel` on a guest reboot */
    struct kernel_image *kernel_image;
    const uint8_t *initrd_data;
    size_t initrd_size;
    struct vm_disk disks[VM_MAX_DISKS];
    unsigned ndisks;
};

#endif
