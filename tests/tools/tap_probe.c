/* tap_probe BRIDGE HOST_IPV4: opens a TAP port (net/tap.c) on BRIDGE, sends an ARP
 * request for HOST_IPV4 from 192.0.2.200 / 02:00:00:00:00:c8 and waits up to 3 s for
 * the reply through the same port. Prints "reply from MAC"; exit 0 on a reply. Used by
 * tests/integration/switch.sh to show a VM port exchanges frames with the host side. */
#include "net/tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: tap_probe BRIDGE HOST_IPV4\n");
        return 2;
    }
    struct in_addr host, me;
    if (inet_pton(AF_INET, argv[2], &host) != 1 || inet_pton(AF_INET, "192.0.2.200", &me) != 1)
        return 2;
    struct tap t;
    int ret = tap_open(&t, NULL);
    if (!ret)
        ret = tap_attach(&t, argv[1]);
    if (!ret)
        ret = tap_set_up(&t, true);
    if (ret) {
        fprintf(stderr, "tap_probe: %s\n", strerror(-ret));
        return 1;
    }
    static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 0xc8 };
    uint8_t f[42];
    memset(f, 0xff, 6);                    /* broadcast */
    memcpy(f + 6, mac, 6);
    f[12] = 0x08, f[13] = 0x06;            /* ARP */
    const uint8_t arp_hdr[8] = { 0, 1, 8, 0, 6, 4, 0, 1 }; /* Ethernet/IPv4 request */
    memcpy(f + 14, arp_hdr, 8);
    memcpy(f + 22, mac, 6);
    memcpy(f + 28, &me, 4);
    memset(f + 32, 0, 6);
    memcpy(f + 38, &host, 4);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int sent = 0;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (ms > 3000)
            break;
        if (sent * 500 <= ms) { /* resend twice a second until the port is forwarding */
            ssize_t n = tap_write_frame(&t, f, sizeof(f));
            if (n != (ssize_t)sizeof(f) && n != -EAGAIN) {
                fprintf(stderr, "tap_probe: write: %s\n", strerror((int)-n));
                return 1;
            }
            sent++;
        }
        struct pollfd p = { .fd = t.fd, .events = POLLIN };
        poll(&p, 1, 100);
        uint8_t r[2048];
        ssize_t n;
        while ((n = tap_read_frame(&t, r, sizeof(r), NULL)) >= 0) {
            /* an ARP reply (op 2) addressed to us, from HOST_IPV4 */
            if (n >= 42 && r[12] == 8 && r[13] == 6 && r[21] == 2 && !memcmp(r, mac, 6) &&
                !memcmp(r + 28, &host, 4)) {
                printf("reply from %02x:%02x:%02x:%02x:%02x:%02x via %s\n", r[22], r[23], r[24],
                       r[25], r[26], r[27], t.name);
                tap_close(&t);
                return 0;
            }
        }
    }
    fprintf(stderr, "tap_probe: no ARP reply from %s through %s\n", argv[2], t.name);
    tap_close(&t);
    return 1;
}
