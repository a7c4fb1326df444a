/* UTF-8 <-> UTF-16 for the path strings stored in disk images (VHD parent names and
 * locators). Byte order is a parameter: VHD mixes big- and little-endian strings. */
#ifndef VIRIDIAN_DISK_UTF16_H
#define VIRIDIAN_DISK_UTF16_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Encodes `s` into `out` (at most `max` bytes, 2 per code unit, no terminator).
 * Returns the byte count, or -1 if it does not fit or `s` is not valid UTF-8. */
long utf8_to_utf16(const char *s, uint8_t *out, size_t max, bool big_endian);
/* Decodes `len` bytes (stops at a NUL unit) into a NUL-terminated UTF-8 string; unpaired
 * surrogates become U+FFFD. Returns -1 if `out` is too small. */
int utf16_to_utf8(const uint8_t *in, size_t len, bool big_endian, char *out, size_t outlen);

#endif
