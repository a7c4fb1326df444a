#include "test.h"
#include "core/guest_mem.h"

TEST(gmem_accepts_ranges_inside_one_region_only)
{
    static uint8_t low[8192], high[4096];
    struct guest_mem m = { 0 };
    CHECK_EQ(gmem_add_region(&m, 0, sizeof(low), low), 0);
    CHECK_EQ(gmem_add_region(&m, 0x100000, sizeof(high), high), 0);
    CHECK(gmem_add_region(&m, 0x1000, 0x1000, high) < 0); /* overlaps */
    CHECK(gmem_ptr(&m, 0, 8192) == low);
    CHECK(gmem_ptr(&m, 8191, 1) == low + 8191);
    CHECK(gmem_ptr(&m, 8191, 2) == NULL);
    CHECK(gmem_ptr(&m, 0x100000, 4096) == high);
    CHECK(gmem_ptr(&m, 0x100000 - 1, 2) == NULL);
    CHECK(gmem_ptr(&m, UINT64_MAX, 2) == NULL);
    CHECK(gmem_ptr(&m, 0x100000, UINT64_MAX) == NULL);
    CHECK(gmem_ptr(&m, 0x200000, 1) == NULL);
    CHECK_EQ(gmem_total(&m), 12288);
}

TEST(gmem_copy_fails_without_partial_copy)
{
    static uint8_t ram[4096];
    struct guest_mem m = { 0 };
    uint8_t buf[16] = { 1, 2, 3 };
    gmem_add_region(&m, 0x1000, sizeof(ram), ram);
    CHECK_EQ(gmem_write(&m, 0x1000 + 4090, buf, 16), -1);
    CHECK_EQ(ram[4090], 0);
    CHECK_EQ(gmem_write(&m, 0x1000, buf, 3), 0);
    memset(buf, 0, sizeof(buf));
    CHECK_EQ(gmem_read(&m, 0x1000, buf, 3), 0);
    CHECK_EQ(buf[2], 3);
}
