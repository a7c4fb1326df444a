/* Integration components (hv_utils): shutdown, heartbeat, time sync and KVP as VMBus
 * devices, and the host-side API the VM main loop and the control socket use.
 *
 * What the integrator must do, per VM:
 *  1. Put the four descriptors in the device table (src/vmbus/devices.c already lists
 *     them: ic_shutdown_desc, ic_timesync_desc, ic_heartbeat_desc, ic_kvp_desc).
 *  2. After vmbus_create(): ic = ic_attach(host, &cfg). It finds the IC channels of that
 *     host, hangs its per-channel state on them (vmbus_channel_set_priv) and returns the
 *     per-VM state (also retrievable later with ic_from_host(host)). NULL = the host has
 *     no IC channels or out of memory. Until ic_attach, the guest's OPENCHANNEL of an IC
 *     is refused.
 *  3. About once per second, from the VM main loop (any non-vCPU thread): ic_tick(ic).
 *     It sends the NEGOTIATE message to newly opened channels (never from inside the
 *     guest's OPENCHANNEL, so the guest has its open result first), the periodic
 *     heartbeat and time samples, queued requests, and times requests out. An IC is
 *     therefore usable at most ~1 tick after the guest opened it.
 *  4. Before vmbus_destroy(): ic_detach(ic). Outstanding requests complete with -EPIPE.
 *
 * Threading: every function here may be called from any thread except where noted. State
 * is guarded by the VMBus host's lock (vmbus_channel_lock), the same lock the device
 * callbacks run under on vCPU threads. Completion callbacks (ic_done_fn) are called WITH
 * that lock held (from a vCPU thread when the guest answers, from ic_tick on timeout,
 * from ic_detach/the guest closing the channel with -EPIPE): they must not block and must
 * not call the blocking functions (ic_shutdown, ic_kvp_call). The blocking functions must
 * be called from a thread that does not hold that lock (control socket thread).
 *
 * Version negotiation: the host offers framework {3.0, 1.0} and per IC the message
 * versions Hyper-V offers (shutdown 3.2/3.1/3.0/1.0, time sync 4.0/3.0/1.0 (4.0 only
 * with cfg.hv, see below), heartbeat 3.0/1.0, KVP 4.0/3.0/1.0); Linux 6.1 picks framework
 * 3.0 and shutdown 3.2, time sync 4.0, heartbeat 3.0, KVP 4.0.
 *
 * KVP needs hv_kvp_daemon (Debian package hyperv-daemons) in the guest: without it the
 * guest kernel does not even answer NEGOTIATE, and the KVP IC stays "negotiating" (no
 * timeout; it completes whenever the daemon starts). */
#ifndef VIRIDIAN_VSP_IC_H
#define VIRIDIAN_VSP_IC_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/hv.h"
#include "vmbus/vmbus.h"

extern const struct vmbus_device_desc ic_shutdown_desc;
extern const struct vmbus_device_desc ic_heartbeat_desc;
extern const struct vmbus_device_desc ic_timesync_desc;
extern const struct vmbus_device_desc ic_kvp_desc;

enum ic_kind { IC_SHUTDOWN, IC_HEARTBEAT, IC_TIMESYNC, IC_KVP, IC_KIND_COUNT };

struct ic_config {
    /* The partition, to read the guest's reference counter (MSR 0x40000020) when a time
     * sample is taken; enables time sync message version 4.0 (vmreferencetime). NULL:
     * only 3.0/1.0 are offered and the guest timestamps a sample on arrival. */
    struct hv_partition *hv;
    /* Clocks; NULL = CLOCK_REALTIME as FILETIME (100 ns since 1601) and CLOCK_MONOTONIC
     * in ms. Tests inject their own. */
    uint64_t (*filetime_now)(void *ctx);
    uint64_t (*monotonic_ms)(void *ctx);
    void *clock_ctx;
    /* 0 = defaults in brackets. */
    uint32_t heartbeat_period_ms;  /* [1000] heartbeat request period */
    uint32_t heartbeat_window_ms;  /* [5000] "alive" = last answer at most this old */
    uint32_t timesync_period_ms;   /* [5000] SAMPLE period after the initial SYNC */
    uint32_t request_timeout_ms;   /* [30000] shutdown/heartbeat/time sample timeout */
    uint32_t kvp_timeout_ms;       /* [40000] KVP (the guest itself gives up after 30 s) */
};

struct ic;

struct ic *ic_attach(struct vmbus_host *host, const struct ic_config *cfg);
/* The state ic_attach() hung on this host, or NULL. */
struct ic *ic_from_host(struct vmbus_host *host);
void ic_detach(struct ic *ic);
void ic_tick(struct ic *ic);

/* --- completion of host requests ----------------------------------------------------- */
struct ic_kvp_result;

struct ic_result {
    /* 0: the guest answered, see status. -ETIMEDOUT: no answer in time. -EPIPE: the
     * channel closed (guest closed it, unload, ic_detach) before the answer. */
    int err;
    /* The guest's icmsg status when err == 0: IC_S_OK 0, IC_E_FAIL 0x80004005,
     * IC_S_CONT 0x80070103 (KVP: no such index/key). */
    uint32_t status;
    const struct ic_kvp_result *kvp; /* KVP answers (err == 0), else NULL */
};
typedef void (*ic_done_fn)(void *arg, const struct ic_result *res);

/* Requests return a positive request id (for ic_cancel) or a negative errno:
 * -ENOTCONN  the IC is not negotiated (not offered/opened/answered yet, or no daemon),
 * -EBUSY     too many outstanding (shutdown: one; KVP: 16 queued),
 * -EINVAL    bad arguments (strings too long or not UTF-8, unknown op/pool/flags),
 * -ENODEV    this host has no such IC, -ENOMEM. */
int64_t ic_cancel(struct ic *ic, int64_t id); /* 0 = done will not be called; -ENOENT */

/* --- status ---------------------------------------------------------------------------- */
enum ic_state {
    IC_STATE_ABSENT,      /* not in the device table */
    IC_STATE_CLOSED,      /* offered, guest has not opened it */
    IC_STATE_OPENED,      /* opened, NEGOTIATE goes out at the next ic_tick */
    IC_STATE_NEGOTIATING, /* NEGOTIATE sent, waiting for the guest */
    IC_STATE_READY,       /* negotiated */
    IC_STATE_FAILED,      /* no common version; nothing more is sent until reopened */
};
const char *ic_state_name(enum ic_state s);

struct ic_service_status {
    enum ic_state state;
    uint32_t fw_version, msg_version; /* negotiated (major << 16 | minor), 0 before */
    uint64_t answered;                /* guest answers to requests since attach */
};

struct ic_heartbeat_status {
    bool alive;           /* READY and answered within heartbeat_window_ms */
    bool answered;        /* at least one heartbeat answered since the channel opened */
    uint64_t seq;         /* the guest's last sequence number */
    uint64_t age_ms;      /* time since that answer (UINT64_MAX if none) */
};

struct ic_status {
    struct ic_service_status svc[IC_KIND_COUNT];
    struct ic_heartbeat_status heartbeat;
    uint64_t timesync_samples; /* time samples the guest acknowledged */
};

/* 0, or -ENODEV if ic is NULL. */
int ic_get_status(struct ic *ic, struct ic_status *st);
int ic_heartbeat_status(struct ic *ic, struct ic_heartbeat_status *hb);

/* --- shutdown ---------------------------------------------------------------------------- */
#define IC_SHUTDOWN_FORCE     0x1u /* Linux always forces anyway */
#define IC_SHUTDOWN_REBOOT    0x2u
#define IC_SHUTDOWN_HIBERNATE 0x4u /* Linux: E_FAIL unless the guest supports S4 */

/* Sends the shutdown request (flags above; reason = UTF-8 text shown by Windows guests,
 * may be NULL; at most 1023 UTF-16 units). done (may be NULL) gets the guest's status:
 * Linux answers S_OK and then powers off / reboots. Returns the id, or -ENOTCONN (use the
 * ACPI power button instead), -EBUSY, -EINVAL. */
int64_t ic_shutdown_request(struct ic *ic, uint32_t flags, const char *reason,
                            ic_done_fn done, void *arg);
/* Blocking form: 0 and *status = the guest's status; -ENOTCONN/-EBUSY/-EINVAL as above;
 * -ETIMEDOUT (no answer within timeout_ms); -EPIPE. */
int ic_shutdown(struct ic *ic, uint32_t flags, const char *reason, int timeout_ms,
                uint32_t *status);

/* --- time sync ------------------------------------------------------------------------- */
/* Queues a SYNC sample (the guest steps its clock), e.g. after resume. 0, -ENOTCONN. */
int ic_timesync_sync(struct ic *ic);

/* --- KVP ------------------------------------------------------------------------------- */
enum ic_kvp_op {
    IC_KVP_OP_GET = 0,
    IC_KVP_OP_SET = 1,
    IC_KVP_OP_DELETE = 2,
    IC_KVP_OP_ENUMERATE = 3,
    IC_KVP_OP_GET_IP_INFO = 4,
};
/* Pools (hv_kvp_daemon): 0 external (host writes, guest reads /var/lib/hyperv/
 * .kvp_pool_0), 1 guest (guest writes for the host), 2 auto (guest intrinsics generated
 * on the fly: index 0 FullyQualifiedDomainName, 1 IntegrationServicesVersion,
 * 2 NetworkAddressIPv4, 3 NetworkAddressIPv6, 4 OSBuildNumber, 5 OSName,
 * 6 OSMajorVersion, 7 OSMinorVersion, 8 OSVersion, 9 ProcessorArchitecture; index 10
 * answers S_CONT), 3 auto external, 4 auto internal. Hyper-V enumerates pool 2 from
 * index 0 until the guest answers a non-zero status. */
enum ic_kvp_pool {
    IC_KVP_POOL_EXTERNAL = 0,
    IC_KVP_POOL_GUEST = 1,
    IC_KVP_POOL_AUTO = 2,
    IC_KVP_POOL_AUTO_EXTERNAL = 3,
    IC_KVP_POOL_AUTO_INTERNAL = 4,
};

struct ic_kvp_request {
    enum ic_kvp_op op;
    uint8_t pool;
    uint32_t index;    /* ENUMERATE */
    const char *key;   /* GET, SET, DELETE: UTF-8, at most 255 UTF-16 units */
    const char *value; /* SET: UTF-8, at most 1023 UTF-16 units (sent as REG_SZ) */
    const char *mac;   /* GET_IP_INFO: the NIC's MAC as "00:15:5D:0A:0B:0C" (the daemon
                          compares it with the upper-cased sysfs address) */
};

/* Strings decoded from the guest's UTF-16LE fields (invalid units become U+FFFD, never
 * read past the field), NUL-terminated UTF-8. */
#define IC_KVP_KEY_UTF8   (256 * 3 + 1)
#define IC_KVP_VALUE_UTF8 (1024 * 3 + 1)
#define IC_KVP_ADDR_UTF8  (1024 * 3 + 1)
struct ic_kvp_result {
    enum ic_kvp_op op;
    uint8_t pool;
    uint32_t index;
    uint32_t value_type;            /* GET/ENUMERATE: IC_KVP_REG_SZ from Linux */
    char key[IC_KVP_KEY_UTF8];      /* ENUMERATE */
    char value[IC_KVP_VALUE_UTF8];  /* GET, ENUMERATE */
    /* GET_IP_INFO: ';'-separated lists as the daemon writes them */
    char adapter_id[128 * 3 + 1];
    uint8_t addr_family;            /* 1 IPv4, 2 IPv6, 3 both? (as the guest reports) */
    uint8_t dhcp_enabled;
    char ip_addr[IC_KVP_ADDR_UTF8];
    char subnet[IC_KVP_ADDR_UTF8];
    char gateway[512 * 3 + 1];
    char dns[IC_KVP_ADDR_UTF8];
};

/* Queues a KVP request (sent when the previous one is answered). done gets res->kvp on
 * an answer; status S_OK, or S_CONT/E_FAIL (enumeration past the end, unknown key, no
 * NIC with that MAC). Returns the id or -ENOTCONN/-EBUSY/-EINVAL. */
int64_t ic_kvp_request(struct ic *ic, const struct ic_kvp_request *rq, ic_done_fn done,
                       void *arg);
/* Blocking form: 0 with *status (and *out filled when status is S_OK; out may be NULL),
 * or -ENOTCONN/-EBUSY/-EINVAL/-ETIMEDOUT/-EPIPE. */
int ic_kvp_call(struct ic *ic, const struct ic_kvp_request *rq, int timeout_ms,
                uint32_t *status, struct ic_kvp_result *out);

#endif
