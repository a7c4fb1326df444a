/* Turning an asynchronous IC request into a blocking call with a timeout (for the control
 * socket thread): init a waiter, submit with ic_waiter_done/&waiter, then wait. */
#ifndef VIRIDIAN_VSP_IC_WAIT_H
#define VIRIDIAN_VSP_IC_WAIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vsp/ic.h"

struct ic_waiter {
    pthread_mutex_t m;
    pthread_cond_t cv;
    bool done;
    int err;
    uint32_t status;
    struct ic_kvp_result *kvp_out;
};

void ic_waiter_init(struct ic_waiter *w, struct ic_kvp_result *kvp_out);
void ic_waiter_done(void *arg, const struct ic_result *res);
/* id = what the submit returned (a negative errno is passed through). Waits up to
 * timeout_ms; on timeout cancels the request (-ETIMEDOUT). Returns the result's err (0 =
 * answered, *status set). Destroys the waiter. */
int ic_waiter_wait(struct ic *ic, struct ic_waiter *w, int64_t id, int timeout_ms,
                   uint32_t *status);

#endif
