/*
 * head.h — finding and swapping a network's classifier (ResNet `fc`,
 * VGG/MobileNet `classifier[-1]`, else the last Gemm/MatMul of any graph)
 * and choosing which parameters train (--train-layers head|last:N|all).
 */
#ifndef NK_TRAIN_HEAD_H
#define NK_TRAIN_HEAD_H

#include "engine/ir.h"

typedef struct nk_head {
    int node;           /* index of the classifier node in g->nodes */
    int input;          /* tensor: the features it reads ([N, F]) */
    int weight, bias;   /* tensors (bias -1 when absent before a swap) */
    int output;         /* tensor: the logits */
    int64_t features;   /* F */
    int64_t classes;    /* outputs */
    const char *rule;   /* "fc", "classifier[-1]" or "last Gemm/MatMul" */
} nk_head;

/* Find g's classifier. NK_NOT_FOUND with a message listing what the graph
 * has when there is no Gemm/MatMul with a constant weight. */
nk_status nk_head_find(nk_ctx *ctx, const nk_graph *g, nk_head *h);

/*
 * nk_head_swap — replace the classifier found by nk_head_find with a new
 * Gemm (transB=1) of `classes` outputs, initialised like torch.nn.Linear
 * (W and b uniform in +-1/sqrt(F), from seed); the weight keeps the old
 * parameter names ("fc.weight"). Nodes after it (Softmax, a bias Add,
 * reshapes) are dropped: the graph's only output is the new logits. Shape
 * inference runs again. h receives the new head.
 */
nk_status nk_head_swap(nk_ctx *ctx, nk_graph *g, int classes, uint64_t seed,
                       nk_head *h);

/* --train-layers, parsed. */
typedef struct nk_train_layers {
    enum { NK_TRAIN_HEAD = 0, NK_TRAIN_LAST, NK_TRAIN_ALL } kind;
    int last;           /* N of last:N */
} nk_train_layers;

/* Parse "head", "last:N" (N >= 1) or "all"; NK_INVALID_ARG otherwise. */
nk_status nk_train_layers_parse(nk_ctx *ctx, const char *s,
                                nk_train_layers *out);

/*
 * nk_head_set_trainable — mark the parameters that train: the weights and
 * biases of Conv/Gemm/MatMul and the scale/bias of BatchNormalization (f32
 * initializers; running statistics never) of the layers chosen by tl; all
 * other initializers are frozen. last:N counts weight layers (Conv, Gemm,
 * MatMul) from the head backwards and includes everything after the N-th.
 * *n_params receives the number of trainable elements.
 */
nk_status nk_head_set_trainable(nk_ctx *ctx, nk_graph *g, const nk_head *h,
                                const nk_train_layers *tl, int64_t *n_params);

#endif /* NK_TRAIN_HEAD_H */
