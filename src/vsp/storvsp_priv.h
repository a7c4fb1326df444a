/* Inside the storage VSP: the controller, its per-channel queues and SRB requests.
 *
 * Threading: every channel (primary and sub-channels) has a queue served by its own
 * worker thread, which sleeps on one eventfd. The channel's doorbell is routed to that
 * eventfd (desc.doorbell_fd), so a guest signal wakes the worker itself,
 * which drains the ring (vmbus_channel_poll) and runs what it queued: one thread wakes
 * per signal. The channel callback (the worker, or a vCPU thread when the signal came by
 * hypercall; VMBus host lock held) answers the init sequence itself and queues each
 * EXECUTE_SRB as a request holding copies of the vstor packet and the GPA-direct
 * descriptor with its page ranges. The worker maps the guest pages; a READ/WRITE/
 * SYNCHRONIZE CACHE on a disk with an engine (scsi_aio.h) is submitted on the guest's
 * pages themselves and completed when the I/O ends (on the worker itself for a write,
 * which it makes into the page cache, and for a read the page cache had; otherwise from
 * the engine's reaper thread), so a channel has as
 * many in flight as the guest sends (completions in any order: storvsc matches them by
 * request id). Everything else runs synchronously on the worker through a bounce buffer
 * (disk I/O under the LUN's mutex). COMPLETE_IO is sent under the host lock.
 *
 * Lock order: LUN mutex, host lock, queue mutex. A worker holds its LUN's mutex (which
 * keeps the target and its engine alive) while it submits or runs a command, and
 * completes what the submission finished at once before letting go of it; nothing that
 * holds the host lock takes a LUN mutex. The reaper takes no LUN mutex, so a worker may
 * wait for it. Poll mode (STORVSP_POLL_DEPTH): complete() drains the ring with
 * vmbus_channel_poll, so the channel callback also runs on the reaper thread. A close
 * bumps the queue's generation: requests of an older generation are dropped, never
 * completed into a channel that has been closed (or reopened). */
#ifndef VIRIDIAN_VSP_STORVSP_PRIV_H
#define VIRIDIAN_VSP_STORVSP_PRIV_H

#include <pthread.h>
#include <sys/uio.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmbus/gpa_direct.h"
#include "vsp/scsi_aio.h"
#include "vsp/scsi_disk.h"
#include "vsp/storvsp.h"
#include "vsp/storvsp_proto.h"

enum storvsp_chan_state { CH_NEW = 0, CH_INIT_BEGUN, CH_VERSION_OK, CH_READY };

struct storvsp_queue;

struct storvsp_req {
    struct storvsp_req *next;
    struct storvsp_queue *q;
    uint64_t gen;
    uint64_t trans_id;
    struct vstor_packet p;   /* the request; its SRB is rewritten only at completion */
    /* asynchronous I/O in flight */
    struct scsi_io io;
    struct scsi_aio *aio;
    bool flushing;           /* the FUA flush after the write is running */
    bool sync;               /* run synchronously (a write that found the host disk full) */
    bool gpa_direct;
    uint32_t ranges_len;     /* bytes of descriptor and range list (raw packet head) */
    uint8_t ranges[];
};

struct storvsp_queue {
    struct storvsp *c;
    struct vmbus_channel *ch;        /* set at open */
    /* under the host lock */
    enum storvsp_chan_state state;
    uint16_t version;
    uint64_t gen;
    unsigned outstanding;            /* SRBs taken from the ring, not yet completed */
    struct storvsp_req *unsent, *unsent_tail; /* completions waiting for ring space */
    /* under mu */
    pthread_mutex_t mu;
    struct storvsp_req *head, *tail;
    uint32_t depth;                  /* requests queued, not yet started */
    bool stop;
    bool idle;                       /* the worker waits on wake_fd: a push writes it */
    /* worker */
    pthread_t thread;
    bool started;
    int wake_fd;                     /* eventfd: pushes, stop, retry, and the doorbell */
    /* counters (atomic: the worker and the engines' reapers) */
    _Atomic unsigned inflight, max_inflight;
    _Atomic uint64_t n_async, n_sync;
    uint8_t *bounce;                 /* STORVSP_MAX_TRANSFER bytes */
    struct iovec *iov;               /* STORVSP_MAX_CHUNKS each: the guest pages of */
    struct vmbus_gpa_chunk *chunks;  /*   the SRB being started */
};

struct storvsp {
    unsigned index;
    unsigned max_subchannels;
    struct vmbus_device_desc desc;
    struct scsi_disk *luns[STORVSP_MAX_LUNS];
    pthread_mutex_t lun_lock[STORVSP_MAX_LUNS];
    struct storvsp_queue *queues;    /* 1 + max_subchannels */
    storvsp_space_hook space_hook;   /* disk full: see storvsp_set_space_hook() */
    void *space_ctx;
    unsigned retry_ms;
    bool stopped;                    /* storvsp_stop() has run */
};

/* storvsp_io.c */
/* A guest that never waits could otherwise make the queue grow without end; Linux keeps
 * at most can_queue (about 352 per channel with 128 KiB rings) in flight. */
#define STORVSP_QUEUE_MAX 4096u
/* Page pieces of one SRB's data: a ring packet of STORVSP_RING_PKT_MAX bytes names fewer
 * PFNs than this. */
#define STORVSP_MAX_CHUNKS 1024u
#define STORVSP_RING_PKT_MAX 8192u /* GPA-direct SRB of 1 MiB: 257 PFNs, about 2.2 KiB */
/* io_uring entries per disk: about what Linux keeps in flight on two channels */
#define STORVSP_AIO_DEPTH 256u

int storvsp_queue_start(struct storvsp_queue *q);
/* false when the queue is full (the caller fails the SRB). */
bool storvsp_queue_push(struct storvsp_queue *q, struct storvsp_req *r);
/* Drops requests not yet started (host lock held). */
void storvsp_queue_flush(struct storvsp_queue *q);
void storvsp_queue_stop(struct storvsp_queue *q);
/* Frees the completions that never found ring space (host lock taken): after the
 * engines stopped, since their completions may still add to them. */
void storvsp_queue_drop_unsent(struct storvsp_queue *q);
/* Wakes the worker (a write waiting for host space tries again). */
void storvsp_queue_wake(struct storvsp_queue *q);
/* Sends completions that found the ring full (host lock held). */
void storvsp_send_unsent(struct storvsp_queue *q);
/* Starts one SRB: submitted to the disk's engine (completed later from its reaper) or
 * run at once; either way the completion is sent (or dropped with its channel). */
void storvsp_execute_srb(struct storvsp *c, struct storvsp_queue *q, struct storvsp_req *r);

#endif
