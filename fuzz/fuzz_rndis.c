/* RNDIS messages from a hostile guest, as a buffer of one or more messages (a send
 * section may batch several PACKETs). Each is parsed in turn, advancing by msg_len;
 * every pointer the parser returns must lie inside the message, and each parsed
 * PACKET is rebuilt with rndis_build_packet (as the host would echo it to another VM)
 * and parsed back to the same frame and tags. QUERY/SET info buffers are echoed into
 * a QUERY_CMPLT, and every control message goes through the RNDIS device model
 * (rndis_dev.c, offering 4 receive queues), whose reply must parse as a well-formed
 * completion; RSS parameters it took must name existing queues, and a frame made of
 * the message's bytes must hash to one of them.
 * The input is copied to an exact-size heap buffer. */
#include <stdlib.h>
#include <string.h>

#include "vsp/rndis.h"
#include "vsp/rndis_dev.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_packet(const struct rndis_msg *m)
{
    size_t cap = rndis_packet_size(m->packet.frame_len, &m->packet.info);
    uint8_t *out = malloc(cap);
    if (!out)
        return;
    if (rndis_build_packet(out, cap, m->packet.frame, m->packet.frame_len, &m->packet.info) != cap)
        abort();
    struct rndis_msg back;
    if (rndis_parse(out, cap, &back) != 0 || back.packet.frame_len != m->packet.frame_len ||
        memcmp(back.packet.frame, m->packet.frame, m->packet.frame_len) ||
        back.packet.info.has_vlan != m->packet.info.has_vlan ||
        back.packet.info.vlan_id != m->packet.info.vlan_id ||
        back.packet.info.has_csum != m->packet.info.has_csum ||
        back.packet.info.csum != m->packet.info.csum ||
        back.packet.info.has_lso != m->packet.info.has_lso || back.packet.info.lso != m->packet.info.lso)
        abort();
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    static const uint8_t mac[6] = { 0, 0x15, 0x5d, 0, 0, 1 };
    struct rndis_dev dev;
    rndis_dev_init(&dev, mac);
    dev.rss_queues = 4;
    size_t pos = 0;
    while (pos < size) {
        struct rndis_msg m;
        if (rndis_parse(buf + pos, size - pos, &m) != 0)
            break;
        if (m.len < 8 || m.len > size - pos)
            abort();
        const uint8_t *lo = buf + pos, *hi = buf + pos + m.len;
        if (m.type == RNDIS_MSG_PACKET) {
            if (m.packet.frame < lo || m.packet.frame + m.packet.frame_len > hi)
                abort();
            check_packet(&m);
        } else if (m.type == RNDIS_MSG_QUERY || m.type == RNDIS_MSG_SET) {
            if (m.oid.info_len && (m.oid.info < lo || m.oid.info + m.oid.info_len > hi))
                abort();
            uint8_t reply[24 + 512];
            size_t n = rndis_build_query_complete(reply, sizeof(reply), m.req_id, 0, m.oid.info,
                                                  m.oid.info_len);
            if (n != (m.oid.info_len <= 512 ? 24 + m.oid.info_len : 0))
                abort();
        }
        uint8_t resp[300];
        size_t rn = rndis_dev_control(&dev, &m, resp, sizeof(resp));
        if (rn) {
            uint32_t t, l;
            memcpy(&t, resp, 4);
            memcpy(&l, resp + 4, 4);
            if (rn < 16 || l != rn || !(t & RNDIS_MSG_COMPLETION) || (t & 0xFF) != (m.type & 0xFF))
                abort();
        }
        if (dev.rss.enabled) {
            uint32_t n = dev.rss.table_size, hash;
            if (n == 0 || n > RSS_TABLE_MAX || (n & (n - 1)))
                abort();
            for (uint32_t i = 0; i < n; i++)
                if (dev.rss.table[i] >= dev.rss_queues)
                    abort();
            if (rss_queue(&dev.rss, buf + pos, m.len, &hash) >= dev.rss_queues)
                abort();
        }
        pos += m.len;
    }
    free(buf);
    return 0;
}
