/* Checksum and segmentation offload helpers; see offload.h. */
#include "net/offload.h"

#include <errno.h>
#include <string.h>

#include "core/endian.h"

uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    /* The ones' complement sum does not depend on byte order (RFC 1071 2(B)): 64 bits
     * at a time as little-endian 32-bit halves, folded to 16 bits and byte-swapped, is
     * the sum of the big-endian 16-bit words - with a quarter of the loop's work, which
     * counts on a 64 KiB received segment. */
    uint64_t s = 0;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        s += (v & 0xFFFFFFFFu) + (v >> 32);
    }
    for (; len >= 2; p += 2, len -= 2)
        s += (uint32_t)p[0] | (uint32_t)p[1] << 8;
    if (len)
        s += p[0]; /* a last odd byte is the high byte of a big-endian word */
    while (s >> 16)
        s = (s & 0xFFFF) + (s >> 16);
    uint64_t t = (uint64_t)sum + ((s & 0xFF) << 8 | s >> 8);
    while (t >> 32)
        t = (t & 0xFFFFFFFFu) + (t >> 32);
    return (uint32_t)t;
}

uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)sum;
}

int pkt_l3_start(const uint8_t *f, uint32_t len, uint32_t *l3, uint8_t *version)
{
    if (len < 14)
        return -EINVAL;
    uint32_t off = 12;
    uint16_t type = get_be16(f + off);
    if (type == 0x8100) {
        if (len < 18)
            return -EINVAL;
        off += 4;
        type = get_be16(f + off);
    }
    off += 2;
    if (type == 0x0800)
        *version = 4;
    else if (type == 0x86DD)
        *version = 6;
    else
        return -EINVAL;
    *l3 = off;
    return 0;
}

/* l4_len from the IP header's length field, checked against the frame. */
static int l4_len_from_ip(const uint8_t *f, uint32_t len, struct pkt_layout *l)
{
    uint64_t end;
    if (l->ip_version == 4)
        end = (uint64_t)l->l3_off + get_be16(f + l->l3_off + 2);
    else
        end = (uint64_t)l->l3_off + 40 + get_be16(f + l->l3_off + 4);
    if (end > len || end < l->l4_off)
        return -EINVAL;
    l->l4_len = (uint32_t)(end - l->l4_off);
    return 0;
}

static int l4_header_fits(const struct pkt_layout *l)
{
    uint32_t need = l->proto == PKT_PROTO_TCP ? 20 : 8;
    return l->l4_len >= need ? 0 : -EINVAL;
}

int pkt_layout_parse(const uint8_t *f, uint32_t len, struct pkt_layout *l)
{
    if (pkt_l3_start(f, len, &l->l3_off, &l->ip_version))
        return -EINVAL;
    const uint8_t *ip = f + l->l3_off;
    if (l->ip_version == 4) {
        if (len < l->l3_off + 20 || ip[0] >> 4 != 4 || (ip[0] & 15) < 5)
            return -EINVAL;
        if (get_be16(ip + 6) & 0x3FFF) /* a fragment: no whole L4 checksum */
            return -EINVAL;
        l->l4_off = l->l3_off + (ip[0] & 15) * 4u;
        l->proto = ip[9];
    } else {
        if (len < l->l3_off + 40 || ip[0] >> 4 != 6)
            return -EINVAL;
        l->l4_off = l->l3_off + 40;
        l->proto = ip[6];
    }
    if (l->proto != PKT_PROTO_TCP && l->proto != PKT_PROTO_UDP)
        return -EINVAL;
    if (l->l4_off > len || l4_len_from_ip(f, len, l))
        return -EINVAL;
    return l4_header_fits(l);
}

int pkt_layout_given(const uint8_t *f, uint32_t len, uint32_t l4_off, uint8_t proto,
                     bool lengths_from_frame, struct pkt_layout *l)
{
    if (pkt_l3_start(f, len, &l->l3_off, &l->ip_version))
        return -EINVAL;
    if (proto != PKT_PROTO_TCP && proto != PKT_PROTO_UDP)
        return -EINVAL;
    l->proto = proto;
    l->l4_off = l4_off;
    const uint8_t *ip = f + l->l3_off;
    if (l->ip_version == 4) {
        if (len < l->l3_off + 20 || ip[0] >> 4 != 4 || (ip[0] & 15) < 5 ||
            l4_off != l->l3_off + (ip[0] & 15) * 4u || ip[9] != proto)
            return -EINVAL;
    } else {
        if (len < l->l3_off + 40 || ip[0] >> 4 != 6 || l4_off < l->l3_off + 40)
            return -EINVAL;
    }
    if (l4_off > len)
        return -EINVAL;
    if (lengths_from_frame)
        l->l4_len = len - l4_off;
    else if (l4_len_from_ip(f, len, l))
        return -EINVAL;
    return l4_header_fits(l);
}

int pkt_set_ip_lengths(uint8_t *f, uint32_t len, const struct pkt_layout *l)
{
    uint8_t *ip = f + l->l3_off;
    if (l->ip_version == 4) {
        uint32_t total = len - l->l3_off;
        if (total > 0xFFFF)
            return -EINVAL;
        put_be16(ip + 2, (uint16_t)total);
        pkt_set_ip_csum(f, l);
    } else {
        uint32_t payload = len - l->l3_off - 40;
        if (payload > 0xFFFF)
            return -EINVAL;
        put_be16(ip + 4, (uint16_t)payload);
    }
    return 0;
}

void pkt_set_ip_csum(uint8_t *f, const struct pkt_layout *l)
{
    if (l->ip_version != 4)
        return;
    uint8_t *ip = f + l->l3_off;
    put_be16(ip + 10, 0);
    put_be16(ip + 10, (uint16_t)~csum_fold(csum_add(0, ip, (ip[0] & 15) * 4u)));
}

static uint32_t pseudo_sum(const uint8_t *f, const struct pkt_layout *l)
{
    const uint8_t *ip = f + l->l3_off;
    uint32_t s;
    if (l->ip_version == 4)
        s = csum_add(0, ip + 12, 8); /* source and destination */
    else
        s = csum_add(0, ip + 8, 32);
    return s + l->proto + (l->l4_len & 0xFFFF) + (l->l4_len >> 16);
}

uint16_t pkt_csum_field(uint8_t proto)
{
    return proto == PKT_PROTO_TCP ? 16 : 6;
}

void pkt_set_pseudo_csum(uint8_t *f, const struct pkt_layout *l)
{
    put_be16(f + l->l4_off + pkt_csum_field(l->proto), csum_fold(pseudo_sum(f, l)));
}

int pkt_finish_csum(uint8_t *f, uint32_t len, uint32_t start, uint32_t off)
{
    if (start > len || off > len - start || len - start - off < 2)
        return -EINVAL;
    uint16_t c = (uint16_t)~csum_fold(csum_add(0, f + start, len - start));
    /* UDP sends 0 as 0xFFFF (0 means "no checksum"); the same for TCP is harmless */
    put_be16(f + start + off, c ? c : 0xFFFF);
    return 0;
}

bool pkt_csum_ok(const uint8_t *f, const struct pkt_layout *l)
{
    if (l->ip_version == 4) {
        const uint8_t *ip = f + l->l3_off;
        if (csum_fold(csum_add(0, ip, (ip[0] & 15) * 4u)) != 0xFFFF)
            return false;
    }
    if (l->proto == PKT_PROTO_UDP && l->ip_version == 4 && get_be16(f + l->l4_off + 6) == 0)
        return false;
    uint32_t s = csum_add(pseudo_sum(f, l), f + l->l4_off, l->l4_len);
    return csum_fold(s) == 0xFFFF;
}
