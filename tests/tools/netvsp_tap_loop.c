/* netvsp_tap_loop BRIDGE HOST_IPV4: the synthetic NIC end to end on a switch, without a
 * VM. A fake Linux netvsc (tests/unit/netvsp_guest.c) probes a netvsp whose backend is
 * a TAP port on BRIDGE, opens the interface (packet filter), sends an ARP request for
 * HOST_IPV4 as a guest frame (RNDIS PACKET in a send-buffer section), and waits up to
 * 3 s for the ARP reply to arrive in its receive buffer through netvsp_pump_tap.
 * Prints "reply from MAC"; exit 0 on success. Used by tests/integration/switch.sh. */
#include <arpa/inet.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "netvsp_guest.h"
#include "test.h"
#include "vsp/nvsp.h"
#include "vsp/rndis.h"

/* The harness reports through the unit-test hooks. */
static int failures;
void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "netvsp_tap_loop: %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    failures++;
}

void test_register(const char *name, const char *file, test_fn fn)
{
}

const char *test_tmpdir(void)
{
    return "/tmp";
}

static long ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

int main(int argc, char **argv)
{
    struct in_addr host, me;
    if (argc != 3 || inet_pton(AF_INET, argv[2], &host) != 1 ||
        inet_pton(AF_INET, "192.0.2.201", &me) != 1) {
        fprintf(stderr, "usage: netvsp_tap_loop BRIDGE HOST_IPV4\n");
        return 2;
    }
    struct tap tap;
    int ret = tap_open(&tap, NULL);
    if (!ret)
        ret = tap_attach(&tap, argv[1]);
    if (!ret)
        ret = tap_set_up(&tap, true);
    if (ret) {
        fprintf(stderr, "netvsp_tap_loop: TAP: %s\n", strerror(-ret));
        return 1;
    }
    static struct ng f;
    ng_setup(&f, NULL);
    f.n.tx = netvsp_tap_tx;
    f.n.tx_ctx = &tap;
    ng_probe(&f);
    uint8_t r[300];
    uint32_t filter = RNDIS_FILTER_DIRECTED | RNDIS_FILTER_ALL_MULTICAST | RNDIS_FILTER_BROADCAST;
    if (oid(&f, RNDIS_MSG_SET, 2, RNDIS_OID_GEN_CURRENT_PACKET_FILTER, &filter, 4, r) != 0 ||
        failures) {
        fprintf(stderr, "netvsp_tap_loop: the probe failed\n");
        return 1;
    }
    uint8_t arp[42], pkt[128], raw[512];
    memset(arp, 0xff, 6);
    memcpy(arp + 6, MAC, 6);
    arp[12] = 0x08, arp[13] = 0x06;
    const uint8_t arp_hdr[8] = { 0, 1, 8, 0, 6, 4, 0, 1 };
    memcpy(arp + 14, arp_hdr, 8);
    memcpy(arp + 22, MAC, 6);
    memcpy(arp + 28, &me, 4);
    memset(arp + 32, 0, 6);
    memcpy(arp + 38, &host, 4);
    size_t pl = rndis_build_packet(pkt, sizeof(pkt), arp, sizeof(arp), NULL);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int sent = 0;
    while (ms_since(&t0) < 3000) {
        if (sent * 500 <= ms_since(&t0)) { /* again until the bridge port forwards */
            uint64_t tid = send_rndis_section(&f, 0, pkt, (uint32_t)pl, NVSP_CHANNEL_TYPE_DATA);
            /* drain everything up to this completion, keeping any frames */
            sent++;
            (void)tid;
        }
        struct pollfd p = { .fd = tap.fd, .events = POLLIN };
        poll(&p, 1, 100);
        netvsp_pump_tap(&f.n, &tap, 64);
        while (*tg_ring_field(&f.in, 0) != *tg_ring_field(&f.in, 4)) {
            uint64_t tid;
            const uint8_t *payload;
            uint8_t peek[512];
            /* look at the type without consuming: completions are just read */
            memcpy(peek, f.in.data + *tg_ring_field(&f.in, 4), 2);
            if (peek[0] != VMBUS_PACKET_DATA_USING_XFER_PAGES) {
                next_pkt(&f, raw, sizeof(raw), &tid, &payload);
                continue;
            }
            uint32_t len;
            const uint8_t *m = expect_rndis(&f, NVSP_CHANNEL_TYPE_DATA, &len);
            struct rndis_msg rm;
            if (!m || rndis_parse(m, len, &rm) || rm.type != RNDIS_MSG_PACKET)
                continue;
            const uint8_t *fr = rm.packet.frame;
            if (rm.packet.frame_len >= 42 && fr[12] == 8 && fr[13] == 6 && fr[21] == 2 &&
                !memcmp(fr, MAC, 6) && !memcmp(fr + 28, &host, 4)) {
                printf("reply from %02x:%02x:%02x:%02x:%02x:%02x through netvsp and %s "
                       "(guest sent %llu frames, received %llu)\n",
                       fr[22], fr[23], fr[24], fr[25], fr[26], fr[27], tap.name,
                       (unsigned long long)f.n.stats.tx_frames,
                       (unsigned long long)f.n.stats.rx_frames);
                ng_free(&f);
                tap_close(&tap);
                return failures ? 1 : 0;
            }
        }
    }
    fprintf(stderr, "netvsp_tap_loop: no ARP reply (guest sent %llu frames, %llu dropped, "
                    "received %llu, %llu dropped)\n",
            (unsigned long long)f.n.stats.tx_frames, (unsigned long long)f.n.stats.tx_dropped,
            (unsigned long long)f.n.stats.rx_frames, (unsigned long long)f.n.stats.rx_dropped);
    ng_free(&f);
    tap_close(&tap);
    return 1;
}
