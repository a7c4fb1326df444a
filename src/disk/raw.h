/* Raw images: the file is the disk, byte for byte. */
#ifndef VIRIDIAN_DISK_RAW_H
#define VIRIDIAN_DISK_RAW_H

#include "disk/disk.h"

extern const struct disk_format raw_format;

/* Whole-length file I/O for every format: pread/pwrite the whole length, retrying
 * short transfers; -EIO at end of file, except that raw_pread_zero_eof() reads
 * zeros past the end (VHDX: sparse tails, structures read before the file grew). */
int raw_pread_full(int fd, void *buf, size_t len, uint64_t off);
int raw_pread_zero_eof(int fd, void *buf, size_t len, uint64_t off);
int raw_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);
/* Data/hole extent of [off, off+len) of the file via SEEK_DATA/SEEK_HOLE. */
int raw_file_extent(int fd, uint64_t file_size, uint64_t off, uint64_t len, uint64_t *extent_len);
/* Punch a hole (keeps the file size); 0 also when the file system cannot. */
int raw_punch_hole(int fd, uint64_t off, uint64_t len);
/* The same, where the caller needs the range to read zeros afterwards: 0 only then,
 * -EOPNOTSUPP when the file system cannot punch holes. */
int raw_zero_hole(int fd, uint64_t off, uint64_t len);
/* Copies len bytes of the file from `from` to `to` (ranges apart), 1 MiB at a time;
 * with dst_zero (the destination reads zeros already, e.g. punched) all-zero MiBs are
 * not written, so they stay holes. 0 or a negative errno. */
int raw_copy_within(int fd, uint64_t from, uint64_t to, uint64_t len, bool dst_zero);

#endif
