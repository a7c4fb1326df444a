#include "core/size.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int size_parse(const char *text, uint64_t *bytes)
{
    static const char units[] = "KMGTP";
    uint64_t whole = 0, frac = 0, frac_div = 1;
    const char *p = text;
    int digits = 0;

    if (!text)
        return -1;
    while (isspace((unsigned char)*p))
        p++;
    for (; isdigit((unsigned char)*p); p++, digits++) {
        if (whole > (UINT64_MAX - 9) / 10)
            return -1;
        whole = whole * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.') {
        for (p++; isdigit((unsigned char)*p); p++, digits++) {
            if (frac_div < 1000000000000ull) {
                frac = frac * 10 + (uint64_t)(*p - '0');
                frac_div *= 10;
            }
        }
    }
    if (!digits)
        return -1;

    uint64_t mult = 1;
    if (*p) {
        const char *u = strchr(units, toupper((unsigned char)*p));
        if (u) {
            for (long i = 0; i <= u - units; i++)
                mult *= 1024;
            p++;
            if (strcasecmp(p, "iB") == 0 || strcasecmp(p, "B") == 0)
                p += strlen(p);
        } else if (strcasecmp(p, "B") == 0) {
            p++;
        }
    }
    if (*p)
        return -1;
    if (whole > (UINT64_MAX >> 1) / mult)
        return -1;
    uint64_t total = whole * mult;
    if (frac) {
        /* fractional part: only meaningful with a unit, rounded down to a byte */
        if (mult == 1)
            return -1;
        total += (uint64_t)((double)frac / (double)frac_div * (double)mult);
    }
    if (total > (UINT64_MAX >> 1))
        return -1;
    *bytes = total;
    return 0;
}

void size_format(uint64_t bytes, char *buf, size_t len)
{
    static const char *names[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    int unit = 0;
    uint64_t v = bytes;
    while (unit < 5 && v && v % 1024 == 0) {
        v /= 1024;
        unit++;
    }
    snprintf(buf, len, "%llu %s", (unsigned long long)v, names[unit]);
}
