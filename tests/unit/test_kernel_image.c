/* bzImage header parsing, payload unpacking in every supported compression, and ELF
 * parsing, on images built here from scratch. */
#include "test.h"

#include <elf.h>
#include <lz4.h>
#include <lzma.h>
#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>

#include "arch/x86/kernel_image.h"

#define KERNEL_PADDR 0x1000000ull
#define BODY_SIZE 300000

/* A small ELF kernel: one PT_LOAD with a recognisable body and a PVH note. */
static uint8_t *make_elf(size_t *len)
{
    size_t hdrs = sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr);
    size_t note_off = hdrs, note_len = sizeof(Elf64_Nhdr) + 4 + 4;
    size_t body_off = 4096;
    *len = body_off + BODY_SIZE;
    uint8_t *f = calloc(1, *len);
    Elf64_Ehdr eh = { 0 };
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_entry = KERNEL_PADDR + 0x200;
    eh.e_phoff = sizeof(eh);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = 2;
    memcpy(f, &eh, sizeof(eh));
    Elf64_Phdr load = { .p_type = PT_LOAD, .p_offset = body_off, .p_paddr = KERNEL_PADDR,
                        .p_vaddr = 0xffffffff81000000ull, .p_filesz = BODY_SIZE,
                        .p_memsz = BODY_SIZE + 8192 };
    Elf64_Phdr note = { .p_type = PT_NOTE, .p_offset = note_off, .p_filesz = note_len };
    memcpy(f + sizeof(eh), &load, sizeof(load));
    memcpy(f + sizeof(eh) + sizeof(load), &note, sizeof(note));
    Elf64_Nhdr nh = { .n_namesz = 4, .n_descsz = 4, .n_type = 18 };
    memcpy(f + note_off, &nh, sizeof(nh));
    memcpy(f + note_off + sizeof(nh), "Xen", 4);
    uint32_t pvh = 0x1000100;
    memcpy(f + note_off + sizeof(nh) + 4, &pvh, 4);
    for (size_t i = 0; i < BODY_SIZE; i++)
        f[body_off + i] = (uint8_t)((i * 2654435761u) >> 13);
    return f;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* Wraps a payload (plus the kernel build's size trailer) in a bzImage. */
static uint8_t *make_bzimage(const uint8_t *payload, size_t plen, uint32_t unpacked, size_t *len)
{
    size_t setup = 2 * 512;
    *len = setup + plen + 4;
    uint8_t *f = calloc(1, *len);
    f[0x1f1] = 1;
    f[0x1fe] = 0x55;
    f[0x1ff] = 0xaa;
    f[0x201] = 0x6a; /* header ends at 0x26c */
    memcpy(f + 0x202, "HdrS", 4);
    f[0x206] = 0x0f;
    f[0x207] = 0x02;
    f[0x211] = 0x01;
    put32(f + 0x22c, 0x7fffffff);
    f[0x236] = 0x03;
    put32(f + 0x238, 2047);
    put32(f + 0x248, 0);
    put32(f + 0x24c, (uint32_t)plen + 4);
    memcpy(f + setup, payload, plen);
    put32(f + setup + plen, unpacked);
    return f;
}

static uint8_t *compress_gzip(const uint8_t *in, size_t n, size_t *out_len)
{
    z_stream z = { 0 };
    uint8_t *out = malloc(n + 1024);
    deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)(n + 1024);
    deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    return out;
}

static uint8_t *compress_xz(const uint8_t *in, size_t n, size_t *out_len)
{
    size_t cap = lzma_stream_buffer_bound(n), pos = 0;
    uint8_t *out = malloc(cap);
    lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, in, n, out, &pos, cap);
    *out_len = pos;
    return out;
}

static uint8_t *compress_lz4_legacy(const uint8_t *in, size_t n, size_t *out_len)
{
    /* 8 MiB blocks: one block for our small body */
    int bound = LZ4_compressBound((int)n);
    uint8_t *out = malloc((size_t)bound + 8);
    memcpy(out, "\x02\x21\x4c\x18", 4);
    int c = LZ4_compress_default((const char *)in, (char *)out + 8, (int)n, bound);
    put32(out + 4, (uint32_t)c);
    *out_len = 8 + (size_t)c;
    return out;
}

static uint8_t *compress_zstd(const uint8_t *in, size_t n, size_t *out_len)
{
    size_t cap = ZSTD_compressBound(n);
    uint8_t *out = malloc(cap);
    *out_len = ZSTD_compress(out, cap, in, n, 3);
    return out;
}

typedef uint8_t *(*compressor)(const uint8_t *, size_t, size_t *);

static void check_bzimage_roundtrip(compressor comp, enum kernel_compression expect)
{
    size_t elf_len, clen, bz_len;
    uint8_t *elf = make_elf(&elf_len);
    uint8_t *c = comp(elf, elf_len, &clen);
    uint8_t *bz = make_bzimage(c, clen, (uint32_t)elf_len, &bz_len);
    struct kernel_image k;
    char err[KERNEL_ERR_LEN] = "";

    CHECK_EQ(kernel_image_from_buffer(bz, bz_len, &k, err), 0);
    if (err[0])
        printf("    %s\n", err);
    CHECK_EQ(k.bz.compression, expect);
    CHECK_EQ(k.bz.version, 0x020f);
    CHECK_EQ(k.elf_size, elf_len);
    CHECK(k.elf && !memcmp(k.elf, elf, elf_len));
    CHECK_EQ(k.info.entry64, KERNEL_PADDR + 0x200);
    CHECK_EQ(k.info.pvh_entry, 0x1000100);
    CHECK_EQ(k.has_setup_header, 1);
    kernel_image_free(&k);

    /* the same image cut anywhere inside the payload fails cleanly */
    for (size_t cut = 2 * 512 + 16; cut < bz_len; cut += bz_len / 7) {
        memset(err, 0, sizeof(err));
        CHECK(kernel_image_from_buffer(bz, cut, &k, err) < 0);
        CHECK(err[0] != 0);
    }
    /* a corrupted payload fails cleanly or unpacks to something that is then rejected */
    for (size_t i = 0; i < clen; i += clen / 5 + 1)
        bz[2 * 512 + i] ^= 0x5a;
    if (kernel_image_from_buffer(bz, bz_len, &k, err) == 0) {
        CHECK(k.elf_size <= (512u << 20));
        kernel_image_free(&k);
    }
    free(elf);
    free(c);
    free(bz);
}

TEST(bzimage_gzip_payload_unpacks_to_the_elf) { check_bzimage_roundtrip(compress_gzip, KCOMP_GZIP); }
TEST(bzimage_xz_payload_unpacks_to_the_elf) { check_bzimage_roundtrip(compress_xz, KCOMP_XZ); }
TEST(bzimage_lz4_payload_unpacks_to_the_elf) { check_bzimage_roundtrip(compress_lz4_legacy, KCOMP_LZ4); }
TEST(bzimage_zstd_payload_unpacks_to_the_elf) { check_bzimage_roundtrip(compress_zstd, KCOMP_ZSTD); }

TEST(bzimage_header_errors_are_explained)
{
    size_t elf_len, bz_len;
    uint8_t *elf = make_elf(&elf_len);
    uint8_t *bz = make_bzimage(elf, elf_len, (uint32_t)elf_len, &bz_len);
    struct bzimage_info info;
    char err[KERNEL_ERR_LEN];

    CHECK_EQ(bzimage_parse(bz, bz_len, &info, err), 0);
    CHECK_EQ(info.setup_size, 1024);
    CHECK_EQ(info.compression, KCOMP_NONE);
    CHECK_EQ(info.cmdline_size, 2047);

    bz[0x206] = 0x0b; /* protocol 2.11 */
    CHECK(bzimage_parse(bz, bz_len, &info, err) < 0);
    CHECK(strstr(err, "too old") != NULL);
    bz[0x206] = 0x0f;
    bz[0x236] = 0; /* not 64-bit */
    CHECK(bzimage_parse(bz, bz_len, &info, err) < 0);
    CHECK(strstr(err, "64-bit") != NULL);
    bz[0x236] = 3;
    put32(bz + 0x24c, 0x7fffffff); /* payload past the end */
    CHECK(bzimage_parse(bz, bz_len, &info, err) < 0);
    CHECK(strstr(err, "truncated") != NULL);
    free(elf);
    free(bz);
}

TEST(uncompressed_elf_payload_and_plain_elf_load)
{
    size_t elf_len, bz_len;
    uint8_t *elf = make_elf(&elf_len);
    uint8_t *bz = make_bzimage(elf, elf_len, (uint32_t)elf_len, &bz_len);
    struct kernel_image k;
    char err[KERNEL_ERR_LEN];

    CHECK_EQ(kernel_image_from_buffer(bz, bz_len, &k, err), 0);
    CHECK_EQ(k.info.nsegments, 1);
    kernel_image_free(&k);
    CHECK_EQ(kernel_image_from_buffer(elf, elf_len, &k, err), 0);
    CHECK_EQ(k.has_setup_header, 0);
    CHECK_EQ(k.info.segments[0].paddr, KERNEL_PADDR);
    CHECK_EQ(k.info.segments[0].memsz, BODY_SIZE + 8192);
    CHECK_EQ(k.info.lowest, KERNEL_PADDR);
    CHECK_EQ(k.info.highest, KERNEL_PADDR + BODY_SIZE + 8192);
    kernel_image_free(&k);
    free(elf);
    free(bz);
}

TEST(elf_parser_rejects_bad_headers)
{
    size_t elf_len;
    uint8_t *elf = make_elf(&elf_len);
    struct elf_image info;
    char err[KERNEL_ERR_LEN];
    Elf64_Ehdr *eh = (Elf64_Ehdr *)elf;
    Elf64_Phdr *ph = (Elf64_Phdr *)(elf + sizeof(*eh));

    CHECK_EQ(elf_parse(elf, elf_len, &info, err), 0);
    CHECK(elf_parse(elf, 40, &info, err) < 0);
    eh->e_machine = EM_AARCH64;
    CHECK(elf_parse(elf, elf_len, &info, err) < 0);
    CHECK(strstr(err, "x86") != NULL);
    eh->e_machine = EM_X86_64;
    ph->p_offset = elf_len; /* segment outside the file */
    CHECK(elf_parse(elf, elf_len, &info, err) < 0);
    ph->p_offset = 4096;
    eh->e_entry = 0x42; /* entry outside the image */
    CHECK(elf_parse(elf, elf_len, &info, err) < 0);
    eh->e_entry = KERNEL_PADDR;
    eh->e_phnum = 60000; /* headers past the end */
    CHECK(elf_parse(elf, elf_len, &info, err) < 0);
    free(elf);
}

TEST(random_bytes_are_not_a_kernel)
{
    uint8_t junk[4096];
    struct kernel_image k;
    char err[KERNEL_ERR_LEN];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 7 + 3);
    CHECK(kernel_image_from_buffer(junk, sizeof(junk), &k, err) < 0);
    CHECK(strstr(err, "not a Linux kernel") != NULL);
}

TEST(unsupported_compression_is_named)
{
    static const uint8_t bz2[] = "BZh91AY&SY";
    uint8_t *out;
    size_t out_len;
    char err[KERNEL_ERR_LEN];
    CHECK_EQ(kernel_compression_detect(bz2, sizeof(bz2)), KCOMP_BZIP2);
    CHECK(kernel_decompress(KCOMP_BZIP2, bz2, sizeof(bz2), 1 << 20, &out, &out_len, err) < 0);
    CHECK(strstr(err, "bzip2") != NULL);
}

/* Kernel-sized LZ4: several 8 MiB legacy blocks, unpacked in parallel, in order. */
TEST(lz4_multi_block_payload_unpacks_in_order)
{
    size_t n = 20u << 20, block = 8u << 20, clen = 4;
    uint8_t *src = malloc(n);
    for (size_t i = 0; i < n; i++)
        src[i] = (uint8_t)((i >> 12) * 31 + (i & 0xff));
    uint8_t *c = malloc(LZ4_compressBound((int)n) + 64);
    memcpy(c, "\x02\x21\x4c\x18", 4);
    for (size_t off = 0; off < n; off += block) {
        int len = (int)(n - off < block ? n - off : block);
        int w = LZ4_compress_default((const char *)src + off, (char *)c + clen + 4, len,
                                     LZ4_compressBound(len));
        put32(c + clen, (uint32_t)w);
        clen += 4 + (size_t)w;
    }
    put32(c + clen, (uint32_t)n); /* the build's size trailer */
    clen += 4;
    uint8_t *out = NULL;
    size_t out_len = 0;
    char err[KERNEL_ERR_LEN];
    CHECK_EQ(kernel_decompress(KCOMP_LZ4, c, clen, 512u << 20, &out, &out_len, err), 0);
    CHECK_EQ(out_len, n);
    CHECK(out && !memcmp(out, src, n));
    free(out);
    /* a damaged middle block is reported, not silently skipped */
    c[4 + 4 + 100] ^= 0xff;
    c[clen / 2] ^= 0xff;
    out = NULL;
    if (kernel_decompress(KCOMP_LZ4, c, clen, 512u << 20, &out, &out_len, err) == 0) {
        CHECK(out_len != n || memcmp(out, src, n) != 0);
        free(out);
    }
    free(c);
    free(src);
}

TEST(unpacking_stops_at_the_size_limit)
{
    size_t n = 4 << 20, clen;
    uint8_t *zeros = calloc(1, n);
    uint8_t *c = compress_zstd(zeros, n, &clen);
    uint8_t *out = NULL;
    size_t out_len;
    char err[KERNEL_ERR_LEN];
    CHECK(kernel_decompress(KCOMP_ZSTD, c, clen, 1 << 20, &out, &out_len, err) < 0);
    CHECK(out == NULL);
    free(c);
    c = compress_gzip(zeros, n, &clen);
    CHECK(kernel_decompress(KCOMP_GZIP, c, clen, 1 << 20, &out, &out_len, err) < 0);
    free(c);
    free(zeros);
}
