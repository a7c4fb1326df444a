/* Resizing VHD images. Fixed: the footer moves (written at its new place first). Dynamic:
 * the BAT grows in place when its padding allows, else the blocks right after it are
 * moved to the end of the file first; shrinking frees the blocks past the new end (the
 * caller has checked they hold only zeroes). The footer copies are updated last, so a
 * crash leaves the old size with a possibly larger BAT, which is harmless.
 * Differencing disks take their size from the parent and are not resized. */
#include "disk/raw.h"
#include "disk/vhd_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(struct disk *d, int rc, const char *what)
{
    snprintf(d->err, sizeof(d->err), "%s: %s: %s", d->path, what, strerror(-rc));
    return rc;
}

static void set_size(struct vhd *v, uint64_t size)
{
    v->footer.current_size = size;
    vhd_chs(size, &v->footer.cylinders, &v->footer.heads, &v->footer.sectors_per_track);
}

static int resize_fixed(struct disk *d, uint64_t new_size)
{
    struct vhd *v = d->priv;
    uint64_t old = v->footer.current_size, old_end = v->footer_off + VHD_FOOTER_SIZE;
    int rc;
    set_size(v, new_size);
    if ((rc = vhd_write_footer_at(d, new_size)) || (rc = vhd_sync(d)))
        return rc;
    if (new_size > old) {
        /* the old footer (and anything after it) is now disk data: make it zero */
        static const char zero[VHD_SECTOR];
        for (uint64_t p = old; p < old_end && p < new_size; p += VHD_SECTOR)
            if ((rc = raw_pwrite_full(d->fd, zero, VHD_SECTOR, p)))
                return fail(d, rc, "writing");
        if (fallocate(d->fd, FALLOC_FL_KEEP_SIZE, (off_t)old, (off_t)(new_size - old)) < 0 &&
            errno != EOPNOTSUPP)
            return fail(d, -errno, "allocating");
    }
    if (ftruncate(d->fd, (off_t)(new_size + VHD_FOOTER_SIZE)) < 0)
        return fail(d, -errno, "truncating");
    v->footer_off = new_size;
    return vhd_sync(d);
}

/* Move block b to the end of the file. */
static int relocate_block(struct disk *d, uint32_t b)
{
    struct vhd *v = d->priv;
    uint64_t from = (uint64_t)v->bat[b] * VHD_SECTOR, len = v->bitmap_bytes + (uint64_t)v->block_size;
    uint64_t to = vhd_next_block_off(v);
    char *buf = malloc(1 << 20);
    int rc = 0;
    if (!buf)
        return -ENOMEM;
    v->footer_off = to + len;
    rc = vhd_write_footer_at(d, v->footer_off);
    for (uint64_t p = 0; p < len && !rc; p += 1 << 20) {
        size_t n = (size_t)(len - p < (1 << 20) ? len - p : (1 << 20));
        rc = raw_pread_full(d->fd, buf, n, from + p);
        if (!rc)
            rc = raw_pwrite_full(d->fd, buf, n, to + p);
    }
    free(buf);
    if (rc)
        return fail(d, rc, "moving a block");
    if ((rc = vhd_sync(d)))
        return rc;
    v->bat[b] = (uint32_t)(to / VHD_SECTOR);
    if ((rc = vhd_write_bat_entry(d, b)) || (rc = vhd_sync(d)))
        return rc;
    return 0;
}

static int grow_bat(struct disk *d, uint32_t new_entries)
{
    struct vhd *v = d->priv;
    struct vhd_header *h = &v->header;
    uint64_t start = h->table_offset;
    uint64_t end = start + ((uint64_t)new_entries * 4 + VHD_SECTOR - 1) / VHD_SECTOR * VHD_SECTOR;
    int rc;
    if (start < v->footer.data_offset + VHD_HEADER_SIZE) {
        snprintf(d->err, sizeof(d->err), "%s: the BAT lies before the header; cannot grow it", d->path);
        return -ENOTSUP;
    }
    uint32_t *bat = realloc(v->bat, (size_t)new_entries * 4 + 4);
    uint8_t **bms = realloc(v->bitmaps, ((size_t)new_entries + 1) * sizeof(*bms));
    if (bat)
        v->bat = bat;
    if (bms)
        v->bitmaps = bms;
    if (!bat || !bms)
        return -ENOMEM;
    for (uint32_t i = h->max_table_entries; i < new_entries; i++)
        v->bat[i] = VHD_BAT_UNUSED;
    for (uint32_t i = v->entries; i < new_entries; i++)
        v->bitmaps[i] = NULL;
    /* move the blocks in the way, then the footer if the BAT now reaches it */
    for (uint32_t b = 0; b < v->entries; b++) {
        uint64_t s = (uint64_t)v->bat[b] * VHD_SECTOR;
        if (v->bat[b] != VHD_BAT_UNUSED && s >= start && s < end && (rc = relocate_block(d, b)))
            return rc;
    }
    if (v->footer_off < end) {
        v->footer_off = end;
        if ((rc = vhd_write_footer_at(d, end)))
            return rc;
    }
    size_t bytes = (size_t)(end - start);
    uint32_t *disk_bat = malloc(bytes);
    if (!disk_bat)
        return -ENOMEM;
    memset(disk_bat, 0xFF, bytes);
    for (uint32_t i = 0; i < new_entries; i++)
        disk_bat[i] = __builtin_bswap32(v->bat[i]);
    rc = raw_pwrite_full(d->fd, disk_bat, bytes, start);
    free(disk_bat);
    if (rc)
        return fail(d, rc, "writing the BAT");
    if ((rc = vhd_sync(d)))
        return rc;
    h->max_table_entries = new_entries;
    if ((rc = vhd_write_header(d)) || (rc = vhd_sync(d)))
        return rc;
    return 0;
}

int vhd_resize(struct disk *d, uint64_t new_size)
{
    struct vhd *v = d->priv;
    int rc;
    if (v->footer.disk_type == VHD_TYPE_DIFF) {
        snprintf(d->err, sizeof(d->err),
                 "%s: a differencing disk has its parent's size; resize the parent", d->path);
        return -ENOTSUP;
    }
    if (new_size > VHD_MAX_SIZE || new_size % VHD_SECTOR) {
        snprintf(d->err, sizeof(d->err), "%s: a VHD's size must be a multiple of 512 up to 2040 GiB",
                 d->path);
        return -EINVAL;
    }
    if (!v->sparse) {
        rc = resize_fixed(d, new_size);
    } else {
        uint64_t need = (new_size + v->block_size - 1) / v->block_size;
        /* a grown BAT may cover gaps: no gap is handed out until they are found again */
        freespace_truncate(&v->space, 0);
        if (need > v->header.max_table_entries && (rc = grow_bat(d, (uint32_t)need)))
            return rc;
        for (uint64_t b = need; b < v->entries; b++)
            if (v->bat[b] != VHD_BAT_UNUSED && (rc = vhd_free_block(d, (uint32_t)b)))
                return rc;
        for (uint64_t b = v->entries; b < need; b++) {
            if (v->bat[b] != VHD_BAT_UNUSED) { /* stale entry in the BAT's tail */
                v->bat[b] = VHD_BAT_UNUSED;
                if ((rc = vhd_write_bat_entry(d, (uint32_t)b)))
                    return rc;
            }
            v->bitmaps[b] = NULL;
        }
        v->entries = (uint32_t)need;
        set_size(v, new_size);
        if ((rc = vhd_sync(d)) || (rc = vhd_write_footers(d)) || (rc = vhd_sync(d)) ||
            (rc = vhd_space_rebuild(d)))
            return rc;
    }
    if (!rc)
        d->info.virtual_size = new_size;
    return rc;
}
