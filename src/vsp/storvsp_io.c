/* Storage VSP I/O: per-channel worker threads that execute SRBs and complete them
 * (see storvsp_priv.h for the threading rules). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "vsp/storvsp_priv.h"

/* The guest pages of the request's first `len` bytes as host iovecs (neighbouring pages
 * that are neighbours in the VMM too merged into one). Every page must be guest RAM and
 * the ranges must hold at least `len` bytes. The count (0 for no data), or -1. */
static int guest_iov(const struct guest_mem *gm, const struct storvsp_req *r, uint32_t len,
                     struct iovec *iov, struct vmbus_gpa_chunk *ch)
{
    if (!len)
        return 0;
    if (!r->gpa_direct)
        return -1;
    uint64_t total;
    int n = vmbus_gpa_direct_chunks(r->ranges, r->ranges_len, ch, STORVSP_MAX_CHUNKS, &total);
    if (n < 0 || total < len)
        return -1;
    int cnt = 0;
    uint32_t done = 0;
    for (int i = 0; i < n && done < len; i++) {
        uint32_t k = ch[i].len < len - done ? ch[i].len : len - done;
        uint8_t *p = gmem_ptr(gm, ch[i].gpa, k);
        if (!p)
            return -1;
        if (cnt && (uint8_t *)iov[cnt - 1].iov_base + iov[cnt - 1].iov_len == p)
            iov[cnt - 1].iov_len += k;
        else
            iov[cnt++] = (struct iovec){ .iov_base = p, .iov_len = k };
        done += k;
    }
    return cnt;
}

/* Copies between the iovecs and a flat buffer (the synchronous path's bounce buffer):
 * the first len bytes. */
static void iov_copy(const struct iovec *iov, int cnt, uint8_t *buf, uint32_t len, bool to_buf)
{
    uint32_t done = 0;
    for (int i = 0; i < cnt && done < len; i++) {
        uint32_t k = iov[i].iov_len < len - done ? (uint32_t)iov[i].iov_len : len - done;
        if (to_buf)
            memcpy(buf + done, iov[i].iov_base, k);
        else
            memcpy(iov[i].iov_base, buf + done, k);
        done += k;
    }
}

/* How many of the iovecs hold the first len bytes (the last one cut to fit). */
static int iov_trim(struct iovec *iov, int cnt, uint64_t len)
{
    uint64_t done = 0;
    for (int i = 0; i < cnt; i++) {
        if (iov[i].iov_len >= len - done) {
            iov[i].iov_len = len - done;
            return i + 1;
        }
        done += iov[i].iov_len;
    }
    return cnt;
}

static void report_luns(struct storvsp *c, const struct vmscsi_request *srb, struct scsi_cmd *cmd)
{
    uint16_t luns[STORVSP_MAX_LUNS];
    unsigned n = 0;
    if (srb->path_id == 0 && srb->target_id == 0)
        for (unsigned i = 0; i < STORVSP_MAX_LUNS; i++) {
            pthread_mutex_lock(&c->lun_lock[i]); /* LUNs come and go (hot plug) */
            if (c->luns[i])
                luns[n++] = (uint16_t)i;
            pthread_mutex_unlock(&c->lun_lock[i]);
        }
    scsi_report_luns(cmd, luns, n);
}

/* The queue whose worker this thread is (NULL on any other thread). */
static _Thread_local struct storvsp_queue *worker_queue;

static void write_wake(int fd)
{
    uint64_t one = 1;
    while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

/* The worker sleeps (q->idle set) until its eventfd fires or timeout_ms pass (-1: no
 * limit). The wake-up may be the guest's doorbell: the ring is served either way. */
static void worker_sleep(struct storvsp_queue *q, int timeout_ms)
{
    struct pollfd p = { .fd = q->wake_fd, .events = POLLIN };
    uint64_t n;
    if (poll(&p, 1, timeout_ms) > 0 && read(q->wake_fd, &n, sizeof(n)) == sizeof(n))
        vmbus_channel_poll(q->ch);
}

/* A write waiting for host space: sleeps retry_ms (or until storvsp_retry_now, or a new
 * request wakes the queue). false when the queue is stopping. */
static bool wait_for_retry(struct storvsp *c, struct storvsp_queue *q)
{
    pthread_mutex_lock(&q->mu);
    bool go_on = !q->stop;
    q->idle = go_on;
    pthread_mutex_unlock(&q->mu);
    if (!go_on)
        return false;
    worker_sleep(q, (int)c->retry_ms);
    pthread_mutex_lock(&q->mu);
    go_on = !q->stop;
    pthread_mutex_unlock(&q->mu);
    return go_on;
}

/* The SRB's answer: a SCSI result (status, sense, bytes moved). */
static void finish_srb(struct storvsp_req *r, const struct scsi_cmd *cmd)
{
    struct vmscsi_request *srb = &r->p.vm_srb;
    uint8_t sense_cap = srb->sense_info_length;
    srb->data_transfer_length = 0;
    srb->scsi_status = SCSI_STATUS_GOOD;
    srb->sense_info_length = 0;
    memset(srb->sense_data, 0, sizeof(srb->sense_data));
    if (cmd->status != SCSI_STATUS_GOOD) {
        uint8_t n = cmd->sense_len < sense_cap ? cmd->sense_len : sense_cap;
        if (n > VSTOR_SENSE_MAX)
            n = VSTOR_SENSE_MAX;
        srb->scsi_status = cmd->status;
        srb->srb_status = SRB_STATUS_ERROR | (n ? SRB_STATUS_AUTOSENSE_VALID : 0);
        memcpy(srb->sense_data, cmd->sense, n);
        srb->sense_info_length = n;
        return;
    }
    srb->srb_status = SRB_STATUS_SUCCESS;
    srb->data_transfer_length = cmd->xfer;
}

/* The SRB fails at the transport level (no SCSI status). */
static void fail_srb(struct storvsp_req *r, uint8_t srb_status)
{
    struct vmscsi_request *srb = &r->p.vm_srb;
    srb->data_transfer_length = 0;
    srb->scsi_status = SCSI_STATUS_GOOD;
    srb->sense_info_length = 0;
    srb->srb_status = srb_status;
}

static void complete(struct storvsp_queue *q, struct storvsp_req *r);

/* Engine callback (reaper thread) of an SRB submitted by start_io(). */
static void io_done(void *cookie, int rc)
{
    struct storvsp_req *r = cookie;
    struct storvsp_queue *q = r->q;
    if (!rc && r->io.fua && !r->flushing) {
        /* FUA: the write is durable before the guest hears of it */
        r->flushing = true;
        struct disk_aio_req f = { .op = DISK_AIO_FLUSH, .cb = io_done, .cookie = r };
        if ((rc = scsi_aio_submit(r->aio, &f)) == 0)
            return;
    }
    struct scsi_cmd cmd = { 0 };
    scsi_io_done(&cmd, &r->io, rc);
    atomic_fetch_sub(&q->inflight, 1);
    if (cmd.no_space && q->c->space_hook) {
        /* host disk full: the worker runs it again the synchronous way, which holds it
         * (VM paused) until there is space */
        r->sync = true;
        r->flushing = false;
        if (storvsp_queue_push(q, r))
            return;
    }
    finish_srb(r, &cmd);
    complete(q, r);
}

/* A decoded READ/WRITE/SYNCHRONIZE CACHE to the LUN's engine, on the guest's pages (LUN
 * mutex held). false: not submitted (cmd holds the error to answer). */
static bool start_io(struct scsi_disk *sd, struct storvsp_queue *q, struct storvsp_req *r,
                     int niov, struct scsi_cmd *cmd)
{
    struct disk_aio_req a = { .cb = io_done, .cookie = r };
    if (r->io.op == SCSI_IO_FLUSH) {
        a.op = DISK_AIO_FLUSH;
    } else {
        a.op = r->io.op == SCSI_IO_WRITE ? DISK_AIO_WRITE : DISK_AIO_READ;
        /* this worker writes to the page cache itself rather than handing the write to
         * a kernel worker and waking the reaper for its end (two thread hand-overs) */
        a.may_block = true;
        a.offset = r->io.offset;
        a.iov = q->iov;
        a.iovcnt = iov_trim(q->iov, niov, r->io.bytes);
    }
    r->q = q;
    r->aio = sd->aio;
    r->flushing = false;
    /* counted before submitting: the completion may reach the guest before it returns */
    unsigned n = atomic_fetch_add(&q->inflight, 1) + 1;
    atomic_fetch_add(&q->n_async, 1);
    unsigned m = atomic_load(&q->max_inflight);
    while (n > m && !atomic_compare_exchange_weak(&q->max_inflight, &m, n))
        ;
    /* a read the page cache served completes into the ring right here (LUN mutex held,
     * then the host lock: see storvsp_priv.h) instead of after the reaper wakes */
    int rc = scsi_aio_submit_and_reap(sd->aio, &a);
    if (rc == 0)
        return true;
    atomic_fetch_sub(&q->inflight, 1);
    atomic_fetch_sub(&q->n_async, 1);
    vlog_debug("storvsp%u: could not submit I/O (%d)", q->c->index, rc);
    scsi_io_done(cmd, &r->io, rc);
    return false;
}

/* The synchronous path: data through the bounce buffer, the command run here (held and
 * retried while the host disk is full, with a space hook). */
static void run_sync(struct storvsp *c, struct storvsp_queue *q, struct storvsp_req *r,
                     const uint8_t *cdb, int niov, struct scsi_cmd *cmd)
{
    const struct vmscsi_request *srb = &r->p.vm_srb;
    unsigned lun = srb->lun;
    bool present = false, waited = false;
    if (cmd->data_out)
        iov_copy(q->iov, niov, q->bounce, cmd->buf_len, true);
    if (cdb[0] == 0xA0) { /* REPORT LUNS: answered by the controller, any LUN */
        report_luns(c, srb, cmd);
        present = true;
    } else if (srb->path_id == 0 && srb->target_id == 0 && lun < STORVSP_MAX_LUNS) {
        for (;;) {
            /* the LUN's lock keeps its target (and disk) from being swapped or removed
             * while the command runs */
            pthread_mutex_lock(&c->lun_lock[lun]);
            struct scsi_disk *sd = c->luns[lun];
            present = sd != NULL;
            if (sd)
                scsi_disk_exec(sd, cmd);
            pthread_mutex_unlock(&c->lun_lock[lun]);
            if (!present || !cmd->no_space || !c->space_hook)
                break;
            if (!waited)
                c->space_hook(c->space_ctx, c->index, lun, true);
            waited = true;
            if (!wait_for_retry(c, q))
                break; /* stopping: the write fails with its MEDIUM ERROR */
        }
        if (waited)
            c->space_hook(c->space_ctx, c->index, lun, false);
    }
    if (!present && cdb[0] == 0x12)
        scsi_inquiry_no_lun(cmd);
    else if (!present) {
        fail_srb(r, SRB_STATUS_INVALID_LUN);
        return;
    }
    bool in = srb->data_in == VSTOR_READ_TYPE;
    if (in && cmd->status == SCSI_STATUS_GOOD && cmd->xfer)
        iov_copy(q->iov, niov, q->bounce, cmd->xfer, false);
    finish_srb(r, cmd);
}

void storvsp_execute_srb(struct storvsp *c, struct storvsp_queue *q, struct storvsp_req *r)
{
    const struct guest_mem *gm = vmbus_channel_gmem(q->ch);
    const struct vmscsi_request *srb = &r->p.vm_srb;
    uint8_t cdb[VSTOR_CDB_MAX];
    uint32_t len = srb->data_transfer_length;
    bool out = srb->data_in == VSTOR_WRITE_TYPE && len;
    bool in = srb->data_in == VSTOR_READ_TYPE && len;
    int niov;

    if (srb->cdb_length == 0 || srb->cdb_length > VSTOR_CDB_MAX || len > STORVSP_MAX_TRANSFER ||
        (niov = guest_iov(gm, r, len, q->iov, q->chunks)) < 0) {
        fail_srb(r, SRB_STATUS_INVALID_REQUEST);
        complete(q, r);
        return;
    }
    memset(cdb, 0, sizeof(cdb));
    memcpy(cdb, srb->cdb, srb->cdb_length);
    struct scsi_cmd cmd = { .cdb = cdb, .cdb_len = srb->cdb_length, .buf = q->bounce,
                            .buf_len = len, .data_out = out };
    unsigned lun = srb->lun;
    if (!r->sync && srb->path_id == 0 && srb->target_id == 0 && lun < STORVSP_MAX_LUNS) {
        pthread_mutex_lock(&c->lun_lock[lun]);
        struct scsi_disk *sd = c->luns[lun];
        int k = sd && sd->aio ? scsi_disk_decode_io(sd, &cmd, &r->io) : -1;
        /* a read whose data the guest did not ask for takes the ordinary path */
        if (k == 1 && r->io.op == SCSI_IO_READ && !in)
            k = -1;
        bool started = k == 1 && start_io(sd, q, r, niov, &cmd);
        pthread_mutex_unlock(&c->lun_lock[lun]);
        if (started)
            return;
        if (k >= 0) {
            finish_srb(r, &cmd);
            complete(q, r);
            return;
        }
    }
    atomic_fetch_add(&q->n_sync, 1);
    run_sync(c, q, r, cdb, niov, &cmd);
    complete(q, r);
}

/* Host lock held. 0 = sent (or dropped for good), -EAGAIN = ring full, keep it. */
static int send_completion(struct storvsp_queue *q, struct storvsp_req *r)
{
    int rc = vmbus_channel_send(q->ch, VMBUS_PACKET_COMP, 0, r->trans_id, &r->p, sizeof(r->p));
    if (rc == -EAGAIN)
        return rc;
    if (rc)
        vlog_debug("storvsp%u: completion of request 0x%llx lost (%d)", q->c->index,
                   (unsigned long long)r->trans_id, rc);
    return 0;
}

void storvsp_send_unsent(struct storvsp_queue *q)
{
    while (q->unsent) {
        struct storvsp_req *r = q->unsent;
        if (send_completion(q, r) == -EAGAIN)
            return;
        q->unsent = r->next;
        if (!q->unsent)
            q->unsent_tail = NULL;
        free(r);
    }
}

static void complete(struct storvsp_queue *q, struct storvsp_req *r)
{
    vmbus_channel_lock(q->ch);
    if (r->gen != q->gen || !vmbus_channel_is_open(q->ch)) {
        free(r); /* the channel was closed meanwhile */
        vmbus_channel_unlock(q->ch);
        return;
    }
    /* a drain leaves the ring masked exactly when it ends with this many outstanding
     * (storvsp_keep_masked), and only completions lower the count after it */
    bool masked = q->outstanding >= STORVSP_POLL_DEPTH;
    if (q->outstanding)
        q->outstanding--;
    if (q->unsent || send_completion(q, r) == -EAGAIN) {
        r->next = NULL;
        if (q->unsent_tail)
            q->unsent_tail->next = r;
        else
            q->unsent = r;
        q->unsent_tail = r;
    } else {
        free(r);
    }
    /* the guest may have queued more without a signal while the ring was masked; below
     * the poll depth this unmasks it again */
    if (masked)
        vmbus_channel_poll(q->ch);
    vmbus_channel_unlock(q->ch);
}

static void *worker(void *arg)
{
    struct storvsp_queue *q = arg;
    worker_queue = q;
    pthread_setname_np(pthread_self(), "storvsp");
    for (;;) {
        pthread_mutex_lock(&q->mu);
        bool stop = q->stop;
        struct storvsp_req *r = stop ? NULL : q->head;
        if (r) {
            q->depth--;
            q->head = r->next;
            if (!q->head)
                q->tail = NULL;
        }
        q->idle = !r && !stop;
        pthread_mutex_unlock(&q->mu);
        if (stop)
            return NULL;
        if (r)
            storvsp_execute_srb(q->c, q, r);
        else
            worker_sleep(q, -1);
    }
}

static void free_scratch(struct storvsp_queue *q)
{
    if (q->wake_fd >= 0)
        close(q->wake_fd);
    q->wake_fd = -1;
    free(q->bounce);
    free(q->iov);
    free(q->chunks);
    q->bounce = NULL;
    q->iov = NULL;
    q->chunks = NULL;
}

int storvsp_queue_start(struct storvsp_queue *q)
{
    if (q->started)
        return 0;
    q->bounce = malloc(STORVSP_MAX_TRANSFER);
    q->iov = calloc(STORVSP_MAX_CHUNKS, sizeof(*q->iov));
    q->chunks = calloc(STORVSP_MAX_CHUNKS, sizeof(*q->chunks));
    q->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    q->stop = q->idle = false;
    if (!q->bounce || !q->iov || !q->chunks || q->wake_fd < 0 ||
        pthread_create(&q->thread, NULL, worker, q) != 0) {
        free_scratch(q);
        return -1;
    }
    q->started = true;
    return 0;
}

bool storvsp_queue_push(struct storvsp_queue *q, struct storvsp_req *r)
{
    r->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->depth >= STORVSP_QUEUE_MAX || q->stop) {
        pthread_mutex_unlock(&q->mu);
        return false;
    }
    q->depth++;
    if (q->tail)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    /* the worker itself (draining the ring) takes it on its next turn */
    if (q->idle && worker_queue != q) {
        q->idle = false;
        write_wake(q->wake_fd);
    }
    pthread_mutex_unlock(&q->mu);
    return true;
}

static void free_list(struct storvsp_req *r)
{
    while (r) {
        struct storvsp_req *next = r->next;
        free(r);
        r = next;
    }
}

void storvsp_queue_flush(struct storvsp_queue *q)
{
    pthread_mutex_lock(&q->mu);
    free_list(q->head);
    q->head = q->tail = NULL;
    q->depth = 0;
    pthread_mutex_unlock(&q->mu);
    free_list(q->unsent);
    q->unsent = q->unsent_tail = NULL;
}

void storvsp_queue_wake(struct storvsp_queue *q)
{
    if (q->started)
        write_wake(q->wake_fd);
}

void storvsp_queue_stop(struct storvsp_queue *q)
{
    if (!q->started)
        return;
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_mutex_unlock(&q->mu);
    write_wake(q->wake_fd);
    pthread_join(q->thread, NULL);
    q->started = false;
    free_list(q->head);
    q->head = q->tail = NULL;
    q->depth = 0;
    free_scratch(q);
}

void storvsp_queue_drop_unsent(struct storvsp_queue *q)
{
    if (!q->ch)
        return;
    vmbus_channel_lock(q->ch);
    free_list(q->unsent);
    q->unsent = q->unsent_tail = NULL;
    vmbus_channel_unlock(q->ch);
}
