/* VHDX backend: the disk_format registered in disk.c, plus the VHDX-specific
 * operations the generic `check` and `resize` drivers call. */
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
 * To check images that fail open validation, open with DISK_OPEN_FOR_CHECK. */
int vhdx_check(struct disk *d, bool repair, void (*report)(void *ctx, const char *line),
               void *ctx);

/* Changes the virtual size (a multiple of the logical sector size, at most 64 TiB).
 * Growing updates the metadata and, when needed, moves the BAT to a bigger region.
 * Shrinking is refused (-ENOTEMPTY) if any data beyond the new end is non-zero, and
 * refused (-ENOTSUP) for differencing disks. Crash-safe: every change goes through the
 * log. 0 or a negative errno with the reason in disk_last_error(d). */
int vhdx_resize(struct disk *d, uint64_t new_size);

/* Test hook, NULL in production: called at each step of a metadata update where a
 * crash matters: "log" after a log entry is durable (everything written before it is
 * too), "apply" before an in-place metadata write of [off, off+len) to fd, "header"
 * between the two header writes, "replay" between replayed pages. The crash test
 * kills the process from it and records what a power loss could still undo. */
extern void (*vhdx_crash_point)(const char *where, int fd, uint64_t off, uint64_t len);

#endif
