/* The `viridian` subcommands, one file each in src/cli/, listed in main.c's table. */
#ifndef VIRIDIAN_CLI_COMMANDS_H
#define VIRIDIAN_CLI_COMMANDS_H

int cli_run(int argc, char **argv);
int cli_host_check(int argc, char **argv);
int cli_vm(int argc, char **argv);
int cli_disk(int argc, char **argv);
int cli_switch(int argc, char **argv);

#endif
