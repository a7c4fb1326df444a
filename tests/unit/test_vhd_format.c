#include "test.h"
#include "disk/utf16.h"
#include "disk/vhd_format.h"

#include <string.h>

TEST(vhd_checksum_is_complement_of_byte_sum)
{
    uint8_t b[512];
    memset(b, 0, sizeof(b));
    CHECK_EQ(vhd_checksum(b, sizeof(b), 64), 0xFFFFFFFFu);
    for (int i = 0; i < 10; i++)
        b[i] = 1;
    b[64] = 0xAB; /* the checksum field itself does not count */
    CHECK_EQ(vhd_checksum(b, sizeof(b), 64), 0xFFFFFFF5u);
}

TEST(vhd_footer_roundtrip_and_validation)
{
    struct vhd_footer f, g;
    uint8_t b[512];
    memset(&f, 0, sizeof(f));
    memcpy(f.cookie, "conectix", 8);
    f.features = 2;
    f.version = 0x00010000;
    f.data_offset = 512;
    memcpy(f.creator_app, "win ", 4);
    f.original_size = f.current_size = 10u << 20;
    vhd_chs(f.current_size, &f.cylinders, &f.heads, &f.sectors_per_track);
    f.disk_type = VHD_TYPE_DYNAMIC;
    f.uuid[0] = 0x42;
    vhd_footer_encode(&f, b);
    CHECK(vhd_footer_valid(b));
    /* big-endian on disk */
    CHECK_EQ(b[60 + 3], 3);
    CHECK_EQ(b[48 + 5], 0xA0);
    vhd_footer_decode(b, &g);
    CHECK_EQ(g.current_size, 10u << 20);
    CHECK_EQ(g.cylinders, 301);
    CHECK_EQ(g.checksum, f.checksum);
    b[100] ^= 1;
    CHECK(!vhd_footer_valid(b));
    b[100] ^= 1;
    b[0] = 'C';
    CHECK(!vhd_footer_valid(b));
}

static uint64_t chs_bytes(uint64_t size, unsigned *c, unsigned *h, unsigned *s)
{
    uint16_t cc;
    uint8_t hh, ss;
    vhd_chs(size, &cc, &hh, &ss);
    *c = cc;
    *h = hh;
    *s = ss;
    return (uint64_t)cc * hh * ss * 512;
}

TEST(vhd_chs_geometry_matches_spec_table)
{
    /* values from the spec's algorithm (also qemu's and VirtualBox's) */
    static const struct {
        uint64_t size;
        unsigned c, h, s;
        uint64_t bytes;
    } cases[] = {
        { 10ull << 20, 301, 4, 17, 10479616 },
        { 100ull << 20, 1003, 12, 17, 104761344 },
        { 1ull << 30, 2080, 16, 63, 1073479680 },
        { 4ull << 30, 8322, 16, 63, 4294950912 },
        { 10ull << 30, 20805, 16, 63, 10737377280 },
        { 32ull << 30, 16448, 16, 255, 34359214080 },
        { 127ull << 30, 65278, 16, 255, 136363130880 },
        { 130ull << 30, 65535, 16, 255, 136899993600 },
        { 2040ull << 30, 65535, 16, 255, 136899993600 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned c, h, s;
        uint64_t bytes = chs_bytes(cases[i].size, &c, &h, &s);
        CHECK_EQ(c, cases[i].c);
        CHECK_EQ(h, cases[i].h);
        CHECK_EQ(s, cases[i].s);
        CHECK_EQ(bytes, cases[i].bytes);
        CHECK(bytes <= cases[i].size);
    }
    /* the 31.5 GiB boundary switches to 255 sectors per track */
    unsigned c, h, s;
    chs_bytes(65535ull * 16 * 63 * 512, &c, &h, &s);
    CHECK_EQ(s, 255);
    chs_bytes(65535ull * 16 * 63 * 512 - 512, &c, &h, &s);
    CHECK_EQ(s, 63);
}

TEST(vhd_bitmap_sizes)
{
    CHECK_EQ(vhd_bitmap_bytes(2u << 20), 512);
    CHECK_EQ(vhd_bitmap_bytes(512), 512);
    CHECK_EQ(vhd_bitmap_bytes(16u << 20), 4096);
}

TEST(vhd_locator_space_sectors_or_bytes)
{
    struct vhd_locator l = { VHD_PLAT_W2RU, 2, 10, 4096 };
    CHECK_EQ(vhd_locator_space(&l), 1024);
    l.data_space = 1024;
    CHECK_EQ(vhd_locator_space(&l), 1024);
}

TEST(utf16_roundtrip_both_byte_orders)
{
    uint8_t buf[64];
    char out[64];
    long n = utf8_to_utf16("a\xc3\xa9\xf0\x9f\x98\x80", buf, sizeof(buf), true);
    CHECK_EQ(n, 8); /* a, e-acute, one surrogate pair */
    CHECK_EQ(buf[0], 0);
    CHECK_EQ(buf[1], 'a');
    CHECK_EQ(utf16_to_utf8(buf, (size_t)n, true, out, sizeof(out)), 0);
    CHECK_STR(out, "a\xc3\xa9\xf0\x9f\x98\x80");
    n = utf8_to_utf16("\\x", buf, sizeof(buf), false);
    CHECK_EQ(n, 4);
    CHECK_EQ(buf[0], '\\');
    CHECK_EQ(buf[1], 0);
    CHECK(utf8_to_utf16("toolong", buf, 4, false) < 0);
    CHECK(utf8_to_utf16("\xff", buf, sizeof(buf), false) < 0);
    /* an unpaired surrogate decodes to U+FFFD */
    uint8_t lone[2] = { 0x00, 0xD8 };
    CHECK_EQ(utf16_to_utf8(lone, 2, false, out, sizeof(out)), 0);
    CHECK_STR(out, "\xef\xbf\xbd");
}
