#include "arch/x86/boot.h"

#include <stdio.h>
#include <string.h>

#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "core/endian.h"

/* boot_params offsets (arch/x86/include/uapi/asm/bootparam.h) */
#define BP_ACPI_RSDP_ADDR   0x070
#define BP_EXT_RAMDISK_IMG  0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES     0x1e8
#define BP_HDR              0x1f1
#define BP_E820_TABLE       0x2d0
/* setup header fields, as offsets in boot_params */
#define HDR_BOOT_FLAG       0x1fe
#define HDR_HEADER          0x202
#define HDR_VERSION         0x206
#define HDR_TYPE_OF_LOADER  0x210
#define HDR_LOADFLAGS       0x211
#define HDR_RAMDISK_IMAGE   0x218
#define HDR_RAMDISK_SIZE    0x21c
#define HDR_HEAP_END_PTR    0x224
#define HDR_CMD_LINE_PTR    0x228
#define HDR_KERNEL_ALIGN    0x230
#define HDR_CMDLINE_SIZE    0x238

#define LOADFLAG_LOADED_HIGH 0x01
#define LOADFLAG_CAN_USE_HEAP 0x80

uint64_t boot_initrd_address(uint64_t kernel_end, uint64_t limit, uint64_t size)
{
    if (size > limit)
        return 0;
    uint64_t addr = (limit - size) & ~0xfffull;
    return addr >= kernel_end ? addr : 0;
}

static void build_page_tables(const struct guest_mem *mem)
{
    uint64_t *pml4 = gmem_ptr(mem, GPA_PML4, 4096);
    uint64_t *pdpt = gmem_ptr(mem, GPA_PDPT, 4096);
    uint64_t *pd = gmem_ptr(mem, GPA_PD, 4 * 4096);

    memset(pml4, 0, 4096);
    memset(pdpt, 0, 4096);
    pml4[0] = GPA_PDPT | 0x3;                       /* present, writable */
    for (uint64_t i = 0; i < 4; i++)
        pdpt[i] = (GPA_PD + i * 4096) | 0x3;
    for (uint64_t i = 0; i < 4 * 512; i++)
        pd[i] = (i << 21) | 0x83;                   /* present, writable, 2 MiB page */
}

static void build_gdt(const struct guest_mem *mem, struct boot_entry *entry)
{
    uint64_t *gdt = gmem_ptr(mem, GPA_BOOT_GDT, 4 * 8);
    gdt[0] = 0;
    gdt[1] = 0;
    gdt[BOOT_CS / 8] = 0x00af9b000000ffffull;      /* 64-bit code, DPL 0 */
    gdt[BOOT_DS / 8] = 0x00cf93000000ffffull;      /* flat data */
    entry->gdt_base = GPA_BOOT_GDT;
    entry->gdt_limit = 4 * 8 - 1;
}

int boot_prepare(const struct guest_mem *mem, const struct boot_request *req,
                 struct boot_entry *entry, char *err)
{
    const struct kernel_image *k = req->kernel;
    struct ram_layout ram = ram_layout_for(req->mem_size);
    uint8_t *bp = gmem_ptr(mem, GPA_BOOT_PARAMS, 4096);
    size_t cmdline_len = strlen(req->cmdline);
    uint32_t cmdline_max = CMDLINE_MAX - 1;

    if (!bp || !gmem_ptr(mem, GPA_PD, 4 * 4096) || !gmem_ptr(mem, GPA_CMDLINE, CMDLINE_MAX)) {
        snprintf(err, KERNEL_ERR_LEN, "guest memory is too small for the boot structures");
        return -1;
    }
    if (k->has_setup_header && k->bz.cmdline_size && k->bz.cmdline_size < cmdline_max)
        cmdline_max = k->bz.cmdline_size;
    if (cmdline_len > cmdline_max) {
        snprintf(err, KERNEL_ERR_LEN, "the kernel command line is %zu bytes; this kernel accepts %u",
                 cmdline_len, cmdline_max);
        return -1;
    }
    if (k->info.highest > ram.low_end || k->info.lowest < GPA_HIGH_MEM) {
        snprintf(err, KERNEL_ERR_LEN,
                 "the kernel occupies 0x%llx-0x%llx, outside this VM's low memory (up to 0x%llx); "
                 "use a larger --memory", (unsigned long long)k->info.lowest,
                 (unsigned long long)k->info.highest, (unsigned long long)ram.low_end);
        return -1;
    }
    if (kernel_image_place(k, mem, err) < 0)
        return -1;

    memset(bp, 0, 4096);
    if (k->has_setup_header)
        memcpy(bp + BP_HDR, k->setup_header, sizeof(k->setup_header));
    else {
        put_le16(bp + HDR_BOOT_FLAG, 0xaa55);
        memcpy(bp + HDR_HEADER, "HdrS", 4);
        put_le16(bp + HDR_VERSION, 0x020f);
        put_le32(bp + HDR_KERNEL_ALIGN, 0x1000000);
    }
    bp[HDR_TYPE_OF_LOADER] = 0xff;
    bp[HDR_LOADFLAGS] |= LOADFLAG_LOADED_HIGH | LOADFLAG_CAN_USE_HEAP;
    put_le16(bp + HDR_HEAP_END_PTR, 0xfe00);

    char *cmd = gmem_ptr(mem, GPA_CMDLINE, CMDLINE_MAX);
    memcpy(cmd, req->cmdline, cmdline_len + 1);
    put_le32(bp + HDR_CMD_LINE_PTR, (uint32_t)GPA_CMDLINE);
    put_le32(bp + BP_EXT_CMD_LINE_PTR, 0);
    put_le32(bp + HDR_CMDLINE_SIZE, cmdline_max);

    if (req->initrd) {
        uint64_t limit = ram.low_end;
        uint32_t addr_max = k->has_setup_header ? k->bz.initrd_addr_max : 0x7fffffff;
        if (addr_max && (uint64_t)addr_max + 1 < limit)
            limit = (uint64_t)addr_max + 1;
        uint64_t at = boot_initrd_address(k->info.highest, limit, req->initrd_size);
        if (!at) {
            snprintf(err, KERNEL_ERR_LEN,
                     "the initrd (%zu bytes) does not fit in guest memory beside the kernel; "
                     "use a larger --memory", req->initrd_size);
            return -1;
        }
        memcpy(gmem_ptr(mem, at, req->initrd_size), req->initrd, req->initrd_size);
        put_le32(bp + HDR_RAMDISK_IMAGE, (uint32_t)at);
        put_le32(bp + HDR_RAMDISK_SIZE, (uint32_t)req->initrd_size);
        put_le32(bp + BP_EXT_RAMDISK_IMG, (uint32_t)(at >> 32));
        put_le32(bp + BP_EXT_RAMDISK_SIZE, (uint32_t)((uint64_t)req->initrd_size >> 32));
    }

    struct e820_map map;
    e820_build(&map, req->mem_size);
    bp[BP_E820_ENTRIES] = (uint8_t)map.count;
    memcpy(bp + BP_E820_TABLE, map.entries, (size_t)map.count * sizeof(map.entries[0]));
    put_le64(bp + BP_ACPI_RSDP_ADDR, req->rsdp_gpa);

    build_page_tables(mem);
    build_gdt(mem, entry);
    entry->rip = k->info.entry64;
    entry->rsi = GPA_BOOT_PARAMS;
    entry->rsp = GPA_BOOT_STACK;
    entry->cr3 = GPA_PML4;
    return 0;
}
