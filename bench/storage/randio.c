/* Guest-side block I/O timer for bench/storage (built static on the host, carried into
 * the guest inside the guest script): `randio DEV PATTERN BS COUNT` does COUNT O_DIRECT
 * I/Os of BS bytes, sequential from offset 0 or at random BS-aligned offsets, and prints
 * "PATTERN BYTES_PER_SECOND IOPS". PATTERN: seqread, seqwrite, randread, randwrite. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: randio DEV seqread|seqwrite|randread|randwrite BS COUNT\n");
        return 2;
    }
    const char *pat = argv[2];
    size_t bs = strtoul(argv[3], NULL, 0);
    long count = strtol(argv[4], NULL, 0);
    int write = strstr(pat, "write") != NULL, rnd = !strncmp(pat, "rand", 4);
    int fd = open(argv[1], (write ? O_RDWR : O_RDONLY) | O_DIRECT);
    uint64_t size = 0;
    if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) < 0 || size < bs) {
        perror(argv[1]);
        return 1;
    }
    void *buf;
    if (posix_memalign(&buf, 4096, bs))
        return 1;
    memset(buf, 0x5A, bs);
    uint64_t blocks = size / bs, x = 0x9E3779B97F4A7C15ull;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < count; i++) {
        uint64_t blk = (uint64_t)i % blocks;
        if (rnd) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            blk = x % blocks;
        }
        ssize_t n = write ? pwrite(fd, buf, bs, (off_t)(blk * bs)) : pread(fd, buf, bs, (off_t)(blk * bs));
        if (n != (ssize_t)bs) {
            perror(pat);
            return 1;
        }
    }
    if (write && fdatasync(fd) < 0) {
        perror("fdatasync");
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%s %.0f %.0f\n", pat, (double)bs * (double)count / s, (double)count / s);
    return 0;
}
