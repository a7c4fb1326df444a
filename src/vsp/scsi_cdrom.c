/* The MMC commands a DVD-ROM target needs beyond the block commands (Linux sr/cdrom:
 * READ TOC, GET CONFIGURATION, GET EVENT STATUS NOTIFICATION, ...). The disc is the
 * whole image as one data track; the host can eject it and insert another.
 *
 * Media changes as Linux 6.1's sr sees them (sr_check_events, run when the device is
 * opened - shown by tests/lab/storage_hotplug.sh - and by the block layer's disk-events
 * poll when events_poll_msecs is non-zero, which udev rules commonly set; the poll path
 * is not tested here): it
 * sends GET EVENT STATUS NOTIFICATION (media class; NewMedia/MediaRemoval mean
 * "changed") and TEST UNIT READY (UNIT ATTENTION 28/00 marks the device changed;
 * NOT READY 3A/00 means no disc). So an insert queues a NewMedia event and one UNIT
 * ATTENTION, an eject a MediaRemoval event and NOT READY until the next insert. */
#include <string.h>

#include "disk/disk.h"
#include "vsp/scsi_priv.h"

#define PROFILE_DVD_ROM 0x0010

/* LBA -> MSF (with the 2-second lead-in), as READ TOC reports with MSF=1. */
static void put_msf(uint8_t *p, uint64_t lba)
{
    uint64_t f = lba + 150;
    p[0] = 0;
    p[1] = (uint8_t)(f / (60 * 75) > 255 ? 255 : f / (60 * 75));
    p[2] = (uint8_t)(f / 75 % 60);
    p[3] = (uint8_t)(f % 75);
}

static void put_addr(uint8_t *p, uint64_t lba, bool msf)
{
    if (msf)
        put_msf(p, lba);
    else
        put_be32(p, lba > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)lba);
}

static void read_toc(struct scsi_disk *sd, struct scsi_cmd *c)
{
    uint8_t r[20] = { 0 };
    bool msf = c->cdb[1] & 0x02;
    uint8_t format = c->cdb[2] & 0x0F, track = c->cdb[6];
    uint32_t alloc = get_be16(c->cdb + 7), n;
    r[2] = 1; /* first track / session */
    r[3] = 1; /* last */
    switch (format) {
    case 0: /* TOC: track 1 and the lead-out */
        if (track > 1 && track != 0xAA) {
            scsi_invalid_field(c);
            return;
        }
        n = 4;
        if (track <= 1) {
            r[n + 1] = 0x14; /* ADR 1, data track */
            r[n + 2] = 1;
            put_addr(r + n + 4, 0, msf);
            n += 8;
        }
        r[n + 1] = 0x14;
        r[n + 2] = 0xAA;
        put_addr(r + n + 4, sd->nblocks, msf);
        n += 8;
        break;
    case 1: /* session information: one session starting at track 1 */
        r[5] = 0x14;
        r[6] = 1;
        put_addr(r + 8, 0, msf);
        n = 12;
        break;
    default:
        scsi_invalid_field(c);
        return;
    }
    put_be16(r, (uint16_t)(n - 2));
    scsi_reply(c, r, n, alloc);
}

static void get_configuration(struct scsi_disk *sd, struct scsi_cmd *c)
{
    uint8_t r[8 + 12] = { 0 };
    uint8_t rt = c->cdb[1] & 0x03;
    uint16_t start = get_be16(c->cdb + 2);
    uint32_t n = 8;
    put_be16(r + 6, sd->no_medium ? 0 : PROFILE_DVD_ROM); /* current profile: none when empty */
    if (start == 0 && rt != 2) { /* the profile list feature: DVD-ROM */
        put_be16(r + 8, 0x0000);
        r[10] = 0x03; /* persistent, current */
        r[11] = 4;
        put_be16(r + 12, PROFILE_DVD_ROM);
        r[14] = sd->no_medium ? 0 : 0x01; /* current profile */
        n += 8;
    }
    put_be32(r, n - 4);
    scsi_reply(c, r, n, get_be16(c->cdb + 7));
}

static void get_event_status(struct scsi_disk *sd, struct scsi_cmd *c)
{
    uint8_t r[8] = { 0 };
    uint32_t n;
    if (!(c->cdb[1] & 0x01)) { /* only polled mode */
        scsi_invalid_field(c);
        return;
    }
    r[3] = 0x10; /* supported: media class */
    if (c->cdb[4] & 0x10) {
        r[2] = 0x04; /* media class */
        r[4] = sd->media_event; /* reported once */
        r[5] = sd->no_medium ? 0 : 0x02; /* media present; tray closed */
        sd->media_event = 0;
        n = 8;
    } else {
        r[2] = 0x80; /* no event available */
        n = 4;
    }
    put_be16(r, (uint16_t)(n - 2));
    scsi_reply(c, r, n, get_be16(c->cdb + 7));
}

#define MEDIA_EVENT_NEW     0x02
#define MEDIA_EVENT_REMOVAL 0x03

void scsi_disk_change_medium(struct scsi_disk *sd, struct disk *d)
{
    sd->disk = d;
    sd->no_medium = !d;
    sd->nblocks = d ? d->info.virtual_size / sd->block_size : 0;
    sd->unit_attention = d != NULL;
    sd->media_event = d ? MEDIA_EVENT_NEW : MEDIA_EVENT_REMOVAL;
}

/* Commands that read the disc (or ask whether there is one). */
static bool needs_medium(uint8_t op)
{
    switch (op) {
    case 0x00: /* TEST UNIT READY */
    case 0x08: case 0x28: case 0xA8: case 0x88: /* READ */
    case 0x25: case 0x9E: /* READ CAPACITY */
    case 0x2F: case 0x8F: /* VERIFY */
    case 0x43: /* READ TOC */
        return true;
    default:
        return false;
    }
}

bool scsi_cdrom_ready(struct scsi_disk *sd, struct scsi_cmd *c)
{
    uint8_t op = c->cdb[0];
    /* MMC: these never report a pending UNIT ATTENTION */
    if (op == 0x12 || op == 0x03 || op == 0x4A || op == 0x46 || op == 0xA0)
        return true;
    if (sd->unit_attention) {
        sd->unit_attention = false;
        scsi_set_sense(c, SENSE_UNIT_ATTENTION, ASC_MEDIUM_CHANGED, 0);
        return false;
    }
    if (sd->no_medium && needs_medium(op)) {
        scsi_set_sense(c, SENSE_NOT_READY, ASC_NO_MEDIUM, 0);
        return false;
    }
    return true;
}

bool scsi_cdrom_exec(struct scsi_disk *sd, struct scsi_cmd *c)
{
    switch (c->cdb[0]) {
    case 0x43: read_toc(sd, c); return true;
    case 0x46: get_configuration(sd, c); return true;
    case 0x4A: get_event_status(sd, c); return true;
    case 0xBB: return true; /* SET CD SPEED: nothing to slow down */
    default: return false;
    }
}
