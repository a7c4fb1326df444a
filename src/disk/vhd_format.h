/* VHD on-disk structures (Microsoft VHD spec 1.0; qemu calls the format "vpc"):
 * the 512-byte footer, the 1024-byte dynamic header and its parent locators, all
 * big-endian; their checksum; the CHS geometry. Decoding never fails: validation is the
 * caller's (vhd.c on open, vhd_check.c for the checker). */
#ifndef VIRIDIAN_DISK_VHD_FORMAT_H
#define VIRIDIAN_DISK_VHD_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VHD_SECTOR          512u
#define VHD_FOOTER_SIZE     512u
#define VHD_HEADER_SIZE     1024u
#define VHD_TYPE_FIXED      2u
#define VHD_TYPE_DYNAMIC    3u
#define VHD_TYPE_DIFF       4u
#define VHD_BAT_UNUSED      0xFFFFFFFFu
#define VHD_MAX_SIZE        (2040ull << 30)     /* 0xFF000000 sectors, as qemu */
#define VHD_DEFAULT_BLOCK   (2u << 20)
#define VHD_TIME_EPOCH      946684800ll         /* 2000-01-01 00:00:00 UTC */
#define VHD_PLAT_W2RU       0x57327275u         /* relative path, UTF-16LE */
#define VHD_PLAT_W2KU       0x57326B75u         /* absolute path, UTF-16LE */
#define VHD_LOCATOR_SPACE   8192u               /* bytes we reserve per locator */
#define VHD_NUM_LOCATORS    8

struct vhd_footer {
    char cookie[8];
    uint32_t features;
    uint32_t version;
    uint64_t data_offset;
    uint32_t timestamp;
    char creator_app[4];
    uint32_t creator_version;
    uint32_t creator_os;
    uint64_t original_size;
    uint64_t current_size;
    uint16_t cylinders;
    uint8_t heads;
    uint8_t sectors_per_track;
    uint32_t disk_type;
    uint32_t checksum;
    uint8_t uuid[16];
    uint8_t saved_state;
};

struct vhd_locator {
    uint32_t code;
    uint32_t data_space;    /* as stored: sectors (spec) or bytes (Hyper-V) */
    uint32_t data_length;
    uint64_t data_offset;
};

struct vhd_header {
    char cookie[8];
    uint64_t data_offset;
    uint64_t table_offset;
    uint32_t version;
    uint32_t max_table_entries;
    uint32_t block_size;
    uint32_t checksum;
    uint8_t parent_uuid[16];
    uint32_t parent_timestamp;
    uint8_t parent_name[512];   /* UTF-16BE */
    struct vhd_locator loc[VHD_NUM_LOCATORS];
};

/* One's complement of the byte sum with the checksum field (at csum_off) as zero. */
uint32_t vhd_checksum(const uint8_t *buf, size_t len, size_t csum_off);

void vhd_footer_decode(const uint8_t *buf, struct vhd_footer *f);
/* Encodes and fills in f->checksum. */
void vhd_footer_encode(struct vhd_footer *f, uint8_t *buf);
/* Cookie "conectix" and a correct checksum. */
bool vhd_footer_valid(const uint8_t *buf);

void vhd_header_decode(const uint8_t *buf, struct vhd_header *h);
void vhd_header_encode(struct vhd_header *h, uint8_t *buf);
bool vhd_header_valid(const uint8_t *buf);

/* The spec's CHS algorithm (identical in qemu and VirtualBox): the geometry whose
 * product is the largest not above `size` (clamped to 65535/16/255). */
void vhd_chs(uint64_t size, uint16_t *cyl, uint8_t *heads, uint8_t *spt);
/* Bytes a data block occupies in the file before its data: the sector bitmap. */
uint32_t vhd_bitmap_bytes(uint32_t block_size);
/* Seconds since 2000-01-01 UTC, as stored in time stamps. */
uint32_t vhd_time_now(void);
void vhd_uuid_generate(uint8_t uuid[16]);
void vhd_uuid_format(const uint8_t uuid[16], char out[37]);
/* Actual byte length a locator reserves (handles the sectors-vs-bytes ambiguity). */
uint64_t vhd_locator_space(const struct vhd_locator *l);

#endif
