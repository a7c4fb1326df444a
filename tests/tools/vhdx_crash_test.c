/* Crash-consistency torture for the VHDX backend.
 *   vhdx_crash_test DIR RUNS SEED [SECONDS [diff]]
 * Creates DIR/crash.vhdx (dynamic, 1 MiB blocks; with "diff" a differencing child of
 * DIR/parent.vhdx whose every sector holds generation 1), then RUNS times: forks a workload of
 * random writes, discards and flushes, SIGKILLs it after a random delay, reopens the
 * image read-write (log replay), runs vhdx_check and verifies every sector:
 *   - each written sector carries its LBA, a generation number and a filler derived
 *     from both, so data of another sector/block or garbage is detected;
 *   - a sector must hold the value it had at the last completed flush, or the value of
 *     an operation issued after it (write stamp, or zeros for a discard).
 * The workload also grows the disk now and then (vhdx_resize; the BAT moves past
 * 128 GiB); only the first 24 MiB are verified.
 * The workload records each operation in DIR/ops before issuing it and a flush record
 * after disk_flush returns. Prints one PASS/FAIL line; exit 0 on success. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "disk/disk.h"
#include "disk/vhdx.h"

#define SECT 512u
#define DISK_SIZE (24u << 20)
#define NSECT (DISK_SIZE / SECT)
#define MAGIC 0x5649524944495844ull /* "VIRIDIXD" */

struct op {
    uint32_t type; /* 'W', 'D', 'F' */
    uint32_t count;
    uint64_t lba, gen;
};

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void fill_sector(uint8_t *s, uint64_t lba, uint64_t gen)
{
    uint64_t x = lba * 0x9E3779B97F4A7C15ull ^ gen;
    memcpy(s, &lba, 8);
    memcpy(s + 8, &gen, 8);
    uint64_t m = MAGIC;
    memcpy(s + 16, &m, 8);
    for (unsigned i = 24; i < SECT; i += 8) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        memcpy(s + i, &x, 8);
    }
}

/* Power loss is simulated on top of SIGKILL: before each payload or in-place
 * metadata write (and hole punch) the workload saves the bytes it overwrites to
 * DIR/undo; after every fdatasync the undo file restarts (all earlier writes are
 * durable). The verifier puts the saved bytes back before reopening, as if nothing
 * written after the last fdatasync had reached the disk: the worst case a power loss
 * allows. So a missing fdatasync, a wrong write order or a missing replay shows. */
static int undo_fd = -1;

static void crash_point(const char *where, int fd, uint64_t off, uint64_t len)
{
    if (!strcmp(where, "sync")) {
        if (ftruncate(undo_fd, 0) < 0)
            _exit(7);
    } else if (!strcmp(where, "apply") || !strcmp(where, "write")) {
        uint8_t *old = malloc(len);
        uint64_t hdr[2] = { off, len };
        ssize_t got = old ? pread(fd, old, len, (off_t)off) : -1;
        if (got < 0)
            _exit(7);
        memset(old + got, 0, len - (size_t)got); /* beyond EOF: zeros after a power loss */
        if (write(undo_fd, hdr, sizeof(hdr)) != sizeof(hdr) || write(undo_fd, old, len) != (ssize_t)len)
            _exit(7);
        free(old);
    }
    /* die here now and then, so kills land inside metadata updates */
    if (strcmp(where, "write") && rnd() % 16 == 0)
        raise(SIGKILL);
}

/* Puts back the saved bytes, newest first. */
static int undo(const char *img, const char *undof)
{
    int u = open(undof, O_RDONLY), fd = open(img, O_WRONLY);
    if (u < 0 || fd < 0)
        return -1;
    struct rec { uint64_t off, len; uint8_t *data; } *recs = NULL;
    size_t n = 0;
    uint64_t hdr[2];
    while (read(u, hdr, sizeof(hdr)) == sizeof(hdr)) {
        uint8_t *data = malloc(hdr[1]);
        if (!data || read(u, data, hdr[1]) != (ssize_t)hdr[1]) {
            free(data); /* torn: that in-place write never started */
            break;
        }
        recs = realloc(recs, (n + 1) * sizeof(*recs));
        recs[n++] = (struct rec){ hdr[0], hdr[1], data };
    }
    int rc = 0;
    while (n--) {
        if (pwrite(fd, recs[n].data, recs[n].len, (off_t)recs[n].off) != (ssize_t)recs[n].len)
            rc = -1;
        free(recs[n].data);
    }
    free(recs);
    close(u);
    close(fd);
    return rc;
}

static void workload(const char *img, const char *opsf, uint64_t gen0)
{
    vhdx_crash_point = crash_point;
    struct disk *d;
    char err[DISK_ERR_LEN];
    int lf = open(opsf, O_WRONLY | O_APPEND);
    if (lf < 0 || disk_open(img, DISK_FORMAT_VHDX, 0, &d, err) < 0)
        _exit(3);
    uint8_t *buf = malloc(256 * SECT);
    uint64_t gen = gen0;
    for (;;) {
        uint64_t r = rnd() % 100;
        struct op o = { 0 };
        if (r == 99 && d->info.virtual_size < (60ull << 40)) {
            /* grow now and then: past 128 GiB the BAT region must move (many pages
             * through the log, region table switch) */
            uint64_t add = (1 + rnd() % 96) << 30;
            if (vhdx_resize(d, d->info.virtual_size + add) < 0)
                _exit(8);
            continue;
        }
        if (r < 8) {
            o.type = 'D';
            if (r < 3) { /* whole blocks */
                o.lba = (rnd() % (NSECT / 2048)) * 2048;
                o.count = 2048 * (uint32_t)(1 + rnd() % 2);
            } else {
                o.lba = rnd() % NSECT;
                o.count = (uint32_t)(1 + rnd() % 64);
            }
        } else if (r < 20) {
            o.type = 'F';
        } else {
            o.type = 'W';
            o.lba = rnd() % NSECT;
            o.count = (uint32_t)(1 + rnd() % 256);
            o.gen = ++gen;
        }
        if (o.lba + o.count > NSECT)
            o.count = (uint32_t)(NSECT - o.lba);
        if (o.type == 'F') {
            if (disk_flush(d) < 0)
                _exit(4);
            if (write(lf, &o, sizeof(o)) != sizeof(o))
                _exit(5);
            continue;
        }
        if (write(lf, &o, sizeof(o)) != sizeof(o))
            _exit(5);
        int rc;
        if (o.type == 'W') {
            for (uint32_t i = 0; i < o.count; i++)
                fill_sector(buf + (size_t)i * SECT, o.lba + i, o.gen);
            rc = disk_write(d, o.lba * SECT, buf, (size_t)o.count * SECT);
        } else {
            rc = disk_discard(d, o.lba * SECT, (uint64_t)o.count * SECT);
        }
        if (rc < 0)
            _exit(6);
    }
}

static int replays;
static long total_ops;

static void report_line(void *ctx, const char *line)
{
    (void)ctx;
    if (!strncmp(line, "repaired: a pending log", 23))
        replays++;
    else
        printf("check: %s\n", line);
}

/* Verifies the image against state[] (generations at the last completed flush before
 * this run) and this run's op log; updates state[] to what was found. */
static int verify(const char *img, const char *opsf, const char *undof, uint64_t *state, int run)
{
    struct disk *d;
    char err[DISK_ERR_LEN];
    if (undo(img, undof) < 0) {
        printf("FAIL vhdx_crash: run %d: cannot simulate the power loss\n", run);
        return -1;
    }
    if (disk_open(img, DISK_FORMAT_VHDX, DISK_OPEN_CHECK, &d, err) < 0) {
        printf("FAIL vhdx_crash: run %d: reopen failed: %s\n", run, err);
        return -1;
    }
    int problems = vhdx_check(d, false, report_line, NULL);
    if (problems != 0) {
        printf("FAIL vhdx_crash: run %d: check found %d problems\n", run, problems);
        disk_close(d);
        return -1;
    }
    /* replay the op log: flushed state, and ops after the last flush */
    FILE *f = fopen(opsf, "rb");
    struct op *ops = NULL;
    size_t n = 0, cap = 0, last_flush = 0;
    struct op o;
    while (f && fread(&o, sizeof(o), 1, f) == 1) {
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            ops = realloc(ops, cap * sizeof(*ops));
        }
        ops[n++] = o;
        if (o.type == 'F')
            last_flush = n;
    }
    if (f)
        fclose(f);
    total_ops += (long)n;
    for (size_t i = 0; i < last_flush; i++)
        for (uint32_t k = 0; ops[i].type != 'F' && k < ops[i].count; k++)
            state[ops[i].lba + k] = ops[i].type == 'W' ? ops[i].gen : 0;
    uint8_t *buf = malloc(1 << 20), want[SECT];
    int rc = 0;
    for (uint64_t base = 0; base < NSECT && rc == 0; base += (1 << 20) / SECT) {
        if (disk_read(d, base * SECT, buf, 1 << 20) < 0) {
            printf("FAIL vhdx_crash: run %d: read: %s\n", run, disk_last_error(d));
            rc = -1;
            break;
        }
        for (uint64_t s = base; s < base + (1 << 20) / SECT && rc == 0; s++) {
            const uint8_t *p = buf + (s - base) * SECT;
            uint64_t lba, gen, magic;
            memcpy(&lba, p, 8);
            memcpy(&gen, p + 8, 8);
            memcpy(&magic, p + 16, 8);
            bool zero = true;
            for (unsigned i = 0; i < SECT && zero; i++)
                zero = p[i] == 0;
            if (zero) {
                gen = 0;
            } else {
                fill_sector(want, s, gen);
                if (magic != MAGIC || lba != s || memcmp(p, want, SECT) != 0) {
                    printf("FAIL vhdx_crash: run %d: sector %llu holds foreign or garbage data "
                           "(lba stamp %llu)\n", run, (unsigned long long)s, (unsigned long long)lba);
                    rc = -1;
                    break;
                }
            }
            bool ok = gen == state[s];
            for (size_t i = last_flush; i < n && !ok; i++)
                if (ops[i].type != 'F' && s >= ops[i].lba && s < ops[i].lba + ops[i].count)
                    ok = ops[i].type == 'W' ? gen == ops[i].gen : gen == 0;
            if (!ok) {
                printf("FAIL vhdx_crash: run %d: sector %llu has generation %llu, flushed %llu\n",
                       run, (unsigned long long)s, (unsigned long long)gen,
                       (unsigned long long)state[s]);
                rc = -1;
            }
            state[s] = gen;
        }
    }
    free(buf);
    free(ops);
    disk_close(d);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: vhdx_crash_test DIR RUNS SEED [SECONDS [diff]]\n");
        return 2;
    }
    char img[4096], opsf[4096], undof[4096], err[DISK_ERR_LEN];
    snprintf(img, sizeof(img), "%s/crash.vhdx", argv[1]);
    snprintf(opsf, sizeof(opsf), "%s/ops", argv[1]);
    snprintf(undof, sizeof(undof), "%s/undo", argv[1]);
    int runs = atoi(argv[2]);
    rng_state = strtoull(argv[3], NULL, 0) | 1;
    double limit = argc > 4 ? atof(argv[4]) : 1e9;
    bool diff = argc > 5 && !strcmp(argv[5], "diff");
    char parent[4096];
    snprintf(parent, sizeof(parent), "%s/parent.vhdx", argv[1]);
    unlink(img);
    unlink(parent);
    struct disk_create_opts co = { .format = DISK_FORMAT_VHDX, .type = DISK_TYPE_DYNAMIC,
                                   .size = DISK_SIZE, .block_size = 1 << 20 };
    uint64_t *state = calloc(NSECT, sizeof(*state));
    if (diff) {
        struct disk *p;
        uint8_t *buf = malloc(1 << 20);
        if (disk_create(parent, &co, err) < 0 || disk_open(parent, DISK_FORMAT_VHDX, 0, &p, err) < 0) {
            printf("FAIL vhdx_crash: parent: %s\n", err);
            return 1;
        }
        for (uint64_t s = 0; s < NSECT; s++) {
            fill_sector(buf + (s % 2048) * SECT, s, 1);
            state[s] = 1;
            if (s % 2048 == 2047 && disk_write(p, (s - 2047) * SECT, buf, 1 << 20) < 0) {
                printf("FAIL vhdx_crash: parent write: %s\n", disk_last_error(p));
                return 1;
            }
        }
        disk_close(p);
        free(buf);
        co.parent = parent;
        co.type = DISK_TYPE_DIFFERENCING;
    }
    if (disk_create(img, &co, err) < 0) {
        printf("FAIL vhdx_crash: create: %s\n", err);
        return 1;
    }
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int done = 0;
    for (int run = 0; run < runs; run++) {
        int fd = open(opsf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        close(fd);
        undo_fd = open(undof, O_RDWR | O_CREAT | O_TRUNC | O_APPEND, 0644);
        uint64_t seed = rnd();
        pid_t pid = fork();
        if (pid == 0) {
            rng_state = seed | 1;
            workload(img, opsf, (uint64_t)(run + 1) << 32);
        }
        /* let it run 1-40 ms (sometimes die while still opening / replaying) */
        struct timespec ts = { 0, (long)(rnd() % 40000000) + 1000000 };
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        close(undo_fd);
        if (WIFEXITED(status)) {
            printf("FAIL vhdx_crash: run %d: workload exited with %d\n", run, WEXITSTATUS(status));
            free(state);
            return 1;
        }
        if (verify(img, opsf, undof, state, run) < 0) {
            free(state);
            return 1;
        }
        done++;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 > limit)
            break;
    }
    if (done < runs)
        printf("FAIL vhdx_crash: only %d of %d runs within %.0f s\n", done, runs, limit);
    else
        printf("PASS vhdx_crash: %d kill/reopen/verify runs, %ld operations, %d log replays\n",
               done, total_ops, replays);
    free(state);
    return done >= runs ? 0 : 1;
}
