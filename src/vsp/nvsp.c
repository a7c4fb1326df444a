/* NVSP parsing and reply building; see nvsp.h. */
#include "vsp/nvsp.h"

#include <errno.h>
#include <string.h>

#include "core/endian.h"

/* Bytes of body (after msg_type) each guest->host type needs. */
static int body_size(uint32_t type)
{
    switch (type) {
    case NVSP_MSG_INIT: return sizeof(struct nvsp_init);
    case NVSP_MSG1_SEND_NDIS_VER: return sizeof(struct nvsp_ndis_ver);
    case NVSP_MSG1_SEND_RECV_BUF:
    case NVSP_MSG1_SEND_SEND_BUF: return sizeof(struct nvsp_send_buf);
    case NVSP_MSG1_REVOKE_RECV_BUF:
    case NVSP_MSG1_REVOKE_SEND_BUF: return sizeof(struct nvsp_revoke_buf);
    case NVSP_MSG1_SEND_RNDIS_PKT: return sizeof(struct nvsp_rndis_pkt);
    case NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE: return sizeof(struct nvsp_rndis_pkt_complete);
    case NVSP_MSG2_SEND_NDIS_CONFIG: return sizeof(struct nvsp_ndis_config);
    case NVSP_MSG4_SWITCH_DATA_PATH: return sizeof(struct nvsp_switch_data_path);
    case NVSP_MSG5_SUBCHANNEL: return sizeof(struct nvsp_subchannel);
    default: return -1;
    }
}

int nvsp_parse(const void *buf, size_t len, struct nvsp_msg *m)
{
    const uint8_t *p = buf;
    memset(m, 0, sizeof(*m));
    if (len < 4)
        return -EINVAL;
    m->type = get_le32(p);
    int need = body_size(m->type);
    if (need < 0)
        return -ENOTSUP;
    if (len < 4 + (size_t)need)
        return -EINVAL;
    const uint8_t *b = p + 4;
    switch (m->type) {
    case NVSP_MSG_INIT:
        m->init.min_ver = get_le32(b);
        m->init.max_ver = get_le32(b + 4);
        return m->init.min_ver <= m->init.max_ver ? 0 : -EINVAL;
    case NVSP_MSG1_SEND_NDIS_VER:
        m->ndis_ver.major = get_le32(b);
        m->ndis_ver.minor = get_le32(b + 4);
        return 0;
    case NVSP_MSG1_SEND_RECV_BUF:
    case NVSP_MSG1_SEND_SEND_BUF:
        m->buf.gpadl = get_le32(b);
        m->buf.id = get_le16(b + 4);
        return m->buf.gpadl ? 0 : -EINVAL;
    case NVSP_MSG1_REVOKE_RECV_BUF:
    case NVSP_MSG1_REVOKE_SEND_BUF:
        m->revoke.id = get_le16(b);
        return 0;
    case NVSP_MSG1_SEND_RNDIS_PKT:
        m->rndis_pkt.channel_type = get_le32(b);
        m->rndis_pkt.section_index = get_le32(b + 4);
        m->rndis_pkt.section_size = get_le32(b + 8);
        return m->rndis_pkt.channel_type <= NVSP_CHANNEL_TYPE_CONTROL ? 0 : -EINVAL;
    case NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE:
        m->rndis_pkt_complete.status = get_le32(b);
        return 0;
    case NVSP_MSG2_SEND_NDIS_CONFIG:
        m->ndis_config.mtu = get_le32(b);
        m->ndis_config.capability = get_le64(b + 8);
        return 0;
    case NVSP_MSG4_SWITCH_DATA_PATH:
        m->switch_data_path.active_datapath = get_le32(b);
        return m->switch_data_path.active_datapath <= 1 ? 0 : -EINVAL;
    case NVSP_MSG5_SUBCHANNEL:
        m->subchannel.op = get_le32(b);
        m->subchannel.num = get_le32(b + 4);
        return m->subchannel.op == NVSP_SUBCHANNEL_ALLOCATE ? 0 : -EINVAL;
    }
    return -ENOTSUP;
}

const char *nvsp_type_name(uint32_t type)
{
    switch (type) {
    case NVSP_MSG_INIT: return "INIT";
    case NVSP_MSG_INIT_COMPLETE: return "INIT_COMPLETE";
    case NVSP_MSG1_SEND_NDIS_VER: return "SEND_NDIS_VER";
    case NVSP_MSG1_SEND_RECV_BUF: return "SEND_RECV_BUF";
    case NVSP_MSG1_SEND_RECV_BUF_COMPLETE: return "SEND_RECV_BUF_COMPLETE";
    case NVSP_MSG1_REVOKE_RECV_BUF: return "REVOKE_RECV_BUF";
    case NVSP_MSG1_SEND_SEND_BUF: return "SEND_SEND_BUF";
    case NVSP_MSG1_SEND_SEND_BUF_COMPLETE: return "SEND_SEND_BUF_COMPLETE";
    case NVSP_MSG1_REVOKE_SEND_BUF: return "REVOKE_SEND_BUF";
    case NVSP_MSG1_SEND_RNDIS_PKT: return "SEND_RNDIS_PKT";
    case NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE: return "SEND_RNDIS_PKT_COMPLETE";
    case NVSP_MSG2_SEND_NDIS_CONFIG: return "SEND_NDIS_CONFIG";
    case NVSP_MSG4_SEND_VF_ASSOCIATION: return "SEND_VF_ASSOCIATION";
    case NVSP_MSG4_SWITCH_DATA_PATH: return "SWITCH_DATA_PATH";
    case NVSP_MSG5_SUBCHANNEL: return "SUBCHANNEL";
    case NVSP_MSG5_SEND_INDIRECTION_TABLE: return "SEND_INDIRECTION_TABLE";
    default: return "unknown";
    }
}

int nvsp_version_supported(uint32_t ver)
{
    static const uint32_t versions[] = {
        NVSP_PROTOCOL_VERSION_1, NVSP_PROTOCOL_VERSION_2, NVSP_PROTOCOL_VERSION_4,
        NVSP_PROTOCOL_VERSION_5, NVSP_PROTOCOL_VERSION_6, NVSP_PROTOCOL_VERSION_61,
    };
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
        if (versions[i] == ver)
            return 1;
    return 0;
}

int nvsp_send_section(uint32_t section_index, uint32_t size, uint32_t section_bytes,
                      uint32_t sections, uint64_t *off)
{
    if (section_index >= sections || size == 0 || size > section_bytes)
        return -EINVAL;
    *off = (uint64_t)section_index * section_bytes;
    return 0;
}

int nvsp_gpa_direct_chunks(const uint8_t *raw, size_t raw_len, struct nvsp_gpa_chunk *out,
                           size_t max, uint64_t *total)
{
    return vmbus_gpa_direct_chunks(raw, raw_len, out, max, total);
}

static size_t begin(struct nvsp_message *out, uint32_t type)
{
    memset(out, 0, sizeof(*out));
    out->msg_type = type;
    return NVSP_MSG_SIZE;
}

size_t nvsp_build_init_complete(struct nvsp_message *out, uint32_t status, uint32_t version)
{
    begin(out, NVSP_MSG_INIT_COMPLETE);
    /* the guest ignores the version field (openvmm sends 0xFFFFFFFF except for v1) */
    out->init_complete.negotiated_protocol_ver = version;
    out->init_complete.max_mdl_chain_len = 34;
    out->init_complete.status = status;
    return NVSP_MSG_SIZE;
}

size_t nvsp_build_recv_buf_complete(struct nvsp_message *out, uint32_t status,
                                    uint32_t sub_alloc_size, uint32_t num_sub_allocs)
{
    begin(out, NVSP_MSG1_SEND_RECV_BUF_COMPLETE);
    out->recv_buf_complete.status = status;
    out->recv_buf_complete.num_sections = 1;
    out->recv_buf_complete.section.offset = 0;
    out->recv_buf_complete.section.sub_alloc_size = sub_alloc_size;
    out->recv_buf_complete.section.num_sub_allocs = num_sub_allocs;
    out->recv_buf_complete.section.end_offset = sub_alloc_size * num_sub_allocs;
    return NVSP_MSG_SIZE;
}

size_t nvsp_build_send_buf_complete(struct nvsp_message *out, uint32_t status,
                                    uint32_t section_size)
{
    begin(out, NVSP_MSG1_SEND_SEND_BUF_COMPLETE);
    out->send_buf_complete.status = status;
    out->send_buf_complete.section_size = section_size;
    return NVSP_MSG_SIZE;
}

size_t nvsp_build_rndis_pkt(struct nvsp_message *out, uint32_t channel_type)
{
    begin(out, NVSP_MSG1_SEND_RNDIS_PKT);
    out->rndis_pkt.channel_type = channel_type;
    out->rndis_pkt.send_buf_section_index = NVSP_NO_SECTION;
    out->rndis_pkt.send_buf_section_size = 0;
    return NVSP_MSG_SIZE;
}

size_t nvsp_build_rndis_pkt_complete(struct nvsp_message *out, uint32_t status)
{
    begin(out, NVSP_MSG1_SEND_RNDIS_PKT_COMPLETE);
    out->rndis_pkt_complete.status = status;
    return NVSP_MSG_SIZE;
}

size_t nvsp_build_subchannel_complete(struct nvsp_message *out, uint32_t status, uint32_t num)
{
    begin(out, NVSP_MSG5_SUBCHANNEL);
    out->subchannel.op = status;
    out->subchannel.num_subchannels = num;
    return NVSP_MSG_SIZE;
}

size_t nvsp_build_indirection_table(void *out, const uint32_t table[NVSP_INDIRECTION_TABLE_SIZE])
{
    struct nvsp_message m;
    begin(&m, NVSP_MSG5_SEND_INDIRECTION_TABLE);
    m.indirection_table.count = NVSP_INDIRECTION_TABLE_SIZE;
    m.indirection_table.offset = NVSP_MSG_SIZE;
    memcpy(out, &m, NVSP_MSG_SIZE);
    memcpy((uint8_t *)out + NVSP_MSG_SIZE, table, NVSP_INDIRECTION_TABLE_SIZE * 4);
    return NVSP_MSG_SIZE + NVSP_INDIRECTION_TABLE_SIZE * 4;
}
