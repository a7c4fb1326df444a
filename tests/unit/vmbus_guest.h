/* The guest side of VMBus for the unit tests and fuzz-free scenarios: posts channel
 * messages through hv_hypercall, reads answers from the SIMP slot, and writes/reads
 * ring packets the way Linux does. */
#ifndef VIRIDIAN_TEST_VMBUS_GUEST_H
#define VIRIDIAN_TEST_VMBUS_GUEST_H

#include "hv_fake.h"
#include "vmbus/vmbus.h"

struct guest_ring {
    uint8_t *hdr;   /* header page */
    uint8_t *data;  /* data pages (contiguous in fake RAM) */
    uint32_t size;  /* data bytes */
};

struct tguest {
    struct fake_vm vm;
    struct vmbus_host *host;
    uint32_t conn_id; /* where messages go */
};

void tg_init(struct tguest *g, uint32_t nr_vcpus, const struct vmbus_device_desc *const *devs,
             unsigned ndevs);
void tg_free(struct tguest *g);
uint64_t tg_post(struct tguest *g, const void *msg, uint32_t len);
/* Next message from the host on VP 0 (type in the first u32 of buf), 0 if none. */
uint32_t tg_recv(struct tguest *g, void *buf, uint32_t *len);
/* INITIATE_CONTACT for `version`; returns version_supported. */
int tg_connect(struct tguest *g, uint32_t version);
/* GPADL over `npages` consecutive fake pages from `first_page`, split header + bodies.
 * Returns creation_status, or -1 if no GPADL_CREATED came. */
int64_t tg_gpadl(struct tguest *g, uint32_t relid, uint32_t id, uint32_t first_page,
                 uint32_t npages);
/* OPENCHANNEL; returns the result status or -1 if no result came. */
int64_t tg_open(struct tguest *g, uint32_t relid, uint32_t gpadl, uint32_t downstream,
                uint32_t target_vp);
void tg_ring(struct tguest *g, struct guest_ring *r, uint32_t first_page, uint32_t npages);
/* Guest writes an inband packet into its outbound ring; returns 1 if Linux would signal,
 * 0 if not, -1 if full. */
int tg_ring_write(struct guest_ring *r, uint16_t type, uint64_t trans_id, const void *data,
                  uint32_t len);
/* The same with a type-specific header (HDR_LEN a multiple of 8) before the payload,
 * e.g. GPA-direct ranges: offset8 = (16 + hdr_len) / 8. */
int tg_ring_write_ext(struct guest_ring *r, uint16_t type, uint64_t trans_id, const void *hdr,
                      uint32_t hdr_len, const void *data, uint32_t len);
/* Reads one whole packet (descriptor on) into buf: its length, or -1 if empty. */
int tg_ring_read_raw(struct guest_ring *r, void *buf, uint32_t cap);
/* Guest reads one packet from its inbound ring: payload length, or -1 if empty. */
int tg_ring_read(struct guest_ring *r, uint16_t *type, uint64_t *trans_id, void *buf,
                 uint32_t cap);
uint32_t *tg_ring_field(struct guest_ring *r, unsigned off);
/* HvSignalEvent for connection id. */
uint64_t tg_signal(struct tguest *g, uint32_t conn);

#endif
