/* Synthetic MSRs (reference §1.5, §3.1). Unknown or not-offered MSRs and writes to
 * read-only ones return -1 (the core injects #GP). */
#include "hv/hv_internal.h"

#include "core/log.h"

bool hv_msr_is_synthetic(uint32_t msr)
{
    switch (msr) {
    case HV_MSR_GUEST_OS_ID:
    case HV_MSR_HYPERCALL:
    case HV_MSR_VP_INDEX:
    case HV_MSR_TIME_REF_COUNT:
    case HV_MSR_TSC_FREQUENCY:
    case HV_MSR_APIC_FREQUENCY:
    case HV_MSR_VP_ASSIST_PAGE:
    case HV_MSR_SCONTROL:
    case HV_MSR_SVERSION:
    case HV_MSR_SIEFP:
    case HV_MSR_SIMP:
    case HV_MSR_EOM:
    case HV_MSR_CRASH_CTL:
    case HV_MSR_TSC_INVARIANT_CONTROL:
        return true;
    default:
        return (msr >= HV_MSR_SINT0 && msr <= HV_MSR_SINT15) ||
               (msr >= HV_MSR_CRASH_P0 && msr <= HV_MSR_CRASH_P4);
    }
}

static bool crash_msr(uint32_t msr)
{
    return (msr >= HV_MSR_CRASH_P0 && msr <= HV_MSR_CRASH_P4) || msr == HV_MSR_CRASH_CTL;
}

static bool freq_offered(const struct hv_partition *hv)
{
    return hv->cfg.tsc_hz && hv->cfg.apic_hz;
}

int hv_msr_read(struct hv_partition *hv, uint32_t vp_index, uint32_t msr, uint64_t *value)
{
    if (vp_index >= hv->cfg.nr_vcpus || !hv_msr_is_synthetic(msr))
        return -1;
    if (crash_msr(msr) && !hv->cfg.crash_msrs)
        return -1;
    int rc = 0;
    pthread_mutex_lock(&hv->lock);
    struct hv_vp *vp = &hv->vps[vp_index];
    switch (msr) {
    case HV_MSR_GUEST_OS_ID: *value = hv->guest_os_id; break;
    case HV_MSR_HYPERCALL: *value = hv->hypercall_msr; break;
    case HV_MSR_VP_INDEX: *value = vp_index; break;
    case HV_MSR_TIME_REF_COUNT: *value = hv_ref_time(hv); break;
    case HV_MSR_TSC_FREQUENCY:
        if (!freq_offered(hv))
            rc = -1;
        else
            *value = hv->cfg.tsc_hz;
        break;
    case HV_MSR_APIC_FREQUENCY:
        if (!freq_offered(hv))
            rc = -1;
        else
            *value = hv->cfg.apic_hz;
        break;
    case HV_MSR_VP_ASSIST_PAGE: *value = vp->vp_assist; break;
    case HV_MSR_SCONTROL: *value = vp->scontrol; break;
    case HV_MSR_SVERSION: *value = HV_SYNIC_VERSION_1; break;
    case HV_MSR_SIEFP: *value = vp->siefp; break;
    case HV_MSR_SIMP: *value = vp->simp; break;
    case HV_MSR_EOM: *value = 0; break;
    case HV_MSR_CRASH_CTL: *value = HV_CRASH_CTL_NOTIFY; break;
    case HV_MSR_TSC_INVARIANT_CONTROL: *value = hv->tsc_invariant_control; break;
    default:
        if (msr >= HV_MSR_SINT0 && msr <= HV_MSR_SINT15)
            *value = vp->sint[msr - HV_MSR_SINT0];
        else if (msr >= HV_MSR_CRASH_P0 && msr <= HV_MSR_CRASH_P4)
            *value = hv->crash_p[msr - HV_MSR_CRASH_P0];
        else
            rc = -1;
    }
    pthread_mutex_unlock(&hv->lock);
    return rc;
}

/* Enabling the hypercall page writes the stub into guest RAM at that page (reference
 * §2.5); a page outside RAM is refused with #GP. */
static int write_hypercall_msr(struct hv_partition *hv, uint64_t value)
{
    if (value & HV_PAGE_ENABLE) {
        uint8_t *page = gmem_ptr(hv->gmem, value & HV_PAGE_GPA_MASK, GMEM_PAGE_SIZE);
        if (!page)
            return -1;
        hv_hypercall_page_build(page, hv->cfg.hypercall_port);
    }
    hv->hypercall_msr = value;
    return 0;
}

int hv_msr_write(struct hv_partition *hv, uint32_t vp_index, uint32_t msr, uint64_t value)
{
    if (vp_index >= hv->cfg.nr_vcpus || !hv_msr_is_synthetic(msr))
        return -1;
    if (crash_msr(msr) && !hv->cfg.crash_msrs)
        return -1;
    int rc = 0;
    bool crashed = false;
    uint64_t crash_params[5];
    pthread_mutex_lock(&hv->lock);
    struct hv_vp *vp = &hv->vps[vp_index];
    switch (msr) {
    case HV_MSR_GUEST_OS_ID: hv->guest_os_id = value; break;
    case HV_MSR_HYPERCALL: rc = write_hypercall_msr(hv, value); break;
    case HV_MSR_VP_INDEX:
    case HV_MSR_TIME_REF_COUNT:
    case HV_MSR_TSC_FREQUENCY:
    case HV_MSR_APIC_FREQUENCY:
    case HV_MSR_SVERSION:
        rc = -1; /* read-only */
        break;
    case HV_MSR_VP_ASSIST_PAGE:
        vp->vp_assist = value; /* accepted and ignored: KVM serves it when offered (hv.h 7.) */
        break;
    case HV_MSR_SCONTROL:
        vp->scontrol = value & 1;
        hv_synic_kick_locked(hv, vp_index);
        break;
    case HV_MSR_SIEFP: vp->siefp = value; break;
    case HV_MSR_SIMP:
        vp->simp = value;
        hv_synic_kick_locked(hv, vp_index);
        break;
    case HV_MSR_EOM: hv_synic_kick_locked(hv, vp_index); break;
    case HV_MSR_TSC_INVARIANT_CONTROL:
        if (value & ~1ull)
            rc = -1;
        else
            hv->tsc_invariant_control = value;
        break;
    case HV_MSR_CRASH_CTL:
        if (value & HV_CRASH_CTL_NOTIFY) {
            crashed = true;
            for (int i = 0; i < 5; i++)
                crash_params[i] = hv->crash_p[i];
        }
        break;
    default:
        if (msr >= HV_MSR_SINT0 && msr <= HV_MSR_SINT15) {
            uint32_t vec = value & HV_SINT_VECTOR_MASK;
            if ((value & HV_SINT_RESERVED) || (!(value & HV_SINT_MASKED) && vec < 16)) {
                rc = -1;
                break;
            }
            if ((value & HV_SINT_AUTO_EOI) && !(value & HV_SINT_MASKED))
                vlog_warn("hv: VP %u enabled auto-EOI on SINT%u; KVM's LAPIC cannot honour it",
                          vp_index, msr - HV_MSR_SINT0);
            vp->sint[msr - HV_MSR_SINT0] = value;
            hv_synic_kick_locked(hv, vp_index);
        } else if (msr >= HV_MSR_CRASH_P0 && msr <= HV_MSR_CRASH_P4) {
            hv->crash_p[msr - HV_MSR_CRASH_P0] = value;
        } else {
            rc = -1;
        }
    }
    pthread_mutex_unlock(&hv->lock);
    if (crashed && hv->ops.guest_crash)
        hv->ops.guest_crash(hv->ops.ctx, vp_index, crash_params);
    return rc;
}
