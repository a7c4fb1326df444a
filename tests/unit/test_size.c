#include "test.h"
#include "core/size.h"

TEST(size_parses_suffixes)
{
    uint64_t v = 0;
    CHECK_EQ(size_parse("4096", &v), 0);
    CHECK_EQ(v, 4096);
    CHECK_EQ(size_parse("512M", &v), 0);
    CHECK_EQ(v, 512ull << 20);
    CHECK_EQ(size_parse("2G", &v), 0);
    CHECK_EQ(v, 2ull << 30);
    CHECK_EQ(size_parse("2GiB", &v), 0);
    CHECK_EQ(v, 2ull << 30);
    CHECK_EQ(size_parse("64t", &v), 0);
    CHECK_EQ(v, 64ull << 40);
    CHECK_EQ(size_parse("1.5G", &v), 0);
    CHECK_EQ(v, 3ull << 29);
    CHECK_EQ(size_parse("0", &v), 0);
    CHECK_EQ(v, 0);
}

TEST(size_rejects_junk)
{
    uint64_t v = 77;
    CHECK(size_parse("", &v) < 0);
    CHECK(size_parse("M", &v) < 0);
    CHECK(size_parse("-1G", &v) < 0);
    CHECK(size_parse("12Q", &v) < 0);
    CHECK(size_parse("1G junk", &v) < 0);
    CHECK(size_parse("99999999999999999999", &v) < 0);
    CHECK(size_parse("9000000P", &v) < 0);
    CHECK(size_parse("1.5", &v) < 0);
    CHECK_EQ(v, 77);
}

TEST(size_formats_largest_exact_unit)
{
    char buf[32];
    size_format(2ull << 30, buf, sizeof(buf));
    CHECK_STR(buf, "2 GiB");
    size_format(4097, buf, sizeof(buf));
    CHECK_STR(buf, "4097 B");
    size_format(0, buf, sizeof(buf));
    CHECK_STR(buf, "0 B");
}
