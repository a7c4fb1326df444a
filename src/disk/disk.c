/* Format-independent part of the disk library: the format table, detection, the parent
 * chain, bounds checks, and dispatch to the format. */
#include "disk/disk.h"
#include "disk/raw.h"
#include "disk/vhd.h"
#include "disk/vhdx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Probe order matters: raw accepts anything, so it is last. */
static const struct disk_format *const formats[] = {
    &vhdx_format,
    &vhd_format,
    &raw_format,
};

/* Files being opened on this thread, outermost first: a differencing disk opens its
 * parent from inside its own open, so a file already on this stack means a loop. */
static __thread struct { dev_t dev; ino_t ino; } open_stack[DISK_MAX_CHAIN];
static __thread int open_depth;

const struct disk_format *disk_format_at(size_t i)
{
    return i < sizeof(formats) / sizeof(formats[0]) ? formats[i] : NULL;
}

static const struct disk_format *format_by_id(enum disk_format_id id)
{
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (formats[i] && formats[i]->id == id)
            return formats[i];
    return NULL;
}

static void set_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(char *err, const char *fmt, ...)
{
    va_list ap;
    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(err, DISK_ERR_LEN, fmt, ap);
    va_end(ap);
}

const char *disk_format_name(enum disk_format_id id)
{
    switch (id) {
    case DISK_FORMAT_RAW: return "raw";
    case DISK_FORMAT_VHD: return "vhd";
    case DISK_FORMAT_VHDX: return "vhdx";
    default: return "auto";
    }
}

enum disk_format_id disk_format_from_name(const char *name)
{
    if (!strcasecmp(name, "raw") || !strcasecmp(name, "img"))
        return DISK_FORMAT_RAW;
    if (!strcasecmp(name, "vhd") || !strcasecmp(name, "vpc"))
        return DISK_FORMAT_VHD;
    if (!strcasecmp(name, "vhdx"))
        return DISK_FORMAT_VHDX;
    return DISK_FORMAT_AUTO;
}

enum disk_format_id disk_format_from_extension(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash))
        return DISK_FORMAT_AUTO;
    return disk_format_from_name(dot + 1);
}

int disk_open(const char *path, enum disk_format_id fmt, unsigned flags,
              struct disk **out, char err[DISK_ERR_LEN])
{
    struct stat st;
    struct disk *d;
    int fd, rc;

    *out = NULL;
    fd = open(path, ((flags & DISK_OPEN_RDONLY) ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        set_err(err, "%s: %s", path, strerror(errno));
        return rc;
    }
    /* A block device serves as an image too (a pass-through disk, as Hyper-V offers;
     * or a device-mapper target in the fault tests): its size comes from the kernel. */
    uint64_t fsize = 0;
    if (fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) ||
        (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &fsize) < 0)) {
        set_err(err, "%s: not a regular file or block device", path);
        close(fd);
        return -EINVAL;
    }
    if (S_ISREG(st.st_mode))
        fsize = (uint64_t)st.st_size;

    for (int i = 0; i < open_depth; i++) {
        if (open_stack[i].dev == st.st_dev && open_stack[i].ino == st.st_ino) {
            set_err(err, "%s: the parent chain loops back to this file", path);
            close(fd);
            return -ELOOP;
        }
    }
    if (open_depth == DISK_MAX_CHAIN) {
        set_err(err, "%s: parent chain deeper than %d images", path, DISK_MAX_CHAIN);
        close(fd);
        return -ELOOP;
    }

    const struct disk_format *f = NULL;
    if (fmt != DISK_FORMAT_AUTO) {
        f = format_by_id(fmt);
    } else {
        for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]) && !f; i++)
            if (formats[i] && formats[i]->probe(fd, fsize))
                f = formats[i];
    }
    /* Nothing recognised the content, but the name promises a format: let that
     * format explain what is wrong rather than calling the file raw. */
    if (f && f->id == DISK_FORMAT_RAW && fmt == DISK_FORMAT_AUTO) {
        const struct disk_format *named = format_by_id(disk_format_from_extension(path));
        if (named)
            f = named;
    }
    if (!f && fmt != DISK_FORMAT_AUTO) {
        set_err(err, "%s: this build cannot open %s images", path, disk_format_name(fmt));
        close(fd);
        return -ENOTSUP;
    }
    if (!f) {
        set_err(err, "%s: not a disk image in a format this build reads", path);
        close(fd);
        return -EINVAL;
    }

    d = calloc(1, sizeof(*d));
    if (!d || !(d->path = strdup(path))) {
        free(d);
        close(fd);
        set_err(err, "%s: out of memory", path);
        return -ENOMEM;
    }
    d->fmt = f;
    d->fd = fd;
    d->flags = flags;
    d->info.format = f->id;
    d->info.file_size = fsize;
    d->info.allocated_bytes = S_ISBLK(st.st_mode) ? fsize : (uint64_t)st.st_blocks * 512;
    open_stack[open_depth].dev = st.st_dev;
    open_stack[open_depth].ino = st.st_ino;
    open_depth++;
    rc = f->open(d, err);
    open_depth--;
    if (rc < 0) {
        close(fd);
        free(d->path);
        free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void disk_close(struct disk *d)
{
    if (!d)
        return;
    d->fmt->close(d);
    disk_close(d->parent);
    close(d->fd);
    free(d->path);
    free(d);
}

int disk_create(const char *path, const struct disk_create_opts *opts, char err[DISK_ERR_LEN])
{
    struct disk_create_opts o = *opts;
    if (o.format == DISK_FORMAT_AUTO)
        o.format = disk_format_from_extension(path);
    if (o.format == DISK_FORMAT_AUTO) {
        set_err(err, "%s: cannot tell the format from the name; use .vhdx, .vhd, .img or --format", path);
        return -EINVAL;
    }
    const struct disk_format *f = format_by_id(o.format);
    if (!f || !f->create) {
        set_err(err, "%s: this build cannot create %s images", path, disk_format_name(o.format));
        return -ENOTSUP;
    }
    return f->create(path, &o, err);
}

static int check_range(struct disk *d, uint64_t off, uint64_t len)
{
    if (off > d->info.virtual_size || len > d->info.virtual_size - off) {
        snprintf(d->err, sizeof(d->err), "%s: access at %llu+%llu beyond the end (%llu)", d->path,
                 (unsigned long long)off, (unsigned long long)len,
                 (unsigned long long)d->info.virtual_size);
        return -EINVAL;
    }
    return 0;
}

static int check_writable(struct disk *d)
{
    if (d->flags & DISK_OPEN_RDONLY) {
        snprintf(d->err, sizeof(d->err), "%s: opened read-only", d->path);
        return -EROFS;
    }
    return 0;
}

/* Formats see only whole logical sectors; a byte range that is not is widened here to
 * the sectors it touches, read (and for writes patched and written back) through a
 * bounce buffer. The VM's data path is always aligned and never comes here. */
static int disk_unaligned(struct disk *d, uint64_t off, void *rbuf, const void *wbuf, size_t len)
{
    uint64_t sector = d->info.logical_sector_size ? d->info.logical_sector_size : 512;
    uint64_t start = off / sector * sector;
    uint64_t end = (off + len + sector - 1) / sector * sector;
    if (end > d->info.virtual_size)
        end = d->info.virtual_size; /* a raw file may end inside a sector */
    uint8_t *bounce = malloc(end - start);
    if (!bounce) {
        snprintf(d->err, sizeof(d->err), "%s: out of memory", d->path);
        return -ENOMEM;
    }
    int rc = d->fmt->read(d, start, bounce, end - start);
    if (!rc && rbuf)
        memcpy(rbuf, bounce + (off - start), len);
    if (!rc && wbuf) {
        memcpy(bounce + (off - start), wbuf, len);
        rc = d->fmt->write(d, start, bounce, end - start);
    }
    free(bounce);
    return rc;
}

static bool disk_aligned(const struct disk *d, uint64_t off, size_t len)
{
    uint64_t sector = d->info.logical_sector_size ? d->info.logical_sector_size : 512;
    return off % sector == 0 && (len % sector == 0 || off + len == d->info.virtual_size);
}

int disk_read(struct disk *d, uint64_t off, void *buf, size_t len)
{
    int rc = check_range(d, off, len);
    if (rc || !len)
        return rc;
    return disk_aligned(d, off, len) ? d->fmt->read(d, off, buf, len)
                                     : disk_unaligned(d, off, buf, NULL, len);
}

int disk_write(struct disk *d, uint64_t off, const void *buf, size_t len)
{
    int rc = check_range(d, off, len);
    if (!rc)
        rc = check_writable(d);
    if (rc || !len)
        return rc;
    return disk_aligned(d, off, len) ? d->fmt->write(d, off, buf, len)
                                     : disk_unaligned(d, off, NULL, buf, len);
}

int disk_discard(struct disk *d, uint64_t off, uint64_t len)
{
    int rc = check_range(d, off, len);
    if (!rc)
        rc = check_writable(d);
    if (rc)
        return rc;
    return d->fmt->discard ? d->fmt->discard(d, off, len) : 0;
}

int disk_flush_failed(struct disk *d, int rc)
{
    if (rc && rc != -ENOSPC && rc != -EDQUOT && !d->flush_error)
        d->flush_error = rc;
    return rc;
}

int disk_flush(struct disk *d)
{
    if (d->flags & DISK_OPEN_RDONLY)
        return 0;
    if (d->flush_error)
        return d->flush_error;
    return disk_flush_failed(d, d->fmt->flush(d));
}

int disk_extent(struct disk *d, uint64_t off, uint64_t len, uint64_t *extent_len)
{
    int rc = check_range(d, off, len);
    if (rc)
        return rc;
    if (!d->fmt->extent) {
        *extent_len = len;
        return DISK_EXTENT_DATA;
    }
    return d->fmt->extent(d, off, len, extent_len);
}

int disk_map(struct disk *d, uint64_t off, uint64_t len, bool for_write, uint64_t *file_off,
             uint64_t *contig)
{
    int rc = check_range(d, off, len);
    if (rc)
        return rc;
    *contig = len;
    if (!d->fmt->map || !len || (for_write && (d->flags & DISK_OPEN_RDONLY)))
        return DISK_MAP_UNALLOCATED;
    rc = d->fmt->map(d, off, len, for_write, file_off, contig);
    if (rc > 0 && (*contig == 0 || *contig > len))
        *contig = len; /* defensive: a format bug must not make callers overrun */
    return rc;
}

const char *disk_last_error(const struct disk *d)
{
    return d->err;
}

int disk_check(struct disk *d, bool repair, void (*report)(void *ctx, const char *line),
               void *ctx)
{
    if (repair) {
        int rc = check_writable(d);
        if (rc)
            return rc;
    }
    if (!d->fmt->check) {
        snprintf(d->err, sizeof(d->err), "%s: no checker for %s images", d->path, d->fmt->name);
        return -ENOTSUP;
    }
    return d->fmt->check(d, repair, report, ctx);
}

/* Non-zero when [off, end) holds anything but zeroes. */
static int range_has_data(struct disk *d, uint64_t off, uint64_t end)
{
    enum { CHUNK = 1 << 20 };
    char *buf = NULL;
    int found = 0;
    while (off < end && !found) {
        uint64_t n = 0;
        int kind = disk_extent(d, off, end - off, &n);
        if (kind < 0) {
            found = kind;
            break;
        }
        if (n == 0)
            n = end - off;
        if (kind == DISK_EXTENT_DATA || kind == DISK_EXTENT_PARENT) {
            if (!buf && !(buf = malloc(CHUNK))) {
                found = -ENOMEM;
                break;
            }
            for (uint64_t p = off; p < off + n && !found; p += CHUNK) {
                size_t len = (size_t)(off + n - p < CHUNK ? off + n - p : CHUNK);
                int rc = disk_read(d, p, buf, len);
                if (rc < 0)
                    found = rc;
                for (size_t i = 0; i < len && !found; i++)
                    found = buf[i] != 0;
            }
        }
        off += n;
    }
    free(buf);
    return found;
}

int disk_resize(struct disk *d, uint64_t new_size)
{
    int rc = check_writable(d);
    if (rc)
        return rc;
    if (!d->fmt->resize) {
        snprintf(d->err, sizeof(d->err), "%s: %s images cannot be resized", d->path,
                 d->fmt->name);
        return -ENOTSUP;
    }
    uint32_t sector = d->info.logical_sector_size ? d->info.logical_sector_size : 512;
    if (new_size == 0 || new_size % sector) {
        snprintf(d->err, sizeof(d->err), "%s: new size must be a non-zero multiple of %u bytes",
                 d->path, sector);
        return -EINVAL;
    }
    if (new_size < d->info.virtual_size) {
        rc = range_has_data(d, new_size, d->info.virtual_size);
        if (rc < 0)
            return rc;
        if (rc) {
            snprintf(d->err, sizeof(d->err),
                     "%s: refusing to shrink: there is data beyond the new end", d->path);
            return -ENOTEMPTY;
        }
    }
    return d->fmt->resize(d, new_size);
}

int disk_set_parent(struct disk *d, const char *parent_path)
{
    struct disk *p;
    int rc = check_writable(d);
    if (rc)
        return rc;
    if (d->info.type != DISK_TYPE_DIFFERENCING || !d->fmt->set_parent) {
        snprintf(d->err, sizeof(d->err), "%s: not a differencing disk", d->path);
        return -EINVAL;
    }
    rc = disk_open(parent_path, DISK_FORMAT_AUTO, DISK_OPEN_RDONLY, &p, d->err);
    if (rc < 0)
        return rc;
    struct stat self;
    if (fstat(d->fd, &self) == 0) {
        for (struct disk *q = p; q; q = q->parent) {
            struct stat st;
            if (fstat(q->fd, &st) == 0 && st.st_dev == self.st_dev && st.st_ino == self.st_ino) {
                snprintf(d->err, sizeof(d->err), "%s: %s would make the parent chain loop",
                         d->path, parent_path);
                disk_close(p);
                return -ELOOP;
            }
        }
    }
    rc = d->fmt->set_parent(d, p, parent_path);
    if (rc < 0) {
        disk_close(p);
        return rc;
    }
    disk_close(d->parent);
    d->parent = p;
    return 0;
}
