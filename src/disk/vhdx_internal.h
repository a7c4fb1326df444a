/* State of an open VHDX image and the functions the vhdx_*.c files share.
 * Not for use outside src/disk/vhdx*.c (the public API is vhdx.h). */
#ifndef VIRIDIAN_DISK_VHDX_INTERNAL_H
#define VIRIDIAN_DISK_VHDX_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "disk/disk.h"
#include "disk/freespace.h"
#include "disk/raw.h" /* raw_pread_zero_eof, raw_pwrite_full */
#include "disk/vhdx_format.h"

/* A 4 KiB metadata page: a pending in-place update, or a page of the replay overlay
 * (read-only open of an image with a pending log). data == NULL means zeros. */
struct vhdx_page {
    uint64_t off;
    uint8_t *data;
};

/* One cached sector bitmap block (1 MiB, differencing disks only). */
struct vhdx_sb {
    uint8_t *bits;          /* NULL until first needed */
    uint64_t dirty[4];      /* one bit per 4 KiB page of the bitmap */
};

/* Parsed metadata region. */
struct vhdx_meta {
    uint32_t block_size;
    bool leave_allocated, has_parent;
    uint64_t virtual_size;
    uint32_t logical_sector, physical_sector;
    struct vhdx_guid page83;
    uint64_t size_item_off;          /* file offset of the Virtual Disk Size item */
    /* parent locator (has_parent) */
    bool have_linkage, have_linkage2;
    struct vhdx_guid linkage, linkage2;
    char *relative_path, *absolute_path, *volume_path; /* UTF-8, as stored; may be NULL */
};

struct vhdx {
    pthread_mutex_t lock;
    struct vhdx_header hdr;      /* the current header */
    int hdr_slot;                /* 0: header 1 at 64 KiB is current, 1: header 2 */
    struct vhdx_regions reg;
    struct vhdx_meta meta;
    struct vhdx_geom geom;

    uint64_t *bat;               /* the BAT, in region order (geom.bat_entries entries) */
    uint64_t bat_bytes;          /* allocated size of bat (multiple of 4 KiB) */
    uint64_t bat_region_entries; /* entries the BAT region on disk holds */
    uint8_t *bat_dirty;          /* bit per 4 KiB page of the BAT region */
    uint8_t *bad;                /* FOR_CHECK: bit per BAT entry that failed validation */
    struct vhdx_sb *sb;          /* geom.sb_blocks entries (differencing only) */
    struct vhdx_page *misc;      /* other dirty metadata pages (resize) */
    size_t nmisc;
    struct vhdx_page *overlay;   /* NO_REPLAY: the pending log's pages, sorted */
    size_t noverlay;

    uint64_t file_size;          /* current size of the file */
    uint64_t alloc_end;          /* next free 1 MiB-aligned offset for new blocks */
    struct freespace space;      /* gaps below alloc_end (vhdx_space.c) */
    bool meta_dirty;             /* BAT/SB/misc pages wait for a flush */
    bool data_dirty;             /* payload written or punched since the last sync */
    bool session;                /* headers carry this session's FileWriteGuid */
    bool data_session;           /* ... and its DataWriteGuid (contents changed) */
    bool log_live;               /* the header's LogGuid is this session's */
    struct vhdx_guid session_log_guid;
    uint64_t log_seq;            /* sequence number of the newest entry written */
    uint32_t log_newest_pos, log_newest_len; /* where it is (len 0: none yet) */
    bool replayed;               /* open replayed a pending log */
    bool pending_log;            /* NO_REPLAY: a log was pending (overlay in use) */
    bool log_invalid;            /* FOR_CHECK: LogGuid set but no valid entry found */
    bool punch_ok;               /* FALLOC_FL_PUNCH_HOLE works on this file */
};

static inline struct vhdx *vhdx_of(struct disk *d) { return d->priv; }

/* vhdx_file.c: whole-buffer I/O and errors */
int vhdx_err(struct disk *d, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vhdx_sync(struct disk *d);
/* Metadata read: the file's bytes with the replay overlay (if any) applied. */
int vhdx_meta_pread(struct disk *d, void *buf, size_t len, uint64_t off);
/* Makes the file at least `size` bytes long (sparse). */
int vhdx_extend(struct disk *d, uint64_t size);
/* Frees [off, off+len) in the file so it reads zeros; false if not supported. */
bool vhdx_punch(struct disk *d, uint64_t off, uint64_t len);

/* vhdx_header.c */
int vhdx_headers_load(struct disk *d);                  /* picks the current header */
int vhdx_headers_write(struct disk *d);                 /* both slots, seq+1 each, synced */
int vhdx_regions_load(struct disk *d);
/* First modification of a session: new File/DataWriteGuid in both headers. */
int vhdx_begin_write(struct disk *d);
/* The same, but a change that leaves the disk's contents alone (data false: a new parent
 * locator) renews only the FileWriteGuid, so children linked to this disk stay valid. */
int vhdx_begin_change(struct disk *d, bool data);

/* vhdx_parent.c: the locator's relative and absolute (backslashed) paths from a child
 * to its parent; -errno. */
int vhdx_locator_paths(const char *child, const char *parent, char *rel, size_t relcap, char *abs,
                       size_t abscap);
int vhdx_set_parent(struct disk *d, struct disk *parent, const char *parent_path);

/* vhdx_metadata.c */
int vhdx_metadata_load(struct disk *d);
void vhdx_metadata_free(struct vhdx_meta *m);
struct vhdx_create_meta {
    uint32_t block_size;
    bool leave_allocated, has_parent;
    uint64_t virtual_size;
    uint32_t logical_sector, physical_sector;
    struct vhdx_guid page83;
    const struct vhdx_guid *linkage;          /* has_parent */
    const char *relative_path, *absolute_path; /* has_parent, UTF-8 */
};
/* Builds the metadata region contents (len bytes, at least 1 MiB). */
int vhdx_metadata_build(const struct vhdx_create_meta *c, uint8_t *buf, size_t len);
/* UTF-16LE <-> UTF-8 (used for the locator); returns malloc'd / length. */
char *vhdx_utf16_to_utf8(const uint8_t *p, size_t bytes);
size_t vhdx_utf8_to_utf16(const char *s, uint8_t *out, size_t cap);

/* vhdx_bat.c */
int vhdx_bat_load(struct disk *d);
/* Validates every entry and calls report for each problem: only those that make the
 * image unusable unless `all` (then also reserved bits, stray offsets). Marks bad
 * entries in v->bad when mark is set. Returns the number of problems. */
long vhdx_bat_validate(struct disk *d, bool mark, bool all,
                       void (*report)(void *ctx, const char *line), void *ctx);
void vhdx_bat_set(struct vhdx *v, uint64_t index, uint64_t entry); /* marks the page dirty */
static inline bool vhdx_is_bad(const struct vhdx *v, uint64_t idx)
{
    return v->bad && (v->bad[idx / 8] >> (idx % 8)) & 1;
}

/* vhdx_log.c */
struct vhdx_log_page {
    uint64_t off;
    const uint8_t *data;        /* 4 KiB, or NULL for zeros */
};
struct vhdx_log_entry_info {
    uint64_t seq, flushed_file_offset, last_file_offset;
    uint32_t length, tail, desc_count;
};
struct vhdx_log_seq {
    uint32_t tail_pos, head_pos, count;
    struct vhdx_log_entry_info head;
};
uint32_t vhdx_log_desc_sectors(uint32_t ndesc);
/* Builds an entry of npages data descriptors into buf (size from vhdx_log_entry_len). */
uint32_t vhdx_log_entry_len(uint32_t npages);
void vhdx_log_entry_build(uint8_t *buf, const struct vhdx_log_page *pages, uint32_t npages,
                          uint64_t seq, uint32_t tail, const struct vhdx_guid *log_guid,
                          uint64_t flushed_file_offset, uint64_t last_file_offset);
/* Validates the entry at pos of a log ring held in memory. 0 or -EINVAL. */
int vhdx_log_entry_check(const uint8_t *log, uint32_t log_len, uint32_t pos,
                         const struct vhdx_guid *log_guid, struct vhdx_log_entry_info *e);
/* Finds the active sequence (spec §2.3.2). 1 found, 0 none. */
int vhdx_log_find(const uint8_t *log, uint32_t log_len, const struct vhdx_guid *log_guid,
                  struct vhdx_log_seq *s);
/* Calls apply(off, page-or-NULL, len) for every update of the sequence, in order. */
int vhdx_log_replay(const uint8_t *log, uint32_t log_len, const struct vhdx_log_seq *s,
                    int (*apply)(void *ctx, uint64_t off, const uint8_t *page, uint64_t len),
                    void *ctx);
/* Open-time: replays (writable) or overlays (NO_REPLAY) a pending log. */
int vhdx_log_open(struct disk *d);

/* vhdx_flush.c */
int vhdx_flush_locked(struct disk *d);
/* Adds/updates a dirty metadata page outside the BAT/bitmaps (region table, metadata). */
int vhdx_misc_page(struct disk *d, uint64_t off, uint8_t **page);
int vhdx_close_session(struct disk *d);

/* vhdx_io.c */
int vhdx_read(struct disk *d, uint64_t off, void *buf, size_t len);
int vhdx_write(struct disk *d, uint64_t off, const void *buf, size_t len);
int vhdx_map(struct disk *d, uint64_t off, uint64_t len, bool for_write, uint64_t *file_off,
             uint64_t *contig);
int vhdx_discard(struct disk *d, uint64_t off, uint64_t len);
int vhdx_flush(struct disk *d);
int vhdx_extent(struct disk *d, uint64_t off, uint64_t len, uint64_t *extent_len);
int vhdx_sb_load(struct disk *d, uint64_t chunk);
int vhdx_write_locked(struct disk *d, uint64_t off, const void *buf, size_t len);

/* vhdx_space.c */
int vhdx_space_rebuild(struct disk *d);
/* One past the last byte the headers, log, regions and blocks use, rounded to 1 MiB. */
uint64_t vhdx_used_end(const struct vhdx *v);
/* compact's last step: blocks moved down into gaps, the file cut after the last. */
int vhdx_shrink(struct disk *d);

/* vhdx_create.c */
int vhdx_create(const char *path, const struct disk_create_opts *opts, char *err);

/* vhdx_parent.c */
int vhdx_parent_open(struct disk *d);
/* relative path from the directory of `from` (a file) to the file `to` (both absolute). */
int vhdx_relative_path(const char *from, const char *to, char *out, size_t cap);

#endif
