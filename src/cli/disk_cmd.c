/* viridian disk: create, inspect, check and transform disk images.
 * Exit status: 0 on success, 1 when the operation failed or check found problems,
 * 2 for a usage error. Every failure prints one line through vlog_error(). */
#include "cli/commands.h"
#include "core/log.h"
#include "core/size.h"
#include "disk/disk.h"
#include "disk/ops.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

struct args {
    const char *pos[3];
    int npos;
    const char *type, *block_size, *sector_size, *format, *parent;
    bool json, repair;
};

static const char usage_text[] =
    "usage: viridian disk COMMAND ...\n"
    "  create PATH SIZE [--type fixed|dynamic] [--block-size S] [--sector-size 512|4096] [--format F]\n"
    "  create PATH --parent PARENT [--format F]\n"
    "  info PATH [--json] [--format F]\n"
    "  check PATH [--repair] [--format F]\n"
    "  convert SRC DST [--type fixed|dynamic] [--block-size S] [--format F]\n"
    "  resize PATH SIZE\n"
    "  compact PATH\n"
    "  merge CHILD\n"
    "  set-parent CHILD NEWPARENT\n"
    "Formats: vhdx, vhd (vpc), raw (img); taken from the file name unless --format.\n"
    "Sizes take K, M, G, T suffixes (powers of 1024).\n";

/* Returns 0, or 2 after printing the error. `valued` lists options that take a value. */
static int parse(int argc, char **argv, int maxpos, struct args *a)
{
    memset(a, 0, sizeof(*a));
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || !arg[2]) {
            if (a->npos == maxpos) {
                vlog_error("disk: unexpected argument '%s'", arg);
                return 2;
            }
            a->pos[a->npos++] = arg;
            continue;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        struct {
            const char *name;
            const char **val;
            bool *flag;
        } opts[] = {
            { "type", &a->type, NULL },           { "block-size", &a->block_size, NULL },
            { "sector-size", &a->sector_size, NULL }, { "format", &a->format, NULL },
            { "parent", &a->parent, NULL },       { "json", NULL, &a->json },
            { "repair", NULL, &a->repair },
        };
        size_t k;
        for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
            if (strlen(opts[k].name) == nlen && !strncmp(opts[k].name, name, nlen))
                break;
        if (k == sizeof(opts) / sizeof(opts[0])) {
            vlog_error("disk: unknown option '%s'", arg);
            return 2;
        }
        if (opts[k].flag) {
            if (eq) {
                vlog_error("disk: option --%s takes no value", opts[k].name);
                return 2;
            }
            *opts[k].flag = true;
        } else if (eq) {
            *opts[k].val = eq + 1;
        } else if (i + 1 < argc) {
            *opts[k].val = argv[++i];
        } else {
            vlog_error("disk: option --%s needs a value", opts[k].name);
            return 2;
        }
    }
    return 0;
}

static int need_pos(const struct args *a, int n, const char *what)
{
    if (a->npos < n) {
        vlog_error("disk: missing %s (see `viridian disk help`)", what);
        return 2;
    }
    return 0;
}

static int parse_format(const char *name, enum disk_format_id *out)
{
    *out = DISK_FORMAT_AUTO;
    if (!name)
        return 0;
    *out = disk_format_from_name(name);
    if (*out == DISK_FORMAT_AUTO) {
        vlog_error("disk: unknown format '%s' (vhdx, vhd, raw)", name);
        return 2;
    }
    return 0;
}

static int parse_size_arg(const char *text, const char *what, uint64_t *out)
{
    if (size_parse(text, out) < 0 || *out == 0) {
        vlog_error("disk: bad %s '%s' (a positive number with an optional K/M/G/T suffix)",
                   what, text);
        return 2;
    }
    return 0;
}

/* --type, --block-size, --sector-size, --format into create options. */
static int create_opts(const struct args *a, struct disk_create_opts *o)
{
    memset(o, 0, sizeof(*o));
    if (parse_format(a->format, &o->format))
        return 2;
    if (a->type) {
        if (!strcmp(a->type, "fixed"))
            o->type = DISK_TYPE_FIXED;
        else if (!strcmp(a->type, "dynamic"))
            o->type = DISK_TYPE_DYNAMIC;
        else {
            vlog_error("disk: unknown type '%s' (fixed or dynamic)", a->type);
            return 2;
        }
    }
    uint64_t v;
    if (a->block_size) {
        if (parse_size_arg(a->block_size, "block size", &v))
            return 2;
        if (v > (1u << 30) || (v & (v - 1))) {
            vlog_error("disk: block size must be a power of two");
            return 2;
        }
        o->block_size = (uint32_t)v;
    }
    if (a->sector_size) {
        if (parse_size_arg(a->sector_size, "sector size", &v))
            return 2;
        if (v != 512 && v != 4096) {
            vlog_error("disk: sector size must be 512 or 4096");
            return 2;
        }
        o->logical_sector_size = (uint32_t)v;
    }
    return 0;
}

static int cmd_create(const struct args *a)
{
    struct disk_create_opts o;
    char err[DISK_ERR_LEN] = "";
    if (need_pos(a, 1, "PATH") || create_opts(a, &o))
        return 2;
    if (a->parent) {
        if (a->npos > 1) {
            vlog_error("disk: create takes SIZE or --parent, not both");
            return 2;
        }
        if (a->type) {
            vlog_error("disk: --type does not apply to a differencing disk");
            return 2;
        }
        o.parent = a->parent;
        o.type = DISK_TYPE_DIFFERENCING;
    } else {
        if (need_pos(a, 2, "SIZE") || parse_size_arg(a->pos[1], "size", &o.size))
            return 2;
        if (!o.type)
            o.type = DISK_TYPE_DYNAMIC;
    }
    if (disk_create(a->pos[0], &o, err)) {
        vlog_error("%s", err);
        return 1;
    }
    return 0;
}

static const char *type_name(enum disk_type t)
{
    return t == DISK_TYPE_FIXED ? "fixed" : t == DISK_TYPE_DYNAMIC ? "dynamic" : "differencing";
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static int cmd_info(const struct args *a)
{
    enum disk_format_id fmt;
    struct disk *d;
    char err[DISK_ERR_LEN] = "";
    if (need_pos(a, 1, "PATH") || parse_format(a->format, &fmt))
        return 2;
    /* A broken parent chain still shows this image, with the chain's error. */
    char chain_err[DISK_ERR_LEN] = "";
    if (disk_open(a->pos[0], fmt, DISK_OPEN_RDONLY, &d, err)) {
        if (disk_open(a->pos[0], fmt, DISK_OPEN_RDONLY | DISK_OPEN_NO_PARENT, &d, chain_err) ||
            d->info.type != DISK_TYPE_DIFFERENCING) {
            if (d)
                disk_close(d);
            vlog_error("%s", err);
            return 1;
        }
        snprintf(chain_err, sizeof(chain_err), "%s", err);
    }
    const struct disk_info *i = &d->info;
    if (a->json) {
        printf("{\"path\": ");
        json_string(d->path);
        printf(", \"format\": \"%s\", \"type\": \"%s\", \"virtual_size\": %llu, "
               "\"file_size\": %llu, \"allocated\": %llu, \"block_size\": %u, "
               "\"logical_sector_size\": %u, \"physical_sector_size\": %u, \"uuid\": ",
               d->fmt->name, type_name(i->type), (unsigned long long)i->virtual_size,
               (unsigned long long)i->file_size, (unsigned long long)i->allocated_bytes,
               i->block_size, i->logical_sector_size, i->physical_sector_size);
        json_string(i->uuid);
        printf(", \"parent_chain\": [");
        for (struct disk *p = d->parent; p; p = p->parent) {
            json_string(p->path);
            if (p->parent)
                printf(", ");
        }
        if (i->type == DISK_TYPE_DIFFERENCING && !d->parent)
            json_string(i->parent_path);
        printf("]}\n");
    } else {
        char s1[32], s2[32], s3[32];
        size_format(i->virtual_size, s1, sizeof(s1));
        size_format(i->file_size, s2, sizeof(s2));
        size_format(i->allocated_bytes, s3, sizeof(s3));
        printf("path:          %s\nformat:        %s\ntype:          %s\n", d->path,
               d->fmt->name, type_name(i->type));
        printf("virtual size:  %s (%llu bytes)\n", s1, (unsigned long long)i->virtual_size);
        printf("file size:     %s (%llu bytes)\n", s2, (unsigned long long)i->file_size);
        printf("allocated:     %s (%llu bytes)\n", s3, (unsigned long long)i->allocated_bytes);
        if (i->block_size) {
            size_format(i->block_size, s1, sizeof(s1));
            printf("block size:    %s\n", s1);
        }
        printf("sector size:   %u logical, %u physical\n", i->logical_sector_size,
               i->physical_sector_size);
        if (i->uuid[0])
            printf("uuid:          %s\n", i->uuid);
        if (i->type == DISK_TYPE_DIFFERENCING) {
            printf("parent chain:  ");
            for (struct disk *p = d->parent; p; p = p->parent)
                printf("%s%s", p->path, p->parent ? " -> " : "\n");
            if (!d->parent)
                printf("%s (%s)\n", i->parent_path, chain_err);
        }
    }
    disk_close(d);
    return 0;
}

static void print_problem(void *ctx, const char *line)
{
    printf("%s: %s\n", (const char *)ctx, line);
}

static int cmd_check(const struct args *a)
{
    enum disk_format_id fmt;
    struct disk *d;
    char err[DISK_ERR_LEN] = "";
    if (need_pos(a, 1, "PATH") || parse_format(a->format, &fmt))
        return 2;
    unsigned flags = DISK_OPEN_CHECK | (a->repair ? 0 : DISK_OPEN_RDONLY);
    if (disk_open(a->pos[0], fmt, flags, &d, err)) {
        vlog_error("%s", err);
        return 1;
    }
    int total = 0, rc = 0;
    for (struct disk *p = d; p && !rc; p = p->parent) {
        int n = disk_check(p, a->repair && p == d, print_problem, p->path);
        if (n < 0) {
            vlog_error("%s", disk_last_error(p));
            rc = 1;
        } else {
            total += n;
        }
    }
    disk_close(d);
    if (rc)
        return rc;
    if (total) {
        vlog_error("%s: %d problem%s found", a->pos[0], total, total == 1 ? "" : "s");
        return 1;
    }
    printf("%s: no problems found\n", a->pos[0]);
    return 0;
}

static int cmd_convert(const struct args *a)
{
    struct disk_create_opts o;
    struct progress prog;
    char err[DISK_ERR_LEN] = "";
    if (need_pos(a, 2, "SRC and DST") || create_opts(a, &o))
        return 2;
    if (a->parent || a->sector_size) {
        vlog_error("disk: convert takes --type, --block-size and --format only");
        return 2;
    }
    progress_init(&prog, "convert");
    if (disk_convert(a->pos[0], DISK_FORMAT_AUTO, a->pos[1], &o, &prog, err)) {
        vlog_error("%s", err);
        return 1;
    }
    return 0;
}

/* Opens PATH read-write for resize, compact, set-parent. */
static int open_rw(const struct args *a, unsigned flags, struct disk **d)
{
    enum disk_format_id fmt;
    char err[DISK_ERR_LEN] = "";
    if (parse_format(a->format, &fmt))
        return 2;
    if (disk_open(a->pos[0], fmt, flags, d, err)) {
        vlog_error("%s", err);
        return 1;
    }
    return 0;
}

static int cmd_resize(const struct args *a)
{
    struct disk *d;
    uint64_t size;
    int rc;
    if (need_pos(a, 2, "PATH and SIZE") || parse_size_arg(a->pos[1], "size", &size))
        return 2;
    if ((rc = open_rw(a, 0, &d)))
        return rc;
    rc = disk_resize(d, size) || disk_flush(d);
    if (rc)
        vlog_error("%s", disk_last_error(d));
    disk_close(d);
    return rc ? 1 : 0;
}

static int cmd_compact(const struct args *a)
{
    struct disk *d;
    struct progress prog;
    uint64_t freed;
    int rc;
    if (need_pos(a, 1, "PATH"))
        return 2;
    if ((rc = open_rw(a, 0, &d)))
        return rc;
    progress_init(&prog, "compact");
    struct stat st;
    uint64_t file_before = fstat(d->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    rc = disk_compact(d, &prog, &freed);
    if (rc) {
        vlog_error("%s", d->err[0] ? disk_last_error(d) : strerror(-rc));
    } else {
        char s[32], fb[32], fa[32];
        size_format(freed, s, sizeof(s));
        size_format(file_before, fb, sizeof(fb));
        size_format(fstat(d->fd, &st) == 0 ? (uint64_t)st.st_size : 0, fa, sizeof(fa));
        printf("%s: %s of zeros given back; file %s -> %s\n", a->pos[0], s, fb, fa);
    }
    disk_close(d);
    return rc ? 1 : 0;
}

static int cmd_merge(const struct args *a)
{
    struct progress prog;
    uint64_t merged;
    char err[DISK_ERR_LEN] = "";
    if (need_pos(a, 1, "CHILD"))
        return 2;
    progress_init(&prog, "merge");
    int rc = disk_merge(a->pos[0], &prog, &merged, err);
    if (rc) {
        vlog_error("%s", err[0] ? err : strerror(-rc));
        return 1;
    }
    char s[32];
    size_format(merged, s, sizeof(s));
    printf("%s: %s merged into the parent\n", a->pos[0], s);
    return 0;
}

static int cmd_set_parent(const struct args *a)
{
    struct disk *d;
    int rc;
    if (need_pos(a, 2, "CHILD and NEWPARENT"))
        return 2;
    if ((rc = open_rw(a, DISK_OPEN_NO_PARENT, &d)))
        return rc;
    rc = disk_set_parent(d, a->pos[1]) || disk_flush(d);
    if (rc)
        vlog_error("%s", disk_last_error(d));
    disk_close(d);
    return rc ? 1 : 0;
}

int cli_disk(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(const struct args *a);
        int maxpos;
    } subs[] = {
        { "create", cmd_create, 2 },   { "info", cmd_info, 1 },
        { "check", cmd_check, 1 },     { "convert", cmd_convert, 2 },
        { "resize", cmd_resize, 2 },   { "compact", cmd_compact, 1 },
        { "merge", cmd_merge, 1 },     { "set-parent", cmd_set_parent, 2 },
    };
    if (argc < 2) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage_text, stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        if (strcmp(argv[1], subs[i].name))
            continue;
        struct args a;
        if (parse(argc - 2, argv + 2, subs[i].maxpos, &a))
            return 2;
        return subs[i].fn(&a);
    }
    vlog_error("disk: unknown command '%s' (try `viridian disk help`)", argv[1]);
    return 2;
}
