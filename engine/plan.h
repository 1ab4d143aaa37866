/*
 * plan.h — a graph made ready to run: concrete shapes for one batch size,
 * one kernel per node, every activation at an offset in one arena chosen
 * by liveness, one shared scratch buffer. Running allocates nothing.
 */
#ifndef NK_PLAN_H
#define NK_PLAN_H

#include "engine/ir.h"
#include "engine/kernel.h"
#include "engine/threadpool.h"

struct nk_plan {
    nk_graph *g;
    int64_t batch;
    int threads;
    bool training;
    bool reference;
    nk_tensor *vals;      /* one view per graph tensor (concrete) */
    nk_tensor **val_ptrs; /* &vals[i], for step in/out arrays */
    nk_step *steps;
    int n_steps;
    uint8_t *arena;       /* activations */
    size_t arena_bytes;
    uint8_t *work;        /* scratch shared by all steps */
    size_t work_bytes;
    nk_pool *pool;
    nk_cpu cpu;
};

/* Infer concrete shapes of every value with symbolic dims bound to batch
 * into vals (used by plans and by constant folding). */
nk_status nk_plan_bind_shapes(nk_ctx *ctx, nk_graph *g, int64_t batch,
                              nk_tensor *vals);

/* Run a single step on the plan's pool (used by passes and tests). */
void nk_plan_run_step(nk_plan *p, nk_step *st);

#endif /* NK_PLAN_H */
