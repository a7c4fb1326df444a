/* SCSI direct-access target over the disk library (see scsi_disk.h). Command set: what
 * Linux 6.1's scsi scan and sd send to a Hyper-V "Msft Virtual Disk" (reference §7a). */
#include "vsp/scsi_disk.h"
#include "vsp/scsi_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk/disk.h"
#include "vsp/scsi_aio.h"

#define MAX_UNMAP_DESCS 256u
#define MAX_UNMAP_BLOCKS 0x400000u
#define MAX_WS_BLOCKS 0xFFFFu
#define WS_CHUNK (256u << 10)

void scsi_set_sense(struct scsi_cmd *c, uint8_t key, uint8_t asc, uint8_t ascq)
{
    memset(c->sense, 0, sizeof(c->sense));
    c->sense[0] = 0x70; /* current error, fixed format */
    c->sense[2] = key;
    c->sense[7] = SCSI_SENSE_LEN - 8;
    c->sense[12] = asc;
    c->sense[13] = ascq;
    c->sense_len = SCSI_SENSE_LEN;
    c->status = SCSI_STATUS_CHECK_CONDITION;
    c->xfer = 0;
}

void scsi_invalid_field(struct scsi_cmd *c)
{
    scsi_set_sense(c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_CDB, 0);
}

void scsi_reply(struct scsi_cmd *c, const void *data, uint32_t n, uint32_t alloc)
{
    if (n > alloc)
        n = alloc;
    if (n > c->buf_len)
        n = c->buf_len;
    memcpy(c->buf, data, n);
    c->xfer = n;
}

void scsi_disk_init(struct scsi_disk *sd, struct disk *d, unsigned flags, uint32_t id,
                    uint32_t max_xfer)
{
    memset(sd, 0, sizeof(*sd));
    sd->disk = d;
    sd->cdrom = flags & SCSI_DISK_CDROM;
    sd->ro = sd->cdrom || (flags & SCSI_DISK_RO);
    sd->max_xfer = max_xfer;
    if (sd->cdrom) { /* 2048-byte blocks, whatever the image's sectors */
        sd->block_size = 2048;
        sd->no_medium = !d;
        sd->nblocks = d ? d->info.virtual_size / 2048 : 0;
    } else {
        sd->block_size = d->info.logical_sector_size == 4096 ? 4096 : 512;
        uint32_t phys = d->info.physical_sector_size;
        while (phys > sd->block_size && (sd->block_size << (sd->phys_exp + 1)) <= phys &&
               sd->phys_exp < 4)
            sd->phys_exp++;
        sd->nblocks = d->info.virtual_size / sd->block_size;
        sd->unmap = !sd->ro && d->fmt && d->fmt->discard;
    }
    snprintf(sd->serial, sizeof(sd->serial), "VIRIDIAN%08X", id);
    /* NAA 6 (IEEE registered extended), OUI 00-15-5D (Microsoft), then the id */
    sd->naa[0] = 0x60;
    sd->naa[1] = 0x01;
    sd->naa[2] = 0x55;
    sd->naa[3] = 0xD0;
    memcpy(sd->naa + 4, "VIRIDIAN", 8);
    put_be32(sd->naa + 12, id);
}

static void inquiry_standard(struct scsi_cmd *c, uint8_t pdt, uint32_t alloc)
{
    uint8_t r[36] = { 0 };
    r[0] = pdt;
    r[1] = pdt == 0x05 ? 0x80 : 0; /* RMB: a DVD drive has removable media */
    r[2] = 0x05; /* SPC-3 */
    r[3] = 0x02; /* response data format 2 */
    r[4] = sizeof(r) - 5;
    r[7] = 0x02; /* CmdQue */
    memcpy(r + 8, "Msft    ", 8);
    memcpy(r + 16, pdt == 0x05 ? "Virtual DVD-ROM " : "Virtual Disk    ", 16);
    memcpy(r + 32, "1.0 ", 4);
    scsi_reply(c, r, sizeof(r), alloc);
}

void scsi_inquiry_no_lun(struct scsi_cmd *c)
{
    c->status = SCSI_STATUS_GOOD;
    c->sense_len = 0;
    if (c->cdb[1] & 1) { /* no VPD for a LUN that is not there */
        scsi_invalid_field(c);
        return;
    }
    inquiry_standard(c, 0x7F, get_be16(c->cdb + 3));
}

void scsi_report_luns(struct scsi_cmd *c, const uint16_t *luns, unsigned n)
{
    uint8_t r[8 + 8 * 256] = { 0 };
    c->status = SCSI_STATUS_GOOD;
    c->sense_len = 0;
    if (n > 256)
        n = 256;
    put_be32(r, 8 * n);
    for (unsigned i = 0; i < n; i++) {
        r[8 + 8 * i] = (uint8_t)((luns[i] >> 8) & 0x3F);
        r[8 + 8 * i + 1] = (uint8_t)luns[i];
    }
    scsi_reply(c, r, 8 + 8 * n, get_be32(c->cdb + 6));
}

static void inquiry_vpd(struct scsi_disk *sd, struct scsi_cmd *c, uint8_t page, uint32_t alloc)
{
    uint8_t r[64] = { 0 };
    uint32_t n;
    r[1] = page;
    switch (page) {
    case 0x00: {
        static const uint8_t pages[] = { 0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2 };
        n = sd->cdrom ? 3 : sizeof(pages); /* block device pages only for disks */
        memcpy(r + 4, pages, n);
        n += 4;
        break;
    }
    case 0x80: {
        size_t len = strlen(sd->serial);
        memcpy(r + 4, sd->serial, len);
        n = 4 + (uint32_t)len;
        break;
    }
    case 0x83:
        r[4] = 0x01; /* binary, association: logical unit */
        r[5] = 0x03; /* NAA */
        r[7] = 16;
        memcpy(r + 8, sd->naa, 16);
        n = 8 + 16;
        break;
    case 0xB0: /* block limits */
        if (sd->cdrom) {
            scsi_invalid_field(c);
            return;
        }
        {
        uint32_t bs = sd->block_size;
        r[4] = 0x01; /* WSNZ: WRITE SAME with 0 blocks is refused */
        put_be32(r + 8, sd->max_xfer / bs);
        put_be32(r + 12, sd->max_xfer / bs);
        if (sd->unmap) {
            put_be32(r + 20, MAX_UNMAP_BLOCKS);
            put_be32(r + 24, MAX_UNMAP_DESCS);
            put_be32(r + 28, 4096 / bs); /* optimal unmap granularity */
        }
        put_be64(r + 36, MAX_WS_BLOCKS);
        n = 64;
        break;
        }
    case 0xB1: /* block device characteristics */
        if (sd->cdrom) {
            scsi_invalid_field(c);
            return;
        }
        put_be16(r + 4, 1); /* non-rotating */
        n = 64;
        break;
    case 0xB2: /* logical block provisioning */
        if (sd->cdrom) {
            scsi_invalid_field(c);
            return;
        }
        r[5] = sd->unmap ? 0x80 : 0; /* LBPU */
        r[6] = sd->unmap ? 0x02 : 0; /* thin provisioned */
        n = 8;
        break;
    default:
        scsi_invalid_field(c);
        return;
    }
    put_be16(r + 2, (uint16_t)(n - 4));
    scsi_reply(c, r, n, alloc);
}

static void inquiry(struct scsi_disk *sd, struct scsi_cmd *c)
{
    uint32_t alloc = get_be16(c->cdb + 3);
    if (c->cdb[1] & 1)
        inquiry_vpd(sd, c, c->cdb[2], alloc);
    else if (c->cdb[2])
        scsi_invalid_field(c);
    else
        inquiry_standard(c, sd->cdrom ? 0x05 : 0x00, alloc);
}

static void read_capacity10(struct scsi_disk *sd, struct scsi_cmd *c)
{
    uint8_t r[8];
    uint64_t last = sd->nblocks ? sd->nblocks - 1 : 0;
    put_be32(r, last > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)last);
    put_be32(r + 4, sd->block_size);
    scsi_reply(c, r, sizeof(r), sizeof(r));
}

static void read_capacity16(struct scsi_disk *sd, struct scsi_cmd *c)
{
    uint8_t r[32] = { 0 };
    put_be64(r, sd->nblocks ? sd->nblocks - 1 : 0);
    put_be32(r + 8, sd->block_size);
    r[13] = (uint8_t)sd->phys_exp;
    if (sd->unmap)
        r[14] = 0x80; /* LBPME */
    scsi_reply(c, r, sizeof(r), get_be32(c->cdb + 10));
}

/* MODE SENSE(6)/(10): caching page (WCE, so Linux sends SYNCHRONIZE CACHE), control
 * page, or both (0x3F). No MODE SELECT: the changeable values are all zero. */
static void mode_sense(struct scsi_disk *sd, struct scsi_cmd *c, bool ten)
{
    uint8_t r[128] = { 0 };
    uint8_t pc = c->cdb[2] >> 6, page = c->cdb[2] & 0x3F, sub = c->cdb[3];
    bool dbd = c->cdb[1] & 0x08;
    uint32_t alloc = ten ? get_be16(c->cdb + 7) : c->cdb[4];
    uint32_t hdr = ten ? 8 : 4, n = hdr;

    if (pc == 3) {
        scsi_set_sense(c, SENSE_ILLEGAL_REQUEST, ASC_SAVING_NOT_SUPP, 0);
        return;
    }
    bool cd = sd->cdrom;
    if ((cd ? page != 0x2A : page != 0x08 && page != 0x0A) && page != 0x3F) {
        scsi_invalid_field(c);
        return;
    }
    if (sub && !(page == 0x3F && sub == 0xFF)) {
        scsi_invalid_field(c);
        return;
    }
    if (!dbd) {
        uint64_t nb = sd->nblocks > 0xFFFFFF ? 0xFFFFFF : sd->nblocks;
        r[n + 1] = (uint8_t)(nb >> 16);
        r[n + 2] = (uint8_t)(nb >> 8);
        r[n + 3] = (uint8_t)nb;
        put_be32(r + n + 4, sd->block_size & 0xFFFFFF);
        n += 8;
    }
    if (cd) { /* MM capabilities: reads CD and DVD, tray with lock and eject */
        r[n] = 0x2A;
        r[n + 1] = 0x12;
        if (pc != 1) {
            r[n + 2] = 0x08;           /* DVD-ROM read */
            r[n + 6] = 0x29;           /* tray loading, eject, lock */
            put_be16(r + n + 8, 4 * 1385); /* max read speed: 4x DVD, kB/s */
            put_be16(r + n + 14, 4 * 1385);
        }
        n += 20;
    }
    if (!cd && (page == 0x08 || page == 0x3F)) {
        r[n] = 0x08;
        r[n + 1] = 0x12;
        if (pc != 1)
            r[n + 2] = 0x04; /* WCE */
        n += 20;
    }
    if (!cd && (page == 0x0A || page == 0x3F)) {
        r[n] = 0x0A;
        r[n + 1] = 0x0A;
        n += 12;
    }
    uint8_t dsp = sd->ro ? 0x80 : 0; /* WP */
    if (ten) {
        put_be16(r, (uint16_t)(n - 2));
        r[3] = dsp;
        put_be16(r + 6, dbd ? 0 : 8);
    } else {
        r[0] = (uint8_t)(n - 1);
        r[2] = dsp;
        r[3] = dbd ? 0 : 8;
    }
    scsi_reply(c, r, n, alloc);
}

/* A failed write: MEDIUM ERROR, marked retryable when the host ran out of space. */
static void write_failed(struct scsi_cmd *c, int rc)
{
    scsi_set_sense(c, SENSE_MEDIUM_ERROR, ASC_WRITE_ERROR, 0);
    c->no_space = rc == -ENOSPC || rc == -EDQUOT;
}

/* Checks [lba, lba+n) against the disk; false with sense set if out of range. */
static bool lba_ok(struct scsi_disk *sd, struct scsi_cmd *c, uint64_t lba, uint64_t n)
{
    if (lba > sd->nblocks || n > sd->nblocks - lba) {
        scsi_set_sense(c, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
        return false;
    }
    return true;
}

static bool writable(struct scsi_disk *sd, struct scsi_cmd *c)
{
    if (sd->ro) {
        scsi_set_sense(c, SENSE_DATA_PROTECT, ASC_WRITE_PROTECTED, 0);
        return false;
    }
    return true;
}

/* Disk I/O of the synchronous commands: through the target's engine when it has one
 * (the engine must see every I/O on its disk), else straight to the disk library. */
static int sd_io(struct scsi_disk *sd, enum disk_aio_op op, uint64_t off, void *buf,
                 uint64_t len)
{
    if (sd->aio)
        return scsi_aio_run(sd->aio, op, off, buf, len);
    switch (op) {
    case DISK_AIO_READ: return disk_read(sd->disk, off, buf, len);
    case DISK_AIO_WRITE: return disk_write(sd->disk, off, buf, len);
    case DISK_AIO_FLUSH: return disk_flush(sd->disk);
    case DISK_AIO_DISCARD: return disk_discard(sd->disk, off, len);
    }
    return -EINVAL;
}

void scsi_io_done(struct scsi_cmd *c, const struct scsi_io *io, int rc)
{
    c->status = SCSI_STATUS_GOOD;
    c->sense_len = 0;
    c->xfer = 0;
    c->no_space = false;
    if (rc && io->op == SCSI_IO_READ)
        scsi_set_sense(c, SENSE_MEDIUM_ERROR, ASC_UNRECOVERED_READ, 0);
    else if (rc)
        write_failed(c, rc);
    else if (io->op != SCSI_IO_FLUSH)
        c->xfer = io->bytes;
}

/* READ/WRITE of n blocks at lba: 1 with *io set, 0 with c complete. */
static int decode_rw(struct scsi_disk *sd, struct scsi_cmd *c, uint64_t lba, uint32_t n,
                     bool write, bool fua, struct scsi_io *io)
{
    if (!lba_ok(sd, c, lba, n))
        return 0;
    if (write && !writable(sd, c))
        return 0;
    uint64_t bytes = (uint64_t)n * sd->block_size;
    if (bytes > c->buf_len || bytes > sd->max_xfer || (write && bytes && !c->data_out)) {
        scsi_invalid_field(c);
        return 0;
    }
    if (!n)
        return 0;
    io->op = write ? SCSI_IO_WRITE : SCSI_IO_READ;
    io->offset = lba * sd->block_size;
    io->bytes = (uint32_t)bytes;
    io->fua = write && fua;
    return 1;
}

/* CDB length by group code (SPC-3 4.3.2); 0 = vendor/reserved. */
static unsigned cdb_len_for(uint8_t op)
{
    static const uint8_t by_group[8] = { 6, 10, 10, 0, 16, 12, 0, 0 };
    return by_group[op >> 5];
}

int scsi_disk_decode_io(struct scsi_disk *sd, struct scsi_cmd *c, struct scsi_io *io)
{
    const uint8_t *cdb = c->cdb;
    uint8_t op = cdb[0];
    if (!cdb_len_for(op) || c->cdb_len < cdb_len_for(op))
        return -1;
    c->status = SCSI_STATUS_GOOD;
    c->sense_len = 0;
    c->xfer = 0;
    c->no_space = false;
    memset(io, 0, sizeof(*io));
    switch (op) {
    case 0x08: case 0x0A: {
        uint32_t n = cdb[4] ? cdb[4] : 256;
        return decode_rw(sd, c, (uint32_t)(cdb[1] & 0x1F) << 16 | get_be16(cdb + 2), n,
                         op == 0x0A, false, io);
    }
    case 0x28: case 0x2A:
        return decode_rw(sd, c, get_be32(cdb + 2), get_be16(cdb + 7), op == 0x2A,
                         cdb[1] & 0x08, io);
    case 0xA8: case 0xAA:
        return decode_rw(sd, c, get_be32(cdb + 2), get_be32(cdb + 6), op == 0xAA,
                         cdb[1] & 0x08, io);
    case 0x88: case 0x8A:
        return decode_rw(sd, c, get_be64(cdb + 2), get_be32(cdb + 10), op == 0x8A,
                         cdb[1] & 0x08, io);
    case 0x35: case 0x91: /* SYNCHRONIZE CACHE(10)/(16): the whole cache, always */
        if (sd->ro)
            return 0;
        io->op = SCSI_IO_FLUSH;
        return 1;
    default:
        return -1;
    }
}

/* A decoded command run here, on c->buf. */
static void run_io(struct scsi_disk *sd, struct scsi_cmd *c, const struct scsi_io *io)
{
    int rc;
    if (io->op == SCSI_IO_FLUSH) {
        rc = sd_io(sd, DISK_AIO_FLUSH, 0, NULL, 0);
    } else if (io->op == SCSI_IO_WRITE) {
        rc = sd_io(sd, DISK_AIO_WRITE, io->offset, c->buf, io->bytes);
        if (!rc && io->fua)
            rc = sd_io(sd, DISK_AIO_FLUSH, 0, NULL, 0);
    } else {
        rc = sd_io(sd, DISK_AIO_READ, io->offset, c->buf, io->bytes);
    }
    scsi_io_done(c, io, rc);
}

static void unmap(struct scsi_disk *sd, struct scsi_cmd *c)
{
    uint32_t plen = get_be16(c->cdb + 7);
    if (!writable(sd, c))
        return;
    if (plen > c->buf_len || (plen && !c->data_out)) {
        scsi_invalid_field(c);
        return;
    }
    if (plen < 8)
        return; /* nothing to do */
    uint32_t dlen = get_be16(c->buf + 2);
    if (dlen > plen - 8 || dlen % 16 || dlen / 16 > MAX_UNMAP_DESCS) {
        scsi_set_sense(c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_PARM, 0);
        return;
    }
    /* check all before discarding any */
    for (uint32_t i = 0; i < dlen; i += 16) {
        const uint8_t *d = c->buf + 8 + i;
        if (!lba_ok(sd, c, get_be64(d), get_be32(d + 8)))
            return;
    }
    for (uint32_t i = 0; i < dlen; i += 16) {
        const uint8_t *d = c->buf + 8 + i;
        uint64_t n = get_be32(d + 8);
        if (n && sd_io(sd, DISK_AIO_DISCARD, get_be64(d) * sd->block_size, NULL,
                       n * sd->block_size)) {
            scsi_set_sense(c, SENSE_MEDIUM_ERROR, ASC_WRITE_ERROR, 0);
            return;
        }
    }
    c->xfer = plen;
}

/* WRITE SAME: the one block of data repeated n times (written, never just discarded:
 * discard is advisory in the disk library, so it cannot promise zeroes). */
static void write_same(struct scsi_disk *sd, struct scsi_cmd *c, uint64_t lba, uint32_t n)
{
    uint32_t bs = sd->block_size;
    if (!lba_ok(sd, c, lba, n) || !writable(sd, c))
        return;
    if (!n || n > MAX_WS_BLOCKS || c->buf_len < bs || !c->data_out || (c->cdb[1] & 0x06)) {
        scsi_invalid_field(c);
        return;
    }
    uint32_t per = WS_CHUNK / bs;
    uint8_t *chunk = malloc(WS_CHUNK);
    if (!chunk) {
        scsi_set_sense(c, SENSE_MEDIUM_ERROR, ASC_WRITE_ERROR, 0);
        return;
    }
    for (uint32_t i = 0; i < per; i++)
        memcpy(chunk + (size_t)i * bs, c->buf, bs);
    for (uint32_t done = 0; done < n;) {
        uint32_t k = n - done < per ? n - done : per;
        int rc = sd_io(sd, DISK_AIO_WRITE, (lba + done) * bs, chunk, (uint64_t)k * bs);
        if (rc) {
            free(chunk);
            write_failed(c, rc);
            return;
        }
        done += k;
    }
    free(chunk);
    c->xfer = bs;
}

static void request_sense(struct scsi_disk *sd, struct scsi_cmd *c)
{
    uint8_t r[SCSI_SENSE_LEN] = { 0x70, 0, SENSE_NO_SENSE, 0, 0, 0, 0, SCSI_SENSE_LEN - 8 };
    if (sd->no_medium) {
        r[2] = SENSE_NOT_READY;
        r[12] = ASC_NO_MEDIUM;
    }
    scsi_reply(c, r, sizeof(r), c->cdb[4]);
}

void scsi_disk_exec(struct scsi_disk *sd, struct scsi_cmd *c)
{
    const uint8_t *cdb = c->cdb;
    uint8_t op = cdb[0];

    c->status = SCSI_STATUS_GOOD;
    c->sense_len = 0;
    c->xfer = 0;
    c->no_space = false;
    if (!cdb_len_for(op) || c->cdb_len < cdb_len_for(op)) {
        scsi_set_sense(c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0);
        return;
    }
    if (sd->cdrom && (!scsi_cdrom_ready(sd, c) || scsi_cdrom_exec(sd, c)))
        return;
    struct scsi_io io;
    int k = scsi_disk_decode_io(sd, c, &io);
    if (k >= 0) {
        if (k)
            run_io(sd, c, &io);
        return;
    }
    switch (op) {
    case 0x00: /* TEST UNIT READY */
    case 0x1B: /* START STOP UNIT */
    case 0x1E: /* PREVENT ALLOW MEDIUM REMOVAL */
        return;
    case 0x03: request_sense(sd, c); return;
    case 0x12: inquiry(sd, c); return;
    case 0x1A: mode_sense(sd, c, false); return;
    case 0x5A: mode_sense(sd, c, true); return;
    case 0x25: read_capacity10(sd, c); return;
    case 0x9E:
        if ((cdb[1] & 0x1F) == 0x10)
            read_capacity16(sd, c);
        else
            scsi_invalid_field(c);
        return;
    case 0x2F: /* VERIFY(10): the data is what it is; check the range */
        lba_ok(sd, c, get_be32(cdb + 2), get_be16(cdb + 7));
        return;
    case 0x8F: /* VERIFY(16) */
        lba_ok(sd, c, get_be64(cdb + 2), get_be32(cdb + 10));
        return;
    case 0x42:
        if (sd->unmap)
            unmap(sd, c);
        else
            scsi_set_sense(c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0);
        return;
    case 0x41: write_same(sd, c, get_be32(cdb + 2), get_be16(cdb + 7)); return;
    case 0x93: write_same(sd, c, get_be64(cdb + 2), get_be32(cdb + 10)); return;
    default:
        scsi_set_sense(c, SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0);
        return;
    }
}
