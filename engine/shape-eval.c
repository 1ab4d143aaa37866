/*
 * shape-eval.c — computing small shape values during shape inference
 * (see shape-eval.h): the Shape → Gather → Unsqueeze → Concat → Reshape
 * glue of exported models, evaluated once its shapes are known.
 */
#include "engine/shape-eval.h"
#include "engine/kernel.h"
#include "engine/op.h"

#include <string.h>

static bool evaluable(const nk_node *n, const nk_tensor *v)
{
    if (n->op == NK_OP_DROPOUT || n->op == NK_OP_BATCHNORM)
        return false; /* not functions of their inputs alone */
    if (n->n_in < 1 || n->n_in > 64 || n->n_out > 16)
        return false;
    for (int o = 0; o < n->n_out; o++) {
        const nk_tensor *t = &v[n->out[o]];
        int64_t cnt = nk_shape_numel(&t->shape);
        if (t->data || cnt < 0 || cnt > NK_SHAPE_EVAL_MAX)
            return false;
    }
    if (n->op == NK_OP_SHAPE)
        return nk_shape_is_static(&v[n->in[0]].shape);
    bool any = false;
    for (int j = 0; j < n->n_in; j++) {
        if (n->in[j] < 0)
            continue;
        const nk_tensor *t = &v[n->in[j]];
        if (!t->data && nk_shape_numel(&t->shape) != 0)
            return false;
        any = true;
    }
    return any;
}

static void *buf_new(nk_eval_bufs *b, size_t bytes)
{
    if (b->n == b->cap) {
        int cap = b->cap ? b->cap * 2 : 16;
        void **p = nk_realloc(b->p, sizeof(void *) * (size_t)cap);
        if (!p)
            return NULL;
        b->p = p;
        b->cap = cap;
    }
    void *m = nk_malloc_aligned(bytes ? bytes : 1, 64);
    if (m) {
        memset(m, 0, bytes ? bytes : 1);
        b->p[b->n++] = m;
    }
    return m;
}

nk_status nk_shape_eval_node(nk_ctx *ctx, const nk_node *n, nk_tensor *v,
                             nk_eval_bufs *b)
{
    if (!evaluable(n, v))
        return NK_OK;
    nk_tensor *in[64], *out[16];
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
        in[j] = n->in[j] >= 0 ? &v[n->in[j]] : NULL;
    for (int o = 0; o < n->n_out; o++)
        out[o] = &v[n->out[o]];
    st.kernel = nk_kernel_select(&st, &ctx->cpu, true);
    if (!st.kernel)
        return NK_OK; /* left to the plan, which reports it */
    void *data[16];
    for (int o = 0; o < n->n_out; o++) {
        size_t bytes = nk_tensor_bytes_for(out[o]->dtype, &out[o]->shape);
        data[o] = bytes == SIZE_MAX ? NULL : buf_new(b, bytes);
        if (!data[o])
            return nk_fail(ctx, NK_NOMEM, "out of memory evaluating '%s'",
                           n->name);
    }
    /* A kernel that refuses the node at prepare leaves it to the plan:
     * keep the message the caller may already hold. */
    char saved[NK_ERRMSG_MAX];
    memcpy(saved, ctx->msg, sizeof saved);
    nk_status last = ctx->last;
    if (st.kernel->prepare && st.kernel->prepare(ctx, &st) != NK_OK) {
        memcpy(ctx->msg, saved, sizeof saved);
        ctx->last = last;
        return NK_OK;
    }
    void *work = NULL;
    if (st.work_bytes) {
        work = nk_malloc_aligned(st.work_bytes, 64);
        if (!work) {
            if (st.kernel->release)
                st.kernel->release(&st);
            return nk_fail(ctx, NK_NOMEM, "out of memory evaluating '%s'",
                           n->name);
        }
    }
    for (int o = 0; o < n->n_out; o++) {
        out[o]->data = data[o];
        out[o]->nbytes = nk_tensor_bytes_for(out[o]->dtype, &out[o]->shape);
    }
    st.work = work;
    st.kernel->run(&st, 0, 1);
    nk_free_aligned(work);
    if (st.kernel->release)
        st.kernel->release(&st);
    return NK_OK;
}

void nk_eval_bufs_free(nk_eval_bufs *b)
{
    for (int i = 0; i < b->n; i++)
        nk_free_aligned(b->p[i]);
    nk_free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}
