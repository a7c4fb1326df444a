/* VHD backend: probing and opening, with every structure validated before use.
 * Damage that can be set aside (BAT entries pointing outside the file or overlapping,
 * a damaged footer copy) fails the open, or with DISK_OPEN_CHECK is recorded for the
 * checker and the damaged parts read as zeroes. */
#include "disk/raw.h"
#include "disk/vhd_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint32_t be32(uint32_t v)
{
    return __builtin_bswap32(v);
}

int vhd_probe(int fd, uint64_t file_size)
{
    char c[8];
    if (file_size < VHD_FOOTER_SIZE)
        return 0;
    if (pread(fd, c, 8, 0) == 8 && !memcmp(c, "conectix", 8))
        return 1;
    return pread(fd, c, 8, (off_t)(file_size - VHD_FOOTER_SIZE)) == 8 && !memcmp(c, "conectix", 8);
}

void vhd_free(struct vhd *v)
{
    if (!v)
        return;
    if (v->bitmaps)
        for (uint32_t i = 0; i < v->entries; i++)
            if (v->bitmaps[i] != VHD_BITMAP_FULL)
                free(v->bitmaps[i]);
    free(v->bitmaps);
    free(v->bat);
    free(v->bad_entries);
    freespace_destroy(&v->space);
    for (int i = 0; i < v->nproblems; i++)
        free(v->problems[i]);
    free(v);
}

struct range {
    uint64_t start, end;
    int64_t block; /* -1 for metadata */
    const char *what;
};

static int range_cmp(const void *a, const void *b)
{
    const struct range *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static void drop_entry(struct vhd *v, uint32_t b)
{
    v->bat[b] = VHD_BAT_UNUSED;
    v->bad_entries[v->bad_entries_count++] = b;
}

/* BAT entries must point inside the file, past the metadata, and not overlap. */
static int validate_bat(struct disk *d, struct range *meta, int nmeta, uint64_t limit, char *err)
{
    struct vhd *v = d->priv;
    bool lenient = d->flags & DISK_OPEN_CHECK;
    uint64_t blen = v->bitmap_bytes + (uint64_t)v->block_size;
    size_t n = 0;
    struct range *r = malloc(((size_t)v->entries + (size_t)nmeta) * sizeof(*r));
    v->bad_entries = malloc((size_t)v->entries * sizeof(uint32_t) + 1);
    if (!r || !v->bad_entries) {
        free(r);
        snprintf(err, DISK_ERR_LEN, "%s: out of memory", d->path);
        return -ENOMEM;
    }
    for (uint32_t b = 0; b < v->entries; b++) {
        if (v->bat[b] == VHD_BAT_UNUSED)
            continue;
        uint64_t s = (uint64_t)v->bat[b] * VHD_SECTOR;
        if (s + blen > limit) {
            if (!lenient) {
                snprintf(err, DISK_ERR_LEN, "%s: BAT entry %u points past the end of the file",
                         d->path, b);
                free(r);
                return -EINVAL;
            }
            vhd_problem(v, true, "BAT entry %u points past the end of the file", b);
            drop_entry(v, b);
            continue;
        }
        r[n++] = (struct range){ s, s + blen, b, NULL };
    }
    for (int i = 0; i < nmeta; i++)
        r[n++] = meta[i];
    qsort(r, n, sizeof(*r), range_cmp);
    uint64_t max_end = 0;
    int64_t max_owner = -2;
    const char *max_what = NULL;
    for (size_t i = 0; i < n; i++) {
        if (i && r[i].start < max_end) {
            /* overlap: blame the block (metadata never moves) */
            int64_t victim = r[i].block >= 0 ? r[i].block : max_owner;
            char other[64];
            if (r[i].block >= 0 && max_owner >= 0)
                snprintf(other, sizeof(other), "block of BAT entry %lld", (long long)max_owner);
            else
                snprintf(other, sizeof(other), "%s", r[i].block >= 0 ? max_what : r[i].what);
            if (victim < 0) {
                snprintf(err, DISK_ERR_LEN, "%s: %s overlaps %s", d->path, r[i].what, max_what);
                free(r);
                return -EINVAL;
            }
            if (!lenient) {
                snprintf(err, DISK_ERR_LEN, "%s: BAT entry %lld overlaps the %s", d->path,
                         (long long)victim, other);
                free(r);
                return -EINVAL;
            }
            vhd_problem(v, true, "BAT entry %lld overlaps the %s", (long long)victim, other);
            if (v->bat[victim] != VHD_BAT_UNUSED)
                drop_entry(v, (uint32_t)victim);
            if (victim == max_owner && r[i].block < 0) {
                max_end = r[i].end;
                max_owner = -1;
                max_what = r[i].what;
            }
            continue;
        }
        if (r[i].end > max_end) {
            max_end = r[i].end;
            max_owner = r[i].block;
            max_what = r[i].what;
        }
    }
    free(r);
    return 0;
}

static int open_sparse(struct disk *d, uint64_t fsz, char *err)
{
    struct vhd *v = d->priv;
    uint8_t hb[VHD_HEADER_SIZE];
    uint64_t hoff = v->footer.data_offset;
    if (hoff < VHD_FOOTER_SIZE || hoff % VHD_SECTOR || hoff > fsz || fsz - hoff < VHD_HEADER_SIZE) {
        snprintf(err, DISK_ERR_LEN, "%s: the dynamic header offset %llu is outside the file",
                 d->path, (unsigned long long)hoff);
        return -EINVAL;
    }
    int rc = raw_pread_full(d->fd, hb, sizeof(hb), hoff);
    if (rc) {
        snprintf(err, DISK_ERR_LEN, "%s: reading the dynamic header: %s", d->path, strerror(-rc));
        return rc;
    }
    if (memcmp(hb, "cxsparse", 8)) {
        snprintf(err, DISK_ERR_LEN, "%s: dynamic header cookie \"cxsparse\" missing", d->path);
        return -EINVAL;
    }
    if (!vhd_header_valid(hb)) {
        snprintf(err, DISK_ERR_LEN, "%s: dynamic header checksum is wrong", d->path);
        return -EINVAL;
    }
    vhd_header_decode(hb, &v->header);
    struct vhd_header *h = &v->header;
    uint32_t bs = h->block_size;
    if (bs < VHD_SECTOR || (bs & (bs - 1)) || bs > (256u << 20)) {
        snprintf(err, DISK_ERR_LEN, "%s: block size %u is not a power of two from 512 to 256 MiB",
                 d->path, bs);
        return -EINVAL;
    }
    v->block_size = bs;
    v->bitmap_bytes = vhd_bitmap_bytes(bs);
    uint64_t need = (v->footer.current_size + bs - 1) / bs;
    if (h->max_table_entries < need) {
        snprintf(err, DISK_ERR_LEN, "%s: BAT has %u entries, %llu needed for the disk size",
                 d->path, h->max_table_entries, (unsigned long long)need);
        return -EINVAL;
    }
    uint64_t bat_bytes = ((uint64_t)h->max_table_entries * 4 + VHD_SECTOR - 1) / VHD_SECTOR * VHD_SECTOR;
    if (h->table_offset % VHD_SECTOR || h->table_offset > fsz || bat_bytes > fsz - h->table_offset) {
        snprintf(err, DISK_ERR_LEN, "%s: the BAT lies outside the file", d->path);
        return -EINVAL;
    }
    v->entries = (uint32_t)need; /* entries past the disk's end are never used */
    v->bat = malloc((size_t)h->max_table_entries * 4 + 4);
    v->bitmaps = calloc((size_t)v->entries + 1, sizeof(*v->bitmaps));
    if (!v->bat || !v->bitmaps) {
        snprintf(err, DISK_ERR_LEN, "%s: out of memory for the BAT", d->path);
        return -ENOMEM;
    }
    rc = raw_pread_full(d->fd, v->bat, (size_t)h->max_table_entries * 4, h->table_offset);
    if (rc) {
        snprintf(err, DISK_ERR_LEN, "%s: reading the BAT: %s", d->path, strerror(-rc));
        return rc;
    }
    for (uint32_t i = 0; i < h->max_table_entries; i++)
        v->bat[i] = be32(v->bat[i]);

    struct range meta[3 + VHD_NUM_LOCATORS];
    int nmeta = 0;
    meta[nmeta++] = (struct range){ 0, VHD_FOOTER_SIZE, -1, "footer copy" };
    meta[nmeta++] = (struct range){ hoff, hoff + VHD_HEADER_SIZE, -1, "dynamic header" };
    meta[nmeta++] = (struct range){ h->table_offset, h->table_offset + bat_bytes, -1, "BAT" };
    if (v->footer.disk_type == VHD_TYPE_DIFF) {
        for (int i = 0; i < VHD_NUM_LOCATORS; i++) {
            const struct vhd_locator *l = &h->loc[i];
            uint64_t space = vhd_locator_space(l);
            if (!l->code || !space)
                continue;
            if (l->data_offset > fsz || space > fsz - l->data_offset) {
                if (!(d->flags & DISK_OPEN_CHECK)) {
                    snprintf(err, DISK_ERR_LEN, "%s: parent locator %d lies outside the file",
                             d->path, i);
                    return -EINVAL;
                }
                vhd_problem(v, false, "parent locator %d lies outside the file", i);
                continue;
            }
            meta[nmeta++] = (struct range){ l->data_offset, l->data_offset + space, -1,
                                            "parent locator data" };
        }
    }
    uint64_t meta_end = 0;
    for (int i = 0; i < nmeta; i++)
        if (meta[i].end > meta_end)
            meta_end = meta[i].end;
    uint64_t limit = v->eof_footer_bad ? fsz : fsz - VHD_FOOTER_SIZE;
    if (meta_end > limit) {
        snprintf(err, DISK_ERR_LEN, "%s: the metadata runs into the footer (truncated file?)",
                 d->path);
        return -EINVAL;
    }
    if ((rc = validate_bat(d, meta, nmeta, limit, err)))
        return rc;
    /* A damaged end footer is rewritten after the last thing in the file. */
    if (v->eof_footer_bad) {
        uint64_t end = meta_end;
        for (uint32_t b = 0; b < v->entries; b++)
            if (v->bat[b] != VHD_BAT_UNUSED &&
                (uint64_t)v->bat[b] * VHD_SECTOR + v->bitmap_bytes + bs > end)
                end = (uint64_t)v->bat[b] * VHD_SECTOR + v->bitmap_bytes + bs;
        v->footer_off = (end + VHD_SECTOR - 1) / VHD_SECTOR * VHD_SECTOR;
    } else {
        v->footer_off = fsz - VHD_FOOTER_SIZE;
    }
    return 0;
}

int vhd_open(struct disk *d, char *err)
{
    struct vhd *v = calloc(1, sizeof(*v));
    uint8_t tail[VHD_FOOTER_SIZE], head[VHD_FOOTER_SIZE];
    uint64_t fsz = d->info.file_size;
    int rc;

    if (!v) {
        snprintf(err, DISK_ERR_LEN, "%s: out of memory", d->path);
        return -ENOMEM;
    }
    d->priv = v;
    if (fsz < VHD_FOOTER_SIZE) {
        snprintf(err, DISK_ERR_LEN, "%s: too small to be a VHD image", d->path);
        rc = -EINVAL;
        goto fail;
    }
    if ((rc = raw_pread_full(d->fd, tail, sizeof(tail), fsz - VHD_FOOTER_SIZE)) ||
        (rc = raw_pread_full(d->fd, head, sizeof(head), 0))) {
        snprintf(err, DISK_ERR_LEN, "%s: reading the footer: %s", d->path, strerror(-rc));
        goto fail;
    }
    bool tail_ok = vhd_footer_valid(tail), head_ok = vhd_footer_valid(head);
    if (tail_ok) {
        vhd_footer_decode(tail, &v->footer);
    } else if (head_ok) {
        vhd_footer_decode(head, &v->footer);
        v->eof_footer_bad = true;
        if (v->footer.disk_type == VHD_TYPE_FIXED) {
            snprintf(err, DISK_ERR_LEN, "%s: footer at the end is damaged", d->path);
            rc = -EINVAL;
            goto fail;
        }
        vhd_problem(v, true, "the footer at the end of the file is damaged (the copy at offset 0 is good)");
    } else {
        bool cookie = !memcmp(tail, "conectix", 8) || !memcmp(head, "conectix", 8);
        snprintf(err, DISK_ERR_LEN, cookie ? "%s: VHD footer checksum is wrong"
                                           : "%s: no VHD footer (cookie \"conectix\" missing)",
                 d->path);
        rc = -EINVAL;
        goto fail;
    }
    struct vhd_footer *f = &v->footer;
    if (f->disk_type != VHD_TYPE_FIXED && f->disk_type != VHD_TYPE_DYNAMIC &&
        f->disk_type != VHD_TYPE_DIFF) {
        snprintf(err, DISK_ERR_LEN, "%s: unsupported VHD disk type %u", d->path, f->disk_type);
        rc = -EINVAL;
        goto fail;
    }
    if (f->current_size == 0 || f->current_size % VHD_SECTOR || f->current_size > VHD_MAX_SIZE) {
        snprintf(err, DISK_ERR_LEN, "%s: virtual size %llu is not valid for a VHD", d->path,
                 (unsigned long long)f->current_size);
        rc = -EINVAL;
        goto fail;
    }
    v->sparse = f->disk_type != VHD_TYPE_FIXED;
    if (!v->sparse) {
        if (fsz - VHD_FOOTER_SIZE < f->current_size) {
            snprintf(err, DISK_ERR_LEN, "%s: file is shorter than the virtual size (truncated?)",
                     d->path);
            rc = -EINVAL;
            goto fail;
        }
        v->footer_off = fsz - VHD_FOOTER_SIZE;
    } else {
        if (!head_ok && tail_ok)
            v->copy_footer_bad = true;
        else if (head_ok && tail_ok && memcmp(head, tail, VHD_FOOTER_SIZE))
            v->footers_differ = true;
        if (v->copy_footer_bad)
            vhd_problem(v, true, "the footer copy at offset 0 is damaged");
        if (v->footers_differ)
            vhd_problem(v, true, "the footer copy at offset 0 differs from the footer at the end");
        if ((rc = open_sparse(d, fsz, err)))
            goto fail;
        if (!(d->flags & (DISK_OPEN_RDONLY | DISK_OPEN_UNSAFE)) && (rc = vhd_space_rebuild(d))) {
            snprintf(err, DISK_ERR_LEN, "%s", d->err);
            goto fail;
        }
    }

    d->info.type = f->disk_type == VHD_TYPE_FIXED     ? DISK_TYPE_FIXED
                   : f->disk_type == VHD_TYPE_DYNAMIC ? DISK_TYPE_DYNAMIC
                                                      : DISK_TYPE_DIFFERENCING;
    d->info.virtual_size = f->current_size;
    d->info.block_size = v->sparse ? v->block_size : 0;
    d->info.logical_sector_size = VHD_SECTOR;
    d->info.physical_sector_size = VHD_SECTOR;
    vhd_uuid_format(f->uuid, d->info.uuid);
    if (f->disk_type == VHD_TYPE_DIFF && (rc = vhd_open_parent(d, err)))
        goto fail;
    return 0;
fail:
    vhd_free(v);
    d->priv = NULL;
    return rc;
}

