/*
 * threadpool.c — the runtime's worker pool. One task at a time runs on all
 * threads; workers spin for a short while after a task (kernels come in
 * quick succession while a plan runs) and then sleep on a condition
 * variable.
 */
#include "engine/threadpool.h"
#include "engine/ctx.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* A thread's share of the current task's items, [b, e) as b << 32 | e,
 * alone in its cache line with the count of items the thread took from
 * others (written by that thread only). */
struct nk_steal {
    _Alignas(64) uint64_t word;
    uint64_t taken;
};

struct nk_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    nk_task_fn fn;
    void *arg;
    unsigned long gen;      /* bumped for every task (atomic) */
    int remaining;          /* workers still busy with the task (atomic) */
    int sleepers;           /* workers waiting on wake (atomic) */
    int caller_sleeps;      /* the caller waits on done (atomic) */
    int stop;
    nk_steal *steal;        /* n words (nk_items_begin) */
};

typedef struct worker_arg {
    nk_pool *p;
    int ith;
} worker_arg;

/* Spin about 50 us (a pause is ~28 ns here), yielding the core every
 * 256 pauses: when the machine is oversubscribed, the thread being waited
 * for may need this very core. */
#define NK_SPIN_ITERS 2048

static void cpu_relax(int i)
{
    __asm__ volatile("" ::: "memory");
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if ((i & 255) == 255)
        sched_yield();
}

/*
 * Hand-offs spin on atomics and fall back to the mutex and condition
 * variables only when the other side sleeps. Each side publishes "I sleep"
 * before re-checking the condition it waits for, and the other side
 * changes that condition before checking "sleeps" (both sequentially
 * consistent), so one of the two always sees the other: no lost wake-up.
 */
static void *worker(void *a)
{
    worker_arg wa = *(worker_arg *)a;
    free(a);
    nk_pool *p = wa.p;
    unsigned long seen = 0;
    for (;;) {
        /* Spin first: the next task usually follows within microseconds. */
        for (int i = 0; i < NK_SPIN_ITERS; i++) {
            if (__atomic_load_n(&p->gen, __ATOMIC_SEQ_CST) != seen ||
                __atomic_load_n(&p->stop, __ATOMIC_ACQUIRE))
                break;
            cpu_relax(i);
        }
        if (__atomic_load_n(&p->gen, __ATOMIC_SEQ_CST) == seen &&
            !__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
            pthread_mutex_lock(&p->mu);
            __atomic_add_fetch(&p->sleepers, 1, __ATOMIC_SEQ_CST);
            while (__atomic_load_n(&p->gen, __ATOMIC_SEQ_CST) == seen &&
                   !p->stop)
                pthread_cond_wait(&p->wake, &p->mu);
            __atomic_sub_fetch(&p->sleepers, 1, __ATOMIC_SEQ_CST);
            pthread_mutex_unlock(&p->mu);
        }
        if (__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE))
            return NULL;
        seen = __atomic_load_n(&p->gen, __ATOMIC_SEQ_CST);
        nk_task_fn fn = p->fn;
        void *arg = p->arg;

        fn(arg, wa.ith, p->n);

        if (__atomic_sub_fetch(&p->remaining, 1, __ATOMIC_SEQ_CST) == 0 &&
            __atomic_load_n(&p->caller_sleeps, __ATOMIC_SEQ_CST)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

nk_status nk_pool_new(nk_ctx *ctx, int nthreads, nk_pool **out)
{
    if (nthreads < 1)
        nthreads = 1;
    nk_pool *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "out of memory creating threads");
    p->n = nthreads;
    p->steal = nk_malloc_aligned((size_t)nthreads * sizeof(nk_steal), 64);
    if (!p->steal) {
        nk_free(p);
        return nk_fail(ctx, NK_NOMEM, "out of memory creating threads");
    }
    for (int i = 0; i < nthreads; i++)
        p->steal[i].word = p->steal[i].taken = 0;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (nthreads > 1) {
        p->threads = nk_calloc((size_t)nthreads, sizeof(pthread_t));
        if (!p->threads) {
            nk_pool_free(p);
            return nk_fail(ctx, NK_NOMEM, "out of memory creating threads");
        }
        for (int i = 1; i < nthreads; i++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (wa) {
                wa->p = p;
                wa->ith = i;
            }
            if (!wa || pthread_create(&p->threads[i], NULL, worker, wa) != 0) {
                free(wa);
                p->n = i; /* only the started ones are joined */
                nk_pool_free(p);
                return nk_fail(ctx, NK_NOMEM,
                               "cannot start worker thread %d of %d", i,
                               nthreads);
            }
        }
    }
    *out = p;
    return NK_OK;
}

void nk_pool_free(nk_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    __atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    if (p->threads)
        for (int i = 1; i < p->n; i++)
            pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    nk_free(p->threads);
    nk_free_aligned(p->steal);
    nk_free(p);
}

int nk_pool_size(const nk_pool *p) { return p ? p->n : 1; }

void nk_pool_run(nk_pool *p, nk_task_fn fn, void *arg)
{
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    /* Workers read fn/arg after seeing the new gen (release/acquire via
     * the sequentially consistent increment). */
    p->fn = fn;
    p->arg = arg;
    __atomic_store_n(&p->remaining, p->n - 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&p->gen, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&p->sleepers, __ATOMIC_SEQ_CST)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }

    fn(arg, 0, p->n);

    for (int i = 0; i < NK_SPIN_ITERS; i++) {
        if (__atomic_load_n(&p->remaining, __ATOMIC_SEQ_CST) == 0)
            return;
        cpu_relax(i);
    }
    pthread_mutex_lock(&p->mu);
    __atomic_store_n(&p->caller_sleeps, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&p->remaining, __ATOMIC_SEQ_CST) > 0)
        pthread_cond_wait(&p->done, &p->mu);
    __atomic_store_n(&p->caller_sleeps, 0, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&p->mu);
}

nk_steal *nk_pool_steal(nk_pool *p) { return p ? p->steal : NULL; }

static int g_lag_ith = -1; /* nk_items_set_lag (atomic) */
static unsigned g_lag_us;

void nk_items_set_lag(int ith, unsigned usec)
{
    __atomic_store_n(&g_lag_us, usec, __ATOMIC_RELAXED);
    __atomic_store_n(&g_lag_ith, ith, __ATOMIC_SEQ_CST);
}

static void lag(int ith)
{
    if (__atomic_load_n(&g_lag_ith, __ATOMIC_RELAXED) != ith)
        return;
    unsigned us = __atomic_load_n(&g_lag_us, __ATOMIC_RELAXED);
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

uint64_t nk_pool_steals(const nk_pool *p)
{
    uint64_t n = 0;
    for (int i = 0; p && i < p->n; i++)
        n += __atomic_load_n(&p->steal[i].taken, __ATOMIC_RELAXED);
    return n;
}

static uint64_t share_word(int64_t b, int64_t e)
{
    return (uint64_t)b << 32 | (uint64_t)e;
}

void nk_share_weighed(int64_t n, int64_t (*weight)(const void *arg,
                                                   int64_t i),
                      const void *arg, int ith, int nth, int64_t *b,
                      int64_t *e)
{
    int64_t total = 0, cum = 0;
    *b = *e = 0;
    for (int64_t i = 0; i < n; i++)
        total += weight(arg, i);
    for (int64_t i = 0; i < n; i++) {
        int64_t w = weight(arg, i);
        int64_t who = (2 * cum + w) * nth / (2 * total);
        if (who == ith) {
            if (*e == *b)
                *b = i;
            *e = i + 1;
        } else if (who > ith) {
            return;
        }
        cum += w;
    }
}

void nk_items_begin(nk_items *it, nk_steal *s, int ith, int nth, int64_t b,
                    int64_t e)
{
    it->s = nth > 1 && b >= 0 && e <= (int64_t)UINT32_MAX ? s : NULL;
    it->ith = ith;
    it->nth = nth;
    it->next = b;
    it->end = e;
    if (it->s)
        __atomic_store_n(&s[ith].word, share_word(b, b < e ? e : b),
                         __ATOMIC_RELEASE);
}

bool nk_items_next(nk_items *it, int64_t *item, bool *stolen)
{
    bool dummy;
    if (!stolen)
        stolen = &dummy;
    *stolen = false;
    if (!it->s) {
        if (it->next >= it->end)
            return false;
        *item = it->next++;
        return true;
    }
    /* Own share, from the front. */
    uint64_t *own = &it->s[it->ith].word;
    uint64_t w = __atomic_load_n(own, __ATOMIC_ACQUIRE);
    for (;;) {
        uint64_t b = w >> 32, e = w & UINT32_MAX;
        if (b >= e)
            break;
        if (__atomic_compare_exchange_n(own, &w, share_word((int64_t)b + 1,
                                                            (int64_t)e),
                                        false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            *item = (int64_t)b;
            lag(it->ith);
            return true;
        }
    }
    /* Then the last item of the fullest other share. Shares only shrink
     * within a task, so this ends. */
    for (;;) {
        int victim = -1;
        uint64_t most = 0, vw = 0;
        for (int t = 0; t < it->nth; t++) {
            if (t == it->ith)
                continue;
            uint64_t x = __atomic_load_n(&it->s[t].word, __ATOMIC_ACQUIRE);
            uint64_t left = (x >> 32) < (x & UINT32_MAX)
                                ? (x & UINT32_MAX) - (x >> 32)
                                : 0;
            if (left > most) {
                most = left;
                victim = t;
                vw = x;
            }
        }
        if (victim < 0)
            return false;
        uint64_t b = vw >> 32, e = vw & UINT32_MAX;
        if (__atomic_compare_exchange_n(&it->s[victim].word, &vw,
                                        share_word((int64_t)b,
                                                   (int64_t)e - 1),
                                        false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            *item = (int64_t)e - 1;
            *stolen = true;
            __atomic_store_n(&it->s[it->ith].taken,
                             it->s[it->ith].taken + 1, __ATOMIC_RELAXED);
            return true;
        }
    }
}
