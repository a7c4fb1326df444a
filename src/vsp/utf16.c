#include "vsp/utf16.h"

static void put16(uint8_t *p, uint32_t u)
{
    p[0] = (uint8_t)u;
    p[1] = (uint8_t)(u >> 8);
}

/* Next code point of s at *i, or -1 if malformed. */
static long next_utf8(const unsigned char *s, size_t *i)
{
    unsigned c = s[*i];
    unsigned n;
    uint32_t cp, min;
    if (c < 0x80) {
        (*i)++;
        return c;
    } else if ((c & 0xE0) == 0xC0) {
        n = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 3, cp = c & 0x07, min = 0x10000;
    } else {
        return -1;
    }
    for (unsigned k = 1; k <= n; k++) {
        unsigned cc = s[*i + k];
        if ((cc & 0xC0) != 0x80) /* also stops at the NUL */
            return -1;
        cp = cp << 6 | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *i += n + 1;
    return (long)cp;
}

int utf16le_from_utf8(const char *s, uint8_t *out, uint32_t cap_units)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    uint32_t n = 0;
    while (u[i]) {
        long cp = next_utf8(u, &i);
        if (cp < 0)
            return -1;
        uint32_t need = cp >= 0x10000 ? 2 : 1;
        if (n + need + 1 > cap_units)
            return -1;
        if (cp >= 0x10000) {
            uint32_t v = (uint32_t)cp - 0x10000;
            put16(out + 2 * n++, 0xD800 | (v >> 10));
            put16(out + 2 * n++, 0xDC00 | (v & 0x3FF));
        } else {
            put16(out + 2 * n++, (uint32_t)cp);
        }
    }
    if (n + 1 > cap_units)
        return -1;
    put16(out + 2 * n, 0);
    return (int)n;
}

size_t utf16le_to_utf8(const uint8_t *in, uint32_t max_units, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (uint32_t i = 0; i < max_units; i++) {
        uint32_t u = in[2 * i] | (uint32_t)in[2 * i + 1] << 8;
        if (u == 0)
            break;
        uint32_t cp = u;
        if (u >= 0xD800 && u <= 0xDBFF && i + 1 < max_units) {
            uint32_t lo = in[2 * i + 2] | (uint32_t)in[2 * i + 3] << 8;
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                i++;
            } else {
                cp = 0xFFFD;
            }
        } else if (u >= 0xD800 && u <= 0xDFFF) {
            cp = 0xFFFD;
        }
        char b[4];
        size_t n;
        if (cp < 0x80) {
            b[0] = (char)cp, n = 1;
        } else if (cp < 0x800) {
            b[0] = (char)(0xC0 | cp >> 6), b[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
        } else if (cp < 0x10000) {
            b[0] = (char)(0xE0 | cp >> 12), b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
            b[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
        } else {
            b[0] = (char)(0xF0 | cp >> 18), b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
            b[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), b[3] = (char)(0x80 | (cp & 0x3F));
            n = 4;
        }
        if (o + n + 1 > cap)
            break;
        for (size_t k = 0; k < n; k++)
            out[o++] = b[k];
    }
    out[o] = '\0';
    return o;
}
