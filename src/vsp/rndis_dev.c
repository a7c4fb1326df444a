/* RNDIS device model; see rndis_dev.h. */
#include "vsp/rndis_dev.h"

#include <string.h>

#include "core/endian.h"

void rndis_dev_init(struct rndis_dev *d, const uint8_t mac[6])
{
    memset(d, 0, sizeof(*d));
    memcpy(d->mac, mac, 6);
    d->mtu = 1500;
    d->link_speed = 100000000;
    d->link_up = true;
    d->rss_queues = 1;
}

/* NDIS_RECEIVE_SCALE_CAPABILITIES (packed, 18 bytes): header {type 0x88, revision 2,
 * size}, capability flags, interrupt messages, receive queues, indirection table
 * entries (reference 7b). */
static size_t rss_caps(const struct rndis_dev *d, uint8_t out[NDIS_RSS_CAPS_SIZE])
{
    memset(out, 0, NDIS_RSS_CAPS_SIZE);
    out[0] = NDIS_OBJECT_TYPE_RSS_CAPABILITIES;
    out[1] = NDIS_RSS_CAPS_REVISION_2;
    put_le16(out + 2, NDIS_RSS_CAPS_SIZE);
    put_le32(out + 4, NDIS_RSS_CAPS_HASH_TYPE_TCP_IPV4 | NDIS_RSS_CAPS_HASH_TYPE_TCP_IPV6);
    put_le32(out + 8, d->rss_queues);
    put_le32(out + 12, d->rss_queues);
    put_le16(out + 16, RSS_TABLE_MAX);
    return NDIS_RSS_CAPS_SIZE;
}

/* struct ndis_offload revision 3: all zero (no offloads) unless the host can finish
 * checksums and segment, then TCP/UDP checksums and LSOv2 for IPv4 and IPv6 on 802.3
 * frames (Linux wants TCP + TCP options for checksums, 802.3 encapsulation for LSO, and
 * IPv6 extension headers + TCP options for LSO over IPv6). */
static void offload_caps(const struct rndis_dev *d, uint8_t out[NDIS_OFFLOAD_SIZE_REV3])
{
    memset(out, 0, NDIS_OFFLOAD_SIZE_REV3);
    out[0] = NDIS_OBJECT_TYPE_OFFLOAD;
    out[1] = NDIS_OFFLOAD_REVISION_3;
    put_le16(out + 2, NDIS_OFFLOAD_SIZE_REV3);
    if (!d->offload_capable)
        return;
    uint32_t csum = NDIS_CSUM_CAP_IP4OPT | NDIS_CSUM_CAP_TCPOPT | NDIS_CSUM_CAP_TCP | NDIS_CSUM_CAP_UDP;
    put_le32(out + NDIS_OFFLOAD_CSUM_IP4_TXENC, NDIS_OFFLOAD_ENCAP_8023);
    put_le32(out + NDIS_OFFLOAD_CSUM_IP4_TXCSUM, csum);
    put_le32(out + NDIS_OFFLOAD_CSUM_IP4_RXENC, NDIS_OFFLOAD_ENCAP_8023);
    put_le32(out + NDIS_OFFLOAD_CSUM_IP4_RXCSUM, csum | NDIS_CSUM_CAP_IP4);
    put_le32(out + NDIS_OFFLOAD_CSUM_IP6_TXENC, NDIS_OFFLOAD_ENCAP_8023);
    put_le32(out + NDIS_OFFLOAD_CSUM_IP6_TXCSUM, csum);
    put_le32(out + NDIS_OFFLOAD_CSUM_IP6_RXENC, NDIS_OFFLOAD_ENCAP_8023);
    put_le32(out + NDIS_OFFLOAD_CSUM_IP6_RXCSUM, csum);
    put_le32(out + NDIS_OFFLOAD_LSOV2_IP4_ENCAP, NDIS_OFFLOAD_ENCAP_8023);
    put_le32(out + NDIS_OFFLOAD_LSOV2_IP4_MAXSZ, RNDIS_DEV_LSO_MAX);
    put_le32(out + NDIS_OFFLOAD_LSOV2_IP4_MINSG, 2);
    put_le32(out + NDIS_OFFLOAD_LSOV2_IP6_ENCAP, NDIS_OFFLOAD_ENCAP_8023);
    put_le32(out + NDIS_OFFLOAD_LSOV2_IP6_MAXSZ, RNDIS_DEV_LSO_MAX);
    put_le32(out + NDIS_OFFLOAD_LSOV2_IP6_MINSG, 2);
    put_le32(out + NDIS_OFFLOAD_LSOV2_IP6_OPTS, NDIS_LSOV2_CAP_IP6EXT | NDIS_LSOV2_CAP_TCP6OPT);
    out[NDIS_OFFLOAD_RSC_IP4] = d->rsc_capable;
    out[NDIS_OFFLOAD_RSC_IP6] = d->rsc_capable;
}

/* The guest's OID_TCP_OFFLOAD_PARAMETERS (LEN bytes): what it wants of receive
 * checksums and RSC (0 in a field means "no change").
 * RSC: Linux 6.1 computes its parameters at probe before its LRO feature is on, so its
 * first set always says "RSC disabled" although the device then runs with LRO on and
 * it announced RSC in its NVSP NDIS config (v6.1). So the first set after RNDIS INIT
 * leaves RSC as that announcement says unless it enables it; every later set (ethtool
 * -K lro on/off, XDP) is followed as it is. */
static void offload_params(struct rndis_dev *d, const uint8_t *p, uint32_t len)
{
    uint8_t tcp4 = p[NDIS_OFFLOAD_PARAMS_TCP4];
    if (tcp4)
        d->rx_csum = d->offload_capable && (tcp4 == NDIS_OFFLOAD_PARAM_TX_RX_ENABLED ||
                                            tcp4 == NDIS_OFFLOAD_PARAM_RX_ENABLED_TX_DISABLED);
    uint8_t rsc = len > NDIS_OFFLOAD_PARAMS_RSC4 ? p[NDIS_OFFLOAD_PARAMS_RSC4] : 0;
    bool on = rsc == NDIS_OFFLOAD_PARAM_RSC_ENABLED;
    if (d->offload_sets++ == 0)
        d->rsc = on || d->guest_rsc_cap;
    else if (rsc)
        d->rsc = on;
    d->rsc = d->rsc && d->offload_capable && d->rsc_capable;
}

static size_t query(struct rndis_dev *d, const struct rndis_msg *m, uint8_t *out, size_t cap)
{
    uint32_t v;
    uint8_t offload[NDIS_OFFLOAD_SIZE_REV3], caps[NDIS_RSS_CAPS_SIZE];
    const void *info = &v;
    uint32_t len = 4;
    switch (m->oid.oid) {
    case RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE: v = d->mtu; break;
    case RNDIS_OID_GEN_MAXIMUM_TOTAL_SIZE: v = d->mtu + 14; break;
    case RNDIS_OID_GEN_LINK_SPEED: v = d->link_speed; break;
    case RNDIS_OID_GEN_MEDIA_CONNECT_STATUS: v = d->link_up ? 0 : 1; break; /* 0 = connected */
    case RNDIS_OID_GEN_CURRENT_PACKET_FILTER: v = d->packet_filter; break;
    case RNDIS_OID_802_3_PERMANENT_ADDRESS:
    case RNDIS_OID_802_3_CURRENT_ADDRESS:
        info = d->mac;
        len = 6;
        break;
    case RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES:
        offload_caps(d, offload);
        info = offload;
        len = sizeof(offload);
        break;
    case RNDIS_OID_GEN_RECEIVE_SCALE_CAPABILITIES:
        if (d->rss_queues < 2) /* the guest then keeps to one queue, no sub-channels */
            return rndis_build_query_complete(out, cap, m->req_id, RNDIS_STATUS_NOT_SUPPORTED, NULL, 0);
        info = caps;
        len = (uint32_t)rss_caps(d, caps);
        break;
    default:
        /* includes FRIENDLY_NAME (optional) */
        return rndis_build_query_complete(out, cap, m->req_id, RNDIS_STATUS_NOT_SUPPORTED, NULL, 0);
    }
    return rndis_build_query_complete(out, cap, m->req_id, RNDIS_STATUS_SUCCESS, info, len);
}

/* One little-endian u32 of an info buffer. */
static uint32_t info_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* OID_GEN_RNDIS_CONFIG_PARAMETER: Linux's netvsc sets "NetworkAddress" to change the
 * MAC (ip link set ... address): struct rndis_config_parameter_info (name offset,
 * name length, type, value offset, value length; offsets from the info's start), the
 * name and the value (12 hex digits) in UTF-16LE. The port's own MAC, which spoofing
 * protection checks, is not the device's to change (netvsp keeps it). */
static uint32_t set_config_parameter(struct rndis_dev *d, const uint8_t *info, uint32_t len)
{
    static const char name[] = "NetworkAddress";
    if (len < 20)
        return RNDIS_STATUS_INVALID_LENGTH;
    uint32_t noff = info_u32(info), nlen = info_u32(info + 4), type = info_u32(info + 8);
    uint32_t voff = info_u32(info + 12), vlen = info_u32(info + 16);
    if (noff > len || nlen > len - noff || voff > len || vlen > len - voff)
        return RNDIS_STATUS_INVALID_DATA;
    if (nlen != 2 * (sizeof(name) - 1))
        return RNDIS_STATUS_NOT_SUPPORTED;
    for (uint32_t i = 0; i < sizeof(name) - 1; i++) {
        uint8_t lo = info[noff + 2 * i], hi = info[noff + 2 * i + 1];
        if (hi || (lo | 0x20) != (name[i] | 0x20))
            return RNDIS_STATUS_NOT_SUPPORTED;
    }
    if (type != 2 /* string */ || vlen != 24)
        return RNDIS_STATUS_INVALID_DATA;
    uint8_t mac[6] = { 0 };
    for (uint32_t i = 0; i < 12; i++) {
        uint8_t c = info[voff + 2 * i], hi = info[voff + 2 * i + 1];
        int v = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
        if (hi || v < 0)
            return RNDIS_STATUS_INVALID_DATA;
        mac[i / 2] = (uint8_t)(mac[i / 2] << 4 | v);
    }
    if (mac[0] & 1)
        return RNDIS_STATUS_INVALID_DATA; /* not a station address */
    memcpy(d->mac, mac, 6);
    return RNDIS_STATUS_SUCCESS;
}

/* OID_GEN_RECEIVE_SCALE_PARAMETERS: NDIS_RECEIVE_SCALE_PARAMETERS (header type 0x89;
 * flags u16 @4, hash information u32 @8, table size in bytes u16 @12, its offset u32
 * @16, key size u16 @20, its offset u32 @24; offsets from the structure's start) with
 * the table (u32 queue numbers) and key. The *_UNCHANGED flags keep a part as it was;
 * DISABLE_RSS sends everything to queue 0. Nothing changes unless all of it is valid. */
static uint32_t set_rss(struct rndis_dev *d, const uint8_t *p, uint32_t len)
{
    if (d->rss_queues < 2)
        return RNDIS_STATUS_NOT_SUPPORTED;
    if (len < NDIS_RSS_PARAMS_MIN_SIZE || p[0] != NDIS_OBJECT_TYPE_RSS_PARAMETERS)
        return RNDIS_STATUS_INVALID_DATA;
    uint16_t flags = get_le16(p + 4);
    if (flags & NDIS_RSS_PARAM_FLAG_DISABLE_RSS) {
        d->rss.enabled = false;
        return RNDIS_STATUS_SUCCESS;
    }
    struct rss_config c = d->rss;
    if (!(flags & NDIS_RSS_PARAM_FLAG_HASH_INFO_UNCHANGED)) {
        uint32_t info = get_le32(p + 8);
        if ((info & 0xFF) != RSS_HASH_FUNC_TOEPLITZ || (info & 0xFFFFFF00u & ~RSS_HASH_TYPES))
            return RNDIS_STATUS_INVALID_DATA;
        c.hash_types = info & RSS_HASH_TYPES;
    }
    if (!(flags & NDIS_RSS_PARAM_FLAG_ITABLE_UNCHANGED)) {
        uint32_t size = get_le16(p + 12), off = get_le32(p + 16), n = size / 4;
        if (size % 4 || n == 0 || n > RSS_TABLE_MAX || (n & (n - 1)) || off > len || size > len - off)
            return RNDIS_STATUS_INVALID_DATA;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t q = get_le32(p + off + 4 * i);
            if (q >= d->rss_queues)
                return RNDIS_STATUS_INVALID_DATA;
            c.table[i] = (uint8_t)q;
        }
        c.table_size = n;
    }
    if (!(flags & NDIS_RSS_PARAM_FLAG_HASH_KEY_UNCHANGED)) {
        uint32_t size = get_le16(p + 20), off = get_le32(p + 24);
        if (size != RSS_KEY_SIZE || off > len || size > len - off)
            return RNDIS_STATUS_INVALID_DATA;
        memcpy(c.key, p + off, RSS_KEY_SIZE);
    }
    if (c.table_size == 0) /* the first parameters must bring a table */
        return RNDIS_STATUS_INVALID_DATA;
    c.enabled = true;
    d->rss = c;
    return RNDIS_STATUS_SUCCESS;
}

static uint32_t set(struct rndis_dev *d, const struct rndis_msg *m)
{
    switch (m->oid.oid) {
    case RNDIS_OID_GEN_CURRENT_PACKET_FILTER:
        if (m->oid.info_len != 4)
            return RNDIS_STATUS_INVALID_LENGTH;
        memcpy(&d->packet_filter, m->oid.info, 4);
        return RNDIS_STATUS_SUCCESS;
    case RNDIS_OID_TCP_OFFLOAD_PARAMETERS:
        /* ndis_offload_params: header type 0x80; 22 bytes (rev 2) or 28 (rev 3). The
         * guest's probe fails unless this succeeds. Transmit offloads need no
         * switching: the guest marks each packet that uses one. */
        if (m->oid.info_len < NDIS_OFFLOAD_PARAMS_SIZE_REV2 || m->oid.info[0] != NDIS_OBJECT_TYPE_DEFAULT)
            return RNDIS_STATUS_INVALID_DATA;
        offload_params(d, m->oid.info, m->oid.info_len);
        d->offload_params_set = true;
        return RNDIS_STATUS_SUCCESS;
    case RNDIS_OID_GEN_RNDIS_CONFIG_PARAMETER:
        return set_config_parameter(d, m->oid.info, m->oid.info_len);
    case RNDIS_OID_OFFLOAD_ENCAPSULATION:
        /* the frame format offloads apply to: 802.3 is the only one there is here */
        return m->oid.info_len >= NDIS_OFFLOAD_ENCAPSULATION_SIZE ? RNDIS_STATUS_SUCCESS
                                                                  : RNDIS_STATUS_INVALID_LENGTH;
    case RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS:
        return set_rss(d, m->oid.info, m->oid.info_len);
    default:
        /* multicast lists... */
        return RNDIS_STATUS_NOT_SUPPORTED;
    }
}

size_t rndis_dev_control(struct rndis_dev *d, const struct rndis_msg *m, uint8_t *out, size_t cap)
{
    switch (m->type) {
    case RNDIS_MSG_INIT:
        d->initialized = true;
        d->offload_sets = 0;
        d->rsc = false;
        memset(&d->rss, 0, sizeof(d->rss));
        /* up to 8 packets per send section, each aligned to 8 bytes (as openvmm) */
        return rndis_build_init_complete(out, cap, m->req_id,
                                         m->init.major == 1 ? RNDIS_STATUS_SUCCESS
                                                            : RNDIS_STATUS_NOT_SUPPORTED,
                                         8, 0x4000, 3);
    case RNDIS_MSG_QUERY:
        return query(d, m, out, cap);
    case RNDIS_MSG_SET:
        return rndis_build_set_complete(out, cap, m->req_id, set(d, m));
    case RNDIS_MSG_KEEPALIVE:
        return rndis_build_keepalive_complete(out, cap, m->req_id, RNDIS_STATUS_SUCCESS);
    case RNDIS_MSG_RESET:
        d->packet_filter = 0;
        return rndis_build_reset_complete(out, cap, RNDIS_STATUS_SUCCESS);
    case RNDIS_MSG_HALT:
        d->initialized = false;
        d->packet_filter = 0;
        return 0;
    default:
        return 0;
    }
}

size_t rndis_dev_link_status(struct rndis_dev *d, bool up, uint8_t *out, size_t cap)
{
    d->link_up = up;
    return rndis_build_indicate_status(
        out, cap, up ? RNDIS_STATUS_MEDIA_CONNECT : RNDIS_STATUS_MEDIA_DISCONNECT, NULL, 0);
}

bool rndis_dev_accepts(const struct rndis_dev *d, const uint8_t *dst)
{
    uint32_t f = d->packet_filter;
    if (f & RNDIS_FILTER_PROMISCUOUS)
        return true;
    if (dst[0] & 1) {
        static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
        if (!memcmp(dst, bcast, 6))
            return f & RNDIS_FILTER_BROADCAST;
        return f & (RNDIS_FILTER_ALL_MULTICAST | RNDIS_FILTER_MULTICAST);
    }
    return (f & RNDIS_FILTER_DIRECTED) && !memcmp(dst, d->mac, 6);
}
