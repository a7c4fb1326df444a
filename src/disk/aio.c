/* The asynchronous disk engine (see disk_aio.h for the contract).
 *
 * Locks: `mu` guards the engine's queues and counters (never held across I/O);
 * `meta` keeps the format's block map still while the fast path looks a range up:
 * submitters hold it shared around disk_map() + queueing the SQE, the worker holds it
 * exclusively around every sync call that may allocate, load or free blocks. Order:
 * meta before mu. A submitter never waits for `meta`: while the worker holds it, a
 * read or write is queued for the worker marked `deferred`, and the worker tries the
 * fast path for it first (so a slow request, or a backend stuck in one, never stalls
 * the caller's thread, e.g. a VMBus channel's). A may_block write is the exception the
 * caller asked for: on the fast path it writes the file itself (write_here).
 *
 * Flushes and discards are fences: each closes an epoch and waits until no fast-path
 * request of its epoch or an earlier one is still in the ring, then goes to the worker
 * queue (FIFO, so sync requests submitted before it also ran first). A fast-path write
 * bypasses the format, so the flush adds an fdatasync of the image file when such
 * writes completed since the last one. */
#include "disk/disk_aio.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define EPOCHS 1024u
#define INLINE_IOV 4

struct aio_req {
    struct disk_aio_req r;
    struct iovec *iov;
    uint64_t len;
    uint64_t epoch;
    int result;
    bool deferred; /* queued without a fast-path attempt: meta was held by the worker */
    bool write_here; /* fast path reserved for the submitter to write at foff itself */
    uint64_t foff;
    struct aio_req *next;
    struct iovec inline_iov[INLINE_IOV];
};

struct queue {
    struct aio_req *head, **tail;
};

struct disk_aio {
    struct disk *d;
    struct io_uring ring;
    unsigned depth, ring_inflight;
    int efd;
    uint32_t sector;
    pthread_mutex_t mu;
    pthread_cond_t wcond;
    pthread_rwlock_t meta;
    pthread_t worker;
    bool stop;
    struct queue work, done, fences;
    unsigned inflight;          /* accepted, callback not run yet */
    unsigned barriers;          /* discards accepted and not done */
    uint64_t epoch, low_epoch;  /* open epoch; first epoch not yet released by a fence */
    uint32_t epoch_ops[EPOCHS]; /* fast-path requests in the ring, per epoch */
    uint64_t fast_writes_done;
    uint64_t synced_writes;     /* worker only: fast_writes_done at the last fdatasync */
    struct disk_aio_stats st;
};

static void q_init(struct queue *q)
{
    q->head = NULL;
    q->tail = &q->head;
}

static void q_push(struct queue *q, struct aio_req *r)
{
    r->next = NULL;
    *q->tail = r;
    q->tail = &r->next;
}

static struct aio_req *q_pop(struct queue *q)
{
    struct aio_req *r = q->head;
    if (r && !(q->head = r->next))
        q->tail = &q->head;
    return r;
}

static void signal_efd(struct disk_aio *a)
{
    uint64_t one = 1;
    while (write(a->efd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

/* mu held. wake: the completion happens outside disk_aio_reap(), which must be told. */
static void complete(struct disk_aio *a, struct aio_req *r, int result, bool wake)
{
    r->result = result;
    q_push(&a->done, r);
    if (wake)
        signal_efd(a);
}

/* mu held */
static void to_worker(struct disk_aio *a, struct aio_req *r)
{
    q_push(&a->work, r);
    pthread_cond_signal(&a->wcond);
}

/* mu held: hands fences whose epochs have drained to the worker, in order. */
static void release_fences(struct disk_aio *a)
{
    struct aio_req *f;
    while ((f = a->fences.head)) {
        for (; a->low_epoch <= f->epoch; a->low_epoch++)
            if (a->epoch_ops[a->low_epoch % EPOCHS])
                return;
        q_pop(&a->fences);
        to_worker(a, f);
    }
}

static int scatter_read(struct disk *d, const struct aio_req *r)
{
    if (r->r.iovcnt == 1)
        return disk_read(d, r->r.offset, r->iov[0].iov_base, r->len);
    char *buf = malloc(r->len);
    if (!buf)
        return -ENOMEM;
    int rc = disk_read(d, r->r.offset, buf, r->len);
    size_t pos = 0;
    for (int i = 0; !rc && i < r->r.iovcnt; i++) {
        memcpy(r->iov[i].iov_base, buf + pos, r->iov[i].iov_len);
        pos += r->iov[i].iov_len;
    }
    free(buf);
    return rc;
}

static int gather_write(struct disk *d, const struct aio_req *r)
{
    if (r->r.iovcnt == 1)
        return disk_write(d, r->r.offset, r->iov[0].iov_base, r->len);
    char *buf = malloc(r->len);
    if (!buf)
        return -ENOMEM;
    size_t pos = 0;
    for (int i = 0; i < r->r.iovcnt; i++) {
        memcpy(buf + pos, r->iov[i].iov_base, r->iov[i].iov_len);
        pos += r->iov[i].iov_len;
    }
    int rc = disk_write(d, r->r.offset, buf, r->len);
    free(buf);
    return rc;
}

static int do_flush(struct disk_aio *a)
{
    pthread_mutex_lock(&a->mu);
    uint64_t done = a->fast_writes_done;
    pthread_mutex_unlock(&a->mu);
    /* Shared is enough: flushing changes no block mapping, and the worker is the only
     * other thread that could change one. */
    pthread_rwlock_rdlock(&a->meta);
    int rc = disk_flush(a->d);
    pthread_rwlock_unlock(&a->meta);
    if (rc == 0 && done != a->synced_writes && !(a->d->flags & DISK_OPEN_UNSAFE)) {
        if (fdatasync(a->d->fd) < 0)
            rc = disk_flush_failed(a->d, -errno);
        else
            a->synced_writes = done;
    }
    return rc;
}

/* meta (shared) and mu held: starts r on the fast path if the range is mapped in one
 * piece (or reads as zeros); false if it needs the worker. */
static bool try_fast(struct disk_aio *a, struct aio_req *r)
{
    bool wr = r->r.op == DISK_AIO_WRITE;
    uint64_t foff = 0, contig = 0;
    if (a->barriers || a->ring_inflight >= a->depth)
        return false;
    int kind = disk_map(a->d, r->r.offset, r->len, wr, &foff, &contig);
    if (kind == DISK_MAP_ZERO && !wr && contig >= r->len) {
        for (int i = 0; i < r->r.iovcnt; i++)
            memset(r->iov[i].iov_base, 0, r->iov[i].iov_len);
        a->st.zero++;
        complete(a, r, 0, true);
        return true;
    }
    if (kind != DISK_MAP_DATA || contig < r->len)
        return false;
    if (wr && r->r.may_block) {
        /* counted as in the ring, so fences wait for it; write_here() does it */
        r->write_here = true;
        r->foff = foff;
        r->epoch = a->epoch;
        a->epoch_ops[r->epoch % EPOCHS]++;
        a->ring_inflight++;
        a->st.fast++;
        return true;
    }
    struct io_uring_sqe *sqe = io_uring_get_sqe(&a->ring);
    if (!sqe)
        return false;
    if (wr)
        io_uring_prep_writev(sqe, a->d->fd, r->iov, (unsigned)r->r.iovcnt, foff);
    else
        io_uring_prep_readv(sqe, a->d->fd, r->iov, (unsigned)r->r.iovcnt, foff);
    /* A buffered write to an ext4 file cannot be done without blocking (kernel 6.1):
     * the kernel tries, fails and hands it to a worker; going straight to the worker
     * measured 10-25% faster at QD32. */
    if (wr)
        io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
    io_uring_sqe_set_data(sqe, r);
    r->epoch = a->epoch;
    a->epoch_ops[r->epoch % EPOCHS]++;
    a->ring_inflight++;
    a->st.fast++;
    /* On failure the SQE stays queued; disk_aio_reap() submits it again. */
    io_uring_submit(&a->ring);
    return true;
}

/* Submitter, meta (shared) held, mu not: the fast-path write try_fast() reserved for
 * it, done here; completed as disk_aio_reap() completes the ring's. */
static void write_here(struct disk_aio *a, struct aio_req *r)
{
    ssize_t n = pwritev(a->d->fd, r->iov, r->r.iovcnt, (off_t)r->foff);
    int err = n < 0 ? errno : 0;
    pthread_mutex_lock(&a->mu);
    a->ring_inflight--;
    a->epoch_ops[r->epoch % EPOCHS]--;
    r->write_here = false;
    if (n >= 0 && (uint64_t)n == r->len) {
        a->fast_writes_done++;
        complete(a, r, 0, true);
    } else if (n >= 0 || err == EAGAIN || err == EINTR) {
        to_worker(a, r); /* short transfer: redo it the sync way (idempotent) */
    } else {
        complete(a, r, -err, true);
    }
    release_fences(a);
    pthread_mutex_unlock(&a->mu);
}

/* Worker, mu not held: the fast-path attempt a deferred request did not get. */
static bool worker_try_fast(struct disk_aio *a, struct aio_req *r)
{
    pthread_rwlock_rdlock(&a->meta);
    pthread_mutex_lock(&a->mu);
    /* not once a fence was submitted after r: that fence does not wait for the ring */
    bool started = r->epoch == a->epoch && try_fast(a, r);
    bool here = started && r->write_here;
    pthread_mutex_unlock(&a->mu);
    if (here)
        write_here(a, r);
    pthread_rwlock_unlock(&a->meta);
    return started;
}

static int run_sync(struct disk_aio *a, struct aio_req *r)
{
    if (r->r.op == DISK_AIO_FLUSH)
        return do_flush(a);
    int rc;
    pthread_rwlock_wrlock(&a->meta);
    if (r->r.op == DISK_AIO_READ)
        rc = scatter_read(a->d, r);
    else if (r->r.op == DISK_AIO_WRITE)
        rc = gather_write(a->d, r);
    else
        rc = disk_discard(a->d, r->r.offset, r->r.length);
    pthread_rwlock_unlock(&a->meta);
    return rc;
}

static void *worker_main(void *arg)
{
    struct disk_aio *a = arg;
    pthread_setname_np(pthread_self(), "disk-aio");
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->stop && !a->work.head)
            pthread_cond_wait(&a->wcond, &a->mu);
        struct aio_req *r = q_pop(&a->work);
        if (!r)
            break;
        pthread_mutex_unlock(&a->mu);
        if (r->deferred) {
            r->deferred = false;
            if (worker_try_fast(a, r)) {
                pthread_mutex_lock(&a->mu);
                continue;
            }
        }
        int rc = run_sync(a, r);
        pthread_mutex_lock(&a->mu);
        a->st.slow++;
        if (r->r.op == DISK_AIO_DISCARD)
            a->barriers--;
        complete(a, r, rc, true);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

int disk_aio_create(struct disk *d, unsigned depth, struct disk_aio **out)
{
    *out = NULL;
    if (depth == 0)
        depth = 128;
    if (depth > 4096)
        depth = 4096;
    struct disk_aio *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->d = d;
    a->depth = depth;
    a->sector = d->info.logical_sector_size ? d->info.logical_sector_size : 512;
    q_init(&a->work);
    q_init(&a->done);
    q_init(&a->fences);
    a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (a->efd < 0) {
        int rc = -errno;
        free(a);
        return rc;
    }
    int rc = io_uring_queue_init(depth, &a->ring, 0);
    if (rc < 0) {
        close(a->efd);
        free(a);
        return rc;
    }
    if ((rc = io_uring_register_eventfd(&a->ring, a->efd)) < 0) {
        io_uring_queue_exit(&a->ring);
        close(a->efd);
        free(a);
        return rc;
    }
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    /* the worker must not starve behind a stream of fast-path submitters */
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&a->meta, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->wcond, NULL);
    if ((rc = pthread_create(&a->worker, NULL, worker_main, a)) != 0) {
        pthread_cond_destroy(&a->wcond);
        pthread_mutex_destroy(&a->mu);
        pthread_rwlock_destroy(&a->meta);
        io_uring_queue_exit(&a->ring);
        close(a->efd);
        free(a);
        return -rc;
    }
    *out = a;
    return 0;
}

void disk_aio_destroy(struct disk_aio *a)
{
    if (!a)
        return;
    while (disk_aio_inflight(a))
        disk_aio_wait(a);
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    pthread_cond_signal(&a->wcond);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->worker, NULL);
    io_uring_queue_exit(&a->ring);
    close(a->efd);
    pthread_cond_destroy(&a->wcond);
    pthread_mutex_destroy(&a->mu);
    pthread_rwlock_destroy(&a->meta);
    free(a);
}

int disk_aio_eventfd(const struct disk_aio *a)
{
    return a->efd;
}

unsigned disk_aio_inflight(struct disk_aio *a)
{
    pthread_mutex_lock(&a->mu);
    unsigned n = a->inflight;
    pthread_mutex_unlock(&a->mu);
    return n;
}

void disk_aio_get_stats(struct disk_aio *a, struct disk_aio_stats *s)
{
    pthread_mutex_lock(&a->mu);
    *s = a->st;
    pthread_mutex_unlock(&a->mu);
}

static int validate(struct disk_aio *a, const struct disk_aio_req *r, uint64_t *len)
{
    struct disk *d = a->d;
    uint64_t size = d->info.virtual_size;
    if (!r->cb)
        return -EINVAL;
    switch (r->op) {
    case DISK_AIO_FLUSH:
        *len = 0;
        return 0;
    case DISK_AIO_DISCARD:
        *len = r->length;
        if (d->flags & DISK_OPEN_RDONLY)
            return -EROFS;
        return r->offset > size || r->length > size - r->offset ? -EINVAL : 0;
    case DISK_AIO_READ:
    case DISK_AIO_WRITE:
        break;
    default:
        return -EINVAL;
    }
    if (r->op == DISK_AIO_WRITE && (d->flags & DISK_OPEN_RDONLY))
        return -EROFS;
    if (!r->iov || r->iovcnt < 1 || r->iovcnt > DISK_AIO_MAX_IOV)
        return -EINVAL;
    uint64_t total = 0;
    for (int i = 0; i < r->iovcnt; i++) {
        if (r->iov[i].iov_len > size || (r->iov[i].iov_len && !r->iov[i].iov_base))
            return -EINVAL;
        total += r->iov[i].iov_len;
        if (total > size)
            return -EINVAL;
    }
    if (total == 0 || r->offset > size || total > size - r->offset || r->offset % a->sector ||
        (total % a->sector && r->offset + total != size))
        return -EINVAL;
    *len = total;
    return 0;
}

int disk_aio_submit(struct disk_aio *a, const struct disk_aio_req *req)
{
    uint64_t len;
    int rc = validate(a, req, &len);
    if (rc < 0)
        return rc;
    struct aio_req *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->r = *req;
    r->len = len;
    if (req->op == DISK_AIO_READ || req->op == DISK_AIO_WRITE) {
        r->iov = req->iovcnt <= INLINE_IOV ? r->inline_iov
                                           : malloc(sizeof(struct iovec) * (size_t)req->iovcnt);
        if (!r->iov) {
            free(r);
            return -ENOMEM;
        }
        memcpy(r->iov, req->iov, sizeof(struct iovec) * (size_t)req->iovcnt);
        r->r.iov = r->iov;
    }
    bool rw = req->op == DISK_AIO_READ || req->op == DISK_AIO_WRITE;
    bool mapped = rw && pthread_rwlock_tryrdlock(&a->meta) == 0;
    pthread_mutex_lock(&a->mu);
    if (!rw && a->epoch + 1 - a->low_epoch >= EPOCHS) {
        pthread_mutex_unlock(&a->mu);
        if (r->iov != r->inline_iov)
            free(r->iov);
        free(r);
        return -EBUSY; /* over a thousand fences waiting: the caller is not reaping */
    }
    a->inflight++;
    bool here = false;
    if (rw && !mapped) {
        r->deferred = true;
        r->epoch = a->epoch;
        to_worker(a, r);
    } else if (rw) {
        if (!try_fast(a, r))
            to_worker(a, r);
        here = r->write_here; /* nobody else sees r until write_here() completes it */
    } else {
        if (req->op == DISK_AIO_DISCARD)
            a->barriers++;
        r->epoch = a->epoch++;
        q_push(&a->fences, r);
        release_fences(a);
    }
    pthread_mutex_unlock(&a->mu);
    if (here)
        write_here(a, r);
    if (mapped)
        pthread_rwlock_unlock(&a->meta);
    return 0;
}

int disk_aio_reap(struct disk_aio *a)
{
    uint64_t v;
    struct io_uring_cqe *cqe;
    if (read(a->efd, &v, sizeof(v)) < 0) {
        /* EAGAIN: nothing signalled; completions are still looked for below */
    }
    pthread_mutex_lock(&a->mu);
    if (io_uring_sq_ready(&a->ring))
        io_uring_submit(&a->ring);
    while (io_uring_peek_cqe(&a->ring, &cqe) == 0) {
        struct aio_req *r = io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&a->ring, cqe);
        a->ring_inflight--;
        a->epoch_ops[r->epoch % EPOCHS]--;
        if (res >= 0 && (uint64_t)res == r->len) {
            if (r->r.op == DISK_AIO_WRITE)
                a->fast_writes_done++;
            complete(a, r, 0, false);
        } else if (res >= 0 || res == -EAGAIN || res == -EINTR) {
            to_worker(a, r); /* short transfer: redo it the sync way (idempotent) */
        } else {
            complete(a, r, res, false);
        }
    }
    release_fences(a);
    struct aio_req *list = a->done.head;
    q_init(&a->done);
    pthread_mutex_unlock(&a->mu);

    int n = 0;
    while (list) {
        struct aio_req *r = list;
        list = r->next;
        r->r.cb(r->r.cookie, r->result);
        if (r->iov != r->inline_iov)
            free(r->iov);
        free(r);
        n++;
    }
    if (n) {
        pthread_mutex_lock(&a->mu);
        a->inflight -= (unsigned)n;
        pthread_mutex_unlock(&a->mu);
    }
    return n;
}

int disk_aio_wait(struct disk_aio *a)
{
    for (;;) {
        int n = disk_aio_reap(a);
        if (n || !disk_aio_inflight(a))
            return n;
        struct pollfd p = { .fd = a->efd, .events = POLLIN };
        if (poll(&p, 1, -1) < 0 && errno != EINTR)
            return -errno;
    }
}
