/* A triple fault's post-mortem (a diagnostic mode, VIRIDIAN_POSTMORTEM=1): KVM keeps
 * copying the vCPU's registers out at each exit to user space (KVM_CAP_SYNC_REGS), the
 * vCPU loop keeps the last CR3, RIP and IDT base, and at a triple fault - when KVM has
 * already reset the vCPU - the guest's page tables are walked in guest RAM, which the
 * reset leaves alone: the last RIP, the IDT, and the #PF and #DF handlers the IDT names.
 * An entry found not present where the guest was running says its page tables were
 * overwritten; all present says the fault did not come from them. The last exit to user
 * space may be old: a guest streaming over the network exits to Viridian not at all (its
 * doorbells and interrupts stay in the kernel; in a lab stream the last one was a boot-time
 * RDMSR), so its RIP says where the guest was then, not at the fault. */
#ifndef VIRIDIAN_CORE_VCPU_POSTMORTEM_H
#define VIRIDIAN_CORE_VCPU_POSTMORTEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/guest_mem.h"

struct vcpu_postmortem {
    bool armed;
    uint64_t cr3, cr4, rip, idt_base;
};

struct vcpu;

/* Turns the recording on for V when VIRIDIAN_POSTMORTEM=1 and KVM can sync registers. */
void vcpu_postmortem_arm(struct vcpu *v);
/* After every exit but a shutdown: keep what the post-mortem needs. */
void vcpu_postmortem_record(struct vcpu *v);
/* At a triple fault: log the walks. */
void vcpu_postmortem_report(struct vcpu *v);

/* The 4- or 5-level (la57) walk of VA from CR3 in guest RAM: each entry read into
 * TEXT (at most CAP bytes); 0 and the GPA *GPA if every level is present, -1 if not. */
int vcpu_walk_page_tables(const struct guest_mem *gm, uint64_t cr3, bool la57, uint64_t va,
                          char *text, size_t cap, uint64_t *gpa);

#endif
