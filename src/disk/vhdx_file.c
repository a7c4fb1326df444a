/* File I/O helpers for the VHDX backend (whole-buffer I/O is raw.h's): sync, sparse
 * extension, hole punching, metadata reads through the replay overlay, errors. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "disk/vhdx.h"
#include "disk/vhdx_internal.h"

int vhdx_err(struct disk *d, int rc, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(d->err, sizeof(d->err), "%s: ", d->path);
    if (n >= 0 && (size_t)n < sizeof(d->err)) {
        va_start(ap, fmt);
        vsnprintf(d->err + n, sizeof(d->err) - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int vhdx_sync(struct disk *d)
{
    /* bulk fill of a new image (convert): durability is left to the page cache, as
     * the raw and VHD backends do with this flag (see disk.h) */
    if (d->flags & DISK_OPEN_UNSAFE)
        return 0;
    if (fdatasync(d->fd) < 0)
        return vhdx_err(d, -errno, "fdatasync: %s", strerror(errno));
    if (vhdx_crash_point)
        vhdx_crash_point("sync", d->fd, 0, 0);
    return 0;
}

int vhdx_meta_pread(struct disk *d, void *buf, size_t len, uint64_t off)
{
    struct vhdx *v = vhdx_of(d);
    int rc = raw_pread_zero_eof(d->fd, buf, len, off);
    if (rc < 0)
        return vhdx_err(d, rc, "read at %llu: %s", (unsigned long long)off, strerror(-rc));
    for (size_t i = 0; i < v->noverlay; i++) {
        uint64_t po = v->overlay[i].off;
        if (po + VHDX_LOG_SECTOR <= off || po >= off + len)
            continue;
        uint64_t s = po > off ? po : off;
        uint64_t e = po + VHDX_LOG_SECTOR < off + len ? po + VHDX_LOG_SECTOR : off + len;
        if (v->overlay[i].data)
            memcpy((uint8_t *)buf + (s - off), v->overlay[i].data + (s - po), e - s);
        else
            memset((uint8_t *)buf + (s - off), 0, e - s);
    }
    return 0;
}

int vhdx_extend(struct disk *d, uint64_t size)
{
    struct vhdx *v = vhdx_of(d);
    if (size <= v->file_size)
        return 0;
    if (ftruncate(d->fd, (off_t)size) < 0)
        return vhdx_err(d, -errno, "cannot extend the file to %llu bytes: %s",
                        (unsigned long long)size, strerror(errno));
    v->file_size = size;
    v->data_dirty = true;
    d->info.file_size = size;
    return 0;
}

bool vhdx_punch(struct disk *d, uint64_t off, uint64_t len)
{
    struct vhdx *v = vhdx_of(d);
    if (!v->punch_ok)
        return false;
    if (vhdx_crash_point)
        vhdx_crash_point("write", d->fd, off, len);
    v->data_dirty = true;
    int rc = raw_zero_hole(d->fd, off, len);
    if (rc == -EOPNOTSUPP)
        v->punch_ok = false;
    return rc == 0;
}
