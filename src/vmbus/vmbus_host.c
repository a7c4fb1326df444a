/* VMBus control plane: channel messages from the guest (HvPostMessage) and the host's
 * answers (reference §5). Each guest message is handled completely inside its hypercall;
 * answers are posted to SINT2 of the connection's target VP, in order. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "vmbus/vmbus_internal.h"

#define VMBUS_STATUS_UNSUCCESSFUL 0xC0000001u

/* Versions Linux 6.1 asks for, newest first (reference §5.3). */
static const uint32_t supported_versions[] = {
    VMBUS_VERSION_WIN10_V5_3, VMBUS_VERSION_WIN10_V5_2, VMBUS_VERSION_WIN10_V5_1,
    VMBUS_VERSION_WIN10_V5,   VMBUS_VERSION_WIN10_V4_1, VMBUS_VERSION_WIN10,
    VMBUS_VERSION_WIN8_1,     VMBUS_VERSION_WIN8,
};

static bool version_supported(uint32_t v)
{
    for (size_t i = 0; i < sizeof(supported_versions) / sizeof(supported_versions[0]); i++)
        if (supported_versions[i] == v)
            return true;
    return false;
}

/* Minimum payload per guest->host message type (0 = not accepted from the guest). */
static uint32_t min_size(uint32_t type)
{
    switch (type) {
    case CHANNELMSG_REQUESTOFFERS:
    case CHANNELMSG_UNLOAD: return sizeof(struct vmbus_msg_header);
    case CHANNELMSG_OPENCHANNEL: return sizeof(struct vmbus_msg_open_channel);
    case CHANNELMSG_CLOSECHANNEL:
    case CHANNELMSG_RELID_RELEASED: return sizeof(struct vmbus_msg_relid);
    case CHANNELMSG_GPADL_HEADER:
        return sizeof(struct vmbus_msg_gpadl_header) + sizeof(struct vmbus_gpa_range);
    case CHANNELMSG_GPADL_BODY: return sizeof(struct vmbus_msg_gpadl_body);
    case CHANNELMSG_GPADL_TEARDOWN: return sizeof(struct vmbus_msg_gpadl_teardown);
    case CHANNELMSG_INITIATE_CONTACT: return sizeof(struct vmbus_msg_initiate_contact);
    case CHANNELMSG_TL_CONNECT_REQUEST: return sizeof(struct vmbus_msg_tl_connect_request);
    case CHANNELMSG_MODIFYCHANNEL: return sizeof(struct vmbus_msg_modify_channel);
    default: return 0;
    }
}

static void send_to(struct vmbus_host *host, uint32_t vp, const void *msg, uint32_t len)
{
    if (hv_synic_post_message(host->hv, vp, VMBUS_MESSAGE_SINT, VMBUS_MESSAGE_TYPE, msg, len) != 0)
        vlog_error("vmbus: could not queue message type %u for VP %u",
                   ((const struct vmbus_msg_header *)msg)->msgtype, vp);
}

static void send_msg(struct vmbus_host *host, const void *msg, uint32_t len)
{
    send_to(host, host->target_vcpu, msg, len);
}

static struct vmbus_channel *channel_by_relid(struct vmbus_host *host, uint32_t relid)
{
    if (relid == 0 || relid > host->nchans)
        return NULL;
    struct vmbus_channel *ch = &host->chans[relid - 1];
    return ch->state == VMBUS_CH_GONE || ch->state == VMBUS_CH_UNOFFERED ? NULL : ch;
}

static bool offered_state(enum vmbus_chan_state s)
{
    return s == VMBUS_CH_CLOSED || s == VMBUS_CH_OPEN || s == VMBUS_CH_BROKEN;
}

/* Where a sub-channel goes when the guest is done with it: back to an unoffered slot
 * while its primary lives, else gone. */
static enum vmbus_chan_state retired_state(const struct vmbus_channel *ch)
{
    if (ch->primary && offered_state(ch->primary->state))
        return VMBUS_CH_UNOFFERED;
    return VMBUS_CH_GONE;
}

static void remove_gpadl(struct vmbus_host *host, unsigned i)
{
    struct vmbus_gpadl *g = host->gpadls[i];
    host->gpadl_pages -= g->pfns ? g->npages : 0;
    vmbus_gpadl_free(g);
    host->gpadls[i] = host->gpadls[--host->ngpadls];
}

/* Back to the state before INITIATE_CONTACT: every channel closed, every GPADL gone,
 * rescinded channels released. Used by UNLOAD and by a new INITIATE_CONTACT (a kexec'd
 * or rebooted guest that did not unload). */
static void reset_connection(struct vmbus_host *host)
{
    for (unsigned i = 0; i < host->nchans; i++) {
        struct vmbus_channel *ch = &host->chans[i];
        vmbus_channel_close_locked(ch);
        if (ch->state == VMBUS_CH_RESCINDED)
            ch->state = VMBUS_CH_GONE;
        /* Sub-channels exist per connection: the device offers them again on request. */
        if (ch->primary && ch->state != VMBUS_CH_GONE)
            ch->state = retired_state(ch);
    }
    while (host->ngpadls)
        remove_gpadl(host, host->ngpadls - 1);
    host->conn = VMBUS_DISCONNECTED;
    host->offers_sent = false;
    host->version = 0;
}

static uint16_t on_initiate_contact(struct vmbus_host *host, uint32_t vp, const uint8_t *m)
{
    struct vmbus_msg_initiate_contact ic;
    memcpy(&ic, m, sizeof(ic));
    if (host->conn == VMBUS_CONNECTED)
        reset_connection(host);
    struct vmbus_msg_version_response r = { .hdr.msgtype = CHANNELMSG_VERSION_RESPONSE };
    bool ok = version_supported(ic.version_requested) && ic.target_vcpu < hv_vcpu_count(host->hv);
    /* >= 5.0 names the message SINT; we deliver on SINT2, which is what Linux asks for. */
    if (ok && ic.version_requested >= VMBUS_VERSION_WIN10_V5 &&
        (ic.interrupt_page_or_sint & 0xFF) != VMBUS_MESSAGE_SINT)
        ok = false;
    uint32_t reply_vp = ic.target_vcpu < hv_vcpu_count(host->hv) ? ic.target_vcpu : vp;
    if (ok) {
        host->conn = VMBUS_CONNECTED;
        host->version = ic.version_requested;
        host->target_vcpu = ic.target_vcpu;
        host->interrupt_page =
            ic.version_requested < VMBUS_VERSION_WIN10_V5 ? ic.interrupt_page_or_sint : 0;
        host->monitor_page1 = ic.monitor_page1;
        host->monitor_page2 = ic.monitor_page2;
        r.version_supported = 1;
        r.msg_conn_id = VMBUS_MESSAGE_CONNECTION_ID;
    }
    send_to(host, reply_vp, &r, sizeof(r));
    return HV_STATUS_SUCCESS;
}

static void send_offer(struct vmbus_host *host, const struct vmbus_channel *ch)
{
    struct vmbus_msg_offer_channel o;
    memset(&o, 0, sizeof(o));
    o.hdr.msgtype = CHANNELMSG_OFFERCHANNEL;
    o.if_type = ch->desc->if_type;
    o.if_instance = ch->desc->if_instance;
    o.chn_flags = ch->desc->chn_flags;
    o.mmio_megabytes = ch->desc->mmio_megabytes;
    if (ch->desc->offer_user_def)
        memcpy(o.user_def, ch->desc->offer_user_def, sizeof(o.user_def));
    o.sub_channel_index = ch->subidx;
    o.child_relid = ch->relid;
    o.is_dedicated_interrupt = 1; /* no shared send-interrupt page */
    o.connection_id = ch->conn_id;
    send_msg(host, &o, sizeof(o));
}

static uint16_t on_request_offers(struct vmbus_host *host)
{
    if (host->offers_sent)
        return HV_STATUS_SUCCESS; /* asked twice: the guest has them already */
    host->offers_sent = true;
    for (unsigned i = 0; i < host->nchans; i++)
        if (offered_state(host->chans[i].state))
            send_offer(host, &host->chans[i]);
    struct vmbus_msg_header done = { .msgtype = CHANNELMSG_ALLOFFERS_DELIVERED };
    send_msg(host, &done, sizeof(done));
    return HV_STATUS_SUCCESS;
}

static void gpadl_finish(struct vmbus_host *host, struct vmbus_gpadl *g)
{
    struct vmbus_msg_gpadl_created r = {
        .hdr.msgtype = CHANNELMSG_GPADL_CREATED,
        .child_relid = g->relid,
        .gpadl = g->id,
        .creation_status = g->failed ? VMBUS_STATUS_UNSUCCESSFUL : 0,
    };
    send_msg(host, &r, sizeof(r));
    if (g->failed) {
        for (unsigned i = 0; i < host->ngpadls; i++)
            if (host->gpadls[i] == g)
                remove_gpadl(host, i);
    }
}

static uint16_t on_gpadl_header(struct vmbus_host *host, const uint8_t *m, uint32_t len)
{
    uint64_t budget = VMBUS_GPADL_TOTAL_PAGES - host->gpadl_pages;
    struct vmbus_gpadl *g = vmbus_gpadl_from_header(host->gm, m, len, budget);
    if (!g)
        return HV_STATUS_INSUFFICIENT_MEMORY;
    if (vmbus_find_gpadl_locked(host, g->id) || !channel_by_relid(host, g->relid) ||
        host->ngpadls == VMBUS_GPADL_MAX_COUNT) {
        /* Duplicate id, unknown channel or too many: refuse at once; any bodies that
         * follow are dropped as belonging to no GPADL being built. */
        g->failed = true;
        struct vmbus_msg_gpadl_created r = { .hdr.msgtype = CHANNELMSG_GPADL_CREATED,
                                             .child_relid = g->relid, .gpadl = g->id,
                                             .creation_status = VMBUS_STATUS_UNSUCCESSFUL };
        vmbus_gpadl_free(g);
        send_msg(host, &r, sizeof(r));
        return HV_STATUS_SUCCESS;
    }
    host->gpadls[host->ngpadls++] = g;
    host->gpadl_pages += g->pfns ? g->npages : 0;
    if (vmbus_gpadl_complete(g))
        gpadl_finish(host, g);
    return HV_STATUS_SUCCESS;
}

static uint16_t on_gpadl_body(struct vmbus_host *host, const uint8_t *m, uint32_t len)
{
    struct vmbus_msg_gpadl_body b;
    memcpy(&b, m, sizeof(b));
    struct vmbus_gpadl *g = vmbus_find_gpadl_locked(host, b.gpadl);
    if (!g || vmbus_gpadl_complete(g))
        return HV_STATUS_INVALID_PARAMETER; /* body for no GPADL under construction */
    bool had_pfns = g->pfns != NULL;
    vmbus_gpadl_add_body(g, host->gm, m, len);
    if (had_pfns && !g->pfns)
        host->gpadl_pages -= g->npages;
    if (vmbus_gpadl_complete(g))
        gpadl_finish(host, g);
    return HV_STATUS_SUCCESS;
}

static uint16_t on_gpadl_teardown(struct vmbus_host *host, const uint8_t *m)
{
    struct vmbus_msg_gpadl_teardown t;
    memcpy(&t, m, sizeof(t));
    for (unsigned i = 0; i < host->ngpadls; i++) {
        struct vmbus_gpadl *g = host->gpadls[i];
        if (g->id != t.gpadl || g->relid != t.child_relid)
            continue;
        /* Still the ring of an open channel: the guest skipped CLOSECHANNEL; close it. */
        for (unsigned c = 0; c < host->nchans && g->ring_users; c++) {
            struct vmbus_channel *ch = &host->chans[c];
            if ((ch->state == VMBUS_CH_OPEN || ch->state == VMBUS_CH_BROKEN) &&
                ch->ring_gpadl == g->id)
                vmbus_channel_close_locked(ch);
        }
        remove_gpadl(host, i);
        break;
    }
    /* Always answer: the guest waits for TORNDOWN without a timeout. */
    struct vmbus_msg_gpadl_torndown r = { .hdr.msgtype = CHANNELMSG_GPADL_TORNDOWN,
                                          .gpadl = t.gpadl };
    send_msg(host, &r, sizeof(r));
    return HV_STATUS_SUCCESS;
}

static uint16_t on_open_channel(struct vmbus_host *host, const uint8_t *m)
{
    struct vmbus_msg_open_channel o;
    memcpy(&o, m, sizeof(o));
    struct vmbus_msg_open_result r = { .hdr.msgtype = CHANNELMSG_OPENCHANNEL_RESULT,
                                       .child_relid = o.child_relid, .openid = o.openid,
                                       .status = VMBUS_STATUS_UNSUCCESSFUL };
    struct vmbus_channel *ch = channel_by_relid(host, o.child_relid);
    struct vmbus_gpadl *g = vmbus_find_gpadl_locked(host, o.ringbuffer_gpadlhandle);
    if (ch && ch->state == VMBUS_CH_CLOSED && host->offers_sent && g && !g->failed &&
        vmbus_gpadl_complete(g) && g->relid == ch->relid &&
        o.target_vp < hv_vcpu_count(host->hv) &&
        vmbus_channel_open_locked(ch, g, o.downstream_ringbuffer_pageoffset, o.target_vp,
                                  o.userdata) == 0) {
        g->ring_users++;
        ch->openid = o.openid;
        r.status = 0;
    }
    send_msg(host, &r, sizeof(r));
    /* Packets the device queued in open() were not signalled (the guest could not take
     * them before the result): signal now. */
    if (r.status == 0 && ch->state == VMBUS_CH_OPEN && vmbus_ring_free(&ch->out) !=
                                                           ch->out.data_size)
        hv_synic_signal_event(host->hv, ch->target_vp, VMBUS_MESSAGE_SINT, ch->relid);
    return HV_STATUS_SUCCESS;
}

static uint16_t on_modify_channel(struct vmbus_host *host, const uint8_t *m)
{
    struct vmbus_msg_modify_channel mc;
    memcpy(&mc, m, sizeof(mc));
    struct vmbus_channel *ch = channel_by_relid(host, mc.child_relid);
    struct vmbus_msg_modify_channel_response r = {
        .hdr.msgtype = CHANNELMSG_MODIFYCHANNEL_RESPONSE, .child_relid = mc.child_relid,
        .status = VMBUS_STATUS_UNSUCCESSFUL };
    if (ch && ch->state == VMBUS_CH_OPEN && mc.target_vp < hv_vcpu_count(host->hv)) {
        ch->target_vp = mc.target_vp;
        r.status = 0;
    }
    if (host->version >= VMBUS_VERSION_WIN10_V5_3) /* older guests expect no answer */
        send_msg(host, &r, sizeof(r));
    return HV_STATUS_SUCCESS;
}

static uint16_t on_unload(struct vmbus_host *host)
{
    uint32_t vp = host->target_vcpu;
    reset_connection(host);
    struct vmbus_msg_header r = { .msgtype = CHANNELMSG_UNLOAD_RESPONSE };
    send_to(host, vp, &r, sizeof(r));
    return HV_STATUS_SUCCESS;
}

static uint16_t on_tl_connect(struct vmbus_host *host, const uint8_t *m)
{
    /* No hv_sock service here: refuse every connection. */
    struct vmbus_msg_tl_connect_request q;
    memcpy(&q, m, sizeof(q));
    struct vmbus_msg_tl_connect_result r = { .hdr.msgtype = CHANNELMSG_TL_CONNECT_RESULT,
                                             .guest_endpoint_id = q.guest_endpoint_id,
                                             .host_service_id = q.host_service_id,
                                             .status = VMBUS_STATUS_UNSUCCESSFUL };
    send_msg(host, &r, sizeof(r));
    return HV_STATUS_SUCCESS;
}

/* Host lock held: the offered sub-channels of primary CH rescinded (none if CH is one). */
static void rescind_subchannels(struct vmbus_channel *ch)
{
    struct vmbus_host *host = ch->host;
    for (unsigned i = 0; i < host->nchans && !ch->primary; i++)
        if (host->chans[i].primary == ch && offered_state(host->chans[i].state))
            vmbus_channel_rescind(&host->chans[i]);
}

static uint16_t dispatch(struct vmbus_host *host, uint32_t vp, const uint8_t *m, uint32_t len)
{
    struct vmbus_msg_header h;
    memcpy(&h, m, sizeof(h));
    if (h.msgtype == CHANNELMSG_INITIATE_CONTACT)
        return on_initiate_contact(host, vp, m);
    if (h.msgtype == CHANNELMSG_UNLOAD)
        return on_unload(host);
    if (host->conn != VMBUS_CONNECTED)
        return HV_STATUS_INVALID_PARAMETER; /* nothing but contact before contact */
    switch (h.msgtype) {
    case CHANNELMSG_REQUESTOFFERS: return on_request_offers(host);
    case CHANNELMSG_GPADL_HEADER: return on_gpadl_header(host, m, len);
    case CHANNELMSG_GPADL_BODY: return on_gpadl_body(host, m, len);
    case CHANNELMSG_GPADL_TEARDOWN: return on_gpadl_teardown(host, m);
    case CHANNELMSG_OPENCHANNEL: return on_open_channel(host, m);
    case CHANNELMSG_CLOSECHANNEL: {
        struct vmbus_msg_relid c;
        memcpy(&c, m, sizeof(c));
        struct vmbus_channel *ch = channel_by_relid(host, c.child_relid);
        if (!ch)
            return HV_STATUS_SUCCESS;
        vmbus_channel_close_locked(ch); /* no reply in the protocol */
        /* A primary's sub-channels belong to the driver instance that asked for them:
         * they are rescinded with its close (Linux closes them first, then the
         * primary, and frees them on the rescind), so the next instance - a netvsc
         * re-attached for an MTU or channel-count change - asks again and gets fresh
         * offers, which it waits for. */
        rescind_subchannels(ch);
        return HV_STATUS_SUCCESS;
    }
    case CHANNELMSG_RELID_RELEASED: {
        struct vmbus_msg_relid c;
        memcpy(&c, m, sizeof(c));
        struct vmbus_channel *ch = channel_by_relid(host, c.child_relid);
        if (ch && ch->state == VMBUS_CH_RESCINDED)
            ch->state = ch->primary ? retired_state(ch) : VMBUS_CH_GONE;
        return HV_STATUS_SUCCESS;
    }
    case CHANNELMSG_MODIFYCHANNEL: return on_modify_channel(host, m);
    case CHANNELMSG_TL_CONNECT_REQUEST: return on_tl_connect(host, m);
    default: return HV_STATUS_INVALID_PARAMETER;
    }
}

uint16_t vmbus_handle_post_message(void *ctx, uint32_t vp, uint32_t connection_id,
                                   uint32_t message_type, const void *payload, uint32_t size)
{
    struct vmbus_host *host = ctx;
    if (connection_id != VMBUS_MESSAGE_CONNECTION_ID &&
        connection_id != VMBUS_MESSAGE_CONNECTION_ID_4)
        return HV_STATUS_INVALID_CONNECTION_ID;
    if (message_type != VMBUS_MESSAGE_TYPE || size < sizeof(struct vmbus_msg_header) ||
        size > HV_MESSAGE_PAYLOAD_MAX)
        return HV_STATUS_INVALID_PARAMETER;
    uint8_t m[HV_MESSAGE_PAYLOAD_MAX];
    memcpy(m, payload, size);
    struct vmbus_msg_header h;
    memcpy(&h, m, sizeof(h));
    uint32_t need = min_size(h.msgtype);
    if (need == 0 || size < need) {
        vlog_debug("vmbus: dropped channel message type %u, %u bytes", h.msgtype, size);
        return HV_STATUS_INVALID_PARAMETER;
    }
    pthread_mutex_lock(&host->lock);
    /* Back-pressure: if the guest is not consuming our messages, make it retry (it does,
     * with back-off, on INSUFFICIENT_BUFFERS) rather than lose an answer. Room is kept
     * for the largest burst one message causes (all offers). */
    uint16_t st;
    if (host->conn == VMBUS_CONNECTED &&
        hv_synic_queued(host->hv, host->target_vcpu, VMBUS_MESSAGE_SINT) + host->nchans + 2 >
            HV_SYNIC_QUEUE_MAX)
        st = HV_STATUS_INSUFFICIENT_BUFFERS;
    else
        st = dispatch(host, vp, m, size);
    pthread_mutex_unlock(&host->lock);
    return st;
}

uint16_t vmbus_handle_signal_event(void *ctx, uint32_t vp, uint32_t connection_id,
                                   uint16_t flag)
{
    struct vmbus_host *host = ctx;
    if (connection_id <= VMBUS_CONNECTION_ID_BASE ||
        connection_id - VMBUS_CONNECTION_ID_BASE > host->nchans)
        return HV_STATUS_INVALID_CONNECTION_ID;
    return vmbus_serve_signal(host, &host->chans[connection_id - VMBUS_CONNECTION_ID_BASE - 1]);
}

uint16_t vmbus_serve_signal(struct vmbus_host *host, struct vmbus_channel *ch)
{
    pthread_mutex_lock(&host->lock);
    uint16_t st = HV_STATUS_SUCCESS;
    if (ch->state == VMBUS_CH_GONE || ch->state == VMBUS_CH_UNOFFERED)
        st = HV_STATUS_INVALID_CONNECTION_ID;
    else
        vmbus_channel_process_locked(ch);
    pthread_mutex_unlock(&host->lock);
    return st;
}

struct vmbus_host *vmbus_create(struct hv_partition *hv, const struct guest_mem *gm,
                                const struct vmbus_device_desc *const *devs, unsigned ndevs)
{
    if (!hv || !gm || ndevs > VMBUS_MAX_CHANNELS || (ndevs && !devs))
        return NULL;
    for (unsigned i = 0; i < ndevs; i++) {
        if (!devs[i])
            return NULL;
        for (unsigned j = 0; j < i; j++)
            if (!memcmp(&devs[i]->if_instance, &devs[j]->if_instance, sizeof(struct vmbus_guid)) &&
                !memcmp(&devs[i]->if_type, &devs[j]->if_type, sizeof(struct vmbus_guid)))
                return NULL; /* the guest would take it for a sub-channel */
    }
    unsigned total = 0;
    for (unsigned i = 0; i < ndevs; i++)
        total += 1u + devs[i]->max_subchannels;
    if (total > VMBUS_MAX_CHANNELS)
        return NULL;
    struct vmbus_host *host = calloc(1, sizeof(*host));
    if (!host)
        return NULL;
    host->chans = calloc(total ? total : 1, sizeof(*host->chans));
    if (!host->chans) {
        free(host);
        return NULL;
    }
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&host->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    host->hv = hv;
    host->gm = gm;
    host->nchans = total;
    unsigned slot = 0;
    for (unsigned i = 0; i < ndevs; i++) {
        struct vmbus_channel *primary = &host->chans[slot];
        for (unsigned s = 0; s <= devs[i]->max_subchannels; s++, slot++) {
            struct vmbus_channel *ch = &host->chans[slot];
            ch->host = host;
            ch->desc = devs[i];
            ch->relid = slot + 1;
            ch->conn_id = VMBUS_CONNECTION_ID_BASE + ch->relid;
            ch->subidx = (uint16_t)s;
            ch->primary = s ? primary : NULL;
            ch->state = s ? VMBUS_CH_UNOFFERED : VMBUS_CH_CLOSED;
        }
    }
    struct hv_guest_handlers h = { vmbus_handle_post_message, vmbus_handle_signal_event };
    hv_set_guest_handlers(hv, &h, host);
    return host;
}

void vmbus_destroy(struct vmbus_host *host)
{
    if (!host)
        return;
    vmbus_doorbells_stop(host);
    hv_set_guest_handlers(host->hv, NULL, NULL);
    pthread_mutex_lock(&host->lock);
    reset_connection(host);
    pthread_mutex_unlock(&host->lock);
    pthread_mutex_destroy(&host->lock);
    free(host->chans);
    free(host);
}

struct vmbus_channel *vmbus_host_channel(struct vmbus_host *host, unsigned index)
{
    for (unsigned i = 0; i < host->nchans; i++)
        if (!host->chans[i].primary && index-- == 0)
            return &host->chans[i];
    return NULL;
}

int vmbus_channel_rescind(struct vmbus_channel *ch)
{
    struct vmbus_host *host = ch->host;
    pthread_mutex_lock(&host->lock);
    int rc = 0;
    if (!offered_state(ch->state)) {
        rc = -1;
    } else {
        /* A primary takes its sub-channels with it (they come after it in the array). */
        rescind_subchannels(ch);
        vmbus_channel_close_locked(ch);
        if (host->conn == VMBUS_CONNECTED && host->offers_sent) {
            ch->state = VMBUS_CH_RESCINDED;
            struct vmbus_msg_relid r = { .hdr.msgtype = CHANNELMSG_RESCIND_CHANNELOFFER,
                                         .child_relid = ch->relid };
            send_msg(host, &r, sizeof(r));
        } else {
            ch->state = VMBUS_CH_GONE;
        }
    }
    pthread_mutex_unlock(&host->lock);
    return rc;
}

bool vmbus_host_connected(struct vmbus_host *host)
{
    pthread_mutex_lock(&host->lock);
    bool c = host->conn == VMBUS_CONNECTED;
    pthread_mutex_unlock(&host->lock);
    return c;
}

uint32_t vmbus_host_version(struct vmbus_host *host)
{
    pthread_mutex_lock(&host->lock);
    uint32_t v = host->version;
    pthread_mutex_unlock(&host->lock);
    return v;
}

unsigned vmbus_host_gpadl_count(struct vmbus_host *host)
{
    pthread_mutex_lock(&host->lock);
    unsigned n = host->ngpadls;
    pthread_mutex_unlock(&host->lock);
    return n;
}

struct vmbus_channel *vmbus_host_find_channel(struct vmbus_host *host,
                                              const struct vmbus_device_desc *desc)
{
    for (unsigned i = 0; i < host->nchans; i++)
        if (host->chans[i].desc == desc)
            return &host->chans[i];
    return NULL;
}

int vmbus_channel_offer_subchannels(struct vmbus_channel *primary, unsigned n)
{
    struct vmbus_host *host = primary->host;
    pthread_mutex_lock(&host->lock);
    int offered = -1;
    if (!primary->primary && offered_state(primary->state) && host->conn == VMBUS_CONNECTED &&
        host->offers_sent) {
        offered = 0;
        for (unsigned i = 0; i < host->nchans && (unsigned)offered < n; i++) {
            struct vmbus_channel *ch = &host->chans[i];
            if (ch->primary == primary && ch->state == VMBUS_CH_UNOFFERED) {
                ch->state = VMBUS_CH_CLOSED;
                send_offer(host, ch);
                offered++;
            }
        }
    }
    pthread_mutex_unlock(&host->lock);
    return offered;
}
