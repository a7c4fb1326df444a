/* The VM's disks: opened once per `viridian run` (so that a bad image is reported before
 * the host is touched, and survives guest reboots), and attached to synthetic SCSI
 * controllers (src/vsp/storvsp.h) for each boot. */
#ifndef VIRIDIAN_CORE_VM_STORAGE_H
#define VIRIDIAN_CORE_VM_STORAGE_H

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
/* Before vmbus_destroy(): ends the I/O workers. */
void vm_storage_stop(struct vm *vm);
/* After vmbus_destroy(). */
void vm_storage_detach(struct vm *vm);

#endif
