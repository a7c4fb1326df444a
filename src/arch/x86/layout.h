/* Guest physical layout of a Viridian x86 partition.
 *
 *   0x0000_0500  boot GDT
 *   0x0000_7000  boot_params (the "zero page")
 *   0x0000_9000  boot page tables: PML4, PDPT, 4 PDs identity-mapping 0-4 GiB
 *   0x0002_0000  kernel command line (up to 64 KiB)
 *   0x0009_fc00  reserved (EBDA) up to 1 MiB; ACPI tables at 0xe0000
 *   0x0010_0000  RAM up to min(memory, 3 GiB); kernel at its ELF physical address
 *   0xc000_0000  MMIO hole: VMBus MMIO (0xc0000000-0xefffffff, for synthetic video and
 *                vPCI), IOAPIC at 0xfec00000, LAPIC at 0xfee00000
 *   4 GiB        the rest of RAM
 */
#ifndef VIRIDIAN_ARCH_X86_LAYOUT_H
#define VIRIDIAN_ARCH_X86_LAYOUT_H

#define GPA_BOOT_GDT        0x500ull
#define GPA_BOOT_PARAMS     0x7000ull
#define GPA_PML4            0x9000ull
#define GPA_PDPT            0xa000ull
#define GPA_PD              0xb000ull     /* four pages */
#define GPA_BOOT_STACK      0x8ff0ull
#define GPA_CMDLINE         0x20000ull
#define CMDLINE_MAX         0x10000ull
#define GPA_EBDA            0x9fc00ull
#define GPA_ACPI            0xe0000ull
#define ACPI_AREA_SIZE      0x20000ull
#define GPA_HIGH_MEM        0x100000ull
#define GPA_MMIO_HOLE       0xc0000000ull
#define GPA_VMBUS_MMIO      0xc0000000ull
#define VMBUS_MMIO_SIZE     0x30000000ull
#define GPA_IOAPIC          0xfec00000ull
#define GPA_LAPIC           0xfee00000ull
#define GPA_4G              0x100000000ull

/* Guest memory must hold the boot structures, the kernel and an initrd. */
#define GUEST_MEM_MIN       (16ull << 20)
/* Bounded by the 4-level identity map and by what makes sense on one host. */
#define GUEST_MEM_MAX       (1ull << 40)

#endif
