/* KVP against the fake hv_utils + hv_kvp_daemon: enumerating the auto pool the way
 * Hyper-V does, SET/GET/DELETE on the external pool, GET_IP_INFO by MAC, queueing,
 * argument validation, hostile answers, the blocking call. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ic_guest.h"
#include "test.h"
#include "vsp/ic_common.h"

static uint64_t t_ms(void *ctx)
{
    return *(uint64_t *)ctx;
}

static uint64_t now_ms = 1000;

static struct ic *kvp_ready(struct icg *f)
{
    icg_init(f, vmbus_devices, vmbus_device_count);
    struct ic_config cfg = { .hv = f->g.vm.hv, .monotonic_ms = t_ms, .clock_ctx = &now_ms };
    struct ic *ic = ic_attach(f->g.host, &cfg);
    CHECK(ic != NULL);
    icg_open_all(f);
    f->kvp_daemon = true;
    ic_tick(ic);
    while (icg_run(f) > 0)
        ;
    struct ic_status st;
    ic_get_status(ic, &st);
    CHECK_EQ(st.svc[IC_KVP].state, IC_STATE_READY);
    return ic;
}

struct kvp_done {
    int calls;
    int err;
    uint32_t status;
    struct ic_kvp_result r;
};

static void kvp_record(void *arg, const struct ic_result *res)
{
    struct kvp_done *d = arg;
    d->calls++;
    d->err = res->err;
    d->status = res->status;
    memset(&d->r, 0, sizeof(d->r));
    if (res->kvp)
        d->r = *res->kvp;
}

/* One request, answered by the guest before returning. */
static void kvp_do(struct icg *f, struct ic *ic, const struct ic_kvp_request *rq,
                   struct kvp_done *d)
{
    int calls = d->calls;
    CHECK(ic_kvp_request(ic, rq, kvp_record, d) > 0);
    icg_run(f);
    CHECK_EQ(d->calls, calls + 1);
    CHECK_EQ(d->err, 0);
}

TEST(ic_kvp_enumerates_guest_intrinsics_like_hyperv)
{
    struct icg f;
    struct ic *ic = kvp_ready(&f);
    static const char *const keys[] = {
        "FullyQualifiedDomainName", "IntegrationServicesVersion", "NetworkAddressIPv4",
        "NetworkAddressIPv6", "OSBuildNumber", "OSName", "OSMajorVersion",
        "OSMinorVersion", "OSVersion", "ProcessorArchitecture",
    };
    struct kvp_done d = { 0 };
    uint32_t index = 0;
    for (;; index++) {
        struct ic_kvp_request rq = { .op = IC_KVP_OP_ENUMERATE, .pool = IC_KVP_POOL_AUTO,
                                     .index = index };
        kvp_do(&f, ic, &rq, &d);
        if (d.status != IC_S_OK)
            break;
        CHECK(index < 10);
        CHECK_STR(d.r.key, keys[index]);
        CHECK_EQ(d.r.value_type, IC_KVP_REG_SZ);
        CHECK_EQ(d.r.index, index);
        CHECK_EQ(d.r.pool, IC_KVP_POOL_AUTO);
        if (index == 0)
            CHECK_STR(d.r.value, "debian.viridian.test");
        if (index == 5)
            CHECK_STR(d.r.value, "Debian GNU/Linux");
        if (index == 2)
            CHECK_STR(d.r.value, "10.0.2.15");
    }
    CHECK_EQ(index, 10);
    CHECK_EQ(d.status, IC_S_CONT);
    ic_detach(ic);
    icg_free(&f);
}

TEST(ic_kvp_set_get_delete_external_pool)
{
    struct icg f;
    struct ic *ic = kvp_ready(&f);
    struct kvp_done d = { 0 };
    struct ic_kvp_request set = { .op = IC_KVP_OP_SET, .pool = IC_KVP_POOL_EXTERNAL,
                                  .key = "ViridianRole", .value = "grüße \xf0\x9f\x99\x82" };
    kvp_do(&f, ic, &set, &d);
    CHECK_EQ(d.status, IC_S_OK);
    CHECK_EQ(f.npool[0], 1);
    CHECK_STR(f.pool[0][0].key, "ViridianRole"); /* what the daemon stores */
    CHECK_STR(f.pool[0][0].value, "grüße \xf0\x9f\x99\x82");
    struct ic_kvp_request get = { .op = IC_KVP_OP_GET, .pool = IC_KVP_POOL_EXTERNAL,
                                  .key = "ViridianRole" };
    kvp_do(&f, ic, &get, &d);
    CHECK_EQ(d.status, IC_S_OK);
    CHECK_STR(d.r.value, "grüße \xf0\x9f\x99\x82");
    struct ic_kvp_request en = { .op = IC_KVP_OP_ENUMERATE, .pool = IC_KVP_POOL_EXTERNAL };
    kvp_do(&f, ic, &en, &d);
    CHECK_EQ(d.status, IC_S_OK);
    CHECK_STR(d.r.key, "ViridianRole");
    struct ic_kvp_request del = { .op = IC_KVP_OP_DELETE, .pool = IC_KVP_POOL_EXTERNAL,
                                  .key = "ViridianRole" };
    kvp_do(&f, ic, &del, &d);
    CHECK_EQ(d.status, IC_S_OK);
    CHECK_EQ(f.npool[0], 0);
    kvp_do(&f, ic, &get, &d);
    CHECK_EQ(d.status, IC_S_CONT);
    CHECK_STR(d.r.value, "");
    ic_detach(ic);
    icg_free(&f);
}

TEST(ic_kvp_get_ip_info_by_mac)
{
    struct icg f;
    struct ic *ic = kvp_ready(&f);
    struct kvp_done d = { 0 };
    struct ic_kvp_request rq = { .op = IC_KVP_OP_GET_IP_INFO, .mac = "00:15:5D:0A:0B:0C" };
    kvp_do(&f, ic, &rq, &d);
    CHECK_EQ(d.status, IC_S_OK);
    CHECK_STR(d.r.ip_addr, "10.0.2.15;fe80::215:5dff:fe0a:b0c");
    CHECK_STR(d.r.gateway, "10.0.2.2");
    CHECK_STR(d.r.dns, "10.0.2.3");
    CHECK_STR(d.r.adapter_id, "00:15:5D:0A:0B:0C");
    CHECK_EQ(d.r.dhcp_enabled, 1);
    rq.mac = "00:15:5D:FF:FF:FF";
    kvp_do(&f, ic, &rq, &d);
    CHECK_EQ(d.status, IC_E_FAIL);
    rq.mac = "00-15-5d-0a-0b-0c"; /* normalized to the daemon's form */
    kvp_do(&f, ic, &rq, &d);
    CHECK_EQ(d.status, IC_S_OK);
    rq.mac = "00155d0a0b0c";
    kvp_do(&f, ic, &rq, &d);
    CHECK_EQ(d.status, IC_S_OK);
    static const char *const bad[] = { "00:15:5D:0A:0B", "00:15:5D:0A:0B:0C:0D",
                                       "zz:15:5d:0a:0b:0c", "" };
    for (unsigned i = 0; i < 4; i++) {
        rq.mac = bad[i];
        CHECK_EQ(ic_kvp_request(ic, &rq, NULL, NULL), -EINVAL);
    }
    ic_detach(ic);
    icg_free(&f);
}

TEST(ic_kvp_requests_queue_one_at_a_time)
{
    struct icg f;
    struct ic *ic = kvp_ready(&f);
    struct kvp_done d[3] = { { 0 } };
    for (uint32_t i = 0; i < 3; i++) {
        struct ic_kvp_request rq = { .op = IC_KVP_OP_ENUMERATE, .pool = IC_KVP_POOL_AUTO,
                                     .index = i };
        CHECK(ic_kvp_request(ic, &rq, kvp_record, &d[i]) > 0);
    }
    static uint8_t buf[16384];
    for (int i = 0; i < 3; i++) {
        uint64_t tid;
        int len = icg_peek_read(&f, IC_KVP, &tid, buf, sizeof(buf));
        CHECK_EQ(len, (int)((16 + IC_HDR_SIZE + sizeof(struct ic_kvp_msg) + 7) / 8 * 8 - 16));
        CHECK_EQ(icg_peek_read(&f, IC_KVP, &tid, buf, sizeof(buf)), -1); /* only one */
        icg_answer(&f, IC_KVP, tid, buf, (uint32_t)len);
        CHECK_EQ(d[i].calls, 1);
        CHECK_EQ(d[i].r.index, (uint32_t)i);
    }
    CHECK_STR(d[2].r.key, "NetworkAddressIPv4");
    /* A cancelled queued request is never sent nor reported. */
    struct ic_kvp_request rq = { .op = IC_KVP_OP_ENUMERATE, .pool = IC_KVP_POOL_AUTO };
    struct kvp_done x = { 0 }, y = { 0 };
    int64_t a = ic_kvp_request(ic, &rq, kvp_record, &x);
    int64_t b = ic_kvp_request(ic, &rq, kvp_record, &y);
    CHECK_EQ(ic_cancel(ic, b), 0);
    CHECK_EQ(ic_cancel(ic, b), -ENOENT);
    icg_run(&f);
    CHECK(a > 0);
    CHECK_EQ(x.calls, 1);
    CHECK_EQ(y.calls, 0);
    ic_detach(ic);
    icg_free(&f);
}

TEST(ic_kvp_argument_validation)
{
    struct icg f;
    struct ic *ic = kvp_ready(&f);
    char longkey[300];
    memset(longkey, 'k', sizeof(longkey));
    longkey[256] = 0; /* 256 units + NUL > 512 bytes */
    struct ic_kvp_request bad[] = {
        { .op = IC_KVP_OP_SET, .pool = 0, .key = longkey, .value = "v" },
        { .op = IC_KVP_OP_SET, .pool = 0, .key = "k", .value = NULL },
        { .op = IC_KVP_OP_SET, .pool = 0, .key = "\xc3\x28", .value = "v" }, /* bad UTF-8 */
        { .op = IC_KVP_OP_SET, .pool = 0, .key = "\xed\xa0\x80", .value = "v" }, /* surrogate */
        { .op = IC_KVP_OP_SET, .pool = 0, .key = "\xc0\xaf", .value = "v" }, /* overlong */
        { .op = IC_KVP_OP_GET, .pool = 0, .key = "" },
        { .op = IC_KVP_OP_DELETE, .pool = 0, .key = NULL },
        { .op = IC_KVP_OP_ENUMERATE, .pool = 5 },
        { .op = (enum ic_kvp_op)5, .pool = 0 },
        { .op = IC_KVP_OP_GET_IP_INFO, .pool = 0, .mac = NULL },
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ(ic_kvp_request(ic, &bad[i], NULL, NULL), -EINVAL);
    CHECK_EQ(ic_kvp_request(ic, NULL, NULL, NULL), -EINVAL);
    CHECK_EQ(ic_kvp_request(NULL, &bad[0], NULL, NULL), -ENODEV);
    longkey[255] = 0; /* 255 units: fits */
    struct ic_kvp_request ok = { .op = IC_KVP_OP_SET, .pool = 0, .key = longkey, .value = "" };
    f.mute = true;
    CHECK(ic_kvp_request(ic, &ok, NULL, NULL) > 0);
    for (unsigned i = 1; i < IC_QUEUE_MAX; i++)
        CHECK(ic_kvp_request(ic, &ok, NULL, NULL) > 0);
    CHECK_EQ(ic_kvp_request(ic, &ok, NULL, NULL), -EBUSY);
    f.mute = false;
    icg_run(&f);
    CHECK_EQ(f.npool[0], 1);
    CHECK_EQ(strlen(f.pool[0][0].key), 255);
    ic_detach(ic);
    icg_free(&f);
}

TEST(ic_kvp_hostile_answer_is_bounded)
{
    struct icg f;
    struct ic *ic = kvp_ready(&f);
    struct kvp_done d = { 0 };
    struct ic_kvp_request rq = { .op = IC_KVP_OP_ENUMERATE, .pool = IC_KVP_POOL_AUTO };
    CHECK(ic_kvp_request(ic, &rq, kvp_record, &d) > 0);
    static uint8_t buf[16384];
    uint64_t tid;
    int len = icg_peek_read(&f, IC_KVP, &tid, buf, sizeof(buf));
    CHECK(len > 0);
    /* No NULs anywhere, lone surrogates, sizes far beyond the fields. */
    uint8_t *m = buf + IC_HDR_SIZE;
    for (uint32_t i = 20; i + 1 < sizeof(struct ic_kvp_msg); i += 2) {
        m[i] = 0x00;
        m[i + 1] = 0xD8;
    }
    uint32_t huge = 0xFFFFFFFFu;
    memcpy(m + 12, &huge, 4);
    memcpy(m + 16, &huge, 4);
    buf[25] = IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE;
    /* Too short for an enumerate answer first: dropped, still in flight. */
    icg_send_raw(&f, IC_KVP, VMBUS_PACKET_DATA_INBAND, tid, buf, IC_HDR_SIZE + 100);
    CHECK_EQ(d.calls, 0);
    icg_send_raw(&f, IC_KVP, VMBUS_PACKET_DATA_INBAND, tid, buf, (uint32_t)len);
    CHECK_EQ(d.calls, 1);
    CHECK_EQ(d.status, IC_S_OK);
    CHECK_EQ(strlen(d.r.key), 256 * 3); /* 256 x U+FFFD, stopped at the field's end */
    CHECK_EQ(strlen(d.r.value), 1024 * 3);
    CHECK(memcmp(d.r.key, "\xef\xbf\xbd", 3) == 0);
    ic_detach(ic);
    icg_free(&f);
}

struct kvp_thread {
    struct ic *ic;
    int rc;
    uint32_t status;
    struct ic_kvp_result r;
    int finished;
};

static void *kvp_thread_fn(void *arg)
{
    struct kvp_thread *t = arg;
    struct ic_kvp_request rq = { .op = IC_KVP_OP_ENUMERATE, .pool = IC_KVP_POOL_AUTO,
                                 .index = 5 };
    t->rc = ic_kvp_call(t->ic, &rq, 5000, &t->status, &t->r);
    __atomic_store_n(&t->finished, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

TEST(ic_kvp_blocking_call_from_control_thread)
{
    struct icg f;
    struct ic *ic = kvp_ready(&f);
    struct kvp_thread t = { .ic = ic };
    pthread_t th;
    pthread_create(&th, NULL, kvp_thread_fn, &t);
    for (int i = 0; i < 5000 && !__atomic_load_n(&t.finished, __ATOMIC_SEQ_CST); i++) {
        icg_run(&f);
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    pthread_join(th, NULL);
    CHECK_EQ(t.rc, 0);
    CHECK_EQ(t.status, IC_S_OK);
    CHECK_STR(t.r.key, "OSName");
    CHECK_STR(t.r.value, "Debian GNU/Linux");
    f.kvp_daemon = false;
    struct ic_kvp_request rq = { .op = IC_KVP_OP_ENUMERATE, .pool = IC_KVP_POOL_AUTO };
    CHECK_EQ(ic_kvp_call(ic, &rq, 20, NULL, NULL), -ETIMEDOUT);
    ic_detach(ic);
    icg_free(&f);
}

struct enum_thread {
    struct ic *ic;
    int n;
    char names[12][IC_KVP_KEY_UTF8 + IC_KVP_VALUE_UTF8 + 1];
    int finished;
};

static void enum_each(void *arg, const struct ic_kvp_result *r)
{
    struct enum_thread *t = arg;
    int i = (int)r->index;
    if (i >= 0 && i < 12)
        snprintf(t->names[i], sizeof(t->names[i]), "%s=%s", r->key, r->value);
}

static void *enum_thread_fn(void *arg)
{
    struct enum_thread *t = arg;
    t->n = ic_kvp_enumerate(t->ic, IC_KVP_POOL_AUTO, 5000, enum_each, t);
    __atomic_store_n(&t->finished, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

TEST(ic_kvp_enumerate_helper_walks_the_pool)
{
    struct icg f;
    struct ic *ic = kvp_ready(&f);
    struct enum_thread t = { .ic = ic };
    pthread_t th;
    pthread_create(&th, NULL, enum_thread_fn, &t);
    for (int i = 0; i < 5000 && !__atomic_load_n(&t.finished, __ATOMIC_SEQ_CST); i++) {
        icg_run(&f);
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    pthread_join(th, NULL);
    CHECK_EQ(t.n, 10);
    CHECK_STR(t.names[0], "FullyQualifiedDomainName=debian.viridian.test");
    CHECK_STR(t.names[9], "ProcessorArchitecture=x86_64");
    f.kvp_daemon = false;
    CHECK_EQ(ic_kvp_enumerate(ic, IC_KVP_POOL_AUTO, 20, NULL, NULL), -ETIMEDOUT);
    ic_detach(ic);
    icg_free(&f);
    CHECK_EQ(ic_kvp_enumerate(NULL, IC_KVP_POOL_AUTO, 20, NULL, NULL), -ENODEV);
}
