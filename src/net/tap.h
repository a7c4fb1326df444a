/* A VM's switch port: a TAP device (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) enslaved to a
 * switch's bridge. The device lives as long as its fd (not persistent). Every frame
 * read or written carries a struct virtio_net_hdr (10 bytes) in front; tap_write_frame
 * and tap_read_frame add and strip it so callers deal in plain Ethernet frames.
 * Functions returning int give 0 or a negative errno. */
#ifndef VIRIDIAN_NET_TAP_H
#define VIRIDIAN_NET_TAP_H

#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct tap {
    int fd;
    char name[IFNAMSIZ];
};

/* Create TAP device NAME (NULL or "": the kernel picks "vtapN"); fd is non-blocking. */
int tap_open(struct tap *t, const char *name);
void tap_close(struct tap *t);
/* Enslave to BRIDGE (a bridge device name; see vswitch_bridge_name). */
int tap_attach(struct tap *t, const char *bridge);
int tap_set_up(struct tap *t, bool up);
/* Carrier as seen by the bridge (the VM's link state): off stops forwarding to it. */
int tap_set_carrier(struct tap *t, bool on);
/* Put the port in access VLAN VID (1..4094); needs the bridge's VLAN filtering. */
int tap_set_vlan(struct tap *t, uint16_t vid);
/* One Ethernet frame out to the switch (a zero virtio_net_hdr: no offloads).
 * Returns len, or a negative errno (-EAGAIN when the queue is full). */
ssize_t tap_write_frame(struct tap *t, const void *frame, size_t len);
#define TAP_MAX_IOV 32 /* pieces of one frame tap_write_frame_v takes */
/* One frame out with its virtio_net_hdr VH (checksum or segmentation left to do), the
 * frame in IOVCNT (at most TAP_MAX_IOV) pieces. Returns the frame length or a negative
 * errno. */
ssize_t tap_write_frame_v(struct tap *t, const struct virtio_net_hdr *vh, const struct iovec *iov,
                          int iovcnt);
/* Which offloads the kernel may leave to us in frames we read (TUNSETOFFLOAD: TUN_F_CSUM,
 * TUN_F_TSO4, ...); 0 = every frame complete (the default). */
int tap_set_offload(struct tap *t, unsigned flags);
/* One frame from the switch into BUF; HDR (optional) receives its virtio_net_hdr.
 * Returns the frame length, -EAGAIN when none is waiting, or a negative errno. */
ssize_t tap_read_frame(struct tap *t, void *buf, size_t len, struct virtio_net_hdr *hdr);

#endif
