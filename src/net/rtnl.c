/* rtnetlink requests over a NETLINK_ROUTE socket, one request per socket, each
 * acknowledged (NLM_F_ACK) so the kernel's errno comes back to the caller. */
#include "net/rtnl.h"

#include <errno.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct nlreq {
    union {
        struct nlmsghdr nh;
        char buf[16384];
    };
};

static struct ifinfomsg *req_init(struct nlreq *r, uint16_t type, uint16_t flags)
{
    memset(r, 0, sizeof(*r));
    r->nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    r->nh.nlmsg_type = type;
    r->nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    return NLMSG_DATA(&r->nh);
}

static struct rtattr *attr_put(struct nlreq *r, uint16_t type, const void *data, size_t len)
{
    size_t off = NLMSG_ALIGN(r->nh.nlmsg_len);
    if (off + RTA_SPACE(len) > sizeof(r->buf))
        return NULL; /* requests here are small and fixed; cannot happen */
    struct rtattr *a = (struct rtattr *)(r->buf + off);
    a->rta_type = type;
    a->rta_len = RTA_LENGTH(len);
    if (len)
        memcpy(RTA_DATA(a), data, len);
    r->nh.nlmsg_len = off + RTA_SPACE(len);
    return a;
}

static void attr_end(struct nlreq *r, struct rtattr *nest)
{
    nest->rta_len = (unsigned short)(r->buf + r->nh.nlmsg_len - (char *)nest);
}

/* Sends R and waits for its ack; if REPLY is given, the first non-error answer is
 * copied there (for RTM_GETLINK). */
static int transact(struct nlreq *r, struct nlreq *reply)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return -errno;
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    r->nh.nlmsg_seq = 1;
    int ret = -EIO;
    if (sendto(fd, r, r->nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        ret = -errno;
        goto out;
    }
    for (;;) {
        char buf[32768];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0) {
            ret = -errno;
            goto out;
        }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
             h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *e = NLMSG_DATA(h);
                ret = e->error;
                goto out;
            }
            if (reply && h->nlmsg_len <= sizeof(reply->buf))
                memcpy(reply->buf, h, h->nlmsg_len);
        }
    }
out:
    close(fd);
    return ret;
}

unsigned rtnl_ifindex(const char *name)
{
    return if_nametoindex(name);
}

static int set_name(struct nlreq *r, const char *name)
{
    if (strlen(name) >= IFNAMSIZ)
        return -ENAMETOOLONG;
    return attr_put(r, IFLA_IFNAME, name, strlen(name) + 1) ? 0 : -ENOBUFS;
}

int rtnl_bridge_create(const char *name, bool vlan_filtering)
{
    struct nlreq r;
    req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    int ret = set_name(&r, name);
    if (ret)
        return ret;
    struct rtattr *li = attr_put(&r, IFLA_LINKINFO, NULL, 0);
    attr_put(&r, IFLA_INFO_KIND, "bridge", 7);
    if (vlan_filtering) { /* absent, not 0: kernels without filtering refuse even 0 */
        struct rtattr *data = attr_put(&r, IFLA_INFO_DATA, NULL, 0);
        uint8_t vf = 1;
        attr_put(&r, IFLA_BR_VLAN_FILTERING, &vf, 1);
        attr_end(&r, data);
    }
    attr_end(&r, li);
    return transact(&r, NULL);
}

int rtnl_link_delete(const char *name)
{
    struct nlreq r;
    req_init(&r, RTM_DELLINK, 0);
    int ret = set_name(&r, name);
    return ret ? ret : transact(&r, NULL);
}

int rtnl_link_set_master(const char *link, const char *master)
{
    unsigned idx = rtnl_ifindex(link);
    if (!idx)
        return -ENODEV;
    uint32_t midx = 0;
    if (master && !(midx = rtnl_ifindex(master)))
        return -ENODEV;
    struct nlreq r;
    struct ifinfomsg *ifi = req_init(&r, RTM_NEWLINK, 0);
    ifi->ifi_index = (int)idx;
    attr_put(&r, IFLA_MASTER, &midx, sizeof(midx));
    return transact(&r, NULL);
}

int rtnl_link_set_up(const char *link, bool up)
{
    unsigned idx = rtnl_ifindex(link);
    if (!idx)
        return -ENODEV;
    struct nlreq r;
    struct ifinfomsg *ifi = req_init(&r, RTM_NEWLINK, 0);
    ifi->ifi_index = (int)idx;
    ifi->ifi_change = IFF_UP;
    ifi->ifi_flags = up ? IFF_UP : 0;
    return transact(&r, NULL);
}

int rtnl_link_master(const char *link)
{
    unsigned idx = rtnl_ifindex(link);
    if (!idx)
        return -ENODEV;
    struct nlreq r, reply;
    memset(&reply, 0, sizeof(reply));
    struct ifinfomsg *ifi = req_init(&r, RTM_GETLINK, 0);
    ifi->ifi_index = (int)idx;
    int ret = transact(&r, &reply);
    if (ret)
        return ret;
    if (reply.nh.nlmsg_type != RTM_NEWLINK)
        return -EIO;
    struct ifinfomsg *ri = NLMSG_DATA(&reply.nh);
    int len = (int)reply.nh.nlmsg_len - (int)NLMSG_LENGTH(sizeof(*ri));
    for (struct rtattr *a = IFLA_RTA(ri); RTA_OK(a, len); a = RTA_NEXT(a, len))
        if (a->rta_type == IFLA_MASTER && RTA_PAYLOAD(a) >= 4) {
            uint32_t m;
            memcpy(&m, RTA_DATA(a), 4);
            return (int)m;
        }
    return 0;
}

static int bridge_vlan(const char *link, uint16_t type, uint16_t vid, uint16_t flags)
{
    unsigned idx = rtnl_ifindex(link);
    if (!idx)
        return -ENODEV;
    struct nlreq r;
    struct ifinfomsg *ifi = req_init(&r, type, 0);
    ifi->ifi_family = AF_BRIDGE;
    ifi->ifi_index = (int)idx;
    struct rtattr *spec = attr_put(&r, IFLA_AF_SPEC, NULL, 0);
    struct bridge_vlan_info vi = { .flags = flags, .vid = vid };
    attr_put(&r, IFLA_BRIDGE_VLAN_INFO, &vi, sizeof(vi));
    attr_end(&r, spec);
    return transact(&r, NULL);
}

int rtnl_bridge_port_set_access_vlan(const char *link, uint16_t vid)
{
    if (vid < 1 || vid > 4094)
        return -EINVAL;
    if (vid != 1) {
        int ret = bridge_vlan(link, RTM_DELLINK, 1, 0);
        if (ret && ret != -ENOENT)
            return ret;
    }
    return bridge_vlan(link, RTM_SETLINK, vid, BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED);
}

int rtnl_bridge_port_add_tagged_vlan(const char *link, uint16_t vid)
{
    if (vid < 1 || vid > 4094)
        return -EINVAL;
    return bridge_vlan(link, RTM_SETLINK, vid, 0);
}
