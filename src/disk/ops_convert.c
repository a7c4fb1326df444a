/* convert: any image to a new image of any format.
 *
 * Speed comes from never reading holes (extents, followed down a parent chain, and
 * holes in the image file inside allocated blocks: disk_extent_resolved), from big
 * sequential reads, from not writing all-zero ranges (the new image stays sparse),
 * from DISK_OPEN_UNSAFE on the new image (one sync at the end instead of one per block
 * allocation) and from a reader thread that reads and scans for zeroes while this
 * thread writes, in 2 MiB chunks (measured: 256 KiB chunks cost twice the system
 * time, and so do per-chunk SEEK_DATA lookups, hence one lookup per extent). Zero
 * detection works on 64 KiB granules: a dynamic destination allocates a block at its
 * first non-zero granule, and the granules of that block that are skipped stay zero
 * (new blocks read as zero).
 *
 * Writing into the page cache is the most expensive part. NWRITERS threads take
 * chunks in turn: ranges the destination already has a place for (disk_map: raw,
 * allocated blocks) are pwrite()n straight to its file without dst_lock; anything
 * that allocates goes through disk_write() under dst_lock, which also keeps map()
 * answers still while they are used. (On ext4 the buffered writes themselves are
 * serialised by the file's inode lock, so the write path of one chunk is the floor
 * of the whole run; hence the fallocate() before each write, see write_seg.) */
#include "disk/ops.h"
#include "disk/raw.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef CHUNK
#define CHUNK       (2u << 20)
#endif
#define NSLOTS      8
#ifndef NWRITERS
#define NWRITERS    2
#endif
#define GRANULE     (64u << 10)
#define MAX_SEGS    (CHUNK / GRANULE)

struct segment {
    uint64_t off;       /* within the chunk */
    size_t len;
};

struct slot {
    char *buf;
    const char *data;   /* the chunk's bytes: buf, or the source file's mapping */
    uint64_t off;
    size_t len;
    int nseg;
    struct segment seg[MAX_SEGS];
    uint64_t seq;       /* chunk number it holds */
    bool full;
    bool last;
};

struct pipe {
    struct disk *src;
    uint64_t size;      /* destination size (source size rounded up to a sector) */
    uint64_t gran;
    uint64_t ext_start, ext_end;    /* the source extent last looked up (reader only) */
    int ext_kind;
    struct slot slots[NSLOTS];
    const char *map;    /* the source file mapped read-only, or NULL */
    uint64_t map_len;
    struct disk *dst;
    struct progress *prog;
    uint64_t nchunks, next_chunk;   /* writers claim chunks in order */
    uint64_t progress_done;
    pthread_mutex_t dst_lock;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int rc;             /* first error, either side */
    char err[DISK_ERR_LEN];
};

static void fail(struct pipe *p, int rc, const char *msg)
{
    pthread_mutex_lock(&p->lock);
    if (!p->rc) {
        p->rc = rc;
        snprintf(p->err, sizeof(p->err), "%s", msg);
    }
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

static int find_extent(struct pipe *p, uint64_t pos, uint64_t src_size)
{
    /* one extent query covers many chunks: lseek(SEEK_DATA) is not cheap */
    if (pos < p->ext_start || pos >= p->ext_end) {
        uint64_t len;
        int k = disk_extent_resolved(p->src, pos, src_size - pos, &len);
        if (k < 0)
            return k;
        p->ext_start = pos;
        p->ext_end = pos + len;
        p->ext_kind = k;
    }
    return 0;
}

/* Adds the non-zero granules of [from, to) of the chunk to its segments (granules
 * are counted from the chunk's start; a range may begin or end inside one). */
static void find_segments(struct pipe *p, struct slot *s, uint64_t from, uint64_t to)
{
    for (uint64_t g = from; g < to;) {
        uint64_t next = (g / p->gran + 1) * p->gran;
        size_t n = (size_t)((next < to ? next : to) - g);
        if (!disk_buf_is_zero(s->data + g, n)) {
            struct segment *last = s->nseg ? &s->seg[s->nseg - 1] : NULL;
            if (last && last->off + last->len < g && s->nseg == MAX_SEGS) {
                /* out of segments (sector-sized pieces): write the gap's zeroes too;
                 * only fill() gets here, and its data is the writable buf */
                memset(s->buf + last->off + last->len, 0, g - last->off - last->len);
                last->len = g - last->off;
            }
            if (last && last->off + last->len == g)
                last->len += n;
            else
                s->seg[s->nseg++] = (struct segment){ g, n };
        }
        g += n;
    }
}

/* A chunk stored in one piece in the source file is used where the mapping has it:
 * no copy into buf. (Measured: page faults with the kernel's fault-around cost less
 * than the read() copy; MADV_POPULATE_READ per chunk cost as much as the copy.) */
static bool fill_mapped(struct pipe *p, struct slot *s, uint64_t src_size)
{
    uint64_t foff = 0, contig = 0;
    if (!p->map || s->off + s->len > src_size || find_extent(p, s->off, src_size) < 0 ||
        p->ext_kind != DISK_EXTENT_DATA || s->off + s->len > p->ext_end)
        return false;
    if (disk_map(p->src, s->off, s->len, false, &foff, &contig) != DISK_MAP_DATA ||
        contig < s->len || foff > p->map_len || s->len > p->map_len - foff)
        return false;
    s->data = p->map + foff;
    s->nseg = 0;
    find_segments(p, s, 0, s->len);
    return true;
}

/* Only the source's DATA extents are read and scanned: the new image reads as zero
 * wherever nothing is written, so ZERO extents and the range past the source's end
 * are left out without touching the buffer. */
static int fill(struct pipe *p, struct slot *s)
{
    uint64_t src_size = p->src->info.virtual_size;
    uint64_t end = s->off + s->len;
    if (fill_mapped(p, s, src_size))
        return 0;
    s->data = s->buf;
    s->nseg = 0;
    for (uint64_t pos = s->off; pos < end && pos < src_size;) {
        int rc = find_extent(p, pos, src_size);
        if (rc < 0)
            return rc;
        uint64_t lim = (end < src_size ? end : src_size);
        uint64_t n = (p->ext_end < lim ? p->ext_end : lim) - pos;
        if (p->ext_kind == DISK_EXTENT_DATA) {
            if ((rc = disk_read(p->src, pos, s->buf + (pos - s->off), n)))
                return rc;
            find_segments(p, s, pos - s->off, pos - s->off + n);
        }
        pos += n;
    }
    return 0;
}

static void *reader(void *arg)
{
    struct pipe *p = arg;
    uint64_t off = 0;
    for (unsigned i = 0;; i = (i + 1) % NSLOTS) {
        struct slot *s = &p->slots[i];
        pthread_mutex_lock(&p->lock);
        while (s->full && !p->rc)
            pthread_cond_wait(&p->cond, &p->lock);
        int stop = p->rc;
        pthread_mutex_unlock(&p->lock);
        if (stop)
            return NULL;
        s->off = off;
        s->seq = off / CHUNK;
        s->len = (size_t)(p->size - off < CHUNK ? p->size - off : CHUNK);
        s->last = off + s->len >= p->size;
        int rc = fill(p, s);
        if (rc) {
            fail(p, rc, disk_last_error(p->src));
            return NULL;
        }
        pthread_mutex_lock(&p->lock);
        s->full = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        if (s->last)
            return NULL;
        off += s->len;
    }
}

/* One segment into the destination. Where it has a place (disk_map DATA) the bytes
 * are pwrite()n there outside the lock; where a block must be allocated, its first
 * sector is written through disk_write() under the lock (that allocates the block)
 * and the rest then has a place too. */
static int write_seg(struct pipe *p, uint64_t off, const char *buf, size_t len)
{
    struct disk *d = p->dst;
    uint64_t sector = d->info.logical_sector_size ? d->info.logical_sector_size : 512;
    while (len) {
        uint64_t foff = 0, contig = 0;
        pthread_mutex_lock(&p->dst_lock);
        int kind = disk_map(d, off, len, true, &foff, &contig);
        if (kind != DISK_MAP_DATA) {
            size_t first = (size_t)(contig > sector && kind > 0 ? sector : len);
            int rc = disk_write(d, off, buf, first);
            if (rc == 0 && first < len) {
                kind = disk_map(d, off + first, len - first, true, &foff, &contig);
                if (kind != DISK_MAP_DATA) /* no place after all: all the sync way */
                    rc = disk_write(d, off + first, buf + first, len - first), first = len;
            }
            if (rc || first == len) {
                pthread_mutex_unlock(&p->dst_lock);
                return rc;
            }
            off += first;
            buf += first;
            len -= first;
        }
        pthread_mutex_unlock(&p->dst_lock);
        size_t n = (size_t)(contig < len ? contig : len);
        /* Allocating the file space first (it reads as zero until written) makes the
         * buffered write that follows cheaper on ext4: no delayed-allocation
         * reservation per 4 KiB page (measured: a third less system time for the
         * writes, which the file's inode lock serialises). Only where data goes,
         * so the file stays sparse; advisory, the write reports any real error. */
        (void)fallocate(d->fd, 0, (off_t)foff, (off_t)n);
        int rc = raw_pwrite_full(d->fd, buf, n, foff);
        if (rc) {
            snprintf(d->err, sizeof(d->err), "%s: %s", d->path, strerror(-rc));
            return rc;
        }
        off += n;
        buf += n;
        len -= n;
    }
    return 0;
}

static int write_slot(struct pipe *p, const struct slot *s)
{
    for (int k = 0; k < s->nseg; k++) {
        int rc = write_seg(p, s->off + s->seg[k].off, s->data + s->seg[k].off, s->seg[k].len);
        if (rc)
            return rc;
    }
    return 0;
}

static int writer(struct pipe *p)
{
    for (;;) {
        pthread_mutex_lock(&p->lock);
        uint64_t c = p->next_chunk++;
        if (c >= p->nchunks) {
            pthread_mutex_unlock(&p->lock);
            return 0;
        }
        struct slot *s = &p->slots[c % NSLOTS];
        while (!(s->full && s->seq == c) && !p->rc)
            pthread_cond_wait(&p->cond, &p->lock);
        int rc = p->rc;
        pthread_mutex_unlock(&p->lock);
        if (rc)
            return rc;
        if ((rc = write_slot(p, s))) {
            fail(p, rc, disk_last_error(p->dst));
            return rc;
        }
        pthread_mutex_lock(&p->lock);
        p->progress_done += s->len;
        progress_update(p->prog, p->progress_done, p->size);
        s->full = false;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
    }
}

static void *writer_thread(void *arg)
{
    writer(arg);
    return NULL;
}

/* The same work without a reader thread. */
static int serial(struct pipe *p, struct progress *prog)
{
    struct slot *s = &p->slots[0];
    for (uint64_t off = 0; off < p->size; off += s->len) {
        s->off = off;
        s->len = (size_t)(p->size - off < CHUNK ? p->size - off : CHUNK);
        int rc = fill(p, s);
        if (rc) {
            snprintf(p->err, sizeof(p->err), "%s", disk_last_error(p->src));
            return rc;
        }
        if ((rc = write_slot(p, s))) {
            snprintf(p->err, sizeof(p->err), "%s", disk_last_error(p->dst));
            return rc;
        }
        progress_update(prog, off + s->len, p->size);
    }
    return 0;
}

int disk_convert(const char *src_path, enum disk_format_id src_fmt, const char *dst_path,
                 const struct disk_create_opts *opts, struct progress *prog,
                 char err[DISK_ERR_LEN])
{
    struct disk *src, *dst;
    int rc = disk_open(src_path, src_fmt, DISK_OPEN_RDONLY, &src, err);
    if (rc)
        return rc;
    struct disk_create_opts o = *opts;
    o.size = (src->info.virtual_size + 511) / 512 * 512;
    o.parent = NULL;
    o.flags |= DISK_CREATE_NO_SYNC;
    if (!o.format)
        o.format = disk_format_from_extension(dst_path);
    if (!o.type)
        o.type = DISK_TYPE_DYNAMIC;
    /* keep 4 KiB sectors where the destination can have them (VHD cannot) */
    if (!o.logical_sector_size && o.format == DISK_FORMAT_VHDX)
        o.logical_sector_size = src->info.logical_sector_size;
    if ((rc = disk_create(dst_path, &o, err))) {
        disk_close(src);
        return rc;
    }
    if ((rc = disk_open(dst_path, o.format, DISK_OPEN_UNSAFE, &dst, err))) {
        unlink(dst_path);
        disk_close(src);
        return rc;
    }

    struct pipe *p = calloc(1, sizeof(*p));
    if (!p) {
        rc = -ENOMEM;
        goto out;
    }
    p->src = src;
    p->dst = dst;
    p->prog = prog;
    p->size = dst->info.virtual_size;
    p->nchunks = (p->size + CHUNK - 1) / CHUNK;
    p->gran = GRANULE;
    struct stat st;
    if (fstat(src->fd, &st) == 0 && st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, src->fd, 0);
        if (m != MAP_FAILED) {
            p->map = m;
            p->map_len = (uint64_t)st.st_size;
            madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
        }
    }
    pthread_mutex_init(&p->dst_lock, NULL);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    for (int i = 0; i < NSLOTS; i++)
        /* page aligned: the kernel copies into unaligned buffers much more slowly */
        if (!(p->slots[i].buf = aligned_alloc(4096, CHUNK)))
            rc = -ENOMEM;
    pthread_t th, wth[NWRITERS - 1];
    if (!rc && p->size && pthread_create(&th, NULL, reader, p) == 0) {
        int nw = 0;
        while (nw < NWRITERS - 1 && pthread_create(&wth[nw], NULL, writer_thread, p) == 0)
            nw++;
        rc = writer(p);
        for (int i = 0; i < nw; i++)
            pthread_join(wth[i], NULL);
        pthread_join(th, NULL);
        if (!rc)
            rc = p->rc;
    } else if (!rc) {
        rc = serial(p, prog); /* no thread: same work, one thread */
    }
    progress_done(prog);
    if (rc && p->err[0])
        snprintf(err, DISK_ERR_LEN, "%s", p->err);
    for (int i = 0; i < NSLOTS; i++)
        free(p->slots[i].buf);
    if (p->map)
        munmap((void *)p->map, p->map_len);
    pthread_mutex_destroy(&p->dst_lock);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
out:
    if (!rc && (rc = disk_flush(dst)))
        snprintf(err, DISK_ERR_LEN, "%s", disk_last_error(dst));
    if (rc && !err[0])
        snprintf(err, DISK_ERR_LEN, "%s: %s", dst_path, strerror(-rc));
    disk_close(dst);
    disk_close(src);
    if (rc)
        unlink(dst_path);
    return rc;
}
