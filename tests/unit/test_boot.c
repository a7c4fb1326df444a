/* e820 maps, initrd placement, and boot_params as the kernel will read them. */
#include "test.h"

#include <stdlib.h>
#include <sys/mman.h>

#include "arch/x86/boot.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

TEST(e820_small_vm_has_low_ram_and_reserved_bios_area)
{
    struct e820_map m;
    e820_build(&m, 512ull << 20);
    CHECK_EQ(m.count, 3);
    CHECK_EQ(m.entries[0].addr, 0);
    CHECK_EQ(m.entries[0].size, 0x9fc00);
    CHECK_EQ(m.entries[0].type, E820_RAM);
    CHECK_EQ(m.entries[1].type, E820_RESERVED);
    CHECK_EQ(m.entries[1].addr + m.entries[1].size, 0x100000);
    CHECK_EQ(m.entries[2].addr, 0x100000);
    CHECK_EQ(m.entries[2].addr + m.entries[2].size, 512ull << 20);
    CHECK_EQ(sizeof(struct e820_entry), 20);
}

TEST(e820_large_vm_splits_around_the_mmio_hole)
{
    struct e820_map m;
    uint64_t total = 0;
    e820_build(&m, 6ull << 30);
    CHECK_EQ(m.count, 4);
    CHECK_EQ(m.entries[2].addr + m.entries[2].size, GPA_MMIO_HOLE);
    CHECK_EQ(m.entries[3].addr, GPA_4G);
    CHECK_EQ(m.entries[3].size, (6ull << 30) - GPA_MMIO_HOLE);
    for (int i = 0; i < m.count; i++)
        if (m.entries[i].type == E820_RAM)
            total += m.entries[i].size;
    CHECK_EQ(total, (6ull << 30) - (0x100000 - 0x9fc00));
    /* no RAM entry overlaps the IOAPIC/LAPIC */
    for (int i = 0; i < m.count; i++)
        CHECK(!(m.entries[i].addr <= GPA_IOAPIC && GPA_IOAPIC < m.entries[i].addr + m.entries[i].size));
}

TEST(initrd_goes_high_and_never_over_the_kernel)
{
    CHECK_EQ(boot_initrd_address(0x2000000, 0x20000000, 0x100000), 0x1ff00000);
    CHECK_EQ(boot_initrd_address(0x2000000, 0x20000000, 0x100001), 0x1feff000);
    CHECK_EQ(boot_initrd_address(0x2000000, 0x3000000, 0x2000000), 0);
    CHECK_EQ(boot_initrd_address(0x2000000, 0x3000000, UINT64_MAX), 0);
}

TEST(boot_params_carry_cmdline_initrd_e820_and_rsdp)
{
    uint64_t mem_size = 64ull << 20;
    uint8_t *ram = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct guest_mem mem = { 0 };
    gmem_add_region(&mem, 0, mem_size, ram);

    uint8_t image[64] = { 0 };
    struct kernel_image k = { 0 };
    k.elf = image;
    k.elf_size = sizeof(image);
    k.info.entry64 = 0x1000000;
    k.info.nsegments = 1;
    k.info.segments[0] = (struct elf_segment){ 0x1000000, 0, sizeof(image), 0x200000 };
    k.info.lowest = 0x1000000;
    k.info.highest = 0x1200000;
    uint8_t initrd[8192];
    memset(initrd, 0xab, sizeof(initrd));
    struct boot_request req = { &k, initrd, sizeof(initrd), "console=ttyS0 quiet", mem_size, 0xe0000 };
    struct boot_entry e;
    char err[KERNEL_ERR_LEN] = "";

    CHECK_EQ(boot_prepare(&mem, &req, &e, err), 0);
    CHECK_EQ(e.rip, 0x1000000);
    CHECK_EQ(e.rsi, GPA_BOOT_PARAMS);
    const uint8_t *bp = ram + GPA_BOOT_PARAMS;
    uint32_t cmd_ptr, rd_image, rd_size;
    uint64_t rsdp;
    memcpy(&cmd_ptr, bp + 0x228, 4);
    memcpy(&rd_image, bp + 0x218, 4);
    memcpy(&rd_size, bp + 0x21c, 4);
    memcpy(&rsdp, bp + 0x070, 8);
    CHECK_STR((const char *)ram + cmd_ptr, "console=ttyS0 quiet");
    CHECK_EQ(rd_size, sizeof(initrd));
    CHECK(rd_image >= 0x1200000 && rd_image + rd_size <= mem_size);
    CHECK_EQ(ram[rd_image + 100], 0xab);
    CHECK_EQ(rsdp, 0xe0000);
    CHECK_EQ(bp[0x1e8], 3);                 /* e820 entries */
    CHECK(!memcmp(bp + 0x202, "HdrS", 4));
    CHECK_EQ(bp[0x210], 0xff);              /* type_of_loader */
    /* page tables identity-map the kernel's 2 MiB page */
    uint64_t pd0;
    memcpy(&pd0, ram + GPA_PD + 8 * 8, 8);
    CHECK_EQ(pd0, 0x1000000 | 0x83);

    /* a command line longer than the kernel accepts is refused */
    char *longcmd = malloc(70000);
    memset(longcmd, 'x', 69999);
    longcmd[69999] = 0;
    req.cmdline = longcmd;
    CHECK(boot_prepare(&mem, &req, &e, err) < 0);
    CHECK(strstr(err, "command line") != NULL);
    free(longcmd);

    /* an initrd that cannot fit beside the kernel is refused */
    req.cmdline = "";
    req.initrd_size = 63ull << 20;
    CHECK(boot_prepare(&mem, &req, &e, err) < 0);
    CHECK(strstr(err, "initrd") != NULL);
    munmap(ram, mem_size);
}
