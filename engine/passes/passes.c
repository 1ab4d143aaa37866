/*
 * passes.c — the pass table, nk_graph_apply_pass / nk_graph_optimize, and
 * helpers shared by the passes.
 */
#include "engine/passes/passes.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    nk_status (*fn)(nk_ctx *, nk_graph *);
} pass_table[NK_PASS_COUNT] = {
    [NK_PASS_PRUNE] = {"prune", nk_pass_prune},
    [NK_PASS_FOLD_CONSTANTS] = {"fold-constants", nk_pass_fold_constants},
    [NK_PASS_FOLD_BATCHNORM] = {"fold-batchnorm", nk_pass_fold_batchnorm},
    [NK_PASS_FUSE_ACTIVATIONS] = {"fuse-activations",
                                  nk_pass_fuse_activations},
    [NK_PASS_REMOVE_IDENTITY] = {"remove-identity", nk_pass_remove_identity},
};

_Static_assert(sizeof pass_table / sizeof pass_table[0] == NK_PASS_COUNT,
               "every pass needs a row");

const char *nk_pass_name(nk_pass p)
{
    return (unsigned)p < NK_PASS_COUNT ? pass_table[p].name : "?";
}

nk_status nk_graph_apply_pass(nk_ctx *ctx, nk_graph *g, nk_pass p)
{
    if ((unsigned)p >= NK_PASS_COUNT)
        return nk_fail(ctx, NK_INVALID_ARG, "unknown pass %d", (int)p);
    nk_status st = pass_table[p].fn(ctx, g);
    if (st)
        return st;
    /* Every pass leaves a valid, shape-inferred graph. */
    st = nk_graph_infer(ctx, g);
    if (st)
        nk_errmsg_prefix(ctx, "after pass %s", pass_table[p].name);
    return st;
}

nk_status nk_graph_optimize(nk_ctx *ctx, nk_graph *g)
{
    static const nk_pass order[] = {
        NK_PASS_REMOVE_IDENTITY, NK_PASS_FOLD_CONSTANTS,
        NK_PASS_FOLD_BATCHNORM, NK_PASS_FUSE_ACTIVATIONS, NK_PASS_PRUNE,
    };
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        nk_status st = nk_graph_apply_pass(ctx, g, order[i]);
        if (st)
            return st;
    }
    return NK_OK;
}

int nk_tensor_use_count(const nk_graph *g, int t)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            if (g->nodes[i].in[j] == t)
                n++;
    if (nk_tensor_is_graph_output(g, t))
        n++;
    return n;
}

bool nk_tensor_is_graph_output(const nk_graph *g, int t)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == t)
            return true;
    return false;
}

int nk_tensor_producer(const nk_graph *g, int t)
{
    for (int i = 0; i < g->n_nodes; i++)
        for (int o = 0; o < g->nodes[i].n_out; o++)
            if (g->nodes[i].out[o] == t)
                return i;
    return -1;
}

nk_status nk_graph_unique_name(nk_ctx *ctx, const nk_graph *g,
                               const char *base, char *buf, size_t n)
{
    snprintf(buf, n, "%s", base);
    for (int k = 1; nk_graph_find_tensor(g, buf) >= 0; k++) {
        if (k > 1000000)
            return nk_fail(ctx, NK_INTERNAL, "no free name for '%s'", base);
        snprintf(buf, n, "%s_%d", base, k);
    }
    return NK_OK;
}
