/* See vcpu_postmortem.h. */
#include "core/vcpu_postmortem.h"

#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/log.h"
#include "core/vm.h"

#define PTE_PRESENT 1ull
#define PTE_LARGE 0x80ull
#define PTE_ADDR 0x000FFFFFFFFFF000ull
#define CR4_LA57 (1ull << 12)

int vcpu_walk_page_tables(const struct guest_mem *gm, uint64_t cr3, bool la57, uint64_t va,
                          char *text, size_t cap, uint64_t *gpa)
{
    uint64_t table = cr3 & PTE_ADDR;
    size_t used = 0;
    text[0] = 0;
    for (int level = la57 ? 5 : 4; level >= 1; level--) {
        unsigned shift = 12 + 9 * (unsigned)(level - 1);
        uint64_t e;
        if (gmem_read(gm, table + ((va >> shift) & 511) * 8, &e, sizeof(e))) {
            snprintf(text + used, cap - used, "L%d table %#llx outside RAM", level,
                     (unsigned long long)table);
            return -1;
        }
        int n = snprintf(text + used, cap - used, "L%d %#llx ", level, (unsigned long long)e);
        used += n > 0 && (size_t)n < cap - used ? (size_t)n : 0;
        if (!(e & PTE_PRESENT)) {
            snprintf(text + used, cap - used, "NOT PRESENT");
            return -1;
        }
        if ((level == 2 || level == 3) && (e & PTE_LARGE)) {
            uint64_t size = 1ull << shift;
            *gpa = ((e & PTE_ADDR) & ~(size - 1)) | (va & (size - 1));
            return 0;
        }
        table = e & PTE_ADDR;
    }
    *gpa = table | (va & 0xFFF);
    return 0;
}

void vcpu_postmortem_arm(struct vcpu *v)
{
    const char *e = getenv("VIRIDIAN_POSTMORTEM");
    if (!e || strcmp(e, "1"))
        return;
    int caps = ioctl(v->vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
    if (caps <= 0 || !(caps & KVM_SYNC_X86_SREGS) || !(caps & KVM_SYNC_X86_REGS)) {
        vlog_warn("vCPU %d: VIRIDIAN_POSTMORTEM: KVM cannot sync registers", v->index);
        return;
    }
    v->run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
    v->pm.armed = true;
}

void vcpu_postmortem_record(struct vcpu *v)
{
    if (!v->pm.armed)
        return;
    const struct kvm_sync_regs *s = &v->run->s.regs;
    v->pm.cr3 = s->sregs.cr3;
    v->pm.cr4 = s->sregs.cr4;
    v->pm.rip = s->regs.rip;
    v->pm.idt_base = s->sregs.idt.base;
}

/* One walk, logged; its GPA for a caller that reads on. */
static int walk_logged(struct vcpu *v, const char *what, uint64_t va, uint64_t *gpa)
{
    char text[256];
    int rc = vcpu_walk_page_tables(&v->vm->mem, v->pm.cr3, (v->pm.cr4 & CR4_LA57) != 0, va, text,
                                   sizeof(text), gpa);
    vlog_warn("vCPU %d post-mortem: %s %#llx: %s%s", v->index, what, (unsigned long long)va, text,
              rc ? "" : "present");
    return rc;
}

/* The handler address of 64-bit IDT gate VECTOR. */
static void walk_handler(struct vcpu *v, uint64_t idt_gpa, unsigned vector, const char *what)
{
    uint8_t g[16];
    uint64_t gpa;
    if (gmem_read(&v->vm->mem, idt_gpa + vector * 16u, g, sizeof(g))) {
        vlog_warn("vCPU %d post-mortem: IDT gate %u outside RAM", v->index, vector);
        return;
    }
    uint64_t off = (uint64_t)g[0] | (uint64_t)g[1] << 8 | (uint64_t)g[6] << 16 |
                   (uint64_t)g[7] << 24;
    for (int i = 0; i < 4; i++)
        off |= (uint64_t)g[8 + i] << (32 + 8 * i);
    walk_logged(v, what, off, &gpa);
}

void vcpu_postmortem_report(struct vcpu *v)
{
    if (!v->pm.armed)
        return;
    uint64_t gpa, idt_gpa;
    vlog_warn("vCPU %d post-mortem: last exit to user space at rip %#llx, cr3 %#llx", v->index,
              (unsigned long long)v->pm.rip, (unsigned long long)v->pm.cr3);
    walk_logged(v, "rip", v->pm.rip, &gpa);
    /* the IDT is 4 KiB: one page when aligned, as Linux's is */
    if (walk_logged(v, "IDT", v->pm.idt_base, &idt_gpa) == 0 && (v->pm.idt_base & 0xFFF) == 0) {
        walk_handler(v, idt_gpa, 14, "#PF handler");
        walk_handler(v, idt_gpa, 8, "#DF handler");
    }
}
