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
#define DISK_OPEN_FOR_CHECK   (1u << 3) /* open despite metadata inconsistencies so that a
                                           checker can report them; I/O touching a bad
                                           block fails with -EIO */

struct disk_create_opts {
    enum disk_format_id format;
    enum disk_type type;            /* fixed or dynamic; differencing when parent set */
    uint64_t size;                  /* virtual size in bytes (ignored with parent) */
    uint32_t block_size;            /* 0 = the format's default */
    uint32_t logical_sector_size;   /* 512 or 4096 (VHDX); 0 = 512 */
    uint32_t physical_sector_size;  /* 0 = format default */
    const char *parent;             /* path of the parent for a differencing disk */
};

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
};

int disk_open(const char *path, enum disk_format_id fmt, unsigned flags,
              struct disk **out, char err[DISK_ERR_LEN]);
void disk_close(struct disk *d);
int disk_create(const char *path, const struct disk_create_opts *opts,
                char err[DISK_ERR_LEN]);

int disk_read(struct disk *d, uint64_t off, void *buf, size_t len);
int disk_write(struct disk *d, uint64_t off, const void *buf, size_t len);
int disk_discard(struct disk *d, uint64_t off, uint64_t len);
/* Returns once data and metadata written so far are on stable storage. */
int disk_flush(struct disk *d);
int disk_extent(struct disk *d, uint64_t off, uint64_t len, uint64_t *extent_len);
const char *disk_last_error(const struct disk *d);

const char *disk_format_name(enum disk_format_id id);
enum disk_format_id disk_format_from_name(const char *name);      /* 0 if unknown */
enum disk_format_id disk_format_from_extension(const char *path); /* 0 if unknown */

#endif
