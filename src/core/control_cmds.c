/* The control socket's commands. Each runs on the control thread with the server lock
 * held, so `vm` stays valid for the whole call. */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/control.h"
#include "core/vm.h"
#include "core/vm_net.h"
#include "core/vm_storage.h"
#include "vmbus/vmbus.h"
#include "vsp/ic.h"

#define IC_SHUTDOWN_TIMEOUT_MS 10000
#define IC_KVP_TIMEOUT_MS 10000

static const char *const exit_names[EXIT_KINDS] = { "io", "mmio", "msr", "hypercall", "other" };

static int cmd_status(struct control_server *s, struct vm *vm, struct json_object *req,
                      struct json_object *reply, char *err, size_t errlen)
{
    json_object_object_add(reply, "name", json_object_new_string(s->name));
    json_object_object_add(reply, "pid", json_object_new_int(getpid()));
    json_object_object_add(reply, "boots", json_object_new_int((int)s->boots));
    if (!vm) {
        json_object_object_add(reply, "state", json_object_new_string("restarting"));
        return 0;
    }
    json_object_object_add(reply, "state", json_object_new_string(
        atomic_load(&vm->disk_full) ? "paused-disk-full" : atomic_load(&vm->paused) ? "paused" : "running"));
    json_object_object_add(reply, "cpus", json_object_new_int(vm->nvcpus));
    json_object_object_add(reply, "memory", json_object_new_int64((int64_t)vm->cfg->memory));
    json_object_object_add(reply, "uptime_ms",
                           json_object_new_int64((int64_t)(vm->machine.now_ns(vm) / 1000000)));
    struct json_object *vmbus = json_object_new_object();
    bool connected = vm->vmbus && vmbus_host_connected(vm->vmbus);
    json_object_object_add(vmbus, "connected", json_object_new_boolean(connected));
    if (connected) {
        char ver[16];
        uint32_t v = vmbus_host_version(vm->vmbus);
        snprintf(ver, sizeof(ver), "%u.%u", v >> 16, v & 0xffff);
        json_object_object_add(vmbus, "version", json_object_new_string(ver));
    }
    json_object_object_add(reply, "vmbus", vmbus);

    uint64_t counts[EXIT_KINDS];
    vm_exit_counts(vm, counts);
    struct json_object *exits = json_object_new_object();
    for (int k = 0; k < EXIT_KINDS; k++)
        json_object_object_add(exits, exit_names[k], json_object_new_int64((int64_t)counts[k]));
    json_object_object_add(reply, "exits", exits);

    struct vm_nic_info ni;
    if (vm_net_info(vm, 0, &ni) == 0) {
        struct json_object *nics = json_object_new_object();
        for (unsigned i = 0; vm_net_info(vm, i, &ni) == 0; i++) {
            struct json_object *o = json_object_new_object();
            char key[16];
            snprintf(key, sizeof(key), "%u", i);
            json_object_object_add(o, "switch", json_object_new_string(ni.switch_name));
            json_object_object_add(o, "tap", json_object_new_string(ni.tap));
            json_object_object_add(o, "mac", json_object_new_string(ni.mac));
            json_object_object_add(o, "vlan", json_object_new_int(ni.vlan));
            json_object_object_add(o, "spoofing", json_object_new_string(ni.allow_spoofing ? "allow" : "deny"));
            json_object_object_add(o, "link", json_object_new_string(ni.link_up ? "up" : "down"));
            json_object_object_add(o, "guest_ready", json_object_new_boolean(ni.guest_ready));
            json_object_object_add(o, "tx_frames", json_object_new_int64((int64_t)ni.tx_frames));
            json_object_object_add(o, "tx_dropped", json_object_new_int64((int64_t)ni.tx_dropped));
            json_object_object_add(o, "tx_spoofed", json_object_new_int64((int64_t)ni.tx_spoofed));
            json_object_object_add(o, "rx_frames", json_object_new_int64((int64_t)ni.rx_frames));
            json_object_object_add(o, "rx_dropped", json_object_new_int64((int64_t)ni.rx_dropped));
            json_object_object_add(o, "bad_packets", json_object_new_int64((int64_t)ni.bad_packets));
            json_object_object_add(o, "queues", json_object_new_int((int)ni.queues));
            json_object_object_add(o, "queues_open", json_object_new_int((int)ni.queues_open));
            struct json_object *rxq = json_object_new_array(), *txq = json_object_new_array();
            for (unsigned q = 0; q < ni.queues; q++) {
                json_object_array_add(rxq, json_object_new_int64((int64_t)ni.rx_queue_frames[q]));
                json_object_array_add(txq, json_object_new_int64((int64_t)ni.tx_queue_packets[q]));
            }
            json_object_object_add(o, "rx_queue_frames", rxq);
            json_object_object_add(o, "tx_queue_packets", txq);
            json_object_object_add(nics, key, o);
        }
        json_object_object_add(reply, "nics", nics);
    }

    struct ic_status st;
    if (ic_get_status(vm->ic, &st) == 0) {
        static const char *const names[IC_KIND_COUNT] = { "shutdown", "heartbeat", "timesync", "kvp" };
        struct json_object *ics = json_object_new_object();
        for (int i = 0; i < IC_KIND_COUNT; i++)
            json_object_object_add(ics, names[i], json_object_new_string(ic_state_name(st.svc[i].state)));
        json_object_object_add(reply, "integration_services", ics);
        struct json_object *hb = json_object_new_object();
        json_object_object_add(hb, "alive", json_object_new_boolean(st.heartbeat.alive));
        json_object_object_add(hb, "sequence", json_object_new_int64((int64_t)st.heartbeat.seq));
        if (st.heartbeat.answered)
            json_object_object_add(hb, "age_ms", json_object_new_int64((int64_t)st.heartbeat.age_ms));
        json_object_object_add(reply, "heartbeat", hb);
        json_object_object_add(reply, "timesync_samples", json_object_new_int64((int64_t)st.timesync_samples));
    }
    return 0;
}

static int cmd_shutdown(struct control_server *s, struct vm *vm, struct json_object *req,
                        struct json_object *reply, char *err, size_t errlen)
{
    struct json_object *o;
    uint32_t flags = IC_SHUTDOWN_FORCE, status = 0;
    if (json_object_object_get_ex(req, "reboot", &o) && json_object_get_boolean(o))
        flags |= IC_SHUTDOWN_REBOOT;
    int rc = ic_shutdown(vm->ic, flags, "viridian vm shutdown", IC_SHUTDOWN_TIMEOUT_MS, &status);
    if (rc == 0 && status == 0) {
        json_object_object_add(reply, "method", json_object_new_string("shutdown integration service"));
        return 0;
    }
    if (rc == 0) {
        snprintf(err, errlen, "the guest refused the shutdown (status 0x%x)", status);
        return -1;
    }
    if (rc != -ENOTCONN) {
        snprintf(err, errlen, "the shutdown integration service did not answer (%s)", strerror(-rc));
        return -1;
    }
    if (flags & IC_SHUTDOWN_REBOOT) {
        snprintf(err, errlen, "a reboot needs the shutdown integration service, which the guest has not connected");
        return -1;
    }
    /* Without the service, the ACPI power button asks the guest's ACPI driver for an
     * orderly shutdown, as Hyper-V does for guests without integration services. */
    acpi_pm_power_button(&vm->pm);
    json_object_object_add(reply, "method", json_object_new_string("ACPI power button"));
    return 0;
}

static const char *kvp_error(int rc)
{
    return rc == -ENOTCONN ? "the guest's KVP service is not connected (is hv_kvp_daemon running?)"
                           : strerror(-rc);
}

static void kvp_add_item(void *arg, const struct ic_kvp_result *r)
{
    json_object_object_add(arg, r->key, json_object_new_string(r->value));
}

/* The guest's intrinsic data (host name, OS, addresses), enumerated as Hyper-V does. */
static int cmd_kvp_get(struct control_server *s, struct vm *vm, struct json_object *req,
                       struct json_object *reply, char *err, size_t errlen)
{
    struct json_object *items = json_object_new_object();
    int rc = ic_kvp_enumerate(vm->ic, IC_KVP_POOL_AUTO, IC_KVP_TIMEOUT_MS, kvp_add_item, items);
    if (rc < 0) {
        json_object_put(items);
        snprintf(err, errlen, "%s", kvp_error(rc));
        return -1;
    }
    json_object_object_add(reply, "items", items);
    return 0;
}

static int cmd_kvp_set(struct control_server *s, struct vm *vm, struct json_object *req,
                       struct json_object *reply, char *err, size_t errlen)
{
    struct json_object *k, *v;
    if (!json_object_object_get_ex(req, "key", &k) || !json_object_is_type(k, json_type_string) ||
        !json_object_object_get_ex(req, "value", &v) || !json_object_is_type(v, json_type_string)) {
        snprintf(err, errlen, "kvp-set needs \"key\" and \"value\" strings");
        return -1;
    }
    struct ic_kvp_request rq = { .op = IC_KVP_OP_SET, .pool = IC_KVP_POOL_EXTERNAL,
                                 .key = json_object_get_string(k), .value = json_object_get_string(v) };
    uint32_t status = 0;
    int rc = ic_kvp_call(vm->ic, &rq, IC_KVP_TIMEOUT_MS, &status, NULL);
    if (rc == -EINVAL) {
        snprintf(err, errlen, "the key or value is too long or not UTF-8");
        return -1;
    }
    if (rc < 0 || status != 0) {
        snprintf(err, errlen, "%s", rc < 0 ? kvp_error(rc) : "the guest refused the key");
        return -1;
    }
    return 0;
}

static int cmd_turn_off(struct control_server *s, struct vm *vm, struct json_object *req,
                        struct json_object *reply, char *err, size_t errlen)
{
    vm_request_stop(vm, VM_STOP_HOST);
    return 0;
}

/* bench/vmbus: `count` back-to-back KVP round trips (enumerate the guest's first
 * intrinsic item) timed from the host, with the exits they caused. */
static int cmd_bench_kvp(struct control_server *s, struct vm *vm, struct json_object *req,
                         struct json_object *reply, char *err, size_t errlen)
{
    struct json_object *o;
    int count = json_object_object_get_ex(req, "count", &o) ? json_object_get_int(o) : 100;
    if (count < 1 || count > 100000) {
        snprintf(err, errlen, "count must be 1 to 100000");
        return -1;
    }
    uint64_t *lat = malloc((size_t)count * sizeof(*lat));
    uint64_t before[EXIT_KINDS], after[EXIT_KINDS];
    if (!lat) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct ic_kvp_request rq = { .op = IC_KVP_OP_ENUMERATE, .pool = IC_KVP_POOL_AUTO, .index = 0 };
    vm_exit_counts(vm, before);
    uint64_t t0 = vm->machine.now_ns(vm);
    int rc = 0;
    for (int i = 0; i < count && rc == 0; i++) {
        uint64_t a = vm->machine.now_ns(vm);
        uint32_t status;
        rc = ic_kvp_call(vm->ic, &rq, IC_KVP_TIMEOUT_MS, &status, NULL);
        lat[i] = vm->machine.now_ns(vm) - a;
    }
    uint64_t elapsed = vm->machine.now_ns(vm) - t0;
    vm_exit_counts(vm, after);
    if (rc < 0) {
        free(lat);
        snprintf(err, errlen, "%s", kvp_error(rc));
        return -1;
    }
    /* median by insertion sort: counts are small */
    for (int i = 1; i < count; i++)
        for (int j = i; j > 0 && lat[j - 1] > lat[j]; j--) {
            uint64_t t = lat[j];
            lat[j] = lat[j - 1];
            lat[j - 1] = t;
        }
    struct json_object *exits = json_object_new_object();
    for (int k = 0; k < EXIT_KINDS; k++)
        json_object_object_add(exits, exit_names[k], json_object_new_int64((int64_t)(after[k] - before[k])));
    json_object_object_add(reply, "count", json_object_new_int(count));
    json_object_object_add(reply, "elapsed_ns", json_object_new_int64((int64_t)elapsed));
    json_object_object_add(reply, "median_ns", json_object_new_int64((int64_t)lat[count / 2]));
    json_object_object_add(reply, "exits", exits);
    free(lat);
    return 0;
}

/* {"controller": N, "lun": M}, both optional: -1 when absent; false if not integers. */
static bool get_placement(struct json_object *req, int *controller, int *lun, char *err,
                          size_t errlen)
{
    struct json_object *o;
    *controller = *lun = -1;
    if (json_object_object_get_ex(req, "controller", &o)) {
        if (!json_object_is_type(o, json_type_int) || (*controller = json_object_get_int(o)) < 0) {
            snprintf(err, errlen, "\"controller\" must be a number >= 0");
            return false;
        }
    }
    if (json_object_object_get_ex(req, "lun", &o)) {
        if (!json_object_is_type(o, json_type_int) || (*lun = json_object_get_int(o)) < 0) {
            snprintf(err, errlen, "\"lun\" must be a number >= 0");
            return false;
        }
    }
    return true;
}

static int cmd_dvd_eject(struct control_server *s, struct vm *vm, struct json_object *req,
                         struct json_object *reply, char *err, size_t errlen)
{
    int controller, lun;
    if (!get_placement(req, &controller, &lun, err, errlen))
        return -1;
    return vm_storage_change_medium(vm, controller, lun, NULL, err, errlen);
}

static int cmd_dvd_insert(struct control_server *s, struct vm *vm, struct json_object *req,
                          struct json_object *reply, char *err, size_t errlen)
{
    int controller, lun;
    struct json_object *p;
    if (!json_object_object_get_ex(req, "path", &p) || !json_object_is_type(p, json_type_string)) {
        snprintf(err, errlen, "dvd-insert needs a \"path\" string");
        return -1;
    }
    if (!get_placement(req, &controller, &lun, err, errlen))
        return -1;
    return vm_storage_change_medium(vm, controller, lun, json_object_get_string(p), err, errlen);
}

/* {"path", "ro": bool, "controller", "lun"}: replies {"controller", "lun"} (where it went). */
static int cmd_disk_add(struct control_server *s, struct vm *vm, struct json_object *req,
                        struct json_object *reply, char *err, size_t errlen)
{
    int controller, lun;
    struct json_object *p, *o;
    if (!json_object_object_get_ex(req, "path", &p) || !json_object_is_type(p, json_type_string)) {
        snprintf(err, errlen, "disk-add needs a \"path\" string");
        return -1;
    }
    if (!get_placement(req, &controller, &lun, err, errlen))
        return -1;
    bool ro = json_object_object_get_ex(req, "ro", &o) && json_object_get_boolean(o);
    unsigned placed;
    if (vm_storage_add_disk(vm, json_object_get_string(p), ro, controller, lun, &placed, err,
                            errlen) < 0)
        return -1;
    json_object_object_add(reply, "controller", json_object_new_int((int)(placed >> 8)));
    json_object_object_add(reply, "lun", json_object_new_int((int)(placed & 0xFF)));
    return 0;
}

static int cmd_disk_remove(struct control_server *s, struct vm *vm, struct json_object *req,
                           struct json_object *reply, char *err, size_t errlen)
{
    int controller, lun;
    if (!get_placement(req, &controller, &lun, err, errlen))
        return -1;
    if (controller < 0 || lun < 0) {
        snprintf(err, errlen, "disk-remove needs \"controller\" and \"lun\"");
        return -1;
    }
    return vm_storage_remove_disk(vm, (unsigned)controller, (unsigned)lun, err, errlen);
}

/* A VM paused because its disk was full: try the waiting writes again now (it runs as
 * soon as they go through). */
static int cmd_resume(struct control_server *s, struct vm *vm, struct json_object *req,
                      struct json_object *reply, char *err, size_t errlen)
{
    if (!atomic_load(&vm->disk_full)) {
        snprintf(err, errlen, "the VM is not paused for a full disk");
        return -1;
    }
    vm_storage_retry(vm);
    return 0;
}

/* {"index": N, "up": bool}: the NIC's link as the switch and the guest see it. */
static int cmd_nic_link(struct control_server *s, struct vm *vm, struct json_object *req,
                        struct json_object *reply, char *err, size_t errlen)
{
    struct json_object *i, *u;
    if (!json_object_object_get_ex(req, "index", &i) || !json_object_is_type(i, json_type_int) ||
        json_object_get_int(i) < 0 || !json_object_object_get_ex(req, "up", &u) ||
        !json_object_is_type(u, json_type_boolean)) {
        snprintf(err, errlen, "nic-link needs \"index\" (a number >= 0) and \"up\" (true or false)");
        return -1;
    }
    return vm_net_set_link(vm, (unsigned)json_object_get_int(i), json_object_get_boolean(u), err, errlen);
}

static const struct {
    const char *name;
    control_handler fn;
    bool needs_vm;
} commands[] = {
    { "status", cmd_status, false },
    { "shutdown", cmd_shutdown, true },
    { "turn-off", cmd_turn_off, true },
    { "kvp-get", cmd_kvp_get, true },
    { "kvp-set", cmd_kvp_set, true },
    { "bench-kvp", cmd_bench_kvp, true },
    { "dvd-eject", cmd_dvd_eject, true },
    { "dvd-insert", cmd_dvd_insert, true },
    { "disk-add", cmd_disk_add, true },
    { "disk-remove", cmd_disk_remove, true },
    { "resume", cmd_resume, true },
    { "nic-link", cmd_nic_link, true },
};

control_handler control_find_handler(const char *cmd, bool *needs_vm)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (!strcmp(cmd, commands[i].name)) {
            *needs_vm = commands[i].needs_vm;
            return commands[i].fn;
        }
    }
    return NULL;
}
