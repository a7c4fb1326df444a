#include "core/control.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define CLIENT_TIMEOUT_MS 5000

void control_run_dir(char *buf, size_t len)
{
    const char *dir = getenv("VIRIDIAN_RUN_DIR");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (dir && *dir)
        snprintf(buf, len, "%s", dir);
    else if (geteuid() == 0)
        snprintf(buf, len, "/run/viridian");
    else if (xdg && *xdg)
        snprintf(buf, len, "%s/viridian", xdg);
    else
        snprintf(buf, len, "/tmp/viridian-%u", (unsigned)geteuid());
}

int control_socket_path(const char *name, char *buf, size_t len)
{
    char dir[256];
    size_t n = strlen(name);
    if (!n || n > 63 || name[0] == '.')
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return -1;
    }
    control_run_dir(dir, sizeof(dir));
    int w = snprintf(buf, len, "%s/%s.sock", dir, name);
    return w < 0 || (size_t)w >= len || (size_t)w >= sizeof(((struct sockaddr_un *)0)->sun_path) ? -1 : 0;
}

static int make_dirs(const char *path)
{
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s", path);
    char *slash = strrchr(tmp, '/');
    if (!slash || slash == tmp)
        return 0;
    *slash = 0;
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0755);
            *p = '/';
        }
    }
    return mkdir(tmp, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

static int unix_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int control_spawn(struct control_server *s);

int control_start(struct control_server *s, const char *name, const char *path, char *err,
                  size_t errlen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    memset(s, 0, sizeof(*s));
    s->listen_fd = s->stop_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    snprintf(s->name, sizeof(s->name), "%s", name);
    if (strlen(path) >= sizeof(sa.sun_path) || strlen(path) >= sizeof(s->path)) {
        snprintf(err, errlen, "control socket path is too long: %s", path);
        return -1;
    }
    strcpy(s->path, path);
    strcpy(sa.sun_path, path);

    int probe = unix_connect(path);
    if (probe >= 0) {
        close(probe);
        snprintf(err, errlen, "a VM named '%s' is already running (its control socket %s answers)", name, path);
        return -1;
    }
    if (make_dirs(path) < 0) {
        snprintf(err, errlen, "cannot create the directory of %s: %s", path, strerror(errno));
        return -1;
    }
    unlink(path); /* a stale socket of a VM that is gone */
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    mode_t old = umask(0177);
    int rc = s->listen_fd < 0 ? -1 : bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc < 0 || listen(s->listen_fd, 8) < 0) {
        snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
        control_stop(s);
        return -1;
    }
    if (control_spawn(s) < 0) {
        snprintf(err, errlen, "cannot start the control thread");
        control_stop(s);
        return -1;
    }
    return 0;
}

void control_attach(struct control_server *s, struct vm *vm)
{
    pthread_mutex_lock(&s->lock);
    s->vm = vm;
    s->boots++;
    pthread_mutex_unlock(&s->lock);
}

void control_detach(struct control_server *s)
{
    pthread_mutex_lock(&s->lock);
    s->vm = NULL;
    pthread_mutex_unlock(&s->lock);
}

static void reply_error(struct json_object *reply, const char *msg)
{
    json_object_object_add(reply, "ok", json_object_new_boolean(0));
    json_object_object_add(reply, "error", json_object_new_string(msg));
}

/* Reads one line (bounded) with a deadline; returns its length or -1. */
static ssize_t read_line(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t len = 0;
    while (len < cap - 1) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, timeout_ms) <= 0)
            return -1;
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0)
            return len ? (ssize_t)len : -1;
        char *nl = memchr(buf + len, '\n', (size_t)n);
        len += (size_t)n;
        if (nl) {
            *nl = 0;
            return nl - buf;
        }
    }
    return -1;
}

static void write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

static void control_serve(struct control_server *s, int fd)
{
    char *line = malloc(CONTROL_MAX_REQUEST);
    struct json_object *reply = json_object_new_object();
    char err[512] = "";

    ssize_t n = line ? read_line(fd, line, CONTROL_MAX_REQUEST, CLIENT_TIMEOUT_MS) : -1;
    struct json_object *req = n >= 0 ? json_tokener_parse(line) : NULL;
    struct json_object *cmd_obj;
    if (n < 0) {
        reply_error(reply, "no request line (one JSON object per line, at most 64 KiB)");
    } else if (!req || !json_object_is_type(req, json_type_object)) {
        reply_error(reply, "the request is not a JSON object");
    } else if (!json_object_object_get_ex(req, "cmd", &cmd_obj) ||
               !json_object_is_type(cmd_obj, json_type_string)) {
        reply_error(reply, "the request has no \"cmd\" string");
    } else {
        bool needs_vm = false;
        const char *cmd = json_object_get_string(cmd_obj);
        control_handler h = control_find_handler(cmd, &needs_vm);
        pthread_mutex_lock(&s->lock);
        if (!h) {
            snprintf(err, sizeof(err), "unknown command '%.64s'", cmd);
            reply_error(reply, err);
        } else if (needs_vm && !s->vm) {
            reply_error(reply, "the VM is between boots; try again in a moment");
        } else {
            json_object_object_add(reply, "ok", json_object_new_boolean(1));
            if (h(s, s->vm, req, reply, err, sizeof(err)) < 0) {
                json_object_put(reply);
                reply = json_object_new_object();
                reply_error(reply, err[0] ? err : "the command failed");
            }
        }
        pthread_mutex_unlock(&s->lock);
    }
    const char *out = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN);
    write_all(fd, out, strlen(out));
    write_all(fd, "\n", 1);
    json_object_put(req);
    json_object_put(reply);
    free(line);
}

static void *control_thread(void *arg)
{
    struct control_server *s = arg;
    pthread_setname_np(pthread_self(), "control");
    for (;;) {
        struct pollfd fds[2] = { { .fd = s->listen_fd, .events = POLLIN },
                                 { .fd = s->stop_fd, .events = POLLIN } };
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            break;
        if (fds[1].revents)
            break;
        if (fds[0].revents) {
            int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                control_serve(s, fd);
                close(fd);
            }
        }
    }
    return NULL;
}

static int control_spawn(struct control_server *s)
{
    s->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (s->stop_fd < 0 || pthread_create(&s->thread, NULL, control_thread, s) != 0)
        return -1;
    s->started = true;
    return 0;
}

void control_stop(struct control_server *s)
{
    if (s->started) {
        uint64_t one = 1;
        if (write(s->stop_fd, &one, sizeof(one)) < 0)
            vlog_debug("control: %s", strerror(errno));
        pthread_join(s->thread, NULL);
        s->started = false;
    }
    if (s->stop_fd >= 0)
        close(s->stop_fd);
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        unlink(s->path);
    }
    s->stop_fd = s->listen_fd = -1;
}

struct json_object *control_request(const char *path, struct json_object *req, int timeout_ms,
                                    char *err, size_t errlen)
{
    int fd = unix_connect(path);
    if (fd < 0) {
        if (errno == ENOENT || errno == ECONNREFUSED)
            snprintf(err, errlen, "no VM answers at %s (is it running?)", path);
        else
            snprintf(err, errlen, "cannot connect to %s: %s", path, strerror(errno));
        return NULL;
    }
    const char *out = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
    write_all(fd, out, strlen(out));
    write_all(fd, "\n", 1);
    char *line = malloc(CONTROL_MAX_REQUEST);
    ssize_t n = line ? read_line(fd, line, CONTROL_MAX_REQUEST, timeout_ms) : -1;
    close(fd);
    struct json_object *reply = n >= 0 ? json_tokener_parse(line) : NULL;
    free(line);
    if (!reply || !json_object_is_type(reply, json_type_object)) {
        json_object_put(reply);
        snprintf(err, errlen, "no valid reply from %s within %d ms", path, timeout_ms);
        return NULL;
    }
    return reply;
}

