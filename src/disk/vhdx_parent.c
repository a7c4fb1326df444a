/* Differencing VHDX: finding and opening the parent from the locator, the
 * parent_linkage check, loop detection in parent chains, and relative paths for
 * create. Paths are stored Windows-style (backslashes); on this host they are
 * resolved with '/' and relative paths relative to the child's directory. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/vhdx.h"
#include "disk/vhdx_internal.h"

#define MAX_CHAIN 64

/* The files of the chain being opened on this thread, to refuse loops. */
static _Thread_local struct {
    dev_t dev;
    ino_t ino;
} chain[MAX_CHAIN];
static _Thread_local int chain_depth;

static void to_host_path(const char *stored, char *out, size_t cap)
{
    if (!strncmp(stored, "\\\\?\\", 4))
        stored += 4;
    snprintf(out, cap, "%s", stored);
    for (char *p = out; *p; p++)
        if (*p == '\\')
            *p = '/';
}

static bool is_drive_path(const char *p)
{
    return ((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z')) && p[1] == ':';
}

/* candidate i of the locator as a host path; false if there is none */
static bool candidate(struct disk *d, int i, char *out, size_t cap)
{
    const struct vhdx_meta *m = &vhdx_of(d)->meta;
    char tmp[PATH_MAX], dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", d->path);
    char *dn = dirname(dir);
    const char *src = i == 0 ? m->relative_path : i == 1 ? m->absolute_path
                    : m->relative_path ? m->relative_path : m->absolute_path;
    if (!src)
        return false;
    to_host_path(src, tmp, sizeof(tmp));
    char *rel = tmp;
    while (rel[0] == '.' && rel[1] == '/')
        rel += 2;
    if (!strcmp(dn, ".") && i != 1) {
        snprintf(dir, sizeof(dir), "%s", ".");
        dn = dir;
    }
    int n;
    if (i == 0) {
        if (tmp[0] == '/' || is_drive_path(tmp))
            return false;
        n = strcmp(dn, ".") ? snprintf(out, cap, "%s/%s", dn, rel) : snprintf(out, cap, "%s", rel);
    } else if (i == 1) {
        if (is_drive_path(tmp))
            return false;
        n = snprintf(out, cap, "%s", tmp);
    } else {
        /* last resort (as libvhdi does): the parent's file name in the child's directory */
        const char *base = strrchr(tmp, '/');
        n = snprintf(out, cap, "%s/%s", dn, base ? base + 1 : tmp);
    }
    return n > 0 && (size_t)n < cap;
}

int vhdx_parent_open(struct disk *d)
{
    struct vhdx *v = vhdx_of(d);
    char path[PATH_MAX], tried[DISK_ERR_LEN] = "";
    struct stat st;
    if (!v->meta.has_parent)
        return 0;
    if (fstat(d->fd, &st) < 0)
        return vhdx_err(d, -errno, "fstat: %s", strerror(errno));
    for (int i = 0; i < chain_depth; i++)
        if (chain[i].dev == st.st_dev && chain[i].ino == st.st_ino)
            return vhdx_err(d, -ELOOP, "the parent chain loops back to this file");
    if (chain_depth >= MAX_CHAIN)
        return vhdx_err(d, -ELOOP, "the parent chain is deeper than %d", MAX_CHAIN);

    int rc = -ENOENT;
    for (int i = 0; i < 3; i++) {
        if (!candidate(d, i, path, sizeof(path)) || access(path, F_OK) != 0)
            continue;
        snprintf(d->info.parent_path, sizeof(d->info.parent_path), "%s", path);
        if (d->flags & DISK_OPEN_NO_PARENT)
            return 0;
        struct disk *p = NULL;
        char perr[DISK_ERR_LEN];
        chain[chain_depth].dev = st.st_dev;
        chain[chain_depth].ino = st.st_ino;
        chain_depth++;
        rc = disk_open(path, DISK_FORMAT_AUTO,
                       DISK_OPEN_RDONLY | (d->flags & DISK_OPEN_NO_REPLAY), &p, perr);
        chain_depth--;
        if (rc < 0)
            return vhdx_err(d, rc, "cannot open the parent: %s", perr);
        if (p->fmt != &vhdx_format) {
            disk_close(p);
            return vhdx_err(d, -EINVAL, "parent %s is not a VHDX image", path);
        }
        struct vhdx *pv = vhdx_of(p);
        const struct vhdx_guid *dwg = &pv->hdr.data_write_guid;
        if (!vhdx_guid_eq(dwg, &v->meta.linkage) &&
            !(v->meta.have_linkage2 && vhdx_guid_eq(dwg, &v->meta.linkage2))) {
            char want[37], got[37];
            vhdx_guid_format(&v->meta.linkage, want);
            vhdx_guid_format(dwg, got);
            snprintf(tried, sizeof(tried), "parent %.300s has DataWriteGuid %s, the child expects "
                     "%s (the parent was modified after the child was created)", path, got, want);
            disk_close(p);
            rc = -EINVAL;
            continue;
        }
        if (pv->geom.logical_sector != v->geom.logical_sector) {
            disk_close(p);
            return vhdx_err(d, -EINVAL, "parent %s has %u-byte sectors, the child %u", path,
                            pv->geom.logical_sector, v->geom.logical_sector);
        }
        d->parent = p;
        return 0;
    }
    if (tried[0])
        return vhdx_err(d, rc, "%s", tried);
    if (d->flags & DISK_OPEN_NO_PARENT) {
        /* show where the parent was expected */
        if (candidate(d, 0, path, sizeof(path)) || candidate(d, 1, path, sizeof(path)))
            snprintf(d->info.parent_path, sizeof(d->info.parent_path), "%s", path);
        return 0;
    }
    return vhdx_err(d, -ENOENT, "parent not found; use `viridian disk set-parent` (looked for "
                    "relative_path \"%s\", absolute_win32_path \"%s\")",
                    v->meta.relative_path ? v->meta.relative_path : "",
                    v->meta.absolute_path ? v->meta.absolute_path : "");
}

int vhdx_relative_path(const char *from, const char *to, char *out, size_t cap)
{
    /* from and to are absolute, normalized paths of files */
    size_t common = 0;
    for (size_t i = 0; from[i] && from[i] == to[i]; i++)
        if (from[i] == '/')
            common = i + 1;
    size_t len = 0;
    out[0] = 0;
    int ups = 0;
    for (const char *p = from + common; *p; p++)
        if (*p == '/')
            ups++;
    if (ups == 0)
        len += (size_t)snprintf(out, cap, ".\\");
    for (int i = 0; i < ups && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "..\\");
    if (len >= cap)
        return -ENAMETOOLONG;
    int n = snprintf(out + len, cap - len, "%s", to + common);
    if (n < 0 || (size_t)n >= cap - len)
        return -ENAMETOOLONG;
    for (char *p = out + len; *p; p++)
        if (*p == '/')
            *p = '\\';
    return 0;
}

int vhdx_locator_paths(const char *child, const char *parent, char *rel, size_t relcap, char *abs,
                       size_t abscap)
{
    char pabs[PATH_MAX], cdir[PATH_MAX], dreal[PATH_MAX], cabs[PATH_MAX + 256];
    if (!realpath(parent, pabs))
        return -errno;
    snprintf(cdir, sizeof(cdir), "%s", child);
    if (!realpath(dirname(cdir), dreal))
        return -errno;
    snprintf(cdir, sizeof(cdir), "%s", child);
    snprintf(cabs, sizeof(cabs), "%s/%s", strcmp(dreal, "/") ? dreal : "", basename(cdir));
    if (vhdx_relative_path(cabs, pabs, rel, relcap) < 0 || strlen(pabs) >= abscap)
        return -ENAMETOOLONG;
    snprintf(abs, abscap, "%s", pabs);
    for (char *c = abs; *c; c++)
        if (*c == '/')
            *c = '\\';
    return 0;
}

/* set-parent: the same disk found elsewhere (its DataWriteGuid is still our parent
 * linkage), so only the locator's paths change. The metadata region is rebuilt with the
 * new paths and every 4 KiB page that differs goes through the log. */
int vhdx_set_parent(struct disk *d, struct disk *parent, const char *parent_path)
{
    struct vhdx *v = vhdx_of(d);
    if (parent->fmt != &vhdx_format)
        return vhdx_err(d, -EINVAL, "%s is not a VHDX image, so it cannot be this disk's parent",
                        parent_path);
    if (!v->meta.have_linkage ||
        memcmp(&vhdx_of(parent)->hdr.data_write_guid, &v->meta.linkage, sizeof(v->meta.linkage)))
        return vhdx_err(d, -EINVAL, "%s is not this disk's parent (its data write GUID is not "
                        "the parent linkage recorded here)", parent_path);
    char rel[PATH_MAX], abs[PATH_MAX];
    int rc = vhdx_locator_paths(d->path, parent_path, rel, sizeof(rel), abs, sizeof(abs));
    if (rc < 0)
        return vhdx_err(d, rc, "parent path %s: %s", parent_path, strerror(-rc));

    struct vhdx_create_meta c = {
        .block_size = v->meta.block_size, .leave_allocated = v->meta.leave_allocated,
        .has_parent = true, .virtual_size = v->meta.virtual_size,
        .logical_sector = v->meta.logical_sector, .physical_sector = v->meta.physical_sector,
        .page83 = v->meta.page83, .linkage = &v->meta.linkage,
        .relative_path = rel, .absolute_path = abs,
    };
    uint32_t len = v->reg.meta_length;
    uint8_t *fresh = calloc(1, len), *cur = malloc(VHDX_LOG_SECTOR);
    if (!fresh || !cur) {
        free(fresh);
        free(cur);
        return vhdx_err(d, -ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&v->lock);
    rc = vhdx_begin_change(d, false);
    if (rc >= 0 && (rc = vhdx_metadata_build(&c, fresh, len)) < 0)
        rc = vhdx_err(d, rc, "the new parent locator does not fit in the metadata region");
    for (uint32_t off = 0; rc >= 0 && off < len; off += VHDX_LOG_SECTOR) {
        rc = vhdx_meta_pread(d, cur, VHDX_LOG_SECTOR, v->reg.meta_offset + off);
        if (rc >= 0 && memcmp(cur, fresh + off, VHDX_LOG_SECTOR)) {
            uint8_t *page;
            rc = vhdx_misc_page(d, v->reg.meta_offset + off, &page);
            if (rc >= 0)
                memcpy(page, fresh + off, VHDX_LOG_SECTOR);
        }
    }
    if (rc >= 0) {
        v->meta_dirty = true;
        rc = vhdx_flush_locked(d);
    }
    if (rc >= 0) {
        vhdx_metadata_free(&v->meta);
        rc = vhdx_metadata_load(d);
    }
    pthread_mutex_unlock(&v->lock);
    free(fresh);
    free(cur);
    if (rc >= 0)
        snprintf(d->info.parent_path, sizeof(d->info.parent_path), "%s", parent_path);
    return rc < 0 ? rc : 0;
}
