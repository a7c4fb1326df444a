/* UTF-8 <-> UTF-16LE for the fixed-size string fields of the IC messages (KVP keys,
 * values, addresses; the shutdown reason). */
#ifndef VIRIDIAN_VSP_UTF16_H
#define VIRIDIAN_VSP_UTF16_H

#include <stddef.h>
#include <stdint.h>

/* Encodes NUL-terminated UTF-8 `s` as UTF-16LE plus a NUL unit into out (cap_units
 * 16-bit units). Returns the units written excluding the NUL, or -1 if s is not valid
 * UTF-8 (overlong forms, surrogates, > U+10FFFF) or does not fit with its NUL. */
int utf16le_from_utf8(const char *s, uint8_t *out, uint32_t cap_units);

/* Decodes UTF-16LE from `in` up to the first NUL unit or max_units, whichever comes
 * first (never reads further), into NUL-terminated UTF-8. Unpaired surrogates become
 * U+FFFD. Output stops at a character boundary if cap is too small; cap >= 3*max_units+1
 * always suffices. Returns the bytes written excluding the NUL. */
size_t utf16le_to_utf8(const uint8_t *in, uint32_t max_units, char *out, size_t cap);

#endif
