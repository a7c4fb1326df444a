/* Everything `viridian run` was asked to do, parsed and checked. */
#ifndef VIRIDIAN_CORE_VM_CONFIG_H
#define VIRIDIAN_CORE_VM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/tap.h"

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

/* Synthetic NICs (netvsp) on virtual switches: at most 8, as Hyper-V's synthetic ones. */
#define VM_MAX_NICS 8

struct vm_nic {
    const char *switch_name;
    uint8_t mac[6];         /* given with mac=, else generated (vm_nic_default_mac) */
    uint16_t vlan;          /* access VLAN 1..4094; 0 none */
    bool allow_spoofing;    /* spoofing=allow: the guest may send from other MACs */
    /* per run (vm_net_open/vm_net_close): the switch port, which outlives reboots */
    struct tap tap;         /* fd -1 while not open */
    bool vlan_by_bridge;    /* the bridge filters VLANs: the port is its access port;
                               else netvsp tags and filters (kernels without filtering) */
    bool link_down;         /* set from the host (viridian vm nic-link) */
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
    struct vm_nic nics[VM_MAX_NICS];
    unsigned nnics;
};

#endif
