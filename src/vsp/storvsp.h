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
/* With this many SRBs outstanding on a channel its ring stays masked: each completion
 * drains it, so the guest queues more without a signal (as openvmm's storvsp polls
 * above its poll_mode_queue_depth). Fewer, and a new SRB behind a slow one could wait
 * long for the next completion; so a guest at queue depth 1 still signals each one. */
#define STORVSP_POLL_DEPTH 4u

struct disk;
struct storvsp;

/* Controller number `index` (0..3): it selects the instance GUID. NULL on bad index or
 * no memory. */
struct storvsp *storvsp_create(unsigned index, unsigned max_subchannels);
/* flags: SCSI_DISK_RO, SCSI_DISK_CDROM (vsp/scsi_disk.h); d may be NULL for an empty
 * DVD drive. 0, or -1 if the LUN is out of range or taken. */
int storvsp_attach_disk(struct storvsp *c, unsigned lun, struct disk *d, unsigned flags);
/* While running (any thread): puts disc `d` into the DVD drive at `lun`, or ejects its
 * disc (d == NULL). Taken under the LUN's lock, so an SRB in flight completes on the
 * old disc and every later one sees the new one; the old disc (returned in *old) is
 * then no longer used and the caller may close it. -1 if `lun` is not a DVD drive. */
int storvsp_change_medium(struct storvsp *c, unsigned lun, struct disk *d, struct disk **old);
/* Hot plug while running (any thread but a channel callback's): adds a disk at a free
 * `lun`, or takes the one at `lun` away (its disk returned in *old for the caller to
 * close: the SRB in flight on it, if any, has completed). Both then tell the guest to
 * rescan the bus (ENUMERATE_BUS): Linux's storvsc sends TEST UNIT READY to every
 * device it knows (a removed LUN answers INVALID_LUN, and storvsc removes it) and
 * scans the host (REPORT LUNS lists the new one). -1 if the LUN is out of range, taken
 * (add) or empty (remove), or no memory. */
int storvsp_hot_add(struct storvsp *c, unsigned lun, struct disk *d, unsigned flags);
int storvsp_hot_remove(struct storvsp *c, unsigned lun, struct disk **old);
/* Disk full, as Hyper-V handles it (it pauses the VM rather than fail the guest's
 * write): a write that fails with ENOSPC or EDQUOT is held by its worker, which calls
 * hook(ctx, controller, lun, true) (the caller pauses the VM), runs it again every
 * `retry_ms` or at storvsp_retry_now(), and calls hook(..., false) once it went through
 * (completing it normally) or the controller stops. Without a hook such a write fails
 * with MEDIUM ERROR like any other I/O error. Set before the guest runs. */
typedef void (*storvsp_space_hook)(void *ctx, unsigned controller, unsigned lun, bool waiting);
#define STORVSP_NOSPACE_RETRY_MS 1000u
void storvsp_set_space_hook(struct storvsp *c, storvsp_space_hook fn, void *ctx,
                            unsigned retry_ms);
/* Wakes writes waiting for space to try again now. */
void storvsp_retry_now(struct storvsp *c);
const struct vmbus_device_desc *storvsp_desc(struct storvsp *c);
/* I/O counters of a controller (any thread). */
struct storvsp_stats {
    uint64_t async;          /* SRBs submitted to a disk engine on the guest's pages */
    uint64_t sync;           /* SRBs run on a channel worker (through a bounce buffer) */
    unsigned inflight;       /* asynchronous SRBs not yet completed, all channels */
    unsigned max_inflight;   /* most ever in flight on one channel */
    uint64_t fast, zero, slow; /* the engines' disk_aio_stats, summed over the disks */
};
void storvsp_get_stats(struct storvsp *c, struct storvsp_stats *st);
/* Ends the workers (in-flight SRBs finish, queued ones are dropped). No lock held. */
void storvsp_stop(struct storvsp *c);
void storvsp_destroy(struct storvsp *c);

#endif
