/* VHDX on-disk format (MS-VHDX v1): constants, little-endian accessors, GUIDs and the
 * parsed forms of the header, region table and BAT entries. Everything here is pure
 * (no I/O) so the unit tests and the fuzz target can exercise it directly.
 * Facts: /work/shared/reference/vhd-vhdx.md §2-3. */
#ifndef VIRIDIAN_DISK_VHDX_FORMAT_H
#define VIRIDIAN_DISK_VHDX_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define VHDX_KiB 1024ull
#define VHDX_MiB (1024ull * 1024)
#define VHDX_TiB (1024ull * 1024 * 1024 * 1024)

#define VHDX_HEADER1_OFF   (64 * VHDX_KiB)
#define VHDX_HEADER2_OFF   (128 * VHDX_KiB)
#define VHDX_REGION1_OFF   (192 * VHDX_KiB)
#define VHDX_REGION2_OFF   (256 * VHDX_KiB)
#define VHDX_HEADER_SIZE   4096u
#define VHDX_REGION_SIZE   (64 * 1024u)
#define VHDX_REGION_MAX_ENTRIES 2047u
#define VHDX_META_TABLE_SIZE (64 * 1024u)
#define VHDX_META_MAX_ENTRIES 2047u
#define VHDX_META_ITEM_MAX VHDX_MiB
#define VHDX_LOG_SECTOR 4096u
#define VHDX_SB_BLOCK_SIZE VHDX_MiB
#define VHDX_MAX_SIZE (64 * VHDX_TiB)
#define VHDX_MIN_BLOCK VHDX_MiB
#define VHDX_MAX_BLOCK (256 * VHDX_MiB)
#define VHDX_DEFAULT_BLOCK (32 * VHDX_MiB)
#define VHDX_DEFAULT_LOG VHDX_MiB

/* BAT entry states */
enum {
    VHDX_PAYLOAD_NOT_PRESENT = 0,
    VHDX_PAYLOAD_UNDEFINED = 1,
    VHDX_PAYLOAD_ZERO = 2,
    VHDX_PAYLOAD_UNMAPPED = 3,
    VHDX_PAYLOAD_UNMAPPED_V095 = 5, /* the 0.95 draft's value; read like UNMAPPED */
    VHDX_PAYLOAD_FULLY_PRESENT = 6,
    VHDX_PAYLOAD_PARTIALLY_PRESENT = 7,
    VHDX_SB_NOT_PRESENT = 0,
    VHDX_SB_PRESENT = 6,
};
#define VHDX_BAT_STATE_MASK 7ull
#define VHDX_BAT_RESERVED_MASK 0xFFFF8ull
#define VHDX_BAT_OFFSET_MASK 0xFFFFFFFFFFF00000ull

/* little-endian accessors */
static inline uint16_t vhdx_le16(const void *p) { const uint8_t *b = p; return (uint16_t)(b[0] | b[1] << 8); }
static inline uint32_t vhdx_le32(const void *p)
{
    const uint8_t *b = p;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static inline uint64_t vhdx_le64(const void *p)
{
    return vhdx_le32(p) | (uint64_t)vhdx_le32((const uint8_t *)p + 4) << 32;
}
static inline void vhdx_put16(void *p, uint16_t v) { uint8_t *b = p; b[0] = (uint8_t)v; b[1] = (uint8_t)(v >> 8); }
static inline void vhdx_put32(void *p, uint32_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)v; b[1] = (uint8_t)(v >> 8); b[2] = (uint8_t)(v >> 16); b[3] = (uint8_t)(v >> 24);
}
static inline void vhdx_put64(void *p, uint64_t v)
{
    vhdx_put32(p, (uint32_t)v);
    vhdx_put32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

/* A GUID as stored on disk (Microsoft mixed-endian layout, kept as raw bytes). */
struct vhdx_guid {
    uint8_t b[16];
};
static inline bool vhdx_guid_eq(const struct vhdx_guid *a, const struct vhdx_guid *b)
{
    return memcmp(a->b, b->b, 16) == 0;
}
static inline bool vhdx_guid_is_zero(const struct vhdx_guid *g)
{
    static const struct vhdx_guid zero;
    return vhdx_guid_eq(g, &zero);
}
/* Text form "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX" (37 bytes with NUL), upper case. */
void vhdx_guid_format(const struct vhdx_guid *g, char out[37]);
/* Parses the text form, with or without braces, any case. 0 or -EINVAL. */
int vhdx_guid_parse(const char *s, struct vhdx_guid *g);
/* A random (version 4) GUID from getrandom(). */
void vhdx_guid_random(struct vhdx_guid *g);

extern const struct vhdx_guid vhdx_guid_bat_region, vhdx_guid_metadata_region;
extern const struct vhdx_guid vhdx_guid_file_params, vhdx_guid_virtual_size,
    vhdx_guid_page83, vhdx_guid_logical_sector, vhdx_guid_physical_sector,
    vhdx_guid_parent_locator, vhdx_guid_locator_type_vhdx;

/* ---- header ---- */
struct vhdx_header {
    uint64_t seq;
    struct vhdx_guid file_write_guid, data_write_guid, log_guid;
    uint16_t log_version, version;
    uint32_t log_length;
    uint64_t log_offset;
};
/* Parses a 4 KiB header; 0 when signature, checksum and version are right. */
int vhdx_header_parse(const uint8_t buf[VHDX_HEADER_SIZE], struct vhdx_header *h);
void vhdx_header_build(const struct vhdx_header *h, uint8_t buf[VHDX_HEADER_SIZE]);
/* Picks the current header of two candidates (NULL = invalid). Returns 0 or 1 for
 * the slot, or -1 when none is valid or both are equally new but differ. */
int vhdx_header_choose(const struct vhdx_header *h1, const uint8_t *raw1,
                       const struct vhdx_header *h2, const uint8_t *raw2);

/* ---- region table ---- */
#define VHDX_OTHER_REGIONS 8
struct vhdx_regions {
    uint64_t bat_offset, meta_offset;
    uint32_t bat_length, meta_length;
    /* optional regions this code does not know: kept clear of (new blocks never go
     * there); more than VHDX_OTHER_REGIONS sets other_overflow */
    uint32_t nother;
    bool other_overflow;
    struct { uint64_t off; uint32_t len; } other[VHDX_OTHER_REGIONS];
};
/* Parses a 64 KiB region table. Returns 0 or -EINVAL/-ENOTSUP with a reason in why. */
int vhdx_region_parse(const uint8_t *buf, struct vhdx_regions *r, char *why, size_t whylen);
void vhdx_region_build(const struct vhdx_regions *r, uint8_t buf[VHDX_REGION_SIZE]);

/* ---- BAT geometry ---- */
struct vhdx_geom {
    uint64_t virtual_size;
    uint32_t block_size;
    uint32_t logical_sector;
    uint64_t chunk_ratio;     /* payload blocks per sector bitmap block */
    uint64_t payload_blocks;
    uint64_t sb_blocks;
    uint64_t bat_entries;     /* entries we keep in memory: sb_blocks * (chunk_ratio + 1) */
};
/* Fills the derived fields; -EINVAL if the parameters are out of range. */
int vhdx_geom_init(struct vhdx_geom *g, uint64_t virtual_size, uint32_t block_size,
                   uint32_t logical_sector);
static inline uint64_t vhdx_bat_payload_index(const struct vhdx_geom *g, uint64_t block)
{
    return block + block / g->chunk_ratio;
}
static inline uint64_t vhdx_bat_sb_index(const struct vhdx_geom *g, uint64_t chunk)
{
    return chunk * (g->chunk_ratio + 1) + g->chunk_ratio;
}
static inline unsigned vhdx_bat_state(uint64_t e) { return (unsigned)(e & VHDX_BAT_STATE_MASK); }
static inline uint64_t vhdx_bat_offset(uint64_t e) { return e & VHDX_BAT_OFFSET_MASK; }
static inline uint64_t vhdx_bat_make(unsigned state, uint64_t file_offset)
{
    return (file_offset & VHDX_BAT_OFFSET_MASK) | (state & VHDX_BAT_STATE_MASK);
}
/* Smallest BAT region length (bytes) that holds every entry a reader may index. */
uint64_t vhdx_bat_min_bytes(const struct vhdx_geom *g, bool differencing);

static inline uint64_t vhdx_round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

#endif
