/* The per-VM control socket: a UNIX stream socket, one JSON object per line each way.
 *
 *   request  {"cmd": "status"}
 *   reply    {"ok": true, "name": "web1", "state": "running", ...}
 *   failure  {"ok": false, "error": "one line saying why"}
 *
 * Commands (see handlers in control_cmds.c): status, shutdown {"reboot": bool},
 * turn-off, kvp-get {"pool": "guest"|"external"...}, kvp-set {"key", "value"},
 * dvd-eject {"controller", "lun"}, dvd-insert {"path", "controller", "lun"} (placement
 * optional: the first DVD drive; the path is opened by the VM's process),
 * disk-add {"path", "ro", "controller", "lun"} -> {"controller", "lun"},
 * disk-remove {"controller", "lun"}, resume (retry writes that found the disk full;
 * status says "state": "paused-disk-full" while they wait), nic-link {"index", "up"}
 * (status has "nics": {"0": {"switch", "mac", "link", counters...}, ...}).
 * Clients: `viridian vm COMMAND NAME` (src/cli/vm_cmd.c), later the management
 * service. The socket lives as long as `viridian run` does, across guest reboots; a
 * request that needs the guest while the partition is being rebuilt fails cleanly.
 * The socket file is created mode 0600: only its owner (usually root) may control the VM. */
#ifndef VIRIDIAN_CORE_CONTROL_H
#define VIRIDIAN_CORE_CONTROL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define CONTROL_MAX_REQUEST 65536

struct vm;
struct json_object;

struct control_server {
    int listen_fd;
    int stop_fd;                /* eventfd: ends the server thread */
    char path[108];
    char name[64];
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;       /* guards vm and boots */
    struct vm *vm;              /* the running partition, NULL between boots */
    unsigned boots;
};

/* Where the sockets of named VMs live: $VIRIDIAN_RUN_DIR, else /run/viridian for root,
 * else $XDG_RUNTIME_DIR/viridian, else /tmp/viridian-UID. */
void control_run_dir(char *buf, size_t len);
/* The socket path for a VM name; -1 if the name is not usable (empty, too long, or
 * other than letters, digits, '-', '_' and '.'). */
int control_socket_path(const char *name, char *buf, size_t len);

/* Creates the socket; refuses (with a message) if a live VM already answers there. */
int control_start(struct control_server *s, const char *name, const char *path, char *err,
                  size_t errlen);
void control_stop(struct control_server *s);
void control_attach(struct control_server *s, struct vm *vm);
void control_detach(struct control_server *s);

/* A command handler: fills `reply` (already holding "ok": true) or returns an error. */
typedef int (*control_handler)(struct control_server *s, struct vm *vm,
                               struct json_object *req, struct json_object *reply,
                               char *err, size_t errlen);
/* The handler for a command name, or NULL (control_cmds.c). */
control_handler control_find_handler(const char *cmd, bool *needs_vm);

/* Client side: sends one request, returns the parsed reply (NULL with a message). */
struct json_object *control_request(const char *path, struct json_object *req, int timeout_ms,
                                    char *err, size_t errlen);

#endif
