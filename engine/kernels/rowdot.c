/*
 * rowdot.c — plan-time half of the row-dot kernels (rowdot.h): which
 * Gemm / Conv nodes qualify, and packing B^T once for Gemm with transB=0.
 */
#include "engine/kernels/rowdot.h"
#include "engine/kernels/conv-fast.h"
#include "engine/kernels/kernels-impl.h"
#include "engine/op.h"

#include <string.h>

#define MAX_ROWS 64 /* beyond that the packed GEMM is the better kernel */

bool nk_rowdot_gemm_supports(const nk_step *st)
{
    if (st->n_in < 2 || !st->in[0] || !st->in[1] || st->training)
        return false;
    const nk_tensor *a = st->in[0], *b = st->in[1];
    if (a->shape.rank != 2 || b->shape.rank != 2 || !b->is_init || !b->data)
        return false;
    if (nk_node_int(st->node, "transA", 0) != 0)
        return false;
    if (a->shape.d[0] > MAX_ROWS)
        return false;
    if (st->n_in > 2 && st->in[2]) {
        const nk_shape *c = &st->in[2]->shape;
        int64_t n = nk_node_int(st->node, "transB", 0) ? b->shape.d[0]
                                                        : b->shape.d[1];
        bool vec = (c->rank == 1 && c->d[0] == n) ||
                   (c->rank == 2 && c->d[0] == 1 && c->d[1] == n);
        if (!vec)
            return false;
    }
    return true;
}

void nk_rowdot_release(nk_step *st)
{
    nk_rowdot *p = st->params;
    if (p)
        nk_free(p->wpack);
    nk_free(p);
    st->params = NULL;
}

nk_status nk_rowdot_gemm_prepare(nk_ctx *ctx, nk_step *st)
{
    nk_rowdot *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    st->params = p;
    const nk_shape *a = &st->in[0]->shape, *b = &st->in[1]->shape;
    int tb = nk_node_int(st->node, "transB", 0) != 0;
    p->rows = a->d[0];
    p->k = a->d[1];
    p->cols = tb ? b->d[0] : b->d[1];
    if ((tb ? b->d[1] : b->d[0]) != p->k) {
        nk_rowdot_release(st);
        return nk_fail(ctx, NK_SHAPE, "node '%s': A is [%lld, %lld] but B "
                       "has %lld rows for the product", st->node->name,
                       (long long)a->d[0], (long long)a->d[1],
                       (long long)(tb ? b->d[1] : b->d[0]));
    }
    p->alpha = nk_node_float(st->node, "alpha", 1.0f);
    p->beta = nk_node_float(st->node, "beta", 1.0f);
    p->c_cs = 1;
    if (!tb) {
        size_t bytes;
        if (!nk_mul_size((size_t)p->cols * (size_t)p->k, sizeof(float),
                         &bytes) ||
            !(p->wpack = nk_malloc(bytes ? bytes : 4))) {
            nk_rowdot_release(st);
            return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory packing "
                           "B^T", st->node->name);
        }
        const float *w = st->in[1]->data;
        for (int64_t j = 0; j < p->cols; j++)
            for (int64_t q = 0; q < p->k; q++)
                p->wpack[j * p->k + q] = w[q * p->cols + j];
    }
    st->work_bytes = 0;
    return NK_OK;
}

bool nk_rowdot_conv_supports(const nk_step *st)
{
    if (st->n_in < 2 || !st->in[0] || !st->in[1] || st->training)
        return false;
    const nk_shape *x = &st->in[0]->shape, *w = &st->in[1]->shape;
    if (x->rank != 4 || w->rank != 4 || !st->in[1]->is_init ||
        !st->in[1]->data)
        return false;
    nk_conv_geom g;
    if (nk_conv_geom_from_node(NULL, st->node, x, w, &g) != NK_OK)
        return false;
    return g.h == 1 && g.w == 1 && g.kh == 1 && g.kw == 1 && g.oh == 1 &&
           g.ow == 1 && g.group == 1 && g.pt == 0 && g.pl == 0 &&
           g.n <= MAX_ROWS;
}

nk_status nk_rowdot_conv_prepare(nk_ctx *ctx, nk_step *st)
{
    nk_rowdot *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    st->params = p;
    p->rows = st->in[0]->shape.d[0];
    p->k = st->in[0]->shape.d[1];
    p->cols = st->in[1]->shape.d[0];
    p->alpha = p->beta = 1.0f;
    p->c_cs = 1;
    st->work_bytes = 0;
    return NK_OK;
}
