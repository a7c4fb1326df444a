/* Loading a Linux kernel image: a bzImage (its compressed payload is unpacked on the
 * host, so the guest skips its own decompressor) or an ELF vmlinux. Both end as an ELF
 * image whose PT_LOAD segments are copied to their physical addresses and entered at
 * the 64-bit entry point (startup_64) with a boot_params page, as the kernel's own
 * decompressor does. The bzImage's setup header is kept so boot_params carries it. */
#ifndef VIRIDIAN_ARCH_X86_KERNEL_IMAGE_H
#define VIRIDIAN_ARCH_X86_KERNEL_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/guest_mem.h"

#define KERNEL_ERR_LEN 256

/* The setup header lives at 0x1f1 in both the bzImage file and boot_params. */
#define SETUP_HDR_OFFSET 0x1f1
#define SETUP_HDR_MAX_END 0x280

enum kernel_compression {
    KCOMP_NONE = 0,
    KCOMP_GZIP,
    KCOMP_XZ,
    KCOMP_LZ4,
    KCOMP_ZSTD,
    KCOMP_BZIP2,
    KCOMP_LZMA,
    KCOMP_LZO,
};

struct bzimage_info {
    uint16_t version;           /* boot protocol version, e.g. 0x020f */
    uint32_t setup_size;        /* bytes of real-mode setup, including the boot sector */
    uint32_t payload_offset;    /* file offset of the compressed payload */
    uint32_t payload_length;
    uint32_t init_size;
    uint64_t pref_address;
    uint16_t xloadflags;
    uint32_t cmdline_size;      /* longest command line the kernel accepts */
    uint32_t initrd_addr_max;
    enum kernel_compression compression;
};

struct elf_segment {
    uint64_t paddr;
    uint64_t file_offset;
    uint64_t filesz;
    uint64_t memsz;
};

#define ELF_MAX_SEGMENTS 16

struct elf_image {
    uint64_t entry64;           /* physical address of the 64-bit entry (e_entry) */
    uint32_t pvh_entry;         /* XEN_ELFNOTE_PHYS32_ENTRY, 0 if none */
    int nsegments;
    struct elf_segment segments[ELF_MAX_SEGMENTS];
    uint64_t lowest;            /* lowest and highest physical bytes the image occupies */
    uint64_t highest;
};

/* A kernel ready to place into guest memory. */
struct kernel_image {
    uint8_t *elf;               /* the ELF image (owned) */
    size_t elf_size;
    struct elf_image info;
    int has_setup_header;
    uint8_t setup_header[SETUP_HDR_MAX_END - SETUP_HDR_OFFSET];
    struct bzimage_info bz;
};

const char *kernel_compression_name(enum kernel_compression c);
enum kernel_compression kernel_compression_detect(const uint8_t *p, size_t len);

/* 1 if the buffer starts like a bzImage ("HdrS" at 0x202), 0 if not. */
int bzimage_is(const uint8_t *file, size_t len);
/* Parses and validates the setup header. 0, or -1 with a message in err. */
int bzimage_parse(const uint8_t *file, size_t len, struct bzimage_info *out, char *err);

/* Unpacks a compressed payload. The output (malloc'ed) is bounded by max_out; any
 * malformed or oversized stream fails with a message. */
int kernel_decompress(enum kernel_compression c, const uint8_t *in, size_t in_len,
                      size_t max_out, uint8_t **out, size_t *out_len, char *err);

/* Parses a 64-bit x86 ELF executable: PT_LOAD segments and the PVH note. */
int elf_parse(const uint8_t *file, size_t len, struct elf_image *out, char *err);

/* Reads a kernel file (bzImage or ELF vmlinux) into a kernel_image. */
int kernel_image_load_file(const char *path, struct kernel_image *k, char *err);
int kernel_image_from_buffer(const uint8_t *file, size_t len, struct kernel_image *k, char *err);
void kernel_image_free(struct kernel_image *k);
/* Copies the segments into guest memory; each must lie entirely in RAM. */
int kernel_image_place(const struct kernel_image *k, const struct guest_mem *mem, char *err);

#endif
