/*
 * slice.c — Slice (ONNX opset 10+: starts, ends, optional axes and steps
 * as i64/i32 inputs; opset 1-9 attributes also accepted): negative starts
 * and ends count from the end, out-of-range values are clamped, steps may
 * be negative. Any dtype: the kernel moves elements.
 */
#include "engine/kernels/kernels-impl.h"
#include "engine/op.h"

#include <string.h>

typedef struct slice_geom {
    int rank;
    int64_t start[NK_MAX_RANK], step[NK_MAX_RANK], len[NK_MAX_RANK];
} slice_geom;

/* The values of parameter input i, or of attribute attr when the node
 * has no such input (opset < 10). *count = -1 when absent. */
static nk_status slice_param(nk_ctx *ctx, const nk_node *n,
                             nk_tensor *const *in, int n_in, int i,
                             const char *attr, int64_t *v, int *count)
{
    *count = -1;
    if (n_in > i && in[i])
        return nk_const_ints(ctx, n, in[i], attr, v, NK_MAX_RANK, count);
    if (n_in == 1 && nk_node_attr(n, attr)) {
        const nk_attr *a = nk_node_attr(n, attr);
        if (a->type != NK_ATTR_INTS || a->n > NK_MAX_RANK)
            return nk_fail_node(ctx, NK_INVALID_ARG, n,
                                "attribute '%s' must list at most %d ints",
                                attr, NK_MAX_RANK);
        *count = nk_node_ints(n, attr, v, NK_MAX_RANK);
    }
    return NK_OK;
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static nk_status slice_geom_make(nk_ctx *ctx, const nk_node *n,
                                 nk_tensor *const *in, int n_in,
                                 slice_geom *g)
{
    const nk_shape *s = &in[0]->shape;
    int64_t starts[NK_MAX_RANK], ends[NK_MAX_RANK], axes[NK_MAX_RANK],
        steps[NK_MAX_RANK];
    int ns, ne, na, nst;
    nk_status st;
    if ((st = slice_param(ctx, n, in, n_in, 1, "starts", starts, &ns)) ||
        (st = slice_param(ctx, n, in, n_in, 2, "ends", ends, &ne)) ||
        (st = slice_param(ctx, n, in, n_in, 3, "axes", axes, &na)) ||
        (st = slice_param(ctx, n, in, n_in, 4, "steps", steps, &nst)))
        return st;
    if (ns < 0 || ne < 0)
        return nk_fail_node(ctx, NK_FORMAT, n, "starts and ends are "
                            "required");
    if (ne != ns || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return nk_fail_node(ctx, NK_SHAPE, n,
                            "starts, ends, axes, steps have %d, %d, %d, %d "
                            "values, expected the same count", ns, ne, na,
                            nst);
    if (ns > s->rank)
        return nk_fail_node(ctx, NK_SHAPE, n,
                            "%d axes sliced, the input has rank %d", ns,
                            s->rank);
    g->rank = s->rank;
    for (int d = 0; d < s->rank; d++) {
        g->start[d] = 0;
        g->step[d] = 1;
        g->len[d] = s->d[d];
    }
    bool seen[NK_MAX_RANK] = {false};
    for (int i = 0; i < ns; i++) {
        int64_t a = na >= 0 ? axes[i] : i;
        if (a < -s->rank || a >= s->rank)
            return nk_fail_node(ctx, NK_INVALID_ARG, n,
                                "axes[%d] = %lld is out of range [%d, %d]",
                                i, (long long)a, -s->rank, s->rank - 1);
        if (a < 0)
            a += s->rank;
        if (seen[a])
            return nk_fail_node(ctx, NK_INVALID_ARG, n,
                                "axis %lld is sliced twice", (long long)a);
        seen[a] = true;
        int64_t step = nst >= 0 ? steps[i] : 1, dim = s->d[a];
        if (step == 0)
            return nk_fail_node(ctx, NK_INVALID_ARG, n,
                                "steps[%d] is 0", i);
        int64_t b = starts[i], e = ends[i], len;
        /* INT64_MIN/MAX mean "from the very end": adding dim cannot
         * overflow for negative values, and clamping does the rest. */
        if (b < 0)
            b += dim;
        if (e < 0)
            e += dim;
        if (dim == 0) {
            b = 0;
            len = 0;
        } else if (step > 0) {
            b = clamp(b, 0, dim);
            e = clamp(e, 0, dim);
            len = e > b ? (e - b + step - 1) / step : 0;
        } else {
            b = clamp(b, 0, dim - 1);
            e = clamp(e, -1, dim - 1);
            len = b > e ? (b - e + (-step) - 1) / (-step) : 0;
        }
        g->start[a] = b;
        g->step[a] = step;
        g->len[a] = len;
    }
    return NK_OK;
}

nk_status nk_infer_slice(nk_ctx *ctx, const nk_node *n, nk_tensor *const *in,
                         int n_in, nk_tensor *const *out, int n_out)
{
    slice_geom g;
    nk_status st = slice_geom_make(ctx, n, in, n_in, &g);
    if (st)
        return st;
    nk_shape o = in[0]->shape;
    for (int d = 0; d < g.rank; d++)
        if (o.d[d] != g.len[d]) {
            o.d[d] = g.len[d];
            o.sym[d] = NULL;
        }
    out[0]->dtype = in[0]->dtype;
    out[0]->shape = o;
    return NK_OK;
}

/* Parameters are read from the inputs at run time: they may be computed
 * by earlier steps (from shapes), which is no allocation. */
void nk_slice_ref(const nk_step *st, int ith, int nth)
{
    slice_geom g;
    if (slice_geom_make(NULL, st->node, st->in, st->n_in, &g) != NK_OK)
        return; /* rejected at inference */
    const nk_tensor *x = st->in[0];
    const size_t esz = nk_dtype_size(x->dtype);
    const int r = g.rank;
    if (r == 0) {
        if (ith == 0)
            memcpy(st->out[0]->data, x->data, esz);
        return;
    }
    int64_t istr[NK_MAX_RANK], acc = 1, rows = 1;
    for (int d = r - 1; d >= 0; d--) {
        istr[d] = acc;
        acc *= x->shape.d[d];
    }
    for (int d = 0; d + 1 < r; d++)
        rows *= g.len[d];
    const int64_t w = g.len[r - 1], s = g.step[r - 1];
    const char *xp = x->data;
    char *yp = st->out[0]->data;
    int64_t b, e;
    nk_split(rows, ith, nth, &b, &e);
    for (int64_t row = b; row < e; row++) {
        int64_t rem = row, off = g.start[r - 1];
        for (int d = r - 2; d >= 0; d--) {
            int64_t i = rem % g.len[d];
            rem /= g.len[d];
            off += (g.start[d] + i * g.step[d]) * istr[d];
        }
        char *dst = yp + (size_t)(row * w) * esz;
        if (s == 1) {
            memcpy(dst, xp + (size_t)off * esz, (size_t)w * esz);
            continue;
        }
        for (int64_t k = 0; k < w; k++)
            memcpy(dst + (size_t)k * esz, xp + (size_t)(off + k * s) * esz,
                   esz);
    }
}
