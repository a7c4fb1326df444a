/* VHDX file space: finding the free gaps on open, and compaction (moving blocks from
 * the end of the file into gaps, then cutting the file short).
 *
 * The gaps are whatever lies between the headers, the log, the known and unknown
 * regions and every block a BAT entry names; they are all 1 MiB multiples. New blocks
 * take the lowest gap that fits (alloc_space in vhdx_io.c) and the space a block gives
 * up becomes free after the flush that made the change durable (freespace.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disk/vhdx.h"
#include "disk/vhdx_internal.h"

static bool is_sb_entry(const struct vhdx_geom *g, uint64_t i)
{
    return i % (g->chunk_ratio + 1) == g->chunk_ratio;
}

static uint64_t entries_in_use(const struct vhdx *v)
{
    return v->geom.bat_entries < v->bat_region_entries ? v->geom.bat_entries
                                                       : v->bat_region_entries;
}

/* Length of the file space BAT entry i names (0: none). */
static uint64_t entry_space(const struct vhdx *v, uint64_t i)
{
    uint64_t e = v->bat[i];
    if (!vhdx_bat_offset(e))
        return 0;
    if (is_sb_entry(&v->geom, i))
        return vhdx_bat_state(e) == VHDX_SB_PRESENT ? VHDX_SB_BLOCK_SIZE : 0;
    return v->geom.block_size;
}

/* How many BAT entries name file space (sized for those, not for the whole BAT: a
 * 64 TiB disk of 1 MiB blocks has 64 Mi entries, mostly empty). */
static uint64_t entries_with_space(const struct vhdx *v)
{
    uint64_t k = 0;
    for (uint64_t i = 0, n = entries_in_use(v); i < n; i++)
        k += entry_space(v, i) != 0;
    return k;
}

#define FIXED_PARTS (4 + VHDX_OTHER_REGIONS)

/* Everything but the blocks: the file identifier, headers and region tables (the first
 * MiB), the log, the BAT, the metadata and the regions we do not know. */
static size_t fixed_parts(const struct vhdx *v, struct freespace_range *used)
{
    size_t k = 0;
    used[k++] = (struct freespace_range){ 0, VHDX_MiB };
    used[k++] = (struct freespace_range){ v->hdr.log_offset, v->hdr.log_length };
    used[k++] = (struct freespace_range){ v->reg.bat_offset, v->reg.bat_length };
    used[k++] = (struct freespace_range){ v->reg.meta_offset, v->reg.meta_length };
    for (uint32_t i = 0; i < v->reg.nother; i++)
        used[k++] = (struct freespace_range){ v->reg.other[i].off, v->reg.other[i].len };
    return k;
}

int vhdx_space_rebuild(struct disk *d)
{
    struct vhdx *v = vhdx_of(d);
    uint64_t n = entries_in_use(v);
    struct freespace_range *used = malloc((entries_with_space(v) + FIXED_PARTS) * sizeof(*used));
    if (!used)
        return vhdx_err(d, -ENOMEM, "out of memory");
    size_t k = fixed_parts(v, used);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = entry_space(v, i);
        if (len)
            used[k++] = (struct freespace_range){ vhdx_bat_offset(v->bat[i]), len };
    }
    /* too many unknown regions to keep track of: no gap is trusted */
    uint64_t end = v->reg.other_overflow ? 0 : v->alloc_end;
    int rc = freespace_rebuild(&v->space, used, k, end, VHDX_MiB);
    free(used);
    return rc < 0 ? vhdx_err(d, rc, "out of memory") : 0;
}

uint64_t vhdx_used_end(const struct vhdx *v)
{
    struct freespace_range parts[FIXED_PARTS];
    uint64_t end = 0;
    for (size_t i = 0, k = fixed_parts(v, parts); i < k; i++)
        if (parts[i].off + parts[i].len > end)
            end = parts[i].off + parts[i].len;
    for (uint64_t i = 0, n = entries_in_use(v); i < n; i++) {
        uint64_t len = entry_space(v, i);
        if (len && vhdx_bat_offset(v->bat[i]) + len > end)
            end = vhdx_bat_offset(v->bat[i]) + len;
    }
    return vhdx_round_up(end, VHDX_MiB);
}

struct move {
    uint64_t idx, from, to, len;
};

static int by_offset_desc(const void *a, const void *b)
{
    const struct move *x = a, *y = b;
    return x->from > y->from ? -1 : x->from < y->from;
}

/* Plans and makes the moves: every block that has a gap below it goes to the lowest
 * one. Data first (copied, synced), then the BAT entries through the log, so a crash
 * leaves either the old places or the new ones in use, never a mix within a block. */
static int move_blocks(struct disk *d)
{
    struct vhdx *v = vhdx_of(d);
    uint64_t n = entries_in_use(v), nm = 0, blocks = entries_with_space(v);
    struct move *m = malloc((blocks ? blocks : 1) * sizeof(*m));
    int rc = 0;
    if (!m) {
        rc = vhdx_err(d, -ENOMEM, "out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = entry_space(v, i);
        if (len)
            m[nm++] = (struct move){ i, vhdx_bat_offset(v->bat[i]), 0, len };
    }
    qsort(m, nm, sizeof(*m), by_offset_desc);
    uint64_t planned = 0;
    for (uint64_t j = 0; j < nm; j++) {
        if (!freespace_take(&v->space, m[j].len, VHDX_MiB, 0, m[j].from, &m[j].to))
            continue;
        if (!vhdx_punch(d, m[j].to, m[j].len)) {
            /* cannot make the gap read zeros: no moves at all */
            freespace_untake(&v->space, m[j].to, m[j].len);
            break;
        }
        if (vhdx_crash_point)
            vhdx_crash_point("write", d->fd, m[j].to, m[j].len);
        if ((rc = raw_copy_within(d->fd, m[j].from, m[j].to, m[j].len, true)) < 0) {
            rc = vhdx_err(d, rc, "moving a block to file offset %llu: %s",
                          (unsigned long long)m[j].to, strerror(-rc));
            goto out;
        }
        m[planned++] = m[j];
    }
    if (!planned)
        goto out;
    if ((rc = vhdx_sync(d)) < 0)
        goto out;
    for (uint64_t j = 0; j < planned; j++) {
        uint64_t e = v->bat[m[j].idx];
        vhdx_bat_set(v, m[j].idx, vhdx_bat_make(vhdx_bat_state(e), m[j].to));
        if ((rc = freespace_release(&v->space, m[j].from, m[j].len)) < 0) {
            rc = vhdx_err(d, rc, "out of memory");
            goto out;
        }
    }
    rc = vhdx_flush_locked(d);
out:
    free(m);
    return rc;
}

/* Space kept for a discarded block (UNMAPPED/UNDEFINED with an offset) is given up:
 * the block reads as zeros either way (ZERO, offset 0 as the spec wants). */
static int drop_kept_space(struct disk *d)
{
    struct vhdx *v = vhdx_of(d);
    for (uint64_t i = 0, n = entries_in_use(v); i < n; i++) {
        uint64_t e = v->bat[i];
        unsigned st = vhdx_bat_state(e);
        if (is_sb_entry(&v->geom, i) || !vhdx_bat_offset(e) ||
            (st != VHDX_PAYLOAD_UNMAPPED && st != VHDX_PAYLOAD_UNMAPPED_V095 &&
             st != VHDX_PAYLOAD_UNDEFINED))
            continue;
        vhdx_punch(d, vhdx_bat_offset(e), v->geom.block_size);
        vhdx_bat_set(v, i, vhdx_bat_make(VHDX_PAYLOAD_ZERO, 0));
        if (freespace_release(&v->space, vhdx_bat_offset(e), v->geom.block_size) < 0)
            return vhdx_err(d, -ENOMEM, "out of memory");
    }
    return vhdx_flush_locked(d);
}

int vhdx_shrink(struct disk *d)
{
    struct vhdx *v = vhdx_of(d);
    if (v->meta.leave_allocated)
        return 0; /* fixed: every block has its place for good */
    pthread_mutex_lock(&v->lock);
    int rc = vhdx_begin_change(d, false); /* the contents stay: children stay linked */
    if (rc >= 0)
        rc = drop_kept_space(d);
    if (rc >= 0)
        rc = move_blocks(d);
    uint64_t end = vhdx_used_end(v);
    if (rc >= 0 && end < v->file_size) {
        /* The log's entries name the file size they were written for; replaying one on
         * a shorter file would be refused as truncation, so the session (and its log)
         * is closed before the file is cut. */
        if ((rc = vhdx_close_session(d)) >= 0) {
            if (ftruncate(d->fd, (off_t)end) < 0) {
                rc = vhdx_err(d, -errno, "cannot cut the file to %llu bytes: %s",
                              (unsigned long long)end, strerror(errno));
            } else {
                v->file_size = end;
                d->info.file_size = end;
                v->alloc_end = end;
                freespace_truncate(&v->space, end);
                rc = vhdx_sync(d);
            }
        }
    }
    pthread_mutex_unlock(&v->lock);
    return rc < 0 ? rc : 0;
}
