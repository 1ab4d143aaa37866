/*
 * softmax.c — Softmax with opset-13 semantics: normalise along one axis
 * (default -1), computed stably as exp(x - max) / sum.
 */
#include "engine/kernels/kernels-impl.h"
#include "engine/op.h"

#include <math.h>

static nk_status softmax_axis(nk_ctx *ctx, const nk_node *n, int rank,
                              int *axis)
{
    int64_t a = nk_node_int(n, "axis", -1);
    if (rank == 0 || a < -rank || a >= rank)
        return nk_fail_node(ctx, NK_INVALID_ARG, n,
                            "axis %lld out of range [%d, %d] for rank %d",
                            (long long)a, -rank, rank - 1, rank);
    *axis = (int)(a < 0 ? a + rank : a);
    return NK_OK;
}

nk_status nk_infer_softmax(nk_ctx *ctx, const nk_node *n, nk_tensor *const *in,
                           int n_in, nk_tensor *const *out, int n_out)
{
    if (n_in < 1 || !in[0] || n_out < 1 || !out[0])
        return nk_fail_node(ctx, NK_INVALID_ARG, n,
                            "expected 1 input and 1 output");
    int axis = 0;
    nk_status st = softmax_axis(ctx, n, in[0]->shape.rank, &axis);
    if (st != NK_OK)
        return st;
    out[0]->dtype = in[0]->dtype;
    out[0]->shape = in[0]->shape;
    return NK_OK;
}

typedef struct softmax_params {
    int64_t outer, len, inner; /* x viewed as [outer, len, inner] */
} softmax_params;

nk_status nk_softmax_prepare(nk_ctx *ctx, nk_step *st)
{
    const nk_node *n = st->node;
    const nk_shape *s = &st->in[0]->shape;
    if (st->in[0]->dtype != NK_F32)
        return nk_fail_node(ctx, NK_UNSUPPORTED, n, "dtype %s, expected f32",
                            nk_dtype_name(st->in[0]->dtype));
    int axis = 0;
    nk_status rc = softmax_axis(ctx, n, s->rank, &axis);
    if (rc != NK_OK)
        return rc;
    softmax_params *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory", n->name);
    p->outer = p->inner = 1;
    for (int d = 0; d < axis; d++)
        p->outer *= s->d[d];
    p->len = s->d[axis];
    for (int d = axis + 1; d < s->rank; d++)
        p->inner *= s->d[d];
    st->params = p;
    return NK_OK;
}

void nk_softmax_ref(const nk_step *st, int ith, int nth)
{
    const softmax_params *p = st->params;
    const float *x = st->in[0]->data;
    float *y = st->out[0]->data;
    const int64_t len = p->len, inner = p->inner;
    int64_t b, e;
    /* one lane per (outer, inner) position; lanes of one outer row are
     * neighbours, so a thread's share walks memory in order */
    nk_split(p->outer * inner, ith, nth, &b, &e);
    for (int64_t lane = b; lane < e; lane++) {
        int64_t base = (lane / inner) * len * inner + lane % inner;
        const float *xl = x + base;
        float *yl = y + base;
        float m = -INFINITY;
        for (int64_t k = 0; k < len; k++)
            if (xl[k * inner] > m)
                m = xl[k * inner];
        double sum = 0.0;
        for (int64_t k = 0; k < len; k++) {
            float v = expf(xl[k * inner] - m);
            yl[k * inner] = v;
            sum += v;
        }
        float inv = (float)(1.0 / sum);
        for (int64_t k = 0; k < len; k++)
            yl[k * inner] *= inv;
    }
}
