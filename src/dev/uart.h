/* A 16550A UART (COM1 at 0x3f8, IRQ 4) wired to the console. Transmission is instant,
 * so the transmitter is always empty; the THRE and receive interrupts follow the
 * 16550's rules, which Linux's 8250 driver depends on for tty output. */
#ifndef VIRIDIAN_DEV_UART_H
#define VIRIDIAN_DEV_UART_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/console.h"
#include "core/machine.h"

#define UART_COM1_PORT 0x3f8
#define UART_COM1_IRQ 4
#define UART_RX_FIFO 256

struct uart {
    pthread_mutex_t lock;
    uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
    bool thre_pending;
    uint8_t rx[UART_RX_FIFO];
    unsigned rx_head, rx_count;
    int irq_level;
    unsigned irq;
    const struct machine *machine;
    struct console *console;
};

void uart_init(struct uart *u, const struct machine *m, unsigned irq, struct console *console);
/* io_bus handler for the 8 registers */
void uart_io(void *opaque, uint64_t offset, bool is_write, uint8_t *data, unsigned size);
/* Host input; returns how many bytes fit in the receive FIFO. */
size_t uart_receive(struct uart *u, const uint8_t *data, size_t len);

#endif
