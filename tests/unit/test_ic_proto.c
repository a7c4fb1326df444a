/* IC framework pieces on their own (headers, negotiation parsing, UTF-16) and malformed
 * guest messages end to end: each is dropped and the channel keeps working. */
#include <errno.h>
#include <string.h>

#include "ic_guest.h"
#include "test.h"
#include "vsp/ic_common.h"
#include "vsp/utf16.h"

static const uint32_t msgv[] = { IC_VER(3, 0), IC_VER(1, 0) };

static uint32_t neg_body(uint8_t *b, uint16_t fwc, uint16_t msc, uint32_t fw, uint32_t mv)
{
    memset(b, 0, 64);
    memcpy(b, &fwc, 2);
    memcpy(b + 2, &msc, 2);
    uint16_t v[4] = { IC_VER_MAJOR(fw), IC_VER_MINOR(fw), IC_VER_MAJOR(mv), IC_VER_MINOR(mv) };
    memcpy(b + 8, v, 8);
    return 16;
}

TEST(ic_negotiate_parse_validation)
{
    uint8_t b[64];
    uint32_t fw = 0, mv = 0;
    uint32_t n = neg_body(b, 1, 1, IC_VER(3, 0), IC_VER(3, 0));
    CHECK_EQ(ic_negotiate_parse(b, n, ic_fw_versions, 2, msgv, 2, &fw, &mv), 1);
    CHECK_EQ(fw, IC_VER(3, 0));
    CHECK_EQ(mv, IC_VER(3, 0));
    CHECK_EQ(ic_negotiate_parse(b, 15, ic_fw_versions, 2, msgv, 2, &fw, &mv), -1);
    CHECK_EQ(ic_negotiate_parse(b, 4, ic_fw_versions, 2, msgv, 2, &fw, &mv), -1);
    n = neg_body(b, 0, 0, 0, 0);
    CHECK_EQ(ic_negotiate_parse(b, n, ic_fw_versions, 2, msgv, 2, &fw, &mv), 0);
    n = neg_body(b, 101, 1, IC_VER(3, 0), IC_VER(3, 0));
    CHECK_EQ(ic_negotiate_parse(b, n, ic_fw_versions, 2, msgv, 2, &fw, &mv), -1);
    n = neg_body(b, 2, 1, IC_VER(3, 0), IC_VER(3, 0));
    CHECK_EQ(ic_negotiate_parse(b, n, ic_fw_versions, 2, msgv, 2, &fw, &mv), -1);
    n = neg_body(b, 1, 1, IC_VER(2, 0), IC_VER(3, 0)); /* never offered */
    CHECK_EQ(ic_negotiate_parse(b, n, ic_fw_versions, 2, msgv, 2, &fw, &mv), -1);
    n = neg_body(b, 1, 1, IC_VER(3, 0), IC_VER(3, 2));
    CHECK_EQ(ic_negotiate_parse(b, n, ic_fw_versions, 2, msgv, 2, &fw, &mv), -1);
    /* What the host builds: counts then fw versions then message versions. */
    uint8_t out[64];
    CHECK_EQ(ic_negotiate_build(out, sizeof(out), ic_fw_versions, 2, msgv, 2), 24);
    CHECK_EQ(ic_negotiate_build(out, 23, ic_fw_versions, 2, msgv, 2), 0);
    uint16_t w[12];
    memcpy(w, out, 24);
    CHECK_EQ(w[0], 2);
    CHECK_EQ(w[1], 2);
    CHECK_EQ(w[4], 3); /* 3.0 */
    CHECK_EQ(w[5], 0);
    CHECK_EQ(w[6], 1); /* 1.0 */
}

TEST(ic_header_build_and_parse)
{
    uint8_t m[64] = { 0 };
    ic_hdr_build(m, 16, IC_MSG_HEARTBEAT, IC_VER(3, 0), IC_VER(3, 0),
                 IC_FLAG_TRANSACTION | IC_FLAG_REQUEST, 7);
    uint32_t pipe[2];
    memcpy(pipe, m, 8);
    CHECK_EQ(pipe[0], IC_PIPE_FLAG_DATA);
    CHECK_EQ(pipe[1], 20 + 16);
    CHECK_EQ(m[12], IC_MSG_HEARTBEAT);
    CHECK_EQ(m[18], 16);
    CHECK_EQ(m[24], 7);
    CHECK_EQ(m[25], 3);
    struct ic_hdr h;
    CHECK_EQ(ic_hdr_parse(m, 44, &h), 0);
    CHECK_EQ(h.msg.msgtype, IC_MSG_HEARTBEAT);
    CHECK_EQ(ic_hdr_parse(m, 43, &h), -1); /* icmsgsize beyond the packet */
    CHECK_EQ(ic_hdr_parse(m, 27, &h), -1);
    CHECK_EQ(ic_hdr_parse(NULL, 44, &h), -1);
}

TEST(ic_utf16_conversions)
{
    uint8_t u[16];
    CHECK_EQ(utf16le_from_utf8("A\xc3\xa9\xf0\x9f\x99\x82", u, 8), 4);
    const uint8_t want[] = { 'A', 0, 0xE9, 0, 0x3D, 0xD8, 0x42, 0xDE, 0, 0 };
    CHECK(memcmp(u, want, sizeof(want)) == 0);
    CHECK_EQ(utf16le_from_utf8("A\xc3\xa9\xf0\x9f\x99\x82", u, 4), -1); /* no room for NUL */
    CHECK_EQ(utf16le_from_utf8("", u, 1), 0);
    CHECK_EQ(utf16le_from_utf8("", u, 0), -1);
    CHECK_EQ(utf16le_from_utf8("\xf4\x90\x80\x80", u, 8), -1); /* > U+10FFFF */
    CHECK_EQ(utf16le_from_utf8("\xe2\x82", u, 8), -1);         /* truncated */
    char s[16];
    CHECK_EQ(utf16le_to_utf8(want, 5, s, sizeof(s)), 7);
    CHECK_STR(s, "A\xc3\xa9\xf0\x9f\x99\x82");
    /* Stops at max_units even without a NUL; a pair cut in half becomes U+FFFD. */
    CHECK_EQ(utf16le_to_utf8(want, 3, s, sizeof(s)), 6);
    CHECK_STR(s, "A\xc3\xa9\xef\xbf\xbd");
    /* Output cap: stops at a character boundary. */
    CHECK_EQ(utf16le_to_utf8(want, 5, s, 4), 3);
    CHECK_STR(s, "A\xc3\xa9");
    const uint8_t lone_low[] = { 0x00, 0xDC, 'x', 0 };
    CHECK_EQ(utf16le_to_utf8(lone_low, 2, s, sizeof(s)), 4);
    CHECK_STR(s, "\xef\xbf\xbdx");
}

static uint64_t ms_clock(void *ctx)
{
    return 1000;
}

TEST(ic_malformed_guest_messages_are_dropped)
{
    struct icg f;
    icg_init(&f, vmbus_devices, vmbus_device_count);
    struct ic_config cfg = { .monotonic_ms = ms_clock };
    struct ic *ic = ic_attach(f.g.host, &cfg);
    icg_open_all(&f);
    ic_tick(ic);
    uint8_t buf[4096];
    uint64_t tid;
    int len = icg_peek_read(&f, IC_HEARTBEAT, &tid, buf, sizeof(buf));
    CHECK(len >= (int)IC_HDR_SIZE + 8 + 8);
    uint8_t good[4096];
    memcpy(good, buf, (size_t)len);
    /* Each of these is dropped; the NEGOTIATE stays outstanding. */
    uint8_t m[4096];
    memcpy(m, buf, (size_t)len);
    m[25] = IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE;
    icg_send_raw(&f, IC_HEARTBEAT, VMBUS_PACKET_DATA_INBAND, tid, m, 10);      /* short */
    icg_send_raw(&f, IC_HEARTBEAT, VMBUS_PACKET_COMP, tid, m, (uint32_t)len);   /* type */
    icg_send_raw(&f, IC_HEARTBEAT, VMBUS_PACKET_DATA_INBAND, tid + 1, m, (uint32_t)len);
    m[24]++;
    icg_send_raw(&f, IC_HEARTBEAT, VMBUS_PACKET_DATA_INBAND, tid, m, (uint32_t)len);
    m[24]--;
    m[25] = IC_FLAG_TRANSACTION | IC_FLAG_REQUEST; /* a "request" from the guest */
    icg_send_raw(&f, IC_HEARTBEAT, VMBUS_PACKET_DATA_INBAND, tid, m, (uint32_t)len);
    m[25] = IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE;
    m[12] = IC_MSG_HEARTBEAT; /* another type */
    icg_send_raw(&f, IC_HEARTBEAT, VMBUS_PACKET_DATA_INBAND, tid, m, (uint32_t)len);
    m[12] = IC_MSG_NEGOTIATE;
    uint16_t big = 0xFFFF;
    memcpy(m + 18, &big, 2); /* icmsgsize beyond the packet */
    icg_send_raw(&f, IC_HEARTBEAT, VMBUS_PACKET_DATA_INBAND, tid, m, (uint32_t)len);
    neg_body(m + IC_HDR_SIZE, 101, 1, IC_VER(3, 0), IC_VER(3, 0));
    memset(m + 18, 0, 2);
    icg_send_raw(&f, IC_HEARTBEAT, VMBUS_PACKET_DATA_INBAND, tid, m, (uint32_t)len);
    neg_body(m + IC_HDR_SIZE, 1, 1, IC_VER(3, 0), IC_VER(9, 9));
    icg_send_raw(&f, IC_HEARTBEAT, VMBUS_PACKET_DATA_INBAND, tid, m, (uint32_t)len);
    struct ic_status st;
    ic_get_status(ic, &st);
    CHECK_EQ(st.svc[IC_HEARTBEAT].state, IC_STATE_NEGOTIATING);
    CHECK_EQ(st.svc[IC_HEARTBEAT].answered, 0);
    /* The real answer still works. */
    icg_answer(&f, IC_HEARTBEAT, tid, good, (uint32_t)len);
    ic_get_status(ic, &st);
    CHECK_EQ(st.svc[IC_HEARTBEAT].state, IC_STATE_READY);
    /* Now a heartbeat is in flight: a too-short body and a wrong sequence. */
    len = icg_peek_read(&f, IC_HEARTBEAT, &tid, buf, sizeof(buf));
    CHECK(len >= (int)(IC_HDR_SIZE + sizeof(struct ic_heartbeat_body)));
    memcpy(m, buf, (size_t)len);
    m[25] = IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE;
    memset(m + 18, 0, 2);
    icg_send_raw(&f, IC_HEARTBEAT, VMBUS_PACKET_DATA_INBAND, tid, m, IC_HDR_SIZE + 4);
    uint64_t seq = 12345;
    memcpy(m + IC_HDR_SIZE, &seq, 8);
    icg_send_raw(&f, IC_HEARTBEAT, VMBUS_PACKET_DATA_INBAND, tid, m, (uint32_t)len);
    struct ic_heartbeat_status hb;
    ic_heartbeat_status(ic, &hb);
    CHECK(!hb.answered); /* wrong sequence: answered but not counted as alive */
    /* Unsolicited answers with nothing in flight, on every channel. */
    for (unsigned k = 0; k < IC_KIND_COUNT; k++)
        icg_send_raw(&f, (enum ic_kind)k, VMBUS_PACKET_DATA_INBAND, 99, m, (uint32_t)len);
    /* The guest negotiates "no common version": FAILED, nothing more is sent. */
    len = icg_peek_read(&f, IC_SHUTDOWN, &tid, buf, sizeof(buf));
    CHECK(len > 0);
    neg_body(buf + IC_HDR_SIZE, 0, 0, 0, 0);
    buf[25] = IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE;
    icg_send_raw(&f, IC_SHUTDOWN, VMBUS_PACKET_DATA_INBAND, tid, buf, (uint32_t)len);
    ic_get_status(ic, &st);
    CHECK_EQ(st.svc[IC_SHUTDOWN].state, IC_STATE_FAILED);
    CHECK_EQ(ic_shutdown_request(ic, 0, NULL, NULL, NULL), -ENOTCONN);
    ic_detach(ic);
    icg_free(&f);
}
