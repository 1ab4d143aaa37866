/*
 * shape-eval.h — values computed while inferring shapes. Exporters build
 * Reshape targets and Slice bounds from Shape → Gather → Unsqueeze →
 * Concat chains; when the shapes are known (at load for static graphs, at
 * plan time once the batch is bound) those small values are computed on
 * the spot with the reference kernels, so that the data-dependent shape
 * inference downstream sees data.
 */
#ifndef NK_SHAPE_EVAL_H
#define NK_SHAPE_EVAL_H

#include "engine/ir.h"

/* Largest output (in elements) evaluated during inference. */
#define NK_SHAPE_EVAL_MAX 64

/* Buffers handed out to evaluated values (freed together). */
typedef struct nk_eval_bufs {
    void **p;
    int n, cap;
} nk_eval_bufs;

/*
 * nk_shape_eval_node — node n's outputs have just been inferred into the
 * value views v (indexed like g->tensors). If every input holds data (for
 * Shape: only a shape) and every output is small, run the node's
 * reference kernel and point the outputs' data at new buffers recorded in
 * b. Nodes that cannot be evaluated are left alone. Fails only with
 * NK_NOMEM.
 */
nk_status nk_shape_eval_node(nk_ctx *ctx, const nk_node *n, nk_tensor *v,
                             nk_eval_bufs *b);

/* Free every buffer in b; views pointing at them must not be used. */
void nk_eval_bufs_free(nk_eval_bufs *b);

#endif /* NK_SHAPE_EVAL_H */
