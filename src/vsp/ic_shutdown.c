/* Shutdown IC (reference §7c): host asks the guest to power off / reboot / hibernate;
 * Linux answers S_OK (E_FAIL for hibernate without S4 or unknown flags) and then acts. */
#include <errno.h>
#include <string.h>

#include "vsp/ic_common.h"
#include "vsp/ic_wait.h"
#include "vsp/utf16.h"

static const uint32_t shutdown_versions[] = { IC_VER(3, 2), IC_VER(3, 1), IC_VER(3, 0),
                                              IC_VER(1, 0) };

const struct ic_service ic_shutdown_service = {
    .name = "shutdown",
    .kind = IC_SHUTDOWN,
    .msgtype = IC_MSG_SHUTDOWN,
    .versions = shutdown_versions,
    .nversions = 4,
    .max_outstanding = 1,
};

const struct vmbus_device_desc ic_shutdown_desc = {
    .name = "ic-shutdown",
    .if_type = { { 0x31, 0x60, 0x0b, 0x0e, 0x13, 0x52, 0x34, 0x49, 0x81, 0x8b, 0x38, 0xd9,
                   0x0c, 0xed, 0x39, 0xdb } },
    .if_instance = { { 0xf7, 0x0f, 0x65, 0xb6, 0xbc, 0x33, 0x40, 0x48, 0x80, 0x48, 0xe0,
                       0x67, 0x67, 0x86, 0xf3, 0x93 } },
    .max_pkt_size = 4096,
    .ctx = (void *)&ic_shutdown_service,
    .open = ic_dev_open,
    .close = ic_dev_close,
    .on_packet = ic_dev_packet,
    .on_writable = ic_dev_writable,
};

int64_t ic_shutdown_request(struct ic *ic, uint32_t flags, const char *reason,
                            ic_done_fn done, void *arg)
{
    if (!ic)
        return -ENODEV;
    if (flags & ~(IC_SHUTDOWN_FORCE | IC_SHUTDOWN_REBOOT | IC_SHUTDOWN_HIBERNATE) ||
        ((flags & IC_SHUTDOWN_REBOOT) && (flags & IC_SHUTDOWN_HIBERNATE)))
        return -EINVAL;
    struct ic_shutdown_body b = {
        .reason_code = IC_SHUTDOWN_REASON_PLANNED,
        .flags = flags,
    };
    if (reason && utf16le_from_utf8(reason, b.display_message,
                                    sizeof(b.display_message) / 2) < 0)
        return -EINVAL;
    ic_lock(ic);
    int64_t rc = -ENODEV;
    struct ic_chan *c = ic->chans[IC_SHUTDOWN];
    if (c && c->state != IC_STATE_READY) {
        rc = -ENOTCONN;
    } else if (c) {
        struct ic_req *rq = ic_req_new(c, sizeof(b));
        if (!rq) {
            rc = -ENOMEM;
        } else {
            memcpy(ic_req_body(rq), &b, sizeof(b));
            rq->timeout_ms = ic->cfg.request_timeout_ms;
            rq->done = done;
            rq->arg = arg;
            rc = ic_submit(c, rq, true);
        }
    }
    ic_unlock(ic);
    return rc;
}

int ic_shutdown(struct ic *ic, uint32_t flags, const char *reason, int timeout_ms,
                uint32_t *status)
{
    struct ic_waiter w;
    ic_waiter_init(&w, NULL);
    int64_t id = ic_shutdown_request(ic, flags, reason, ic_waiter_done, &w);
    return ic_waiter_wait(ic, &w, id, timeout_ms, status);
}
