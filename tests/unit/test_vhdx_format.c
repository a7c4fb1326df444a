/* VHDX pure encoders/decoders: CRC-32C, GUIDs, header, region table, BAT geometry. */
#include <errno.h>
#include <stdlib.h>

#include "disk/vhdx_crc32c.h"
#include "disk/vhdx_format.h"
#include "test.h"

TEST(vhdx_crc32c_vectors)
{
    uint8_t buf[64];
    CHECK_EQ(crc32c(0, "123456789", 9), 0xE3069283u);
    memset(buf, 0, 32);
    CHECK_EQ(crc32c(0, buf, 32), 0x8A9136AAu);       /* RFC 3720 B.4 */
    memset(buf, 0xff, 32);
    CHECK_EQ(crc32c(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    CHECK_EQ(crc32c(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    CHECK_EQ(crc32c(0, buf, 32), 0x113FDB5Cu);
    CHECK_EQ(crc32c(0, "", 0), 0u);
    /* unaligned starts and split computation give the same result */
    for (int i = 0; i < 64; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    uint32_t whole = crc32c(0, buf + 1, 61);
    for (size_t cut = 0; cut <= 61; cut += 5)
        CHECK_EQ(crc32c(crc32c(0, buf + 1, cut), buf + 1 + cut, 61 - cut), whole);
}

TEST(vhdx_guid_text_and_disk_layout)
{
    struct vhdx_guid g;
    char t[37];
    static const uint8_t bat_on_disk[16] = { 0x66, 0x77, 0xC2, 0x2D, 0x23, 0xF6, 0x00, 0x42,
                                             0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08 };
    CHECK(memcmp(vhdx_guid_bat_region.b, bat_on_disk, 16) == 0);
    CHECK_EQ(vhdx_guid_parse("{2dc27766-f623-4200-9d64-115e9bfd4a08}", &g), 0);
    CHECK(vhdx_guid_eq(&g, &vhdx_guid_bat_region));
    vhdx_guid_format(&g, t);
    CHECK_STR(t, "2DC27766-F623-4200-9D64-115E9BFD4A08");
    CHECK_EQ(vhdx_guid_parse("2DC27766-F623-4200-9D64-115E9BFD4A08", &g), 0);
    CHECK(vhdx_guid_parse("{2DC27766-F623-4200-9D64-115E9BFD4A0}", &g) < 0);
    CHECK(vhdx_guid_parse("2DC27766+F623-4200-9D64-115E9BFD4A08", &g) < 0);
    CHECK(vhdx_guid_parse("2DC27766-F623-4200-9D64-115E9BFD4A0G", &g) < 0);
    struct vhdx_guid a, b;
    vhdx_guid_random(&a);
    vhdx_guid_random(&b);
    CHECK(!vhdx_guid_eq(&a, &b));
    CHECK(!vhdx_guid_is_zero(&a));
}

TEST(vhdx_header_roundtrip_and_choice)
{
    uint8_t r1[VHDX_HEADER_SIZE], r2[VHDX_HEADER_SIZE];
    struct vhdx_header h = { .seq = 7, .version = 1, .log_length = 1 << 20, .log_offset = 1 << 20 };
    struct vhdx_header p1, p2;
    vhdx_guid_random(&h.data_write_guid);
    vhdx_header_build(&h, r1);
    CHECK(memcmp(r1, "head", 4) == 0);
    CHECK_EQ(vhdx_header_parse(r1, &p1), 0);
    CHECK_EQ(p1.seq, 7);
    CHECK_EQ(p1.log_offset, 1 << 20);
    CHECK(vhdx_guid_eq(&p1.data_write_guid, &h.data_write_guid));
    h.seq = 8;
    vhdx_header_build(&h, r2);
    CHECK_EQ(vhdx_header_parse(r2, &p2), 0);
    CHECK_EQ(vhdx_header_choose(&p1, r1, &p2, r2), 1);
    CHECK_EQ(vhdx_header_choose(&p2, r2, &p1, r1), 0);
    CHECK_EQ(vhdx_header_choose(NULL, r1, &p1, r1), 1);
    CHECK_EQ(vhdx_header_choose(NULL, r1, NULL, r2), -1);
    CHECK_EQ(vhdx_header_choose(&p1, r1, &p1, r1), 0);  /* identical copies (Disk2VHD) */
    p2.seq = 7;
    CHECK_EQ(vhdx_header_choose(&p1, r1, &p2, r2), -1); /* same sequence, different content */
    r2[100] ^= 1;                                        /* checksum catches a flipped bit */
    CHECK(vhdx_header_parse(r2, &p2) < 0);
    r2[100] ^= 1;
    r2[0] = 'x';
    CHECK(vhdx_header_parse(r2, &p2) < 0);
    h.version = 2;
    vhdx_header_build(&h, r2);
    CHECK(vhdx_header_parse(r2, &p2) < 0);
}

TEST(vhdx_region_table_parse)
{
    uint8_t *t = malloc(VHDX_REGION_SIZE);
    struct vhdx_regions r = { .bat_offset = 3 << 20, .bat_length = 1 << 20,
                              .meta_offset = 2 << 20, .meta_length = 1 << 20 }, p;
    char why[160];
    vhdx_region_build(&r, t);
    CHECK_EQ(vhdx_region_parse(t, &p, why, sizeof(why)), 0);
    CHECK_EQ(p.bat_offset, 3 << 20);
    CHECK_EQ(p.meta_length, 1 << 20);
    /* overlap */
    r.meta_offset = 3 << 20;
    vhdx_region_build(&r, t);
    CHECK_EQ(vhdx_region_parse(t, &p, why, sizeof(why)), -EINVAL);
    /* misaligned */
    r.meta_offset = (2 << 20) + 4096;
    vhdx_region_build(&r, t);
    CHECK_EQ(vhdx_region_parse(t, &p, why, sizeof(why)), -EINVAL);
    /* unknown required region: refused with ENOTSUP; optional one: ignored */
    r.meta_offset = 2 << 20;
    vhdx_region_build(&r, t);
    vhdx_put32(t + 8, 3);
    memset(t + 16 + 64, 0x5A, 16);
    vhdx_put64(t + 16 + 64 + 16, 9 << 20);
    vhdx_put32(t + 16 + 64 + 24, 1 << 20);
    vhdx_put32(t + 16 + 64 + 28, 1);
    memset(t + 4, 0, 4);
    vhdx_put32(t + 4, crc32c(0, t, VHDX_REGION_SIZE));
    CHECK_EQ(vhdx_region_parse(t, &p, why, sizeof(why)), -ENOTSUP);
    vhdx_put32(t + 16 + 64 + 28, 0);
    memset(t + 4, 0, 4);
    vhdx_put32(t + 4, crc32c(0, t, VHDX_REGION_SIZE));
    CHECK_EQ(vhdx_region_parse(t, &p, why, sizeof(why)), 0);
    /* duplicate entry */
    memcpy(t + 16 + 64, t + 16, 32);
    memset(t + 4, 0, 4);
    vhdx_put32(t + 4, crc32c(0, t, VHDX_REGION_SIZE));
    CHECK_EQ(vhdx_region_parse(t, &p, why, sizeof(why)), -EINVAL);
    /* bad checksum */
    t[5000] ^= 1;
    CHECK_EQ(vhdx_region_parse(t, &p, why, sizeof(why)), -EINVAL);
    free(t);
}

TEST(vhdx_bat_geometry_and_entries)
{
    struct vhdx_geom g;
    CHECK_EQ(vhdx_geom_init(&g, 1ull << 30, 32u << 20, 512), 0);
    CHECK_EQ(g.chunk_ratio, 128);
    CHECK_EQ(g.payload_blocks, 32);
    CHECK_EQ(g.sb_blocks, 1);
    CHECK_EQ(vhdx_geom_init(&g, 64ull << 40, 256u << 20, 4096), 0);
    CHECK_EQ(g.chunk_ratio, 128);
    CHECK_EQ(vhdx_geom_init(&g, 10ull << 30, 1u << 20, 4096), 0);
    CHECK_EQ(g.chunk_ratio, 32768);
    CHECK_EQ(vhdx_geom_init(&g, 5ull << 30, 1u << 20, 512), 0);
    CHECK_EQ(g.chunk_ratio, 4096);
    CHECK_EQ(vhdx_bat_payload_index(&g, 4095), 4095);
    CHECK_EQ(vhdx_bat_payload_index(&g, 4096), 4097);   /* skips chunk 0's bitmap entry */
    CHECK_EQ(vhdx_bat_sb_index(&g, 0), 4096);
    CHECK_EQ(vhdx_bat_sb_index(&g, 1), 8193);
    CHECK_EQ(vhdx_bat_min_bytes(&g, false), (5120 + 1) * 8);
    /* bad parameters */
    CHECK(vhdx_geom_init(&g, (64ull << 40) + 512, 1u << 20, 512) < 0);
    CHECK(vhdx_geom_init(&g, 1ull << 30, 3u << 20, 512) < 0);
    CHECK(vhdx_geom_init(&g, 1ull << 30, 512u << 20, 512) < 0);
    CHECK(vhdx_geom_init(&g, 1ull << 30, 1u << 20, 1024) < 0);
    CHECK(vhdx_geom_init(&g, 1000, 1u << 20, 512) < 0);
    CHECK(vhdx_geom_init(&g, 0, 1u << 20, 512) < 0);
    /* entries */
    uint64_t e = vhdx_bat_make(VHDX_PAYLOAD_FULLY_PRESENT, 5ull << 20);
    CHECK_EQ(e, (5ull << 20) | 6);
    CHECK_EQ(vhdx_bat_state(e), 6);
    CHECK_EQ(vhdx_bat_offset(e), 5ull << 20);
    CHECK_EQ(vhdx_bat_offset(vhdx_bat_make(VHDX_PAYLOAD_ZERO, (5ull << 20) + 4096)), 5ull << 20);
    CHECK_EQ(vhdx_bat_offset(0xFFFFFFFFFFFFFFFFull), 0xFFFFFFFFFFF00000ull);
}

#include "disk/vhdx_internal.h"

TEST(vhdx_relative_parent_paths)
{
    char out[256];
    CHECK_EQ(vhdx_relative_path("/a/b/child.vhdx", "/a/b/parent.vhdx", out, sizeof(out)), 0);
    CHECK_STR(out, ".\\parent.vhdx");
    CHECK_EQ(vhdx_relative_path("/a/b/c/child.vhdx", "/a/parent.vhdx", out, sizeof(out)), 0);
    CHECK_STR(out, "..\\..\\parent.vhdx");
    CHECK_EQ(vhdx_relative_path("/a/b/child.vhdx", "/a/x/y/parent.vhdx", out, sizeof(out)), 0);
    CHECK_STR(out, "..\\x\\y\\parent.vhdx");
    CHECK_EQ(vhdx_relative_path("/a/bc/child.vhdx", "/a/b/parent.vhdx", out, sizeof(out)), 0);
    CHECK_STR(out, "..\\b\\parent.vhdx");
    CHECK(vhdx_relative_path("/a/child.vhdx", "/a/a-very-long-name.vhdx", out, 8) < 0);
}

TEST(vhdx_utf16_conversions)
{
    uint8_t u[64];
    size_t n = vhdx_utf8_to_utf16("a\xC3\xA9\xF0\x9F\x98\x80", u, sizeof(u)); /* a, e-acute, emoji */
    CHECK_EQ(n, 8);
    CHECK_EQ(vhdx_le16(u + 4), 0xD83D);
    char *back = vhdx_utf16_to_utf8(u, n);
    CHECK_STR(back, "a\xC3\xA9\xF0\x9F\x98\x80");
    free(back);
    vhdx_put16(u, 0xDC00); /* unpaired low surrogate */
    vhdx_put16(u + 2, 'x');
    back = vhdx_utf16_to_utf8(u, 4);
    CHECK_STR(back, "?x");
    free(back);
}
