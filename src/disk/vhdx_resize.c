/* vhdx_resize: grow or shrink the virtual size. All metadata changes (size item,
 * region table when the BAT moves, BAT entries) are logged by one flush, so a crash
 * leaves either the old or the new size. A moved BAT is written to new space first;
 * it only becomes reachable through the logged region table. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "disk/vhdx.h"
#include "disk/vhdx_internal.h"

/* Bytes [new_size, old_size) must read as zeros. */
static int tail_is_zero(struct disk *d, uint64_t from, uint64_t to)
{
    uint8_t *buf = malloc(VHDX_MiB);
    int rc = 0;
    if (!buf)
        return -ENOMEM;
    while (from < to && rc == 0) {
        uint64_t n;
        int kind = disk_extent(d, from, to - from, &n);
        if (kind < 0) {
            rc = kind;
            break;
        }
        if (kind != DISK_EXTENT_ZERO)
            for (uint64_t o = from; o < from + n && rc == 0; o += VHDX_MiB) {
                uint64_t len = from + n - o < VHDX_MiB ? from + n - o : VHDX_MiB;
                rc = disk_read(d, o, buf, len);
                for (uint64_t i = 0; i < len && rc == 0; i++)
                    if (buf[i])
                        rc = vhdx_err(d, -ENOTEMPTY, "cannot shrink: data at offset %llu lies "
                                      "beyond the new end", (unsigned long long)(o + i));
            }
        from += n;
    }
    free(buf);
    return rc;
}

static int put_bytes(struct disk *d, uint64_t off, const uint8_t *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t *page;
        uint64_t o = off + i;
        int rc = vhdx_misc_page(d, o / VHDX_LOG_SECTOR * VHDX_LOG_SECTOR, &page);
        if (rc < 0)
            return rc;
        page[o % VHDX_LOG_SECTOR] = src[i];
    }
    return 0;
}

static int grow_arrays(struct disk *d, const struct vhdx_geom *ng, uint32_t bat_len)
{
    struct vhdx *v = vhdx_of(d);
    uint64_t old_bytes = v->bat_bytes;
    uint64_t bytes = vhdx_round_up(ng->bat_entries * 8, VHDX_LOG_SECTOR);
    uint64_t old_dl = vhdx_round_up(v->reg.bat_length, VHDX_LOG_SECTOR) / VHDX_LOG_SECTOR / 8 + 1;
    uint64_t new_dl = vhdx_round_up(bat_len, VHDX_LOG_SECTOR) / VHDX_LOG_SECTOR / 8 + 1;
    if (bytes > old_bytes) {
        uint64_t *nb = realloc(v->bat, bytes);
        if (!nb)
            return vhdx_err(d, -ENOMEM, "out of memory");
        v->bat = nb;
        memset((uint8_t *)v->bat + old_bytes, 0, bytes - old_bytes);
        v->bat_bytes = bytes;
    }
    if (new_dl > old_dl) {
        uint8_t *nd = realloc(v->bat_dirty, new_dl);
        if (!nd)
            return vhdx_err(d, -ENOMEM, "out of memory");
        v->bat_dirty = nd;
        memset(v->bat_dirty + old_dl, 0, new_dl - old_dl);
    }
    if (v->sb && ng->sb_blocks > v->geom.sb_blocks) {
        struct vhdx_sb *ns = realloc(v->sb, ng->sb_blocks * sizeof(*ns));
        if (!ns)
            return vhdx_err(d, -ENOMEM, "out of memory");
        memset(ns + v->geom.sb_blocks, 0, (ng->sb_blocks - v->geom.sb_blocks) * sizeof(*ns));
        v->sb = ns;
    }
    return 0;
}

/* Moves the BAT to a bigger region at the end of the file. */
static int move_bat(struct disk *d, uint32_t new_len)
{
    struct vhdx *v = vhdx_of(d);
    uint64_t at = v->alloc_end;
    int rc = vhdx_extend(d, at + new_len);
    if (rc < 0)
        return rc;
    v->alloc_end = at + new_len;
    uint64_t n = v->bat_bytes < v->reg.bat_length ? v->bat_bytes : v->reg.bat_length;
    if ((rc = raw_pwrite_full(d->fd, v->bat, n, at)) < 0)
        return vhdx_err(d, rc, "writing the moved BAT: %s", strerror(-rc));
    v->reg.bat_offset = at;
    v->reg.bat_length = new_len;
    v->bat_region_entries = new_len / 8;
    uint8_t *t = malloc(VHDX_REGION_SIZE);
    if (!t)
        return vhdx_err(d, -ENOMEM, "out of memory");
    vhdx_region_build(&v->reg, t);
    rc = put_bytes(d, VHDX_REGION1_OFF, t, VHDX_REGION_SIZE);
    if (rc == 0)
        rc = put_bytes(d, VHDX_REGION2_OFF, t, VHDX_REGION_SIZE);
    free(t);
    /* every BAT page in use must reach the new place through the log as well (the
     * copy above is only a head start); the rest of the new region is fresh zeros */
    uint64_t pages = v->bat_bytes / VHDX_LOG_SECTOR;
    for (uint64_t p = 0; p < pages && p < new_len / VHDX_LOG_SECTOR; p++)
        v->bat_dirty[p / 8] |= (uint8_t)(1u << (p % 8));
    v->meta_dirty = true;
    return rc;
}

static int resize_locked(struct disk *d, uint64_t new_size)
{
    struct vhdx *v = vhdx_of(d);
    struct vhdx_geom ng;
    const uint64_t bs = v->geom.block_size;
    if (vhdx_geom_init(&ng, new_size, v->geom.block_size, v->geom.logical_sector) < 0)
        return vhdx_err(d, -EINVAL, "invalid size %llu (multiple of %u, at most 64 TiB)",
                        (unsigned long long)new_size, v->geom.logical_sector);
    int rc = vhdx_begin_write(d);
    if (rc < 0)
        return rc;
    uint64_t old_size = v->geom.virtual_size;
    uint64_t old_bat_off = v->reg.bat_offset, old_bat_len = v->reg.bat_length;
    if (new_size > old_size) {
        uint64_t need = vhdx_bat_min_bytes(&ng, v->meta.has_parent);
        if (v->meta.has_parent && ng.bat_entries * 8 > need)
            need = ng.bat_entries * 8;
        if (need > v->reg.bat_length) {
            uint64_t nl = vhdx_round_up(ng.bat_entries * 8, VHDX_MiB);
            if (nl > UINT32_MAX / 2)
                return vhdx_err(d, -EINVAL, "BAT too large");
            if ((rc = grow_arrays(d, &ng, (uint32_t)nl)) < 0 || (rc = move_bat(d, (uint32_t)nl)) < 0)
                return rc;
        } else if ((rc = grow_arrays(d, &ng, v->reg.bat_length)) < 0) {
            return rc;
        }
        uint64_t last = v->geom.payload_blocks - 1;
        uint64_t lidx = vhdx_bat_payload_index(&v->geom, last);
        uint64_t le = v->bat[lidx];
        if (v->meta.leave_allocated && vhdx_bat_state(le) == VHDX_PAYLOAD_FULLY_PRESENT &&
            old_size % bs) {
            /* a fixed disk's short last block: move it to a full block */
            uint64_t at = v->alloc_end, valid = old_size - last * bs;
            uint8_t *buf = malloc(VHDX_MiB);
            if (!buf)
                return vhdx_err(d, -ENOMEM, "out of memory");
            if ((rc = vhdx_extend(d, at + bs)) == 0) {
                v->alloc_end = at + bs;
                for (uint64_t o = 0; o < valid && rc == 0; o += VHDX_MiB) {
                    uint64_t n = valid - o < VHDX_MiB ? valid - o : VHDX_MiB;
                    rc = raw_pread_zero_eof(d->fd, buf, n, vhdx_bat_offset(le) + o);
                    if (rc == 0)
                        rc = raw_pwrite_full(d->fd, buf, n, at + o);
                }
            }
            free(buf);
            if (rc < 0)
                return vhdx_err(d, rc, "moving the last block: %s", strerror(-rc));
            vhdx_bat_set(v, lidx, vhdx_bat_make(VHDX_PAYLOAD_FULLY_PRESENT, at));
        }
        if (v->meta.leave_allocated)
            for (uint64_t b = v->geom.payload_blocks; b < ng.payload_blocks; b++) {
                uint64_t at = v->alloc_end;
                if ((rc = vhdx_extend(d, at + bs)) < 0)
                    return rc;
                v->alloc_end = at + bs;
                if (fallocate(d->fd, 0, (off_t)at, (off_t)bs) < 0 && errno == ENOSPC)
                    return vhdx_err(d, -ENOSPC, "no space to grow a fixed image");
                vhdx_bat_set(v, vhdx_bat_payload_index(&ng, b),
                             vhdx_bat_make(VHDX_PAYLOAD_FULLY_PRESENT, at));
            }
    } else {
        for (uint64_t b = ng.payload_blocks; b < v->geom.payload_blocks; b++) {
            uint64_t idx = vhdx_bat_payload_index(&v->geom, b), e = v->bat[idx];
            if (vhdx_bat_offset(e))
                vhdx_punch(d, vhdx_bat_offset(e), bs);
            if (e)
                vhdx_bat_set(v, idx, 0);
        }
    }
    uint8_t sz[8];
    vhdx_put64(sz, new_size);
    if ((rc = put_bytes(d, v->meta.size_item_off, sz, 8)) < 0)
        return rc;
    v->geom = ng;
    v->meta.virtual_size = new_size;
    d->info.virtual_size = new_size;
    rc = vhdx_flush_locked(d);
    /* a moved BAT's old region is unreferenced once the region table change is in
     * the (durable) log: give its space back */
    if (rc == 0 && v->reg.bat_offset != old_bat_off)
        vhdx_punch(d, old_bat_off, old_bat_len);
    /* the old BAT region and the blocks cut off are gaps now (the change is durable) */
    if (rc == 0)
        rc = vhdx_space_rebuild(d);
    return rc;
}

int vhdx_resize(struct disk *d, uint64_t new_size)
{
    if (d->fmt != &vhdx_format)
        return -EINVAL;
    struct vhdx *v = vhdx_of(d);
    if (d->flags & DISK_OPEN_RDONLY)
        return vhdx_err(d, -EROFS, "opened read-only");
    if (new_size == v->geom.virtual_size)
        return 0;
    if (new_size < v->geom.virtual_size) {
        if (v->meta.has_parent)
            return vhdx_err(d, -ENOTSUP, "shrinking a differencing disk is not supported");
        if (new_size % v->geom.logical_sector || new_size == 0)
            return vhdx_err(d, -EINVAL, "invalid size %llu", (unsigned long long)new_size);
        int rc = tail_is_zero(d, new_size, v->geom.virtual_size);
        if (rc < 0)
            return rc;
    }
    pthread_mutex_lock(&v->lock);
    int rc = resize_locked(d, new_size);
    pthread_mutex_unlock(&v->lock);
    return rc;
}
