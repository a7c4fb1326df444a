/* A fake partition for the hv/vmbus unit tests: page-aligned fake guest RAM registered
 * with gmem, and platform ops that record injected interrupts. */
#ifndef VIRIDIAN_TEST_HV_FAKE_H
#define VIRIDIAN_TEST_HV_FAKE_H

#include "core/guest_mem.h"
#include "hv/hv.h"

#define FAKE_RAM_GPA  0x100000ull
#define FAKE_RAM_SIZE (4u << 20)
#define FAKE_MAX_IRQS 4096

struct fake_vm {
    struct guest_mem gm;
    uint8_t *ram;
    struct hv_partition *hv;
    uint64_t now;
    int irq_count;
    uint32_t irq_vp[FAKE_MAX_IRQS];
    uint8_t irq_vec[FAKE_MAX_IRQS];
    int crashes;
};

/* Creates RAM and a partition with `nr_vcpus`; hypercall page enabled at the top page,
 * and for every VP: SIMP, SIEFP (two pages per VP from fake_page()) and SINT2 = 0xF3. */
void fake_vm_init(struct fake_vm *vm, uint32_t nr_vcpus, int enable_synic);
void fake_vm_free(struct fake_vm *vm);
/* Host pointer for a guest address inside fake RAM. */
void *fake_gpa(struct fake_vm *vm, uint64_t gpa);
/* GPA of the n-th 4 KiB page of fake RAM. */
uint64_t fake_page(uint32_t n);
uint64_t fake_simp_gpa(uint32_t vp);
uint64_t fake_siefp_gpa(uint32_t vp);
/* Guest side helpers. */
uint64_t fake_post_message(struct fake_vm *vm, uint32_t vp, uint32_t conn, const void *msg,
                           uint32_t len);
/* Copies the message in VP's SINT2 slot (returns its type, 0 if empty), then empties the
 * slot the way Linux does and writes EOM if msg_pending was set. */
uint32_t fake_take_message(struct fake_vm *vm, uint32_t vp, void *buf, uint32_t *len);

#endif
