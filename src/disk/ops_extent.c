#include "disk/ops.h"

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

int disk_extent_resolved(struct disk *d, uint64_t off, uint64_t len, uint64_t *extent_len)
{
    int kind = disk_extent(d, off, len, extent_len);
    if (kind < 0)
        return kind;
    if (*extent_len == 0 || *extent_len > len)
        *extent_len = len;
    if (kind != DISK_EXTENT_PARENT)
        return kind;
    if (!d->parent)
        return DISK_EXTENT_ZERO;
    uint64_t n = *extent_len;
    kind = disk_extent_resolved(d->parent, off, n, extent_len);
    return kind;
}
