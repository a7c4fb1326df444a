/* The storage VSP against hostile storvsc packets: a fresh VMBus host with one SCSI
 * controller (a 1 MiB raw disk at LUN 0, the same read-only at LUN 1, both on a memfd),
 * the channel opened over an 8-page ring GPADL in fake RAM. Input: byte 0 bit 0 runs the
 * Linux init sequence first; then records [type][offset8][len lo][len hi] + len bytes
 * that become one ring packet: descriptor {type: bit 0 ? GPA-direct : INBAND, offset8
 * (clamped), len8, flags 1} followed by the bytes (range list and vstor packet, as the
 * fuzzer likes). PFNs 0-63 are RAM. The guest drains its inbound ring after each. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "disk/disk.h"
#include "fuzz_vm.h"
#include "vsp/scsi_disk.h"
#include "vsp/storvsp.h"
#include "vsp/storvsp_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RING_PAGE 8u
#define RING_HALF 4u   /* pages each way: header + 3 data pages */
#define RING_DATA ((RING_HALF - 1) * 4096u)
#define GPADL 0x77u

static struct disk *disk_rw, *disk_ro;

static void post(struct hv_partition *hv, const void *msg, uint32_t len)
{
    fz_post_message(hv, msg, len);
}

static int open_disks(void)
{
    if (disk_rw)
        return 0;
    int fd = memfd_create("fuzz-disk", 0);
    if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
        return -1;
    char path[64], err[DISK_ERR_LEN];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    if (disk_open(path, DISK_FORMAT_RAW, 0, &disk_rw, err) < 0 ||
        disk_open(path, DISK_FORMAT_RAW, DISK_OPEN_RDONLY, &disk_ro, err) < 0)
        return -1;
    return 0;
}

static uint32_t *hdr32(unsigned page, unsigned off)
{
    return (uint32_t *)(fz_ram + ((size_t)page << 12) + off);
}

/* Guest writes one packet into its outbound ring; false if it does not fit. */
static bool ring_put(uint16_t type, uint16_t offset8, uint64_t tid, const uint8_t *body,
                     uint32_t len)
{
    uint8_t *ring = fz_ram + ((size_t)(RING_PAGE + 1) << 12);
    uint32_t w = *hdr32(RING_PAGE, 0), r = *hdr32(RING_PAGE, 4);
    uint32_t pktlen = (16 + len + 7) & ~7u, total = pktlen + 8;
    uint32_t used = w >= r ? w - r : RING_DATA - r + w;
    if (w >= RING_DATA || r >= RING_DATA || RING_DATA - used <= total)
        return false;
    struct vmbus_packet_desc d = { .type = type, .offset8 = offset8,
                                   .len8 = (uint16_t)(pktlen / 8), .flags = 1, .trans_id = tid };
    uint8_t pkt[16 + 4096 + 16] = { 0 };
    memcpy(pkt, &d, 16);
    memcpy(pkt + 16, body, len);
    uint64_t trailer = (uint64_t)w << 32;
    memcpy(pkt + pktlen, &trailer, 8);
    for (uint32_t i = 0; i < total; i++)
        ring[(w + i) % RING_DATA] = pkt[i];
    *hdr32(RING_PAGE, 0) = (w + total) % RING_DATA;
    return true;
}

static void kick(struct hv_partition *hv)
{
    hv_hypercall(hv, 0, HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST, VMBUS_CONNECTION_ID_BASE + 1, 0);
    /* the guest consumes everything the host sent */
    *hdr32(RING_PAGE + RING_HALF, 4) = *hdr32(RING_PAGE + RING_HALF, 0);
}

static void init_sequence(struct hv_partition *hv)
{
    static const uint32_t ops[] = { VSTOR_OP_BEGIN_INITIALIZATION, VSTOR_OP_QUERY_PROTOCOL_VERSION,
                                    VSTOR_OP_QUERY_PROPERTIES, VSTOR_OP_END_INITIALIZATION };
    for (unsigned i = 0; i < 4; i++) {
        struct vstor_packet p = { .operation = ops[i], .flags = 1 };
        p.version.major_minor = VSTOR_PROTO_WIN10;
        ring_put(VMBUS_PACKET_DATA_INBAND, 2, 0xFFFFFFFFFFFFFFFDull, (const uint8_t *)&p, sizeof(p));
        kick(hv);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || open_disks() < 0)
        return 0;
    memset(fz_ram, 0, sizeof(fz_ram));
    struct guest_mem gm = { 0 };
    gmem_add_region(&gm, 0, sizeof(fz_ram), fz_ram);
    struct hv_config cfg = { .nr_vcpus = 1, .tsc_hz = 1000000000, .apic_hz = 1000000000 };
    struct hv_platform_ops ops = { .inject = fz_inject };
    struct fz_vm vm = { .hv = hv_create(&cfg, &ops, &gm) };
    hv_msr_write(vm.hv, 0, HV_MSR_HYPERCALL, (63ull << 12) | 1);
    hv_msr_write(vm.hv, 0, HV_MSR_SIMP, FZ_SIMP(0) | 1);
    hv_msr_write(vm.hv, 0, HV_MSR_SIEFP, FZ_SIEFP(0) | 1);
    hv_msr_write(vm.hv, 0, HV_MSR_SINT0 + 2, 0xF3);
    hv_msr_write(vm.hv, 0, HV_MSR_SCONTROL, 1);
    struct storvsp *c = storvsp_create(0, 0);
    storvsp_attach_disk(c, 0, disk_rw, 0);
    storvsp_attach_disk(c, 1, disk_ro, SCSI_DISK_RO);
    storvsp_attach_disk(c, 2, disk_ro, SCSI_DISK_CDROM);
    storvsp_attach_disk(c, 3, NULL, SCSI_DISK_CDROM); /* an empty DVD drive */
    const struct vmbus_device_desc *devs[] = { storvsp_desc(c) };
    vm.host = vmbus_create(vm.hv, &gm, devs, 1);

    struct vmbus_msg_initiate_contact ic = { .hdr.msgtype = CHANNELMSG_INITIATE_CONTACT,
                                             .version_requested = VMBUS_VERSION_WIN10_V5_3,
                                             .interrupt_page_or_sint = 2 };
    post(vm.hv, &ic, sizeof(ic));
    struct vmbus_msg_header rq = { .msgtype = CHANNELMSG_REQUESTOFFERS };
    post(vm.hv, &rq, sizeof(rq));
    fz_drain_slots(&vm);
    uint8_t gh[20 + 8 + 8 * 2 * RING_HALF] = { 0 };
    struct vmbus_msg_gpadl_header h = { .hdr.msgtype = CHANNELMSG_GPADL_HEADER, .child_relid = 1,
                                        .gpadl = GPADL, .range_buflen = 8 + 8 * 2 * RING_HALF,
                                        .rangecount = 1 };
    struct vmbus_gpa_range range = { .byte_count = 2 * RING_HALF * 4096 };
    memcpy(gh, &h, sizeof(h));
    memcpy(gh + 20, &range, 8);
    for (uint64_t i = 0; i < 2 * RING_HALF; i++) {
        uint64_t pfn = RING_PAGE + i;
        memcpy(gh + 28 + 8 * i, &pfn, 8);
    }
    post(vm.hv, gh, sizeof(gh));
    fz_drain_slots(&vm);
    struct vmbus_msg_open_channel o = { .hdr.msgtype = CHANNELMSG_OPENCHANNEL, .child_relid = 1,
                                        .openid = 1, .ringbuffer_gpadlhandle = GPADL,
                                        .downstream_ringbuffer_pageoffset = RING_HALF };
    post(vm.hv, &o, sizeof(o));
    fz_drain_slots(&vm);

    if (data[0] & 1)
        init_sequence(vm.hv);
    struct disk *old;
    if (data[0] & 2) /* media changes: the DVD states the guest then probes */
        storvsp_change_medium(c, 2, NULL, &old);
    if (data[0] & 4)
        storvsp_change_medium(c, 3, disk_ro, &old);
    if (data[0] & 8) /* hot plug: a new LUN (and a rescan message), one gone */
        storvsp_hot_add(c, 4, disk_rw, 0);
    if (data[0] & 16)
        storvsp_hot_remove(c, 1, &old);
    data++;
    size--;
    uint64_t tid = 1;
    while (size >= 4) {
        uint16_t type = (data[0] & 1) ? VMBUS_PACKET_DATA_USING_GPA_DIRECT : VMBUS_PACKET_DATA_INBAND;
        uint32_t len = (uint32_t)data[2] | (uint32_t)data[3] << 8;
        uint16_t offset8 = data[1];
        data += 4;
        size -= 4;
        if (len > size)
            len = (uint32_t)size;
        if (len > 4096)
            len = 4096;
        if (offset8 < 2)
            offset8 = 2;
        if (offset8 > (16 + len) / 8)
            offset8 = (uint16_t)((16 + len) / 8);
        if (ring_put(type, offset8, tid++, data, len))
            kick(vm.hv);
        fz_drain_slots(&vm);
        data += len;
        size -= len;
    }

    storvsp_stop(c);
    vmbus_destroy(vm.host);
    storvsp_destroy(c);
    hv_destroy(vm.hv);
    return 0;
}
