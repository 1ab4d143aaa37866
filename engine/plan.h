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
    nk_tensor *vals;      /* one view per graph tensor (concrete), then
                             the planner's layout copies */
    nk_tensor **val_ptrs; /* &vals[i], for step in/out arrays */
    int n_vals, cap_vals; /* n_vals >= g->n_tensors */
    int *alias;           /* per value: its copy in the other layout, -1 */
    nk_step *steps;
    int n_steps, cap_steps;
    nk_node *xnodes;      /* nodes of the planner's reorder steps */
    int n_xnodes;
    bool layouts;         /* may choose NCHW8c (not training/reference) */
    uint8_t *arena;       /* activations */
    size_t arena_bytes;
    uint8_t *work;        /* scratch shared by all steps */
    size_t work_bytes;
    nk_pool *pool;
    nk_cpu cpu;
    double *prof_ms;      /* per-step totals while profiling, else NULL */
};

/* Infer concrete shapes of every value with symbolic dims bound to batch
 * into vals (used by plans and by constant folding). */
nk_status nk_plan_bind_shapes(nk_ctx *ctx, nk_graph *g, int64_t batch,
                              nk_tensor *vals);

/*
 * nk_place_by_liveness — first-fit placement of n buffers in one arena.
 * Buffer i is written at position def[i] (-1 = before position 0; any
 * other value outside -1..n_pos-1 = not placed) and last read at position
 * last[i]; from position last[i] + 1 on its bytes are reused. Sizes are
 * rounded up to 64 bytes. offs[i] receives each placed buffer's offset
 * and *total the arena size. Shared by plans (activations) and gradients.
 */
nk_status nk_place_by_liveness(nk_ctx *ctx, int n, const int *def,
                               const int *last, const size_t *bytes,
                               int n_pos, size_t *offs, size_t *total);

/*
 * nk_plan_pick_kernel — choose the kernel of step *index from the layouts
 * its inputs have, give its inputs the layouts the kernel reads (inserting
 * reorder steps right after their producers, which moves the step: *index
 * is updated) and its outputs the kernel's layout; a graph output in
 * NCHW8c is written to a copy and reordered right after the step
 * (engine/plan-layout.c).
 */
nk_status nk_plan_pick_kernel(nk_ctx *ctx, nk_plan *p, int *index);

/* Index of the step that writes t, or -1 (graph input, initializer). */
int nk_plan_producer(const nk_plan *p, const nk_tensor *t);

/* Run a single step on the plan's pool (used by passes and tests). */
void nk_plan_run_step(nk_plan *p, nk_step *st);

#endif /* NK_PLAN_H */
