/* VHD file space: the gaps blocks freed by discard leave (found on open; a new block
 * takes the lowest gap that fits before the file grows), and compaction's last step:
 * blocks at the end of the file move into the gaps, and the file is cut after the last
 * block, its footer moved there.
 *
 * A block is freed by writing its BAT entry as unused and syncing, so its space is a
 * gap at once (no log, nothing pending). Crash safety of the moves without a log: the
 * moved blocks are copied and synced before any BAT entry changes; each BAT entry is
 * one 4-byte write (a crash leaves each block at its old place or its new one, both
 * complete); the BAT is synced before the footer is written at the new end, and that
 * is synced before the file is cut. */
#include "disk/freespace.h"
#include "disk/raw.h"
#include "disk/vhd.h"
#include "disk/vhd_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECTOR 512u

static int fail(struct disk *d, int rc, const char *what)
{
    snprintf(d->err, sizeof(d->err), "%s: %s: %s", d->path, what, strerror(-rc));
    return rc;
}

static uint64_t block_len(const struct vhd *v)
{
    return (uint64_t)v->bitmap_bytes + v->block_size;
}

/* Everything but the blocks: the footer copy, the header, the BAT, the locators. */
static size_t fixed_parts(const struct vhd *v, struct freespace_range *used)
{
    size_t k = 0;
    used[k++] = (struct freespace_range){ 0, VHD_FOOTER_SIZE };
    used[k++] = (struct freespace_range){ v->footer.data_offset, VHD_HEADER_SIZE };
    used[k++] = (struct freespace_range){ v->header.table_offset,
                                          ((uint64_t)v->entries * 4 + SECTOR - 1) / SECTOR * SECTOR };
    for (int i = 0; i < VHD_NUM_LOCATORS; i++)
        if (v->header.loc[i].code && v->header.loc[i].data_offset)
            used[k++] = (struct freespace_range){ v->header.loc[i].data_offset,
                                                  vhd_locator_space(&v->header.loc[i]) };
    return k;
}

int vhd_space_rebuild(struct disk *d)
{
    struct vhd *v = d->priv;
    struct freespace_range *used = malloc((v->entries + 3 + VHD_NUM_LOCATORS) * sizeof(*used));
    if (!used)
        return fail(d, -ENOMEM, "finding free space");
    size_t k = fixed_parts(v, used);
    for (uint32_t b = 0; b < v->entries; b++)
        if (v->bat[b] != VHD_BAT_UNUSED)
            used[k++] = (struct freespace_range){ (uint64_t)v->bat[b] * SECTOR, block_len(v) };
    int rc = freespace_rebuild(&v->space, used, k, v->footer_off, SECTOR);
    free(used);
    return rc < 0 ? fail(d, rc, "finding free space") : 0;
}

struct move {
    uint32_t block;
    uint64_t from, to;
};

static int by_offset_desc(const void *a, const void *b)
{
    const struct move *x = a, *y = b;
    return x->from > y->from ? -1 : x->from < y->from;
}

int vhd_shrink(struct disk *d)
{
    struct vhd *v = d->priv;
    if (!v->sparse || (d->flags & DISK_OPEN_UNSAFE))
        return 0;
    struct move *m = malloc((v->entries ? v->entries : 1) * sizeof(*m));
    int rc = 0;
    size_t nm = 0;
    if (!m) {
        rc = -ENOMEM;
        goto out;
    }
    for (uint32_t b = 0; b < v->entries; b++)
        if (v->bat[b] != VHD_BAT_UNUSED)
            m[nm++] = (struct move){ b, (uint64_t)v->bat[b] * SECTOR, 0 };
    struct freespace *fs = &v->space;

    /* highest blocks first, each to the lowest gap below it that fits */
    qsort(m, nm, sizeof(*m), by_offset_desc);
    size_t moved = 0;
    for (size_t j = 0; j < nm; j++) {
        if (!freespace_take(fs, block_len(v), 4096, v->bitmap_bytes % 4096, m[j].from, &m[j].to))
            continue;
        bool zeroed = raw_zero_hole(d->fd, m[j].to, block_len(v)) == 0;
        if ((rc = raw_copy_within(d->fd, m[j].from, m[j].to, block_len(v), zeroed))) {
            fail(d, rc, "moving a block");
            goto out;
        }
        m[moved++] = m[j];
    }
    if (moved && (rc = vhd_sync(d)))
        goto out;
    for (size_t j = 0; j < moved; j++) {
        v->bat[m[j].block] = (uint32_t)(m[j].to / SECTOR);
        if ((rc = vhd_write_bat_entry(d, m[j].block)))
            goto out;
    }
    if (moved && (rc = vhd_sync(d)))
        goto out;
    for (size_t j = 0; j < moved; j++) /* unreferenced for good now */
        if ((rc = freespace_untake(fs, m[j].from, block_len(v))) < 0)
            goto out;

    struct freespace_range parts[3 + VHD_NUM_LOCATORS];
    uint64_t end = 0;
    for (size_t i = 0, k = fixed_parts(v, parts); i < k; i++)
        if (parts[i].off + parts[i].len > end)
            end = parts[i].off + parts[i].len;
    for (uint32_t b = 0; b < v->entries; b++)
        if (v->bat[b] != VHD_BAT_UNUSED && (uint64_t)v->bat[b] * SECTOR + block_len(v) > end)
            end = (uint64_t)v->bat[b] * SECTOR + block_len(v);
    end = (end + SECTOR - 1) / SECTOR * SECTOR;
    if (end < v->footer_off) {
        if ((rc = vhd_write_footer_at(d, end)) || (rc = vhd_sync(d)))
            goto out;
        v->footer_off = end;
        if (ftruncate(d->fd, (off_t)(end + VHD_FOOTER_SIZE)) < 0) {
            rc = fail(d, -errno, "cutting the file short");
            goto out;
        }
        d->info.file_size = end + VHD_FOOTER_SIZE;
        freespace_truncate(fs, end);
        rc = vhd_sync(d);
    }
out:
    if (rc == -ENOMEM)
        fail(d, rc, "compacting");
    free(m);
    return rc;
}
