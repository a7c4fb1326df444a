/* Synthetic NICs of a VM; see vm_net.h. */
#include "core/vm_net.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "net/switch.h"
#include "vsp/netvsp.h"

_Static_assert(VM_NIC_MAX_QUEUES == NETVSP_MAX_QUEUES, "vm_nic_info holds every queue");

#define PUMP_BATCH 64   /* frames per TAP between looks at the guest's ring */
#define PUMP_ROUNDS 16  /* batches per TAP per wake-up, so one NIC cannot starve another */
#define PUMP_STOP_KEY UINT32_MAX
#define PUMP_SIGNAL_KEY 0x10000u /* | NIC index: the guest signalled that NIC's channel */

struct vm_net {
    unsigned n;
    struct netvsp nics[VM_MAX_NICS];
    struct tap *taps[VM_MAX_NICS];
    int signal_fds[VM_MAX_NICS];
    int epfd, stop_fd;
    pthread_t thread;
    bool started;
};

int vm_nic_parse_mac(const char *s, uint8_t mac[6])
{
    for (int i = 0; i < 6; i++) {
        const char *p = s + i * 3;
        if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]))
            return -1;
        char sep = p[2];
        if (i < 5 ? (sep != ':' && sep != '-') || sep != s[2] : sep != '\0')
            return -1;
        char hex[3] = { p[0], p[1], 0 };
        mac[i] = (uint8_t)strtoul(hex, NULL, 16);
    }
    static const uint8_t zero[6];
    if ((mac[0] & 1) || !memcmp(mac, zero, 6))
        return -1; /* a multicast or empty address cannot be a NIC's */
    return 0;
}

void vm_nic_default_mac(const char *vm_name, unsigned index, uint8_t mac[6])
{
    /* FNV-1a over the name, a separator and the index */
    uint32_t h = 2166136261u;
    for (const char *p = vm_name; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ 0xFFu) * 16777619u;
    h = (h ^ (uint8_t)index) * 16777619u;
    mac[0] = VM_NIC_OUI0, mac[1] = VM_NIC_OUI1, mac[2] = VM_NIC_OUI2;
    mac[3] = (uint8_t)(h >> 16), mac[4] = (uint8_t)(h >> 8), mac[5] = (uint8_t)h;
}

void vm_nic_format_mac(const uint8_t mac[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}

/* Does bridge BR do 802.1Q filtering (so a port can be an access port)? */
static bool bridge_filters_vlans(const char *br)
{
    char path[96], c = '0';
    snprintf(path, sizeof(path), "/sys/class/net/%s/bridge/vlan_filtering", br);
    FILE *f = fopen(path, "re");
    if (f) {
        if (fread(&c, 1, 1, f) != 1)
            c = '0';
        fclose(f);
    }
    return c == '1';
}

static const char *errstr(int ret)
{
    if (ret == -EPERM || ret == -EACCES)
        return "permission denied (a VM's network ports need root or CAP_NET_ADMIN)";
    return strerror(-ret);
}

int vm_net_check(const struct vm_config *cfg, char *err, size_t errlen)
{
    for (unsigned i = 0; i < cfg->nnics; i++) {
        struct vswitch sw;
        char serr[256] = "";
        if (vswitch_load(cfg->nics[i].switch_name, &sw, serr, sizeof(serr))) {
            snprintf(err, errlen, "--nic switch=%s: %s", cfg->nics[i].switch_name, serr);
            return -1;
        }
    }
    return 0;
}

int vm_net_open(struct vm_config *cfg, char *err, size_t errlen)
{
    for (unsigned i = 0; i < cfg->nnics; i++)
        cfg->nics[i].tap.fd = -1;
    for (unsigned i = 0; i < cfg->nnics; i++) {
        struct vm_nic *nic = &cfg->nics[i];
        struct vswitch sw;
        char serr[256] = "", br[IFNAMSIZ];
        int ret = vswitch_ensure(nic->switch_name, &sw, serr, sizeof(serr));
        if (ret) {
            snprintf(err, errlen, "--nic switch=%s: %s", nic->switch_name, serr);
            goto fail;
        }
        vswitch_bridge_name(&sw, br);
        const char *step = "create a TAP port";
        ret = tap_open(&nic->tap, NULL);
        if (!ret && (step = "attach its TAP port to the switch", ret = tap_attach(&nic->tap, br)) == 0)
            step = "bring its TAP port up", ret = tap_set_up(&nic->tap, true);
        nic->vlan_by_bridge = false;
        if (!ret && nic->vlan && bridge_filters_vlans(br)) {
            step = "put its TAP port in its VLAN";
            ret = tap_set_vlan(&nic->tap, nic->vlan);
            nic->vlan_by_bridge = ret == 0;
            if (!ret)
                step = "let the switch's host NIC carry its VLAN", ret = vswitch_carry_vlan(&sw, nic->vlan);
        }
        if (ret) {
            snprintf(err, errlen, "NIC %u (switch %s): cannot %s: %s", i, nic->switch_name, step,
                     errstr(ret));
            goto fail;
        }
        vlog_debug("NIC %u: %s on switch %s (bridge %s), VLAN %u %s", i, nic->tap.name, sw.name, br,
                   nic->vlan, nic->vlan_by_bridge ? "by the bridge" : "by netvsp");
    }
    return 0;
fail:
    vm_net_close(cfg);
    return -1;
}

void vm_net_close(struct vm_config *cfg)
{
    for (unsigned i = 0; i < cfg->nnics; i++)
        if (cfg->nics[i].tap.fd >= 0)
            tap_close(&cfg->nics[i].tap); /* the TAP device goes with its fd */
}

/* Frames from NIC I's TAP to the guest, batch by batch while the TAP has more, with the
 * guest's ring served after each batch: the guest's receive completions (and frames it
 * sends) are picked up there, with its ring masked, instead of each costing it a signal. */
static void pump_nic(struct vm_net *net, uint32_t i)
{
    for (unsigned round = 1;; round++) {
        int got = netvsp_pump_tap(&net->nics[i], net->taps[i], PUMP_BATCH);
        if (got < 0) {
            /* the TAP is broken: stop watching it rather than spin on it */
            vlog_warn("NIC %u: reading TAP %s failed: %s; it receives nothing more", i,
                      net->taps[i]->name, strerror(-got));
            epoll_ctl(net->epfd, EPOLL_CTL_DEL, net->taps[i]->fd, NULL);
        }
        bool more = got == PUMP_BATCH && round < PUMP_ROUNDS;
        netvsp_serve_guest(&net->nics[i], more);
        if (!more)
            return;
    }
}

/* Host -> guest, and the guest's signals: waits on every TAP, every NIC's signal
 * eventfd and the stop event. */
static void *pump_thread(void *arg)
{
    struct vm_net *net = arg;
    struct epoll_event ev[VM_MAX_NICS + 1];
    pthread_setname_np(pthread_self(), "net-pump");
    for (;;) {
        int k = epoll_wait(net->epfd, ev, VM_MAX_NICS + 1, -1);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            vlog_error("network pump: epoll_wait: %s", strerror(errno));
            return NULL;
        }
        for (int j = 0; j < k; j++) {
            uint32_t key = ev[j].data.u32;
            if (key == PUMP_STOP_KEY)
                return NULL;
            if (key & PUMP_SIGNAL_KEY)
                netvsp_serve_guest(&net->nics[key & ~PUMP_SIGNAL_KEY], false);
            else
                pump_nic(net, key);
        }
    }
}

int vm_net_attach(struct vm *vm, const struct vmbus_device_desc **descs, unsigned n,
                  unsigned cap)
{
    struct vm_config *cfg = (struct vm_config *)vm->cfg; /* its NIC slots are ours */
    if (!cfg->nnics)
        return (int)n;
    struct vm_net *net = calloc(1, sizeof(*net));
    if (!net || n + cfg->nnics > cap) {
        free(net);
        snprintf(vm->error, sizeof(vm->error), "cannot create the synthetic NICs");
        return -1;
    }
    net->epfd = net->stop_fd = -1;
    for (unsigned i = 0; i < VM_MAX_NICS; i++)
        net->signal_fds[i] = -1;
    vm->net = net;
    for (unsigned i = 0; i < cfg->nnics; i++) {
        struct vm_nic *nic = &cfg->nics[i];
        /* {5e2f9d61-3c7a-4b8e-a10d-6c42901f7eNN}: fixed per NIC index */
        struct vmbus_guid inst = VMBUS_GUID(0x5e2f9d61, 0x3c7a, 0x4b8e, 0xa1, 0x0d, 0x6c, 0x42,
                                            0x90, 0x1f, 0x7e, (uint8_t)i);
        struct netvsp_port port = { .allow_mac_spoofing = nic->allow_spoofing,
                                    .vlan_id = nic->vlan_by_bridge ? 0 : nic->vlan };
        netvsp_init(&net->nics[i], "netvsp", &inst, nic->mac, netvsp_tap_tx, &nic->tap, &port);
        /* a receive queue per vCPU (vRSS), as Hyper-V gives a VM with several */
        netvsp_set_queues(&net->nics[i], cfg->cpus);
        if (!net->nics[i].scratch) {
            net->n = i + 1;
            snprintf(vm->error, sizeof(vm->error), "out of memory for NIC %u", i);
            return -1;
        }
        net->taps[i] = &nic->tap;
        net->n = i + 1;
        if (nic->link_down)
            netvsp_set_link(&net->nics[i], false); /* recorded; the guest reads it at init */
        descs[n++] = &net->nics[i].desc;
    }
    net->epfd = epoll_create1(EPOLL_CLOEXEC);
    net->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    bool ok = net->epfd >= 0 && net->stop_fd >= 0;
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = PUMP_STOP_KEY };
    ok = ok && epoll_ctl(net->epfd, EPOLL_CTL_ADD, net->stop_fd, &ev) == 0;
    for (unsigned i = 0; ok && i < net->n; i++) {
        ev.data.u32 = i;
        ok = epoll_ctl(net->epfd, EPOLL_CTL_ADD, net->taps[i]->fd, &ev) == 0;
        net->signal_fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        ev.data.u32 = i | PUMP_SIGNAL_KEY;
        ok = ok && net->signal_fds[i] >= 0 &&
             epoll_ctl(net->epfd, EPOLL_CTL_ADD, net->signal_fds[i], &ev) == 0;
        if (ok)
            netvsp_take_signals(&net->nics[i], net->signal_fds[i]);
    }
    if (!ok || pthread_create(&net->thread, NULL, pump_thread, net) != 0) {
        snprintf(vm->error, sizeof(vm->error), "cannot start the network pump: %s", strerror(errno));
        return -1;
    }
    net->started = true;
    return (int)n;
}

void vm_net_stop(struct vm *vm)
{
    struct vm_net *net = vm->net;
    if (!net || !net->started)
        return;
    uint64_t one = 1;
    if (write(net->stop_fd, &one, sizeof(one)) != sizeof(one))
        vlog_warn("network pump: cannot signal the stop: %s", strerror(errno));
    pthread_join(net->thread, NULL);
    net->started = false;
}

void vm_net_detach(struct vm *vm)
{
    struct vm_net *net = vm->net;
    if (!net)
        return;
    vm_net_stop(vm);
    for (unsigned i = 0; i < net->n; i++) {
        netvsp_free(&net->nics[i]);
        if (net->signal_fds[i] >= 0)
            close(net->signal_fds[i]);
    }
    if (net->epfd >= 0)
        close(net->epfd);
    if (net->stop_fd >= 0)
        close(net->stop_fd);
    free(net);
    vm->net = NULL;
}

int vm_net_set_link(struct vm *vm, unsigned index, bool up, char *err, size_t errlen)
{
    struct vm_config *cfg = (struct vm_config *)vm->cfg;
    if (index >= cfg->nnics || !vm->net) {
        snprintf(err, errlen, "the VM has no NIC %u (it has %u)", index, cfg->nnics);
        return -1;
    }
    struct vm_nic *nic = &cfg->nics[index];
    int ret = tap_set_carrier(&nic->tap, up);
    if (ret) {
        snprintf(err, errlen, "NIC %u: cannot set the carrier of %s: %s", index, nic->tap.name,
                 strerror(-ret));
        return -1;
    }
    nic->link_down = !up;
    ret = netvsp_set_link(&vm->net->nics[index], up);
    if (ret)
        vlog_debug("NIC %u: link status indication not delivered now (%d); the guest reads it "
                   "when it asks", index, ret);
    return 0;
}

int vm_net_info(struct vm *vm, unsigned index, struct vm_nic_info *info)
{
    const struct vm_config *cfg = vm->cfg;
    if (index >= cfg->nnics)
        return -1;
    const struct vm_nic *nic = &cfg->nics[index];
    memset(info, 0, sizeof(*info));
    info->switch_name = nic->switch_name;
    info->tap = nic->tap.name;
    vm_nic_format_mac(nic->mac, info->mac);
    info->vlan = nic->vlan;
    info->allow_spoofing = nic->allow_spoofing;
    info->link_up = !nic->link_down;
    if (vm->net && index < vm->net->n) {
        const struct netvsp *n = &vm->net->nics[index];
        info->guest_ready = n->rndis.initialized;
        info->tx_frames = n->stats.tx_frames;
        info->tx_dropped = n->stats.tx_dropped;
        info->tx_spoofed = n->stats.tx_spoofed;
        info->rx_frames = n->stats.rx_frames;
        info->rx_dropped = n->stats.rx_dropped;
        info->bad_packets = n->stats.bad_packets;
        info->queues = n->queues;
        for (unsigned q = 0; q < n->queues; q++) {
            info->rx_queue_frames[q] = n->stats.rx_queue[q];
            info->tx_queue_packets[q] = n->stats.tx_queue[q];
            info->queues_open += n->chans[q] != NULL;
        }
    }
    return 0;
}
