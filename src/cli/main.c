/* viridian: the command. `viridian COMMAND [ARGS]`; see `viridian help`. */
#include "cli/commands.h"

#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    { "run", cli_run, "create a partition and boot a kernel in it" },
    { "vm", cli_vm, "control a running VM: status, shutdown, key-value data" },
    { "host-check", cli_host_check, "tell whether this host's KVM can run unmodified guests" },
    { "disk", cli_disk, "create, inspect, check and convert VHDX, VHD and raw images" },
    { "switch", cli_switch, "create, list and delete virtual switches (host bridges)" },
};

static void usage(FILE *out)
{
    fprintf(out, "usage: viridian COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`viridian COMMAND --help` describes each command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "viridian: unknown command '%s' (try `viridian help`)\n", argv[1]);
    return 2;
}
