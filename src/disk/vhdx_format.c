/* Pure encoders/decoders for the VHDX header, region table, GUIDs and BAT geometry. */
#include "disk/vhdx_format.h"

#include <errno.h>
#include <stdio.h>
#include <sys/random.h>

#include "disk/vhdx_crc32c.h"

/* GUID text A-B-C-D-E stored as A (LE u32), B (LE u16), C (LE u16), D and E as bytes. */
#define VHDX_GUID(a, b, c, d0, d1, e0, e1, e2, e3, e4, e5)                           \
    { { (a) & 0xff, ((a) >> 8) & 0xff, ((a) >> 16) & 0xff, ((a) >> 24) & 0xff,        \
        (b) & 0xff, ((b) >> 8) & 0xff, (c) & 0xff, ((c) >> 8) & 0xff, d0, d1, e0, e1, \
        e2, e3, e4, e5 } }

const struct vhdx_guid vhdx_guid_bat_region =
    VHDX_GUID(0x2DC27766, 0xF623, 0x4200, 0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08);
const struct vhdx_guid vhdx_guid_metadata_region =
    VHDX_GUID(0x8B7CA206, 0x4790, 0x4B9A, 0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E);
const struct vhdx_guid vhdx_guid_file_params =
    VHDX_GUID(0xCAA16737, 0xFA36, 0x4D43, 0xB3, 0xB6, 0x33, 0xF0, 0xAA, 0x44, 0xE7, 0x6B);
const struct vhdx_guid vhdx_guid_virtual_size =
    VHDX_GUID(0x2FA54224, 0xCD1B, 0x4876, 0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8);
const struct vhdx_guid vhdx_guid_page83 =
    VHDX_GUID(0xBECA12AB, 0xB2E6, 0x4523, 0x93, 0xEF, 0xC3, 0x09, 0xE0, 0x00, 0xC7, 0x46);
const struct vhdx_guid vhdx_guid_logical_sector =
    VHDX_GUID(0x8141BF1D, 0xA96F, 0x4709, 0xBA, 0x47, 0xF2, 0x33, 0xA8, 0xFA, 0xAB, 0x5F);
const struct vhdx_guid vhdx_guid_physical_sector =
    VHDX_GUID(0xCDA348C7, 0x445D, 0x4471, 0x9C, 0xC9, 0xE9, 0x88, 0x52, 0x51, 0xC5, 0x56);
const struct vhdx_guid vhdx_guid_parent_locator =
    VHDX_GUID(0xA8D35F2D, 0xB30B, 0x454D, 0xAB, 0xF7, 0xD3, 0xD8, 0x48, 0x34, 0xAB, 0x0C);
const struct vhdx_guid vhdx_guid_locator_type_vhdx =
    VHDX_GUID(0xB04AEFB7, 0xD19E, 0x4A81, 0xB7, 0x89, 0x25, 0xB8, 0xE9, 0x44, 0x59, 0x13);

void vhdx_guid_format(const struct vhdx_guid *g, char out[37])
{
    const uint8_t *b = g->b;
    snprintf(out, 37, "%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X", vhdx_le32(b),
             vhdx_le16(b + 4), vhdx_le16(b + 6), b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int vhdx_guid_parse(const char *s, struct vhdx_guid *g)
{
    uint8_t v[16];
    size_t n = strlen(s);
    bool braces = n == 38 && s[0] == '{' && s[37] == '}';
    if (!braces && n != 36)
        return -EINVAL;
    if (braces)
        s++;
    int k = 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return -EINVAL;
            continue;
        }
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        v[k++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    /* v holds the text order; the first three groups are little-endian on disk */
    uint8_t *b = g->b;
    b[0] = v[3]; b[1] = v[2]; b[2] = v[1]; b[3] = v[0];
    b[4] = v[5]; b[5] = v[4];
    b[6] = v[7]; b[7] = v[6];
    memcpy(b + 8, v + 8, 8);
    return 0;
}

void vhdx_guid_random(struct vhdx_guid *g)
{
    size_t got = 0;
    while (got < sizeof(g->b)) {
        ssize_t n = getrandom(g->b + got, sizeof(g->b) - got, 0);
        if (n > 0)
            got += (size_t)n;
    }
    g->b[7] = (uint8_t)((g->b[7] & 0x0f) | 0x40); /* version 4 (Data3 high nibble) */
    g->b[8] = (uint8_t)((g->b[8] & 0x3f) | 0x80); /* variant */
}

/* ---- header ---- */

int vhdx_header_parse(const uint8_t buf[VHDX_HEADER_SIZE], struct vhdx_header *h)
{
    uint8_t tmp[VHDX_HEADER_SIZE];
    if (memcmp(buf, "head", 4) != 0)
        return -EINVAL;
    memcpy(tmp, buf, sizeof(tmp));
    memset(tmp + 4, 0, 4);
    if (crc32c(0, tmp, sizeof(tmp)) != vhdx_le32(buf + 4))
        return -EINVAL;
    h->seq = vhdx_le64(buf + 8);
    memcpy(h->file_write_guid.b, buf + 16, 16);
    memcpy(h->data_write_guid.b, buf + 32, 16);
    memcpy(h->log_guid.b, buf + 48, 16);
    h->log_version = vhdx_le16(buf + 64);
    h->version = vhdx_le16(buf + 66);
    h->log_length = vhdx_le32(buf + 68);
    h->log_offset = vhdx_le64(buf + 72);
    if (h->version != 1)
        return -EINVAL;
    return 0;
}

void vhdx_header_build(const struct vhdx_header *h, uint8_t buf[VHDX_HEADER_SIZE])
{
    memset(buf, 0, VHDX_HEADER_SIZE);
    memcpy(buf, "head", 4);
    vhdx_put64(buf + 8, h->seq);
    memcpy(buf + 16, h->file_write_guid.b, 16);
    memcpy(buf + 32, h->data_write_guid.b, 16);
    memcpy(buf + 48, h->log_guid.b, 16);
    vhdx_put16(buf + 64, h->log_version);
    vhdx_put16(buf + 66, h->version);
    vhdx_put32(buf + 68, h->log_length);
    vhdx_put64(buf + 72, h->log_offset);
    vhdx_put32(buf + 4, crc32c(0, buf, VHDX_HEADER_SIZE));
}

int vhdx_header_choose(const struct vhdx_header *h1, const uint8_t *raw1,
                       const struct vhdx_header *h2, const uint8_t *raw2)
{
    if (!h1 && !h2)
        return -1;
    if (!h2)
        return 0;
    if (!h1)
        return 1;
    if (h1->seq > h2->seq)
        return 0;
    if (h2->seq > h1->seq)
        return 1;
    /* equal sequence numbers: only acceptable when both copies say the same thing */
    return memcmp(raw1, raw2, VHDX_HEADER_SIZE) == 0 ? 0 : -1;
}

/* ---- region table ---- */

int vhdx_region_parse(const uint8_t *buf, struct vhdx_regions *r, char *why, size_t whylen)
{
    bool have_bat = false, have_meta = false;
    if (memcmp(buf, "regi", 4) != 0) {
        snprintf(why, whylen, "bad region table signature");
        return -EINVAL;
    }
    uint32_t want = vhdx_le32(buf + 4);
    /* checksum over the 64 KiB with the field zeroed, without copying the table */
    static const uint8_t zero4[4];
    uint32_t c = crc32c(0, buf, 4);
    c = crc32c(c, zero4, 4);
    c = crc32c(c, buf + 8, VHDX_REGION_SIZE - 8);
    if (c != want) {
        snprintf(why, whylen, "region table checksum mismatch");
        return -EINVAL;
    }
    uint32_t count = vhdx_le32(buf + 8);
    if (count > VHDX_REGION_MAX_ENTRIES) {
        snprintf(why, whylen, "region table has %u entries (max %u)", count,
                 VHDX_REGION_MAX_ENTRIES);
        return -EINVAL;
    }
    memset(r, 0, sizeof(*r));
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *e = buf + 16 + 32 * i;
        struct vhdx_guid g;
        memcpy(g.b, e, 16);
        uint64_t off = vhdx_le64(e + 16);
        uint32_t len = vhdx_le32(e + 24);
        uint32_t req = vhdx_le32(e + 28);
        for (uint32_t j = 0; j < i; j++)
            if (memcmp(buf + 16 + 32 * j, e, 16) == 0) {
                snprintf(why, whylen, "region table entry %u duplicates entry %u", i, j);
                return -EINVAL;
            }
        bool is_bat = vhdx_guid_eq(&g, &vhdx_guid_bat_region);
        bool is_meta = vhdx_guid_eq(&g, &vhdx_guid_metadata_region);
        if (!is_bat && !is_meta) {
            if (req & 1) {
                char t[37];
                vhdx_guid_format(&g, t);
                snprintf(why, whylen, "unknown required region %s", t);
                return -ENOTSUP;
            }
            if (r->nother < VHDX_OTHER_REGIONS) {
                r->other[r->nother].off = off;
                r->other[r->nother++].len = len;
            } else {
                r->other_overflow = true;
            }
            continue;
        }
        if (off < VHDX_MiB || off % VHDX_MiB || len == 0 || len % VHDX_MiB ||
            off > VHDX_MAX_SIZE * 4) {
            snprintf(why, whylen, "%s region at %llu+%u is misaligned or inside the header area",
                     is_bat ? "BAT" : "metadata", (unsigned long long)off, len);
            return -EINVAL;
        }
        if (is_bat) {
            r->bat_offset = off;
            r->bat_length = len;
            have_bat = true;
        } else {
            r->meta_offset = off;
            r->meta_length = len;
            have_meta = true;
        }
    }
    if (!have_bat || !have_meta) {
        snprintf(why, whylen, "region table lacks the %s region", have_bat ? "metadata" : "BAT");
        return -EINVAL;
    }
    if (r->bat_offset < r->meta_offset + r->meta_length &&
        r->meta_offset < r->bat_offset + r->bat_length) {
        snprintf(why, whylen, "BAT and metadata regions overlap");
        return -EINVAL;
    }
    return 0;
}

void vhdx_region_build(const struct vhdx_regions *r, uint8_t buf[VHDX_REGION_SIZE])
{
    memset(buf, 0, VHDX_REGION_SIZE);
    memcpy(buf, "regi", 4);
    vhdx_put32(buf + 8, 2);
    uint8_t *e = buf + 16;
    memcpy(e, vhdx_guid_bat_region.b, 16);
    vhdx_put64(e + 16, r->bat_offset);
    vhdx_put32(e + 24, r->bat_length);
    vhdx_put32(e + 28, 1);
    e += 32;
    memcpy(e, vhdx_guid_metadata_region.b, 16);
    vhdx_put64(e + 16, r->meta_offset);
    vhdx_put32(e + 24, r->meta_length);
    vhdx_put32(e + 28, 1);
    vhdx_put32(buf + 4, crc32c(0, buf, VHDX_REGION_SIZE));
}

/* ---- BAT geometry ---- */

int vhdx_geom_init(struct vhdx_geom *g, uint64_t virtual_size, uint32_t block_size,
                   uint32_t logical_sector)
{
    memset(g, 0, sizeof(*g));
    if (logical_sector != 512 && logical_sector != 4096)
        return -EINVAL;
    if (block_size < VHDX_MIN_BLOCK || block_size > VHDX_MAX_BLOCK ||
        (block_size & (block_size - 1)))
        return -EINVAL;
    if (virtual_size == 0 || virtual_size > VHDX_MAX_SIZE || virtual_size % logical_sector)
        return -EINVAL;
    g->virtual_size = virtual_size;
    g->block_size = block_size;
    g->logical_sector = logical_sector;
    g->chunk_ratio = ((uint64_t)1 << 23) * logical_sector / block_size;
    g->payload_blocks = (virtual_size + block_size - 1) / block_size;
    g->sb_blocks = (g->payload_blocks + g->chunk_ratio - 1) / g->chunk_ratio;
    g->bat_entries = g->sb_blocks * (g->chunk_ratio + 1);
    return 0;
}

uint64_t vhdx_bat_min_bytes(const struct vhdx_geom *g, bool differencing)
{
    uint64_t last = vhdx_bat_payload_index(g, g->payload_blocks - 1);
    if (differencing && g->payload_blocks % g->chunk_ratio == 0)
        last = vhdx_bat_sb_index(g, g->sb_blocks - 1);
    return (last + 1) * 8;
}
