/* Channel data path: opening the rings, draining guest->host packets into the device,
 * sending host->guest packets, and event signalling (reference §6.5). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "vmbus/vmbus_internal.h"

#define VMBUS_DEFAULT_RX 16384u

struct vmbus_gpadl *vmbus_find_gpadl_locked(struct vmbus_host *host, uint32_t id)
{
    for (unsigned i = 0; i < host->ngpadls; i++)
        if (host->gpadls[i]->id == id)
            return host->gpadls[i];
    return NULL;
}

int vmbus_channel_open_locked(struct vmbus_channel *ch, const struct vmbus_gpadl *ring,
                              uint32_t downstream, uint32_t target_vp, const uint8_t *userdata)
{
    const struct guest_mem *gm = ch->host->gm;
    if (ring->byte_offset != 0 || ring->npages < 4 || downstream < 2 ||
        downstream > ring->npages - 2)
        return -1;
    if (vmbus_ring_init(&ch->in, gm, ring->pfns, downstream, true) != 0 ||
        vmbus_ring_init(&ch->out, gm, ring->pfns + downstream, ring->npages - downstream,
                        false) != 0)
        return -1;
    ch->rxcap = ch->desc->max_pkt_size ? ch->desc->max_pkt_size : VMBUS_DEFAULT_RX;
    ch->rxbuf = malloc(ch->rxcap);
    if (!ch->rxbuf)
        return -1;
    ch->ring_gpadl = ring->id;
    ch->downstream_offset = downstream;
    ch->target_vp = target_vp;
    ch->out_blocked = false;
    ch->in_held = false;
    ch->state = VMBUS_CH_OPEN;
    if (ch->desc->open && ch->desc->open(ch, userdata) != 0) {
        ch->state = VMBUS_CH_CLOSED;
        free(ch->rxbuf);
        ch->rxbuf = NULL;
        return -1;
    }
    int fd = ch->desc->doorbell_fd ? ch->desc->doorbell_fd(ch) : -1;
    int rc = fd >= 0 ? vmbus_channel_route_doorbell(ch, fd) : 0;
    if (rc && rc != -ENODEV)
        vlog_debug("vmbus: channel %u (%s): signals go through the doorbell thread (%d)",
                   ch->relid, ch->desc->name ? ch->desc->name : "?", rc);
    return 0;
}

/* desc->close(), with the doorbell routed back first */
static void close_device(struct vmbus_channel *ch)
{
    if (ch->desc->doorbell_fd)
        vmbus_channel_route_doorbell(ch, -1);
    if (ch->desc->close)
        ch->desc->close(ch);
}

static void release_ring(struct vmbus_channel *ch)
{
    struct vmbus_gpadl *g = vmbus_find_gpadl_locked(ch->host, ch->ring_gpadl);
    if (g && g->ring_users)
        g->ring_users--;
    free(ch->rxbuf);
    ch->rxbuf = NULL;
    memset(&ch->in, 0, sizeof(ch->in));
    memset(&ch->out, 0, sizeof(ch->out));
}

void vmbus_channel_close_locked(struct vmbus_channel *ch)
{
    if (ch->state == VMBUS_CH_OPEN) {
        ch->state = VMBUS_CH_CLOSED;
        close_device(ch);
        release_ring(ch);
    } else if (ch->state == VMBUS_CH_BROKEN) {
        ch->state = VMBUS_CH_CLOSED;
        release_ring(ch);
    }
}

/* A guest that corrupts its ring loses the channel, nothing else. */
static void break_channel(struct vmbus_channel *ch, const char *why)
{
    if (ch->state != VMBUS_CH_OPEN)
        return;
    vlog_warn("vmbus: channel %u (%s): %s; closing it", ch->relid,
              ch->desc->name ? ch->desc->name : "?", why);
    ch->state = VMBUS_CH_BROKEN;
    close_device(ch);
}

static void signal_guest(struct vmbus_channel *ch)
{
    hv_synic_signal_event(ch->host->hv, ch->target_vp, VMBUS_MESSAGE_SINT, ch->relid);
}

static void fill_packet(struct vmbus_packet *pkt, const uint8_t *raw, uint32_t len)
{
    struct vmbus_packet_desc d;
    memcpy(&d, raw, sizeof(d));
    pkt->type = d.type;
    pkt->flags = d.flags;
    pkt->trans_id = d.trans_id;
    pkt->raw = raw;
    pkt->raw_len = len;
    pkt->data = raw + d.offset8 * 8u;
    pkt->data_len = len - d.offset8 * 8u;
}

/* Reads one packet: 1, 0 (empty) or -1 (channel broken). */
static int read_one(struct vmbus_channel *ch, uint8_t *buf, uint32_t cap,
                    struct vmbus_packet *pkt)
{
    uint32_t len = 0;
    int rc = vmbus_ring_peek(&ch->in, buf, cap, &len);
    if (rc == VMBUS_RING_EMPTY)
        return 0;
    if (rc < 0) {
        break_channel(ch, rc == VMBUS_RING_ETOOBIG ? "packet too large" : "corrupt ring");
        return -1;
    }
    if (vmbus_ring_advance(&ch->in, len))
        signal_guest(ch);
    fill_packet(pkt, buf, len);
    return 1;
}

/* Room for the replies to one more guest packet (desc->reply_reserve)? If not, asks the
 * guest to signal once it has made that much room, and looks again in case it did so
 * before it could see the request. */
static uint32_t held_pending(const struct vmbus_channel *ch)
{
    /* the guest signals once free >= pending_send_sz; we go on once free > reserve */
    return ch->in_held ? ch->desc->reply_reserve + 8 : 0;
}

static bool reply_room(struct vmbus_channel *ch)
{
    uint32_t need = ch->desc->reply_reserve;
    if (!need || vmbus_ring_free(&ch->out) > need) {
        if (ch->in_held) {
            ch->in_held = false;
            vmbus_ring_set_pending_send(&ch->out, 0);
        }
        return true;
    }
    ch->in_held = true;
    vmbus_ring_set_pending_send(&ch->out, held_pending(ch));
    if (vmbus_ring_free(&ch->out) <= need)
        return false;
    ch->in_held = false;
    vmbus_ring_set_pending_send(&ch->out, 0);
    return true;
}

void vmbus_channel_process_locked(struct vmbus_channel *ch)
{
    if (ch->state != VMBUS_CH_OPEN)
        return;
    if (ch->out_blocked && ch->desc->on_writable) {
        ch->out_blocked = false;
        vmbus_ring_set_pending_send(&ch->out, held_pending(ch));
        ch->desc->on_writable(ch);
        if (ch->state != VMBUS_CH_OPEN)
            return;
    }
    if (ch->desc->on_signal) {
        ch->desc->on_signal(ch);
        return;
    }
    /* Drain completely; the guest signals again only on empty->non-empty. The mask
     * tells it not to bother while we drain; clear it and re-check before leaving -
     * unless the device will poll again by itself (keep_masked). */
    for (;;) {
        vmbus_ring_set_interrupt_mask(&ch->in, true);
        struct vmbus_packet pkt;
        int rc = 0;
        while (reply_room(ch) && (rc = read_one(ch, ch->rxbuf, ch->rxcap, &pkt)) > 0) {
            if (ch->desc->on_packet)
                ch->desc->on_packet(ch, &pkt);
            if (ch->state != VMBUS_CH_OPEN)
                return;
        }
        if (rc < 0)
            return;
        if (ch->desc->keep_masked && ch->desc->keep_masked(ch))
            return;
        vmbus_ring_set_interrupt_mask(&ch->in, false);
        if (ch->in_held) /* the guest's room-made signal resumes us */
            return;
        if (!vmbus_ring_has_data(&ch->in))
            return;
    }
}

int vmbus_channel_send_ext(struct vmbus_channel *ch, uint16_t type, uint16_t flags,
                           uint64_t trans_id, const void *hdr, uint32_t hdr_len,
                           const void *data, uint32_t len)
{
    /* len8 is a u16: a packet is at most 0xFFFF * 8 bytes including the descriptor. */
    const uint32_t max_body = 0xFFFFu * 8 - (uint32_t)sizeof(struct vmbus_packet_desc);
    if ((hdr_len & 7) || (hdr_len && !hdr) || (len && !data) || hdr_len > max_body ||
        len > max_body - hdr_len)
        return -EINVAL;
    uint32_t total = (uint32_t)sizeof(struct vmbus_packet_desc) + hdr_len + len;
    struct vmbus_packet_desc d = {
        .type = type,
        .offset8 = (uint16_t)((sizeof(d) + hdr_len) / 8),
        .len8 = (uint16_t)((total + 7) / 8),
        .flags = flags,
        .trans_id = trans_id,
    };
    struct vmbus_ring_seg segs[3] = { { &d, sizeof(d) }, { hdr, hdr_len }, { data, len } };
    struct vmbus_host *host = ch->host;
    pthread_mutex_lock(&host->lock);
    int ret = 0;
    bool signal = false;
    if (ch->state != VMBUS_CH_OPEN) {
        ret = -EPIPE;
        goto out;
    }
    bool asked = false;
    int rc = vmbus_ring_write(&ch->out, segs, 3, &signal);
    if (rc == VMBUS_RING_EFULL) {
        asked = true;
        /* Ask the guest to signal when there is room, then look again in case it made
         * room before it could see the request. */
        vmbus_ring_set_pending_send(&ch->out, ((total + 7) & ~7u) + VMBUS_PKT_TRAILER);
        rc = vmbus_ring_write(&ch->out, segs, 3, &signal);
        if (rc == VMBUS_RING_EFULL) {
            ch->out_blocked = true;
            ret = -EAGAIN;
            goto out;
        }
    }
    if (rc == VMBUS_RING_ETOOBIG) {
        ret = -EMSGSIZE;
        goto out;
    }
    if (rc == VMBUS_RING_ECORRUPT) {
        break_channel(ch, "corrupt ring");
        ret = -EPIPE;
        goto out;
    }
    if (asked || ch->out_blocked) { /* written after all: withdraw the request */
        ch->out_blocked = false;
        vmbus_ring_set_pending_send(&ch->out, held_pending(ch));
    }
    if (signal)
        signal_guest(ch);
out:
    pthread_mutex_unlock(&host->lock);
    return ret;
}

int vmbus_channel_send(struct vmbus_channel *ch, uint16_t type, uint16_t flags,
                       uint64_t trans_id, const void *data, uint32_t len)
{
    return vmbus_channel_send_ext(ch, type, flags, trans_id, NULL, 0, data, len);
}

int vmbus_channel_recv(struct vmbus_channel *ch, void *buf, uint32_t cap,
                       struct vmbus_packet *pkt)
{
    pthread_mutex_lock(&ch->host->lock);
    int rc = -1;
    if (ch->state == VMBUS_CH_OPEN)
        rc = read_one(ch, buf, cap, pkt);
    pthread_mutex_unlock(&ch->host->lock);
    return rc;
}

void vmbus_channel_signal(struct vmbus_channel *ch)
{
    pthread_mutex_lock(&ch->host->lock);
    if (ch->state == VMBUS_CH_OPEN)
        signal_guest(ch);
    pthread_mutex_unlock(&ch->host->lock);
}

void vmbus_channel_poll(struct vmbus_channel *ch)
{
    pthread_mutex_lock(&ch->host->lock);
    vmbus_channel_process_locked(ch);
    pthread_mutex_unlock(&ch->host->lock);
}

void vmbus_channel_lock(struct vmbus_channel *ch)
{
    pthread_mutex_lock(&ch->host->lock);
}

void vmbus_channel_unlock(struct vmbus_channel *ch)
{
    pthread_mutex_unlock(&ch->host->lock);
}

void *vmbus_channel_device_ctx(const struct vmbus_channel *ch)
{
    return ch->desc->ctx;
}

void vmbus_channel_set_priv(struct vmbus_channel *ch, void *priv)
{
    ch->priv = priv;
}

void *vmbus_channel_priv(const struct vmbus_channel *ch)
{
    return ch->priv;
}

uint32_t vmbus_channel_relid(const struct vmbus_channel *ch)
{
    return ch->relid;
}

uint32_t vmbus_channel_target_vp(const struct vmbus_channel *ch)
{
    return ch->target_vp;
}

const struct guest_mem *vmbus_channel_gmem(const struct vmbus_channel *ch)
{
    return ch->host->gm;
}

const struct vmbus_gpadl *vmbus_channel_gpadl(struct vmbus_channel *ch, uint32_t gpadl_id)
{
    pthread_mutex_lock(&ch->host->lock);
    const struct vmbus_gpadl *g = vmbus_find_gpadl_locked(ch->host, gpadl_id);
    if (g && (g->relid != ch->relid || g->failed || !vmbus_gpadl_complete(g)))
        g = NULL;
    pthread_mutex_unlock(&ch->host->lock);
    return g;
}

bool vmbus_channel_is_open(struct vmbus_channel *ch)
{
    pthread_mutex_lock(&ch->host->lock);
    bool open = ch->state == VMBUS_CH_OPEN;
    pthread_mutex_unlock(&ch->host->lock);
    return open;
}

uint16_t vmbus_channel_subchannel_index(const struct vmbus_channel *ch)
{
    return ch->subidx;
}

struct vmbus_channel *vmbus_channel_primary(struct vmbus_channel *ch)
{
    return ch->primary ? ch->primary : ch;
}
