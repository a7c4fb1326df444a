/* Time sync IC: a SYNC sample right after negotiation (the guest steps its clock, as
 * Hyper-V does at start/resume), then a SAMPLE every timesync_period_ms (stored by the
 * guest for its "hyperv" PTP clock). Times are FILETIME (100 ns since 1601, UTC). With
 * message version 4.0 the sample also carries the guest's reference counter at the
 * instant the host time was read, so the guest corrects for delivery delay. */
#include <errno.h>
#include <string.h>

#include "vsp/ic_common.h"

static const uint32_t timesync_versions[] = { IC_VER(4, 0), IC_VER(3, 0), IC_VER(1, 0) };

static bool timesync_offer(const struct ic_chan *c, uint32_t v)
{
    return v < IC_VER(4, 0) || c->ic->cfg.hv != NULL;
}

static int send_sample(struct ic_chan *c, uint8_t flags)
{
    uint32_t size = c->msg_version >= IC_VER(4, 0) ? sizeof(struct ic_timesync_body_v4)
                                                   : sizeof(struct ic_timesync_body_v3);
    struct ic_req *rq = ic_req_new(c, size);
    if (!rq)
        return -ENOMEM;
    rq->cookie = flags;
    rq->timeout_ms = c->ic->cfg.request_timeout_ms;
    int64_t rc = ic_submit(c, rq, false);
    return rc < 0 ? (int)rc : 0;
}

/* Taken as the request goes on the ring, not when it was queued. */
static void timesync_prepare(struct ic_chan *c, struct ic_req *rq)
{
    uint64_t ref = 0;
    if (c->msg_version >= IC_VER(4, 0) && c->ic->cfg.hv)
        hv_msr_read(c->ic->cfg.hv, 0, HV_MSR_TIME_REF_COUNT, &ref);
    uint64_t now = ic_filetime_now(c->ic);
    if (c->msg_version >= IC_VER(4, 0)) {
        struct ic_timesync_body_v4 b = { .parenttime = now, .vmreferencetime = ref,
                                          .flags = (uint8_t)rq->cookie };
        memcpy(ic_req_body(rq), &b, sizeof(b));
    } else {
        struct ic_timesync_body_v3 b = { .parenttime = now, .flags = (uint8_t)rq->cookie };
        memcpy(ic_req_body(rq), &b, sizeof(b));
    }
}

static void timesync_tick(struct ic_chan *c, uint64_t now)
{
    if (now < c->ts_next_ms || c->inflight || c->queue)
        return;
    c->ts_next_ms = now + c->ic->cfg.timesync_period_ms;
    send_sample(c, IC_TIMESYNC_SAMPLE);
}

static void timesync_ready(struct ic_chan *c, uint64_t now)
{
    c->ts_next_ms = now + c->ic->cfg.timesync_period_ms;
    send_sample(c, IC_TIMESYNC_SYNC);
}

static int timesync_response(struct ic_chan *c, struct ic_req *rq, const uint8_t *body,
                             uint32_t body_len, struct ic_result *res)
{
    if (res->status == IC_S_OK)
        c->ts_acked++;
    return 0;
}

int ic_timesync_sync(struct ic *ic)
{
    if (!ic)
        return -ENODEV;
    ic_lock(ic);
    struct ic_chan *c = ic->chans[IC_TIMESYNC];
    int rc = !c ? -ENODEV : c->state != IC_STATE_READY ? -ENOTCONN
                                                         : send_sample(c, IC_TIMESYNC_SYNC);
    ic_unlock(ic);
    return rc;
}

const struct ic_service ic_timesync_service = {
    .name = "timesync",
    .kind = IC_TIMESYNC,
    .msgtype = IC_MSG_TIMESYNC,
    .versions = timesync_versions,
    .nversions = 3,
    .offer_version = timesync_offer,
    .ready = timesync_ready,
    .tick = timesync_tick,
    .prepare = timesync_prepare,
    .response = timesync_response,
};

const struct vmbus_device_desc ic_timesync_desc = {
    .name = "ic-timesync",
    .if_type = { { 0x30, 0xe6, 0x27, 0x95, 0xae, 0xd0, 0x7b, 0x49, 0xad, 0xce, 0xe8, 0x0a,
                   0xb0, 0x17, 0x5c, 0xaf } },
    .if_instance = { { 0x17, 0xce, 0xd1, 0x2d, 0x9e, 0x07, 0x3c, 0x40, 0xb3, 0x52, 0xa1,
                       0x92, 0x1e, 0xe2, 0x07, 0xee } },
    .max_pkt_size = 4096,
    .ctx = (void *)&ic_timesync_service,
    .open = ic_dev_open,
    .close = ic_dev_close,
    .on_packet = ic_dev_packet,
    .on_writable = ic_dev_writable,
};
