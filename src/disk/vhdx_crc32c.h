/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by VHDX for headers,
 * region tables and log entries. Slice-by-8 tables built once on first use. */
#ifndef VIRIDIAN_DISK_VHDX_CRC32C_H
#define VIRIDIAN_DISK_VHDX_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: start with crc = 0 for a fresh computation. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif
