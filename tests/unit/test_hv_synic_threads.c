/* SynIC message delivery with a host thread posting while the "vCPU" thread consumes
 * slots and writes EOM, as a real guest would: nothing lost, nothing reordered. */
#include <pthread.h>
#include <string.h>

#include "hv_fake.h"
#include "test.h"

#define N_MSGS 20000u

static void *poster(void *arg)
{
    struct fake_vm *vm = arg;
    for (uint32_t i = 0; i < N_MSGS;) {
        if (hv_synic_post_message(vm->hv, 0, 2, 1, &i, 4) == 0)
            i++;
    }
    return NULL;
}

TEST(hv_synic_concurrent_post_and_eom)
{
    struct fake_vm vm;
    fake_vm_init(&vm, 1, 1);
    pthread_t t;
    pthread_create(&t, NULL, poster, &vm);
    uint8_t *slot = (uint8_t *)fake_gpa(&vm, fake_simp_gpa(0)) + 512;
    uint32_t *type = (uint32_t *)slot;
    uint32_t expect = 0, bad = 0;
    while (expect < N_MSGS) {
        uint32_t ty = __atomic_load_n(type, __ATOMIC_ACQUIRE);
        if (!ty)
            continue;
        uint32_t v;
        memcpy(&v, slot + 16, 4);
        bad += v != expect;
        expect++;
        /* Linux: cmpxchg(message_type, old, NONE), then EOM if msg_pending. */
        __atomic_compare_exchange_n(type, &ty, 0, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(slot + 5, __ATOMIC_SEQ_CST) & 1)
            hv_msr_write(vm.hv, 0, HV_MSR_EOM, 0);
    }
    pthread_join(t, NULL);
    CHECK_EQ(bad, 0);
    CHECK_EQ(expect, N_MSGS);
    CHECK_EQ(hv_synic_queued(vm.hv, 0, 2), 0);
    fake_vm_free(&vm);
}
