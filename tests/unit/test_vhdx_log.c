/* VHDX log: entry building, validation, the active-sequence search and replay,
 * over an in-memory ring. */
#include <errno.h>
#include <stdlib.h>

#include "disk/vhdx_crc32c.h"
#include "disk/vhdx_internal.h"
#include "test.h"

#define RING (64 * 4096u)

struct captured {
    uint64_t off[64], len[64];
    uint8_t first[64];
    int n;
};

static int capture(void *ctx, uint64_t off, const uint8_t *page, uint64_t len)
{
    struct captured *c = ctx;
    if (c->n < 64) {
        c->off[c->n] = off;
        c->len[c->n] = len;
        c->first[c->n] = page ? page[4095] : 0xEE;
        c->n++;
    }
    return 0;
}

static uint32_t put_entry(uint8_t *ring, uint32_t pos, uint64_t seq, uint32_t tail,
                          const struct vhdx_guid *g, uint8_t fill, uint32_t npages)
{
    uint8_t pages[4][4096];
    struct vhdx_log_page lp[4];
    for (uint32_t i = 0; i < npages; i++) {
        memset(pages[i], fill + i, 4096);
        lp[i].off = (3ull << 20) + 4096 * i;
        lp[i].data = pages[i];
    }
    uint32_t len = vhdx_log_entry_len(npages);
    uint8_t *buf = malloc(len);
    vhdx_log_entry_build(buf, lp, npages, seq, tail, g, 8 << 20, 9 << 20);
    /* copy with wrap-around, as a ring */
    for (uint32_t i = 0; i < len; i++)
        ring[(pos + i) % RING] = buf[i];
    free(buf);
    return len;
}

TEST(vhdx_log_entry_sizes)
{
    CHECK_EQ(vhdx_log_desc_sectors(0), 1);
    CHECK_EQ(vhdx_log_desc_sectors(126), 1);
    CHECK_EQ(vhdx_log_desc_sectors(127), 2);
    CHECK_EQ(vhdx_log_desc_sectors(254), 2);
    CHECK_EQ(vhdx_log_desc_sectors(255), 3);
    CHECK_EQ(vhdx_log_entry_len(1), 8192);
}

TEST(vhdx_log_build_check_replay)
{
    uint8_t *ring = calloc(1, RING);
    struct vhdx_guid g, other;
    struct vhdx_log_entry_info e;
    struct vhdx_log_seq s;
    struct captured c = { 0 };
    vhdx_guid_random(&g);
    vhdx_guid_random(&other);
    uint32_t len = put_entry(ring, 0, 5, 0, &g, 0x10, 3);
    CHECK_EQ(len, 4 * 4096);
    CHECK_EQ(vhdx_log_entry_check(ring, RING, 0, &g, &e), 0);
    CHECK_EQ(e.seq, 5);
    CHECK_EQ(e.desc_count, 3);
    CHECK_EQ(e.flushed_file_offset, 8 << 20);
    CHECK_EQ(e.last_file_offset, 9 << 20);
    CHECK(vhdx_log_entry_check(ring, RING, 0, &other, &e) < 0); /* another session's GUID */
    CHECK_EQ(vhdx_log_find(ring, RING, &g, &s), 1);
    CHECK_EQ(s.head.seq, 5);
    CHECK_EQ(vhdx_log_replay(ring, RING, &s, capture, &c), 0);
    CHECK_EQ(c.n, 3);
    CHECK_EQ(c.off[0], 3 << 20);
    CHECK_EQ(c.off[2], (3 << 20) + 8192);
    CHECK_EQ(c.first[1], 0x11); /* trailing bytes restored from the descriptor */
    CHECK_EQ(vhdx_log_find(ring, RING, &other, &s), 0);
    free(ring);
}

TEST(vhdx_log_torn_entry_ignored)
{
    uint8_t *ring = calloc(1, RING);
    struct vhdx_guid g;
    struct vhdx_log_seq s;
    struct captured c = { 0 };
    vhdx_guid_random(&g);
    uint32_t l1 = put_entry(ring, 0, 1, 0, &g, 0x20, 2);
    uint32_t l2 = put_entry(ring, l1, 2, l1, &g, 0x30, 2);
    CHECK_EQ(vhdx_log_find(ring, RING, &g, &s), 1);
    CHECK_EQ(s.head.seq, 2);
    /* tear the newest entry: its last data sector never made it */
    memset(ring + l1 + l2 - 4096, 0, 4096);
    CHECK_EQ(vhdx_log_find(ring, RING, &g, &s), 1);
    CHECK_EQ(s.head.seq, 1);
    CHECK_EQ(s.tail_pos, 0);
    CHECK_EQ(vhdx_log_replay(ring, RING, &s, capture, &c), 0);
    CHECK_EQ(c.n, 2);
    CHECK_EQ(c.first[0], 0x20);
    /* a flipped bit in a data sector (sequence fields intact) fails the CRC */
    put_entry(ring, l1, 2, l1, &g, 0x30, 2);
    ring[l1 + 4096 + 100] ^= 4;
    CHECK_EQ(vhdx_log_find(ring, RING, &g, &s), 1);
    CHECK_EQ(s.head.seq, 1);
    /* a data sector from another entry (split sequence number mismatch) */
    put_entry(ring, l1, 2, l1, &g, 0x30, 2);
    vhdx_put32(ring + l1 + 2 * 4096 + 4092, 77);
    CHECK_EQ(vhdx_log_find(ring, RING, &g, &s), 1);
    CHECK_EQ(s.head.seq, 1);
    /* only a torn entry: nothing valid */
    memset(ring, 0, RING);
    put_entry(ring, 0, 1, 0, &g, 0x20, 2);
    ring[9000] ^= 1;
    CHECK_EQ(vhdx_log_find(ring, RING, &g, &s), 0);
    free(ring);
}

TEST(vhdx_log_sequence_tail_and_wrap)
{
    uint8_t *ring = calloc(1, RING);
    struct vhdx_guid g;
    struct vhdx_log_seq s;
    struct captured c = { 0 };
    vhdx_guid_random(&g);
    /* entries 7 and 8 form one sequence (8's tail is 7): both replayed, in order;
     * 8 wraps around the end of the ring */
    uint32_t p7 = RING - 3 * 4096;
    uint32_t l7 = put_entry(ring, p7, 7, p7, &g, 0x40, 1);
    uint32_t p8 = (p7 + l7) % RING;
    put_entry(ring, p8, 8, p7, &g, 0x50, 2);
    /* a stale older entry elsewhere with a lower sequence number */
    put_entry(ring, 10 * 4096, 3, 10 * 4096, &g, 0x60, 1);
    CHECK_EQ(vhdx_log_find(ring, RING, &g, &s), 1);
    CHECK_EQ(s.head.seq, 8);
    CHECK_EQ(s.tail_pos, p7);
    CHECK_EQ(s.count, 2);
    CHECK_EQ(vhdx_log_replay(ring, RING, &s, capture, &c), 0);
    CHECK_EQ(c.n, 3);
    CHECK_EQ(c.first[0], 0x40);
    CHECK_EQ(c.first[1], 0x50);
    CHECK_EQ(c.first[2], 0x51);
    /* a head whose tail lies outside its sequence is not valid on its own */
    memset(ring, 0, RING);
    put_entry(ring, 0, 9, 20 * 4096, &g, 0x70, 1);
    CHECK_EQ(vhdx_log_find(ring, RING, &g, &s), 0);
    free(ring);
}

TEST(vhdx_log_zero_descriptor)
{
    uint8_t *ring = calloc(1, RING);
    struct vhdx_guid g;
    struct vhdx_log_seq s;
    struct captured c = { 0 };
    uint8_t page[4096];
    memset(page, 0xAB, sizeof(page));
    struct vhdx_log_page lp[2] = { { 5 << 20, NULL }, { 6 << 20, page } };
    vhdx_guid_random(&g);
    vhdx_log_entry_build(ring, lp, 2, 1, 0, &g, 0, 0);
    CHECK_EQ(vhdx_le32(ring + 8), 8192); /* zero descriptors take no data sector */
    CHECK_EQ(vhdx_log_find(ring, RING, &g, &s), 1);
    CHECK_EQ(vhdx_log_replay(ring, RING, &s, capture, &c), 0);
    CHECK_EQ(c.n, 2);
    CHECK_EQ(c.first[0], 0xEE);
    CHECK_EQ(c.len[0], 4096);
    CHECK_EQ(c.first[1], 0xAB);
    free(ring);
}
