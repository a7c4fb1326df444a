/* Heartbeat IC: every heartbeat_period_ms the host sends a sequence number, the guest
 * answers it incremented by one; the time of the last good answer says "alive". */
#include <string.h>

#include "core/log.h"
#include "vsp/ic_common.h"

static const uint32_t heartbeat_versions[] = { IC_VER(3, 0), IC_VER(1, 0) };

static void heartbeat_tick(struct ic_chan *c, uint64_t now)
{
    if (now < c->hb_next_ms || c->inflight || c->queue)
        return;
    struct ic_heartbeat_body b = { .seq_num = c->hb_seq };
    struct ic_req *rq = ic_req_new(c, sizeof(b));
    if (!rq)
        return;
    memcpy(ic_req_body(rq), &b, sizeof(b));
    rq->cookie = b.seq_num;
    rq->timeout_ms = c->ic->cfg.request_timeout_ms;
    c->hb_next_ms = now + c->ic->cfg.heartbeat_period_ms;
    ic_submit(c, rq, false);
}

static void heartbeat_ready(struct ic_chan *c, uint64_t now)
{
    c->hb_next_ms = now;
    heartbeat_tick(c, now);
}

static int heartbeat_response(struct ic_chan *c, struct ic_req *rq, const uint8_t *body,
                              uint32_t body_len, struct ic_result *res)
{
    uint64_t seq;
    memcpy(&seq, body, sizeof(seq));
    if (seq != rq->cookie + 1 || res->status != IC_S_OK) {
        vlog_debug("ic heartbeat: answer %llu (status %#x) to %llu not counted",
                   (unsigned long long)seq, res->status, (unsigned long long)rq->cookie);
        return 0;
    }
    c->hb_seq = seq;
    c->hb_last_ms = ic_now_ms(c->ic);
    c->hb_answered = true;
    return 0;
}

static void heartbeat_reset(struct ic_chan *c)
{
    c->hb_answered = false;
    c->hb_next_ms = 0;
}

const struct ic_service ic_heartbeat_service = {
    .name = "heartbeat",
    .kind = IC_HEARTBEAT,
    .msgtype = IC_MSG_HEARTBEAT,
    .versions = heartbeat_versions,
    .nversions = 2,
    .max_outstanding = 0,
    .min_body = sizeof(uint64_t),
    .ready = heartbeat_ready,
    .tick = heartbeat_tick,
    .response = heartbeat_response,
    .reset = heartbeat_reset,
};

const struct vmbus_device_desc ic_heartbeat_desc = {
    .name = "ic-heartbeat",
    .if_type = { { 0x39, 0x4f, 0x16, 0x57, 0x15, 0x91, 0x78, 0x4e, 0xab, 0x55, 0x38, 0x2f,
                   0x3b, 0xd5, 0x42, 0x2d } },
    .if_instance = { { 0x35, 0xbc, 0x5b, 0x3e, 0xef, 0x83, 0xe4, 0x4c, 0xa3, 0xc9, 0x4a,
                       0x7a, 0x6d, 0x1b, 0x2a, 0x51 } },
    .max_pkt_size = 4096,
    .ctx = (void *)&ic_heartbeat_service,
    .open = ic_dev_open,
    .close = ic_dev_close,
    .on_packet = ic_dev_packet,
    .on_writable = ic_dev_writable,
};
