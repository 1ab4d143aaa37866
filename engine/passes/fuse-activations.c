/*
 * fuse-activations.c — merge an activation into the Conv, Gemm, MatMul or
 * Add that produces its input, so the kernel applies it while the output
 * is still in cache. Only when that output has no other use.
 */
#include "engine/passes/passes.h"

/* Activation of node a as (kind, params); false if not fusable. */
static bool act_of(const nk_graph *g, const nk_node *a, nk_act *kind,
                   float *p0, float *p1)
{
    switch (a->op) {
    case NK_OP_RELU:
        *kind = NK_ACT_RELU;
        return true;
    case NK_OP_SIGMOID:
        *kind = NK_ACT_SIGMOID;
        return true;
    case NK_OP_TANH:
        *kind = NK_ACT_TANH;
        return true;
    case NK_OP_HARDSWISH:
        *kind = NK_ACT_HARDSWISH;
        return true;
    case NK_OP_LEAKYRELU:
        *kind = NK_ACT_LEAKYRELU;
        *p0 = nk_node_float(a, "alpha", 0.01f);
        return true;
    case NK_OP_HARDSIGMOID:
        *kind = NK_ACT_HARDSIGMOID;
        *p0 = nk_node_float(a, "alpha", 0.2f);
        *p1 = nk_node_float(a, "beta", 0.5f);
        return true;
    case NK_OP_CLIP: {
        float lo = -3.402823466e38f, hi = 3.402823466e38f;
        if (a->n_in == 1) { /* opset < 11: attributes */
            lo = nk_node_float(a, "min", lo);
            hi = nk_node_float(a, "max", hi);
        }
        for (int k = 1; k < a->n_in && k < 3; k++) {
            const nk_tensor *t = nk_node_input(g, a, k);
            if (!t)
                continue;
            if (!t->is_init || !t->data || t->dtype != NK_F32 ||
                nk_shape_numel(&t->shape) != 1)
                return false;
            if (k == 1)
                lo = *(const float *)t->data;
            else
                hi = *(const float *)t->data;
        }
        *kind = NK_ACT_CLIP;
        *p0 = lo;
        *p1 = hi;
        return true;
    }
    default:
        return false;
    }
}

nk_status nk_pass_fuse_activations(nk_ctx *ctx, nk_graph *g)
{
    bool *dead = nk_calloc((size_t)g->n_nodes + 1, sizeof(bool));
    if (!dead)
        return nk_fail(ctx, NK_NOMEM, "out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        nk_node *a = &g->nodes[i];
        nk_act kind = NK_ACT_NONE;
        float p0 = 0, p1 = 0;
        if (a->n_in < 1 || a->in[0] < 0 || !act_of(g, a, &kind, &p0, &p1))
            continue;
        int x = a->in[0];
        int p = nk_tensor_producer(g, x);
        if (p < 0 || dead[p] || nk_tensor_use_count(g, x) != 1)
            continue;
        nk_node *prod = &g->nodes[p];
        if (prod->act != NK_ACT_NONE || prod->n_out != 1)
            continue;
        if (prod->op != NK_OP_CONV && prod->op != NK_OP_GEMM &&
            prod->op != NK_OP_MATMUL && prod->op != NK_OP_ADD)
            continue;
        if (g->tensors[x]->dtype != NK_F32)
            continue;
        prod->act = kind;
        prod->act_a0 = p0;
        prod->act_a1 = p1;
        prod->out[0] = a->out[0];
        dead[i] = true;
    }
    nk_graph_remove_nodes(g, dead);
    nk_free(dead);
    return NK_OK;
}
