/* The integration components end to end against a fake Linux 6.1 hv_utils (ic_guest.c):
 * offers, negotiation, shutdown, heartbeat, time sync, timeouts, close/reopen, two VMs. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ic_guest.h"
#include "test.h"
#include "vsp/ic_common.h"

struct tclock {
    uint64_t ms;
    uint64_t filetime;
};

static uint64_t clk_ms(void *ctx)
{
    return ((struct tclock *)ctx)->ms;
}

static uint64_t clk_ft(void *ctx)
{
    return ((struct tclock *)ctx)->filetime;
}

#define FT_2026 134100000000000000ull /* some FILETIME in 2026 */

/* Production device table, IC state attached, channels opened, first tick answered. */
static struct ic *setup(struct icg *f, struct tclock *clk, bool with_hv)
{
    memset(clk, 0, sizeof(*clk));
    clk->ms = 1000;
    clk->filetime = FT_2026;
    icg_init(f, vmbus_devices, vmbus_device_count);
    struct ic_config cfg = { .hv = with_hv ? f->g.vm.hv : NULL, .filetime_now = clk_ft,
                             .monotonic_ms = clk_ms, .clock_ctx = clk };
    struct ic *ic = ic_attach(f->g.host, &cfg);
    CHECK(ic != NULL);
    icg_open_all(f);
    return ic;
}

static void teardown(struct icg *f, struct ic *ic)
{
    ic_detach(ic);
    icg_free(f);
}

static const char *const class_guids[IC_KIND_COUNT] = {
    [IC_SHUTDOWN] = "0e0b6031-5213-4934-818b-38d90ced39db",
    [IC_HEARTBEAT] = "57164f39-9115-4e78-ab55-382f3bd5422d",
    [IC_TIMESYNC] = "9527e630-d0ae-497b-adce-e80ab0175caf",
    [IC_KVP] = "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6",
};

/* Text GUID -> wire bytes (first three fields little-endian). */
static void guid_bytes(const char *s, uint8_t out[16])
{
    static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
    uint8_t raw[16];
    int n = 0;
    for (const char *p = s; *p && n < 16; p++) {
        if (*p == '-')
            continue;
        char h[3] = { p[0], p[1], 0 };
        raw[n++] = (uint8_t)strtoul(h, NULL, 16);
        p++;
    }
    for (int i = 0; i < 16; i++)
        out[i] = raw[order[i]];
}

TEST(ic_table_offers_linux_class_guids_with_unique_instances)
{
    const struct vmbus_device_desc *d[IC_KIND_COUNT] = { &ic_shutdown_desc,
                                                         &ic_heartbeat_desc,
                                                         &ic_timesync_desc, &ic_kvp_desc };
    for (unsigned k = 0; k < IC_KIND_COUNT; k++) {
        uint8_t g[16];
        guid_bytes(class_guids[k], g);
        CHECK(memcmp(d[k]->if_type.b, g, 16) == 0);
        CHECK_EQ(d[k]->chn_flags, 0); /* ordinary channels, not pipe mode */
        for (unsigned j = 0; j < k; j++)
            CHECK(memcmp(d[k]->if_instance.b, d[j]->if_instance.b, 16) != 0);
    }
    static const char *const hyperv_instances[IC_KIND_COUNT] = {
        [IC_SHUTDOWN] = "b6650ff7-33bc-4840-8048-e0676786f393",
        [IC_HEARTBEAT] = "fd149e91-82e0-4a7d-afa6-2a4166cbd7c0",
        [IC_TIMESYNC] = "2dd1ce17-079e-403c-b352-a1921ee207ee",
        [IC_KVP] = "242ff919-07db-4180-9c2e-b86cb68c8c55",
    };
    for (unsigned k = 0; k < IC_KIND_COUNT; k++) {
        uint8_t g[16];
        guid_bytes(hyperv_instances[k], g);
        CHECK(memcmp(d[k]->if_instance.b, g, 16) == 0);
    }
    unsigned found = 0;
    for (unsigned i = 0; i < vmbus_device_count; i++)
        for (unsigned k = 0; k < IC_KIND_COUNT; k++)
            found += vmbus_devices[i] == d[k];
    CHECK_EQ(found, IC_KIND_COUNT);
}

TEST(ic_negotiates_linux_preferred_versions)
{
    struct icg f;
    struct tclock clk;
    struct ic *ic = setup(&f, &clk, true);
    CHECK(ic_from_host(f.g.host) == ic);
    CHECK(ic_attach(f.g.host, NULL) == NULL); /* once per host */
    struct ic_status st;
    CHECK_EQ(ic_get_status(ic, &st), 0);
    for (unsigned k = 0; k < IC_KIND_COUNT; k++)
        CHECK_EQ(st.svc[k].state, IC_STATE_OPENED); /* nothing sent inside OPENCHANNEL */
    CHECK_EQ(icg_run(&f), 0);
    ic_tick(ic);
    /* 3 NEGOTIATEs (KVP: no daemon, the kernel leaves it unread), and the first
     * heartbeat and the SYNC sample the host sends as soon as those are negotiated. */
    CHECK_EQ(icg_run(&f), 5);
    CHECK_EQ(ic_get_status(ic, &st), 0);
    CHECK_EQ(st.svc[IC_SHUTDOWN].state, IC_STATE_READY);
    CHECK_EQ(st.svc[IC_SHUTDOWN].fw_version, IC_VER(3, 0));
    CHECK_EQ(st.svc[IC_SHUTDOWN].msg_version, IC_VER(3, 2));
    CHECK_EQ(st.svc[IC_HEARTBEAT].msg_version, IC_VER(3, 0));
    CHECK_EQ(st.svc[IC_TIMESYNC].msg_version, IC_VER(4, 0));
    CHECK_EQ(st.svc[IC_KVP].state, IC_STATE_NEGOTIATING);
    CHECK_EQ(f.ch[IC_SHUTDOWN].msgv, IC_VER(3, 2)); /* both sides agree */
    CHECK_EQ(f.ch[IC_TIMESYNC].fw, IC_VER(3, 0));
    struct ic_kvp_request rq = { .op = IC_KVP_OP_ENUMERATE, .pool = IC_KVP_POOL_AUTO };
    CHECK_EQ(ic_kvp_request(ic, &rq, NULL, NULL), -ENOTCONN);
    /* The daemon starts a minute later: the kernel answers the pending NEGOTIATE. */
    clk.ms += 60000;
    ic_tick(ic);
    f.kvp_daemon = true;
    CHECK(icg_run(&f) >= 1);
    CHECK_EQ(ic_get_status(ic, &st), 0);
    CHECK_EQ(st.svc[IC_KVP].state, IC_STATE_READY);
    CHECK_EQ(st.svc[IC_KVP].msg_version, IC_VER(4, 0));
    teardown(&f, ic);
}

TEST(ic_timesync_sync_then_periodic_samples_v4)
{
    struct icg f;
    struct tclock clk;
    struct ic *ic = setup(&f, &clk, true);
    f.g.vm.now = 777777; /* guest reference counter, 100 ns units */
    ic_tick(ic);
    icg_run(&f); /* negotiation answers -> SYNC goes out at once */
    icg_run(&f);
    CHECK_EQ(f.syncs, 1);
    CHECK_EQ(f.samples, 0);
    CHECK_EQ(f.last_parenttime, FT_2026);
    CHECK_EQ(f.last_vmref, 777777);
    CHECK_EQ(f.last_ts_len, sizeof(struct ic_timesync_body_v4));
    clk.ms += 4000;
    ic_tick(ic);
    icg_run(&f);
    CHECK_EQ(f.samples, 0);
    clk.ms += 1000;
    clk.filetime += 50000000;
    f.g.vm.now += 50000000;
    ic_tick(ic);
    icg_run(&f);
    CHECK_EQ(f.samples, 1);
    CHECK_EQ(f.last_parenttime, FT_2026 + 50000000);
    CHECK_EQ(f.last_vmref, 777777 + 50000000);
    CHECK_EQ(ic_timesync_sync(ic), 0); /* e.g. after resume */
    icg_run(&f);
    CHECK_EQ(f.syncs, 2);
    struct ic_status st;
    ic_get_status(ic, &st);
    CHECK_EQ(st.timesync_samples, 3);
    teardown(&f, ic);
}

TEST(ic_timesync_without_reference_counter_uses_v3)
{
    struct icg f;
    struct tclock clk;
    struct ic *ic = setup(&f, &clk, false);
    ic_tick(ic);
    icg_run(&f);
    icg_run(&f);
    CHECK_EQ(f.ch[IC_TIMESYNC].msgv, IC_VER(3, 0));
    CHECK_EQ(f.syncs, 1);
    CHECK_EQ(f.last_parenttime, FT_2026);
    CHECK_EQ(f.last_ts_len, sizeof(struct ic_timesync_body_v3));
    teardown(&f, ic);
}

TEST(ic_heartbeat_alive_sequence_and_loss)
{
    struct icg f;
    struct tclock clk;
    struct ic *ic = setup(&f, &clk, true);
    struct ic_heartbeat_status hb;
    CHECK_EQ(ic_heartbeat_status(ic, &hb), 0);
    CHECK(!hb.alive && !hb.answered);
    ic_tick(ic);
    icg_run(&f);
    icg_run(&f); /* first heartbeat went out with the negotiation answer */
    CHECK_EQ(ic_heartbeat_status(ic, &hb), 0);
    CHECK(hb.alive && hb.answered);
    CHECK_EQ(hb.seq, 1);
    for (int i = 0; i < 5; i++) {
        clk.ms += 1000;
        ic_tick(ic);
        icg_run(&f);
    }
    ic_heartbeat_status(ic, &hb);
    CHECK_EQ(hb.seq, 6);
    CHECK_EQ(f.last_hb_seq, 6);
    CHECK(hb.alive);
    CHECK_EQ(hb.age_ms, 0);
    /* The guest hangs: still alive within the window, then not. */
    f.mute = true;
    clk.ms += 3000;
    ic_tick(ic);
    ic_heartbeat_status(ic, &hb);
    CHECK(hb.alive);
    clk.ms += 3000;
    ic_tick(ic);
    ic_heartbeat_status(ic, &hb);
    CHECK(!hb.alive);
    CHECK_EQ(hb.age_ms, 6000);
    CHECK_EQ(hb.seq, 6);
    /* It recovers: the outstanding request is answered, alive again. */
    f.mute = false;
    icg_run(&f);
    ic_heartbeat_status(ic, &hb);
    CHECK(hb.alive);
    CHECK_EQ(hb.seq, 7);
    teardown(&f, ic);
}

static struct ic *ready(struct icg *f, struct tclock *clk, bool daemon)
{
    struct ic *ic = setup(f, clk, true);
    f->kvp_daemon = daemon;
    ic_tick(ic);
    while (icg_run(f) > 0)
        ;
    return ic;
}

struct done_rec {
    int calls;
    int err;
    uint32_t status;
    struct ic_kvp_result kvp;
    bool have_kvp;
};

static void record(void *arg, const struct ic_result *res)
{
    struct done_rec *d = arg;
    d->calls++;
    d->err = res->err;
    d->status = res->status;
    d->have_kvp = res->kvp != NULL;
    if (res->kvp)
        d->kvp = *res->kvp;
}

TEST(ic_shutdown_request_flags_and_status)
{
    struct icg f;
    struct tclock clk;
    struct ic *ic = setup(&f, &clk, true);
    struct done_rec d = { 0 };
    /* Not negotiated yet: the caller falls back to the ACPI power button. */
    CHECK_EQ(ic_shutdown_request(ic, 0, "test", record, &d), -ENOTCONN);
    ic_tick(ic);
    while (icg_run(&f) > 0)
        ;
    CHECK_EQ(ic_shutdown_request(ic, 0x80, NULL, NULL, NULL), -EINVAL);
    int64_t id = ic_shutdown_request(ic, 0, "Viridian: vm shutdown", record, &d);
    CHECK(id > 0);
    CHECK_EQ(ic_shutdown_request(ic, IC_SHUTDOWN_REBOOT, NULL, NULL, NULL), -EBUSY);
    CHECK_EQ(d.calls, 0);
    icg_run(&f);
    CHECK_EQ(d.calls, 1);
    CHECK_EQ(d.err, 0);
    CHECK_EQ(d.status, IC_S_OK);
    CHECK_EQ(f.poweroffs, 1);
    CHECK(ic_shutdown_request(ic, IC_SHUTDOWN_REBOOT | IC_SHUTDOWN_FORCE, NULL, record,
                              &d) > 0);
    icg_run(&f);
    CHECK_EQ(f.reboots, 1);
    CHECK_EQ(d.status, IC_S_OK);
    /* Hibernate without S4 in the guest: E_FAIL reported as the guest's status. */
    CHECK(ic_shutdown_request(ic, IC_SHUTDOWN_HIBERNATE, NULL, record, &d) > 0);
    icg_run(&f);
    CHECK_EQ(d.calls, 3);
    CHECK_EQ(d.err, 0);
    CHECK_EQ(d.status, IC_E_FAIL);
    struct ic_status st;
    ic_get_status(ic, &st);
    CHECK_EQ(st.svc[IC_SHUTDOWN].answered, 4); /* negotiate + 3 */
    teardown(&f, ic);
}

TEST(ic_request_timeout_and_late_answer_dropped)
{
    struct icg f;
    struct tclock clk;
    struct ic *ic = ready(&f, &clk, false);
    struct done_rec d = { 0 };
    CHECK(ic_shutdown_request(ic, 0, NULL, record, &d) > 0);
    uint8_t buf[4096];
    uint64_t tid;
    int len = icg_peek_read(&f, IC_SHUTDOWN, &tid, buf, sizeof(buf));
    CHECK(len >= (int)(IC_HDR_SIZE + sizeof(struct ic_shutdown_body)));
    clk.ms += 29999;
    ic_tick(ic);
    CHECK_EQ(d.calls, 0);
    clk.ms += 1;
    ic_tick(ic);
    CHECK_EQ(d.calls, 1);
    CHECK_EQ(d.err, -ETIMEDOUT);
    /* The answer arrives after all: dropped, nothing breaks, next request works. */
    icg_answer(&f, IC_SHUTDOWN, tid, buf, (uint32_t)len);
    CHECK_EQ(d.calls, 1);
    CHECK(ic_shutdown_request(ic, 0, NULL, record, &d) > 0);
    icg_run(&f);
    CHECK_EQ(d.calls, 2);
    CHECK_EQ(d.err, 0);
    CHECK_EQ(f.poweroffs, 2);
    teardown(&f, ic);
}

TEST(ic_close_fails_outstanding_and_reopen_renegotiates)
{
    struct icg f;
    struct tclock clk;
    struct ic *ic = ready(&f, &clk, true);
    struct done_rec d = { 0 };
    struct ic_kvp_request rq = { .op = IC_KVP_OP_ENUMERATE, .pool = IC_KVP_POOL_AUTO };
    CHECK(ic_kvp_request(ic, &rq, record, &d) > 0);
    icg_close(&f, IC_KVP);
    CHECK_EQ(d.calls, 1);
    CHECK_EQ(d.err, -EPIPE);
    CHECK_EQ(ic_kvp_request(ic, &rq, record, &d), -ENOTCONN);
    struct ic_status st;
    ic_get_status(ic, &st);
    CHECK_EQ(st.svc[IC_KVP].state, IC_STATE_CLOSED);
    icg_open(&f, IC_KVP);
    ic_tick(ic);
    icg_run(&f);
    ic_get_status(ic, &st);
    CHECK_EQ(st.svc[IC_KVP].state, IC_STATE_READY);
    CHECK(ic_kvp_request(ic, &rq, record, &d) > 0);
    icg_run(&f);
    CHECK_EQ(d.calls, 2);
    CHECK_EQ(d.err, 0);
    /* Heartbeat loses its "alive" with the channel. */
    icg_close(&f, IC_HEARTBEAT);
    struct ic_heartbeat_status hb;
    ic_heartbeat_status(ic, &hb);
    CHECK(!hb.alive);
    teardown(&f, ic);
}

TEST(ic_detach_completes_outstanding_and_refuses_open)
{
    struct icg f;
    struct tclock clk;
    struct ic *ic = ready(&f, &clk, false);
    struct done_rec d = { 0 };
    CHECK(ic_shutdown_request(ic, 0, NULL, record, &d) > 0);
    ic_detach(ic);
    CHECK_EQ(d.calls, 1);
    CHECK_EQ(d.err, -EPIPE);
    CHECK(ic_from_host(f.g.host) == NULL);
    icg_run(&f); /* the guest's answer goes nowhere */
    icg_close(&f, IC_SHUTDOWN);
    int64_t st = tg_open(&f.g, f.ch[IC_SHUTDOWN].relid, 0xE1E10u + IC_SHUTDOWN, 4, 0);
    CHECK(st != 0 && st != -1); /* refused with a failure status */
    icg_free(&f);
}

TEST(ic_two_vms_are_independent)
{
    struct icg a, b;
    struct tclock ca, cb;
    struct ic *ia = ready(&a, &ca, false);
    struct ic *ib = setup(&b, &cb, true);
    CHECK(ic_from_host(a.g.host) == ia);
    CHECK(ic_from_host(b.g.host) == ib);
    struct ic_status st;
    ic_get_status(ib, &st);
    CHECK_EQ(st.svc[IC_SHUTDOWN].state, IC_STATE_OPENED);
    ic_get_status(ia, &st);
    CHECK_EQ(st.svc[IC_SHUTDOWN].state, IC_STATE_READY);
    CHECK(ic_shutdown_request(ia, 0, NULL, NULL, NULL) > 0);
    CHECK_EQ(ic_shutdown_request(ib, 0, NULL, NULL, NULL), -ENOTCONN);
    icg_run(&a);
    icg_run(&b);
    CHECK_EQ(a.poweroffs, 1);
    CHECK_EQ(b.poweroffs, 0);
    teardown(&a, ia);
    teardown(&b, ib);
}

/* --- the blocking API from another thread while the guest runs ------------------------ */

struct blocking_call {
    struct ic *ic;
    int rc;
    uint32_t status;
    volatile int finished;
};

static void *shutdown_thread(void *arg)
{
    struct blocking_call *c = arg;
    c->rc = ic_shutdown(c->ic, IC_SHUTDOWN_REBOOT, "reboot", 5000, &c->status);
    __atomic_store_n(&c->finished, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

TEST(ic_blocking_shutdown_from_control_thread)
{
    struct icg f;
    struct tclock clk;
    struct ic *ic = ready(&f, &clk, false);
    struct blocking_call c = { .ic = ic, .status = 99 };
    pthread_t t;
    pthread_create(&t, NULL, shutdown_thread, &c);
    for (int i = 0; i < 5000 && !__atomic_load_n(&c.finished, __ATOMIC_SEQ_CST); i++) {
        icg_run(&f);
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    pthread_join(t, NULL);
    CHECK_EQ(c.rc, 0);
    CHECK_EQ(c.status, IC_S_OK);
    CHECK_EQ(f.reboots, 1);
    /* A guest that never answers: the blocking call times out and cancels. */
    f.mute = true;
    uint32_t st = 7;
    CHECK_EQ(ic_shutdown(ic, 0, NULL, 50, &st), -ETIMEDOUT);
    CHECK_EQ(st, 7);
    teardown(&f, ic);
}
