/* The storage VSP end to end without KVM: the test plays Linux 6.1's storvsc (init
 * sequence, SRBs as INBAND or GPA-direct packets with data in fake guest RAM) against a
 * controller with raw disks. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disk/disk.h"
#include "test.h"
#include "vmbus_guest.h"
#include "vsp/scsi_disk.h"
#include "vsp/storvsp.h"
#include "vsp/storvsp_proto.h"

#define RING_PAGE 200u
#define RING_PAGES 16u   /* each way */
#define DATA_PAGE 400u   /* guest data buffers */
#define GPADL_ID 0x5107u
#define DISK_SIZE (4u << 20)

struct sv {
    struct tguest g;
    struct guest_ring out, in;
    struct storvsp *c;
    struct disk *disk, *rodisk;
    uint64_t tid;
    uint32_t conn; /* connection id to signal; 0 = the primary's */
};

static struct disk *make_disk(const char *name, uint64_t size, bool ro)
{
    char path[512], err[DISK_ERR_LEN];
    struct disk *d = NULL;
    snprintf(path, sizeof(path), "%s/%s", test_tmpdir(), name);
    struct disk_create_opts o = { .format = DISK_FORMAT_RAW, .type = DISK_TYPE_FIXED, .size = size };
    remove(path);
    CHECK_EQ(disk_create(path, &o, err), 0);
    CHECK_EQ(disk_open(path, DISK_FORMAT_RAW, ro ? DISK_OPEN_RDONLY : 0, &d, err), 0);
    return d;
}

/* The guest waits (up to 5 s) for the next packet from the host: the I/O worker
 * completes asynchronously. */
static int wait_read(struct guest_ring *in, uint16_t *type, uint64_t *tid, void *buf,
                     uint32_t cap)
{
    for (int i = 0; i < 5000; i++) {
        int n = tg_ring_read(in, type, tid, buf, cap);
        if (n >= 0)
            return n;
        usleep(1000);
    }
    return -1;
}

/* Posts one vstor packet (GPA-direct over the pages at DATA_PAGE + offset when len > 0);
 * returns its transaction id. */
/* Writes a request into the ring; *would_signal: whether Linux would signal it (ring
 * empty before and not masked). */
static uint64_t sv_write(struct sv *s, struct vstor_packet *req, uint32_t offset, uint32_t len,
                         int *would_signal)
{
    uint64_t tid = ++s->tid;
    if (len || offset) {
        uint8_t hdr[8 + 8 + 8 * 300];
        uint32_t npfn = (offset + len + 4095) / 4096;
        struct vmbus_gpa_direct_hdr gh = { 0, 1 };
        struct vmbus_gpa_range_hdr rh = { len, offset };
        memcpy(hdr, &gh, 8);
        memcpy(hdr + 8, &rh, 8);
        for (uint32_t i = 0; i < npfn; i++) {
            uint64_t pfn = fake_page(DATA_PAGE + i) >> 12;
            memcpy(hdr + 16 + 8 * i, &pfn, 8);
        }
        *would_signal = tg_ring_write_ext(&s->out, VMBUS_PACKET_DATA_USING_GPA_DIRECT, tid, hdr,
                                          16 + 8 * npfn, req, sizeof(*req));
    } else {
        *would_signal = tg_ring_write(&s->out, VMBUS_PACKET_DATA_INBAND, tid, req, sizeof(*req));
    }
    CHECK(*would_signal >= 0);
    return tid;
}

/* Writes a request and signals the channel (whether or not Linux would). */
static uint64_t sv_post(struct sv *s, struct vstor_packet *req, uint32_t offset, uint32_t len)
{
    int would_signal;
    uint64_t tid = sv_write(s, req, offset, len, &would_signal);
    CHECK_EQ(tg_signal(&s->g, s->conn ? s->conn : 0x2001), 0);
    return tid;
}

/* Waits for the completion of `tid` into *resp; returns its payload length. */
static int sv_wait(struct sv *s, uint64_t tid, struct vstor_packet *resp)
{
    uint16_t type;
    uint64_t rtid;
    memset(resp, 0xEE, sizeof(*resp));
    int n = wait_read(&s->in, &type, &rtid, resp, sizeof(*resp));
    CHECK_EQ(type, VMBUS_PACKET_COMP);
    CHECK_EQ(rtid, tid);
    return n;
}

/* Sends one vstor packet and returns the completion's payload length (in *resp). */
static int sv_send(struct sv *s, struct vstor_packet *req, uint32_t offset, uint32_t len,
                   struct vstor_packet *resp)
{
    return sv_wait(s, sv_post(s, req, offset, len), resp);
}

static uint32_t sv_op(struct sv *s, uint32_t op, uint16_t version, struct vstor_packet *resp)
{
    struct vstor_packet p = { .operation = op, .flags = VSTOR_FLAG_REQUEST_COMPLETION };
    if (op == VSTOR_OP_QUERY_PROTOCOL_VERSION)
        p.version.major_minor = version;
    CHECK_EQ(sv_send(s, &p, 0, 0, resp), 64);
    CHECK_EQ(resp->operation, VSTOR_OP_COMPLETE_IO);
    return resp->status;
}

/* in_pages: pages of the host->guest ring (header included) */
static void sv_setup_ex(struct sv *s, bool negotiate, unsigned max_sub, uint32_t in_pages)
{
    memset(s, 0, sizeof(*s));
    s->disk = make_disk("sv.img", DISK_SIZE, false);
    s->rodisk = make_disk("svro.img", DISK_SIZE, true);
    s->c = storvsp_create(0, max_sub);
    CHECK(s->c != NULL);
    CHECK_EQ(storvsp_attach_disk(s->c, 0, s->disk, 0), 0);
    CHECK_EQ(storvsp_attach_disk(s->c, 5, s->rodisk, SCSI_DISK_RO), 0);
    CHECK_EQ(storvsp_attach_disk(s->c, 5, s->disk, 0), -1); /* taken */
    CHECK_EQ(storvsp_attach_disk(s->c, 64, s->disk, 0), -1);
    const struct vmbus_device_desc *devs[] = { storvsp_desc(s->c) };
    tg_init(&s->g, 1, devs, 1);
    CHECK_EQ(tg_connect(&s->g, VMBUS_VERSION_WIN10_V5_3), 1);
    struct vmbus_msg_header rq = { .msgtype = CHANNELMSG_REQUESTOFFERS };
    CHECK_EQ(tg_post(&s->g, &rq, sizeof(rq)), 0);
    struct vmbus_msg_offer_channel o;
    CHECK_EQ(tg_recv(&s->g, &o, NULL), CHANNELMSG_OFFERCHANNEL);
    static const uint8_t scsi_class[16] = { 0xd9, 0x63, 0x61, 0xba, 0xa1, 0x04, 0x29, 0x4d,
                                            0xb6, 0x05, 0x72, 0xe2, 0xff, 0xb1, 0xdc, 0x7f };
    CHECK(memcmp(o.if_type.b, scsi_class, 16) == 0);
    CHECK_EQ(tg_recv(&s->g, NULL, NULL), CHANNELMSG_ALLOFFERS_DELIVERED);
    memset(fake_gpa(&s->g.vm, fake_page(RING_PAGE)), 0, (RING_PAGES + in_pages) * 4096);
    CHECK_EQ(tg_gpadl(&s->g, 1, GPADL_ID, RING_PAGE, RING_PAGES + in_pages), 0);
    tg_ring(&s->g, &s->out, RING_PAGE, RING_PAGES);
    tg_ring(&s->g, &s->in, RING_PAGE + RING_PAGES, in_pages);
    *tg_ring_field(&s->out, 64) = 1; /* feat_pending_send_sz, as Linux sets it */
    *tg_ring_field(&s->in, 64) = 1;
    CHECK_EQ(tg_open(&s->g, 1, GPADL_ID, RING_PAGES, 0), 0);
    if (!negotiate)
        return;
    struct vstor_packet r;
    CHECK_EQ(sv_op(s, VSTOR_OP_BEGIN_INITIALIZATION, 0, &r), 0);
    CHECK_EQ(sv_op(s, VSTOR_OP_QUERY_PROTOCOL_VERSION, VSTOR_PROTO_WIN10, &r), 0);
    CHECK_EQ(sv_op(s, VSTOR_OP_QUERY_PROPERTIES, 0, &r), 0);
    CHECK_EQ(sv_op(s, VSTOR_OP_END_INITIALIZATION, 0, &r), 0);
}

static void sv_setup_sub(struct sv *s, bool negotiate, unsigned max_sub)
{
    sv_setup_ex(s, negotiate, max_sub, RING_PAGES);
}

static void sv_setup(struct sv *s, bool negotiate)
{
    sv_setup_sub(s, negotiate, 0);
}

static void sv_free(struct sv *s)
{
    storvsp_stop(s->c);
    tg_free(&s->g);
    storvsp_destroy(s->c);
    disk_close(s->disk);
    disk_close(s->rodisk);
}

static uint8_t *data_buf(struct sv *s)
{
    return fake_gpa(&s->g.vm, fake_page(DATA_PAGE));
}

/* One SRB to `lun` with a CDB; data at DATA_PAGE + offset. */
static void srb(struct sv *s, uint8_t lun, const uint8_t *cdb, uint8_t cdb_len, uint8_t dir,
                uint32_t offset, uint32_t len, struct vstor_packet *r)
{
    struct vstor_packet p = { .operation = VSTOR_OP_EXECUTE_SRB,
                              .flags = VSTOR_FLAG_REQUEST_COMPLETION };
    p.vm_srb.length = sizeof(p.vm_srb);
    p.vm_srb.lun = lun;
    p.vm_srb.cdb_length = cdb_len;
    p.vm_srb.sense_info_length = VSTOR_SENSE_MAX;
    p.vm_srb.data_in = dir;
    p.vm_srb.data_transfer_length = len;
    p.vm_srb.srb_flags = 0x8;
    p.vm_srb.time_out_value = 60;
    memcpy(p.vm_srb.cdb, cdb, cdb_len);
    CHECK_EQ(sv_send(s, &p, offset, len, r), 64);
    CHECK_EQ(r->operation, VSTOR_OP_COMPLETE_IO);
}

static void check_sense(const struct vstor_packet *r, uint8_t key, uint8_t asc)
{
    CHECK_EQ(r->vm_srb.scsi_status, SCSI_STATUS_CHECK_CONDITION);
    CHECK_EQ(r->vm_srb.srb_status, SRB_STATUS_ERROR | SRB_STATUS_AUTOSENSE_VALID);
    CHECK_EQ(r->vm_srb.sense_info_length, 18);
    CHECK_EQ(r->vm_srb.sense_data[0], 0x70);
    CHECK_EQ(r->vm_srb.sense_data[2], key);
    CHECK_EQ(r->vm_srb.sense_data[12], asc);
    CHECK_EQ(r->vm_srb.data_transfer_length, 0);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

TEST(storvsp_negotiation_as_linux)
{
    struct sv s;
    struct vstor_packet r;
    sv_setup(&s, false);
    /* out of order: version before BEGIN */
    CHECK_EQ(sv_op(&s, VSTOR_OP_QUERY_PROTOCOL_VERSION, VSTOR_PROTO_WIN10, &r),
             VSTOR_STATUS_INVALID_DEVICE_STATE);
    CHECK_EQ(sv_op(&s, VSTOR_OP_BEGIN_INITIALIZATION, 0, &r), 0);
    CHECK_EQ(sv_op(&s, VSTOR_OP_QUERY_PROPERTIES, 0, &r), VSTOR_STATUS_INVALID_DEVICE_STATE);
    CHECK_EQ(sv_op(&s, VSTOR_OP_QUERY_PROTOCOL_VERSION, 0x0700, &r), VSTOR_STATUS_REVISION_MISMATCH);
    CHECK_EQ(sv_op(&s, VSTOR_OP_QUERY_PROTOCOL_VERSION, 0x0402, &r), VSTOR_STATUS_REVISION_MISMATCH);
    CHECK_EQ(sv_op(&s, VSTOR_OP_QUERY_PROTOCOL_VERSION, VSTOR_PROTO_WIN8_1, &r), 0);
    CHECK_EQ(sv_op(&s, VSTOR_OP_QUERY_PROTOCOL_VERSION, VSTOR_PROTO_WIN10, &r), 0);
    CHECK_EQ(sv_op(&s, VSTOR_OP_QUERY_PROPERTIES, 0, &r), 0);
    CHECK_EQ(r.storage_channel_properties.max_transfer_bytes, STORVSP_MAX_TRANSFER);
    CHECK_EQ(r.storage_channel_properties.max_channel_cnt, 0);
    CHECK_EQ(r.storage_channel_properties.flags & VSTOR_PROP_SUPPORTS_MULTI_CHANNEL, 0);
    /* SRB before END_INITIALIZATION is refused */
    static const uint8_t tur[6] = { 0 };
    srb(&s, 0, tur, 6, VSTOR_UNKNOWN_TYPE, 0, 0, &r);
    CHECK_EQ(r.status, VSTOR_STATUS_INVALID_DEVICE_STATE);
    CHECK_EQ(sv_op(&s, VSTOR_OP_END_INITIALIZATION, 0, &r), 0);
    srb(&s, 0, tur, 6, VSTOR_UNKNOWN_TYPE, 0, 0, &r);
    CHECK_EQ(r.status, 0);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    CHECK_EQ(r.vm_srb.scsi_status, 0);
    /* no sub-channels offered: CREATE_SUB_CHANNELS fails */
    CHECK(sv_op(&s, VSTOR_OP_CREATE_SUB_CHANNELS, 0, &r) != 0);
    sv_free(&s);
}

TEST(storvsp_inquiry_capacity_luns)
{
    struct sv s;
    struct vstor_packet r;
    sv_setup(&s, true);
    uint8_t *buf = data_buf(&s);
    /* standard INQUIRY, 36 bytes */
    static const uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };
    srb(&s, 0, inq, 6, VSTOR_READ_TYPE, 0, 36, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    CHECK_EQ(r.vm_srb.data_transfer_length, 36);
    CHECK_EQ(buf[0], 0);
    CHECK(memcmp(buf + 8, "Msft    Virtual Disk    ", 24) == 0);
    /* absent LUN: peripheral qualifier 3 / type 0x1F; other commands INVALID_LUN */
    srb(&s, 3, inq, 6, VSTOR_READ_TYPE, 0, 36, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    CHECK_EQ(buf[0], 0x7F);
    static const uint8_t tur[6] = { 0 };
    srb(&s, 3, tur, 6, VSTOR_UNKNOWN_TYPE, 0, 0, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_INVALID_LUN);
    /* VPD pages */
    static const uint8_t vpd0[6] = { 0x12, 1, 0x00, 0, 255, 0 };
    srb(&s, 0, vpd0, 6, VSTOR_READ_TYPE, 0, 255, &r);
    CHECK_EQ(r.vm_srb.data_transfer_length, 10);
    CHECK_EQ(buf[1], 0);
    CHECK_EQ(buf[3], 6);
    CHECK_EQ(buf[9], 0xB2);
    static const uint8_t vpd83[6] = { 0x12, 1, 0x83, 0, 255, 0 };
    srb(&s, 0, vpd83, 6, VSTOR_READ_TYPE, 0, 255, &r);
    CHECK_EQ(buf[1], 0x83);
    CHECK_EQ(buf[5] & 0xF, 3); /* NAA */
    CHECK_EQ(buf[8] >> 4, 6);
    static const uint8_t vpdb0[6] = { 0x12, 1, 0xB0, 0, 255, 0 };
    srb(&s, 0, vpdb0, 6, VSTOR_READ_TYPE, 0, 255, &r);
    CHECK_EQ(be32(buf + 8), STORVSP_MAX_TRANSFER / 512);
    CHECK_EQ(be32(buf + 24), 256); /* raw can unmap */
    static const uint8_t vpdb2[6] = { 0x12, 1, 0xB2, 0, 255, 0 };
    srb(&s, 0, vpdb2, 6, VSTOR_READ_TYPE, 0, 255, &r);
    CHECK_EQ(buf[5] & 0x80, 0x80);
    static const uint8_t vpdbad[6] = { 0x12, 1, 0x42, 0, 255, 0 };
    srb(&s, 0, vpdbad, 6, VSTOR_READ_TYPE, 0, 255, &r);
    check_sense(&r, SENSE_ILLEGAL_REQUEST, 0x24);
    /* READ CAPACITY(10) and (16) */
    static const uint8_t rc10[10] = { 0x25 };
    srb(&s, 0, rc10, 10, VSTOR_READ_TYPE, 0, 8, &r);
    CHECK_EQ(r.vm_srb.data_transfer_length, 8);
    CHECK_EQ(be32(buf), DISK_SIZE / 512 - 1);
    CHECK_EQ(be32(buf + 4), 512);
    static const uint8_t rc16[16] = { 0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0 };
    srb(&s, 0, rc16, 16, VSTOR_READ_TYPE, 0, 32, &r);
    CHECK_EQ(r.vm_srb.data_transfer_length, 32);
    CHECK_EQ(be32(buf + 4), DISK_SIZE / 512 - 1);
    CHECK_EQ(be32(buf + 8), 512);
    CHECK_EQ(buf[14] & 0x80, 0x80); /* LBPME */
    /* REPORT LUNS: 0 and 5, from any LUN */
    static const uint8_t rl[12] = { 0xA0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0 };
    srb(&s, 1, rl, 12, VSTOR_READ_TYPE, 0, 4096, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    CHECK_EQ(r.vm_srb.data_transfer_length, 24);
    CHECK_EQ(be32(buf), 16);
    CHECK_EQ(buf[9], 0);
    CHECK_EQ(buf[17], 5);
    /* MODE SENSE(6) caching page: WCE */
    static const uint8_t ms[6] = { 0x1A, 0, 0x08, 0, 192, 0 };
    srb(&s, 0, ms, 6, VSTOR_READ_TYPE, 0, 192, &r);
    CHECK_EQ(r.vm_srb.data_transfer_length, 4 + 8 + 20);
    CHECK_EQ(buf[2] & 0x80, 0); /* not write protected */
    CHECK_EQ(buf[12], 0x08);
    CHECK_EQ(buf[14] & 0x04, 0x04);
    static const uint8_t ms_all[6] = { 0x1A, 0x08, 0x3F, 0, 255, 0 };
    srb(&s, 5, ms_all, 6, VSTOR_READ_TYPE, 0, 255, &r);
    CHECK_EQ(r.vm_srb.data_transfer_length, 4 + 20 + 12);
    CHECK_EQ(buf[2] & 0x80, 0x80); /* the ro disk is write protected */
    /* unknown opcode */
    static const uint8_t bad[10] = { 0x4D };
    srb(&s, 0, bad, 10, VSTOR_READ_TYPE, 0, 64, &r);
    check_sense(&r, SENSE_ILLEGAL_REQUEST, 0x20);
    sv_free(&s);
}

TEST(storvsp_write_read_back_through_page_ranges)
{
    struct sv s;
    struct vstor_packet r;
    sv_setup(&s, true);
    uint8_t *buf = data_buf(&s);
    /* 64 KiB at an odd offset in the first page: 17 PFNs */
    uint32_t len = 64 << 10, off = 512;
    for (uint32_t i = 0; i < len; i++)
        buf[off + i] = (uint8_t)(i * 7 + i / 4096);
    static const uint8_t wr[10] = { 0x2A, 0, 0, 0, 0x10, 0x00, 0, 0, 128, 0 }; /* LBA 4096 */
    srb(&s, 0, wr, 10, VSTOR_WRITE_TYPE, off, len, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    CHECK_EQ(r.vm_srb.data_transfer_length, len);
    uint8_t *check = malloc(len);
    CHECK_EQ(disk_read(s.disk, 4096ull * 512, check, len), 0);
    CHECK(memcmp(check, buf + off, len) == 0);
    memset(buf, 0, len + off);
    static const uint8_t rd[16] = { 0x88, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x00, 0, 0, 0, 128, 0, 0 };
    srb(&s, 0, rd, 16, VSTOR_READ_TYPE, 0, len, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    CHECK_EQ(r.vm_srb.data_transfer_length, len);
    CHECK(memcmp(check, buf, len) == 0);
    /* READ(6) of the same first block */
    memset(buf, 0, 512);
    static const uint8_t rd6[6] = { 0x08, 0, 0x10, 0x00, 1, 0 };
    srb(&s, 0, rd6, 6, VSTOR_READ_TYPE, 0, 512, &r);
    CHECK_EQ(r.vm_srb.data_transfer_length, 512);
    CHECK(memcmp(check, buf, 512) == 0);
    /* SYNCHRONIZE CACHE */
    static const uint8_t sync[10] = { 0x35 };
    srb(&s, 0, sync, 10, VSTOR_UNKNOWN_TYPE, 0, 0, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    /* UNMAP one range, then it reads as zeroes (raw punches holes) */
    uint8_t *p = buf;
    memset(p, 0, 24);
    p[1] = 22;
    p[3] = 16;
    p[8 + 6] = 0x10; /* LBA 4096 */
    p[8 + 11] = 8;   /* 8 blocks */
    static const uint8_t um[10] = { 0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0 };
    srb(&s, 0, um, 10, VSTOR_WRITE_TYPE, 0, 24, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    /* the largest transfer: 1 MiB */
    static const uint8_t big[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0x08, 0x00, 0 };
    srb(&s, 0, big, 10, VSTOR_READ_TYPE, 0, STORVSP_MAX_TRANSFER, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    CHECK_EQ(r.vm_srb.data_transfer_length, STORVSP_MAX_TRANSFER);
    /* the raw disk's reads and writes went to io_uring on the guest's pages; UNMAP ran
     * on the worker */
    struct storvsp_stats st;
    storvsp_get_stats(s.c, &st);
    CHECK_EQ(st.async, 5);
    CHECK_EQ(st.sync, 1);
    CHECK(st.fast >= 3);
    CHECK_EQ(st.inflight, 0);
    free(check);
    sv_free(&s);
}

TEST(storvsp_errors_carry_sense)
{
    struct sv s;
    struct vstor_packet r;
    sv_setup(&s, true);
    /* LBA out of range: last block + 1 */
    uint32_t n = DISK_SIZE / 512;
    uint8_t rd[10] = { 0x28, 0, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                       (uint8_t)n, 0, 0, 1, 0 };
    srb(&s, 0, rd, 10, VSTOR_READ_TYPE, 0, 512, &r);
    check_sense(&r, SENSE_ILLEGAL_REQUEST, 0x21);
    rd[4] = (uint8_t)((n - 1) >> 8); /* the last block itself is fine */
    rd[5] = (uint8_t)(n - 1);
    srb(&s, 0, rd, 10, VSTOR_READ_TYPE, 0, 512, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    /* more blocks than the buffer holds: invalid field in CDB */
    static const uint8_t rd2[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 4, 0 };
    srb(&s, 0, rd2, 10, VSTOR_READ_TYPE, 0, 1024, &r);
    check_sense(&r, SENSE_ILLEGAL_REQUEST, 0x24);
    /* write to the read-only disk: DATA PROTECT / write protected */
    static const uint8_t wr[10] = { 0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
    srb(&s, 5, wr, 10, VSTOR_WRITE_TYPE, 0, 512, &r);
    check_sense(&r, SENSE_DATA_PROTECT, 0x27);
    /* guest buffer outside RAM: the SRB fails, the host carries on */
    struct vstor_packet p = { .operation = VSTOR_OP_EXECUTE_SRB, .flags = 1 };
    p.vm_srb.length = sizeof(p.vm_srb);
    p.vm_srb.cdb_length = 10;
    p.vm_srb.data_in = VSTOR_READ_TYPE;
    p.vm_srb.data_transfer_length = 4096;
    memcpy(p.vm_srb.cdb, rd2, 10);
    p.vm_srb.cdb[8] = 8;
    uint8_t hdr[24];
    struct vmbus_gpa_direct_hdr gh = { 0, 1 };
    struct vmbus_gpa_range_hdr rh = { 4096, 0 };
    uint64_t pfn = 0xFFFFFFFFull; /* not RAM */
    memcpy(hdr, &gh, 8);
    memcpy(hdr + 8, &rh, 8);
    memcpy(hdr + 16, &pfn, 8);
    CHECK(tg_ring_write_ext(&s.out, VMBUS_PACKET_DATA_USING_GPA_DIRECT, 77, hdr, 24, &p,
                            sizeof(p)) >= 0);
    CHECK_EQ(tg_signal(&s.g, 0x2001), 0);
    CHECK_EQ(wait_read(&s.in, NULL, NULL, &r, sizeof(r)), 64);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_INVALID_REQUEST);
    CHECK_EQ(r.vm_srb.data_transfer_length, 0);
    /* a range shorter than the transfer length */
    rh.byte_count = 1024;
    pfn = fake_page(DATA_PAGE) >> 12;
    memcpy(hdr + 8, &rh, 8);
    memcpy(hdr + 16, &pfn, 8);
    CHECK(tg_ring_write_ext(&s.out, VMBUS_PACKET_DATA_USING_GPA_DIRECT, 78, hdr, 24, &p,
                            sizeof(p)) >= 0);
    CHECK_EQ(tg_signal(&s.g, 0x2001), 0);
    CHECK_EQ(wait_read(&s.in, NULL, NULL, &r, sizeof(r)), 64);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_INVALID_REQUEST);
    /* data with no page ranges at all (INBAND) */
    CHECK_EQ(sv_send(&s, &p, 0, 0, &r), 64);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_INVALID_REQUEST);
    /* still working */
    static const uint8_t tur[6] = { 0 };
    srb(&s, 0, tur, 6, VSTOR_UNKNOWN_TYPE, 0, 0, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    sv_free(&s);
}

TEST(storvsp_4k_sectors)
{
    struct scsi_disk sd;
    struct disk d = { 0 };
    /* the target reads geometry from disk info only */
    d.info.virtual_size = 1 << 20;
    d.info.logical_sector_size = 4096;
    d.info.physical_sector_size = 4096;
    scsi_disk_init(&sd, &d, SCSI_DISK_RO, 1, STORVSP_MAX_TRANSFER);
    CHECK_EQ(sd.block_size, 4096);
    CHECK_EQ(sd.nblocks, 256);
    uint8_t buf[32];
    static const uint8_t rc10[10] = { 0x25 };
    struct scsi_cmd c = { .cdb = rc10, .cdb_len = 10, .buf = buf, .buf_len = 8 };
    scsi_disk_exec(&sd, &c);
    CHECK_EQ(c.status, SCSI_STATUS_GOOD);
    CHECK_EQ(be32(buf), 255);
    CHECK_EQ(be32(buf + 4), 4096);
}

TEST(storvsp_subchannels_on_request)
{
    struct sv s;
    struct vstor_packet r;
    sv_setup_sub(&s, true, 2);
    CHECK_EQ(sv_op(&s, VSTOR_OP_QUERY_PROPERTIES, 0, &r), 0);
    CHECK_EQ(r.storage_channel_properties.max_channel_cnt, 2);
    CHECK_EQ(r.storage_channel_properties.flags, VSTOR_PROP_SUPPORTS_MULTI_CHANNEL);
    struct vstor_packet p = { .operation = VSTOR_OP_CREATE_SUB_CHANNELS, .flags = 1 };
    p.sub_channel_count = 3; /* more than offered */
    CHECK_EQ(sv_send(&s, &p, 0, 0, &r), 64);
    CHECK_EQ(r.status, VSTOR_STATUS_INVALID_PARAMETER);
    p.sub_channel_count = 2;
    CHECK_EQ(sv_send(&s, &p, 0, 0, &r), 64);
    CHECK_EQ(r.status, 0);
    struct vmbus_msg_offer_channel o;
    for (unsigned i = 1; i <= 2; i++) {
        CHECK_EQ(tg_recv(&s.g, &o, NULL), CHANNELMSG_OFFERCHANNEL);
        CHECK_EQ(o.sub_channel_index, i);
        CHECK_EQ(o.child_relid, 1 + i);
    }
    /* open sub-channel 1 (relid 2) and do I/O on it */
    uint32_t page = RING_PAGE + 2 * RING_PAGES;
    struct guest_ring out, in;
    memset(fake_gpa(&s.g.vm, fake_page(page)), 0, 2 * RING_PAGES * 4096);
    CHECK_EQ(tg_gpadl(&s.g, 2, GPADL_ID + 1, page, 2 * RING_PAGES), 0);
    tg_ring(&s.g, &out, page, RING_PAGES);
    tg_ring(&s.g, &in, page + RING_PAGES, RING_PAGES);
    CHECK_EQ(tg_open(&s.g, 2, GPADL_ID + 1, RING_PAGES, 0), 0);
    struct guest_ring save_out = s.out, save_in = s.in;
    s.out = out;
    s.in = in;
    s.conn = 0x2002;
    uint8_t *buf = data_buf(&s);
    memset(buf, 0xA5, 4096);
    static const uint8_t wr[10] = { 0x2A, 0, 0, 0, 0, 8, 0, 0, 8, 0 };
    srb(&s, 0, wr, 10, VSTOR_WRITE_TYPE, 0, 4096, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    uint8_t back[4096];
    CHECK_EQ(disk_read(s.disk, 8 * 512, back, sizeof(back)), 0);
    CHECK(memcmp(back, buf, sizeof(back)) == 0);
    /* the primary still works too, and nothing came on it meanwhile */
    s.out = save_out;
    s.in = save_in;
    s.conn = 0;
    static const uint8_t tur[6] = { 0 };
    srb(&s, 0, tur, 6, VSTOR_UNKNOWN_TYPE, 0, 0, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    sv_free(&s);
}

TEST(storvsp_many_requests_in_flight)
{
    struct sv s;
    struct vstor_packet r;
    sv_setup(&s, true);
    /* 32 reads queued before the guest looks at its ring: all complete, each once */
    static const uint8_t rd[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
    uint8_t hdr[24];
    struct vmbus_gpa_direct_hdr gh = { 0, 1 };
    struct vmbus_gpa_range_hdr rh = { 512, 0 };
    uint64_t pfn = fake_page(DATA_PAGE) >> 12;
    memcpy(hdr, &gh, 8);
    memcpy(hdr + 8, &rh, 8);
    memcpy(hdr + 16, &pfn, 8);
    struct vstor_packet p = { .operation = VSTOR_OP_EXECUTE_SRB, .flags = 1 };
    p.vm_srb.length = sizeof(p.vm_srb);
    p.vm_srb.cdb_length = 10;
    p.vm_srb.sense_info_length = VSTOR_SENSE_MAX;
    p.vm_srb.data_in = VSTOR_READ_TYPE;
    p.vm_srb.data_transfer_length = 512;
    memcpy(p.vm_srb.cdb, rd, 10);
    for (uint64_t t = 1; t <= 32; t++)
        CHECK(tg_ring_write_ext(&s.out, VMBUS_PACKET_DATA_USING_GPA_DIRECT, 1000 + t, hdr, 24, &p,
                                sizeof(p)) >= 0);
    CHECK_EQ(tg_signal(&s.g, 0x2001), 0);
    uint32_t seen = 0;
    for (int i = 0; i < 32; i++) {
        uint64_t tid = 0;
        CHECK_EQ(wait_read(&s.in, NULL, &tid, &r, sizeof(r)), 64);
        CHECK(tid > 1000 && tid <= 1032);
        CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
        seen |= 1u << (tid - 1001);
    }
    CHECK_EQ(seen, 0xFFFFFFFFu);
    sv_free(&s);
}

TEST(storvsp_dvd_drive)
{
    struct sv s;
    struct vstor_packet r;
    sv_setup(&s, true);
    CHECK_EQ(storvsp_attach_disk(s.c, 2, s.rodisk, SCSI_DISK_CDROM), 0);
    uint8_t *buf = data_buf(&s);
    static const uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };
    srb(&s, 2, inq, 6, VSTOR_READ_TYPE, 0, 36, &r);
    CHECK_EQ(buf[0], 0x05);
    CHECK_EQ(buf[1], 0x80);
    static const uint8_t rc10[10] = { 0x25 };
    srb(&s, 2, rc10, 10, VSTOR_READ_TYPE, 0, 8, &r);
    CHECK_EQ(be32(buf), DISK_SIZE / 2048 - 1);
    CHECK_EQ(be32(buf + 4), 2048);
    static const uint8_t toc[10] = { 0x43, 0, 0, 0, 0, 0, 0, 0, 100, 0 };
    srb(&s, 2, toc, 10, VSTOR_READ_TYPE, 0, 100, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    CHECK_EQ(r.vm_srb.data_transfer_length, 20);
    CHECK_EQ(buf[6], 1);
    CHECK_EQ(buf[14], 0xAA);
    CHECK_EQ(be32(buf + 16), DISK_SIZE / 2048);
    static const uint8_t gesn[10] = { 0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8, 0 };
    srb(&s, 2, gesn, 10, VSTOR_READ_TYPE, 0, 8, &r);
    CHECK_EQ(r.vm_srb.data_transfer_length, 8);
    CHECK_EQ(buf[5], 0x02); /* media present */
    static const uint8_t ms2a[10] = { 0x5A, 0x08, 0x2A, 0, 0, 0, 0, 0, 64, 0 };
    srb(&s, 2, ms2a, 10, VSTOR_READ_TYPE, 0, 64, &r);
    CHECK_EQ(r.vm_srb.data_transfer_length, 8 + 20);
    CHECK_EQ(buf[8], 0x2A);
    /* read 2 blocks from LBA 1 = bytes 2048..6143 of the image */
    uint8_t want[4096];
    CHECK_EQ(disk_read(s.rodisk, 2048, want, sizeof(want)), 0);
    static const uint8_t rd[10] = { 0x28, 0, 0, 0, 0, 1, 0, 0, 2, 0 };
    srb(&s, 2, rd, 10, VSTOR_READ_TYPE, 0, 4096, &r);
    CHECK_EQ(r.vm_srb.data_transfer_length, 4096);
    CHECK(memcmp(buf, want, sizeof(want)) == 0);
    static const uint8_t wr[10] = { 0x2A, 0, 0, 0, 0, 1, 0, 0, 1, 0 };
    srb(&s, 2, wr, 10, VSTOR_WRITE_TYPE, 0, 2048, &r);
    check_sense(&r, SENSE_DATA_PROTECT, 0x27);
    sv_free(&s);
}

/* Eject and insert while running (viridian vm dvd-eject / dvd-insert): NOT READY with
 * MEDIUM NOT PRESENT while empty, one UNIT ATTENTION 28/00 after the insert, the changes
 * as GET EVENT STATUS media events, then the new disc's bytes. */
TEST(storvsp_dvd_eject_insert)
{
    struct sv s;
    struct vstor_packet r;
    sv_setup(&s, true);
    CHECK_EQ(storvsp_attach_disk(s.c, 2, s.rodisk, SCSI_DISK_CDROM), 0);
    CHECK_EQ(storvsp_attach_disk(s.c, 3, NULL, SCSI_DISK_CDROM), 0); /* an empty drive */
    CHECK_EQ(storvsp_attach_disk(s.c, 4, NULL, 0), -1);            /* a disk needs an image */
    struct disk *disc2 = make_disk("disc2.iso", 1u << 20, false), *old = s.disk;
    uint8_t pattern[4096];
    for (unsigned i = 0; i < sizeof(pattern); i++)
        pattern[i] = (uint8_t)(i * 7 + 3);
    CHECK_EQ(disk_write(disc2, 2048, pattern, sizeof(pattern)), 0);
    uint8_t *buf = data_buf(&s);
    static const uint8_t tur[6] = { 0 };
    static const uint8_t gesn[10] = { 0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8, 0 };
    static const uint8_t rd[10] = { 0x28, 0, 0, 0, 0, 1, 0, 0, 2, 0 };
    static const uint8_t rs[6] = { 0x03, 0, 0, 0, 18, 0 };
    static const uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };
    static const uint8_t rc10[10] = { 0x25 };

    srb(&s, 3, tur, 6, VSTOR_UNKNOWN_TYPE, 0, 0, &r);
    check_sense(&r, SENSE_NOT_READY, 0x3A);
    srb(&s, 2, tur, 6, VSTOR_UNKNOWN_TYPE, 0, 0, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    srb(&s, 2, gesn, 10, VSTOR_READ_TYPE, 0, 8, &r);
    CHECK_EQ(buf[4], 0); /* no event yet */

    /* eject */
    CHECK_EQ(storvsp_change_medium(s.c, 2, NULL, &old), 0);
    CHECK(old == s.rodisk);
    srb(&s, 2, gesn, 10, VSTOR_READ_TYPE, 0, 8, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    CHECK_EQ(buf[2], 0x04);
    CHECK_EQ(buf[4], 0x03); /* MediaRemoval */
    CHECK_EQ(buf[5], 0x00); /* no medium */
    srb(&s, 2, gesn, 10, VSTOR_READ_TYPE, 0, 8, &r);
    CHECK_EQ(buf[4], 0x00); /* reported once */
    srb(&s, 2, tur, 6, VSTOR_UNKNOWN_TYPE, 0, 0, &r);
    check_sense(&r, SENSE_NOT_READY, 0x3A);
    srb(&s, 2, rd, 10, VSTOR_READ_TYPE, 0, 4096, &r);
    check_sense(&r, SENSE_NOT_READY, 0x3A);
    srb(&s, 2, rc10, 10, VSTOR_READ_TYPE, 0, 8, &r);
    check_sense(&r, SENSE_NOT_READY, 0x3A);
    srb(&s, 2, inq, 6, VSTOR_READ_TYPE, 0, 36, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    CHECK_EQ(buf[0], 0x05);
    srb(&s, 2, rs, 6, VSTOR_READ_TYPE, 0, 18, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    CHECK_EQ(buf[2], SENSE_NOT_READY);
    CHECK_EQ(buf[12], 0x3A);

    /* insert another disc */
    CHECK_EQ(storvsp_change_medium(s.c, 2, disc2, &old), 0);
    CHECK(old == NULL);
    srb(&s, 2, gesn, 10, VSTOR_READ_TYPE, 0, 8, &r);
    CHECK_EQ(buf[4], 0x02); /* NewMedia */
    CHECK_EQ(buf[5], 0x02); /* present */
    srb(&s, 2, inq, 6, VSTOR_READ_TYPE, 0, 36, &r); /* INQUIRY keeps the attention */
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    srb(&s, 2, tur, 6, VSTOR_UNKNOWN_TYPE, 0, 0, &r);
    check_sense(&r, SENSE_UNIT_ATTENTION, 0x28);
    srb(&s, 2, tur, 6, VSTOR_UNKNOWN_TYPE, 0, 0, &r); /* once */
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    srb(&s, 2, rc10, 10, VSTOR_READ_TYPE, 0, 8, &r);
    CHECK_EQ(be32(buf), (1u << 20) / 2048 - 1);
    srb(&s, 2, rd, 10, VSTOR_READ_TYPE, 0, 4096, &r);
    CHECK_EQ(r.vm_srb.data_transfer_length, 4096);
    CHECK(memcmp(buf, pattern, sizeof(pattern)) == 0);

    /* only DVD drives change discs */
    CHECK_EQ(storvsp_change_medium(s.c, 0, disc2, &old), -1);
    CHECK_EQ(storvsp_change_medium(s.c, 9, disc2, &old), -1);
    CHECK_EQ(storvsp_change_medium(s.c, 200, disc2, &old), -1);
    sv_free(&s);
    disk_close(disc2);
}

/* Hot plug: the new LUN is listed by REPORT LUNS and the guest is told to rescan (an
 * unsolicited ENUMERATE_BUS with transaction id 0); a removed one answers INVALID_LUN
 * (storvsc then removes the device) and INQUIRY with "no device". */
TEST(storvsp_hot_add_remove)
{
    struct sv s;
    struct vstor_packet r;
    sv_setup(&s, true);
    struct disk *extra = make_disk("hot.img", 1u << 20, false), *old = NULL;
    uint8_t *buf = data_buf(&s);
    static const uint8_t tur[6] = { 0 };
    static const uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };
    static const uint8_t rl[12] = { 0xA0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0 };
    static const uint8_t rc10[10] = { 0x25 };

    srb(&s, 7, tur, 6, VSTOR_UNKNOWN_TYPE, 0, 0, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_INVALID_LUN);
    CHECK_EQ(storvsp_hot_add(s.c, 7, extra, 0), 0);
    CHECK_EQ(storvsp_hot_add(s.c, 7, extra, 0), -1); /* taken */
    CHECK_EQ(storvsp_hot_add(s.c, 64, extra, 0), -1);
    struct vstor_packet n;
    uint16_t type;
    uint64_t tid = 99;
    CHECK_EQ(wait_read(&s.in, &type, &tid, &n, sizeof(n)), 64);
    CHECK_EQ(type, VMBUS_PACKET_DATA_INBAND);
    CHECK_EQ(tid, 0);
    CHECK_EQ(n.operation, VSTOR_OP_ENUMERATE_BUS);
    CHECK_EQ(tg_ring_read(&s.in, &type, &tid, &n, sizeof(n)), -1); /* just the one */

    srb(&s, 0, rl, 12, VSTOR_READ_TYPE, 0, 0x1000, &r);
    CHECK_EQ(be32(buf), 3 * 8); /* LUNs 0, 5 and the new 7 */
    CHECK_EQ(buf[8 + 2 * 8 + 1], 7);
    srb(&s, 7, rc10, 10, VSTOR_READ_TYPE, 0, 8, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    CHECK_EQ(be32(buf), (1u << 20) / 512 - 1);

    CHECK_EQ(storvsp_hot_remove(s.c, 7, &old), 0);
    CHECK(old == extra);
    CHECK_EQ(storvsp_hot_remove(s.c, 7, &old), -1); /* already gone */
    CHECK_EQ(wait_read(&s.in, &type, &tid, &n, sizeof(n)), 64);
    CHECK_EQ(tid, 0);
    CHECK_EQ(n.operation, VSTOR_OP_ENUMERATE_BUS);
    srb(&s, 7, tur, 6, VSTOR_UNKNOWN_TYPE, 0, 0, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_INVALID_LUN);
    srb(&s, 7, inq, 6, VSTOR_READ_TYPE, 0, 36, &r);
    CHECK_EQ(buf[0], 0x7F);
    srb(&s, 0, rl, 12, VSTOR_READ_TYPE, 0, 0x1000, &r);
    CHECK_EQ(be32(buf), 2 * 8);
    sv_free(&s);
    disk_close(extra);
}

/* A test double backend: fails writes with ENOSPC (or EIO) until told otherwise. */
static _Atomic int fake_errno;
static uint8_t fake_data[1u << 20];

static _Atomic int fake_read_errno, fake_flush_errno, fake_hold;

static int fake_rw(struct disk *d, uint64_t off, void *buf, size_t len)
{
    while (atomic_load(&fake_hold))
        usleep(1000);
    int e = atomic_load(&fake_read_errno);
    if (e)
        return -e;
    memcpy(buf, fake_data + off, len);
    return 0;
}

static int fake_write(struct disk *d, uint64_t off, const void *buf, size_t len)
{
    int e = atomic_load(&fake_errno);
    if (e)
        return -e;
    memcpy(fake_data + off, buf, len);
    return 0;
}

static int fake_flush(struct disk *d)
{
    return -atomic_exchange(&fake_flush_errno, 0); /* fails once when told */
}

static const struct disk_format fake_fmt = { .name = "fake", .read = fake_rw,
                                             .write = fake_write, .flush = fake_flush };

struct space_rec {
    _Atomic int waiting, done;
};

static void space_hook(void *ctx, unsigned controller, unsigned lun, bool waiting)
{
    struct space_rec *r = ctx;
    CHECK_EQ(lun, 9u);
    atomic_fetch_add(waiting ? &r->waiting : &r->done, 1);
}

/* A channel set up (sv_setup, asynchronous) with the fake backend (fake_fmt) at LUN 9. */
static void sv_setup_fake_lun9(struct sv *s)
{
    static struct disk fake = { .fmt = &fake_fmt, .path = (char *)"fake",
                                .info = { .virtual_size = sizeof(fake_data),
                                          .logical_sector_size = 512,
                                          .physical_sector_size = 512 } };
    sv_setup(s, true);
    CHECK_EQ(storvsp_attach_disk(s->c, 9, &fake, 0), 0);
}

/* Disk full: a write that fails with ENOSPC is held (the hook pauses the VM), retried,
 * and completed normally once space is back; EIO (and ENOSPC without a hook) still
 * fail at once with MEDIUM ERROR. */
TEST(storvsp_disk_full_holds_and_retries)
{
    struct sv s;
    struct vstor_packet r;
    struct space_rec rec = { 0 };
    sv_setup_fake_lun9(&s);
    uint8_t *buf = data_buf(&s);
    static const uint8_t wr[10] = { 0x2A, 0, 0, 0, 0, 8, 0, 0, 1, 0 };

    atomic_store(&fake_errno, ENOSPC); /* no hook: fails like any I/O error */
    srb(&s, 9, wr, 10, VSTOR_WRITE_TYPE, 0, 512, &r);
    check_sense(&r, SENSE_MEDIUM_ERROR, 0x0C);

    storvsp_set_space_hook(s.c, space_hook, &rec, 20);
    atomic_store(&fake_errno, EIO); /* other errors still fail at once */
    srb(&s, 9, wr, 10, VSTOR_WRITE_TYPE, 0, 512, &r);
    check_sense(&r, SENSE_MEDIUM_ERROR, 0x0C);
    CHECK_EQ(atomic_load(&rec.waiting), 0);

    atomic_store(&fake_errno, ENOSPC);
    memset(buf, 0x5A, 512);
    struct vstor_packet p = { .operation = VSTOR_OP_EXECUTE_SRB,
                              .flags = VSTOR_FLAG_REQUEST_COMPLETION };
    p.vm_srb.length = sizeof(p.vm_srb);
    p.vm_srb.lun = 9;
    p.vm_srb.cdb_length = 10;
    p.vm_srb.sense_info_length = VSTOR_SENSE_MAX;
    p.vm_srb.data_in = VSTOR_WRITE_TYPE;
    p.vm_srb.data_transfer_length = 512;
    memcpy(p.vm_srb.cdb, wr, 10);
    uint64_t tid = sv_post(&s, &p, 0, 512);
    for (int i = 0; i < 2000 && !atomic_load(&rec.waiting); i++)
        usleep(1000);
    CHECK_EQ(atomic_load(&rec.waiting), 1);
    usleep(100000); /* several retries: still held, no completion */
    uint16_t type;
    uint64_t rtid;
    CHECK_EQ(tg_ring_read(&s.in, &type, &rtid, &r, sizeof(r)), -1);
    CHECK_EQ(atomic_load(&rec.done), 0);
    CHECK_EQ(atomic_load(&rec.waiting), 1); /* one pause per held write */

    atomic_store(&fake_errno, 0);
    storvsp_retry_now(s.c);
    CHECK_EQ(sv_wait(&s, tid, &r), 64);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    CHECK_EQ(r.vm_srb.scsi_status, SCSI_STATUS_GOOD);
    CHECK_EQ(r.vm_srb.data_transfer_length, 512);
    CHECK_EQ(atomic_load(&rec.done), 1);
    CHECK_EQ(fake_data[8 * 512], 0x5A);
    CHECK_EQ(fake_data[9 * 512 - 1], 0x5A);

    /* a write held when the controller stops fails (and the hook is balanced) */
    atomic_store(&fake_errno, ENOSPC);
    sv_post(&s, &p, 0, 512);
    for (int i = 0; i < 2000 && atomic_load(&rec.waiting) < 2; i++)
        usleep(1000);
    CHECK_EQ(atomic_load(&rec.waiting), 2);
    storvsp_stop(s.c);
    CHECK_EQ(atomic_load(&rec.done), 2);
    sv_free(&s);
    atomic_store(&fake_errno, 0);
}

TEST(storvsp_completions_wait_for_ring_space)
{
    struct sv s;
    struct vstor_packet r;
    /* host->guest ring of one data page: 46 completions of 88 bytes fit, 120 are sent */
    sv_setup_ex(&s, true, 0, 2);
    static const uint8_t tur[6] = { 0 };
    struct vstor_packet p = { .operation = VSTOR_OP_EXECUTE_SRB, .flags = 1 };
    p.vm_srb.length = sizeof(p.vm_srb);
    p.vm_srb.cdb_length = 6;
    p.vm_srb.data_in = VSTOR_UNKNOWN_TYPE;
    memcpy(p.vm_srb.cdb, tur, 6);
    for (uint64_t t = 1; t <= 120; t++)
        CHECK(tg_ring_write(&s.out, VMBUS_PACKET_DATA_INBAND, t, &p, sizeof(p)) >= 0);
    CHECK_EQ(tg_signal(&s.g, 0x2001), 0);
    unsigned got = 0;
    for (int spins = 0; got < 120 && spins < 5000; spins++) {
        uint64_t tid;
        int n = tg_ring_read(&s.in, NULL, &tid, &r, sizeof(r));
        if (n < 0) {
            /* as Linux does once it has made room the host asked for */
            CHECK_EQ(tg_signal(&s.g, 0x2001), 0);
            usleep(1000);
            continue;
        }
        CHECK_EQ(n, 64);
        CHECK_EQ(tid, got + 1); /* one worker: in order, none lost or repeated */
        CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
        got++;
    }
    CHECK_EQ(got, 120);
    sv_free(&s);
}

/* Backend errors through the asynchronous path: a failed read is MEDIUM ERROR /
 * unrecovered read error (11/00), a failed flush MEDIUM ERROR / write error (0C/00), and
 * a flush that failed keeps failing (the data it lost is never called durable), while
 * reads go on working. */
TEST(storvsp_backend_errors_become_medium_errors)
{
    struct sv s;
    struct vstor_packet r;
    sv_setup_fake_lun9(&s);
    static const uint8_t rd[10] = { 0x28, 0, 0, 0, 0, 8, 0, 0, 1, 0 };
    static const uint8_t sync[10] = { 0x35 };

    atomic_store(&fake_read_errno, EIO);
    srb(&s, 9, rd, 10, VSTOR_READ_TYPE, 0, 512, &r);
    check_sense(&r, SENSE_MEDIUM_ERROR, 0x11);
    atomic_store(&fake_read_errno, 0);
    srb(&s, 9, rd, 10, VSTOR_READ_TYPE, 0, 512, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    CHECK_EQ(r.vm_srb.data_transfer_length, 512);

    srb(&s, 9, sync, 10, VSTOR_UNKNOWN_TYPE, 0, 0, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    atomic_store(&fake_flush_errno, EIO);
    srb(&s, 9, sync, 10, VSTOR_UNKNOWN_TYPE, 0, 0, &r);
    check_sense(&r, SENSE_MEDIUM_ERROR, 0x0C);
    CHECK_EQ(atomic_load(&fake_flush_errno), 0); /* the backend would succeed now */
    srb(&s, 9, sync, 10, VSTOR_UNKNOWN_TYPE, 0, 0, &r);
    check_sense(&r, SENSE_MEDIUM_ERROR, 0x0C);
    srb(&s, 9, rd, 10, VSTOR_READ_TYPE, 0, 512, &r);
    CHECK_EQ(r.vm_srb.srb_status, SRB_STATUS_SUCCESS);
    sv_free(&s);
}

/* An EXECUTE_SRB of READ(10), one 512-byte block at LBA 8, for LUN 9. */
static struct vstor_packet lun9_read_srb(void)
{
    static const uint8_t rd[10] = { 0x28, 0, 0, 0, 0, 8, 0, 0, 1, 0 };
    struct vstor_packet p = { .operation = VSTOR_OP_EXECUTE_SRB, .flags = 1 };
    p.vm_srb.length = sizeof(p.vm_srb);
    p.vm_srb.lun = 9;
    p.vm_srb.cdb_length = 10;
    p.vm_srb.sense_info_length = VSTOR_SENSE_MAX;
    p.vm_srb.data_in = VSTOR_READ_TYPE;
    p.vm_srb.data_transfer_length = 512;
    memcpy(p.vm_srb.cdb, rd, 10);
    return p;
}

/* The next n completions are those of requests first..first+n-1 (in any order), each
 * once and successful. */
static bool each_completed_once(struct sv *s, uint64_t first, unsigned n)
{
    struct vstor_packet r;
    uint32_t seen = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t tid = 0;
        if (wait_read(&s->in, NULL, &tid, &r, sizeof(r)) != 64 || tid < first ||
            tid >= first + n || r.vm_srb.srb_status != SRB_STATUS_SUCCESS)
            return false;
        seen |= 1u << (tid - first);
    }
    return seen == (1u << n) - 1;
}

/* Queue depth: a channel's worker hands every READ to the engine without waiting for the
 * one before, so with the backend stuck all 8 are in flight at once; released, each
 * completes once. */
TEST(storvsp_channel_keeps_many_in_flight)
{
    struct sv s;
    sv_setup_fake_lun9(&s);
    atomic_store(&fake_hold, 1);
    struct vstor_packet p = lun9_read_srb();
    uint64_t first = 0;
    for (int i = 0; i < 8; i++) {
        uint64_t t = sv_post(&s, &p, 512u * (unsigned)i, 512);
        if (!first)
            first = t;
    }
    struct storvsp_stats st;
    for (int i = 0; i < 2000; i++) {
        storvsp_get_stats(s.c, &st);
        if (st.inflight == 8)
            break;
        usleep(1000);
    }
    CHECK_EQ(st.inflight, 8);
    CHECK_EQ(st.max_inflight, 8);
    atomic_store(&fake_hold, 0);
    CHECK(each_completed_once(&s, first, 8));
    storvsp_get_stats(s.c, &st);
    CHECK_EQ(st.inflight, 0);
    sv_free(&s);
}

/* Poll mode: with STORVSP_POLL_DEPTH SRBs outstanding the channel's ring stays masked,
 * so Linux queues more without signalling and each completion drains them; at queue
 * depth 1 the ring is unmasked (every SRB signalled), and it is again once all are done. */
TEST(storvsp_busy_channel_polls_its_ring_instead_of_waiting_for_signals)
{
    struct sv s;
    sv_setup_fake_lun9(&s);
    atomic_store(&fake_hold, 1);
    struct vstor_packet p = lun9_read_srb();
    uint32_t *mask = tg_ring_field(&s.out, 8);
    struct storvsp_stats st;
    uint64_t first = sv_post(&s, &p, 0, 512);
    CHECK_EQ(*mask, 0);
    for (unsigned i = 1; i < STORVSP_POLL_DEPTH; i++)
        sv_post(&s, &p, 512u * i, 512);
    CHECK_EQ(*mask, 1);
    for (unsigned i = STORVSP_POLL_DEPTH; i < 2 * STORVSP_POLL_DEPTH; i++) {
        int would_signal;
        sv_write(&s, &p, 512u * i, 512, &would_signal);
        CHECK_EQ(would_signal, 0); /* and so no signal comes */
    }
    atomic_store(&fake_hold, 0);
    CHECK(each_completed_once(&s, first, 2 * STORVSP_POLL_DEPTH));
    storvsp_get_stats(s.c, &st);
    CHECK_EQ(st.inflight, 0);
    CHECK_EQ(*mask, 0);
    sv_free(&s);
}
