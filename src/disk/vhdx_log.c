/* The VHDX metadata log: building entries, validating them, finding the active
 * sequence (MS-VHDX §2.3.2-2.3.3) and replaying it, into the file (writable open)
 * or into an in-memory overlay (read-only open with DISK_OPEN_NO_REPLAY).
 * Entries are built/checked over a ring held in memory so that all of this is pure
 * and unit-testable; only vhdx_log_open touches the file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk/vhdx.h"
#include "disk/vhdx_crc32c.h"
#include "disk/vhdx_internal.h"

#define LS VHDX_LOG_SECTOR

uint32_t vhdx_log_desc_sectors(uint32_t ndesc)
{
    return (ndesc + 2 + 127) / 128;
}

uint32_t vhdx_log_entry_len(uint32_t npages)
{
    return (vhdx_log_desc_sectors(npages) + npages) * LS;
}

void vhdx_log_entry_build(uint8_t *buf, const struct vhdx_log_page *pages, uint32_t npages,
                          uint64_t seq, uint32_t tail, const struct vhdx_guid *log_guid,
                          uint64_t flushed_file_offset, uint64_t last_file_offset)
{
    uint32_t ndata = 0;
    for (uint32_t i = 0; i < npages; i++)
        ndata += pages[i].data != NULL;
    uint32_t dsec = vhdx_log_desc_sectors(npages);
    uint32_t len = (dsec + ndata) * LS;
    memset(buf, 0, (size_t)dsec * LS);
    memcpy(buf, "loge", 4);
    vhdx_put32(buf + 8, len);
    vhdx_put32(buf + 12, tail);
    vhdx_put64(buf + 16, seq);
    vhdx_put32(buf + 24, npages);
    memcpy(buf + 32, log_guid->b, 16);
    vhdx_put64(buf + 48, flushed_file_offset);
    vhdx_put64(buf + 56, last_file_offset);
    uint8_t *data = buf + (size_t)dsec * LS;
    for (uint32_t i = 0; i < npages; i++) {
        uint8_t *desc = buf + 64 + 32 * (size_t)i;
        const uint8_t *p = pages[i].data;
        if (!p) {
            memcpy(desc, "zero", 4);
            vhdx_put64(desc + 8, LS);
        } else {
            memcpy(desc, "desc", 4);
            memcpy(desc + 4, p + 4092, 4);
            memcpy(desc + 8, p, 8);
            memcpy(data, "data", 4);
            vhdx_put32(data + 4, (uint32_t)(seq >> 32));
            memcpy(data + 8, p + 8, 4084);
            vhdx_put32(data + 4092, (uint32_t)seq);
            data += LS;
        }
        vhdx_put64(desc + 16, pages[i].off);
        vhdx_put64(desc + 24, seq);
    }
    vhdx_put32(buf + 4, crc32c(0, buf, len));
}

/* k-th 4 KiB sector of the entry at pos, wrapping around the ring */
static const uint8_t *sector(const uint8_t *log, uint32_t log_len, uint32_t pos, uint32_t k)
{
    return log + ((uint64_t)pos + (uint64_t)k * LS) % log_len;
}

int vhdx_log_entry_check(const uint8_t *log, uint32_t log_len, uint32_t pos,
                         const struct vhdx_guid *log_guid, struct vhdx_log_entry_info *e)
{
    if (pos % LS || pos >= log_len || log_len % LS)
        return -EINVAL;
    const uint8_t *h = log + pos;
    if (memcmp(h, "loge", 4) != 0)
        return -EINVAL;
    e->length = vhdx_le32(h + 8);
    e->tail = vhdx_le32(h + 12);
    e->seq = vhdx_le64(h + 16);
    e->desc_count = vhdx_le32(h + 24);
    e->flushed_file_offset = vhdx_le64(h + 48);
    e->last_file_offset = vhdx_le64(h + 56);
    if (e->length < LS || e->length % LS || e->length > log_len || e->tail % LS ||
        e->tail >= log_len || e->seq == 0 || memcmp(h + 32, log_guid->b, 16) != 0)
        return -EINVAL;
    uint32_t sectors = e->length / LS;
    if (e->desc_count > sectors * 128u)
        return -EINVAL;
    uint32_t dsec = vhdx_log_desc_sectors(e->desc_count);
    if (dsec > sectors)
        return -EINVAL;
    uint32_t data_idx = dsec;
    for (uint32_t i = 0; i < e->desc_count; i++) {
        uint32_t byte = 64 + 32 * i;
        const uint8_t *desc = sector(log, log_len, pos, byte / LS) + byte % LS;
        if (vhdx_le64(desc + 24) != e->seq || vhdx_le64(desc + 16) % LS)
            return -EINVAL;
        if (memcmp(desc, "zero", 4) == 0) {
            if (vhdx_le64(desc + 8) % LS || vhdx_le32(desc + 4) != 0)
                return -EINVAL;
        } else if (memcmp(desc, "desc", 4) == 0) {
            if (data_idx >= sectors)
                return -EINVAL;
            const uint8_t *ds = sector(log, log_len, pos, data_idx++);
            if (memcmp(ds, "data", 4) != 0 || vhdx_le32(ds + 4) != (uint32_t)(e->seq >> 32) ||
                vhdx_le32(ds + 4092) != (uint32_t)e->seq)
                return -EINVAL;
        } else {
            return -EINVAL;
        }
    }
    uint8_t first[LS];
    memcpy(first, h, LS);
    memset(first + 4, 0, 4);
    uint32_t crc = crc32c(0, first, LS);
    for (uint32_t k = 1; k < sectors; k++)
        crc = crc32c(crc, sector(log, log_len, pos, k), LS);
    return crc == vhdx_le32(h + 4) ? 0 : -EINVAL;
}

int vhdx_log_find(const uint8_t *log, uint32_t log_len, const struct vhdx_guid *log_guid,
                  struct vhdx_log_seq *s)
{
    uint32_t nslots = log_len / LS;
    uint32_t *starts = malloc((nslots ? nslots : 1) * sizeof(*starts));
    bool found = false;
    uint64_t cur_tail = 0, old_tail = 0;
    if (!starts)
        return -ENOMEM;
    memset(s, 0, sizeof(*s));
    if (!nslots || log_len % LS) {
        free(starts);
        return 0;
    }
    for (;;) {
        uint32_t pos = (uint32_t)cur_tail, count = 0;
        uint64_t total = 0;
        struct vhdx_log_entry_info e, head = { 0 };
        uint32_t head_pos = 0;
        while (total < log_len && vhdx_log_entry_check(log, log_len, pos, log_guid, &e) == 0 &&
               (count == 0 || e.seq == head.seq + 1) && total + e.length <= log_len) {
            starts[count++] = pos;
            head = e;
            head_pos = pos;
            total += e.length;
            pos = (uint32_t)(((uint64_t)pos + e.length) % log_len);
        }
        if (count) {
            /* the sequence is valid if the head's tail is one of its entries */
            uint32_t first = count;
            for (uint32_t k = 0; k < count; k++)
                if (starts[k] == head.tail)
                    first = k;
            if (first < count && (!found || head.seq > s->head.seq)) {
                found = true;
                s->tail_pos = head.tail;
                s->head_pos = head_pos;
                s->count = count - first;
                s->head = head;
            }
            cur_tail += total;
        } else {
            cur_tail += LS;
        }
        if (cur_tail >= log_len)
            break;
        if (cur_tail < old_tail)
            break;
        old_tail = cur_tail;
    }
    free(starts);
    return found ? 1 : 0;
}

int vhdx_log_replay(const uint8_t *log, uint32_t log_len, const struct vhdx_log_seq *s,
                    int (*apply)(void *ctx, uint64_t off, const uint8_t *page, uint64_t len),
                    void *ctx)
{
    uint32_t pos = s->tail_pos;
    uint8_t page[LS];
    for (uint32_t n = 0; n < s->count; n++) {
        const uint8_t *h = log + pos;
        uint32_t length = vhdx_le32(h + 8), ndesc = vhdx_le32(h + 24);
        uint32_t data_idx = vhdx_log_desc_sectors(ndesc);
        for (uint32_t i = 0; i < ndesc; i++) {
            uint32_t byte = 64 + 32 * i;
            const uint8_t *desc = sector(log, log_len, pos, byte / LS) + byte % LS;
            uint64_t off = vhdx_le64(desc + 16);
            int rc;
            if (memcmp(desc, "zero", 4) == 0) {
                rc = apply(ctx, off, NULL, vhdx_le64(desc + 8));
            } else {
                const uint8_t *ds = sector(log, log_len, pos, data_idx++);
                memcpy(page, desc + 8, 8);
                memcpy(page + 8, ds + 8, 4084);
                memcpy(page + 4092, desc + 4, 4);
                rc = apply(ctx, off, page, LS);
            }
            if (rc < 0)
                return rc;
        }
        pos = (uint32_t)(((uint64_t)pos + length) % log_len);
    }
    return 0;
}

/* ---- open-time replay ---- */

static int apply_to_file(void *ctx, uint64_t off, const uint8_t *page, uint64_t len)
{
    struct disk *d = ctx;
    static const uint8_t zeros[LS];
    if (off > VHDX_MAX_SIZE * 4 || len > 1024 * VHDX_MiB)
        return vhdx_err(d, -EINVAL, "log entry writes at an absurd offset %llu",
                        (unsigned long long)off);
    if (off < VHDX_REGION1_OFF)
        return vhdx_err(d, -EINVAL, "log entry would overwrite the file identifier or headers");
    for (uint64_t done = 0; done < len; done += LS) {
        if (vhdx_crash_point)
            vhdx_crash_point("replay", d->fd, off + done, LS);
        int rc = raw_pwrite_full(d->fd, page ? page : zeros, LS, off + done);
        if (rc < 0)
            return vhdx_err(d, rc, "log replay: write at %llu: %s",
                            (unsigned long long)(off + done), strerror(-rc));
        if (off + done + LS > vhdx_of(d)->file_size)
            vhdx_of(d)->file_size = off + done + LS;
    }
    return 0;
}

static int apply_to_overlay(void *ctx, uint64_t off, const uint8_t *page, uint64_t len)
{
    struct disk *d = ctx;
    struct vhdx *v = vhdx_of(d);
    if (off > VHDX_MAX_SIZE * 4 || len > 64 * VHDX_MiB || off < VHDX_REGION1_OFF)
        return vhdx_err(d, -EINVAL, "log entry writes at a bad offset %llu",
                        (unsigned long long)off);
    for (uint64_t done = 0; done < len; done += LS) {
        struct vhdx_page *slot = NULL;
        for (size_t i = 0; i < v->noverlay; i++)
            if (v->overlay[i].off == off + done)
                slot = &v->overlay[i];
        if (!slot) {
            struct vhdx_page *n = realloc(v->overlay, (v->noverlay + 1) * sizeof(*n));
            if (!n)
                return vhdx_err(d, -ENOMEM, "out of memory");
            v->overlay = n;
            slot = &v->overlay[v->noverlay++];
            slot->off = off + done;
            slot->data = NULL;
        }
        if (page) {
            if (!slot->data && !(slot->data = malloc(LS)))
                return vhdx_err(d, -ENOMEM, "out of memory");
            memcpy(slot->data, page, LS);
        } else {
            free(slot->data);
            slot->data = NULL;
        }
    }
    return 0;
}

int vhdx_log_open(struct disk *d)
{
    struct vhdx *v = vhdx_of(d);
    const struct vhdx_header *h = &v->hdr;
    if (vhdx_guid_is_zero(&h->log_guid))
        return 0;
    if (h->log_length == 0)
        return vhdx_err(d, -EINVAL, "the header names a log but the log region is empty");
    if (h->log_offset + h->log_length > v->file_size)
        return vhdx_err(d, -EINVAL, "the log region lies beyond the end of the file");
    bool rdonly = d->flags & (DISK_OPEN_RDONLY | DISK_OPEN_NO_REPLAY);
    if (rdonly && !(d->flags & DISK_OPEN_NO_REPLAY))
        return vhdx_err(d, -EROFS,
                        "the image has a pending log (it was not closed cleanly); open it "
                        "read-write once to replay the log");
    uint8_t *log = malloc(h->log_length);
    if (!log)
        return vhdx_err(d, -ENOMEM, "out of memory for the log");
    int rc = raw_pread_zero_eof(d->fd, log, h->log_length, h->log_offset);
    struct vhdx_log_seq s;
    if (rc < 0) {
        rc = vhdx_err(d, rc, "cannot read the log: %s", strerror(-rc));
        goto out;
    }
    rc = vhdx_log_find(log, h->log_length, &h->log_guid, &s);
    if (rc == 0 && (d->flags & DISK_OPEN_CHECK)) {
        /* let check report it; nothing is replayed and nothing may be written */
        v->log_invalid = true;
        d->flags |= DISK_OPEN_RDONLY;
        goto out;
    }
    if (rc <= 0) {
        rc = rc < 0 ? rc : vhdx_err(d, -EINVAL, "the header names a log but it holds no valid entry");
        goto out;
    }
    if (v->file_size < s.head.flushed_file_offset) {
        rc = vhdx_err(d, -EINVAL, "the file is shorter (%llu) than the log says was durable (%llu); "
                      "it was truncated", (unsigned long long)v->file_size,
                      (unsigned long long)s.head.flushed_file_offset);
        goto out;
    }
    if (rdonly) {
        rc = vhdx_log_replay(log, h->log_length, &s, apply_to_overlay, d);
        v->pending_log = true;
        d->flags |= DISK_OPEN_RDONLY;
        goto out;
    }
    rc = vhdx_log_replay(log, h->log_length, &s, apply_to_file, d);
    if (rc < 0)
        goto out;
    if (s.head.last_file_offset > v->file_size && s.head.last_file_offset <= VHDX_MAX_SIZE * 4) {
        rc = vhdx_extend(d, s.head.last_file_offset);
        if (rc < 0)
            goto out;
    }
    rc = vhdx_sync(d);
    if (rc < 0)
        goto out;
    memset(&v->hdr.log_guid, 0, sizeof(v->hdr.log_guid));
    vhdx_guid_random(&v->hdr.file_write_guid);
    rc = vhdx_headers_write(d);
    v->replayed = rc == 0;
out:
    free(log);
    return rc;
}
