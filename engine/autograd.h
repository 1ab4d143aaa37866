/*
 * autograd.h — the internal training API: gradients of a training plan
 * (reverse-mode, one backward kernel per op in engine/backward/), PyTorch
 * 1.13 optimisers (SGD, Adam, AdamW) and learning-rate schedules.
 *
 * Typical step (no allocation inside the loop):
 *
 *     nk_graph_own_params(ctx, g);                 // before planning
 *     nk_plan_opts po = {.batch = B, .training = 1};
 *     nk_plan_create(ctx, g, &po, &plan);
 *     nk_grad_create(ctx, plan, &grad);
 *     nk_optim_create(ctx, g, &oo, &opt);
 *     for (...) {
 *         fill nk_plan_input(plan, 0);
 *         nk_plan_run(ctx, plan);                   // forward, train mode
 *         nk_grad_backward_ce(ctx, grad, 0, labels, &loss, &correct);
 *         nk_optim_step(opt, grad, nk_lr_at(&sched, step));
 *     }
 *
 * Semantics follow PyTorch (see docs/training.md, "Engine: gradients and
 * optimisers"): BatchNormalization in train mode normalises with the
 * biased batch variance and updates running_var with the UNBIASED one
 * (ONNX momentum m = 1 - torch momentum); Dropout's backward replays the
 * forward's mask. Thread safety: a grad and an optimiser are used by one
 * thread at a time (they run kernels on the plan's pool).
 */
#ifndef NK_AUTOGRAD_H
#define NK_AUTOGRAD_H

#include "engine/ir.h"
#include "engine/plan.h"

#include <stdbool.h>
#include <stdint.h>

/* ---- gradients ---------------------------------------------------------- */

typedef struct nk_grad nk_grad;

/*
 * nk_grad_create — prepare the backward pass of `fwd`, a plan made with
 * opts.training = 1 (training plans keep every activation alive). The
 * parameters trained are the f32 initializers with trainable == true; all
 * others are frozen. Only the nodes on a path from a trainable parameter
 * to a graph output get a backward step, so a frozen prefix of the
 * network costs nothing in the backward pass. Gradient buffers of the
 * parameters, an arena for activation gradients (placed by liveness) and
 * the backward scratch are allocated here: a backward pass allocates
 * nothing.
 *
 * Errors: NK_INVALID_ARG if fwd is not a training plan; NK_UNSUPPORTED
 * naming the node if an op on the gradient path has no backward kernel
 * (or a fused activation other than Relu/Clip: train unfused graphs, the
 * fusion passes are for inference); NK_NOMEM. The grad borrows fwd (keep
 * it alive); the caller owns *out (nk_grad_free).
 */
nk_status nk_grad_create(nk_ctx *ctx, nk_plan *fwd, nk_grad **out);
void nk_grad_free(nk_grad *g);

/*
 * nk_grad_backward_ce — after nk_plan_run: mean softmax cross-entropy of
 * plan output `logits_output` ([N, C] f32, N = the plan's batch) against
 * labels[0..N) (class indices in [0, C)), as torch.nn.CrossEntropyLoss
 * computes it. Seeds dL/dlogits = (softmax - onehot) / N, runs the
 * backward steps in reverse order and WRITES (does not accumulate) the
 * gradient of every trainable parameter. loss and n_correct (argmax ==
 * label, first maximum wins) may be NULL. NK_INVALID_ARG for a label out
 * of range or a bad output index / shape.
 */
nk_status nk_grad_backward_ce(nk_ctx *ctx, nk_grad *g, int logits_output,
                              const int64_t *labels, float *loss,
                              int *n_correct);

/*
 * nk_grad_backward — the same with a caller-supplied seed: dy holds
 * dL/d(output `output`), numel of that output floats (copied).
 */
nk_status nk_grad_backward(nk_ctx *ctx, nk_grad *g, int output,
                           const float *dy);

/* The gradient of graph tensor `tensor_index` after a backward pass
 * (numel of the tensor floats, owned by g, valid until nk_grad_free), or
 * NULL if that tensor is not a trainable parameter. */
float *nk_grad_of(nk_grad *g, int tensor_index);

/* Trainable parameters the grad covers, and the i-th one's tensor index. */
int nk_grad_num_params(const nk_grad *g);
int nk_grad_param_index(const nk_grad *g, int i);

/* Number of backward steps (nodes on the gradient path); tests use it to
 * check that a frozen prefix is skipped. */
int nk_grad_num_steps(const nk_grad *g);

/*
 * nk_grad_freeze_bn — frozen-BN mode (on != 0): every BatchNormalization
 * whose scale and bias are both frozen runs in eval mode in the plan's
 * forward (running statistics used, not updated) and is an affine map in
 * the backward, as `module.eval()` on frozen BN layers does in PyTorch.
 * Off (the default) is PyTorch's model.train(): batch statistics.
 */
void nk_grad_freeze_bn(nk_grad *g, int on);

/*
 * nk_graph_own_params — copy every initializer that training writes
 * (trainable parameters and BatchNormalization running statistics) out
 * of a read-only mapping into owned memory. Call before nk_plan_create:
 * plans capture data pointers. NK_NOMEM.
 */
nk_status nk_graph_own_params(nk_ctx *ctx, nk_graph *g);

/* ---- optimisers --------------------------------------------------------- */

typedef enum nk_optim_kind {
    NK_OPTIM_SGD = 0,
    NK_OPTIM_ADAM,
    NK_OPTIM_ADAMW,
    NK_OPTIM_COUNT
} nk_optim_kind;

/*
 * Hyper-parameters with torch.optim's meanings and update rules exactly
 * (PyTorch 1.13, single-tensor path, amsgrad/maximize off):
 *  SGD:   d = g + wd*p; buf = d (first step) else momentum*buf +
 *         (1-dampening)*d; d = nesterov ? d + momentum*buf : buf;
 *         p -= lr*d.
 *  Adam:  g += wd*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
 *         p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
 *  AdamW: p *= 1 - lr*wd; then Adam without the wd term.
 * Zero-initialised fields get torch's defaults where torch has one
 * (beta1 0.9, beta2 0.999, eps 1e-8); set literal = 1 to take
 * every field literally.
 */
typedef struct nk_optim_opts {
    nk_optim_kind kind;
    float lr;           /* base rate (nk_optim_step takes the current) */
    float momentum;     /* SGD */
    float dampening;    /* SGD */
    int nesterov;       /* SGD: needs momentum > 0 and dampening 0 */
    float weight_decay;
    float beta1, beta2, eps; /* Adam/AdamW */
    int literal;        /* 1: do not replace zero betas/eps by defaults */
} nk_optim_opts;

typedef struct nk_optim nk_optim;

/*
 * nk_optim_create — an optimiser over every trainable f32 initializer of
 * g, in graph tensor order, with state (momentum_buffer, exp_avg,
 * exp_avg_sq) allocated and zeroed here. Parameters are updated in place:
 * call nk_graph_own_params first if g's weights may be borrowed from a
 * read-only mapping (NK_INVALID_ARG otherwise). NK_INVALID_ARG for bad
 * hyper-parameters (negative lr/momentum/wd, nesterov without momentum,
 * betas outside [0, 1)). The caller owns *out (nk_optim_free).
 */
nk_status nk_optim_create(nk_ctx *ctx, nk_graph *g, const nk_optim_opts *opts,
                          nk_optim **out);
void nk_optim_free(nk_optim *o);

/* One update of every parameter with the gradients in grad (which must
 * cover the same graph) at learning rate lr. Allocates nothing. */
void nk_optim_step(nk_optim *o, nk_grad *grad, float lr);

/* Optimiser steps taken so far (torch's state['step']); restore it with
 * set_step when resuming. */
int64_t nk_optim_step_count(const nk_optim *o);
void nk_optim_set_step_count(nk_optim *o, int64_t steps);

/*
 * State for checkpoints: state tensor i is named "<param>.<kind>" with
 * kind "momentum_buffer" (SGD with momentum) or "exp_avg" / "exp_avg_sq"
 * (Adam, AdamW), like torch's optimizer.state_dict(). *data (numel floats)
 * is the live state, owned by o: read it to save, write it to restore
 * (then set the step count). The name is owned by o. NK_NOT_FOUND when i
 * is out of range.
 */
int nk_optim_state_count(const nk_optim *o);
nk_status nk_optim_state_at(nk_optim *o, int i, const char **name,
                            float **data, int64_t *numel);

/* ---- learning-rate schedules -------------------------------------------- */

typedef enum nk_lr_kind {
    NK_LR_CONSTANT = 0,
    NK_LR_STEP,     /* base * gamma^floor(t / step_size) */
    NK_LR_COSINE,   /* min + (base-min) * (1 + cos(pi * t / T)) / 2 */
    NK_LR_COUNT
} nk_lr_kind;

/*
 * A schedule over steps (the caller chooses whether a step is an
 * iteration or an epoch). With warmup > 0, steps [0, warmup) ramp the
 * rate linearly: lr = base * (step + 1) / warmup; the main schedule then
 * runs with t = step - warmup and, for COSINE, T = total - warmup
 * (t clamped to T: the rate stays at min_lr afterwards). STEP and COSINE
 * without warm-up are torch's StepLR and CosineAnnealingLR (closed form).
 */
typedef struct nk_lr_sched {
    nk_lr_kind kind;
    float base_lr;
    int step_size;  /* STEP */
    float gamma;    /* STEP */
    int total;      /* COSINE: steps in the whole run, warm-up included */
    float min_lr;   /* COSINE */
    int warmup;
} nk_lr_sched;

float nk_lr_at(const nk_lr_sched *s, int step);

#endif /* NK_AUTOGRAD_H */
