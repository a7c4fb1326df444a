/* Receive-side scaling (net/rss.h) against Microsoft's published RSS verification
 * suite ("Verifying the RSS Hash Calculation", the key and vectors every NIC vendor
 * tests with), hashed from whole Ethernet frames as netvsp does. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "net/rss.h"

static const uint8_t MS_KEY[RSS_KEY_SIZE] = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

struct v4_vector {
    uint8_t src[4], dst[4];
    uint16_t sport, dport;
    uint32_t ip_only, with_tcp;
};

static const struct v4_vector V4[] = {
    { { 66, 9, 149, 187 }, { 161, 142, 100, 80 }, 2794, 1766, 0x323e8fc2, 0x51ccc178 },
    { { 199, 92, 111, 2 }, { 65, 69, 140, 83 }, 14230, 4739, 0xd718262a, 0xc626b0ea },
    { { 24, 19, 198, 95 }, { 12, 22, 207, 184 }, 12898, 38024, 0xd2d0a5de, 0x5c2b394a },
    { { 38, 27, 205, 30 }, { 209, 142, 163, 6 }, 48228, 2217, 0x82989176, 0xafc7327f },
    { { 153, 39, 163, 191 }, { 202, 188, 127, 2 }, 44251, 1303, 0x5d1809c5, 0x10e828a2 },
};

/* An Ethernet + IPv4 + TCP (PROTO 6) or UDP (17) frame; optionally 802.1Q tagged. */
static size_t v4_frame(uint8_t *f, const struct v4_vector *v, uint8_t proto, bool tagged)
{
    memset(f, 0, 80);
    size_t l2 = tagged ? 18 : 14;
    if (tagged)
        f[12] = 0x81, f[13] = 0x00, f[15] = 7;
    f[l2 - 2] = 0x08, f[l2 - 1] = 0x00;
    uint8_t *ip = f + l2;
    ip[0] = 0x45, ip[3] = 40, ip[8] = 64, ip[9] = proto;
    memcpy(ip + 12, v->src, 4);
    memcpy(ip + 16, v->dst, 4);
    ip[20] = (uint8_t)(v->sport >> 8), ip[21] = (uint8_t)v->sport;
    ip[22] = (uint8_t)(v->dport >> 8), ip[23] = (uint8_t)v->dport;
    return l2 + 40;
}

static struct rss_config config(uint32_t types)
{
    struct rss_config c = { .enabled = true, .hash_types = types, .table_size = 4 };
    memcpy(c.key, MS_KEY, RSS_KEY_SIZE);
    for (unsigned i = 0; i < 4; i++)
        c.table[i] = (uint8_t)(3 - i); /* queue = 3 - (hash & 3): the table is used */
    return c;
}

TEST(rss_microsoft_ipv4_vectors)
{
    uint8_t f[80];
    struct rss_config tcp = config(RSS_HASH_IPV4 | RSS_HASH_TCP_IPV4), ip = config(RSS_HASH_IPV4);
    for (size_t i = 0; i < sizeof(V4) / sizeof(V4[0]); i++) {
        uint32_t h;
        size_t len = v4_frame(f, &V4[i], 6, i % 2);
        CHECK_EQ(rss_queue(&tcp, f, len, &h), 3 - (V4[i].with_tcp & 3));
        CHECK_EQ(h, V4[i].with_tcp);
        CHECK_EQ(rss_queue(&ip, f, len, &h), 3 - (V4[i].ip_only & 3));
        CHECK_EQ(h, V4[i].ip_only);
        /* UDP has no hash type of its own here: the addresses only */
        len = v4_frame(f, &V4[i], 17, false);
        rss_queue(&tcp, f, len, &h);
        CHECK_EQ(h, V4[i].ip_only);
        /* a fragment's ports may be absent: the addresses only */
        f[14 + 6] = 0x20;
        rss_queue(&tcp, f, len, &h);
        CHECK_EQ(h, V4[i].ip_only);
    }
}

TEST(rss_microsoft_ipv6_vector)
{
    static const uint8_t src[16] = { 0x3f, 0xfe, 0x25, 0x01, 0x02, 0x00, 0x1f, 0xff, 0, 0, 0, 0, 0, 0, 0, 7 };
    static const uint8_t dst[16] = { 0x3f, 0xfe, 0x25, 0x01, 0x02, 0x00, 0x00, 0x03, 0, 0, 0, 0, 0, 0, 0, 1 };
    uint8_t f[80] = { 0 };
    f[12] = 0x86, f[13] = 0xDD;
    uint8_t *ip = f + 14;
    ip[0] = 0x60, ip[5] = 20, ip[6] = 6, ip[7] = 64;
    memcpy(ip + 8, src, 16);
    memcpy(ip + 24, dst, 16);
    ip[40] = 2794 >> 8, ip[41] = 2794 & 0xFF, ip[42] = 1766 >> 8, ip[43] = 1766 & 0xFF;
    struct rss_config c = config(RSS_HASH_IPV6 | RSS_HASH_TCP_IPV6);
    uint32_t h;
    rss_queue(&c, f, 74, &h);
    CHECK_EQ(h, 0x40207d3d);
    c.hash_types = RSS_HASH_IPV6;
    rss_queue(&c, f, 74, &h);
    CHECK_EQ(h, 0x2cc18cd5);
}

TEST(rss_queue_zero_when_off_or_not_hashable)
{
    uint8_t f[80];
    size_t len = v4_frame(f, &V4[3], 6, false);
    uint32_t h;
    struct rss_config c = config(RSS_HASH_TCP_IPV4);
    CHECK_EQ(rss_queue(&c, f, len, &h), 3 - (V4[3].with_tcp & 3));
    c.enabled = false;
    CHECK_EQ(rss_queue(&c, f, len, &h), 0);
    CHECK_EQ(h, 0);
    c = config(RSS_HASH_IPV6 | RSS_HASH_TCP_IPV6); /* no IPv4 type enabled */
    CHECK_EQ(rss_queue(&c, f, len, &h), 0);
    c = config(RSS_HASH_TCP_IPV4);
    f[12] = 0x08, f[13] = 0x06; /* ARP */
    CHECK_EQ(rss_queue(&c, f, len, &h), 0);
    CHECK_EQ(h, 0);
    /* truncated and malformed headers are not read past their end (ASan watches) */
    len = v4_frame(f, &V4[3], 6, false);
    for (size_t cut = 1; cut < len; cut++) {
        uint8_t *t = malloc(cut);
        memcpy(t, f, cut);
        rss_queue(&c, t, cut, &h);
        free(t);
    }
    f[14] = 0x4F; /* IHL 60 > the packet */
    CHECK_EQ(rss_queue(&c, f, len, &h), 0);
}
