#include "core/console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#define CTRL_A 0x01

static struct termios saved_termios;
static int termios_saved;

static void restore_tty(void)
{
    if (termios_saved)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
}

static void make_tty_raw(struct console *c)
{
    struct termios t;
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_termios) < 0)
        return;
    if (!termios_saved)
        atexit(restore_tty);
    termios_saved = 1;
    t = saved_termios;
    cfmakeraw(&t);
    t.c_oflag |= OPOST | ONLCR; /* keep host output readable */
    tcsetattr(STDIN_FILENO, TCSANOW, &t);
    c->raw_tty = 1;
}

int console_spec_valid(const char *spec)
{
    return !strcmp(spec, "stdio") || !strcmp(spec, "none") ||
           (!strncmp(spec, "file:", 5) && spec[5]) || (!strncmp(spec, "socket:", 7) && spec[7]);
}

int console_open(struct console *c, const char *spec, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->out_fd = c->in_fd = c->listen_fd = -1;
    pthread_mutex_init(&c->lock, NULL);

    if (!strcmp(spec, "stdio")) {
        c->kind = CONSOLE_STDIO;
        c->out_fd = STDOUT_FILENO;
        c->in_fd = STDIN_FILENO;
        make_tty_raw(c);
    } else if (!strcmp(spec, "none")) {
        c->kind = CONSOLE_NONE;
    } else if (!strncmp(spec, "file:", 5) && spec[5]) {
        c->kind = CONSOLE_FILE;
        c->out_fd = open(spec + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (c->out_fd < 0) {
            snprintf(err, errlen, "console file %s: %s", spec + 5, strerror(errno));
            return -1;
        }
    } else if (!strncmp(spec, "socket:", 7) && spec[7]) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *path = spec + 7;
        if (strlen(path) >= sizeof(sa.sun_path)) {
            snprintf(err, errlen, "console socket path is too long: %s", path);
            return -1;
        }
        strcpy(sa.sun_path, path);
        c->kind = CONSOLE_SOCKET;
        c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        unlink(path);
        if (c->listen_fd < 0 || bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(c->listen_fd, 1) < 0) {
            snprintf(err, errlen, "console socket %s: %s", path, strerror(errno));
            if (c->listen_fd >= 0)
                close(c->listen_fd);
            c->listen_fd = -1;
            return -1;
        }
    } else {
        snprintf(err, errlen, "unknown console '%s' (use stdio, file:PATH, socket:PATH or none)", spec);
        return -1;
    }
    return 0;
}

void console_close(struct console *c)
{
    if (c->raw_tty)
        restore_tty();
    if (c->kind == CONSOLE_FILE && c->out_fd >= 0)
        close(c->out_fd);
    if (c->kind == CONSOLE_SOCKET) {
        if (c->out_fd >= 0)
            close(c->out_fd);
        if (c->listen_fd >= 0)
            close(c->listen_fd);
    }
    c->out_fd = c->in_fd = c->listen_fd = -1;
}

void console_write(struct console *c, const uint8_t *data, size_t len)
{
    pthread_mutex_lock(&c->lock);
    while (c->out_fd >= 0 && len) {
        ssize_t n = c->kind == CONSOLE_SOCKET ? send(c->out_fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT)
                                              : write(c->out_fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* a slow or gone reader loses output rather than stalling the guest */
        data += n;
        len -= (size_t)n;
    }
    pthread_mutex_unlock(&c->lock);
}

int console_pollfds(struct console *c, struct pollfd *fds, int max)
{
    int n = 0;
    if (c->kind == CONSOLE_SOCKET && c->listen_fd >= 0 && n < max)
        fds[n++] = (struct pollfd){ .fd = c->listen_fd, .events = POLLIN };
    if (c->in_fd >= 0 && n < max)
        fds[n++] = (struct pollfd){ .fd = c->in_fd, .events = POLLIN };
    return n;
}

/* Terminal input: Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A. */
static void console_feed(struct console *c, const uint8_t *buf, size_t len)
{
    if (!c->raw_tty) {
        if (c->input)
            c->input(c->ctx, buf, len);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = buf[i];
        if (c->escape) {
            c->escape = 0;
            if (ch == 'x' || ch == 'X') {
                if (c->quit)
                    c->quit(c->ctx);
                continue;
            }
            if (ch != CTRL_A)
                continue;
        } else if (ch == CTRL_A) {
            c->escape = 1;
            continue;
        }
        if (c->input)
            c->input(c->ctx, &ch, 1);
    }
}

void console_handle(struct console *c, const struct pollfd *fds, int n)
{
    for (int i = 0; i < n; i++) {
        if (!fds[i].revents)
            continue;
        if (fds[i].fd == c->listen_fd) {
            int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0)
                continue;
            pthread_mutex_lock(&c->lock);
            if (c->out_fd >= 0)
                close(c->out_fd); /* the newest client takes over */
            c->out_fd = c->in_fd = fd;
            pthread_mutex_unlock(&c->lock);
        } else if (fds[i].fd == c->in_fd) {
            uint8_t buf[256];
            ssize_t r = read(c->in_fd, buf, sizeof(buf));
            if (r > 0) {
                console_feed(c, buf, (size_t)r);
            } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
                pthread_mutex_lock(&c->lock);
                if (c->kind == CONSOLE_SOCKET) {
                    close(c->in_fd);
                    c->out_fd = -1;
                }
                c->in_fd = -1; /* end of input: stop polling it */
                pthread_mutex_unlock(&c->lock);
            }
        }
    }
}
