/* A SCSI direct-access target (SBC-3/SPC-3 subset, the commands Linux's sd and scsi scan
 * send) over a `struct disk`. It knows nothing of VMBus: the transport hands it a CDB
 * and a flat data buffer and gets back a SCSI status, sense data and a byte count.
 * Every error is a CHECK CONDITION with fixed-format sense. */
#ifndef VIRIDIAN_VSP_SCSI_DISK_H
#define VIRIDIAN_VSP_SCSI_DISK_H

#include <stdbool.h>
#include <stdint.h>

struct disk;
struct scsi_aio;

#define SCSI_STATUS_GOOD            0x00
#define SCSI_STATUS_CHECK_CONDITION 0x02

#define SCSI_SENSE_LEN 18 /* fixed format */

#define SENSE_NO_SENSE        0x0
#define SENSE_NOT_READY       0x2
#define SENSE_MEDIUM_ERROR    0x3
#define SENSE_UNIT_ATTENTION  0x6
#define SENSE_ILLEGAL_REQUEST 0x5
#define SENSE_DATA_PROTECT    0x7

struct scsi_disk {
    struct disk *disk;
    bool ro;
    bool cdrom;             /* MMC CD/DVD-ROM (read-only, 2048-byte blocks) */
    bool unmap;             /* the image can give space back (UNMAP advertised) */
    uint32_t block_size;    /* logical: 512 or 4096 */
    uint32_t phys_exp;      /* physical = logical << phys_exp */
    uint64_t nblocks;
    uint32_t max_xfer;      /* largest data transfer in bytes (VPD B0) */
    char serial[24];
    uint8_t naa[16];        /* NAA 6 identifier (VPD 83) */
    /* CD/DVD medium state (scsi_cdrom.c): changed only by scsi_disk_change_medium() */
    bool no_medium;         /* the tray is empty: NOT READY / MEDIUM NOT PRESENT */
    bool unit_attention;    /* a disc was inserted: one UNIT ATTENTION 28/00 pending */
    uint8_t media_event;    /* GET EVENT STATUS media event not yet reported (0 none) */
    /* The disk's asynchronous engine (scsi_aio.h), or NULL. While set, every disk I/O
     * of scsi_disk_exec() goes through it (and waits), and the transport may run
     * decoded READ/WRITE/SYNCHRONIZE CACHE commands on it itself. */
    struct scsi_aio *aio;
};

struct scsi_cmd {
    const uint8_t *cdb;
    unsigned cdb_len;
    uint8_t *buf;           /* data buffer: data-out on entry when data_out, data-in on exit */
    uint32_t buf_len;       /* its size (the initiator's transfer length) */
    bool data_out;          /* buf holds data from the initiator */
    /* results */
    uint32_t xfer;          /* bytes produced (data-in) or consumed (data-out) */
    uint8_t status;         /* SCSI status */
    uint8_t sense[SCSI_SENSE_LEN];
    uint8_t sense_len;      /* 0 unless CHECK CONDITION */
    bool no_space;          /* a write failed for lack of host space (ENOSPC, EDQUOT): the
                             * sense says MEDIUM ERROR, but the transport may instead run
                             * the same command again later (storvsp does: VM paused) */
};

/* A READ, WRITE or SYNCHRONIZE CACHE the transport runs on the disk itself. */
enum scsi_io_op { SCSI_IO_READ = 1, SCSI_IO_WRITE, SCSI_IO_FLUSH };
struct scsi_io {
    enum scsi_io_op op;
    uint64_t offset;        /* bytes (READ/WRITE) */
    uint32_t bytes;         /* bytes to move (READ/WRITE), at most the command's buf_len */
    bool fua;               /* WRITE: flush before completing */
};

#define SCSI_DISK_RO    1u
#define SCSI_DISK_CDROM 2u /* a DVD drive with the image as its disc (implies RO) */

/* Describes `d` as a target (flags SCSI_DISK_*); `id` makes serial number and NAA
 * identifier unique (e.g. controller << 8 | lun). A CD/DVD target may have d == NULL
 * (an empty drive). */
void scsi_disk_init(struct scsi_disk *sd, struct disk *d, unsigned flags, uint32_t id,
                    uint32_t max_xfer);
/* Puts disc `d` into a CD/DVD target, or ejects it (d == NULL): the guest sees MEDIUM
 * NOT PRESENT while empty, one UNIT ATTENTION (28/00) after an insert, and the change
 * as a GET EVENT STATUS NOTIFICATION media event. The caller serialises this with
 * scsi_disk_exec() on the same target and owns both disks. */
void scsi_disk_change_medium(struct scsi_disk *sd, struct disk *d);
/* Executes one command (synchronously, disk I/O included). */
void scsi_disk_exec(struct scsi_disk *sd, struct scsi_cmd *c);
/* Decodes a disk READ/WRITE(6/10/12/16) or SYNCHRONIZE CACHE(10/16) (c->buf is not
 * used; c->buf_len and c->data_out are the transfer the initiator set up). 1: *io is the
 * I/O to do, then scsi_io_done() gives the result; 0: c is already complete (an error
 * with sense, nothing to move, a read-only disk's cache); -1: any other command: run it
 * with scsi_disk_exec(). A CD/DVD target's state (no disc, UNIT ATTENTION) is not
 * checked here: transports decode only for disks that have an engine. */
int scsi_disk_decode_io(struct scsi_disk *sd, struct scsi_cmd *c, struct scsi_io *io);
/* The result of a decoded command's I/O (rc: 0 or a negative errno), with the sense a
 * disk gives: MEDIUM ERROR, unrecovered read error (11/00) for a read, write error
 * (0C/00) for a write or flush (no_space for ENOSPC/EDQUOT). */
void scsi_io_done(struct scsi_cmd *c, const struct scsi_io *io, int rc);
/* INQUIRY answer for a LUN with no device (peripheral qualifier 3, type 0x1F). */
void scsi_inquiry_no_lun(struct scsi_cmd *c);
/* REPORT LUNS answer listing `luns` (single-level, peripheral addressing). */
void scsi_report_luns(struct scsi_cmd *c, const uint16_t *luns, unsigned n);
/* CHECK CONDITION with fixed-format sense key/ASC/ASCQ. */
void scsi_set_sense(struct scsi_cmd *c, uint8_t key, uint8_t asc, uint8_t ascq);

#endif
