/* From a kernel file to segments in guest memory. */
#include "arch/x86/kernel_image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* No real kernel unpacks to more than this; it bounds a hostile payload. */
#define KERNEL_MAX_UNPACKED (512u << 20)

int kernel_image_from_buffer(const uint8_t *file, size_t len, struct kernel_image *k, char *err)
{
    memset(k, 0, sizeof(*k));
    if (bzimage_is(file, len)) {
        if (bzimage_parse(file, len, &k->bz, err) < 0)
            return -1;
        const uint8_t *payload = file + k->bz.setup_size + k->bz.payload_offset;
        if (k->bz.compression == KCOMP_NONE) {
            if (k->bz.payload_length < 4 || memcmp(payload, "\x7f" "ELF", 4)) {
                snprintf(err, KERNEL_ERR_LEN, "bzImage payload is in an unknown format");
                return -1;
            }
            k->elf = malloc(k->bz.payload_length);
            if (!k->elf) {
                snprintf(err, KERNEL_ERR_LEN, "out of memory");
                return -1;
            }
            memcpy(k->elf, payload, k->bz.payload_length);
            k->elf_size = k->bz.payload_length;
        } else {
            char why[KERNEL_ERR_LEN];
            if (kernel_decompress(k->bz.compression, payload, k->bz.payload_length,
                                  KERNEL_MAX_UNPACKED, &k->elf, &k->elf_size, why) < 0) {
                snprintf(err, KERNEL_ERR_LEN, "bzImage: %s", why);
                return -1;
            }
        }
        size_t hdr_end = 0x202 + (size_t)file[0x201];
        if (hdr_end > SETUP_HDR_MAX_END)
            hdr_end = SETUP_HDR_MAX_END;
        memcpy(k->setup_header, file + SETUP_HDR_OFFSET, hdr_end - SETUP_HDR_OFFSET);
        k->has_setup_header = 1;
    } else if (len >= 4 && !memcmp(file, "\x7f" "ELF", 4)) {
        k->elf = malloc(len);
        if (!k->elf) {
            snprintf(err, KERNEL_ERR_LEN, "out of memory");
            return -1;
        }
        memcpy(k->elf, file, len);
        k->elf_size = len;
    } else {
        snprintf(err, KERNEL_ERR_LEN, "not a Linux kernel (neither a bzImage nor an ELF vmlinux)");
        return -1;
    }

    char why[KERNEL_ERR_LEN];
    if (elf_parse(k->elf, k->elf_size, &k->info, why) < 0) {
        snprintf(err, KERNEL_ERR_LEN, "%s%s", k->has_setup_header ? "bzImage payload: " : "", why);
        kernel_image_free(k);
        return -1;
    }
    return 0;
}

int kernel_image_load_file(const char *path, struct kernel_image *k, char *err)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, KERNEL_ERR_LEN, "kernel %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, KERNEL_ERR_LEN, "kernel %s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_size == 0) {
        snprintf(err, KERNEL_ERR_LEN, "kernel %s: the file is empty", path);
        close(fd);
        return -1;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        snprintf(err, KERNEL_ERR_LEN, "kernel %s: %s", path, strerror(errno));
        return -1;
    }
    char why[KERNEL_ERR_LEN];
    int rc = kernel_image_from_buffer(map, (size_t)st.st_size, k, why);
    munmap(map, (size_t)st.st_size);
    if (rc < 0)
        snprintf(err, KERNEL_ERR_LEN, "kernel %s: %s", path, why);
    return rc;
}

void kernel_image_free(struct kernel_image *k)
{
    free(k->elf);
    k->elf = NULL;
}

int kernel_image_place(const struct kernel_image *k, const struct guest_mem *mem, char *err)
{
    for (int i = 0; i < k->info.nsegments; i++) {
        const struct elf_segment *s = &k->info.segments[i];
        uint8_t *dst = gmem_ptr(mem, s->paddr, s->memsz);
        if (!dst) {
            snprintf(err, KERNEL_ERR_LEN,
                     "the kernel needs guest memory up to 0x%llx, which this VM does not have "
                     "(use a larger --memory)", (unsigned long long)(s->paddr + s->memsz));
            return -1;
        }
        memcpy(dst, k->elf + s->file_offset, s->filesz);
        memset(dst + s->filesz, 0, s->memsz - s->filesz);
    }
    return 0;
}
