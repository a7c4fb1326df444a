/* The production VMBus device table: one line per VSP, in offer order (relid = index+1).
 * Empty until the first VSPs (integration services, storage, network) land. */
#include "vmbus/vmbus.h"

const struct vmbus_device_desc *const vmbus_devices[] = {
    NULL, /* placeholder so the array is never empty; not counted */
};
const unsigned vmbus_device_count = 0;
