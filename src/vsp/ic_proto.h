/* Wire format of the Hyper-V integration components (hv_utils) carried in INBAND ring
 * packets (reference §7c; Linux include/linux/hyperv.h, include/uapi/linux/hyperv.h,
 * drivers/hv/hv_util.c, hv_kvp.c; openvmm vm/devices/hyperv_ic*). Little-endian, packed.
 * Every message: 8-byte pipe header + 20-byte icmsg header (28 bytes) + body. The host
 * sends requests (flags TRANSACTION|REQUEST); the guest rewrites the same buffer in place
 * and sends it back (flags TRANSACTION|RESPONSE) with the host's ring trans_id. */
#ifndef VIRIDIAN_VSP_IC_PROTO_H
#define VIRIDIAN_VSP_IC_PROTO_H

#include <stdint.h>

#define IC_PACKED __attribute__((packed))

#define IC_PIPE_FLAG_DATA 1u /* vmbuspipe_hdr.flags as openvmm writes it; Linux ignores */

enum ic_msgtype {
    IC_MSG_NEGOTIATE = 0,
    IC_MSG_HEARTBEAT = 1,
    IC_MSG_KVP = 2,
    IC_MSG_SHUTDOWN = 3,
    IC_MSG_TIMESYNC = 4,
};

#define IC_FLAG_TRANSACTION 0x1u
#define IC_FLAG_REQUEST     0x2u
#define IC_FLAG_RESPONSE    0x4u

#define IC_S_OK     0x00000000u
#define IC_E_FAIL   0x80004005u
#define IC_S_CONT   0x80070103u /* KVP: no such index / key (ends an enumeration) */

#define IC_VER(major, minor) ((uint32_t)(major) << 16 | (uint32_t)(minor))
#define IC_VER_MAJOR(v) ((uint16_t)((v) >> 16))
#define IC_VER_MINOR(v) ((uint16_t)((v) & 0xFFFF))

/* Linux: IC_VERSION_NEGOTIATION_MAX_VER_COUNT */
#define IC_NEGOTIATE_MAX_VERSIONS 100u

struct ic_pipe_hdr {
    uint32_t flags;
    uint32_t msgsize; /* bytes after this header */
} IC_PACKED;

struct ic_msg_hdr {
    uint16_t fw_major, fw_minor;   /* icverframe */
    uint16_t msgtype;
    uint16_t msg_major, msg_minor; /* icvermsg */
    uint16_t msgsize;              /* body bytes */
    uint32_t status;
    uint8_t trans_id;
    uint8_t flags;
    uint8_t reserved[2];
} IC_PACKED;

struct ic_hdr {
    struct ic_pipe_hdr pipe;
    struct ic_msg_hdr msg;
} IC_PACKED;
#define IC_HDR_SIZE 28u

struct ic_version {
    uint16_t major, minor;
} IC_PACKED;

struct ic_negotiate {
    uint16_t fw_count;
    uint16_t msg_count;
    uint32_t reserved;
    /* struct ic_version [fw_count + msg_count] follow */
} IC_PACKED;

struct ic_shutdown_body {
    uint32_t reason_code;
    uint32_t timeout_seconds;
    uint32_t flags; /* bit 0 force, bit 1 restart, bit 2 hibernate */
    uint8_t display_message[2048];
} IC_PACKED;
#define IC_SHUTDOWN_REASON_PLANNED 0x80000000u /* SHTDN_REASON_FLAG_PLANNED */

struct ic_heartbeat_body {
    uint64_t seq_num;
    uint32_t reserved[8];
} IC_PACKED;

struct ic_timesync_body_v3 { /* message versions 1.0 and 3.0: struct ictimesync_data */
    uint64_t parenttime; /* FILETIME: 100 ns since 1601-01-01 UTC */
    uint64_t childtime;
    uint64_t roundtriptime;
    uint8_t flags;
} IC_PACKED;

struct ic_timesync_body_v4 { /* message version 4.0: struct ictimesync_ref_data */
    uint64_t parenttime;
    uint64_t vmreferencetime; /* guest reference counter (MSR 0x40000020) at parenttime */
    uint8_t flags;
    uint8_t leapflags;
    uint8_t stratum;
    uint8_t reserved[3];
} IC_PACKED;

#define IC_TIMESYNC_PROBE  0u
#define IC_TIMESYNC_SYNC   1u /* guest steps its clock */
#define IC_TIMESYNC_SAMPLE 2u /* guest stores it (hyperv PTP clock) */
/* FILETIME of the Unix epoch (Linux WLTIMEDELTA). */
#define IC_FILETIME_UNIX_EPOCH 116444736000000000ull

/* --- KVP (message type 2): struct hv_kvp_msg / hv_kvp_ip_msg ------------------------ */
#define IC_KVP_KEY_BYTES   512u  /* HV_KVP_EXCHANGE_MAX_KEY_SIZE, UTF-16LE incl. NUL */
#define IC_KVP_VALUE_BYTES 2048u /* HV_KVP_EXCHANGE_MAX_VALUE_SIZE */
#define IC_KVP_ADAPTER_ID_UNITS 128u  /* MAX_ADAPTER_ID_SIZE (UTF-16 units) */
#define IC_KVP_IP_UNITS         1024u /* MAX_IP_ADDR_SIZE */
#define IC_KVP_GATEWAY_UNITS    512u  /* MAX_GATEWAY_SIZE */

#define IC_KVP_REG_SZ  1u
#define IC_KVP_REG_U32 4u
#define IC_KVP_REG_U64 8u

struct ic_kvp_value {
    uint32_t value_type;
    uint32_t key_size;   /* bytes incl. the UTF-16 NUL */
    uint32_t value_size; /* bytes incl. the UTF-16 NUL */
    uint8_t key[IC_KVP_KEY_BYTES];
    uint8_t value[IC_KVP_VALUE_BYTES];
} IC_PACKED;

struct ic_kvp_ipaddr {
    uint16_t adapter_id[IC_KVP_ADAPTER_ID_UNITS];
    uint8_t addr_family;
    uint8_t dhcp_enabled;
    uint16_t ip_addr[IC_KVP_IP_UNITS];
    uint16_t sub_net[IC_KVP_IP_UNITS];
    uint16_t gate_way[IC_KVP_GATEWAY_UNITS];
    uint16_t dns_addr[IC_KVP_IP_UNITS];
} IC_PACKED;

struct ic_kvp_msg {
    uint8_t operation;
    uint8_t pool;
    uint16_t pad;
    union {
        struct ic_kvp_value get_set;           /* GET, SET */
        struct {
            uint32_t key_size;
            uint8_t key[IC_KVP_KEY_BYTES];
        } IC_PACKED del;                        /* DELETE */
        struct {
            uint32_t index;
            struct ic_kvp_value data;
        } IC_PACKED enumerate;                  /* ENUMERATE */
        struct ic_kvp_ipaddr ip_pad;            /* sizes the union like Linux's */
    } body;
} IC_PACKED;

/* GET_IP_INFO / SET_IP_INFO use this overlay of the same bytes (ip data at offset 2). */
struct ic_kvp_ip_msg {
    uint8_t operation;
    uint8_t pool;
    struct ic_kvp_ipaddr ip;
} IC_PACKED;

_Static_assert(sizeof(struct ic_hdr) == IC_HDR_SIZE, "ic header");
_Static_assert(sizeof(struct ic_negotiate) == 8, "negotiate");
_Static_assert(sizeof(struct ic_shutdown_body) == 2060, "shutdown");
_Static_assert(sizeof(struct ic_heartbeat_body) == 40, "heartbeat");
_Static_assert(sizeof(struct ic_timesync_body_v3) == 25, "timesync v3");
_Static_assert(sizeof(struct ic_timesync_body_v4) == 22, "timesync v4");
_Static_assert(sizeof(struct ic_kvp_value) == 2572, "kvp value");
_Static_assert(sizeof(struct ic_kvp_ipaddr) == 7426, "kvp ip");
_Static_assert(sizeof(struct ic_kvp_msg) == 7430, "kvp msg");
_Static_assert(sizeof(struct ic_kvp_ip_msg) == 7428, "kvp ip msg");

#endif
