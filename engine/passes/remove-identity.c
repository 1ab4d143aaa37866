/*
 * remove-identity.c — drop Identity nodes and inference-mode Dropout (whose
 * mask output is unused): their consumers read the input directly. When
 * the node's output is a graph output, the producer of its input writes
 * that output instead, so output names never change.
 */
#include "engine/passes/passes.h"

static bool removable(const nk_graph *g, const nk_node *n)
{
    if (n->op == NK_OP_IDENTITY)
        return true;
    if (n->op != NK_OP_DROPOUT)
        return false;
    /* A used mask output, or training_mode given as an input, keeps it. */
    if (n->n_out > 1 && nk_tensor_use_count(g, n->out[1]) > 0)
        return false;
    if (n->n_in > 2 && n->in[2] >= 0)
        return false;
    return true;
}

nk_status nk_pass_remove_identity(nk_ctx *ctx, nk_graph *g)
{
    bool *dead = nk_calloc((size_t)g->n_nodes + 1, sizeof(bool));
    if (!dead)
        return nk_fail(ctx, NK_NOMEM, "out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        nk_node *n = &g->nodes[i];
        if (!removable(g, n) || n->in[0] < 0)
            continue;
        int x = n->in[0], y = n->out[0];
        if (!nk_tensor_is_graph_output(g, y)) {
            nk_graph_replace_uses(g, y, x);
            dead[i] = true;
            continue;
        }
        /* y is a graph output: let x's producer write y, if x is its only
         * use and x is not itself visible. */
        int p = nk_tensor_producer(g, x);
        if (p < 0 || nk_tensor_use_count(g, x) != 1)
            continue;
        nk_node *pn = &g->nodes[p];
        for (int o = 0; o < pn->n_out; o++)
            if (pn->out[o] == x)
                pn->out[o] = y;
        dead[i] = true;
    }
    nk_graph_remove_nodes(g, dead);
    nk_free(dead);
    return NK_OK;
}
