/* The block allocation table: loading it into memory, validating every entry at open
 * (and for check), and recording changes for the next flush. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk/vhdx_internal.h"

int vhdx_bat_load(struct disk *d)
{
    struct vhdx *v = vhdx_of(d);
    const struct vhdx_geom *g = &v->geom;
    uint64_t need = vhdx_bat_min_bytes(g, v->meta.has_parent);
    if (need > v->reg.bat_length)
        return vhdx_err(d, -EINVAL, "BAT region (%u bytes) is too small for %llu blocks",
                        v->reg.bat_length, (unsigned long long)g->payload_blocks);
    if (v->reg.bat_offset + need > v->file_size && !v->pending_log)
        return vhdx_err(d, -EINVAL, "the BAT lies beyond the end of the file");
    v->bat_region_entries = v->reg.bat_length / 8;
    /* only the entries the geometry can index are kept; the region may be longer */
    uint64_t bytes = vhdx_round_up(g->bat_entries * 8, VHDX_LOG_SECTOR);
    v->bat = calloc(1, bytes);
    v->bat_bytes = bytes;
    v->bat_dirty = calloc(1, vhdx_round_up(v->reg.bat_length, VHDX_LOG_SECTOR) / VHDX_LOG_SECTOR / 8 + 1);
    if (!v->bat || !v->bat_dirty)
        return vhdx_err(d, -ENOMEM, "out of memory for a BAT of %llu bytes",
                        (unsigned long long)bytes);
    uint64_t rd = bytes < v->reg.bat_length ? bytes : v->reg.bat_length;
    int rc = vhdx_meta_pread(d, v->bat, rd, v->reg.bat_offset);
    if (rc < 0)
        return rc;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (uint64_t i = 0; i < rd / 8; i++)
        v->bat[i] = vhdx_le64(&v->bat[i]);
#endif
    if (v->meta.has_parent) {
        v->sb = calloc(g->sb_blocks, sizeof(*v->sb));
        if (!v->sb)
            return vhdx_err(d, -ENOMEM, "out of memory");
    }
    return 0;
}

void vhdx_bat_set(struct vhdx *v, uint64_t index, uint64_t entry)
{
    uint64_t page = index * 8 / VHDX_LOG_SECTOR;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    vhdx_put64(&v->bat[index], entry);
#else
    v->bat[index] = entry;
#endif
    v->bat_dirty[page / 8] |= (uint8_t)(1u << (page % 8));
    v->meta_dirty = true;
}

struct extent_rec {
    uint64_t off, len, idx;
    bool soft;      /* UNMAPPED/UNDEFINED offset kept for reuse: not an error if bad */
};

static int cmp_extent(const void *a, const void *b)
{
    const struct extent_rec *x = a, *y = b;
    if (x->off != y->off)
        return x->off < y->off ? -1 : 1;
    return x->soft - y->soft;
}

struct validator {
    struct disk *d;
    void (*report)(void *ctx, const char *line);
    void *ctx;
    bool mark, all;
    long problems;
};

static void problem(struct validator *w, uint64_t idx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(struct validator *w, uint64_t idx, const char *fmt, ...)
{
    struct vhdx *v = vhdx_of(w->d);
    char line[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    w->problems++;
    if (w->mark && v->bad)
        v->bad[idx / 8] |= (uint8_t)(1u << (idx % 8));
    if (w->report)
        w->report(w->ctx, line);
}

static const char *overlaps_structure(const struct vhdx *v, uint64_t off, uint64_t len)
{
    if (off < VHDX_MiB)
        return "the header area";
    if (off < v->hdr.log_offset + v->hdr.log_length && v->hdr.log_offset < off + len)
        return "the log";
    if (off < v->reg.bat_offset + v->reg.bat_length && v->reg.bat_offset < off + len)
        return "the BAT region";
    if (off < v->reg.meta_offset + v->reg.meta_length && v->reg.meta_offset < off + len)
        return "the metadata region";
    return NULL;
}

static void describe(const struct vhdx *v, uint64_t idx, char *out, size_t cap)
{
    uint64_t cr = v->geom.chunk_ratio;
    if (idx % (cr + 1) == cr)
        snprintf(out, cap, "BAT entry %llu (sector bitmap of chunk %llu)",
                 (unsigned long long)idx, (unsigned long long)(idx / (cr + 1)));
    else
        snprintf(out, cap, "BAT entry %llu (block %llu)", (unsigned long long)idx,
                 (unsigned long long)(idx - idx / (cr + 1)));
}

long vhdx_bat_validate(struct disk *d, bool mark, bool all,
                       void (*report)(void *ctx, const char *line), void *ctx)
{
    struct vhdx *v = vhdx_of(d);
    const struct vhdx_geom *g = &v->geom;
    struct validator w = { d, report, ctx, mark, all, 0 };
    uint64_t n = g->bat_entries < v->bat_region_entries ? g->bat_entries : v->bat_region_entries;
    uint64_t cr = g->chunk_ratio;
    bool diff = v->meta.has_parent;
    size_t cap = 1024, cnt = 0;
    struct extent_rec *ex = malloc(cap * sizeof(*ex));
    char what[96];
    if (!ex)
        return -ENOMEM;
    if (mark && !v->bad)
        v->bad = calloc(1, n / 8 + 1);

    for (uint64_t i = 0; i < n; i++) {
        uint64_t e = vhdx_le64(&v->bat[i]);
        if (!e)
            continue;
        unsigned st = vhdx_bat_state(e);
        uint64_t off = vhdx_bat_offset(e);
        bool is_sb = i % (cr + 1) == cr;
        uint64_t len;
        describe(v, i, what, sizeof(what));
        if (is_sb) {
            if (i / (cr + 1) >= g->sb_blocks)
                continue;
            if (st != VHDX_SB_NOT_PRESENT && !(st == VHDX_SB_PRESENT && diff)) {
                problem(&w, i, "%s has state %u, invalid for a %s disk", what, st,
                        diff ? "differencing" : "non-differencing");
                continue;
            }
            len = VHDX_SB_BLOCK_SIZE;
        } else {
            uint64_t blk = i - i / (cr + 1);
            if (blk >= g->payload_blocks)
                continue;
            if (st == 4 || (st == VHDX_PAYLOAD_PARTIALLY_PRESENT && !diff)) {
                problem(&w, i, "%s has state %u, invalid for a %s disk", what, st,
                        diff ? "differencing" : "non-differencing");
                continue;
            }
            if (st == VHDX_PAYLOAD_PARTIALLY_PRESENT) {
                uint64_t sbe = v->bat[vhdx_bat_sb_index(g, blk / cr)];
                if (vhdx_bat_sb_index(g, blk / cr) >= v->bat_region_entries ||
                    vhdx_bat_state(sbe) != VHDX_SB_PRESENT) {
                    problem(&w, i, "%s is partially present but its sector bitmap is not", what);
                    continue;
                }
            }
            len = g->virtual_size - blk * g->block_size;
            if (len > g->block_size)
                len = g->block_size;
        }
        if ((e & VHDX_BAT_RESERVED_MASK) && w.all)
            problem(&w, i, "%s has reserved bits set (0x%llx)", what, (unsigned long long)e);
        bool present = st == VHDX_PAYLOAD_FULLY_PRESENT ||
                       (!is_sb && st == VHDX_PAYLOAD_PARTIALLY_PRESENT);
        bool soft = !is_sb && (st == VHDX_PAYLOAD_UNMAPPED || st == VHDX_PAYLOAD_UNDEFINED ||
                               st == VHDX_PAYLOAD_UNMAPPED_V095);
        if (!present && !soft) {
            if (off && w.all)
                problem(&w, i, "%s (state %u) has a non-zero file offset %llu", what, st,
                        (unsigned long long)off);
            continue;
        }
        if (soft) {
            /* a kept offset is only reused if it is provably free; else forget it */
            if (!off)
                continue;
            if (overlaps_structure(v, off, g->block_size) || off + g->block_size > v->file_size) {
                v->bat[i] = vhdx_bat_make(st, 0);
                continue;
            }
        } else {
            const char *s = overlaps_structure(v, off, len);
            if (s) {
                problem(&w, i, "%s at file offset %llu overlaps %s", what,
                        (unsigned long long)off, s);
                continue;
            }
            if (off + len > v->file_size) {
                problem(&w, i, "%s at file offset %llu+%llu points past the end of the file (%llu)",
                        what, (unsigned long long)off, (unsigned long long)len,
                        (unsigned long long)v->file_size);
                continue;
            }
        }
        if (cnt == cap) {
            struct extent_rec *nx = realloc(ex, 2 * cap * sizeof(*ex));
            if (!nx) {
                free(ex);
                return -ENOMEM;
            }
            ex = nx;
            cap *= 2;
        }
        ex[cnt++] = (struct extent_rec){ off, soft ? g->block_size : vhdx_round_up(len, VHDX_MiB), i, soft };
    }
    qsort(ex, cnt, sizeof(*ex), cmp_extent);
    /* overlap sweep: `hard` is the hard extent reaching furthest so far */
    long hard = -1, last_soft = -1;
    for (size_t k = 0; k < cnt; k++) {
        struct extent_rec *x = &ex[k];
        if (x->soft) {
            bool clash = (hard >= 0 && ex[hard].off + ex[hard].len > x->off) ||
                         (last_soft >= 0 && ex[last_soft].off + ex[last_soft].len > x->off);
            /* a later hard extent may also start inside this one */
            if (!clash && k + 1 < cnt && ex[k + 1].off < x->off + x->len)
                clash = true;
            if (clash)
                v->bat[x->idx] = vhdx_bat_make(vhdx_bat_state(v->bat[x->idx]), 0);
            else
                last_soft = (long)k;
            continue;
        }
        if (hard >= 0 && ex[hard].off + ex[hard].len > x->off) {
            char a[96];
            describe(v, ex[hard].idx, a, sizeof(a));
            describe(v, x->idx, what, sizeof(what));
            problem(&w, x->idx, "%s at file offset %llu overlaps %s at %llu", what,
                    (unsigned long long)x->off, a, (unsigned long long)ex[hard].off);
        }
        if (hard < 0 || x->off + x->len > ex[hard].off + ex[hard].len)
            hard = (long)k;
    }
    free(ex);
    return w.problems;
}
