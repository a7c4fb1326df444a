/* The Hyper-V integration-component (IC) framework shared by the shutdown, heartbeat,
 * time-sync and KVP services (reference §7c). Every IC is its own VMBus channel; the host
 * starts every exchange with an INBAND request and the guest answers with the same buffer
 * modified in place. Packet = 8-byte pipe header + 20-byte IC message header + body.
 * The first exchange on a freshly opened channel is version negotiation.
 *
 * A service fills a `struct ic_service` and a `struct ic_channel` (its state) and uses
 * IC_DEVICE_CALLBACKS in its vmbus_device_desc; the framework negotiates, then lets the
 * service send one request at a time (the guest's util drivers read one packet per
 * interrupt). All state is touched only under the VMBus host lock. */
#ifndef VIRIDIAN_VSP_IC_COMMON_H
#define VIRIDIAN_VSP_IC_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "vmbus/vmbus_device.h"

#define IC_MSGTYPE_NEGOTIATE 0u
#define IC_MSGTYPE_HEARTBEAT 1u
#define IC_MSGTYPE_KVPEXCHANGE 2u
#define IC_MSGTYPE_SHUTDOWN 3u
#define IC_MSGTYPE_TIMESYNC 4u

#define IC_FLAG_TRANSACTION 0x1u
#define IC_FLAG_REQUEST 0x2u
#define IC_FLAG_RESPONSE 0x4u

#define IC_PIPE_PACKET_TYPE_DATA 1u
#define IC_HDR_SIZE 28u
#define IC_MAX_PACKET 4096u /* what Linux's util drivers accept */
#define IC_VERSION_MAX_COUNT 100u
#define IC_S_OK 0u
#define IC_E_FAIL 0x80004005u

struct ic_version {
    uint16_t major, minor;
};

struct ic_header {
    uint32_t pipe_flags;
    uint32_t pipe_msgsize; /* bytes after the pipe header */
    struct ic_version framever;
    uint16_t msgtype;
    struct ic_version msgver;
    uint16_t msgsize; /* body bytes */
    uint32_t status;
    uint8_t transaction_id;
    uint8_t flags;
    uint16_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct ic_header) == IC_HDR_SIZE, "ICMSG_HDR");

enum ic_state {
    IC_CLOSED,      /* channel not open */
    IC_NEGOTIATING, /* negotiate request outstanding */
    IC_READY,       /* negotiated, no request outstanding */
    IC_BUSY,        /* a service request is outstanding */
    IC_FAILED,      /* guest supports none of our versions */
};

struct ic_channel;

struct ic_service {
    const char *name;
    const struct ic_version *msg_versions; /* offered, any order */
    unsigned n_msg_versions;
    /* Negotiation finished (ic->state is IC_READY). May send the first request. */
    void (*negotiated)(struct ic_channel *ic);
    /* Guest response to the outstanding request (header already validated). */
    void (*response)(struct ic_channel *ic, const struct ic_header *hdr, const uint8_t *body,
                     uint32_t body_len);
    void (*closed)(struct ic_channel *ic);
};

struct ic_channel {
    const struct ic_service *svc;
    struct vmbus_channel *ch; /* while open */
    enum ic_state state;
    struct ic_version framework, msg; /* negotiated */
    uint16_t pending_type;
    uint64_t next_trans_id;
    uint64_t protocol_errors;
    void *svc_state;
};

/* The vmbus_device_desc callbacks of every IC (desc->ctx = the struct ic_channel). */
int ic_dev_open(struct vmbus_channel *ch, const uint8_t *userdata);
void ic_dev_close(struct vmbus_channel *ch);
void ic_dev_packet(struct vmbus_channel *ch, const struct vmbus_packet *pkt);
#define IC_DEVICE_CALLBACKS .open = ic_dev_open, .close = ic_dev_close, \
                            .on_packet = ic_dev_packet

/* Sends a request of `msgtype` with `body`; the channel must be IC_READY (lock held).
 * 0, -EAGAIN (not ready / busy / ring full), -EPIPE. */
int ic_send_request(struct ic_channel *ic, uint16_t msgtype, const void *body,
                    uint16_t body_len);

/* Framework versions the host offers (3.0 and 1.0, the ones Linux knows). */
extern const struct ic_version ic_framework_versions[];
extern const unsigned ic_n_framework_versions;

/* Builds a NEGOTIATE request into buf; returns its length or 0 if cap is too small. */
uint32_t ic_build_negotiate(uint8_t *buf, uint32_t cap, const struct ic_version *fw,
                            unsigned nfw, const struct ic_version *msg, unsigned nmsg);
/* Parses a NEGOTIATE response: 0 with the chosen versions (each must be one we offered),
 * -1 if malformed or nothing matched. */
int ic_parse_negotiate_response(const uint8_t *buf, uint32_t len, const struct ic_version *fw,
                                unsigned nfw, const struct ic_version *msg, unsigned nmsg,
                                struct ic_version *fw_out, struct ic_version *msg_out);

#endif
