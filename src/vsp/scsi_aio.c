/* A disk_aio engine and its reaper thread; see scsi_aio.h. */
#include "vsp/scsi_aio.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct scsi_aio {
    struct disk_aio *a;
    pthread_t reaper;
    int stopfd;
};

static void *reaper_main(void *arg)
{
    struct scsi_aio *s = arg;
    pthread_setname_np(pthread_self(), "scsi-reaper");
    struct pollfd p[2] = { { .fd = disk_aio_eventfd(s->a), .events = POLLIN },
                           { .fd = s->stopfd, .events = POLLIN } };
    for (;;) {
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            disk_aio_reap(s->a);
        if (p[1].revents)
            break;
    }
    return NULL;
}

int scsi_aio_start(struct disk *d, unsigned depth, struct scsi_aio **out)
{
    *out = NULL;
    struct scsi_aio *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    int rc = disk_aio_create(d, depth, &s->a);
    if (rc < 0) {
        free(s);
        return rc;
    }
    s->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->stopfd < 0) {
        rc = -errno;
        disk_aio_destroy(s->a);
        free(s);
        return rc;
    }
    if ((rc = pthread_create(&s->reaper, NULL, reaper_main, s)) != 0) {
        close(s->stopfd);
        disk_aio_destroy(s->a);
        free(s);
        return -rc;
    }
    *out = s;
    return 0;
}

void scsi_aio_stop(struct scsi_aio *s)
{
    if (!s)
        return;
    uint64_t one = 1;
    while (write(s->stopfd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
    pthread_join(s->reaper, NULL);
    disk_aio_destroy(s->a); /* reaps what is still in flight */
    close(s->stopfd);
    free(s);
}

int scsi_aio_submit(struct scsi_aio *s, const struct disk_aio_req *r)
{
    return disk_aio_submit(s->a, r);
}

int scsi_aio_submit_and_reap(struct scsi_aio *s, const struct disk_aio_req *r)
{
    int rc = disk_aio_submit(s->a, r);
    if (rc == 0)
        disk_aio_reap(s->a);
    return rc;
}

void scsi_aio_get_stats(struct scsi_aio *s, struct disk_aio_stats *st)
{
    disk_aio_get_stats(s->a, st);
}

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int rc;
};

static void wake(void *cookie, int rc)
{
    struct waiter *w = cookie;
    pthread_mutex_lock(&w->mu);
    w->rc = rc;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int scsi_aio_run(struct scsi_aio *s, enum disk_aio_op op, uint64_t off, void *buf,
                 uint64_t len)
{
    struct waiter w = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct disk_aio_req r = { .op = op, .offset = off, .cb = wake, .cookie = &w };
    if (op == DISK_AIO_READ || op == DISK_AIO_WRITE) {
        r.iov = &iov;
        r.iovcnt = 1;
    } else if (op == DISK_AIO_DISCARD) {
        r.length = len;
    }
    int rc = disk_aio_submit(s->a, &r);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    return w.rc;
}
