/* VHD images (Microsoft VHD spec 1.0): fixed, dynamic and differencing. */
#ifndef VIRIDIAN_DISK_VHD_H
#define VIRIDIAN_DISK_VHD_H

#include "disk/disk.h"

extern const struct disk_format vhd_format;

#endif
