/* VHDX headers (two slots, sequence numbers, update protocol) and region table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk/vhdx.h"
#include "disk/vhdx_internal.h"

void (*vhdx_crash_point)(const char *where, int fd, uint64_t off, uint64_t len);

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

int vhdx_headers_load(struct disk *d)
{
    struct vhdx *v = vhdx_of(d);
    uint8_t raw[2][VHDX_HEADER_SIZE];
    struct vhdx_header h[2];
    bool ok[2];
    for (int i = 0; i < 2; i++) {
        int rc = raw_pread_zero_eof(d->fd, raw[i], VHDX_HEADER_SIZE, i ? VHDX_HEADER2_OFF : VHDX_HEADER1_OFF);
        if (rc < 0)
            return vhdx_err(d, rc, "cannot read the headers: %s", strerror(-rc));
        ok[i] = vhdx_header_parse(raw[i], &h[i]) == 0;
    }
    int slot = vhdx_header_choose(ok[0] ? &h[0] : NULL, raw[0], ok[1] ? &h[1] : NULL, raw[1]);
    if (slot < 0)
        return vhdx_err(d, -EINVAL, ok[0] ? "both headers have sequence number %llu but differ"
                                          : "no valid VHDX header (bad signature or checksum)",
                        (unsigned long long)h[0].seq);
    v->hdr = h[slot];
    v->hdr_slot = slot;
    const struct vhdx_header *c = &v->hdr;
    if (c->log_version != 0)
        return vhdx_err(d, -ENOTSUP, "unsupported log version %u", c->log_version);
    if (c->log_offset % VHDX_MiB || c->log_length % VHDX_MiB ||
        (c->log_length && c->log_offset < VHDX_MiB) || c->log_offset > VHDX_MAX_SIZE * 4)
        return vhdx_err(d, -EINVAL, "log region %llu+%u is misaligned or inside the header area",
                        (unsigned long long)c->log_offset, c->log_length);
    return 0;
}

int vhdx_headers_write(struct disk *d)
{
    struct vhdx *v = vhdx_of(d);
    uint8_t buf[VHDX_HEADER_SIZE];
    for (int i = 0; i < 2; i++) {
        int slot = 1 - v->hdr_slot;
        if (i && vhdx_crash_point)
            vhdx_crash_point("header", d->fd, 0, 0);
        v->hdr.seq++;
        vhdx_header_build(&v->hdr, buf);
        if (vhdx_crash_point)
            vhdx_crash_point("write", d->fd, slot ? VHDX_HEADER2_OFF : VHDX_HEADER1_OFF, sizeof(buf));
        int rc = raw_pwrite_full(d->fd, buf, sizeof(buf), slot ? VHDX_HEADER2_OFF : VHDX_HEADER1_OFF);
        if (rc < 0)
            return vhdx_err(d, rc, "cannot write header %d: %s", slot + 1, strerror(-rc));
        rc = vhdx_sync(d);
        if (rc < 0)
            return rc;
        v->hdr_slot = slot;
    }
    return 0;
}

int vhdx_begin_change(struct disk *d, bool data)
{
    struct vhdx *v = vhdx_of(d);
    if (v->session && (!data || v->data_session))
        return 0;
    if (v->hdr.log_length < 2 * VHDX_LOG_SECTOR)
        return vhdx_err(d, -ENOTSUP, "the image has no log region; it cannot be modified safely");
    if (!v->session)
        vhdx_guid_random(&v->hdr.file_write_guid);
    if (data)
        vhdx_guid_random(&v->hdr.data_write_guid);
    int rc = vhdx_headers_write(d);
    if (rc == 0) {
        v->session = true;
        v->data_session |= data;
    }
    return rc;
}

int vhdx_begin_write(struct disk *d)
{
    return vhdx_begin_change(d, true);
}

int vhdx_regions_load(struct disk *d)
{
    struct vhdx *v = vhdx_of(d);
    uint8_t *buf = malloc(VHDX_REGION_SIZE);
    char why[2][160];
    int rc = -ENOMEM;
    if (!buf)
        return vhdx_err(d, -ENOMEM, "out of memory");
    for (int i = 0; i < 2; i++) {
        rc = vhdx_meta_pread(d, buf, VHDX_REGION_SIZE, i ? VHDX_REGION2_OFF : VHDX_REGION1_OFF);
        if (rc < 0)
            break;
        rc = vhdx_region_parse(buf, &v->reg, why[i], sizeof(why[i]));
        if (rc == 0 || rc == -ENOTSUP)
            break;
    }
    free(buf);
    if (rc == -ENOTSUP)
        return vhdx_err(d, rc, "%s", why[0]);
    if (rc < 0)
        return vhdx_err(d, rc, "region table 1: %s; region table 2: %s", why[0], why[1]);
    const struct vhdx_regions *r = &v->reg;
    uint64_t lo = v->hdr.log_offset, ll = v->hdr.log_length;
    if (ranges_overlap(lo, ll, r->bat_offset, r->bat_length) ||
        ranges_overlap(lo, ll, r->meta_offset, r->meta_length))
        return vhdx_err(d, -EINVAL, "the log region overlaps the %s region",
                        ranges_overlap(lo, ll, r->bat_offset, r->bat_length) ? "BAT" : "metadata");
    return 0;
}
