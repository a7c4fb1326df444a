/* VMBus host state shared by vmbus_host.c (control messages) and channel.c (rings). */
#ifndef VIRIDIAN_VMBUS_INTERNAL_H
#define VIRIDIAN_VMBUS_INTERNAL_H

#include <pthread.h>

#include "vmbus/gpadl.h"
#include "vmbus/ring.h"
#include "vmbus/vmbus.h"

enum vmbus_chan_state {
    VMBUS_CH_CLOSED,    /* offered (or to be offered), not open */
    VMBUS_CH_OPEN,
    VMBUS_CH_BROKEN,    /* was open, ring corrupt: closed host side until CLOSECHANNEL */
    VMBUS_CH_RESCINDED, /* rescind sent, waiting for RELID_RELEASED */
    VMBUS_CH_GONE,      /* removed for good */
    VMBUS_CH_UNOFFERED, /* a sub-channel slot the device has not offered (yet) */
};

struct vmbus_channel {
    struct vmbus_host *host;
    const struct vmbus_device_desc *desc;
    struct vmbus_channel *primary; /* NULL for a primary channel */
    uint16_t subidx;               /* 0 primary, 1..max_subchannels */
    void *priv;
    uint32_t relid;
    uint32_t conn_id;
    enum vmbus_chan_state state;
    /* valid while OPEN (guest values, kept for save/restore) */
    uint32_t ring_gpadl;
    uint32_t openid;
    uint32_t target_vp;
    uint32_t downstream_offset;
    struct vmbus_ring in;  /* guest->host */
    struct vmbus_ring out; /* host->guest */
    bool out_blocked;      /* a send failed for lack of room; pending_send_sz set */
    bool in_held;          /* guest packets left unread until desc->reply_reserve is free */
    uint8_t *rxbuf;
    uint32_t rxcap;
};

enum vmbus_conn_state { VMBUS_DISCONNECTED, VMBUS_CONNECTED };

struct vmbus_host {
    pthread_mutex_t lock; /* recursive: device callbacks may call vmbus_channel_* */
    struct hv_partition *hv;
    const struct guest_mem *gm;
    enum vmbus_conn_state conn;
    uint32_t version;
    uint32_t target_vcpu;
    uint64_t interrupt_page;
    uint64_t monitor_page1, monitor_page2;
    bool offers_sent;
    struct vmbus_channel *chans;
    unsigned nchans;
    struct vmbus_gpadl *gpadls[VMBUS_GPADL_MAX_COUNT];
    unsigned ngpadls;
    uint64_t gpadl_pages;
    struct vmbus_doorbells *doorbells; /* doorbell.c; NULL: signals come by hypercall */
};

/* The guest signalled CH (by hypercall or doorbell): serves it under the host lock;
 * HV_STATUS_INVALID_CONNECTION_ID for a channel that is gone or not offered. */
uint16_t vmbus_serve_signal(struct vmbus_host *host, struct vmbus_channel *ch);

/* channel.c, lock held */
int vmbus_channel_open_locked(struct vmbus_channel *ch, const struct vmbus_gpadl *ring,
                              uint32_t downstream, uint32_t target_vp, const uint8_t *userdata);
void vmbus_channel_close_locked(struct vmbus_channel *ch);
void vmbus_channel_process_locked(struct vmbus_channel *ch);
struct vmbus_gpadl *vmbus_find_gpadl_locked(struct vmbus_host *host, uint32_t id);

#endif
