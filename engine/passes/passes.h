/*
 * passes.h — graph-to-graph rewrites (internal). Each pass keeps the
 * graph's outputs (names and values) unchanged; tests check that.
 */
#ifndef NK_PASSES_H
#define NK_PASSES_H

#include "engine/ir.h"

nk_status nk_pass_prune(nk_ctx *ctx, nk_graph *g);
nk_status nk_pass_fold_constants(nk_ctx *ctx, nk_graph *g);
nk_status nk_pass_fold_batchnorm(nk_ctx *ctx, nk_graph *g);
nk_status nk_pass_fuse_activations(nk_ctx *ctx, nk_graph *g);
nk_status nk_pass_remove_identity(nk_ctx *ctx, nk_graph *g);

/* Helpers shared by the passes. */

/* How many node inputs use tensor t, plus 1 if it is a graph output. */
int nk_tensor_use_count(const nk_graph *g, int t);
bool nk_tensor_is_graph_output(const nk_graph *g, int t);
/* Index of the node producing tensor t, or -1. */
int nk_tensor_producer(const nk_graph *g, int t);
/* A tensor name not yet in g: "<base>" or "<base>_1", "<base>_2", ...
 * buf must not overlap base. */
nk_status nk_graph_unique_name(nk_ctx *ctx, const nk_graph *g,
                               const char *base, char *buf, size_t n);

#endif
