/* The hypercall page and hypercall dispatch (reference §2). Only HvPostMessage (0x5C,
 * slow) and HvSignalEvent (0x5D, fast or slow) exist with the CPUID we offer; everything
 * else is HV_STATUS_INVALID_HYPERCALL_CODE. */
#include "hv/hv_internal.h"

#include <string.h>

/* The page: a fast HvSignalEvent with flag number 0 (the only kind Linux and Windows
 * make) writes its connection id to the port with OUT %eax, which the core may bind to
 * an eventfd per connection id (KVM ioeventfd with data match) so that it never leaves
 * the kernel; R8 (volatile in the calling convention, and not an input of this call)
 * carries the result back: still 0 if the kernel took the write, or what
 * hv_hypercall() returned, put there by the core. Everything else is OUT %al, to user
 * space, result in RAX. */
void hv_hypercall_page_build(uint8_t *page, uint8_t port)
{
    const uint8_t code[] = {
        0xF3, 0x0F, 0x1E, 0xFA,                   /* endbr64 */
        0x48, 0x81, 0xF9, 0x5D, 0x00, 0x01, 0x00, /* cmp $0x1005d, %rcx (fast SignalEvent) */
        0x75, 0x14,                               /* jne other */
        0x48, 0x89, 0xD0,                         /* mov %rdx, %rax */
        0x48, 0xC1, 0xE8, 0x20,                   /* shr $32, %rax (flag number) */
        0x75, 0x0B,                               /* jnz other */
        0x89, 0xD0,                               /* mov %edx, %eax (connection id) */
        0x45, 0x31, 0xC0,                         /* xor %r8d, %r8d */
        0xE7, port,                               /* out %eax, $port */
        0x4C, 0x89, 0xC0,                         /* mov %r8, %rax */
        0xC3,                                     /* ret */
        0xE6, port,                               /* other: out %al, $port */
        0xC3,                                     /* ret */
    };
    memset(page, 0xCC, GMEM_PAGE_SIZE); /* int3 everywhere else */
    memcpy(page, code, sizeof(code));
}

struct post_message_input {
    uint32_t connection_id;
    uint32_t reserved;
    uint32_t message_type;
    uint32_t payload_size;
    uint8_t payload[HV_MESSAGE_PAYLOAD_MAX];
};
_Static_assert(sizeof(struct post_message_input) == HV_POST_MESSAGE_INPUT_SIZE, "256 bytes");

/* Reads a slow-call input block: 8-byte aligned, inside one page, in RAM. */
static uint16_t read_input(struct hv_partition *hv, uint64_t gpa, void *buf, uint32_t len)
{
    if (gpa & 7)
        return HV_STATUS_INVALID_ALIGNMENT;
    if ((gpa & (GMEM_PAGE_SIZE - 1)) + len > GMEM_PAGE_SIZE)
        return HV_STATUS_INVALID_ALIGNMENT;
    if (gmem_read(hv->gmem, gpa, buf, len) != 0)
        return HV_STATUS_INVALID_PARAMETER;
    return HV_STATUS_SUCCESS;
}

static void get_handlers(struct hv_partition *hv, struct hv_guest_handlers *h, void **ctx)
{
    pthread_mutex_lock(&hv->lock);
    *h = hv->handlers;
    *ctx = hv->handlers_ctx;
    pthread_mutex_unlock(&hv->lock);
}

static uint16_t post_message(struct hv_partition *hv, uint32_t vp, uint64_t control,
                             uint64_t in_gpa)
{
    if (control & HV_HYPERCALL_FAST)
        return HV_STATUS_INVALID_HYPERCALL_INPUT; /* XMM fast input is not offered */
    struct post_message_input in;
    uint16_t st = read_input(hv, in_gpa, &in, sizeof(in));
    if (st != HV_STATUS_SUCCESS)
        return st;
    if ((in.connection_id >> 24) || in.reserved || in.message_type == 0 ||
        (in.message_type & 0x80000000u) || in.payload_size > HV_MESSAGE_PAYLOAD_MAX)
        return HV_STATUS_INVALID_PARAMETER;
    struct hv_guest_handlers h;
    void *ctx;
    get_handlers(hv, &h, &ctx);
    if (!h.post_message)
        return HV_STATUS_INVALID_CONNECTION_ID;
    return h.post_message(ctx, vp, in.connection_id, in.message_type, in.payload,
                          in.payload_size);
}

static uint16_t signal_event(struct hv_partition *hv, uint32_t vp, uint64_t control,
                             uint64_t rdx)
{
    uint64_t in = rdx;
    if (!(control & HV_HYPERCALL_FAST)) {
        uint16_t st = read_input(hv, rdx, &in, sizeof(in));
        if (st != HV_STATUS_SUCCESS)
            return st;
    }
    uint32_t conn = (uint32_t)in;
    uint16_t flag = (uint16_t)(in >> 32);
    if ((conn >> 24) || (in >> 48))
        return HV_STATUS_INVALID_PARAMETER;
    if (flag >= HV_EVENT_FLAGS_COUNT)
        return HV_STATUS_INVALID_PARAMETER;
    struct hv_guest_handlers h;
    void *ctx;
    get_handlers(hv, &h, &ctx);
    if (!h.signal_event)
        return HV_STATUS_INVALID_CONNECTION_ID;
    return h.signal_event(ctx, vp, conn, flag);
}

uint64_t hv_hypercall(struct hv_partition *hv, uint32_t vp_index, uint64_t rcx, uint64_t rdx,
                      uint64_t r8)
{
    uint16_t code = (uint16_t)(rcx & 0xFFFF);
    if (vp_index >= hv->cfg.nr_vcpus)
        return HV_STATUS_INVALID_PARAMETER;
    pthread_mutex_lock(&hv->lock);
    bool enabled = hv->hypercall_msr & HV_PAGE_ENABLE;
    pthread_mutex_unlock(&hv->lock);
    if (!enabled)
        return HV_STATUS_INVALID_HYPERCALL_CODE; /* the page was not enabled: no hypercalls */
    if (rcx & HV_HYPERCALL_RESERVED)
        return HV_STATUS_INVALID_HYPERCALL_INPUT;
    switch (code) {
    case HVCALL_POST_MESSAGE:
    case HVCALL_SIGNAL_EVENT:
        /* Simple (non-rep) calls without a variable header. */
        if (rcx & (HV_HYPERCALL_REP_COUNT_MASK | HV_HYPERCALL_REP_START_MASK |
                   HV_HYPERCALL_VARHEAD_MASK))
            return HV_STATUS_INVALID_HYPERCALL_INPUT;
        return code == HVCALL_POST_MESSAGE ? post_message(hv, vp_index, rcx, rdx)
                                           : signal_event(hv, vp_index, rcx, rdx);
    default:
        (void)r8;
        return HV_STATUS_INVALID_HYPERCALL_CODE;
    }
}
