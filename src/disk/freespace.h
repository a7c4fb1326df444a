/* Free space inside an image file, for the dynamic formats (VHDX; VHD).
 *
 * A format lists the file ranges its structures and blocks use (freespace_rebuild);
 * the gaps between them are free and new blocks take the lowest gap that fits
 * (freespace_take) before growing the file. A range a block gives up is not free at
 * once (freespace_release): until the metadata change that dropped it is on stable
 * storage, a crash would bring back the old metadata pointing at the range, and a new
 * block's data there would show up in the old block. The format calls
 * freespace_commit() after each flush that made its metadata durable. */
#ifndef VIRIDIAN_DISK_FREESPACE_H
#define VIRIDIAN_DISK_FREESPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct freespace_range {
    uint64_t off, len;
};

struct freespace {
    struct freespace_range *free;       /* sorted by offset, merged, non-empty */
    size_t nfree, capfree;
    struct freespace_range *pending;    /* released, not yet durable */
    size_t npending, cappending;
};

void freespace_destroy(struct freespace *fs);
/* Sorts `used` (n ranges, may overlap) and makes the free list exactly the gaps below
 * `end` (the first offset past everything in use), each trimmed to `align`. -ENOMEM. */
int freespace_rebuild(struct freespace *fs, struct freespace_range *used, size_t n, uint64_t end,
                      uint64_t align);
/* [off, off+len) was given up by a metadata change not yet durable. -ENOMEM. */
int freespace_release(struct freespace *fs, uint64_t off, uint64_t len);
/* The changes that released the pending ranges are durable: they are free now. */
int freespace_commit(struct freespace *fs);
/* Takes `len` bytes ending below `limit` from the lowest gap that has room, at an
 * offset where off + skew is a multiple of `align` (skew < align; VHD puts a block's
 * bitmap just before an aligned boundary); false when no gap has room. */
bool freespace_take(struct freespace *fs, uint64_t len, uint64_t align, uint64_t skew,
                    uint64_t limit, uint64_t *off);
/* Gives back a range freespace_take() handed out that ended up unused. */
int freespace_untake(struct freespace *fs, uint64_t off, uint64_t len);
/* Drops every free byte at or past `end` (the file was cut short there). */
void freespace_truncate(struct freespace *fs, uint64_t end);
/* Total free bytes (committed). */
uint64_t freespace_total(const struct freespace *fs);

#endif
