/* Wire format of the Hyper-V synthetic SCSI controller (storvsc/storvsp), reference §7a;
 * checked against Linux 6.1 drivers/scsi/storvsc_drv.c and openvmm storvsp_protocol. */
#ifndef VIRIDIAN_VSP_STORVSP_PROTO_H
#define VIRIDIAN_VSP_STORVSP_PROTO_H

#include <stdint.h>

#include "vmbus/vmbus_proto.h"

/* {ba6163d9-04a1-4d29-b605-72e2ffb1dc7f}: the SCSI controller class, bound by hv_storvsc. */
#define STORVSP_SCSI_CLASS_GUID \
    VMBUS_GUID(0xba6163d9, 0x04a1, 0x4d29, 0xb6, 0x05, 0x72, 0xe2, 0xff, 0xb1, 0xdc, 0x7f)

#define VSTOR_PROTO(major, minor) (((major) << 8) | (minor))
#define VSTOR_PROTO_WIN8   VSTOR_PROTO(5, 1)
#define VSTOR_PROTO_WIN8_1 VSTOR_PROTO(6, 0)
#define VSTOR_PROTO_WIN10  VSTOR_PROTO(6, 2)

enum vstor_operation {
    VSTOR_OP_COMPLETE_IO = 1,
    VSTOR_OP_REMOVE_DEVICE = 2,
    VSTOR_OP_EXECUTE_SRB = 3,
    VSTOR_OP_RESET_LUN = 4,
    VSTOR_OP_RESET_ADAPTER = 5,
    VSTOR_OP_RESET_BUS = 6,
    VSTOR_OP_BEGIN_INITIALIZATION = 7,
    VSTOR_OP_END_INITIALIZATION = 8,
    VSTOR_OP_QUERY_PROTOCOL_VERSION = 9,
    VSTOR_OP_QUERY_PROPERTIES = 10,
    VSTOR_OP_ENUMERATE_BUS = 11,
    VSTOR_OP_FCHBA_DATA = 12,
    VSTOR_OP_CREATE_SUB_CHANNELS = 13,
};

#define VSTOR_FLAG_REQUEST_COMPLETION 0x1u

/* NTSTATUS values in vstor_packet.status */
#define VSTOR_STATUS_SUCCESS              0x00000000u
#define VSTOR_STATUS_REVISION_MISMATCH    0xC0000059u
#define VSTOR_STATUS_INVALID_DEVICE_STATE 0xC0000184u
#define VSTOR_STATUS_INVALID_PARAMETER    0xC000000Du

/* vmscsi_request.data_in */
#define VSTOR_WRITE_TYPE   0 /* data to the device */
#define VSTOR_READ_TYPE    1
#define VSTOR_UNKNOWN_TYPE 2

/* vmscsi_request.srb_status */
#define SRB_STATUS_SUCCESS         0x01
#define SRB_STATUS_ABORTED         0x02
#define SRB_STATUS_ERROR           0x04
#define SRB_STATUS_INVALID_REQUEST 0x06
#define SRB_STATUS_DATA_OVERRUN    0x12
#define SRB_STATUS_INVALID_LUN     0x20
#define SRB_STATUS_AUTOSENSE_VALID 0x80

#define VSTOR_CDB_MAX   16
#define VSTOR_SENSE_MAX 20

struct vmscsi_request {
    uint16_t length;
    uint8_t srb_status;
    uint8_t scsi_status;
    uint8_t port_number;
    uint8_t path_id;
    uint8_t target_id;
    uint8_t lun;
    uint8_t cdb_length;
    uint8_t sense_info_length;
    uint8_t data_in;
    uint8_t reserved;
    uint32_t data_transfer_length;
    union {
        uint8_t cdb[VSTOR_CDB_MAX];
        uint8_t sense_data[VSTOR_SENSE_MAX];
    };
    /* the "win8 extension": always present for the protocols Linux 6.1 speaks */
    uint16_t reserve;
    uint8_t queue_tag;
    uint8_t queue_action;
    uint32_t srb_flags;
    uint32_t time_out_value;
    uint32_t queue_sort_ey;
} VMBUS_PACKED;

struct vmstorage_channel_properties {
    uint32_t reserved;
    uint16_t max_channel_cnt;
    uint16_t reserved1;
    uint32_t flags;
    uint32_t max_transfer_bytes;
    uint64_t reserved2;
} VMBUS_PACKED;

#define VSTOR_PROP_SUPPORTS_MULTI_CHANNEL 0x1u

struct vmstorage_protocol_version {
    uint16_t major_minor;
    uint16_t revision;
} VMBUS_PACKED;

struct vstor_packet {
    uint32_t operation;
    uint32_t flags;
    uint32_t status;
    union {
        struct vmscsi_request vm_srb;
        struct vmstorage_channel_properties storage_channel_properties;
        struct vmstorage_protocol_version version;
        uint16_t sub_channel_count;
        uint8_t buffer[0x34];
    };
} VMBUS_PACKED;

_Static_assert(sizeof(struct vmscsi_request) == 52, "vmscsi_request");
_Static_assert(sizeof(struct vmstorage_channel_properties) == 24, "channel properties");
_Static_assert(sizeof(struct vstor_packet) == 64, "vstor_packet");

#endif
