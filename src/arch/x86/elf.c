/* A 64-bit x86 ELF vmlinux: loadable segments and the PVH entry note. */
#include "arch/x86/kernel_image.h"

#include <elf.h>
#include <stdio.h>
#include <string.h>

#define XEN_ELFNOTE_PHYS32_ENTRY 18

static void find_pvh_note(const uint8_t *file, size_t len, const Elf64_Phdr *ph,
                          struct elf_image *out)
{
    if (ph->p_offset > len || ph->p_filesz > len - ph->p_offset)
        return;
    const uint8_t *p = file + ph->p_offset, *end = p + ph->p_filesz;
    while ((size_t)(end - p) >= sizeof(Elf64_Nhdr)) {
        Elf64_Nhdr nh;
        memcpy(&nh, p, sizeof(nh));
        size_t name_sz = ((size_t)nh.n_namesz + 3) & ~(size_t)3;
        size_t desc_sz = ((size_t)nh.n_descsz + 3) & ~(size_t)3;
        p += sizeof(nh);
        if (name_sz > (size_t)(end - p) || desc_sz > (size_t)(end - p) - name_sz)
            return;
        if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
            !memcmp(p, "Xen", 4) && nh.n_descsz >= 4) {
            uint32_t entry;
            memcpy(&entry, p + name_sz, 4);
            out->pvh_entry = entry;
        }
        p += name_sz + desc_sz;
    }
}

int elf_parse(const uint8_t *file, size_t len, struct elf_image *out, char *err)
{
    Elf64_Ehdr eh;

    memset(out, 0, sizeof(*out));
    if (len < sizeof(eh) || memcmp(file, ELFMAG, SELFMAG)) {
        snprintf(err, KERNEL_ERR_LEN, "not an ELF file");
        return -1;
    }
    memcpy(&eh, file, sizeof(eh));
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
        eh.e_machine != EM_X86_64) {
        snprintf(err, KERNEL_ERR_LEN, "not a 64-bit x86 ELF kernel");
        return -1;
    }
    if (eh.e_type != ET_EXEC) {
        snprintf(err, KERNEL_ERR_LEN, "ELF file is not an executable kernel image");
        return -1;
    }
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || !eh.e_phnum || eh.e_phoff > len ||
        (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff) {
        snprintf(err, KERNEL_ERR_LEN, "ELF program headers are missing or truncated");
        return -1;
    }
    out->entry64 = eh.e_entry;
    out->lowest = UINT64_MAX;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, file + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
        if (ph.p_type == PT_NOTE) {
            find_pvh_note(file, len, &ph, out);
            continue;
        }
        if (ph.p_type != PT_LOAD || !ph.p_memsz)
            continue;
        if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset || ph.p_filesz > ph.p_memsz ||
            ph.p_paddr + ph.p_memsz < ph.p_paddr) {
            snprintf(err, KERNEL_ERR_LEN, "ELF segment %u lies outside the file or wraps", i);
            return -1;
        }
        if (out->nsegments == ELF_MAX_SEGMENTS) {
            snprintf(err, KERNEL_ERR_LEN, "ELF kernel has too many loadable segments");
            return -1;
        }
        out->segments[out->nsegments++] =
            (struct elf_segment){ ph.p_paddr, ph.p_offset, ph.p_filesz, ph.p_memsz };
        if (ph.p_paddr < out->lowest)
            out->lowest = ph.p_paddr;
        if (ph.p_paddr + ph.p_memsz > out->highest)
            out->highest = ph.p_paddr + ph.p_memsz;
    }
    if (!out->nsegments) {
        snprintf(err, KERNEL_ERR_LEN, "ELF kernel has no loadable segments");
        return -1;
    }
    if (out->entry64 < out->lowest || out->entry64 >= out->highest) {
        snprintf(err, KERNEL_ERR_LEN, "ELF entry point 0x%llx is outside the loaded image",
                 (unsigned long long)out->entry64);
        return -1;
    }
    return 0;
}
