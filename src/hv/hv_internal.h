/* Partition state shared by the hv_*.c files. Plain values and guest addresses only, so
 * that save/restore can serialise it later. */
#ifndef VIRIDIAN_HV_INTERNAL_H
#define VIRIDIAN_HV_INTERNAL_H

#include <pthread.h>

#include "hv/hv.h"

struct hv_queued_msg {
    struct hv_queued_msg *next;
    uint32_t type;
    uint32_t size;
    uint8_t payload[HV_MESSAGE_PAYLOAD_MAX];
};

struct hv_msg_queue {
    struct hv_queued_msg *head, *tail;
    uint32_t count;
};

struct hv_vp {
    uint64_t vp_assist;
    uint64_t scontrol;
    uint64_t siefp;
    uint64_t simp;
    uint64_t sint[HV_SINT_COUNT];
    struct hv_msg_queue queue[HV_SINT_COUNT];
};

struct hv_partition {
    pthread_mutex_t lock;
    struct hv_config cfg;
    struct hv_platform_ops ops;
    const struct guest_mem *gmem;
    struct hv_guest_handlers handlers;
    void *handlers_ctx;
    uint64_t start_ns;          /* CLOCK_MONOTONIC at creation, for the default clock */
    uint64_t guest_os_id;
    uint64_t hypercall_msr;
    uint64_t crash_p[5];
    uint64_t tsc_invariant_control;
    struct hv_vp *vps;
};

/* With the lock held: try to move queued messages of (vp, sint) into its SIMP slot. */
void hv_synic_deliver_locked(struct hv_partition *hv, uint32_t vp_index, uint32_t sint);
/* With the lock held: deliver whatever became deliverable on VP after an MSR change. */
void hv_synic_kick_locked(struct hv_partition *hv, uint32_t vp_index);
uint64_t hv_ref_time(struct hv_partition *hv);

#endif
