/* Human sizes: "512M", "2G", "4096", "1.5G", "64T". Suffixes K M G T P (optionally
 * followed by "iB" or "B") are powers of 1024, as Hyper-V and qemu-img use them. */
#ifndef VIRIDIAN_CORE_SIZE_H
#define VIRIDIAN_CORE_SIZE_H

#include <stdint.h>
#include <stddef.h>

/* Returns 0 and stores the byte count, or -1 for anything that is not a size
 * (empty, negative, junk after the number, overflow past 2^63). */
int size_parse(const char *text, uint64_t *bytes);
/* "2 GiB", "512 MiB", "4097 B": the largest unit that divides exactly, else bytes. */
void size_format(uint64_t bytes, char *buf, size_t len);

#endif
