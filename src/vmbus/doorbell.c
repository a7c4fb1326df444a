/* Channel doorbells: a guest's HvSignalEvent on a channel's connection id that the
 * kernel turns into an eventfd write (KVM ioeventfd), so the signalling vCPU goes back
 * to the guest at once and the channel is served here, on the doorbell thread, as
 * vmbus_handle_signal_event() would have served it on the vCPU thread. See vmbus.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "vmbus/vmbus_internal.h"

#define DOORBELL_STOP UINT32_MAX

struct vmbus_doorbells {
    int epfd, stop_fd;
    int *fds;    /* one eventfd per channel slot, -1 where none */
    int *routed; /* per slot: a device's own eventfd bound instead (host lock), or -1 */
    vmbus_doorbell_bind_fn bind;
    void *ctx;
    pthread_t thread;
};

static void ring_channel(struct vmbus_host *host, uint32_t slot)
{
    struct vmbus_doorbells *d = host->doorbells;
    uint64_t count;
    if (read(d->fds[slot], &count, sizeof(count)) != sizeof(count))
        return; /* nothing pending: another wake-up took it */
    vmbus_serve_signal(host, &host->chans[slot]);
}

static void *doorbell_thread(void *arg)
{
    struct vmbus_host *host = arg;
    struct vmbus_doorbells *d = host->doorbells;
    struct epoll_event ev[16];
    pthread_setname_np(pthread_self(), "vmbus-doorbell");
    for (;;) {
        int k = epoll_wait(d->epfd, ev, 16, -1);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            vlog_error("vmbus doorbells: epoll_wait: %s", strerror(errno));
            return NULL;
        }
        for (int j = 0; j < k; j++) {
            if (ev[j].data.u32 == DOORBELL_STOP)
                return NULL;
            ring_channel(host, ev[j].data.u32);
        }
    }
}

static void free_doorbells(struct vmbus_doorbells *d, unsigned nchans)
{
    for (unsigned i = 0; d->fds && i < nchans; i++)
        if (d->fds[i] >= 0)
            close(d->fds[i]);
    if (d->epfd >= 0)
        close(d->epfd);
    if (d->stop_fd >= 0)
        close(d->stop_fd);
    free(d->fds);
    free(d->routed);
    free(d);
}

int vmbus_doorbells_start(struct vmbus_host *host, vmbus_doorbell_bind_fn bind, void *ctx)
{
    if (!host || !bind || host->doorbells)
        return -EINVAL;
    struct vmbus_doorbells *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->epfd = d->stop_fd = -1;
    d->bind = bind;
    d->ctx = ctx;
    d->fds = calloc(host->nchans ? host->nchans : 1, sizeof(*d->fds));
    d->routed = calloc(host->nchans ? host->nchans : 1, sizeof(*d->routed));
    int ret = d->fds && d->routed ? 0 : -ENOMEM;
    for (unsigned i = 0; !ret && i < host->nchans; i++)
        d->fds[i] = d->routed[i] = -1;
    d->epfd = epoll_create1(EPOLL_CLOEXEC);
    d->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!ret && (d->epfd < 0 || d->stop_fd < 0))
        ret = -errno;
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = DOORBELL_STOP };
    if (!ret && epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->stop_fd, &ev))
        ret = -errno;
    unsigned bound = 0;
    for (; !ret && bound < host->nchans; bound++) {
        d->fds[bound] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        ev.data.u32 = bound;
        if (d->fds[bound] < 0 || epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->fds[bound], &ev))
            ret = -errno;
        else if ((ret = bind(ctx, host->chans[bound].conn_id, d->fds[bound], true)) != 0)
            break;
    }
    host->doorbells = d;
    if (!ret && pthread_create(&d->thread, NULL, doorbell_thread, host))
        ret = -EAGAIN;
    if (ret) {
        /* every channel is served on the vCPU thread again */
        for (unsigned i = 0; i < bound; i++)
            bind(ctx, host->chans[i].conn_id, d->fds[i], false);
        host->doorbells = NULL;
        free_doorbells(d, host->nchans);
    }
    return ret;
}

void vmbus_doorbells_stop(struct vmbus_host *host)
{
    struct vmbus_doorbells *d = host ? host->doorbells : NULL;
    if (!d)
        return;
    uint64_t one = 1;
    if (write(d->stop_fd, &one, sizeof(one)) != sizeof(one))
        vlog_warn("vmbus doorbells: cannot signal the stop: %s", strerror(errno));
    pthread_join(d->thread, NULL);
    pthread_mutex_lock(&host->lock);
    host->doorbells = NULL;
    pthread_mutex_unlock(&host->lock);
    free_doorbells(d, host->nchans);
}

int vmbus_channel_route_doorbell(struct vmbus_channel *ch, int fd)
{
    struct vmbus_host *host = ch->host;
    pthread_mutex_lock(&host->lock);
    struct vmbus_doorbells *d = host->doorbells;
    uint32_t slot = ch->relid - 1;
    int ret = 0;
    if (!d) {
        ret = -ENODEV;
    } else if (fd != d->routed[slot]) {
        int now = d->routed[slot] >= 0 ? d->routed[slot] : d->fds[slot];
        int want = fd >= 0 ? fd : d->fds[slot];
        /* KVM takes one eventfd per connection id: the old one goes first. Meanwhile a
         * signal exits to user space and is served on its vCPU thread, as without
         * doorbells. */
        d->bind(d->ctx, ch->conn_id, now, false);
        ret = d->bind(d->ctx, ch->conn_id, want, true);
        if (!ret)
            d->routed[slot] = fd;
        else if (d->bind(d->ctx, ch->conn_id, now, true) != 0)
            d->routed[slot] = -1; /* nothing bound: signals come by hypercall */
    }
    pthread_mutex_unlock(&host->lock);
    return ret;
}
