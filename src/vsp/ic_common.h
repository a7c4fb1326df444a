/* The IC framework shared by the four services: message headers (building and
 * validating), version negotiation, and the per-channel host-initiated request queue
 * (one request in flight at a time, as the guest's "direct" read mode requires). */
#ifndef VIRIDIAN_VSP_IC_COMMON_H
#define VIRIDIAN_VSP_IC_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "vmbus/vmbus_device.h"
#include "vsp/ic.h"
#include "vsp/ic_proto.h"

#define IC_QUEUE_MAX 16u

struct ic_chan;

struct ic_req {
    int64_t id;
    uint8_t *msg;          /* whole message from the pipe header on */
    uint32_t len;
    uint16_t msgtype;
    uint64_t tid;          /* ring trans_id once sent (0 = not sent) */
    uint64_t sent_ms;
    uint32_t timeout_ms;   /* 0 = wait forever (NEGOTIATE) */
    ic_done_fn done;
    void *arg;
    uint64_t cookie;       /* service data (heartbeat sequence, time-sync flags) */
    bool api;              /* submitted through the public API (counts as outstanding) */
    struct ic_req *next;
};

struct ic_service {
    const char *name;
    enum ic_kind kind;
    uint16_t msgtype;
    const uint32_t *versions;  /* message versions offered, preferred first */
    unsigned nversions;
    /* Optional: whether to offer version v in this configuration. */
    bool (*offer_version)(const struct ic_chan *c, uint32_t v);
    unsigned max_outstanding;  /* requests in flight + queued from the API */
    uint32_t min_body;         /* a response body smaller than this is dropped */
    /* Negotiated: start periodic work. */
    void (*ready)(struct ic_chan *c, uint64_t now);
    /* Periodic work while READY. */
    void (*tick)(struct ic_chan *c, uint64_t now);
    /* Just before a request goes on the ring (e.g. take the time sample). */
    void (*prepare)(struct ic_chan *c, struct ic_req *rq);
    /* A validated response to rq (body = bytes after the 28-byte header). Fills res
     * (status is preset from the header); res->kvp, if set, must be malloc'd and is
     * freed after the completion. -1 = malformed, dropped (rq stays in flight). */
    int (*response)(struct ic_chan *c, struct ic_req *rq, const uint8_t *body,
                    uint32_t body_len, struct ic_result *res);
    /* Channel closed or detached. */
    void (*reset)(struct ic_chan *c);
};

struct ic_chan {
    struct ic *ic;
    struct vmbus_channel *ch;
    const struct ic_service *svc;
    enum ic_state state;
    uint32_t fw_version, msg_version;
    uint64_t next_tid;
    struct ic_req *inflight;
    struct ic_req *queue, *queue_tail;
    unsigned nqueued;
    uint64_t answered;
    /* heartbeat */
    uint64_t hb_next_ms, hb_seq, hb_last_ms;
    bool hb_answered;
    /* time sync */
    uint64_t ts_next_ms, ts_acked;
};

struct ic {
    struct vmbus_host *host;
    struct ic_config cfg;
    struct ic_chan *chans[IC_KIND_COUNT];
    struct vmbus_channel *lock_ch; /* any IC channel: they share the host lock */
    int64_t next_id;
};

extern const struct ic_service ic_shutdown_service;
extern const struct ic_service ic_heartbeat_service;
extern const struct ic_service ic_timesync_service;
extern const struct ic_service ic_kvp_service;

/* vmbus_device_desc callbacks shared by all four descriptors (ctx = the service). */
int ic_dev_open(struct vmbus_channel *ch, const uint8_t *userdata);
void ic_dev_close(struct vmbus_channel *ch);
void ic_dev_packet(struct vmbus_channel *ch, const struct vmbus_packet *pkt);
void ic_dev_writable(struct vmbus_channel *ch);

uint64_t ic_now_ms(const struct ic *ic);
uint64_t ic_filetime_now(const struct ic *ic);
void ic_lock(struct ic *ic);
void ic_unlock(struct ic *ic);
/* The channel of `kind`, or NULL. */
struct ic_chan *ic_chan_of(struct ic *ic, enum ic_kind kind);

/* Allocates a request with a zeroed message of 28 + body_len bytes whose header is
 * filled for c's negotiated versions (type = c->svc->msgtype). NULL if no memory. */
struct ic_req *ic_req_new(struct ic_chan *c, uint32_t body_len);
static inline uint8_t *ic_req_body(struct ic_req *rq)
{
    return rq->msg + IC_HDR_SIZE;
}
void ic_req_free(struct ic_req *rq);
/* Queues rq (lock held) and sends it if the channel is idle; api = counts against
 * max_outstanding. Returns rq->id, or -ENOTCONN/-EBUSY (rq freed). */
int64_t ic_submit(struct ic_chan *c, struct ic_req *rq, bool api);

/* Lock held: channel opened/closed (state), periodic work. */
void ic_chan_reset(struct ic_chan *c, enum ic_state state);
void ic_chan_tick(struct ic_chan *c, uint64_t now);

/* Header helpers (also used by the fuzz target and tests). */
void ic_hdr_build(uint8_t *msg, uint32_t body_len, uint16_t msgtype, uint32_t fw_version,
                  uint32_t msg_version, uint8_t flags, uint8_t trans_id);
/* Validates a guest message header: len >= 28, icmsgsize fits in len. 0 or -1. */
int ic_hdr_parse(const uint8_t *msg, uint32_t len, struct ic_hdr *out);
/* Builds the NEGOTIATE body (fw versions then msg versions) into body; returns its size.
 * cap must be >= 8 + 4 * (nfw + nmsg). */
uint32_t ic_negotiate_build(uint8_t *body, uint32_t cap, const uint32_t *fw, unsigned nfw,
                            const uint32_t *msgv, unsigned nmsg);
/* Parses a NEGOTIATE response body: counts <= 100 each, versions within body_len; a
 * successful answer has counts 1/1 and picks one of the offered versions. 1 = agreed
 * (*fw, *msgv set), 0 = guest found no common version, -1 = malformed. */
int ic_negotiate_parse(const uint8_t *body, uint32_t body_len, const uint32_t *fw,
                       unsigned nfw, const uint32_t *msgv, unsigned nmsg, uint32_t *fw_out,
                       uint32_t *msg_out);

extern const uint32_t ic_fw_versions[];
extern const unsigned ic_fw_version_count;

#endif
