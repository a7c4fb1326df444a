/* NVSP parsing and building: messages as Linux 6.1's netvsc lays them out (40-byte
 * nvsp_message, fields per hyperv_net.h), truncated and out-of-range ones, GPA-direct
 * page ranges, and the host replies the guest checks. */
#include "test.h"

#include "vsp/nvsp.h"

#include <errno.h>

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* A 40-byte guest message of TYPE with up to three u32 body fields. */
static void msg(uint8_t m[40], uint32_t type, uint32_t a, uint32_t b, uint32_t c)
{
    memset(m, 0, 40);
    put32(m, type);
    put32(m + 4, a);
    put32(m + 8, b);
    put32(m + 12, c);
}

TEST(nvsp_parse_linux_init_sequence)
{
    uint8_t m[40];
    struct nvsp_msg p;
    msg(m, NVSP_MSG_INIT, NVSP_PROTOCOL_VERSION_61, NVSP_PROTOCOL_VERSION_61, 0);
    CHECK_EQ(nvsp_parse(m, 40, &p), 0);
    CHECK_EQ(p.type, NVSP_MSG_INIT);
    CHECK_EQ(p.init.min_ver, 0x60001);
    CHECK_EQ(p.init.max_ver, 0x60001);
    CHECK(nvsp_version_supported(p.init.max_ver));
    CHECK(!nvsp_version_supported(0x70000));

    msg(m, NVSP_MSG2_SEND_NDIS_CONFIG, 1514, 0, 0);
    put64(m + 12, NVSP_NDIS_CAP_IEEE8021Q | NVSP_NDIS_CAP_SRIOV | NVSP_NDIS_CAP_TEAMING |
                      NVSP_NDIS_CAP_RSC);
    CHECK_EQ(nvsp_parse(m, 40, &p), 0);
    CHECK_EQ(p.ndis_config.mtu, 1514);
    CHECK_EQ(p.ndis_config.capability, 0xAC);

    msg(m, NVSP_MSG1_SEND_NDIS_VER, 6, 30, 0);
    CHECK_EQ(nvsp_parse(m, 40, &p), 0);
    CHECK_EQ(p.ndis_ver.major, 6);
    CHECK_EQ(p.ndis_ver.minor, 30);

    msg(m, NVSP_MSG1_SEND_RECV_BUF, 0xE1E10, 0, 0);
    put16(m + 8, NVSP_RECV_BUF_ID);
    CHECK_EQ(nvsp_parse(m, 40, &p), 0);
    CHECK_EQ(p.buf.gpadl, 0xE1E10);
    CHECK_EQ(p.buf.id, 0xCAFE);

    msg(m, NVSP_MSG1_SEND_SEND_BUF, 0xE1E11, 0, 0);
    CHECK_EQ(nvsp_parse(m, 40, &p), 0);
    CHECK_EQ(p.buf.gpadl, 0xE1E11);
    CHECK_EQ(p.buf.id, 0);

    msg(m, NVSP_MSG5_SUBCHANNEL, NVSP_SUBCHANNEL_ALLOCATE, 3, 0);
    CHECK_EQ(nvsp_parse(m, 40, &p), 0);
    CHECK_EQ(p.subchannel.num, 3);

    msg(m, NVSP_MSG1_REVOKE_RECV_BUF, NVSP_RECV_BUF_ID, 0, 0);
    CHECK_EQ(nvsp_parse(m, 40, &p), 0);
    CHECK_EQ(p.revoke.id, 0xCAFE);
    msg(m, NVSP_MSG4_SWITCH_DATA_PATH, 1, 0, 0);
    CHECK_EQ(nvsp_parse(m, 40, &p), 0);
    CHECK_EQ(p.switch_data_path.active_datapath, 1);
}

TEST(nvsp_parse_rndis_packets)
{
    uint8_t m[40];
    struct nvsp_msg p;
    /* send-buffer path: data in section 5, 98 bytes */
    msg(m, NVSP_MSG1_SEND_RNDIS_PKT, NVSP_CHANNEL_TYPE_DATA, 5, 98);
    CHECK_EQ(nvsp_parse(m, 40, &p), 0);
    CHECK_EQ(p.rndis_pkt.channel_type, 0);
    CHECK_EQ(p.rndis_pkt.section_index, 5);
    CHECK_EQ(p.rndis_pkt.section_size, 98);
    uint64_t off = 0;
    CHECK_EQ(nvsp_send_section(5, 98, 6144, 170, &off), 0);
    CHECK_EQ(off, 5 * 6144);
    CHECK_EQ(nvsp_send_section(170, 98, 6144, 170, &off), -EINVAL); /* past the last */
    CHECK_EQ(nvsp_send_section(0, 6145, 6144, 170, &off), -EINVAL); /* bigger than one */
    CHECK_EQ(nvsp_send_section(0, 0, 6144, 170, &off), -EINVAL);
    CHECK_EQ(nvsp_send_section(NVSP_NO_SECTION, 1, 6144, 170, &off), -EINVAL);
    /* control message: GPA direct, no section */
    msg(m, NVSP_MSG1_SEND_RNDIS_PKT, NVSP_CHANNEL_TYPE_CONTROL, NVSP_NO_SECTION, 0);
    CHECK_EQ(nvsp_parse(m, 40, &p), 0);
    CHECK_EQ(p.rndis_pkt.section_index, NVSP_NO_SECTION);
    /* the guest's completion of a host xfer-page packet is 8 bytes */
    msg(m, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE, NVSP_STAT_SUCCESS, 0, 0);
    CHECK_EQ(nvsp_parse(m, 8, &p), 0);
    CHECK_EQ(p.rndis_pkt_complete.status, 1);
}

TEST(nvsp_parse_rejects_bad_messages)
{
    uint8_t m[48] = { 0 };
    struct nvsp_msg p;
    CHECK_EQ(nvsp_parse(m, 0, &p), -EINVAL);
    CHECK_EQ(nvsp_parse(m, 3, &p), -EINVAL);
    msg(m, NVSP_MSG_INIT, 2, 2, 0);
    CHECK_EQ(nvsp_parse(m, 11, &p), -EINVAL);  /* truncated body */
    CHECK_EQ(nvsp_parse(m, 12, &p), 0);        /* exactly enough */
    CHECK_EQ(nvsp_parse(m, 48, &p), 0);        /* ring padding after it is ignored */
    msg(m, NVSP_MSG_INIT, 5, 2, 0);
    CHECK_EQ(nvsp_parse(m, 40, &p), -EINVAL);  /* min > max */
    msg(m, NVSP_MSG1_SEND_RNDIS_PKT, 2, 0, 0);
    CHECK_EQ(nvsp_parse(m, 40, &p), -EINVAL);  /* channel type neither data nor control */
    msg(m, NVSP_MSG1_SEND_RNDIS_PKT, 0, 0, 0);
    CHECK_EQ(nvsp_parse(m, 15, &p), -EINVAL);
    msg(m, NVSP_MSG1_SEND_RECV_BUF, 0, NVSP_RECV_BUF_ID, 0);
    CHECK_EQ(nvsp_parse(m, 40, &p), -EINVAL);  /* GPADL 0 */
    msg(m, NVSP_MSG5_SUBCHANNEL, 2, 1, 0);
    CHECK_EQ(nvsp_parse(m, 40, &p), -EINVAL);  /* unknown op */
    msg(m, NVSP_MSG4_SWITCH_DATA_PATH, 2, 0, 0);
    CHECK_EQ(nvsp_parse(m, 40, &p), -EINVAL);
    msg(m, NVSP_MSG2_SEND_NDIS_CONFIG, 1514, 0, 0);
    CHECK_EQ(nvsp_parse(m, 19, &p), -EINVAL);
    /* host->guest types and unknown ones are not guest requests */
    msg(m, NVSP_MSG_INIT_COMPLETE, 0, 0, 0);
    CHECK_EQ(nvsp_parse(m, 40, &p), -ENOTSUP);
    msg(m, NVSP_MSG5_SEND_INDIRECTION_TABLE, 16, 40, 0);
    CHECK_EQ(nvsp_parse(m, 40, &p), -ENOTSUP);
    msg(m, 0xFFFFFFFF, 0, 0, 0);
    CHECK_EQ(nvsp_parse(m, 40, &p), -ENOTSUP);
    CHECK_STR(nvsp_type_name(NVSP_MSG1_SEND_RNDIS_PKT), "SEND_RNDIS_PKT");
}

TEST(nvsp_builders_match_what_the_guest_checks)
{
    struct nvsp_message m;
    CHECK_EQ(nvsp_build_init_complete(&m, NVSP_STAT_SUCCESS, 0xFFFFFFFF), 40);
    const uint8_t *b = (const uint8_t *)&m;
    CHECK_EQ(get32(b), 2);
    CHECK_EQ(get32(b + 4), 0xFFFFFFFF);
    CHECK_EQ(get32(b + 8), 34);
    CHECK_EQ(get32(b + 12), 1);

    CHECK_EQ(nvsp_build_recv_buf_complete(&m, NVSP_STAT_SUCCESS, 1728, 9709), 40);
    CHECK_EQ(get32(b), 102);
    CHECK_EQ(get32(b + 4), 1);
    CHECK_EQ(get32(b + 8), 1);      /* num_sections */
    CHECK_EQ(get32(b + 12), 0);     /* offset */
    CHECK_EQ(get32(b + 16), 1728);  /* sub_alloc_size */
    CHECK_EQ(get32(b + 20), 9709);  /* num_sub_allocs */
    CHECK_EQ(get32(b + 24), 1728 * 9709);

    CHECK_EQ(nvsp_build_send_buf_complete(&m, NVSP_STAT_SUCCESS, 6144), 40);
    CHECK_EQ(get32(b), 105);
    CHECK_EQ(get32(b + 8), 6144);

    CHECK_EQ(nvsp_build_rndis_pkt(&m, NVSP_CHANNEL_TYPE_CONTROL), 40);
    CHECK_EQ(get32(b), 107);
    CHECK_EQ(get32(b + 4), 1);
    CHECK_EQ(get32(b + 8), 0xFFFFFFFF);
    CHECK_EQ(get32(b + 12), 0);

    CHECK_EQ(nvsp_build_rndis_pkt_complete(&m, NVSP_STAT_SUCCESS), 40);
    CHECK_EQ(get32(b), 108);
    CHECK_EQ(get32(b + 4), 1);
    CHECK_EQ(get32(b + 36), 0);

    CHECK_EQ(nvsp_build_subchannel_complete(&m, NVSP_STAT_SUCCESS, 3), 40);
    CHECK_EQ(get32(b), 133);
    CHECK_EQ(get32(b + 8), 3);

    uint32_t table[16], out[26];
    for (int i = 0; i < 16; i++)
        table[i] = (uint32_t)i % 4;
    CHECK_EQ(nvsp_build_indirection_table(out, table), 104);
    CHECK_EQ(out[0], 134);
    CHECK_EQ(out[1], 16);
    CHECK_EQ(out[2], 40);
    CHECK_EQ(out[10 + 5], 1);
    CHECK_EQ(out[10 + 15], 3);
}

/* GPA-direct packet: descriptor, {reserved, count}, ranges, then the payload. */
static size_t gpa_packet(uint8_t *raw, const uint32_t (*ranges)[2], const uint64_t *pfns,
                         const unsigned *npfn, unsigned count)
{
    size_t pos = 24;
    unsigned k = 0;
    for (unsigned r = 0; r < count; r++) {
        put32(raw + pos, ranges[r][0]);
        put32(raw + pos + 4, ranges[r][1]);
        pos += 8;
        for (unsigned i = 0; i < npfn[r]; i++, pos += 8)
            put64(raw + pos, pfns[k++]);
    }
    put16(raw, 9);
    put16(raw + 2, (uint16_t)(pos / 8));
    put32(raw + 16, 0);
    put32(raw + 20, count);
    memset(raw + pos, 0, 40); /* the nvsp message */
    return pos + 40;
}

TEST(nvsp_gpa_direct_ranges)
{
    uint8_t raw[256];
    struct nvsp_gpa_chunk c[8];
    uint64_t total;
    /* Linux 6.1 hv_page_buffer style: one page per range */
    const uint32_t r1[2][2] = { { 100, 0xF00 }, { 60, 0x10 } };
    const uint64_t p1[] = { 0x1234, 0x999 };
    const unsigned n1[] = { 1, 1 };
    size_t len = gpa_packet(raw, r1, p1, n1, 2);
    CHECK_EQ(nvsp_gpa_direct_chunks(raw, len, c, 8, &total), 2);
    CHECK_EQ(total, 160);
    CHECK_EQ(c[0].gpa, 0x1234F00);
    CHECK_EQ(c[0].len, 100);
    CHECK_EQ(c[1].gpa, 0x999010);
    CHECK_EQ(c[1].len, 60);
    /* a multi-page range splits at the page boundary */
    const uint32_t r2[1][2] = { { 4000, 0xF00 } };
    const uint64_t p2[] = { 7, 9 };
    const unsigned n2[] = { 2 };
    len = gpa_packet(raw, r2, p2, n2, 1);
    CHECK_EQ(nvsp_gpa_direct_chunks(raw, len, c, 8, &total), 2);
    CHECK_EQ(c[0].gpa, 7 * 4096 + 0xF00);
    CHECK_EQ(c[0].len, 256);
    CHECK_EQ(c[1].gpa, 9 * 4096);
    CHECK_EQ(c[1].len, 3744);
    CHECK_EQ(nvsp_gpa_direct_chunks(raw, len, c, 1, &total), -E2BIG);
    /* the range claims two pages but the header holds one pfn */
    const unsigned n2short[] = { 1 };
    len = gpa_packet(raw, r2, p2, n2short, 1);
    CHECK_EQ(nvsp_gpa_direct_chunks(raw, len, c, 8, &total), -EINVAL);
    /* count past the end of the header */
    len = gpa_packet(raw, r1, p1, n1, 2);
    put32(raw + 20, 3);
    CHECK_EQ(nvsp_gpa_direct_chunks(raw, len, c, 8, &total), -EINVAL);
    put32(raw + 20, 0xFFFFFFFF);
    CHECK_EQ(nvsp_gpa_direct_chunks(raw, len, c, 8, &total), -EINVAL);
    /* zero-length range, offset past a page, pfn out of range */
    const uint32_t bad[3][2][2] = { { { 0, 0 } }, { { 10, 4096 } }, { { 10, 0 } } };
    const uint64_t bigpfn[] = { 1ull << 52 };
    for (int i = 0; i < 3; i++) {
        len = gpa_packet(raw, bad[i], i == 2 ? bigpfn : p1, n1, 1);
        CHECK_EQ(nvsp_gpa_direct_chunks(raw, len, c, 8, &total), -EINVAL);
    }
    /* offset8 past the packet, and a truncated descriptor */
    len = gpa_packet(raw, r1, p1, n1, 2);
    put16(raw + 2, 200);
    CHECK_EQ(nvsp_gpa_direct_chunks(raw, len, c, 8, &total), -EINVAL);
    CHECK_EQ(nvsp_gpa_direct_chunks(raw, 20, c, 8, &total), -EINVAL);
}
