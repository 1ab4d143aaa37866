/*
 * reduce.c — ReduceMean (f32): axes from the optional i64 input 1 (opset
 * 18) or the 'axes' attribute (older opsets), keepdims, and
 * noop_with_empty_axes. Sums in double.
 */
#include "engine/kernels/kernels-impl.h"
#include "engine/op.h"

#include <string.h>

/* Which dims of s are reduced; *noop when the op is the identity. */
static nk_status reduce_axes(nk_ctx *ctx, const nk_node *n,
                             nk_tensor *const *in, int n_in, bool *red,
                             bool *noop)
{
    const nk_shape *s = &in[0]->shape;
    int64_t axes[NK_MAX_RANK];
    int k = 0;
    nk_status st = NK_OK;
    if (n_in > 1 && in[1]) {
        st = nk_const_ints(ctx, n, in[1], "axes", axes, NK_MAX_RANK, &k);
    } else if (nk_node_attr(n, "axes")) {
        const nk_attr *a = nk_node_attr(n, "axes");
        if (a->type != NK_ATTR_INTS || a->n > NK_MAX_RANK)
            return nk_fail_node(ctx, NK_INVALID_ARG, n,
                                "attribute 'axes' must list at most %d "
                                "ints", NK_MAX_RANK);
        k = nk_node_ints(n, "axes", axes, NK_MAX_RANK);
    }
    if (st)
        return st;
    *noop = false;
    for (int d = 0; d < s->rank; d++)
        red[d] = k == 0;
    if (k == 0 && nk_node_int(n, "noop_with_empty_axes", 0)) {
        *noop = true;
        for (int d = 0; d < s->rank; d++)
            red[d] = false;
        return NK_OK;
    }
    for (int i = 0; i < k; i++) {
        int64_t a = axes[i];
        if (a < -s->rank || a >= s->rank)
            return nk_fail_node(ctx, NK_INVALID_ARG, n,
                                "axes[%d] = %lld is out of range [%d, %d]",
                                i, (long long)a, -s->rank, s->rank - 1);
        red[a < 0 ? a + s->rank : a] = true;
    }
    return NK_OK;
}

nk_status nk_infer_reducemean(nk_ctx *ctx, const nk_node *n,
                              nk_tensor *const *in, int n_in,
                              nk_tensor *const *out, int n_out)
{
    bool red[NK_MAX_RANK], noop;
    nk_status st = reduce_axes(ctx, n, in, n_in, red, &noop);
    if (st)
        return st;
    const nk_shape *s = &in[0]->shape;
    bool keep = nk_node_int(n, "keepdims", 1) != 0;
    nk_shape o;
    memset(&o, 0, sizeof o);
    for (int d = 0; d < s->rank; d++) {
        if (!red[d]) {
            o.d[o.rank] = s->d[d];
            o.sym[o.rank++] = s->sym[d];
        } else if (keep) {
            o.d[o.rank++] = 1;
        }
    }
    out[0]->dtype = in[0]->dtype;
    out[0]->shape = o;
    return NK_OK;
}

nk_status nk_reducemean_prepare(nk_ctx *ctx, nk_step *st)
{
    if (st->in[0]->dtype != NK_F32)
        return nk_fail_node(ctx, NK_UNSUPPORTED, st->node,
                            "dtype %s, expected f32",
                            nk_dtype_name(st->in[0]->dtype));
    return NK_OK;
}

void nk_reducemean_ref(const nk_step *st, int ith, int nth)
{
    bool red[NK_MAX_RANK], noop;
    if (reduce_axes(NULL, st->node, st->in, st->n_in, red, &noop) != NK_OK)
        return; /* rejected at inference */
    const nk_shape *s = &st->in[0]->shape;
    const float *x = st->in[0]->data;
    float *y = st->out[0]->data;
    /* kept dims (in order) and reduced dims, with input strides */
    int64_t kd[NK_MAX_RANK], ks[NK_MAX_RANK], rd[NK_MAX_RANK],
        rs[NK_MAX_RANK], str = 1, nout = 1, nred = 1;
    int nk = 0, nr = 0;
    int64_t istr[NK_MAX_RANK];
    for (int d = s->rank - 1; d >= 0; d--) {
        istr[d] = str;
        str *= s->d[d];
    }
    for (int d = 0; d < s->rank; d++) {
        if (red[d]) {
            rd[nr] = s->d[d];
            rs[nr++] = istr[d];
            nred *= s->d[d];
        } else {
            kd[nk] = s->d[d];
            ks[nk++] = istr[d];
            nout *= s->d[d];
        }
    }
    int64_t b, e;
    nk_split(nout, ith, nth, &b, &e);
    for (int64_t o = b; o < e; o++) {
        int64_t rem = o, base = 0;
        for (int d = nk - 1; d >= 0; d--) {
            base += (rem % kd[d]) * ks[d];
            rem /= kd[d];
        }
        double sum = 0.0;
        for (int64_t r = 0; r < nred; r++) {
            int64_t q = r, off = base;
            for (int d = nr - 1; d >= 0; d--) {
                off += (q % rd[d]) * rs[d];
                q /= rd[d];
            }
            sum += x[off];
        }
        /* an empty reduction has no mean: NaN, as numpy and torch */
        y[o] = noop ? x[base] : (float)(sum / (double)nred);
    }
}
