/*
 * kernel.h — kernels and the kernel table. A node is executed by exactly
 * one kernel, chosen when a plan is made: the highest-priority row of
 * NK_KERNELS (engine/kernels/table.c) whose op and dtype match, whose ISA
 * the CPU has, and whose supports() accepts the node. Every op has a
 * reference kernel (isa NK_ISA_REF) that stays as the oracle; setting
 * NNKIT_REFERENCE=1 (or nk_plan_opts.reference) selects only those.
 */
#ifndef NK_KERNEL_H
#define NK_KERNEL_H

#include "engine/ir.h"
#include "engine/threadpool.h"

typedef enum nk_isa {
    NK_ISA_REF = 0,  /* plain C, the oracle */
    NK_ISA_GENERIC,  /* portable C, cache-blocked / optimised */
    NK_ISA_AVX2,     /* AVX2 + FMA */
    NK_ISA_AVX512,
    NK_ISA_NEON,
    NK_ISA_COUNT
} nk_isa;

typedef struct nk_kernel nk_kernel;

/* One node as the plan executes it. Tensors are the plan's views: concrete
 * shapes, data pointing into the arena or at the graph's initializers. */
typedef struct nk_step {
    const nk_node *node;
    const nk_kernel *kernel;
    int n_in, n_out;
    nk_tensor **in;      /* NULL entries for omitted optional inputs */
    nk_tensor **out;
    void *params;        /* kernel-owned, made by prepare, freed by release */
    void *work;          /* scratch: work_bytes, shared between steps */
    size_t work_bytes;   /* set by prepare; the plan sizes the scratch */
    bool training;
    int nth;             /* threads the plan runs steps with (>= 1) */
    nk_steal *steal;     /* the pool's share words (nk_items_begin), or
                            NULL: each thread keeps to its own share */
    const nk_cpu *cpu;
    /* Epilogue: the node's fused activation, or, when the planner fused a
     * following residual Add into this step (kernels with .residual only),
     * the Add's activation; residual is then the Add's other input and
     * out[0] the Add's output. */
    nk_act act;
    float act_a0, act_a1;
    nk_tensor *residual;
    bool fused_away;     /* an Add folded into the previous step, or a
                            step of a chain: skip */
    /* A fused depthwise chain (engine/kernels/blocked.h) that this step
     * heads: it runs instead of the kernel; out[0] and residual are then
     * the chain's. Owned by the plan. */
    struct nk_dwchain *chain;
} nk_step;

/* A kernel row's dtype when the kernel handles every dtype (data
 * movement: it copies elements of nk_dtype_size bytes). */
#define NK_DTYPE_ANY NK_DTYPE_COUNT

struct nk_kernel {
    const char *name;    /* "conv2d_nchw_ref" */
    nk_op op;
    nk_dtype dtype;      /* dtype of the first input, or NK_DTYPE_ANY */
    nk_isa isa;
    int priority;        /* higher wins */
    /* NULL = supports every node of op/dtype */
    bool (*supports)(const nk_step *st);
    /* Plan-time: parse attributes, pack weights, set work_bytes. May be
     * NULL. Allocates only here. */
    nk_status (*prepare)(nk_ctx *ctx, nk_step *st);
    void (*release)(nk_step *st);
    /* Run-time: thread ith of nth does its share. Must not allocate. */
    void (*run)(const nk_step *st, int ith, int nth);
    /* Applies st->residual (y = act(conv(x) + residual)) in its epilogue. */
    bool residual;
    /* Layout of its 4-D f32 activations (engine/kernels/blocked.h):
     * NK_LAYOUT_DEFAULT (NCHW) or NK_LAYOUT_NCHW8C. any_in_layout: reads
     * in[0] in either layout (it looks at st->in[0]->layout). */
    nk_layout layout;
    bool any_in_layout;
};

extern const nk_kernel NK_KERNELS[];
extern const int NK_KERNEL_COUNT;

/* The kernel for a step among the NCHW rows (NULL if none). reference =
 * only NK_ISA_REF. */
const nk_kernel *nk_kernel_select(const nk_step *st, const nk_cpu *cpu,
                                  bool reference);
/* The same among rows whose .layout is layout (-1: any) or, when any_in,
 * rows that read in[0] in any layout. */
const nk_kernel *nk_kernel_select_layout(const nk_step *st,
                                         const nk_cpu *cpu, bool reference,
                                         int layout, bool any_in);

/* Split [0, total) into nth nearly equal parts; part ith is [*b, *e). */
static inline void nk_split(int64_t total, int ith, int nth, int64_t *b,
                            int64_t *e)
{
    int64_t q = total / nth, r = total % nth;
    *b = ith * q + (ith < r ? ith : r);
    *e = *b + q + (ith < r ? 1 : 0);
}

#endif /* NK_KERNEL_H */
