/* Shared by the SCSI targets (scsi_disk.c, scsi_cdrom.c): big-endian fields, ASC codes,
 * data-in answers. */
#ifndef VIRIDIAN_VSP_SCSI_PRIV_H
#define VIRIDIAN_VSP_SCSI_PRIV_H

#include <stdint.h>

#include "vsp/scsi_disk.h"

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

static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }
static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}
static inline void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

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
