/* ACPI tables generated in C: RSDP, XSDT, FADT (+FACS), MADT and DSDT.
 *
 * Fixed hardware (src/dev/acpi_pm.c implements it):
 *   PM1a event block  I/O 0x600 (4 bytes: status, enable)
 *   PM1a control      I/O 0x604 (2 bytes): SLP_EN with SLP_TYP 5 (\_S5) powers off
 *   PM timer          I/O 0x608 (4 bytes, 24-bit, 3.579545 MHz)
 *   reset register    I/O 0xcf9, value 0x06
 *   SCI               IRQ 9, level, active high
 * The power button is the fixed-feature one (PM1 status bit 8), so the host can ask
 * the guest to shut down through ACPI. */
#ifndef VIRIDIAN_ARCH_X86_ACPI_H
#define VIRIDIAN_ARCH_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/aml.h"

#define ACPI_PM1_EVT_PORT   0x600
#define ACPI_PM1_CNT_PORT   0x604
#define ACPI_PM_TMR_PORT    0x608
#define ACPI_RESET_PORT     0xcf9
#define ACPI_RESET_VALUE    0x06
#define ACPI_SCI_IRQ        9
#define ACPI_SLP_TYP_S5     5

struct acpi_config {
    int cpus;
    /* Adds device objects inside \_SB (e.g. VMBus); may be NULL. */
    void (*add_devices)(struct aml *a, void *ctx);
    void *ctx;
};

/* Builds all tables into buf, which the guest sees at gpa. Returns the RSDP's guest
 * address (always gpa), or 0 if the tables do not fit. */
uint64_t acpi_build(uint8_t *buf, size_t size, uint64_t gpa, const struct acpi_config *cfg);

/* Sum of bytes modulo 256; a valid table sums to 0. */
uint8_t acpi_checksum(const void *p, size_t n);

#endif
