/* SynIC host side: message slots in the SIMP page with a per VP+SINT FIFO, event flags in
 * the SIEFP page, and SINT interrupt injection (reference §3.2-§3.4, §8.5). The SIMP and
 * SIEFP pages are ordinary guest RAM the guest reads concurrently, so the slot header and
 * flag bytes are accessed with atomics: message_type is written last (release), and the
 * pending flag is set atomically and then the slot re-checked. */
#include "hv/hv_internal.h"

#include <stdlib.h>
#include <string.h>

struct hv_message_slot {
    uint32_t message_type;
    uint8_t payload_size;
    uint8_t message_flags;
    uint16_t reserved;
    uint64_t sender;
    uint8_t payload[HV_MESSAGE_PAYLOAD_MAX];
};
_Static_assert(sizeof(struct hv_message_slot) == HV_MESSAGE_SIZE, "hv_message is 256 bytes");

static bool sint_unmasked(const struct hv_vp *vp, uint32_t sint)
{
    return (vp->scontrol & 1) && !(vp->sint[sint] & HV_SINT_MASKED);
}

static void raise_sint(struct hv_partition *hv, uint32_t vp_index, uint32_t sint)
{
    uint64_t v = hv->vps[vp_index].sint[sint];
    if (v & HV_SINT_POLLING)
        return;
    if (hv->ops.inject)
        hv->ops.inject(hv->ops.ctx, vp_index, (uint8_t)(v & HV_SINT_VECTOR_MASK));
}

static struct hv_message_slot *message_slot(struct hv_partition *hv, const struct hv_vp *vp,
                                            uint32_t sint)
{
    if (!(vp->simp & HV_PAGE_ENABLE))
        return NULL;
    return gmem_ptr(hv->gmem, (vp->simp & HV_PAGE_GPA_MASK) + sint * HV_MESSAGE_SIZE,
                    HV_MESSAGE_SIZE);
}

void hv_synic_deliver_locked(struct hv_partition *hv, uint32_t vp_index, uint32_t sint)
{
    struct hv_vp *vp = &hv->vps[vp_index];
    struct hv_msg_queue *q = &vp->queue[sint];
    while (q->head) {
        if (!sint_unmasked(vp, sint))
            return;
        struct hv_message_slot *slot = message_slot(hv, vp, sint);
        if (!slot)
            return;
        if (__atomic_load_n(&slot->message_type, __ATOMIC_ACQUIRE) != HVMSG_NONE) {
            /* Occupied: ask for an EOM, then look again in case the guest emptied the
             * slot before it could see the flag (it would not EOM then). */
            __atomic_fetch_or(&slot->message_flags, HV_MESSAGE_FLAG_PENDING, __ATOMIC_SEQ_CST);
            if (__atomic_load_n(&slot->message_type, __ATOMIC_SEQ_CST) != HVMSG_NONE)
                return;
            continue;
        }
        struct hv_queued_msg *m = q->head;
        memcpy(slot->payload, m->payload, m->size);
        if (m->size < HV_MESSAGE_PAYLOAD_MAX)
            memset(slot->payload + m->size, 0, HV_MESSAGE_PAYLOAD_MAX - m->size);
        slot->payload_size = (uint8_t)m->size;
        slot->reserved = 0;
        slot->sender = 0;
        __atomic_store_n(&slot->message_flags, m->next ? HV_MESSAGE_FLAG_PENDING : 0,
                         __ATOMIC_RELAXED);
        __atomic_store_n(&slot->message_type, m->type, __ATOMIC_RELEASE);
        q->head = m->next;
        if (!q->head)
            q->tail = NULL;
        q->count--;
        free(m);
        raise_sint(hv, vp_index, sint);
    }
}

void hv_synic_kick_locked(struct hv_partition *hv, uint32_t vp_index)
{
    for (uint32_t s = 0; s < HV_SINT_COUNT; s++)
        if (hv->vps[vp_index].queue[s].head)
            hv_synic_deliver_locked(hv, vp_index, s);
}

int hv_synic_post_message(struct hv_partition *hv, uint32_t vp_index, uint32_t sint,
                          uint32_t message_type, const void *payload, uint32_t size)
{
    if (vp_index >= hv->cfg.nr_vcpus || sint >= HV_SINT_COUNT || message_type == HVMSG_NONE ||
        size > HV_MESSAGE_PAYLOAD_MAX || (size && !payload))
        return -1;
    struct hv_queued_msg *m = malloc(sizeof(*m));
    if (!m)
        return -1;
    m->next = NULL;
    m->type = message_type;
    m->size = size;
    if (size)
        memcpy(m->payload, payload, size);
    pthread_mutex_lock(&hv->lock);
    struct hv_msg_queue *q = &hv->vps[vp_index].queue[sint];
    if (q->count >= HV_SYNIC_QUEUE_MAX) {
        pthread_mutex_unlock(&hv->lock);
        free(m);
        return -1;
    }
    if (q->tail)
        q->tail->next = m;
    else
        q->head = m;
    q->tail = m;
    q->count++;
    hv_synic_deliver_locked(hv, vp_index, sint);
    pthread_mutex_unlock(&hv->lock);
    return 0;
}

int hv_synic_signal_event(struct hv_partition *hv, uint32_t vp_index, uint32_t sint,
                          uint32_t flag)
{
    if (vp_index >= hv->cfg.nr_vcpus || sint >= HV_SINT_COUNT || flag >= HV_EVENT_FLAGS_COUNT)
        return -1;
    int rc = 0;
    pthread_mutex_lock(&hv->lock);
    struct hv_vp *vp = &hv->vps[vp_index];
    uint8_t *area = NULL;
    if ((vp->scontrol & 1) && (vp->siefp & HV_PAGE_ENABLE))
        area = gmem_ptr(hv->gmem, (vp->siefp & HV_PAGE_GPA_MASK) + sint * HV_EVENT_FLAGS_BYTES,
                        HV_EVENT_FLAGS_BYTES);
    if (area) {
        uint8_t bit = (uint8_t)(1u << (flag % 8));
        uint8_t old = __atomic_fetch_or(&area[flag / 8], bit, __ATOMIC_SEQ_CST);
        if (!(old & bit) && sint_unmasked(vp, sint)) {
            raise_sint(hv, vp_index, sint);
            rc = 1;
        }
    }
    pthread_mutex_unlock(&hv->lock);
    return rc;
}

void hv_synic_flush_queue(struct hv_partition *hv, uint32_t vp_index, uint32_t sint)
{
    if (vp_index >= hv->cfg.nr_vcpus || sint >= HV_SINT_COUNT)
        return;
    pthread_mutex_lock(&hv->lock);
    struct hv_msg_queue *q = &hv->vps[vp_index].queue[sint];
    while (q->head) {
        struct hv_queued_msg *m = q->head;
        q->head = m->next;
        free(m);
    }
    q->tail = NULL;
    q->count = 0;
    pthread_mutex_unlock(&hv->lock);
}

uint32_t hv_synic_queued(struct hv_partition *hv, uint32_t vp_index, uint32_t sint)
{
    if (vp_index >= hv->cfg.nr_vcpus || sint >= HV_SINT_COUNT)
        return 0;
    pthread_mutex_lock(&hv->lock);
    uint32_t n = hv->vps[vp_index].queue[sint].count;
    pthread_mutex_unlock(&hv->lock);
    return n;
}
