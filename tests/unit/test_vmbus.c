/* The VMBus host end to end without KVM: the test plays the Linux guest (SynIC MSRs,
 * HvPostMessage, SIMP slot + EOM, rings) against a host with a loopback echo device. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "vmbus_guest.h"

struct echo_state {
    int opens, closes, packets, writable;
    uint8_t userdata0;
    int fail_open;
    int no_echo;
    int doorbell_fd; /* > 0: the eventfd echo's own thread would poll */
};

static struct echo_state echo;

static int echo_open(struct vmbus_channel *ch, const uint8_t *userdata)
{
    echo.opens++;
    echo.userdata0 = userdata[0];
    return echo.fail_open ? -1 : 0;
}

static void echo_close(struct vmbus_channel *ch)
{
    echo.closes++;
}

static void echo_packet(struct vmbus_channel *ch, const struct vmbus_packet *pkt)
{
    echo.packets++;
    if (!echo.no_echo)
        vmbus_channel_send(ch, VMBUS_PACKET_COMP, 0, pkt->trans_id, pkt->data, pkt->data_len);
}

static void echo_writable(struct vmbus_channel *ch)
{
    echo.writable++;
}

static int echo_doorbell_fd(struct vmbus_channel *ch)
{
    return echo.doorbell_fd > 0 ? echo.doorbell_fd : -1;
}

static const struct vmbus_device_desc echo_dev = {
    .name = "echo",
    .if_type = { { 0x11, 0x22, 0x33, 0x44, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 } },
    .if_instance = { { 0xAA, 1 } },
    .max_pkt_size = 4096,
    .open = echo_open,
    .close = echo_close,
    .on_packet = echo_packet,
    .on_writable = echo_writable,
    .doorbell_fd = echo_doorbell_fd,
};
static const struct vmbus_device_desc echo_dev2 = {
    .name = "echo2",
    .if_type = { { 0x11, 0x22, 0x33, 0x44, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 } },
    .if_instance = { { 0xAA, 2 } },
    .mmio_megabytes = 8,
    .open = echo_open,
    .close = echo_close,
    .on_packet = echo_packet,
};
static const struct vmbus_device_desc *const test_devs[] = { &echo_dev, &echo_dev2 };
/* Like echo, but it never has its reply refused: the host holds guest packets back. */
static const struct vmbus_device_desc reserve_dev = {
    .name = "reserve",
    .if_type = { { 0x11, 0x22, 0x33, 0x44, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 } },
    .if_instance = { { 0xAA, 3 } },
    .reply_reserve = 1500,
    .open = echo_open,
    .close = echo_close,
    .on_packet = echo_packet,
};
static const struct vmbus_device_desc *const reserve_devs[] = { &reserve_dev };

#define RING_PAGE 200u
#define GPADL_ID 0xE1E10u

/* A fresh host with DEVS and a guest, connected at Windows 10 v5.3 when `connect`. */
static void start(struct tguest *g, uint32_t vcpus, const struct vmbus_device_desc *const *devs,
                  unsigned ndevs, bool connect)
{
    memset(&echo, 0, sizeof(echo));
    tg_init(g, vcpus, devs, ndevs);
    CHECK(g->host != NULL);
    if (connect)
        CHECK_EQ(tg_connect(g, VMBUS_VERSION_WIN10_V5_3), 1);
}

/* Connected guest with offers received; returns the number of offers. */
static int setup_devs(struct tguest *g, uint32_t vcpus,
                      const struct vmbus_device_desc *const *devs, unsigned ndevs)
{
    start(g, vcpus, devs, ndevs, true);
    struct vmbus_msg_header rq = { .msgtype = CHANNELMSG_REQUESTOFFERS };
    CHECK_EQ(tg_post(g, &rq, sizeof(rq)), 0);
    int offers = 0;
    uint8_t buf[240];
    uint32_t t;
    while ((t = tg_recv(g, buf, NULL)) == CHANNELMSG_OFFERCHANNEL)
        offers++;
    CHECK_EQ(t, CHANNELMSG_ALLOFFERS_DELIVERED);
    return offers;
}

static int setup(struct tguest *g, uint32_t vcpus)
{
    return setup_devs(g, vcpus, test_devs, 2);
}

/* Opens relid 1 over an 8-page GPADL (4 pages each way). */
static void open_echo(struct tguest *g, struct guest_ring *out, struct guest_ring *in,
                      uint32_t pages_each)
{
    memset(fake_gpa(&g->vm, fake_page(RING_PAGE)), 0, 2 * pages_each * 4096);
    CHECK_EQ(tg_gpadl(g, 1, GPADL_ID, RING_PAGE, 2 * pages_each), 0);
    tg_ring(g, out, RING_PAGE, pages_each);
    tg_ring(g, in, RING_PAGE + pages_each, pages_each);
    *tg_ring_field(out, 64) = 1; /* feat_pending_send_sz, as Linux sets it */
    *tg_ring_field(in, 64) = 1;
    CHECK_EQ(tg_open(g, 1, GPADL_ID, pages_each, 0), 0);
}

static bool event_bit(struct tguest *g, uint32_t vp, uint32_t relid, int clear)
{
    uint8_t *f = (uint8_t *)fake_gpa(&g->vm, fake_siefp_gpa(vp)) + 512;
    bool set = f[relid / 8] & (1u << (relid % 8));
    if (clear)
        f[relid / 8] &= (uint8_t)~(1u << (relid % 8));
    return set;
}

TEST(vmbus_version_negotiation)
{
    struct tguest g;
    tg_init(&g, 1, test_devs, 2);
    static const uint32_t linux_versions[] = { 0x50003, 0x50002, 0x50001, 0x50000,
                                               0x40001, 0x40000, 0x30000, 0x20004 };
    for (size_t i = 0; i < 8; i++) {
        CHECK_EQ(tg_connect(&g, linux_versions[i]), 1);
        CHECK_EQ(vmbus_host_version(g.host), linux_versions[i]);
        if (linux_versions[i] >= 0x50000)
            CHECK_EQ(g.conn_id, 1); /* msg_conn_id from VERSION_RESPONSE */
    }
    CHECK_EQ(tg_connect(&g, 0x60000), 0);
    CHECK_EQ(tg_connect(&g, 0x0000000D), 0);
    CHECK(!vmbus_host_connected(g.host));
    /* Wrong connection id and wrong SynIC message type. */
    struct vmbus_msg_initiate_contact ic = { .hdr.msgtype = CHANNELMSG_INITIATE_CONTACT,
                                             .version_requested = 0x50003,
                                             .interrupt_page_or_sint = 2 };
    CHECK_EQ(fake_post_message(&g.vm, 0, 2, &ic, sizeof(ic)), HV_STATUS_INVALID_CONNECTION_ID);
    /* msg_sint other than 2 is refused for >= 5.0; target VP out of range too. */
    ic.interrupt_page_or_sint = 3;
    CHECK_EQ(fake_post_message(&g.vm, 0, 4, &ic, sizeof(ic)), 0);
    struct vmbus_msg_version_response r;
    CHECK_EQ(tg_recv(&g, &r, NULL), CHANNELMSG_VERSION_RESPONSE);
    CHECK_EQ(r.version_supported, 0);
    ic.interrupt_page_or_sint = 2;
    ic.target_vcpu = 7;
    CHECK_EQ(fake_post_message(&g.vm, 0, 4, &ic, sizeof(ic)), 0);
    CHECK_EQ(tg_recv(&g, &r, NULL), CHANNELMSG_VERSION_RESPONSE);
    CHECK_EQ(r.version_supported, 0);
    tg_free(&g);
}

TEST(vmbus_control_messages_go_to_target_vcpu)
{
    struct tguest g;
    start(&g, 2, test_devs, 2, false);
    struct vmbus_msg_initiate_contact ic = { .hdr.msgtype = CHANNELMSG_INITIATE_CONTACT,
                                             .version_requested = 0x50002, .target_vcpu = 1,
                                             .interrupt_page_or_sint = 2 };
    CHECK_EQ(fake_post_message(&g.vm, 0, 4, &ic, sizeof(ic)), 0);
    CHECK_EQ(tg_recv(&g, NULL, NULL), 0); /* nothing on VP 0 */
    uint8_t buf[240];
    CHECK_EQ(fake_take_message(&g.vm, 1, buf, NULL), 1);
    CHECK_EQ(buf[0], CHANNELMSG_VERSION_RESPONSE);
    CHECK_EQ(g.vm.irq_vp[g.vm.irq_count - 1], 1);
    tg_free(&g);
}

TEST(vmbus_offers)
{
    struct tguest g;
    start(&g, 1, test_devs, 2, true);
    struct vmbus_msg_header rq = { .msgtype = CHANNELMSG_REQUESTOFFERS };
    CHECK_EQ(tg_post(&g, &rq, sizeof(rq)), 0);
    struct vmbus_msg_offer_channel o;
    uint32_t len;
    for (uint32_t i = 0; i < 2; i++) {
        CHECK_EQ(tg_recv(&g, &o, &len), CHANNELMSG_OFFERCHANNEL);
        CHECK_EQ(len, 196);
        CHECK_EQ(o.child_relid, i + 1);
        CHECK_EQ(o.connection_id, 0x2000 + i + 1);
        CHECK_EQ(o.is_dedicated_interrupt, 1);
        CHECK_EQ(o.monitor_allocated, 0);
        CHECK_EQ(o.sub_channel_index, 0);
        CHECK(memcmp(&o.if_type, &echo_dev.if_type, 16) == 0);
        CHECK_EQ(o.if_instance.b[1], i + 1);
        CHECK_EQ(o.mmio_megabytes, i ? 8 : 0);
    }
    CHECK_EQ(tg_recv(&g, NULL, &len), CHANNELMSG_ALLOFFERS_DELIVERED);
    CHECK_EQ(len, 8);
    CHECK_EQ(tg_post(&g, &rq, sizeof(rq)), 0); /* again: ignored */
    CHECK_EQ(tg_recv(&g, NULL, NULL), 0);
    /* A duplicate (type, instance) pair is refused at creation. */
    const struct vmbus_device_desc *dup[] = { &echo_dev, &echo_dev };
    CHECK(vmbus_create(g.vm.hv, &g.vm.gm, dup, 2) == NULL);
    tg_free(&g);
}

TEST(vmbus_open_and_echo_with_wraparound)
{
    struct tguest g;
    CHECK_EQ(setup(&g, 1), 2);
    struct guest_ring out, in;
    open_echo(&g, &out, &in, 4);
    CHECK_EQ(echo.opens, 1);
    CHECK(vmbus_channel_is_open(vmbus_host_channel(g.host, 0)));
    uint8_t msg[700], back[800];
    /* 12 KiB of data per ring: 300 round trips of varying sizes wrap many times. */
    for (int i = 0; i < 300; i++) {
        uint32_t len = 1 + (uint32_t)(i * 37) % 690;
        for (uint32_t k = 0; k < len; k++)
            msg[k] = (uint8_t)(i + k);
        int sig = tg_ring_write(&out, VMBUS_PACKET_DATA_INBAND, 1000 + i, msg, len);
        CHECK_EQ(sig, 1); /* ring was empty: Linux signals */
        int irqs = g.vm.irq_count;
        CHECK_EQ(tg_signal(&g, 0x2001), 0);
        CHECK_EQ(g.vm.irq_count, irqs + 1); /* host->guest ring went non-empty */
        CHECK(event_bit(&g, 0, 1, 1));
        uint16_t type;
        uint64_t tid;
        int n = tg_ring_read(&in, &type, &tid, back, sizeof(back));
        CHECK_EQ(n, (int)((16 + len + 7) / 8 * 8 - 16)); /* padded payload */
        CHECK_EQ(type, VMBUS_PACKET_COMP);
        CHECK_EQ(tid, 1000 + i);
        CHECK(memcmp(back, msg, len) == 0);
        CHECK_EQ(tg_ring_read(&in, NULL, NULL, back, sizeof(back)), -1);
    }
    CHECK_EQ(echo.packets, 300);
    CHECK_EQ(*tg_ring_field(&out, 8), 0); /* host left its interrupt mask clear */
    CHECK_EQ(*tg_ring_field(&out, 0), *tg_ring_field(&out, 4)); /* drained */
    tg_free(&g);
    CHECK_EQ(echo.closes, 1);
}

TEST(vmbus_batching_drains_everything_with_one_signal)
{
    struct tguest g;
    setup(&g, 1);
    struct guest_ring out, in;
    open_echo(&g, &out, &in, 4);
    uint8_t msg[64] = { 1 };
    CHECK_EQ(tg_ring_write(&out, VMBUS_PACKET_DATA_INBAND, 1, msg, 64), 1);
    for (int i = 2; i <= 10; i++)
        CHECK_EQ(tg_ring_write(&out, VMBUS_PACKET_DATA_INBAND, i, msg, 64), 0);
    int irqs = g.vm.irq_count;
    CHECK_EQ(tg_signal(&g, 0x2001), 0);
    CHECK_EQ(echo.packets, 10);
    CHECK_EQ(g.vm.irq_count, irqs + 1); /* ten responses, one interrupt */
    for (int i = 1; i <= 10; i++) {
        uint64_t tid;
        CHECK_EQ(tg_ring_read(&in, NULL, &tid, msg, sizeof(msg)), 64);
        CHECK_EQ(tid, i);
    }
    /* Guest masks interrupts while it drains: the host must not signal. */
    event_bit(&g, 0, 1, 1);
    *tg_ring_field(&in, 8) = 1;
    irqs = g.vm.irq_count;
    CHECK_EQ(vmbus_channel_send(vmbus_host_channel(g.host, 0), VMBUS_PACKET_DATA_INBAND, 0, 0,
                                msg, 8), 0);
    CHECK_EQ(g.vm.irq_count, irqs);
    CHECK(!event_bit(&g, 0, 1, 0));
    *tg_ring_field(&in, 8) = 0;
    /* Not empty before the write: no signal either. */
    CHECK_EQ(vmbus_channel_send(vmbus_host_channel(g.host, 0), VMBUS_PACKET_DATA_INBAND, 0, 0,
                                msg, 8), 0);
    CHECK_EQ(g.vm.irq_count, irqs);
    tg_free(&g);
}

/* What the core's KVM_IOEVENTFD binding would record; fails the slot `fail_conn` and
 * the eventfd `fail_fd`. */
struct doorbell_binds {
    int fd[8];
    uint32_t conn[8];
    int bound, unbound, last_unbound;
    uint32_t fail_conn;
    int fail_fd;
};

static int record_bind(void *ctx, uint32_t conn, int fd, bool on)
{
    struct doorbell_binds *b = ctx;
    if (!on) {
        b->unbound++;
        b->last_unbound = fd;
        return 0;
    }
    if (conn == b->fail_conn || (b->fail_fd && fd == b->fail_fd) || b->bound == 8)
        return -ENOSPC;
    b->conn[b->bound] = conn;
    b->fd[b->bound++] = fd;
    return 0;
}

TEST(vmbus_doorbell_serves_the_channel_off_the_signalling_thread)
{
    struct tguest g;
    setup(&g, 1);
    struct guest_ring out, in;
    open_echo(&g, &out, &in, 4);
    /* a failed binding undoes the ones before it, and signals still work by hypercall */
    struct doorbell_binds b = { .fail_conn = 0x2002 };
    CHECK_EQ(vmbus_doorbells_start(g.host, record_bind, &b), -ENOSPC);
    CHECK_EQ(b.bound, 1);
    CHECK_EQ(b.unbound, 1);
    memset(&b, 0, sizeof(b));
    CHECK_EQ(vmbus_doorbells_start(g.host, record_bind, &b), 0);
    CHECK_EQ(b.bound, 2); /* one per channel slot, by connection id */
    CHECK_EQ(b.conn[0], 0x2001);
    CHECK_EQ(b.conn[1], 0x2002);
    uint8_t msg[64] = { 7 };
    for (int i = 1; i <= 3; i++)
        tg_ring_write(&out, VMBUS_PACKET_DATA_INBAND, i, msg, sizeof(msg));
    int irqs = g.vm.irq_count;
    uint64_t one = 1; /* what KVM writes when the guest's OUT matches */
    CHECK_EQ(write(b.fd[0], &one, sizeof(one)), (ssize_t)sizeof(one));
    for (int i = 0; i < 2000 && __atomic_load_n(&echo.packets, __ATOMIC_ACQUIRE) < 3; i++)
        nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
    vmbus_doorbells_stop(g.host); /* joins the thread: its writes are visible */
    CHECK_EQ(echo.packets, 3);
    CHECK_EQ(g.vm.irq_count, irqs + 1);
    for (int i = 1; i <= 3; i++) {
        uint64_t tid;
        CHECK_EQ(tg_ring_read(&in, NULL, &tid, msg, sizeof(msg)), 64);
        CHECK_EQ(tid, i);
    }
    CHECK_EQ(*tg_ring_field(&out, 8), 0); /* interrupt mask clear again */
    tg_free(&g);
}

TEST(vmbus_doorbell_routes_to_a_device_eventfd_and_back)
{
    struct tguest g;
    setup(&g, 1);
    struct vmbus_channel *ch = vmbus_host_channel(g.host, 0);
    CHECK_EQ(vmbus_channel_route_doorbell(ch, 100), -ENODEV); /* no doorbells yet */
    struct doorbell_binds b = { 0 };
    CHECK_EQ(vmbus_doorbells_start(g.host, record_bind, &b), 0);
    int own = b.fd[0];
    /* KVM's one eventfd per connection id: the host's goes, the device's comes */
    CHECK_EQ(vmbus_channel_route_doorbell(ch, 100), 0);
    CHECK_EQ(b.last_unbound, own);
    CHECK_EQ(b.bound, 3);
    CHECK_EQ(b.conn[2], 0x2001);
    CHECK_EQ(b.fd[2], 100);
    /* the kernel refuses another: the device's stays bound */
    b.fail_fd = 101;
    CHECK_EQ(vmbus_channel_route_doorbell(ch, 101), -ENOSPC);
    CHECK_EQ(b.fd[b.bound - 1], 100);
    /* routed back: the host's own eventfd again */
    CHECK_EQ(vmbus_channel_route_doorbell(ch, -1), 0);
    CHECK_EQ(b.last_unbound, 100);
    CHECK_EQ(b.fd[b.bound - 1], own);
    CHECK_EQ(b.conn[b.bound - 1], 0x2001);
    int binds = b.bound;
    CHECK_EQ(vmbus_channel_route_doorbell(ch, -1), 0); /* already there: nothing to do */
    CHECK_EQ(b.bound, binds);
    /* a device with doorbell_fd: the host routes it at open and back at close */
    echo.doorbell_fd = 102;
    struct guest_ring out, in;
    open_echo(&g, &out, &in, 4);
    CHECK_EQ(b.last_unbound, own);
    CHECK_EQ(b.fd[b.bound - 1], 102);
    CHECK_EQ(b.conn[b.bound - 1], 0x2001);
    struct vmbus_msg_relid c = { .hdr.msgtype = CHANNELMSG_CLOSECHANNEL, .child_relid = 1 };
    CHECK_EQ(tg_post(&g, &c, sizeof(c)), 0);
    CHECK_EQ(b.last_unbound, 102);
    CHECK_EQ(b.fd[b.bound - 1], own);
    echo.doorbell_fd = 0;
    vmbus_doorbells_stop(g.host);
    CHECK_EQ(vmbus_channel_route_doorbell(ch, 100), -ENODEV);
    tg_free(&g);
}

TEST(vmbus_ring_full_and_pending_send_size)
{
    struct tguest g;
    setup(&g, 1);
    struct guest_ring out, in;
    open_echo(&g, &out, &in, 2); /* 4 KiB data per ring */
    struct vmbus_channel *ch = vmbus_host_channel(g.host, 0);
    uint8_t msg[1000] = { 0 };
    int sent = 0, rc;
    while ((rc = vmbus_channel_send(ch, VMBUS_PACKET_DATA_INBAND, 0, (uint64_t)sent, msg,
                                    1000)) == 0)
        sent++;
    CHECK_EQ(rc, -EAGAIN);
    CHECK_EQ(sent, 3); /* 3 x 1024 bytes fit; a 4th would fill the ring completely */
    CHECK_EQ(*tg_ring_field(&in, 12), 1024); /* pending_send_sz */
    CHECK(*tg_ring_field(&in, 0) != *tg_ring_field(&in, 4));
    for (int i = 0; i < 3; i++)
        CHECK_EQ(tg_ring_read(&in, NULL, NULL, msg, sizeof(msg)), 1000);
    CHECK_EQ(tg_signal(&g, 0x2001), 0); /* guest signals: room now */
    CHECK_EQ(echo.writable, 1);
    CHECK_EQ(*tg_ring_field(&in, 12), 0);
    CHECK_EQ(vmbus_channel_send(ch, VMBUS_PACKET_DATA_INBAND, 0, 9, msg, 1000), 0);
    /* Larger than len8 can describe, or than the ring can ever hold. */
    CHECK_EQ(vmbus_channel_send(ch, VMBUS_PACKET_DATA_INBAND, 0, 9, msg, 0x7FFF8), -EINVAL);
    CHECK_EQ(vmbus_channel_send_ext(ch, 7, 0, 9, msg, 4, msg, 8), -EINVAL);
    static uint8_t huge[4096];
    CHECK_EQ(vmbus_channel_send(ch, VMBUS_PACKET_DATA_INBAND, 0, 9, huge, 4096), -EMSGSIZE);
    CHECK_EQ(vmbus_channel_send(ch, VMBUS_PACKET_DATA_INBAND, 0, 9, NULL, 8), -EINVAL);

    /* Guest blocked on its outbound ring (hv_sock style): host signals once room > need. */
    echo.no_echo = 1;
    int k = 0;
    while (tg_ring_write(&out, VMBUS_PACKET_DATA_INBAND, 0, msg, 1000) >= 0)
        k++;
    CHECK_EQ(k, 3);
    *tg_ring_field(&out, 12) = 2048;
    event_bit(&g, 0, 1, 1);
    int irqs = g.vm.irq_count;
    CHECK_EQ(tg_signal(&g, 0x2001), 0);
    CHECK_EQ(echo.packets, 3);
    CHECK_EQ(g.vm.irq_count, irqs + 1);
    CHECK(event_bit(&g, 0, 1, 0));
    tg_free(&g);
}

TEST(vmbus_reply_reserve_holds_guest_packets_until_room)
{
    struct tguest g;
    CHECK_EQ(setup_devs(&g, 1, reserve_devs, 1), 1);
    struct guest_ring out, in;
    open_echo(&g, &out, &in, 2); /* 4 KiB data per ring */
    struct vmbus_channel *ch = vmbus_host_channel(g.host, 0);
    uint8_t msg[1000] = { 0 };
    for (int i = 0; i < 3; i++) /* 1 KiB left: less than the device's reserve */
        CHECK_EQ(vmbus_channel_send(ch, VMBUS_PACKET_DATA_INBAND, 0, 50, msg, 1000), 0);
    CHECK_EQ(tg_ring_write(&out, VMBUS_PACKET_DATA_INBAND, 1, msg, 64), 1);
    CHECK_EQ(tg_ring_write(&out, VMBUS_PACKET_DATA_INBAND, 2, msg, 64), 0);
    CHECK_EQ(tg_signal(&g, 0x2001), 0);
    CHECK_EQ(echo.packets, 0);                  /* held, not answered into a full ring */
    CHECK_EQ(*tg_ring_field(&in, 12), 1508);    /* the guest is asked to signal */
    CHECK(*tg_ring_field(&out, 0) != *tg_ring_field(&out, 4));
    CHECK_EQ(tg_ring_read(&in, NULL, NULL, msg, sizeof(msg)), 1000);
    CHECK_EQ(tg_signal(&g, 0x2001), 0);        /* room made: the guest signals */
    CHECK_EQ(echo.packets, 2);
    CHECK_EQ(*tg_ring_field(&in, 12), 0);
    uint64_t tid;
    CHECK_EQ(tg_ring_read(&in, NULL, NULL, msg, sizeof(msg)), 1000);
    CHECK_EQ(tg_ring_read(&in, NULL, NULL, msg, sizeof(msg)), 1000);
    CHECK_EQ(tg_ring_read(&in, NULL, &tid, msg, sizeof(msg)), 64);
    CHECK_EQ(tid, 1);
    CHECK_EQ(tg_ring_read(&in, NULL, &tid, msg, sizeof(msg)), 64);
    CHECK_EQ(tid, 2);
    tg_free(&g);
}

TEST(vmbus_corrupt_ring_closes_only_that_channel)
{
    struct tguest g;
    setup(&g, 1);
    struct guest_ring out, in;
    open_echo(&g, &out, &in, 4);
    uint8_t msg[16] = { 0 };
    tg_ring_write(&out, VMBUS_PACKET_DATA_INBAND, 1, msg, 16);
    *tg_ring_field(&out, 0) = 13; /* misaligned write index */
    CHECK_EQ(tg_signal(&g, 0x2001), 0);
    CHECK_EQ(echo.closes, 1);
    CHECK(!vmbus_channel_is_open(vmbus_host_channel(g.host, 0)));
    CHECK_EQ(vmbus_channel_send(vmbus_host_channel(g.host, 0), 6, 0, 0, msg, 8), -EPIPE);
    CHECK_EQ(tg_signal(&g, 0x2001), 0); /* still harmless */
    /* Guest closes, tears down, re-creates and reopens: works again. */
    struct vmbus_msg_relid c = { .hdr.msgtype = CHANNELMSG_CLOSECHANNEL, .child_relid = 1 };
    CHECK_EQ(tg_post(&g, &c, sizeof(c)), 0);
    CHECK_EQ(echo.closes, 1); /* close was already reported */
    struct vmbus_msg_gpadl_teardown t = { .hdr.msgtype = CHANNELMSG_GPADL_TEARDOWN,
                                          .child_relid = 1, .gpadl = GPADL_ID };
    CHECK_EQ(tg_post(&g, &t, sizeof(t)), 0);
    CHECK_EQ(tg_recv(&g, NULL, NULL), CHANNELMSG_GPADL_TORNDOWN);
    open_echo(&g, &out, &in, 4);
    CHECK_EQ(echo.opens, 2);

    /* Descriptor lies about its length. */
    struct vmbus_packet_desc d = { .type = 6, .offset8 = 2, .len8 = 0x4000 };
    memcpy(out.data, &d, 16);
    *tg_ring_field(&out, 0) = 64;
    CHECK_EQ(tg_signal(&g, 0x2001), 0);
    CHECK_EQ(echo.closes, 2);
    CHECK_EQ(echo.packets, 0);
    tg_free(&g);
}

TEST(vmbus_packet_too_large_for_device)
{
    struct tguest g;
    setup(&g, 1);
    struct guest_ring out, in;
    open_echo(&g, &out, &in, 4);
    static uint8_t big[5000];
    CHECK_EQ(tg_ring_write(&out, VMBUS_PACKET_DATA_INBAND, 1, big, sizeof(big)), 1);
    CHECK_EQ(tg_signal(&g, 0x2001), 0);
    CHECK_EQ(echo.closes, 1); /* max_pkt_size 4096 */
    tg_free(&g);
}

TEST(vmbus_close_teardown_unload_reconnect)
{
    struct tguest g;
    setup(&g, 1);
    struct guest_ring out, in;
    open_echo(&g, &out, &in, 4);
    CHECK_EQ(echo.userdata0, 0);
    struct vmbus_msg_relid c = { .hdr.msgtype = CHANNELMSG_CLOSECHANNEL, .child_relid = 1 };
    CHECK_EQ(tg_post(&g, &c, sizeof(c)), 0);
    CHECK_EQ(echo.closes, 1);
    CHECK_EQ(tg_recv(&g, NULL, NULL), 0); /* no reply to CLOSECHANNEL */
    CHECK_EQ(vmbus_host_gpadl_count(g.host), 1);
    struct vmbus_msg_gpadl_teardown t = { .hdr.msgtype = CHANNELMSG_GPADL_TEARDOWN,
                                          .child_relid = 1, .gpadl = GPADL_ID };
    CHECK_EQ(tg_post(&g, &t, sizeof(t)), 0);
    struct vmbus_msg_gpadl_torndown td;
    CHECK_EQ(tg_recv(&g, &td, NULL), CHANNELMSG_GPADL_TORNDOWN);
    CHECK_EQ(td.gpadl, GPADL_ID);
    CHECK_EQ(vmbus_host_gpadl_count(g.host), 0);
    /* Reopen, then UNLOAD with the channel open (kexec): everything released. */
    open_echo(&g, &out, &in, 4);
    CHECK_EQ(tg_gpadl(&g, 2, 0x999, 400, 3), 0);
    CHECK_EQ(vmbus_host_gpadl_count(g.host), 2);
    struct vmbus_msg_header u = { .msgtype = CHANNELMSG_UNLOAD };
    CHECK_EQ(tg_post(&g, &u, sizeof(u)), 0);
    CHECK_EQ(tg_recv(&g, NULL, NULL), CHANNELMSG_UNLOAD_RESPONSE);
    CHECK_EQ(echo.closes, 2);
    CHECK(!vmbus_host_connected(g.host));
    CHECK_EQ(vmbus_host_gpadl_count(g.host), 0);
    CHECK_EQ(tg_signal(&g, 0x2001), 0);
    CHECK_EQ(echo.packets, 0);
    /* The next kernel connects again and gets the same offers. */
    CHECK_EQ(tg_connect(&g, VMBUS_VERSION_WIN10_V5_3), 1);
    struct vmbus_msg_header rq = { .msgtype = CHANNELMSG_REQUESTOFFERS };
    CHECK_EQ(tg_post(&g, &rq, sizeof(rq)), 0);
    int offers = 0;
    while (tg_recv(&g, NULL, NULL) == CHANNELMSG_OFFERCHANNEL)
        offers++;
    CHECK_EQ(offers, 2);
    open_echo(&g, &out, &in, 4);
    uint8_t msg[8] = { 7 };
    tg_ring_write(&out, VMBUS_PACKET_DATA_INBAND, 5, msg, 8);
    CHECK_EQ(tg_signal(&g, 0x2001), 0);
    CHECK_EQ(tg_ring_read(&in, NULL, NULL, msg, 8), 8);
    /* A new INITIATE_CONTACT without UNLOAD (crashed kernel) also resets. */
    CHECK_EQ(tg_connect(&g, VMBUS_VERSION_WIN10_V5_3), 1);
    CHECK_EQ(echo.closes, 3);
    CHECK_EQ(vmbus_host_gpadl_count(g.host), 0);
    tg_free(&g);
}

TEST(vmbus_open_failures)
{
    struct tguest g;
    setup(&g, 2);
    CHECK_EQ(tg_gpadl(&g, 1, GPADL_ID, RING_PAGE, 8), 0);
    CHECK(tg_open(&g, 1, GPADL_ID + 1, 4, 0) > 0); /* unknown GPADL */
    CHECK(tg_open(&g, 2, GPADL_ID, 4, 0) > 0);     /* GPADL of another channel */
    CHECK(tg_open(&g, 1, GPADL_ID, 1, 0) > 0);     /* ring without data pages */
    CHECK(tg_open(&g, 1, GPADL_ID, 7, 0) > 0);
    CHECK(tg_open(&g, 1, GPADL_ID, 9, 0) > 0);
    CHECK(tg_open(&g, 1, GPADL_ID, 4, 2) > 0);     /* no such VP */
    *(uint32_t *)fake_gpa(&g.vm, fake_page(RING_PAGE)) = 4097; /* bad write index */
    CHECK(tg_open(&g, 1, GPADL_ID, 4, 0) > 0);
    *(uint32_t *)fake_gpa(&g.vm, fake_page(RING_PAGE)) = 0;
    echo.fail_open = 1;
    CHECK(tg_open(&g, 1, GPADL_ID, 4, 0) > 0);     /* device refuses */
    echo.fail_open = 0;
    CHECK_EQ(tg_open(&g, 1, GPADL_ID, 4, 1), 0);
    CHECK(tg_open(&g, 1, GPADL_ID, 4, 1) > 0);     /* already open */
    CHECK(tg_open(&g, 9, GPADL_ID, 4, 1) > 0);     /* no such channel */
    /* Events for the channel go to its target VP 1. */
    uint8_t msg[8] = { 0 };
    CHECK_EQ(vmbus_channel_send(vmbus_host_channel(g.host, 0), 6, 0, 0, msg, 8), 0);
    CHECK_EQ(g.vm.irq_vp[g.vm.irq_count - 1], 1);
    CHECK(event_bit(&g, 1, 1, 1));
    /* MODIFYCHANNEL (5.3 answers) moves them to VP 0. */
    struct vmbus_msg_modify_channel mc = { .hdr.msgtype = CHANNELMSG_MODIFYCHANNEL,
                                           .child_relid = 1, .target_vp = 0 };
    CHECK_EQ(tg_post(&g, &mc, sizeof(mc)), 0);
    struct vmbus_msg_modify_channel_response mr;
    CHECK_EQ(tg_recv(&g, &mr, NULL), CHANNELMSG_MODIFYCHANNEL_RESPONSE);
    CHECK_EQ(mr.status, 0);
    CHECK_EQ(vmbus_channel_target_vp(vmbus_host_channel(g.host, 0)), 0);
    mc.target_vp = 5;
    CHECK_EQ(tg_post(&g, &mc, sizeof(mc)), 0);
    CHECK_EQ(tg_recv(&g, &mr, NULL), CHANNELMSG_MODIFYCHANNEL_RESPONSE);
    CHECK(mr.status != 0);
    tg_free(&g);
}

TEST(vmbus_gpadl_validation)
{
    struct tguest g;
    setup(&g, 1);
    /* Large GPADL through many bodies. */
    CHECK_EQ(tg_gpadl(&g, 1, 1, 300, 300), 0);
    const struct vmbus_gpadl *gp = vmbus_channel_gpadl(vmbus_host_channel(g.host, 0), 1);
    CHECK(gp != NULL);
    CHECK(vmbus_channel_gpadl(vmbus_host_channel(g.host, 1), 1) == NULL); /* other channel */
    if (gp) {
        uint8_t *p = fake_gpa(&g.vm, fake_page(300 + 5));
        p[10] = 0x5A;
        uint8_t b = 0;
        CHECK_EQ(vmbus_gpadl_read(gp, &g.vm.gm, 5 * 4096 + 10, &b, 1), 0);
        CHECK_EQ(b, 0x5A);
        CHECK_EQ(vmbus_gpadl_read(gp, &g.vm.gm, 300 * 4096 - 1, &b, 2), -1);
        CHECK_EQ(vmbus_gpadl_write(gp, &g.vm.gm, 4095, "xy", 2), 0);
        CHECK_EQ(((uint8_t *)fake_gpa(&g.vm, fake_page(301)))[0], 'y');
    }
    /* Duplicate id. */
    CHECK(tg_gpadl(&g, 1, 1, 300, 2) > 0);
    /* Unknown channel. */
    CHECK(tg_gpadl(&g, 77, 2, 300, 2) > 0);
    /* A page outside RAM (the fake RAM is 1024 pages). */
    CHECK(tg_gpadl(&g, 1, 3, 1020, 10) > 0);
    /* Body for an unknown GPADL. */
    uint8_t m[240] = { 0 };
    struct vmbus_msg_gpadl_body b = { .hdr.msgtype = CHANNELMSG_GPADL_BODY, .gpadl = 4242 };
    memcpy(m, &b, sizeof(b));
    CHECK_EQ(tg_post(&g, m, 24), HV_STATUS_INVALID_PARAMETER);
    /* Header claiming too many pages: refused at once, following bodies absorbed. */
    struct vmbus_msg_gpadl_header h = { .hdr.msgtype = CHANNELMSG_GPADL_HEADER,
                                        .child_relid = 1, .gpadl = 5, .rangecount = 1 };
    struct vmbus_gpa_range r = { .byte_count = 0xFFFFF000u, .byte_offset = 0 };
    h.range_buflen = (uint16_t)(8 + 8 * 0xFFFFFull);
    memcpy(m, &h, sizeof(h));
    memcpy(m + 20, &r, 8);
    CHECK_EQ(tg_post(&g, m, 36), 0);
    CHECK_EQ(tg_recv(&g, NULL, NULL), 0); /* waits for its bodies */
    b.gpadl = 5;
    memcpy(m, &b, sizeof(b));
    CHECK_EQ(tg_post(&g, m, 16 + 8 * 28), 0);
    /* Inconsistent range_buflen. */
    h.gpadl = 6;
    r.byte_count = 4096;
    h.range_buflen = 24;
    memcpy(m, &h, sizeof(h));
    memcpy(m + 20, &r, 8);
    uint64_t pfn = fake_page(300) >> 12;
    memcpy(m + 28, &pfn, 8);
    CHECK_EQ(tg_post(&g, m, 36), 0);
    struct vmbus_msg_gpadl_created c;
    CHECK_EQ(tg_recv(&g, &c, NULL), CHANNELMSG_GPADL_CREATED);
    CHECK_EQ(c.gpadl, 6);
    CHECK(c.creation_status != 0);
    /* Two ranges: not supported, refused. */
    h.gpadl = 7;
    h.rangecount = 2;
    h.range_buflen = 16;
    memcpy(m, &h, sizeof(h));
    CHECK_EQ(tg_post(&g, m, 36), 0);
    CHECK_EQ(tg_recv(&g, &c, NULL), CHANNELMSG_GPADL_CREATED);
    CHECK(c.creation_status != 0);
    /* Too many PFNs in a body. */
    h.gpadl = 8;
    h.rangecount = 1;
    r.byte_count = 2 * 4096;
    h.range_buflen = 24;
    memcpy(m, &h, sizeof(h));
    memcpy(m + 20, &r, 8);
    CHECK_EQ(tg_post(&g, m, 36), 0);
    b.gpadl = 8;
    memcpy(m, &b, sizeof(b));
    memcpy(m + 16, &pfn, 8);
    memcpy(m + 24, &pfn, 8);
    CHECK_EQ(tg_post(&g, m, 32), 0);
    CHECK_EQ(tg_recv(&g, &c, NULL), CHANNELMSG_GPADL_CREATED);
    CHECK_EQ(c.gpadl, 8);
    CHECK(c.creation_status != 0);
    CHECK_EQ(vmbus_host_gpadl_count(g.host), 2); /* #1 and the absorbing #5 */
    /* Teardown of something unknown still answers (the guest waits forever). */
    struct vmbus_msg_gpadl_teardown t = { .hdr.msgtype = CHANNELMSG_GPADL_TEARDOWN,
                                          .child_relid = 1, .gpadl = 31337 };
    CHECK_EQ(tg_post(&g, &t, sizeof(t)), 0);
    CHECK_EQ(tg_recv(&g, NULL, NULL), CHANNELMSG_GPADL_TORNDOWN);
    tg_free(&g);
}

TEST(vmbus_malformed_messages_rejected)
{
    struct tguest g;
    start(&g, 1, test_devs, 2, false);
    uint8_t m[240] = { 0 };
    /* Before contact only INITIATE_CONTACT/UNLOAD mean anything. */
    m[0] = CHANNELMSG_REQUESTOFFERS;
    CHECK_EQ(tg_post(&g, m, 8), HV_STATUS_INVALID_PARAMETER);
    CHECK_EQ(tg_connect(&g, VMBUS_VERSION_WIN10_V5_3), 1);
    static const struct { uint32_t type, len; } bad[] = {
        { CHANNELMSG_INITIATE_CONTACT, 39 }, { CHANNELMSG_OPENCHANNEL, 147 },
        { CHANNELMSG_CLOSECHANNEL, 11 },     { CHANNELMSG_GPADL_HEADER, 27 },
        { CHANNELMSG_GPADL_BODY, 15 },       { CHANNELMSG_GPADL_TEARDOWN, 15 },
        { CHANNELMSG_MODIFYCHANNEL, 15 },    { CHANNELMSG_OFFERCHANNEL, 196 },
        { CHANNELMSG_VERSION_RESPONSE, 16 }, { 99, 8 }, { 0, 8 }, { 18, 8 },
        { CHANNELMSG_UNLOAD, 4 },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(m, 0, sizeof(m));
        memcpy(m, &bad[i].type, 4);
        CHECK_EQ(tg_post(&g, m, bad[i].len), HV_STATUS_INVALID_PARAMETER);
    }
    CHECK(vmbus_host_connected(g.host));
    CHECK_EQ(tg_recv(&g, NULL, NULL), 0);
    /* Signals on unknown connection ids. */
    CHECK_EQ(tg_signal(&g, 0x2000), HV_STATUS_INVALID_CONNECTION_ID);
    CHECK_EQ(tg_signal(&g, 0x2003), HV_STATUS_INVALID_CONNECTION_ID);
    CHECK_EQ(tg_signal(&g, 5), HV_STATUS_INVALID_CONNECTION_ID);
    CHECK_EQ(tg_signal(&g, 0x2002), 0); /* known but closed: ignored */
    /* hv_sock connection requests are refused. */
    struct vmbus_msg_tl_connect_request tl = { .hdr.msgtype = CHANNELMSG_TL_CONNECT_REQUEST };
    tl.host_service_id.b[0] = 0x42;
    CHECK_EQ(tg_post(&g, &tl, sizeof(tl)), 0);
    struct vmbus_msg_tl_connect_result tr;
    CHECK_EQ(tg_recv(&g, &tr, NULL), CHANNELMSG_TL_CONNECT_RESULT);
    CHECK(tr.status != 0);
    CHECK_EQ(tr.host_service_id.b[0], 0x42);
    tg_free(&g);
}

TEST(vmbus_rescind)
{
    struct tguest g;
    setup(&g, 1);
    struct guest_ring out, in;
    open_echo(&g, &out, &in, 4);
    struct vmbus_channel *ch = vmbus_host_channel(g.host, 0);
    CHECK_EQ(vmbus_channel_rescind(ch), 0);
    CHECK_EQ(echo.closes, 1);
    struct vmbus_msg_relid r;
    CHECK_EQ(tg_recv(&g, &r, NULL), CHANNELMSG_RESCIND_CHANNELOFFER);
    CHECK_EQ(r.child_relid, 1);
    CHECK_EQ(vmbus_channel_rescind(ch), -1);
    /* Guest still closes and tears down, then releases the relid. */
    struct vmbus_msg_relid c = { .hdr.msgtype = CHANNELMSG_CLOSECHANNEL, .child_relid = 1 };
    CHECK_EQ(tg_post(&g, &c, sizeof(c)), 0);
    struct vmbus_msg_gpadl_teardown t = { .hdr.msgtype = CHANNELMSG_GPADL_TEARDOWN,
                                          .child_relid = 1, .gpadl = GPADL_ID };
    CHECK_EQ(tg_post(&g, &t, sizeof(t)), 0);
    CHECK_EQ(tg_recv(&g, NULL, NULL), CHANNELMSG_GPADL_TORNDOWN);
    c.hdr.msgtype = CHANNELMSG_RELID_RELEASED;
    CHECK_EQ(tg_post(&g, &c, sizeof(c)), 0);
    CHECK_EQ(tg_signal(&g, 0x2001), HV_STATUS_INVALID_CONNECTION_ID);
    CHECK(tg_open(&g, 1, GPADL_ID, 4, 0) > 0);
    /* After reconnect the rescinded device is not offered again. */
    CHECK_EQ(tg_connect(&g, VMBUS_VERSION_WIN10_V5_3), 1);
    struct vmbus_msg_header rq = { .msgtype = CHANNELMSG_REQUESTOFFERS };
    CHECK_EQ(tg_post(&g, &rq, sizeof(rq)), 0);
    struct vmbus_msg_offer_channel o;
    CHECK_EQ(tg_recv(&g, &o, NULL), CHANNELMSG_OFFERCHANNEL);
    CHECK_EQ(o.child_relid, 2);
    CHECK_EQ(tg_recv(&g, NULL, NULL), CHANNELMSG_ALLOFFERS_DELIVERED);
    /* Rescinding before the guest saw the offers needs no message. */
    CHECK_EQ(tg_connect(&g, VMBUS_VERSION_WIN10_V5_3), 1);
    CHECK_EQ(vmbus_channel_rescind(vmbus_host_channel(g.host, 1)), 0);
    CHECK_EQ(tg_recv(&g, NULL, NULL), 0);
    tg_free(&g);
}

TEST(vmbus_backpressure_when_guest_does_not_consume)
{
    struct tguest g;
    start(&g, 1, test_devs, 2, true);
    struct vmbus_msg_gpadl_teardown t = { .hdr.msgtype = CHANNELMSG_GPADL_TEARDOWN,
                                          .child_relid = 1, .gpadl = 1 };
    int ok = 0, refused = 0;
    for (int i = 0; i < 1100; i++) {
        uint64_t st = tg_post(&g, &t, sizeof(t));
        if (st == 0)
            ok++;
        else if (st == HV_STATUS_INSUFFICIENT_BUFFERS)
            refused++;
    }
    CHECK(refused > 0);
    CHECK_EQ(ok + refused, 1100);
    int got = 0;
    while (tg_recv(&g, NULL, NULL) == CHANNELMSG_GPADL_TORNDOWN)
        got++;
    CHECK_EQ(got, ok); /* nothing answered was lost */
    CHECK_EQ(tg_post(&g, &t, sizeof(t)), 0);
    tg_free(&g);
}

static const struct vmbus_device_desc multi_dev = {
    .name = "multi",
    .if_type = { { 0x55 } },
    .if_instance = { { 0x66 } },
    .max_subchannels = 2,
    .open = echo_open,
    .close = echo_close,
    .on_packet = echo_packet,
};

TEST(vmbus_subchannels)
{
    const struct vmbus_device_desc *devs[] = { &multi_dev, &echo_dev2 };
    struct tguest g;
    start(&g, 2, devs, 2, true);
    struct vmbus_msg_header rq = { .msgtype = CHANNELMSG_REQUESTOFFERS };
    CHECK_EQ(tg_post(&g, &rq, sizeof(rq)), 0);
    struct vmbus_msg_offer_channel o;
    CHECK_EQ(tg_recv(&g, &o, NULL), CHANNELMSG_OFFERCHANNEL);
    CHECK_EQ(o.child_relid, 1);
    CHECK_EQ(tg_recv(&g, &o, NULL), CHANNELMSG_OFFERCHANNEL);
    CHECK_EQ(o.child_relid, 4); /* slots 2 and 3 belong to the sub-channels */
    CHECK_EQ(tg_recv(&g, NULL, NULL), CHANNELMSG_ALLOFFERS_DELIVERED);
    struct vmbus_channel *primary = vmbus_host_channel(g.host, 0);
    CHECK(vmbus_host_channel(g.host, 1) == vmbus_host_find_channel(g.host, &echo_dev2));
    CHECK_EQ(tg_signal(&g, 0x2002), HV_STATUS_INVALID_CONNECTION_ID); /* not offered */
    CHECK_EQ(vmbus_channel_offer_subchannels(primary, 5), 2);
    for (uint16_t i = 1; i <= 2; i++) {
        CHECK_EQ(tg_recv(&g, &o, NULL), CHANNELMSG_OFFERCHANNEL);
        CHECK_EQ(o.sub_channel_index, i);
        CHECK_EQ(o.child_relid, 1 + i);
        CHECK(memcmp(&o.if_instance, &multi_dev.if_instance, 16) == 0);
    }
    CHECK_EQ(vmbus_channel_offer_subchannels(primary, 1), 0); /* none left */
    /* Open sub-channel 2 (relid 3) on VP 1 and echo through it. */
    memset(fake_gpa(&g.vm, fake_page(RING_PAGE)), 0, 8 * 4096);
    CHECK_EQ(tg_gpadl(&g, 3, 77, RING_PAGE, 8), 0);
    struct guest_ring out, in;
    tg_ring(&g, &out, RING_PAGE, 4);
    tg_ring(&g, &in, RING_PAGE + 4, 4);
    CHECK_EQ(tg_open(&g, 3, 77, 4, 1), 0);
    uint8_t msg[8] = { 9 };
    tg_ring_write(&out, VMBUS_PACKET_DATA_INBAND, 3, msg, 8);
    CHECK_EQ(tg_signal(&g, 0x2003), 0);
    CHECK_EQ(tg_ring_read(&in, NULL, NULL, msg, 8), 8);
    CHECK_EQ(g.vm.irq_vp[g.vm.irq_count - 1], 1);
    CHECK(event_bit(&g, 1, 3, 0));
    /* Rescinding the primary takes the sub-channels along. */
    CHECK_EQ(vmbus_channel_rescind(primary), 0);
    CHECK_EQ(echo.closes, 1);
    int rescinds = 0;
    struct vmbus_msg_relid r;
    while (tg_recv(&g, &r, NULL) == CHANNELMSG_RESCIND_CHANNELOFFER)
        rescinds++;
    CHECK_EQ(rescinds, 3);
    /* Unload + reconnect: only the other device is offered now. */
    struct vmbus_msg_header u = { .msgtype = CHANNELMSG_UNLOAD };
    CHECK_EQ(tg_post(&g, &u, sizeof(u)), 0);
    CHECK_EQ(tg_recv(&g, NULL, NULL), CHANNELMSG_UNLOAD_RESPONSE);
    CHECK_EQ(tg_connect(&g, VMBUS_VERSION_WIN10_V5_3), 1);
    CHECK_EQ(tg_post(&g, &rq, sizeof(rq)), 0);
    CHECK_EQ(tg_recv(&g, &o, NULL), CHANNELMSG_OFFERCHANNEL);
    CHECK_EQ(o.child_relid, 4);
    CHECK_EQ(tg_recv(&g, NULL, NULL), CHANNELMSG_ALLOFFERS_DELIVERED);
    CHECK_EQ(vmbus_channel_offer_subchannels(primary, 1), -1);
    tg_free(&g);
}

TEST(vmbus_subchannels_reoffered_per_connection)
{
    const struct vmbus_device_desc *devs[] = { &multi_dev };
    struct tguest g;
    start(&g, 1, devs, 1, false);
    struct vmbus_channel *primary = vmbus_host_channel(g.host, 0);
    CHECK_EQ(vmbus_channel_offer_subchannels(primary, 1), -1); /* no guest yet */
    for (int round = 0; round < 2; round++) {
        CHECK_EQ(tg_connect(&g, VMBUS_VERSION_WIN10_V5_3), 1);
        struct vmbus_msg_header rq = { .msgtype = CHANNELMSG_REQUESTOFFERS };
        CHECK_EQ(tg_post(&g, &rq, sizeof(rq)), 0);
        int offers = 0;
        while (tg_recv(&g, NULL, NULL) == CHANNELMSG_OFFERCHANNEL)
            offers++;
        CHECK_EQ(offers, 1);
        CHECK_EQ(vmbus_channel_offer_subchannels(primary, 1), 1);
        CHECK_EQ(tg_recv(&g, NULL, NULL), CHANNELMSG_OFFERCHANNEL);
        CHECK_EQ(tg_signal(&g, 0x2002), 0); /* the first sub-channel slot is live again */
        CHECK_EQ(tg_signal(&g, 0x2003), HV_STATUS_INVALID_CONNECTION_ID);
    }
    tg_free(&g);
}
