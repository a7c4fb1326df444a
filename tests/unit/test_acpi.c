#include "test.h"

#include <stdlib.h>

#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"
#include "core/endian.h"

#define BASE 0xe0000ull
#define AREA 0x20000

static const uint8_t *table_at(const uint8_t *buf, uint64_t gpa)
{
    return gpa >= BASE && gpa < BASE + AREA ? buf + (gpa - BASE) : NULL;
}

static int table_ok(const uint8_t *t, const char *sig)
{
    return t && !memcmp(t, sig, 4) && get_le32(t + 4) >= 36 && acpi_checksum(t, get_le32(t + 4)) == 0;
}

static void add_test_device(struct aml *a, void *ctx)
{
    aml_device_begin(a, "TDEV");
    aml_name(a, "_HID");
    aml_string(a, "VIRD0001");
    aml_name(a, "_STR");
    aml_string(a, "a device whose body is longer than sixty-three bytes, for the PkgLength");
    aml_end(a);
}

static const uint8_t *parse_tables(const uint8_t *buf, int cpus, const uint8_t **madt,
                                   const uint8_t **fadt)
{
    const uint8_t *rsdp = buf;
    CHECK(!memcmp(rsdp, "RSD PTR ", 8));
    CHECK_EQ(acpi_checksum(rsdp, 20), 0);
    CHECK_EQ(acpi_checksum(rsdp, 36), 0);
    CHECK_EQ(rsdp[15], 2);
    const uint8_t *xsdt = table_at(buf, get_le64(rsdp + 24));
    CHECK(table_ok(xsdt, "XSDT"));
    if (!xsdt)
        return NULL;
    CHECK_EQ(get_le32(xsdt + 4), 36 + 16);
    *fadt = table_at(buf, get_le64(xsdt + 36));
    *madt = table_at(buf, get_le64(xsdt + 44));
    CHECK(table_ok(*fadt, "FACP"));
    CHECK(table_ok(*madt, "APIC"));
    if (!*fadt)
        return NULL;
    const uint8_t *dsdt = table_at(buf, get_le64(*fadt + 140));
    CHECK_EQ(get_le32(*fadt + 40), get_le64(*fadt + 140));
    CHECK(table_ok(dsdt, "DSDT"));
    const uint8_t *facs = table_at(buf, get_le64(*fadt + 132));
    CHECK(facs && !memcmp(facs, "FACS", 4));
    return dsdt;
}

TEST(acpi_tables_chain_and_checksum)
{
    uint8_t *buf = calloc(1, AREA);
    const uint8_t *madt = NULL, *fadt = NULL;
    struct acpi_config cfg = { .cpus = 3 };
    CHECK_EQ(acpi_build(buf, AREA, BASE, &cfg), BASE);
    const uint8_t *dsdt = parse_tables(buf, 3, &madt, &fadt);
    CHECK(dsdt != NULL);

    /* FADT: the fixed hardware the devices implement */
    CHECK_EQ(get_le32(fadt + 56), ACPI_PM1_EVT_PORT);
    CHECK_EQ(get_le32(fadt + 64), ACPI_PM1_CNT_PORT);
    CHECK_EQ(get_le32(fadt + 76), ACPI_PM_TMR_PORT);
    CHECK_EQ(fadt[46], ACPI_SCI_IRQ);
    CHECK_EQ(get_le64(fadt + 116 + 4), ACPI_RESET_PORT);
    CHECK_EQ(fadt[128], ACPI_RESET_VALUE);
    CHECK(get_le32(fadt + 112) & (1u << 10));   /* reset register supported */
    CHECK(!(get_le32(fadt + 112) & (1u << 4))); /* fixed power button present */

    /* MADT: one enabled local APIC per vCPU with APIC ID = index, one IOAPIC */
    int lapics = 0, ioapics = 0;
    uint32_t len = get_le32(madt + 4);
    for (uint32_t off = 44; off + 2 <= len && madt[off + 1]; off += madt[off + 1]) {
        if (madt[off] == 0) {
            CHECK_EQ(madt[off + 3], lapics);
            CHECK_EQ(get_le32(madt + off + 4) & 1, 1);
            lapics++;
        } else if (madt[off] == 1) {
            CHECK_EQ(get_le32(madt + off + 4), 0xfec00000u);
            ioapics++;
        }
    }
    CHECK_EQ(lapics, 3);
    CHECK_EQ(ioapics, 1);

    /* DSDT: \_S5 with SLP_TYP 5, as PM1 control expects */
    static const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00 };
    CHECK(!memcmp(dsdt + 36, s5, sizeof(s5)));
    free(buf);
}

TEST(acpi_madt_scales_to_many_cpus)
{
    uint8_t *buf = calloc(1, AREA);
    const uint8_t *madt = NULL, *fadt = NULL;
    struct acpi_config cfg = { .cpus = 300 };
    CHECK_EQ(acpi_build(buf, AREA, BASE, &cfg), BASE);
    parse_tables(buf, 300, &madt, &fadt);
    int lapic = 0, x2apic = 0;
    for (uint32_t off = 44; madt && off + 2 <= get_le32(madt + 4) && madt[off + 1]; off += madt[off + 1]) {
        lapic += madt[off] == 0;
        x2apic += madt[off] == 9;
    }
    CHECK_EQ(lapic, 255);
    CHECK_EQ(x2apic, 45);
    free(buf);
}

TEST(acpi_build_fails_when_the_area_is_too_small)
{
    uint8_t buf[256];
    struct acpi_config cfg = { .cpus = 1 };
    CHECK_EQ(acpi_build(buf, sizeof(buf), BASE, &cfg), 0);
}

TEST(aml_package_lengths_and_devices)
{
    uint8_t *buf = calloc(1, AREA);
    const uint8_t *madt = NULL, *fadt = NULL;
    struct acpi_config cfg = { .cpus = 1, .add_devices = add_test_device };
    CHECK_EQ(acpi_build(buf, AREA, BASE, &cfg), BASE);
    const uint8_t *dsdt = parse_tables(buf, 1, &madt, &fadt);
    CHECK(dsdt != NULL);
    if (!dsdt) {
        free(buf);
        return;
    }
    /* Scope(\_SB_) { Device(TDEV) {...} } follows \_S5 */
    const uint8_t *p = dsdt + 36 + 14;
    CHECK_EQ(p[0], 0x10);                   /* ScopeOp */
    CHECK_EQ(p[1] >> 6, 1);                 /* two-byte PkgLength */
    size_t scope_len = (size_t)(p[1] & 0x0f) | (size_t)p[2] << 4;
    CHECK_EQ(1 + scope_len, get_le32(dsdt + 4) - 36 - 14);
    CHECK(!memcmp(p + 3, "\\_SB_", 5));
    CHECK_EQ(p[8], 0x5b);
    CHECK_EQ(p[9], 0x82);                   /* DeviceOp */
    free(buf);

    /* EISAID("PNP0A06") is 0x41d00a06 stored big-endian */
    uint8_t small[16];
    struct aml a;
    aml_init(&a, small, sizeof(small));
    aml_eisaid(&a, "PNP0A06");
    CHECK_EQ(a.len, 5);
    CHECK(!memcmp(small, "\x0c\x41\xd0\x0a\x06", 5));
    aml_init(&a, small, 4);
    aml_string(&a, "too long for four bytes");
    CHECK(a.failed);
}
