/* The emulated platform devices against the register behaviour guests rely on. */
#include "test.h"

#include "core/console.h"
#include "core/machine.h"
#include "dev/acpi_pm.h"
#include "dev/rtc.h"
#include "dev/uart.h"

static int irq_level[16];
static enum vm_stop_reason stopped;
static uint64_t fake_ns;

static void fake_set_irq(void *ctx, unsigned gsi, int level) { irq_level[gsi] = level; }
static void fake_stop(void *ctx, enum vm_stop_reason why) { stopped = why; }
static uint64_t fake_now(void *ctx) { return fake_ns; }
static const struct machine fake = { NULL, fake_set_irq, fake_stop, fake_now };

static uint8_t rd(struct uart *u, unsigned reg)
{
    uint8_t v = 0;
    uart_io(u, reg, false, &v, 1);
    return v;
}

static void wr(struct uart *u, unsigned reg, uint8_t v)
{
    uart_io(u, reg, true, &v, 1);
}

TEST(uart_behaves_like_a_16550a)
{
    struct console none;
    char err[64];
    struct uart u;
    console_open(&none, "none", err, sizeof(err));
    uart_init(&u, &fake, 4, &none);
    memset(irq_level, 0, sizeof(irq_level));

    /* Linux's 8250 autoconfig: loopback with RTS|OUT2 must read back CTS|DCD */
    wr(&u, 4, 0x10 | 0x0a);
    CHECK_EQ(rd(&u, 6) & 0xf0, 0x90);
    wr(&u, 4, 0x0b);                        /* DTR RTS OUT2, no loopback */
    CHECK_EQ(rd(&u, 6) & 0xb0, 0xb0);

    /* divisor latch */
    wr(&u, 3, 0x80);
    wr(&u, 0, 0x01);
    wr(&u, 1, 0x00);
    CHECK_EQ(rd(&u, 0), 0x01);
    wr(&u, 3, 0x03);

    /* FIFO enabled shows in IIR; nothing pending */
    wr(&u, 2, 0x07);
    CHECK_EQ(rd(&u, 2), 0xc1);
    CHECK_EQ(irq_level[4], 0);

    /* enabling THRI with an empty transmitter interrupts; reading IIR acknowledges */
    wr(&u, 1, 0x02);
    CHECK_EQ(irq_level[4], 1);
    CHECK_EQ(rd(&u, 2) & 0x0f, 0x02);
    CHECK_EQ(irq_level[4], 0);
    wr(&u, 0, 'x');                         /* sent at once: THRE interrupts again */
    CHECK_EQ(irq_level[4], 1);
    CHECK_EQ(rd(&u, 5) & 0x60, 0x60);       /* THRE and TEMT */

    /* received bytes: data ready, and the receive interrupt outranks THRE */
    wr(&u, 1, 0x03);
    CHECK_EQ(uart_receive(&u, (const uint8_t *)"hi", 2), 2);
    CHECK_EQ(rd(&u, 5) & 0x01, 1);
    CHECK_EQ(rd(&u, 2) & 0x0f, 0x04);
    CHECK_EQ(rd(&u, 0), 'h');
    CHECK_EQ(rd(&u, 0), 'i');
    CHECK_EQ(rd(&u, 5) & 0x01, 0);

    /* the FIFO bounds what the host can push */
    uint8_t many[300];
    memset(many, 'a', sizeof(many));
    CHECK_EQ(uart_receive(&u, many, sizeof(many)), UART_RX_FIFO);
}

TEST(acpi_pm_powers_off_resets_and_raises_the_power_button)
{
    struct acpi_pm pm;
    uint8_t v[2];
    acpi_pm_init(&pm, &fake);
    memset(irq_level, 0, sizeof(irq_level));
    stopped = VM_RUNNING;

    acpi_pm_io(&pm, 4, false, v, 2);
    CHECK(v[0] & 1);                        /* SCI_EN: always in ACPI mode */

    /* power button: status set, SCI only once enabled, cleared by writing 1 */
    acpi_pm_power_button(&pm);
    CHECK_EQ(irq_level[9], 0);
    v[0] = 0x00;
    v[1] = 0x01;                            /* PWRBTN_EN */
    acpi_pm_io(&pm, 2, true, v, 2);
    CHECK_EQ(irq_level[9], 1);
    v[0] = 0x00;
    v[1] = 0x01;
    acpi_pm_io(&pm, 0, true, v, 2);
    CHECK_EQ(irq_level[9], 0);

    /* SLP_TYP other than S5 does nothing; S5 with SLP_EN powers off */
    v[0] = 0x01;
    v[1] = (uint8_t)((3 << 2) | 0x20);
    acpi_pm_io(&pm, 4, true, v, 2);
    CHECK_EQ(stopped, VM_RUNNING);
    v[1] = (uint8_t)((5 << 2) | 0x20);
    acpi_pm_io(&pm, 4, true, v, 2);
    CHECK_EQ(stopped, VM_STOP_POWEROFF);

    stopped = VM_RUNNING;
    v[0] = 0x06;
    acpi_pm_reset_io(&pm, 0, true, v, 1);
    CHECK_EQ(stopped, VM_STOP_RESET);

    /* the PM timer counts at 3.579545 MHz in 24 bits */
    uint8_t t[4];
    fake_ns = 1000000000ull;
    acpi_pm_io(&pm, 8, false, t, 4);
    uint32_t ticks = (uint32_t)(t[0] | t[1] << 8 | t[2] << 16 | t[3] << 24);
    CHECK_EQ(ticks, 3579545u & 0xffffff);
}

static time_t fixed_time(void) { return 1700000000; } /* 2023-11-14 22:13:20 UTC */

TEST(rtc_shows_host_time_in_bcd_and_keeps_guest_changes)
{
    struct rtc r;
    uint8_t v;
    rtc_init(&r);
    r.host_time = fixed_time;
#define RTC_READ(reg) (v = (reg), rtc_io(&r, 0, true, &v, 1), rtc_io(&r, 1, false, &v, 1), v)
    CHECK_EQ(RTC_READ(0x00), 0x20);         /* seconds, BCD */
    CHECK_EQ(RTC_READ(0x02), 0x13);
    CHECK_EQ(RTC_READ(0x04), 0x22);
    CHECK_EQ(RTC_READ(0x07), 0x14);
    CHECK_EQ(RTC_READ(0x08), 0x11);
    CHECK_EQ(RTC_READ(0x09), 0x23);
    CHECK_EQ(RTC_READ(0x32), 0x20);
    CHECK_EQ(RTC_READ(0x0a) & 0x80, 0);     /* never "update in progress" */
    /* the guest sets the hour to 05: the clock moves, host time does not */
    v = 0x04;
    rtc_io(&r, 0, true, &v, 1);
    v = 0x05;
    rtc_io(&r, 1, true, &v, 1);
    CHECK_EQ(RTC_READ(0x04), 0x05);
    CHECK_EQ(RTC_READ(0x02), 0x13);
    /* binary mode */
    v = 0x0b;
    rtc_io(&r, 0, true, &v, 1);
    v = 0x06;
    rtc_io(&r, 1, true, &v, 1);
    CHECK_EQ(RTC_READ(0x00), 20);
#undef RTC_READ
}
