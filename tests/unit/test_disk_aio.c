/* The asynchronous disk engine (disk_aio.h) on raw, dynamic VHD and dynamic VHDX:
 * random reads/writes/flushes/discards at queue depth up to 32 checked against an
 * in-memory model, with allocated blocks (io_uring fast path) and unallocated ones
 * (worker fallback), flush ordering, and the image read back through the sync API. */
#include "disk/disk.h"
#include "disk/disk_aio.h"
#include "test.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE 4096u
#define DISK_SIZE (16u << 20)
#define NPAGES (DISK_SIZE / PAGE)
#define MAXQD 32

struct op {
    struct model *m;
    enum disk_aio_op kind;
    uint64_t off, len;
    uint8_t *buf;
    uint64_t id;            /* writes: sequence number; flushes: last write before it */
    bool used;
};

struct model {
    uint8_t *data;
    bool busy[NPAGES];
    bool unknown[NPAGES];   /* discarded: zeroes or old data, both allowed */
    struct op ops[MAXQD];
    int inflight;
    uint64_t next_write_id;
    bool write_open[1 << 16]; /* by write id (test sizes stay far below) */
    uint64_t oldest_open;
    int errors, flushes_checked;
};

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void mark(struct model *m, uint64_t off, uint64_t len, bool busy)
{
    for (uint64_t p = off / PAGE; p < (off + len) / PAGE; p++)
        m->busy[p] = busy;
}

static bool is_busy(const struct model *m, uint64_t off, uint64_t len)
{
    for (uint64_t p = off / PAGE; p < (off + len) / PAGE; p++)
        if (m->busy[p])
            return true;
    return false;
}

static void on_done(void *cookie, int result)
{
    struct op *o = cookie;
    struct model *m = o->m;
    if (result != 0) {
        test_fail(__FILE__, __LINE__, "op %d at %llu+%llu failed: %d", o->kind,
                  (unsigned long long)o->off, (unsigned long long)o->len, result);
        m->errors++;
    }
    if (o->kind == DISK_AIO_READ) {
        for (uint64_t p = 0; p < o->len / PAGE; p++) {
            uint64_t pg = o->off / PAGE + p;
            if (m->unknown[pg])
                continue;
            if (memcmp(o->buf + p * PAGE, m->data + pg * PAGE, PAGE)) {
                if (m->errors++ < 5)
                    test_fail(__FILE__, __LINE__, "read of page %llu differs from the model",
                              (unsigned long long)pg);
            }
        }
    } else if (o->kind == DISK_AIO_WRITE) {
        m->write_open[o->id] = false;
        while (m->oldest_open < m->next_write_id && !m->write_open[m->oldest_open])
            m->oldest_open++;
    } else if (o->kind == DISK_AIO_FLUSH) {
        /* every write submitted before the flush has completed */
        if (m->oldest_open < o->id) {
            test_fail(__FILE__, __LINE__, "flush completed before write %llu",
                      (unsigned long long)m->oldest_open);
            m->errors++;
        }
        m->flushes_checked++;
    }
    if (o->kind != DISK_AIO_FLUSH)
        mark(m, o->off, o->len, false);
    free(o->buf);
    o->used = false;
    m->inflight--;
}

static struct op *free_op(struct model *m)
{
    for (int i = 0; i < MAXQD; i++)
        if (!m->ops[i].used)
            return &m->ops[i];
    return NULL;
}

/* Submits one random request that overlaps nothing in flight; false if none fits. */
static bool submit_random(struct disk_aio *a, struct model *m, uint64_t *seed)
{
    struct op *o = free_op(m);
    if (!o)
        return false;
    unsigned pick = (unsigned)(rnd(seed) % 100);
    /* half of the writes done by the submitter itself (may_block) */
    struct disk_aio_req r = { .cb = on_done, .cookie = o, .may_block = rnd(seed) & 1 };
    struct iovec iov[3];
    memset(o, 0, sizeof(*o));
    o->m = m;
    if (pick < 4) {
        o->kind = r.op = DISK_AIO_FLUSH;
        o->id = m->next_write_id;
    } else {
        uint64_t pages = 1 + rnd(seed) % 16;
        if (pick < 7)
            pages = (1 + rnd(seed) % 2) * (1u << 20) / PAGE; /* whole blocks now and then */
        uint64_t off = (rnd(seed) % (NPAGES - pages + 1)) * PAGE;
        if (pick < 7)
            off = off / (1u << 20) * (1u << 20);
        uint64_t len = pages * PAGE;
        if (is_busy(m, off, len))
            return false;
        o->off = r.offset = off;
        o->len = len;
        if (pick < 7) {
            o->kind = r.op = DISK_AIO_DISCARD;
            r.length = len;
        } else {
            o->kind = r.op = pick < 55 ? DISK_AIO_READ : DISK_AIO_WRITE;
            o->buf = malloc(len);
            CHECK(o->buf != NULL);
            if (o->kind == DISK_AIO_WRITE) {
                for (uint64_t i = 0; i < len; i += 8) {
                    uint64_t v = rnd(seed);
                    memcpy(o->buf + i, &v, 8);
                }
            } else {
                memset(o->buf, 0xEE, len);
            }
            /* scatter-gather: up to 3 pieces of whole sectors */
            int n = 1 + (int)(rnd(seed) % 3);
            if ((uint64_t)n > len / 512)
                n = 1;
            uint64_t cut1 = n > 1 ? (1 + rnd(seed) % (len / 512 - 1)) * 512 : len;
            uint64_t cut2 = n > 2 && cut1 + 512 < len ? cut1 + (1 + rnd(seed) % ((len - cut1) / 512 - 1)) * 512 : len;
            if (cut2 == len && n > 2)
                n = 2;
            if (cut1 == len)
                n = 1;
            iov[0] = (struct iovec){ o->buf, cut1 };
            if (n > 1)
                iov[1] = (struct iovec){ o->buf + cut1, cut2 - cut1 };
            if (n > 2)
                iov[2] = (struct iovec){ o->buf + cut2, len - cut2 };
            r.iov = iov;
            r.iovcnt = n;
        }
        mark(m, off, len, true);
    }
    o->used = true;
    m->inflight++;
    int rc = disk_aio_submit(a, &r);
    CHECK_EQ(rc, 0);
    if (rc) {
        o->used = false;
        m->inflight--;
        if (o->kind != DISK_AIO_FLUSH)
            mark(m, o->off, o->len, false);
        free(o->buf);
        return false;
    }
    /* the model changes at submission: nothing overlapping is in flight */
    if (o->kind == DISK_AIO_WRITE) {
        o->id = m->next_write_id++;
        m->write_open[o->id] = true;
        memcpy(m->data + o->off, o->buf, o->len);
        for (uint64_t p = o->off / PAGE; p < (o->off + o->len) / PAGE; p++)
            m->unknown[p] = false;
    } else if (o->kind == DISK_AIO_DISCARD) {
        for (uint64_t p = o->off / PAGE; p < (o->off + o->len) / PAGE; p++)
            m->unknown[p] = true;
    }
    return true;
}

static void run_mix(const char *name, enum disk_format_id fmt)
{
    char path[512], err[DISK_ERR_LEN];
    snprintf(path, sizeof(path), "%s/%s", test_tmpdir(), name);
    unlink(path);
    struct disk_create_opts o = { .format = fmt, .type = DISK_TYPE_DYNAMIC, .size = DISK_SIZE,
                                  .block_size = fmt == DISK_FORMAT_VHDX ? 1u << 20 : 0 };
    if (fmt == DISK_FORMAT_VHD)
        o.block_size = 1u << 20;
    CHECK_EQ(disk_create(path, &o, err), 0);

    struct model *m = calloc(1, sizeof(*m));
    m->data = calloc(1, DISK_SIZE);
    uint64_t seed = 0x9E3779B97F4A7C15ull ^ (uint64_t)fmt;

    /* half of the blocks written through the sync API first (fast path later) */
    struct disk *d;
    CHECK_EQ(disk_open(path, fmt, 0, &d, err), 0);
    uint8_t *blk = malloc(1u << 20);
    for (uint64_t b = 0; b < DISK_SIZE >> 20; b += 2) {
        for (size_t i = 0; i < (1u << 20); i++)
            blk[i] = (uint8_t)rnd(&seed);
        CHECK_EQ(disk_write(d, b << 20, blk, 1u << 20), 0);
        memcpy(m->data + (b << 20), blk, 1u << 20);
    }
    free(blk);
    CHECK_EQ(disk_flush(d), 0);
    disk_close(d);

    /* reopened: nothing cached, the first writes of the session take the sync path */
    CHECK_EQ(disk_open(path, fmt, 0, &d, err), 0);
    struct disk_aio *a;
    CHECK_EQ(disk_aio_create(d, 32, &a), 0);
    int submitted = 0;
    while (submitted < 3000 && !m->errors) {
        int qd = 1 + (int)(rnd(&seed) % MAXQD);
        for (int tries = 0; m->inflight < qd && tries < 64; tries++)
            if (submit_random(a, m, &seed))
                submitted++;
        CHECK(disk_aio_wait(a) >= 0);
    }
    while (disk_aio_inflight(a))
        disk_aio_wait(a);
    CHECK_EQ(m->inflight, 0);
    CHECK(m->flushes_checked > 10);
    struct disk_aio_stats st;
    disk_aio_get_stats(a, &st);
    if (getenv("AIO_TEST_STATS"))
        fprintf(stderr, "%s: fast %llu zero %llu slow %llu\n", name, (unsigned long long)st.fast,
                (unsigned long long)st.zero, (unsigned long long)st.slow);
    CHECK(st.fast > 100);
    if (fmt != DISK_FORMAT_RAW)
        CHECK(st.slow > 50);
    disk_aio_destroy(a);
    disk_close(d);

    /* what is on disk is the model */
    CHECK_EQ(disk_open(path, fmt, DISK_OPEN_RDONLY, &d, err), 0);
    uint8_t *all = malloc(DISK_SIZE);
    CHECK_EQ(disk_read(d, 0, all, DISK_SIZE), 0);
    int bad = 0;
    for (uint64_t p = 0; p < NPAGES; p++)
        if (!m->unknown[p] && memcmp(all + p * PAGE, m->data + p * PAGE, PAGE))
            bad++;
    CHECK_EQ(bad, 0);
    free(all);
    disk_close(d);
    free(m->data);
    free(m);
}

TEST(disk_aio_random_mix_raw) { run_mix("aio.img", DISK_FORMAT_RAW); }
TEST(disk_aio_random_mix_vhd) { run_mix("aio.vhd", DISK_FORMAT_VHD); }
TEST(disk_aio_random_mix_vhdx) { run_mix("aio.vhdx", DISK_FORMAT_VHDX); }

static void count_cb(void *cookie, int result)
{
    int *p = cookie;
    *p = result == 0 ? *p + 1 : -1000;
}

/* A flush right behind a burst of fast-path writes completes after all of them, and
 * the writes are then readable through a second engine-free open. */
TEST(disk_aio_flush_after_writes)
{
    char path[512], err[DISK_ERR_LEN];
    snprintf(path, sizeof(path), "%s/aio-flush.vhdx", test_tmpdir());
    unlink(path);
    struct disk_create_opts o = { .format = DISK_FORMAT_VHDX, .type = DISK_TYPE_DYNAMIC,
                                  .size = 8u << 20, .block_size = 1u << 20 };
    CHECK_EQ(disk_create(path, &o, err), 0);
    struct disk *d;
    CHECK_EQ(disk_open(path, DISK_FORMAT_VHDX, 0, &d, err), 0);
    struct disk_aio *a;
    CHECK_EQ(disk_aio_create(d, 64, &a), 0);
    static uint8_t bufs[32][4096];
    int writes = 0, flushed = 0;
    /* round 1 allocates (worker), round 2 overwrites in place (fast path) */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 32; i++) {
            memset(bufs[i], (uint8_t)(i + 1 + round * 64), sizeof(bufs[i]));
            struct iovec iov = { bufs[i], sizeof(bufs[i]) };
            struct disk_aio_req r = { .op = DISK_AIO_WRITE, .offset = (uint64_t)i * 128 * 1024,
                                      .iov = &iov, .iovcnt = 1, .cb = count_cb, .cookie = &writes };
            CHECK_EQ(disk_aio_submit(a, &r), 0);
        }
        int target = writes + 32;
        struct disk_aio_req f = { .op = DISK_AIO_FLUSH, .cb = count_cb, .cookie = &flushed };
        CHECK_EQ(disk_aio_submit(a, &f), 0);
        int seen_flush_before = 0;
        while (disk_aio_inflight(a)) {
            disk_aio_wait(a);
            if (flushed == round + 1 && writes < target)
                seen_flush_before++;
        }
        CHECK_EQ(seen_flush_before, 0);
        CHECK_EQ(writes, target);
        CHECK_EQ(flushed, round + 1);
    }
    struct disk_aio_stats st;
    disk_aio_get_stats(a, &st);
    CHECK(st.fast >= 32);
    disk_aio_destroy(a);

    struct disk *d2;
    CHECK_EQ(disk_open(path, DISK_FORMAT_VHDX, DISK_OPEN_RDONLY | DISK_OPEN_NO_REPLAY, &d2, err), 0);
    uint8_t b[4096];
    for (int i = 0; i < 32; i++) {
        CHECK_EQ(disk_read(d2, (uint64_t)i * 128 * 1024, b, sizeof(b)), 0);
        CHECK_EQ(b[0], i + 1 + 64);
        CHECK_EQ(b[4095], i + 1 + 64);
    }
    disk_close(d2);
    disk_close(d);
}

/* A may_block write to an allocated range is done by the time disk_aio_submit returns:
 * its callback waits for the next reap (never runs inside submit), and the data is in
 * the file. */
TEST(disk_aio_may_block_write_is_done_at_submit)
{
    char path[512], err[DISK_ERR_LEN];
    snprintf(path, sizeof(path), "%s/aio-here.img", test_tmpdir());
    unlink(path);
    struct disk_create_opts o = { .format = DISK_FORMAT_RAW, .size = 1u << 20 };
    CHECK_EQ(disk_create(path, &o, err), 0);
    struct disk *d;
    CHECK_EQ(disk_open(path, DISK_FORMAT_RAW, 0, &d, err), 0);
    struct disk_aio *a;
    CHECK_EQ(disk_aio_create(d, 8, &a), 0);
    static uint8_t buf[4096];
    memset(buf, 0x5A, sizeof(buf));
    struct iovec iov = { buf, sizeof(buf) };
    int done = 0;
    struct disk_aio_req r = { .op = DISK_AIO_WRITE, .offset = 8192, .iov = &iov, .iovcnt = 1,
                              .cb = count_cb, .cookie = &done, .may_block = true };
    CHECK_EQ(disk_aio_submit(a, &r), 0);
    CHECK_EQ(done, 0);
    uint8_t b[4096];
    CHECK_EQ(pread(d->fd, b, sizeof(b), 8192), (ssize_t)sizeof(b));
    CHECK(!memcmp(b, buf, sizeof(b)));
    CHECK_EQ(disk_aio_reap(a), 1);
    CHECK_EQ(done, 1);
    struct disk_aio_stats st;
    disk_aio_get_stats(a, &st);
    CHECK_EQ(st.fast, 1);
    disk_aio_destroy(a);
    disk_close(d);
}

TEST(disk_aio_rejects_bad_requests)
{
    char path[512], err[DISK_ERR_LEN];
    snprintf(path, sizeof(path), "%s/aio-bad.vhd", test_tmpdir());
    unlink(path);
    struct disk_create_opts o = { .format = DISK_FORMAT_VHD, .type = DISK_TYPE_DYNAMIC,
                                  .size = 4u << 20 };
    CHECK_EQ(disk_create(path, &o, err), 0);
    struct disk *d;
    CHECK_EQ(disk_open(path, DISK_FORMAT_VHD, DISK_OPEN_RDONLY, &d, err), 0);
    struct disk_aio *a;
    CHECK_EQ(disk_aio_create(d, 0, &a), 0);
    static uint8_t buf[8192];
    int n = 0;
    struct iovec iov = { buf, 4096 };
    struct disk_aio_req r = { .op = DISK_AIO_READ, .offset = 100, .iov = &iov, .iovcnt = 1,
                              .cb = count_cb, .cookie = &n };
    CHECK_EQ(disk_aio_submit(a, &r), -EINVAL);              /* unaligned */
    r.offset = d->info.virtual_size;
    CHECK_EQ(disk_aio_submit(a, &r), -EINVAL);              /* past the end */
    r.offset = 0;
    r.iovcnt = 0;
    CHECK_EQ(disk_aio_submit(a, &r), -EINVAL);              /* no buffers */
    r.iovcnt = 1;
    r.op = DISK_AIO_WRITE;
    CHECK_EQ(disk_aio_submit(a, &r), -EROFS);               /* read-only disk */
    r.op = DISK_AIO_READ;
    memset(buf, 0x55, sizeof(buf));
    CHECK_EQ(disk_aio_submit(a, &r), 0);                    /* unallocated: zeroes */
    while (disk_aio_inflight(a))
        disk_aio_wait(a);
    CHECK_EQ(n, 1);
    CHECK_EQ(buf[0], 0);
    CHECK_EQ(buf[4095], 0);
    CHECK_EQ(buf[4096], 0x55);
    disk_aio_destroy(a);
    disk_close(d);
}

/* Differencing VHDX: parent reads and partial-block writes take the worker path, a block
 * the child holds in full takes the fast path; all read back right through the engine. */
TEST(disk_aio_differencing_vhdx)
{
    char base[512], child[512], err[DISK_ERR_LEN];
    snprintf(base, sizeof(base), "%s/aio-base.vhdx", test_tmpdir());
    snprintf(child, sizeof(child), "%s/aio-child.vhdx", test_tmpdir());
    unlink(base);
    unlink(child);
    struct disk_create_opts o = { .format = DISK_FORMAT_VHDX, .type = DISK_TYPE_DYNAMIC,
                                  .size = 4u << 20, .block_size = 1u << 20 };
    CHECK_EQ(disk_create(base, &o, err), 0);
    struct disk *d;
    CHECK_EQ(disk_open(base, DISK_FORMAT_VHDX, 0, &d, err), 0);
    uint8_t *img = malloc(4u << 20), *got = malloc(4u << 20);
    for (size_t i = 0; i < (4u << 20); i++)
        img[i] = (uint8_t)(i * 7 + i / 4096);
    CHECK_EQ(disk_write(d, 0, img, 4u << 20), 0);
    disk_close(d);
    struct disk_create_opts c = { .format = DISK_FORMAT_VHDX, .parent = base };
    CHECK_EQ(disk_create(child, &c, err), 0);
    CHECK_EQ(disk_open(child, DISK_FORMAT_VHDX, 0, &d, err), 0);
    struct disk_aio *a;
    CHECK_EQ(disk_aio_create(d, 8, &a), 0);
    int n = 0;
    /* a partial write into block 1, a whole-block write of block 2 */
    memset(img + (1u << 20) + 8192, 0x11, 4096);
    memset(img + (2u << 20), 0x22, 1u << 20);
    struct iovec w1 = { img + (1u << 20) + 8192, 4096 }, w2 = { img + (2u << 20), 1u << 20 };
    struct disk_aio_req r1 = { .op = DISK_AIO_WRITE, .offset = (1u << 20) + 8192, .iov = &w1,
                               .iovcnt = 1, .cb = count_cb, .cookie = &n };
    struct disk_aio_req r2 = { .op = DISK_AIO_WRITE, .offset = 2u << 20, .iov = &w2,
                               .iovcnt = 1, .cb = count_cb, .cookie = &n };
    CHECK_EQ(disk_aio_submit(a, &r1), 0);
    CHECK_EQ(disk_aio_submit(a, &r2), 0);
    while (disk_aio_inflight(a))
        disk_aio_wait(a);
    /* now block 2 is the child's in full: overwrite a piece of it (fast path) */
    memset(img + (2u << 20) + 4096, 0x33, 4096);
    struct iovec w3 = { img + (2u << 20) + 4096, 4096 };
    struct disk_aio_req r3 = { .op = DISK_AIO_WRITE, .offset = (2u << 20) + 4096, .iov = &w3,
                               .iovcnt = 1, .cb = count_cb, .cookie = &n };
    CHECK_EQ(disk_aio_submit(a, &r3), 0);
    while (disk_aio_inflight(a))
        disk_aio_wait(a);
    CHECK_EQ(n, 3);
    struct disk_aio_stats st;
    disk_aio_get_stats(a, &st);
    CHECK(st.fast >= 1);
    for (uint32_t off = 0; off < (4u << 20); off += 256 * 1024) {
        struct iovec ri = { got + off, 256 * 1024 };
        struct disk_aio_req rr = { .op = DISK_AIO_READ, .offset = off, .iov = &ri, .iovcnt = 1,
                                   .cb = count_cb, .cookie = &n };
        CHECK_EQ(disk_aio_submit(a, &rr), 0);
    }
    while (disk_aio_inflight(a))
        disk_aio_wait(a);
    CHECK_EQ(n, 3 + 16);
    CHECK(memcmp(got, img, 4u << 20) == 0);
    disk_aio_destroy(a);
    disk_close(d);
    free(img);
    free(got);
}
