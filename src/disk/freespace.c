#include "disk/freespace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void freespace_destroy(struct freespace *fs)
{
    free(fs->free);
    free(fs->pending);
    memset(fs, 0, sizeof(*fs));
}

static int grow(struct freespace_range **a, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    struct freespace_range *n = realloc(*a, ncap * sizeof(*n));
    if (!n)
        return -ENOMEM;
    *a = n;
    *cap = ncap;
    return 0;
}

/* Adds [off, off+len) to the sorted free list, merging with its neighbours. */
static int add_free(struct freespace *fs, uint64_t off, uint64_t len)
{
    if (!len)
        return 0;
    size_t i = 0;
    while (i < fs->nfree && fs->free[i].off < off)
        i++;
    struct freespace_range *prev = i ? &fs->free[i - 1] : NULL;
    struct freespace_range *next = i < fs->nfree ? &fs->free[i] : NULL;
    bool join_prev = prev && prev->off + prev->len == off;
    bool join_next = next && off + len == next->off;
    if (join_prev && join_next) {
        prev->len += len + next->len;
        memmove(&fs->free[i], &fs->free[i + 1], (fs->nfree - i - 1) * sizeof(*fs->free));
        fs->nfree--;
    } else if (join_prev) {
        prev->len += len;
    } else if (join_next) {
        next->off = off;
        next->len += len;
    } else {
        if (grow(&fs->free, &fs->capfree, fs->nfree + 1))
            return -ENOMEM;
        memmove(&fs->free[i + 1], &fs->free[i], (fs->nfree - i) * sizeof(*fs->free));
        fs->free[i] = (struct freespace_range){ off, len };
        fs->nfree++;
    }
    return 0;
}

static int by_offset(const void *a, const void *b)
{
    const struct freespace_range *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

int freespace_rebuild(struct freespace *fs, struct freespace_range *used, size_t n, uint64_t end,
                      uint64_t align)
{
    fs->nfree = 0;
    fs->npending = 0;
    qsort(used, n, sizeof(*used), by_offset);
    uint64_t pos = 0;
    for (size_t i = 0; i <= n; i++) {
        uint64_t next = i < n ? used[i].off : end;
        if (next > end)
            next = end;
        uint64_t a = (pos + align - 1) / align * align, b = next / align * align;
        if (b > a && add_free(fs, a, b - a))
            return -ENOMEM;
        if (i < n && used[i].off + used[i].len > pos)
            pos = used[i].off + used[i].len;
    }
    return 0;
}

int freespace_release(struct freespace *fs, uint64_t off, uint64_t len)
{
    if (grow(&fs->pending, &fs->cappending, fs->npending + 1))
        return -ENOMEM;
    fs->pending[fs->npending++] = (struct freespace_range){ off, len };
    return 0;
}

int freespace_commit(struct freespace *fs)
{
    int rc = 0;
    for (size_t i = 0; i < fs->npending && !rc; i++)
        rc = add_free(fs, fs->pending[i].off, fs->pending[i].len);
    fs->npending = 0;
    return rc;
}

bool freespace_take(struct freespace *fs, uint64_t len, uint64_t align, uint64_t skew,
                    uint64_t limit, uint64_t *off)
{
    for (size_t i = 0; i < fs->nfree; i++) {
        struct freespace_range *r = &fs->free[i];
        uint64_t a = (r->off + skew + align - 1) / align * align - skew;
        if (a + len > limit)
            return false;
        if (a + len > r->off + r->len)
            continue;
        uint64_t head = a - r->off, tail = r->off + r->len - (a + len);
        if (head && tail) {
            /* split: the head stays here, the tail becomes a new range after it */
            if (grow(&fs->free, &fs->capfree, fs->nfree + 1))
                return false;
            r = &fs->free[i];
            memmove(&fs->free[i + 2], &fs->free[i + 1], (fs->nfree - i - 1) * sizeof(*r));
            fs->free[i + 1] = (struct freespace_range){ a + len, tail };
            fs->nfree++;
            r->len = head;
        } else if (head) {
            r->len = head;
        } else if (tail) {
            r->off = a + len;
            r->len = tail;
        } else {
            memmove(r, r + 1, (fs->nfree - i - 1) * sizeof(*r));
            fs->nfree--;
        }
        *off = a;
        return true;
    }
    return false;
}

int freespace_untake(struct freespace *fs, uint64_t off, uint64_t len)
{
    return add_free(fs, off, len);
}

void freespace_truncate(struct freespace *fs, uint64_t end)
{
    while (fs->nfree && fs->free[fs->nfree - 1].off >= end)
        fs->nfree--;
    if (fs->nfree && fs->free[fs->nfree - 1].off + fs->free[fs->nfree - 1].len > end)
        fs->free[fs->nfree - 1].len = end - fs->free[fs->nfree - 1].off;
}

uint64_t freespace_total(const struct freespace *fs)
{
    uint64_t t = 0;
    for (size_t i = 0; i < fs->nfree; i++)
        t += fs->free[i].len;
    return t;
}
