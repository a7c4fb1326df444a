/* The RNDIS device model answering Linux 6.1's probe sequence (reference 7b): INIT,
 * the queries in order, offload parameters, packet filter; plus link indications and
 * the receive filter. */
#include "test.h"

#include "vsp/rndis_dev.h"

static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static size_t ask(struct rndis_dev *d, uint32_t type, uint32_t oid, const void *info,
                  uint32_t len, uint8_t *out)
{
    struct rndis_msg m;
    memset(&m, 0, sizeof(m));
    m.type = type;
    m.req_id = 77;
    m.oid.oid = oid;
    m.oid.info = info;
    m.oid.info_len = len;
    return rndis_dev_control(d, &m, out, 300);
}

TEST(rndis_dev_linux_probe_sequence)
{
    static const uint8_t mac[6] = { 0x00, 0x15, 0x5d, 0x00, 0x00, 0x01 };
    struct rndis_dev d;
    rndis_dev_init(&d, mac);
    uint8_t out[300];
    struct rndis_msg init = { .type = RNDIS_MSG_INIT, .req_id = 1, .init = { 1, 0, 0x4000 } };
    CHECK_EQ(rndis_dev_control(&d, &init, out, sizeof(out)), 52);
    CHECK_EQ(get32(out), RNDIS_MSG_INIT_C);
    CHECK_EQ(get32(out + 8), 1);
    CHECK_EQ(get32(out + 12), RNDIS_STATUS_SUCCESS); /* the guest's probe needs 0 */
    CHECK(d.initialized);

    CHECK_EQ(ask(&d, RNDIS_MSG_QUERY, RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE, NULL, 0, out), 28);
    CHECK_EQ(get32(out + 24), 1500);
    CHECK_EQ(ask(&d, RNDIS_MSG_QUERY, RNDIS_OID_802_3_PERMANENT_ADDRESS, NULL, 0, out), 30);
    CHECK_EQ(get32(out + 16), 6); /* the guest requires info_buflen <= 6 */
    CHECK(!memcmp(out + 24, mac, 6));
    CHECK_EQ(ask(&d, RNDIS_MSG_QUERY, RNDIS_OID_GEN_FRIENDLY_NAME, NULL, 0, out), 24);
    CHECK_EQ(get32(out + 12), RNDIS_STATUS_NOT_SUPPORTED);
    /* hardware offload capabilities: status 0, type 0xA7, revision >= 1, 112..156 bytes */
    CHECK_EQ(ask(&d, RNDIS_MSG_QUERY, RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES, NULL, 0, out),
             24 + 156);
    CHECK_EQ(get32(out + 12), 0);
    CHECK_EQ(get32(out + 16), 156);
    CHECK_EQ(out[24], 0xA7);
    CHECK_EQ(out[25], 3);
    CHECK_EQ(out[26] | out[27] << 8, 156);
    /* offload parameters (rev 3, 28 bytes, header type 0x80): must succeed */
    uint8_t params[28] = { 0x80, 3, 28, 0 };
    CHECK_EQ(ask(&d, RNDIS_MSG_SET, RNDIS_OID_TCP_OFFLOAD_PARAMETERS, params, 28, out), 16);
    CHECK_EQ(get32(out), RNDIS_MSG_SET_C);
    CHECK_EQ(get32(out + 12), 0);
    CHECK(d.offload_params_set);
    params[0] = 0;
    ask(&d, RNDIS_MSG_SET, RNDIS_OID_TCP_OFFLOAD_PARAMETERS, params, 28, out);
    CHECK_EQ(get32(out + 12), RNDIS_STATUS_INVALID_DATA);
    /* link: 0 = connected */
    CHECK_EQ(ask(&d, RNDIS_MSG_QUERY, RNDIS_OID_GEN_MEDIA_CONNECT_STATUS, NULL, 0, out), 28);
    CHECK_EQ(get32(out + 24), 0);
    CHECK_EQ(ask(&d, RNDIS_MSG_QUERY, RNDIS_OID_GEN_LINK_SPEED, NULL, 0, out), 28);
    CHECK_EQ(get32(out + 24), 100000000);
    /* RSS capabilities refused: single queue, no sub-channels */
    ask(&d, RNDIS_MSG_QUERY, RNDIS_OID_GEN_RECEIVE_SCALE_CAPABILITIES, NULL, 0, out);
    CHECK_EQ(get32(out + 12), RNDIS_STATUS_NOT_SUPPORTED);
    /* ndo_open: packet filter 0x0D */
    uint32_t filter = 0x0D;
    ask(&d, RNDIS_MSG_SET, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &filter, 4, out);
    CHECK_EQ(get32(out + 12), 0);
    CHECK_EQ(d.packet_filter, 0x0D);
    ask(&d, RNDIS_MSG_SET, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &filter, 3, out);
    CHECK_EQ(get32(out + 12), RNDIS_STATUS_INVALID_LENGTH);
    ask(&d, RNDIS_MSG_SET, RNDIS_OID_GEN_RNDIS_CONFIG_PARAMETER, &filter, 4, out);
    CHECK_EQ(get32(out + 12), RNDIS_STATUS_INVALID_LENGTH);
    /* every request is answered, even with a tiny buffer nothing overflows */
    struct rndis_msg ka = { .type = RNDIS_MSG_KEEPALIVE, .req_id = 5 };
    CHECK_EQ(rndis_dev_control(&d, &ka, out, sizeof(out)), 16);
    CHECK_EQ(get32(out), RNDIS_MSG_KEEPALIVE_C);
    CHECK_EQ(rndis_dev_control(&d, &init, out, 10), 0);
    struct rndis_msg halt = { .type = RNDIS_MSG_HALT };
    CHECK_EQ(rndis_dev_control(&d, &halt, out, sizeof(out)), 0);
    CHECK(!d.initialized);
}

TEST(rndis_dev_link_and_filter)
{
    static const uint8_t mac[6] = { 0x00, 0x15, 0x5d, 0x00, 0x00, 0x02 };
    static const uint8_t other[6] = { 0x00, 0x15, 0x5d, 0x00, 0x00, 0x03 };
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    static const uint8_t mcast[6] = { 0x33, 0x33, 0, 0, 0, 1 };
    struct rndis_dev d;
    rndis_dev_init(&d, mac);
    uint8_t out[64];
    CHECK_EQ(rndis_dev_link_status(&d, false, out, sizeof(out)), 20);
    CHECK_EQ(get32(out), RNDIS_MSG_INDICATE);
    CHECK_EQ(get32(out + 8), RNDIS_STATUS_MEDIA_DISCONNECT);
    CHECK(!d.link_up);
    uint8_t q[300];
    ask(&d, RNDIS_MSG_QUERY, RNDIS_OID_GEN_MEDIA_CONNECT_STATUS, NULL, 0, q);
    CHECK_EQ(get32(q + 24), 1);
    rndis_dev_link_status(&d, true, out, sizeof(out));
    CHECK_EQ(get32(out + 8), RNDIS_STATUS_MEDIA_CONNECT);

    CHECK(!rndis_dev_accepts(&d, mac)); /* filter 0: interface down */
    d.packet_filter = 0x0D;
    CHECK(rndis_dev_accepts(&d, mac));
    CHECK(!rndis_dev_accepts(&d, other));
    CHECK(rndis_dev_accepts(&d, bcast));
    CHECK(rndis_dev_accepts(&d, mcast));
    d.packet_filter = RNDIS_FILTER_DIRECTED;
    CHECK(!rndis_dev_accepts(&d, bcast));
    CHECK(!rndis_dev_accepts(&d, mcast));
    d.packet_filter = RNDIS_FILTER_PROMISCUOUS;
    CHECK(rndis_dev_accepts(&d, other));
}

/* Linux's rndis_filter_set_device_mac layout: 20-byte header, "NetworkAddress" and 12
 * lower-case hex digits, both UTF-16LE. */
static uint32_t set_network_address(struct rndis_dev *d, const char *pname, const char *value,
                                    uint32_t value_off_delta)
{
    uint8_t info[128] = { 0 }, out[64];
    uint32_t nlen = (uint32_t)strlen(pname) * 2, vlen = (uint32_t)strlen(value) * 2;
    uint32_t hdr[5] = { 20, nlen, 2, 20 + nlen + value_off_delta, vlen };
    memcpy(info, hdr, sizeof(hdr));
    for (size_t i = 0; pname[i]; i++)
        info[20 + 2 * i] = (uint8_t)pname[i];
    for (size_t i = 0; value[i]; i++)
        info[20 + nlen + 2 * i] = (uint8_t)value[i];
    ask(d, RNDIS_MSG_SET, RNDIS_OID_GEN_RNDIS_CONFIG_PARAMETER, info, 20 + nlen + vlen, out);
    return get32(out + 12);
}

TEST(rndis_dev_guest_changes_its_mac)
{
    static const uint8_t mac[6] = { 0x00, 0x15, 0x5d, 0x00, 0x00, 0x04 };
    static const uint8_t newmac[6] = { 0x02, 0x00, 0x00, 0xab, 0xcd, 0xef };
    struct rndis_dev d;
    rndis_dev_init(&d, mac);
    d.packet_filter = RNDIS_FILTER_DIRECTED;
    CHECK_EQ(set_network_address(&d, "NetworkAddress", "020000abcdef", 0), RNDIS_STATUS_SUCCESS);
    CHECK(!memcmp(d.mac, newmac, 6));
    CHECK(rndis_dev_accepts(&d, newmac));
    CHECK(!rndis_dev_accepts(&d, mac));
    /* refused, the MAC unchanged: multicast, not hex, another parameter, bad offsets */
    CHECK_EQ(set_network_address(&d, "NetworkAddress", "010000000001", 0), RNDIS_STATUS_INVALID_DATA);
    CHECK_EQ(set_network_address(&d, "NetworkAddress", "02000g000001", 0), RNDIS_STATUS_INVALID_DATA);
    CHECK_EQ(set_network_address(&d, "NetworkAddresz", "020000000001", 0), RNDIS_STATUS_NOT_SUPPORTED);
    CHECK_EQ(set_network_address(&d, "NetworkAddress", "020000000001", 60), RNDIS_STATUS_INVALID_DATA);
    CHECK(!memcmp(d.mac, newmac, 6));
}

/* NDIS_RECEIVE_SCALE_PARAMETERS exactly as Linux's rndis_set_rss_param_msg lays it out:
 * 40-byte header, 128 u32 table entries (i % QUEUES), the 40-byte key. */
static uint32_t linux_rss_params(uint8_t *p, uint16_t flags, uint32_t queues, uint8_t key0)
{
    memset(p, 0, 592);
    p[0] = 0x89, p[1] = 2, p[2] = 40;
    p[4] = (uint8_t)flags;
    uint32_t info = 0x1 | 0x100 | 0x200 | 0x400 | 0x1000, tab = 512, off = 40, koff = 552;
    memcpy(p + 8, &info, 4);
    memcpy(p + 12, &tab, 2);
    memcpy(p + 16, &off, 4);
    p[20] = 40;
    memcpy(p + 24, &koff, 4);
    for (uint32_t i = 0; i < 128; i++) {
        uint32_t q = i % queues;
        memcpy(p + 40 + 4 * i, &q, 4);
    }
    for (uint32_t i = 0; i < 40; i++)
        p[552 + i] = (uint8_t)(key0 + i);
    return 592;
}

TEST(rndis_dev_receive_scaling)
{
    static const uint8_t mac[6] = { 0x00, 0x15, 0x5d, 0x00, 0x00, 0x01 };
    struct rndis_dev d;
    rndis_dev_init(&d, mac);
    uint8_t out[300], p[592];
    /* one queue: no RSS, as before (the guest then asks for no sub-channels) */
    ask(&d, RNDIS_MSG_QUERY, RNDIS_OID_GEN_RECEIVE_SCALE_CAPABILITIES, NULL, 0, out);
    CHECK_EQ(get32(out + 12), RNDIS_STATUS_NOT_SUPPORTED);
    ask(&d, RNDIS_MSG_SET, RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS, p, linux_rss_params(p, 0, 1, 0), out);
    CHECK_EQ(get32(out + 12), RNDIS_STATUS_NOT_SUPPORTED);
    d.rss_queues = 4;
    CHECK_EQ(ask(&d, RNDIS_MSG_QUERY, RNDIS_OID_GEN_RECEIVE_SCALE_CAPABILITIES, NULL, 0, out), 24 + 18);
    CHECK_EQ(get32(out + 12), RNDIS_STATUS_SUCCESS);
    CHECK_EQ(get32(out + 16), 18); /* the guest refuses more than its 18-byte struct */
    CHECK_EQ(out[24], 0x88);
    CHECK_EQ(get32(out + 24 + 12), 4);
    CHECK_EQ(out[24 + 16] | out[24 + 17] << 8, 128);
    /* Linux's two sets: disable, then the parameters */
    ask(&d, RNDIS_MSG_SET, RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS, p, linux_rss_params(p, 0x10, 4, 0), out);
    CHECK_EQ(get32(out + 12), RNDIS_STATUS_SUCCESS);
    CHECK(!d.rss.enabled);
    ask(&d, RNDIS_MSG_SET, RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS, p, linux_rss_params(p, 0, 4, 0), out);
    CHECK_EQ(get32(out + 12), RNDIS_STATUS_SUCCESS);
    CHECK(d.rss.enabled);
    CHECK_EQ(d.rss.table_size, 128);
    CHECK_EQ(d.rss.table[5], 1);
    CHECK_EQ(d.rss.key[39], 39);
    CHECK_EQ(d.rss.hash_types, 0x100 | 0x200 | 0x400 | 0x1000);
    /* HASH_KEY_UNCHANGED keeps the key; ITABLE_UNCHANGED the table */
    ask(&d, RNDIS_MSG_SET, RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS, p, linux_rss_params(p, 0x8, 2, 100), out);
    CHECK_EQ(get32(out + 12), RNDIS_STATUS_SUCCESS);
    CHECK_EQ(d.rss.key[39], 39);
    CHECK_EQ(d.rss.table[5], 1);
    CHECK_EQ(d.rss.table[3], 1); /* 3 % 2 */
    ask(&d, RNDIS_MSG_SET, RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS, p, linux_rss_params(p, 0x4, 4, 100), out);
    CHECK_EQ(d.rss.key[39], 139);
    CHECK_EQ(d.rss.table[3], 1);
    /* invalid: all or nothing */
    struct rss_config before = d.rss;
    linux_rss_params(p, 0, 4, 7);
    p[40 + 4 * 9] = 4; /* queue 4 of 4 */
    ask(&d, RNDIS_MSG_SET, RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS, p, 592, out);
    CHECK_EQ(get32(out + 12), RNDIS_STATUS_INVALID_DATA);
    linux_rss_params(p, 0, 4, 7);
    p[20] = 16; /* a 16-byte key */
    ask(&d, RNDIS_MSG_SET, RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS, p, 592, out);
    CHECK_EQ(get32(out + 12), RNDIS_STATUS_INVALID_DATA);
    ask(&d, RNDIS_MSG_SET, RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS, p, 20, out); /* short */
    CHECK_EQ(get32(out + 12), RNDIS_STATUS_INVALID_DATA);
    linux_rss_params(p, 0, 4, 7);
    p[8] = 2; /* not Toeplitz */
    ask(&d, RNDIS_MSG_SET, RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS, p, 592, out);
    CHECK_EQ(get32(out + 12), RNDIS_STATUS_INVALID_DATA);
    CHECK(!memcmp(&before, &d.rss, sizeof(before)));
    /* a new RNDIS INIT (driver reloaded) starts without RSS */
    struct rndis_msg init = { .type = RNDIS_MSG_INIT, .req_id = 1, .init = { 1, 0, 0x4000 } };
    rndis_dev_control(&d, &init, out, sizeof(out));
    CHECK(!d.rss.enabled);
    CHECK_EQ(d.rss_queues, 4);
}
