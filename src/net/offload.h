/* Checksum and segmentation offload on Ethernet frames, as a NIC does it: finding the
 * IP and TCP/UDP headers, the Internet checksum (RFC 1071) and the pseudo-header, and
 * the fix-ups that turn a guest's "large send" frame into one the Linux stack accepts
 * with a virtio_net_hdr (TAP with IFF_VNET_HDR). Frames are untrusted: every offset is
 * checked against the frame length. Functions returning int give 0 or -EINVAL. */
#ifndef VIRIDIAN_NET_OFFLOAD_H
#define VIRIDIAN_NET_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKT_PROTO_TCP 6
#define PKT_PROTO_UDP 17

/* Where an IP packet's headers are in a frame. */
struct pkt_layout {
    uint32_t l3_off;    /* IP header (after Ethernet, or an 802.1Q tag) */
    uint32_t l4_off;    /* TCP or UDP header */
    uint32_t l4_len;    /* TCP/UDP header + payload, from the IP length (not padding) */
    uint8_t ip_version; /* 4 or 6 */
    uint8_t proto;      /* PKT_PROTO_TCP or PKT_PROTO_UDP */
};

/* One's-complement sum of LEN bytes as big-endian 16-bit words, added to SUM
 * (unfolded; LEN is odd only for the last piece of a sum). */
uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len);
/* SUM folded to 16 bits (not complemented). */
uint16_t csum_fold(uint32_t sum);

/* The layout of a plain IPv4 (any header length) or IPv6 (no extension headers)
 * TCP/UDP frame: -EINVAL for anything else or when a length does not fit. */
int pkt_layout_parse(const uint8_t *f, uint32_t len, struct pkt_layout *l);
/* The IP header's offset *L3 and version (4 or 6) after the Ethernet header of F (one
 * 802.1Q tag skipped): 0, or -EINVAL for a frame too short or not IP. */
int pkt_l3_start(const uint8_t *f, uint32_t len, uint32_t *l3, uint8_t *version);
/* The layout a sender names: L4_OFF and PROTO given, IPv4 or IPv6 (extension headers
 * allowed before L4_OFF). With LENGTHS_FROM_FRAME (large send: the sender left the IP
 * lengths zero) l4_len runs to the end of the frame; otherwise it comes from the IP
 * header and must fit in the frame. */
int pkt_layout_given(const uint8_t *f, uint32_t len, uint32_t l4_off, uint8_t proto,
                     bool lengths_from_frame, struct pkt_layout *l);

/* Large send: write the IP length fields for a packet running to the end of the
 * frame (IPv4 total length and header checksum, IPv6 payload length). */
int pkt_set_ip_lengths(uint8_t *f, uint32_t len, const struct pkt_layout *l);
/* Recompute the IPv4 header checksum (nothing for IPv6). */
void pkt_set_ip_csum(uint8_t *f, const struct pkt_layout *l);
/* Put the pseudo-header sum (addresses, protocol, l4_len; folded, not complemented)
 * into the TCP/UDP checksum field, the state a partial checksum starts from
 * (CHECKSUM_PARTIAL / VIRTIO_NET_HDR_F_NEEDS_CSUM). */
void pkt_set_pseudo_csum(uint8_t *f, const struct pkt_layout *l);
/* Offset of the checksum field inside the L4 header (TCP 16, UDP 6). */
uint16_t pkt_csum_field(uint8_t proto);
/* Finish a partial checksum: sum [START, LEN) (the field at START + OFF holding the
 * pseudo-header sum) and store its complement there. -EINVAL if out of the frame. */
int pkt_finish_csum(uint8_t *f, uint32_t len, uint32_t start, uint32_t off);
/* Is the TCP/UDP checksum (and for IPv4 the header checksum) right? A UDP packet
 * without a checksum (0) counts as not verified. */
bool pkt_csum_ok(const uint8_t *f, const struct pkt_layout *l);

#endif
