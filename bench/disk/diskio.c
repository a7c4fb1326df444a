/* diskio: drive the disk library directly, for tests and the benchmark.
 *   diskio write IMG OFFSET FILE        write FILE's bytes at OFFSET, then flush
 *   diskio fill IMG OFFSET LEN BYTE     write LEN bytes of BYTE (0-255) at OFFSET
 *   diskio discard IMG OFFSET LEN       discard a range, then flush
 *   diskio bench IMG read|write COUNT STEP
 *        COUNT 4 KiB requests at queue depth 1, the offset advancing by STEP modulo
 *        the disk size (the access pattern of `qemu-img bench -S STEP`); prints
 *        "seconds S" for the I/O until the last request completed, as qemu-img
 *        bench's "Run completed in", and for writes "flush F", the final flush
 *        (qemu's happens at close, outside its figure).
 *   diskio aiobench IMG read|write COUNT STEP QD
 *        the same through the asynchronous engine (disk_aio.h), QD requests in flight
 *        (like `qemu-img bench -d QD`). "seconds" is the time until the last request
 *        completed, as qemu-img bench's "Run completed in" (the final flush of a write
 *        run follows, untimed, as qemu's happens at close, outside its figure). */
#include "disk/disk.h"
#include "disk/disk_aio.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int die(const char *msg)
{
    fprintf(stderr, "diskio: %s\n", msg);
    return 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench(struct disk *d, bool write, uint64_t count, uint64_t step)
{
    char *buf = aligned_alloc(4096, 4096);
    if (!buf)
        return die("out of memory");
    memset(buf, 0xA5, 4096);
    uint64_t size = d->info.virtual_size / 4096 * 4096, off = 0;
    double t0 = now();
    for (uint64_t i = 0; i < count; i++) {
        int rc = write ? disk_write(d, off, buf, 4096) : disk_read(d, off, buf, 4096);
        if (rc)
            return die(disk_last_error(d));
        off = (off + step) % size;
    }
    double t_io = now() - t0;
    if (write && disk_flush(d))
        return die(disk_last_error(d));
    printf("seconds %.6f\n", t_io);
    if (write)
        printf("flush %.6f\n", now() - t0 - t_io);
    free(buf);
    return 0;
}

struct aiobench {
    struct disk_aio *a;
    bool write;
    uint64_t size, step, off, submitted, count, done;
    int failed;
};

static void aiobench_done(void *cookie, int result)
{
    struct aiobench *b = cookie;
    b->done++;
    if (result)
        b->failed = result;
}

static int aiobench_submit(struct aiobench *b, char *buf)
{
    struct iovec iov = { buf, 4096 };
    struct disk_aio_req r = { .op = b->write ? DISK_AIO_WRITE : DISK_AIO_READ, .offset = b->off,
                              .iov = &iov, .iovcnt = 1, .cb = aiobench_done, .cookie = b };
    b->off = (b->off + b->step) % b->size;
    b->submitted++;
    return disk_aio_submit(b->a, &r);
}

static int aiobench(struct disk *d, bool write, uint64_t count, uint64_t step, unsigned qd)
{
    struct aiobench b = { .write = write, .size = d->info.virtual_size / 4096 * 4096,
                          .step = step, .count = count };
    if (qd == 0 || qd > 1024)
        return die("bad queue depth");
    char *bufs = aligned_alloc(4096, (size_t)qd * 4096);
    if (!bufs)
        return die("out of memory");
    memset(bufs, 0xA5, (size_t)qd * 4096);
    int rc = disk_aio_create(d, qd, &b.a);
    if (rc)
        return die("cannot create the io_uring engine");
    double t0 = now();
    /* buffers are handed out round-robin; with out-of-order completion two requests
     * may share one, which is harmless here: writes all carry the same bytes and
     * read data is not looked at */
    while (b.done < count && !b.failed) {
        while (b.submitted < count && b.submitted - b.done < qd && !b.failed)
            if ((rc = aiobench_submit(&b, bufs + (b.submitted % qd) * 4096)))
                return die("submit failed");
        if (disk_aio_wait(b.a) < 0)
            return die("wait failed");
    }
    double t_io = now() - t0;
    if (write && !b.failed) {
        struct disk_aio_req f = { .op = DISK_AIO_FLUSH, .cb = aiobench_done, .cookie = &b };
        b.count++;
        if (disk_aio_submit(b.a, &f))
            return die("flush failed");
        while (b.done < b.count)
            disk_aio_wait(b.a);
    }
    double t = now() - t0;
    struct disk_aio_stats st;
    disk_aio_get_stats(b.a, &st);
    fprintf(stderr, "aio: fast %llu zero %llu slow %llu, I/O %.6fs\n", (unsigned long long)st.fast,
            (unsigned long long)st.zero, (unsigned long long)st.slow, t_io);
    disk_aio_destroy(b.a);
    free(bufs);
    if (b.failed)
        return die(disk_last_error(d));
    printf("seconds %.6f\n", t_io);
    if (write)
        printf("flush %.6f\n", t - t_io);
    return 0;
}

int main(int argc, char **argv)
{
    char err[DISK_ERR_LEN];
    struct disk *d;
    if (argc < 4)
        return die("usage: diskio write|fill|discard|bench IMG ...");
    const char *mode = argv[1];
    bool ro = (!strcmp(mode, "bench") || !strcmp(mode, "aiobench")) && argc > 3 &&
              !strcmp(argv[3], "read");
    if (disk_open(argv[2], DISK_FORMAT_AUTO, ro ? DISK_OPEN_RDONLY : 0, &d, err))
        return die(err);
    int rc = 0;
    if (!strcmp(mode, "write") && argc == 5) {
        int fd = open(argv[4], O_RDONLY);
        struct stat st;
        char *buf = NULL;
        if (fd < 0 || fstat(fd, &st) < 0 || !(buf = malloc((size_t)st.st_size + 1)) ||
            read(fd, buf, (size_t)st.st_size) != st.st_size)
            rc = die("cannot read the data file");
        else if (disk_write(d, strtoull(argv[3], NULL, 0), buf, (size_t)st.st_size) || disk_flush(d))
            rc = die(disk_last_error(d));
        free(buf);
        if (fd >= 0)
            close(fd);
    } else if (!strcmp(mode, "fill") && argc == 6) {
        size_t len = strtoull(argv[4], NULL, 0);
        char *buf = malloc(len + 1);
        if (!buf)
            rc = die("out of memory");
        else {
            memset(buf, atoi(argv[5]), len);
            if (disk_write(d, strtoull(argv[3], NULL, 0), buf, len) || disk_flush(d))
                rc = die(disk_last_error(d));
        }
        free(buf);
    } else if (!strcmp(mode, "discard") && argc == 5) {
        if (disk_discard(d, strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0)) || disk_flush(d))
            rc = die(disk_last_error(d));
    } else if (!strcmp(mode, "bench") && argc == 6) {
        rc = bench(d, !strcmp(argv[3], "write"), strtoull(argv[4], NULL, 0), strtoull(argv[5], NULL, 0));
    } else if (!strcmp(mode, "aiobench") && argc == 7) {
        rc = aiobench(d, !strcmp(argv[3], "write"), strtoull(argv[4], NULL, 0),
                      strtoull(argv[5], NULL, 0), (unsigned)strtoul(argv[6], NULL, 0));
    } else {
        rc = die("bad arguments");
    }
    disk_close(d);
    return rc;
}
