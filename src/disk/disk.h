/* The disk library: one block interface over raw, VHD and VHDX images.
 *
 * A `struct disk` is an open image together with its parent chain (differencing disks
 * open their parents read-only through the same interface). Every format is a
 * `struct disk_format` (one file each: raw.c, vhd.c, vhdx.c) registered in the table
 * in disk.c. Callers never see the format: they read, write, discard and flush byte
 * ranges in units of the logical sector size.
 *
 * Errors: functions return 0 or a negative errno. When a function fails, a message
 * that a user can act on ("bad.vhdx: BAT entry 12 points past the end of the file")
 * is available from disk_last_error() / the `err` buffer of open and create.
 *
 * The library knows nothing of VMBus or VMs. */
#ifndef VIRIDIAN_DISK_DISK_H
#define VIRIDIAN_DISK_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DISK_ERR_LEN 512

enum disk_format_id {
    DISK_FORMAT_AUTO = 0,   /* detect from content; on create, from the extension */
    DISK_FORMAT_RAW,
    DISK_FORMAT_VHD,
    DISK_FORMAT_VHDX,
};

enum disk_type {
    DISK_TYPE_FIXED = 1,
    DISK_TYPE_DYNAMIC,
    DISK_TYPE_DIFFERENCING,
};

/* disk_open() flags */
#define DISK_OPEN_RDONLY      (1u << 0)
#define DISK_OPEN_NO_REPLAY   (1u << 1) /* VHDX: open read-only without replaying a log */
#define DISK_OPEN_NO_PARENT   (1u << 2) /* differencing: do not open the parent (info) */
/* Bulk filling of a new image (convert), like qemu's cache=unsafe: no syncs at all,
 * metadata kept in memory and written by disk_flush()/disk_close(), durability left to
 * the page cache (as cp and qemu-img convert do). A crash before the data reaches the
 * disk may leave the new image unusable, never an old image damaged. */
#define DISK_OPEN_UNSAFE      (1u << 3)
/* Open for checking: damaged metadata that can be set aside (a BAT entry pointing
 * outside the file, a missing parent) is recorded for disk_check() instead of failing
 * the open; the damaged parts read as zeroes (VHDX: I/O touching them fails with -EIO). */
#define DISK_OPEN_CHECK       (1u << 4)

/* Longest parent chain disk_open() follows (loops are detected separately). */
#define DISK_MAX_CHAIN        64

struct disk_create_opts {
    enum disk_format_id format;
    enum disk_type type;            /* fixed or dynamic; differencing when parent set */
    uint64_t size;                  /* virtual size in bytes (ignored with parent) */
    uint32_t block_size;            /* 0 = the format's default */
    uint32_t logical_sector_size;   /* 512 or 4096 (VHDX); 0 = 512 */
    uint32_t physical_sector_size;  /* 0 = format default */
    const char *parent;             /* path of the parent for a differencing disk */
    unsigned flags;                 /* DISK_CREATE_* */
};

/* disk_create_opts.flags */
#define DISK_CREATE_NO_SYNC   (1u << 0) /* skip the final fsync (convert: like qemu-img) */

struct disk_info {
    enum disk_format_id format;
    enum disk_type type;
    uint64_t virtual_size;
    uint64_t file_size;             /* bytes of the file itself */
    uint64_t allocated_bytes;       /* bytes the host file system holds for it */
    uint32_t block_size;            /* 0 for raw and fixed */
    uint32_t logical_sector_size;
    uint32_t physical_sector_size;
    char parent_path[4096];         /* "" unless differencing */
    char uuid[40];                  /* the image's identifier, "" if it has none */
};

/* Where a range's data comes from, for convert/compact/merge. */
enum disk_extent_kind {
    DISK_EXTENT_DATA = 1,           /* stored in this image */
    DISK_EXTENT_ZERO,               /* reads as zeroes, nothing stored */
    DISK_EXTENT_PARENT,             /* not present here: read from the parent */
};

/* Where a range lives in the image file, for the asynchronous data path (disk_aio.h). */
enum disk_map_kind {
    DISK_MAP_DATA = 1,              /* stored at a file offset, readable/writable in place */
    DISK_MAP_ZERO,                  /* reads as zeroes (a write would have to allocate) */
    DISK_MAP_PARENT,                /* read from the parent */
    DISK_MAP_UNALLOCATED,           /* anything else: go through disk_read/disk_write */
};

struct disk;

struct disk_format {
    const char *name;               /* "raw", "vhd", "vhdx" */
    enum disk_format_id id;
    /* Non-zero when the first bytes/last bytes of a file look like this format. */
    int (*probe)(int fd, uint64_t file_size);
    int (*create)(const char *path, const struct disk_create_opts *opts, char *err);
    int (*open)(struct disk *d, char *err);
    void (*close)(struct disk *d);
    int (*read)(struct disk *d, uint64_t off, void *buf, size_t len);
    int (*write)(struct disk *d, uint64_t off, const void *buf, size_t len);
    int (*discard)(struct disk *d, uint64_t off, uint64_t len);
    int (*flush)(struct disk *d);
    /* The kind of the extent at `off` and its length (at most `len`) in *extent_len. */
    int (*extent)(struct disk *d, uint64_t off, uint64_t len, uint64_t *extent_len);
    /* Optional. Consistency check: calls report() once per problem (one line, no
     * newline) and returns the number of problems found (after repair when `repair`),
     * or a negative errno when the check itself could not run. */
    int (*check)(struct disk *d, bool repair, void (*report)(void *ctx, const char *line),
                 void *ctx);
    /* Optional. Change the virtual size; shrinking is only asked for when no data
     * lies beyond new_size (disk_resize() verifies that first). */
    int (*resize)(struct disk *d, uint64_t new_size);
    /* Optional. Differencing disks: record `parent_path` (already opened read-only as
     * `parent` and verified to be the same disk by the format) as the parent. */
    int (*set_parent)(struct disk *d, struct disk *parent, const char *parent_path);
    /* Optional. The disk_map_kind of [off, off+len) (aligned, in range) and in *contig
     * how many bytes from off (1..len) share that answer; for DATA, *file_off is where
     * off lives in the image file. for_write: DATA only where a write may go straight
     * to the file with no metadata change. Must not change any state. */
    int (*map)(struct disk *d, uint64_t off, uint64_t len, bool for_write, uint64_t *file_off,
               uint64_t *contig);
    /* Optional, for compact: moves blocks from the end of the file into free space
     * inside it and cuts the file after the last one in use. */
    int (*shrink)(struct disk *d);
};

struct disk {
    const struct disk_format *fmt;
    int fd;
    char *path;
    unsigned flags;
    struct disk_info info;
    struct disk *parent;            /* NULL unless differencing */
    void *priv;                     /* the format's own state */
    char err[DISK_ERR_LEN];
    int flush_error;                /* see disk_flush() */
};

int disk_open(const char *path, enum disk_format_id fmt, unsigned flags,
              struct disk **out, char err[DISK_ERR_LEN]);
void disk_close(struct disk *d);
int disk_create(const char *path, const struct disk_create_opts *opts,
                char err[DISK_ERR_LEN]);

int disk_read(struct disk *d, uint64_t off, void *buf, size_t len);
int disk_write(struct disk *d, uint64_t off, const void *buf, size_t len);
int disk_discard(struct disk *d, uint64_t off, uint64_t len);
/* Returns once data and metadata written so far are on stable storage. A failed flush
 * means written data may never reach the file (the kernel reports a write-back error to
 * one fdatasync only, then forgets it): every later flush fails with the same error, so
 * the loss is never reported as durable. Not for ENOSPC/EDQUOT, which a caller may
 * retry once there is room. disk_flush_failed() latches an error found elsewhere (a
 * direct fdatasync of d->fd). */
int disk_flush(struct disk *d);
int disk_flush_failed(struct disk *d, int rc);
int disk_extent(struct disk *d, uint64_t off, uint64_t len, uint64_t *extent_len);
const char *disk_last_error(const struct disk *d);
/* The format's map() (DISK_MAP_UNALLOCATED with *contig = len when it has none). The
 * answer holds until the next write/discard/resize through the sync API: callers that
 * use it for I/O must keep those out meanwhile (disk_aio does). */
int disk_map(struct disk *d, uint64_t off, uint64_t len, bool for_write, uint64_t *file_off,
             uint64_t *contig);

/* Consistency check through the format's check(); returns the number of problems or a
 * negative errno (-ENOTSUP when the format has no checker). */
int disk_check(struct disk *d, bool repair, void (*report)(void *ctx, const char *line),
               void *ctx);
/* Grow, or shrink when nothing but zeroes lies beyond new_size (-ENOTEMPTY otherwise). */
int disk_resize(struct disk *d, uint64_t new_size);
/* Point a differencing disk at a moved parent; the parent's identity is verified. */
int disk_set_parent(struct disk *d, const char *parent_path);
/* The format table, for listing: entry i, or NULL past the end. */
const struct disk_format *disk_format_at(size_t i);

const char *disk_format_name(enum disk_format_id id);
enum disk_format_id disk_format_from_name(const char *name);      /* 0 if unknown */
enum disk_format_id disk_format_from_extension(const char *path); /* 0 if unknown */

#endif
