/* The Hyper-V guest interface without KVM: CPUID, MSRs, hypercall page and dispatch,
 * SynIC message slots and event flags. */
#include <stdlib.h>
#include <string.h>

#include "hv_fake.h"
#include "test.h"

static const struct hv_cpuid_leaf *find_leaf(const struct hv_cpuid_leaf *l, int n, uint32_t f)
{
    for (int i = 0; i < n; i++)
        if (l[i].function == f)
            return &l[i];
    return NULL;
}

TEST(hv_cpuid_offers_what_linux_needs_and_nothing_dangerous)
{
    struct fake_vm vm;
    fake_vm_init(&vm, 2, 0);
    struct hv_cpuid_leaf l[16];
    int n = hv_cpuid_leaves(vm.hv, l, 16);
    CHECK_EQ(n, 6);
    const struct hv_cpuid_leaf *v = find_leaf(l, n, 0x40000000);
    CHECK(v && v->eax >= 0x40000005 && v->ebx == 0x7263694D && v->ecx == 0x666F736F &&
          v->edx == 0x76482074);
    const struct hv_cpuid_leaf *f = find_leaf(l, n, 0x40000003);
    CHECK(f != NULL);
    CHECK_EQ(f->eax, 0x8864); /* SynIC, hypercall, VP index, frequency MSRs, TSC invariant */
    CHECK_EQ(f->ebx, 0x30);   /* post messages, signal events; never partition id/root/isolation */
    CHECK_EQ(f->edx, 0x100 | 0x400);
    const struct hv_cpuid_leaf *h = find_leaf(l, n, 0x40000004);
    CHECK(h && h->eax == (1u << 9));
    const struct hv_cpuid_leaf *lim = find_leaf(l, n, 0x40000005);
    CHECK(lim && lim->eax == 2);
    /* No KVM signature anywhere. */
    for (int i = 0; i < n; i++)
        CHECK(l[i].ebx != 0x4b4d564b);
    CHECK_EQ(hv_cpuid_leaves(vm.hv, l, 3), 3);
    fake_vm_free(&vm);
}

/* hv.h 7.: the APIC-access privilege and hint (lazy EOI) only when KVM serves the MSRs */
TEST(hv_cpuid_recommends_apic_access_only_when_kvm_serves_it)
{
    struct guest_mem gm;
    memset(&gm, 0, sizeof(gm));
    struct hv_platform_ops ops = { 0 };
    for (int served = 0; served <= 1; served++) {
        struct hv_config cfg = { .nr_vcpus = 1, .kvm_apic_access = served };
        struct hv_partition *hv = hv_create(&cfg, &ops, &gm);
        CHECK(hv != NULL);
        struct hv_cpuid_leaf l[16];
        int n = hv_cpuid_leaves(hv, l, 16);
        const struct hv_cpuid_leaf *f = find_leaf(l, n, 0x40000003);
        const struct hv_cpuid_leaf *h = find_leaf(l, n, 0x40000004);
        CHECK(f && h);
        CHECK_EQ(!!(f->eax & (1u << 4)), served);
        CHECK_EQ(!!(h->eax & (1u << 3)), served);
        CHECK(h->eax & (1u << 9)); /* AEOI stays deprecated either way */
        hv_destroy(hv);
    }
}

TEST(hv_msrs_basic)
{
    struct fake_vm vm;
    fake_vm_init(&vm, 2, 0);
    uint64_t v = 123;
    CHECK(hv_msr_is_synthetic(HV_MSR_SINT0 + 15));
    CHECK(!hv_msr_is_synthetic(0x400000B0)); /* stimers not offered */
    CHECK_EQ(hv_msr_write(vm.hv, 0, HV_MSR_GUEST_OS_ID, 0x8100000601C00000ull), 0);
    CHECK_EQ(hv_msr_read(vm.hv, 1, HV_MSR_GUEST_OS_ID, &v), 0);
    CHECK(v == 0x8100000601C00000ull);
    CHECK_EQ(hv_msr_read(vm.hv, 1, HV_MSR_VP_INDEX, &v), 0);
    CHECK_EQ(v, 1);
    CHECK_EQ(hv_msr_write(vm.hv, 1, HV_MSR_VP_INDEX, 5), -1);
    CHECK_EQ(hv_msr_read(vm.hv, 2, HV_MSR_VP_INDEX, &v), -1); /* no such VP */
    vm.now = 777;
    CHECK_EQ(hv_msr_read(vm.hv, 0, HV_MSR_TIME_REF_COUNT, &v), 0);
    CHECK_EQ(v, 777);
    CHECK_EQ(hv_msr_read(vm.hv, 0, HV_MSR_TSC_FREQUENCY, &v), 0);
    CHECK(v == 2000000000ull);
    CHECK_EQ(hv_msr_read(vm.hv, 0, HV_MSR_APIC_FREQUENCY, &v), 0);
    CHECK(v == 1000000000ull);
    CHECK_EQ(hv_msr_read(vm.hv, 0, HV_MSR_SVERSION, &v), 0);
    CHECK_EQ(v, 1);
    CHECK_EQ(hv_msr_write(vm.hv, 0, HV_MSR_VP_ASSIST_PAGE, fake_page(50) | 1), 0);
    CHECK_EQ(hv_msr_read(vm.hv, 0, HV_MSR_VP_ASSIST_PAGE, &v), 0);
    CHECK(v == (fake_page(50) | 1));
    CHECK_EQ(hv_msr_write(vm.hv, 0, HV_MSR_TSC_INVARIANT_CONTROL, 1), 0);
    CHECK_EQ(hv_msr_write(vm.hv, 0, HV_MSR_TSC_INVARIANT_CONTROL, 2), -1);
    /* SINTs reset masked; reserved bits and low vectors refused. */
    CHECK_EQ(hv_msr_read(vm.hv, 0, HV_MSR_SINT0 + 2, &v), 0);
    CHECK(v & HV_SINT_MASKED);
    CHECK_EQ(hv_msr_write(vm.hv, 0, HV_MSR_SINT0 + 2, 0x5), -1);
    CHECK_EQ(hv_msr_write(vm.hv, 0, HV_MSR_SINT0 + 2, 0xF3 | (1ull << 40)), -1);
    CHECK_EQ(hv_msr_write(vm.hv, 0, HV_MSR_SINT0 + 2, 0xF3), 0);
    CHECK_EQ(hv_msr_read(vm.hv, 0, HV_MSR_SINT0 + 2, &v), 0);
    CHECK_EQ(v, 0xF3);
    CHECK_EQ(hv_msr_read(vm.hv, 0, 0x40000021, &v), -1);
    /* Crash MSRs reach the platform. */
    CHECK_EQ(hv_msr_read(vm.hv, 0, HV_MSR_CRASH_CTL, &v), 0);
    CHECK(v == HV_CRASH_CTL_NOTIFY);
    CHECK_EQ(hv_msr_write(vm.hv, 0, HV_MSR_CRASH_P0, 0xdead), 0);
    CHECK_EQ(hv_msr_write(vm.hv, 0, HV_MSR_CRASH_CTL, HV_CRASH_CTL_NOTIFY), 0);
    CHECK_EQ(vm.crashes, 1);
    fake_vm_free(&vm);
}

TEST(hv_hypercall_page_and_msr)
{
    struct fake_vm vm;
    fake_vm_init(&vm, 1, 0);
    uint64_t v;
    /* Before enabling there are no hypercalls. */
    CHECK_EQ(hv_hypercall(vm.hv, 0, HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST, 1, 0),
             HV_STATUS_INVALID_HYPERCALL_CODE);
    CHECK_EQ(hv_msr_write(vm.hv, 0, HV_MSR_HYPERCALL, 0x1000 | 1), -1); /* not RAM */
    CHECK_EQ(hv_msr_write(vm.hv, 0, HV_MSR_HYPERCALL, fake_page(7) | 1), 0);
    CHECK_EQ(hv_msr_read(vm.hv, 0, HV_MSR_HYPERCALL, &v), 0);
    CHECK(v == (fake_page(7) | 1));
    const uint8_t *p = fake_gpa(&vm, fake_page(7));
    /* endbr64; a fast HvSignalEvent with flag 0: OUT %eax (the connection id), result
     * from R8; anything else: OUT %al, result in RAX (disassembled in hv_hypercall.c) */
    static const uint8_t code[] = {
        0xF3, 0x0F, 0x1E, 0xFA, 0x48, 0x81, 0xF9, 0x5D, 0x00, 0x01, 0x00, 0x75, 0x14,
        0x48, 0x89, 0xD0, 0x48, 0xC1, 0xE8, 0x20, 0x75, 0x0B, 0x89, 0xD0, 0x45, 0x31,
        0xC0, 0xE7, HV_HYPERCALL_PORT_DEFAULT, 0x4C, 0x89, 0xC0, 0xC3,
        0xE6, HV_HYPERCALL_PORT_DEFAULT, 0xC3,
    };
    CHECK(memcmp(p, code, sizeof(code)) == 0);
    CHECK_EQ(p[sizeof(code)], 0xCC);
    CHECK_EQ(p[4095], 0xCC);
    CHECK_EQ(hv_hypercall_port(vm.hv), HV_HYPERCALL_PORT_DEFAULT);
    fake_vm_free(&vm);
}

struct recorded_call {
    int posts, signals;
    uint32_t conn, type, size, vp;
    uint16_t flag;
    uint8_t payload[240];
};

static uint16_t rec_post(void *ctx, uint32_t vp, uint32_t conn, uint32_t type, const void *p,
                         uint32_t size)
{
    struct recorded_call *r = ctx;
    r->posts++;
    r->vp = vp;
    r->conn = conn;
    r->type = type;
    r->size = size;
    memcpy(r->payload, p, size);
    return conn == 4 ? HV_STATUS_SUCCESS : HV_STATUS_INVALID_CONNECTION_ID;
}

static uint16_t rec_signal(void *ctx, uint32_t vp, uint32_t conn, uint16_t flag)
{
    struct recorded_call *r = ctx;
    r->signals++;
    r->conn = conn;
    r->flag = flag;
    return HV_STATUS_SUCCESS;
}

TEST(hv_hypercall_dispatch_and_validation)
{
    struct fake_vm vm;
    fake_vm_init(&vm, 2, 1);
    struct recorded_call r = { 0 };
    struct hv_guest_handlers h = { rec_post, rec_signal };
    hv_set_guest_handlers(vm.hv, &h, &r);
    uint8_t msg[40] = { 14 };
    CHECK_EQ(fake_post_message(&vm, 1, 4, msg, sizeof(msg)), 0);
    CHECK_EQ(r.posts, 1);
    CHECK_EQ(r.vp, 1);
    CHECK_EQ(r.size, 40);
    CHECK_EQ(r.payload[0], 14);
    CHECK_EQ(fake_post_message(&vm, 0, 7, msg, 8), HV_STATUS_INVALID_CONNECTION_ID);
    uint8_t big[256] = { 0 };
    CHECK_EQ(fake_post_message(&vm, 0, 4, big, 241), HV_STATUS_INVALID_PARAMETER);
    CHECK_EQ(fake_post_message(&vm, 0, 4 | (1u << 24), msg, 8), HV_STATUS_INVALID_PARAMETER);
    uint64_t gpa = fake_page(100);
    CHECK_EQ(hv_hypercall(vm.hv, 0, HVCALL_POST_MESSAGE, gpa + 4, 0), HV_STATUS_INVALID_ALIGNMENT);
    CHECK_EQ(hv_hypercall(vm.hv, 0, HVCALL_POST_MESSAGE, gpa + 4096 - 128, 0),
             HV_STATUS_INVALID_ALIGNMENT); /* crosses a page */
    CHECK_EQ(hv_hypercall(vm.hv, 0, HVCALL_POST_MESSAGE, 0x2000, 0), HV_STATUS_INVALID_PARAMETER);
    CHECK_EQ(hv_hypercall(vm.hv, 0, HVCALL_POST_MESSAGE | HV_HYPERCALL_FAST, gpa, 0),
             HV_STATUS_INVALID_HYPERCALL_INPUT);
    CHECK_EQ(hv_hypercall(vm.hv, 0, HVCALL_POST_MESSAGE | (1ull << 32), gpa, 0),
             HV_STATUS_INVALID_HYPERCALL_INPUT); /* rep count on a simple call */
    CHECK_EQ(hv_hypercall(vm.hv, 0, HVCALL_POST_MESSAGE | (1ull << 27), gpa, 0),
             HV_STATUS_INVALID_HYPERCALL_INPUT); /* reserved bit */
    CHECK_EQ(hv_hypercall(vm.hv, 0, HVCALL_POST_MESSAGE | (1ull << 17), gpa, 0),
             HV_STATUS_INVALID_HYPERCALL_INPUT); /* variable header */
    CHECK_EQ(r.posts, 2);
    /* Input type 0 and the reserved field. */
    uint8_t *in = fake_gpa(&vm, gpa);
    memset(in, 0, 256);
    in[0] = 4;
    CHECK_EQ(hv_hypercall(vm.hv, 0, HVCALL_POST_MESSAGE, gpa, 0), HV_STATUS_INVALID_PARAMETER);
    /* Signal event: fast and slow. */
    CHECK_EQ(hv_hypercall(vm.hv, 0, HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST, 0x2005, 0), 0);
    CHECK_EQ(r.signals, 1);
    CHECK_EQ(r.conn, 0x2005);
    CHECK_EQ(r.flag, 0);
    uint64_t sig = 0x2006 | (3ull << 32);
    memcpy(in, &sig, 8);
    CHECK_EQ(hv_hypercall(vm.hv, 0, HVCALL_SIGNAL_EVENT, gpa, 0), 0);
    CHECK_EQ(r.conn, 0x2006);
    CHECK_EQ(r.flag, 3);
    CHECK_EQ(hv_hypercall(vm.hv, 0, HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST, 1ull << 48, 0),
             HV_STATUS_INVALID_PARAMETER);
    CHECK_EQ(hv_hypercall(vm.hv, 0, HVCALL_SIGNAL_EVENT | HV_HYPERCALL_FAST, 4096ull << 32, 0),
             HV_STATUS_INVALID_PARAMETER);
    /* Everything else. */
    CHECK_EQ(hv_hypercall(vm.hv, 0, 0x46, gpa, 0), HV_STATUS_INVALID_HYPERCALL_CODE);
    CHECK_EQ(hv_hypercall(vm.hv, 0, 0x0002, gpa, 0), HV_STATUS_INVALID_HYPERCALL_CODE);
    CHECK_EQ(hv_hypercall(vm.hv, 0, 0x8001, gpa, 0), HV_STATUS_INVALID_HYPERCALL_CODE);
    CHECK_EQ(hv_hypercall(vm.hv, 5, 0x5c, gpa, 0), HV_STATUS_INVALID_PARAMETER);
    fake_vm_free(&vm);
}

TEST(hv_synic_message_slot_queue_and_eom)
{
    struct fake_vm vm;
    fake_vm_init(&vm, 2, 1);
    uint8_t buf[240];
    uint32_t len = 0;
    for (uint32_t i = 0; i < 3; i++) {
        uint32_t payload = 100 + i;
        CHECK_EQ(hv_synic_post_message(vm.hv, 1, 2, 1, &payload, 4), 0);
    }
    CHECK_EQ(vm.irq_count, 1);
    CHECK_EQ(vm.irq_vp[0], 1);
    CHECK_EQ(vm.irq_vec[0], 0xF3);
    CHECK_EQ(hv_synic_queued(vm.hv, 1, 2), 2);
    uint8_t *slot = (uint8_t *)fake_gpa(&vm, fake_simp_gpa(1)) + 512;
    CHECK_EQ(slot[5] & 1, 1); /* msg_pending */
    for (uint32_t i = 0; i < 3; i++) {
        CHECK_EQ(fake_take_message(&vm, 1, buf, &len), 1);
        CHECK_EQ(len, 4);
        uint32_t got;
        memcpy(&got, buf, 4);
        CHECK_EQ(got, 100 + i);
    }
    CHECK_EQ(fake_take_message(&vm, 1, buf, &len), 0);
    CHECK_EQ(vm.irq_count, 3);
    CHECK_EQ(hv_synic_queued(vm.hv, 1, 2), 0);
    /* Guest empties the slot without EOM (pending was clear): next post goes straight in. */
    uint32_t x = 9;
    CHECK_EQ(hv_synic_post_message(vm.hv, 1, 2, 1, &x, 4), 0);
    CHECK_EQ(vm.irq_count, 4);
    /* Bad arguments. */
    CHECK_EQ(hv_synic_post_message(vm.hv, 2, 2, 1, &x, 4), -1);
    CHECK_EQ(hv_synic_post_message(vm.hv, 1, 16, 1, &x, 4), -1);
    CHECK_EQ(hv_synic_post_message(vm.hv, 1, 2, 0, &x, 4), -1);
    CHECK_EQ(hv_synic_post_message(vm.hv, 1, 2, 1, buf, 241), -1);
    fake_vm_free(&vm);
}

TEST(hv_synic_queues_until_guest_enables)
{
    struct fake_vm vm;
    fake_vm_init(&vm, 1, 0);
    uint32_t x = 5;
    CHECK_EQ(hv_synic_post_message(vm.hv, 0, 2, 1, &x, 4), 0);
    CHECK_EQ(vm.irq_count, 0);
    CHECK_EQ(hv_msr_write(vm.hv, 0, HV_MSR_SIMP, fake_simp_gpa(0) | 1), 0);
    CHECK_EQ(hv_msr_write(vm.hv, 0, HV_MSR_SINT0 + 2, 0xF3), 0);
    CHECK_EQ(vm.irq_count, 0); /* SCONTROL still off */
    CHECK_EQ(hv_msr_write(vm.hv, 0, HV_MSR_SCONTROL, 1), 0);
    CHECK_EQ(vm.irq_count, 1);
    CHECK_EQ(fake_take_message(&vm, 0, NULL, NULL), 1);
    /* Masked SINT: queued, delivered on unmask. */
    CHECK_EQ(hv_msr_write(vm.hv, 0, HV_MSR_SINT0 + 2, 0xF3 | HV_SINT_MASKED), 0);
    CHECK_EQ(hv_synic_post_message(vm.hv, 0, 2, 1, &x, 4), 0);
    CHECK_EQ(vm.irq_count, 1);
    CHECK_EQ(hv_msr_write(vm.hv, 0, HV_MSR_SINT0 + 2, 0xF3), 0);
    CHECK_EQ(vm.irq_count, 2);
    /* Polling mode: message written, no interrupt. */
    CHECK_EQ(fake_take_message(&vm, 0, NULL, NULL), 1);
    CHECK_EQ(hv_msr_write(vm.hv, 0, HV_MSR_SINT0 + 2, 0xF3 | HV_SINT_POLLING), 0);
    CHECK_EQ(hv_synic_post_message(vm.hv, 0, 2, 1, &x, 4), 0);
    CHECK_EQ(vm.irq_count, 2);
    CHECK_EQ(fake_take_message(&vm, 0, NULL, NULL), 1);
    /* A queue that cannot drain is bounded and freed at destroy. */
    CHECK_EQ(hv_msr_write(vm.hv, 0, HV_MSR_SINT0 + 3, 0xF3 | HV_SINT_MASKED), 0);
    int ok = 0;
    for (int i = 0; i < 2000; i++)
        ok += hv_synic_post_message(vm.hv, 0, 3, 1, &x, 4) == 0;
    CHECK_EQ(ok, 1024);
    fake_vm_free(&vm);
}

TEST(hv_synic_event_flags)
{
    struct fake_vm vm;
    fake_vm_init(&vm, 2, 1);
    CHECK_EQ(hv_synic_signal_event(vm.hv, 1, 2, 13), 1);
    CHECK_EQ(vm.irq_count, 1);
    CHECK_EQ(vm.irq_vp[0], 1);
    CHECK_EQ(hv_synic_signal_event(vm.hv, 1, 2, 13), 0); /* already set: no new interrupt */
    CHECK_EQ(vm.irq_count, 1);
    uint8_t *flags = (uint8_t *)fake_gpa(&vm, fake_siefp_gpa(1)) + 512;
    CHECK_EQ(flags[1], 1 << 5);
    flags[1] = 0; /* guest consumed it */
    CHECK_EQ(hv_synic_signal_event(vm.hv, 1, 2, 13), 1);
    CHECK_EQ(hv_synic_signal_event(vm.hv, 1, 2, 2047), 1);
    CHECK_EQ(flags[255], 0x80);
    CHECK_EQ(hv_synic_signal_event(vm.hv, 1, 2, 2048), -1);
    /* Masked: flag set, no interrupt. */
    CHECK_EQ(hv_msr_write(vm.hv, 0, HV_MSR_SINT0 + 2, 0xF3 | HV_SINT_MASKED), 0);
    int before = vm.irq_count;
    CHECK_EQ(hv_synic_signal_event(vm.hv, 0, 2, 1), 0);
    CHECK_EQ(vm.irq_count, before);
    CHECK_EQ(((uint8_t *)fake_gpa(&vm, fake_siefp_gpa(0)))[512], 2);
    /* SIEFP disabled: nothing written. */
    CHECK_EQ(hv_msr_write(vm.hv, 1, HV_MSR_SIEFP, 0), 0);
    CHECK_EQ(hv_synic_signal_event(vm.hv, 1, 2, 20), 0);
    CHECK_EQ(flags[2], 0);
    fake_vm_free(&vm);
}
