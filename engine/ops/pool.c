/*
 * pool.c — MaxPool, AveragePool (2-D, NCHW, f32; pads, strides, ceil_mode,
 * dilations, count_include_pad) and GlobalAveragePool: shape inference and
 * reference kernels, split over N*C planes.
 */
#include "engine/op.h"
#include "engine/kernels/kernels-impl.h"

#include <float.h>

typedef struct pool_params {
    nk_conv_geom g;
} pool_params;

nk_status nk_infer_pool(nk_ctx *ctx, const nk_node *n, nk_tensor *const *in,
                        int n_in, nk_tensor *const *out, int n_out)
{
    if (n_in < 1 || !in[0])
        return nk_fail_node(ctx, NK_FORMAT, n, "needs input X");
    nk_conv_geom g;
    nk_status st = nk_conv_geom_from_node(ctx, n, &in[0]->shape, NULL, &g);
    if (st != NK_OK)
        return st;
    if (n->op == NK_OP_AVGPOOL && (g.dh != 1 || g.dw != 1))
        return nk_fail_node(ctx, NK_UNSUPPORTED, n,
                            "dilations [%lld, %lld] on AveragePool, only "
                            "[1, 1] is supported",
                            (long long)g.dh, (long long)g.dw);
    int64_t dims[4] = {g.n, g.c, g.oh, g.ow};
    out[0]->dtype = in[0]->dtype;
    out[0]->shape = nk_shape_make(4, dims);
    if (n_out > 1 && out[1]) {
        if (n->op != NK_OP_MAXPOOL)
            return nk_fail_node(ctx, NK_FORMAT, n,
                                "has %d outputs, expected 1", n_out);
        out[1]->dtype = NK_I64;
        out[1]->shape = out[0]->shape;
    }
    return NK_OK;
}

nk_status nk_infer_globalpool(nk_ctx *ctx, const nk_node *n,
                              nk_tensor *const *in, int n_in,
                              nk_tensor *const *out, int n_out)
{
    if (n_in < 1 || !in[0])
        return nk_fail_node(ctx, NK_FORMAT, n, "needs input X");
    const nk_shape *s = &in[0]->shape;
    if (s->rank < 3)
        return nk_fail_node(ctx, NK_SHAPE, n,
                            "input '%s' has rank %d, expected >= 3 "
                            "(N, C, spatial...)", in[0]->name, s->rank);
    nk_shape o = *s;
    for (int i = 2; i < o.rank; i++) {
        o.d[i] = 1;
        o.sym[i] = NULL;
    }
    out[0]->dtype = in[0]->dtype;
    out[0]->shape = o;
    return NK_OK;
}

nk_status nk_pool_prepare(nk_ctx *ctx, nk_step *st)
{
    pool_params *p = nk_calloc(1, sizeof *p);
    if (!p)
        return nk_fail(ctx, NK_NOMEM, "node '%s': out of memory",
                       st->node->name);
    nk_status s = nk_conv_geom_from_node(ctx, st->node, &st->in[0]->shape,
                                         NULL, &p->g);
    if (s != NK_OK) {
        nk_free(p);
        return s;
    }
    st->params = p;
    return NK_OK;
}

void nk_maxpool_ref(const nk_step *st, int ith, int nth)
{
    const nk_conv_geom *g = &((const pool_params *)st->params)->g;
    const float *x = st->in[0]->data;
    float *y = st->out[0]->data;
    int64_t *idx = st->n_out > 1 && st->out[1] ? st->out[1]->data : NULL;
    int64_t plane = g->oh * g->ow, b, e;
    nk_split(g->n * g->c, ith, nth, &b, &e);
    for (int64_t t = b; t < e; t++) {
        const float *xp = x + t * g->h * g->w;
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
                float best = -FLT_MAX;
                int64_t at = -1;
                for (int64_t ky = 0; ky < g->kh; ky++) {
                    int64_t iy = oy * g->sh - g->pt + ky * g->dh;
                    if (iy < 0 || iy >= g->h)
                        continue;
                    for (int64_t kx = 0; kx < g->kw; kx++) {
                        int64_t ix = ox * g->sw - g->pl + kx * g->dw;
                        if (ix < 0 || ix >= g->w)
                            continue;
                        float v = xp[iy * g->w + ix];
                        /* NaN propagates, as in PyTorch */
                        if (at < 0 || v > best || v != v) {
                            best = v;
                            at = iy * g->w + ix;
                            if (v != v)
                                goto done;
                        }
                    }
                }
            done:
                y[t * plane + oy * g->ow + ox] = best;
                if (idx)
                    idx[t * plane + oy * g->ow + ox] =
                        at < 0 ? -1 : t * g->h * g->w + at;
            }
    }
}

void nk_avgpool_ref(const nk_step *st, int ith, int nth)
{
    const nk_conv_geom *g = &((const pool_params *)st->params)->g;
    const float *x = st->in[0]->data;
    float *y = st->out[0]->data;
    int64_t plane = g->oh * g->ow, b, e;
    nk_split(g->n * g->c, ith, nth, &b, &e);
    for (int64_t t = b; t < e; t++) {
        const float *xp = x + t * g->h * g->w;
        for (int64_t oy = 0; oy < g->oh; oy++) {
            int64_t y0 = oy * g->sh - g->pt, y1 = y0 + g->kh;
            /* with padding counted, the window is clipped to the padded
             * input (ceil_mode windows may run past it) */
            int64_t py1 = y1 < g->h + g->pb ? y1 : g->h + g->pb;
            int64_t vy0 = y0 > 0 ? y0 : 0, vy1 = y1 < g->h ? y1 : g->h;
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t x0 = ox * g->sw - g->pl, x1 = x0 + g->kw;
                int64_t px1 = x1 < g->w + g->pr ? x1 : g->w + g->pr;
                int64_t vx0 = x0 > 0 ? x0 : 0, vx1 = x1 < g->w ? x1 : g->w;
                double sum = 0.0;
                for (int64_t iy = vy0; iy < vy1; iy++)
                    for (int64_t ix = vx0; ix < vx1; ix++)
                        sum += xp[iy * g->w + ix];
                int64_t cnt = g->count_include_pad
                                  ? (py1 - y0) * (px1 - x0)
                                  : (vy1 - vy0) * (vx1 - vx0);
                y[t * plane + oy * g->ow + ox] =
                    cnt > 0 ? (float)(sum / (double)cnt) : 0.0f;
            }
        }
    }
}

void nk_globalavgpool_ref(const nk_step *st, int ith, int nth)
{
    const nk_shape *s = &st->in[0]->shape;
    const float *x = st->in[0]->data;
    float *y = st->out[0]->data;
    int64_t inner = 1, b, e;
    for (int i = 2; i < s->rank; i++)
        inner *= s->d[i];
    nk_split(s->d[0] * s->d[1], ith, nth, &b, &e);
    for (int64_t t = b; t < e; t++) {
        const float *xp = x + t * inner;
        double sum = 0.0;
        for (int64_t i = 0; i < inner; i++)
            sum += xp[i];
        y[t] = inner > 0 ? (float)(sum / (double)inner) : 0.0f;
    }
}
