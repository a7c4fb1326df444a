/* Where the guest's serial console goes: the terminal (default), a file, a UNIX socket
 * that viridian listens on (one client at a time; output is dropped while none is
 * connected), or nowhere.
 *   --console stdio | file:PATH | socket:PATH | none
 * On a terminal, input is passed through raw; Ctrl-A x stops the VM, Ctrl-A Ctrl-A
 * sends a Ctrl-A. */
#ifndef VIRIDIAN_CORE_CONSOLE_H
#define VIRIDIAN_CORE_CONSOLE_H

#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

enum console_kind { CONSOLE_STDIO, CONSOLE_FILE, CONSOLE_SOCKET, CONSOLE_NONE };

struct console {
    enum console_kind kind;
    int out_fd;             /* where output goes, -1 for none */
    int in_fd;              /* where input comes from, -1 for none */
    int listen_fd;          /* socket mode */
    int raw_tty;            /* stdin is a terminal we put in raw mode */
    int escape;             /* saw Ctrl-A */
    pthread_mutex_t lock;
    /* input sink (the UART) and the quit request */
    void (*input)(void *ctx, const uint8_t *data, size_t len);
    void (*quit)(void *ctx);
    void *ctx;
};

/* Parses the spec and opens it. 0, or -1 with a message in err. */
int console_open(struct console *c, const char *spec, char *err, size_t errlen);
/* Validates a spec without opening anything (option parsing). */
int console_spec_valid(const char *spec);
void console_close(struct console *c);
void console_write(struct console *c, const uint8_t *data, size_t len);
/* Event-loop hooks: fills up to `max` pollfds; then handles the ones that fired. */
int console_pollfds(struct console *c, struct pollfd *fds, int max);
void console_handle(struct console *c, const struct pollfd *fds, int n);

#endif
