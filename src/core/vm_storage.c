#include "core/vm_storage.h"

#include <stdio.h>

#include "disk/disk.h"
#include "vsp/scsi_disk.h"
#include "vsp/storvsp.h"

int vm_storage_open(struct vm_config *cfg, char *err, size_t errlen)
{
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        struct vm_disk *d = &cfg->disks[i];
        char derr[DISK_ERR_LEN] = "";
        /* a DVD image is the disc's bytes, whatever they look like */
        int rc = disk_open(d->path, d->dvd ? DISK_FORMAT_RAW : DISK_FORMAT_AUTO,
                           d->ro ? DISK_OPEN_RDONLY : 0, &d->disk, derr);
        if (rc < 0) {
            snprintf(err, errlen, "--%s %s: %s", d->dvd ? "dvd" : "disk", d->path,
                     derr[0] ? derr : "cannot open it");
            vm_storage_close(cfg);
            return -1;
        }
    }
    return 0;
}

void vm_storage_close(struct vm_config *cfg)
{
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        if (cfg->disks[i].disk)
            disk_close(cfg->disks[i].disk);
        cfg->disks[i].disk = NULL;
    }
}

int vm_storage_attach(struct vm *vm, const struct vmbus_device_desc **descs, unsigned n,
                      unsigned cap)
{
    const struct vm_config *cfg = vm->cfg;
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        const struct vm_disk *d = &cfg->disks[i];
        struct storvsp **c = &vm->storage[d->controller];
        if (!*c) {
            /* one queue per vCPU: storvsc asks for online CPUs - 1 sub-channels */
            unsigned sub = vm->nvcpus > 1 ? (unsigned)vm->nvcpus - 1 : 0;
            if (sub > STORVSP_MAX_SUBCHANNELS)
                sub = STORVSP_MAX_SUBCHANNELS;
            if (n >= cap || !(*c = storvsp_create(d->controller, sub))) {
                snprintf(vm->error, sizeof(vm->error), "cannot create SCSI controller %u",
                         d->controller);
                return -1;
            }
            descs[n++] = storvsp_desc(*c);
        }
        unsigned flags = (d->ro ? SCSI_DISK_RO : 0) | (d->dvd ? SCSI_DISK_CDROM : 0);
        if (storvsp_attach_disk(*c, d->lun, d->disk, flags) < 0) {
            snprintf(vm->error, sizeof(vm->error), "cannot attach %s to controller %u LUN %u",
                     d->path, d->controller, d->lun);
            return -1;
        }
    }
    return (int)n;
}

void vm_storage_stop(struct vm *vm)
{
    for (unsigned i = 0; i < VM_MAX_CONTROLLERS; i++)
        storvsp_stop(vm->storage[i]);
}

void vm_storage_detach(struct vm *vm)
{
    for (unsigned i = 0; i < VM_MAX_CONTROLLERS; i++) {
        storvsp_destroy(vm->storage[i]);
        vm->storage[i] = NULL;
    }
}
