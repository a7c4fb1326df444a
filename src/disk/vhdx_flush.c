/* Flush: makes written data and the metadata that references it durable.
 *
 * Ordering (crash consistency): (1) fdatasync — payload data written so far, and the
 * in-place application of earlier log entries, are durable; (2) one log entry holding
 * every dirty 4 KiB metadata page (BAT, sector bitmaps, region table, metadata) is
 * written and fdatasync'ed — from here on a crash replays it; (3) the pages are
 * written in place (made durable by step 1 of the next flush or by close).
 * Each entry is its own sequence (Tail = itself): everything before it is already
 * applied durably. The newest entry is never overwritten by the next one, so a torn
 * write always leaves the previous complete entry to replay. The first entry of a
 * session is written before the header's LogGuid is set to its GUID, so the header
 * never names a log without a valid entry. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "disk/vhdx.h"
#include "disk/vhdx_internal.h"

#define LS VHDX_LOG_SECTOR
#define MAX_ENTRY (4u << 20) /* bytes per log entry, whatever the log size */

struct pagelist {
    struct vhdx_log_page *p;
    size_t n, cap;
};

static int add_page(struct pagelist *pl, uint64_t off, const uint8_t *data)
{
    if (pl->n == pl->cap) {
        size_t cap = pl->cap ? pl->cap * 2 : 64;
        struct vhdx_log_page *n = realloc(pl->p, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        pl->p = n;
        pl->cap = cap;
    }
    pl->p[pl->n++] = (struct vhdx_log_page){ off, data };
    return 0;
}

static int cmp_page(const void *a, const void *b)
{
    const struct vhdx_log_page *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

static int collect(struct vhdx *v, struct pagelist *pl)
{
    uint64_t npages = vhdx_round_up(v->reg.bat_length, LS) / LS;
    if (npages > v->bat_bytes / LS)
        npages = v->bat_bytes / LS; /* pages past the array are never dirty */
    for (uint64_t p = 0; p < npages; p++)
        if (v->bat_dirty[p / 8] >> (p % 8) & 1)
            if (add_page(pl, v->reg.bat_offset + p * LS, (const uint8_t *)v->bat + p * LS) < 0)
                return -ENOMEM;
    for (uint64_t c = 0; v->sb && c < v->geom.sb_blocks; c++) {
        struct vhdx_sb *sb = &v->sb[c];
        if (!sb->bits)
            continue;
        uint64_t base = vhdx_bat_offset(v->bat[vhdx_bat_sb_index(&v->geom, c)]);
        for (unsigned p = 0; p < 256; p++)
            if (sb->dirty[p / 64] >> (p % 64) & 1)
                if (add_page(pl, base + p * LS, sb->bits + (size_t)p * LS) < 0)
                    return -ENOMEM;
    }
    for (size_t i = 0; i < v->nmisc; i++)
        if (add_page(pl, v->misc[i].off, v->misc[i].data) < 0)
            return -ENOMEM;
    qsort(pl->p, pl->n, sizeof(*pl->p), cmp_page);
    return 0;
}

static void clear_dirty(struct vhdx *v)
{
    memset(v->bat_dirty, 0, vhdx_round_up(v->reg.bat_length, LS) / LS / 8 + 1);
    for (uint64_t c = 0; v->sb && c < v->geom.sb_blocks; c++)
        memset(v->sb[c].dirty, 0, sizeof(v->sb[c].dirty));
    for (size_t i = 0; i < v->nmisc; i++)
        free(v->misc[i].data);
    free(v->misc);
    v->misc = NULL;
    v->nmisc = 0;
    v->meta_dirty = false;
}

/* Writes pages in place, one pwrite per run of pages contiguous in file and memory. */
static int apply_in_place(struct disk *d, const struct vhdx_log_page *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && p[j].off == p[j - 1].off + LS && p[j].data == p[j - 1].data + LS)
            j++;
        if (vhdx_crash_point)
            vhdx_crash_point("apply", d->fd, p[i].off, (j - i) * LS);
        int rc = raw_pwrite_full(d->fd, p[i].data, (j - i) * LS, p[i].off);
        if (rc < 0)
            return vhdx_err(d, rc, "metadata write at %llu: %s", (unsigned long long)p[i].off,
                            strerror(-rc));
        i = j;
    }
    return 0;
}

/* Where the next entry goes and how many bytes it may take. */
static void place_entry(const struct vhdx *v, uint32_t *pos, uint32_t *space)
{
    uint32_t log_len = v->hdr.log_length;
    if (!v->log_newest_len) {
        *pos = 0;
        *space = log_len;
    } else {
        uint32_t after = v->log_newest_pos + v->log_newest_len;
        if (after <= log_len && log_len - after >= 2 * LS) {
            *pos = after;
            *space = log_len - after;
        } else {
            *pos = 0;
            *space = v->log_newest_pos;
        }
    }
    uint32_t half = log_len / 2 / LS * LS;
    if (*space > half)
        *space = half;
    if (*space > MAX_ENTRY)
        *space = MAX_ENTRY;
}

int vhdx_flush_locked(struct disk *d)
{
    struct vhdx *v = vhdx_of(d);
    struct pagelist pl = { 0 };
    uint8_t *entry = NULL;
    if (!v->meta_dirty) {
        if (!v->data_dirty)
            return 0; /* nothing written since the last sync: a guest's idle flushes are free */
        int rc = vhdx_sync(d);
        v->data_dirty = rc < 0;
        return rc;
    }
    int rc = vhdx_sync(d);
    if (rc < 0)
        return rc;
    if (collect(v, &pl) < 0) {
        rc = vhdx_err(d, -ENOMEM, "out of memory");
        goto out;
    }
    entry = malloc(v->hdr.log_length / 2 < MAX_ENTRY ? v->hdr.log_length / 2 + LS : MAX_ENTRY);
    if (!entry) {
        rc = vhdx_err(d, -ENOMEM, "out of memory");
        goto out;
    }
    if (!v->log_live && vhdx_guid_is_zero(&v->session_log_guid))
        vhdx_guid_random(&v->session_log_guid);
    for (size_t i = 0; i < pl.n;) {
        uint32_t pos, space;
        place_entry(v, &pos, &space);
        uint32_t k = space / LS - 1;
        while (k && vhdx_log_entry_len(k) > space)
            k--;
        if (k == 0) {
            rc = vhdx_err(d, -ENOSPC, "the log region is too small");
            goto out;
        }
        if (k > pl.n - i)
            k = (uint32_t)(pl.n - i);
        uint64_t last = vhdx_round_up(v->file_size, VHDX_MiB);
        if (v->alloc_end > last)
            last = v->alloc_end;
        vhdx_log_entry_build(entry, pl.p + i, k, v->log_seq + 1, pos, &v->session_log_guid,
                             v->file_size, last);
        uint32_t len = vhdx_log_entry_len(k);
        if (vhdx_crash_point)
            vhdx_crash_point("write", d->fd, v->hdr.log_offset + pos, len);
        rc = raw_pwrite_full(d->fd, entry, len, v->hdr.log_offset + pos);
        if (rc < 0) {
            rc = vhdx_err(d, rc, "log write: %s", strerror(-rc));
            goto out;
        }
        if ((rc = vhdx_sync(d)) < 0)
            goto out;
        if (vhdx_crash_point)
            vhdx_crash_point("log", d->fd, 0, 0);
        v->log_seq++;
        v->log_newest_pos = pos;
        v->log_newest_len = len;
        if (!v->log_live) {
            v->hdr.log_guid = v->session_log_guid;
            if ((rc = vhdx_headers_write(d)) < 0)
                goto out;
            v->log_live = true;
        }
        if ((rc = apply_in_place(d, pl.p + i, k)) < 0)
            goto out;
        i += k;
        /* the next entry may reuse log space of older entries: this one's in-place
         * writes must be durable first */
        if (i < pl.n && (rc = vhdx_sync(d)) < 0)
            goto out;
    }
    clear_dirty(v);
    v->data_dirty = false;
    if (freespace_commit(&v->space) < 0)
        rc = vhdx_err(d, -ENOMEM, "out of memory");
out:
    free(entry);
    free(pl.p);
    return rc;
}

int vhdx_misc_page(struct disk *d, uint64_t off, uint8_t **page)
{
    struct vhdx *v = vhdx_of(d);
    for (size_t i = 0; i < v->nmisc; i++)
        if (v->misc[i].off == off) {
            *page = v->misc[i].data;
            return 0;
        }
    struct vhdx_page *n = realloc(v->misc, (v->nmisc + 1) * sizeof(*n));
    if (!n)
        return vhdx_err(d, -ENOMEM, "out of memory");
    v->misc = n;
    uint8_t *data = malloc(LS);
    if (!data)
        return vhdx_err(d, -ENOMEM, "out of memory");
    int rc = vhdx_meta_pread(d, data, LS, off);
    if (rc < 0) {
        free(data);
        return rc;
    }
    v->misc[v->nmisc++] = (struct vhdx_page){ off, data };
    v->meta_dirty = true;
    *page = data;
    return 0;
}

int vhdx_close_session(struct disk *d)
{
    struct vhdx *v = vhdx_of(d);
    if (!v->session)
        return 0;
    int rc = vhdx_flush_locked(d);
    if (rc < 0)
        return rc;
    if (v->log_live) {
        if ((rc = vhdx_sync(d)) < 0)
            return rc;
        memset(&v->hdr.log_guid, 0, sizeof(v->hdr.log_guid));
        if ((rc = vhdx_headers_write(d)) < 0)
            return rc;
        v->log_live = false;
    }
    return 0;
}
