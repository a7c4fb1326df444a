#include "dev/acpi_pm.h"

#include <string.h>

#include "arch/x86/acpi.h"

#define PM1_STS 0
#define PM1_EN 2
#define PM1_CNT 4
#define PM_TMR 8
#define STS_PWRBTN (1u << 8)
#define CNT_SCI_EN 0x0001u
#define CNT_SLP_EN (1u << 13)
#define PM_TIMER_HZ 3579545ull

void acpi_pm_init(struct acpi_pm *pm, const struct machine *m)
{
    memset(pm, 0, sizeof(*pm));
    pthread_mutex_init(&pm->lock, NULL);
    pm->machine = m;
    pm->regs[PM1_CNT] = CNT_SCI_EN; /* always in ACPI mode: there is no SMI_CMD */
}

static uint16_t reg16(const struct acpi_pm *pm, unsigned off)
{
    return (uint16_t)(pm->regs[off] | pm->regs[off + 1] << 8);
}

static void acpi_pm_update_sci(struct acpi_pm *pm)
{
    int level = (reg16(pm, PM1_STS) & reg16(pm, PM1_EN) & STS_PWRBTN) != 0;
    if (level != pm->sci_level) {
        pm->sci_level = level;
        pm->machine->set_irq(pm->machine->ctx, ACPI_SCI_IRQ, level);
    }
}

static void acpi_pm_write_byte(struct acpi_pm *pm, unsigned off, uint8_t v)
{
    if (off < PM1_EN)
        pm->regs[off] &= (uint8_t)~v;               /* status: write 1 to clear */
    else if (off < PM1_CNT)
        pm->regs[off] = v;
    else if (off == PM1_CNT)
        pm->regs[off] = (uint8_t)(v | CNT_SCI_EN);
    else if (off == PM1_CNT + 1) {
        uint16_t cnt = (uint16_t)(pm->regs[PM1_CNT] | v << 8);
        pm->regs[off] = v & (uint8_t)~(CNT_SLP_EN >> 8); /* SLP_EN reads as 0 */
        if ((cnt & CNT_SLP_EN) && ((cnt >> 10) & 7) == ACPI_SLP_TYP_S5)
            pm->machine->request_stop(pm->machine->ctx, VM_STOP_POWEROFF);
    }
}

void acpi_pm_io(void *opaque, uint64_t offset, bool is_write, uint8_t *data, unsigned size)
{
    struct acpi_pm *pm = opaque;
    pthread_mutex_lock(&pm->lock);
    if (offset >= PM_TMR) {
        uint64_t ticks = pm->machine->now_ns(pm->machine->ctx) * PM_TIMER_HZ / 1000000000ull;
        uint32_t tmr = (uint32_t)ticks & 0xffffff;
        for (unsigned i = 0; i < size && !is_write; i++) {
            unsigned bit = (unsigned)(offset - PM_TMR + i) * 8;
            data[i] = bit < 32 ? (uint8_t)(tmr >> bit) : 0;
        }
    } else {
        for (unsigned i = 0; i < size; i++) {
            unsigned off = (unsigned)offset + i;
            if (off >= PM_TMR)
                break;
            if (is_write)
                acpi_pm_write_byte(pm, off, data[i]);
            else
                data[i] = off < sizeof(pm->regs) ? pm->regs[off] : 0;
        }
        acpi_pm_update_sci(pm);
    }
    pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_reset_io(void *opaque, uint64_t offset, bool is_write, uint8_t *data, unsigned size)
{
    struct acpi_pm *pm = opaque;
    if (!is_write) {
        data[0] = 0;
        return;
    }
    if (data[0] & 0x04) /* "reset CPU" bit, as 0x06 sets */
        pm->machine->request_stop(pm->machine->ctx, VM_STOP_RESET);
}

void acpi_pm_power_button(struct acpi_pm *pm)
{
    pthread_mutex_lock(&pm->lock);
    pm->regs[PM1_STS + 1] |= STS_PWRBTN >> 8;
    acpi_pm_update_sci(pm);
    pthread_mutex_unlock(&pm->lock);
}
