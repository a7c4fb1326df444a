/* A fake Linux netvsc for netvsp tests (unit tests and tests/tools/netvsp_tap_loop):
 * a fake partition with a netvsp on relid 1, channel opened, and the probe steps as
 * Linux 6.1 does them (NVSP INIT, NDIS config/version, receive and send buffers, RNDIS
 * INIT over GPA-direct), then helpers to send NVSP/RNDIS and read the host's packets. */
#ifndef VIRIDIAN_TEST_NETVSP_GUEST_H
#define VIRIDIAN_TEST_NETVSP_GUEST_H

#include "vmbus_guest.h"
#include "vsp/netvsp.h"

#define RELID 1u
#define RING_PAGE 200u  /* 8 pages out + 8 pages in */
#define RECV_PAGE 300u  /* 32 pages: 75 sub-allocations of 1728 */
#define SEND_PAGE 400u  /* 8 pages: 5 sections of 6144 */
#define CTRL_PAGE 500u  /* where the guest builds GPA-direct RNDIS messages */
#define G_RING 0xE1E10u
#define G_RECV 0xE1E11u
#define G_SEND 0xE1E12u

static const uint8_t MAC[6] = { 0x00, 0x15, 0x5d, 0x12, 0x34, 0x56 };

struct ng {
    struct tguest g;
    struct netvsp n;
    struct guest_ring out, in;
    uint64_t tid;
    uint8_t sent[2048]; /* the last frame the VSP passed to its backend */
    uint32_t sent_len, sent_count;
};

/* Backend that records the last frame in f->sent (ctx = struct ng *). */
int ng_capture(void *ctx, const void *frame, uint32_t len);
void ng_signal(struct ng *f);
uint64_t send_nvsp(struct ng *f, uint32_t type, uint32_t a, uint32_t b, uint32_t c);
int next_pkt(struct ng *f, uint8_t *raw, uint32_t cap, uint64_t *tid, const uint8_t **payload);
const uint8_t *expect_comp(struct ng *f, uint8_t *raw, uint64_t tid, uint32_t type);
const uint8_t *expect_rndis(struct ng *f, uint32_t channel_type, uint32_t *len);
uint64_t send_rndis_gpa(struct ng *f, const void *msg, uint32_t len);
uint64_t send_rndis_section(struct ng *f, uint32_t sec, const void *msg, uint32_t len,
                            uint32_t channel_type);
/* netvsp with ng_capture as backend (port may be NULL), channel open, buffers offered. */
void ng_setup(struct ng *f, const struct netvsp_port *port);
/* ... offering QUEUES receive queues, the fake partition with as many vCPUs. */
void ng_setup_queues(struct ng *f, const struct netvsp_port *port, unsigned queues);
void ng_free(struct ng *f);
void ng_probe(struct ng *f);
uint32_t oid(struct ng *f, uint32_t type, uint32_t req, uint32_t oidv, const void *info,
             uint32_t ilen, uint8_t *reply);

#endif
