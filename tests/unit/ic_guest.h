/* A fake Linux 6.1 hv_utils (+ hv_kvp_daemon) for the IC tests: opens the IC channels
 * over the VMBus test guest and answers the host's IC messages the way
 * drivers/hv/hv_util.c, hv_kvp.c, channel_mgmt.c (vmbus_prep_negotiate_resp) and
 * tools/hv/hv_kvp_daemon.c do: same buffer echoed with the host's trans_id, flags
 * TRANSACTION|RESPONSE, Linux's version preference lists, its size checks and statuses. */
#ifndef VIRIDIAN_TEST_IC_GUEST_H
#define VIRIDIAN_TEST_IC_GUEST_H

#include <stdbool.h>

#include "vmbus_guest.h"
#include "vsp/ic.h"
#include "vsp/ic_proto.h"

#define ICG_POOL_MAX 16

struct icg_chan {
    uint32_t relid;
    const struct vmbus_device_desc *desc;
    struct guest_ring out, in; /* guest->host, host->guest */
    bool open;
    uint32_t fw, msgv;         /* what the guest negotiated (0 = not yet) */
    unsigned answered;
};

struct icg_kv {
    char key[512];
    char value[2048];
};

struct icg {
    struct tguest g;
    struct icg_chan ch[IC_KIND_COUNT]; /* by enum ic_kind */
    /* behaviour */
    bool kvp_daemon;      /* hv_kvp_daemon registered: KVP packets are read at all */
    bool mute;            /* read nothing (a hung guest) */
    bool hibernation;     /* ACPI S4 present */
    /* what the guest saw */
    int poweroffs, reboots, hibernates;
    int syncs, samples;
    uint64_t last_parenttime, last_vmref;
    uint32_t last_ts_len;
    uint64_t last_hb_seq;
    struct icg_kv pool[5][ICG_POOL_MAX];
    int npool[5];
    char mac[32];         /* upper-case as the daemon compares */
    char ip[256];
};

/* Connects VMBus with the given device table, takes the offers and creates the ring
 * GPADL of every IC channel; the host is in f->g.host. icg_open_all() then opens them
 * (hv_utils probe). */
void icg_init(struct icg *f, const struct vmbus_device_desc *const *devs, unsigned ndevs);
void icg_open_all(struct icg *f);
void icg_free(struct icg *f);
/* Reads and answers everything the host has queued on every IC channel; returns the
 * number of packets answered. */
int icg_run(struct icg *f);
/* Closes / reopens one channel like the guest driver (unbind/bind). */
void icg_close(struct icg *f, enum ic_kind k);
void icg_open(struct icg *f, enum ic_kind k);
/* Raw guest->host packet on an IC channel (for malformed-message tests). */
void icg_send_raw(struct icg *f, enum ic_kind k, uint16_t type, uint64_t tid, const void *d,
                  uint32_t len);
/* Reads the next host->guest packet of channel k without answering: length or -1. */
int icg_peek_read(struct icg *f, enum ic_kind k, uint64_t *tid, uint8_t *buf, uint32_t cap);
/* Answers a packet previously read with icg_peek_read (as Linux would). */
void icg_answer(struct icg *f, enum ic_kind k, uint64_t tid, uint8_t *buf, uint32_t len);

#endif
