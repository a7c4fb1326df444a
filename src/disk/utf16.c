#include "disk/utf16.h"

static void put_unit(uint8_t *p, uint16_t u, bool be)
{
    p[be ? 0 : 1] = (uint8_t)(u >> 8);
    p[be ? 1 : 0] = (uint8_t)u;
}

static uint16_t get_unit(const uint8_t *p, bool be)
{
    return be ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

long utf8_to_utf16(const char *s, uint8_t *out, size_t max, bool big_endian)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    while (*p) {
        uint32_t cp;
        int extra;
        if (*p < 0x80) {
            cp = *p;
            extra = 0;
        } else if ((*p & 0xE0) == 0xC0) {
            cp = *p & 0x1F;
            extra = 1;
        } else if ((*p & 0xF0) == 0xE0) {
            cp = *p & 0x0F;
            extra = 2;
        } else if ((*p & 0xF8) == 0xF0) {
            cp = *p & 0x07;
            extra = 3;
        } else {
            return -1;
        }
        p++;
        for (int i = 0; i < extra; i++, p++) {
            if ((*p & 0xC0) != 0x80)
                return -1;
            cp = cp << 6 | (*p & 0x3F);
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return -1;
        if (cp >= 0x10000) {
            if (n + 4 > max)
                return -1;
            cp -= 0x10000;
            put_unit(out + n, (uint16_t)(0xD800 | cp >> 10), big_endian);
            put_unit(out + n + 2, (uint16_t)(0xDC00 | (cp & 0x3FF)), big_endian);
            n += 4;
        } else {
            if (n + 2 > max)
                return -1;
            put_unit(out + n, (uint16_t)cp, big_endian);
            n += 2;
        }
    }
    return (long)n;
}

int utf16_to_utf8(const uint8_t *in, size_t len, bool big_endian, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i + 1 < len; i += 2) {
        uint32_t cp = get_unit(in + i, big_endian);
        if (cp == 0)
            break;
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 3 < len) {
            uint16_t lo = get_unit(in + i + 2, big_endian);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00u);
                i += 2;
            }
        }
        if (cp >= 0xD800 && cp <= 0xDFFF)
            cp = 0xFFFD;
        char tmp[4];
        size_t k;
        if (cp < 0x80) {
            tmp[0] = (char)cp;
            k = 1;
        } else if (cp < 0x800) {
            tmp[0] = (char)(0xC0 | cp >> 6);
            tmp[1] = (char)(0x80 | (cp & 0x3F));
            k = 2;
        } else if (cp < 0x10000) {
            tmp[0] = (char)(0xE0 | cp >> 12);
            tmp[1] = (char)(0x80 | (cp >> 6 & 0x3F));
            tmp[2] = (char)(0x80 | (cp & 0x3F));
            k = 3;
        } else {
            tmp[0] = (char)(0xF0 | cp >> 18);
            tmp[1] = (char)(0x80 | (cp >> 12 & 0x3F));
            tmp[2] = (char)(0x80 | (cp >> 6 & 0x3F));
            tmp[3] = (char)(0x80 | (cp & 0x3F));
            k = 4;
        }
        if (o + k + 1 > outlen)
            return -1;
        for (size_t j = 0; j < k; j++)
            out[o++] = tmp[j];
    }
    if (o + 1 > outlen)
        return -1;
    out[o] = 0;
    return 0;
}
