#include "test.h"
#include "disk/disk.h"
#include "disk/ops.h"
#include "disk/vhd_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static const char *tpath(const char *name)
{
    static char buf[8][512];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", test_tmpdir(), name);
    return buf[i];
}

static struct disk *make(const char *name, enum disk_type type, uint64_t size, uint32_t bs,
                         const char *parent)
{
    struct disk_create_opts o = { .format = DISK_FORMAT_VHD, .type = type, .size = size,
                                  .block_size = bs, .parent = parent };
    char err[DISK_ERR_LEN];
    struct disk *d = NULL;
    unlink(tpath(name));
    if (disk_create(tpath(name), &o, err)) {
        test_fail(__FILE__, __LINE__, "create %s: %s", name, err);
        return NULL;
    }
    if (disk_open(tpath(name), DISK_FORMAT_AUTO, 0, &d, err))
        test_fail(__FILE__, __LINE__, "open %s: %s", name, err);
    return d;
}

static void fill(char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)((i * 31 + seed * 7 + (i >> 9)) & 0xFF);
}

/* Writes a few awkward ranges to d and to a model, then compares all of d. */
static void roundtrip(struct disk *d, char *model)
{
    uint64_t size = d->info.virtual_size;
    static const struct { uint64_t off; size_t len; } w[] = {
        { 0, 512 },                   /* first sector */
        { 4096 - 7, 20 },             /* unaligned, across a sector edge */
        { (64 << 10) - 512, 1024 },   /* across a 64 KiB block edge */
        { 200000, 70000 },            /* several blocks */
        { 1 << 20, 1 },               /* one byte */
    };
    char *buf = malloc(size);
    for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
        fill(buf, w[i].len, (unsigned)i + 1);
        CHECK_EQ(disk_write(d, w[i].off, buf, w[i].len), 0);
        memcpy(model + w[i].off, buf, w[i].len);
    }
    fill(buf, 512, 99);
    CHECK_EQ(disk_write(d, size - 512, buf, 512), 0); /* last sector */
    memcpy(model + size - 512, buf, 512);
    CHECK_EQ(disk_read(d, 0, buf, size), 0);
    CHECK(memcmp(buf, model, size) == 0);
    /* byte-granular reads */
    CHECK_EQ(disk_read(d, 4096 - 9, buf, 13), 0);
    CHECK(memcmp(buf, model + 4096 - 9, 13) == 0);
    free(buf);
}

static void reread(const char *name, const char *model, uint64_t size)
{
    struct disk *d;
    char err[DISK_ERR_LEN];
    char *buf = malloc(size);
    CHECK_EQ(disk_open(tpath(name), DISK_FORMAT_AUTO, DISK_OPEN_RDONLY, &d, err), 0);
    if (d) {
        CHECK_EQ(d->info.virtual_size, size);
        CHECK_EQ(disk_read(d, 0, buf, size), 0);
        CHECK(memcmp(buf, model, size) == 0);
        disk_close(d);
    }
    free(buf);
}

TEST(vhd_fixed_and_dynamic_roundtrip)
{
    const uint64_t size = (3u << 20) + 4096 + 512; /* not a block multiple */
    for (int t = 0; t < 2; t++) {
        const char *name = t ? "rt-dyn.vhd" : "rt-fixed.vhd";
        struct disk *d = make(name, t ? DISK_TYPE_DYNAMIC : DISK_TYPE_FIXED, size, 64 << 10, NULL);
        if (!d)
            return;
        CHECK_EQ(d->info.virtual_size, size);
        CHECK_EQ(d->info.type, t ? DISK_TYPE_DYNAMIC : DISK_TYPE_FIXED);
        char *model = calloc(1, size);
        roundtrip(d, model);
        CHECK_EQ(disk_flush(d), 0);
        disk_close(d);
        reread(name, model, size);
        free(model);
    }
}

TEST(vhd_dynamic_bat_and_extents)
{
    struct disk *d = make("bat.vhd", DISK_TYPE_DYNAMIC, 8u << 20, 1u << 20, NULL);
    if (!d)
        return;
    struct vhd *v = d->priv;
    CHECK_EQ(v->entries, 8);
    for (uint32_t i = 0; i < v->entries; i++)
        CHECK_EQ(v->bat[i], VHD_BAT_UNUSED);
    char buf[4096];
    memset(buf, 0x5A, sizeof(buf));
    CHECK_EQ(disk_write(d, (3u << 20) + 8192, buf, sizeof(buf)), 0);
    CHECK(v->bat[3] != VHD_BAT_UNUSED);
    CHECK_EQ(v->bat[2], VHD_BAT_UNUSED);
    /* data of a new block is 4 KiB aligned in the file */
    CHECK_EQ(((uint64_t)v->bat[3] * 512 + v->bitmap_bytes) % 4096, 0);
    uint64_t n;
    CHECK_EQ(disk_extent(d, 0, 8u << 20, &n), DISK_EXTENT_ZERO);
    CHECK_EQ(n, 3u << 20);
    CHECK_EQ(disk_extent(d, 3u << 20, 5u << 20, &n), DISK_EXTENT_DATA);
    CHECK_EQ(n, 1u << 20);
    /* unwritten parts of an allocated block read as zero */
    CHECK_EQ(disk_read(d, 3u << 20, buf, 4096), 0);
    CHECK(disk_buf_is_zero(buf, 4096));
    /* discarding the whole block frees it; a partial discard does nothing */
    CHECK_EQ(disk_discard(d, 3u << 20, 4096), 0);
    CHECK(v->bat[3] != VHD_BAT_UNUSED);
    CHECK_EQ(disk_discard(d, 3u << 20, 1u << 20), 0);
    CHECK_EQ(v->bat[3], VHD_BAT_UNUSED);
    CHECK_EQ(disk_read(d, (3u << 20) + 8192, buf, 4096), 0);
    CHECK(disk_buf_is_zero(buf, 4096));
    /* out-of-range and read-only errors */
    CHECK_EQ(disk_read(d, 8u << 20, buf, 1), -EINVAL);
    disk_close(d);
}

TEST(vhd_differencing_reads_through_and_keeps_parent)
{
    const uint64_t size = 2u << 20;
    struct disk *p = make("base.vhd", DISK_TYPE_DYNAMIC, size, 64 << 10, NULL);
    if (!p)
        return;
    char *model = calloc(1, size), *buf = malloc(size);
    fill(model, size, 5);
    CHECK_EQ(disk_write(p, 0, model, size), 0);
    disk_close(p);
    struct disk *c = make("child.vhd", 0, 0, 0, tpath("base.vhd"));
    if (!c)
        goto out;
    CHECK_EQ(c->info.type, DISK_TYPE_DIFFERENCING);
    CHECK(c->parent != NULL);
    CHECK_EQ(c->info.block_size, 64 << 10); /* inherited from the parent */
    uint64_t n;
    CHECK_EQ(disk_extent(c, 0, size, &n), DISK_EXTENT_PARENT);
    roundtrip(c, model);
    /* a partially written block: the rest still comes from the parent */
    CHECK_EQ(disk_extent_resolved(c, 0, size, &n), DISK_EXTENT_DATA);
    disk_close(c);
    reread("child.vhd", model, size);
    /* the parent is untouched */
    fill(buf, size, 5);
    char *pb = malloc(size);
    reread("base.vhd", buf, size);
    free(pb);
out:
    free(model);
    free(buf);
}

TEST(vhd_parent_loop_is_detected)
{
    const uint64_t size = 1u << 20;
    struct disk *p = make("lp.vhd", DISK_TYPE_DYNAMIC, size, 0, NULL);
    disk_close(p);
    struct disk *a = make("la.vhd", 0, 0, 0, tpath("lp.vhd"));
    disk_close(a);
    struct disk *b = make("lb.vhd", 0, 0, 0, tpath("la.vhd"));
    if (!b)
        return;
    /* make A's parent B: A -> B -> A, by rewriting A's header by hand */
    struct disk *ad;
    char err[DISK_ERR_LEN];
    CHECK_EQ(disk_open(tpath("la.vhd"), DISK_FORMAT_AUTO, DISK_OPEN_NO_PARENT, &ad, err), 0);
    struct vhd *av = ad->priv;
    struct vhd *bv = b->priv;
    CHECK_EQ(vhd_link_parent(ad->fd, &av->header, ad->path, tpath("lb.vhd"), &bv->footer,
                             av->header.loc[0].data_offset, err), 0);
    CHECK_EQ(vhd_write_header(ad), 0);
    disk_close(ad);
    disk_close(b);
    struct disk *x = NULL;
    CHECK_EQ(disk_open(tpath("lb.vhd"), DISK_FORMAT_AUTO, DISK_OPEN_RDONLY, &x, err), -ELOOP);
    CHECK(strstr(err, "loops") != NULL);
    CHECK(x == NULL);
    /* set-parent refuses to make a loop either */
    struct disk *pd = make("lq.vhd", DISK_TYPE_DYNAMIC, size, 0, NULL);
    disk_close(pd);
    struct disk *c1 = make("lc1.vhd", 0, 0, 0, tpath("lq.vhd"));
    disk_close(c1);
    struct disk *c2 = make("lc2.vhd", 0, 0, 0, tpath("lc1.vhd"));
    disk_close(c2);
    CHECK_EQ(disk_open(tpath("lc1.vhd"), DISK_FORMAT_AUTO, DISK_OPEN_NO_PARENT, &c1, err), 0);
    if (c1) {
        CHECK(disk_set_parent(c1, tpath("lc2.vhd")) < 0);
        disk_close(c1);
    }
}

TEST(vhd_missing_parent_message)
{
    struct disk *p = make("gone.vhd", DISK_TYPE_DYNAMIC, 1u << 20, 0, NULL);
    disk_close(p);
    struct disk *c = make("orphan.vhd", 0, 0, 0, tpath("gone.vhd"));
    disk_close(c);
    unlink(tpath("gone.vhd"));
    char err[DISK_ERR_LEN];
    CHECK_EQ(disk_open(tpath("orphan.vhd"), DISK_FORMAT_AUTO, DISK_OPEN_RDONLY, &c, err), -ENOENT);
    CHECK(strstr(err, "gone.vhd not found; use `viridian disk set-parent`") != NULL);
}

TEST(vhd_create_rejects_bad_sizes)
{
    char err[DISK_ERR_LEN];
    struct disk_create_opts o = { .format = DISK_FORMAT_VHD, .type = DISK_TYPE_DYNAMIC };
    uint64_t bad[] = { 0, 1000, (2040ull << 30) + 512 };
    for (size_t i = 0; i < 3; i++) {
        o.size = bad[i];
        CHECK(disk_create(tpath("bad.vhd"), &o, err) < 0);
        CHECK(access(tpath("bad.vhd"), F_OK) != 0);
    }
    o.size = 1 << 20;
    o.block_size = 3000;
    CHECK(disk_create(tpath("bad.vhd"), &o, err) < 0);
    o.block_size = 0;
    o.logical_sector_size = 4096;
    CHECK(disk_create(tpath("bad.vhd"), &o, err) < 0);
    /* the maximum size is fine and sparse */
    o.logical_sector_size = 0;
    o.size = 2040ull << 30;
    CHECK_EQ(disk_create(tpath("max.vhd"), &o, err), 0);
    unlink(tpath("max.vhd"));
}

TEST(vhd_unsafe_mode_writes_metadata_on_flush)
{
    struct disk_create_opts o = { .format = DISK_FORMAT_VHD, .type = DISK_TYPE_DYNAMIC,
                                  .size = 4u << 20 };
    char err[DISK_ERR_LEN], buf[8192];
    struct disk *d;
    unlink(tpath("unsafe.vhd"));
    CHECK_EQ(disk_create(tpath("unsafe.vhd"), &o, err), 0);
    CHECK_EQ(disk_open(tpath("unsafe.vhd"), DISK_FORMAT_VHD, DISK_OPEN_UNSAFE, &d, err), 0);
    fill(buf, sizeof(buf), 3);
    CHECK_EQ(disk_write(d, 3u << 20, buf, sizeof(buf)), 0);
    CHECK_EQ(disk_flush(d), 0);
    disk_close(d);
    char *model = calloc(1, 4u << 20);
    memcpy(model + (3u << 20), buf, sizeof(buf));
    reread("unsafe.vhd", model, 4u << 20);
    free(model);
}
