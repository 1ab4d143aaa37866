/*
 * shape-ops.c — the exporters' shape glue: Shape (start/end), Unsqueeze and
 * Squeeze (axes as an i64 input), ConstantOfShape, and nk_const_ints, the
 * reader of parameter inputs that shape inference needs as data.
 */
#include "engine/kernels/kernels-impl.h"
#include "engine/op.h"

#include <string.h>

nk_status nk_const_ints(nk_ctx *ctx, const nk_node *n, const nk_tensor *t,
                        const char *what, int64_t *v, int max, int *count)
{
    if (t->dtype != NK_I64 && t->dtype != NK_I32)
        return nk_fail_node(ctx, NK_INVALID_ARG, n,
                            "%s input '%s' has dtype %s, expected i64 (or "
                            "i32)", what, t->name, nk_dtype_name(t->dtype));
    if (t->shape.rank > 1)
        return nk_fail_node(ctx, NK_SHAPE, n,
                            "%s input '%s' has rank %d, expected 0 or 1",
                            what, t->name, t->shape.rank);
    int64_t k = nk_shape_numel(&t->shape);
    if (k < 0 || k > max)
        return nk_fail_node(ctx, NK_UNSUPPORTED, n,
                            "%s input '%s' has %lld values, expected at "
                            "most %d", what, t->name, (long long)k, max);
    if (!t->data && k > 0)
        return nk_fail_node(ctx, NK_UNSUPPORTED, n,
                            "%s input '%s' is computed at run time from "
                            "data; nnkit needs it constant, or computed "
                            "from shapes only", what, t->name);
    size_t esz = nk_dtype_size(t->dtype);
    if (t->nbytes < (size_t)k * esz)
        return nk_fail_node(ctx, NK_FORMAT, n,
                            "%s input '%s' has %zu bytes, expected %zu",
                            what, t->name, t->nbytes, (size_t)k * esz);
    for (int64_t i = 0; i < k; i++) {
        if (t->dtype == NK_I64) {
            memcpy(&v[i], (const char *)t->data + i * 8, 8);
        } else {
            int32_t x;
            memcpy(&x, (const char *)t->data + i * 4, 4);
            v[i] = x;
        }
    }
    *count = (int)k;
    return NK_OK;
}

/* Normalise axes[0..k) against rank r (negative counts from the end);
 * they must be in range and distinct. */
static nk_status norm_axes(nk_ctx *ctx, const nk_node *n, int64_t *axes,
                           int k, int r)
{
    bool seen[NK_MAX_RANK] = {false};
    for (int i = 0; i < k; i++) {
        int64_t a = axes[i];
        if (a < -r || a >= r)
            return nk_fail_node(ctx, NK_INVALID_ARG, n,
                                "axes[%d] = %lld is out of range [%d, %d]",
                                i, (long long)a, -r, r - 1);
        if (a < 0)
            a += r;
        if (seen[a])
            return nk_fail_node(ctx, NK_INVALID_ARG, n,
                                "axis %lld is repeated in axes",
                                (long long)a);
        seen[a] = true;
        axes[i] = a;
    }
    return NK_OK;
}

/* ---- Shape ------------------------------------------------------------- */

/* [start, end) of the dims Shape returns, clamped as ONNX (opset 15). */
static void shape_range(const nk_node *n, int r, int64_t *b, int64_t *e)
{
    int64_t s = nk_node_int(n, "start", 0);
    int64_t t = nk_node_int(n, "end", r);
    if (s < 0)
        s += r;
    if (t < 0)
        t += r;
    s = s < 0 ? 0 : (s > r ? r : s);
    t = t < 0 ? 0 : (t > r ? r : t);
    *b = s;
    *e = t > s ? t : s;
}

nk_status nk_infer_shape(nk_ctx *ctx, const nk_node *n, nk_tensor *const *in,
                         int n_in, nk_tensor *const *out, int n_out)
{
    int64_t b, e;
    shape_range(n, in[0]->shape.rank, &b, &e);
    int64_t d = e - b;
    out[0]->dtype = NK_I64;
    out[0]->shape = nk_shape_make(1, &d);
    return NK_OK;
}

void nk_shape_ref(const nk_step *st, int ith, int nth)
{
    if (ith != 0)
        return;
    const nk_shape *s = &st->in[0]->shape;
    int64_t b, e;
    shape_range(st->node, s->rank, &b, &e);
    int64_t *y = st->out[0]->data;
    for (int64_t i = b; i < e; i++)
        y[i - b] = s->d[i];
}

/* ---- Unsqueeze / Squeeze ---------------------------------------------- */

nk_status nk_infer_unsqueeze(nk_ctx *ctx, const nk_node *n,
                             nk_tensor *const *in, int n_in,
                             nk_tensor *const *out, int n_out)
{
    const nk_shape *s = &in[0]->shape;
    int64_t axes[NK_MAX_RANK];
    int k = 0;
    nk_status st = nk_const_ints(ctx, n, in[1], "axes", axes, NK_MAX_RANK,
                                 &k);
    if (st)
        return st;
    int r = s->rank + k;
    if (r > NK_MAX_RANK)
        return nk_fail_node(ctx, NK_UNSUPPORTED, n,
                            "output rank %d exceeds nnkit's maximum %d", r,
                            NK_MAX_RANK);
    if ((st = norm_axes(ctx, n, axes, k, r)))
        return st;
    bool ins[NK_MAX_RANK] = {false};
    for (int i = 0; i < k; i++)
        ins[axes[i]] = true;
    nk_shape o;
    memset(&o, 0, sizeof o);
    o.rank = r;
    for (int i = 0, j = 0; i < r; i++) {
        if (ins[i]) {
            o.d[i] = 1;
        } else {
            o.d[i] = s->d[j];
            o.sym[i] = s->sym[j];
            j++;
        }
    }
    out[0]->dtype = in[0]->dtype;
    out[0]->shape = o;
    return NK_OK;
}

nk_status nk_infer_squeeze(nk_ctx *ctx, const nk_node *n,
                           nk_tensor *const *in, int n_in,
                           nk_tensor *const *out, int n_out)
{
    const nk_shape *s = &in[0]->shape;
    bool drop[NK_MAX_RANK] = {false};
    if (n_in > 1 && in[1]) {
        int64_t axes[NK_MAX_RANK];
        int k = 0;
        nk_status st = nk_const_ints(ctx, n, in[1], "axes", axes,
                                     NK_MAX_RANK, &k);
        if (st || (st = norm_axes(ctx, n, axes, k, s->rank)))
            return st;
        for (int i = 0; i < k; i++) {
            if (s->d[axes[i]] != 1) {
                char buf[128];
                return nk_fail_node(ctx, NK_SHAPE, n,
                                    "cannot squeeze axis %lld of input %s: "
                                    "its size is %lld, expected 1",
                                    (long long)axes[i],
                                    nk_shape_str(s, buf, sizeof buf),
                                    (long long)s->d[axes[i]]);
            }
            drop[axes[i]] = true;
        }
    } else {
        for (int i = 0; i < s->rank; i++)
            drop[i] = s->d[i] == 1;
    }
    nk_shape o;
    memset(&o, 0, sizeof o);
    for (int i = 0; i < s->rank; i++)
        if (!drop[i]) {
            o.d[o.rank] = s->d[i];
            o.sym[o.rank] = s->sym[i];
            o.rank++;
        }
    out[0]->dtype = in[0]->dtype;
    out[0]->shape = o;
    return NK_OK;
}

/* ---- ConstantOfShape ---------------------------------------------------- */

/* The fill value: attribute 'value', a one-element tensor (f32 0 if
 * absent). */
static nk_status cos_value(nk_ctx *ctx, const nk_node *n, nk_dtype *dt,
                           const void **bytes)
{
    static const float zero = 0.0f;
    const nk_attr *a = nk_node_attr(n, "value");
    if (!a) {
        *dt = NK_F32;
        *bytes = &zero;
        return NK_OK;
    }
    if (a->type != NK_ATTR_TENSOR || !a->t)
        return nk_fail_node(ctx, NK_INVALID_ARG, n,
                            "attribute 'value' must be a tensor");
    const nk_tensor *t = a->t;
    if (nk_shape_numel(&t->shape) != 1 || !t->data ||
        t->nbytes < nk_dtype_size(t->dtype))
        return nk_fail_node(ctx, NK_INVALID_ARG, n,
                            "attribute 'value' has %lld elements, expected "
                            "1", (long long)nk_shape_numel(&t->shape));
    *dt = t->dtype;
    *bytes = t->data;
    return NK_OK;
}

nk_status nk_infer_constantofshape(nk_ctx *ctx, const nk_node *n,
                                   nk_tensor *const *in, int n_in,
                                   nk_tensor *const *out, int n_out)
{
    int64_t dims[NK_MAX_RANK];
    int k = 0;
    nk_status st = nk_const_ints(ctx, n, in[0], "shape", dims, NK_MAX_RANK,
                                 &k);
    if (st)
        return st;
    if (in[0]->shape.rank != 1)
        return nk_fail_node(ctx, NK_SHAPE, n,
                            "shape input '%s' has rank %d, expected 1",
                            in[0]->name, in[0]->shape.rank);
    int64_t total = 1;
    for (int i = 0; i < k; i++)
        if (dims[i] < 0 || __builtin_mul_overflow(total, dims[i], &total) ||
            total > ((int64_t)1 << 40))
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "shape[%d] = %lld: negative or too large",
                                i, (long long)dims[i]);
    nk_dtype dt;
    const void *v;
    if ((st = cos_value(ctx, n, &dt, &v)))
        return st;
    out[0]->dtype = dt;
    out[0]->shape = nk_shape_make(k, dims);
    return NK_OK;
}

void nk_constantofshape_ref(const nk_step *st, int ith, int nth)
{
    nk_dtype dt;
    const void *v;
    if (cos_value(NULL, st->node, &dt, &v) != NK_OK)
        return; /* rejected at inference */
    nk_tensor *y = st->out[0];
    size_t esz = nk_dtype_size(y->dtype);
    int64_t b, e;
    nk_split(nk_shape_numel(&y->shape), ith, nth, &b, &e);
    char *p = y->data;
    for (int64_t i = b; i < e; i++)
        memcpy(p + (size_t)i * esz, v, esz);
}
