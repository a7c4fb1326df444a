/* The control socket server without a VM attached: replies, errors, and refusal to
 * start twice on one socket. */
#include "test.h"

#include <json-c/json.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/control.h"

static struct json_object *ask(const char *path, const char *json_text)
{
    char err[256];
    struct json_object *req = json_tokener_parse(json_text);
    struct json_object *reply = control_request(path, req, 2000, err, sizeof(err));
    json_object_put(req);
    return reply;
}

static int reply_ok(struct json_object *r)
{
    struct json_object *ok;
    return r && json_object_object_get_ex(r, "ok", &ok) && json_object_get_boolean(ok);
}

static const char *reply_str(struct json_object *r, const char *key)
{
    struct json_object *v;
    return r && json_object_object_get_ex(r, key, &v) ? json_object_get_string(v) : "";
}

/* Sends raw bytes and returns the reply line (static buffer). */
static const char *raw_exchange(const char *path, const char *bytes)
{
    static char buf[1024];
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    buf[0] = 0;
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0)
            close(fd);
        return buf;
    }
    if (write(fd, bytes, strlen(bytes)) < 0)
        buf[0] = 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = 0;
    close(fd);
    return buf;
}

TEST(control_socket_answers_and_refuses_bad_requests)
{
    char path[256], err[256];
    struct control_server s, twin;
    snprintf(path, sizeof(path), "%s/vm.sock", test_tmpdir());
    CHECK_EQ(control_start(&s, "unit-vm", path, err, sizeof(err)), 0);

    struct json_object *r = ask(path, "{\"cmd\":\"status\"}");
    CHECK(reply_ok(r));
    CHECK_STR(reply_str(r, "name"), "unit-vm");
    CHECK_STR(reply_str(r, "state"), "restarting"); /* no partition attached */
    json_object_put(r);

    r = ask(path, "{\"cmd\":\"shutdown\"}");
    CHECK(!reply_ok(r));
    CHECK(strstr(reply_str(r, "error"), "between boots") != NULL);
    json_object_put(r);

    r = ask(path, "{\"cmd\":\"format-c\"}");
    CHECK(!reply_ok(r));
    CHECK(strstr(reply_str(r, "error"), "unknown command") != NULL);
    json_object_put(r);

    r = ask(path, "{\"command\":\"status\"}");
    CHECK(!reply_ok(r));
    CHECK(strstr(reply_str(r, "error"), "\"cmd\"") != NULL);
    json_object_put(r);

    CHECK(strstr(raw_exchange(path, "this is not json\n"), "not a JSON object") != NULL);
    CHECK(strstr(raw_exchange(path, "[1,2,3]\n"), "not a JSON object") != NULL);
    CHECK(strstr(raw_exchange(path, "\n"), "\"ok\":false") != NULL);

    /* a second VM with the same socket is refused while the first answers */
    CHECK(control_start(&twin, "unit-vm", path, err, sizeof(err)) < 0);
    CHECK(strstr(err, "already running") != NULL);

    /* and the first still answers after all that */
    r = ask(path, "{\"cmd\":\"status\"}");
    CHECK(reply_ok(r));
    json_object_put(r);
    control_stop(&s);
    CHECK(access(path, F_OK) != 0); /* the socket file is removed */
    r = ask(path, "{\"cmd\":\"status\"}");
    CHECK(r == NULL);
}

TEST(control_names_map_to_socket_paths)
{
    char path[256];
    CHECK_EQ(control_socket_path("web-1.prod_2", path, sizeof(path)), 0);
    CHECK(strstr(path, "/web-1.prod_2.sock") != NULL);
    CHECK(control_socket_path("", path, sizeof(path)) < 0);
    CHECK(control_socket_path("../etc/passwd", path, sizeof(path)) < 0);
    CHECK(control_socket_path(".hidden", path, sizeof(path)) < 0);
    CHECK(control_socket_path("a b", path, sizeof(path)) < 0);
}
