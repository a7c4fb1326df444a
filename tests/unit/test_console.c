/* The serial console's socket and file modes (the terminal mode is exercised by
 * `make run`): output reaches the connected client, its input reaches the UART side,
 * a newer client takes over, and nothing breaks while nobody is connected. */
#include "test.h"

#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/console.h"

static char received[64];
static size_t received_len;

static void collect(void *ctx, const uint8_t *data, size_t len)
{
    if (received_len + len <= sizeof(received)) {
        memcpy(received + received_len, data, len);
        received_len += len;
    }
}

static int client(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One round of the event loop the VM runs. */
static void pump(struct console *c)
{
    struct pollfd fds[4];
    int n = console_pollfds(c, fds, 4);
    poll(fds, (nfds_t)n, 200);
    console_handle(c, fds, n);
}

TEST(console_socket_carries_both_directions)
{
    char path[256], err[256], buf[64];
    struct console c;
    snprintf(path, sizeof(path), "%s/console.sock", test_tmpdir());
    CHECK_EQ(console_open(&c, "socket:", err, sizeof(err)), -1);
    char spec[300];
    snprintf(spec, sizeof(spec), "socket:%s", path);
    CHECK_EQ(console_open(&c, spec, err, sizeof(err)), 0);
    c.input = collect;
    received_len = 0;

    console_write(&c, (const uint8_t *)"lost", 4); /* nobody connected: dropped, no error */
    int a = client(path);
    CHECK(a >= 0);
    pump(&c);                                       /* accept */
    console_write(&c, (const uint8_t *)"login: ", 7);
    ssize_t n = read(a, buf, sizeof(buf));
    CHECK_EQ(n, 7);
    CHECK(n == 7 && !memcmp(buf, "login: ", 7));
    CHECK_EQ(write(a, "root\n", 5), 5);
    pump(&c);
    CHECK_EQ(received_len, 5);
    CHECK(!memcmp(received, "root\n", 5));

    int b = client(path);                           /* a second client takes over */
    pump(&c);
    console_write(&c, (const uint8_t *)"#", 1);
    CHECK_EQ(read(b, buf, sizeof(buf)), 1);
    close(a);
    close(b);
    pump(&c);                                       /* the client went away */
    console_write(&c, (const uint8_t *)"still fine", 10);
    console_close(&c);
}

TEST(console_file_and_bad_specs)
{
    char path[256], spec[300], err[256], buf[32] = "";
    struct console c;
    snprintf(path, sizeof(path), "%s/console.log", test_tmpdir());
    snprintf(spec, sizeof(spec), "file:%s", path);
    CHECK_EQ(console_open(&c, spec, err, sizeof(err)), 0);
    console_write(&c, (const uint8_t *)"boot log\n", 9);
    console_close(&c);
    FILE *f = fopen(path, "r");
    CHECK(f && fgets(buf, sizeof(buf), f));
    CHECK_STR(buf, "boot log\n");
    if (f)
        fclose(f);
    CHECK(console_open(&c, "file:/nonexistent-dir/x.log", err, sizeof(err)) < 0);
    CHECK(strstr(err, "/nonexistent-dir/x.log") != NULL);
    CHECK(console_open(&c, "tcp:1234", err, sizeof(err)) < 0);
    CHECK(!console_spec_valid("socket:"));
    CHECK(console_spec_valid("none"));
}
