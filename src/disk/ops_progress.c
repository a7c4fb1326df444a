#include "disk/progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void progress_init(struct progress *p, const char *label)
{
    p->label = label;
    p->enabled = isatty(STDERR_FILENO);
    p->last_permille = -1;
    p->last_ms = 0;
}

void progress_update(struct progress *p, uint64_t done, uint64_t total)
{
    if (!p || !p->enabled || !total)
        return;
    int permille = (int)(done >= total ? 1000 : done * 1000 / total);
    uint64_t t = now_ms();
    if (permille == p->last_permille || (permille < 1000 && t - p->last_ms < 100))
        return;
    p->last_permille = permille;
    p->last_ms = t;
    char bar[41];
    int fill = permille * 40 / 1000;
    for (int i = 0; i < 40; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[40] = 0;
    fprintf(stderr, "\r%-8s [%s] %3d.%d%%", p->label, bar, permille / 10, permille % 10);
    fflush(stderr);
}

void progress_done(struct progress *p)
{
    if (p && p->enabled && p->last_permille >= 0)
        fputc('\n', stderr);
}
