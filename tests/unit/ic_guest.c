#include "ic_guest.h"

#include <stdio.h>
#include <string.h>

#include "test.h"
#include "core/endian.h"
#include "vsp/utf16.h"

#define ICG_RING_PAGE 300u
#define ICG_RING_PAGES 8u /* 16 KiB each way incl. headers, as VMBUS_RING_SIZE(12 KiB) */
#define ICG_GPADL 0xE1E10u

/* Linux 6.1's preference lists (hv_util.c, hv_kvp.c). */
static const uint32_t lx_fw[] = { IC_VER(3, 0), IC_VER(1, 0) };
static const uint32_t lx_sd[] = { IC_VER(3, 2), IC_VER(3, 1), IC_VER(3, 0), IC_VER(1, 0) };
static const uint32_t lx_ts[] = { IC_VER(4, 0), IC_VER(3, 0), IC_VER(1, 0) };
static const uint32_t lx_hb[] = { IC_VER(3, 0), IC_VER(1, 0) };
static const uint32_t lx_kvp[] = { IC_VER(4, 0), IC_VER(3, 0), IC_VER(1, 0) };

static void wr16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

static void wr32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void wr64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static int kind_of(const struct vmbus_device_desc *d)
{
    if (d == &ic_shutdown_desc)
        return IC_SHUTDOWN;
    if (d == &ic_heartbeat_desc)
        return IC_HEARTBEAT;
    if (d == &ic_timesync_desc)
        return IC_TIMESYNC;
    if (d == &ic_kvp_desc)
        return IC_KVP;
    return -1;
}

void icg_open(struct icg *f, enum ic_kind k)
{
    struct icg_chan *c = &f->ch[k];
    uint32_t first = ICG_RING_PAGE + (uint32_t)k * ICG_RING_PAGES, half = ICG_RING_PAGES / 2;
    memset(fake_gpa(&f->g.vm, fake_page(first)), 0, ICG_RING_PAGES * 4096);
    tg_ring(&f->g, &c->out, first, half);
    tg_ring(&f->g, &c->in, first + half, half);
    *tg_ring_field(&c->out, 64) = 1;
    *tg_ring_field(&c->in, 64) = 1;
    CHECK_EQ(tg_open(&f->g, c->relid, ICG_GPADL + k, half, 0), 0);
    c->open = true;
    c->fw = c->msgv = 0;
}

void icg_close(struct icg *f, enum ic_kind k)
{
    struct vmbus_msg_relid m = { .hdr.msgtype = CHANNELMSG_CLOSECHANNEL,
                                 .child_relid = f->ch[k].relid };
    CHECK_EQ(tg_post(&f->g, &m, sizeof(m)), 0);
    f->ch[k].open = false;
}

void icg_init(struct icg *f, const struct vmbus_device_desc *const *devs, unsigned ndevs)
{
    memset(f, 0, sizeof(*f));
    tg_init(&f->g, 1, devs, ndevs);
    CHECK(f->g.host != NULL);
    CHECK_EQ(tg_connect(&f->g, VMBUS_VERSION_WIN10_V5_3), 1);
    struct vmbus_msg_header rq = { .msgtype = CHANNELMSG_REQUESTOFFERS };
    CHECK_EQ(tg_post(&f->g, &rq, sizeof(rq)), 0);
    uint8_t buf[240];
    while (tg_recv(&f->g, buf, NULL) == CHANNELMSG_OFFERCHANNEL)
        ;
    snprintf(f->mac, sizeof(f->mac), "00:15:5D:0A:0B:0C");
    snprintf(f->ip, sizeof(f->ip), "10.0.2.15;fe80::215:5dff:fe0a:b0c");
    for (unsigned i = 0; i < ndevs; i++) {
        int k = kind_of(devs[i]);
        if (k < 0)
            continue;
        f->ch[k].relid = i + 1;
        f->ch[k].desc = devs[i];
        uint32_t first = ICG_RING_PAGE + (uint32_t)k * ICG_RING_PAGES;
        CHECK_EQ(tg_gpadl(&f->g, i + 1, ICG_GPADL + (uint32_t)k, first, ICG_RING_PAGES), 0);
    }
}

void icg_open_all(struct icg *f)
{
    for (unsigned k = 0; k < IC_KIND_COUNT; k++)
        if (f->ch[k].relid)
            icg_open(f, (enum ic_kind)k);
}

void icg_free(struct icg *f)
{
    tg_free(&f->g);
}

/* vmbus_prep_negotiate_resp: the guest rewrites the host's offer in place. */
static void negotiate(uint8_t *b, uint32_t len, const uint32_t *srv, unsigned nsrv,
                      uint32_t *fw_out, uint32_t *msg_out)
{
    if (len < IC_HDR_SIZE + 4)
        return;
    wr16(b + 18, 0x10);
    uint8_t *n = b + IC_HDR_SIZE;
    unsigned fwc = get_le16(n), msc = get_le16(n + 2);
    uint32_t fw = fwc, mv = msc; /* what Linux writes back on a malformed offer */
    bool ok = false;
    if (fwc <= 100 && msc <= 100 && IC_HDR_SIZE + 8 + 4 * (fwc + msc) <= len) {
        for (unsigned i = 0; i < 2 && !ok; i++)
            for (unsigned j = 0; j < fwc && !ok; j++)
                if (IC_VER(get_le16(n + 8 + 4 * j), get_le16(n + 10 + 4 * j)) == lx_fw[i])
                    fw = lx_fw[i], ok = true;
        if (ok) {
            ok = false;
            for (unsigned i = 0; i < nsrv && !ok; i++)
                for (unsigned j = fwc; j < fwc + msc && !ok; j++)
                    if (IC_VER(get_le16(n + 8 + 4 * j), get_le16(n + 10 + 4 * j)) == srv[i])
                        mv = srv[i], ok = true;
        }
    }
    wr16(n, ok ? 1 : 0);
    wr16(n + 2, ok ? 1 : 0);
    wr16(n + 8, (uint16_t)(ok ? fw >> 16 : fw));
    wr16(n + 10, (uint16_t)(ok ? fw : 0));
    wr16(n + 12, (uint16_t)(ok ? mv >> 16 : mv));
    wr16(n + 14, (uint16_t)(ok ? mv : 0));
    if (ok) {
        *fw_out = fw;
        *msg_out = mv;
    }
}

static void put_utf16(uint8_t *field, uint32_t max_units, const char *s, uint32_t *size)
{
    memset(field, 0, max_units * 2);
    int n = utf16le_from_utf8(s, field, max_units);
    CHECK(n >= 0);
    if (size)
        *size = 2u * ((uint32_t)n + 1);
}

static const char *const auto_keys[10] = {
    "FullyQualifiedDomainName", "IntegrationServicesVersion", "NetworkAddressIPv4",
    "NetworkAddressIPv6", "OSBuildNumber", "OSName", "OSMajorVersion", "OSMinorVersion",
    "OSVersion", "ProcessorArchitecture",
};
static const char *const auto_values[10] = {
    "debian.viridian.test", "6.1.0-28-cloud-amd64", "10.0.2.15", "fe80::215:5dff:fe0a:b0c",
    "6.1.0-28-cloud-amd64", "Debian GNU/Linux", "12", "8",
    "#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1", "x86_64",
};

static int pool_find(struct icg *f, unsigned pool, const char *key)
{
    for (int i = 0; i < f->npool[pool]; i++)
        if (strcmp(f->pool[pool][i].key, key) == 0)
            return i;
    return -1;
}

/* hv_kvp.c (kvp_send_key / kvp_respond_to_host) + hv_kvp_daemon's main loop. */
static uint32_t kvp(struct icg *f, uint8_t *b, uint32_t len)
{
    uint8_t *m = b + IC_HDR_SIZE;
    uint8_t op = m[0], pool = m[1];
    char key[1024], value[4096];
    if (pool > 4)
        return IC_E_FAIL;
    switch (op) {
    case IC_KVP_OP_ENUMERATE: {
        uint32_t index = get_le32(m + 4);
        const char *k, *v;
        if (pool == IC_KVP_POOL_AUTO) {
            if (index >= 10)
                return IC_S_CONT;
            k = auto_keys[index];
            v = index == 2 ? "10.0.2.15" : auto_values[index];
        } else {
            if ((int)index >= f->npool[pool])
                return IC_S_CONT;
            k = f->pool[pool][index].key;
            v = f->pool[pool][index].value;
        }
        /* struct hv_kvp_msg_enumerate: index @4, value_type @8, key_size @12,
         * value_size @16, key @20, value @532 (from the kvp header on) */
        uint32_t ks, vs;
        put_utf16(m + 20, 254, k, &ks);
        put_utf16(m + 532, 1022, v, &vs);
        wr32(m + 8, IC_KVP_REG_SZ);
        wr32(m + 12, ks);
        wr32(m + 16, vs);
        return IC_S_OK;
    }
    case IC_KVP_OP_SET: {
        uint32_t ks = get_le32(m + 8), vs = get_le32(m + 12);
        utf16le_to_utf8(m + 16, ks < 256 ? ks : 256, key, sizeof(key));
        if (get_le32(m + 4) != IC_KVP_REG_SZ)
            return IC_E_FAIL;
        utf16le_to_utf8(m + 528, vs < 1024 ? vs : 1024, value, sizeof(value));
        if (strlen(key) + 1 > 512 || strlen(value) + 1 > 2048)
            return IC_S_CONT;
        int i = pool_find(f, pool, key);
        if (i < 0) {
            if (f->npool[pool] >= ICG_POOL_MAX)
                return IC_S_CONT;
            i = f->npool[pool]++;
        }
        memcpy(f->pool[pool][i].key, key, strlen(key) + 1);
        memcpy(f->pool[pool][i].value, value, strlen(value) + 1);
        return IC_S_OK;
    }
    case IC_KVP_OP_GET: {
        uint32_t ks = get_le32(m + 8);
        utf16le_to_utf8(m + 16, ks < 256 ? ks : 256, key, sizeof(key));
        int i = pool_find(f, pool, key);
        if (i < 0)
            return IC_S_CONT;
        uint32_t vs;
        put_utf16(m + 528, 1022, f->pool[pool][i].value, &vs);
        wr32(m + 12, vs);
        wr32(m + 4, IC_KVP_REG_SZ);
        return IC_S_OK;
    }
    case IC_KVP_OP_DELETE: {
        uint32_t ks = get_le32(m + 4);
        utf16le_to_utf8(m + 8, ks < 256 ? ks : 256, key, sizeof(key));
        int i = pool_find(f, pool, key);
        if (i < 0)
            return IC_S_CONT;
        f->pool[pool][i] = f->pool[pool][--f->npool[pool]];
        return IC_S_OK;
    }
    case IC_KVP_OP_GET_IP_INFO: {
        if (len < IC_HDR_SIZE + sizeof(struct ic_kvp_ip_msg))
            return IC_E_FAIL;
        uint8_t *ip = m + 2;
        utf16le_to_utf8(ip, 128, key, sizeof(key));
        if (strcmp(key, f->mac) != 0)
            return IC_E_FAIL;
        put_utf16(ip + offsetof(struct ic_kvp_ipaddr, ip_addr), 1024, f->ip, NULL);
        put_utf16(ip + offsetof(struct ic_kvp_ipaddr, sub_net), 1024,
                  "255.255.255.0;ffff:ffff:ffff:ffff::", NULL);
        put_utf16(ip + offsetof(struct ic_kvp_ipaddr, gate_way), 512, "10.0.2.2", NULL);
        put_utf16(ip + offsetof(struct ic_kvp_ipaddr, dns_addr), 1024, "10.0.2.3", NULL);
        put_utf16(ip, 128, f->mac, NULL);
        ip[offsetof(struct ic_kvp_ipaddr, dhcp_enabled)] = 1;
        return IC_S_OK;
    }
    }
    return IC_E_FAIL;
}

void icg_answer(struct icg *f, enum ic_kind k, uint64_t tid, uint8_t *b, uint32_t len)
{
    struct icg_chan *c = &f->ch[k];
    if (len < IC_HDR_SIZE)
        return; /* "Packet length too small": dropped, no answer */
    uint16_t type = get_le16(b + 12);
    if (type == IC_MSG_NEGOTIATE) {
        static const struct { const uint32_t *v; unsigned n; } srv[IC_KIND_COUNT] = {
            [IC_SHUTDOWN] = { lx_sd, 4 }, [IC_HEARTBEAT] = { lx_hb, 2 },
            [IC_TIMESYNC] = { lx_ts, 3 }, [IC_KVP] = { lx_kvp, 3 },
        };
        negotiate(b, len, srv[k].v, srv[k].n, &c->fw, &c->msgv);
    } else if (k == IC_SHUTDOWN && type == IC_MSG_SHUTDOWN) {
        if (len < IC_HDR_SIZE + sizeof(struct ic_shutdown_body))
            return;
        uint32_t flags = get_le32(b + IC_HDR_SIZE + 8), st = IC_S_OK;
        if (flags <= 1)
            f->poweroffs++;
        else if (flags <= 3)
            f->reboots++;
        else if (flags <= 5 && f->hibernation)
            f->hibernates++;
        else
            st = IC_E_FAIL;
        wr32(b + 20, st);
    } else if (k == IC_HEARTBEAT && type == IC_MSG_HEARTBEAT) {
        if (len < IC_HDR_SIZE + sizeof(uint64_t)) /* 6.1 checks only seq_num */
            return;
        f->last_hb_seq = get_le64(b + IC_HDR_SIZE) + 1;
        wr64(b + IC_HDR_SIZE, f->last_hb_seq);
    } else if (k == IC_TIMESYNC && type == IC_MSG_TIMESYNC) {
        uint8_t flags;
        if (c->msgv > IC_VER(3, 0)) {
            if (len < IC_HDR_SIZE + sizeof(struct ic_timesync_body_v4))
                return;
            f->last_vmref = get_le64(b + IC_HDR_SIZE + 8);
            flags = b[IC_HDR_SIZE + 16];
        } else {
            if (len < IC_HDR_SIZE + sizeof(struct ic_timesync_body_v3))
                return;
            f->last_vmref = 0;
            flags = b[IC_HDR_SIZE + 24];
        }
        f->last_parenttime = get_le64(b + IC_HDR_SIZE);
        f->last_ts_len = get_le16(b + 18);
        if (flags & IC_TIMESYNC_SYNC)
            f->syncs++;
        else if (flags & IC_TIMESYNC_SAMPLE)
            f->samples++;
    } else if (k == IC_KVP && type == IC_MSG_KVP) {
        wr32(b + 20, kvp(f, b, len));
    } else {
        wr32(b + 20, IC_E_FAIL); /* "Invalid msg type" */
    }
    b[25] = IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE;
    icg_send_raw(f, k, VMBUS_PACKET_DATA_INBAND, tid, b, len);
    c->answered++;
}

void icg_send_raw(struct icg *f, enum ic_kind k, uint16_t type, uint64_t tid, const void *d,
                  uint32_t len)
{
    int sig = tg_ring_write(&f->ch[k].out, type, tid, d, len);
    CHECK(sig >= 0);
    if (sig == 1)
        tg_signal(&f->g, VMBUS_CONNECTION_ID_BASE + f->ch[k].relid);
}

int icg_peek_read(struct icg *f, enum ic_kind k, uint64_t *tid, uint8_t *buf, uint32_t cap)
{
    uint16_t type;
    return tg_ring_read(&f->ch[k].in, &type, tid, buf, cap);
}

int icg_run(struct icg *f)
{
    static uint8_t buf[4 * 4096];
    int n = 0;
    if (f->mute)
        return 0;
    for (unsigned k = 0; k < IC_KIND_COUNT; k++) {
        struct icg_chan *c = &f->ch[k];
        if (!c->relid || !c->open || (k == IC_KVP && !f->kvp_daemon))
            continue;
        uint32_t cap = k == IC_KVP ? 4 * 4096 : 4096;
        uint64_t tid;
        int len;
        while ((len = icg_peek_read(f, (enum ic_kind)k, &tid, buf, cap)) >= 0) {
            if ((uint32_t)len > cap)
                continue; /* vmbus_recvpacket: -ENOBUFS */
            icg_answer(f, (enum ic_kind)k, tid, buf, (uint32_t)len);
            n++;
        }
    }
    return n;
}
