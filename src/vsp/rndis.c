/* RNDIS parsing and building; see rndis.h. All offsets are checked in 64-bit
 * arithmetic so no sum of guest values can wrap. */
#include "vsp/rndis.h"

#include <errno.h>
#include <string.h>

#include "core/endian.h"

/* The PPI list of a PACKET: each {u32 size, u32 type, u32 ppi_offset} + value. */
static int parse_ppis(const uint8_t *p, uint32_t len, struct rndis_pkt_info *info)
{
    while (len > 0) {
        if (len < sizeof(struct rndis_per_packet_info))
            return -EINVAL;
        uint32_t size = get_le32(p), type = get_le32(p + 4), off = get_le32(p + 8);
        if (size < sizeof(struct rndis_per_packet_info) || size > len || off < 12 || off > size)
            return -EINVAL;
        const uint8_t *val = p + off;
        uint32_t vlen = size - off;
        if (!(type & RNDIS_PPI_INTERNAL) && vlen >= 4) {
            uint32_t v = get_le32(val);
            switch (type) {
            case RNDIS_PPI_CHECKSUM: info->has_csum = true, info->csum = v; break;
            case RNDIS_PPI_LSO: info->has_lso = true, info->lso = v; break;
            case RNDIS_PPI_VLAN:
                info->has_vlan = true;
                info->vlan_id = (uint16_t)RNDIS_VLAN_ID(v);
                info->vlan_pri = (uint8_t)RNDIS_VLAN_PRI(v);
                break;
            case RNDIS_PPI_HASH_VALUE: info->has_hash = true, info->hash = v; break;
            default: break; /* other NDIS info the host does not use */
            }
        } else if (!(type & RNDIS_PPI_INTERNAL) &&
                   (type == RNDIS_PPI_CHECKSUM || type == RNDIS_PPI_LSO ||
                    type == RNDIS_PPI_VLAN || type == RNDIS_PPI_HASH_VALUE)) {
            return -EINVAL; /* a known PPI without its 4-byte value */
        }
        p += size;
        len -= size;
    }
    return 0;
}

/* Is [8 + off, 8 + off + n) inside a message of MSG_LEN bytes (offsets count from
 * the byte after msg_len)? */
static bool inside(uint32_t msg_len, uint32_t off, uint32_t n)
{
    return 8 + (uint64_t)off + n <= msg_len;
}

static int parse_packet(const uint8_t *b, struct rndis_msg *m)
{
    uint32_t data_off = get_le32(b + 8), data_len = get_le32(b + 12);
    uint32_t oob_off = get_le32(b + 16), oob_len = get_le32(b + 20), oob_n = get_le32(b + 24);
    uint32_t ppi_off = get_le32(b + 28), ppi_len = get_le32(b + 32);
    /* the frame follows the 36-byte packet header (and its PPIs) */
    if (data_off < sizeof(struct rndis_packet) || !inside(m->len, data_off, data_len) ||
        data_len == 0)
        return -EINVAL;
    if (oob_len || oob_n) { /* Linux never sends OOB data; if present it must fit */
        if (oob_off < sizeof(struct rndis_packet) || !inside(m->len, oob_off, oob_len))
            return -EINVAL;
    }
    if (ppi_len) {
        if (ppi_off < sizeof(struct rndis_packet) || !inside(m->len, ppi_off, ppi_len))
            return -EINVAL;
        int ret = parse_ppis(b + 8 + ppi_off, ppi_len, &m->packet.info);
        if (ret)
            return ret;
    }
    m->packet.frame = b + 8 + data_off;
    m->packet.frame_len = data_len;
    return 0;
}

int rndis_parse(const uint8_t *buf, size_t len, struct rndis_msg *m)
{
    memset(m, 0, sizeof(*m));
    if (len < 8)
        return -EINVAL;
    m->type = get_le32(buf);
    m->len = get_le32(buf + 4);
    if (m->len < 8 || m->len > len)
        return -EINVAL;
    size_t need;
    switch (m->type) {
    case RNDIS_MSG_PACKET: need = 8 + sizeof(struct rndis_packet); break;
    case RNDIS_MSG_INIT: need = 8 + sizeof(struct rndis_init_request); break;
    case RNDIS_MSG_QUERY:
    case RNDIS_MSG_SET: need = 8 + sizeof(struct rndis_query_request); break;
    case RNDIS_MSG_HALT:
    case RNDIS_MSG_KEEPALIVE: need = 12; break;
    case RNDIS_MSG_RESET: need = 12; break; /* u32 reserved */
    default: return -ENOTSUP;
    }
    if (m->len < need)
        return -EINVAL;
    switch (m->type) {
    case RNDIS_MSG_PACKET:
        return parse_packet(buf, m);
    case RNDIS_MSG_INIT:
        m->req_id = get_le32(buf + 8);
        m->init.major = get_le32(buf + 12);
        m->init.minor = get_le32(buf + 16);
        m->init.max_xfer_size = get_le32(buf + 20);
        return 0;
    case RNDIS_MSG_QUERY:
    case RNDIS_MSG_SET: {
        m->req_id = get_le32(buf + 8);
        m->oid.oid = get_le32(buf + 12);
        uint32_t ilen = get_le32(buf + 16), ioff = get_le32(buf + 20);
        if (ilen) {
            /* the input buffer follows the fixed fields (offset 20 from req_id) */
            if (ioff < sizeof(struct rndis_query_request) || !inside(m->len, ioff, ilen))
                return -EINVAL;
            m->oid.info = buf + 8 + ioff;
        }
        m->oid.info_len = ilen;
        return 0;
    }
    case RNDIS_MSG_RESET:
        return 0; /* no request id: RESET_C carries none */
    default: /* HALT, KEEPALIVE */
        m->req_id = get_le32(buf + 8);
        return 0;
    }
}

const char *rndis_type_name(uint32_t type)
{
    switch (type) {
    case RNDIS_MSG_PACKET: return "PACKET";
    case RNDIS_MSG_INIT: return "INITIALIZE";
    case RNDIS_MSG_HALT: return "HALT";
    case RNDIS_MSG_QUERY: return "QUERY";
    case RNDIS_MSG_SET: return "SET";
    case RNDIS_MSG_RESET: return "RESET";
    case RNDIS_MSG_INDICATE: return "INDICATE_STATUS";
    case RNDIS_MSG_KEEPALIVE: return "KEEPALIVE";
    case RNDIS_MSG_INIT_C: return "INITIALIZE_CMPLT";
    case RNDIS_MSG_QUERY_C: return "QUERY_CMPLT";
    case RNDIS_MSG_SET_C: return "SET_CMPLT";
    case RNDIS_MSG_RESET_C: return "RESET_CMPLT";
    case RNDIS_MSG_KEEPALIVE_C: return "KEEPALIVE_CMPLT";
    default: return "unknown";
    }
}

/* Header + LEN bytes of zeroed body, or 0 if CAP is too small. */
/* The first BYTES of a message of type TYPE and MSG_LEN bytes: zeroed, type and length
 * set. BYTES, or 0 if they do not fit CAP. */
static size_t begin_part(uint8_t *out, size_t cap, uint32_t type, size_t msg_len, size_t bytes)
{
    if (bytes > cap || msg_len > UINT32_MAX)
        return 0;
    memset(out, 0, bytes);
    put_le32(out, type);
    put_le32(out + 4, (uint32_t)msg_len);
    return bytes;
}

static size_t begin(uint8_t *out, size_t cap, uint32_t type, size_t len)
{
    return begin_part(out, cap, type, len, len);
}

size_t rndis_build_init_complete(uint8_t *out, size_t cap, uint32_t req_id, uint32_t status,
                                 uint32_t max_pkt_per_msg, uint32_t max_xfer_size,
                                 uint32_t pkt_alignment_factor)
{
    size_t n = begin(out, cap, RNDIS_MSG_INIT_C, 8 + sizeof(struct rndis_init_complete));
    if (!n)
        return 0;
    struct rndis_init_complete c = {
        .req_id = req_id, .status = status, .major_ver = 1, .minor_ver = 0,
        .dev_flags = RNDIS_DF_CONNECTIONLESS, .medium = RNDIS_MEDIUM_802_3,
        .max_pkt_per_msg = max_pkt_per_msg, .max_xfer_size = max_xfer_size,
        .pkt_alignment_factor = pkt_alignment_factor,
    };
    memcpy(out + 8, &c, sizeof(c));
    return n;
}

size_t rndis_build_query_complete(uint8_t *out, size_t cap, uint32_t req_id, uint32_t status,
                                  const void *info, uint32_t info_len)
{
    size_t n = begin(out, cap, RNDIS_MSG_QUERY_C, 24 + (size_t)info_len);
    if (!n)
        return 0;
    struct rndis_query_complete c = {
        .req_id = req_id, .status = status, .info_buflen = info_len,
        .info_buf_offset = info_len ? 16 : 0,
    };
    memcpy(out + 8, &c, sizeof(c));
    if (info_len)
        memcpy(out + 24, info, info_len);
    return n;
}

static size_t build_id_status(uint8_t *out, size_t cap, uint32_t type, uint32_t a, uint32_t b)
{
    size_t n = begin(out, cap, type, 16);
    if (n) {
        put_le32(out + 8, a);
        put_le32(out + 12, b);
    }
    return n;
}

size_t rndis_build_set_complete(uint8_t *out, size_t cap, uint32_t req_id, uint32_t status)
{
    return build_id_status(out, cap, RNDIS_MSG_SET_C, req_id, status);
}

size_t rndis_build_keepalive_complete(uint8_t *out, size_t cap, uint32_t req_id, uint32_t status)
{
    return build_id_status(out, cap, RNDIS_MSG_KEEPALIVE_C, req_id, status);
}

size_t rndis_build_reset_complete(uint8_t *out, size_t cap, uint32_t status)
{
    /* addressing_reset 0: the guest need not re-send its multicast list */
    return build_id_status(out, cap, RNDIS_MSG_RESET_C, status, 0);
}

size_t rndis_build_indicate_status(uint8_t *out, size_t cap, uint32_t status, const void *buf,
                                   uint32_t buf_len)
{
    size_t n = begin(out, cap, RNDIS_MSG_INDICATE, 20 + (size_t)buf_len);
    if (!n)
        return 0;
    struct rndis_indicate_status s = {
        .status = status, .status_buflen = buf_len, .status_buf_offset = buf_len ? 12 : 0,
    };
    memcpy(out + 8, &s, sizeof(s));
    if (buf_len)
        memcpy(out + 20, buf, buf_len);
    return n;
}

#define PPI_BYTES (sizeof(struct rndis_per_packet_info) + 4)

static unsigned ppi_count(const struct rndis_pkt_info *info)
{
    return info ? (unsigned)info->has_csum + info->has_lso + info->has_vlan + info->has_hash + info->has_frag
                : 0;
}

size_t rndis_packet_size(uint32_t frame_len, const struct rndis_pkt_info *info)
{
    return 8 + sizeof(struct rndis_packet) + ppi_count(info) * PPI_BYTES + (size_t)frame_len;
}

static uint8_t *put_ppi(uint8_t *p, uint32_t type, uint32_t value)
{
    put_le32(p, PPI_BYTES);
    put_le32(p + 4, type);
    put_le32(p + 8, sizeof(struct rndis_per_packet_info));
    put_le32(p + 12, value);
    return p + PPI_BYTES;
}

size_t rndis_build_packet_header(uint8_t *out, size_t cap, uint32_t frame_len,
                                 const struct rndis_pkt_info *info)
{
    size_t total = rndis_packet_size(frame_len, info);
    size_t hdr = begin_part(out, cap, RNDIS_MSG_PACKET, total, total - frame_len);
    if (!hdr)
        return 0;
    uint32_t ppi_len = ppi_count(info) * (uint32_t)PPI_BYTES;
    struct rndis_packet p = {
        .data_offset = (uint32_t)sizeof(struct rndis_packet) + ppi_len, .data_len = frame_len,
        .per_pkt_info_offset = ppi_len ? (uint32_t)sizeof(struct rndis_packet) : 0,
        .per_pkt_info_len = ppi_len,
    };
    memcpy(out + 8, &p, sizeof(p));
    uint8_t *q = out + 8 + sizeof(p);
    if (info && info->has_csum)
        q = put_ppi(q, RNDIS_PPI_CHECKSUM, info->csum);
    if (info && info->has_lso)
        q = put_ppi(q, RNDIS_PPI_LSO, info->lso);
    if (info && info->has_vlan)
        q = put_ppi(q, RNDIS_PPI_VLAN,
                    (uint32_t)(info->vlan_pri & 7) | ((uint32_t)(info->vlan_id & 0xFFF) << 4));
    if (info && info->has_hash)
        q = put_ppi(q, RNDIS_PPI_HASH_VALUE, info->hash);
    if (info && info->has_frag)
        put_ppi(q, RNDIS_PPI_PKTINFO_ID | RNDIS_PPI_INTERNAL, info->frag);
    return hdr;
}

size_t rndis_build_packet(uint8_t *out, size_t cap, const void *frame, uint32_t frame_len,
                          const struct rndis_pkt_info *info)
{
    size_t hdr = rndis_build_packet_header(out, cap, frame_len, info);
    if (!hdr || cap - hdr < frame_len)
        return 0;
    memcpy(out + hdr, frame, frame_len);
    return hdr + frame_len;
}
