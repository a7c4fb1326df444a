/* Shared by the SCSI targets (scsi_disk.c, scsi_cdrom.c): big-endian fields, ASC codes,
 * data-in answers. */
#ifndef VIRIDIAN_VSP_SCSI_PRIV_H
#define VIRIDIAN_VSP_SCSI_PRIV_H

#include <stdint.h>

#include "vsp/scsi_disk.h"
#include "core/endian.h"

#define ASC_WRITE_ERROR        0x0C
#define ASC_UNRECOVERED_READ   0x11
#define ASC_INVALID_OPCODE     0x20
#define ASC_LBA_OUT_OF_RANGE   0x21
#define ASC_INVALID_FIELD_CDB  0x24
#define ASC_INVALID_FIELD_PARM 0x26
#define ASC_WRITE_PROTECTED    0x27
#define ASC_SAVING_NOT_SUPP    0x39
#define ASC_MEDIUM_CHANGED     0x28 /* not ready to ready change, medium may have changed */
#define ASC_NO_MEDIUM          0x3A

/* Data-in answer: at most the allocation length and the buffer. */
void scsi_reply(struct scsi_cmd *c, const void *data, uint32_t n, uint32_t alloc);
/* CHECK CONDITION, ILLEGAL REQUEST / INVALID FIELD IN CDB. */
void scsi_invalid_field(struct scsi_cmd *c);
/* CD/DVD-ROM: false (with sense set) if the command must not run now: the UNIT
 * ATTENTION of a new disc, or no disc for a command that needs one. */
bool scsi_cdrom_ready(struct scsi_disk *sd, struct scsi_cmd *c);
/* MMC commands of a CD/DVD-ROM target; false if `op` is not one of them. */
bool scsi_cdrom_exec(struct scsi_disk *sd, struct scsi_cmd *c);

#endif
