/* Fuzz target for the VHDX backend. A small valid image with a pending log (a
 * dynamic disk, written and flushed but not closed) is built once; each input is a
 * list of patches (u8 structure selector, u16 offset, u8 length, bytes) applied to a
 * copy of it, aimed at one structure each (headers, region tables, metadata, BAT, log,
 * anywhere). If the first input byte is odd, the checksums of the headers, region
 * tables and log entries are recomputed afterwards, so the fuzzer gets past them to
 * the semantic checks. An input that starts with "vhdxfile" is the whole file. The result goes into a
 * memfd which is opened read-only without replay, then read-write (replay, a write,
 * flush, check), reading a few ranges each time. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "disk/disk.h"
#include "disk/vhdx_crc32c.h"
#include "disk/vhdx_format.h"
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
        disk_discard(d, size / 2 / 4096 * 4096, size / 2 / 4096 * 4096);
        disk_flush(d);
        d->fmt->shrink(d); /* compact's block moves on whatever layout the image has */
    }
    vhdx_check(d, false, NULL, NULL);
    disk_close(d);
}

static void fix_crc(uint8_t *p, size_t len)
{
    memset(p + 4, 0, 4);
    vhdx_put32(p + 4, crc32c(0, p, len));
}

static void fix_checksums(uint8_t *img, size_t len)
{
    for (int i = 0; i < 2; i++) {
        if (!memcmp(img + (64 << 10) * (i + 1), "head", 4))
            fix_crc(img + (64 << 10) * (i + 1), 4096);
        if (!memcmp(img + (192 << 10) + (64 << 10) * i, "regi", 4))
            fix_crc(img + (192 << 10) + (64 << 10) * i, 64 << 10);
    }
    /* log entries from the start of the template's log (1 MiB, 1 MiB long) */
    for (size_t pos = 0; pos < (1 << 20);) {
        uint8_t *e = img + (1 << 20) + pos;
        uint32_t elen = vhdx_le32(e + 8);
        if (memcmp(e, "loge", 4) || !elen || elen % 4096 || pos + elen > (1 << 20))
            break;
        fix_crc(e, elen);
        pos += elen;
    }
    (void)len;
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
        static const uint32_t base[8] = { 64 << 10, 192 << 10, 2 << 20, 3 << 20, 1 << 20, 0,
                                          (2 << 20) + (64 << 10), 3 << 20 };
        static const uint32_t span[8] = { 68 << 10, 68 << 10, 4096, 16384, 32768, 0, 512, 4096 };
        for (size_t i = 0; i + 4 <= size;) {
            unsigned sel = data[i] & 7;
            uint32_t off = data[i + 1] | (uint32_t)data[i + 2] << 8;
            size_t n = data[i + 3];
            i += 4;
            if (n > size - i)
                n = size - i;
            if (sel <= 1) /* low bit picks the first or the second copy */
                off = base[sel] + (off & 1 ? (64u << 10) : 0) + (off >> 1) % 4096;
            else
                off = sel == 5 ? (uint32_t)(((uint64_t)off * 97) % len) : base[sel] + off % span[sel];
            if (off >= len)
                off = (uint32_t)(len - 1);
            if (off + n > len)
                n = len - off;
            memcpy(img + off, data + i, n);
            i += n;
        }
        if (size && (data[0] & 1))
            fix_checksums(img, len);
    }
    /* overwrite in place (no truncate to 0: keeps the memfd's pages) */
    if (pwrite(fd, img, len, 0) != (ssize_t)len || ftruncate(fd, (off_t)len) < 0)
        abort();
    free(img);
    exercise(path, DISK_OPEN_RDONLY | DISK_OPEN_NO_REPLAY);
    exercise(path, 0);
    return 0;
}
