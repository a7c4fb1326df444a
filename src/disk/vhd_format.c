#include "disk/vhd_format.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/endian.h"

uint32_t vhd_checksum(const uint8_t *buf, size_t len, size_t csum_off)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < len; i++)
        if (i < csum_off || i >= csum_off + 4)
            sum += buf[i];
    return ~sum;
}

void vhd_footer_decode(const uint8_t *b, struct vhd_footer *f)
{
    memcpy(f->cookie, b, 8);
    f->features = get_be32(b + 8);
    f->version = get_be32(b + 12);
    f->data_offset = get_be64(b + 16);
    f->timestamp = get_be32(b + 24);
    memcpy(f->creator_app, b + 28, 4);
    f->creator_version = get_be32(b + 32);
    f->creator_os = get_be32(b + 36);
    f->original_size = get_be64(b + 40);
    f->current_size = get_be64(b + 48);
    f->cylinders = get_be16(b + 56);
    f->heads = b[58];
    f->sectors_per_track = b[59];
    f->disk_type = get_be32(b + 60);
    f->checksum = get_be32(b + 64);
    memcpy(f->uuid, b + 68, 16);
    f->saved_state = b[84];
}

void vhd_footer_encode(struct vhd_footer *f, uint8_t *b)
{
    memset(b, 0, VHD_FOOTER_SIZE);
    memcpy(b, f->cookie, 8);
    put_be32(b + 8, f->features);
    put_be32(b + 12, f->version);
    put_be64(b + 16, f->data_offset);
    put_be32(b + 24, f->timestamp);
    memcpy(b + 28, f->creator_app, 4);
    put_be32(b + 32, f->creator_version);
    put_be32(b + 36, f->creator_os);
    put_be64(b + 40, f->original_size);
    put_be64(b + 48, f->current_size);
    put_be16(b + 56, f->cylinders);
    b[58] = f->heads;
    b[59] = f->sectors_per_track;
    put_be32(b + 60, f->disk_type);
    memcpy(b + 68, f->uuid, 16);
    b[84] = f->saved_state;
    f->checksum = vhd_checksum(b, VHD_FOOTER_SIZE, 64);
    put_be32(b + 64, f->checksum);
}

bool vhd_footer_valid(const uint8_t *b)
{
    return memcmp(b, "conectix", 8) == 0 && get_be32(b + 64) == vhd_checksum(b, VHD_FOOTER_SIZE, 64);
}

void vhd_header_decode(const uint8_t *b, struct vhd_header *h)
{
    memcpy(h->cookie, b, 8);
    h->data_offset = get_be64(b + 8);
    h->table_offset = get_be64(b + 16);
    h->version = get_be32(b + 24);
    h->max_table_entries = get_be32(b + 28);
    h->block_size = get_be32(b + 32);
    h->checksum = get_be32(b + 36);
    memcpy(h->parent_uuid, b + 40, 16);
    h->parent_timestamp = get_be32(b + 56);
    memcpy(h->parent_name, b + 64, 512);
    for (int i = 0; i < VHD_NUM_LOCATORS; i++) {
        const uint8_t *l = b + 576 + 24 * i;
        h->loc[i].code = get_be32(l);
        h->loc[i].data_space = get_be32(l + 4);
        h->loc[i].data_length = get_be32(l + 8);
        h->loc[i].data_offset = get_be64(l + 16);
    }
}

void vhd_header_encode(struct vhd_header *h, uint8_t *b)
{
    memset(b, 0, VHD_HEADER_SIZE);
    memcpy(b, h->cookie, 8);
    put_be64(b + 8, h->data_offset);
    put_be64(b + 16, h->table_offset);
    put_be32(b + 24, h->version);
    put_be32(b + 28, h->max_table_entries);
    put_be32(b + 32, h->block_size);
    memcpy(b + 40, h->parent_uuid, 16);
    put_be32(b + 56, h->parent_timestamp);
    memcpy(b + 64, h->parent_name, 512);
    for (int i = 0; i < VHD_NUM_LOCATORS; i++) {
        uint8_t *l = b + 576 + 24 * i;
        put_be32(l, h->loc[i].code);
        put_be32(l + 4, h->loc[i].data_space);
        put_be32(l + 8, h->loc[i].data_length);
        put_be64(l + 16, h->loc[i].data_offset);
    }
    h->checksum = vhd_checksum(b, VHD_HEADER_SIZE, 36);
    put_be32(b + 36, h->checksum);
}

bool vhd_header_valid(const uint8_t *b)
{
    return memcmp(b, "cxsparse", 8) == 0 && get_be32(b + 36) == vhd_checksum(b, VHD_HEADER_SIZE, 36);
}

void vhd_chs(uint64_t size, uint16_t *cyl, uint8_t *heads, uint8_t *spt)
{
    uint64_t total = size / VHD_SECTOR;
    uint64_t s, h, cth;
    if (total > 65535ull * 16 * 255)
        total = 65535ull * 16 * 255;
    if (total >= 65535ull * 16 * 63) {
        s = 255;
        h = 16;
        cth = total / s;
    } else {
        s = 17;
        cth = total / s;
        h = (cth + 1023) / 1024;
        if (h < 4)
            h = 4;
        if (cth >= h * 1024 || h > 16) {
            s = 31;
            h = 16;
            cth = total / s;
        }
        if (cth >= h * 1024) {
            s = 63;
            h = 16;
            cth = total / s;
        }
    }
    *cyl = (uint16_t)(cth / h);
    *heads = (uint8_t)h;
    *spt = (uint8_t)s;
}

uint32_t vhd_bitmap_bytes(uint32_t block_size)
{
    uint32_t bits = block_size / VHD_SECTOR;
    uint32_t bytes = (bits + 7) / 8;
    return (bytes + VHD_SECTOR - 1) / VHD_SECTOR * VHD_SECTOR;
}

uint32_t vhd_time_now(void)
{
    time_t t = time(NULL);
    return t > VHD_TIME_EPOCH ? (uint32_t)(t - VHD_TIME_EPOCH) : 0;
}

void vhd_uuid_generate(uint8_t uuid[16])
{
    size_t got = 0;
    while (got < 16) {
        ssize_t n = getrandom(uuid + got, 16 - got, 0);
        if (n <= 0) { /* no entropy source: time-based fallback, still unique enough */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            for (size_t i = got; i < 16; i++)
                uuid[i] = (uint8_t)((uint64_t)ts.tv_nsec >> (i % 8 * 4) ^ (uint64_t)ts.tv_sec >> i);
            break;
        }
        got += (size_t)n;
    }
    uuid[6] = (uint8_t)((uuid[6] & 0x0F) | 0x40);
    uuid[8] = (uint8_t)((uuid[8] & 0x3F) | 0x80);
}

void vhd_uuid_format(const uint8_t u[16], char out[37])
{
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
             u[13], u[14], u[15]);
}

uint64_t vhd_locator_space(const struct vhd_locator *l)
{
    /* The spec says sectors; Virtual PC and Hyper-V store bytes. Small values can only
     * be sector counts. */
    return l->data_space < VHD_SECTOR ? (uint64_t)l->data_space * VHD_SECTOR : l->data_space;
}
