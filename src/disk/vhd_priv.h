/* State of an open VHD, shared by the files of the VHD backend only. */
#ifndef VIRIDIAN_DISK_VHD_PRIV_H
#define VIRIDIAN_DISK_VHD_PRIV_H

#include "disk/disk.h"
#include "disk/freespace.h"
#include "disk/vhd_format.h"

#define VHD_MAX_PROBLEMS 64

struct vhd {
    struct vhd_footer footer;
    struct vhd_header header;
    bool sparse;                /* dynamic or differencing: has header and BAT */
    uint64_t footer_off;        /* where the footer at the end lives; new blocks go here */
    uint32_t block_size;
    uint32_t bitmap_bytes;
    uint32_t entries;           /* BAT entries */
    uint32_t *bat;              /* host order: sector of the block's bitmap, or unused */
    uint8_t **bitmaps;          /* per block: NULL = not loaded, VHD_BITMAP_FULL, or a copy */
    bool dirty;                 /* DISK_OPEN_UNSAFE: BAT and footer not written yet */
    struct freespace space;     /* gaps between the blocks (vhd_space.c); writable only */
    /* Found on open, for the checker. */
    bool eof_footer_bad;        /* the footer at the end was damaged; the copy at 0 used */
    bool copy_footer_bad;       /* dynamic: the copy at offset 0 is damaged */
    bool footers_differ;
    bool parent_ts_mismatch;
    uint32_t bad_entries_count;
    uint32_t *bad_entries;      /* DISK_OPEN_CHECK: BAT indexes dropped as invalid */
    int nproblems;
    char *problems[VHD_MAX_PROBLEMS];
    bool fixable[VHD_MAX_PROBLEMS];     /* check --repair can fix it */
};

extern uint8_t vhd_bitmap_full_marker;
#define VHD_BITMAP_FULL (&vhd_bitmap_full_marker)

/* Record a problem found on open (kept for the checker). */
void vhd_problem(struct vhd *v, bool fixable, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int vhd_write_footer_at(struct disk *d, uint64_t off);
/* Writes the footer at the end, and for sparse images the copy at 0. */
int vhd_write_footers(struct disk *d);
int vhd_write_header(struct disk *d);
int vhd_write_bat_entry(struct disk *d, uint32_t block);
int vhd_sync(struct disk *d);
int vhd_load_bitmap(struct disk *d, uint32_t block, uint8_t **out);
/* Where the next block's bitmap goes (at the end, data 4 KiB aligned). */
uint64_t vhd_next_block_off(const struct vhd *v);
/* Make a block unused and give its space back (punch, or cut off when last). */
int vhd_free_block(struct disk *d, uint32_t block);

/* vhd_open.c */
int vhd_probe(int fd, uint64_t file_size);
int vhd_open(struct disk *d, char *err);
void vhd_free(struct vhd *v);

/* vhd_parent.c */
int vhd_open_parent(struct disk *d, char *err);
/* Fill in the parent fields of `h` (UUID, time stamp, name, W2ku and W2ru locators at
 * loc_off, VHD_LOCATOR_SPACE bytes each) and write the locator data to `fd`. */
int vhd_link_parent(int fd, struct vhd_header *h, const char *child_path,
                    const char *parent_path, const struct vhd_footer *parent_footer,
                    uint64_t loc_off, char *err);
int vhd_set_parent(struct disk *d, struct disk *parent, const char *parent_path);

int vhd_create(const char *path, const struct disk_create_opts *opts, char *err);
int vhd_check(struct disk *d, bool repair, void (*report)(void *ctx, const char *line), void *ctx);
int vhd_resize(struct disk *d, uint64_t new_size);
/* vhd_space.c: the gaps freed blocks left (new blocks go there first), and compact's
 * last step, blocks moved into the gaps and the file cut short */
int vhd_space_rebuild(struct disk *d);
int vhd_shrink(struct disk *d);

#endif
