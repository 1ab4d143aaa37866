/*
 * kernel-threads.h — how the kernel tests run a prepared step on nth
 * threads: one thread after another (each keeps to its own share of the
 * work), or, every other call, all at once on a pool with the pool's share
 * words, as a plan runs its steps (engine/threadpool.h: a thread done
 * early takes items from the back of another's share), with one thread
 * slowed in turn (nk_items_set_lag) so that shares are taken on any
 * machine; a test checks krun_steals() > 0 to know the taking was
 * exercised. Header-only, static: one pool per test program.
 */
#ifndef NK_TEST_KERNEL_THREADS_H
#define NK_TEST_KERNEL_THREADS_H

#include "engine/kernel.h"
#include "engine/threadpool.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#define KRUN_POOL_THREADS 4

static nk_pool *g_krun_pool;
static unsigned g_krun_calls;

static void krun_done(void)
{
    nk_pool_free(g_krun_pool);
    g_krun_pool = NULL;
}

typedef struct krun_arg {
    const nk_kernel *k;
    const nk_step *st;
    int nth;
} krun_arg;

static void krun_task(void *arg, int ith, int n)
{
    (void)n;
    const krun_arg *a = arg;
    if (ith < a->nth)
        a->k->run(a->st, ith, a->nth);
}

/* Run k on st with nth (<= KRUN_POOL_THREADS) threads; false if the pool
 * could not be made. */
static bool krun(nk_ctx *ctx, const nk_kernel *k, nk_step *st, int nth)
{
    if (nth > 1 && g_krun_calls++ % 2 == 1) {
        if (!g_krun_pool) {
            if (nk_pool_new(ctx, KRUN_POOL_THREADS, &g_krun_pool) != NK_OK)
                return false;
            atexit(krun_done);
        }
        krun_arg a = {k, st, nth};
        st->steal = nk_pool_steal(g_krun_pool);
        /* One thread slowed (0.1 ms an item), in turn: the others take
         * from its share however loaded the machine is. */
        nk_items_set_lag((int)(g_krun_calls / 2 % (unsigned)nth), 100);
        nk_pool_run(g_krun_pool, krun_task, &a);
        nk_items_set_lag(-1, 0);
        st->steal = NULL;
        return true;
    }
    for (int ith = 0; ith < nth; ith++)
        k->run(st, ith, nth);
    return true;
}

/* Items the pooled runs took from other threads' shares. */
static uint64_t krun_steals(void) { return nk_pool_steals(g_krun_pool); }

#endif /* NK_TEST_KERNEL_THREADS_H */
