/* A progress bar on stderr for long disk operations, shown only when stderr is a
 * terminal and redrawn at most ten times a second. */
#ifndef VIRIDIAN_DISK_PROGRESS_H
#define VIRIDIAN_DISK_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
    const char *label;
    bool enabled;
    int last_permille;
    uint64_t last_ms;
};

void progress_init(struct progress *p, const char *label);
/* Safe to call with p == NULL. */
void progress_update(struct progress *p, uint64_t done, uint64_t total);
void progress_done(struct progress *p);

#endif
