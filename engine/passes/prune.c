/*
 * prune.c — dead-node pruning: drop every node that no graph output
 * depends on.
 */
#include "engine/passes/passes.h"

nk_status nk_pass_prune(nk_ctx *ctx, nk_graph *g)
{
    bool *live_t = nk_calloc((size_t)g->n_tensors + 1, sizeof(bool));
    bool *dead = nk_calloc((size_t)g->n_nodes + 1, sizeof(bool));
    if (!live_t || !dead) {
        nk_free(live_t);
        nk_free(dead);
        return nk_fail(ctx, NK_NOMEM, "out of memory pruning");
    }
    for (int i = 0; i < g->n_outputs; i++)
        live_t[g->outputs[i]] = true;
    /* Nodes are in topological order, so one backward sweep suffices. */
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        const nk_node *n = &g->nodes[i];
        bool needed = false;
        for (int o = 0; o < n->n_out; o++)
            if (live_t[n->out[o]])
                needed = true;
        dead[i] = !needed;
        if (needed)
            for (int j = 0; j < n->n_in; j++)
                if (n->in[j] >= 0)
                    live_t[n->in[j]] = true;
    }
    nk_graph_remove_nodes(g, dead);
    nk_free(live_t);
    nk_free(dead);
    return NK_OK;
}
