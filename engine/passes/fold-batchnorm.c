/*
 * fold-batchnorm.c — fold an inference-mode BatchNormalization into the
 * Conv that feeds it: W' = W * s, b' = (b - mean) * s + beta with
 * s = gamma / sqrt(var + eps), per output channel. New initializers are
 * made (the originals may be borrowed from a read-only mapping).
 */
#include "engine/passes/passes.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static bool const_f32(const nk_tensor *t, int64_t n)
{
    return t && t->is_init && t->data && t->dtype == NK_F32 &&
           nk_shape_numel(&t->shape) == n;
}

static nk_status fold_one(nk_ctx *ctx, nk_graph *g, nk_node *conv,
                          const nk_node *bn)
{
    nk_tensor *w = nk_node_input(g, conv, 1);
    nk_tensor *b = nk_node_input(g, conv, 2);
    int64_t m = w->shape.d[0];
    nk_tensor *gamma = nk_node_input(g, bn, 1), *beta = nk_node_input(g, bn, 2);
    nk_tensor *mean = nk_node_input(g, bn, 3), *var = nk_node_input(g, bn, 4);
    if (!const_f32(gamma, m) || !const_f32(beta, m) || !const_f32(mean, m) ||
        !const_f32(var, m) || (b && !const_f32(b, m)))
        return NK_OK; /* not foldable; leave as is */
    float eps = nk_node_float(bn, "epsilon", 1e-5f);
    char base[512], name[512];
    int wi, bi;
    nk_status st;
    nk_shape ws = w->shape;
    snprintf(base, sizeof base, "%s.folded_weight", conv->name);
    if ((st = nk_graph_unique_name(ctx, g, base, name, sizeof name)) ||
        (st = nk_graph_add_init(ctx, g, name, NK_F32, &ws, &wi)))
        return st;
    nk_shape bs = nk_shape_make(1, &m);
    snprintf(base, sizeof base, "%s.folded_bias", conv->name);
    if ((st = nk_graph_unique_name(ctx, g, base, name, sizeof name)) ||
        (st = nk_graph_add_init(ctx, g, name, NK_F32, &bs, &bi)))
        return st;
    /* add_init may have grown g->tensors: fetch pointers again. */
    w = nk_node_input(g, conv, 1);
    b = nk_node_input(g, conv, 2);
    gamma = nk_node_input(g, bn, 1);
    beta = nk_node_input(g, bn, 2);
    mean = nk_node_input(g, bn, 3);
    var = nk_node_input(g, bn, 4);
    const float *W = w->data, *B = b ? b->data : NULL;
    const float *G = gamma->data, *Be = beta->data, *Mu = mean->data,
                *V = var->data;
    float *W2 = g->tensors[wi]->data, *B2 = g->tensors[bi]->data;
    int64_t per = nk_shape_numel(&ws) / m;
    for (int64_t o = 0; o < m; o++) {
        /* double keeps the folded weights within rounding of the
         * unfolded computation */
        double s = (double)G[o] / sqrt((double)V[o] + (double)eps);
        for (int64_t k = 0; k < per; k++)
            W2[o * per + k] = (float)(W[o * per + k] * s);
        B2[o] = (float)(((B ? (double)B[o] : 0.0) - Mu[o]) * s + Be[o]);
    }
    g->tensors[wi]->trainable = w->trainable;
    g->tensors[bi]->trainable = w->trainable;
    /* The conv now takes the folded parameters and writes the BN output. */
    if (conv->n_in < 3) {
        int *in = nk_arena_alloc(&g->arena, sizeof(int) * 3);
        if (!in)
            return nk_fail(ctx, NK_NOMEM, "out of memory");
        in[0] = conv->in[0];
        conv->in = in;
        conv->n_in = 3;
    }
    conv->in[1] = wi;
    conv->in[2] = bi;
    conv->out[0] = bn->out[0];
    return NK_OK;
}

nk_status nk_pass_fold_batchnorm(nk_ctx *ctx, nk_graph *g)
{
    bool *dead = nk_calloc((size_t)g->n_nodes + 1, sizeof(bool));
    if (!dead)
        return nk_fail(ctx, NK_NOMEM, "out of memory");
    nk_status st = NK_OK;
    for (int i = 0; i < g->n_nodes && !st; i++) {
        nk_node *bn = &g->nodes[i];
        if (bn->op != NK_OP_BATCHNORM || bn->n_out != 1 || bn->in[0] < 0)
            continue;
        if (nk_node_int(bn, "training_mode", 0))
            continue;
        int y = bn->in[0];
        int p = nk_tensor_producer(g, y);
        if (p < 0 || dead[p] || nk_tensor_use_count(g, y) != 1)
            continue;
        nk_node *conv = &g->nodes[p];
        if (conv->op != NK_OP_CONV || conv->act != NK_ACT_NONE)
            continue;
        nk_tensor *w = nk_node_input(g, conv, 1);
        if (!w || !w->is_init || !w->data || w->dtype != NK_F32 ||
            w->shape.rank < 1)
            continue;
        int before = conv->out[0];
        st = fold_one(ctx, g, conv, bn);
        if (!st && g->nodes[p].out[0] != before)
            dead[i] = true;
    }
    if (!st)
        nk_graph_remove_nodes(g, dead);
    nk_free(dead);
    return st;
}
