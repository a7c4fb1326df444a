/* Inside the storage VSP: the controller, its per-channel queues and SRB requests.
 *
 * Threading: every channel (primary and sub-channels) has a queue served by its own
 * worker thread. The channel callback (vCPU thread, VMBus host lock held) answers the
 * init sequence itself and queues each EXECUTE_SRB as a request holding copies of the
 * vstor packet and the page-range list; the worker moves the data, runs the SCSI command
 * (disk I/O under the LUN's mutex) and sends COMPLETE_IO under the host lock. Lock order:
 * host lock before queue mutex; a worker never holds its queue mutex while taking the host
 * lock. A close bumps the queue's generation: requests of an older generation are
 * dropped, never completed into a channel that has been closed (or reopened). */
#ifndef VIRIDIAN_VSP_STORVSP_PRIV_H
#define VIRIDIAN_VSP_STORVSP_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vsp/scsi_disk.h"
#include "vsp/storvsp.h"
#include "vsp/storvsp_proto.h"

enum storvsp_chan_state { CH_NEW = 0, CH_INIT_BEGUN, CH_VERSION_OK, CH_READY };

struct storvsp_req {
    struct storvsp_req *next;
    uint64_t gen;
    uint64_t trans_id;
    struct vstor_packet p;   /* the request, turned into the completion */
    bool gpa_direct;
    uint32_t ranges_len;     /* bytes of range list (after the descriptor) */
    uint8_t ranges[];
};

struct storvsp_queue {
    struct storvsp *c;
    struct vmbus_channel *ch;        /* set at open */
    /* under the host lock */
    enum storvsp_chan_state state;
    uint16_t version;
    uint64_t gen;
    struct storvsp_req *unsent, *unsent_tail; /* completions waiting for ring space */
    /* under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct storvsp_req *head, *tail;
    uint32_t depth;                  /* requests queued, not yet started */
    bool stop;
    /* worker */
    pthread_t thread;
    bool started;
    uint8_t *bounce;                 /* STORVSP_MAX_TRANSFER bytes */
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
};

/* storvsp_io.c */
/* A guest that never waits could otherwise make the queue grow without end; Linux keeps
 * at most can_queue (about 352 per channel with 128 KiB rings) in flight. */
#define STORVSP_QUEUE_MAX 4096u

int storvsp_queue_start(struct storvsp_queue *q);
/* false when the queue is full (the caller fails the SRB). */
bool storvsp_queue_push(struct storvsp_queue *q, struct storvsp_req *r);
/* Drops requests not yet started (host lock held). */
void storvsp_queue_flush(struct storvsp_queue *q);
void storvsp_queue_stop(struct storvsp_queue *q);
/* Sends completions that found the ring full (host lock held). */
void storvsp_send_unsent(struct storvsp_queue *q);
/* Runs one SRB synchronously: data in/out through the request's page ranges. */
void storvsp_execute_srb(struct storvsp *c, struct storvsp_queue *q, struct storvsp_req *r);

#endif
