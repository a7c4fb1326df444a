#include "cli/run_options.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "core/console.h"
#include "core/control.h"
#include "core/size.h"
#include "core/vm_net.h"
#include "core/vm_storage.h"
#include "net/switch.h"

const char run_usage[] =
    "usage: viridian run --kernel FILE [OPTIONS]\n"
    "\n"
    "Creates a partition and boots a Linux kernel in it.\n"
    "\n"
    "  --kernel FILE        bzImage (its payload is unpacked on the host) or ELF vmlinux\n"
    "  --initrd FILE        initial ramdisk\n"
    "  --cmdline TEXT       kernel command line\n"
    "  --memory SIZE        guest memory, e.g. 512M, 2G (default 512M; 16M to 1T)\n"
    "  --cpus N             virtual processors, one host thread each (default 1, max 256)\n"
    "  --console SPEC       stdio (default), file:PATH, socket:PATH or none\n"
    "  --on-reboot ACTION   restart (default, as Hyper-V does) or exit\n"
    "  --name NAME          the VM's name (default \"default\"); `viridian vm ... NAME`\n"
    "                       reaches it through its control socket\n"
    "  --control PATH       put the control socket at PATH instead\n"
    "  --disk PATH[,ro][,controller=N][,lun=M]\n"
    "                       attach a raw, VHD or VHDX image to synthetic SCSI controller\n"
    "                       N (0-3, default 0) at LUN M (0-63, default: the first free);\n"
    "                       ro makes it read-only; repeat for more disks\n"
    "  --dvd PATH[,controller=N][,lun=M]\n"
    "                       a DVD drive holding the image PATH (an ISO), read-only\n"
    "  --nic switch=NAME[,mac=XX:XX:XX:XX:XX:XX][,vlan=N][,spoofing=allow]\n"
    "                       a synthetic NIC on virtual switch NAME (viridian switch);\n"
    "                       default MAC 00:15:5d:.. derived from the VM name and the\n"
    "                       NIC's index; vlan: access VLAN 1-4094; by default the guest\n"
    "                       may send only from its own MAC; repeat for more NICs (8)\n"
    "\n"
    "On a terminal the console is raw; Ctrl-A x stops the VM.\n"
    "\n"
    "Exit status: 0 the guest powered off; 1 viridian failed; 2 bad options or input;\n"
    "3 this host cannot run VMs (no usable KVM); 4 the guest rebooted (--on-reboot exit);\n"
    "5 triple fault; 6 KVM could not run the guest's code; 7 stopped from the host.\n";

enum { OPT_KERNEL = 1, OPT_INITRD, OPT_CMDLINE, OPT_MEMORY, OPT_CPUS, OPT_CONSOLE, OPT_ON_REBOOT,
       OPT_NAME, OPT_CONTROL, OPT_DISK, OPT_DVD, OPT_NIC, OPT_HELP };

static const struct option run_long_options[] = {
    { "kernel", required_argument, NULL, OPT_KERNEL },
    { "initrd", required_argument, NULL, OPT_INITRD },
    { "cmdline", required_argument, NULL, OPT_CMDLINE },
    { "memory", required_argument, NULL, OPT_MEMORY },
    { "cpus", required_argument, NULL, OPT_CPUS },
    { "console", required_argument, NULL, OPT_CONSOLE },
    { "on-reboot", required_argument, NULL, OPT_ON_REBOOT },
    { "name", required_argument, NULL, OPT_NAME },
    { "control", required_argument, NULL, OPT_CONTROL },
    { "disk", required_argument, NULL, OPT_DISK },
    { "dvd", required_argument, NULL, OPT_DVD },
    { "nic", required_argument, NULL, OPT_NIC },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 },
};

static int parse_index(const char *s, unsigned max, unsigned *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end || v < 0 || v > (long)max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

int run_parse_disk_spec(char *spec, bool dvd, struct vm_config *cfg, char *err, size_t errlen)
{
    const char *opt = dvd ? "--dvd" : "--disk";
    if (cfg->ndisks >= VM_MAX_DISKS) {
        snprintf(err, errlen, "%s: at most %d disks (%d controllers x %d LUNs)", opt, VM_MAX_DISKS,
                 VM_MAX_CONTROLLERS, VM_MAX_LUNS);
        return -1;
    }
    struct vm_disk *d = &cfg->disks[cfg->ndisks];
    bool lun_given = false;
    memset(d, 0, sizeof(*d));
    char *save = NULL, *tok = strtok_r(spec, ",", &save);
    if (!tok || !*tok || spec[0] == ',') {
        snprintf(err, errlen, "%s needs a path: PATH[,ro][,controller=N][,lun=M]", opt);
        return -1;
    }
    d->path = tok;
    d->dvd = dvd;
    d->ro = dvd;
    while ((tok = strtok_r(NULL, ",", &save))) {
        if (!strcmp(tok, "ro"))
            d->ro = true;
        else if (!strncmp(tok, "controller=", 11)) {
            if (parse_index(tok + 11, VM_MAX_CONTROLLERS - 1, &d->controller) < 0) {
                snprintf(err, errlen, "%s %s: controller must be 0 to %d", opt, d->path,
                         VM_MAX_CONTROLLERS - 1);
                return -1;
            }
        } else if (!strncmp(tok, "lun=", 4)) {
            if (parse_index(tok + 4, VM_MAX_LUNS - 1, &d->lun) < 0) {
                snprintf(err, errlen, "%s %s: lun must be 0 to %d", opt, d->path, VM_MAX_LUNS - 1);
                return -1;
            }
            lun_given = true;
        } else {
            snprintf(err, errlen, "%s %s: unknown setting '%s' (ro, controller=N, lun=M)", opt,
                     d->path, tok);
            return -1;
        }
    }
    int rc = vm_disk_place(cfg, d, lun_given);
    if (rc == VM_PLACE_FULL) {
        snprintf(err, errlen, "%s %s: controller %u has no free LUN", opt, d->path, d->controller);
        return -1;
    }
    if (rc == VM_PLACE_TAKEN) {
        snprintf(err, errlen, "%s %s: controller %u LUN %u is already taken", opt, d->path,
                 d->controller, d->lun);
        return -1;
    }
    cfg->ndisks++;
    return 0;
}

int run_parse_nic_spec(char *spec, struct vm_config *cfg, char *err, size_t errlen)
{
    if (cfg->nnics >= VM_MAX_NICS) {
        snprintf(err, errlen, "--nic: at most %d NICs", VM_MAX_NICS);
        return -1;
    }
    struct vm_nic *nic = &cfg->nics[cfg->nnics];
    memset(nic, 0, sizeof(*nic));
    nic->tap.fd = -1;
    char *save = NULL;
    for (char *tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strncmp(tok, "switch=", 7)) {
            char serr[128];
            if (vswitch_name_check(tok + 7, serr, sizeof(serr))) {
                snprintf(err, errlen, "--nic: %s", serr);
                return -1;
            }
            nic->switch_name = tok + 7;
        } else if (!strncmp(tok, "mac=", 4)) {
            if (vm_nic_parse_mac(tok + 4, nic->mac) < 0) {
                snprintf(err, errlen, "--nic: mac=%s is not a unicast MAC address "
                         "(XX:XX:XX:XX:XX:XX, first byte even, not all zero)", tok + 4);
                return -1;
            }
        } else if (!strncmp(tok, "vlan=", 5)) {
            unsigned v;
            if (parse_index(tok + 5, 4094, &v) < 0 || v == 0) {
                snprintf(err, errlen, "--nic: vlan=%s is not a VLAN ID from 1 to 4094", tok + 5);
                return -1;
            }
            nic->vlan = (uint16_t)v;
        } else if (!strcmp(tok, "spoofing=allow") || !strcmp(tok, "spoofing=deny")) {
            nic->allow_spoofing = !strcmp(tok + 9, "allow");
        } else {
            snprintf(err, errlen, "--nic: unknown setting '%s' (switch=NAME, mac=XX:XX:XX:XX:XX:XX, "
                     "vlan=N, spoofing=allow|deny)", tok);
            return -1;
        }
    }
    if (!nic->switch_name) {
        snprintf(err, errlen, "--nic needs switch=NAME (see viridian switch list)");
        return -1;
    }
    cfg->nnics++;
    return 0;
}

/* NICs without mac= get the VM's stable default (needs the final --name); no two NICs
 * may share a MAC. */
static int finish_nics(struct vm_config *cfg, char *err, size_t errlen)
{
    static const uint8_t unset[6];
    for (unsigned i = 0; i < cfg->nnics; i++) {
        if (!memcmp(cfg->nics[i].mac, unset, 6))
            vm_nic_default_mac(cfg->name, i, cfg->nics[i].mac);
        for (unsigned j = 0; j < i; j++)
            if (!memcmp(cfg->nics[i].mac, cfg->nics[j].mac, 6)) {
                char m[18];
                vm_nic_format_mac(cfg->nics[i].mac, m);
                snprintf(err, errlen, "--nic: NICs %u and %u would both have MAC %s", j, i, m);
                return -1;
            }
    }
    return 0;
}

int run_options_parse(int argc, char **argv, struct vm_config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->memory = 512ull << 20;
    cfg->cpus = 1;
    cfg->console = "stdio";
    cfg->cmdline = "console=ttyS0";
    cfg->name = "default";
    optind = 1;
    opterr = 0;

    for (;;) {
        int opt = getopt_long(argc, argv, "h", run_long_options, NULL);
        if (opt == -1)
            break;
        switch (opt) {
        case OPT_KERNEL: cfg->kernel = optarg; break;
        case OPT_INITRD: cfg->initrd = optarg; break;
        case OPT_CMDLINE: cfg->cmdline = optarg; break;
        case OPT_MEMORY:
            if (size_parse(optarg, &cfg->memory) < 0) {
                snprintf(err, errlen, "--memory: '%s' is not a size (try 512M or 2G)", optarg);
                return -1;
            }
            if (cfg->memory < GUEST_MEM_MIN || cfg->memory > GUEST_MEM_MAX) {
                snprintf(err, errlen, "--memory %s is out of range: give 16M to 1T", optarg);
                return -1;
            }
            if (cfg->memory & 0xfffff) {
                snprintf(err, errlen, "--memory %s is not a whole number of MiB", optarg);
                return -1;
            }
            break;
        case OPT_CPUS: {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end || n < 1 || n > RUN_MAX_CPUS) {
                snprintf(err, errlen, "--cpus: '%s' is not a number of processors from 1 to %d",
                         optarg, RUN_MAX_CPUS);
                return -1;
            }
            cfg->cpus = (int)n;
            break;
        }
        case OPT_CONSOLE:
            if (!console_spec_valid(optarg)) {
                snprintf(err, errlen, "--console: '%s' is not stdio, file:PATH, socket:PATH or none", optarg);
                return -1;
            }
            cfg->console = optarg;
            break;
        case OPT_ON_REBOOT:
            if (!strcmp(optarg, "restart"))
                cfg->on_reboot = REBOOT_RESTART;
            else if (!strcmp(optarg, "exit"))
                cfg->on_reboot = REBOOT_EXIT;
            else {
                snprintf(err, errlen, "--on-reboot: '%s' is neither restart nor exit", optarg);
                return -1;
            }
            break;
        case OPT_NAME: {
            char path[256];
            if (control_socket_path(optarg, path, sizeof(path)) < 0) {
                snprintf(err, errlen, "--name: '%s' is not a usable VM name (letters, digits, "
                         "'-', '_' and '.', at most 63)", optarg);
                return -1;
            }
            cfg->name = optarg;
            break;
        }
        case OPT_CONTROL: cfg->control = optarg; break;
        case OPT_DISK:
        case OPT_DVD:
            if (run_parse_disk_spec(optarg, opt == OPT_DVD, cfg, err, errlen) < 0)
                return -1;
            break;
        case OPT_NIC:
            if (run_parse_nic_spec(optarg, cfg, err, errlen) < 0)
                return -1;
            break;
        case OPT_HELP:
        case 'h':
            return 1;
        default:
            if (optopt >= OPT_KERNEL && optopt <= OPT_HELP)
                snprintf(err, errlen, "option --%s needs a value", run_long_options[optopt - 1].name);
            else
                snprintf(err, errlen, "unknown option '%s' (see viridian run --help)", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s' (see viridian run --help)", argv[optind]);
        return -1;
    }
    if (!cfg->kernel) {
        snprintf(err, errlen, "no kernel given: use --kernel FILE");
        return -1;
    }
    return finish_nics(cfg, err, errlen);
}
