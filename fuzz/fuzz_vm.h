/* Shared set-up for the hv/vmbus fuzz targets: 64 pages of fake guest RAM at GPA 0
 * (PFNs 0-63, easy for the fuzzer to hit), a partition with 2 VPs whose SynIC is enabled,
 * and a VMBus host with two loopback devices. Header-only: each fuzz target is its own
 * binary. */
#ifndef VIRIDIAN_FUZZ_VM_H
#define VIRIDIAN_FUZZ_VM_H

#include <stdint.h>
#include <string.h>

#include "core/guest_mem.h"
#include "hv/hv.h"
#include "vmbus/vmbus.h"
#include "vsp/ic.h"

#define FZ_PAGES 64u
#define FZ_SIMP(vp) ((uint64_t)(1 + 2 * (vp)) << 12)
#define FZ_SIEFP(vp) ((uint64_t)(2 + 2 * (vp)) << 12)
#define FZ_INPUT_PAGE (5ull << 12)

static _Alignas(4096) uint8_t fz_ram[FZ_PAGES * 4096];

struct fz_vm {
    struct guest_mem gm;
    struct hv_partition *hv;
    struct vmbus_host *host;
    struct ic *ic; /* IC state for the two IC devices */
};

static inline int fz_inject(void *ctx, uint32_t vp, uint8_t vector)
{
    return 0;
}

static inline void fz_echo(struct vmbus_channel *ch, const struct vmbus_packet *pkt)
{
    vmbus_channel_send(ch, VMBUS_PACKET_COMP, 0, pkt->trans_id, pkt->data,
                       pkt->data_len > 512 ? 512 : pkt->data_len);
}

static const struct vmbus_device_desc fz_dev1 = {
    .name = "fz1", .if_type = { { 1 } }, .if_instance = { { 1 } }, .on_packet = fz_echo,
};
static const struct vmbus_device_desc fz_dev2 = {
    .name = "fz2", .if_type = { { 1 } }, .if_instance = { { 2 } }, .on_packet = fz_echo,
    .max_pkt_size = 256,
};
static const struct vmbus_device_desc *const fz_devs[] = { &fz_dev1, &fz_dev2,
                                                          &ic_shutdown_desc,
                                                          &ic_heartbeat_desc };

/* Fresh RAM and a partition whose two VPs have their SynIC enabled, as Linux leaves it
 * before hv_vmbus connects; no VMBus host yet. */
static inline void fz_partition_init(struct fz_vm *vm)
{
    memset(fz_ram, 0, sizeof(fz_ram));
    memset(vm, 0, sizeof(*vm));
    gmem_add_region(&vm->gm, 0, sizeof(fz_ram), fz_ram);
    struct hv_config cfg = { .nr_vcpus = 2, .tsc_hz = 1000000000, .apic_hz = 1000000000 };
    struct hv_platform_ops ops = { .inject = fz_inject };
    vm->hv = hv_create(&cfg, &ops, &vm->gm);
    hv_msr_write(vm->hv, 0, HV_MSR_HYPERCALL, (63ull << 12) | 1);
    for (uint32_t v = 0; v < 2; v++) {
        hv_msr_write(vm->hv, v, HV_MSR_SIMP, FZ_SIMP(v) | 1);
        hv_msr_write(vm->hv, v, HV_MSR_SIEFP, FZ_SIEFP(v) | 1);
        hv_msr_write(vm->hv, v, HV_MSR_SINT0 + 2, 0xF3);
        hv_msr_write(vm->hv, v, HV_MSR_SCONTROL, 1);
    }
}

static inline void fz_vm_init(struct fz_vm *vm)
{
    fz_partition_init(vm);
    vm->host = vmbus_create(vm->hv, &vm->gm, fz_devs, 4);
    vm->ic = ic_attach(vm->host, NULL);
}

static inline void fz_vm_free(struct fz_vm *vm)
{
    ic_detach(vm->ic);
    vmbus_destroy(vm->host);
    hv_destroy(vm->hv);
}

/* The guest posts a VMBus channel message (connection 1) with HvPostMessage from VP 0. */
static inline void fz_post_message(struct hv_partition *hv, const void *msg, uint32_t len)
{
    uint8_t *in = fz_ram + FZ_INPUT_PAGE;
    memset(in, 0, 256);
    uint32_t conn = 1, type = 1;
    memcpy(in, &conn, 4);
    memcpy(in + 8, &type, 4);
    memcpy(in + 12, &len, 4);
    memcpy(in + 16, msg, len);
    hv_hypercall(hv, 0, HVCALL_POST_MESSAGE, FZ_INPUT_PAGE, 0);
}

/* The guest consumes whatever is in its SINT2 slots, EOMing as Linux does. */
static inline void fz_drain_slots(struct fz_vm *vm)
{
    for (uint32_t v = 0; v < 2; v++) {
        for (int i = 0; i < 64; i++) {
            uint8_t *slot = fz_ram + FZ_SIMP(v) + 512;
            uint32_t type;
            memcpy(&type, slot, 4);
            if (!type)
                break;
            uint8_t flags = slot[5];
            memset(slot, 0, 4);
            if (flags & 1)
                hv_msr_write(vm->hv, v, HV_MSR_EOM, 0);
        }
    }
}

/* A channel message from the guest, and the guest reading the host's answers. */
static inline void fz_post_and_drain(struct fz_vm *vm, const void *msg, uint32_t len)
{
    fz_post_message(vm->hv, msg, len);
    fz_drain_slots(vm);
}

#endif
