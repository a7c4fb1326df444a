/* NVSP messages: bounds-checked parsing of what the guest's netvsc sends, and builders
 * for the host's replies (each a full 40-byte nvsp_message, zero-padded, as the guest's
 * completion checks expect). Functions returning int give 0 or a negative errno. */
#ifndef VIRIDIAN_VSP_NVSP_H
#define VIRIDIAN_VSP_NVSP_H

#include <stddef.h>
#include <stdint.h>

#include "vmbus/gpa_direct.h"
#include "vsp/netvsp_proto.h"

/* A parsed guest->host NVSP message. Only the member for `type` is meaningful. */
struct nvsp_msg {
    uint32_t type;
    union {
        struct { uint32_t min_ver, max_ver; } init;
        struct { uint32_t major, minor; } ndis_ver;
        struct { uint32_t gpadl; uint16_t id; } buf;       /* SEND_RECV_BUF / SEND_SEND_BUF */
        struct { uint16_t id; } revoke;                    /* REVOKE_RECV_BUF / _SEND_BUF */
        struct { uint32_t channel_type, section_index, section_size; } rndis_pkt;
        struct { uint32_t status; } rndis_pkt_complete;
        struct { uint32_t mtu; uint64_t capability; } ndis_config;
        struct { uint32_t active_datapath; } switch_data_path;
        struct { uint32_t op, num; } subchannel;
    };
};

/* Parse LEN bytes of a guest NVSP message (the VMBus packet payload: bytes past the
 * message, such as ring padding, are ignored). -EINVAL: shorter than its type needs,
 * or a field is out of range (RNDIS channel type, subchannel op, zero GPADL);
 * -ENOTSUP: a type a guest never sends to the host. */
int nvsp_parse(const void *buf, size_t len, struct nvsp_msg *m);
const char *nvsp_type_name(uint32_t type);

/* Is VER one of the NVSP versions this host speaks? */
int nvsp_version_supported(uint32_t ver);

/* The byte range of a send-buffer section: SECTION_INDEX (< SECTIONS) of SECTION_BYTES
 * each, SIZE bytes used (1..SECTION_BYTES). Sets *off. -EINVAL if out of range. */
int nvsp_send_section(uint32_t section_index, uint32_t size, uint32_t section_bytes,
                      uint32_t sections, uint64_t *off);

/* GPA-direct page ranges: the one parser in vmbus/gpa_direct.h, under the names netvsp
 * has always used. */
#define nvsp_gpa_chunk vmbus_gpa_chunk
int nvsp_gpa_direct_chunks(const uint8_t *raw, size_t raw_len, struct nvsp_gpa_chunk *out,
                           size_t max, uint64_t *total);

/* Builders: each fills a 40-byte message at OUT and returns NVSP_MSG_SIZE. */
size_t nvsp_build_init_complete(struct nvsp_message *out, uint32_t status, uint32_t version);
size_t nvsp_build_recv_buf_complete(struct nvsp_message *out, uint32_t status,
                                    uint32_t sub_alloc_size, uint32_t num_sub_allocs);
size_t nvsp_build_send_buf_complete(struct nvsp_message *out, uint32_t status,
                                    uint32_t section_size);
size_t nvsp_build_rndis_pkt(struct nvsp_message *out, uint32_t channel_type);
size_t nvsp_build_rndis_pkt_complete(struct nvsp_message *out, uint32_t status);
size_t nvsp_build_subchannel_complete(struct nvsp_message *out, uint32_t status, uint32_t num);
/* SEND_INDIRECTION_TABLE: the 16 channel numbers follow the 40-byte message (offset
 * field = 40, where Linux reads them for every version); OUT needs 40 + 64 bytes.
 * Returns 104. */
size_t nvsp_build_indirection_table(void *out, const uint32_t table[NVSP_INDIRECTION_TABLE_SIZE]);

#endif
