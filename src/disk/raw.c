/* Raw images. Discard punches holes; extent() reports holes as zero ranges, which is
 * what lets convert skip them without reading. */
#include "disk/raw.h"

#include "disk/ops.h" /* disk_buf_is_zero */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The one full-transfer loop, for reads and writes alike: retries short transfers and
 * EINTR. End of file: a read fails with -EIO, or with zero_eof reads zeros from there. */
static int transfer(int fd, char *p, size_t len, uint64_t off, bool is_write, bool zero_eof)
{
    while (len) {
        ssize_t n = is_write ? pwrite(fd, p, len, (off_t)off) : pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0) {
            if (is_write || !zero_eof)
                return -EIO;
            memset(p, 0, len);
            return 0;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int raw_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    return transfer(fd, buf, len, off, false, false);
}

int raw_pread_zero_eof(int fd, void *buf, size_t len, uint64_t off)
{
    return transfer(fd, buf, len, off, false, true);
}

int raw_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
    return transfer(fd, (char *)buf, len, off, true, false);
}

int raw_file_extent(int fd, uint64_t file_size, uint64_t off, uint64_t len, uint64_t *extent_len)
{
    uint64_t end = off + len;
    if (off >= file_size) {
        *extent_len = len;
        return DISK_EXTENT_ZERO;
    }
    off_t data = lseek(fd, (off_t)off, SEEK_DATA);
    if (data < 0 && errno == ENXIO) { /* only a hole up to EOF */
        *extent_len = len;
        return DISK_EXTENT_ZERO;
    }
    if (data < 0) { /* no SEEK_DATA here: all data */
        *extent_len = len;
        return DISK_EXTENT_DATA;
    }
    if ((uint64_t)data > off) {
        *extent_len = ((uint64_t)data < end ? (uint64_t)data : end) - off;
        return DISK_EXTENT_ZERO;
    }
    off_t hole = lseek(fd, (off_t)off, SEEK_HOLE);
    if (hole < 0 || (uint64_t)hole > end)
        hole = (off_t)end;
    *extent_len = (uint64_t)hole - off;
    if (*extent_len == 0)
        *extent_len = len;
    return DISK_EXTENT_DATA;
}

int raw_zero_hole(int fd, uint64_t off, uint64_t len)
{
    if (len == 0)
        return 0;
    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
    return errno == ENOSYS ? -EOPNOTSUPP : -errno;
}

int raw_punch_hole(int fd, uint64_t off, uint64_t len)
{
    int rc = raw_zero_hole(fd, off, len);
    return rc == -EOPNOTSUPP ? 0 : rc; /* discard is advisory */
}

int raw_copy_within(int fd, uint64_t from, uint64_t to, uint64_t len, bool dst_zero)
{
    const size_t unit = 1u << 20;
    uint8_t *buf = malloc(unit);
    if (!buf)
        return -ENOMEM;
    int rc = 0;
    for (uint64_t pos = 0; pos < len && !rc; pos += unit) {
        size_t n = (size_t)(len - pos < unit ? len - pos : unit);
        rc = raw_pread_zero_eof(fd, buf, n, from + pos);
        if (!rc && (!dst_zero || !disk_buf_is_zero(buf, n)))
            rc = raw_pwrite_full(fd, buf, n, to + pos);
    }
    free(buf);
    return rc;
}

static int raw_probe(int fd, uint64_t file_size)
{
    return 1; /* anything is a raw image; probed last */
}

static int raw_create(const char *path, const struct disk_create_opts *opts, char *err)
{
    if (opts->parent) {
        snprintf(err, DISK_ERR_LEN, "%s: raw images cannot have a parent", path);
        return -EINVAL;
    }
    if (opts->size == 0 || opts->size % 512) {
        snprintf(err, DISK_ERR_LEN, "%s: size must be a non-zero multiple of 512 bytes", path);
        return -EINVAL;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        int rc = -errno;
        snprintf(err, DISK_ERR_LEN, "%s: %s", path, strerror(errno));
        return rc;
    }
    int rc = 0;
    if (ftruncate(fd, (off_t)opts->size) < 0)
        rc = -errno;
    /* A fixed raw image is fully allocated; a dynamic one stays sparse. */
    if (!rc && opts->type == DISK_TYPE_FIXED && fallocate(fd, 0, 0, (off_t)opts->size) < 0 &&
        errno != EOPNOTSUPP)
        rc = -errno;
    if (!rc && !(opts->flags & DISK_CREATE_NO_SYNC) && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    if (rc) {
        snprintf(err, DISK_ERR_LEN, "%s: %s", path, strerror(-rc));
        unlink(path);
    }
    return rc;
}

static int raw_open(struct disk *d, char *err)
{
    d->info.type = DISK_TYPE_FIXED;
    d->info.virtual_size = d->info.file_size;
    d->info.logical_sector_size = 512;
    d->info.physical_sector_size = 4096;
    return 0;
}

static void raw_close(struct disk *d)
{
}

static int raw_read(struct disk *d, uint64_t off, void *buf, size_t len)
{
    return raw_pread_full(d->fd, buf, len, off);
}

static int raw_write(struct disk *d, uint64_t off, const void *buf, size_t len)
{
    return raw_pwrite_full(d->fd, buf, len, off);
}

static int raw_discard(struct disk *d, uint64_t off, uint64_t len)
{
    return raw_punch_hole(d->fd, off, len);
}

static int raw_flush(struct disk *d)
{
    if (d->flags & DISK_OPEN_UNSAFE)
        return 0;
    return fdatasync(d->fd) < 0 ? -errno : 0;
}

static int raw_extent(struct disk *d, uint64_t off, uint64_t len, uint64_t *extent_len)
{
    return raw_file_extent(d->fd, d->info.virtual_size, off, len, extent_len);
}

static int raw_map(struct disk *d, uint64_t off, uint64_t len, bool for_write,
                   uint64_t *file_off, uint64_t *contig)
{
    (void)d;
    (void)for_write;
    *file_off = off;
    *contig = len;
    return DISK_MAP_DATA;
}

static int raw_resize(struct disk *d, uint64_t new_size)
{
    if (ftruncate(d->fd, (off_t)new_size) < 0 || fdatasync(d->fd) < 0) {
        int rc = -errno;
        snprintf(d->err, sizeof(d->err), "%s: %s", d->path, strerror(errno));
        return rc;
    }
    d->info.virtual_size = d->info.file_size = new_size;
    return 0;
}

static int raw_check(struct disk *d, bool repair, void (*report)(void *ctx, const char *line),
                     void *ctx)
{
    if (d->info.virtual_size % 512) {
        char line[256];
        snprintf(line, sizeof(line), "size %llu is not a multiple of 512 bytes",
                 (unsigned long long)d->info.virtual_size);
        report(ctx, line);
        return 1;
    }
    return 0;
}

const struct disk_format raw_format = {
    .name = "raw",
    .id = DISK_FORMAT_RAW,
    .probe = raw_probe,
    .create = raw_create,
    .open = raw_open,
    .close = raw_close,
    .read = raw_read,
    .write = raw_write,
    .discard = raw_discard,
    .flush = raw_flush,
    .extent = raw_extent,
    .check = raw_check,
    .resize = raw_resize,
    .map = raw_map,
};
