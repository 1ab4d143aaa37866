/*
 * threadpool.h — the runtime's one pool of worker threads. A task is run
 * by every thread at once as fn(arg, ith, nth); the caller is thread 0.
 * Workers spin briefly then sleep on a condition variable between tasks.
 */
#ifndef NK_THREADPOOL_H
#define NK_THREADPOOL_H

#include "nnkit.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct nk_pool nk_pool;
typedef void (*nk_task_fn)(void *arg, int ith, int nth);

nk_status nk_pool_new(nk_ctx *ctx, int nthreads, nk_pool **out);
void nk_pool_free(nk_pool *p);
int nk_pool_size(const nk_pool *p);
/* Run fn on all threads and wait for all of them. Not reentrant. */
void nk_pool_run(nk_pool *p, nk_task_fn fn, void *arg);

/*
 * Work stealing over one task's items. Each thread walks its own share
 * [b, e) from the front; a thread whose share is done takes items from
 * the back of the share with the most left, so a thread that runs slow
 * (a busier core, a share that weighed wrong) is helped instead of waited
 * for. A share is one word per thread (the pool's, nk_pool_steal), claimed
 * by compare-and-swap. Every thread must drain its items (nk_items_next
 * until false) before the task returns: the words are then empty for the
 * next task, which is what lets a thief tell a share of this task from a
 * stale one. With no words (NULL: a kernel run outside a pool) or shares
 * beyond 32-bit indices, each thread walks its share alone.
 */
typedef struct nk_steal nk_steal;
typedef struct nk_items {
    nk_steal *s;      /* NULL: private walk over [next, end) */
    int ith, nth;
    int64_t next, end;
} nk_items;

/* Thread ith's share [*b, *e) of items [0, n) on nth threads, item i
 * weighing weight(arg, i) (the total must be > 0): each thread takes the
 * contiguous items whose middles fall in its nth of the total weight, so
 * shares are contiguous, in order, and as even as whole items allow; a
 * thread with none gets *b == *e. Kernels compute their shares with it
 * once at plan time (and again for a run on another thread count). */
void nk_share_weighed(int64_t n, int64_t (*weight)(const void *arg,
                                                   int64_t i),
                      const void *arg, int ith, int nth, int64_t *b,
                      int64_t *e);

/* The pool's words, one per thread (NULL for no pool). */
nk_steal *nk_pool_steal(nk_pool *p);
/* Items taken from other threads' shares since the pool was made. */
uint64_t nk_pool_steals(const nk_pool *p);
void nk_items_begin(nk_items *it, nk_steal *s, int ith, int nth, int64_t b,
                    int64_t e);
/* The next item; *stolen (if stolen is not NULL): taken from another
 * thread's share. */
bool nk_items_next(nk_items *it, int64_t *item, bool *stolen);
/* Whether items can move between threads (else the walk is private and
 * a kernel may run its share [b, e) in one go). */
static inline bool nk_items_shared(const nk_items *it) { return it->s; }
/* For tests: thread ith (-1: none) sleeps usec after taking each item of
 * its own shared share, so that the others take items from it whatever
 * the machine's load. Set between tasks, not during one. */
void nk_items_set_lag(int ith, unsigned usec);

#endif /* NK_THREADPOOL_H */
