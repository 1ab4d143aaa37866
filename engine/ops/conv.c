/*
 * conv.c — Conv (2-D, NCHW, f32): shape inference, the plain direct-loop
 * reference kernel (the oracle) and a direct depthwise kernel for
 * group == C == M. The im2col + GEMM kernel is in kernels/conv-gemm.c.
 */
#include "engine/ops/conv-impl.h"
#include "engine/kernels/kernels-impl.h"

#include <string.h>

nk_status nk_infer_conv(nk_ctx *ctx, const nk_node *n, nk_tensor *const *in,
                        int n_in, nk_tensor *const *out, int n_out)
{
    if (n_in < 2 || !in[0] || !in[1])
        return nk_fail_node(ctx, NK_FORMAT, n,
                            "needs inputs X and W, found %d inputs", n_in);
    const nk_tensor *x = in[0], *w = in[1];
    const nk_tensor *b = n_in > 2 ? in[2] : NULL;
    if (w->dtype != x->dtype)
        return nk_fail_node(ctx, NK_FORMAT, n,
                            "weight '%s' is %s, expected %s like the input",
                            w->name, nk_dtype_name(w->dtype),
                            nk_dtype_name(x->dtype));
    nk_conv_geom g;
    nk_status st = nk_conv_geom_from_node(ctx, n, &x->shape, &w->shape, &g);
    if (st != NK_OK)
        return st;
    if (b) {
        if (b->shape.rank != 1 || b->shape.d[0] != g.m)
            return nk_fail_node(ctx, NK_SHAPE, n,
                                "bias '%s' has rank %d and %lld elements, "
                                "expected a vector of %lld",
                                b->name, b->shape.rank,
                                (long long)(b->shape.rank ? b->shape.d[0]
                                                          : 1),
                                (long long)g.m);
        if (b->dtype != x->dtype && !(x->dtype != NK_F32 &&
                                      b->dtype == NK_I32))
            return nk_fail_node(ctx, NK_FORMAT, n,
                                "bias '%s' is %s, expected %s", b->name,
                                nk_dtype_name(b->dtype),
                                nk_dtype_name(x->dtype));
    }
    int64_t dims[4] = {g.n, g.m, g.oh, g.ow};
    out[0]->dtype = x->dtype;
    out[0]->shape = nk_shape_make(4, dims);
    (void)n_out;
    return NK_OK;
}

nk_status nk_conv_prepare(nk_ctx *ctx, nk_step *st)
{
    nk_conv_params *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    nk_status s = nk_conv_geom_from_node(ctx, st->node, &st->in[0]->shape,
                                         &st->in[1]->shape, &p->g);
    if (s != NK_OK) {
        nk_free(p);
        return s;
    }
    p->slots = 1;
    st->params = p;
    st->work_bytes = 0;
    return NK_OK;
}

static const float *conv_bias(const nk_step *st)
{
    return st->n_in > 2 && st->in[2] ? (const float *)st->in[2]->data : NULL;
}

void nk_conv2d_nchw_ref(const nk_step *st, int ith, int nth)
{
    const nk_conv_params *p = st->params;
    const nk_conv_geom *g = &p->g;
    const float *x = st->in[0]->data, *w = st->in[1]->data;
    const float *bias = conv_bias(st);
    float *y = st->out[0]->data;
    const nk_node *node = st->node;
    int64_t cg = g->c / g->group, mg = g->m / g->group;
    int64_t plane = g->oh * g->ow, b, e;
    nk_split(g->n * g->m, ith, nth, &b, &e);
    for (int64_t t = b; t < e; t++) {
        int64_t nn = t / g->m, m = t % g->m, grp = m / mg;
        float *yp = y + t * plane;
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
                double acc = bias ? bias[m] : 0.0;
                for (int64_t ci = 0; ci < cg; ci++) {
                    int64_t c = grp * cg + ci;
                    const float *xp = x + (nn * g->c + c) * g->h * g->w;
                    const float *wp = w + (m * cg + ci) * g->kh * g->kw;
                    for (int64_t ky = 0; ky < g->kh; ky++) {
                        int64_t iy = oy * g->sh - g->pt + ky * g->dh;
                        if (iy < 0 || iy >= g->h)
                            continue;
                        for (int64_t kx = 0; kx < g->kw; kx++) {
                            int64_t ix = ox * g->sw - g->pl + kx * g->dw;
                            if (ix < 0 || ix >= g->w)
                                continue;
                            acc += (double)xp[iy * g->w + ix] *
                                   wp[ky * g->kw + kx];
                        }
                    }
                }
                yp[oy * g->ow + ox] = (float)acc;
            }
        nk_act_apply(node->act, node->act_a0, node->act_a1, yp,
                     (size_t)plane);
    }
}

bool nk_conv_depthwise_supports(const nk_step *st)
{
    if (st->n_in < 2 || !st->in[0] || !st->in[1])
        return false;
    const nk_shape *x = &st->in[0]->shape, *w = &st->in[1]->shape;
    if (x->rank != 4 || w->rank != 4)
        return false;
    int64_t group = nk_node_int(st->node, "group", 1);
    return group > 1 && x->d[1] == group && w->d[0] == group && w->d[1] == 1;
}

/* First output index ox >= 0 with ox*s + off >= 0, and one past the last
 * with ox*s + off < lim: the columns whose tap is inside the input. */
static void tap_range(int64_t off, int64_t s, int64_t lim, int64_t o,
                      int64_t *lo, int64_t *hi)
{
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t z = lim - off <= 0 ? 0 : (lim - off + s - 1) / s;
    *lo = a;
    *hi = z < o ? z : o;
}

void nk_conv2d_depthwise(const nk_step *st, int ith, int nth)
{
    const nk_conv_params *p = st->params;
    const nk_conv_geom *g = &p->g;
    const float *x = st->in[0]->data, *w = st->in[1]->data;
    const float *bias = conv_bias(st);
    float *y = st->out[0]->data;
    const nk_node *node = st->node;
    int64_t plane = g->oh * g->ow, b, e;
    nk_split(g->n * g->c, ith, nth, &b, &e);
    for (int64_t t = b; t < e; t++) {
        int64_t c = t % g->c;
        const float *xp = x + t * g->h * g->w;
        const float *wp = w + c * g->kh * g->kw;
        float *yp = y + t * plane;
        float b0 = bias ? bias[c] : 0.0f;
        for (int64_t oy = 0; oy < g->oh; oy++) {
            float *yr = yp + oy * g->ow;
            for (int64_t ox = 0; ox < g->ow; ox++)
                yr[ox] = b0;
            for (int64_t ky = 0; ky < g->kh; ky++) {
                int64_t iy = oy * g->sh - g->pt + ky * g->dh;
                if (iy < 0 || iy >= g->h)
                    continue;
                const float *xr = xp + iy * g->w;
                for (int64_t kx = 0; kx < g->kw; kx++) {
                    float wv = wp[ky * g->kw + kx];
                    int64_t off = kx * g->dw - g->pl, lo, hi;
                    tap_range(off, g->sw, g->w, g->ow, &lo, &hi);
                    if (g->sw == 1) {
                        for (int64_t ox = lo; ox < hi; ox++)
                            yr[ox] += wv * xr[ox + off];
                    } else {
                        for (int64_t ox = lo; ox < hi; ox++)
                            yr[ox] += wv * xr[ox * g->sw + off];
                    }
                }
            }
        }
        nk_act_apply(node->act, node->act_a0, node->act_a1, yp,
                     (size_t)plane);
    }
}
