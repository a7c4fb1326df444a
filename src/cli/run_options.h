/* `viridian run` options and exit statuses. */
#ifndef VIRIDIAN_CLI_RUN_OPTIONS_H
#define VIRIDIAN_CLI_RUN_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/vm_config.h"
#include "hv/hv.h"

/* Exit statuses of `viridian run` (also in README.md and `viridian run --help`). */
enum run_exit {
    RUN_EXIT_POWEROFF = 0,      /* the guest powered off */
    RUN_EXIT_FAILURE = 1,       /* viridian failed while running the VM */
    RUN_EXIT_USAGE = 2,         /* bad options or input files */
    RUN_EXIT_HOST = 3,          /* this host cannot run the VM (no usable KVM) */
    RUN_EXIT_REBOOT = 4,        /* the guest rebooted and --on-reboot exit was given */
    RUN_EXIT_TRIPLE_FAULT = 5,  /* the guest crashed its CPU (triple fault) */
    RUN_EXIT_GUEST_ERROR = 6,   /* KVM could not run the guest's code */
    RUN_EXIT_STOPPED = 7,       /* stopped from the host (signal, Ctrl-A x) */
};

/* The Hyper-V interface keeps per-VP SynIC state for at most this many. */
#define RUN_MAX_CPUS HV_MAX_VCPUS

extern const char run_usage[];

/* One --disk/--dvd spec, PATH[,ro][,controller=N][,lun=M], appended to cfg's disks
 * (cut in place at the commas; the slot's path points into it). 0 or -1 with a
 * message. Also parses `viridian vm disk-add`'s spec. */
int run_parse_disk_spec(char *spec, bool dvd, struct vm_config *cfg, char *err, size_t errlen);

/* One --nic spec, switch=NAME[,mac=..][,vlan=N][,spoofing=allow|deny], appended to
 * cfg's NICs (cut in place; switch_name points into it). Without mac= the MAC stays
 * zero until run_options_parse gives it vm_nic_default_mac(name, index). 0 or -1 with
 * a message. */
int run_parse_nic_spec(char *spec, struct vm_config *cfg, char *err, size_t errlen);

/* Fills cfg from argv. Returns 0, 1 when help was asked for, or -1 with a message. */
int run_options_parse(int argc, char **argv, struct vm_config *cfg, char *err, size_t errlen);

#endif
