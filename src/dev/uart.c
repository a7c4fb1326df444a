#include "dev/uart.h"

#include <string.h>

#define REG_DATA 0
#define REG_IER 1
#define REG_IIR_FCR 2
#define REG_LCR 3
#define REG_MCR 4
#define REG_LSR 5
#define REG_MSR 6
#define REG_SCR 7

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xc0
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02

void uart_init(struct uart *u, const struct machine *m, unsigned irq, struct console *console)
{
    memset(u, 0, sizeof(*u));
    pthread_mutex_init(&u->lock, NULL);
    u->machine = m;
    u->irq = irq;
    u->console = console;
    u->dll = 12; /* 9600 baud until the guest says otherwise */
}

static uint8_t uart_iir(const struct uart *u)
{
    uint8_t fifo = (u->fcr & FCR_ENABLE) ? IIR_FIFO : 0;
    if ((u->ier & IER_RDI) && u->rx_count)
        return fifo | IIR_RDI;
    if ((u->ier & IER_THRI) && u->thre_pending)
        return fifo | IIR_THRI;
    return fifo | IIR_NONE;
}

static void uart_update_irq(struct uart *u)
{
    int level = !(uart_iir(u) & IIR_NONE);
    /* In loopback mode the interrupt output is cut off from the line (OUT2 gate). */
    if (u->mcr & MCR_LOOP)
        level = 0;
    if (level != u->irq_level) {
        u->irq_level = level;
        u->machine->set_irq(u->machine->ctx, u->irq, level);
    }
}

static void rx_push(struct uart *u, uint8_t ch)
{
    if (u->rx_count < UART_RX_FIFO) {
        u->rx[(u->rx_head + u->rx_count) % UART_RX_FIFO] = ch;
        u->rx_count++;
    }
}

static uint8_t rx_pop(struct uart *u)
{
    if (!u->rx_count)
        return 0;
    uint8_t ch = u->rx[u->rx_head];
    u->rx_head = (u->rx_head + 1) % UART_RX_FIFO;
    u->rx_count--;
    return ch;
}

static uint8_t uart_read(struct uart *u, unsigned reg)
{
    switch (reg) {
    case REG_DATA:
        return (u->lcr & LCR_DLAB) ? u->dll : rx_pop(u);
    case REG_IER:
        return (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
    case REG_IIR_FCR: {
        uint8_t iir = uart_iir(u);
        if ((iir & 0x0f) == IIR_THRI)
            u->thre_pending = false; /* reading IIR acknowledges THRE */
        return iir;
    }
    case REG_LCR:
        return u->lcr;
    case REG_MCR:
        return u->mcr;
    case REG_LSR:
        return (uint8_t)(LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0));
    case REG_MSR:
        if (u->mcr & MCR_LOOP) /* CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2 */
            return (uint8_t)(((u->mcr & 0x02) << 3) | ((u->mcr & 0x01) << 5) |
                             ((u->mcr & 0x04) << 4) | ((u->mcr & 0x08) << 4));
        return 0xb0; /* DCD, DSR, CTS */
    default:
        return u->scr;
    }
}

static void uart_write(struct uart *u, unsigned reg, uint8_t v)
{
    switch (reg) {
    case REG_DATA:
        if (u->lcr & LCR_DLAB) {
            u->dll = v;
            break;
        }
        if (u->mcr & MCR_LOOP)
            rx_push(u, v);
        else
            console_write(u->console, &v, 1);
        u->thre_pending = true; /* sent at once: the holding register is empty again */
        break;
    case REG_IER:
        if (u->lcr & LCR_DLAB) {
            u->dlm = v;
            break;
        }
        if ((v & IER_THRI) && !(u->ier & IER_THRI))
            u->thre_pending = true;
        u->ier = v & 0x0f;
        break;
    case REG_IIR_FCR:
        u->fcr = v & 0xc9;
        if (v & FCR_CLEAR_RX)
            u->rx_head = u->rx_count = 0;
        break;
    case REG_LCR:
        u->lcr = v;
        break;
    case REG_MCR:
        u->mcr = v & 0x1f;
        break;
    case REG_SCR:
        u->scr = v;
        break;
    default:
        break; /* LSR and MSR are read-only */
    }
}

void uart_io(void *opaque, uint64_t offset, bool is_write, uint8_t *data, unsigned size)
{
    struct uart *u = opaque;
    pthread_mutex_lock(&u->lock);
    if (is_write)
        uart_write(u, (unsigned)offset, data[0]);
    else {
        data[0] = uart_read(u, (unsigned)offset);
        for (unsigned i = 1; i < size; i++)
            data[i] = 0;
    }
    uart_update_irq(u);
    pthread_mutex_unlock(&u->lock);
}

size_t uart_receive(struct uart *u, const uint8_t *data, size_t len)
{
    size_t n = 0;
    pthread_mutex_lock(&u->lock);
    for (; n < len && u->rx_count < UART_RX_FIFO; n++)
        rx_push(u, data[n]);
    uart_update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return n;
}
