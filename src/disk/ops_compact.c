/* compact: discard every allocation unit that reads as zero. Dynamic formats give a
 * whole block back (their discard frees it); raw and fixed images get holes punched
 * per MiB. Differencing disks ignore it (a zero block there hides the parent). Then,
 * as Hyper-V's compaction does, the file itself gets shorter: formats that can
 * (fmt->shrink) move the blocks at the end of the file into the gaps and cut it. */
#include "disk/ops.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

int disk_compact(struct disk *d, struct progress *prog, uint64_t *freed)
{
    uint64_t unit = d->info.block_size ? d->info.block_size : 1 << 20;
    uint64_t size = d->info.virtual_size;
    char *buf = malloc(unit);
    int rc = 0;
    *freed = 0;
    if (!buf)
        return -ENOMEM;
    for (uint64_t off = 0; off < size && !rc; off += unit) {
        uint64_t len = size - off < unit ? size - off : unit, n;
        progress_update(prog, off, size);
        /* only units stored entirely in this image are candidates */
        int kind = disk_extent(d, off, len, &n);
        if (kind < 0) {
            rc = kind;
            break;
        }
        if (kind != DISK_EXTENT_DATA || n < len)
            continue;
        if ((rc = disk_read(d, off, buf, len)))
            break;
        if (disk_buf_is_zero(buf, len)) {
            if ((rc = disk_discard(d, off, len)))
                break;
            *freed += len;
        }
    }
    progress_update(prog, size, size);
    progress_done(prog);
    free(buf);
    if (!rc)
        rc = disk_flush(d);
    if (!rc && d->fmt->shrink && (rc = d->fmt->shrink(d)) < 0 && !d->err[0])
        snprintf(d->err, sizeof(d->err), "%s: %s", d->path, strerror(-rc));
    return rc;
}
