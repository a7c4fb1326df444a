/* Fuzz target for the VHDX backend. A small valid image with a pending log (a
 * dynamic disk, written and flushed but not closed) is built once; each input is a
 * list of patches (u32 offset, u8 length, bytes) applied to a copy of it, so the
 * fuzzer reaches headers, region tables, metadata, BAT and log parsing. An input that
 * starts with "vhdxfile" is used as the whole file instead. The result goes into a
 * memfd which is opened read-only without replay, then read-write (replay, a write,
 * flush, check), reading a few ranges each time. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "disk/disk.h"
#include "disk/vhdx.h"

static uint8_t *tmpl;
static size_t tmpl_len;

static void build_template(void)
{
    char dir[] = "/tmp/fuzz-vhdx-XXXXXX", path[64], err[DISK_ERR_LEN];
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof(path), "%s/t.vhdx", dir);
    struct disk_create_opts o = { .format = DISK_FORMAT_VHDX, .type = DISK_TYPE_DYNAMIC,
                                  .size = 4 << 20, .block_size = 1 << 20 };
    struct disk *d;
    if (disk_create(path, &o, err) < 0 || disk_open(path, DISK_FORMAT_VHDX, 0, &d, err) < 0)
        abort();
    uint8_t buf[8192];
    memset(buf, 0xA5, sizeof(buf));
    if (disk_write(d, 4096, buf, sizeof(buf)) < 0 || disk_write(d, 3 << 20, buf, 512) < 0 ||
        disk_flush(d) < 0)
        abort();
    int fd = open(path, O_RDONLY);
    tmpl_len = (size_t)lseek(fd, 0, SEEK_END);
    tmpl = malloc(tmpl_len);
    if (pread(fd, tmpl, tmpl_len, 0) != (ssize_t)tmpl_len)
        abort();
    close(fd);
    disk_close(d);
    unlink(path);
    rmdir(dir);
}

static void exercise(const char *path, unsigned flags)
{
    struct disk *d;
    char err[DISK_ERR_LEN];
    uint8_t buf[8192];
    if (disk_open(path, DISK_FORMAT_VHDX, flags, &d, err) < 0)
        return;
    uint64_t size = d->info.virtual_size, n;
    uint64_t offs[4] = { 0, 4096, size / 2, size > 8192 ? size - 8192 : 0 };
    for (int i = 0; i < 4; i++) {
        uint64_t len = size - offs[i] < sizeof(buf) ? size - offs[i] : sizeof(buf);
        len -= len % 4096;
        disk_read(d, offs[i] / 4096 * 4096, buf, len);
        disk_extent(d, offs[i] / 4096 * 4096, size - offs[i] / 4096 * 4096, &n);
    }
    if (!(flags & DISK_OPEN_RDONLY)) {
        memset(buf, 0x3C, sizeof(buf));
        disk_write(d, 0, buf, size < 4096 ? 0 : 4096);
        disk_flush(d);
    }
    vhdx_check(d, false, NULL, NULL);
    disk_close(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (!tmpl)
        build_template();
    if (fd < 0) {
        fd = memfd_create("fuzz.vhdx", 0);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    uint8_t *img;
    size_t len;
    if (size >= 8 && !memcmp(data, "vhdxfile", 8)) {
        len = size < (2u << 20) ? 2u << 20 : size;
        img = calloc(1, len);
        memcpy(img, data, size);
    } else {
        len = tmpl_len;
        img = malloc(len);
        memcpy(img, tmpl, len);
        for (size_t i = 0; i + 5 <= size;) {
            uint32_t off;
            memcpy(&off, data + i, 4);
            size_t n = data[i + 4];
            i += 5;
            if (n > size - i)
                n = size - i;
            /* aim most patches at the first 4 MiB of metadata */
            off %= (off & 0x80000000u) ? (uint32_t)len : (4u << 20);
            if (off + n > len)
                n = len - off;
            memcpy(img + off, data + i, n);
            i += n;
        }
    }
    /* overwrite in place (no truncate to 0: keeps the memfd's pages) */
    if (pwrite(fd, img, len, 0) != (ssize_t)len || ftruncate(fd, (off_t)len) < 0)
        abort();
    free(img);
    exercise(path, DISK_OPEN_RDONLY | DISK_OPEN_NO_REPLAY);
    exercise(path, 0);
    return 0;
}
