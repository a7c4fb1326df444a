/* Time-sync IC (reference §7c): the host sends its UTC time (100 ns units since
 * 1601-01-01) together with the partition reference time at which it was sampled; the
 * guest computes now = parenttime + (ref_now - vmreferencetime). Message 4.0 carries the
 * reference time; 3.0/1.0 do not (the guest uses its receive time). */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "vsp/ic_common.h"
#include "vsp/ic_services.h"

#define WLTIMEDELTA 116444736000000000ull /* 1601-01-01 to 1970-01-01 in 100 ns */

struct timesync_v4 {
    uint64_t parenttime;
    uint64_t vmreferencetime;
    uint8_t flags;
    uint8_t leapflags;
    uint8_t stratum;
    uint8_t reserved[3];
} __attribute__((packed));
_Static_assert(sizeof(struct timesync_v4) == 22, "ictimesync_ref_data");

struct timesync_v3 {
    uint64_t parenttime;
    uint64_t childtime;
    uint64_t roundtriptime;
    uint8_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct timesync_v3) == 25, "ictimesync_data");

struct timesync_state {
    struct hv_partition *hv;
    uint64_t answers;
};

static const struct ic_version timesync_versions[] = { { 4, 0 }, { 3, 0 }, { 1, 0 } };
static struct timesync_state ts_state;

static uint64_t utc_100ns_since_1601(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return WLTIMEDELTA + (uint64_t)ts.tv_sec * 10000000ull + (uint64_t)ts.tv_nsec / 100;
}

/* Lock held. */
static int send_locked(struct ic_channel *ic, uint8_t flags)
{
    struct timesync_state *s = ic->svc_state;
    if (!s->hv)
        return -EAGAIN;
    uint64_t ref = hv_reference_time(s->hv);
    uint64_t now = utc_100ns_since_1601();
    if (ic->msg.major >= 4) {
        struct timesync_v4 b = { .parenttime = now, .vmreferencetime = ref, .flags = flags,
                                 .stratum = 2 };
        return ic_send_request(ic, IC_MSGTYPE_TIMESYNC, &b, sizeof(b));
    }
    struct timesync_v3 b = { .parenttime = now, .flags = flags };
    return ic_send_request(ic, IC_MSGTYPE_TIMESYNC, &b, sizeof(b));
}

static void ts_negotiated(struct ic_channel *ic)
{
    send_locked(ic, IC_TIMESYNC_SYNC);
}

static void ts_response(struct ic_channel *ic, const struct ic_header *hdr, const uint8_t *body,
                        uint32_t len)
{
    struct timesync_state *s = ic->svc_state;
    s->answers++;
}

static void ts_closed(struct ic_channel *ic)
{
    struct timesync_state *s = ic->svc_state;
    s->answers = 0;
}

static const struct ic_service timesync_service = {
    .name = "timesync",
    .msg_versions = timesync_versions,
    .n_msg_versions = 3,
    .negotiated = ts_negotiated,
    .response = ts_response,
    .closed = ts_closed,
};

static struct ic_channel ts_ic = { .svc = &timesync_service, .svc_state = &ts_state };

const struct vmbus_device_desc ic_timesync_device = {
    .name = "ic-timesync",
    .if_type = VMBUS_GUID(0x9527e630, 0xd0ae, 0x497b, 0xad, 0xce, 0xe8, 0x0a, 0xb0, 0x17, 0x5c,
                          0xaf),
    .if_instance = VMBUS_GUID(0x2dd1ce17, 0x079e, 0x403c, 0xb3, 0x52, 0xa1, 0x92, 0x1e, 0xe2,
                              0x07, 0xee),
    .max_pkt_size = IC_MAX_PACKET,
    .ctx = &ts_ic,
    IC_DEVICE_CALLBACKS,
};

void ic_timesync_set_partition(struct hv_partition *hv)
{
    ts_state.hv = hv;
}

int ic_timesync_send(struct vmbus_channel *ch, uint8_t flags)
{
    vmbus_channel_lock(ch);
    int rc = send_locked(vmbus_channel_device_ctx(ch), flags);
    vmbus_channel_unlock(ch);
    return rc;
}

uint64_t ic_timesync_answers(struct vmbus_channel *ch)
{
    vmbus_channel_lock(ch);
    struct ic_channel *ic = vmbus_channel_device_ctx(ch);
    uint64_t n = ((struct timesync_state *)ic->svc_state)->answers;
    vmbus_channel_unlock(ch);
    return n;
}
