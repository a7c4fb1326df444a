/* viridian vm: talk to running VMs through their control sockets. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/run_options.h"
#include "core/control.h"
#include "core/log.h"

#define REQUEST_TIMEOUT_MS 15000

static const char vm_usage[] =
    "usage: viridian vm COMMAND [NAME | --socket PATH] [OPTIONS]\n"
    "\n"
    "  list                       the running VMs (their control sockets)\n"
    "  status NAME [--json]       state, CPUs, memory, uptime, VMBus, integration services\n"
    "  shutdown NAME [--wait S] [--reboot]\n"
    "                             ask the guest to shut down (shutdown integration\n"
    "                             service, else the ACPI power button) or, with\n"
    "                             --reboot, to restart; --wait: until the VM has\n"
    "                             stopped, at most S seconds\n"
    "  turn-off NAME              stop the VM at once, like pulling the plug\n"
    "  kvp NAME                   the guest's key-value data (host name, OS, addresses)\n"
    "  kvp-set NAME KEY VALUE     set KEY in the pool the guest reads from the host\n"
    "  bench-kvp NAME [COUNT]     time COUNT KVP round trips and count their exits\n"
    "  dvd-eject NAME [--controller N --lun M]\n"
    "                             take the disc out of the DVD drive (default: the first)\n"
    "  dvd-insert NAME PATH [--controller N --lun M]\n"
    "                             put the ISO image PATH into the DVD drive\n"
    "  disk-add NAME PATH[,ro][,controller=N][,lun=M]\n"
    "                             hot add a disk (default: controller 0, the lowest free\n"
    "                             LUN); only on controllers the VM started with\n"
    "  disk-remove NAME --controller N --lun M\n"
    "                             hot remove the disk there\n"
    "  resume NAME                a VM paused because a host disk was full: retry its\n"
    "                             writes now (it also retries every second by itself)\n"
    "  nic-link NAME INDEX up|down\n"
    "                             connect or disconnect NIC INDEX (0 = the first --nic)\n"
    "                             from its switch; the guest sees its carrier change\n"
    "\n"
    "NAME is the --name given to viridian run (default \"default\").\n"
    "Exit status: 0 done; 1 the VM or the guest refused or did not answer; 2 bad usage.\n";

static int vm_list(void)
{
    char dir[256];
    control_run_dir(dir, sizeof(dir));
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n > 5 && !strcmp(e->d_name + n - 5, ".sock")) {
            char name[64], path[512], err[256];
            snprintf(name, sizeof(name), "%.*s", (int)(n - 5), e->d_name);
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            struct json_object *req = json_object_new_object(), *st;
            json_object_object_add(req, "cmd", json_object_new_string("status"));
            struct json_object *reply = control_request(path, req, 2000, err, sizeof(err));
            if (reply && json_object_object_get_ex(reply, "state", &st))
                printf("%-24s %s\n", name, json_object_get_string(st));
            json_object_put(req);
            json_object_put(reply);
        }
    }
    closedir(d);
    return 0;
}

static void print_status(struct json_object *reply)
{
    json_object_object_foreach(reply, key, val) {
        if (!strcmp(key, "ok"))
            continue;
        if (json_object_is_type(val, json_type_object)) {
            json_object_object_foreach(val, k2, v2)
                printf("%s.%s: %s\n", key, k2, json_object_get_string(v2));
        } else {
            printf("%s: %s\n", key, json_object_get_string(val));
        }
    }
}

/* Sends {"cmd": cmd, extra...}; returns the reply when ok, else prints why. */
static struct json_object *vm_call(const char *path, const char *cmd, struct json_object *req)
{
    char err[512];
    json_object_object_add(req, "cmd", json_object_new_string(cmd));
    struct json_object *reply = control_request(path, req, REQUEST_TIMEOUT_MS, err, sizeof(err));
    json_object_put(req);
    if (!reply) {
        vlog_error("%s", err);
        return NULL;
    }
    struct json_object *ok, *why;
    if (!json_object_object_get_ex(reply, "ok", &ok) || !json_object_get_boolean(ok)) {
        vlog_error("%s: %s", cmd, json_object_object_get_ex(reply, "error", &why)
                                      ? json_object_get_string(why) : "failed");
        json_object_put(reply);
        return NULL;
    }
    return reply;
}

static int wait_until_gone(const char *path, int seconds)
{
    for (int i = 0; i < seconds * 10; i++) {
        char err[256];
        struct json_object *req = json_object_new_object();
        json_object_object_add(req, "cmd", json_object_new_string("status"));
        struct json_object *reply = control_request(path, req, 1000, err, sizeof(err));
        json_object_put(req);
        if (!reply)
            return 0;
        json_object_put(reply);
        usleep(100000);
    }
    vlog_error("the VM is still running after %d s", seconds);
    return -1;
}

int cli_vm(int argc, char **argv)
{
    static const struct option opts[] = {
        { "socket", required_argument, NULL, 's' }, { "json", no_argument, NULL, 'j' },
        { "wait", required_argument, NULL, 'w' }, { "reboot", no_argument, NULL, 'r' },
        { "controller", required_argument, NULL, 'c' }, { "lun", required_argument, NULL, 'l' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int controller = -1, lun = -1;
    const char *socket_path = NULL;
    int json = 0, wait_s = -1, reboot = 0;
    char path[256];

    if (argc < 2) {
        fputs(vm_usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(vm_usage, stdout);
        return 0;
    }
    optind = 2;
    opterr = 0;
    for (int o; (o = getopt_long(argc, argv, "h", opts, NULL)) != -1;) {
        switch (o) {
        case 's': socket_path = optarg; break;
        case 'j': json = 1; break;
        case 'r': reboot = 1; break;
        case 'w': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > 86400) {
                vlog_error("vm: --wait takes seconds (0 to 86400)");
                return 2;
            }
            wait_s = (int)v;
            break;
        }
        case 'c': case 'l': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || !*optarg || v < 0 || v > 255) {
                vlog_error("vm: --%s takes a number (0 to 255)", o == 'c' ? "controller" : "lun");
                return 2;
            }
            *(o == 'c' ? &controller : &lun) = (int)v;
            break;
        }
        case 'h': fputs(vm_usage, stdout); return 0;
        default: vlog_error("vm: unknown option '%s' (see viridian vm --help)", argv[optind - 1]); return 2;
        }
    }
    if (!strcmp(cmd, "list"))
        return vm_list();

    char **args = argv + optind;
    int nargs = argc - optind;
    if (!socket_path) {
        if (nargs < 1) {
            vlog_error("vm %s: which VM? give its NAME or --socket PATH", cmd);
            return 2;
        }
        if (control_socket_path(args[0], path, sizeof(path)) < 0) {
            vlog_error("vm %s: '%s' is not a VM name", cmd, args[0]);
            return 2;
        }
        socket_path = path;
        args++;
        nargs--;
    }

    struct json_object *req = json_object_new_object(), *reply;
    if (!strcmp(cmd, "status") && nargs == 0) {
        if (!(reply = vm_call(socket_path, "status", req)))
            return 1;
        if (json)
            puts(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY));
        else
            print_status(reply);
    } else if (!strcmp(cmd, "resume") && nargs == 0) {
        if (!(reply = vm_call(socket_path, cmd, req)))
            return 1;
    } else if ((!strcmp(cmd, "shutdown") || !strcmp(cmd, "turn-off")) && nargs == 0) {
        if (reboot)
            json_object_object_add(req, "reboot", json_object_new_boolean(1));
        if (!(reply = vm_call(socket_path, cmd, req)))
            return 1;
        struct json_object *method;
        if (json_object_object_get_ex(reply, "method", &method))
            printf("%s requested through the %s\n", reboot ? "reboot" : "shutdown",
                   json_object_get_string(method));
        if (wait_s >= 0 && wait_until_gone(socket_path, wait_s) < 0) {
            json_object_put(reply);
            return 1;
        }
    } else if (!strcmp(cmd, "kvp") && nargs == 0) {
        if (!(reply = vm_call(socket_path, "kvp-get", req)))
            return 1;
        struct json_object *items;
        if (json || !json_object_object_get_ex(reply, "items", &items))
            puts(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY));
        else {
            json_object_object_foreach(items, k, v)
                printf("%s=%s\n", k, json_object_get_string(v));
        }
    } else if (!strcmp(cmd, "bench-kvp") && nargs <= 1) {
        json_object_object_add(req, "count", json_object_new_int(nargs ? atoi(args[0]) : 100));
        if (!(reply = vm_call(socket_path, "bench-kvp", req)))
            return 1;
        puts(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN));
    } else if (!strcmp(cmd, "kvp-set") && nargs == 2) {
        json_object_object_add(req, "key", json_object_new_string(args[0]));
        json_object_object_add(req, "value", json_object_new_string(args[1]));
        if (!(reply = vm_call(socket_path, "kvp-set", req)))
            return 1;
    } else if ((!strcmp(cmd, "dvd-eject") && nargs == 0) || (!strcmp(cmd, "dvd-insert") && nargs == 1)) {
        if (nargs) { /* the VM's process opens it: give it an absolute path */
            char *abs = realpath(args[0], NULL);
            if (!abs) {
                json_object_put(req);
                vlog_error("vm %s: %s: %s", cmd, args[0], strerror(errno));
                return 1;
            }
            json_object_object_add(req, "path", json_object_new_string(abs));
            free(abs);
        }
        if (controller >= 0)
            json_object_object_add(req, "controller", json_object_new_int(controller));
        if (lun >= 0)
            json_object_object_add(req, "lun", json_object_new_int(lun));
        if (!(reply = vm_call(socket_path, cmd, req)))
            return 1;
    } else if (!strcmp(cmd, "disk-add") && nargs == 1) {
        /* the same spec as viridian run --disk, parsed into a scratch configuration */
        static struct vm_config scratch;
        char perr[512], *spec = args[0];
        bool lun_given = strstr(spec, ",lun=") != NULL;
        if (run_parse_disk_spec(spec, false, &scratch, perr, sizeof(perr)) < 0) {
            json_object_put(req);
            vlog_error("vm disk-add: %s", perr);
            return 2;
        }
        const struct vm_disk *d = &scratch.disks[0];
        char *abs = realpath(d->path, NULL); /* the VM's process opens it */
        if (!abs) {
            json_object_put(req);
            vlog_error("vm disk-add: %s: %s", d->path, strerror(errno));
            return 1;
        }
        json_object_object_add(req, "path", json_object_new_string(abs));
        free(abs);
        if (d->ro)
            json_object_object_add(req, "ro", json_object_new_boolean(1));
        json_object_object_add(req, "controller", json_object_new_int((int)d->controller));
        if (lun_given)
            json_object_object_add(req, "lun", json_object_new_int((int)d->lun));
        if (!(reply = vm_call(socket_path, cmd, req)))
            return 1;
        struct json_object *c, *l;
        if (json_object_object_get_ex(reply, "controller", &c) &&
            json_object_object_get_ex(reply, "lun", &l))
            printf("added at controller %d LUN %d\n", json_object_get_int(c), json_object_get_int(l));
    } else if (!strcmp(cmd, "disk-remove") && nargs == 0) {
        if (controller < 0 || lun < 0) {
            json_object_put(req);
            vlog_error("vm disk-remove: give --controller N and --lun M");
            return 2;
        }
        json_object_object_add(req, "controller", json_object_new_int(controller));
        json_object_object_add(req, "lun", json_object_new_int(lun));
        if (!(reply = vm_call(socket_path, cmd, req)))
            return 1;
    } else if (!strcmp(cmd, "nic-link") && nargs == 2) {
        char *end;
        long idx = strtol(args[0], &end, 10);
        bool up = !strcmp(args[1], "up");
        if (!*args[0] || *end || idx < 0 || idx > 255 || (!up && strcmp(args[1], "down"))) {
            json_object_put(req);
            vlog_error("vm nic-link: give the NIC's index (0, 1, ...) and up or down");
            return 2;
        }
        json_object_object_add(req, "index", json_object_new_int((int)idx));
        json_object_object_add(req, "up", json_object_new_boolean(up));
        if (!(reply = vm_call(socket_path, cmd, req)))
            return 1;
    } else {
        json_object_put(req);
        vlog_error("vm: unknown command or wrong arguments: '%s' (see viridian vm --help)", cmd);
        return 2;
    }
    json_object_put(reply);
    return 0;
}
