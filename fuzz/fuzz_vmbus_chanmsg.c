/* A sequence of guest->host channel messages (and channel signals) against a fresh VMBus
 * host. Input: records [1 op][1 len][len bytes]: op bit 0 selects HvSignalEvent (the
 * first payload byte picks the relid) instead of HvPostMessage; the guest drains its
 * message slots after each record. A prefix with a valid INITIATE_CONTACT and
 * REQUESTOFFERS can be turned on by the first byte so that deeper states are reachable. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void post(struct fz_vm *vm, const void *msg, uint32_t len)
{
    fz_post_message(vm->hv, msg, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct fz_vm vm;
    fz_vm_init(&vm);
    if (data[0] & 1) {
        struct vmbus_msg_initiate_contact ic = { .hdr.msgtype = CHANNELMSG_INITIATE_CONTACT,
                                                 .version_requested = VMBUS_VERSION_WIN10_V5_3,
                                                 .interrupt_page_or_sint = 2 };
        post(&vm, &ic, sizeof(ic));
        struct vmbus_msg_header rq = { .msgtype = CHANNELMSG_REQUESTOFFERS };
        post(&vm, &rq, sizeof(rq));
        fz_drain_slots(&vm);
    }
    data++;
    size--;
    while (size >= 2) {
        uint8_t op = data[0];
        uint32_t len = data[1];
        data += 2;
        size -= 2;
        if (len > size)
            len = (uint32_t)size;
        if (len > 240)
            len = 240;
        if (op & 1) {
            uint32_t relid = len ? data[0] % 6 : 1;
            hv_hypercall(vm.hv, op >> 7, HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST,
                         VMBUS_CONNECTION_ID_BASE + relid, 0);
        } else {
            post(&vm, data, len);
        }
        fz_drain_slots(&vm);
        data += len;
        size -= len;
    }
    fz_vm_free(&vm);
    return 0;
}
