/* The IC framework: headers, negotiation, and the per-channel request queue that the
 * four services share. All state here is guarded by the VMBus host lock (ic_lock); the
 * device callbacks already run under it. */
#include "vsp/ic_common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

const uint32_t ic_fw_versions[] = { IC_VER(3, 0), IC_VER(1, 0) };
const unsigned ic_fw_version_count = 2;

/* --- clocks and locking ---------------------------------------------------------------- */

uint64_t ic_now_ms(const struct ic *ic)
{
    if (ic->cfg.monotonic_ms)
        return ic->cfg.monotonic_ms(ic->cfg.clock_ctx);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t ic_filetime_now(const struct ic *ic)
{
    if (ic->cfg.filetime_now)
        return ic->cfg.filetime_now(ic->cfg.clock_ctx);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 10000000u + (uint64_t)ts.tv_nsec / 100u +
           IC_FILETIME_UNIX_EPOCH;
}

void ic_lock(struct ic *ic)
{
    vmbus_channel_lock(ic->lock_ch);
}

void ic_unlock(struct ic *ic)
{
    vmbus_channel_unlock(ic->lock_ch);
}

struct ic_chan *ic_chan_of(struct ic *ic, enum ic_kind kind)
{
    return ic && (unsigned)kind < IC_KIND_COUNT ? ic->chans[kind] : NULL;
}

/* --- headers --------------------------------------------------------------------------- */

void ic_hdr_build(uint8_t *msg, uint32_t body_len, uint16_t msgtype, uint32_t fw_version,
                  uint32_t msg_version, uint8_t flags, uint8_t trans_id)
{
    struct ic_hdr h = {
        .pipe = { .flags = IC_PIPE_FLAG_DATA, .msgsize = IC_HDR_SIZE - 8 + body_len },
        .msg = {
            .fw_major = IC_VER_MAJOR(fw_version), .fw_minor = IC_VER_MINOR(fw_version),
            .msgtype = msgtype,
            .msg_major = IC_VER_MAJOR(msg_version), .msg_minor = IC_VER_MINOR(msg_version),
            .msgsize = (uint16_t)body_len,
            .trans_id = trans_id,
            .flags = flags,
        },
    };
    memcpy(msg, &h, sizeof(h));
}

int ic_hdr_parse(const uint8_t *msg, uint32_t len, struct ic_hdr *out)
{
    if (!msg || len < IC_HDR_SIZE)
        return -1;
    memcpy(out, msg, sizeof(*out));
    if (out->msg.msgsize > len - IC_HDR_SIZE)
        return -1;
    return 0;
}

/* --- negotiation ----------------------------------------------------------------------- */

uint32_t ic_negotiate_build(uint8_t *body, uint32_t cap, const uint32_t *fw, unsigned nfw,
                            const uint32_t *msgv, unsigned nmsg)
{
    uint32_t size = (uint32_t)sizeof(struct ic_negotiate) + 4u * (nfw + nmsg);
    if (size > cap)
        return 0;
    struct ic_negotiate n = { .fw_count = (uint16_t)nfw, .msg_count = (uint16_t)nmsg };
    memcpy(body, &n, sizeof(n));
    uint8_t *p = body + sizeof(n);
    for (unsigned i = 0; i < nfw + nmsg; i++, p += 4) {
        uint32_t v = i < nfw ? fw[i] : msgv[i - nfw];
        struct ic_version ver = { IC_VER_MAJOR(v), IC_VER_MINOR(v) };
        memcpy(p, &ver, 4);
    }
    return size;
}

static bool in_list(uint32_t v, const uint32_t *list, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (list[i] == v)
            return true;
    return false;
}

int ic_negotiate_parse(const uint8_t *body, uint32_t body_len, const uint32_t *fw,
                       unsigned nfw, const uint32_t *msgv, unsigned nmsg, uint32_t *fw_out,
                       uint32_t *msg_out)
{
    struct ic_negotiate n;
    if (body_len < sizeof(n))
        return -1;
    memcpy(&n, body, sizeof(n));
    if (n.fw_count > IC_NEGOTIATE_MAX_VERSIONS || n.msg_count > IC_NEGOTIATE_MAX_VERSIONS)
        return -1;
    if (n.fw_count == 0 && n.msg_count == 0)
        return 0; /* the guest's "no common version" */
    if (n.fw_count != 1 || n.msg_count != 1)
        return -1;
    if (body_len < sizeof(n) + 8u)
        return -1;
    struct ic_version f, m;
    memcpy(&f, body + sizeof(n), 4);
    memcpy(&m, body + sizeof(n) + 4, 4);
    uint32_t fv = IC_VER(f.major, f.minor), mv = IC_VER(m.major, m.minor);
    if (!in_list(fv, fw, nfw) || !in_list(mv, msgv, nmsg))
        return -1; /* "agreed" on something we never offered */
    *fw_out = fv;
    *msg_out = mv;
    return 1;
}

/* The message versions this channel offers (service list, filtered by configuration). */
static unsigned offered_versions(const struct ic_chan *c, uint32_t *out, unsigned cap)
{
    unsigned n = 0;
    for (unsigned i = 0; i < c->svc->nversions && n < cap; i++)
        if (!c->svc->offer_version || c->svc->offer_version(c, c->svc->versions[i]))
            out[n++] = c->svc->versions[i];
    return n;
}

/* --- requests -------------------------------------------------------------------------- */

struct ic_req *ic_req_new(struct ic_chan *c, uint32_t body_len)
{
    struct ic_req *rq = calloc(1, sizeof(*rq));
    uint8_t *msg = calloc(1, IC_HDR_SIZE + body_len);
    if (!rq || !msg) {
        free(rq);
        free(msg);
        return NULL;
    }
    rq->msg = msg;
    rq->len = IC_HDR_SIZE + body_len;
    rq->msgtype = c->svc->msgtype;
    ic_hdr_build(msg, body_len, rq->msgtype, c->fw_version, c->msg_version,
                 IC_FLAG_TRANSACTION | IC_FLAG_REQUEST, 0);
    return rq;
}

void ic_req_free(struct ic_req *rq)
{
    if (rq) {
        free(rq->msg);
        free(rq);
    }
}

/* Takes the request out of flight, reports res to its owner and sends the next one. */
static void pump(struct ic_chan *c);

static void finish(struct ic_chan *c, struct ic_req *rq, const struct ic_result *res)
{
    if (rq->done)
        rq->done(rq->arg, res);
    ic_req_free(rq);
}

static void complete_inflight(struct ic_chan *c, const struct ic_result *res)
{
    struct ic_req *rq = c->inflight;
    c->inflight = NULL;
    if (res->err == 0)
        c->answered++;
    finish(c, rq, res);
    pump(c);
}

static unsigned outstanding_api(const struct ic_chan *c)
{
    unsigned n = c->inflight && c->inflight->api ? 1 : 0;
    for (const struct ic_req *q = c->queue; q; q = q->next)
        n += q->api ? 1 : 0;
    return n;
}

static void pump(struct ic_chan *c)
{
    while (!c->inflight && c->queue) {
        struct ic_req *rq = c->queue;
        if (c->svc->prepare && rq->msgtype != IC_MSG_NEGOTIATE)
            c->svc->prepare(c, rq);
        rq->tid = ++c->next_tid;
        rq->msg[IC_HDR_SIZE - 4] = (uint8_t)rq->tid; /* icmsg_hdr.ictransaction_id */
        int rc = vmbus_channel_send(c->ch, VMBUS_PACKET_DATA_INBAND, 0, rq->tid, rq->msg,
                                    rq->len);
        if (rc == -EAGAIN)
            return; /* ring full: on_writable or the next tick retries */
        c->queue = rq->next;
        if (!c->queue)
            c->queue_tail = NULL;
        c->nqueued--;
        rq->next = NULL;
        if (rc != 0) {
            struct ic_result res = { .err = -EPIPE };
            finish(c, rq, &res);
            continue;
        }
        rq->sent_ms = ic_now_ms(c->ic);
        c->inflight = rq;
    }
}

int64_t ic_submit(struct ic_chan *c, struct ic_req *rq, bool api)
{
    if (rq->msgtype != IC_MSG_NEGOTIATE && c->state != IC_STATE_READY) {
        ic_req_free(rq);
        return -ENOTCONN;
    }
    if (api && (outstanding_api(c) >= c->svc->max_outstanding || c->nqueued >= IC_QUEUE_MAX)) {
        ic_req_free(rq);
        return -EBUSY;
    }
    rq->api = api;
    rq->id = ++c->ic->next_id;
    if (c->queue_tail)
        c->queue_tail->next = rq;
    else
        c->queue = rq;
    c->queue_tail = rq;
    c->nqueued++;
    int64_t id = rq->id;
    pump(c);
    return id;
}

/* Fails everything outstanding with err (the state has already left READY, so a done
 * callback that submits again gets -ENOTCONN). */
static void flush(struct ic_chan *c, int err)
{
    struct ic_result res = { .err = err };
    struct ic_req *rq = c->inflight;
    c->inflight = NULL;
    if (rq)
        finish(c, rq, &res);
    while (c->queue) {
        rq = c->queue;
        c->queue = rq->next;
        finish(c, rq, &res);
    }
    c->queue_tail = NULL;
    c->nqueued = 0;
}

void ic_chan_reset(struct ic_chan *c, enum ic_state state)
{
    c->state = state;
    c->fw_version = c->msg_version = 0;
    flush(c, -EPIPE);
    if (c->svc->reset)
        c->svc->reset(c);
}

int64_t ic_cancel(struct ic *ic, int64_t id)
{
    if (!ic || id <= 0)
        return -ENOENT;
    int64_t rc = -ENOENT;
    ic_lock(ic);
    for (unsigned k = 0; k < IC_KIND_COUNT && rc; k++) {
        struct ic_chan *c = ic->chans[k];
        if (!c)
            continue;
        if (c->inflight && c->inflight->id == id) {
            c->inflight->done = NULL; /* the answer will be consumed silently */
            c->inflight->api = false;
            rc = 0;
            break;
        }
        for (struct ic_req **pp = &c->queue; *pp; pp = &(*pp)->next) {
            if ((*pp)->id != id)
                continue;
            struct ic_req *rq = *pp;
            *pp = rq->next;
            if (c->queue_tail == rq) {
                c->queue_tail = NULL;
                for (struct ic_req *q = c->queue; q; q = q->next)
                    c->queue_tail = q;
            }
            c->nqueued--;
            ic_req_free(rq);
            rc = 0;
            break;
        }
    }
    ic_unlock(ic);
    return rc;
}

/* --- periodic work --------------------------------------------------------------------- */

static void send_negotiate(struct ic_chan *c)
{
    uint32_t msgv[16];
    unsigned nmsg = offered_versions(c, msgv, 16);
    uint8_t body[8 + 4 * 18];
    uint32_t blen = ic_negotiate_build(body, sizeof(body), ic_fw_versions,
                                       ic_fw_version_count, msgv, nmsg);
    struct ic_req *rq = ic_req_new(c, blen);
    if (!rq)
        return;
    rq->msgtype = IC_MSG_NEGOTIATE;
    ic_hdr_build(rq->msg, blen, IC_MSG_NEGOTIATE, IC_VER(1, 0), IC_VER(1, 0),
                 IC_FLAG_TRANSACTION | IC_FLAG_REQUEST, 0);
    memcpy(ic_req_body(rq), body, blen);
    c->state = IC_STATE_NEGOTIATING;
    ic_submit(c, rq, false);
}

void ic_chan_tick(struct ic_chan *c, uint64_t now)
{
    if (c->state == IC_STATE_OPENED)
        send_negotiate(c);
    if (c->inflight && c->inflight->timeout_ms &&
        now - c->inflight->sent_ms >= c->inflight->timeout_ms) {
        vlog_debug("ic %s: request %lld timed out", c->svc->name, (long long)c->inflight->id);
        struct ic_result res = { .err = -ETIMEDOUT };
        complete_inflight(c, &res);
    }
    if (c->state == IC_STATE_READY && c->svc->tick)
        c->svc->tick(c, now);
    pump(c);
}

/* --- device callbacks ------------------------------------------------------------------- */

int ic_dev_open(struct vmbus_channel *ch, const uint8_t *userdata)
{
    struct ic_chan *c = vmbus_channel_priv(ch);
    if (!c) {
        vlog_warn("ic: channel %u opened before ic_attach(); refusing",
                  vmbus_channel_relid(ch));
        return -1;
    }
    ic_chan_reset(c, IC_STATE_OPENED);
    return 0;
}

void ic_dev_close(struct vmbus_channel *ch)
{
    struct ic_chan *c = vmbus_channel_priv(ch);
    if (c)
        ic_chan_reset(c, IC_STATE_CLOSED);
}

void ic_dev_writable(struct vmbus_channel *ch)
{
    struct ic_chan *c = vmbus_channel_priv(ch);
    if (c)
        pump(c);
}

static void negotiated(struct ic_chan *c, const uint8_t *body, uint32_t body_len)
{
    uint32_t msgv[16];
    unsigned nmsg = offered_versions(c, msgv, 16);
    uint32_t fw = 0, mv = 0;
    int rc = ic_negotiate_parse(body, body_len, ic_fw_versions, ic_fw_version_count, msgv,
                                nmsg, &fw, &mv);
    if (rc < 0) {
        vlog_debug("ic %s: malformed NEGOTIATE response dropped", c->svc->name);
        return;
    }
    struct ic_result res = { .err = 0 };
    complete_inflight(c, &res);
    if (rc == 0) {
        vlog_info("ic %s: guest supports none of the offered versions", c->svc->name);
        c->state = IC_STATE_FAILED;
        return;
    }
    c->fw_version = fw;
    c->msg_version = mv;
    c->state = IC_STATE_READY;
    vlog_debug("ic %s: framework %u.%u, message %u.%u", c->svc->name, fw >> 16, fw & 0xFFFF,
               mv >> 16, mv & 0xFFFF);
    if (c->svc->ready)
        c->svc->ready(c, ic_now_ms(c->ic));
    pump(c);
}

void ic_dev_packet(struct vmbus_channel *ch, const struct vmbus_packet *pkt)
{
    struct ic_chan *c = vmbus_channel_priv(ch);
    if (!c)
        return;
    const char *why = NULL;
    struct ic_hdr h;
    struct ic_req *rq = c->inflight;
    if (pkt->type != VMBUS_PACKET_DATA_INBAND)
        why = "not an inband packet";
    else if (ic_hdr_parse(pkt->data, pkt->data_len, &h) != 0)
        why = "short message or bad icmsgsize";
    else if (!(h.msg.flags & IC_FLAG_RESPONSE) || (h.msg.flags & IC_FLAG_REQUEST))
        why = "not a response";
    else if (!rq || pkt->trans_id != rq->tid || h.msg.trans_id != (uint8_t)rq->tid)
        why = "unsolicited response";
    else if (h.msg.msgtype != rq->msgtype)
        why = "response of another message type";
    if (why) {
        vlog_debug("ic %s: guest message dropped: %s", c->svc->name, why);
        return;
    }
    const uint8_t *body = pkt->data + IC_HDR_SIZE;
    uint32_t body_len = pkt->data_len - IC_HDR_SIZE;
    if (rq->msgtype == IC_MSG_NEGOTIATE) {
        negotiated(c, body, body_len);
        return;
    }
    if (body_len < c->svc->min_body) {
        vlog_debug("ic %s: response body too short (%u)", c->svc->name, body_len);
        return;
    }
    struct ic_result res = { .err = 0, .status = h.msg.status };
    if (c->svc->response && c->svc->response(c, rq, body, body_len, &res) < 0) {
        vlog_debug("ic %s: malformed response dropped", c->svc->name);
        return;
    }
    struct ic_kvp_result *kvp = (struct ic_kvp_result *)res.kvp;
    complete_inflight(c, &res);
    free(kvp);
}
