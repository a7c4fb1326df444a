/* netvsp: the synthetic NIC's VSP (host side of Linux netvsc). Ties the NVSP/RNDIS
 * parsers (nvsp.c, rndis.c) and the RNDIS device model (rndis_dev.c) to a VMBus channel
 * and, optionally, a TAP port (net/tap.h):
 *   guest -> host: SEND_RNDIS_PKT from a send-buffer section or GPA-direct ranges;
 *     control messages are answered through the receive buffer, data frames are
 *     written to the TAP; every packet is completed.
 *   host -> guest: netvsp_deliver_frame() puts a frame into a free receive-buffer
 *     sub-allocation and sends a transfer-page packet; the guest's completion frees it.
 * Receive queues (vRSS, as Hyper-V offers a VM with several vCPUs): with
 * netvsp_set_queues(n, Q > 1) the guest learns of Q receive queues, asks for up to Q - 1
 * sub-channels (NVSP SUBCHANNEL), which are offered then, and sets its RSS parameters;
 * each received frame then goes out on the channel the guest's indirection table names
 * for the frame's Toeplitz hash (net/rss.h), so its receive work spreads over its vCPUs.
 * The guest sends on any of them. Receive and send buffers are shared by all channels
 * (set up on the primary, whose GPADLs they are). When the guest closes the primary
 * the VMBus host rescinds the sub-channels, so a re-opened NIC asks for new ones.
 * Offloads (netvsp_offload.h) when the backend takes a virtio_net_hdr: TCP/UDP
 * checksums and LSOv2 from the guest, checksum results to the guest. */
#ifndef VIRIDIAN_VSP_NETVSP_H
#define VIRIDIAN_VSP_NETVSP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "net/tap.h"
#include "vmbus/vmbus_device.h"
#include "vsp/rndis_dev.h"

#define NETVSP_RECV_SUB_ALLOC 1728   /* receive sub-allocation (Linux's own section size) */
#define NETVSP_SEND_SECTION 6144     /* send-buffer section size (as openvmm) */
#define NETVSP_MAX_RNDIS 65536       /* largest RNDIS message batch accepted from the guest */
#define NETVSP_RX_FRAME_MAX 65600    /* largest frame from the TAP (a 64 KiB IP packet, tagged) */
#define NETVSP_RSC_MAX_FRAGS 48      /* receive sub-allocations one coalesced frame may use */
#define NETVSP_MAX_QUEUES 8          /* channels per NIC (primary + sub-channels) */
#define NETVSP_DIRECT_HEAD 320       /* bytes of a large GPA-direct frame copied (its headers) */
#define NETVSP_DIRECT_IOV 24         /* guest pages a frame sent from guest memory may span */

/* Where frames from the guest go: 0 or a negative errno (counted as dropped). */
typedef int (*netvsp_tx_fn)(void *ctx, const void *frame, uint32_t len);
/* The TAP backend: ctx is a struct tap *. */
int netvsp_tap_tx(void *tap, const void *frame, uint32_t len);
/* A backend that takes offload work along with the frame: VH says what is left to do
 * (a checksum to fill, a large TCP segment to cut), the frame is in IOVCNT
 * (<= TAP_MAX_IOV) pieces, some of them guest memory. 0 or a negative errno. */
typedef int (*netvsp_txv_fn)(void *ctx, const struct virtio_net_hdr *vh, const struct iovec *iov,
                             int iovcnt);
/* The TAP backend with offloads (ctx: struct tap *). */
int netvsp_tap_txv(void *tap, const struct virtio_net_hdr *vh, const struct iovec *iov, int iovcnt);

/* Port policy, as a Hyper-V switch port's: by default the guest may only send from its
 * own MAC; with a VLAN the port is an access port (frames leave tagged with VID, only
 * frames tagged VID come in, untagged). */
struct netvsp_port {
    bool allow_mac_spoofing;
    uint16_t vlan_id; /* 0: none */
};

struct netvsp_stats {
    uint64_t tx_frames, tx_dropped; /* guest -> host */
    uint64_t tx_spoofed;            /* dropped: source MAC not the port's */
    uint64_t rx_frames, rx_dropped; /* host -> guest */
    uint64_t bad_packets;           /* malformed NVSP/RNDIS from the guest */
    uint64_t tx_offloaded;          /* guest frames passed on with checksum/LSO work */
    uint64_t tx_lso;                /* ... of which large sends */
    uint64_t rx_csum_ok;            /* frames delivered with a receive checksum PPI */
    uint64_t rx_rsc;                /* ... as a coalesced (RSC) fragment chain */
    uint64_t rx_queue[NETVSP_MAX_QUEUES]; /* frames delivered, by channel (queue) */
    uint64_t tx_queue[NETVSP_MAX_QUEUES]; /* SEND_RNDIS_PKT packets taken, by channel */
};

struct netvsp {
    struct vmbus_device_desc desc; /* ctx = this; register &desc with the VMBus host */
    struct rndis_dev rndis;        /* rndis.mac: the guest's current MAC (it may change it) */
    uint8_t mac[6];                /* the MAC the port was given: spoofing checks use it */
    netvsp_tx_fn tx;               /* NULL: frames from the guest are counted and dropped */
    netvsp_txv_fn txv;             /* if set, used instead of tx, and offloads are offered */
    void *tx_ctx;
    struct tap *offload_tap;       /* the TAP netvsp_pump_tap set offloads on, and which */
    unsigned tap_offloads;
    uint8_t *rxbuf;                /* NETVSP_RX_FRAME_MAX bytes: a frame read from the TAP */
    uint16_t rsc_id;               /* packet id of the next RSC chain */
    struct netvsp_port port;
    struct vmbus_channel *ch;      /* the open primary channel, or NULL */
    unsigned queues;               /* channels offered: 1 + sub-channels (netvsp_set_queues) */
    struct vmbus_channel *chans[NETVSP_MAX_QUEUES]; /* open channels by queue; [0] = ch */
    uint32_t version;              /* negotiated NVSP version, 0 before INIT */
    uint32_t ndis_major, ndis_minor, mtu;
    uint32_t recv_gpadl, recv_subs; /* receive buffer: GPADL id, sub-allocations */
    uint16_t recv_id;
    uint8_t *recv_busy;            /* per sub-allocation: 1 while the guest owns it as the
                                      first of a transfer-page packet, 2 as a later one */
    uint32_t *recv_link;           /* per sub-allocation: next one of its packet + 1, or 0 */
    uint32_t recv_next;            /* where the search for a free one starts */
    uint32_t send_gpadl, send_sections;
    uint8_t *scratch;              /* NETVSP_MAX_RNDIS bytes: gathered guest messages */
    struct netvsp_stats stats;
    int signal_fd;                 /* the caller's eventfd that takes the guest's signals, or -1 */
    bool rx_busy;                  /* host lock: the caller serves the ring again by itself */
};

/* Fill N (desc with the netvsc class GUID and INSTANCE, callbacks, ctx); guest frames
 * go to TX(TX_CTX) (e.g. netvsp_tap_tx with a struct tap *; TX may be NULL). PORT may
 * be NULL (defaults: no spoofing, no VLAN). With TX = netvsp_tap_tx the TAP backend
 * with offloads (netvsp_tap_txv) is used, and checksum offload and LSO are offered. */
void netvsp_init(struct netvsp *n, const char *name, const struct vmbus_guid *instance,
                 const uint8_t mac[6], netvsp_tx_fn tx, void *tx_ctx,
                 const struct netvsp_port *port);
void netvsp_free(struct netvsp *n);
/* Offer the guest Q receive queues (1..NETVSP_MAX_QUEUES; default 1). Before the
 * device is registered with the VMBus host (it sizes the sub-channel slots). */
void netvsp_set_queues(struct netvsp *n, unsigned q);
/* Send guest frames to TXV(N's tx_ctx) with their offload work, and offer the guest
 * checksum offload and LSO (from its next probe on). */
void netvsp_set_txv(struct netvsp *n, netvsp_txv_fn txv);
/* Host -> guest: one Ethernet frame (as the switch has it: tagged if the port has a
 * VLAN). 0; -ENOTCONN before the guest set up its receive buffer and RNDIS; -EAGAIN no
 * free sub-allocation or ring space (dropped, counted); -EMSGSIZE too big; -EPERM the
 * guest's packet filter or the port's VLAN refuses it. Takes the channel
 * lock, so it may be called from any thread. */
int netvsp_deliver_frame(struct netvsp *n, const void *frame, uint32_t len);
/* Host -> guest from a TAP: reads up to MAX frames from T (non-blocking) and delivers
 * each (frames the guest cannot take now are dropped and counted, like a full NIC
 * queue). Returns the number read, or a negative errno other than -EAGAIN. Call it when
 * T's fd is readable. It lets the kernel leave checksums to us (TUN_F_CSUM): they are
 * finished here and reported to the guest as verified; and, while the guest takes
 * coalesced packets (RSC, NVSP 6.1), TCP segments of up to 64 KiB (TUN_F_TSO4/6), which
 * reach the guest as one RSC fragment chain in one VMBus packet. */
int netvsp_pump_tap(struct netvsp *n, struct tap *t, unsigned max);
/* Host -> guest: one frame as a TAP gives it, with its virtio_net_hdr VH (a partial
 * checksum to finish, or a TCP segment of up to 64 KiB, delivered coalesced when the
 * guest takes RSC). FRAME is modified. Returns as netvsp_deliver_frame; -EINVAL for a
 * header it cannot honour. */
int netvsp_deliver_offloaded(struct netvsp *n, void *frame, uint32_t len,
                             const struct virtio_net_hdr *vh);
/* For a caller with a thread of its own that receives (vm_net's pump): while the channel
 * is open, the guest's signals on it become writes to FD, an eventfd the caller polls
 * and keeps open as long as N exists, instead of waking the VMBus doorbell thread (the
 * channel's doorbell_fd). The caller then calls netvsp_serve_guest() when FD fires.
 * Takes effect at the next open of the channel. */
void netvsp_take_signals(struct netvsp *n, int fd);
/* Serves the guest->host rings of all open channels (frames the guest sends, receive
 * completions), reading the signal eventfd first (all channels signal it). RX_BUSY: the caller is in a stream of received frames and
 * will call again after its next batch, so the ring stays masked meanwhile and the guest
 * sends and completes without signalling (each signal is an exit); false (the TAP ran
 * dry) unmasks it. */
void netvsp_serve_guest(struct netvsp *n, bool rx_busy);
/* Link state as the guest sees it (INDICATE_STATUS when it is listening). */
int netvsp_set_link(struct netvsp *n, bool up);

#endif
