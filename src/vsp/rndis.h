/* RNDIS messages inside NVSP: bounds-checked parsing of what the guest sends (control
 * requests and data PACKETs with their per-packet info) and builders for the host's
 * messages (completions, status indications, received packets).
 * Functions returning int give 0 or a negative errno. */
#ifndef VIRIDIAN_VSP_RNDIS_H
#define VIRIDIAN_VSP_RNDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vsp/netvsp_proto.h"

/* Offload and tagging metadata of one data packet (PPIs), both directions. */
struct rndis_pkt_info {
    bool has_csum, has_lso, has_vlan, has_hash;
    uint32_t csum; /* RNDIS_CSUM_TX_* (guest->host) or RNDIS_CSUM_RX_* (host->guest) */
    uint32_t lso;  /* RNDIS_LSO_* accessors */
    uint16_t vlan_id;
    uint8_t vlan_pri;
    uint32_t hash;
    bool has_frag;  /* host->guest only: internal RNDIS_PKTINFO_ID (an RSC fragment) */
    uint32_t frag;  /* u8 version (1), u8 RNDIS_PKTINFO_* flags, u16 packet id */
};

/* One parsed guest->host RNDIS message. Pointers point into the caller's buffer. */
struct rndis_msg {
    uint32_t type;
    uint32_t len; /* msg_len: this message's bytes; a buffer may hold several PACKETs */
    uint32_t req_id; /* INIT, QUERY, SET, RESET (0), KEEPALIVE, HALT */
    union {
        struct { uint32_t major, minor, max_xfer_size; } init;
        struct { /* QUERY and SET */
            uint32_t oid;
            const uint8_t *info;
            uint32_t info_len;
        } oid;
        struct {
            const uint8_t *frame;
            uint32_t frame_len;
            struct rndis_pkt_info info;
        } packet;
    };
};

/* Parse the RNDIS message at the start of BUF (LEN bytes available). Checks
 * 8 <= msg_len <= LEN, the type's fixed fields fit, and every offset/length pair
 * (info buffer, frame, PPIs) lies inside msg_len. -EINVAL malformed; -ENOTSUP a type
 * the guest never sends (completions, INDICATE). Unknown PPI types are skipped. */
int rndis_parse(const uint8_t *buf, size_t len, struct rndis_msg *m);
const char *rndis_type_name(uint32_t type);

/* Builders: write at OUT (CAP bytes), return the message length or 0 if it does not
 * fit in CAP. */
size_t rndis_build_init_complete(uint8_t *out, size_t cap, uint32_t req_id, uint32_t status,
                                 uint32_t max_pkt_per_msg, uint32_t max_xfer_size,
                                 uint32_t pkt_alignment_factor);
/* QUERY_C: INFO (INFO_LEN bytes) at info_buf_offset 16 (i.e. message byte 24). */
size_t rndis_build_query_complete(uint8_t *out, size_t cap, uint32_t req_id, uint32_t status,
                                  const void *info, uint32_t info_len);
size_t rndis_build_set_complete(uint8_t *out, size_t cap, uint32_t req_id, uint32_t status);
size_t rndis_build_keepalive_complete(uint8_t *out, size_t cap, uint32_t req_id, uint32_t status);
size_t rndis_build_reset_complete(uint8_t *out, size_t cap, uint32_t status);
/* INDICATE_STATUS: STATUS (e.g. RNDIS_STATUS_MEDIA_CONNECT) with optional BUF. */
size_t rndis_build_indicate_status(uint8_t *out, size_t cap, uint32_t status, const void *buf,
                                   uint32_t buf_len);
/* A data PACKET: PPIs for what INFO has (csum, lso, vlan, hash, frag) then the frame.
 * INFO may be NULL. (The host sends no LSO PPI; the test guests do.) */
size_t rndis_build_packet(uint8_t *out, size_t cap, const void *frame, uint32_t frame_len,
                          const struct rndis_pkt_info *info);
/* The same PACKET without its frame: the header bytes (the frame follows them), 0 if
 * they do not fit CAP. */
size_t rndis_build_packet_header(uint8_t *out, size_t cap, uint32_t frame_len,
                                 const struct rndis_pkt_info *info);
/* Bytes rndis_build_packet needs. */
size_t rndis_packet_size(uint32_t frame_len, const struct rndis_pkt_info *info);

#endif
