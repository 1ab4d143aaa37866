/*
 * pool-fast.c — MaxPool and GlobalAveragePool written so the compiler
 * vectorises them: max over whole rows of output pixels per tap (instead
 * of a tap loop per pixel), and eight partial sums for global averages.
 * Same results as the reference kernels (max is exact; NaN propagates).
 */
#include "engine/kernels/kernels-impl.h"
#include "engine/op.h"

#include <float.h>

typedef struct pool_params {
    nk_conv_geom g;
} pool_params;

/* The reference pool kernels keep N-D geometry of their own; the 2-D
 * row kernel reads the Conv/Pool geometry of engine/ops/geom.c. */
nk_status nk_maxpool_fast_prepare(nk_ctx *ctx, nk_step *st)
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

bool nk_maxpool_fast_supports(const nk_step *st)
{
    if (st->n_out > 1 && st->out[1])
        return false; /* indices output: the reference kernel */
    if (st->in[0]->shape.rank != 4)
        return false;
    int64_t d[2];
    int nd = nk_node_ints(st->node, "dilations", d, 2);
    for (int i = 0; i < nd; i++)
        if (d[i] != 1)
            return false;
    return true;
}

void nk_maxpool_fast(const nk_step *st, int ith, int nth)
{
    const nk_conv_geom *g = &((const pool_params *)st->params)->g;
    const float *x = st->in[0]->data;
    float *y = st->out[0]->data;
    int64_t plane = g->oh * g->ow, b, e;
    nk_split(g->n * g->c, ith, nth, &b, &e);
    for (int64_t t = b; t < e; t++) {
        const float *xp = x + t * g->h * g->w;
        for (int64_t oy = 0; oy < g->oh; oy++) {
            float *yr = y + t * plane + oy * g->ow;
            for (int64_t ox = 0; ox < g->ow; ox++)
                yr[ox] = -FLT_MAX;
            for (int64_t ky = 0; ky < g->kh; ky++) {
                int64_t iy = oy * g->sh - g->pt + ky;
                if (iy < 0 || iy >= g->h)
                    continue;
                const float *xr = xp + iy * g->w;
                for (int64_t kx = 0; kx < g->kw; kx++) {
                    int64_t off = kx - g->pl;
                    /* output columns whose tap lies inside the row */
                    int64_t lo = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
                    int64_t hi = g->w - off <= 0
                                     ? 0
                                     : (g->w - off + g->sw - 1) / g->sw;
                    if (hi > g->ow)
                        hi = g->ow;
                    if (g->sw == 2) {
                        for (int64_t ox = lo; ox < hi; ox++) {
                            float v = xr[ox * 2 + off], c = yr[ox];
                            yr[ox] = (v > c || v != v) ? v : c;
                        }
                    } else {
                        for (int64_t ox = lo; ox < hi; ox++) {
                            float v = xr[ox * g->sw + off], c = yr[ox];
                            yr[ox] = (v > c || v != v) ? v : c;
                        }
                    }
                }
            }
        }
    }
}

void nk_globalavgpool_fast(const nk_step *st, int ith, int nth)
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
        float part[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= inner; i += 8)
            for (int k = 0; k < 8; k++)
                part[k] += xp[i + k];
        double sum = 0.0;
        for (int k = 0; k < 8; k++)
            sum += part[k];
        for (; i < inner; i++)
            sum += xp[i];
        y[t] = inner > 0 ? (float)(sum / (double)inner) : 0.0f;
    }
}
