/* Asynchronous I/O on an open disk (io_uring), for the VM's data path (storvsp).
 *
 * One engine per open disk (or per queue: several engines on one disk are NOT
 * supported; use one engine and submit from several threads). While an engine exists,
 * all I/O on the disk must go through it.
 *
 * Fast path: a read or write whose whole range is stored in the image file at one
 * place (raw; fixed VHD; allocated dynamic VHD blocks with a full bitmap; FULLY_PRESENT
 * VHDX blocks) is a readv/writev on the image file, straight from/to the caller's
 * buffers. A read of a range that reads as zeroes completes at once. Everything else
 * (allocating writes, partially present blocks, parent reads, discards) runs the sync
 * disk_read/disk_write/disk_discard on the engine's worker thread, in submission order.
 *
 * Ordering: requests that are in flight at the same time are unordered, as on any block
 * device; a request submitted after another one completed sees its effect.
 * A FLUSH completes after every write submitted before it has completed AND
 * disk_flush() (the format's metadata plus fdatasync) has run. A DISCARD is a barrier:
 * it waits for earlier fast-path I/O, and reads/writes submitted while it is pending
 * take the worker path, after it.
 *
 * Completion: each accepted request's callback runs exactly once, from
 * disk_aio_reap() (never from disk_aio_submit()), in the reaping thread, with no engine
 * lock held (a callback may submit). Poll disk_aio_eventfd() for POLLIN and call
 * disk_aio_reap(), or block in disk_aio_wait(). Submit and reap may be called from
 * different threads, and several threads may reap at once (each runs the callbacks it
 * took). A read of page-cached data is done by the time disk_aio_submit() returns: a
 * submitter that reaps right away answers it without waiting for another thread to
 * wake up for the eventfd. */
#ifndef VIRIDIAN_DISK_DISK_AIO_H
#define VIRIDIAN_DISK_DISK_AIO_H

#include "disk/disk.h"

#include <stdint.h>
#include <sys/uio.h>

enum disk_aio_op {
    DISK_AIO_READ = 1,
    DISK_AIO_WRITE,
    DISK_AIO_FLUSH,
    DISK_AIO_DISCARD,
};

/* result: 0 on success, or a negative errno (the disk's disk_last_error() may explain). */
typedef void (*disk_aio_cb)(void *cookie, int result);

struct disk_aio_req {
    enum disk_aio_op op;
    uint64_t offset;            /* READ/WRITE/DISCARD: bytes, logical-sector aligned */
    const struct iovec *iov;    /* READ/WRITE: the buffers (the array is copied; the */
    int iovcnt;                 /*   memory must stay valid until the callback) */
    uint64_t length;            /* DISCARD: bytes (READ/WRITE: the sum of the iovecs) */
    disk_aio_cb cb;
    void *cookie;
    /* WRITE: the submitting thread may do a fast-path write itself, waiting for it inside
     * disk_aio_submit() (a buffered write to the page cache, usually): no hand-over to a
     * kernel worker and back. The callback still runs from disk_aio_reap(). */
    bool may_block;
};

struct disk_aio_stats {
    uint64_t fast;              /* requests done by io_uring on the image file */
    uint64_t zero;              /* reads answered with zeroes at once */
    uint64_t slow;              /* requests run by the worker (sync API) */
};

struct disk_aio;

#define DISK_AIO_MAX_IOV 1024

/* depth: io_uring entries (requests beyond it in flight take the worker path); 0 = 128. */
int disk_aio_create(struct disk *d, unsigned depth, struct disk_aio **out);
/* Waits for every request in flight (running their callbacks), then frees the engine.
 * The disk stays open. */
void disk_aio_destroy(struct disk_aio *a);
/* 0: accepted, the callback will run; negative errno: rejected (bad range, alignment,
 * read-only disk, out of memory), the callback will not run. */
int disk_aio_submit(struct disk_aio *a, const struct disk_aio_req *r);
/* Readable when completions wait for disk_aio_reap(). */
int disk_aio_eventfd(const struct disk_aio *a);
/* Runs the callbacks of completed requests; returns how many. */
int disk_aio_reap(struct disk_aio *a);
/* Blocks until at least one request completes (if any is in flight), then reaps. */
int disk_aio_wait(struct disk_aio *a);
/* Requests accepted whose callback has not run yet. */
unsigned disk_aio_inflight(struct disk_aio *a);
void disk_aio_get_stats(struct disk_aio *a, struct disk_aio_stats *s);

#endif
