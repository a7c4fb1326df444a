/* viridian switch: virtual switches (Linux bridges) that VM ports attach to. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "core/log.h"
#include "net/rtnl.h"
#include "net/switch.h"

static const char switch_usage[] =
    "usage: viridian switch COMMAND [OPTIONS]\n"
    "\n"
    "  create NAME --type external|internal|private [--nic HOSTNIC]\n"
    "                  internal: the host gets interface NAME (the bridge itself);\n"
    "                  external: HOSTNIC becomes a port of bridge vs-NAME;\n"
    "                  private: bridge vs-NAME, VMs only, no host interface\n"
    "  list [--json]   the defined switches and whether their bridge exists\n"
    "  delete NAME     remove the bridge (releasing the NIC) and the definition\n"
    "  restore         recreate the bridges of all definitions (after a host reboot)\n"
    "\n"
    "NAME: 1-12 letters, digits, '_' or '-'. Definitions are kept in\n"
    "$VIRIDIAN_STATE_DIR/switches/NAME.json (default /var/lib/viridian/switches).\n"
    "Needs root (CAP_NET_ADMIN). Exit status: 0 done; 1 failed; 2 bad usage.\n";

static int switch_create(int argc, char **argv)
{
    static const struct option opts[] = {
        { "type", required_argument, NULL, 't' },
        { "nic", required_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *type = NULL, *nic = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 't': type = optarg; break;
        case 'n': nic = optarg; break;
        case 'h': fputs(switch_usage, stdout); return 0;
        default: return 2;
        }
    }
    if (optind != argc - 1 || !type) {
        vlog_error("switch create needs NAME and --type external|internal|private");
        return 2;
    }
    struct vswitch sw;
    memset(&sw, 0, sizeof(sw));
    char err[512];
    const char *name = argv[optind];
    if (vswitch_name_check(name, err, sizeof(err))) {
        vlog_error("%s", err);
        return 2;
    }
    snprintf(sw.name, sizeof(sw.name), "%s", name);
    if (vswitch_type_parse(type, &sw.type)) {
        vlog_error("unknown switch type '%s' (external, internal or private)", type);
        return 2;
    }
    if (nic) {
        if (strlen(nic) >= IFNAMSIZ) {
            vlog_error("NIC name '%s' is longer than %d characters", nic, IFNAMSIZ - 1);
            return 2;
        }
        snprintf(sw.nic, sizeof(sw.nic), "%s", nic);
    }
    if (vswitch_create(&sw, err, sizeof(err))) {
        vlog_error("%s", err);
        return 1;
    }
    return 0;
}

static int switch_list(int argc, char **argv)
{
    int json = argc > 1 && !strcmp(argv[1], "--json");
    if (argc > 1 + json) {
        vlog_error("usage: viridian switch list [--json]");
        return 2;
    }
    struct vswitch *v;
    size_t n;
    char err[512];
    if (vswitch_list(&v, &n, err, sizeof(err))) {
        vlog_error("%s", err);
        return 1;
    }
    struct json_object *arr = json_object_new_array();
    if (!json && n)
        printf("%-12s %-8s %-15s %-15s %s\n", "NAME", "TYPE", "BRIDGE", "NIC", "STATE");
    for (size_t i = 0; i < n; i++) {
        char br[IFNAMSIZ];
        vswitch_bridge_name(&v[i], br);
        const char *state = rtnl_ifindex(br) ? "present" : "missing";
        if (json) {
            struct json_object *o = json_object_new_object();
            json_object_object_add(o, "name", json_object_new_string(v[i].name));
            json_object_object_add(o, "type", json_object_new_string(vswitch_type_name(v[i].type)));
            json_object_object_add(o, "bridge", json_object_new_string(br));
            json_object_object_add(o, "nic", v[i].nic[0] ? json_object_new_string(v[i].nic) : NULL);
            json_object_object_add(o, "state", json_object_new_string(state));
            json_object_array_add(arr, o);
        } else {
            printf("%-12s %-8s %-15s %-15s %s\n", v[i].name, vswitch_type_name(v[i].type), br,
                   v[i].nic[0] ? v[i].nic : "-", state);
        }
    }
    if (json)
        printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
    json_object_put(arr);
    free(v);
    return 0;
}

int cli_switch(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(switch_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    char err[512];
    if (!strcmp(cmd, "create"))
        return switch_create(argc - 1, argv + 1);
    if (!strcmp(cmd, "list"))
        return switch_list(argc - 1, argv + 1);
    if (!strcmp(cmd, "delete") || !strcmp(cmd, "restore")) {
        int del = !strcmp(cmd, "delete");
        if (argc != 2 + del) {
            vlog_error("usage: viridian switch %s", del ? "delete NAME" : "restore");
            return 2;
        }
        int ret = del ? vswitch_delete(argv[2], err, sizeof(err)) : vswitch_restore_all(err, sizeof(err));
        if (ret) {
            vlog_error("%s", err);
            return 1;
        }
        return 0;
    }
    vlog_error("unknown switch command '%s' (try `viridian switch --help`)", cmd);
    return 2;
}
