/* RNDIS parsing and building: messages laid out as Linux 6.1's rndis_filter.c and
 * netvsc_drv.c build them, every malformed length/offset/count we can think of, and
 * the host messages checked against what rndis_filter_receive requires. */
#include "test.h"

#include "vsp/rndis.h"

#include <errno.h>

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* QUERY or SET as rndis_filter_query/_set send it: 28 bytes + INFO_LEN of data at 28. */
static size_t oid_req(uint8_t *b, uint32_t type, uint32_t req_id, uint32_t oid,
                      const void *info, uint32_t info_len)
{
    memset(b, 0, 28);
    put32(b, type);
    put32(b + 4, 28 + info_len);
    put32(b + 8, req_id);
    put32(b + 12, oid);
    put32(b + 16, info_len);
    put32(b + 20, 20);
    if (info_len)
        memcpy(b + 28, info, info_len);
    return 28 + info_len;
}

TEST(rndis_parse_control_messages)
{
    uint8_t b[128];
    struct rndis_msg m;
    /* INITIALIZE: req 1, version 1.0, max transfer 0x4000 */
    memset(b, 0, sizeof(b));
    put32(b, RNDIS_MSG_INIT);
    put32(b + 4, 24);
    put32(b + 8, 1);
    put32(b + 12, 1);
    put32(b + 16, 0);
    put32(b + 20, 0x4000);
    CHECK_EQ(rndis_parse(b, 24, &m), 0);
    CHECK_EQ(m.type, RNDIS_MSG_INIT);
    CHECK_EQ(m.req_id, 1);
    CHECK_EQ(m.init.major, 1);
    CHECK_EQ(m.init.max_xfer_size, 0x4000);
    CHECK_EQ(rndis_parse(b, 23, &m), -EINVAL); /* msg_len past the buffer */
    put32(b + 4, 20);
    CHECK_EQ(rndis_parse(b, 24, &m), -EINVAL); /* msg_len too short for INIT */

    /* QUERY permanent address: no input buffer */
    size_t n = oid_req(b, RNDIS_MSG_QUERY, 2, RNDIS_OID_802_3_PERMANENT_ADDRESS, NULL, 0);
    CHECK_EQ(rndis_parse(b, n, &m), 0);
    CHECK_EQ(m.req_id, 2);
    CHECK_EQ(m.oid.oid, RNDIS_OID_802_3_PERMANENT_ADDRESS);
    CHECK_EQ(m.oid.info_len, 0);
    CHECK(m.oid.info == NULL);

    /* SET packet filter 0x0D */
    uint32_t filter = RNDIS_FILTER_DIRECTED | RNDIS_FILTER_ALL_MULTICAST | RNDIS_FILTER_BROADCAST;
    n = oid_req(b, RNDIS_MSG_SET, 7, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &filter, 4);
    CHECK_EQ(rndis_parse(b, n, &m), 0);
    CHECK_EQ(m.type, RNDIS_MSG_SET);
    CHECK_EQ(m.oid.info_len, 4);
    CHECK(m.oid.info == b + 28);
    CHECK_EQ(get32(m.oid.info), 0x0D);

    /* KEEPALIVE, HALT, RESET */
    put32(b, RNDIS_MSG_KEEPALIVE);
    put32(b + 4, 12);
    put32(b + 8, 9);
    CHECK_EQ(rndis_parse(b, 12, &m), 0);
    CHECK_EQ(m.req_id, 9);
    CHECK_EQ(rndis_parse(b, 11, &m), -EINVAL);
    put32(b, RNDIS_MSG_HALT);
    CHECK_EQ(rndis_parse(b, 12, &m), 0);
    put32(b, RNDIS_MSG_RESET);
    CHECK_EQ(rndis_parse(b, 12, &m), 0);
    put32(b + 4, 8);
    CHECK_EQ(rndis_parse(b, 12, &m), -EINVAL);
}

TEST(rndis_parse_rejects_bad_oid_buffers)
{
    uint8_t b[64];
    struct rndis_msg m;
    uint32_t v = 1;
    size_t n = oid_req(b, RNDIS_MSG_SET, 3, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &v, 4);
    put32(b + 16, 5);                     /* info_buflen one past msg_len */
    CHECK_EQ(rndis_parse(b, n, &m), -EINVAL);
    put32(b + 16, 0xFFFFFFFF);            /* would wrap in 32 bits */
    CHECK_EQ(rndis_parse(b, n, &m), -EINVAL);
    put32(b + 16, 4);
    put32(b + 20, 0xFFFFFFFC);
    CHECK_EQ(rndis_parse(b, n, &m), -EINVAL);
    put32(b + 20, 8);                     /* overlaps the fixed fields */
    CHECK_EQ(rndis_parse(b, n, &m), -EINVAL);
    put32(b + 20, 20);
    CHECK_EQ(rndis_parse(b, n, &m), 0);
    CHECK_EQ(rndis_parse(b, 27, &m), -EINVAL); /* buffer shorter than msg_len */
    put32(b + 4, 27);                     /* msg_len shorter than QUERY's fields */
    CHECK_EQ(rndis_parse(b, n, &m), -EINVAL);
    put32(b + 4, 4);
    CHECK_EQ(rndis_parse(b, n, &m), -EINVAL);
    /* host->guest and unknown types */
    put32(b + 4, 16);
    put32(b, RNDIS_MSG_SET_C);
    CHECK_EQ(rndis_parse(b, n, &m), -ENOTSUP);
    put32(b, RNDIS_MSG_INDICATE);
    CHECK_EQ(rndis_parse(b, n, &m), -ENOTSUP);
    put32(b, 0x1234);
    CHECK_EQ(rndis_parse(b, n, &m), -ENOTSUP);
    CHECK_EQ(rndis_parse(b, 7, &m), -EINVAL);
}

/* A data PACKET as netvsc_xmit builds it: 36-byte packet header, PPIs of 16 bytes at
 * offset 36, frame after them. */
static size_t tx_packet(uint8_t *b, const uint32_t (*ppis)[2], unsigned nppi, uint32_t frame_len)
{
    uint32_t ppi_len = 16 * nppi;
    memset(b, 0, 44 + ppi_len + frame_len);
    put32(b, RNDIS_MSG_PACKET);
    put32(b + 4, 44 + ppi_len + frame_len);
    put32(b + 8, 36 + ppi_len);  /* data_offset */
    put32(b + 12, frame_len);
    put32(b + 28, nppi ? 36 : 0); /* per_pkt_info_offset */
    put32(b + 32, ppi_len);
    for (unsigned i = 0; i < nppi; i++) {
        uint8_t *p = b + 44 + 16 * i;
        put32(p, 16);
        put32(p + 4, ppis[i][0]);
        put32(p + 8, 12);
        put32(p + 12, ppis[i][1]);
    }
    for (uint32_t i = 0; i < frame_len; i++)
        b[44 + ppi_len + i] = (uint8_t)i;
    return 44 + ppi_len + frame_len;
}

TEST(rndis_parse_data_packets_with_ppis)
{
    uint8_t b[512];
    struct rndis_msg m;
    size_t n = tx_packet(b, NULL, 0, 60);
    CHECK_EQ(rndis_parse(b, n, &m), 0);
    CHECK_EQ(m.packet.frame_len, 60);
    CHECK(m.packet.frame == b + 44);
    CHECK(!m.packet.info.has_vlan && !m.packet.info.has_csum);

    /* hash, VLAN 42 prio 5, LSO v2 (mss 1448, tcp at 34, IPv4), checksum TCP/IPv4 at 34 */
    const uint32_t ppis[][2] = {
        { RNDIS_PPI_HASH_VALUE, 0xDEADBEEF },
        { RNDIS_PPI_VLAN, 5 | (42u << 4) },
        { RNDIS_PPI_LSO, 1448 | (34u << 20) | (1u << 30) },
        { RNDIS_PPI_CHECKSUM, RNDIS_CSUM_TX_IPV4 | RNDIS_CSUM_TX_TCP | (34u << 16) },
        { RNDIS_PPI_INTERNAL | RNDIS_PPI_IPSEC, 7 }, /* internal: skipped */
        { 11, 0 },                                   /* unknown: skipped */
    };
    n = tx_packet(b, ppis, 6, 100);
    CHECK_EQ(rndis_parse(b, n, &m), 0);
    const struct rndis_pkt_info *i = &m.packet.info;
    CHECK(i->has_hash && i->hash == 0xDEADBEEF);
    CHECK(i->has_vlan);
    CHECK_EQ(i->vlan_id, 42);
    CHECK_EQ(i->vlan_pri, 5);
    CHECK(i->has_lso);
    CHECK_EQ(RNDIS_LSO_MSS(i->lso), 1448);
    CHECK_EQ(RNDIS_LSO_TCP_HDR_OFFSET(i->lso), 34);
    CHECK_EQ(RNDIS_LSO_TYPE_V2(i->lso), 1);
    CHECK_EQ(RNDIS_LSO_IPV6(i->lso), 0);
    CHECK(i->has_csum);
    CHECK_EQ(RNDIS_CSUM_TX_TCP_HDR_OFFSET(i->csum), 34);
    CHECK(i->csum & RNDIS_CSUM_TX_TCP);
    CHECK_EQ(m.packet.frame_len, 100);
    CHECK_EQ(m.packet.frame[99], 99);

    /* two packets batched in one send section: the second follows at msg_len */
    size_t n1 = tx_packet(b, NULL, 0, 60);
    size_t n2 = tx_packet(b + n1, ppis + 1, 1, 70);
    CHECK_EQ(rndis_parse(b, n1 + n2, &m), 0);
    CHECK_EQ(m.len, n1);
    CHECK_EQ(rndis_parse(b + m.len, n1 + n2 - m.len, &m), 0);
    CHECK_EQ(m.packet.frame_len, 70);
    CHECK_EQ(m.packet.info.vlan_id, 42);
}

TEST(rndis_parse_rejects_bad_packets)
{
    uint8_t b[256];
    struct rndis_msg m;
    const uint32_t vlan[][2] = { { RNDIS_PPI_VLAN, 42u << 4 }, { RNDIS_PPI_CHECKSUM, 1 } };
    size_t n = tx_packet(b, vlan, 2, 60);
    CHECK_EQ(rndis_parse(b, n, &m), 0);
    CHECK_EQ(rndis_parse(b, n - 1, &m), -EINVAL);          /* truncated buffer */
    CHECK_EQ(rndis_parse(b, 43, &m), -EINVAL);
    struct { unsigned off; uint32_t val; } bad[] = {
        { 4, 43 },                  /* msg_len below the packet header */
        { 8, 35 },                  /* data_offset inside the packet header */
        { 8, 0xFFFFFFF0 },          /* data_offset wraps */
        { 12, 61 },                 /* frame one byte past msg_len */
        { 12, 0xFFFFFFFF },
        { 12, 0 },                  /* empty frame */
        { 28, 12 },                 /* PPIs inside the header */
        { 32, 33 },                 /* PPI length past the data (not a whole PPI) */
        { 32, 0xFFFFFFF0 },
        { 32, 8 },                  /* shorter than one PPI */
        { 44, 0 },                  /* PPI size 0 (would loop forever) */
        { 44, 11 },
        { 44, 33 },                 /* PPI size past the PPI area */
        { 52, 17 },                 /* ppi_offset past the PPI */
        { 52, 4 },                  /* ppi_offset inside the PPI header */
        { 52, 16 },                 /* known type with no value bytes */
        { 20, 4 },                  /* OOB data without a valid offset */
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        n = tx_packet(b, vlan, 2, 60);
        put32(b + bad[k].off, bad[k].val);
        int ret = rndis_parse(b, n, &m);
        if (ret != -EINVAL)
            test_fail(__FILE__, __LINE__, "field @%u = %#x: got %d, want -EINVAL", bad[k].off,
                      bad[k].val, ret);
    }
}

TEST(rndis_build_completions)
{
    uint8_t b[256];
    CHECK_EQ(rndis_build_init_complete(b, sizeof(b), 1, RNDIS_STATUS_SUCCESS, 8, 0x4000, 3), 52);
    CHECK_EQ(get32(b), RNDIS_MSG_INIT_C);
    CHECK_EQ(get32(b + 4), 52);
    CHECK_EQ(get32(b + 8), 1);
    CHECK_EQ(get32(b + 12), 0);
    CHECK_EQ(get32(b + 16), 1);   /* major */
    CHECK_EQ(get32(b + 24), 1);   /* connectionless */
    CHECK_EQ(get32(b + 28), 0);   /* 802.3 */
    CHECK_EQ(get32(b + 32), 8);
    CHECK_EQ(get32(b + 36), 0x4000);
    CHECK_EQ(get32(b + 40), 3);
    CHECK_EQ(rndis_build_init_complete(b, 51, 1, 0, 8, 0x4000, 3), 0);

    const uint8_t mac[6] = { 0x00, 0x15, 0x5d, 1, 2, 3 };
    CHECK_EQ(rndis_build_query_complete(b, sizeof(b), 4, 0, mac, 6), 30);
    CHECK_EQ(get32(b), RNDIS_MSG_QUERY_C);
    CHECK_EQ(get32(b + 4), 30);
    CHECK_EQ(get32(b + 8), 4);
    CHECK_EQ(get32(b + 16), 6);
    CHECK_EQ(get32(b + 20), 16);
    CHECK(!memcmp(b + 8 + 16, mac, 6));
    CHECK_EQ(rndis_build_query_complete(b, sizeof(b), 5, RNDIS_STATUS_NOT_SUPPORTED, NULL, 0), 24);
    CHECK_EQ(get32(b + 12), RNDIS_STATUS_NOT_SUPPORTED);
    CHECK_EQ(rndis_build_query_complete(b, 29, 4, 0, mac, 6), 0);

    CHECK_EQ(rndis_build_set_complete(b, sizeof(b), 9, 0), 16);
    CHECK_EQ(get32(b), RNDIS_MSG_SET_C);
    CHECK_EQ(get32(b + 8), 9);
    CHECK_EQ(rndis_build_keepalive_complete(b, sizeof(b), 10, 0), 16);
    CHECK_EQ(get32(b), RNDIS_MSG_KEEPALIVE_C);
    CHECK_EQ(rndis_build_reset_complete(b, sizeof(b), 0), 16);
    CHECK_EQ(get32(b), RNDIS_MSG_RESET_C);

    CHECK_EQ(rndis_build_indicate_status(b, sizeof(b), RNDIS_STATUS_MEDIA_DISCONNECT, NULL, 0), 20);
    CHECK_EQ(get32(b), RNDIS_MSG_INDICATE);
    CHECK_EQ(get32(b + 8), RNDIS_STATUS_MEDIA_DISCONNECT);
    uint32_t speed = 100000000;
    CHECK_EQ(rndis_build_indicate_status(b, sizeof(b), RNDIS_STATUS_LINK_SPEED_CHANGE, &speed, 4), 24);
    CHECK_EQ(get32(b + 16), 12);
    CHECK_EQ(get32(b + 8 + 12), 100000000);
}

TEST(rndis_build_receive_packet)
{
    uint8_t frame[64], b[256];
    for (int i = 0; i < 64; i++)
        frame[i] = (uint8_t)(0xA0 + i);
    /* plain: msg_len = 44 + frame, data at 8 + 36 */
    size_t n = rndis_build_packet(b, sizeof(b), frame, 64, NULL);
    CHECK_EQ(n, 108);
    CHECK_EQ(rndis_packet_size(64, NULL), 108);
    CHECK_EQ(get32(b), RNDIS_MSG_PACKET);
    CHECK_EQ(get32(b + 4), 108);
    CHECK_EQ(get32(b + 8), 36);
    CHECK_EQ(get32(b + 12), 64);
    CHECK(!memcmp(b + 44, frame, 64));
    /* the guest's checks: 8 <= msg_len <= buflen, data_offset < buflen - 8,
     * data_len <= buflen - 8 - data_offset */
    CHECK(get32(b + 8) < n - 8 && get32(b + 12) <= n - 8 - get32(b + 8));

    /* with VLAN and checksum PPIs it parses back the same */
    struct rndis_pkt_info info = { .has_vlan = true, .vlan_id = 100, .vlan_pri = 3,
                                   .has_csum = true,
                                   .csum = RNDIS_CSUM_RX_TCP_SUCCEEDED | RNDIS_CSUM_RX_IP_SUCCEEDED };
    n = rndis_build_packet(b, sizeof(b), frame, 64, &info);
    CHECK_EQ(n, 108 + 32);
    struct rndis_msg m;
    CHECK_EQ(rndis_parse(b, n, &m), 0);
    CHECK_EQ(m.packet.frame_len, 64);
    CHECK(!memcmp(m.packet.frame, frame, 64));
    CHECK(m.packet.info.has_vlan && m.packet.info.vlan_id == 100 && m.packet.info.vlan_pri == 3);
    CHECK(m.packet.info.has_csum && m.packet.info.csum == 0x28);
    CHECK_EQ(rndis_build_packet(b, n - 1, frame, 64, &info), 0);
}
