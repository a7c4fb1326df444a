/* VHDX data path: read, write, discard and extent over the in-memory BAT and sector
 * bitmaps. Metadata changes only touch memory here (vhdx_bat_set / dirty bitmap
 * pages); vhdx_flush.c makes them durable through the log.
 *
 * Block states on read: FULLY_PRESENT from the file; PARTIALLY_PRESENT per sector from
 * the file or the parent by the sector bitmap; NOT_PRESENT from the parent
 * (differencing) or zeros; ZERO, UNMAPPED and UNDEFINED as zeros.
 * Allocation: new blocks go into the lowest free gap of the file (punched, so it reads
 * zeros) or at alloc_end (1 MiB aligned, past everything in use; the file is extended
 * sparsely), so untouched sectors of a new block read zeros. A block of a dynamic disk
 * that was discarded keeps its space as UNMAPPED with the offset (holes punched) and
 * gets it back on the next write; a differencing disk's discarded block becomes ZERO
 * and its space a gap. A gap is only handed out once the change that freed it is
 * durable (freespace.h), so a crash can never show one block's data in another. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "disk/vhdx.h"
#include "disk/vhdx_internal.h"

static uint64_t block_valid_len(const struct vhdx_geom *g, uint64_t blk)
{
    uint64_t left = g->virtual_size - blk * g->block_size;
    return left < g->block_size ? left : g->block_size;
}

static int bad_block(struct disk *d, uint64_t idx)
{
    return vhdx_err(d, -EIO, "BAT entry %llu is invalid (see check)", (unsigned long long)idx);
}

int vhdx_sb_load(struct disk *d, uint64_t chunk)
{
    struct vhdx *v = vhdx_of(d);
    struct vhdx_sb *sb = &v->sb[chunk];
    if (sb->bits)
        return 0;
    uint64_t idx = vhdx_bat_sb_index(&v->geom, chunk);
    uint64_t e = idx < v->bat_region_entries ? v->bat[idx] : 0;
    sb->bits = calloc(1, VHDX_SB_BLOCK_SIZE);
    if (!sb->bits)
        return vhdx_err(d, -ENOMEM, "out of memory for a sector bitmap");
    if (vhdx_bat_state(e) != VHDX_SB_PRESENT)
        return 0;
    int rc = vhdx_meta_pread(d, sb->bits, VHDX_SB_BLOCK_SIZE, vhdx_bat_offset(e));
    if (rc < 0) {
        free(sb->bits);
        sb->bits = NULL;
    }
    return rc;
}

/* Number of consecutive bits equal to `val` starting at bit `start`, at most max. */
static uint64_t bit_run(const uint8_t *bits, uint64_t start, uint64_t max, int val)
{
    uint64_t n = 0;
    const uint8_t full = val ? 0xFF : 0x00;
    while (n < max) {
        uint64_t b = start + n;
        if (b % 8 == 0 && max - n >= 8) {
            if (bits[b / 8] == full) {
                n += 8;
                continue;
            }
        }
        if (((bits[b / 8] >> (b % 8)) & 1) != val)
            break;
        n++;
    }
    return n;
}

static int read_parent(struct disk *d, uint64_t off, uint8_t *buf, uint64_t len)
{
    if (!d->parent)
        return vhdx_err(d, -EIO, "the parent disk is not open");
    uint64_t psize = d->parent->info.virtual_size;
    uint64_t n = off >= psize ? 0 : (psize - off < len ? psize - off : len);
    if (n) {
        int rc = disk_read(d->parent, off, buf, n);
        if (rc < 0)
            return vhdx_err(d, rc, "reading the parent: %s", disk_last_error(d->parent));
    }
    memset(buf + n, 0, len - n);
    return 0;
}

static int read_file(struct disk *d, uint64_t foff, uint8_t *buf, uint64_t len)
{
    int rc = raw_pread_zero_eof(d->fd, buf, len, foff);
    if (rc < 0)
        return vhdx_err(d, rc, "read at file offset %llu: %s", (unsigned long long)foff,
                        strerror(-rc));
    return 0;
}

static int check_aligned(struct disk *d, uint64_t off, uint64_t len)
{
    uint32_t ls = vhdx_of(d)->geom.logical_sector;
    if (off % ls || len % ls)
        return vhdx_err(d, -EINVAL, "access at %llu+%llu is not aligned to the %u-byte sector",
                        (unsigned long long)off, (unsigned long long)len, ls);
    return 0;
}

/* A read is planned under the lock (BAT and bitmap lookups) and carried out without
 * it, so reads run in parallel. Racing a discard or write of the same range gives old
 * or new contents, as on any block device; space is never handed to another block
 * while the image is open, so a planned file offset cannot start holding foreign data. */
enum { SEG_ZERO, SEG_FILE, SEG_PARENT };
struct read_seg {
    int kind;
    uint64_t foff, len;
};
struct read_plan {
    struct read_seg *s, inline_s[16];
    size_t n, cap;
};

static int plan_add(struct read_plan *p, int kind, uint64_t foff, uint64_t len)
{
    if (p->n) {
        struct read_seg *l = &p->s[p->n - 1];
        if (l->kind == kind && (kind != SEG_FILE || l->foff + l->len == foff)) {
            l->len += len;
            return 0;
        }
    }
    if (p->n == p->cap) {
        size_t cap = p->cap * 2;
        struct read_seg *ns = malloc(cap * sizeof(*ns));
        if (!ns)
            return -ENOMEM;
        memcpy(ns, p->s, p->n * sizeof(*ns));
        if (p->s != p->inline_s)
            free(p->s);
        p->s = ns;
        p->cap = cap;
    }
    p->s[p->n++] = (struct read_seg){ kind, foff, len };
    return 0;
}

static int plan_read(struct disk *d, uint64_t off, uint64_t len, struct read_plan *p)
{
    struct vhdx *v = vhdx_of(d);
    const struct vhdx_geom *g = &v->geom;
    const uint64_t bs = g->block_size, ls = g->logical_sector;
    bool diff = v->meta.has_parent;
    while (len) {
        uint64_t blk = off / bs, within = off % bs;
        uint64_t seg = bs - within < len ? bs - within : len;
        uint64_t idx = vhdx_bat_payload_index(g, blk);
        if (vhdx_is_bad(v, idx))
            return bad_block(d, idx);
        uint64_t e = v->bat[idx];
        unsigned st = vhdx_bat_state(e);
        int rc = 0;
        if (st == VHDX_PAYLOAD_FULLY_PRESENT) {
            rc = plan_add(p, SEG_FILE, vhdx_bat_offset(e) + within, seg);
        } else if (st == VHDX_PAYLOAD_PARTIALLY_PRESENT) {
            uint64_t chunk = blk / g->chunk_ratio;
            if ((rc = vhdx_sb_load(d, chunk)) < 0)
                return rc;
            const uint8_t *bits = v->sb[chunk].bits;
            uint64_t first = (blk % g->chunk_ratio) * (bs / ls) + within / ls;
            for (uint64_t done = 0; done < seg && rc == 0;) {
                uint64_t s = first + done / ls;
                int val = (bits[s / 8] >> (s % 8)) & 1;
                uint64_t run = bit_run(bits, s, (seg - done) / ls, val) * ls;
                rc = plan_add(p, val ? SEG_FILE : SEG_PARENT, vhdx_bat_offset(e) + within + done, run);
                done += run;
            }
        } else {
            rc = plan_add(p, st == VHDX_PAYLOAD_NOT_PRESENT && diff ? SEG_PARENT : SEG_ZERO, 0, seg);
        }
        if (rc < 0)
            return rc == -ENOMEM ? vhdx_err(d, rc, "out of memory") : rc;
        off += seg;
        len -= seg;
    }
    return 0;
}

int vhdx_read(struct disk *d, uint64_t off, void *vbuf, size_t len)
{
    struct vhdx *v = vhdx_of(d);
    struct read_plan p = { .s = p.inline_s, .cap = 16 };
    uint8_t *buf = vbuf;
    int rc = check_aligned(d, off, len);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&v->lock);
    rc = plan_read(d, off, len, &p);
    pthread_mutex_unlock(&v->lock);
    for (size_t i = 0; i < p.n && rc == 0; i++) {
        const struct read_seg *s = &p.s[i];
        if (s->kind == SEG_FILE)
            rc = read_file(d, s->foff, buf, s->len);
        else if (s->kind == SEG_PARENT)
            rc = read_parent(d, off, buf, s->len);
        else
            memset(buf, 0, s->len);
        off += s->len;
        buf += s->len;
    }
    if (p.s != p.inline_s)
        free(p.s);
    return rc;
}

/* The asynchronous path's lookup: FULLY_PRESENT blocks are DATA (for writes only once
 * this session's DataWriteGuid is on disk, which the first sync write does); partially
 * present blocks, a pending-log overlay and damaged entries go the sync way. */
int vhdx_map(struct disk *d, uint64_t off, uint64_t len, bool for_write, uint64_t *file_off,
             uint64_t *contig)
{
    struct vhdx *v = vhdx_of(d);
    const struct vhdx_geom *g = &v->geom;
    uint64_t blk = off / g->block_size, within = off % g->block_size;
    int kind = DISK_MAP_UNALLOCATED;
    *contig = g->block_size - within < len ? g->block_size - within : len;
    pthread_mutex_lock(&v->lock);
    uint64_t idx = vhdx_bat_payload_index(g, blk);
    if (v->pending_log || idx >= g->bat_entries || vhdx_is_bad(v, idx) ||
        (for_write && !v->data_session))
        goto out;
    uint64_t e = v->bat[idx];
    unsigned st = vhdx_bat_state(e);
    if (st == VHDX_PAYLOAD_FULLY_PRESENT) {
        *file_off = vhdx_bat_offset(e) + within;
        kind = DISK_MAP_DATA;
    } else if (for_write || st == VHDX_PAYLOAD_PARTIALLY_PRESENT) {
        kind = DISK_MAP_UNALLOCATED;
    } else {
        kind = st == VHDX_PAYLOAD_NOT_PRESENT && v->meta.has_parent ? DISK_MAP_PARENT
                                                                     : DISK_MAP_ZERO;
    }
out:
    pthread_mutex_unlock(&v->lock);
    return kind;
}

/* New file space for a payload block (block_size) or a sector bitmap (1 MiB): the
 * lowest free gap that fits, made to read zeros, or else at the end. */
static int alloc_space(struct disk *d, uint64_t size, uint64_t *foff)
{
    struct vhdx *v = vhdx_of(d);
    if (freespace_take(&v->space, size, VHDX_MiB, 0, v->alloc_end, foff)) {
        /* a gap may reach past the file's end (alloc_end is rounded up to 1 MiB) */
        if (vhdx_punch(d, *foff, size) && vhdx_extend(d, *foff + size) == 0)
            return 0;
        freespace_untake(&v->space, *foff, size);
    }
    uint64_t at = v->alloc_end;
    int rc = vhdx_extend(d, at + size);
    if (rc < 0)
        return rc;
    v->alloc_end = at + size;
    *foff = at;
    return 0;
}

static void sb_mark(struct vhdx *v, uint64_t chunk, uint64_t first, uint64_t count, int val)
{
    struct vhdx_sb *sb = &v->sb[chunk];
    for (uint64_t b = first; b < first + count;) {
        uint8_t *byte = &sb->bits[b / 8];
        uint8_t mask;
        uint64_t step;
        if (b % 8 == 0 && first + count - b >= 8) {
            mask = 0xFF;
            step = 8;
        } else {
            mask = (uint8_t)(1u << (b % 8));
            step = 1;
        }
        uint8_t nv = val ? (uint8_t)(*byte | mask) : (uint8_t)(*byte & ~mask);
        if (nv != *byte) {
            *byte = nv;
            uint64_t page = b / 8 / VHDX_LOG_SECTOR;
            sb->dirty[page / 64] |= 1ull << (page % 64);
            v->meta_dirty = true;
        }
        b += step;
    }
}

/* Makes the chunk's sector bitmap present (allocating it) and loaded. */
static int sb_ensure(struct disk *d, uint64_t chunk)
{
    struct vhdx *v = vhdx_of(d);
    uint64_t idx = vhdx_bat_sb_index(&v->geom, chunk);
    if (idx >= v->bat_region_entries)
        return vhdx_err(d, -ENOSPC, "the BAT region has no room for the sector bitmap of chunk %llu",
                        (unsigned long long)chunk);
    int rc = vhdx_sb_load(d, chunk);
    if (rc < 0 || vhdx_bat_state(v->bat[idx]) == VHDX_SB_PRESENT)
        return rc;
    uint64_t foff;
    if ((rc = alloc_space(d, VHDX_SB_BLOCK_SIZE, &foff)) < 0)
        return rc;
    /* the in-memory bitmap was all zeros (not present) and so is the new space */
    vhdx_bat_set(v, idx, vhdx_bat_make(VHDX_SB_PRESENT, foff));
    return 0;
}

/* Space for block blk that currently has no data: reuse a kept UNMAPPED/UNDEFINED
 * offset (re-punched so it reads zeros) or take new space. */
static int block_space(struct disk *d, uint64_t e, uint64_t *foff)
{
    struct vhdx *v = vhdx_of(d);
    unsigned st = vhdx_bat_state(e);
    uint64_t kept = vhdx_bat_offset(e);
    if (kept && (st == VHDX_PAYLOAD_UNMAPPED || st == VHDX_PAYLOAD_UNDEFINED ||
                 st == VHDX_PAYLOAD_UNMAPPED_V095) &&
        vhdx_punch(d, kept, v->geom.block_size)) {
        *foff = kept;
        return 0;
    }
    return alloc_space(d, v->geom.block_size, foff);
}

static int write_file(struct disk *d, uint64_t foff, const void *buf, size_t len)
{
    if (vhdx_crash_point)
        vhdx_crash_point("write", d->fd, foff, len);
    vhdx_of(d)->data_dirty = true;
    int rc = raw_pwrite_full(d->fd, buf, len, foff);
    if (rc < 0)
        return vhdx_err(d, rc, "write at file offset %llu: %s", (unsigned long long)foff,
                        strerror(-rc));
    return 0;
}

int vhdx_write_locked(struct disk *d, uint64_t off, const void *vbuf, size_t len)
{
    struct vhdx *v = vhdx_of(d);
    const struct vhdx_geom *g = &v->geom;
    const uint64_t bs = g->block_size, ls = g->logical_sector;
    const uint8_t *buf = vbuf;
    int rc = vhdx_begin_write(d);
    if (rc < 0)
        return rc;
    while (len) {
        uint64_t blk = off / bs, within = off % bs;
        uint64_t seg = bs - within < len ? bs - within : len;
        uint64_t idx = vhdx_bat_payload_index(g, blk);
        if (vhdx_is_bad(v, idx))
            return bad_block(d, idx);
        uint64_t e = v->bat[idx];
        unsigned st = vhdx_bat_state(e);
        uint64_t chunk = blk / g->chunk_ratio;
        uint64_t first_bit = (blk % g->chunk_ratio) * (bs / ls) + within / ls;
        bool whole = within == 0 && seg >= block_valid_len(g, blk);
        if (st == VHDX_PAYLOAD_FULLY_PRESENT) {
            rc = write_file(d, vhdx_bat_offset(e) + within, buf, seg);
        } else if (st == VHDX_PAYLOAD_PARTIALLY_PRESENT) {
            if ((rc = vhdx_sb_load(d, chunk)) == 0 &&
                (rc = write_file(d, vhdx_bat_offset(e) + within, buf, seg)) == 0)
                sb_mark(v, chunk, first_bit, seg / ls, 1);
        } else if (st == VHDX_PAYLOAD_NOT_PRESENT && v->meta.has_parent && !whole) {
            /* partial write over the parent: the rest of the block stays the parent's */
            uint64_t foff;
            if ((rc = sb_ensure(d, chunk)) < 0 || (rc = block_space(d, e, &foff)) < 0 ||
                (rc = write_file(d, foff + within, buf, seg)) < 0)
                return rc;
            sb_mark(v, chunk, (blk % g->chunk_ratio) * (bs / ls), bs / ls, 0);
            sb_mark(v, chunk, first_bit, seg / ls, 1);
            vhdx_bat_set(v, idx, vhdx_bat_make(VHDX_PAYLOAD_PARTIALLY_PRESENT, foff));
        } else {
            /* no data yet (or ZERO/UNMAPPED): the rest of the block reads zeros */
            uint64_t foff;
            if ((rc = block_space(d, e, &foff)) < 0 ||
                (rc = write_file(d, foff + within, buf, seg)) < 0)
                return rc;
            vhdx_bat_set(v, idx, vhdx_bat_make(VHDX_PAYLOAD_FULLY_PRESENT, foff));
        }
        if (rc < 0)
            return rc;
        off += seg;
        buf += seg;
        len -= seg;
    }
    return 0;
}

int vhdx_write(struct disk *d, uint64_t off, const void *buf, size_t len)
{
    struct vhdx *v = vhdx_of(d);
    int rc = check_aligned(d, off, len);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&v->lock);
    rc = vhdx_write_locked(d, off, buf, len);
    pthread_mutex_unlock(&v->lock);
    return rc;
}

/* Zeros over [off, off+len) through `put` (file offsets or virtual ones), 64 KiB
 * at a time. */
static int write_zeros(struct disk *d, uint64_t off, uint64_t len,
                       int (*put)(struct disk *d, uint64_t off, const void *buf, size_t len))
{
    static const uint8_t zeros[64 * 1024];
    while (len) {
        size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
        int rc = put(d, off, zeros, n);
        if (rc < 0)
            return rc;
        off += n;
        len -= n;
    }
    return 0;
}

static int write_zeros_file(struct disk *d, uint64_t foff, uint64_t len)
{
    if (vhdx_crash_point)
        vhdx_crash_point("write", d->fd, foff, len);
    vhdx_of(d)->data_dirty = true;
    if (fallocate(d->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)foff, (off_t)len) == 0)
        return 0;
    return write_zeros(d, foff, len, write_file);
}

/* After discard the range reads as zeros. */
static int discard_locked(struct disk *d, uint64_t off, uint64_t len)
{
    struct vhdx *v = vhdx_of(d);
    const struct vhdx_geom *g = &v->geom;
    const uint64_t bs = g->block_size;
    bool diff = v->meta.has_parent;
    int rc = vhdx_begin_write(d);
    if (rc < 0)
        return rc;
    while (len) {
        uint64_t blk = off / bs, within = off % bs;
        uint64_t seg = bs - within < len ? bs - within : len;
        uint64_t idx = vhdx_bat_payload_index(g, blk);
        if (vhdx_is_bad(v, idx))
            return bad_block(d, idx);
        uint64_t e = v->bat[idx];
        unsigned st = vhdx_bat_state(e);
        uint64_t foff = vhdx_bat_offset(e);
        bool whole = within == 0 && seg >= block_valid_len(g, blk);
        bool present = st == VHDX_PAYLOAD_FULLY_PRESENT || st == VHDX_PAYLOAD_PARTIALLY_PRESENT;
        if (diff) {
            if (whole) {
                /* must read zeros, not the parent: ZERO (offset 0 by the spec) */
                if (present) {
                    vhdx_punch(d, foff, bs);
                    if (freespace_release(&v->space, foff, bs) < 0)
                        return vhdx_err(d, -ENOMEM, "out of memory");
                }
                if (st != VHDX_PAYLOAD_ZERO)
                    vhdx_bat_set(v, idx, vhdx_bat_make(VHDX_PAYLOAD_ZERO, 0));
            } else if (st != VHDX_PAYLOAD_ZERO && st != VHDX_PAYLOAD_UNMAPPED &&
                       st != VHDX_PAYLOAD_UNMAPPED_V095 && st != VHDX_PAYLOAD_UNDEFINED) {
                rc = write_zeros(d, off, seg, vhdx_write_locked);
            }
        } else if (st == VHDX_PAYLOAD_FULLY_PRESENT) {
            if (v->meta.leave_allocated) {
                rc = write_zeros_file(d, foff + within, seg); /* fixed: stays allocated */
            } else if (whole) {
                if (vhdx_punch(d, foff, bs))
                    vhdx_bat_set(v, idx, vhdx_bat_make(VHDX_PAYLOAD_UNMAPPED, foff));
                else
                    vhdx_bat_set(v, idx, vhdx_bat_make(VHDX_PAYLOAD_ZERO, 0));
            } else if (!vhdx_punch(d, foff + within, seg)) {
                rc = write_zeros_file(d, foff + within, seg);
            }
        }
        /* other states of a non-differencing disk already read as zeros */
        if (rc < 0)
            return rc;
        off += seg;
        len -= seg;
    }
    return 0;
}

int vhdx_discard(struct disk *d, uint64_t off, uint64_t len)
{
    struct vhdx *v = vhdx_of(d);
    int rc = check_aligned(d, off, len);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&v->lock);
    rc = discard_locked(d, off, len);
    pthread_mutex_unlock(&v->lock);
    return rc;
}

int vhdx_flush(struct disk *d)
{
    struct vhdx *v = vhdx_of(d);
    pthread_mutex_lock(&v->lock);
    int rc = vhdx_flush_locked(d);
    pthread_mutex_unlock(&v->lock);
    return rc;
}

/* Kind and length of the extent at off within one block segment. */
static int segment_kind(struct disk *d, uint64_t off, uint64_t seg, uint64_t *n)
{
    struct vhdx *v = vhdx_of(d);
    const struct vhdx_geom *g = &v->geom;
    const uint64_t bs = g->block_size, ls = g->logical_sector;
    uint64_t blk = off / bs, within = off % bs;
    uint64_t idx = vhdx_bat_payload_index(g, blk);
    if (vhdx_is_bad(v, idx))
        return bad_block(d, idx);
    uint64_t e = v->bat[idx];
    *n = seg;
    switch (vhdx_bat_state(e)) {
    case VHDX_PAYLOAD_FULLY_PRESENT:
        return DISK_EXTENT_DATA;
    case VHDX_PAYLOAD_PARTIALLY_PRESENT: {
        uint64_t chunk = blk / g->chunk_ratio;
        int rc = vhdx_sb_load(d, chunk);
        if (rc < 0)
            return rc;
        const uint8_t *bits = v->sb[chunk].bits;
        uint64_t s = (blk % g->chunk_ratio) * (bs / ls) + within / ls;
        int val = (bits[s / 8] >> (s % 8)) & 1;
        *n = bit_run(bits, s, seg / ls, val) * ls;
        return val ? DISK_EXTENT_DATA : DISK_EXTENT_PARENT;
    }
    case VHDX_PAYLOAD_NOT_PRESENT:
        return v->meta.has_parent ? DISK_EXTENT_PARENT : DISK_EXTENT_ZERO;
    default:
        return DISK_EXTENT_ZERO;
    }
}

int vhdx_extent(struct disk *d, uint64_t off, uint64_t len, uint64_t *extent_len)
{
    struct vhdx *v = vhdx_of(d);
    const uint64_t bs = v->geom.block_size;
    int kind = 0, rc = 0;
    uint64_t total = 0;
    if ((rc = check_aligned(d, off, len)) < 0)
        return rc;
    pthread_mutex_lock(&v->lock);
    while (total < len) {
        uint64_t o = off + total, within = o % bs;
        uint64_t seg = bs - within < len - total ? bs - within : len - total, n = 0;
        int k = segment_kind(d, o, seg, &n);
        if (k < 0) {
            rc = k;
            break;
        }
        if (kind && k != kind)
            break;
        kind = k;
        total += n;
        if (n < seg)
            break;
    }
    pthread_mutex_unlock(&v->lock);
    if (rc < 0)
        return rc;
    *extent_len = total;
    return kind ? kind : DISK_EXTENT_ZERO;
}
