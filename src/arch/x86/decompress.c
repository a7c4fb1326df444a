/* Unpacking a bzImage payload with the ordinary libraries (zlib, liblzma, liblz4,
 * libzstd). The kernel build appends the uncompressed size as a little-endian u32
 * after every compressed payload; it is only used as a first allocation guess, the
 * streams themselves decide where they end. */
#include "arch/x86/kernel_image.h"
#include "core/endian.h"

#include <lz4.h>
#include <lzma.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define LZ4_LEGACY_MAGIC 0x184c2102u
#define LZ4_LEGACY_BLOCK (8u << 20)

const char *kernel_compression_name(enum kernel_compression c)
{
    static const char *names[] = { "none", "gzip", "xz", "lz4", "zstd", "bzip2", "lzma", "lzo" };
    return (unsigned)c < sizeof(names) / sizeof(names[0]) ? names[c] : "unknown";
}

enum kernel_compression kernel_compression_detect(const uint8_t *p, size_t len)
{
    if (len >= 2 && p[0] == 0x1f && (p[1] == 0x8b || p[1] == 0x9e))
        return KCOMP_GZIP;
    if (len >= 6 && !memcmp(p, "\xfd" "7zXZ\0", 6))
        return KCOMP_XZ;
    if (len >= 4 && !memcmp(p, "\x02\x21\x4c\x18", 4))
        return KCOMP_LZ4;
    if (len >= 4 && !memcmp(p, "\x28\xb5\x2f\xfd", 4))
        return KCOMP_ZSTD;
    if (len >= 3 && !memcmp(p, "BZh", 3))
        return KCOMP_BZIP2;
    if (len >= 3 && !memcmp(p, "\x5d\x00\x00", 3))
        return KCOMP_LZMA;
    if (len >= 4 && !memcmp(p, "\x89LZO", 4))
        return KCOMP_LZO;
    if (len >= 4 && !memcmp(p, "\x7f" "ELF", 4))
        return KCOMP_NONE;
    return KCOMP_NONE;
}


/* A growable output buffer bounded by max. */
struct outbuf {
    uint8_t *data;
    size_t len, cap, max;
};

static int outbuf_reserve(struct outbuf *o, size_t more)
{
    if (more > o->max - o->len)
        return -1;
    if (o->len + more <= o->cap)
        return 0;
    size_t cap = o->cap ? o->cap : (16u << 20);
    while (cap < o->len + more)
        cap = cap > o->max / 2 ? o->max : cap * 2;
    if (cap > o->max)
        cap = o->max; /* the decoders never see room beyond the bound */
    uint8_t *n = realloc(o->data, cap);
    if (!n)
        return -1;
    o->data = n;
    o->cap = cap;
    return 0;
}

static void outbuf_init(struct outbuf *o, const uint8_t *in, size_t in_len, size_t max)
{
    *o = (struct outbuf){ .max = max };
    if (in_len >= 4) {
        size_t guess = get_le32(in + in_len - 4);
        if (guess && guess <= max)
            outbuf_reserve(o, guess);
    }
}

/* Room for at least `want` more bytes, growing if needed; -1 past the bound. */
static int outbuf_room(struct outbuf *o, size_t want)
{
    if (o->cap - o->len >= want)
        return 0;
    if (o->len == o->max)
        return -1;
    return outbuf_reserve(o, want <= o->max - o->len ? want : o->max - o->len);
}

static int unpack_gzip(const uint8_t *in, size_t in_len, struct outbuf *o, char *err)
{
    z_stream z = { 0 };
    int rc;
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        snprintf(err, KERNEL_ERR_LEN, "gzip: cannot initialise zlib");
        return -1;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = in_len > UINT32_MAX ? UINT32_MAX : (uInt)in_len;
    do {
        if (outbuf_room(o, 1 << 20) < 0) {
            rc = Z_MEM_ERROR;
            break;
        }
        size_t room = o->cap - o->len;
        z.next_out = o->data + o->len;
        z.avail_out = room > UINT32_MAX ? UINT32_MAX : (uInt)room;
        rc = inflate(&z, Z_NO_FLUSH);
        o->len = (size_t)(z.next_out - o->data);
    } while (rc == Z_OK);
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        snprintf(err, KERNEL_ERR_LEN, "gzip payload is corrupt or too large (%s)",
                 rc == Z_MEM_ERROR ? "size limit" : z.msg ? z.msg : "truncated");
        return -1;
    }
    return 0;
}

static int unpack_lzma_family(const uint8_t *in, size_t in_len, struct outbuf *o, int alone,
                              char *err)
{
    lzma_stream s = LZMA_STREAM_INIT;
    lzma_ret rc = alone ? lzma_alone_decoder(&s, 256u << 20)
                        : lzma_stream_decoder(&s, 256u << 20, 0);
    if (rc != LZMA_OK) {
        snprintf(err, KERNEL_ERR_LEN, "xz: cannot initialise liblzma");
        return -1;
    }
    s.next_in = in;
    s.avail_in = in_len;
    do {
        if (outbuf_room(o, 1 << 20) < 0) {
            rc = LZMA_MEMLIMIT_ERROR;
            break;
        }
        s.next_out = o->data + o->len;
        s.avail_out = o->cap - o->len;
        rc = lzma_code(&s, LZMA_FINISH);
        o->len = (size_t)(s.next_out - o->data);
    } while (rc == LZMA_OK && (s.avail_in > 0 || s.avail_out == 0));
    lzma_end(&s);
    if (rc != LZMA_STREAM_END) {
        snprintf(err, KERNEL_ERR_LEN, "%s payload is corrupt, truncated or too large (liblzma error %d)",
                 alone ? "lzma" : "xz", (int)rc);
        return -1;
    }
    return 0;
}

/* The kernel's LZ4 is the legacy frame: a magic, then blocks of [u32 size][data],
 * each unpacking to exactly 8 MiB except the last; concatenated frames repeat the
 * magic. The blocks are independent, so they are unpacked on several threads, each
 * straight to its place in the output. */
struct lz4_block {
    const uint8_t *src;
    uint32_t size;
    int out;                /* bytes produced, or < 0 */
};

struct lz4_job {
    struct lz4_block *blocks;
    int nblocks;
    uint8_t *dst;
    size_t dst_cap;
    _Atomic int next;
};

static void *lz4_worker(void *arg)
{
    struct lz4_job *job = arg;
    for (int i; (i = atomic_fetch_add(&job->next, 1)) < job->nblocks;) {
        size_t at = (size_t)i * LZ4_LEGACY_BLOCK;
        if (at >= job->dst_cap) {
            job->blocks[i].out = -1;
            continue;
        }
        size_t room = job->dst_cap - at < LZ4_LEGACY_BLOCK ? job->dst_cap - at : LZ4_LEGACY_BLOCK;
        job->blocks[i].out = LZ4_decompress_safe((const char *)job->blocks[i].src,
                                                 (char *)job->dst + at, (int)job->blocks[i].size,
                                                 (int)room);
    }
    return NULL;
}

static int unpack_lz4(const uint8_t *in, size_t in_len, struct outbuf *o, char *err)
{
    enum { MAX_THREADS = 8 };
    size_t max_blocks = o->max / LZ4_LEGACY_BLOCK + 1, pos = 4;
    struct lz4_block *blocks = calloc(max_blocks, sizeof(*blocks));
    int n = 0, rc = -1;

    if (!blocks) {
        snprintf(err, KERNEL_ERR_LEN, "out of memory");
        return -1;
    }
    while (in_len - pos >= 4) {
        uint32_t size = get_le32(in + pos);
        if (size == LZ4_LEGACY_MAGIC) {
            pos += 4;
            continue;
        }
        if (size > in_len - pos - 4)
            break; /* the size trailer, or the end */
        if (size > (uint32_t)LZ4_compressBound(LZ4_LEGACY_BLOCK) || (size_t)n == max_blocks) {
            snprintf(err, KERNEL_ERR_LEN, "lz4 payload %s", (size_t)n == max_blocks
                     ? "unpacks beyond the size limit" : "has an oversized block");
            goto out;
        }
        blocks[n++] = (struct lz4_block){ in + pos + 4, size, -1 };
        pos += 4 + size;
    }
    if (!n) {
        snprintf(err, KERNEL_ERR_LEN, "lz4 payload is truncated");
        goto out;
    }
    size_t want = (size_t)n * LZ4_LEGACY_BLOCK;
    if (want > o->max)
        want = o->max;
    if (o->cap < want) { /* nothing unpacked yet: drop the guess rather than copy it */
        free(o->data);
        o->data = NULL;
        o->cap = 0;
    }
    if (outbuf_reserve(o, want) < 0) {
        snprintf(err, KERNEL_ERR_LEN, "out of memory");
        goto out;
    }

    struct lz4_job job = { blocks, n, o->data, o->cap, 0 };
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int nthreads = (int)(cpus < 1 ? 1 : cpus > MAX_THREADS ? MAX_THREADS : cpus);
    if (nthreads > n)
        nthreads = n;
    pthread_t threads[MAX_THREADS];
    int started = 0;
    for (int i = 1; i < nthreads; i++)
        started += pthread_create(&threads[started], NULL, lz4_worker, &job) == 0;
    lz4_worker(&job);
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);

    for (int i = 0; i < n; i++) {
        if (blocks[i].out < 0 || (i < n - 1 && blocks[i].out != (int)LZ4_LEGACY_BLOCK)) {
            snprintf(err, KERNEL_ERR_LEN, "lz4 payload is corrupt (block %d)", i);
            goto out;
        }
    }
    o->len = (size_t)(n - 1) * LZ4_LEGACY_BLOCK + (size_t)blocks[n - 1].out;
    rc = 0;
out:
    free(blocks);
    return rc;
}

static int unpack_zstd(const uint8_t *in, size_t in_len, struct outbuf *o, char *err)
{
    ZSTD_DStream *z = ZSTD_createDStream();
    size_t rc = 1;
    if (!z) {
        snprintf(err, KERNEL_ERR_LEN, "zstd: cannot initialise libzstd");
        return -1;
    }
    ZSTD_DCtx_setParameter(z, ZSTD_d_windowLogMax, 31);
    ZSTD_inBuffer ib = { in, in_len, 0 };
    while (rc != 0) {
        if (outbuf_room(o, 1 << 20) < 0) {
            snprintf(err, KERNEL_ERR_LEN, "zstd payload unpacks beyond the size limit");
            ZSTD_freeDStream(z);
            return -1;
        }
        ZSTD_outBuffer ob = { o->data, o->cap, o->len };
        size_t before = ib.pos;
        rc = ZSTD_decompressStream(z, &ob, &ib);
        o->len = ob.pos;
        if (ZSTD_isError(rc)) {
            snprintf(err, KERNEL_ERR_LEN, "zstd payload is corrupt (%s)", ZSTD_getErrorName(rc));
            ZSTD_freeDStream(z);
            return -1;
        }
        if (rc && ib.pos == ib.size && ib.pos == before && ob.pos < ob.size) {
            snprintf(err, KERNEL_ERR_LEN, "zstd payload is truncated");
            ZSTD_freeDStream(z);
            return -1;
        }
    }
    ZSTD_freeDStream(z);
    return 0;
}

int kernel_decompress(enum kernel_compression c, const uint8_t *in, size_t in_len,
                      size_t max_out, uint8_t **out, size_t *out_len, char *err)
{
    struct outbuf o;
    int rc;

    outbuf_init(&o, in, in_len, max_out);
    switch (c) {
    case KCOMP_GZIP: rc = unpack_gzip(in, in_len, &o, err); break;
    case KCOMP_XZ: rc = unpack_lzma_family(in, in_len, &o, 0, err); break;
    case KCOMP_LZMA: rc = unpack_lzma_family(in, in_len, &o, 1, err); break;
    case KCOMP_LZ4: rc = unpack_lz4(in, in_len, &o, err); break;
    case KCOMP_ZSTD: rc = unpack_zstd(in, in_len, &o, err); break;
    default:
        snprintf(err, KERNEL_ERR_LEN,
                 "the payload is compressed with %s, which viridian does not unpack "
                 "(gzip, xz, lzma, lz4 and zstd are supported)", kernel_compression_name(c));
        rc = -1;
    }
    if (rc < 0) {
        free(o.data);
        return -1;
    }
    *out = o.data;
    *out_len = o.len;
    return 0;
}
