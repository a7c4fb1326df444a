/* The device (VSP) side of the VMBus host. A VSP is one file that defines a
 * `struct vmbus_device_desc` and adds it to the table in src/vmbus/devices.c.
 *
 * Life of a channel: the host offers every registered device when the guest asks
 * (REQUESTOFFERS). When the guest opens the channel the host validates the ring GPADL
 * and calls desc->open(); from then on guest signals reach the device: either
 * desc->on_packet() once per packet (the host drains the guest->host ring, with the
 * interrupt mask / re-check protocol), or, if set instead, desc->on_signal() and the
 * device reads with vmbus_channel_recv(). desc->close() is called when the guest closes
 * the channel, tears down its ring GPADL, unloads VMBus, the channel is rescinded, or a
 * corrupt ring closes it.
 *
 * Threading: all callbacks run with the VMBus host's (recursive) lock held, on the vCPU
 * thread that made the hypercall; they must not block. Every vmbus_channel_* function
 * takes the same lock, so a device may also call them from its own thread (e.g. to
 * complete I/O). */
#ifndef VIRIDIAN_VMBUS_DEVICE_H
#define VIRIDIAN_VMBUS_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/guest_mem.h"
#include "vmbus/gpadl.h"
#include "vmbus/vmbus_proto.h"

struct vmbus_channel;

/* One packet read from the guest->host ring; pointers valid during the callback only. */
struct vmbus_packet {
    uint16_t type;     /* enum vmbus_packet_type */
    uint16_t flags;    /* VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED */
    uint64_t trans_id;
    const uint8_t *raw; /* whole packet from the descriptor on (for GPA-direct ranges) */
    uint32_t raw_len;
    const uint8_t *data; /* payload at offset8 * 8 */
    uint32_t data_len;
};

struct vmbus_device_desc {
    const char *name;
    struct vmbus_guid if_type;     /* class GUID, selects the guest driver */
    struct vmbus_guid if_instance; /* unique per device */
    uint16_t chn_flags;            /* offer flags, e.g. VMBUS_CHANNEL_NAMED_PIPE_MODE */
    uint16_t mmio_megabytes;       /* offer mmio_megabytes (hyperv_fb: VRAM size) */
    const uint8_t *offer_user_def; /* 120 bytes of offer user data, or NULL */
    uint16_t max_subchannels;      /* sub-channel slots (vmbus_channel_offer_subchannels) */
    uint32_t max_pkt_size;         /* largest guest->host packet accepted; 0 = 16384 */
    /* Host->guest ring space one guest packet's replies may take (its completion and
     * any answer). When set, the host reads the next guest packet only while that much
     * is free, and otherwise waits for the guest to make room: a reply is never dropped
     * for lack of space. 0: no such guarantee (the device copes with -EAGAIN). */
    uint32_t reply_reserve;
    void *ctx;                     /* device context, vmbus_channel_device_ctx() */

    /* Guest opened the channel; userdata = OPENCHANNEL's 120 bytes. 0 = accept. */
    int (*open)(struct vmbus_channel *ch, const uint8_t *userdata);
    void (*close)(struct vmbus_channel *ch);
    void (*on_packet)(struct vmbus_channel *ch, const struct vmbus_packet *pkt);
    void (*on_signal)(struct vmbus_channel *ch);
    /* Optional: a send that returned -EAGAIN can now be retried. */
    void (*on_writable)(struct vmbus_channel *ch);
    /* Optional (on_packet devices): true while the device will drain the ring again by
     * itself - it has enough requests in flight and calls vmbus_channel_poll() as each
     * completes. The guest->host ring then stays masked after a drain, so the guest
     * queues further requests without signalling (each signal costs it an exit). */
    bool (*keep_masked)(struct vmbus_channel *ch);
    /* Optional: an eventfd the device's own thread polls (or -1). While the channel is
     * open the host routes its doorbell there (vmbus_channel_route_doorbell), and the
     * device serves the ring with vmbus_channel_poll() when it fires. Asked right after
     * open() accepted the channel. */
    int (*doorbell_fd)(struct vmbus_channel *ch);
};

/* Sends one packet to the guest (host->guest ring): descriptor {type, offset8 = 2,
 * len8, flags, trans_id} + data + padding + trailer; signals the guest per the ring
 * rules. 0; -EAGAIN when the ring is full (pending_send_sz is set and on_writable will be
 * called when the guest has made room); -EMSGSIZE if the packet can never fit the ring;
 * -EPIPE when the channel is not open; -EINVAL for bad arguments. */
int vmbus_channel_send(struct vmbus_channel *ch, uint16_t type, uint16_t flags,
                       uint64_t trans_id, const void *data, uint32_t len);
/* Same with a type-specific header between descriptor and payload (e.g. a transfer-page
 * header); hdr_len must be a multiple of 8, offset8 = (16 + hdr_len) / 8. */
int vmbus_channel_send_ext(struct vmbus_channel *ch, uint16_t type, uint16_t flags,
                           uint64_t trans_id, const void *hdr, uint32_t hdr_len,
                           const void *data, uint32_t len);
/* For on_signal devices: reads and consumes the next packet into buf. 1 = got one,
 * 0 = ring empty, -1 = ring corrupt (the channel has been closed) or packet too big. */
int vmbus_channel_recv(struct vmbus_channel *ch, void *buf, uint32_t cap,
                       struct vmbus_packet *pkt);
/* Signal the guest for this channel regardless of ring state. */
void vmbus_channel_signal(struct vmbus_channel *ch);
/* Serves the guest->host ring now, as a guest signal would (see keep_masked). */
void vmbus_channel_poll(struct vmbus_channel *ch);

/* What the host does for desc->doorbell_fd: while doorbells run (vmbus.h), a signal on
 * this channel becomes a write to FD (an eventfd the device owns and keeps open while
 * the channel is open) instead of waking the VMBus doorbell thread, which saves a
 * hand-over between threads on every signal. FD -1 routes it back. 0; -ENODEV without
 * doorbells (signals then reach the callbacks on the vCPU thread, as always); or the
 * kernel's error (the previous route stays). */
int vmbus_channel_route_doorbell(struct vmbus_channel *ch, int fd);

/* Hold the host lock (recursive) to make a sequence atomic with the device callbacks, e.g.
 * from a timer thread. Channel structs live as long as the host, open or not. */
void vmbus_channel_lock(struct vmbus_channel *ch);
void vmbus_channel_unlock(struct vmbus_channel *ch);
bool vmbus_channel_is_open(struct vmbus_channel *ch);

/* Offers up to n more sub-channels of a primary channel (same GUIDs, sub_channel_index
 * 1..max_subchannels), e.g. when storvsc/netvsc ask for them. They get the same callbacks
 * as the primary. Returns how many were offered, -1 if the primary is not offered to a
 * connected guest. Sub-channels are withdrawn by UNLOAD/reconnect and rescinded with
 * their primary. */
int vmbus_channel_offer_subchannels(struct vmbus_channel *primary, unsigned n);
uint16_t vmbus_channel_subchannel_index(const struct vmbus_channel *ch);
struct vmbus_channel *vmbus_channel_primary(struct vmbus_channel *ch);

void *vmbus_channel_device_ctx(const struct vmbus_channel *ch);
void vmbus_channel_set_priv(struct vmbus_channel *ch, void *priv);
void *vmbus_channel_priv(const struct vmbus_channel *ch);
uint32_t vmbus_channel_relid(const struct vmbus_channel *ch);
uint32_t vmbus_channel_target_vp(const struct vmbus_channel *ch);
const struct guest_mem *vmbus_channel_gmem(const struct vmbus_channel *ch);
/* A complete, valid GPADL the guest created for this channel, or NULL. Valid until the
 * callback returns (the guest may tear it down later). */
const struct vmbus_gpadl *vmbus_channel_gpadl(struct vmbus_channel *ch, uint32_t gpadl_id);

#endif
