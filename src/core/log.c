#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static void vlog_emit(const char *prefix, const char *fmt, va_list ap)
{
    char line[1024];
    vsnprintf(line, sizeof(line), fmt, ap);
    fprintf(stderr, "viridian: %s%s\n", prefix, line);
}

void vlog_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog_emit("", fmt, ap);
    va_end(ap);
}

void vlog_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog_emit("warning: ", fmt, ap);
    va_end(ap);
}

void vlog_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog_emit("", fmt, ap);
    va_end(ap);
}

int vlog_debug_enabled(void)
{
    static int enabled = -1;
    if (enabled < 0)
        enabled = getenv("VIRIDIAN_DEBUG") != NULL;
    return enabled;
}

void vlog_debug(const char *fmt, ...)
{
    va_list ap;
    if (!vlog_debug_enabled())
        return;
    va_start(ap, fmt);
    vlog_emit("debug: ", fmt, ap);
    va_end(ap);
}
