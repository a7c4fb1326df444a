/* Creating VHDX images: fixed (all blocks allocated, file preallocated), dynamic
 * (sparse, blocks NOT_PRESENT) and differencing (parent's geometry and identity,
 * locator with parent_linkage, relative and absolute paths).
 * Layout: identifier, headers and region tables in the first MiB; the 1 MiB log at
 * 1 MiB; the 1 MiB metadata region at 2 MiB; the BAT at 3 MiB; payload after it. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disk/vhdx.h"
#include "disk/vhdx_internal.h"

struct create_params {
    uint64_t size;
    uint32_t block_size, logical, physical;
    bool fixed, diff;
    struct vhdx_guid page83, linkage;
    char rel[PATH_MAX], abs[PATH_MAX];
};

static int cerr(char *err, int rc, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int cerr(char *err, int rc, const char *path, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        int n = snprintf(err, DISK_ERR_LEN, "%s: ", path);
        if (n >= 0 && n < DISK_ERR_LEN) {
            va_start(ap, fmt);
            vsnprintf(err + n, DISK_ERR_LEN - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return rc;
}

/* Parameters of a differencing child from its parent. */
static int from_parent(const char *path, const struct disk_create_opts *o,
                       struct create_params *p, char *err)
{
    struct disk *pd;
    char perr[DISK_ERR_LEN];
    int rc = disk_open(o->parent, DISK_FORMAT_AUTO, DISK_OPEN_RDONLY | DISK_OPEN_NO_PARENT, &pd,
                       perr);
    if (rc < 0)
        return cerr(err, rc, path, "cannot open the parent: %s", perr);
    if (pd->fmt != &vhdx_format) {
        disk_close(pd);
        return cerr(err, -EINVAL, path, "the parent %s is not a VHDX image", o->parent);
    }
    struct vhdx *pv = vhdx_of(pd);
    p->size = pv->geom.virtual_size;
    p->block_size = o->block_size ? o->block_size : pv->geom.block_size;
    p->logical = pv->geom.logical_sector;
    p->physical = pv->meta.physical_sector;
    p->page83 = pv->meta.page83;
    p->linkage = pv->hdr.data_write_guid;
    disk_close(pd);

    rc = vhdx_locator_paths(path, o->parent, p->rel, sizeof(p->rel), p->abs, sizeof(p->abs));
    if (rc < 0)
        return cerr(err, rc, path, "parent path: %s", strerror(-rc));
    p->diff = true;
    return 0;
}

static int write_all(int fd, const void *buf, size_t len, uint64_t off, const char *path,
                     char *err)
{
    int rc = raw_pwrite_full(fd, buf, len, off);
    return rc < 0 ? cerr(err, rc, path, "write: %s", strerror(-rc)) : 0;
}

int vhdx_create(const char *path, const struct disk_create_opts *o, char *err)
{
    struct create_params p = { 0 };
    struct vhdx_geom g;
    int rc;
    if (o->parent) {
        if ((rc = from_parent(path, o, &p, err)) < 0)
            return rc;
    } else {
        p.size = o->size;
        p.block_size = o->block_size ? o->block_size : (uint32_t)VHDX_DEFAULT_BLOCK;
        p.logical = o->logical_sector_size ? o->logical_sector_size : 512;
        p.physical = o->physical_sector_size ? o->physical_sector_size : 4096;
        p.fixed = o->type == DISK_TYPE_FIXED;
        vhdx_guid_random(&p.page83);
    }
    if (p.physical != 512 && p.physical != 4096)
        return cerr(err, -EINVAL, path, "%s", "physical sector size must be 512 or 4096");
    if (vhdx_geom_init(&g, p.size, p.block_size, p.logical) < 0)
        return cerr(err, -EINVAL, path, "%s",
                    "invalid geometry: the size must be a non-zero multiple of the logical sector "
                    "size (512 or 4096) up to 64 TiB, the block size a power of two from 1 to 256 MiB");

    const uint64_t log_off = VHDX_MiB, log_len = VHDX_DEFAULT_LOG;
    struct vhdx_regions r = { .meta_offset = 2 * VHDX_MiB, .meta_length = VHDX_MiB,
                              .bat_offset = 3 * VHDX_MiB };
    uint64_t bat_bytes = vhdx_round_up(g.bat_entries * 8, VHDX_MiB);
    if (bat_bytes > UINT32_MAX / 2)
        return cerr(err, -EINVAL, path, "%s", "BAT too large");
    r.bat_length = (uint32_t)bat_bytes;
    uint64_t data_start = r.bat_offset + bat_bytes;
    uint64_t last_len = g.virtual_size - (g.payload_blocks - 1) * g.block_size;
    uint64_t file_size = data_start;
    if (p.fixed)
        file_size += (g.payload_blocks - 1) * (uint64_t)g.block_size + vhdx_round_up(last_len, VHDX_MiB);

    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return cerr(err, -errno, path, "%s", strerror(errno));
    uint8_t *buf = calloc(1, VHDX_MiB);
    uint64_t *bat = NULL;
    if (!buf) {
        rc = cerr(err, -ENOMEM, path, "%s", "out of memory");
        goto fail;
    }
    if (ftruncate(fd, (off_t)file_size) < 0) {
        rc = cerr(err, -errno, path, "%s", strerror(errno));
        goto fail;
    }
    if (p.fixed && fallocate(fd, 0, (off_t)data_start, (off_t)(file_size - data_start)) < 0 &&
        errno == ENOSPC) {
        rc = cerr(err, -ENOSPC, path, "%s", "no space for a fixed image");
        goto fail;
    }
    /* file identifier */
    memcpy(buf, "vhdxfile", 8);
    vhdx_utf8_to_utf16("Viridian", buf + 8, 512);
    if ((rc = write_all(fd, buf, 64 * 1024, 0, path, err)) < 0)
        goto fail;
    /* headers: the same content in both slots, sequence 1 and 2 */
    struct vhdx_header h = { .seq = 1, .version = 1, .log_length = (uint32_t)log_len,
                             .log_offset = log_off };
    vhdx_guid_random(&h.file_write_guid);
    vhdx_guid_random(&h.data_write_guid);
    for (int i = 0; i < 2; i++, h.seq++) {
        vhdx_header_build(&h, buf);
        if ((rc = write_all(fd, buf, VHDX_HEADER_SIZE, i ? VHDX_HEADER2_OFF : VHDX_HEADER1_OFF,
                            path, err)) < 0)
            goto fail;
    }
    vhdx_region_build(&r, buf);
    if ((rc = write_all(fd, buf, VHDX_REGION_SIZE, VHDX_REGION1_OFF, path, err)) < 0 ||
        (rc = write_all(fd, buf, VHDX_REGION_SIZE, VHDX_REGION2_OFF, path, err)) < 0)
        goto fail;
    struct vhdx_create_meta cm = {
        .block_size = g.block_size, .leave_allocated = p.fixed, .has_parent = p.diff,
        .virtual_size = g.virtual_size, .logical_sector = g.logical_sector,
        .physical_sector = p.physical, .page83 = p.page83, .linkage = &p.linkage,
        .relative_path = p.rel, .absolute_path = p.abs,
    };
    if (vhdx_metadata_build(&cm, buf, VHDX_MiB) < 0) {
        rc = cerr(err, -ENAMETOOLONG, path, "%s", "parent path too long for the locator");
        goto fail;
    }
    if ((rc = write_all(fd, buf, VHDX_MiB, r.meta_offset, path, err)) < 0)
        goto fail;
    if (p.fixed) {
        bat = calloc(1, bat_bytes);
        if (!bat) {
            rc = cerr(err, -ENOMEM, path, "%s", "out of memory");
            goto fail;
        }
        for (uint64_t b = 0; b < g.payload_blocks; b++)
            vhdx_put64(&bat[vhdx_bat_payload_index(&g, b)],
                       vhdx_bat_make(VHDX_PAYLOAD_FULLY_PRESENT, data_start + b * g.block_size));
        if ((rc = write_all(fd, bat, bat_bytes, r.bat_offset, path, err)) < 0)
            goto fail;
    }
    if (fsync(fd) < 0) {
        rc = cerr(err, -errno, path, "fsync: %s", strerror(errno));
        goto fail;
    }
    free(bat);
    free(buf);
    close(fd);
    return 0;
fail:
    free(bat);
    free(buf);
    close(fd);
    unlink(path);
    return rc;
}
