#include "arch/x86/acpi.h"

#include <string.h>

#include "arch/x86/layout.h"
#include "core/endian.h"

#define ACPI_HDR_LEN 36
#define FADT_LEN 276
#define FACS_LEN 64

struct acpi_writer {
    uint8_t *buf;
    size_t size, len;
    uint64_t gpa;
};

uint8_t acpi_checksum(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint8_t sum = 0;
    while (n--)
        sum = (uint8_t)(sum + *b++);
    return sum;
}

/* Reserves n zeroed bytes, 16-byte aligned; NULL when full. */
static uint8_t *acpi_alloc(struct acpi_writer *w, size_t n, uint64_t *gpa)
{
    size_t at = (w->len + 15) & ~(size_t)15;
    if (at > w->size || n > w->size - at)
        return NULL;
    w->len = at + n;
    memset(w->buf + at, 0, n);
    *gpa = w->gpa + at;
    return w->buf + at;
}

static void acpi_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
    memcpy(t, sig, 4);
    put_le32(t + 4, len);
    t[8] = rev;
    memcpy(t + 10, "VIRDAN", 6);
    memcpy(t + 16, "VIRIDIAN", 8);
    put_le32(t + 24, 1);
    memcpy(t + 28, "VIRD", 4);
    put_le32(t + 32, 1);
}

static void acpi_finish(uint8_t *t, uint32_t len)
{
    put_le32(t + 4, len);
    t[9] = 0;
    t[9] = (uint8_t)(0 - acpi_checksum(t, len));
}

/* Generic Address Structure for an I/O port block. */
static void gas_io(uint8_t *g, uint16_t port, uint8_t bytes)
{
    g[0] = 1;                       /* system I/O */
    g[1] = (uint8_t)(bytes * 8);
    g[2] = 0;
    g[3] = bytes >= 4 ? 3 : bytes;  /* access size: 1 byte, 2 word, 3 dword */
    put_le64(g + 4, port);
}

static uint64_t build_dsdt(struct acpi_writer *w, const struct acpi_config *cfg)
{
    uint64_t gpa;
    size_t room = w->size - ((w->len + 15) & ~(size_t)15);
    uint8_t *t = acpi_alloc(w, room, &gpa);
    struct aml a;

    if (!t || room < ACPI_HDR_LEN)
        return 0;
    aml_init(&a, t + ACPI_HDR_LEN, room - ACPI_HDR_LEN);
    aml_name(&a, "_S5_");
    aml_package_begin(&a, 4);
    aml_integer(&a, ACPI_SLP_TYP_S5);
    aml_integer(&a, ACPI_SLP_TYP_S5);
    aml_integer(&a, 0);
    aml_integer(&a, 0);
    aml_end(&a);
    aml_scope_begin(&a, "\\_SB_");
    if (cfg->add_devices)
        cfg->add_devices(&a, cfg->ctx);
    aml_end(&a);
    if (a.failed || a.depth)
        return 0;
    uint32_t len = (uint32_t)(ACPI_HDR_LEN + a.len);
    acpi_header(t, "DSDT", len, 2);
    acpi_finish(t, len);
    w->len = (size_t)(t - w->buf) + len; /* give back what the AML did not use */
    return gpa;
}

static uint64_t build_fadt(struct acpi_writer *w, uint64_t dsdt, uint64_t facs)
{
    uint64_t gpa;
    uint8_t *t = acpi_alloc(w, FADT_LEN, &gpa);
    if (!t)
        return 0;
    acpi_header(t, "FACP", FADT_LEN, 6);
    put_le32(t + 36, (uint32_t)facs);
    put_le32(t + 40, (uint32_t)dsdt);
    put_le16(t + 46, ACPI_SCI_IRQ);
    put_le32(t + 56, ACPI_PM1_EVT_PORT);
    put_le32(t + 64, ACPI_PM1_CNT_PORT);
    put_le32(t + 76, ACPI_PM_TMR_PORT);
    t[88] = 4;                      /* PM1_EVT_LEN */
    t[89] = 2;                      /* PM1_CNT_LEN */
    t[91] = 4;                      /* PM_TMR_LEN */
    put_le16(t + 96, 101);             /* no C2 */
    put_le16(t + 98, 1001);            /* no C3 */
    t[108] = 0x32;                  /* CMOS century register */
    put_le16(t + 109, 1u << 2);        /* IAPC_BOOT_ARCH: no VGA; no 8042, no legacy devices */
    put_le32(t + 112, (1u << 0) |      /* WBINVD */
                   (1u << 2) |      /* C1 supported */
                   (1u << 5) |      /* no sleep button (the power button is fixed) */
                   (1u << 10));     /* RESET_REG_SUP; TMR_VAL_EXT clear: 24-bit timer */
    gas_io(t + 116, ACPI_RESET_PORT, 1);
    t[128] = ACPI_RESET_VALUE;
    t[131] = 4;                     /* FADT minor version */
    put_le64(t + 132, facs);
    put_le64(t + 140, dsdt);
    gas_io(t + 148, ACPI_PM1_EVT_PORT, 4);
    gas_io(t + 172, ACPI_PM1_CNT_PORT, 2);
    gas_io(t + 208, ACPI_PM_TMR_PORT, 4);
    memcpy(t + 268, "Viridian", 8); /* hypervisor vendor identity */
    acpi_finish(t, FADT_LEN);
    return gpa;
}

static uint64_t build_facs(struct acpi_writer *w)
{
    uint64_t gpa;
    uint8_t *t = acpi_alloc(w, FACS_LEN, &gpa);
    if (!t)
        return 0;
    memcpy(t, "FACS", 4);
    put_le32(t + 4, FACS_LEN);
    t[32] = 2;                      /* version */
    return gpa;
}

static uint64_t build_madt(struct acpi_writer *w, int cpus)
{
    uint64_t gpa;
    size_t len = ACPI_HDR_LEN + 8 + (size_t)cpus * 16 + 12 + 10 + 6 + 12;
    uint8_t *t = acpi_alloc(w, len, &gpa);
    if (!t)
        return 0;
    acpi_header(t, "APIC", 0, 5);
    put_le32(t + 36, (uint32_t)GPA_LAPIC);
    put_le32(t + 40, 1);               /* PCAT_COMPAT: there are 8259s too */
    uint8_t *p = t + 44;
    for (int i = 0; i < cpus; i++) {
        if (i < 255) {
            p[0] = 0;               /* processor local APIC */
            p[1] = 8;
            p[2] = (uint8_t)i;      /* ACPI processor UID */
            p[3] = (uint8_t)i;      /* APIC ID = vCPU index */
            put_le32(p + 4, 1);        /* enabled */
            p += 8;
        } else {
            p[0] = 9;               /* processor local x2APIC */
            p[1] = 16;
            put_le32(p + 4, (uint32_t)i);
            put_le32(p + 8, 1);
            put_le32(p + 12, (uint32_t)i);
            p += 16;
        }
    }
    p[0] = 1;                       /* I/O APIC, id 0, GSIs 0-23 */
    p[1] = 12;
    p[2] = 0;
    put_le32(p + 4, (uint32_t)GPA_IOAPIC);
    put_le32(p + 8, 0);
    p += 12;
    p[0] = 2;                       /* interrupt source override: SCI, level, active high */
    p[1] = 10;
    p[2] = 0;
    p[3] = ACPI_SCI_IRQ;
    put_le32(p + 4, ACPI_SCI_IRQ);
    put_le16(p + 8, 0x000d);
    p += 10;
    p[0] = 4;                       /* local APIC NMI on LINT1 of every processor */
    p[1] = 6;
    p[2] = 0xff;
    put_le16(p + 3, 0);
    p[5] = 1;
    p += 6;
    uint32_t used = (uint32_t)(p - t);
    acpi_finish(t, used);
    w->len = (size_t)(t - w->buf) + used;
    return gpa;
}

uint64_t acpi_build(uint8_t *buf, size_t size, uint64_t gpa, const struct acpi_config *cfg)
{
    struct acpi_writer w = { buf, size, 0, gpa };
    uint64_t rsdp_gpa, xsdt_gpa;
    uint8_t *rsdp = acpi_alloc(&w, 36, &rsdp_gpa);
    uint8_t *xsdt = acpi_alloc(&w, ACPI_HDR_LEN + 2 * 8, &xsdt_gpa);
    uint64_t facs = build_facs(&w);
    uint64_t madt = build_madt(&w, cfg->cpus);
    uint64_t dsdt = build_dsdt(&w, cfg);
    uint64_t fadt = dsdt ? build_fadt(&w, dsdt, facs) : 0;

    if (!rsdp || !xsdt || !facs || !madt || !dsdt || !fadt)
        return 0;
    acpi_header(xsdt, "XSDT", 0, 1);
    put_le64(xsdt + ACPI_HDR_LEN, fadt);
    put_le64(xsdt + ACPI_HDR_LEN + 8, madt);
    acpi_finish(xsdt, ACPI_HDR_LEN + 2 * 8);

    memcpy(rsdp, "RSD PTR ", 8);
    memcpy(rsdp + 9, "VIRDAN", 6);
    rsdp[15] = 2;                   /* ACPI 2.0+: use the XSDT */
    put_le32(rsdp + 20, 36);
    put_le64(rsdp + 24, xsdt_gpa);
    rsdp[8] = (uint8_t)(0 - acpi_checksum(rsdp, 20));
    rsdp[32] = (uint8_t)(0 - acpi_checksum(rsdp, 36));
    return rsdp_gpa;
}
