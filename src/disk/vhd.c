/* VHD backend: open with validation, and the I/O paths.
 *
 * Fixed disks are the data followed by the footer. Dynamic and differencing disks keep
 * the whole BAT in memory and each block's sector bitmap once it has been used.
 *
 * Allocation order (crash safety): a new block goes into the lowest gap a discarded
 * block left (vhd_space.c) or else at the end, where the footer is first written at the
 * new end of the file; then the block's bitmap and data, then fdatasync, and only then
 * the BAT entry. A crash at any point leaves either a leaked block or a complete one,
 * never a BAT entry pointing at garbage, and the file always ends in a valid footer.
 * With DISK_OPEN_UNSAFE (bulk convert into a new file) the footer and BAT are written
 * once, at flush/close.
 *
 * Bitmaps: a new block of a dynamic disk gets an all-ones bitmap (its unwritten sectors
 * are holes in the file and read as zero, as qemu does); a new block of a differencing
 * disk gets exactly the bits of the sectors written, the rest still read from the parent.
 * Reads honour the bitmap in both (a clear bit reads as zero, or from the parent).
 *
 * Discard: fixed disks punch a hole (reads zero). Dynamic disks give a block back only
 * when the discard covers all of it: its BAT entry becomes unused (synced) and its space
 * is punched out and becomes a gap (or is cut off when it is the last block); partial
 * discards are ignored.
 * Differencing disks ignore discard (dropping a block would expose the parent's data).
 * Opening and validation are in vhd_open.c. */
#include "disk/raw.h"
#include "disk/vhd.h"
#include "disk/vhd_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint8_t vhd_bitmap_full_marker;

void vhd_problem(struct vhd *v, bool fixable, const char *fmt, ...)
{
    va_list ap;
    char line[DISK_ERR_LEN];
    if (v->nproblems == VHD_MAX_PROBLEMS)
        return;
    v->fixable[v->nproblems] = fixable;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    v->problems[v->nproblems] = strdup(line);
    if (v->problems[v->nproblems])
        v->nproblems++;
}

static uint32_t be32(uint32_t v)
{
    return __builtin_bswap32(v);
}

static int io_err(struct disk *d, int rc, const char *what)
{
    snprintf(d->err, sizeof(d->err), "%s: %s: %s", d->path, what, strerror(-rc));
    return rc;
}

int vhd_sync(struct disk *d)
{
    if (d->flags & DISK_OPEN_UNSAFE)
        return 0;
    return fdatasync(d->fd) < 0 ? io_err(d, -errno, "fdatasync") : 0;
}

int vhd_write_footer_at(struct disk *d, uint64_t off)
{
    struct vhd *v = d->priv;
    uint8_t buf[VHD_FOOTER_SIZE];
    vhd_footer_encode(&v->footer, buf);
    int rc = raw_pwrite_full(d->fd, buf, sizeof(buf), off);
    return rc ? io_err(d, rc, "writing the footer") : 0;
}

int vhd_write_footers(struct disk *d)
{
    struct vhd *v = d->priv;
    int rc = vhd_write_footer_at(d, v->footer_off);
    if (!rc && v->sparse)
        rc = vhd_write_footer_at(d, 0);
    return rc;
}

int vhd_write_header(struct disk *d)
{
    struct vhd *v = d->priv;
    uint8_t buf[VHD_HEADER_SIZE];
    vhd_header_encode(&v->header, buf);
    int rc = raw_pwrite_full(d->fd, buf, sizeof(buf), v->footer.data_offset);
    return rc ? io_err(d, rc, "writing the dynamic header") : 0;
}

int vhd_write_bat_entry(struct disk *d, uint32_t block)
{
    struct vhd *v = d->priv;
    uint32_t e = be32(v->bat[block]);
    int rc = raw_pwrite_full(d->fd, &e, 4, v->header.table_offset + 4ull * block);
    return rc ? io_err(d, rc, "writing the BAT") : 0;
}

static int write_whole_bat(struct disk *d)
{
    struct vhd *v = d->priv;
    uint32_t *buf = malloc((size_t)v->entries * 4);
    if (!buf)
        return -ENOMEM;
    for (uint32_t i = 0; i < v->entries; i++)
        buf[i] = be32(v->bat[i]);
    int rc = raw_pwrite_full(d->fd, buf, (size_t)v->entries * 4, v->header.table_offset);
    free(buf);
    return rc ? io_err(d, rc, "writing the BAT") : 0;
}

static uint64_t block_data_off(const struct vhd *v, uint32_t b)
{
    return (uint64_t)v->bat[b] * VHD_SECTOR + v->bitmap_bytes;
}

static bool bitmap_all_ones(const uint8_t *bm, uint32_t bits)
{
    for (uint32_t i = 0; i < bits / 8; i++)
        if (bm[i] != 0xFF)
            return false;
    for (uint32_t i = bits / 8 * 8; i < bits; i++)
        if (!(bm[i / 8] & (0x80 >> (i % 8))))
            return false;
    return true;
}

int vhd_load_bitmap(struct disk *d, uint32_t b, uint8_t **out)
{
    struct vhd *v = d->priv;
    if (!v->bitmaps[b]) {
        uint8_t *bm = malloc(v->bitmap_bytes);
        if (!bm)
            return -ENOMEM;
        int rc = raw_pread_full(d->fd, bm, v->bitmap_bytes, (uint64_t)v->bat[b] * VHD_SECTOR);
        if (rc) {
            free(bm);
            return io_err(d, rc, "reading a sector bitmap");
        }
        if (bitmap_all_ones(bm, v->block_size / VHD_SECTOR)) {
            free(bm);
            bm = VHD_BITMAP_FULL;
        }
        v->bitmaps[b] = bm;
    }
    *out = v->bitmaps[b];
    return 0;
}

static bool bit_get(const uint8_t *bm, uint32_t i)
{
    return bm == VHD_BITMAP_FULL || (bm[i / 8] & (0x80 >> (i % 8)));
}

/* Bytes not stored in this image: from the parent, or zeroes. */
static int read_absent(struct disk *d, uint64_t off, char *buf, size_t len)
{
    if (d->parent)
        return disk_read(d->parent, off, buf, len);
    memset(buf, 0, len);
    return 0;
}

/* [in, in+n) inside block b, byte granular. */
static int read_in_block(struct disk *d, uint32_t b, uint64_t in, char *buf, size_t n)
{
    struct vhd *v = d->priv;
    uint64_t voff = (uint64_t)b * v->block_size + in;
    if (v->bat[b] == VHD_BAT_UNUSED)
        return read_absent(d, voff, buf, n);
    uint8_t *bm;
    int rc = vhd_load_bitmap(d, b, &bm);
    if (rc)
        return rc;
    if (bm == VHD_BITMAP_FULL) {
        rc = raw_pread_full(d->fd, buf, n, block_data_off(v, b) + in);
        return rc ? io_err(d, rc, "reading data") : 0;
    }
    uint64_t pos = in, end = in + n;
    while (pos < end) {
        uint32_t s = (uint32_t)(pos / VHD_SECTOR);
        bool present = bit_get(bm, s);
        uint64_t run_end = (uint64_t)(s + 1) * VHD_SECTOR;
        while (run_end < end && bit_get(bm, (uint32_t)(run_end / VHD_SECTOR)) == present)
            run_end += VHD_SECTOR;
        if (run_end > end)
            run_end = end;
        char *p = buf + (pos - in);
        if (present) {
            rc = raw_pread_full(d->fd, p, run_end - pos, block_data_off(v, b) + pos);
            if (rc)
                return io_err(d, rc, "reading data");
        } else if ((rc = read_absent(d, (uint64_t)b * v->block_size + pos, p, run_end - pos))) {
            return rc;
        }
        pos = run_end;
    }
    return 0;
}

static int vhd_read(struct disk *d, uint64_t off, void *buf, size_t len)
{
    struct vhd *v = d->priv;
    if (!v->sparse) {
        int rc = raw_pread_full(d->fd, buf, len, off);
        return rc ? io_err(d, rc, "reading data") : 0;
    }
    char *p = buf;
    while (len) {
        uint32_t b = (uint32_t)(off / v->block_size);
        uint64_t in = off % v->block_size;
        size_t n = (size_t)(v->block_size - in < len ? v->block_size - in : len);
        int rc = read_in_block(d, b, in, p, n);
        if (rc)
            return rc;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

uint64_t vhd_next_block_off(const struct vhd *v)
{
    /* The bitmap goes just below a 4 KiB boundary so that the data is 4 KiB aligned. */
    return ((v->footer_off + v->bitmap_bytes + 4095) & ~4095ull) - v->bitmap_bytes;
}

static uint8_t *new_bitmap(const struct vhd *v, uint64_t in, size_t n)
{
    uint8_t *bm = malloc(v->bitmap_bytes);
    if (!bm)
        return NULL;
    bool diff = v->footer.disk_type == VHD_TYPE_DIFF;
    memset(bm, diff ? 0 : 0xFF, v->bitmap_bytes);
    if (diff)
        for (uint64_t s = in / VHD_SECTOR; s < (in + n) / VHD_SECTOR; s++)
            bm[s / 8] |= (uint8_t)(0x80 >> (s % 8));
    return bm;
}

/* The block's place is in use (bitmap bm at bm_off, data written and synced): the BAT
 * entry goes last. */
static int block_placed(struct disk *d, uint32_t b, uint64_t bm_off, uint8_t *bm)
{
    struct vhd *v = d->priv;
    v->bat[b] = (uint32_t)(bm_off / VHD_SECTOR);
    if (bitmap_all_ones(bm, v->block_size / VHD_SECTOR)) {
        free(bm);
        bm = VHD_BITMAP_FULL;
    }
    v->bitmaps[b] = bm;
    if (d->flags & DISK_OPEN_UNSAFE) {
        v->dirty = true;
        return 0;
    }
    return vhd_write_bat_entry(d, b);
}

/* Block b into a gap a freed block left, if one fits and can be made to read zeros
 * (punched): 1 placed, 0 no gap, negative errno. */
static int allocate_in_gap(struct disk *d, uint32_t b, uint64_t in, const char *buf, size_t n)
{
    struct vhd *v = d->priv;
    uint64_t len = (uint64_t)v->bitmap_bytes + v->block_size, at;
    if (!freespace_take(&v->space, len, 4096, v->bitmap_bytes % 4096, v->footer_off, &at))
        return 0;
    if (raw_zero_hole(d->fd, at, len)) { /* the new block must read zeros where unwritten */
        freespace_untake(&v->space, at, len);
        return 0;
    }
    uint8_t *bm = new_bitmap(v, in, n);
    if (!bm) {
        freespace_untake(&v->space, at, len);
        return -ENOMEM;
    }
    int rc = raw_pwrite_full(d->fd, bm, v->bitmap_bytes, at);
    if (!rc)
        rc = raw_pwrite_full(d->fd, buf, n, at + v->bitmap_bytes + in);
    rc = rc ? io_err(d, rc, "allocating a block") : vhd_sync(d);
    if (rc) {
        freespace_untake(&v->space, at, len);
        free(bm);
        return rc;
    }
    rc = block_placed(d, b, at, bm);
    return rc ? rc : 1;
}

/* Give block b a place holding the sectors [in, in+n): a gap, or the end of the file. */
static int allocate_block(struct disk *d, uint32_t b, uint64_t in, const char *buf, size_t n)
{
    struct vhd *v = d->priv;
    int placed = allocate_in_gap(d, b, in, buf, n);
    if (placed)
        return placed < 0 ? placed : 0;
    uint64_t bm_off = vhd_next_block_off(v);
    uint64_t new_footer = bm_off + v->bitmap_bytes + v->block_size;
    if (new_footer / VHD_SECTOR >= VHD_BAT_UNUSED) {
        snprintf(d->err, sizeof(d->err), "%s: the file would grow beyond what VHD can address",
                 d->path);
        return -EFBIG;
    }
    uint8_t *bm = new_bitmap(v, in, n);
    if (!bm)
        return -ENOMEM;
    int rc = 0;
    uint64_t old_footer = v->footer_off;
    v->footer_off = new_footer;
    if (!(d->flags & DISK_OPEN_UNSAFE))
        rc = vhd_write_footer_at(d, new_footer);
    if (!rc && bm_off > old_footer) { /* the old footer's place becomes padding */
        static const uint8_t zero[4096];
        rc = raw_pwrite_full(d->fd, zero, bm_off - old_footer, old_footer);
    }
    if (!rc)
        rc = raw_pwrite_full(d->fd, bm, v->bitmap_bytes, bm_off);
    if (!rc)
        rc = raw_pwrite_full(d->fd, buf, n, bm_off + v->bitmap_bytes + in);
    if (rc) {
        v->footer_off = old_footer;
        free(bm);
        return io_err(d, rc, "allocating a block");
    }
    if ((rc = vhd_sync(d))) {
        v->footer_off = old_footer;
        free(bm);
        return rc;
    }
    return block_placed(d, b, bm_off, bm);
}

/* Sector aligned [in, in+n) inside block b. */
static int write_in_block(struct disk *d, uint32_t b, uint64_t in, const char *buf, size_t n)
{
    struct vhd *v = d->priv;
    if (v->bat[b] == VHD_BAT_UNUSED)
        return allocate_block(d, b, in, buf, n);
    int rc = raw_pwrite_full(d->fd, buf, n, block_data_off(v, b) + in);
    if (rc)
        return io_err(d, rc, "writing data");
    uint8_t *bm;
    if ((rc = vhd_load_bitmap(d, b, &bm)))
        return rc;
    if (bm == VHD_BITMAP_FULL)
        return 0;
    bool changed = false;
    for (uint64_t s = in / VHD_SECTOR; s < (in + n) / VHD_SECTOR; s++) {
        if (!bit_get(bm, (uint32_t)s)) {
            bm[s / 8] |= (uint8_t)(0x80 >> (s % 8));
            changed = true;
        }
    }
    if (!changed)
        return 0;
    rc = raw_pwrite_full(d->fd, bm, v->bitmap_bytes, (uint64_t)v->bat[b] * VHD_SECTOR);
    if (rc)
        return io_err(d, rc, "writing a sector bitmap");
    if (bitmap_all_ones(bm, v->block_size / VHD_SECTOR)) {
        free(bm);
        v->bitmaps[b] = VHD_BITMAP_FULL;
    }
    return 0;
}

/* Differencing disks: widen a write to whole bitmap bytes (8 sectors, 4 KiB), copying
 * the rest up from the current view, so that every bitmap byte is 0x00 or 0xFF. The
 * spec allows any bit pattern, but libvhdi (20210425) reads the sectors after a set
 * bit up to the end of its byte from the child, and 4 KiB units suit hosts better. */
static int write_diff_widened(struct disk *d, uint32_t b, uint64_t in, const char *p, size_t n)
{
    struct vhd *v = d->priv;
    const uint64_t unit = 8 * VHD_SECTOR;
    uint64_t a = in / unit * unit, e = (in + n + unit - 1) / unit * unit;
    uint64_t block_end = d->info.virtual_size - (uint64_t)b * v->block_size; /* last block is short */
    if (e > v->block_size)
        e = v->block_size;
    if (e > block_end)
        e = block_end;
    if (a == in && e == in + n)
        return write_in_block(d, b, in, p, n);
    if (v->bat[b] != VHD_BAT_UNUSED) {
        uint8_t *bm;
        int rc = vhd_load_bitmap(d, b, &bm);
        if (rc)
            return rc;
        if (bm == VHD_BITMAP_FULL)
            return write_in_block(d, b, in, p, n);
    }
    char *buf = malloc(e - a);
    if (!buf)
        return -ENOMEM;
    int rc = 0;
    if (in > a)
        rc = read_in_block(d, b, a, buf, in - a);
    if (!rc && e > in + n)
        rc = read_in_block(d, b, in + n, buf + (in + n - a), e - in - n);
    if (!rc) {
        memcpy(buf + (in - a), p, n);
        rc = write_in_block(d, b, a, buf, e - a);
    }
    free(buf);
    return rc;
}

static int write_aligned(struct disk *d, uint64_t off, const char *p, size_t len)
{
    struct vhd *v = d->priv;
    if (!v->sparse) {
        int rc = raw_pwrite_full(d->fd, p, len, off);
        return rc ? io_err(d, rc, "writing data") : 0;
    }
    bool diff = v->footer.disk_type == VHD_TYPE_DIFF;
    while (len) {
        uint32_t b = (uint32_t)(off / v->block_size);
        uint64_t in = off % v->block_size;
        size_t n = (size_t)(v->block_size - in < len ? v->block_size - in : len);
        int rc = diff ? write_diff_widened(d, b, in, p, n) : write_in_block(d, b, in, p, n);
        if (rc)
            return rc;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* A partial first or last sector is read, patched and written whole. */
static int write_partial_sector(struct disk *d, uint64_t off, const char *p, size_t len)
{
    char sec[VHD_SECTOR];
    uint64_t base = off / VHD_SECTOR * VHD_SECTOR;
    int rc = vhd_read(d, base, sec, VHD_SECTOR);
    if (rc)
        return rc;
    memcpy(sec + (off - base), p, len);
    return write_aligned(d, base, sec, VHD_SECTOR);
}

static int vhd_write(struct disk *d, uint64_t off, const void *buf, size_t len)
{
    const char *p = buf;
    int rc;
    if (off % VHD_SECTOR) {
        size_t head = VHD_SECTOR - off % VHD_SECTOR;
        if (head > len)
            head = len;
        if ((rc = write_partial_sector(d, off, p, head)))
            return rc;
        p += head;
        off += head;
        len -= head;
    }
    size_t mid = len / VHD_SECTOR * VHD_SECTOR;
    if (mid && (rc = write_aligned(d, off, p, mid)))
        return rc;
    if (len > mid)
        return write_partial_sector(d, off + mid, p + mid, len - mid);
    return 0;
}

int vhd_free_block(struct disk *d, uint32_t b)
{
    struct vhd *v = d->priv;
    uint64_t start = (uint64_t)v->bat[b] * VHD_SECTOR;
    uint64_t end = start + v->bitmap_bytes + v->block_size;
    v->bat[b] = VHD_BAT_UNUSED;
    if (v->bitmaps[b] != VHD_BITMAP_FULL)
        free(v->bitmaps[b]);
    v->bitmaps[b] = NULL;
    int rc;
    if (d->flags & DISK_OPEN_UNSAFE)
        v->dirty = true;
    else if ((rc = vhd_write_bat_entry(d, b)) || (rc = vhd_sync(d)))
        return rc;
    if (end == v->footer_off) { /* the last block: cut it off */
        v->footer_off = start;
        freespace_truncate(&v->space, start);
        if ((rc = vhd_write_footer_at(d, start)))
            return rc;
        if (ftruncate(d->fd, (off_t)(start + VHD_FOOTER_SIZE)) < 0)
            return io_err(d, -errno, "truncating");
        return 0;
    }
    rc = raw_punch_hole(d->fd, start, end - start);
    if (rc)
        return io_err(d, rc, "punching a hole");
    /* the unused entry is on stable storage (unless UNSAFE): the space is a gap now */
    if (!(d->flags & DISK_OPEN_UNSAFE) && freespace_untake(&v->space, start, end - start) < 0)
        return io_err(d, -ENOMEM, "recording free space");
    return 0;
}

static int vhd_discard(struct disk *d, uint64_t off, uint64_t len)
{
    struct vhd *v = d->priv;
    if (!v->sparse) {
        uint64_t a = (off + 4095) & ~4095ull, e = (off + len) & ~4095ull;
        if (e > a) {
            int rc = raw_punch_hole(d->fd, a, e - a);
            return rc ? io_err(d, rc, "punching a hole") : 0;
        }
        return 0;
    }
    if (v->footer.disk_type == VHD_TYPE_DIFF)
        return 0;
    uint64_t first = (off + v->block_size - 1) / v->block_size;
    uint64_t last = (off + len) / v->block_size; /* exclusive */
    /* The partial last block of a disk whose size is not a block multiple counts whole. */
    if (off + len == d->info.virtual_size)
        last = v->entries;
    for (uint64_t b = first; b < last && b < v->entries; b++) {
        if (v->bat[b] == VHD_BAT_UNUSED)
            continue;
        int rc = vhd_free_block(d, (uint32_t)b);
        if (rc)
            return rc;
    }
    return 0;
}

static int vhd_flush(struct disk *d)
{
    struct vhd *v = d->priv;
    int rc;
    if (v->dirty) {
        if ((rc = write_whole_bat(d)) || (rc = vhd_write_footer_at(d, v->footer_off)))
            return rc;
        if (ftruncate(d->fd, (off_t)(v->footer_off + VHD_FOOTER_SIZE)) < 0)
            return io_err(d, -errno, "truncating");
        v->dirty = false;
    }
    return vhd_sync(d);
}

static int vhd_extent(struct disk *d, uint64_t off, uint64_t len, uint64_t *extent_len)
{
    struct vhd *v = d->priv;
    if (!v->sparse)
        return raw_file_extent(d->fd, v->footer.current_size, off, len, extent_len);
    uint64_t end = off + len, pos = off;
    int kind = 0;
    while (pos < end) {
        uint32_t b = (uint32_t)(pos / v->block_size);
        uint64_t bstart = (uint64_t)b * v->block_size;
        uint64_t bend = bstart + v->block_size < end ? bstart + v->block_size : end;
        int k;
        uint64_t next = bend;
        if (v->bat[b] == VHD_BAT_UNUSED) {
            k = d->parent ? DISK_EXTENT_PARENT : DISK_EXTENT_ZERO;
        } else {
            uint8_t *bm;
            int rc = vhd_load_bitmap(d, b, &bm);
            if (rc)
                return rc;
            if (bm == VHD_BITMAP_FULL) {
                k = DISK_EXTENT_DATA;
            } else {
                uint32_t s = (uint32_t)((pos - bstart) / VHD_SECTOR);
                bool present = bit_get(bm, s);
                k = present ? DISK_EXTENT_DATA
                            : (d->parent ? DISK_EXTENT_PARENT : DISK_EXTENT_ZERO);
                next = bstart + (uint64_t)(s + 1) * VHD_SECTOR;
                while (next < bend && bit_get(bm, (uint32_t)((next - bstart) / VHD_SECTOR)) == present)
                    next += VHD_SECTOR;
                if (next > bend)
                    next = bend;
            }
        }
        if (kind && k != kind)
            break;
        kind = k;
        pos = next;
        if (next != bend)
            break; /* a partial bitmap run ends the extent */
    }
    *extent_len = pos - off;
    return kind;
}

/* Fast path only for fixed disks and blocks whose whole bitmap is set (and already
 * loaded: loading reads the file and changes the cache, which map() must not). */
static int vhd_map(struct disk *d, uint64_t off, uint64_t len, bool for_write,
                   uint64_t *file_off, uint64_t *contig)
{
    struct vhd *v = d->priv;
    if (!v->sparse) {
        *file_off = off;
        *contig = len;
        return DISK_MAP_DATA;
    }
    uint32_t b = (uint32_t)(off / v->block_size);
    uint64_t in = off % v->block_size;
    *contig = v->block_size - in < len ? v->block_size - in : len;
    if (b >= v->entries)
        return DISK_MAP_UNALLOCATED;
    if (v->bat[b] == VHD_BAT_UNUSED) {
        if (for_write)
            return DISK_MAP_UNALLOCATED;
        return d->parent ? DISK_MAP_PARENT : DISK_MAP_ZERO;
    }
    if (v->bitmaps[b] != VHD_BITMAP_FULL)
        return DISK_MAP_UNALLOCATED;
    *file_off = block_data_off(v, b) + in;
    return DISK_MAP_DATA;
}

static void vhd_close(struct disk *d)
{
    struct vhd *v = d->priv;
    if (v && v->dirty && !(d->flags & DISK_OPEN_RDONLY))
        vhd_flush(d);
    vhd_free(v);
    d->priv = NULL;
}

const struct disk_format vhd_format = {
    .name = "vhd",
    .id = DISK_FORMAT_VHD,
    .probe = vhd_probe,
    .create = vhd_create,
    .open = vhd_open,
    .close = vhd_close,
    .read = vhd_read,
    .write = vhd_write,
    .discard = vhd_discard,
    .flush = vhd_flush,
    .extent = vhd_extent,
    .check = vhd_check,
    .resize = vhd_resize,
    .set_parent = vhd_set_parent,
    .map = vhd_map,
    .shrink = vhd_shrink,
};
