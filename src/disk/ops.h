/* Whole-image operations built on the struct disk interface only, so that they work
 * for every format: convert, compact, merge. (Check, resize and set-parent dispatch to
 * the format through disk_check(), disk_resize(), disk_set_parent() in disk.h.) */
#ifndef VIRIDIAN_DISK_OPS_H
#define VIRIDIAN_DISK_OPS_H

#include "disk/disk.h"
#include "disk/progress.h"

/* Like disk_extent(), but PARENT ranges are followed down the chain: the result is
 * DATA (somewhere in the chain) or ZERO. */
int disk_extent_resolved(struct disk *d, uint64_t off, uint64_t len, uint64_t *extent_len);
/* True when n bytes at p are all zero. */
bool disk_buf_is_zero(const void *p, size_t n);

/* Copy `src` into a new image `dst` made with `opts` (format from opts or dst's name,
 * size from src). All-zero ranges are not written, so the new image stays sparse.
 * On failure dst is removed. */
int disk_convert(const char *src, enum disk_format_id src_fmt, const char *dst,
                 const struct disk_create_opts *opts, struct progress *prog,
                 char err[DISK_ERR_LEN]);

/* Give back every block (or, for raw and fixed images, every MiB) that reads as zero.
 * *freed receives the number of bytes given back. */
int disk_compact(struct disk *d, struct progress *prog, uint64_t *freed);

/* Fold a differencing disk's own data into its parent. The child still reads the same
 * afterwards (everything it holds is now also in the parent) and may be deleted. */
int disk_merge(const char *child, struct progress *prog, uint64_t *merged,
               char err[DISK_ERR_LEN]);

#endif
