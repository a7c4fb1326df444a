#include "vsp/ic_common.h"

#include <errno.h>
#include <string.h>

#include "core/log.h"

const struct ic_version ic_framework_versions[] = { { 3, 0 }, { 1, 0 } };
const unsigned ic_n_framework_versions = 2;

static bool version_in(struct ic_version v, const struct ic_version *list, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (list[i].major == v.major && list[i].minor == v.minor)
            return true;
    return false;
}

static void fill_header(struct ic_header *h, uint32_t body_len, uint16_t msgtype,
                        struct ic_version fw, struct ic_version msg)
{
    memset(h, 0, sizeof(*h));
    h->pipe_flags = IC_PIPE_PACKET_TYPE_DATA;
    h->pipe_msgsize = IC_HDR_SIZE - 8 + body_len;
    h->framever = fw;
    h->msgtype = msgtype;
    h->msgver = msg;
    h->msgsize = (uint16_t)body_len;
    h->flags = IC_FLAG_TRANSACTION | IC_FLAG_REQUEST;
}

uint32_t ic_build_negotiate(uint8_t *buf, uint32_t cap, const struct ic_version *fw,
                            unsigned nfw, const struct ic_version *msg, unsigned nmsg)
{
    uint32_t body = 8 + 4 * (nfw + nmsg);
    if (nfw > IC_VERSION_MAX_COUNT || nmsg > IC_VERSION_MAX_COUNT || cap < IC_HDR_SIZE + body)
        return 0;
    struct ic_header h;
    fill_header(&h, body, IC_MSGTYPE_NEGOTIATE, (struct ic_version){ 1, 0 },
                (struct ic_version){ 1, 0 });
    memcpy(buf, &h, sizeof(h));
    uint16_t counts[2] = { (uint16_t)nfw, (uint16_t)nmsg };
    memcpy(buf + IC_HDR_SIZE, counts, 4);
    memset(buf + IC_HDR_SIZE + 4, 0, 4);
    memcpy(buf + IC_HDR_SIZE + 8, fw, 4 * nfw);
    memcpy(buf + IC_HDR_SIZE + 8 + 4 * nfw, msg, 4 * nmsg);
    return IC_HDR_SIZE + body;
}

int ic_parse_negotiate_response(const uint8_t *buf, uint32_t len, const struct ic_version *fw,
                                unsigned nfw, const struct ic_version *msg, unsigned nmsg,
                                struct ic_version *fw_out, struct ic_version *msg_out)
{
    if (len < IC_HDR_SIZE + 8 + 8)
        return -1;
    uint16_t counts[2];
    memcpy(counts, buf + IC_HDR_SIZE, 4);
    if (counts[0] != 1 || counts[1] != 1) /* 0/0 = the guest matched nothing */
        return -1;
    memcpy(fw_out, buf + IC_HDR_SIZE + 8, 4);
    memcpy(msg_out, buf + IC_HDR_SIZE + 12, 4);
    if (!version_in(*fw_out, fw, nfw) || !version_in(*msg_out, msg, nmsg))
        return -1;
    return 0;
}

/* Sends a full IC packet (header + body) as an INBAND packet, one transaction. */
static int send_packet(struct ic_channel *ic, const uint8_t *pkt, uint32_t len)
{
    int rc = vmbus_channel_send(ic->ch, VMBUS_PACKET_DATA_INBAND, 0, ic->next_trans_id, pkt,
                                len);
    if (rc == 0)
        ic->next_trans_id++;
    return rc;
}

int ic_dev_open(struct vmbus_channel *ch, const uint8_t *userdata)
{
    struct ic_channel *ic = vmbus_channel_device_ctx(ch);
    uint8_t buf[IC_HDR_SIZE + 8 + 4 * 2 * 16];
    uint32_t len = ic_build_negotiate(buf, sizeof(buf), ic_framework_versions,
                                      ic_n_framework_versions, ic->svc->msg_versions,
                                      ic->svc->n_msg_versions);
    if (!len)
        return -1;
    ic->ch = ch;
    ic->state = IC_NEGOTIATING;
    ic->pending_type = IC_MSGTYPE_NEGOTIATE;
    if (send_packet(ic, buf, len) != 0) {
        ic->ch = NULL;
        ic->state = IC_CLOSED;
        return -1;
    }
    return 0;
}

void ic_dev_close(struct vmbus_channel *ch)
{
    struct ic_channel *ic = vmbus_channel_device_ctx(ch);
    ic->state = IC_CLOSED;
    ic->ch = NULL;
    if (ic->svc->closed)
        ic->svc->closed(ic);
}

static void protocol_error(struct ic_channel *ic, const char *what)
{
    ic->protocol_errors++;
    vlog_warn("ic %s: %s", ic->svc->name, what);
}

void ic_dev_packet(struct vmbus_channel *ch, const struct vmbus_packet *pkt)
{
    struct ic_channel *ic = vmbus_channel_device_ctx(ch);
    struct ic_header h;
    if (pkt->type != VMBUS_PACKET_DATA_INBAND || pkt->data_len < IC_HDR_SIZE) {
        protocol_error(ic, "short or non-inband packet");
        return;
    }
    memcpy(&h, pkt->data, sizeof(h));
    if ((ic->state != IC_NEGOTIATING && ic->state != IC_BUSY) ||
        (h.flags & (IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE)) !=
            (IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE) ||
        h.msgtype != ic->pending_type) {
        protocol_error(ic, "unexpected packet");
        return;
    }
    if (ic->state == IC_NEGOTIATING) {
        if (ic_parse_negotiate_response(pkt->data, pkt->data_len, ic_framework_versions,
                                        ic_n_framework_versions, ic->svc->msg_versions,
                                        ic->svc->n_msg_versions, &ic->framework,
                                        &ic->msg) != 0) {
            ic->state = IC_FAILED;
            protocol_error(ic, "version negotiation failed");
            return;
        }
        ic->state = IC_READY;
        if (ic->svc->negotiated)
            ic->svc->negotiated(ic);
        return;
    }
    ic->state = IC_READY;
    if (ic->svc->response)
        ic->svc->response(ic, &h, pkt->data + IC_HDR_SIZE, pkt->data_len - IC_HDR_SIZE);
}

int ic_send_request(struct ic_channel *ic, uint16_t msgtype, const void *body,
                    uint16_t body_len)
{
    if (ic->state != IC_READY || !ic->ch)
        return -EAGAIN;
    uint8_t buf[IC_MAX_PACKET - 16];
    if (IC_HDR_SIZE + (uint32_t)body_len > sizeof(buf))
        return -EINVAL;
    struct ic_header h;
    fill_header(&h, body_len, msgtype, ic->framework, ic->msg);
    memcpy(buf, &h, sizeof(h));
    memcpy(buf + IC_HDR_SIZE, body, body_len);
    int rc = send_packet(ic, buf, IC_HDR_SIZE + body_len);
    if (rc == 0) {
        ic->state = IC_BUSY;
        ic->pending_type = msgtype;
    }
    return rc;
}
