/* Storage VSP I/O: per-channel worker threads that execute SRBs and complete them
 * (see storvsp_priv.h for the threading rules). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "vsp/storvsp_priv.h"

#define PAGE 4096u

enum xfer_dir { XFER_CHECK, XFER_FROM_GUEST, XFER_TO_GUEST };

/* Walks the request's GPA-direct ranges over `len` bytes: checks that they describe at
 * least `len` bytes of guest RAM (XFER_CHECK) or copies between them and buf. 0 or -1. */
static int xfer_ranges(const struct guest_mem *gm, const struct storvsp_req *r,
                       enum xfer_dir dir, uint8_t *buf, uint32_t len)
{
    if (!r->gpa_direct)
        return len ? -1 : 0;
    uint32_t end = r->ranges_len, pos = 0;
    struct vmbus_gpa_direct_hdr h;
    if (sizeof(h) > end)
        return -1;
    memcpy(&h, r->ranges, sizeof(h));
    pos += sizeof(h);
    uint32_t done = 0;
    for (uint32_t n = 0; n < h.range_count && done < len; n++) {
        struct vmbus_gpa_range_hdr rh;
        if (pos + sizeof(rh) > end)
            return -1;
        memcpy(&rh, r->ranges + pos, sizeof(rh));
        pos += sizeof(rh);
        if (rh.byte_offset >= PAGE || rh.byte_count > STORVSP_MAX_TRANSFER)
            return -1;
        uint32_t npfn = (rh.byte_offset + rh.byte_count + PAGE - 1) / PAGE;
        if (npfn > (end - pos) / 8)
            return -1;
        uint32_t in_range = 0;
        for (uint32_t i = 0; i < npfn && done < len && in_range < rh.byte_count; i++) {
            uint64_t pfn;
            memcpy(&pfn, r->ranges + pos + 8 * i, 8);
            uint32_t off = i ? 0 : rh.byte_offset;
            uint32_t k = PAGE - off;
            if (k > rh.byte_count - in_range)
                k = rh.byte_count - in_range;
            if (k > len - done)
                k = len - done;
            if (pfn > (UINT64_MAX >> 12))
                return -1;
            uint64_t gpa = (pfn << 12) + off;
            int rc;
            if (dir == XFER_CHECK)
                rc = gmem_is_ram(gm, gpa, k) ? 0 : -1;
            else if (dir == XFER_FROM_GUEST)
                rc = gmem_read(gm, gpa, buf + done, k);
            else
                rc = gmem_write(gm, gpa, buf + done, k);
            if (rc)
                return -1;
            done += k;
            in_range += k;
        }
        pos += 8 * npfn;
    }
    return done == len ? 0 : -1;
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

/* A write waiting for host space: sleeps retry_ms (or until storvsp_retry_now, or a new
 * request wakes the queue). false when the queue is stopping. */
static bool wait_for_retry(struct storvsp *c, struct storvsp_queue *q)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += c->retry_ms / 1000;
    until.tv_nsec += (long)(c->retry_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&q->mu);
    if (!q->stop)
        pthread_cond_timedwait(&q->cv, &q->mu, &until);
    bool go_on = !q->stop;
    pthread_mutex_unlock(&q->mu);
    return go_on;
}

void storvsp_execute_srb(struct storvsp *c, struct storvsp_queue *q, struct storvsp_req *r)
{
    const struct guest_mem *gm = vmbus_channel_gmem(q->ch);
    struct vmscsi_request *srb = &r->p.vm_srb;
    uint8_t cdb[VSTOR_CDB_MAX];
    uint32_t len = srb->data_transfer_length;
    bool out = srb->data_in == VSTOR_WRITE_TYPE && len;
    bool in = srb->data_in == VSTOR_READ_TYPE && len;
    uint8_t sense_cap = srb->sense_info_length;

    srb->data_transfer_length = 0;
    srb->scsi_status = SCSI_STATUS_GOOD;
    srb->sense_info_length = 0;
    if (srb->cdb_length == 0 || srb->cdb_length > VSTOR_CDB_MAX || len > STORVSP_MAX_TRANSFER ||
        xfer_ranges(gm, r, XFER_CHECK, NULL, len)) {
        srb->srb_status = SRB_STATUS_INVALID_REQUEST;
        return;
    }
    memset(cdb, 0, sizeof(cdb));
    memcpy(cdb, srb->cdb, srb->cdb_length);
    if (out && xfer_ranges(gm, r, XFER_FROM_GUEST, q->bounce, len)) {
        srb->srb_status = SRB_STATUS_ERROR;
        return;
    }

    struct scsi_cmd cmd = { .cdb = cdb, .cdb_len = srb->cdb_length, .buf = q->bounce,
                            .buf_len = len, .data_out = out };
    unsigned lun = srb->lun;
    bool present = false, waited = false;
    if (cdb[0] == 0xA0) { /* REPORT LUNS: answered by the controller, any LUN */
        report_luns(c, srb, &cmd);
        present = true;
    } else if (srb->path_id == 0 && srb->target_id == 0 && lun < STORVSP_MAX_LUNS) {
        for (;;) {
            /* the LUN's lock keeps its target (and disk) from being swapped or removed
             * while the command runs */
            pthread_mutex_lock(&c->lun_lock[lun]);
            struct scsi_disk *sd = c->luns[lun];
            present = sd != NULL;
            if (sd)
                scsi_disk_exec(sd, &cmd);
            pthread_mutex_unlock(&c->lun_lock[lun]);
            if (!present || !cmd.no_space || !c->space_hook)
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
        scsi_inquiry_no_lun(&cmd);
    else if (!present) {
        srb->srb_status = SRB_STATUS_INVALID_LUN;
        return;
    }

    memset(srb->sense_data, 0, sizeof(srb->sense_data));
    if (cmd.status != SCSI_STATUS_GOOD) {
        uint8_t n = cmd.sense_len < sense_cap ? cmd.sense_len : sense_cap;
        if (n > VSTOR_SENSE_MAX)
            n = VSTOR_SENSE_MAX;
        srb->scsi_status = cmd.status;
        srb->srb_status = SRB_STATUS_ERROR | (n ? SRB_STATUS_AUTOSENSE_VALID : 0);
        memcpy(srb->sense_data, cmd.sense, n);
        srb->sense_info_length = n;
        return;
    }
    if (in && cmd.xfer && xfer_ranges(gm, r, XFER_TO_GUEST, q->bounce, cmd.xfer)) {
        srb->srb_status = SRB_STATUS_ERROR;
        return;
    }
    srb->srb_status = SRB_STATUS_SUCCESS;
    srb->data_transfer_length = cmd.xfer;
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
    } else if (q->unsent || send_completion(q, r) == -EAGAIN) {
        r->next = NULL;
        if (q->unsent_tail)
            q->unsent_tail->next = r;
        else
            q->unsent = r;
        q->unsent_tail = r;
    } else {
        free(r);
    }
    vmbus_channel_unlock(q->ch);
}

static void *worker(void *arg)
{
    struct storvsp_queue *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (!q->head && !q->stop)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->stop) {
            pthread_mutex_unlock(&q->mu);
            return NULL;
        }
        struct storvsp_req *r = q->head;
        q->depth--;
        q->head = r->next;
        if (!q->head)
            q->tail = NULL;
        pthread_mutex_unlock(&q->mu);
        storvsp_execute_srb(q->c, q, r);
        complete(q, r);
    }
}

int storvsp_queue_start(struct storvsp_queue *q)
{
    if (q->started)
        return 0;
    q->bounce = malloc(STORVSP_MAX_TRANSFER);
    if (!q->bounce)
        return -1;
    q->stop = false;
    if (pthread_create(&q->thread, NULL, worker, q) != 0) {
        free(q->bounce);
        q->bounce = NULL;
        return -1;
    }
    q->started = true;
    return 0;
}

bool storvsp_queue_push(struct storvsp_queue *q, struct storvsp_req *r)
{
    r->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->depth >= STORVSP_QUEUE_MAX) {
        pthread_mutex_unlock(&q->mu);
        return false;
    }
    q->depth++;
    if (q->tail)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    pthread_cond_signal(&q->cv);
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

void storvsp_queue_stop(struct storvsp_queue *q)
{
    if (!q->started)
        return;
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    q->started = false;
    free_list(q->head);
    q->head = q->tail = NULL;
    q->depth = 0;
    free_list(q->unsent);
    q->unsent = q->unsent_tail = NULL;
    free(q->bounce);
    q->bounce = NULL;
}
