/* convert: any image to a new image of any format.
 *
 * Speed comes from never reading holes (extents, followed down a parent chain), from
 * big sequential reads, from not writing all-zero ranges (the new image stays sparse),
 * from DISK_OPEN_UNSAFE on the new image (one sync at the end instead of one per block
 * allocation) and from a reader thread that reads and scans for zeroes while this
 * thread writes, in 2 MiB chunks (measured: 256 KiB chunks cost twice the system
 * time, and so do per-chunk SEEK_DATA lookups, hence one lookup per extent). Zero detection works on 64 KiB granules: a dynamic
 * destination allocates a block at its first non-zero granule, and the granules of
 * that block that are skipped stay zero (new blocks read as zero). */
#include "disk/ops.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CHUNK
#define CHUNK       (2u << 20)
#endif
#define NSLOTS      8
#define GRANULE     (64u << 10)
#define MAX_SEGS    (CHUNK / GRANULE)

struct segment {
    uint64_t off;       /* within the chunk */
    size_t len;
};

struct slot {
    char *buf;
    uint64_t off;
    size_t len;
    int nseg;
    struct segment seg[MAX_SEGS];
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

static int fill(struct pipe *p, struct slot *s)
{
    uint64_t src_size = p->src->info.virtual_size;
    uint64_t pos = s->off, end = s->off + s->len;
    while (pos < end) {
        char *dst = s->buf + (pos - s->off);
        if (pos >= src_size) {
            memset(dst, 0, end - pos);
            break;
        }
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
        uint64_t lim = (end < src_size ? end : src_size);
        uint64_t n = (p->ext_end < lim ? p->ext_end : lim) - pos;
        int kind = p->ext_kind;
        if (kind == DISK_EXTENT_DATA) {
            int rc = disk_read(p->src, pos, dst, n);
            if (rc)
                return rc;
        } else {
            memset(dst, 0, n);
        }
        pos += n;
    }
    s->nseg = 0;
    for (uint64_t g = 0; g < s->len; g += p->gran) {
        size_t n = (size_t)(s->len - g < p->gran ? s->len - g : p->gran);
        if (disk_buf_is_zero(s->buf + g, n))
            continue;
        if (s->nseg && s->seg[s->nseg - 1].off + s->seg[s->nseg - 1].len == g)
            s->seg[s->nseg - 1].len += n;
        else
            s->seg[s->nseg++] = (struct segment){ g, n };
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

static int writer(struct pipe *p, struct disk *dst, struct progress *prog)
{
    for (unsigned i = 0;; i = (i + 1) % NSLOTS) {
        struct slot *s = &p->slots[i];
        pthread_mutex_lock(&p->lock);
        while (!s->full && !p->rc)
            pthread_cond_wait(&p->cond, &p->lock);
        int rc = p->rc;
        pthread_mutex_unlock(&p->lock);
        if (rc)
            return rc;
        for (int k = 0; k < s->nseg; k++) {
            rc = disk_write(dst, s->off + s->seg[k].off, s->buf + s->seg[k].off, s->seg[k].len);
            if (rc) {
                fail(p, rc, disk_last_error(dst));
                return rc;
            }
        }
        progress_update(prog, s->off + s->len, p->size);
        bool last = s->last;
        pthread_mutex_lock(&p->lock);
        s->full = false;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        if (last)
            return 0;
    }
}

/* The same work without a reader thread. */
static int serial(struct pipe *p, struct disk *dst, struct progress *prog)
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
        for (int k = 0; k < s->nseg; k++) {
            rc = disk_write(dst, s->off + s->seg[k].off, s->buf + s->seg[k].off, s->seg[k].len);
            if (rc) {
                snprintf(p->err, sizeof(p->err), "%s", disk_last_error(dst));
                return rc;
            }
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
    if (!o.logical_sector_size)
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
    p->size = dst->info.virtual_size;
    p->gran = GRANULE;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    for (int i = 0; i < NSLOTS; i++)
        /* page aligned: the kernel copies into unaligned buffers much more slowly */
        if (!(p->slots[i].buf = aligned_alloc(4096, CHUNK)))
            rc = -ENOMEM;
    pthread_t th;
    if (!rc && p->size && pthread_create(&th, NULL, reader, p) == 0) {
        rc = writer(p, dst, prog);
        pthread_join(th, NULL);
        if (!rc)
            rc = p->rc;
    } else if (!rc) {
        rc = serial(p, dst, prog); /* no thread: same work, one thread */
    }
    progress_done(prog);
    if (rc && p->err[0])
        snprintf(err, DISK_ERR_LEN, "%s", p->err);
    for (int i = 0; i < NSLOTS; i++)
        free(p->slots[i].buf);
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
