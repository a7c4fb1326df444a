/* A SCSI disk target's asynchronous disk engine (disk/disk_aio.h) with the thread that
 * reaps its completions, so that callbacks run without anyone waiting for them: the
 * transport (storvsp) submits a READ/WRITE/FLUSH straight from the guest's pages and
 * answers the guest from the callback. While a target has one, every I/O on its disk
 * goes through it (scsi_aio_run for the commands that stay synchronous). */
#ifndef VIRIDIAN_VSP_SCSI_AIO_H
#define VIRIDIAN_VSP_SCSI_AIO_H

#include <stdint.h>

#include "disk/disk_aio.h"

struct scsi_aio;

/* depth: io_uring entries (0: the engine's default). 0, or a negative errno (no
 * io_uring here, out of memory): the caller keeps the synchronous path. */
int scsi_aio_start(struct disk *d, unsigned depth, struct scsi_aio **out);
/* Waits for every request in flight (their callbacks run, in this thread once the
 * reaper has stopped), then frees the engine. The disk stays open. NULL is a no-op. */
void scsi_aio_stop(struct scsi_aio *s);
/* disk_aio_submit(): the callback will run on the reaper thread. */
int scsi_aio_submit(struct scsi_aio *s, const struct disk_aio_req *r);
/* disk_aio_submit(), then the callbacks of whatever has completed already (this request
 * too, when its data was in the page cache) run here before it returns; the rest on the
 * reaper thread. 0 or a negative errno (rejected: no callback). */
int scsi_aio_submit_and_reap(struct scsi_aio *s, const struct disk_aio_req *r);
/* One request through the engine, waited for: 0 or a negative errno. buf is one flat
 * buffer of len bytes (READ/WRITE), or none (FLUSH; DISCARD uses len). */
int scsi_aio_run(struct scsi_aio *s, enum disk_aio_op op, uint64_t off, void *buf,
                 uint64_t len);
void scsi_aio_get_stats(struct scsi_aio *s, struct disk_aio_stats *st);

#endif
