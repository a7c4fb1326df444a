#include "disk/ops.h"
#include "disk/raw.h"

#include <string.h>

bool disk_buf_is_zero(const void *buf, size_t n)
{
    const unsigned char *p = buf;
    /* check a prefix by hand, then compare the buffer with itself shifted */
    size_t head = n < 16 ? n : 16;
    for (size_t i = 0; i < head; i++)
        if (p[i])
            return false;
    return n <= 16 || memcmp(p, p + 16, n - 16) == 0;
}

/* A DATA extent stored in place in the image file (an allocated block, a fixed
 * image) may still have holes in that file: they read as zero, so they are ZERO
 * extents, and convert neither reads them (which would fill the page cache with
 * zeroed pages) nor scans them. Raw images already answer from the file itself. */
static int file_holes(struct disk *d, uint64_t off, uint64_t *extent_len)
{
    uint64_t foff = 0, contig = 0, n = 0;
    if (d->info.format == DISK_FORMAT_RAW ||
        disk_map(d, off, *extent_len, false, &foff, &contig) != DISK_MAP_DATA)
        return DISK_EXTENT_DATA;
    if (contig < *extent_len)
        *extent_len = contig;
    int kind = raw_file_extent(d->fd, d->info.file_size, foff, *extent_len, &n);
    if (n && n < *extent_len)
        *extent_len = n;
    return kind;
}

int disk_extent_resolved(struct disk *d, uint64_t off, uint64_t len, uint64_t *extent_len)
{
    int kind = disk_extent(d, off, len, extent_len);
    if (kind < 0)
        return kind;
    if (*extent_len == 0 || *extent_len > len)
        *extent_len = len;
    if (kind == DISK_EXTENT_DATA)
        return file_holes(d, off, extent_len);
    if (kind != DISK_EXTENT_PARENT)
        return kind;
    if (!d->parent)
        return DISK_EXTENT_ZERO;
    uint64_t n = *extent_len;
    kind = disk_extent_resolved(d->parent, off, n, extent_len);
    return kind;
}
