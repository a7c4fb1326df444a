/* viridian host-check: can this host's KVM boot an unmodified guest? Exit 0 if so,
 * 3 (as viridian run would) if not, with the reason. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/run_options.h"
#include "core/kvm_host.h"
#include "core/log.h"

int cli_host_check(int argc, char **argv)
{
    char msg[512];
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        puts("usage: viridian host-check\n\nExit 0 if this host's KVM can boot an unmodified "
             "guest kernel, 3 if not (with the reason).");
        return 0;
    }
    if (kvm_host_check(NULL, msg, sizeof(msg)) != KVM_HOST_OK) {
        vlog_error("%s", msg);
        return RUN_EXIT_HOST;
    }
    puts("ok: /dev/kvm runs unmodified guest kernels");
    return 0;
}
