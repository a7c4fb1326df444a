/* KVP IC: the host's key-value requests to the guest's hv_kvp_daemon (reference §7c;
 * Linux hv_kvp.c, tools/hv/hv_kvp_daemon.c). Every request is a full struct hv_kvp_msg
 * (7430-byte body) because the guest answers in the same buffer and GET_IP_INFO needs
 * all of it. Strings travel as NUL-terminated UTF-16LE in fixed-size fields. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vsp/ic_common.h"
#include "vsp/ic_wait.h"
#include "vsp/utf16.h"

static const uint32_t kvp_versions[] = { IC_VER(4, 0), IC_VER(3, 0), IC_VER(1, 0) };

#define COOKIE(op, pool, index) ((uint64_t)(op) | (uint64_t)(pool) << 8 | (uint64_t)(index) << 16)

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

static int kvp_response(struct ic_chan *c, struct ic_req *rq, const uint8_t *body,
                        uint32_t body_len, struct ic_result *res)
{
    struct ic_kvp_result *r = calloc(1, sizeof(*r));
    if (!r)
        return 0; /* complete without the data rather than leave it hanging */
    r->op = (enum ic_kvp_op)(rq->cookie & 0xFF);
    r->pool = (uint8_t)(rq->cookie >> 8);
    r->index = (uint32_t)(rq->cookie >> 16);
    res->kvp = r;
    if (res->status != IC_S_OK)
        return 0; /* the guest leaves the body alone on errors */
    const struct ic_kvp_value *v = NULL;
    size_t voff = 0;
    switch (r->op) {
    case IC_KVP_OP_ENUMERATE:
        voff = offsetof(struct ic_kvp_msg, body.enumerate.data);
        break;
    case IC_KVP_OP_GET:
        voff = offsetof(struct ic_kvp_msg, body.get_set);
        break;
    case IC_KVP_OP_GET_IP_INFO: {
        if (body_len < sizeof(struct ic_kvp_ip_msg))
            goto bad;
        const struct ic_kvp_ip_msg *m = (const void *)body; /* packed: byte access */
        r->addr_family = m->ip.addr_family;
        r->dhcp_enabled = m->ip.dhcp_enabled;
        const uint8_t *ip = body + offsetof(struct ic_kvp_ip_msg, ip);
        utf16le_to_utf8(ip + offsetof(struct ic_kvp_ipaddr, adapter_id),
                        IC_KVP_ADAPTER_ID_UNITS, r->adapter_id, sizeof(r->adapter_id));
        utf16le_to_utf8(ip + offsetof(struct ic_kvp_ipaddr, ip_addr), IC_KVP_IP_UNITS,
                        r->ip_addr, sizeof(r->ip_addr));
        utf16le_to_utf8(ip + offsetof(struct ic_kvp_ipaddr, sub_net), IC_KVP_IP_UNITS,
                        r->subnet, sizeof(r->subnet));
        utf16le_to_utf8(ip + offsetof(struct ic_kvp_ipaddr, gate_way), IC_KVP_GATEWAY_UNITS,
                        r->gateway, sizeof(r->gateway));
        utf16le_to_utf8(ip + offsetof(struct ic_kvp_ipaddr, dns_addr), IC_KVP_IP_UNITS,
                        r->dns, sizeof(r->dns));
        return 0;
    }
    default:
        return 0; /* SET, DELETE: the status is the answer */
    }
    if (body_len < voff + sizeof(*v))
        goto bad;
    struct ic_kvp_value hdr;
    memcpy(&hdr, body + voff, offsetof(struct ic_kvp_value, key));
    const uint8_t *key = body + voff + offsetof(struct ic_kvp_value, key);
    const uint8_t *val = body + voff + offsetof(struct ic_kvp_value, value);
    r->value_type = hdr.value_type;
    /* The sizes are bytes incl. the NUL; they only ever shorten the fixed fields. */
    if (r->op == IC_KVP_OP_ENUMERATE)
        utf16le_to_utf8(key, min_u32(hdr.key_size, IC_KVP_KEY_BYTES) / 2, r->key,
                        sizeof(r->key));
    utf16le_to_utf8(val, min_u32(hdr.value_size, IC_KVP_VALUE_BYTES) / 2, r->value,
                    sizeof(r->value));
    return 0;
bad:
    free(r);
    res->kvp = NULL;
    return -1;
}

const struct ic_service ic_kvp_service = {
    .name = "kvp",
    .kind = IC_KVP,
    .msgtype = IC_MSG_KVP,
    .versions = kvp_versions,
    .nversions = 3,
    .max_outstanding = IC_QUEUE_MAX,
    .min_body = 4,
    .response = kvp_response,
};

const struct vmbus_device_desc ic_kvp_desc = {
    .name = "ic-kvp",
    .if_type = { { 0xe7, 0xf4, 0xa0, 0xa9, 0x45, 0x5a, 0x96, 0x4d, 0xb8, 0x27, 0x8a, 0x84,
                   0x1e, 0x8c, 0x03, 0xe6 } },
    .if_instance = { { 0x87, 0x2b, 0xf4, 0xa4, 0x5b, 0x9a, 0x6b, 0x4d, 0x8a, 0x0e, 0x2f,
                       0x6e, 0x5c, 0x3d, 0x7b, 0x19 } },
    .max_pkt_size = 16384, /* answers are 16 + 7458 bytes */
    .ctx = (void *)&ic_kvp_service,
    .open = ic_dev_open,
    .close = ic_dev_close,
    .on_packet = ic_dev_packet,
    .on_writable = ic_dev_writable,
};

/* Encodes rq into the 7430-byte body m. 0 or -EINVAL. */
static int kvp_encode(const struct ic_kvp_request *rq, struct ic_kvp_msg *m)
{
    if (rq->pool > IC_KVP_POOL_AUTO_INTERNAL)
        return -EINVAL;
    m->operation = (uint8_t)rq->op;
    m->pool = rq->pool;
    int n;
    switch (rq->op) {
    case IC_KVP_OP_ENUMERATE:
        m->body.enumerate.index = rq->index;
        return 0;
    case IC_KVP_OP_GET:
    case IC_KVP_OP_SET:
        if (!rq->key || (n = utf16le_from_utf8(rq->key, m->body.get_set.key,
                                               IC_KVP_KEY_BYTES / 2)) <= 0)
            return -EINVAL;
        m->body.get_set.key_size = 2u * ((uint32_t)n + 1);
        if (rq->op == IC_KVP_OP_GET)
            return 0;
        if (!rq->value || (n = utf16le_from_utf8(rq->value, m->body.get_set.value,
                                                 IC_KVP_VALUE_BYTES / 2)) < 0)
            return -EINVAL;
        m->body.get_set.value_type = IC_KVP_REG_SZ;
        m->body.get_set.value_size = 2u * ((uint32_t)n + 1);
        return 0;
    case IC_KVP_OP_DELETE:
        if (!rq->key || (n = utf16le_from_utf8(rq->key, m->body.del.key,
                                               IC_KVP_KEY_BYTES / 2)) <= 0)
            return -EINVAL;
        m->body.del.key_size = 2u * ((uint32_t)n + 1);
        return 0;
    case IC_KVP_OP_GET_IP_INFO: {
        uint8_t id[IC_KVP_ADAPTER_ID_UNITS * 2];
        if (!rq->mac || utf16le_from_utf8(rq->mac, id, IC_KVP_ADAPTER_ID_UNITS) <= 0)
            return -EINVAL;
        struct ic_kvp_ip_msg *ipm = (struct ic_kvp_ip_msg *)m;
        memcpy(ipm->ip.adapter_id, id, sizeof(id));
        return 0;
    }
    }
    return -EINVAL;
}

int64_t ic_kvp_request(struct ic *ic, const struct ic_kvp_request *rq, ic_done_fn done,
                       void *arg)
{
    if (!ic)
        return -ENODEV;
    if (!rq)
        return -EINVAL;
    struct ic_kvp_msg *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    int64_t rc = kvp_encode(rq, m);
    if (rc == 0) {
        ic_lock(ic);
        struct ic_chan *c = ic->chans[IC_KVP];
        struct ic_req *r;
        if (!c)
            rc = -ENODEV;
        else if (c->state != IC_STATE_READY)
            rc = -ENOTCONN;
        else if (!(r = ic_req_new(c, sizeof(*m))))
            rc = -ENOMEM;
        else {
            memcpy(ic_req_body(r), m, sizeof(*m));
            r->cookie = COOKIE(rq->op, rq->pool, rq->index);
            r->timeout_ms = ic->cfg.kvp_timeout_ms;
            r->done = done;
            r->arg = arg;
            rc = ic_submit(c, r, true);
        }
        ic_unlock(ic);
    }
    free(m);
    return rc;
}

int ic_kvp_call(struct ic *ic, const struct ic_kvp_request *rq, int timeout_ms,
                uint32_t *status, struct ic_kvp_result *out)
{
    struct ic_waiter w;
    ic_waiter_init(&w, out);
    int64_t id = ic_kvp_request(ic, rq, ic_waiter_done, &w);
    return ic_waiter_wait(ic, &w, id, timeout_ms, status);
}
