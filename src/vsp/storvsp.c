/* Storage VSP: storvsc protocol negotiation and SRB execution (reference §7a). */
#include "vsp/storvsp.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "vsp/scsi_disk.h"
#include "vsp/storvsp_proto.h"

#define STORVSP_RING_PKT_MAX 8192u /* GPA-direct SRB of 1 MiB: 257 PFNs, about 2.2 KiB */
#define PAGE 4096u

enum chan_state { CH_NEW = 0, CH_INIT_BEGUN, CH_VERSION_OK, CH_READY };

struct storvsp_chan {
    enum chan_state state;
    uint16_t version;
    uint8_t *bounce; /* STORVSP_MAX_TRANSFER bytes */
};

struct storvsp {
    unsigned index;
    struct vmbus_device_desc desc;
    struct scsi_disk *luns[STORVSP_MAX_LUNS];
};

static const uint16_t supported_versions[] = { VSTOR_PROTO_WIN10, VSTOR_PROTO_WIN8_1,
                                               VSTOR_PROTO_WIN8 };

/* ---- guest buffers: the GPA-direct page ranges of one packet ---------------------- */

enum xfer_dir { XFER_CHECK, XFER_FROM_GUEST, XFER_TO_GUEST };

/* Walks the packet's ranges over `len` bytes: checks that they describe at least `len`
 * bytes of guest RAM (XFER_CHECK) or copies between them and buf. 0 or -1. */
static int xfer_ranges(const struct guest_mem *gm, const struct vmbus_packet *pkt,
                       enum xfer_dir dir, uint8_t *buf, uint32_t len)
{
    if (pkt->type != VMBUS_PACKET_DATA_USING_GPA_DIRECT)
        return len ? -1 : 0;
    uint32_t end = (uint32_t)(pkt->data - pkt->raw); /* ranges end where the payload starts */
    uint32_t pos = sizeof(struct vmbus_packet_desc);
    struct vmbus_gpa_direct_hdr h;
    if (end > pkt->raw_len || pos + sizeof(h) > end)
        return -1;
    memcpy(&h, pkt->raw + pos, sizeof(h));
    pos += sizeof(h);
    uint32_t done = 0;
    for (uint32_t r = 0; r < h.range_count && done < len; r++) {
        struct vmbus_gpa_range_hdr rh;
        if (pos + sizeof(rh) > end)
            return -1;
        memcpy(&rh, pkt->raw + pos, sizeof(rh));
        pos += sizeof(rh);
        if (rh.byte_offset >= PAGE || rh.byte_count > STORVSP_MAX_TRANSFER)
            return -1;
        uint32_t npfn = (rh.byte_offset + rh.byte_count + PAGE - 1) / PAGE;
        if (npfn > (end - pos) / 8)
            return -1;
        uint32_t in_range = 0;
        for (uint32_t i = 0; i < npfn && done < len && in_range < rh.byte_count; i++) {
            uint64_t pfn;
            memcpy(&pfn, pkt->raw + pos + 8 * i, 8);
            uint32_t off = i ? 0 : rh.byte_offset;
            uint32_t n = PAGE - off;
            if (n > rh.byte_count - in_range)
                n = rh.byte_count - in_range;
            if (n > len - done)
                n = len - done;
            if (pfn > (UINT64_MAX >> 12))
                return -1;
            uint64_t gpa = (pfn << 12) + off;
            int rc = 0;
            if (dir == XFER_CHECK)
                rc = gmem_is_ram(gm, gpa, n) ? 0 : -1;
            else if (dir == XFER_FROM_GUEST)
                rc = gmem_read(gm, gpa, buf + done, n);
            else
                rc = gmem_write(gm, gpa, buf + done, n);
            if (rc)
                return -1;
            done += n;
            in_range += n;
        }
        pos += 8 * npfn;
    }
    return done == len ? 0 : -1;
}

/* ---- SRBs -------------------------------------------------------------------------- */

static void report_luns(struct storvsp *c, const struct vmscsi_request *srb, struct scsi_cmd *cmd)
{
    uint16_t luns[STORVSP_MAX_LUNS];
    unsigned n = 0;
    if (srb->path_id == 0 && srb->target_id == 0)
        for (unsigned i = 0; i < STORVSP_MAX_LUNS; i++)
            if (c->luns[i])
                luns[n++] = (uint16_t)i;
    scsi_report_luns(cmd, luns, n);
}

static void execute_srb(struct storvsp *c, struct storvsp_chan *sc, struct vmbus_channel *ch,
                        const struct vmbus_packet *pkt, struct vmscsi_request *srb)
{
    const struct guest_mem *gm = vmbus_channel_gmem(ch);
    uint8_t cdb[VSTOR_CDB_MAX];
    uint32_t len = srb->data_transfer_length;
    bool out = srb->data_in == VSTOR_WRITE_TYPE && len;
    bool in = srb->data_in == VSTOR_READ_TYPE && len;
    uint8_t sense_cap = srb->sense_info_length;

    srb->data_transfer_length = 0;
    srb->scsi_status = SCSI_STATUS_GOOD;
    srb->sense_info_length = 0;
    if (srb->cdb_length == 0 || srb->cdb_length > VSTOR_CDB_MAX || len > STORVSP_MAX_TRANSFER ||
        xfer_ranges(gm, pkt, XFER_CHECK, NULL, len)) {
        srb->srb_status = SRB_STATUS_INVALID_REQUEST;
        return;
    }
    memset(cdb, 0, sizeof(cdb));
    memcpy(cdb, srb->cdb, srb->cdb_length);
    if (out && xfer_ranges(gm, pkt, XFER_FROM_GUEST, sc->bounce, len)) {
        srb->srb_status = SRB_STATUS_ERROR;
        return;
    }

    struct scsi_cmd cmd = { .cdb = cdb, .cdb_len = srb->cdb_length, .buf = sc->bounce,
                            .buf_len = len, .data_out = out };
    struct scsi_disk *sd = NULL;
    bool here = srb->path_id == 0 && srb->target_id == 0;
    if (here && srb->lun < STORVSP_MAX_LUNS)
        sd = c->luns[srb->lun];
    if (cdb[0] == 0xA0) /* REPORT LUNS: answered by the controller, any LUN */
        report_luns(c, srb, &cmd);
    else if (sd)
        scsi_disk_exec(sd, &cmd);
    else if (cdb[0] == 0x12)
        scsi_inquiry_no_lun(&cmd);
    else {
        srb->srb_status = SRB_STATUS_INVALID_LUN;
        return;
    }

    memset(srb->sense_data, 0, sizeof(srb->sense_data));
    if (cmd.status != SCSI_STATUS_GOOD) {
        uint8_t n = cmd.sense_len < sense_cap ? cmd.sense_len : sense_cap;
        if (n > VSTOR_SENSE_MAX)
            n = VSTOR_SENSE_MAX;
        srb->scsi_status = cmd.status;
        srb->srb_status = SRB_STATUS_ERROR | (n ? SRB_STATUS_AUTOSENSE_VALID : 0);
        memcpy(srb->sense_data, cmd.sense, n);
        srb->sense_info_length = n;
        return;
    }
    if (in && cmd.xfer && xfer_ranges(gm, pkt, XFER_TO_GUEST, sc->bounce, cmd.xfer)) {
        srb->srb_status = SRB_STATUS_ERROR;
        return;
    }
    srb->srb_status = SRB_STATUS_SUCCESS;
    srb->data_transfer_length = cmd.xfer;
}

/* ---- channel callbacks ------------------------------------------------------------- */

static int storvsp_open(struct vmbus_channel *ch, const uint8_t *userdata)
{
    struct storvsp_chan *sc = calloc(1, sizeof(*sc));
    if (!sc)
        return -1;
    sc->bounce = malloc(STORVSP_MAX_TRANSFER);
    if (!sc->bounce) {
        free(sc);
        return -1;
    }
    vmbus_channel_set_priv(ch, sc);
    return 0;
}

static void storvsp_close(struct vmbus_channel *ch)
{
    struct storvsp_chan *sc = vmbus_channel_priv(ch);
    vmbus_channel_set_priv(ch, NULL);
    if (sc) {
        free(sc->bounce);
        free(sc);
    }
}

static bool version_supported(uint16_t v)
{
    for (size_t i = 0; i < sizeof(supported_versions) / sizeof(supported_versions[0]); i++)
        if (supported_versions[i] == v)
            return true;
    return false;
}

static void storvsp_packet(struct vmbus_channel *ch, const struct vmbus_packet *pkt)
{
    struct storvsp *c = vmbus_channel_device_ctx(ch);
    struct storvsp_chan *sc = vmbus_channel_priv(ch);
    struct vstor_packet p;

    if (!sc || (pkt->type != VMBUS_PACKET_DATA_INBAND &&
                pkt->type != VMBUS_PACKET_DATA_USING_GPA_DIRECT))
        return;
    /* Shorter packets (pre-Win8 layouts) read as zero-extended. */
    memset(&p, 0, sizeof(p));
    memcpy(&p, pkt->data, pkt->data_len < sizeof(p) ? pkt->data_len : sizeof(p));
    uint32_t op = p.operation;
    p.operation = VSTOR_OP_COMPLETE_IO;
    p.status = VSTOR_STATUS_SUCCESS;

    switch (op) {
    case VSTOR_OP_BEGIN_INITIALIZATION:
        sc->state = CH_INIT_BEGUN;
        sc->version = 0;
        break;
    case VSTOR_OP_QUERY_PROTOCOL_VERSION:
        if (sc->state < CH_INIT_BEGUN)
            p.status = VSTOR_STATUS_INVALID_DEVICE_STATE;
        else if (!version_supported(p.version.major_minor))
            p.status = VSTOR_STATUS_REVISION_MISMATCH;
        else {
            sc->version = p.version.major_minor;
            sc->state = CH_VERSION_OK;
        }
        break;
    case VSTOR_OP_QUERY_PROPERTIES:
        if (sc->state < CH_VERSION_OK) {
            p.status = VSTOR_STATUS_INVALID_DEVICE_STATE;
            break;
        }
        memset(&p.storage_channel_properties, 0, sizeof(p.storage_channel_properties));
        p.storage_channel_properties.max_transfer_bytes = STORVSP_MAX_TRANSFER;
        break;
    case VSTOR_OP_END_INITIALIZATION:
        if (sc->state < CH_VERSION_OK)
            p.status = VSTOR_STATUS_INVALID_DEVICE_STATE;
        else
            sc->state = CH_READY;
        break;
    case VSTOR_OP_EXECUTE_SRB:
        /* sub-channels are not offered; every SRB comes on a negotiated primary */
        if (sc->state != CH_READY) {
            p.status = VSTOR_STATUS_INVALID_DEVICE_STATE;
            p.vm_srb.srb_status = SRB_STATUS_ERROR;
            p.vm_srb.data_transfer_length = 0;
            break;
        }
        execute_srb(c, sc, ch, pkt, &p.vm_srb);
        break;
    case VSTOR_OP_RESET_LUN:
    case VSTOR_OP_RESET_ADAPTER:
    case VSTOR_OP_RESET_BUS:
        break; /* I/O is synchronous: nothing is ever outstanding */
    default: /* FCHBA_DATA (not FC), CREATE_SUB_CHANNELS (none offered), unknown */
        p.status = VSTOR_STATUS_INVALID_DEVICE_STATE;
        break;
    }
    int rc = vmbus_channel_send(ch, VMBUS_PACKET_COMP, 0, pkt->trans_id, &p, sizeof(p));
    if (rc)
        vlog_debug("storvsp%u: completion of request 0x%llx lost (%d)", c->index,
                   (unsigned long long)pkt->trans_id, rc);
}

/* ---- controllers ------------------------------------------------------------------- */

struct storvsp *storvsp_create(unsigned index)
{
    if (index >= STORVSP_MAX_CONTROLLERS)
        return NULL;
    struct storvsp *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->index = index;
    c->desc = (struct vmbus_device_desc){
        .name = "storvsp",
        .if_type = STORVSP_SCSI_CLASS_GUID,
        /* {7d4a8c14-55b2-4c1e-9f3a-2b6e0d11c0NN}: fixed per controller number */
        .if_instance = VMBUS_GUID(0x7d4a8c14, 0x55b2, 0x4c1e, 0x9f, 0x3a, 0x2b, 0x6e, 0x0d,
                                  0x11, 0xc0, index),
        .max_pkt_size = STORVSP_RING_PKT_MAX,
        .ctx = c,
        .open = storvsp_open,
        .close = storvsp_close,
        .on_packet = storvsp_packet,
    };
    return c;
}

int storvsp_attach_disk(struct storvsp *c, unsigned lun, struct disk *d, bool ro)
{
    if (lun >= STORVSP_MAX_LUNS || c->luns[lun] || !d)
        return -1;
    struct scsi_disk *sd = malloc(sizeof(*sd));
    if (!sd)
        return -1;
    scsi_disk_init(sd, d, ro, (uint32_t)(c->index << 8 | lun), STORVSP_MAX_TRANSFER);
    c->luns[lun] = sd;
    return 0;
}

const struct vmbus_device_desc *storvsp_desc(struct storvsp *c)
{
    return &c->desc;
}

void storvsp_destroy(struct storvsp *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < STORVSP_MAX_LUNS; i++)
        free(c->luns[i]);
    free(c);
}
