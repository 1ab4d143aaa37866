/*
 * backward.h — backward kernels (internal to engine/backward/): one row
 * per op in NK_BACKWARD (table.c), each computing the gradients of a
 * node's inputs from the gradient of its first output and the values the
 * training forward kept alive.
 */
#ifndef NK_BACKWARD_H
#define NK_BACKWARD_H

#include "engine/kernel.h"
#include "engine/op.h"
#include "engine/threadpool.h"

/* One node's backward as autograd.c runs it. */
typedef struct nk_bstep {
    const nk_step *fwd;  /* the forward step: node, tensors with data */
    int n_in;
    float **dx;          /* [n_in] input gradients; NULL = not wanted */
    bool *acc;           /* [n_in] add into dx[i] instead of writing */
    float *dy;           /* gradient of output 0 (never NULL) */
    void *params;        /* made by prepare, freed by release */
    void *work;          /* scratch shared by all steps */
    size_t work_bytes;   /* set by prepare */
    int phases;          /* pool runs per backward (prepare sets; >= 1) */
    int slots;           /* threads the scratch was sized for */
} nk_bstep;

/* prepare may be NULL (phases = 1, no params); run is called once per
 * phase by every pool thread, phases in order with a barrier between. */
typedef struct nk_bwd_kernel {
    const char *name;
    unsigned diff_inputs; /* bit i: input i is differentiable */
    nk_status (*prepare)(nk_ctx *ctx, nk_bstep *b);
    void (*release)(nk_bstep *b);
    void (*run)(const nk_bstep *b, int phase, int ith, int nth);
} nk_bwd_kernel;

#define NK_BWD_ALL_INPUTS 0xffffffffu

extern const nk_bwd_kernel NK_BACKWARD[NK_OP_COUNT];

/* d = v, or d += v when accumulating. */
static inline void nk_bput(float *d, float v, bool acc)
{
    *d = acc ? *d + v : v;
}

/* Zero or keep dx[b, e) before a scatter-add kernel. */
void nk_bwd_clear(float *dx, bool acc, int64_t b, int64_t e);

/* Frees b->params with nk_free. */
void nk_bwd_release_params(nk_bstep *b);

/* dy *= act'(.) for a fused Relu/Clip, from the node's output y. */
void nk_bwd_fused_act(const nk_node *n, const float *y, float *dy,
                      int64_t b, int64_t e);

/* Per-family entry points (engine/backward/<family>.c). */
nk_status nk_bwd_conv_prepare(nk_ctx *, nk_bstep *);
void nk_bwd_conv(const nk_bstep *, int, int, int);
nk_status nk_bwd_batchnorm_prepare(nk_ctx *, nk_bstep *);
void nk_bwd_batchnorm(const nk_bstep *, int, int, int);
void nk_bwd_unary(const nk_bstep *, int, int, int);
nk_status nk_bwd_binary_prepare(nk_ctx *, nk_bstep *);
void nk_bwd_binary(const nk_bstep *, int, int, int);
nk_status nk_bwd_matmul_prepare(nk_ctx *, nk_bstep *);
void nk_bwd_matmul(const nk_bstep *, int, int, int);
nk_status nk_bwd_gemm_prepare(nk_ctx *, nk_bstep *);
void nk_bwd_gemm(const nk_bstep *, int, int, int);
nk_status nk_bwd_pool_prepare(nk_ctx *, nk_bstep *);
void nk_bwd_maxpool(const nk_bstep *, int, int, int);
void nk_bwd_avgpool(const nk_bstep *, int, int, int);
void nk_bwd_globalavgpool(const nk_bstep *, int, int, int);
void nk_bwd_copy(const nk_bstep *, int, int, int);
nk_status nk_bwd_transpose_prepare(nk_ctx *, nk_bstep *);
void nk_bwd_transpose(const nk_bstep *, int, int, int);
nk_status nk_bwd_concat_prepare(nk_ctx *, nk_bstep *);
void nk_bwd_concat(const nk_bstep *, int, int, int);
nk_status nk_bwd_pad_prepare(nk_ctx *, nk_bstep *);
void nk_bwd_pad(const nk_bstep *, int, int, int);
nk_status nk_bwd_softmax_prepare(nk_ctx *, nk_bstep *);
void nk_bwd_softmax(const nk_bstep *, int, int, int);
void nk_bwd_dropout(const nk_bstep *, int, int, int);

/* The thread pool of the plan a grad was made for (autograd.c). */
struct nk_grad;
nk_pool *nk_grad_pool(struct nk_grad *g);

/* dropout.c (forward): the RNG state before the last training run and
 * the ratio it used, so the backward can replay the mask. False when the
 * last run was an identity (eval mode or ratio 0). */
bool nk_dropout_last_mask(const nk_step *st, nk_rng *rng, float *ratio);

#endif /* NK_BACKWARD_H */
