/*
 * fold-constants.c — evaluate, with the reference kernels, every node whose
 * inputs are all initializers (and every Shape of a static shape), and
 * replace it by initializers holding its outputs. Dropout and
 * BatchNormalization in training mode are never folded (they are not
 * functions of their inputs alone).
 */
#include "engine/passes/passes.h"
#include "engine/kernel.h"
#include "engine/op.h"

#include <string.h>

static bool foldable(const nk_graph *g, const nk_node *n)
{
    if (n->op == NK_OP_DROPOUT)
        return false;
    if (n->op == NK_OP_BATCHNORM && nk_node_int(n, "training_mode", 0))
        return false;
    /* Shape needs its input's shape, not its data: with a static shape it
     * folds, and with it the exporters' Gather/Unsqueeze/Concat glue. */
    if (n->op == NK_OP_SHAPE)
        return n->in[0] >= 0 &&
               nk_shape_is_static(&g->tensors[n->in[0]]->shape);
    bool any = false;
    for (int j = 0; j < n->n_in; j++) {
        if (n->in[j] < 0)
            continue;
        const nk_tensor *t = g->tensors[n->in[j]];
        if (!t->is_init || (!t->data && nk_shape_numel(&t->shape) != 0))
            return false;
        any = true;
    }
    for (int o = 0; o < n->n_out; o++)
        if (!nk_shape_is_static(&g->tensors[n->out[o]]->shape))
            return false;
    return any;
}

static void run_task(const nk_step *st)
{
    st->kernel->run(st, 0, 1);
}

static nk_status eval_node(nk_ctx *ctx, nk_graph *g, nk_node *n)
{
    nk_tensor *in[64], *out[16];
    if (n->n_in > 64 || n->n_out > 16)
        return NK_OK;
    nk_tensor outv[16];
    nk_step st;
    memset(&st, 0, sizeof st);
    st.node = n;
    st.n_in = n->n_in;
    st.n_out = n->n_out;
    st.in = in;
    st.out = out;
    st.cpu = &ctx->cpu;
    st.nth = 1;
    for (int j = 0; j < n->n_in; j++)
        in[j] = n->in[j] >= 0 ? g->tensors[n->in[j]] : NULL;
    for (int o = 0; o < n->n_out; o++) {
        outv[o] = *g->tensors[n->out[o]];
        outv[o].nbytes = nk_tensor_bytes_for(outv[o].dtype, &outv[o].shape);
        outv[o].data = nk_malloc_aligned(outv[o].nbytes ? outv[o].nbytes : 1,
                                         64);
        out[o] = &outv[o];
        if (!outv[o].data) {
            for (int k = 0; k < o; k++)
                nk_free_aligned(outv[k].data);
            return nk_fail(ctx, NK_NOMEM, "out of memory folding '%s'",
                           n->name);
        }
        memset(outv[o].data, 0, outv[o].nbytes);
    }
    nk_status s = NK_OK;
    st.kernel = nk_kernel_select(&st, &ctx->cpu, true);
    void *work = NULL;
    if (!st.kernel)
        goto skip; /* no kernel for this dtype: leave the node */
    if (st.kernel->prepare && (s = st.kernel->prepare(ctx, &st)) != NK_OK)
        goto skip;
    work = nk_malloc_aligned(st.work_bytes ? st.work_bytes : 64, 64);
    if (!work) {
        s = nk_fail(ctx, NK_NOMEM, "out of memory folding '%s'", n->name);
        goto skip;
    }
    st.work = work;
    run_task(&st);
    nk_free_aligned(work);
    if (st.kernel->release)
        st.kernel->release(&st);
    for (int o = 0; o < n->n_out; o++) {
        nk_tensor *t = g->tensors[n->out[o]];
        t->data = outv[o].data;
        t->nbytes = outv[o].nbytes;
        t->storage = NK_STORE_OWNED;
        t->is_init = true;
        t->trainable = false;
    }
    return NK_OK;
skip:
    if (st.kernel && st.kernel->release)
        st.kernel->release(&st);
    for (int o = 0; o < n->n_out; o++)
        nk_free_aligned(outv[o].data);
    return s == NK_NOMEM ? s : NK_OK;
}

nk_status nk_pass_fold_constants(nk_ctx *ctx, nk_graph *g)
{
    bool *dead = nk_calloc((size_t)g->n_nodes + 1, sizeof(bool));
    if (!dead)
        return nk_fail(ctx, NK_NOMEM, "out of memory");
    nk_status st = NK_OK;
    for (int i = 0; i < g->n_nodes && !st; i++) {
        nk_node *n = &g->nodes[i];
        if (!foldable(g, n))
            continue;
        st = eval_node(ctx, g, n);
        if (!st && g->tensors[n->out[0]]->is_init)
            dead[i] = true;
    }
    if (!st)
        nk_graph_remove_nodes(g, dead);
    nk_free(dead);
    return st;
}
