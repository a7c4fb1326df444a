/* Hyper-V TLFS constants used by the host side: synthetic MSR numbers, CPUID leaves and
 * bits, hypercall codes and status values, SynIC layouts. Facts from
 * /work/shared/reference/hyperv-guest-interface.md (Linux include/asm-generic/hyperv-tlfs.h,
 * arch/x86/include/asm/hyperv-tlfs.h). */
#ifndef VIRIDIAN_HV_DEFS_H
#define VIRIDIAN_HV_DEFS_H

#include <stdint.h>

/* --- CPUID ------------------------------------------------------------------------- */
#define HV_CPUID_VENDOR_AND_MAX 0x40000000u
#define HV_CPUID_INTERFACE      0x40000001u
#define HV_CPUID_VERSION        0x40000002u
#define HV_CPUID_FEATURES       0x40000003u
#define HV_CPUID_ENLIGHTENMENT  0x40000004u
#define HV_CPUID_IMPL_LIMITS    0x40000005u
#define HV_CPUID_MAX_LEAF       HV_CPUID_IMPL_LIMITS
#define HV_CPUID_SIGNATURE_EAX  0x31237648u /* "Hv#1" */

/* 0x40000003.EAX (partition privileges, low) */
#define HV_FEAT_SYNIC           (1u << 2)
#define HV_FEAT_APIC_ACCESS     (1u << 4)   /* MSRs 0x40000070-73 */
#define HV_FEAT_HYPERCALL       (1u << 5)
#define HV_FEAT_VP_INDEX        (1u << 6)
#define HV_FEAT_FREQUENCY_MSRS  (1u << 11)
#define HV_FEAT_TSC_INVARIANT   (1u << 15)
/* 0x40000003.EBX (privileges, high) */
#define HV_PRIV_POST_MESSAGES   (1u << 4)
#define HV_PRIV_SIGNAL_EVENTS   (1u << 5)
/* 0x40000003.EDX */
#define HV_FEAT_EDX_FREQUENCY   (1u << 8)
#define HV_FEAT_EDX_CRASH_MSRS  (1u << 10)
/* 0x40000004.EAX hints */
#define HV_HINT_APIC_ACCESS      (1u << 3)  /* EOI by MSR 0x40000070, lazily (APIC assist) */
#define HV_HINT_DEPRECATING_AEOI (1u << 9)

/* --- MSRs -------------------------------------------------------------------------- */
#define HV_MSR_GUEST_OS_ID      0x40000000u
#define HV_MSR_HYPERCALL        0x40000001u
#define HV_MSR_VP_INDEX         0x40000002u
#define HV_MSR_TIME_REF_COUNT   0x40000020u
#define HV_MSR_TSC_FREQUENCY    0x40000022u
#define HV_MSR_APIC_FREQUENCY   0x40000023u
#define HV_MSR_EOI              0x40000070u
#define HV_MSR_ICR              0x40000071u
#define HV_MSR_TPR              0x40000072u
#define HV_MSR_VP_ASSIST_PAGE   0x40000073u
#define HV_MSR_SCONTROL         0x40000080u
#define HV_MSR_SVERSION         0x40000081u
#define HV_MSR_SIEFP            0x40000082u
#define HV_MSR_SIMP             0x40000083u
#define HV_MSR_EOM              0x40000084u
#define HV_MSR_SINT0            0x40000090u
#define HV_MSR_SINT15           0x4000009Fu
#define HV_MSR_CRASH_P0         0x40000100u
#define HV_MSR_CRASH_P4         0x40000104u
#define HV_MSR_CRASH_CTL        0x40000105u
#define HV_MSR_TSC_INVARIANT_CONTROL 0x40000118u

#define HV_CRASH_CTL_NOTIFY     (1ull << 63)

#define HV_PAGE_ENABLE          1ull            /* bit 0 of HYPERCALL/SIMP/SIEFP/VP_ASSIST */
#define HV_PAGE_GPA_MASK        (~0xFFFull)

#define HV_SINT_VECTOR_MASK     0xFFull
#define HV_SINT_MASKED          (1ull << 16)
#define HV_SINT_AUTO_EOI        (1ull << 17)
#define HV_SINT_POLLING         (1ull << 18)
#define HV_SINT_RESERVED        (~0x7FFFFull | 0xFF00ull)

#define HV_SYNIC_VERSION_1      1u
#define HV_SINT_COUNT           16u

/* --- SynIC pages ------------------------------------------------------------------- */
#define HV_MESSAGE_SIZE         256u
#define HV_MESSAGE_PAYLOAD_MAX  240u
#define HV_MESSAGE_FLAG_PENDING 0x01u
#define HVMSG_NONE              0u
#define HV_EVENT_FLAGS_BYTES    256u  /* per SINT: 2048 flags */
#define HV_EVENT_FLAGS_COUNT    2048u

/* --- hypercalls -------------------------------------------------------------------- */
#define HVCALL_POST_MESSAGE     0x005Cu
#define HVCALL_SIGNAL_EVENT     0x005Du

#define HV_HYPERCALL_FAST       (1ull << 16)
#define HV_HYPERCALL_VARHEAD_SHIFT 17
#define HV_HYPERCALL_VARHEAD_MASK  (0x3FFull << 17)
#define HV_HYPERCALL_REP_COUNT_SHIFT 32
#define HV_HYPERCALL_REP_COUNT_MASK  (0xFFFull << 32)
#define HV_HYPERCALL_REP_START_MASK  (0xFFFull << 48)
#define HV_HYPERCALL_RESERVED   ((0x1Full << 27) | (0xFull << 44) | (0xFull << 60))

#define HV_STATUS_SUCCESS                 0u
#define HV_STATUS_INVALID_HYPERCALL_CODE  2u
#define HV_STATUS_INVALID_HYPERCALL_INPUT 3u
#define HV_STATUS_INVALID_ALIGNMENT       4u
#define HV_STATUS_INVALID_PARAMETER       5u
#define HV_STATUS_ACCESS_DENIED           6u
#define HV_STATUS_OPERATION_DENIED        8u
#define HV_STATUS_INSUFFICIENT_MEMORY     11u
#define HV_STATUS_INVALID_PORT_ID         17u
#define HV_STATUS_INVALID_CONNECTION_ID   18u
#define HV_STATUS_INSUFFICIENT_BUFFERS    19u

/* HvPostMessage input (256 bytes) */
#define HV_POST_MESSAGE_INPUT_SIZE 256u

#endif
