/* The Hyper-V synthetic SCSI controller (storvsp), one VMBus device per controller, up
 * to 64 disks each at path 0, target 0, LUN 0..63 (as Hyper-V places them). Speaks the
 * storvsc protocol of Linux 6.1 (versions WIN10 6.2, WIN8.1 6.0, WIN8 5.1). Each
 * channel (the primary and the sub-channels the guest asks for, one per vCPU up to
 * max_subchannels) has a worker thread that runs its SRBs, so disk I/O never blocks a
 * vCPU.
 *
 * Use: c = storvsp_create(index, max_sub); storvsp_attach_disk(c, lun, disk, ro) for
 * each disk; pass storvsp_desc(c) to vmbus_create() with the other devices;
 * storvsp_stop(c) BEFORE vmbus_destroy() (the workers complete through the host);
 * storvsp_destroy(c) after it. The disks stay owned by the caller. */
#ifndef VIRIDIAN_VSP_STORVSP_H
#define VIRIDIAN_VSP_STORVSP_H

#include <stdbool.h>

#include "vmbus/vmbus_device.h"

#define STORVSP_MAX_CONTROLLERS 4
#define STORVSP_MAX_LUNS 64
#define STORVSP_MAX_TRANSFER (1u << 20) /* bytes per SRB, advertised in QUERY_PROPERTIES */
#define STORVSP_MAX_SUBCHANNELS 15

struct disk;
struct storvsp;

/* Controller number `index` (0..3): it selects the instance GUID. NULL on bad index or
 * no memory. */
struct storvsp *storvsp_create(unsigned index, unsigned max_subchannels);
/* flags: SCSI_DISK_RO, SCSI_DISK_CDROM (vsp/scsi_disk.h). 0, or -1 if the LUN is out of
 * range or taken. */
int storvsp_attach_disk(struct storvsp *c, unsigned lun, struct disk *d, unsigned flags);
const struct vmbus_device_desc *storvsp_desc(struct storvsp *c);
/* Ends the workers (in-flight SRBs finish, queued ones are dropped). No lock held. */
void storvsp_stop(struct storvsp *c);
void storvsp_destroy(struct storvsp *c);

#endif
