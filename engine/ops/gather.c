/*
 * gather.c — Gather (ONNX): take slices of the data along one axis at the
 * given indices (i32 or i64, any rank, negative counting from the end).
 * Any data dtype: the kernel moves bytes.
 */
#include "engine/kernels/kernels-impl.h"
#include "engine/op.h"

#include <string.h>

static int64_t index_at(const nk_tensor *t, int64_t i)
{
    if (t->dtype == NK_I64)
        return ((const int64_t *)t->data)[i];
    return ((const int32_t *)t->data)[i];
}

nk_status nk_infer_gather(nk_ctx *ctx, const nk_node *n, nk_tensor *const *in,
                          int n_in, nk_tensor *const *out, int n_out)
{
    const nk_shape *s = &in[0]->shape, *is = &in[1]->shape;
    const nk_tensor *ind = in[1];
    if (ind->dtype != NK_I64 && ind->dtype != NK_I32)
        return nk_fail_node(ctx, NK_INVALID_ARG, n,
                            "indices '%s' have dtype %s, expected i64 or "
                            "i32", ind->name, nk_dtype_name(ind->dtype));
    int64_t axis = nk_node_int(n, "axis", 0);
    if (s->rank < 1 || axis < -s->rank || axis >= s->rank)
        return nk_fail_node(ctx, NK_INVALID_ARG, n,
                            "axis %lld is out of range for data of rank %d",
                            (long long)axis, s->rank);
    if (axis < 0)
        axis += s->rank;
    int r = s->rank - 1 + is->rank;
    if (r > NK_MAX_RANK)
        return nk_fail_node(ctx, NK_UNSUPPORTED, n,
                            "output rank %d exceeds nnkit's maximum %d", r,
                            NK_MAX_RANK);
    /* Constant indices are checked now; computed ones are clamped to
     * zeros by the kernel. */
    int64_t cnt = nk_shape_numel(is), k = s->d[axis];
    if (ind->data && cnt > 0 &&
        ind->nbytes >= (size_t)cnt * nk_dtype_size(ind->dtype))
        for (int64_t i = 0; i < cnt; i++) {
            int64_t v = index_at(ind, i);
            if (v < -k || v >= k)
                return nk_fail_node(ctx, NK_INVALID_ARG, n,
                                    "index %lld (element %lld of '%s') is "
                                    "out of range [%lld, %lld] for axis "
                                    "%lld", (long long)v, (long long)i,
                                    ind->name, (long long)-k,
                                    (long long)(k - 1), (long long)axis);
        }
    nk_shape o;
    memset(&o, 0, sizeof o);
    for (int i = 0; i < axis; i++) {
        o.d[o.rank] = s->d[i];
        o.sym[o.rank++] = s->sym[i];
    }
    for (int i = 0; i < is->rank; i++) {
        o.d[o.rank] = is->d[i];
        o.sym[o.rank++] = is->sym[i];
    }
    for (int i = (int)axis + 1; i < s->rank; i++) {
        o.d[o.rank] = s->d[i];
        o.sym[o.rank++] = s->sym[i];
    }
    out[0]->dtype = in[0]->dtype;
    out[0]->shape = o;
    return NK_OK;
}

void nk_gather_ref(const nk_step *st, int ith, int nth)
{
    const nk_tensor *x = st->in[0], *ind = st->in[1];
    const nk_shape *s = &x->shape;
    int64_t axis = nk_node_int(st->node, "axis", 0);
    if (axis < 0)
        axis += s->rank;
    int64_t outer = 1, inner = (int64_t)nk_dtype_size(x->dtype);
    for (int i = 0; i < axis; i++)
        outer *= s->d[i];
    for (int i = (int)axis + 1; i < s->rank; i++)
        inner *= s->d[i];
    const int64_t k = s->d[axis], cnt = nk_shape_numel(&ind->shape);
    const char *xp = x->data;
    char *yp = st->out[0]->data;
    int64_t b, e;
    nk_split(outer * cnt, ith, nth, &b, &e);
    for (int64_t t = b; t < e; t++) {
        int64_t o = t / cnt, j = t % cnt, v = index_at(ind, j);
        if (v < 0)
            v += k;
        char *dst = yp + t * inner;
        if (v < 0 || v >= k)
            memset(dst, 0, (size_t)inner);
        else
            memcpy(dst, xp + (o * k + v) * inner, (size_t)inner);
    }
}
