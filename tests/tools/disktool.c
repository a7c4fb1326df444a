/* Test-only driver of the disk library for shell tests (the real CLI is `viridian
 * disk`). Usage:
 *   disktool create IMG SIZE [fixed|dynamic] [block=N] [sector=N] [physical=N] [parent=P]
 *   disktool info IMG                      key=value lines
 *   disktool write-raw IMG RAW             copy RAW into IMG (all-zero MiBs skipped)
 *   disktool dump-raw IMG OUT [noreplay]   the whole virtual disk into OUT
 *   disktool write-pattern IMG OFF LEN BYTE
 *   disktool discard IMG OFF LEN
 *   disktool check IMG [repair]            problems to stdout; exit 0 clean, 2 problems
 *   disktool resize IMG SIZE
 *   disktool map IMG                       OFF LEN DATA|ZERO|PARENT lines
 *   disktool crash-after-write IMG OFF LEN BYTE   write, flush, then exit without
 *                                          closing (leaves a pending log, as a crash) 
 * Exit status 0 on success, 1 on error (message on stderr). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/size.h"
#include "disk/disk.h"
#include "disk/vhdx.h"

static int die(const char *msg)
{
    fprintf(stderr, "disktool: %s\n", msg);
    return 1;
}

static uint64_t num(const char *s)
{
    uint64_t v;
    if (size_parse(s, &v) < 0) {
        fprintf(stderr, "disktool: bad number %s\n", s);
        exit(1);
    }
    return v;
}

static int open_img(const char *path, unsigned flags, struct disk **d)
{
    char err[DISK_ERR_LEN];
    if (disk_open(path, DISK_FORMAT_AUTO, flags, d, err) < 0) {
        fprintf(stderr, "disktool: %s\n", err);
        return -1;
    }
    return 0;
}

static void print_line(void *ctx, const char *line)
{
    (void)ctx;
    printf("%s\n", line);
}

static int cmd_create(int argc, char **argv)
{
    struct disk_create_opts o = { .type = DISK_TYPE_DYNAMIC };
    char err[DISK_ERR_LEN];
    o.size = num(argv[3]);
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "fixed"))
            o.type = DISK_TYPE_FIXED;
        else if (!strcmp(argv[i], "dynamic"))
            o.type = DISK_TYPE_DYNAMIC;
        else if (!strncmp(argv[i], "block=", 6))
            o.block_size = (uint32_t)num(argv[i] + 6);
        else if (!strncmp(argv[i], "sector=", 7))
            o.logical_sector_size = (uint32_t)num(argv[i] + 7);
        else if (!strncmp(argv[i], "physical=", 9))
            o.physical_sector_size = (uint32_t)num(argv[i] + 9);
        else if (!strncmp(argv[i], "parent=", 7)) {
            o.parent = argv[i] + 7;
            o.type = DISK_TYPE_DIFFERENCING;
        } else
            return die("unknown create option");
    }
    if (disk_create(argv[2], &o, err) < 0)
        return die(err);
    return 0;
}

static int cmd_info(struct disk *d)
{
    static const char *types[] = { "?", "fixed", "dynamic", "differencing" };
    printf("format=%s\ntype=%s\nvirtual_size=%llu\nblock_size=%u\nlogical_sector=%u\n"
           "physical_sector=%u\nparent=%s\nuuid=%s\n",
           disk_format_name(d->info.format), types[d->info.type <= 3 ? d->info.type : 0],
           (unsigned long long)d->info.virtual_size, d->info.block_size,
           d->info.logical_sector_size, d->info.physical_sector_size, d->info.parent_path,
           d->info.uuid);
    return 0;
}

static int cmd_write_raw(struct disk *d, const char *raw)
{
    int fd = open(raw, O_RDONLY);
    if (fd < 0)
        return die(strerror(errno));
    size_t chunk = 1 << 20;
    uint8_t *buf = malloc(chunk), *zero = calloc(1, chunk);
    uint64_t off = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = pread(fd, buf, chunk, (off_t)off);
        if (n <= 0)
            break;
        if (n % d->info.logical_sector_size) {
            memset(buf + n, 0, chunk - (size_t)n);
            n = (ssize_t)((size_t)n + d->info.logical_sector_size - (size_t)n % d->info.logical_sector_size);
        }
        if (memcmp(buf, zero, (size_t)n) != 0 && disk_write(d, off, buf, (size_t)n) < 0) {
            rc = die(disk_last_error(d));
            break;
        }
        off += (uint64_t)n;
    }
    close(fd);
    free(buf);
    free(zero);
    if (rc == 0 && disk_flush(d) < 0)
        rc = die(disk_last_error(d));
    return rc;
}

static int cmd_dump_raw(struct disk *d, const char *out)
{
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return die(strerror(errno));
    size_t chunk = 4 << 20;
    uint8_t *buf = malloc(chunk);
    int rc = 0;
    for (uint64_t off = 0; off < d->info.virtual_size;) {
        uint64_t n = d->info.virtual_size - off < chunk ? d->info.virtual_size - off : chunk;
        if (disk_read(d, off, buf, n) < 0) {
            rc = die(disk_last_error(d));
            break;
        }
        if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n) {
            rc = die(strerror(errno));
            break;
        }
        off += n;
    }
    if (ftruncate(fd, (off_t)d->info.virtual_size) < 0)
        rc = die(strerror(errno));
    free(buf);
    close(fd);
    return rc;
}

static int cmd_pattern(struct disk *d, uint64_t off, uint64_t len, int byte)
{
    uint8_t *buf = malloc(len);
    memset(buf, byte, len);
    int rc = disk_write(d, off, buf, len);
    free(buf);
    if (rc == 0)
        rc = disk_flush(d);
    return rc < 0 ? die(disk_last_error(d)) : 0;
}

static int cmd_map(struct disk *d)
{
    static const char *kinds[] = { "?", "DATA", "ZERO", "PARENT" };
    for (uint64_t off = 0; off < d->info.virtual_size;) {
        uint64_t n;
        int k = disk_extent(d, off, d->info.virtual_size - off, &n);
        if (k < 0 || n == 0)
            return die(disk_last_error(d));
        printf("%llu %llu %s\n", (unsigned long long)off, (unsigned long long)n, kinds[k]);
        off += n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct disk *d = NULL;
    int rc;
    if (argc < 3)
        return die("usage: see tests/tools/disktool.c");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "create"))
        return argc < 4 ? die("create IMG SIZE ...") : cmd_create(argc, argv);
    bool ro = !strcmp(cmd, "info") || !strcmp(cmd, "dump-raw") || !strcmp(cmd, "map");
    unsigned flags = ro ? DISK_OPEN_RDONLY : 0;
    if (!strcmp(cmd, "dump-raw") && argc > 4 && !strcmp(argv[4], "noreplay"))
        flags |= DISK_OPEN_NO_REPLAY;
    if (!strcmp(cmd, "check"))
        flags = DISK_OPEN_CHECK |
                (argc > 3 && !strcmp(argv[3], "repair") ? 0 : DISK_OPEN_RDONLY | DISK_OPEN_NO_REPLAY);
    if (open_img(argv[2], flags, &d) < 0)
        return 1;
    if (!strcmp(cmd, "info"))
        rc = cmd_info(d);
    else if (!strcmp(cmd, "write-raw") && argc > 3)
        rc = cmd_write_raw(d, argv[3]);
    else if (!strcmp(cmd, "dump-raw") && argc > 3)
        rc = cmd_dump_raw(d, argv[3]);
    else if (!strcmp(cmd, "write-pattern") && argc > 5)
        rc = cmd_pattern(d, num(argv[3]), num(argv[4]), (int)strtol(argv[5], NULL, 0));
    else if (!strcmp(cmd, "discard") && argc > 4)
        rc = disk_discard(d, num(argv[3]), num(argv[4])) < 0 || disk_flush(d) < 0
                 ? die(disk_last_error(d)) : 0;
    else if (!strcmp(cmd, "check")) {
        int n = vhdx_check(d, argc > 3 && !strcmp(argv[3], "repair"), print_line, NULL);
        rc = n < 0 ? die(strerror(-n)) : n > 0 ? 2 : 0;
    } else if (!strcmp(cmd, "resize") && argc > 3)
        rc = vhdx_resize(d, num(argv[3])) < 0 ? die(disk_last_error(d)) : 0;
    else if (!strcmp(cmd, "map"))
        rc = cmd_map(d);
    else if (!strcmp(cmd, "crash-after-write") && argc > 5) {
        rc = cmd_pattern(d, num(argv[3]), num(argv[4]), (int)strtol(argv[5], NULL, 0));
        _exit(rc);
    }
    else
        rc = die("unknown command or missing arguments");
    disk_close(d);
    return rc;
}
