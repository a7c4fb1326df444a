/* The control socket's commands. Each runs on the control thread with the server lock
 * held, so `vm` stays valid for the whole call. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/control.h"
#include "core/vm.h"
#include "vmbus/vmbus.h"

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
    json_object_object_add(reply, "state", json_object_new_string("running"));
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
    return 0;
}

static int cmd_shutdown(struct control_server *s, struct vm *vm, struct json_object *req,
                        struct json_object *reply, char *err, size_t errlen)
{
    /* Without the shutdown integration service, the ACPI power button asks the guest's
     * ACPI driver for an orderly shutdown, as Hyper-V does for guests without ICs. */
    acpi_pm_power_button(&vm->pm);
    json_object_object_add(reply, "method", json_object_new_string("acpi-power-button"));
    return 0;
}

static int cmd_turn_off(struct control_server *s, struct vm *vm, struct json_object *req,
                        struct json_object *reply, char *err, size_t errlen)
{
    vm_request_stop(vm, VM_STOP_HOST);
    return 0;
}

static const struct {
    const char *name;
    control_handler fn;
    bool needs_vm;
} commands[] = {
    { "status", cmd_status, false },
    { "shutdown", cmd_shutdown, true },
    { "turn-off", cmd_turn_off, true },
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
