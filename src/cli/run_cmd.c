/* viridian run: create a partition and boot a kernel in it. */
#include "cli/commands.h"
#include "core/log.h"

int cli_run(int argc, char **argv)
{
    vlog_error("run: not built yet");
    return 2;
}
