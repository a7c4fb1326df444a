/* The per-VM IC state (attach/detach, tick, status) and the blocking request helper. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "vsp/ic_common.h"
#include "vsp/ic_wait.h"

static const struct ic_service *const services[IC_KIND_COUNT] = {
    [IC_SHUTDOWN] = &ic_shutdown_service,
    [IC_HEARTBEAT] = &ic_heartbeat_service,
    [IC_TIMESYNC] = &ic_timesync_service,
    [IC_KVP] = &ic_kvp_service,
};

static const struct ic_service *service_of(struct vmbus_channel *ch)
{
    const void *ctx = vmbus_channel_device_ctx(ch);
    for (unsigned k = 0; k < IC_KIND_COUNT; k++)
        if (ctx == services[k])
            return services[k];
    return NULL;
}

struct ic *ic_attach(struct vmbus_host *host, const struct ic_config *cfg)
{
    if (!host)
        return NULL;
    struct ic *ic = calloc(1, sizeof(*ic));
    if (!ic)
        return NULL;
    ic->host = host;
    if (cfg)
        ic->cfg = *cfg;
    struct ic_config *c = &ic->cfg;
    c->heartbeat_period_ms = c->heartbeat_period_ms ? c->heartbeat_period_ms : 1000;
    c->heartbeat_window_ms = c->heartbeat_window_ms ? c->heartbeat_window_ms : 5000;
    c->timesync_period_ms = c->timesync_period_ms ? c->timesync_period_ms : 5000;
    c->request_timeout_ms = c->request_timeout_ms ? c->request_timeout_ms : 30000;
    c->kvp_timeout_ms = c->kvp_timeout_ms ? c->kvp_timeout_ms : 40000;
    struct vmbus_channel *ch;
    for (unsigned i = 0; (ch = vmbus_host_channel(host, i)) != NULL; i++) {
        const struct ic_service *svc = service_of(ch);
        if (!svc || ic->chans[svc->kind])
            continue;
        struct ic_chan *chan = calloc(1, sizeof(*chan));
        if (!chan) {
            ic_detach(ic);
            return NULL;
        }
        chan->ic = ic;
        chan->ch = ch;
        chan->svc = svc;
        chan->state = IC_STATE_CLOSED;
        ic->chans[svc->kind] = chan;
        ic->lock_ch = ch;
    }
    if (!ic->lock_ch) {
        free(ic);
        return NULL;
    }
    ic_lock(ic);
    for (unsigned k = 0; k < IC_KIND_COUNT; k++) {
        struct ic_chan *chan = ic->chans[k];
        if (!chan)
            continue;
        vmbus_channel_set_priv(chan->ch, chan);
        /* Attached late, to an already open channel: negotiate at the next tick. */
        if (vmbus_channel_is_open(chan->ch))
            chan->state = IC_STATE_OPENED;
    }
    ic_unlock(ic);
    return ic;
}

struct ic *ic_from_host(struct vmbus_host *host)
{
    if (!host)
        return NULL;
    struct vmbus_channel *ch;
    for (unsigned i = 0; (ch = vmbus_host_channel(host, i)) != NULL; i++) {
        if (!service_of(ch))
            continue;
        vmbus_channel_lock(ch);
        struct ic_chan *c = vmbus_channel_priv(ch);
        struct ic *ic = c ? c->ic : NULL;
        vmbus_channel_unlock(ch);
        if (ic)
            return ic;
    }
    return NULL;
}

void ic_detach(struct ic *ic)
{
    if (!ic)
        return;
    if (ic->lock_ch) {
        ic_lock(ic);
        for (unsigned k = 0; k < IC_KIND_COUNT; k++) {
            struct ic_chan *c = ic->chans[k];
            if (!c)
                continue;
            ic_chan_reset(c, IC_STATE_CLOSED);
            vmbus_channel_set_priv(c->ch, NULL);
        }
        ic_unlock(ic);
    }
    for (unsigned k = 0; k < IC_KIND_COUNT; k++)
        free(ic->chans[k]);
    free(ic);
}

void ic_tick(struct ic *ic)
{
    if (!ic)
        return;
    ic_lock(ic);
    uint64_t now = ic_now_ms(ic);
    for (unsigned k = 0; k < IC_KIND_COUNT; k++)
        if (ic->chans[k])
            ic_chan_tick(ic->chans[k], now);
    ic_unlock(ic);
}

const char *ic_state_name(enum ic_state s)
{
    switch (s) {
    case IC_STATE_ABSENT: return "absent";
    case IC_STATE_CLOSED: return "closed";
    case IC_STATE_OPENED: return "opened";
    case IC_STATE_NEGOTIATING: return "negotiating";
    case IC_STATE_READY: return "ready";
    case IC_STATE_FAILED: return "failed";
    }
    return "?";
}

static void heartbeat_locked(struct ic *ic, struct ic_heartbeat_status *hb)
{
    memset(hb, 0, sizeof(*hb));
    hb->age_ms = UINT64_MAX;
    struct ic_chan *c = ic->chans[IC_HEARTBEAT];
    if (!c || !c->hb_answered)
        return;
    uint64_t now = ic_now_ms(ic);
    hb->answered = true;
    hb->seq = c->hb_seq;
    hb->age_ms = now >= c->hb_last_ms ? now - c->hb_last_ms : 0;
    hb->alive = c->state == IC_STATE_READY && hb->age_ms <= ic->cfg.heartbeat_window_ms;
}

int ic_heartbeat_status(struct ic *ic, struct ic_heartbeat_status *hb)
{
    if (!ic)
        return -ENODEV;
    ic_lock(ic);
    heartbeat_locked(ic, hb);
    ic_unlock(ic);
    return 0;
}

int ic_get_status(struct ic *ic, struct ic_status *st)
{
    if (!ic)
        return -ENODEV;
    memset(st, 0, sizeof(*st));
    ic_lock(ic);
    for (unsigned k = 0; k < IC_KIND_COUNT; k++) {
        struct ic_chan *c = ic->chans[k];
        if (!c)
            continue;
        st->svc[k].state = c->state;
        st->svc[k].fw_version = c->fw_version;
        st->svc[k].msg_version = c->msg_version;
        st->svc[k].answered = c->answered;
    }
    heartbeat_locked(ic, &st->heartbeat);
    if (ic->chans[IC_TIMESYNC])
        st->timesync_samples = ic->chans[IC_TIMESYNC]->ts_acked;
    ic_unlock(ic);
    return 0;
}

/* --- blocking helper ------------------------------------------------------------------- */

void ic_waiter_init(struct ic_waiter *w, struct ic_kvp_result *kvp_out)
{
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->m, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &a);
    pthread_condattr_destroy(&a);
    w->kvp_out = kvp_out;
}

void ic_waiter_done(void *arg, const struct ic_result *res)
{
    struct ic_waiter *w = arg;
    pthread_mutex_lock(&w->m);
    w->err = res->err;
    w->status = res->status;
    if (res->kvp && w->kvp_out)
        memcpy(w->kvp_out, res->kvp, sizeof(*w->kvp_out));
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->m);
}

int ic_waiter_wait(struct ic *ic, struct ic_waiter *w, int64_t id, int timeout_ms,
                   uint32_t *status)
{
    int rc;
    if (id < 0) {
        rc = (int)id;
        goto out;
    }
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    if (timeout_ms < 0)
        timeout_ms = 0;
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->m);
    while (!w->done)
        if (pthread_cond_timedwait(&w->cv, &w->m, &dl) == ETIMEDOUT)
            break;
    bool done = w->done;
    pthread_mutex_unlock(&w->m);
    if (!done && ic_cancel(ic, id) == 0) {
        rc = -ETIMEDOUT;
        goto out;
    }
    /* Either answered in time, or it completed while we were cancelling. */
    pthread_mutex_lock(&w->m);
    rc = w->err;
    if (rc == 0 && status)
        *status = w->status;
    pthread_mutex_unlock(&w->m);
out:
    pthread_mutex_destroy(&w->m);
    pthread_cond_destroy(&w->cv);
    return rc;
}
