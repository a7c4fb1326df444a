/* Heartbeat IC (reference §7c): the host sends a sequence number, the guest answers with
 * sequence + 1. Message versions Linux knows: 3.0, 1.0. */
#include <errno.h>
#include <string.h>

#include "vsp/ic_common.h"
#include "vsp/ic_services.h"

struct heartbeat_body {
    uint64_t seq_num;
    uint32_t reserved[8];
} __attribute__((packed));
_Static_assert(sizeof(struct heartbeat_body) == 40, "heartbeat_msg_data");

struct heartbeat_state {
    uint64_t seq;
    uint64_t acks;
};

static const struct ic_version heartbeat_versions[] = { { 3, 0 }, { 1, 0 } };
static struct heartbeat_state hb_state;

static void hb_response(struct ic_channel *ic, const struct ic_header *hdr, const uint8_t *body,
                        uint32_t len)
{
    struct heartbeat_state *s = ic->svc_state;
    struct heartbeat_body b;
    if (len < sizeof(b) || hdr->status != IC_S_OK) {
        ic->protocol_errors++;
        return;
    }
    memcpy(&b, body, sizeof(b));
    if (b.seq_num == s->seq + 1)
        s->acks++;
    else
        ic->protocol_errors++;
    s->seq = b.seq_num;
}

static void hb_closed(struct ic_channel *ic)
{
    struct heartbeat_state *s = ic->svc_state;
    s->acks = 0;
}

static const struct ic_service heartbeat_service = {
    .name = "heartbeat",
    .msg_versions = heartbeat_versions,
    .n_msg_versions = 2,
    .response = hb_response,
    .closed = hb_closed,
};

static struct ic_channel hb_ic = { .svc = &heartbeat_service, .svc_state = &hb_state };

const struct vmbus_device_desc ic_heartbeat_device = {
    .name = "ic-heartbeat",
    .if_type = VMBUS_GUID(0x57164f39, 0x9115, 0x4e78, 0xab, 0x55, 0x38, 0x2f, 0x3b, 0xd5, 0x42,
                          0x2d),
    .if_instance = VMBUS_GUID(0x7b6c9c0e, 0x5a57, 0x4f5e, 0x9d, 0x35, 0x0b, 0x3d, 0x54, 0x1a,
                              0x7e, 0x01),
    .max_pkt_size = IC_MAX_PACKET,
    .ctx = &hb_ic,
    IC_DEVICE_CALLBACKS,
};

int ic_heartbeat_tick(struct vmbus_channel *ch)
{
    vmbus_channel_lock(ch);
    struct ic_channel *ic = vmbus_channel_device_ctx(ch);
    struct heartbeat_state *s = ic->svc_state;
    struct heartbeat_body b = { .seq_num = s->seq };
    int rc = ic_send_request(ic, IC_MSGTYPE_HEARTBEAT, &b, sizeof(b));
    vmbus_channel_unlock(ch);
    return rc;
}

uint64_t ic_heartbeat_acks(struct vmbus_channel *ch)
{
    vmbus_channel_lock(ch);
    struct ic_channel *ic = vmbus_channel_device_ctx(ch);
    uint64_t n = ((struct heartbeat_state *)ic->svc_state)->acks;
    vmbus_channel_unlock(ch);
    return n;
}

bool ic_service_ready(struct vmbus_channel *ch)
{
    vmbus_channel_lock(ch);
    struct ic_channel *ic = vmbus_channel_device_ctx(ch);
    bool ready = ic->state == IC_READY || ic->state == IC_BUSY;
    vmbus_channel_unlock(ch);
    return ready;
}
