#include "arch/x86/aml.h"

#include <string.h>

#define AML_ZERO 0x00
#define AML_ONE 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define AML_METHOD_OP 0x14
#define AML_DUAL_NAME 0x2e
#define AML_MULTI_NAME 0x2f
#define AML_EXT_OP 0x5b
#define AML_DEVICE_OP 0x82
#define AML_RETURN_OP 0xa4
#define AML_ONES 0xff

/* Every open construct reserves 4 bytes for its PkgLength, then aml_end() shrinks it. */
#define PKGLEN_RESERVED 4

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
    memset(a, 0, sizeof(*a));
    a->buf = buf;
    a->cap = cap;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
    if (a->failed || n > a->cap - a->len) {
        a->failed = 1;
        return;
    }
    memcpy(a->buf + a->len, p, n);
    a->len += n;
}

void aml_byte(struct aml *a, uint8_t b)
{
    aml_bytes(a, &b, 1);
}

static void aml_nameseg(struct aml *a, const char *seg, size_t n)
{
    char s[4] = { '_', '_', '_', '_' };
    memcpy(s, seg, n > 4 ? 4 : n);
    aml_bytes(a, s, 4);
}

void aml_namestring(struct aml *a, const char *name)
{
    const char *segs[8];
    size_t lens[8];
    int n = 0;

    if (*name == '\\') {
        aml_byte(a, '\\');
        name++;
    }
    while (*name && n < 8) {
        const char *dot = strchr(name, '.');
        size_t len = dot ? (size_t)(dot - name) : strlen(name);
        segs[n] = name;
        lens[n++] = len;
        name += len + (dot ? 1 : 0);
    }
    if (n == 2)
        aml_byte(a, AML_DUAL_NAME);
    else if (n > 2) {
        aml_byte(a, AML_MULTI_NAME);
        aml_byte(a, (uint8_t)n);
    }
    for (int i = 0; i < n; i++)
        aml_nameseg(a, segs[i], lens[i]);
}

void aml_integer(struct aml *a, uint64_t v)
{
    if (v == 0)
        aml_byte(a, AML_ZERO);
    else if (v == 1)
        aml_byte(a, AML_ONE);
    else if (v <= 0xff) {
        aml_byte(a, AML_BYTE_PREFIX);
        aml_byte(a, (uint8_t)v);
    } else if (v <= 0xffff) {
        aml_byte(a, AML_WORD_PREFIX);
        aml_bytes(a, &(uint16_t){ (uint16_t)v }, 2);
    } else if (v <= 0xffffffff) {
        aml_byte(a, AML_DWORD_PREFIX);
        aml_bytes(a, &(uint32_t){ (uint32_t)v }, 4);
    } else {
        aml_byte(a, AML_QWORD_PREFIX);
        aml_bytes(a, &v, 8);
    }
}

void aml_string(struct aml *a, const char *s)
{
    aml_byte(a, AML_STRING_PREFIX);
    aml_bytes(a, s, strlen(s) + 1);
}

void aml_name(struct aml *a, const char *name)
{
    aml_byte(a, AML_NAME_OP);
    aml_namestring(a, name);
}

static void aml_open(struct aml *a)
{
    if (a->depth == AML_MAX_DEPTH) {
        a->failed = 1;
        return;
    }
    a->open[a->depth++] = a->len;
    aml_bytes(a, "\0\0\0\0", PKGLEN_RESERVED);
}

void aml_end(struct aml *a)
{
    if (a->failed || a->depth == 0) {
        a->failed = 1;
        return;
    }
    size_t at = a->open[--a->depth];
    size_t body = a->len - at - PKGLEN_RESERVED;
    uint8_t enc[4];
    size_t n;

    /* PkgLength counts its own bytes too. */
    if (body + 1 < 0x40) {
        enc[0] = (uint8_t)(body + 1);
        n = 1;
    } else if (body + 2 < 0x1000) {
        size_t v = body + 2;
        enc[0] = (uint8_t)(0x40 | (v & 0xf));
        enc[1] = (uint8_t)(v >> 4);
        n = 2;
    } else if (body + 3 < 0x100000) {
        size_t v = body + 3;
        enc[0] = (uint8_t)(0x80 | (v & 0xf));
        enc[1] = (uint8_t)(v >> 4);
        enc[2] = (uint8_t)(v >> 12);
        n = 3;
    } else {
        size_t v = body + 4;
        enc[0] = (uint8_t)(0xc0 | (v & 0xf));
        enc[1] = (uint8_t)(v >> 4);
        enc[2] = (uint8_t)(v >> 12);
        enc[3] = (uint8_t)(v >> 20);
        n = 4;
    }
    memmove(a->buf + at + n, a->buf + at + PKGLEN_RESERVED, body);
    memcpy(a->buf + at, enc, n);
    a->len -= PKGLEN_RESERVED - n;
}

void aml_scope_begin(struct aml *a, const char *name)
{
    aml_byte(a, AML_SCOPE_OP);
    aml_open(a);
    aml_namestring(a, name);
}

void aml_device_begin(struct aml *a, const char *name)
{
    aml_byte(a, AML_EXT_OP);
    aml_byte(a, AML_DEVICE_OP);
    aml_open(a);
    aml_namestring(a, name);
}

void aml_package_begin(struct aml *a, uint8_t nelements)
{
    aml_byte(a, AML_PACKAGE_OP);
    aml_open(a);
    aml_byte(a, nelements);
}

void aml_method_return_begin(struct aml *a, const char *name)
{
    aml_byte(a, AML_METHOD_OP);
    aml_open(a);
    aml_namestring(a, name);
    aml_byte(a, 0); /* no arguments, not serialized */
    aml_byte(a, AML_RETURN_OP);
}

void aml_buffer(struct aml *a, const uint8_t *data, size_t n)
{
    aml_byte(a, AML_BUFFER_OP);
    aml_open(a);
    aml_integer(a, n);
    aml_bytes(a, data, n);
    aml_end(a);
}

void aml_eisaid(struct aml *a, const char *id)
{
    /* three letters, 5 bits each, then four hex digits; stored big-endian */
    uint32_t v = (uint32_t)((id[0] - 0x40) & 0x1f) << 26 | (uint32_t)((id[1] - 0x40) & 0x1f) << 21 |
                 (uint32_t)((id[2] - 0x40) & 0x1f) << 16;
    for (int i = 3; i < 7; i++) {
        char c = id[i];
        uint32_t d = (uint32_t)(c >= 'A' ? c - 'A' + 10 : c - '0') & 0xf;
        v |= d << (4 * (6 - i));
    }
    uint8_t be[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    aml_byte(a, AML_DWORD_PREFIX);
    aml_bytes(a, be, 4);
}
