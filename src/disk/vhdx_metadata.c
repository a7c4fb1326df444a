/* VHDX metadata region: the table, the five system items and the parent locator
 * (parse and build), plus the UTF-16LE <-> UTF-8 conversions the locator needs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk/vhdx_internal.h"

#define META_IS_USER 1u
#define META_IS_VIRTUAL_DISK 2u
#define META_IS_REQUIRED 4u

char *vhdx_utf16_to_utf8(const uint8_t *p, size_t bytes)
{
    size_t n = bytes / 2;
    char *out = malloc(n * 3 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = vhdx_le16(p + 2 * i);
        if (c >= 0xD800 && c < 0xDC00 && i + 1 < n) {
            uint32_t c2 = vhdx_le16(p + 2 * i + 2);
            if (c2 >= 0xDC00 && c2 < 0xE000) {
                c = 0x10000 + ((c - 0xD800) << 10) + (c2 - 0xDC00);
                i++;
            }
        }
        if (c >= 0xD800 && c < 0xE000)
            c = '?'; /* unpaired surrogate */
        if (c == 0)
            c = '?';
        if (c < 0x80) {
            *o++ = (char)c;
        } else if (c < 0x800) {
            *o++ = (char)(0xC0 | c >> 6);
            *o++ = (char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            *o++ = (char)(0xE0 | c >> 12);
            *o++ = (char)(0x80 | ((c >> 6) & 0x3F));
            *o++ = (char)(0x80 | (c & 0x3F));
        } else {
            /* 4-byte sequences need one more byte than the 3 per unit reserved, but a
             * pair of units produced it, so 6 bytes are available */
            *o++ = (char)(0xF0 | c >> 18);
            *o++ = (char)(0x80 | ((c >> 12) & 0x3F));
            *o++ = (char)(0x80 | ((c >> 6) & 0x3F));
            *o++ = (char)(0x80 | (c & 0x3F));
        }
    }
    *o = 0;
    return out;
}

size_t vhdx_utf8_to_utf16(const char *s, uint8_t *out, size_t cap)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t n = 0;
    while (*p) {
        uint32_t c = *p++;
        int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
        if (extra)
            c &= 0x3Fu >> extra;
        for (int k = 0; k < extra && (*p & 0xC0) == 0x80; k++)
            c = c << 6 | (*p++ & 0x3F);
        if (c >= 0x10000) {
            if (n + 4 <= cap) {
                c -= 0x10000;
                vhdx_put16(out + n, (uint16_t)(0xD800 + (c >> 10)));
                vhdx_put16(out + n + 2, (uint16_t)(0xDC00 + (c & 0x3FF)));
            }
            n += 4;
        } else {
            if (n + 2 <= cap)
                vhdx_put16(out + n, (uint16_t)c);
            n += 2;
        }
    }
    return n;
}

void vhdx_metadata_free(struct vhdx_meta *m)
{
    free(m->relative_path);
    free(m->absolute_path);
    free(m->volume_path);
    m->relative_path = m->absolute_path = m->volume_path = NULL;
}

static bool key_is(const uint8_t *k, size_t klen, const char *name)
{
    size_t n = strlen(name);
    if (klen != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (vhdx_le16(k + 2 * i) != (uint8_t)name[i])
            return false;
    return true;
}

static int parse_locator(struct disk *d, const uint8_t *it, uint32_t len)
{
    struct vhdx_meta *m = &vhdx_of(d)->meta;
    struct vhdx_guid type;
    if (len < 20)
        return vhdx_err(d, -EINVAL, "parent locator is too short (%u bytes)", len);
    memcpy(type.b, it, 16);
    if (!vhdx_guid_eq(&type, &vhdx_guid_locator_type_vhdx)) {
        char t[37];
        vhdx_guid_format(&type, t);
        return vhdx_err(d, -ENOTSUP, "unknown parent locator type %s", t);
    }
    uint32_t count = vhdx_le16(it + 18);
    if (20 + 12ull * count > len)
        return vhdx_err(d, -EINVAL, "parent locator has %u entries but only %u bytes", count, len);
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *e = it + 20 + 12 * i;
        uint32_t ko = vhdx_le32(e), vo = vhdx_le32(e + 4);
        uint32_t kl = vhdx_le16(e + 8), vl = vhdx_le16(e + 10);
        if (!ko || !vo || !kl || !vl || (uint64_t)ko + kl > len || (uint64_t)vo + vl > len)
            return vhdx_err(d, -EINVAL, "parent locator entry %u lies outside the item", i);
        const uint8_t *k = it + ko;
        char *val = vhdx_utf16_to_utf8(it + vo, vl);
        if (!val)
            return vhdx_err(d, -ENOMEM, "out of memory");
        char **slot = NULL;
        if (key_is(k, kl, "parent_linkage") || key_is(k, kl, "parent_linkage2")) {
            bool two = kl == 2 * strlen("parent_linkage2");
            int rc = vhdx_guid_parse(val, two ? &m->linkage2 : &m->linkage);
            if (rc < 0) {
                vhdx_err(d, -EINVAL, "parent locator: %s is not a GUID: %.60s",
                         two ? "parent_linkage2" : "parent_linkage", val);
                free(val);
                return -EINVAL;
            }
            *(two ? &m->have_linkage2 : &m->have_linkage) = true;
        } else if (key_is(k, kl, "relative_path")) {
            slot = &m->relative_path;
        } else if (key_is(k, kl, "absolute_win32_path")) {
            slot = &m->absolute_path;
        } else if (key_is(k, kl, "volume_path")) {
            slot = &m->volume_path;
        }
        if (slot) {
            free(*slot);
            *slot = val;
        } else {
            free(val);
        }
    }
    if (!m->have_linkage)
        return vhdx_err(d, -EINVAL, "parent locator lacks parent_linkage");
    if (!m->relative_path && !m->absolute_path && !m->volume_path)
        return vhdx_err(d, -EINVAL, "parent locator has no parent path");
    return 0;
}

int vhdx_metadata_load(struct disk *d)
{
    struct vhdx *v = vhdx_of(d);
    struct vhdx_meta *m = &v->meta;
    const uint64_t base = v->reg.meta_offset;
    const uint32_t rlen = v->reg.meta_length;
    uint8_t *tab = malloc(VHDX_META_TABLE_SIZE);
    uint8_t *item = NULL;
    int rc = 0;
    enum { PARAMS, SIZE, PAGE83, LOGICAL, PHYSICAL, LOCATOR, NKNOWN };
    const struct vhdx_guid *known[NKNOWN] = {
        &vhdx_guid_file_params, &vhdx_guid_virtual_size, &vhdx_guid_page83,
        &vhdx_guid_logical_sector, &vhdx_guid_physical_sector, &vhdx_guid_parent_locator,
    };
    static const uint32_t want_len[NKNOWN] = { 8, 8, 16, 4, 4, 0 };
    bool seen[NKNOWN] = { false };

    if (!tab)
        return vhdx_err(d, -ENOMEM, "out of memory");
    if (rlen < VHDX_META_TABLE_SIZE) {
        rc = vhdx_err(d, -EINVAL, "metadata region is too small");
        goto out;
    }
    rc = vhdx_meta_pread(d, tab, VHDX_META_TABLE_SIZE, base);
    if (rc < 0)
        goto out;
    if (memcmp(tab, "metadata", 8) != 0) {
        rc = vhdx_err(d, -EINVAL, "bad metadata table signature");
        goto out;
    }
    uint32_t count = vhdx_le16(tab + 10);
    if (count > VHDX_META_MAX_ENTRIES) {
        rc = vhdx_err(d, -EINVAL, "metadata table has %u entries (max %u)", count,
                      VHDX_META_MAX_ENTRIES);
        goto out;
    }
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *e = tab + 32 + 32 * i;
        struct vhdx_guid g;
        memcpy(g.b, e, 16);
        uint32_t off = vhdx_le32(e + 16), len = vhdx_le32(e + 20), flags = vhdx_le32(e + 24);
        char t[37];
        vhdx_guid_format(&g, t);
        if (len == 0 ? off != 0
                     : (off < VHDX_META_TABLE_SIZE || len > VHDX_META_ITEM_MAX ||
                        (uint64_t)off + len > rlen)) {
            rc = vhdx_err(d, -EINVAL, "metadata item %s at %u+%u lies outside the region", t, off, len);
            goto out;
        }
        for (uint32_t j = 0; j < i; j++) {
            const uint8_t *o = tab + 32 + 32 * j;
            uint32_t ooff = vhdx_le32(o + 16), olen = vhdx_le32(o + 20);
            if (memcmp(o, e, 16) == 0 && ((vhdx_le32(o + 24) ^ flags) & META_IS_USER) == 0) {
                rc = vhdx_err(d, -EINVAL, "metadata item %s appears twice", t);
                goto out;
            }
            if (len && olen && off < ooff + olen && ooff < off + len) {
                rc = vhdx_err(d, -EINVAL, "metadata items %u and %u overlap", j, i);
                goto out;
            }
        }
        int k = -1;
        if (!(flags & META_IS_USER))
            for (int n = 0; n < NKNOWN; n++)
                if (vhdx_guid_eq(&g, known[n]))
                    k = n;
        if (k < 0) {
            if (flags & META_IS_REQUIRED) {
                rc = vhdx_err(d, -ENOTSUP, "unknown required metadata item %s", t);
                goto out;
            }
            continue;
        }
        if ((want_len[k] && len != want_len[k]) || (k == LOCATOR && len == 0)) {
            rc = vhdx_err(d, -EINVAL, "metadata item %s has length %u", t, len);
            goto out;
        }
        seen[k] = true;
        free(item);
        item = malloc(len ? len : 1);
        if (!item) {
            rc = vhdx_err(d, -ENOMEM, "out of memory");
            goto out;
        }
        rc = vhdx_meta_pread(d, item, len, base + off);
        if (rc < 0)
            goto out;
        switch (k) {
        case PARAMS:
            m->block_size = vhdx_le32(item);
            m->leave_allocated = vhdx_le32(item + 4) & 1;
            m->has_parent = vhdx_le32(item + 4) & 2;
            break;
        case SIZE:
            m->virtual_size = vhdx_le64(item);
            m->size_item_off = base + off;
            break;
        case PAGE83: memcpy(m->page83.b, item, 16); break;
        case LOGICAL: m->logical_sector = vhdx_le32(item); break;
        case PHYSICAL: m->physical_sector = vhdx_le32(item); break;
        case LOCATOR:
            rc = parse_locator(d, item, len);
            if (rc < 0)
                goto out;
            break;
        }
    }
    if (!seen[PARAMS] || !seen[SIZE] || !seen[LOGICAL]) {
        rc = vhdx_err(d, -EINVAL, "metadata lacks the %s item",
                      !seen[PARAMS] ? "file parameters" : !seen[SIZE] ? "virtual disk size"
                                                                      : "logical sector size");
        goto out;
    }
    if (!seen[PHYSICAL])
        m->physical_sector = m->logical_sector;
    if (m->physical_sector != 512 && m->physical_sector != 4096) {
        rc = vhdx_err(d, -EINVAL, "physical sector size %u is not 512 or 4096", m->physical_sector);
        goto out;
    }
    if (m->has_parent && !seen[LOCATOR]) {
        rc = vhdx_err(d, -EINVAL, "differencing disk without a parent locator");
        goto out;
    }
    if (m->has_parent)
        m->leave_allocated = false; /* ignored with HasParent */
    if (vhdx_geom_init(&v->geom, m->virtual_size, m->block_size, m->logical_sector) < 0) {
        rc = vhdx_err(d, -EINVAL,
                      "bad geometry: size %llu, block size %u, logical sector size %u "
                      "(block 1-256 MiB power of two, sector 512/4096, size <= 64 TiB)",
                      (unsigned long long)m->virtual_size, m->block_size, m->logical_sector);
        goto out;
    }
out:
    free(item);
    free(tab);
    return rc;
}

static void put_item(uint8_t *tab, int idx, const struct vhdx_guid *g, uint32_t off,
                     uint32_t len, uint32_t flags)
{
    uint8_t *e = tab + 32 + 32 * idx;
    memcpy(e, g->b, 16);
    vhdx_put32(e + 16, off);
    vhdx_put32(e + 20, len);
    vhdx_put32(e + 24, flags);
}

/* Appends key/value (UTF-8 value) to the locator being built at loc; returns the new
 * used length or 0 if it does not fit. */
static size_t locator_add(uint8_t *loc, size_t used, size_t cap, int idx, const char *key,
                          const char *val)
{
    size_t klen = vhdx_utf8_to_utf16(key, NULL, 0), vlen = vhdx_utf8_to_utf16(val, NULL, 0);
    if (used + klen + vlen > cap || klen > 0xFFFF || vlen > 0xFFFF || !vlen)
        return 0;
    uint8_t *e = loc + 20 + 12 * idx;
    vhdx_put32(e, (uint32_t)used);
    vhdx_utf8_to_utf16(key, loc + used, klen);
    used += klen;
    vhdx_put32(e + 4, (uint32_t)used);
    vhdx_utf8_to_utf16(val, loc + used, vlen);
    used += vlen;
    vhdx_put16(e + 8, (uint16_t)klen);
    vhdx_put16(e + 10, (uint16_t)vlen);
    return used;
}

int vhdx_metadata_build(const struct vhdx_create_meta *c, uint8_t *buf, size_t len)
{
    const uint32_t T = VHDX_META_TABLE_SIZE;
    if (len < VHDX_MiB)
        return -EINVAL;
    memset(buf, 0, len);
    memcpy(buf, "metadata", 8);
    uint8_t *it = buf + T;
    vhdx_put32(it, c->block_size);
    vhdx_put32(it + 4, (c->leave_allocated ? 1u : 0) | (c->has_parent ? 2u : 0));
    vhdx_put64(it + 8, c->virtual_size);
    memcpy(it + 16, c->page83.b, 16);
    vhdx_put32(it + 32, c->logical_sector);
    vhdx_put32(it + 36, c->physical_sector);
    put_item(buf, 0, &vhdx_guid_file_params, T, 8, META_IS_REQUIRED);
    put_item(buf, 1, &vhdx_guid_virtual_size, T + 8, 8, META_IS_REQUIRED | META_IS_VIRTUAL_DISK);
    put_item(buf, 2, &vhdx_guid_page83, T + 16, 16, META_IS_REQUIRED | META_IS_VIRTUAL_DISK);
    put_item(buf, 3, &vhdx_guid_logical_sector, T + 32, 4, META_IS_REQUIRED | META_IS_VIRTUAL_DISK);
    put_item(buf, 4, &vhdx_guid_physical_sector, T + 36, 4, META_IS_REQUIRED | META_IS_VIRTUAL_DISK);
    int count = 5;
    if (c->has_parent) {
        uint8_t *loc = it + 48;
        size_t cap = 64 * 1024, used;
        char link[40];
        char g[37];
        vhdx_guid_format(c->linkage, g);
        for (char *q = g; *q; q++) /* the spec says lowercase; libvhdi insists on it */
            if (*q >= 'A' && *q <= 'F')
                *q = (char)(*q - 'A' + 'a');
        snprintf(link, sizeof(link), "{%s}", g);
        int n = 0;
        memcpy(loc, vhdx_guid_locator_type_vhdx.b, 16);
        int nkeys = 1 + (c->relative_path ? 1 : 0) + (c->absolute_path ? 1 : 0);
        used = 20 + 12 * (size_t)nkeys;
        used = locator_add(loc, used, cap, n++, "parent_linkage", link);
        if (used && c->relative_path)
            used = locator_add(loc, used, cap, n++, "relative_path", c->relative_path);
        if (used && c->absolute_path)
            used = locator_add(loc, used, cap, n++, "absolute_win32_path", c->absolute_path);
        if (!used)
            return -ENAMETOOLONG;
        vhdx_put16(loc + 18, (uint16_t)n);
        put_item(buf, count++, &vhdx_guid_parent_locator, T + 48, (uint32_t)used, META_IS_REQUIRED);
    }
    vhdx_put16(buf + 10, (uint16_t)count);
    return 0;
}
