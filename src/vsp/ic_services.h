/* Integration services offered to the guest (hv_utils): heartbeat and shutdown.
 * Their descriptors go into the device table (src/vmbus/devices.c). Each has one static
 * state instance: one VM per worker process. The functions below take the service's
 * channel (vmbus_host_find_channel(host, &ic_..._device)) and may be called from any
 * thread. */
#ifndef VIRIDIAN_VSP_IC_SERVICES_H
#define VIRIDIAN_VSP_IC_SERVICES_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/hv.h"
#include "vmbus/vmbus_device.h"

extern const struct vmbus_device_desc ic_heartbeat_device;
extern const struct vmbus_device_desc ic_shutdown_device;
extern const struct vmbus_device_desc ic_timesync_device;

/* Heartbeat: sends the next sequence number if the service is idle (call every few
 * seconds). 0 = sent, -EAGAIN = not negotiated yet / previous one unanswered. */
int ic_heartbeat_tick(struct vmbus_channel *ch);
/* Heartbeats the guest answered correctly (sequence + 1) since the channel opened. */
uint64_t ic_heartbeat_acks(struct vmbus_channel *ch);

enum ic_shutdown_kind { IC_SHUTDOWN_POWEROFF, IC_SHUTDOWN_REBOOT };
/* Asks the guest to power off / reboot. 0 = sent, -EAGAIN = service not ready/busy. */
int ic_shutdown_request(struct vmbus_channel *ch, enum ic_shutdown_kind kind,
                        const char *message);
/* Status of the last answered request: 0 (S_OK: the guest is shutting down), the guest's
 * error status, or -1 if no answer yet. */
int64_t ic_shutdown_result(struct vmbus_channel *ch);
/* Time sync: the partition whose reference counter (MSR 0x40000020) the guest uses.
 * Once set, a SYNC (set the clock) goes to the guest as soon as the channel is
 * negotiated, i.e. at every boot/resume. */
void ic_timesync_set_partition(struct hv_partition *hv);
#define IC_TIMESYNC_SYNC 0x1u   /* guest sets its clock */
#define IC_TIMESYNC_SAMPLE 0x2u /* guest only records a sample (PTP clock) */
/* Sends host UTC now with the matching reference time. 0, -EAGAIN (not ready/busy or no
 * partition set). */
int ic_timesync_send(struct vmbus_channel *ch, uint8_t flags);
/* Time-sync messages the guest answered since the channel opened. */
uint64_t ic_timesync_answers(struct vmbus_channel *ch);

/* True once version negotiation succeeded on the open channel. */
bool ic_service_ready(struct vmbus_channel *ch);

#endif
