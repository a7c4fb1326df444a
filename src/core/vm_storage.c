#include "core/vm_storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
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
        free(cfg->disks[i].owned_path);
        cfg->disks[i].owned_path = NULL;
    }
}

int vm_disk_place(const struct vm_config *cfg, struct vm_disk *d, bool lun_given)
{
    bool used[VM_MAX_LUNS] = { false };
    for (unsigned i = 0; i < cfg->ndisks; i++)
        if (&cfg->disks[i] != d && cfg->disks[i].controller == d->controller &&
            cfg->disks[i].lun < VM_MAX_LUNS)
            used[cfg->disks[i].lun] = true;
    if (lun_given)
        return d->lun < VM_MAX_LUNS && !used[d->lun] ? 0 : VM_PLACE_TAKEN;
    for (d->lun = 0; d->lun < VM_MAX_LUNS; d->lun++)
        if (!used[d->lun])
            return 0;
    return VM_PLACE_FULL;
}

/* The configuration is `viridian run`'s own (not const there); the VM holds it const so
 * that nothing else changes it. Its disk slots are this file's to manage. */
static struct vm_config *run_config(struct vm *vm)
{
    return (struct vm_config *)vm->cfg;
}

int vm_storage_add_disk(struct vm *vm, const char *path, bool ro, int controller, int lun,
                        unsigned *placed, char *err, size_t errlen)
{
    struct vm_config *cfg = run_config(vm);
    if (controller < 0)
        controller = 0;
    if (controller >= VM_MAX_CONTROLLERS || !vm->storage[controller]) {
        snprintf(err, errlen, "SCSI controller %d was not there at start (disks can be hot "
                 "added only to controllers that had a disk or DVD drive when the VM started)",
                 controller);
        return -1;
    }
    if (cfg->ndisks >= VM_MAX_DISKS) {
        snprintf(err, errlen, "the VM has %d disks already", VM_MAX_DISKS);
        return -1;
    }
    struct vm_disk *d = &cfg->disks[cfg->ndisks];
    memset(d, 0, sizeof(*d));
    d->controller = (unsigned)controller;
    d->lun = lun < 0 ? 0 : (unsigned)lun;
    d->ro = ro;
    int rc = vm_disk_place(cfg, d, lun >= 0);
    if (rc < 0) {
        if (rc == VM_PLACE_FULL)
            snprintf(err, errlen, "controller %d has no free LUN", controller);
        else
            snprintf(err, errlen, "controller %d LUN %d is taken (or out of range)", controller, lun);
        return -1;
    }
    char derr[DISK_ERR_LEN] = "";
    if (disk_open(path, DISK_FORMAT_AUTO, ro ? DISK_OPEN_RDONLY : 0, &d->disk, derr) < 0) {
        snprintf(err, errlen, "%s: %s", path, derr[0] ? derr : "cannot open it");
        d->disk = NULL;
        return -1;
    }
    if (!(d->owned_path = strdup(path)) ||
        storvsp_hot_add(vm->storage[controller], d->lun, d->disk, ro ? SCSI_DISK_RO : 0) < 0) {
        snprintf(err, errlen, "cannot attach %s to controller %d LUN %u", path, controller, d->lun);
        free(d->owned_path);
        disk_close(d->disk);
        memset(d, 0, sizeof(*d));
        return -1;
    }
    d->path = d->owned_path;
    *placed = d->controller << 8 | d->lun;
    cfg->ndisks++;
    return 0;
}

int vm_storage_remove_disk(struct vm *vm, unsigned controller, unsigned lun, char *err,
                           size_t errlen)
{
    struct vm_config *cfg = run_config(vm);
    unsigned i = 0;
    while (i < cfg->ndisks && (cfg->disks[i].controller != controller || cfg->disks[i].lun != lun))
        i++;
    struct disk *old = NULL;
    if (i == cfg->ndisks || controller >= VM_MAX_CONTROLLERS ||
        storvsp_hot_remove(vm->storage[controller], lun, &old) < 0) {
        snprintf(err, errlen, "there is no disk at controller %u LUN %u", controller, lun);
        return -1;
    }
    if (old)
        disk_close(old);
    free(cfg->disks[i].owned_path);
    memmove(&cfg->disks[i], &cfg->disks[i + 1], (cfg->ndisks - i - 1) * sizeof(cfg->disks[0]));
    cfg->ndisks--;
    return 0;
}

/* Disk full: the VM stays paused while any guest write waits for host space (storvsp
 * retries it); one line on stderr when that starts and one when it ends. */
static void disk_full_hook(void *ctx, unsigned controller, unsigned lun, bool waiting)
{
    struct vm *vm = ctx;
    if (waiting) {
        if (atomic_fetch_add(&vm->disk_full, 1) == 0)
            vlog_warn("disk full: a write to SCSI controller %u LUN %u found no space on the host; "
                      "the VM is paused until it goes through (retried every %u s, or at "
                      "`viridian vm resume`)", controller, lun, STORVSP_NOSPACE_RETRY_MS / 1000);
        vm_pause(vm);
    } else {
        if (atomic_fetch_sub(&vm->disk_full, 1) == 1)
            vlog_warn("disk space available again: the VM runs");
        vm_resume(vm);
    }
}

void vm_storage_retry(struct vm *vm)
{
    for (unsigned i = 0; i < VM_MAX_CONTROLLERS; i++)
        storvsp_retry_now(vm->storage[i]);
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
            storvsp_set_space_hook(*c, disk_full_hook, vm, STORVSP_NOSPACE_RETRY_MS);
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

int vm_storage_change_medium(struct vm *vm, int controller, int lun,
                             const char *path, char *err, size_t errlen)
{
    struct vm_config *cfg = run_config(vm);
    struct vm_disk *slot = NULL;
    for (unsigned i = 0; i < cfg->ndisks && !slot; i++)
        if (cfg->disks[i].dvd && (controller < 0 || cfg->disks[i].controller == (unsigned)controller) &&
            (lun < 0 || cfg->disks[i].lun == (unsigned)lun))
            slot = &cfg->disks[i];
    if (!slot) {
        if (controller < 0 && lun < 0)
            snprintf(err, errlen, "the VM has no DVD drive (start it with --dvd)");
        else
            snprintf(err, errlen, "there is no DVD drive at controller %d LUN %d", controller, lun);
        return -1;
    }
    struct disk *d = NULL, *old = NULL;
    if (path) {
        char derr[DISK_ERR_LEN] = "";
        if (disk_open(path, DISK_FORMAT_RAW, DISK_OPEN_RDONLY, &d, derr) < 0) {
            snprintf(err, errlen, "%s: %s", path, derr[0] ? derr : "cannot open it");
            return -1;
        }
    }
    if (storvsp_change_medium(vm->storage[slot->controller], slot->lun, d, &old) < 0) {
        if (d)
            disk_close(d);
        snprintf(err, errlen, "the DVD drive at controller %u LUN %u is not attached",
                 slot->controller, slot->lun);
        return -1;
    }
    slot->disk = d;
    if (old)
        disk_close(old);
    return 0;
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
