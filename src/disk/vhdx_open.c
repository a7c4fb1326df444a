/* VHDX probe, open (validation, log replay, parent) and close; the format table entry.
 *
 * Read-only opens of an image with a pending log fail unless DISK_OPEN_NO_REPLAY is
 * given; then the log is replayed into memory only (an overlay of 4 KiB metadata
 * pages), so reads see exactly what a writable open would see after replay, and the
 * file is not modified. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "disk/vhdx.h"
#include "disk/vhdx_internal.h"

static int vhdx_probe(int fd, uint64_t file_size)
{
    char sig[8];
    if (file_size < VHDX_MiB)
        return 0;
    if (raw_pread_zero_eof(fd, sig, sizeof(sig), 0) < 0)
        return 0;
    return memcmp(sig, "vhdxfile", 8) == 0;
}

static void free_state(struct vhdx *v)
{
    if (!v)
        return;
    vhdx_metadata_free(&v->meta);
    free(v->bat);
    free(v->bat_dirty);
    free(v->bad);
    if (v->sb)
        for (uint64_t c = 0; c < v->geom.sb_blocks; c++)
            free(v->sb[c].bits);
    free(v->sb);
    for (size_t i = 0; i < v->nmisc; i++)
        free(v->misc[i].data);
    free(v->misc);
    for (size_t i = 0; i < v->noverlay; i++)
        free(v->overlay[i].data);
    free(v->overlay);
    freespace_destroy(&v->space);
    pthread_mutex_destroy(&v->lock);
    free(v);
}

static void first_problem(void *ctx, const char *line)
{
    struct disk *d = ctx;
    if (!d->err[0])
        vhdx_err(d, -EINVAL, "%s", line);
}

static int open_steps(struct disk *d)
{
    struct vhdx *v = vhdx_of(d);
    char sig[8];
    int rc;
    if (v->file_size < VHDX_MiB)
        return vhdx_err(d, -EINVAL, "file is too small to be a VHDX image");
    if ((rc = raw_pread_zero_eof(d->fd, sig, sizeof(sig), 0)) < 0)
        return vhdx_err(d, rc, "read: %s", strerror(-rc));
    if (memcmp(sig, "vhdxfile", 8) != 0)
        return vhdx_err(d, -EINVAL, "not a VHDX file (no \"vhdxfile\" signature)");
    if ((rc = vhdx_headers_load(d)) < 0 || (rc = vhdx_log_open(d)) < 0 ||
        (rc = vhdx_regions_load(d)) < 0 || (rc = vhdx_metadata_load(d)) < 0 ||
        (rc = vhdx_bat_load(d)) < 0)
        return rc;
    bool for_check = d->flags & DISK_OPEN_CHECK;
    long problems = vhdx_bat_validate(d, for_check, false, for_check ? NULL : first_problem, d);
    if (problems < 0)
        return vhdx_err(d, (int)problems, "out of memory validating the BAT");
    if (problems > 0 && !for_check)
        return -EINVAL;
    d->err[0] = 0;
    /* past the file's end and everything in use (a BAT entry may point past the end) */
    v->alloc_end = vhdx_used_end(v);
    if (v->alloc_end < vhdx_round_up(v->file_size, VHDX_MiB))
        v->alloc_end = vhdx_round_up(v->file_size, VHDX_MiB);
    if (!(d->flags & DISK_OPEN_RDONLY) && (rc = vhdx_space_rebuild(d)) < 0)
        return rc;

    struct disk_info *in = &d->info;
    in->type = v->meta.has_parent ? DISK_TYPE_DIFFERENCING
             : v->meta.leave_allocated ? DISK_TYPE_FIXED : DISK_TYPE_DYNAMIC;
    in->virtual_size = v->geom.virtual_size;
    in->block_size = v->geom.block_size;
    in->logical_sector_size = v->geom.logical_sector;
    in->physical_sector_size = v->meta.physical_sector;
    vhdx_guid_format(&v->meta.page83, in->uuid);
    in->file_size = v->file_size;
    return vhdx_parent_open(d);
}

static int vhdx_open(struct disk *d, char *err)
{
    struct vhdx *v = calloc(1, sizeof(*v));
    if (!v) {
        snprintf(err, DISK_ERR_LEN, "%s: out of memory", d->path);
        return -ENOMEM;
    }
    pthread_mutex_init(&v->lock, NULL);
    v->file_size = d->info.file_size;
    v->punch_ok = true;
    d->priv = v;
    int rc = open_steps(d);
    if (rc < 0) {
        if (err)
            snprintf(err, DISK_ERR_LEN, "%s", d->err[0] ? d->err : "invalid VHDX image");
        free_state(v);
        d->priv = NULL;
        return rc;
    }
    return 0;
}

static void vhdx_close(struct disk *d)
{
    struct vhdx *v = vhdx_of(d);
    if (!v)
        return;
    if (!(d->flags & DISK_OPEN_RDONLY)) {
        pthread_mutex_lock(&v->lock);
        if (vhdx_close_session(d) < 0)
            vlog_error("%s", d->err);
        pthread_mutex_unlock(&v->lock);
    }
    free_state(v);
    d->priv = NULL;
}

const struct disk_format vhdx_format = {
    .name = "vhdx",
    .id = DISK_FORMAT_VHDX,
    .probe = vhdx_probe,
    .create = vhdx_create,
    .open = vhdx_open,
    .close = vhdx_close,
    .read = vhdx_read,
    .write = vhdx_write,
    .discard = vhdx_discard,
    .flush = vhdx_flush,
    .extent = vhdx_extent,
    .check = vhdx_check,
    .resize = vhdx_resize,
    .set_parent = vhdx_set_parent,
    .map = vhdx_map,
    .shrink = vhdx_shrink,
};
