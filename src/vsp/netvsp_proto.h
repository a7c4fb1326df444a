/* Wire formats of the Hyper-V synthetic NIC: NVSP (the netvsc <-> host protocol on the
 * VMBus channel) and the RNDIS messages it carries. Little-endian, packed; sizes checked.
 * Sources: Linux drivers/net/hyperv/hyperv_net.h, include/linux/rndis.h; openvmm
 * vm/devices/net/netvsp/src/protocol.rs and rndisprot.rs;
 * /work/shared/reference/hyperv-guest-interface.md section 7b. */
#ifndef VIRIDIAN_VSP_NETVSP_PROTO_H
#define VIRIDIAN_VSP_NETVSP_PROTO_H

#include <stdint.h>

#include "vmbus/vmbus_proto.h"

/* ---- NVSP ------------------------------------------------------------------------- */
enum nvsp_msg_type {
    NVSP_MSG_INIT = 1,
    NVSP_MSG_INIT_COMPLETE = 2,
    NVSP_MSG1_SEND_NDIS_VER = 100,
    NVSP_MSG1_SEND_RECV_BUF = 101,
    NVSP_MSG1_SEND_RECV_BUF_COMPLETE = 102,
    NVSP_MSG1_REVOKE_RECV_BUF = 103,
    NVSP_MSG1_SEND_SEND_BUF = 104,
    NVSP_MSG1_SEND_SEND_BUF_COMPLETE = 105,
    NVSP_MSG1_REVOKE_SEND_BUF = 106,
    NVSP_MSG1_SEND_RNDIS_PKT = 107,
    NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE = 108,
    NVSP_MSG2_SEND_NDIS_CONFIG = 125,
    NVSP_MSG4_SEND_VF_ASSOCIATION = 128,
    NVSP_MSG4_SWITCH_DATA_PATH = 129,
    NVSP_MSG5_OID_QUERY_EX = 131,
    NVSP_MSG5_SUBCHANNEL = 133,
    NVSP_MSG5_SEND_INDIRECTION_TABLE = 134,
};

enum nvsp_status {
    NVSP_STAT_NONE = 0,
    NVSP_STAT_SUCCESS = 1,
    NVSP_STAT_FAIL = 2,
    NVSP_STAT_PROTOCOL_TOO_NEW = 3,
    NVSP_STAT_PROTOCOL_TOO_OLD = 4,
    NVSP_STAT_INVALID_RNDIS_PKT = 5,
    NVSP_STAT_BUSY = 6,
    NVSP_STAT_PROTOCOL_UNSUPPORTED = 7,
};

#define NVSP_PROTOCOL_VERSION_1 0x00000002u
#define NVSP_PROTOCOL_VERSION_2 0x00030002u
#define NVSP_PROTOCOL_VERSION_4 0x00040000u
#define NVSP_PROTOCOL_VERSION_5 0x00050000u
#define NVSP_PROTOCOL_VERSION_6 0x00060000u
#define NVSP_PROTOCOL_VERSION_61 0x00060001u

#define NVSP_RECV_BUF_ID 0xCAFE       /* NETVSC_RECEIVE_BUFFER_ID */
#define NVSP_SEND_BUF_ID 0            /* NETVSC_SEND_BUFFER_ID */
#define NVSP_NO_SECTION 0xFFFFFFFFu   /* send_buf_section_index: not in the send buffer */
#define NVSP_CHANNEL_TYPE_DATA 0      /* RMC_DATA */
#define NVSP_CHANNEL_TYPE_CONTROL 1   /* RMC_CONTROL */
#define NVSP_SUBCHANNEL_ALLOCATE 1
#define NVSP_INDIRECTION_TABLE_SIZE 16 /* VRSS_SEND_TAB_SIZE */
#define NVSP_MSG_SIZE 40               /* sizeof(struct nvsp_message) */

/* NDIS config capability bits (SEND_NDIS_CONFIG) */
#define NVSP_NDIS_CAP_VMQ (1u << 0)
#define NVSP_NDIS_CAP_CHIMNEY (1u << 1)
#define NVSP_NDIS_CAP_SRIOV (1u << 2)
#define NVSP_NDIS_CAP_IEEE8021Q (1u << 3)
#define NVSP_NDIS_CAP_CORRELATION_ID (1u << 4)
#define NVSP_NDIS_CAP_TEAMING (1u << 5)
#define NVSP_NDIS_CAP_VSUBNETID (1u << 6)
#define NVSP_NDIS_CAP_RSC (1u << 7)

struct __attribute__((packed)) nvsp_init {
    uint32_t min_protocol_ver, max_protocol_ver;
};
struct __attribute__((packed)) nvsp_init_complete {
    uint32_t negotiated_protocol_ver, max_mdl_chain_len, status;
};
struct __attribute__((packed)) nvsp_ndis_ver {
    uint32_t ndis_major, ndis_minor;
};
struct __attribute__((packed)) nvsp_send_buf { /* SEND_RECV_BUF and SEND_SEND_BUF */
    uint32_t gpadl_handle;
    uint16_t id;
};
struct __attribute__((packed)) nvsp_recv_buf_section {
    uint32_t offset, sub_alloc_size, num_sub_allocs, end_offset;
};
struct __attribute__((packed)) nvsp_recv_buf_complete {
    uint32_t status, num_sections;
    struct nvsp_recv_buf_section section;
};
struct __attribute__((packed)) nvsp_revoke_buf {
    uint16_t id;
};
struct __attribute__((packed)) nvsp_send_buf_complete {
    uint32_t status, section_size;
};
struct __attribute__((packed)) nvsp_rndis_pkt {
    uint32_t channel_type, send_buf_section_index, send_buf_section_size;
};
struct __attribute__((packed)) nvsp_rndis_pkt_complete {
    uint32_t status;
};
struct __attribute__((packed)) nvsp_ndis_config {
    uint32_t mtu, reserved;
    uint64_t capability;
};
struct __attribute__((packed)) nvsp_switch_data_path {
    uint32_t active_datapath;
};
struct __attribute__((packed)) nvsp_subchannel {
    uint32_t op, num_subchannels; /* completion: status, num_subchannels */
};
struct __attribute__((packed)) nvsp_indirection_table {
    uint32_t count, offset;
};

struct __attribute__((packed)) nvsp_message {
    uint32_t msg_type;
    union __attribute__((packed)) {
        struct nvsp_init init;
        struct nvsp_init_complete init_complete;
        struct nvsp_ndis_ver ndis_ver;
        struct nvsp_send_buf send_buf;
        struct nvsp_recv_buf_complete recv_buf_complete;
        struct nvsp_revoke_buf revoke_buf;
        struct nvsp_send_buf_complete send_buf_complete;
        struct nvsp_rndis_pkt rndis_pkt;
        struct nvsp_rndis_pkt_complete rndis_pkt_complete;
        struct nvsp_ndis_config ndis_config;
        struct nvsp_switch_data_path switch_data_path;
        struct nvsp_subchannel subchannel;
        struct nvsp_indirection_table indirection_table;
        uint8_t raw[36];
    };
};

_Static_assert(sizeof(struct nvsp_init) == 8, "nvsp_init");
_Static_assert(sizeof(struct nvsp_init_complete) == 12, "nvsp_init_complete");
_Static_assert(sizeof(struct nvsp_send_buf) == 6, "nvsp_send_buf");
_Static_assert(sizeof(struct nvsp_recv_buf_complete) == 24, "nvsp_recv_buf_complete");
_Static_assert(sizeof(struct nvsp_rndis_pkt) == 12, "nvsp_rndis_pkt");
_Static_assert(sizeof(struct nvsp_ndis_config) == 16, "nvsp_ndis_config");
_Static_assert(sizeof(struct nvsp_message) == NVSP_MSG_SIZE, "nvsp_message is 40 bytes");

/* The GPA-direct and transfer-page packet headers are in vmbus/vmbus_proto.h. */

/* ---- RNDIS ------------------------------------------------------------------------ */
enum rndis_msg_type {
    RNDIS_MSG_PACKET = 0x00000001,
    RNDIS_MSG_INIT = 0x00000002,
    RNDIS_MSG_HALT = 0x00000003,
    RNDIS_MSG_QUERY = 0x00000004,
    RNDIS_MSG_SET = 0x00000005,
    RNDIS_MSG_RESET = 0x00000006,
    RNDIS_MSG_INDICATE = 0x00000007,
    RNDIS_MSG_KEEPALIVE = 0x00000008,
    RNDIS_MSG_COMPLETION = 0x80000000,
    RNDIS_MSG_INIT_C = 0x80000002,
    RNDIS_MSG_QUERY_C = 0x80000004,
    RNDIS_MSG_SET_C = 0x80000005,
    RNDIS_MSG_RESET_C = 0x80000006,
    RNDIS_MSG_KEEPALIVE_C = 0x80000008,
};

#define RNDIS_STATUS_SUCCESS 0x00000000u
#define RNDIS_STATUS_BUFFER_OVERFLOW 0x80000005u
#define RNDIS_STATUS_FAILURE 0xC0000001u
#define RNDIS_STATUS_NOT_SUPPORTED 0xC00000BBu
#define RNDIS_STATUS_INVALID_LENGTH 0xC0010014u
#define RNDIS_STATUS_INVALID_DATA 0xC0010015u
#define RNDIS_STATUS_MEDIA_CONNECT 0x4001000Bu
#define RNDIS_STATUS_MEDIA_DISCONNECT 0x4001000Cu
#define RNDIS_STATUS_LINK_SPEED_CHANGE 0x40010013u
#define RNDIS_STATUS_NETWORK_CHANGE 0x40010018u

/* OIDs the Linux guest queries or sets */
#define RNDIS_OID_GEN_SUPPORTED_LIST 0x00010101u
#define RNDIS_OID_GEN_MAXIMUM_FRAME_SIZE 0x00010106u
#define RNDIS_OID_GEN_LINK_SPEED 0x00010107u
#define RNDIS_OID_GEN_CURRENT_PACKET_FILTER 0x0001010Eu
#define RNDIS_OID_GEN_MAXIMUM_TOTAL_SIZE 0x00010111u
#define RNDIS_OID_GEN_MEDIA_CONNECT_STATUS 0x00010114u
#define RNDIS_OID_GEN_RECEIVE_SCALE_CAPABILITIES 0x00010203u
#define RNDIS_OID_GEN_RECEIVE_SCALE_PARAMETERS 0x00010204u
#define RNDIS_OID_GEN_RNDIS_CONFIG_PARAMETER 0x0001021Bu
#define RNDIS_OID_GEN_FRIENDLY_NAME 0x00020216u
#define RNDIS_OID_802_3_PERMANENT_ADDRESS 0x01010101u
#define RNDIS_OID_802_3_CURRENT_ADDRESS 0x01010102u
#define RNDIS_OID_OFFLOAD_ENCAPSULATION 0x0101010Au /* set by Windows guests */
#define NDIS_OFFLOAD_ENCAPSULATION_SIZE 28          /* header + IPv4 and IPv6 {enabled, type, header size} */
#define RNDIS_OID_TCP_OFFLOAD_PARAMETERS 0xFC01020Cu
#define RNDIS_OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES 0xFC01020Du

/* packet filter bits (OID_GEN_CURRENT_PACKET_FILTER) */
#define RNDIS_FILTER_DIRECTED 0x1u
#define RNDIS_FILTER_MULTICAST 0x2u
#define RNDIS_FILTER_ALL_MULTICAST 0x4u
#define RNDIS_FILTER_BROADCAST 0x8u
#define RNDIS_FILTER_PROMISCUOUS 0x20u

/* per-packet info types */
enum rndis_ppi_type {
    RNDIS_PPI_CHECKSUM = 0,   /* TCPIP_CHKSUM_PKTINFO */
    RNDIS_PPI_IPSEC = 1,
    RNDIS_PPI_PKTINFO_ID = 1, /* with RNDIS_PPI_INTERNAL: RSC fragment id */
    RNDIS_PPI_LSO = 2,        /* TCP_LARGESEND_PKTINFO */
    RNDIS_PPI_VLAN = 6,       /* IEEE_8021Q_INFO */
    RNDIS_PPI_HASH_VALUE = 8, /* NBL_HASH_VALUE */
};
#define RNDIS_PPI_INTERNAL 0x80000000u /* top bit of the type word */

/* Checksum PPI bits. Transmit (guest asks the host to fill): */
#define RNDIS_CSUM_TX_IPV4 (1u << 0)
#define RNDIS_CSUM_TX_IPV6 (1u << 1)
#define RNDIS_CSUM_TX_TCP (1u << 2)
#define RNDIS_CSUM_TX_UDP (1u << 3)
#define RNDIS_CSUM_TX_IP_HEADER (1u << 4)
#define RNDIS_CSUM_TX_TCP_HDR_OFFSET(v) (((v) >> 16) & 0x3FFu)
/* Receive (host tells the guest what it verified): */
#define RNDIS_CSUM_RX_TCP_FAILED (1u << 0)
#define RNDIS_CSUM_RX_UDP_FAILED (1u << 1)
#define RNDIS_CSUM_RX_IP_FAILED (1u << 2)
#define RNDIS_CSUM_RX_TCP_SUCCEEDED (1u << 3)
#define RNDIS_CSUM_RX_UDP_SUCCEEDED (1u << 4)
#define RNDIS_CSUM_RX_IP_SUCCEEDED (1u << 5)
/* LSO v2 transmit PPI: mss:20, tcp_header_offset:10, type:1 (1 = v2), ip_version:1 (1 = v6) */
#define RNDIS_LSO_MSS(v) ((v) & 0xFFFFFu)
#define RNDIS_LSO_TCP_HDR_OFFSET(v) (((v) >> 20) & 0x3FFu)
#define RNDIS_LSO_TYPE_V2(v) (((v) >> 30) & 1u)
#define RNDIS_LSO_IPV6(v) (((v) >> 31) & 1u)
/* VLAN PPI: pri:3, cfi:1, vlanid:12 */
#define RNDIS_VLAN_PRI(v) ((v) & 7u)
#define RNDIS_VLAN_CFI(v) (((v) >> 3) & 1u)
#define RNDIS_VLAN_ID(v) (((v) >> 4) & 0xFFFu)

struct __attribute__((packed)) rndis_header {
    uint32_t msg_type, msg_len;
};
struct __attribute__((packed)) rndis_packet { /* after the header */
    uint32_t data_offset, data_len, oob_data_offset, oob_data_len, num_oob_data_elements;
    uint32_t per_pkt_info_offset, per_pkt_info_len, vc_handle, reserved;
};
struct __attribute__((packed)) rndis_per_packet_info {
    uint32_t size, type, ppi_offset;
};
struct __attribute__((packed)) rndis_init_request {
    uint32_t req_id, major_ver, minor_ver, max_xfer_size;
};
struct __attribute__((packed)) rndis_init_complete {
    uint32_t req_id, status, major_ver, minor_ver, dev_flags, medium, max_pkt_per_msg,
        max_xfer_size, pkt_alignment_factor, af_list_offset, af_list_size;
};
struct __attribute__((packed)) rndis_query_request { /* also SET */
    uint32_t req_id, oid, info_buflen, info_buf_offset, dev_vc_handle;
};
struct __attribute__((packed)) rndis_query_complete {
    uint32_t req_id, status, info_buflen, info_buf_offset;
};
struct __attribute__((packed)) rndis_set_complete { /* also KEEPALIVE_C */
    uint32_t req_id, status;
};
struct __attribute__((packed)) rndis_reset_complete {
    uint32_t status, addressing_reset;
};
struct __attribute__((packed)) rndis_indicate_status {
    uint32_t status, status_buflen, status_buf_offset;
};
_Static_assert(sizeof(struct rndis_packet) == 36, "rndis_packet");
_Static_assert(sizeof(struct rndis_init_complete) == 44, "rndis_init_complete");
_Static_assert(sizeof(struct rndis_query_request) == 20, "rndis_query_request");
_Static_assert(sizeof(struct rndis_indicate_status) == 12, "rndis_indicate_status");

#define RNDIS_DF_CONNECTIONLESS 0x1u
#define RNDIS_MEDIUM_802_3 0u

/* struct ndis_offload (OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES), revision 3 = 156 bytes.
 * Byte offsets of the u32 fields the guest reads (Linux hyperv_net.h, compiled layout;
 * reference 7b): csum @4 (ip4_txenc, ip4_txcsum, ip4_rxenc, ip4_rxcsum, ip6_txenc,
 * ip6_txcsum, ip6_rxenc, ip6_rxcsum), lsov2 @80 (ip4_encap, ip4_maxsz, ip4_minsg,
 * ip6_encap, ip6_maxsz, ip6_minsg, ip6_opts), rsc @144 (u8 ip4, u8 ip6). */
#define NDIS_OBJECT_TYPE_OFFLOAD 0xA7
/* receive-side scaling (reference 7b; layouts in rndis_dev.c) */
#define NDIS_OBJECT_TYPE_RSS_CAPABILITIES 0x88
#define NDIS_OBJECT_TYPE_RSS_PARAMETERS 0x89
#define NDIS_RSS_CAPS_REVISION_2 2
#define NDIS_RSS_CAPS_SIZE 18
#define NDIS_RSS_CAPS_HASH_TYPE_TCP_IPV4 0x00000100u
#define NDIS_RSS_CAPS_HASH_TYPE_TCP_IPV6 0x00000200u
#define NDIS_RSS_PARAMS_MIN_SIZE 28 /* through the key offset */
#define NDIS_RSS_PARAM_FLAG_HASH_INFO_UNCHANGED 0x0002u
#define NDIS_RSS_PARAM_FLAG_ITABLE_UNCHANGED 0x0004u
#define NDIS_RSS_PARAM_FLAG_HASH_KEY_UNCHANGED 0x0008u
#define NDIS_RSS_PARAM_FLAG_DISABLE_RSS 0x0010u
#define NDIS_OFFLOAD_REVISION_3 3
#define NDIS_OFFLOAD_SIZE_REV3 156
#define NDIS_OFFLOAD_CSUM_IP4_TXENC 4
#define NDIS_OFFLOAD_CSUM_IP4_TXCSUM 8
#define NDIS_OFFLOAD_CSUM_IP4_RXENC 12
#define NDIS_OFFLOAD_CSUM_IP4_RXCSUM 16
#define NDIS_OFFLOAD_CSUM_IP6_TXENC 20
#define NDIS_OFFLOAD_CSUM_IP6_TXCSUM 24
#define NDIS_OFFLOAD_CSUM_IP6_RXENC 28
#define NDIS_OFFLOAD_CSUM_IP6_RXCSUM 32
#define NDIS_OFFLOAD_LSOV2_IP4_ENCAP 80
#define NDIS_OFFLOAD_LSOV2_IP4_MAXSZ 84
#define NDIS_OFFLOAD_LSOV2_IP4_MINSG 88
#define NDIS_OFFLOAD_LSOV2_IP6_ENCAP 92
#define NDIS_OFFLOAD_LSOV2_IP6_MAXSZ 96
#define NDIS_OFFLOAD_LSOV2_IP6_MINSG 100
#define NDIS_OFFLOAD_LSOV2_IP6_OPTS 104
#define NDIS_OFFLOAD_RSC_IP4 144
#define NDIS_OFFLOAD_RSC_IP6 145
#define NDIS_OFFLOAD_ENCAP_8023 0x2u
/* checksum capability bits (tx and rx alike) */
#define NDIS_CSUM_CAP_IP4OPT 0x001u /* IPv6: IP6EXT */
#define NDIS_CSUM_CAP_TCPOPT 0x004u
#define NDIS_CSUM_CAP_TCP 0x010u
#define NDIS_CSUM_CAP_UDP 0x040u
#define NDIS_CSUM_CAP_IP4 0x100u
#define NDIS_LSOV2_CAP_IP6EXT 0x001u
#define NDIS_LSOV2_CAP_TCP6OPT 0x004u
/* struct ndis_offload_params (OID_TCP_OFFLOAD_PARAMETERS set): header, then u8 each:
 * ip4 csum @4, tcp4 @5, udp4 @6, tcp6 @7, udp6 @8, lsov1 @9, ipsecv1 @10, lsov2 ip4 @11,
 * lsov2 ip6 @12, ... rsc ip4 @22, rsc ip6 @23 (revision 3 only). */
#define NDIS_OBJECT_TYPE_DEFAULT 0x80
#define NDIS_OFFLOAD_PARAMS_SIZE_REV2 22
#define NDIS_OFFLOAD_PARAMS_SIZE_REV3 28
#define NDIS_OFFLOAD_PARAMS_TCP4 5
#define NDIS_OFFLOAD_PARAMS_UDP4 6
#define NDIS_OFFLOAD_PARAMS_TCP6 7
#define NDIS_OFFLOAD_PARAMS_UDP6 8
#define NDIS_OFFLOAD_PARAMS_LSO4 11
#define NDIS_OFFLOAD_PARAMS_LSO6 12
#define NDIS_OFFLOAD_PARAMS_RSC4 22
#define NDIS_OFFLOAD_PARAMS_RSC6 23
/* checksum parameter values: 0 no change, 1 off, 2 tx only, 3 rx only, 4 both */
#define NDIS_OFFLOAD_PARAM_RX_ENABLED_TX_DISABLED 3
#define NDIS_OFFLOAD_PARAM_TX_RX_ENABLED 4
#define NDIS_OFFLOAD_PARAM_RSC_ENABLED 2
/* receive checksum PPI bit: the IP header checksum was not filled in (after RSC) */
#define RNDIS_CSUM_RX_IP_VALUE_INVALID (1u << 8)
/* internal RNDIS_PKTINFO_ID PPI (type 1 | RNDIS_PPI_INTERNAL) for RSC fragments:
 * {u8 version (1), u8 flag, u16 pkt_id}; flag bits */
#define RNDIS_PKTINFO_ID_V1 1u
#define RNDIS_PKTINFO_SUBALLOC 0x1u
#define RNDIS_PKTINFO_1ST_FRAG 0x2u
#define RNDIS_PKTINFO_LAST_FRAG 0x4u

#endif
