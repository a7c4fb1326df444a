#include "hv_fake.h"

#include <stdlib.h>
#include <string.h>

#include "test.h"

static int fake_inject(void *ctx, uint32_t vp, uint8_t vector)
{
    struct fake_vm *vm = ctx;
    if (vm->irq_count < FAKE_MAX_IRQS) {
        vm->irq_vp[vm->irq_count] = vp;
        vm->irq_vec[vm->irq_count] = vector;
    }
    vm->irq_count++;
    return 0;
}

static uint64_t fake_time(void *ctx)
{
    struct fake_vm *vm = ctx;
    return vm->now;
}

static void fake_crash(void *ctx, uint32_t vp, const uint64_t p[5])
{
    struct fake_vm *vm = ctx;
    vm->crashes++;
}

uint64_t fake_page(uint32_t n)
{
    return FAKE_RAM_GPA + (uint64_t)n * 4096;
}

uint64_t fake_simp_gpa(uint32_t vp)
{
    return fake_page(1 + 2 * vp);
}

uint64_t fake_siefp_gpa(uint32_t vp)
{
    return fake_page(2 + 2 * vp);
}

void *fake_gpa(struct fake_vm *vm, uint64_t gpa)
{
    return gmem_ptr(&vm->gm, gpa, 1);
}

void fake_vm_init(struct fake_vm *vm, uint32_t nr_vcpus, int enable_synic)
{
    memset(vm, 0, sizeof(*vm));
    vm->ram = aligned_alloc(4096, FAKE_RAM_SIZE);
    memset(vm->ram, 0, FAKE_RAM_SIZE);
    gmem_add_region(&vm->gm, FAKE_RAM_GPA, FAKE_RAM_SIZE, vm->ram);
    struct hv_config cfg = { .nr_vcpus = nr_vcpus, .tsc_hz = 2000000000ull,
                             .apic_hz = 1000000000ull, .crash_msrs = true };
    struct hv_platform_ops ops = { .ctx = vm, .inject = fake_inject, .ref_time = fake_time,
                                   .guest_crash = fake_crash };
    vm->hv = hv_create(&cfg, &ops, &vm->gm);
    if (!enable_synic)
        return;
    CHECK_EQ(hv_msr_write(vm->hv, 0, HV_MSR_GUEST_OS_ID, 0x81000006011C0000ull), 0);
    CHECK_EQ(hv_msr_write(vm->hv, 0, HV_MSR_HYPERCALL, fake_page(0) | 1), 0);
    for (uint32_t v = 0; v < nr_vcpus; v++) {
        CHECK_EQ(hv_msr_write(vm->hv, v, HV_MSR_SIMP, fake_simp_gpa(v) | 1), 0);
        CHECK_EQ(hv_msr_write(vm->hv, v, HV_MSR_SIEFP, fake_siefp_gpa(v) | 1), 0);
        CHECK_EQ(hv_msr_write(vm->hv, v, HV_MSR_SINT0 + 2, 0xF3), 0);
        CHECK_EQ(hv_msr_write(vm->hv, v, HV_MSR_SCONTROL, 1), 0);
    }
}

void fake_vm_free(struct fake_vm *vm)
{
    hv_destroy(vm->hv);
    free(vm->ram);
}

/* The per-CPU post-message input page lives at a fixed scratch page. */
#define POST_PAGE 100u

uint64_t fake_post_message(struct fake_vm *vm, uint32_t vp, uint32_t conn, const void *msg,
                           uint32_t len)
{
    uint8_t *in = fake_gpa(vm, fake_page(POST_PAGE));
    memset(in, 0, 256);
    memcpy(in + 0, &conn, 4);
    uint32_t type = 1;
    memcpy(in + 8, &type, 4);
    memcpy(in + 12, &len, 4);
    memcpy(in + 16, msg, len > 240 ? 240 : len);
    return hv_hypercall(vm->hv, vp, HVCALL_POST_MESSAGE, fake_page(POST_PAGE), 0);
}

uint32_t fake_take_message(struct fake_vm *vm, uint32_t vp, void *buf, uint32_t *len)
{
    uint8_t *slot = (uint8_t *)fake_gpa(vm, fake_simp_gpa(vp)) + 2 * 256;
    uint32_t type;
    memcpy(&type, slot, 4);
    if (type == 0)
        return 0;
    if (len)
        *len = slot[4];
    if (buf)
        memcpy(buf, slot + 16, slot[4]);
    uint8_t flags = slot[5];
    memset(slot, 0, 4);
    if (flags & 1)
        CHECK_EQ(hv_msr_write(vm->hv, vp, HV_MSR_EOM, 0), 0);
    return type;
}
