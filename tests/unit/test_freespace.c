/* freespace: the gaps between used ranges, first-fit takes, and released space that
 * only becomes free once committed. */
#include "disk/freespace.h"
#include "test.h"

#define M (1ull << 20)

TEST(freespace_gaps_between_used_ranges)
{
    struct freespace fs = { 0 };
    /* unsorted and overlapping: [0,1M) [4M,6M) [5M,7M) [10M,12M), end 14M */
    struct freespace_range used[] = { { 10 * M, 2 * M }, { 0, M }, { 5 * M, 2 * M }, { 4 * M, 2 * M } };
    CHECK_EQ(freespace_rebuild(&fs, used, 4, 14 * M, M), 0);
    CHECK_EQ(fs.nfree, 3u);
    CHECK_EQ(fs.free[0].off, 1 * M);
    CHECK_EQ(fs.free[0].len, 3 * M);
    CHECK_EQ(fs.free[1].off, 7 * M);
    CHECK_EQ(fs.free[1].len, 3 * M);
    CHECK_EQ(fs.free[2].off, 12 * M);
    CHECK_EQ(fs.free[2].len, 2 * M);
    CHECK_EQ(freespace_total(&fs), 8 * M);
    freespace_destroy(&fs);
}

TEST(freespace_take_is_lowest_fit_aligned_and_below_limit)
{
    struct freespace fs = { 0 };
    struct freespace_range used[] = { { 0, M }, { 2 * M, 2 * M }, { 8 * M, M } };
    CHECK_EQ(freespace_rebuild(&fs, used, 3, 9 * M, M), 0); /* gaps [1M,2M) [4M,8M) */
    uint64_t off = 0;
    CHECK(freespace_take(&fs, 2 * M, M, 0, 100 * M, &off));
    CHECK_EQ(off, 4 * M);                                   /* the 1 MiB gap is too small */
    CHECK(freespace_take(&fs, M, M, 0, 100 * M, &off));
    CHECK_EQ(off, 1 * M);
    CHECK(!freespace_take(&fs, 2 * M, M, 0, 7 * M, &off));     /* [6M,8M) ends past the limit */
    CHECK(freespace_take(&fs, 2 * M, 2 * M, 0, 100 * M, &off));
    CHECK_EQ(off, 6 * M);
    CHECK(!freespace_take(&fs, M, M, 0, 100 * M, &off));       /* all gone */
    CHECK_EQ(freespace_untake(&fs, 6 * M, 2 * M), 0);
    CHECK_EQ(freespace_total(&fs), 2 * M);
    freespace_destroy(&fs);
}

TEST(freespace_take_splits_a_gap_by_alignment)
{
    struct freespace fs = { 0 };
    struct freespace_range used[] = { { 0, M }, { 9 * M, M } };
    CHECK_EQ(freespace_rebuild(&fs, used, 2, 10 * M, M), 0); /* gap [1M,9M) */
    uint64_t off = 0;
    CHECK(freespace_take(&fs, 4 * M, 4 * M, 0, 100 * M, &off));
    CHECK_EQ(off, 4 * M);
    CHECK_EQ(fs.nfree, 2u);                                  /* [1M,4M) and [8M,9M) */
    CHECK_EQ(fs.free[0].len, 3 * M);
    CHECK_EQ(fs.free[1].off, 8 * M);
    CHECK_EQ(freespace_untake(&fs, 4 * M, 4 * M), 0);        /* merges back into one */
    CHECK_EQ(fs.nfree, 1u);
    CHECK_EQ(fs.free[0].len, 8 * M);
    freespace_destroy(&fs);
}

TEST(freespace_released_space_is_free_only_after_commit)
{
    struct freespace fs = { 0 };
    struct freespace_range used[] = { { 0, 4 * M } };
    CHECK_EQ(freespace_rebuild(&fs, used, 1, 4 * M, M), 0);
    uint64_t off = 0;
    CHECK_EQ(freespace_release(&fs, 2 * M, M), 0);
    CHECK(!freespace_take(&fs, M, M, 0, 100 * M, &off));        /* not durable yet */
    CHECK_EQ(freespace_commit(&fs), 0);
    CHECK(freespace_take(&fs, M, M, 0, 100 * M, &off));
    CHECK_EQ(off, 2 * M);
    freespace_destroy(&fs);
}

TEST(freespace_take_honours_the_skew)
{
    struct freespace fs = { 0 };
    struct freespace_range used[] = { { 0, 4096 } };
    CHECK_EQ(freespace_rebuild(&fs, used, 1, 64 * 1024, 512), 0); /* gap [4K,64K) */
    uint64_t off = 0;
    /* 512 bytes of bitmap, then 8 KiB of data on a 4 KiB boundary */
    CHECK(freespace_take(&fs, 512 + 8192, 4096, 512, 100 * M, &off));
    CHECK_EQ(off, 8192 - 512);
    CHECK_EQ((off + 512) % 4096, 0);
    freespace_destroy(&fs);
}

TEST(freespace_truncate_drops_space_past_the_end)
{
    struct freespace fs = { 0 };
    struct freespace_range used[] = { { 0, M }, { 3 * M, M } };
    CHECK_EQ(freespace_rebuild(&fs, used, 2, 8 * M, M), 0); /* [1M,3M) [4M,8M) */
    freespace_truncate(&fs, 5 * M);
    CHECK_EQ(fs.nfree, 2u);
    CHECK_EQ(fs.free[1].len, M);
    freespace_truncate(&fs, 2 * M);
    CHECK_EQ(fs.nfree, 1u);
    CHECK_EQ(fs.free[0].len, M);
    freespace_destroy(&fs);
}
