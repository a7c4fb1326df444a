#include "arch/x86/acpi_vmbus.h"

#include <string.h>

#include "arch/x86/layout.h"

/* QWordMemory(ResourceConsumer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,
 * granularity 0, base, base + size - 1, translation 0, size) and an end tag. */
static size_t qword_memory(uint8_t *p, uint64_t base, uint64_t size)
{
    uint64_t f[5] = { 0, base, base + size - 1, 0, size };
    p[0] = 0x8a;            /* QWord address space descriptor */
    p[1] = 43;              /* length, little-endian */
    p[2] = 0;
    p[3] = 0;               /* memory range */
    p[4] = 0x0c;            /* min and max fixed */
    p[5] = 0x01;            /* read-write */
    memcpy(p + 6, f, sizeof(f));
    return 46;
}

static void aml_resource_template(struct aml *a, const uint8_t *desc, size_t len)
{
    uint8_t buf[64];
    if (len)
        memcpy(buf, desc, len);
    buf[len] = 0x79;        /* end tag; checksum 0 means "not checked" */
    buf[len + 1] = 0;
    aml_buffer(a, buf, len + 2);
}

void acpi_add_vmbus(struct aml *a, void *ctx)
{
    uint8_t mmio[46];
    size_t n = qword_memory(mmio, GPA_VMBUS_MMIO, VMBUS_MMIO_SIZE);

    aml_device_begin(a, "VMOD");
    aml_name(a, "_HID");
    aml_string(a, "ACPI0004");
    aml_name(a, "_UID");
    aml_integer(a, 0);
    aml_name(a, "_CRS");
    aml_resource_template(a, mmio, n);

    aml_device_begin(a, "VMBS");
    aml_name(a, "_HID");
    aml_string(a, "VMBus");
    aml_name(a, "_UID");
    aml_integer(a, 0);
    aml_name(a, "_CRS");
    aml_resource_template(a, NULL, 0);
    aml_end(a);

    aml_end(a);
}
