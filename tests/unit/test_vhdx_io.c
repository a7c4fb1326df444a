/* VHDX create/open/write/read round trips of every kind, in test_tmpdir(). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "disk/disk.h"
#include "disk/vhdx.h"
#include "test.h"

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", test_tmpdir(), name);
}

static int create(const char *name, uint64_t size, enum disk_type type, uint32_t bs,
                  uint32_t sector, const char *parent)
{
    char p[512], pp[512], err[DISK_ERR_LEN];
    struct disk_create_opts o = { .format = DISK_FORMAT_VHDX, .type = type, .size = size,
                                  .block_size = bs, .logical_sector_size = sector };
    path_of(p, sizeof(p), name);
    if (parent) {
        path_of(pp, sizeof(pp), parent);
        o.parent = pp;
    }
    unlink(p);
    int rc = disk_create(p, &o, err);
    if (rc < 0)
        test_fail(__FILE__, __LINE__, "create %s: %s", name, err);
    return rc;
}

static struct disk *open_img(const char *name, unsigned flags)
{
    char p[512], err[DISK_ERR_LEN];
    struct disk *d = NULL;
    path_of(p, sizeof(p), name);
    if (disk_open(p, DISK_FORMAT_AUTO, flags, &d, err) < 0) {
        test_fail(__FILE__, __LINE__, "open %s: %s", name, err);
        return NULL;
    }
    return d;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* random writes mirrored in a model; returns 0 if every read matches the model */
static int exercise(struct disk *d, uint8_t *model, uint64_t size, unsigned sector, int n)
{
    uint8_t *buf = malloc(1 << 20);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        uint64_t len = (1 + rnd() % 64) * sector;
        uint64_t off = rnd() % (size / sector) * sector;
        if (off + len > size)
            len = size - off;
        for (uint64_t k = 0; k < len; k++)
            buf[k] = (uint8_t)rnd();
        if (rnd() % 10 == 0) {
            if (disk_discard(d, off, len) < 0)
                bad++;
            memset(model + off, 0, len);
        } else {
            if (disk_write(d, off, buf, len) < 0)
                bad++;
            memcpy(model + off, buf, len);
        }
        if (i % 16 == 0 && disk_flush(d) < 0)
            bad++;
    }
    for (uint64_t off = 0; off < size; off += 1 << 20) {
        uint64_t len = size - off < (1 << 20) ? size - off : 1 << 20;
        if (disk_read(d, off, buf, len) < 0 || memcmp(buf, model + off, len) != 0)
            bad++;
    }
    free(buf);
    return bad;
}

static int compare(struct disk *d, const uint8_t *model, uint64_t size)
{
    uint8_t *buf = malloc(size);
    int rc = disk_read(d, 0, buf, size) < 0 || memcmp(buf, model, size) != 0;
    free(buf);
    return rc;
}

static void count_line(void *ctx, const char *line)
{
    (void)line;
    (*(int *)ctx)++;
}

struct reader_arg {
    struct disk *d;
    const uint8_t *model;
    uint64_t size, seed;
    int bad;
};

static void *reader(void *p)
{
    struct reader_arg *a = p;
    uint8_t *buf = malloc(256 * 1024);
    uint64_t x = a->seed;
    for (int i = 0; i < 200; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t off = (x >> 20) % (a->size / 4096) * 4096, len = ((x >> 8) % 64 + 1) * 4096;
        if (off + len > a->size)
            len = a->size - off;
        if (disk_read(a->d, off, buf, len) < 0 || memcmp(buf, a->model + off, len) != 0)
            a->bad++;
    }
    free(buf);
    return NULL;
}

/* parallel readers of one open image (reads run outside the lock) */
static int parallel_reads(struct disk *d, const uint8_t *model, uint64_t size)
{
    pthread_t t[4];
    struct reader_arg a[4];
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        a[i] = (struct reader_arg){ d, model, size, (uint64_t)i * 7919 + 1, 0 };
        pthread_create(&t[i], NULL, reader, &a[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        bad += a[i].bad;
    }
    return bad;
}

TEST(vhdx_dynamic_roundtrip)
{
    const uint64_t size = (9u << 20) + 4096;
    uint8_t *model = calloc(1, size);
    CHECK_EQ(create("dyn.vhdx", size, DISK_TYPE_DYNAMIC, 1 << 20, 512, NULL), 0);
    struct disk *d = open_img("dyn.vhdx", 0);
    if (!d)
        return;
    CHECK_EQ(d->info.type, DISK_TYPE_DYNAMIC);
    CHECK_EQ(d->info.virtual_size, size);
    CHECK_EQ(d->info.block_size, 1 << 20);
    CHECK_EQ(d->info.logical_sector_size, 512);
    CHECK_EQ(strlen(d->info.uuid), 36);
    CHECK_EQ(exercise(d, model, size, 512, 300), 0);
    /* unaligned byte ranges are widened to whole sectors by the generic layer */
    uint8_t x[512], back[512];
    for (size_t i = 0; i < sizeof(x); i++)
        x[i] = (uint8_t)(i * 7 + 1);
    CHECK_EQ(disk_write(d, 100, x, 512), 0);
    memcpy(model + 100, x, 512);
    CHECK_EQ(disk_read(d, 100, back, 512), 0);
    CHECK(!memcmp(back, x, 512));
    disk_close(d);
    d = open_img("dyn.vhdx", DISK_OPEN_RDONLY);
    CHECK_EQ(compare(d, model, size), 0);
    CHECK_EQ(parallel_reads(d, model, size), 0);
    int lines = 0;
    CHECK_EQ(vhdx_check(d, false, count_line, &lines), 0);
    CHECK_EQ(lines, 0);
    disk_close(d);
    free(model);
}

TEST(vhdx_fixed_4k_roundtrip)
{
    const uint64_t size = 6u << 20;
    uint8_t *model = calloc(1, size);
    CHECK_EQ(create("fix.vhdx", size, DISK_TYPE_FIXED, 4 << 20, 4096, NULL), 0);
    struct disk *d = open_img("fix.vhdx", 0);
    if (!d)
        return;
    CHECK_EQ(d->info.type, DISK_TYPE_FIXED);
    CHECK_EQ(d->info.logical_sector_size, 4096);
    uint64_t n;
    CHECK_EQ(disk_extent(d, 0, size, &n), DISK_EXTENT_DATA);
    CHECK_EQ(n, size);
    CHECK_EQ(exercise(d, model, size, 4096, 100), 0);
    disk_close(d);
    d = open_img("fix.vhdx", DISK_OPEN_RDONLY);
    CHECK_EQ(compare(d, model, size), 0);
    disk_close(d);
    free(model);
}

static void differencing_roundtrip(uint32_t sector)
{
    const uint64_t size = 8u << 20;
    uint8_t *model = malloc(size);
    for (uint64_t i = 0; i < size; i++)
        model[i] = (uint8_t)(i * 131 + 7);
    CHECK_EQ(create("base.vhdx", size, DISK_TYPE_DYNAMIC, 1 << 20, sector, NULL), 0);
    struct disk *b = open_img("base.vhdx", 0);
    if (!b)
        return;
    CHECK_EQ(disk_write(b, 0, model, size), 0);
    CHECK_EQ(disk_discard(b, 3 << 20, 1 << 20), 0); /* a zero block in the base */
    memset(model + (3 << 20), 0, 1 << 20);
    disk_close(b);
    CHECK_EQ(create("child.vhdx", 0, DISK_TYPE_DIFFERENCING, 0, 0, "base.vhdx"), 0);
    struct disk *d = open_img("child.vhdx", 0);
    if (!d)
        return;
    CHECK_EQ(d->info.type, DISK_TYPE_DIFFERENCING);
    CHECK(strstr(d->info.parent_path, "base.vhdx") != NULL);
    CHECK(d->parent != NULL);
    uint64_t n;
    CHECK_EQ(disk_extent(d, 0, size, &n), DISK_EXTENT_PARENT);
    CHECK_EQ(n, size);
    uint8_t s[8192];
    memset(s, 0xC3, sizeof(s));
    CHECK_EQ(disk_write(d, (1 << 20) + sector, s, 2 * sector), 0);
    memcpy(model + (1 << 20) + sector, s, 2 * sector);
    CHECK_EQ(disk_extent(d, 1 << 20, 1 << 20, &n), DISK_EXTENT_PARENT);
    CHECK_EQ(n, sector);
    CHECK_EQ(disk_extent(d, (1 << 20) + sector, 1 << 20, &n), DISK_EXTENT_DATA);
    CHECK_EQ(n, 2 * sector);
    CHECK_EQ(exercise(d, model, size, sector, 300), 0);
    disk_close(d);
    d = open_img("child.vhdx", DISK_OPEN_RDONLY);
    CHECK_EQ(compare(d, model, size), 0);
    CHECK_EQ(parallel_reads(d, model, size), 0);
    CHECK_EQ(vhdx_check(d, false, NULL, NULL), 0);
    disk_close(d);
    /* a grandchild sees the whole chain */
    CHECK_EQ(create("grand.vhdx", 0, DISK_TYPE_DIFFERENCING, 0, 0, "child.vhdx"), 0);
    d = open_img("grand.vhdx", DISK_OPEN_RDONLY);
    CHECK_EQ(compare(d, model, size), 0);
    disk_close(d);
    free(model);
}

TEST(vhdx_differencing_roundtrip_512)
{
    differencing_roundtrip(512);
}

TEST(vhdx_differencing_roundtrip_4096)
{
    differencing_roundtrip(4096);
}

static void copy_file(const char *from, const char *to)
{
    char a[512], b[512], cmd[1100];
    path_of(a, sizeof(a), from);
    path_of(b, sizeof(b), to);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", a, b);
    CHECK_EQ(system(cmd), 0);
}

TEST(vhdx_pending_log_open_modes)
{
    const uint64_t size = 4u << 20;
    uint8_t *model = calloc(1, size);
    CHECK_EQ(create("pend.vhdx", size, DISK_TYPE_DYNAMIC, 1 << 20, 512, NULL), 0);
    struct disk *d = open_img("pend.vhdx", 0);
    if (!d)
        return;
    memset(model + 4096, 0x3C, 8192);
    CHECK_EQ(disk_write(d, 4096, model + 4096, 8192), 0);
    CHECK_EQ(disk_flush(d), 0);
    copy_file("pend.vhdx", "crashed.vhdx"); /* as a crash right after the flush */
    disk_close(d);
    char p[512], err[DISK_ERR_LEN];
    path_of(p, sizeof(p), "crashed.vhdx");
    CHECK_EQ(disk_open(p, DISK_FORMAT_VHDX, DISK_OPEN_RDONLY, &d, err), -EROFS);
    CHECK(strstr(err, "pending log") != NULL);
    d = open_img("crashed.vhdx", DISK_OPEN_RDONLY | DISK_OPEN_NO_REPLAY);
    CHECK_EQ(compare(d, model, size), 0);
    CHECK_EQ(disk_write(d, 0, model, 512), -EROFS);
    CHECK(vhdx_check(d, false, NULL, NULL) > 0); /* the pending log is reported */
    disk_close(d);
    d = open_img("crashed.vhdx", 0); /* replays */
    CHECK_EQ(compare(d, model, size), 0);
    disk_close(d);
    d = open_img("crashed.vhdx", DISK_OPEN_RDONLY); /* clean now */
    CHECK_EQ(compare(d, model, size), 0);
    disk_close(d);
    free(model);
}

TEST(vhdx_resize_grow_shrink)
{
    uint64_t size = 3u << 20;
    uint8_t buf[4096];
    CHECK_EQ(create("rs.vhdx", size, DISK_TYPE_DYNAMIC, 1 << 20, 512, NULL), 0);
    struct disk *d = open_img("rs.vhdx", 0);
    if (!d)
        return;
    memset(buf, 0x77, sizeof(buf));
    CHECK_EQ(disk_write(d, 0, buf, sizeof(buf)), 0);
    CHECK_EQ(vhdx_resize(d, 200ull << 30), 0); /* needs a bigger BAT: moved */
    CHECK_EQ(d->info.virtual_size, 200ull << 30);
    CHECK_EQ(disk_write(d, (200ull << 30) - 4096, buf, sizeof(buf)), 0);
    disk_close(d);
    d = open_img("rs.vhdx", 0);
    CHECK_EQ(d->info.virtual_size, 200ull << 30);
    memset(buf, 0, sizeof(buf));
    CHECK_EQ(disk_read(d, (200ull << 30) - 4096, buf, sizeof(buf)), 0);
    CHECK_EQ(buf[100], 0x77);
    CHECK_EQ(vhdx_resize(d, 1u << 20), -ENOTEMPTY);
    CHECK_EQ(disk_discard(d, (200ull << 30) - 4096, 4096), 0);
    CHECK_EQ(vhdx_resize(d, 1u << 20), 0);
    CHECK_EQ(vhdx_check(d, false, NULL, NULL), 0);
    disk_close(d);
    d = open_img("rs.vhdx", DISK_OPEN_RDONLY);
    CHECK_EQ(d->info.virtual_size, 1u << 20);
    CHECK_EQ(disk_read(d, 0, buf, sizeof(buf)), 0);
    CHECK_EQ(buf[0], 0x77);
    disk_close(d);
}

TEST(vhdx_open_rejects_garbage)
{
    char p[512], err[DISK_ERR_LEN];
    struct disk *d;
    path_of(p, sizeof(p), "junk.vhdx");
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
    uint8_t buf[4096];
    memset(buf, 0x5A, sizeof(buf));
    memcpy(buf, "vhdxfile", 8);
    CHECK_EQ(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
    CHECK_EQ(ftruncate(fd, 2 << 20), 0);
    close(fd);
    CHECK(disk_open(p, DISK_FORMAT_VHDX, DISK_OPEN_RDONLY, &d, err) < 0);
    CHECK(strstr(err, "header") != NULL);
    /* a valid image cut short */
    CHECK_EQ(create("cut.vhdx", 64u << 20, DISK_TYPE_FIXED, 1 << 20, 512, NULL), 0);
    path_of(p, sizeof(p), "cut.vhdx");
    CHECK_EQ(truncate(p, 32u << 20), 0);
    CHECK(disk_open(p, DISK_FORMAT_VHDX, DISK_OPEN_RDONLY, &d, err) < 0);
    CHECK(strstr(err, "past the end") != NULL);
    CHECK_EQ(disk_open(p, DISK_FORMAT_VHDX, DISK_OPEN_RDONLY | DISK_OPEN_CHECK, &d, err), 0);
    int lines = 0;
    CHECK(vhdx_check(d, false, count_line, &lines) > 0);
    CHECK(lines > 0);
    uint8_t s[512];
    CHECK_EQ(disk_read(d, 63u << 20, s, 512), -EIO);
    disk_close(d);
}
