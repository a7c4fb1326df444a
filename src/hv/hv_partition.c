/* Partition lifetime, CPUID leaves and the reference clock. */
#include "hv/hv_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct hv_partition *hv_create(const struct hv_config *cfg, const struct hv_platform_ops *ops,
                               const struct guest_mem *gmem)
{
    if (!cfg || !ops || !gmem || cfg->nr_vcpus == 0 || cfg->nr_vcpus > HV_MAX_VCPUS)
        return NULL;
    struct hv_partition *hv = calloc(1, sizeof(*hv));
    if (!hv)
        return NULL;
    hv->vps = calloc(cfg->nr_vcpus, sizeof(*hv->vps));
    if (!hv->vps) {
        free(hv);
        return NULL;
    }
    pthread_mutex_init(&hv->lock, NULL);
    hv->cfg = *cfg;
    if (!hv->cfg.hypercall_port)
        hv->cfg.hypercall_port = HV_HYPERCALL_PORT_DEFAULT;
    hv->ops = *ops;
    hv->gmem = gmem;
    hv->start_ns = monotonic_ns();
    for (uint32_t v = 0; v < cfg->nr_vcpus; v++)
        for (uint32_t s = 0; s < HV_SINT_COUNT; s++)
            hv->vps[v].sint[s] = HV_SINT_MASKED; /* reset value: masked */
    return hv;
}

void hv_destroy(struct hv_partition *hv)
{
    if (!hv)
        return;
    for (uint32_t v = 0; v < hv->cfg.nr_vcpus; v++)
        for (uint32_t s = 0; s < HV_SINT_COUNT; s++)
            hv_synic_flush_queue(hv, v, s);
    pthread_mutex_destroy(&hv->lock);
    free(hv->vps);
    free(hv);
}

void hv_set_guest_handlers(struct hv_partition *hv, const struct hv_guest_handlers *h,
                           void *ctx)
{
    pthread_mutex_lock(&hv->lock);
    if (h)
        hv->handlers = *h;
    else
        memset(&hv->handlers, 0, sizeof(hv->handlers));
    hv->handlers_ctx = ctx;
    pthread_mutex_unlock(&hv->lock);
}

uint32_t hv_vcpu_count(const struct hv_partition *hv)
{
    return hv->cfg.nr_vcpus;
}

uint8_t hv_hypercall_port(const struct hv_partition *hv)
{
    return hv->cfg.hypercall_port;
}

uint64_t hv_guest_os_id(struct hv_partition *hv)
{
    pthread_mutex_lock(&hv->lock);
    uint64_t id = hv->guest_os_id;
    pthread_mutex_unlock(&hv->lock);
    return id;
}

uint64_t hv_reference_time(struct hv_partition *hv)
{
    return hv_ref_time(hv);
}

uint64_t hv_ref_time(struct hv_partition *hv)
{
    if (hv->ops.ref_time)
        return hv->ops.ref_time(hv->ops.ctx);
    return (monotonic_ns() - hv->start_ns) / 100;
}

/* Only what is implemented is offered (reference §1.2): SynIC, hypercalls, VP index,
 * frequency MSRs if the core gave frequencies, TSC invariant; post/signal privileges;
 * AEOI deprecated (mandatory with KVM's LAPIC); the APIC-access MSRs, recommended, when
 * KVM serves them. No partition-id, no root, no isolation, no synthetic timers, no
 * reference counter as clocksource (MSR is readable anyway). */
int hv_cpuid_leaves(const struct hv_partition *hv, struct hv_cpuid_leaf *out, int max)
{
    struct hv_cpuid_leaf l[6];
    memset(l, 0, sizeof(l));
    bool freq = hv->cfg.tsc_hz && hv->cfg.apic_hz;

    l[0].function = HV_CPUID_VENDOR_AND_MAX;
    l[0].eax = HV_CPUID_MAX_LEAF;
    l[0].ebx = 0x7263694D; /* "Micr" */
    l[0].ecx = 0x666F736F; /* "osof" */
    l[0].edx = 0x76482074; /* "t Hv" */
    l[1].function = HV_CPUID_INTERFACE;
    l[1].eax = HV_CPUID_SIGNATURE_EAX;
    l[2].function = HV_CPUID_VERSION; /* cosmetic build number */
    l[2].eax = 20348;
    l[2].ebx = 10u << 16;
    l[3].function = HV_CPUID_FEATURES;
    l[3].eax = HV_FEAT_SYNIC | HV_FEAT_HYPERCALL | HV_FEAT_VP_INDEX | HV_FEAT_TSC_INVARIANT |
               (freq ? HV_FEAT_FREQUENCY_MSRS : 0) |
               (hv->cfg.kvm_apic_access ? HV_FEAT_APIC_ACCESS : 0);
    l[3].ebx = HV_PRIV_POST_MESSAGES | HV_PRIV_SIGNAL_EVENTS;
    l[3].edx = (freq ? HV_FEAT_EDX_FREQUENCY : 0) |
               (hv->cfg.crash_msrs ? HV_FEAT_EDX_CRASH_MSRS : 0);
    l[4].function = HV_CPUID_ENLIGHTENMENT;
    l[4].eax = HV_HINT_DEPRECATING_AEOI | (hv->cfg.kvm_apic_access ? HV_HINT_APIC_ACCESS : 0);
    l[4].ebx = 0xFFFFFFFF; /* spin-wait retry count: never notify */
    l[5].function = HV_CPUID_IMPL_LIMITS;
    l[5].eax = hv->cfg.nr_vcpus;
    l[5].ebx = hv->cfg.nr_vcpus;

    int n = 0;
    for (int i = 0; i < 6 && n < max; i++)
        out[n++] = l[i];
    return n;
}
