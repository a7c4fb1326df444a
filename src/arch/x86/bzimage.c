/* The bzImage setup header (Documentation/arch/x86/boot.rst): just enough to find and
 * validate the compressed payload and the limits the kernel declares. */
#include "arch/x86/kernel_image.h"

#include <stdio.h>
#include <string.h>
#include "core/endian.h"

int bzimage_is(const uint8_t *file, size_t len)
{
    return len >= 0x206 && !memcmp(file + 0x202, "HdrS", 4);
}

int bzimage_parse(const uint8_t *file, size_t len, struct bzimage_info *out, char *err)
{
    memset(out, 0, sizeof(*out));
    if (!bzimage_is(file, len) || len < 0x270) {
        snprintf(err, KERNEL_ERR_LEN, "not a bzImage (no \"HdrS\" setup header)");
        return -1;
    }
    out->version = get_le16(file + 0x206);
    if (out->version < 0x020c) {
        snprintf(err, KERNEL_ERR_LEN,
                 "boot protocol %u.%02u is too old (2.12 or later is needed, Linux 3.8+)",
                 out->version >> 8, out->version & 0xff);
        return -1;
    }
    if (!(file[0x211] & 0x01)) {
        snprintf(err, KERNEL_ERR_LEN, "not a bzImage (a zImage loaded low is not supported)");
        return -1;
    }
    unsigned setup_sects = file[0x1f1] ? file[0x1f1] : 4;
    out->setup_size = (setup_sects + 1) * 512u;
    out->payload_offset = get_le32(file + 0x248);
    out->payload_length = get_le32(file + 0x24c);
    out->initrd_addr_max = get_le32(file + 0x22c);
    out->xloadflags = get_le16(file + 0x236);
    out->cmdline_size = get_le32(file + 0x238);
    out->pref_address = get_le64(file + 0x258);
    out->init_size = get_le32(file + 0x260);

    uint64_t start = (uint64_t)out->setup_size + out->payload_offset;
    if (out->setup_size > len || !out->payload_length || start > len ||
        out->payload_length > len - start) {
        snprintf(err, KERNEL_ERR_LEN, "bzImage is truncated: its payload (%u bytes at %llu) "
                 "extends past the end of the file (%zu bytes)", out->payload_length,
                 (unsigned long long)start, len);
        return -1;
    }
    if (!(out->xloadflags & 0x1)) {
        snprintf(err, KERNEL_ERR_LEN, "not a 64-bit kernel (XLF_KERNEL_64 is not set)");
        return -1;
    }
    out->compression = kernel_compression_detect(file + start, out->payload_length);
    return 0;
}
