/* vhdx_check: reports every inconsistency of an open image, one line each, and
 * repairs what is safe: a corrupt or stale header slot (both are rewritten from the
 * current one) and a corrupt region table copy (rewritten from the good one). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk/vhdx.h"
#include "disk/vhdx_internal.h"

struct checker {
    void (*report)(void *ctx, const char *line);
    void *ctx;
    int problems;
};

static void say(struct checker *c, bool counts, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(struct checker *c, bool counts, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (counts)
        c->problems++;
    if (c->report)
        c->report(c->ctx, line);
}

static void bat_line(void *ctx, const char *line)
{
    struct checker *c = ctx;
    if (c->report)
        c->report(c->ctx, line);
}

static void check_headers(struct disk *d, bool repair, struct checker *c)
{
    struct vhdx *v = vhdx_of(d);
    uint8_t raw[VHDX_HEADER_SIZE];
    struct vhdx_header h;
    int other = 1 - v->hdr_slot;
    int rc = raw_pread_zero_eof(d->fd, raw, sizeof(raw), other ? VHDX_HEADER2_OFF : VHDX_HEADER1_OFF);
    if (rc < 0) {
        say(c, true, "cannot read header %d: %s", other + 1, strerror(-rc));
        return;
    }
    const char *bad = NULL;
    if (vhdx_header_parse(raw, &h) < 0)
        bad = "is corrupt (bad signature, checksum or version)";
    else if (h.seq >= v->hdr.seq && memcmp(&h, &v->hdr, sizeof(h)) != 0)
        bad = "has a sequence number not below the current header's";
    if (!bad)
        return;
    if (repair && !(d->flags & DISK_OPEN_RDONLY) && vhdx_headers_write(d) == 0)
        say(c, false, "repaired: header %d %s; both headers rewritten", other + 1, bad);
    else
        say(c, true, "header %d %s", other + 1, bad);
}

static void check_regions(struct disk *d, bool repair, struct checker *c)
{
    uint8_t *t[2] = { malloc(VHDX_REGION_SIZE), malloc(VHDX_REGION_SIZE) };
    struct vhdx_regions r[2];
    char why[2][160];
    bool ok[2];
    if (!t[0] || !t[1]) {
        say(c, true, "out of memory");
        goto out;
    }
    for (int i = 0; i < 2; i++) {
        ok[i] = vhdx_meta_pread(d, t[i], VHDX_REGION_SIZE, i ? VHDX_REGION2_OFF : VHDX_REGION1_OFF) == 0 &&
                vhdx_region_parse(t[i], &r[i], why[i], sizeof(why[i])) == 0;
        if (!ok[i] && !why[i][0])
            snprintf(why[i], sizeof(why[i]), "unreadable");
    }
    for (int i = 0; i < 2; i++) {
        bool differs = ok[0] && ok[1] && memcmp(t[0], t[1], VHDX_REGION_SIZE) != 0;
        if (ok[i] && !(differs && i == 1))
            continue;
        const char *what = ok[i] ? "differs from region table 1" : why[i];
        int good = ok[i] ? 0 : 1 - i;
        if (repair && ok[good] && !(d->flags & DISK_OPEN_RDONLY) &&
            raw_pwrite_full(d->fd, t[good], VHDX_REGION_SIZE, i ? VHDX_REGION2_OFF : VHDX_REGION1_OFF) == 0 &&
            vhdx_sync(d) == 0)
            say(c, false, "repaired: region table %d %s; rewritten from copy %d", i + 1, what, good + 1);
        else
            say(c, true, "region table %d: %s", i + 1, what);
    }
out:
    free(t[0]);
    free(t[1]);
}

int vhdx_check(struct disk *d, bool repair, void (*report)(void *ctx, const char *line), void *ctx)
{
    if (d->fmt != &vhdx_format)
        return -EINVAL;
    struct vhdx *v = vhdx_of(d);
    struct checker c = { report, ctx, 0 };
    pthread_mutex_lock(&v->lock);
    if (v->replayed)
        say(&c, false, "repaired: a pending log (the image was not closed cleanly) was replayed");
    if (v->pending_log)
        say(&c, true, "the log is pending replay (opened without replay)");
    if (v->log_invalid)
        say(&c, true, "the header names a log (LogGuid set) but the log holds no valid entry");
    check_headers(d, repair, &c);
    check_regions(d, repair, &c);
    long n = vhdx_bat_validate(d, false, true, bat_line, &c);
    if (n < 0) {
        pthread_mutex_unlock(&v->lock);
        return (int)n;
    }
    c.problems += (int)n;
    if (v->meta.has_parent && !d->parent && !(d->flags & DISK_OPEN_NO_PARENT))
        say(&c, true, "the parent is not open");
    pthread_mutex_unlock(&v->lock);
    return c.problems;
}
