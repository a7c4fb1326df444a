/* Guest-side block I/O timer for bench/storage (built static on the host, carried into
 * the guest inside the guest script): `randio DEV PATTERN BS COUNT [QD]` does COUNT
 * O_DIRECT I/Os of BS bytes, sequential from offset 0 or at random BS-aligned offsets,
 * and prints "PATTERN BYTES_PER_SECOND IOPS" (PATTERN-qdN with a queue depth N > 1,
 * kept by Linux native AIO). PATTERN: seqread, seqwrite, randread, randwrite. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t next_block(uint64_t *x, long i, uint64_t blocks, int rnd)
{
    if (!rnd)
        return (uint64_t)i % blocks;
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x % blocks;
}

/* COUNT I/Os with QD in flight (Linux AIO, O_DIRECT so it is really asynchronous). */
static int run_qd(int fd, int write, int rnd, size_t bs, long count, int qd, uint64_t blocks)
{
    aio_context_t ctx = 0;
    if (syscall(SYS_io_setup, qd, &ctx) < 0)
        return -1;
    struct iocb *cbs = calloc((size_t)qd, sizeof(*cbs));
    struct io_event ev[64];
    uint64_t x = 0x9E3779B97F4A7C15ull;
    long issued = 0, done = 0;
    for (int k = 0; k < qd; k++) {
        void *b;
        if (!cbs || posix_memalign(&b, 4096, bs))
            return -1;
        memset(b, 0x5A, bs);
        cbs[k].aio_buf = (uint64_t)(uintptr_t)b;
    }
    for (int k = 0; k < qd && issued < count; k++, issued++) {
        struct iocb *cb = &cbs[k];
        cb->aio_fildes = (uint32_t)fd;
        cb->aio_lio_opcode = write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
        cb->aio_nbytes = bs;
        cb->aio_offset = (int64_t)(next_block(&x, issued, blocks, rnd) * bs);
        cb->aio_data = (uint64_t)k;
        if (syscall(SYS_io_submit, ctx, 1, &cb) != 1)
            return -1;
    }
    while (done < count) {
        long n = syscall(SYS_io_getevents, ctx, 1, 64, ev, NULL);
        if (n < 0)
            return -1;
        for (long e = 0; e < n; e++) {
            if (ev[e].res != (int64_t)bs)
                return -1;
            done++;
            if (issued < count) {
                struct iocb *cb = &cbs[ev[e].data];
                cb->aio_offset = (int64_t)(next_block(&x, issued++, blocks, rnd) * bs);
                if (syscall(SYS_io_submit, ctx, 1, &cb) != 1)
                    return -1;
            }
        }
    }
    syscall(SYS_io_destroy, ctx);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: randio DEV seqread|seqwrite|randread|randwrite BS COUNT [QD]\n");
        return 2;
    }
    int qd = argc == 6 ? atoi(argv[5]) : 1;
    if (qd < 1 || qd > 256)
        qd = 1;
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
    if (qd > 1 && run_qd(fd, write, rnd, bs, count, qd, blocks) < 0) {
        perror(pat);
        return 1;
    }
    for (long i = 0; qd == 1 && i < count; i++) {
        uint64_t blk = next_block(&x, i, blocks, rnd);
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
    if (qd > 1)
        printf("%s-qd%d %.0f %.0f\n", pat, qd, (double)bs * (double)count / s, (double)count / s);
    else
        printf("%s %.0f %.0f\n", pat, (double)bs * (double)count / s, (double)count / s);
    return 0;
}
