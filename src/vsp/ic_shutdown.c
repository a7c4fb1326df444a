/* Shutdown IC (reference §7c): the host asks the guest to power off or reboot; the guest
 * answers S_OK before it starts shutting down. Message versions Linux knows: 3.2, 3.1,
 * 3.0, 1.0. */
#include <errno.h>
#include <string.h>

#include "vsp/ic_common.h"
#include "vsp/ic_services.h"

#define SHUTDOWN_FLAG_RESTART 0x2u
#define SHUTDOWN_REASON_PLANNED 0x80000000u

struct shutdown_body {
    uint32_t reason_code;
    uint32_t timeout_seconds;
    uint32_t flags;
    uint8_t display_message[2048];
} __attribute__((packed));
_Static_assert(sizeof(struct shutdown_body) == 2060, "shutdown_msg_data");

struct shutdown_state {
    int64_t result;
};

static const struct ic_version shutdown_versions[] = { { 3, 2 }, { 3, 1 }, { 3, 0 }, { 1, 0 } };
static struct shutdown_state sd_state = { .result = -1 };

static void sd_response(struct ic_channel *ic, const struct ic_header *hdr, const uint8_t *body,
                        uint32_t len)
{
    struct shutdown_state *s = ic->svc_state;
    s->result = hdr->status;
}

static void sd_closed(struct ic_channel *ic)
{
    struct shutdown_state *s = ic->svc_state;
    s->result = -1;
}

static const struct ic_service shutdown_service = {
    .name = "shutdown",
    .msg_versions = shutdown_versions,
    .n_msg_versions = 4,
    .response = sd_response,
    .closed = sd_closed,
};

static struct ic_channel sd_ic = { .svc = &shutdown_service, .svc_state = &sd_state };

const struct vmbus_device_desc ic_shutdown_device = {
    .name = "ic-shutdown",
    .if_type = VMBUS_GUID(0x0e0b6031, 0x5213, 0x4934, 0x81, 0x8b, 0x38, 0xd9, 0x0c, 0xed, 0x39,
                          0xdb),
    .if_instance = VMBUS_GUID(0xb6650ff7, 0x33bc, 0x4840, 0x80, 0x48, 0xe0, 0x67, 0x67, 0x86,
                              0xf3, 0x93),
    .max_pkt_size = IC_MAX_PACKET,
    .ctx = &sd_ic,
    IC_DEVICE_CALLBACKS,
};

int ic_shutdown_request(struct vmbus_channel *ch, enum ic_shutdown_kind kind,
                        const char *message)
{
    struct shutdown_body b;
    memset(&b, 0, sizeof(b));
    b.reason_code = SHUTDOWN_REASON_PLANNED;
    b.flags = kind == IC_SHUTDOWN_REBOOT ? SHUTDOWN_FLAG_RESTART : 0;
    if (message)
        strncpy((char *)b.display_message, message, sizeof(b.display_message) - 1);
    vmbus_channel_lock(ch);
    struct ic_channel *ic = vmbus_channel_device_ctx(ch);
    int rc = ic_send_request(ic, IC_MSGTYPE_SHUTDOWN, &b, sizeof(b));
    if (rc == 0)
        ((struct shutdown_state *)ic->svc_state)->result = -1;
    vmbus_channel_unlock(ch);
    return rc;
}

int64_t ic_shutdown_result(struct vmbus_channel *ch)
{
    vmbus_channel_lock(ch);
    struct ic_channel *ic = vmbus_channel_device_ctx(ch);
    int64_t r = ((struct shutdown_state *)ic->svc_state)->result;
    vmbus_channel_unlock(ch);
    return r;
}
