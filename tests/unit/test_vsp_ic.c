/* Integration services against a guest that behaves like Linux's hv_utils: version
 * negotiation (vmbus_prep_negotiate_resp), heartbeat and shutdown. */
#include <errno.h>
#include <string.h>

#include "test.h"
#include "vmbus_guest.h"
#include "vsp/ic_common.h"
#include "vsp/ic_services.h"

#define IC_RING_PAGE 300u

/* Linux's negotiation: first of its preferred framework versions present, same for the
 * message version; answer 1/1 with them or 0/0. */
static void linux_negotiate(uint8_t *buf, const uint32_t *fw_pref, int nfw,
                            const uint32_t *msg_pref, int nmsg, int refuse)
{
    uint16_t cnt[2];
    memcpy(cnt, buf + 28, 4);
    struct ic_version *v = (struct ic_version *)(buf + 36);
    int fw = -1, msg = -1;
    for (int i = 0; i < nfw && fw < 0; i++)
        for (int j = 0; j < cnt[0]; j++)
            if (v[j].major == fw_pref[i] >> 16 && v[j].minor == (fw_pref[i] & 0xFFFF))
                fw = j;
    for (int i = 0; i < nmsg && msg < 0; i++)
        for (int j = cnt[0]; j < cnt[0] + cnt[1]; j++)
            if (v[j].major == msg_pref[i] >> 16 && v[j].minor == (msg_pref[i] & 0xFFFF))
                msg = j;
    struct ic_version f = fw >= 0 ? v[fw] : (struct ic_version){ 0, 0 };
    struct ic_version m = msg >= 0 ? v[msg] : (struct ic_version){ 0, 0 };
    bool ok = fw >= 0 && msg >= 0 && !refuse;
    uint16_t out[2] = { ok, ok };
    memcpy(buf + 28, out, 4);
    v[0] = f;
    v[1] = m;
    uint16_t size = 0x10;
    memcpy(buf + 18, &size, 2);
    buf[25] = IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE;
}

static const uint32_t fw_pref[] = { 0x30000, 0x10000 };

struct ic_guest {
    struct tguest g;
    struct guest_ring out, in;
    uint32_t relid;
};

static void ic_guest_open(struct ic_guest *ig, unsigned dev_index, uint32_t page)
{
    ig->relid = dev_index + 1;
    memset(fake_gpa(&ig->g.vm, fake_page(page)), 0, 8 * 4096);
    CHECK_EQ(tg_gpadl(&ig->g, ig->relid, 0xE1E10 + dev_index, page, 8), 0);
    tg_ring(&ig->g, &ig->out, page, 4);
    tg_ring(&ig->g, &ig->in, page + 4, 4);
    CHECK_EQ(tg_open(&ig->g, ig->relid, 0xE1E10 + dev_index, 4, 0), 0);
}

/* Reads the host's request, lets `answer` modify it, sends it back like hv_utils. */
static int guest_roundtrip(struct ic_guest *ig, uint8_t *buf, void (*answer)(uint8_t *, int),
                           int arg)
{
    uint16_t type;
    uint64_t tid;
    int n = tg_ring_read(&ig->in, &type, &tid, buf, 4096);
    if (n < 0)
        return -1;
    CHECK_EQ(type, VMBUS_PACKET_DATA_INBAND);
    answer(buf, arg);
    tg_ring_write(&ig->out, VMBUS_PACKET_DATA_INBAND, tid, buf, (uint32_t)n);
    CHECK_EQ(tg_signal(&ig->g, 0x2000 + ig->relid), 0);
    return n;
}

static void answer_negotiate_hb(uint8_t *buf, int refuse)
{
    static const uint32_t hb_pref[] = { 0x30000, 0x10000 };
    linux_negotiate(buf, fw_pref, 2, hb_pref, 2, refuse);
}

static void answer_negotiate_sd(uint8_t *buf, int refuse)
{
    static const uint32_t sd_pref[] = { 0x30002, 0x30001, 0x30000, 0x10000 };
    linux_negotiate(buf, fw_pref, 2, sd_pref, 4, refuse);
}

static void answer_heartbeat(uint8_t *buf, int bump)
{
    uint64_t seq;
    memcpy(&seq, buf + 28, 8);
    seq += (uint64_t)bump;
    memcpy(buf + 28, &seq, 8);
    buf[25] = IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE;
}

static void answer_shutdown(uint8_t *buf, int status)
{
    uint32_t st = (uint32_t)status;
    memcpy(buf + 20, &st, 4);
    buf[25] = IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE;
}

TEST(ic_production_table_offers_shutdown_and_heartbeat)
{
    CHECK_EQ(vmbus_device_count, 3);
    CHECK(vmbus_devices[0] == &ic_shutdown_device);
    static const uint8_t shutdown_guid[16] = { 0x31, 0x60, 0x0b, 0x0e, 0x13, 0x52, 0x34, 0x49,
                                               0x81, 0x8b, 0x38, 0xd9, 0x0c, 0xed, 0x39, 0xdb };
    CHECK(memcmp(ic_shutdown_device.if_type.b, shutdown_guid, 16) == 0);
}

TEST(ic_heartbeat_negotiates_and_beats)
{
    struct ic_guest ig;
    tg_init(&ig.g, 1, vmbus_devices, vmbus_device_count);
    CHECK_EQ(tg_connect(&ig.g, VMBUS_VERSION_WIN10_V5_3), 1);
    struct vmbus_msg_header rq = { .msgtype = CHANNELMSG_REQUESTOFFERS };
    CHECK_EQ(tg_post(&ig.g, &rq, sizeof(rq)), 0);
    while (tg_recv(&ig.g, NULL, NULL) == CHANNELMSG_OFFERCHANNEL)
        ;
    struct vmbus_channel *ch = vmbus_host_find_channel(ig.g.host, &ic_heartbeat_device);
    CHECK(ch != NULL);
    CHECK_EQ(ic_heartbeat_tick(ch), -EAGAIN); /* not open */
    int irqs = ig.g.vm.irq_count;
    ic_guest_open(&ig, 1, IC_RING_PAGE);
    CHECK(ig.g.vm.irq_count > irqs); /* negotiate request signalled after the open result */
    uint8_t buf[4096];
    /* The negotiate request as the host sends it. */
    struct ic_header h;
    int n = guest_roundtrip(&ig, buf, answer_negotiate_hb, 0);
    CHECK(n >= 36 + 16);
    memcpy(&h, buf, sizeof(h));
    CHECK_EQ(h.msgtype, IC_MSGTYPE_NEGOTIATE);
    CHECK_EQ(h.flags, IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE); /* answered in place */
    CHECK(ic_service_ready(ch));
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(ic_heartbeat_tick(ch), 0);
        CHECK_EQ(ic_heartbeat_tick(ch), -EAGAIN); /* one at a time */
        n = guest_roundtrip(&ig, buf, answer_heartbeat, 1);
        CHECK(n >= 28 + 40);
        memcpy(&h, buf, sizeof(h));
        CHECK_EQ(h.msgtype, IC_MSGTYPE_HEARTBEAT);
        CHECK_EQ(h.msgver.major, 3);
        CHECK_EQ(h.framever.major, 3);
    }
    CHECK_EQ(ic_heartbeat_acks(ch), 5);
    /* A wrong sequence number is not an ack. */
    CHECK_EQ(ic_heartbeat_tick(ch), 0);
    guest_roundtrip(&ig, buf, answer_heartbeat, 0);
    CHECK_EQ(ic_heartbeat_acks(ch), 5);
    /* Close resets. */
    struct vmbus_msg_relid c = { .hdr.msgtype = CHANNELMSG_CLOSECHANNEL, .child_relid = 2 };
    CHECK_EQ(tg_post(&ig.g, &c, sizeof(c)), 0);
    CHECK(!ic_service_ready(ch));
    CHECK_EQ(ic_heartbeat_tick(ch), -EAGAIN);
    tg_free(&ig.g);
}

TEST(ic_shutdown_request_and_refused_negotiation)
{
    struct ic_guest ig;
    tg_init(&ig.g, 1, vmbus_devices, vmbus_device_count);
    CHECK_EQ(tg_connect(&ig.g, VMBUS_VERSION_WIN10_V5_3), 1);
    struct vmbus_msg_header rq = { .msgtype = CHANNELMSG_REQUESTOFFERS };
    CHECK_EQ(tg_post(&ig.g, &rq, sizeof(rq)), 0);
    while (tg_recv(&ig.g, NULL, NULL) == CHANNELMSG_OFFERCHANNEL)
        ;
    struct vmbus_channel *ch = vmbus_host_find_channel(ig.g.host, &ic_shutdown_device);
    ic_guest_open(&ig, 0, IC_RING_PAGE);
    uint8_t buf[4096];
    CHECK(guest_roundtrip(&ig, buf, answer_negotiate_sd, 0) > 0);
    CHECK(ic_service_ready(ch));
    CHECK_EQ(ic_shutdown_result(ch), -1);
    CHECK_EQ(ic_shutdown_request(ch, IC_SHUTDOWN_REBOOT, "bye"), 0);
    int n = guest_roundtrip(&ig, buf, answer_shutdown, 0);
    CHECK(n >= 28 + 2060); /* Linux refuses anything shorter */
    struct ic_header h;
    memcpy(&h, buf, sizeof(h));
    CHECK_EQ(h.msgtype, IC_MSGTYPE_SHUTDOWN);
    CHECK_EQ(h.msgver.major, 3);
    CHECK_EQ(h.msgver.minor, 2);
    uint32_t flags;
    memcpy(&flags, buf + 36, 4);
    CHECK_EQ(flags, 2);
    CHECK_STR((const char *)buf + 40, "bye");
    CHECK_EQ(ic_shutdown_result(ch), 0);
    CHECK_EQ(ic_shutdown_request(ch, IC_SHUTDOWN_POWEROFF, NULL), 0);
    guest_roundtrip(&ig, buf, answer_shutdown, (int)IC_E_FAIL);
    CHECK_EQ(ic_shutdown_result(ch), IC_E_FAIL);

    /* Reopen; the guest matches no version: the service stays unusable. */
    struct vmbus_msg_relid c = { .hdr.msgtype = CHANNELMSG_CLOSECHANNEL, .child_relid = 1 };
    CHECK_EQ(tg_post(&ig.g, &c, sizeof(c)), 0);
    struct vmbus_msg_gpadl_teardown t = { .hdr.msgtype = CHANNELMSG_GPADL_TEARDOWN,
                                          .child_relid = 1, .gpadl = 0xE1E10 };
    CHECK_EQ(tg_post(&ig.g, &t, sizeof(t)), 0);
    CHECK_EQ(tg_recv(&ig.g, NULL, NULL), CHANNELMSG_GPADL_TORNDOWN);
    ic_guest_open(&ig, 0, IC_RING_PAGE);
    CHECK(guest_roundtrip(&ig, buf, answer_negotiate_sd, 1) > 0);
    CHECK(!ic_service_ready(ch));
    CHECK_EQ(ic_shutdown_request(ch, IC_SHUTDOWN_POWEROFF, NULL), -EAGAIN);
    tg_free(&ig.g);
}

TEST(ic_negotiate_parser_rejects_garbage)
{
    uint8_t buf[256];
    struct ic_version fw, msg;
    static const struct ic_version mine[] = { { 3, 0 } };
    uint32_t len = ic_build_negotiate(buf, sizeof(buf), ic_framework_versions, 2, mine, 1);
    CHECK_EQ(len, 28 + 8 + 12);
    CHECK_EQ(ic_build_negotiate(buf, 30, ic_framework_versions, 2, mine, 1), 0);
    /* The request itself is not a valid response (counts 2/1). */
    CHECK_EQ(ic_parse_negotiate_response(buf, len, ic_framework_versions, 2, mine, 1, &fw, &msg),
             -1);
    uint16_t one[2] = { 1, 1 };
    memcpy(buf + 28, one, 4);
    struct ic_version pick[2] = { { 3, 0 }, { 3, 0 } };
    memcpy(buf + 36, pick, 8);
    CHECK_EQ(ic_parse_negotiate_response(buf, len, ic_framework_versions, 2, mine, 1, &fw, &msg),
             0);
    CHECK_EQ(ic_parse_negotiate_response(buf, 40, ic_framework_versions, 2, mine, 1, &fw, &msg),
             -1);
    pick[1].minor = 9; /* a version we never offered */
    memcpy(buf + 36, pick, 8);
    CHECK_EQ(ic_parse_negotiate_response(buf, len, ic_framework_versions, 2, mine, 1, &fw, &msg),
             -1);
}

static void answer_negotiate_ts(uint8_t *buf, int v3_only)
{
    static const uint32_t ts_pref[] = { 0x40000, 0x30000, 0x10000 };
    linux_negotiate(buf, fw_pref, 2, v3_only ? ts_pref + 1 : ts_pref, v3_only ? 2 : 3, 0);
}

static void answer_plain(uint8_t *buf, int unused)
{
    buf[25] = IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE;
}

TEST(ic_timesync_syncs_after_negotiation)
{
    struct ic_guest ig;
    tg_init(&ig.g, 1, vmbus_devices, vmbus_device_count);
    ic_timesync_set_partition(ig.g.vm.hv);
    ig.g.vm.now = 123456789;
    CHECK_EQ(tg_connect(&ig.g, VMBUS_VERSION_WIN10_V5_3), 1);
    struct vmbus_msg_header rq = { .msgtype = CHANNELMSG_REQUESTOFFERS };
    CHECK_EQ(tg_post(&ig.g, &rq, sizeof(rq)), 0);
    while (tg_recv(&ig.g, NULL, NULL) == CHANNELMSG_OFFERCHANNEL)
        ;
    struct vmbus_channel *ch = vmbus_host_find_channel(ig.g.host, &ic_timesync_device);
    ic_guest_open(&ig, 2, IC_RING_PAGE);
    uint8_t buf[4096];
    CHECK(guest_roundtrip(&ig, buf, answer_negotiate_ts, 0) > 0);
    /* The SYNC follows on its own. */
    int n = guest_roundtrip(&ig, buf, answer_plain, 0);
    CHECK(n >= 28 + 22);
    struct ic_header h;
    memcpy(&h, buf, sizeof(h));
    CHECK_EQ(h.msgtype, IC_MSGTYPE_TIMESYNC);
    CHECK_EQ(h.msgver.major, 4);
    uint64_t parent, ref;
    memcpy(&parent, buf + 28, 8);
    memcpy(&ref, buf + 36, 8);
    CHECK_EQ(ref, 123456789);
    CHECK_EQ(buf[44], IC_TIMESYNC_SYNC);
    /* 2020-01-01 < parenttime < 2200-01-01 in 100 ns since 1601. */
    CHECK(parent > 132223104000000000ull && parent < 189027936000000000ull);
    CHECK_EQ(ic_timesync_answers(ch), 1);
    CHECK_EQ(ic_timesync_send(ch, IC_TIMESYNC_SAMPLE), 0);
    n = guest_roundtrip(&ig, buf, answer_plain, 0);
    CHECK_EQ(buf[44], IC_TIMESYNC_SAMPLE);
    CHECK_EQ(ic_timesync_answers(ch), 2);
    /* A guest that only knows 3.0 gets the old layout. */
    struct vmbus_msg_header u = { .msgtype = CHANNELMSG_UNLOAD };
    CHECK_EQ(tg_post(&ig.g, &u, sizeof(u)), 0);
    CHECK_EQ(tg_recv(&ig.g, NULL, NULL), CHANNELMSG_UNLOAD_RESPONSE);
    CHECK_EQ(tg_connect(&ig.g, VMBUS_VERSION_WIN10_V5_3), 1);
    CHECK_EQ(tg_post(&ig.g, &rq, sizeof(rq)), 0);
    while (tg_recv(&ig.g, NULL, NULL) == CHANNELMSG_OFFERCHANNEL)
        ;
    ic_guest_open(&ig, 2, IC_RING_PAGE);
    CHECK(guest_roundtrip(&ig, buf, answer_negotiate_ts, 1) > 0);
    n = guest_roundtrip(&ig, buf, answer_plain, 0);
    CHECK(n >= 28 + 25);
    memcpy(&h, buf, sizeof(h));
    CHECK_EQ(h.msgver.major, 3);
    CHECK_EQ(buf[52], IC_TIMESYNC_SYNC);
    ic_timesync_set_partition(NULL);
    tg_free(&ig.g);
}
