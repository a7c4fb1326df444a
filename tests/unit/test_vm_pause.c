/* vm_pause/vm_resume: nested pauses, and a vCPU thread held at its pause point until
 * the last resume (or a stop). No KVM: a VM with no vCPUs and a stand-in thread. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "core/vm.h"
#include "test.h"

static _Atomic int passed;

static void *at_pause_point(void *arg)
{
    vm_pause_point(arg);
    atomic_store(&passed, 1);
    return NULL;
}

TEST(vm_pause_nests_and_holds_vcpus)
{
    static struct vm vm;
    memset(&vm, 0, sizeof(vm));
    pthread_mutex_init(&vm.pause_mu, NULL);
    pthread_cond_init(&vm.pause_cv, NULL);
    vm.wake_fd = -1;
    atomic_store(&vm.stop_reason, VM_RUNNING);
    vm_pause_point(&vm); /* not paused: returns at once */
    vm_pause(&vm);
    vm_pause(&vm);
    CHECK(atomic_load(&vm.paused));
    pthread_t t;
    atomic_store(&passed, 0);
    CHECK_EQ(pthread_create(&t, NULL, at_pause_point, &vm), 0);
    usleep(50000);
    CHECK_EQ(atomic_load(&passed), 0);
    vm_resume(&vm);
    usleep(50000);
    CHECK_EQ(atomic_load(&passed), 0); /* one pause left */
    CHECK(atomic_load(&vm.paused));
    vm_resume(&vm);
    pthread_join(t, NULL);
    CHECK_EQ(atomic_load(&passed), 1);
    CHECK(!atomic_load(&vm.paused));
    vm_resume(&vm); /* an extra resume does not underflow */
    vm_pause(&vm);
    CHECK(atomic_load(&vm.paused));
    vm_resume(&vm);
    CHECK(!atomic_load(&vm.paused));
    pthread_mutex_destroy(&vm.pause_mu);
    pthread_cond_destroy(&vm.pause_cv);
}
