/* Fuzz target: an arbitrary file opened as a VHD (dynamic/differencing metadata, BAT,
 * bitmaps, locators), then a few reads. The input lives in a memfd, so the library
 * reads it through the same pread path as a real file. Differencing inputs look for
 * their parent by name; there is none, so the open fails cleanly or, under
 * DISK_OPEN_CHECK, goes on without it. */
#include "disk/disk.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ignore_line(void *ctx, const char *line)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char buf[1 << 16];
    char path[64], err[DISK_ERR_LEN];
    int fd = memfd_create("fuzz_vhd", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    for (unsigned mode = 0; mode < 2; mode++) {
        struct disk *d;
        unsigned flags = DISK_OPEN_RDONLY | (mode ? DISK_OPEN_CHECK : 0);
        if (disk_open(path, DISK_FORMAT_VHD, flags, &d, err) < 0)
            continue;
        uint64_t vs = d->info.virtual_size;
        uint64_t offs[4] = { 0, vs / 3, vs > sizeof(buf) ? vs - sizeof(buf) : 0, vs / 2 + 511 };
        for (int i = 0; i < 4; i++) {
            size_t len = vs - offs[i] < sizeof(buf) ? (size_t)(vs - offs[i]) : sizeof(buf);
            uint64_t n;
            disk_read(d, offs[i], buf, len);
            disk_extent(d, offs[i], len, &n);
        }
        if (mode)
            disk_check(d, false, ignore_line, NULL);
        disk_close(d);
    }
    close(fd);
    return 0;
}
