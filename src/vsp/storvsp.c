/* Storage VSP: the storvsc protocol (init sequence, sub-channels) and the controllers
 * (reference §7a); SRBs run on the channel's worker (storvsp_io.c). */
#include "vsp/storvsp.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "vsp/storvsp_priv.h"



static const uint16_t supported_versions[] = { VSTOR_PROTO_WIN10, VSTOR_PROTO_WIN8_1,
                                               VSTOR_PROTO_WIN8 };

/* ---- channel callbacks ------------------------------------------------------------- */

static int storvsp_open(struct vmbus_channel *ch, const uint8_t *userdata)
{
    struct storvsp *c = vmbus_channel_device_ctx(ch);
    unsigned idx = vmbus_channel_subchannel_index(ch);
    if (idx > c->max_subchannels)
        return -1;
    struct storvsp_queue *q = &c->queues[idx];
    q->ch = ch;
    if (storvsp_queue_start(q) < 0)
        return -1;
    q->gen++;
    q->outstanding = 0;
    if (idx) { /* a sub-channel serves SRBs at once, as negotiated on the primary */
        q->state = CH_READY;
        q->version = c->queues[0].version;
    } else {
        q->state = CH_NEW;
        q->version = 0;
    }
    vmbus_channel_set_priv(ch, q);
    return 0;
}

static int storvsp_doorbell_fd(struct vmbus_channel *ch)
{
    struct storvsp_queue *q = vmbus_channel_priv(ch);
    return q ? q->wake_fd : -1;
}

static void storvsp_close(struct vmbus_channel *ch)
{
    struct storvsp_queue *q = vmbus_channel_priv(ch);
    vmbus_channel_set_priv(ch, NULL);
    if (q) {
        q->gen++;
        q->outstanding = 0;
        storvsp_queue_flush(q);
    }
}

static void storvsp_writable(struct vmbus_channel *ch)
{
    struct storvsp_queue *q = vmbus_channel_priv(ch);
    if (q)
        storvsp_send_unsent(q);
}

/* Queues an SRB for the worker; false if it could not be queued. */
static bool queue_srb(struct storvsp_queue *q, const struct vmbus_packet *pkt,
                      const struct vstor_packet *p)
{
    bool gpa = pkt->type == VMBUS_PACKET_DATA_USING_GPA_DIRECT;
    /* the descriptor and the page ranges after it, for vmbus_gpa_direct_chunks() */
    uint32_t rlen = gpa ? (uint32_t)(pkt->data - pkt->raw) : 0;
    struct storvsp_req *r = malloc(sizeof(*r) + rlen);
    if (!r)
        return false;
    memset(r, 0, sizeof(*r));
    r->gen = q->gen;
    r->trans_id = pkt->trans_id;
    r->p = *p;
    r->gpa_direct = gpa;
    r->ranges_len = rlen;
    memcpy(r->ranges, pkt->raw, rlen);
    if (storvsp_queue_push(q, r)) {
        q->outstanding++;
        return true;
    }
    free(r);
    return false;
}

static bool storvsp_keep_masked(struct vmbus_channel *ch)
{
    struct storvsp_queue *q = vmbus_channel_priv(ch);
    return q && q->outstanding >= STORVSP_POLL_DEPTH;
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
    struct storvsp_queue *sc = vmbus_channel_priv(ch);
    struct vstor_packet p;
    unsigned offer = 0;

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
        p.storage_channel_properties.max_channel_cnt = (uint16_t)c->max_subchannels;
        if (c->max_subchannels)
            p.storage_channel_properties.flags = VSTOR_PROP_SUPPORTS_MULTI_CHANNEL;
        break;
    case VSTOR_OP_END_INITIALIZATION:
        if (sc->state < CH_VERSION_OK)
            p.status = VSTOR_STATUS_INVALID_DEVICE_STATE;
        else
            sc->state = CH_READY;
        break;
    case VSTOR_OP_EXECUTE_SRB:
        if (sc->state == CH_READY) {
            struct vstor_packet rq;
            memcpy(&rq, &p, sizeof(rq));
            rq.operation = VSTOR_OP_COMPLETE_IO;
            if (queue_srb(sc, pkt, &rq))
                return; /* the worker completes it */
        }
        p.status = VSTOR_STATUS_INVALID_DEVICE_STATE;
        p.vm_srb.srb_status = SRB_STATUS_ERROR;
        p.vm_srb.data_transfer_length = 0;
        break;
    case VSTOR_OP_RESET_LUN:
    case VSTOR_OP_RESET_ADAPTER:
    case VSTOR_OP_RESET_BUS:
        /* nothing to cancel: SRBs in flight complete on their own, as storvsc expects */
        break;
    case VSTOR_OP_CREATE_SUB_CHANNELS:
        if (vmbus_channel_subchannel_index(ch) || sc->state != CH_READY ||
            p.sub_channel_count == 0 || p.sub_channel_count > c->max_subchannels)
            p.status = VSTOR_STATUS_INVALID_PARAMETER;
        else
            offer = p.sub_channel_count;
        break;
    default: /* FCHBA_DATA (not FC), unknown */
        p.status = VSTOR_STATUS_INVALID_DEVICE_STATE;
        break;
    }
    int rc = vmbus_channel_send(ch, VMBUS_PACKET_COMP, 0, pkt->trans_id, &p, sizeof(p));
    if (rc)
        vlog_debug("storvsp%u: answer to request 0x%llx lost (%d)", c->index,
                   (unsigned long long)pkt->trans_id, rc);
    /* the guest learns of sub-channels by their offers, after this answer */
    if (offer && vmbus_channel_offer_subchannels(ch, offer) != (int)offer)
        vlog_warn("storvsp%u: could not offer %u sub-channels", c->index, offer);
}

/* ---- controllers ------------------------------------------------------------------- */

struct storvsp *storvsp_create(unsigned index, unsigned max_subchannels)
{
    if (index >= STORVSP_MAX_CONTROLLERS || max_subchannels > STORVSP_MAX_SUBCHANNELS)
        return NULL;
    struct storvsp *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->queues = calloc(1 + max_subchannels, sizeof(*c->queues));
    if (!c->queues) {
        free(c);
        return NULL;
    }
    c->index = index;
    c->max_subchannels = max_subchannels;
    for (unsigned i = 0; i < STORVSP_MAX_LUNS; i++)
        pthread_mutex_init(&c->lun_lock[i], NULL);
    for (unsigned i = 0; i <= max_subchannels; i++) {
        c->queues[i].c = c;
        pthread_mutex_init(&c->queues[i].mu, NULL);
        c->queues[i].wake_fd = -1;
    }
    c->desc = (struct vmbus_device_desc){
        .name = "storvsp",
        .if_type = STORVSP_SCSI_CLASS_GUID,
        /* {7d4a8c14-55b2-4c1e-9f3a-2b6e0d11c0NN}: fixed per controller number */
        .if_instance = VMBUS_GUID(0x7d4a8c14, 0x55b2, 0x4c1e, 0x9f, 0x3a, 0x2b, 0x6e, 0x0d,
                                  0x11, 0xc0, index),
        .max_subchannels = (uint16_t)max_subchannels,
        .max_pkt_size = STORVSP_RING_PKT_MAX,
        .ctx = c,
        .open = storvsp_open,
        .close = storvsp_close,
        .on_packet = storvsp_packet,
        .on_writable = storvsp_writable,
        .keep_masked = storvsp_keep_masked,
        .doorbell_fd = storvsp_doorbell_fd,
    };
    return c;
}

int storvsp_attach_disk(struct storvsp *c, unsigned lun, struct disk *d, unsigned flags)
{
    if (lun >= STORVSP_MAX_LUNS || (!d && !(flags & SCSI_DISK_CDROM)))
        return -1;
    struct scsi_disk *sd = malloc(sizeof(*sd));
    if (!sd)
        return -1;
    scsi_disk_init(sd, d, flags, (uint32_t)(c->index << 8 | lun), STORVSP_MAX_TRANSFER);
    /* Disks get an engine (DVD drives keep the synchronous path: their disc changes);
     * without one (no io_uring here) the synchronous path serves. */
    if (!sd->cdrom) {
        int rc = scsi_aio_start(d, STORVSP_AIO_DEPTH, &sd->aio);
        if (rc < 0)
            vlog_warn("storvsp%u: LUN %u: no asynchronous I/O (%d), copying through a "
                      "buffer instead", c->index, lun, rc);
    }
    pthread_mutex_lock(&c->lun_lock[lun]);
    bool taken = c->luns[lun] != NULL;
    if (!taken)
        c->luns[lun] = sd;
    pthread_mutex_unlock(&c->lun_lock[lun]);
    if (taken) {
        scsi_aio_stop(sd->aio);
        free(sd);
        return -1;
    }
    return 0;
}

/* Ends the target's engine, its I/O in flight completed first (not with a LUN mutex
 * held: the completions take the host lock). */
static void stop_engine(struct storvsp *c, unsigned lun)
{
    pthread_mutex_lock(&c->lun_lock[lun]);
    struct scsi_disk *sd = c->luns[lun];
    struct scsi_aio *aio = sd ? sd->aio : NULL;
    if (sd)
        sd->aio = NULL;
    pthread_mutex_unlock(&c->lun_lock[lun]);
    scsi_aio_stop(aio);
}

/* Unsolicited ENUMERATE_BUS (transaction id 0) on the primary channel, if the guest has
 * finished initialising it; otherwise its first scan will find the change anyway. */
static void notify_rescan(struct storvsp *c)
{
    struct storvsp_queue *q = &c->queues[0];
    struct vmbus_channel *ch = q->ch;
    if (!ch)
        return;
    vmbus_channel_lock(ch);
    if (vmbus_channel_priv(ch) == q && q->state == CH_READY) {
        struct vstor_packet p = { .operation = VSTOR_OP_ENUMERATE_BUS };
        if (vmbus_channel_send(ch, VMBUS_PACKET_DATA_INBAND, 0, 0, &p, sizeof(p)))
            vlog_warn("storvsp%u: could not ask the guest to rescan its disks", c->index);
    }
    vmbus_channel_unlock(ch);
}

int storvsp_hot_add(struct storvsp *c, unsigned lun, struct disk *d, unsigned flags)
{
    if (!c || storvsp_attach_disk(c, lun, d, flags) < 0)
        return -1;
    notify_rescan(c);
    return 0;
}

int storvsp_hot_remove(struct storvsp *c, unsigned lun, struct disk **old)
{
    if (!c || lun >= STORVSP_MAX_LUNS)
        return -1;
    pthread_mutex_lock(&c->lun_lock[lun]);
    struct scsi_disk *sd = c->luns[lun];
    c->luns[lun] = NULL;
    pthread_mutex_unlock(&c->lun_lock[lun]);
    if (!sd)
        return -1;
    scsi_aio_stop(sd->aio); /* requests already submitted complete first */
    *old = sd->disk;
    free(sd);
    notify_rescan(c);
    return 0;
}

int storvsp_change_medium(struct storvsp *c, unsigned lun, struct disk *d, struct disk **old)
{
    if (!c || lun >= STORVSP_MAX_LUNS)
        return -1;
    pthread_mutex_lock(&c->lun_lock[lun]);
    struct scsi_disk *sd = c->luns[lun];
    bool ok = sd && sd->cdrom;
    if (ok) {
        *old = sd->disk;
        scsi_disk_change_medium(sd, d);
    }
    pthread_mutex_unlock(&c->lun_lock[lun]);
    return ok ? 0 : -1;
}

void storvsp_set_space_hook(struct storvsp *c, storvsp_space_hook fn, void *ctx,
                            unsigned retry_ms)
{
    c->space_hook = fn;
    c->space_ctx = ctx;
    c->retry_ms = retry_ms ? retry_ms : STORVSP_NOSPACE_RETRY_MS;
}

void storvsp_retry_now(struct storvsp *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i <= c->max_subchannels; i++)
        storvsp_queue_wake(&c->queues[i]);
}

void storvsp_get_stats(struct storvsp *c, struct storvsp_stats *st)
{
    memset(st, 0, sizeof(*st));
    for (unsigned i = 0; i <= c->max_subchannels; i++) {
        struct storvsp_queue *q = &c->queues[i];
        st->async += atomic_load(&q->n_async);
        st->sync += atomic_load(&q->n_sync);
        st->inflight += atomic_load(&q->inflight);
        unsigned m = atomic_load(&q->max_inflight);
        if (m > st->max_inflight)
            st->max_inflight = m;
    }
    for (unsigned i = 0; i < STORVSP_MAX_LUNS; i++) {
        pthread_mutex_lock(&c->lun_lock[i]);
        struct scsi_disk *sd = c->luns[i];
        if (sd && sd->aio) {
            struct disk_aio_stats a;
            scsi_aio_get_stats(sd->aio, &a);
            st->fast += a.fast;
            st->zero += a.zero;
            st->slow += a.slow;
        }
        pthread_mutex_unlock(&c->lun_lock[i]);
    }
}

const struct vmbus_device_desc *storvsp_desc(struct storvsp *c)
{
    return &c->desc;
}

void storvsp_stop(struct storvsp *c)
{
    if (!c || c->stopped)
        return; /* storvsp_destroy() stops again, after the VMBus host is gone */
    c->stopped = true;
    for (unsigned i = 0; i <= c->max_subchannels; i++)
        storvsp_queue_stop(&c->queues[i]);
    if (vlog_debug_enabled()) {
        struct storvsp_stats st;
        storvsp_get_stats(c, &st);
        vlog_debug("storvsp%u: %llu SRBs on the guest's pages (io_uring %llu, zeroes %llu, "
                   "worker %llu), %llu through a buffer, at most %u in flight on a channel",
                   c->index, (unsigned long long)st.async, (unsigned long long)st.fast,
                   (unsigned long long)st.zero, (unsigned long long)st.slow,
                   (unsigned long long)st.sync, st.max_inflight);
    }
    /* no worker submits any more; what is in flight completes into the channels */
    for (unsigned i = 0; i < STORVSP_MAX_LUNS; i++)
        stop_engine(c, i);
    for (unsigned i = 0; i <= c->max_subchannels; i++)
        storvsp_queue_drop_unsent(&c->queues[i]);
}

void storvsp_destroy(struct storvsp *c)
{
    if (!c)
        return;
    storvsp_stop(c);
    for (unsigned i = 0; i <= c->max_subchannels; i++) {
        pthread_mutex_destroy(&c->queues[i].mu);
    }
    for (unsigned i = 0; i < STORVSP_MAX_LUNS; i++) {
        pthread_mutex_destroy(&c->lun_lock[i]);
        free(c->luns[i]);
    }
    free(c->queues);
    free(c);
}
