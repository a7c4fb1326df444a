/* VHDX backend: the disk_format registered in disk.c, plus the VHDX-specific
 * operations the generic `check` and `resize` drivers call.
 *
 * Behaviour callers can rely on:
 * - I/O offsets and lengths must be multiples of the logical sector size (-EINVAL).
 * - disk_flush(): when it returns, all data written before it and the metadata that
 *   makes it reachable are on stable storage (data fdatasync -> log entry fdatasync
 *   -> in-place metadata). Without a flush, a crash loses at most unflushed writes;
 *   it never shows one block's data in another.
 * - disk_discard(): the range reads as zeros afterwards. Dynamic disks: whole blocks
 *   become UNMAPPED (file offset kept, hole punched, reused by the next write);
 *   partial ranges are hole-punched. Fixed disks: FALLOC_FL_ZERO_RANGE (stays
 *   allocated). Differencing: whole blocks become ZERO (not the parent's data),
 *   partial ranges are written with zeros.
 * - Reads: NOT_PRESENT reads zeros (from the parent in a differencing disk); ZERO,
 *   UNMAPPED and UNDEFINED read zeros; PARTIALLY_PRESENT per the sector bitmap.
 * - Open of an image with a pending log (not closed cleanly): read-write replays it;
 *   read-only fails with -EROFS and a message, unless DISK_OPEN_NO_REPLAY: then the
 *   log is replayed into memory only and reads see exactly what they would after a
 *   replay; the file is not modified and the disk is read-only.
 * - DISK_OPEN_CHECK: BAT entries that fail validation do not fail the open; I/O
 *   touching them fails with -EIO. For a read-only check use
 *   DISK_OPEN_RDONLY | DISK_OPEN_NO_REPLAY | DISK_OPEN_CHECK; for repair open
 *   read-write (that replays a pending log).
 * - Differencing: the parent is found by relative_path (relative to the child's
 *   directory), then absolute_win32_path, then the parent's file name in the child's
 *   directory; its DataWriteGuid must match parent_linkage(2); loops are refused.
 *   Creating a child stores both the relative (".\p.vhdx", "..\d\p.vhdx") and the
 *   absolute path (backslashes) and inherits size, sector sizes, block size (unless
 *   given) and the virtual disk id. Writing to a parent changes its DataWriteGuid and
 *   so breaks its children, as the spec requires. */
#ifndef VIRIDIAN_DISK_VHDX_H
#define VIRIDIAN_DISK_VHDX_H

#include <stdbool.h>
#include <stdint.h>

#include "disk/disk.h"

extern const struct disk_format vhdx_format;

/* Checks an open VHDX image (headers, region tables, metadata, log, every BAT entry,
 * overlaps, sector bitmaps) and calls report() once per inconsistency with one line
 * of text. With repair, fixes what is safe to fix (stale/corrupt second header or
 * region table copy, pending log already replayed by the writable open) and reports
 * those lines prefixed "repaired: ". Returns the number of problems found that are
 * left unrepaired (0 = clean), or a negative errno when the check itself failed.
 * To check images that fail open validation, open with DISK_OPEN_CHECK. */
int vhdx_check(struct disk *d, bool repair, void (*report)(void *ctx, const char *line),
               void *ctx);

/* Changes the virtual size (a multiple of the logical sector size, at most 64 TiB).
 * Growing updates the metadata and, when needed, moves the BAT to a bigger region.
 * Shrinking is refused (-ENOTEMPTY) if any data beyond the new end is non-zero, and
 * refused (-ENOTSUP) for differencing disks. Crash-safe: every change goes through the
 * log. 0 or a negative errno with the reason in disk_last_error(d). */
int vhdx_resize(struct disk *d, uint64_t new_size);

/* Test hook, NULL in production: called at each step where a crash matters:
 * "sync" after every fdatasync (all earlier writes are durable), "write" before a
 * payload write/hole punch of [off, off+len) in fd, "apply" before an in-place
 * metadata write, "log" after a log entry is durable, "header" between the two header
 * writes, "replay" between replayed pages. The crash test kills the process from it
 * and undoes what a power loss could still undo (writes after the last sync). */
extern void (*vhdx_crash_point)(const char *where, int fd, uint64_t off, uint64_t len);

#endif
