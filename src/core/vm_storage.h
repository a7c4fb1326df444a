/* The VM's disks: opened once per `viridian run` (so that a bad image is reported before
 * the host is touched, and survives guest reboots), and attached to synthetic SCSI
 * controllers (src/vsp/storvsp.h) for each boot. */
#ifndef VIRIDIAN_CORE_VM_STORAGE_H
#define VIRIDIAN_CORE_VM_STORAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/vm.h"
#include "core/vm_config.h"
#include "vmbus/vmbus_device.h"

/* Opens every configured disk (read-only ones read-only). 0, or -1 with one line in err
 * (the others are closed again). */
int vm_storage_open(struct vm_config *cfg, char *err, size_t errlen);
void vm_storage_close(struct vm_config *cfg);
/* Creates the controllers that have disks and appends their descriptors to descs
 * (room for `cap`). Returns the new count, or -1 with vm->error set. */
int vm_storage_attach(struct vm *vm, const struct vmbus_device_desc **descs, unsigned n,
                      unsigned cap);
/* While running: puts the image at `path` (NULL: none, an eject) into the DVD drive at
 * controller/lun (a negative one: the first DVD drive that matches). The change outlives guest reboots (the drive's slot in the run's
 * configuration holds the disc). 0, or -1 with one line in err. */
int vm_storage_change_medium(struct vm *vm, int controller, int lun,
                             const char *path, char *err, size_t errlen);
/* Places `d` (its controller set) among cfg's disks: with lun_given, checks that its
 * LUN is free, else picks the lowest free one. 0, VM_PLACE_FULL or VM_PLACE_TAKEN. */
#define VM_PLACE_FULL  (-1)
#define VM_PLACE_TAKEN (-2)
int vm_disk_place(const struct vm_config *cfg, struct vm_disk *d, bool lun_given);
/* Hot plug while running, on a controller that existed at start (one that had a disk or
 * DVD drive then: controllers are VMBus devices offered at boot). Add: opens `path`
 * (format by content, read-only with `ro`) at controller (negative: 0) / lun
 * (negative: the lowest free one) and tells the guest to rescan. Remove: takes the disk
 * at controller/lun away, tells the guest, closes it. Both outlive guest reboots. 0, or
 * -1 with one line in err; *placed (add) gets controller << 8 | lun. */
int vm_storage_add_disk(struct vm *vm, const char *path, bool ro, int controller, int lun,
                        unsigned *placed, char *err, size_t errlen);
int vm_storage_remove_disk(struct vm *vm, unsigned controller, unsigned lun, char *err,
                           size_t errlen);
/* A guest write that found the host disk full pauses the VM (state "paused-disk-full"
 * in vm->disk_full) and is retried every second; this retries now (viridian vm resume). */
void vm_storage_retry(struct vm *vm);
/* Before vmbus_destroy(): ends the I/O workers. */
void vm_storage_stop(struct vm *vm);
/* After vmbus_destroy(). */
void vm_storage_detach(struct vm *vm);

#endif
