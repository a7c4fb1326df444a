/* The production VMBus device table: one line per VSP, in offer order (relid = index+1). */
#include "vmbus/vmbus.h"
#include "vsp/ic.h"

const struct vmbus_device_desc *const vmbus_devices[] = {
    &ic_shutdown_desc,
    &ic_timesync_desc,
    &ic_heartbeat_desc,
    &ic_kvp_desc,
};
const unsigned vmbus_device_count = sizeof(vmbus_devices) / sizeof(vmbus_devices[0]);
