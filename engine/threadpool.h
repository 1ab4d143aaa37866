/*
 * threadpool.h — the runtime's one pool of worker threads. A task is run
 * by every thread at once as fn(arg, ith, nth); the caller is thread 0.
 * Workers spin briefly then sleep on a condition variable between tasks.
 */
#ifndef NK_THREADPOOL_H
#define NK_THREADPOOL_H

#include "nnkit.h"

typedef struct nk_pool nk_pool;
typedef void (*nk_task_fn)(void *arg, int ith, int nth);

nk_status nk_pool_new(nk_ctx *ctx, int nthreads, nk_pool **out);
void nk_pool_free(nk_pool *p);
int nk_pool_size(const nk_pool *p);
/* Run fn on all threads and wait for all of them. Not reentrant. */
void nk_pool_run(nk_pool *p, nk_task_fn fn, void *arg);

#endif /* NK_THREADPOOL_H */
