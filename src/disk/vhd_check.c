/* The VHD checker. Open (with DISK_OPEN_CHECK) already validated the structure and set
 * aside what it could not use; this reports that, plus field-level inconsistencies, and
 * with `repair` rewrites the footers and the BAT (dropping entries that pointed outside
 * the file or overlapped something). Repairs never touch data blocks. */
#include "disk/vhd_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void say(int *count, void (*report)(void *, const char *), void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void say(int *count, void (*report)(void *, const char *), void *ctx, const char *fmt, ...)
{
    char line[DISK_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    report(ctx, line);
    (*count)++;
}

int vhd_check(struct disk *d, bool repair, void (*report)(void *ctx, const char *line), void *ctx)
{
    struct vhd *v = d->priv;
    struct vhd_footer *f = &v->footer;
    int left = 0;
    bool fix_footer = false, fix_bat = v->bad_entries_count > 0;

    for (int i = 0; i < v->nproblems; i++) {
        if (v->fixable[i] && repair) {
            report(ctx, v->problems[i]);
            fix_footer = true;
        } else {
            say(&left, report, ctx, "%s", v->problems[i]);
        }
    }
    if (!(f->features & 2)) {
        fix_footer = true;
        if (!repair)
            say(&left, report, ctx, "footer features field lacks the reserved bit 0x2");
    }
    if (f->version != 0x00010000)
        say(&left, report, ctx, "footer format version is %#x, not 0x10000", f->version);
    uint64_t chs = (uint64_t)f->cylinders * f->heads * f->sectors_per_track * VHD_SECTOR;
    bool chs_max = f->cylinders == 65535 && f->heads == 16 && f->sectors_per_track == 255;
    if ((!memcmp(f->creator_app, "vpc ", 4) || !memcmp(f->creator_app, "qemu", 4)) && !chs_max &&
        chs != f->current_size)
        say(&left, report, ctx,
            "CHS geometry gives %llu bytes but the current size is %llu; readers that trust "
            "CHS for creator \"%.4s\" (qemu) see a different disk size",
            (unsigned long long)chs, (unsigned long long)f->current_size, f->creator_app);
    if (v->sparse && v->header.version != 0x00010000)
        say(&left, report, ctx, "dynamic header version is %#x, not 0x10000", v->header.version);
    if (v->parent_ts_mismatch)
        say(&left, report, ctx,
            "parent time stamp differs from the one recorded (the parent may have been "
            "modified after this child was made)");

    if (repair && (fix_footer || fix_bat)) {
        int rc = 0;
        f->features |= 2;
        for (uint32_t i = 0; i < v->bad_entries_count && !rc; i++)
            rc = vhd_write_bat_entry(d, v->bad_entries[i]);
        if (!rc && fix_bat)
            rc = vhd_sync(d);
        if (!rc)
            rc = vhd_write_footers(d);
        /* whatever followed a damaged end footer is not part of the image */
        if (!rc && v->sparse && ftruncate(d->fd, (off_t)(v->footer_off + VHD_FOOTER_SIZE)) < 0)
            rc = -errno;
        if (!rc)
            rc = vhd_sync(d);
        if (rc)
            return rc;
        if (fix_bat) {
            char line[128];
            snprintf(line, sizeof(line), "repaired: %u BAT entries marked unused",
                     v->bad_entries_count);
            report(ctx, line);
            v->bad_entries_count = 0;
        }
        if (fix_footer)
            report(ctx, "repaired: footers rewritten");
        v->eof_footer_bad = v->copy_footer_bad = v->footers_differ = false;
    }
    return left;
}
