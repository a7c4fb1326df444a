/* The VMBus host of one partition (reference §5): version negotiation, offers, GPADLs,
 * opening/closing channels, rescind, unload; guest->host channel messages arrive by
 * HvPostMessage on connection id 1 or 4, channel signals by HvSignalEvent on the
 * channel's connection id (0x2000 + relid); host->guest messages go to SINT2 of the VP
 * named in INITIATE_CONTACT, channel events to the channel's target VP.
 *
 * Core wiring: after hv_create(), call vmbus_create(hv, gmem, vmbus_devices,
 * vmbus_device_count) - it installs itself as the partition's guest handlers - and
 * vmbus_destroy() before hv_destroy(). The ACPI DSDT needs a device with
 * _HID "VMBus" and a _CRS (reference §4). */
#ifndef VIRIDIAN_VMBUS_VMBUS_H
#define VIRIDIAN_VMBUS_VMBUS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/guest_mem.h"
#include "hv/hv.h"
#include "vmbus/vmbus_device.h"

#define VMBUS_MAX_CHANNELS 256u

struct vmbus_host;

/* The production device table (src/vmbus/devices.c). */
extern const struct vmbus_device_desc *const vmbus_devices[];
extern const unsigned vmbus_device_count;

/* Creates the host with one channel per descriptor plus its max_subchannels slots (relids
 * 1.. in table order, sub-channel slots right after their primary) and installs it as hv's
 * guest handlers. NULL on bad arguments (too many channels, duplicate instance). */
struct vmbus_host *vmbus_create(struct hv_partition *hv, const struct guest_mem *gm,
                                const struct vmbus_device_desc *const *devs, unsigned ndevs);
void vmbus_destroy(struct vmbus_host *host);

/* Doorbells: HvSignalEvent without a trip to user space. For every channel slot the
 * host makes an eventfd and calls bind(ctx, connection_id, fd, true); the core binds it
 * to the guest's signal for that connection id (KVM_IOEVENTFD on the hypercall port,
 * see hv.h). A thread then serves a channel whose eventfd fires exactly as
 * vmbus_handle_signal_event() would, so the signalling vCPU returns to the guest at once.
 * A signal the kernel does not catch still arrives by hypercall and is served on the
 * vCPU thread. If a bind fails, the slots bound so far are unbound (bind(..., false))
 * and the error is returned: the host works as before. Stop before destroying the
 * devices the channels serve (vmbus_destroy() stops them too). */
typedef int (*vmbus_doorbell_bind_fn)(void *ctx, uint32_t connection_id, int fd, bool on);
int vmbus_doorbells_start(struct vmbus_host *host, vmbus_doorbell_bind_fn bind, void *ctx);
void vmbus_doorbells_stop(struct vmbus_host *host);

/* The primary channel of device number `index` (as in the table), or NULL. */
struct vmbus_channel *vmbus_host_channel(struct vmbus_host *host, unsigned index);
/* The channel of the device with this descriptor, or NULL. */
struct vmbus_channel *vmbus_host_find_channel(struct vmbus_host *host,
                                              const struct vmbus_device_desc *desc);
/* Host-initiated removal: closes the channel if open, sends RESCIND_CHANNELOFFER if the
 * guest knows the channel; the relid is reused never. 0 or -1. */
int vmbus_channel_rescind(struct vmbus_channel *ch);

/* Inspection (tests, diagnostics). */
bool vmbus_host_connected(struct vmbus_host *host);
uint32_t vmbus_host_version(struct vmbus_host *host);
unsigned vmbus_host_gpadl_count(struct vmbus_host *host);

/* The hv_guest_handlers entry points (exported for the fuzz targets). */
uint16_t vmbus_handle_post_message(void *host, uint32_t vp, uint32_t connection_id,
                                   uint32_t message_type, const void *payload, uint32_t size);
uint16_t vmbus_handle_signal_event(void *host, uint32_t vp, uint32_t connection_id,
                                   uint16_t flag);

#endif
