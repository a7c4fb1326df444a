/* A tiny ACPI Machine Language writer: the handful of constructs Viridian's DSDT uses
 * (names, packages, integers, strings, devices, scopes, buffers, simple methods).
 * Open constructs with aml_*_begin() and close them with aml_end(), which patches in
 * the package length. Overflow is sticky: check aml.failed once at the end. */
#ifndef VIRIDIAN_ARCH_X86_AML_H
#define VIRIDIAN_ARCH_X86_AML_H

#include <stddef.h>
#include <stdint.h>

#define AML_MAX_DEPTH 8

struct aml {
    uint8_t *buf;
    size_t cap, len;
    size_t open[AML_MAX_DEPTH];     /* where each open construct's length goes */
    int depth;
    int failed;
};

void aml_init(struct aml *a, uint8_t *buf, size_t cap);
void aml_bytes(struct aml *a, const void *p, size_t n);
void aml_byte(struct aml *a, uint8_t b);
/* "_S5_", "VMOD", or "\\_SB_.VMOD" (segments padded with '_' to 4 chars) */
void aml_namestring(struct aml *a, const char *name);
void aml_integer(struct aml *a, uint64_t v);
void aml_string(struct aml *a, const char *s);
/* Name(NAME, ...): the value follows. */
void aml_name(struct aml *a, const char *name);
void aml_scope_begin(struct aml *a, const char *name);
void aml_device_begin(struct aml *a, const char *name);
void aml_package_begin(struct aml *a, uint8_t nelements);
/* Method(NAME, 0, NotSerialized) { Return (value follows) } */
void aml_method_return_begin(struct aml *a, const char *name);
/* Buffer() { bytes }: for resource templates. */
void aml_buffer(struct aml *a, const uint8_t *data, size_t n);
/* EISAID("PNP0A06") as the 32-bit compressed ID. */
void aml_eisaid(struct aml *a, const char *id);
void aml_end(struct aml *a);

#endif
