/* TAP ports: /dev/net/tun with a virtio_net_hdr on every frame. */
#include "net/tap.h"

#include "net/rtnl.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

int tap_open(struct tap *t, const char *name)
{
    t->fd = -1;
    t->name[0] = 0;
    if (name && strlen(name) >= IFNAMSIZ)
        return -ENAMETOOLONG;
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name && *name ? name : "vtap%d");
    int hdr = sizeof(struct virtio_net_hdr);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    t->fd = fd;
    memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
    t->name[IFNAMSIZ - 1] = 0;
    return 0;
}

void tap_close(struct tap *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

int tap_attach(struct tap *t, const char *bridge)
{
    return rtnl_link_set_master(t->name, bridge);
}

int tap_set_up(struct tap *t, bool up)
{
    return rtnl_link_set_up(t->name, up);
}

int tap_set_carrier(struct tap *t, bool on)
{
    int v = on;
    return ioctl(t->fd, TUNSETCARRIER, &v) < 0 ? -errno : 0;
}

int tap_set_vlan(struct tap *t, uint16_t vid)
{
    return rtnl_bridge_port_set_access_vlan(t->name, vid);
}

ssize_t tap_write_frame(struct tap *t, const void *frame, size_t len)
{
    struct virtio_net_hdr hdr;
    memset(&hdr, 0, sizeof(hdr));
    struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { (void *)frame, len } };
    ssize_t n = writev(t->fd, iov, 2);
    if (n < 0)
        return -errno;
    return n >= (ssize_t)sizeof(hdr) ? n - (ssize_t)sizeof(hdr) : -EIO;
}

ssize_t tap_write_frame_v(struct tap *t, const struct virtio_net_hdr *vh, const struct iovec *iov,
                          int iovcnt)
{
    struct iovec v[1 + TAP_MAX_IOV];
    if (iovcnt < 0 || iovcnt > TAP_MAX_IOV)
        return -EINVAL;
    v[0].iov_base = (void *)vh;
    v[0].iov_len = sizeof(*vh);
    size_t len = 0;
    for (int i = 0; i < iovcnt; i++) {
        v[i + 1] = iov[i];
        len += iov[i].iov_len;
    }
    ssize_t n = writev(t->fd, v, iovcnt + 1);
    if (n < 0)
        return -errno;
    return n == (ssize_t)(len + sizeof(*vh)) ? (ssize_t)len : -EIO;
}

int tap_set_offload(struct tap *t, unsigned flags)
{
    return ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)flags) < 0 ? -errno : 0;
}

ssize_t tap_read_frame(struct tap *t, void *buf, size_t len, struct virtio_net_hdr *hdr)
{
    struct virtio_net_hdr h;
    struct iovec iov[2] = { { &h, sizeof(h) }, { buf, len } };
    ssize_t n = readv(t->fd, iov, 2);
    if (n < 0)
        return -errno;
    if (n < (ssize_t)sizeof(h))
        return -EIO;
    if (hdr)
        *hdr = h;
    return n - (ssize_t)sizeof(h);
}
