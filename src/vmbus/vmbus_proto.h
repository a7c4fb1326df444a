/* VMBus wire formats: channel (control) messages and ring-buffer packet descriptors
 * (reference §5, §6; Linux include/linux/hyperv.h). All little-endian, packed. */
#ifndef VIRIDIAN_VMBUS_PROTO_H
#define VIRIDIAN_VMBUS_PROTO_H

#include <stdint.h>

#define VMBUS_MESSAGE_CONNECTION_ID   1u
#define VMBUS_MESSAGE_CONNECTION_ID_4 4u
#define VMBUS_MESSAGE_SINT            2u
#define VMBUS_MESSAGE_TYPE            1u   /* SynIC message type of channel messages */
#define VMBUS_CONNECTION_ID_BASE      0x2000u /* channel connection id = base + relid */
#define VMBUS_MAX_RELID               2047u

#define VMBUS_VERSION_WIN8      0x00020004u
#define VMBUS_VERSION_WIN8_1    0x00030000u
#define VMBUS_VERSION_WIN10     0x00040000u
#define VMBUS_VERSION_WIN10_V4_1 0x00040001u
#define VMBUS_VERSION_WIN10_V5  0x00050000u
#define VMBUS_VERSION_WIN10_V5_1 0x00050001u
#define VMBUS_VERSION_WIN10_V5_2 0x00050002u
#define VMBUS_VERSION_WIN10_V5_3 0x00050003u

enum vmbus_msgtype {
    CHANNELMSG_INVALID = 0,
    CHANNELMSG_OFFERCHANNEL = 1,
    CHANNELMSG_RESCIND_CHANNELOFFER = 2,
    CHANNELMSG_REQUESTOFFERS = 3,
    CHANNELMSG_ALLOFFERS_DELIVERED = 4,
    CHANNELMSG_OPENCHANNEL = 5,
    CHANNELMSG_OPENCHANNEL_RESULT = 6,
    CHANNELMSG_CLOSECHANNEL = 7,
    CHANNELMSG_GPADL_HEADER = 8,
    CHANNELMSG_GPADL_BODY = 9,
    CHANNELMSG_GPADL_CREATED = 10,
    CHANNELMSG_GPADL_TEARDOWN = 11,
    CHANNELMSG_GPADL_TORNDOWN = 12,
    CHANNELMSG_RELID_RELEASED = 13,
    CHANNELMSG_INITIATE_CONTACT = 14,
    CHANNELMSG_VERSION_RESPONSE = 15,
    CHANNELMSG_UNLOAD = 16,
    CHANNELMSG_UNLOAD_RESPONSE = 17,
    CHANNELMSG_TL_CONNECT_REQUEST = 21,
    CHANNELMSG_MODIFYCHANNEL = 22,
    CHANNELMSG_TL_CONNECT_RESULT = 23,
    CHANNELMSG_MODIFYCHANNEL_RESPONSE = 24,
    CHANNELMSG_COUNT = 25,
};

struct vmbus_guid {
    uint8_t b[16]; /* wire (mixed-endian) byte order */
};

/* GUID {a-b-c-d0d1-d2..d7} in wire order. */
#define VMBUS_GUID(a, b, c, d0, d1, d2, d3, d4, d5, d6, d7)                                  \
    { { (a) & 0xFF, ((a) >> 8) & 0xFF, ((a) >> 16) & 0xFF, ((a) >> 24) & 0xFF, (b) & 0xFF,   \
        ((b) >> 8) & 0xFF, (c) & 0xFF, ((c) >> 8) & 0xFF, d0, d1, d2, d3, d4, d5, d6, d7 } }

#define VMBUS_PACKED __attribute__((packed))

struct vmbus_msg_header {
    uint32_t msgtype;
    uint32_t padding;
} VMBUS_PACKED;

struct vmbus_msg_initiate_contact {
    struct vmbus_msg_header hdr;
    uint32_t version_requested;
    uint32_t target_vcpu;
    uint64_t interrupt_page_or_sint; /* <5.0: GPA; >=5.0: byte 0 = msg_sint */
    uint64_t monitor_page1;
    uint64_t monitor_page2;
} VMBUS_PACKED;

struct vmbus_msg_version_response {
    struct vmbus_msg_header hdr;
    uint8_t version_supported;
    uint8_t connection_state;
    uint16_t padding;
    uint32_t msg_conn_id;
} VMBUS_PACKED;

struct vmbus_msg_offer_channel {
    struct vmbus_msg_header hdr;
    struct vmbus_guid if_type;
    struct vmbus_guid if_instance;
    uint64_t reserved1;
    uint64_t reserved2;
    uint16_t chn_flags;
    uint16_t mmio_megabytes;
    uint8_t user_def[120];
    uint16_t sub_channel_index;
    uint16_t reserved3;
    uint32_t child_relid;
    uint8_t monitorid;
    uint8_t monitor_allocated;
    uint16_t is_dedicated_interrupt;
    uint32_t connection_id;
} VMBUS_PACKED;

struct vmbus_msg_relid {           /* RESCIND_CHANNELOFFER, CLOSECHANNEL, RELID_RELEASED */
    struct vmbus_msg_header hdr;
    uint32_t child_relid;
} VMBUS_PACKED;

struct vmbus_msg_open_channel {
    struct vmbus_msg_header hdr;
    uint32_t child_relid;
    uint32_t openid;
    uint32_t ringbuffer_gpadlhandle;
    uint32_t target_vp;
    uint32_t downstream_ringbuffer_pageoffset;
    uint8_t userdata[120];
} VMBUS_PACKED;

struct vmbus_msg_open_result {
    struct vmbus_msg_header hdr;
    uint32_t child_relid;
    uint32_t openid;
    uint32_t status;
} VMBUS_PACKED;

struct vmbus_gpa_range {
    uint32_t byte_count;
    uint32_t byte_offset;
    /* uint64_t pfn_array[] follows */
} VMBUS_PACKED;

struct vmbus_msg_gpadl_header {
    struct vmbus_msg_header hdr;
    uint32_t child_relid;
    uint32_t gpadl;
    uint16_t range_buflen;
    uint16_t rangecount;
    /* struct vmbus_gpa_range + PFNs follow */
} VMBUS_PACKED;

struct vmbus_msg_gpadl_body {
    struct vmbus_msg_header hdr;
    uint32_t msgnumber;
    uint32_t gpadl;
    /* uint64_t pfn[] follows */
} VMBUS_PACKED;

struct vmbus_msg_gpadl_created {
    struct vmbus_msg_header hdr;
    uint32_t child_relid;
    uint32_t gpadl;
    uint32_t creation_status;
} VMBUS_PACKED;

struct vmbus_msg_gpadl_teardown {
    struct vmbus_msg_header hdr;
    uint32_t child_relid;
    uint32_t gpadl;
} VMBUS_PACKED;

struct vmbus_msg_gpadl_torndown {
    struct vmbus_msg_header hdr;
    uint32_t gpadl;
} VMBUS_PACKED;

struct vmbus_msg_tl_connect_request {
    struct vmbus_msg_header hdr;
    struct vmbus_guid guest_endpoint_id;
    struct vmbus_guid host_service_id;
} VMBUS_PACKED;

struct vmbus_msg_tl_connect_result {
    struct vmbus_msg_header hdr;
    struct vmbus_guid guest_endpoint_id;
    struct vmbus_guid host_service_id;
    uint32_t status;
} VMBUS_PACKED;

struct vmbus_msg_modify_channel {
    struct vmbus_msg_header hdr;
    uint32_t child_relid;
    uint32_t target_vp;
} VMBUS_PACKED;

struct vmbus_msg_modify_channel_response {
    struct vmbus_msg_header hdr;
    uint32_t child_relid;
    uint32_t status;
} VMBUS_PACKED;

_Static_assert(sizeof(struct vmbus_msg_initiate_contact) == 40, "initiate contact");
_Static_assert(sizeof(struct vmbus_msg_version_response) == 16, "version response");
_Static_assert(sizeof(struct vmbus_msg_offer_channel) == 196, "offer");
_Static_assert(sizeof(struct vmbus_msg_open_channel) == 148, "open");
_Static_assert(sizeof(struct vmbus_msg_open_result) == 20, "open result");
_Static_assert(sizeof(struct vmbus_msg_gpadl_header) == 20, "gpadl header");
_Static_assert(sizeof(struct vmbus_msg_gpadl_body) == 16, "gpadl body");
_Static_assert(sizeof(struct vmbus_msg_gpadl_created) == 20, "gpadl created");
_Static_assert(sizeof(struct vmbus_msg_gpadl_torndown) == 12, "gpadl torndown");
_Static_assert(sizeof(struct vmbus_msg_modify_channel_response) == 16, "modify response");

/* Offer chn_flags */
#define VMBUS_CHANNEL_NAMED_PIPE_MODE 0x0010u

/* --- ring buffers ----------------------------------------------------------------- */
#define VMBUS_PKT_TRAILER 8u
#define VMBUS_RING_HEADER_SIZE 4096u
#define VMBUS_RING_FEAT_PENDING_SEND_SZ 1u

enum vmbus_packet_type {
    VMBUS_PACKET_SYNCH = 0x1,
    VMBUS_PACKET_ADD_XFER_PAGESET = 0x2,
    VMBUS_PACKET_RM_XFER_PAGESET = 0x3,
    VMBUS_PACKET_ESTABLISH_GPADL = 0x4,
    VMBUS_PACKET_TEARDOWN_GPADL = 0x5,
    VMBUS_PACKET_DATA_INBAND = 0x6,
    VMBUS_PACKET_DATA_USING_XFER_PAGES = 0x7,
    VMBUS_PACKET_DATA_USING_GPADL = 0x8,
    VMBUS_PACKET_DATA_USING_GPA_DIRECT = 0x9,
    VMBUS_PACKET_CANCEL_REQUEST = 0xA,
    VMBUS_PACKET_COMP = 0xB,
};

#define VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED 1u

/* GPA-direct packets (type 0x9): after the 16-byte descriptor come `reserved` and
 * `range_count`, then each range {len, offset, pfn[]} with as many PFNs as the range
 * [offset, offset+len) touches pages. */
struct vmbus_gpa_direct_hdr {
    uint32_t reserved;
    uint32_t range_count;
} VMBUS_PACKED;

struct vmbus_gpa_range_hdr {
    uint32_t byte_count;
    uint32_t byte_offset;
} VMBUS_PACKED;

/* Transfer-page packets (type 0x7): after the descriptor, this header and range_count
 * ranges, each a byte range of the transfer page set (e.g. netvsc's receive buffer). */
struct vmbus_xfer_page_hdr {
    uint16_t xfer_pageset_id;
    uint8_t sender_owns_set, reserved;
    uint32_t range_count;
} VMBUS_PACKED;

struct vmbus_xfer_page_range {
    uint32_t byte_count;
    uint32_t byte_offset;
} VMBUS_PACKED;
_Static_assert(sizeof(struct vmbus_xfer_page_hdr) == 8, "xfer page header");

struct vmbus_packet_desc {
    uint16_t type;
    uint16_t offset8;
    uint16_t len8;
    uint16_t flags;
    uint64_t trans_id;
} VMBUS_PACKED;
_Static_assert(sizeof(struct vmbus_packet_desc) == 16, "descriptor");

#endif
