/* Creating VHD images.
 *
 * Size and geometry, chosen as Hyper-V does: the virtual size is exactly the size asked
 * for (a multiple of 512 bytes; we do not round it to a CHS product as qemu-img does),
 * stored as both original and current size; the CHS fields carry the spec's geometry
 * (whose product may be a little smaller). Readers that size a VHD by CHS would see a
 * smaller disk, and qemu < 10 does that unless the creator application is one it trusts
 * ("win ", "qem2", ...). So we write creator application "win " (what Hyper-V writes),
 * creator version 10.0 and host OS "Wi2k": every reader then agrees on the size. The
 * image's origin is not recorded; nothing reads it except for this size decision.
 *
 * Layout of dynamic and differencing images: footer copy, dynamic header at 512, BAT at
 * 1536 (padded with 0xFF to a sector), for differencing images the two parent locators
 * (VHD_LOCATOR_SPACE bytes each), then the footer; data blocks are appended later. Fixed
 * images are fully allocated (fallocate), because Windows refuses sparse VHD files. */
#include "disk/raw.h"
#include "disk/vhd_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VHD_CREATOR_APP     "win "
#define VHD_CREATOR_VERSION 0x000a0000u
#define VHD_CREATOR_OS      0x5769326Bu /* "Wi2k" */

static void init_footer(struct vhd_footer *f, uint64_t size, uint32_t type)
{
    memset(f, 0, sizeof(*f));
    memcpy(f->cookie, "conectix", 8);
    f->features = 2;
    f->version = 0x00010000;
    f->data_offset = type == VHD_TYPE_FIXED ? ~0ull : VHD_FOOTER_SIZE;
    f->timestamp = vhd_time_now();
    memcpy(f->creator_app, VHD_CREATOR_APP, 4);
    f->creator_version = VHD_CREATOR_VERSION;
    f->creator_os = VHD_CREATOR_OS;
    f->original_size = f->current_size = size;
    vhd_chs(size, &f->cylinders, &f->heads, &f->sectors_per_track);
    f->disk_type = type;
    vhd_uuid_generate(f->uuid);
}

static int create_fixed(int fd, struct vhd_footer *f, char *err)
{
    uint8_t buf[VHD_FOOTER_SIZE];
    vhd_footer_encode(f, buf);
    if (ftruncate(fd, (off_t)f->current_size) < 0 ||
        (fallocate(fd, 0, 0, (off_t)f->current_size) < 0 && errno != EOPNOTSUPP)) {
        snprintf(err, DISK_ERR_LEN, "%s", strerror(errno));
        return -errno;
    }
    int rc = raw_pwrite_full(fd, buf, sizeof(buf), f->current_size);
    if (rc)
        snprintf(err, DISK_ERR_LEN, "writing the footer: %s", strerror(-rc));
    return rc;
}

static int create_sparse(int fd, const char *path, struct vhd_footer *f, uint32_t bs,
                         struct disk *parent, char *err)
{
    struct vhd_header h;
    uint64_t entries = (f->current_size + bs - 1) / bs;
    uint64_t bat_bytes = (entries * 4 + VHD_SECTOR - 1) / VHD_SECTOR * VHD_SECTOR;
    uint64_t end = VHD_FOOTER_SIZE + VHD_HEADER_SIZE + bat_bytes;
    int rc;

    memset(&h, 0, sizeof(h));
    memcpy(h.cookie, "cxsparse", 8);
    h.data_offset = ~0ull;
    h.table_offset = VHD_FOOTER_SIZE + VHD_HEADER_SIZE;
    h.version = 0x00010000;
    h.max_table_entries = (uint32_t)entries;
    h.block_size = bs;
    if (parent) {
        rc = vhd_link_parent(fd, &h, path, parent->path,
                             &((const struct vhd *)parent->priv)->footer, end, err);
        if (rc)
            return rc;
        end += 2 * VHD_LOCATOR_SPACE;
    }
    uint8_t *bat = malloc(bat_bytes);
    if (!bat) {
        snprintf(err, DISK_ERR_LEN, "out of memory");
        return -ENOMEM;
    }
    memset(bat, 0xFF, bat_bytes);
    uint8_t fb[VHD_FOOTER_SIZE], hb[VHD_HEADER_SIZE];
    vhd_footer_encode(f, fb);
    vhd_header_encode(&h, hb);
    if (!(rc = raw_pwrite_full(fd, bat, bat_bytes, h.table_offset)) &&
        !(rc = raw_pwrite_full(fd, hb, sizeof(hb), VHD_FOOTER_SIZE)) &&
        !(rc = raw_pwrite_full(fd, fb, sizeof(fb), end)))
        rc = raw_pwrite_full(fd, fb, sizeof(fb), 0);
    free(bat);
    if (rc)
        snprintf(err, DISK_ERR_LEN, "writing: %s", strerror(-rc));
    return rc;
}

int vhd_create(const char *path, const struct disk_create_opts *opts, char *err)
{
    char why[DISK_ERR_LEN] = "";
    struct disk *parent = NULL;
    uint64_t size = opts->size;
    uint32_t bs = opts->block_size;
    uint32_t type = opts->type == DISK_TYPE_FIXED ? VHD_TYPE_FIXED : VHD_TYPE_DYNAMIC;
    int rc;

    if (opts->logical_sector_size && opts->logical_sector_size != VHD_SECTOR) {
        snprintf(err, DISK_ERR_LEN, "%s: VHD images have 512-byte sectors only", path);
        return -EINVAL;
    }
    if (opts->parent) {
        rc = disk_open(opts->parent, DISK_FORMAT_AUTO, DISK_OPEN_RDONLY, &parent, err);
        if (rc)
            return rc;
        if (parent->info.format != DISK_FORMAT_VHD) {
            snprintf(err, DISK_ERR_LEN, "%s: the parent of a VHD must be a VHD", opts->parent);
            disk_close(parent);
            return -EINVAL;
        }
        type = VHD_TYPE_DIFF;
        size = parent->info.virtual_size;
        if (!bs)
            bs = parent->info.block_size;
    }
    if (!bs)
        bs = VHD_DEFAULT_BLOCK;
    if (size == 0 || size % VHD_SECTOR || size > VHD_MAX_SIZE) {
        snprintf(err, DISK_ERR_LEN, "%s: a VHD's size must be a multiple of 512 bytes from 512 to 2040 GiB",
                 path);
        disk_close(parent);
        return -EINVAL;
    }
    if (type != VHD_TYPE_FIXED && (bs < VHD_SECTOR || (bs & (bs - 1)) || bs > (256u << 20))) {
        snprintf(err, DISK_ERR_LEN, "%s: block size must be a power of two from 512 bytes to 256 MiB",
                 path);
        disk_close(parent);
        return -EINVAL;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, DISK_ERR_LEN, "%s: %s", path, strerror(errno));
        disk_close(parent);
        return rc;
    }
    struct vhd_footer f;
    init_footer(&f, size, type);
    rc = type == VHD_TYPE_FIXED ? create_fixed(fd, &f, why)
                                : create_sparse(fd, path, &f, bs, parent, why);
    if (!rc && !(opts->flags & DISK_CREATE_NO_SYNC) && fsync(fd) < 0) {
        rc = -errno;
        snprintf(why, sizeof(why), "fsync: %s", strerror(errno));
    }
    close(fd);
    disk_close(parent);
    if (rc) {
        snprintf(err, DISK_ERR_LEN, "%.200s: %.300s", path, why);
        unlink(path);
    }
    return rc;
}
