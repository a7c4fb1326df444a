/* Differencing VHDs: finding, verifying and recording the parent.
 *
 * We write two locators, as Virtual PC and Hyper-V do: W2ku (absolute path) and W2ru
 * (relative to the child's directory), both UTF-16LE with '\' separators, each with
 * VHD_LOCATOR_SPACE bytes reserved (data space stored in bytes, as Hyper-V does), so
 * that set-parent can always rewrite them in place. The header's Parent Unicode Name
 * (UTF-16BE) holds the parent's file name.
 *
 * Lookup order on open: W2ru, then W2ku, then the parent's file name in the child's
 * directory. The parent must be a VHD of the same size whose footer UUID equals the
 * header's Parent Unique ID; a time stamp mismatch is only noted for the checker. */
#include "disk/raw.h"
#include "disk/utf16.h"
#include "disk/vhd_priv.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Locator text -> a host path: '\' becomes '/', "X:" drive prefixes are dropped. */
static void windows_to_host(char *s)
{
    if (((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')) && s[1] == ':')
        memmove(s, s + 2, strlen(s + 2) + 1);
    for (char *p = s; *p; p++)
        if (*p == '\\')
            *p = '/';
}

/* out = dir + "/" + name, truncated (then it simply won't be found). */
static void join_path(char *out, const char *dir, const char *name)
{
    if (!strcmp(dir, ".")) {
        snprintf(out, PATH_MAX, "%.4000s", name);
        return;
    }
    size_t a = strnlen(dir, PATH_MAX - 2), b = strnlen(name, PATH_MAX - 2 - a);
    memcpy(out, dir, a);
    out[a] = '/';
    memcpy(out + a + 1, name, b);
    out[a + 1 + b] = 0;
}

static void child_dir(const char *child_path, char *out, size_t len)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", child_path);
    snprintf(out, len, "%s", dirname(tmp));
}

static int read_locator(struct disk *d, const struct vhd_locator *l, char *out, size_t outlen)
{
    uint8_t buf[VHD_LOCATOR_SPACE];
    if (!l->data_length || l->data_length > sizeof(buf) || l->data_offset > d->info.file_size ||
        l->data_length > d->info.file_size - l->data_offset)
        return -EINVAL;
    if (raw_pread_full(d->fd, buf, l->data_length, l->data_offset))
        return -EIO;
    return utf16_to_utf8(buf, l->data_length, false, out, outlen) ? -EINVAL : 0;
}

/* The candidate paths, best first. Returns how many. */
static int parent_candidates(struct disk *d, char cand[][PATH_MAX], int max)
{
    struct vhd *v = d->priv;
    char dir[PATH_MAX], text[PATH_MAX], name[PATH_MAX];
    int n = 0;
    child_dir(d->path, dir, sizeof(dir));
    static const uint32_t order[] = { VHD_PLAT_W2RU, VHD_PLAT_W2KU };
    for (size_t o = 0; o < 2; o++) {
        for (int i = 0; i < VHD_NUM_LOCATORS && n < max; i++) {
            if (v->header.loc[i].code != order[o] || read_locator(d, &v->header.loc[i], text, sizeof(text)))
                continue;
            windows_to_host(text);
            const char *t = text;
            while (o == 0 && t[0] == '.' && t[1] == '/')
                t += 2;
            if (o == 0 && t[0] != '/')
                join_path(cand[n++], dir, t);
            else
                snprintf(cand[n++], PATH_MAX, "%s", text);
            /* also the absolute locator's file name next to the child */
            if (o == 1 && n < max) {
                snprintf(name, sizeof(name), "%s", text);
                join_path(cand[n++], dir, basename(name));
            }
        }
    }
    if (n < max && !utf16_to_utf8(v->header.parent_name, sizeof(v->header.parent_name), true,
                                   text, sizeof(text)) && text[0]) {
        windows_to_host(text);
        snprintf(name, sizeof(name), "%s", text);
        join_path(cand[n++], dir, basename(name));
    }
    return n;
}

/* The name to show in "parent X not found". */
static void recorded_name(struct disk *d, char *out, size_t len)
{
    struct vhd *v = d->priv;
    out[0] = 0;
    for (int i = 0; i < VHD_NUM_LOCATORS; i++)
        if (v->header.loc[i].code == VHD_PLAT_W2KU && !read_locator(d, &v->header.loc[i], out, len)) {
            windows_to_host(out);
            return;
        }
    if (utf16_to_utf8(v->header.parent_name, sizeof(v->header.parent_name), true, out, len))
        out[0] = 0;
}

/* Checks that `p` is the disk this child was made from. */
static int verify_parent(struct disk *d, struct disk *p, char *err)
{
    struct vhd *v = d->priv;
    if (p->info.format != DISK_FORMAT_VHD) {
        snprintf(err, DISK_ERR_LEN, "%s: parent %s is not a VHD", d->path, p->path);
        return -EINVAL;
    }
    const struct vhd *pv = p->priv;
    if (memcmp(pv->footer.uuid, v->header.parent_uuid, 16)) {
        snprintf(err, DISK_ERR_LEN,
                 "%s: %s is not this disk's parent (its UUID differs from the one recorded)",
                 d->path, p->path);
        return -EINVAL;
    }
    if (p->info.virtual_size != d->info.virtual_size) {
        snprintf(err, DISK_ERR_LEN, "%s: parent %s has a different size", d->path, p->path);
        return -EINVAL;
    }
    return 0;
}

int vhd_open_parent(struct disk *d, char *err)
{
    struct vhd *v = d->priv;
    char (*cand)[PATH_MAX] = malloc(8 * PATH_MAX);
    char mismatch[DISK_ERR_LEN] = "";
    int rc = -ENOENT;
    if (!cand) {
        snprintf(err, DISK_ERR_LEN, "%s: out of memory", d->path);
        return -ENOMEM;
    }
    int n = parent_candidates(d, cand, 8);
    if (n > 0)
        snprintf(d->info.parent_path, sizeof(d->info.parent_path), "%s", cand[0]);
    if (d->flags & DISK_OPEN_NO_PARENT) {
        free(cand);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        struct stat st;
        struct disk *p;
        if (stat(cand[i], &st) < 0)
            continue;
        rc = disk_open(cand[i], DISK_FORMAT_AUTO, DISK_OPEN_RDONLY, &p, err);
        if (rc == -ELOOP) /* a loop is fatal, whichever locator led to it */
            break;
        if (rc < 0)
            continue;
        if ((rc = verify_parent(d, p, mismatch))) {
            disk_close(p);
            continue;
        }
        const struct vhd *pv = p->priv;
        if (pv->footer.timestamp != v->header.parent_timestamp &&
            (st.st_mtime - VHD_TIME_EPOCH) != (long long)v->header.parent_timestamp)
            v->parent_ts_mismatch = true;
        d->parent = p;
        snprintf(d->info.parent_path, sizeof(d->info.parent_path), "%s", cand[i]);
        free(cand);
        return 0;
    }
    free(cand);
    if (rc != -ELOOP) {
        if (mismatch[0]) {
            snprintf(err, DISK_ERR_LEN, "%s", mismatch);
            rc = -EINVAL;
        } else {
            char name[PATH_MAX];
            recorded_name(d, name, sizeof(name));
            snprintf(err, DISK_ERR_LEN,
                     "%.200s: parent %.240s not found; use `viridian disk set-parent`", d->path,
                     name[0] ? name : "(unnamed)");
            rc = -ENOENT;
        }
    }
    if (d->flags & DISK_OPEN_CHECK) { /* the checker reports it and goes on */
        vhd_problem(v, false, "%s", err);
        return 0;
    }
    return rc;
}

static void append(char *out, size_t len, const char *s)
{
    size_t o = strnlen(out, len - 1), n = strnlen(s, len - 1 - o);
    memcpy(out + o, s, n);
    out[o + n] = 0;
}

/* `target` relative to directory `from` (both absolute, no trailing '/'). */
static void relative_path(const char *from, const char *target, char *out, size_t len)
{
    size_t common = 0, i = 0;
    if (strcmp(from, "/") == 0) {
        out[0] = 0;
        append(out, len, "./");
        append(out, len, target + 1);
        return;
    }
    for (; from[i] && from[i] == target[i]; i++)
        if (from[i] == '/')
            common = i;
    if (!from[i] && target[i] == '/')
        common = i;
    size_t ups = 0;
    for (const char *p = from + common; *p; p++)
        ups += *p == '/';
    out[0] = 0;
    if (!ups)
        append(out, len, "./");
    for (size_t k = 0; k < ups; k++)
        append(out, len, "../");
    append(out, len, target + common + 1);
}

static int put_locator(int fd, struct vhd_locator *l, uint32_t code, const char *text,
                       uint64_t off, char *err)
{
    uint8_t buf[VHD_LOCATOR_SPACE];
    char win[PATH_MAX];
    snprintf(win, sizeof(win), "%s", text);
    for (char *p = win; *p; p++)
        if (*p == '/')
            *p = '\\';
    memset(buf, 0, sizeof(buf));
    long n = utf8_to_utf16(win, buf, sizeof(buf), false);
    if (n < 0) {
        snprintf(err, DISK_ERR_LEN, "parent path %s is too long or not UTF-8", text);
        return -ENAMETOOLONG;
    }
    l->code = code;
    l->data_space = VHD_LOCATOR_SPACE;
    l->data_length = (uint32_t)n;
    l->data_offset = off;
    int rc = raw_pwrite_full(fd, buf, sizeof(buf), off);
    if (rc)
        snprintf(err, DISK_ERR_LEN, "writing a parent locator: %s", strerror(-rc));
    return rc;
}

int vhd_link_parent(int fd, struct vhd_header *h, const char *child_path,
                    const char *parent_path, const struct vhd_footer *parent_footer,
                    uint64_t loc_off, char *err)
{
    char abs[PATH_MAX], dir[PATH_MAX], absdir[PATH_MAX], rel[PATH_MAX], name[PATH_MAX];
    if (!realpath(parent_path, abs)) {
        snprintf(err, DISK_ERR_LEN, "%.300s: %s", parent_path, strerror(errno));
        return -errno;
    }
    child_dir(child_path, dir, sizeof(dir));
    if (!realpath(dir, absdir)) {
        snprintf(err, DISK_ERR_LEN, "%.300s: %s", dir, strerror(errno));
        return -errno;
    }
    relative_path(absdir, abs, rel, sizeof(rel));
    snprintf(name, sizeof(name), "%s", abs);
    memcpy(h->parent_uuid, parent_footer->uuid, 16);
    h->parent_timestamp = parent_footer->timestamp;
    memset(h->parent_name, 0, sizeof(h->parent_name));
    if (utf8_to_utf16(basename(name), h->parent_name, sizeof(h->parent_name), true) < 0) {
        snprintf(err, DISK_ERR_LEN, "%s: parent file name too long for a VHD", parent_path);
        return -ENAMETOOLONG;
    }
    memset(h->loc, 0, sizeof(h->loc));
    int rc = put_locator(fd, &h->loc[0], VHD_PLAT_W2KU, abs, loc_off, err);
    if (!rc)
        rc = put_locator(fd, &h->loc[1], VHD_PLAT_W2RU, rel, loc_off + VHD_LOCATOR_SPACE, err);
    return rc;
}

int vhd_set_parent(struct disk *d, struct disk *parent, const char *parent_path)
{
    struct vhd *v = d->priv;
    int rc = verify_parent(d, parent, d->err);
    if (rc)
        return rc;
    /* Reuse our own two adjacent locator slots; otherwise append new ones at the end. */
    uint64_t off;
    struct vhd_locator *l = v->header.loc;
    if (l[0].code && l[1].code && vhd_locator_space(&l[0]) >= VHD_LOCATOR_SPACE &&
        vhd_locator_space(&l[1]) >= VHD_LOCATOR_SPACE &&
        l[1].data_offset == l[0].data_offset + VHD_LOCATOR_SPACE) {
        off = l[0].data_offset;
    } else {
        off = v->footer_off;
        v->footer_off += 2 * VHD_LOCATOR_SPACE;
        if ((rc = vhd_write_footer_at(d, v->footer_off)))
            return rc;
    }
    char err[DISK_ERR_LEN];
    if ((rc = vhd_link_parent(d->fd, &v->header, d->path, parent_path,
                              &((const struct vhd *)parent->priv)->footer, off, err))) {
        snprintf(d->err, sizeof(d->err), "%.200s: %.300s", d->path, err);
        return rc;
    }
    if ((rc = vhd_sync(d)) || (rc = vhd_write_header(d)) || (rc = vhd_sync(d)))
        return rc;
    v->parent_ts_mismatch = false;
    snprintf(d->info.parent_path, sizeof(d->info.parent_path), "%s", parent_path);
    return 0;
}
